"""The app's settings, read from CDK context (``cdk.json`` or ``-c key=value``) in one place.

The rule's parameters are validated here, at synth, by the same parser the Lambda uses on its
``ruleParameters``: a value that synthesizes is a value the function accepts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from constructs import Construct, Node

from portguard.definition import SCHEDULES
from portguard.errors import InvalidParameterError
from portguard.parameters import KNOWN_PARAMETERS, RuleParameters, parse_rule_parameters

if TYPE_CHECKING:
    from collections.abc import Mapping

CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"
CONTEXT_PREFIX = "portguard:"

# The rule's InputParameters, each read from `portguard:<name>`.
PARAMETER_KEYS: Mapping[str, str] = {f"{CONTEXT_PREFIX}{name}": name for name in KNOWN_PARAMETERS}
DEPLOY_AS_KEY = f"{CONTEXT_PREFIX}deployAs"
SCHEDULE_KEY = f"{CONTEXT_PREFIX}schedule"
LOG_RETENTION_KEY = f"{CONTEXT_PREFIX}logRetentionDays"
ALARM_EMAIL_KEY = f"{CONTEXT_PREFIX}alarmEmail"
CONCURRENCY_KEY = f"{CONTEXT_PREFIX}reservedConcurrency"
RECORDER_KEY = f"{CONTEXT_PREFIX}createRecorder"
REMEDIATION_KEY = f"{CONTEXT_PREFIX}remediation"

DEPLOY_AS = ("rule", "conformance-pack")
# The retention periods CloudWatch Logs accepts.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                      2192, 2557, 2922, 3288, 3653)  # fmt: skip
# off: nothing deployed; manual: a Remediate action in the Config console; automatic: Config
# remediates each non-compliant group itself, with retry limits.
REMEDIATION = ("off", "manual", "automatic")

SETTING_KEYS = (
    DEPLOY_AS_KEY,
    SCHEDULE_KEY,
    LOG_RETENTION_KEY,
    ALARM_EMAIL_KEY,
    CONCURRENCY_KEY,
    RECORDER_KEY,
    REMEDIATION_KEY,
)
KNOWN_KEYS = (*PARAMETER_KEYS, *SETTING_KEYS)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ASCII_DIGITS = re.compile(r"[0-9]+")


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
    deploy_as: str = "rule"
    """``rule``: a standalone Config rule; ``conformance-pack``: the same rule inside a pack."""
    schedule: str = "TwentyFour_Hours"
    """How often Config runs the periodic sweep (its MaximumExecutionFrequency)."""
    log_retention_days: int = 365
    alarm_email: str | None = None
    """Subscribed to the alarm topic when set (AWS sends a confirmation email first)."""
    reserved_concurrency: int | None = None
    """Reserved concurrent executions for the function; unset, it shares the account's pool."""
    create_recorder: bool = False
    """Also deploy a Config recorder limited to security groups, for an account with none."""
    remediation: str = "off"
    """``off``; ``manual`` or ``automatic``: the remediation document and function, and the rule's
    remediation configuration (a Remediate action, or automatic remediation with retry limits)."""

    @classmethod
    def from_context(cls, scope: Construct | Node) -> Settings:
        """Read and validate the `portguard:*` context keys; absent keys take their defaults.

        Values may be strings (``-c``), or booleans and numbers (``cdk.json``): they mean the same.
        Raises :class:`ContextError` naming the key and the bad value, for example
        ``invalid CDK context portguard:blockedPorts='22,70000': port 70000 is above 65535``.
        """
        node = scope.node if isinstance(scope, Construct) else scope
        everything = node.get_all_context()
        for key, value in everything.items():
            if not key.startswith(CONTEXT_PREFIX):
                _check_unprefixed(key, value)
        context = {
            key: value
            for key, value in everything.items()
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
        email = context.get(ALARM_EMAIL_KEY)
        if email is not None and not (isinstance(email, str) and _EMAIL.match(email.strip())):
            raise ContextError(ALARM_EMAIL_KEY, email, "expected an email address")
        concurrency = _integer(context, CONCURRENCY_KEY, None)
        if concurrency is not None and concurrency < 1:
            raise ContextError(
                CONCURRENCY_KEY, context[CONCURRENCY_KEY], "expected a whole number from 1"
            )
        retention = _integer(context, LOG_RETENTION_KEY, 365)
        if retention not in LOG_RETENTION_DAYS:
            allowed = ", ".join(map(str, LOG_RETENTION_DAYS))
            raise ContextError(
                LOG_RETENTION_KEY,
                context[LOG_RETENTION_KEY],
                f"CloudWatch Logs keeps logs for one of {allowed} days",
            )
        return cls(
            parameters=parameters,
            deploy_as=_choice(context, DEPLOY_AS_KEY, DEPLOY_AS) or "rule",
            schedule=_choice(context, SCHEDULE_KEY, SCHEDULES) or "TwentyFour_Hours",
            log_retention_days=retention or 365,
            alarm_email=email.strip() if isinstance(email, str) else None,
            reserved_concurrency=concurrency,
            create_recorder=_boolean(context, RECORDER_KEY),
            remediation=_choice(context, REMEDIATION_KEY, REMEDIATION) or "off",
        )


def _choice(context: Mapping[str, object], key: str, allowed: tuple[str, ...]) -> str | None:
    """The allowed value (matched case-insensitively), None when absent."""
    if key not in context:
        return None
    value = context[key]
    for option in allowed:
        if isinstance(value, str) and value.strip().lower() == option.lower():
            return option
    raise ContextError(key, value, f"expected one of {', '.join(allowed)}")


def _integer(context: Mapping[str, object], key: str, default: int | None) -> int | None:
    value = context.get(key, default)
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    # ASCII digits only: str.isdigit() also takes full-width digits (read as their ASCII value)
    # and superscripts (which int() then refuses with a Python error).
    if isinstance(value, str) and _ASCII_DIGITS.fullmatch(value.strip()):
        return int(value)
    raise ContextError(key, value, "expected a whole number")


def _boolean(context: Mapping[str, object], key: str) -> bool:
    value = context.get(key, False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ContextError(key, value, "expected true or false")


def _check_known(key: str, value: object) -> None:
    if key in KNOWN_KEYS:
        return
    hint = _closest_key(key.removeprefix(CONTEXT_PREFIX))
    raise ContextError(
        key,
        value,
        f"unknown portguard context key{f' (did you mean {hint}?)' if hint else ''}; "
        f"known: {', '.join(KNOWN_KEYS)}",
    )


def _check_unprefixed(key: str, value: object) -> None:
    """Refuse a key that names a portguard option without its prefix (``-c blockedPorts=22``):
    the app would not read it, and the defaults would deploy in silence. Other keys (the CDK's
    feature flags, other tools' settings) are none of portguard's business."""
    hint = _closest_key(key)
    if hint is not None:
        raise ContextError(
            key,
            value,
            f"portguard reads only keys that start with {CONTEXT_PREFIX} (did you mean {hint}?)",
        )


def _closest_key(name: str) -> str | None:
    """The known key whose name (without the prefix) ``name`` spells, ignoring case and a
    trailing ``s``: ``blockedport`` is ``portguard:blockedPorts``."""
    loose = name.strip().lower().rstrip("s")
    return next(
        (k for k in KNOWN_KEYS if k.removeprefix(CONTEXT_PREFIX).lower().rstrip("s") == loose),
        None,
    )
