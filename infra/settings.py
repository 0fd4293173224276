"""The app's settings, read from CDK context (``cdk.json`` or ``-c key=value``) in one place.

The rule's parameters are validated here, at synth, by the same parser the Lambda uses on its
``ruleParameters``: a value that synthesizes is a value the function accepts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from constructs import Construct, Node

from portguard.errors import InvalidParameterError
from portguard.parameters import KNOWN_PARAMETERS, RuleParameters, parse_rule_parameters

if TYPE_CHECKING:
    from collections.abc import Mapping

CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"
CONTEXT_PREFIX = "portguard:"

# The rule's InputParameters, each read from `portguard:<name>`.
PARAMETER_KEYS: Mapping[str, str] = {f"{CONTEXT_PREFIX}{name}": name for name in KNOWN_PARAMETERS}
DEPLOY_AS_KEY = f"{CONTEXT_PREFIX}deployAs"
REMEDIATION_KEY = f"{CONTEXT_PREFIX}remediation"

# Keys the SPEC defines whose other values this app does not build yet: only these are accepted,
# so that asking for a conformance pack or a remediation fails instead of being ignored.
SUPPORTED_ONLY: Mapping[str, str] = {DEPLOY_AS_KEY: "rule", REMEDIATION_KEY: "off"}
PLANNED_VALUES: Mapping[str, tuple[str, ...]] = {
    DEPLOY_AS_KEY: ("rule", "conformance-pack"),
    REMEDIATION_KEY: ("off", "manual", "automatic"),
}


def cdk_json_context(path: Path = CDK_JSON) -> dict[str, object]:
    """The ``context`` of ``cdk.json``: portguard's defaults and the CDK feature flags.

    The CDK CLI hands this to the app; a bare ``App()`` (``python app.py``, tests) would not see it.
    Pass it as ``App(context=...)``: context from the CLI (including ``-c``) still takes precedence.
    """
    context = json.loads(path.read_text(encoding="utf-8")).get("context", {})
    if not isinstance(context, dict):
        raise TypeError(f"{path}: 'context' is not an object")
    return context


class ContextError(ValueError):
    """A `portguard:*` CDK context value is not valid; the message names the key and the value."""

    def __init__(self, key: str, value: object, reason: str) -> None:
        self.key = key
        self.value = value
        self.reason = reason
        super().__init__(f"invalid CDK context {key}={value!r}: {reason}")


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the app reads from context. Build with :meth:`from_context`."""

    parameters: RuleParameters

    @classmethod
    def from_context(cls, scope: Construct | Node) -> Settings:
        """Read and validate the `portguard:*` context keys; absent keys take the rule's defaults.

        Values may be strings (``-c``), or booleans and numbers (``cdk.json``): they mean the same.
        Raises :class:`ContextError` naming the key and the bad value, for example
        ``invalid CDK context portguard:blockedPorts='22,70000': port 70000 is above 65535``.
        """
        node = scope.node if isinstance(scope, Construct) else scope
        context = {
            key: value
            for key, value in node.get_all_context().items()
            if key.startswith(CONTEXT_PREFIX) and value is not None
        }
        for key, value in context.items():
            _check_known(key, value)

        raw = {name: context[key] for key, name in PARAMETER_KEYS.items() if key in context}
        try:
            parameters = parse_rule_parameters(raw)
        except InvalidParameterError as error:
            raise ContextError(
                f"{CONTEXT_PREFIX}{error.name}", error.value, error.reason
            ) from error
        return cls(parameters=parameters)


def _check_known(key: str, value: object) -> None:
    if key in PARAMETER_KEYS:
        return
    if key in SUPPORTED_ONLY:
        supported = SUPPORTED_ONLY[key]
        text = str(value).strip().lower() if isinstance(value, str) else value
        if text == supported:
            return
        if text in PLANNED_VALUES[key]:
            reason = f"not supported yet: this version deploys only {key}={supported!r}"
        else:
            reason = f"expected one of {', '.join(PLANNED_VALUES[key])}"
        raise ContextError(key, value, reason)
    known = [*PARAMETER_KEYS, *SUPPORTED_ONLY]
    hint = next((k for k in known if k.lower().rstrip("s") == key.lower().rstrip("s")), None)
    raise ContextError(
        key,
        value,
        f"unknown portguard context key{f' (did you mean {hint}?)' if hint else ''}; "
        f"known: {', '.join(known)}",
    )
