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

from portguard.arns import is_account_id
from portguard.definition import DEFAULT_MEMBER_ROLE_NAME, ROLE_NAME, SCHEDULES
from portguard.errors import InvalidParameterError
from portguard.parameters import (
    KNOWN_PARAMETERS,
    RuleParameters,
    parse_rule_parameters,
    spelled_like,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"
CONTEXT_PREFIX = "portguard:"

# The rule's InputParameters, each read from `portguard:<name>`.
PARAMETER_KEYS: Mapping[str, str] = {f"{CONTEXT_PREFIX}{name}": name for name in KNOWN_PARAMETERS}
DEPLOY_AS_KEY = f"{CONTEXT_PREFIX}deployAs"
ORGANIZATION_ID_KEY = f"{CONTEXT_PREFIX}organizationId"
ORGANIZATION_TARGETS_KEY = f"{CONTEXT_PREFIX}organizationTargets"
MEMBER_ROLE_NAME_KEY = f"{CONTEXT_PREFIX}memberRoleName"
EXCLUDED_ACCOUNTS_KEY = f"{CONTEXT_PREFIX}excludedAccounts"
DEPLOY_FROM_KEY = f"{CONTEXT_PREFIX}deployFrom"
SCAN_PRINCIPALS_KEY = f"{CONTEXT_PREFIX}scanPrincipals"
SCHEDULE_KEY = f"{CONTEXT_PREFIX}schedule"
LOG_RETENTION_KEY = f"{CONTEXT_PREFIX}logRetentionDays"
ALARM_EMAIL_KEY = f"{CONTEXT_PREFIX}alarmEmail"
CONCURRENCY_KEY = f"{CONTEXT_PREFIX}reservedConcurrency"
RECORDER_KEY = f"{CONTEXT_PREFIX}createRecorder"
REMEDIATION_KEY = f"{CONTEXT_PREFIX}remediation"

DEPLOY_AS = ("rule", "conformance-pack", "organization")
# The account an organization deployment runs from: AWS Config's and CloudFormation StackSets'
# delegated administrator (a member account), or the organization's management account.
DEPLOY_FROM = ("delegated-administrator", "management-account")
# Reserved concurrency in organization mode unless portguard:reservedConcurrency says otherwise:
# the cost cap on a function any account's Config may invoke (see infra/rule.py), and room for
# every member's periodic sweep (a few seconds each) well within Lambda's 6 hours of retries.
ORGANIZATION_RESERVED_CONCURRENCY = 10
# AWS Config's limit on a rule's InputParameters (ConfigRule and OrganizationCustomRuleMetadata
# alike: StringWithCharLimit1024 in the Config API model).
INPUT_PARAMETERS_LIMIT = 1024
# ExcludedAccounts: at most 1,000 account ids (the Config API model).
MAXIMUM_EXCLUDED_ACCOUNTS = 1000
# The retention periods CloudWatch Logs accepts.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                      2192, 2557, 2922, 3288, 3653)  # fmt: skip
# off: nothing deployed; manual: a Remediate action in the Config console; automatic: Config
# remediates each non-compliant group itself, with retry limits.
REMEDIATION = ("off", "manual", "automatic")

# The keys that mean something only when deploying for an organization.
ORGANIZATION_KEYS = (
    ORGANIZATION_ID_KEY,
    ORGANIZATION_TARGETS_KEY,
    MEMBER_ROLE_NAME_KEY,
    EXCLUDED_ACCOUNTS_KEY,
    DEPLOY_FROM_KEY,
    SCAN_PRINCIPALS_KEY,
)
SETTING_KEYS = (
    DEPLOY_AS_KEY,
    SCHEDULE_KEY,
    LOG_RETENTION_KEY,
    ALARM_EMAIL_KEY,
    CONCURRENCY_KEY,
    RECORDER_KEY,
    REMEDIATION_KEY,
    *ORGANIZATION_KEYS,
)
KNOWN_KEYS = (*PARAMETER_KEYS, *SETTING_KEYS)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ASCII_DIGITS = re.compile(r"[0-9]+")
# The patterns AWS Organizations and IAM document (and CloudFormation's schemas repeat).
_ORGANIZATION_ID = re.compile(r"o-[a-z0-9]{10,32}")
_ORGANIZATIONAL_UNIT_ID = re.compile(r"ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}")
_ROOT_ID = re.compile(r"r-[a-z0-9]{4,32}")
# An IAM role or user, by ARN (a path allowed): what a member role's trust policy can name.
_PRINCIPAL_ARN = re.compile(
    r"arn:aws(-[a-z]+)*:iam::[0-9]{12}:(role|user)/[A-Za-z0-9+=,.@_/-]{1,512}"
)
_LIST_SEPARATORS = re.compile(r"[,\s]+")


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
    """A `portguard:*` CDK context value is not valid, or a required one is missing (``value``
    None); the message names the key and the value."""

    def __init__(self, key: str, value: object, reason: str) -> None:
        self.key = key
        self.value = value
        self.reason = reason
        if value is None:  # context never holds None: the app drops such keys
            super().__init__(f"missing CDK context {key}: {reason}")
        else:
            super().__init__(f"invalid CDK context {key}={value!r}: {reason}")


@dataclass(frozen=True, slots=True)
class Organization:
    """Where an organization deployment reaches, read from the organization-only keys."""

    organization_id: str
    """``o-...``: the member role trusts only the hub's role inside it, and the hub assumes
    member roles only inside it."""
    targets: tuple[str, ...]
    """The organizational units (``ou-...``) or root (``r-...``) whose accounts get the member
    role from the StackSet, now and as accounts join."""
    member_role_name: str = DEFAULT_MEMBER_ROLE_NAME
    """The role the hub assumes in each member account: deployment configuration, never a rule
    parameter."""
    excluded_accounts: tuple[str, ...] = ()
    """Accounts the organization rule skips."""
    deploy_from: str = "delegated-administrator"
    """``delegated-administrator`` or ``management-account``: who creates the StackSet."""
    scan_principals: tuple[str, ...] = ()
    """IAM roles or users (ARNs, inside the organization) the member role also trusts, so that
    ``portguard scan --org`` can read every account's security groups through it."""

    @property
    def stack_set_call_as(self) -> str:
        """The StackSet's CallAs: a delegated administrator acts as ``DELEGATED_ADMIN``, the
        management account as ``SELF``."""
        return "DELEGATED_ADMIN" if self.deploy_from == "delegated-administrator" else "SELF"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the app reads from context. Build with :meth:`from_context`."""

    parameters: RuleParameters
    deploy_as: str = "rule"
    """``rule``: a standalone Config rule; ``conformance-pack``: the same rule inside a pack;
    ``organization``: an organization rule whose hub function reports for every member."""
    schedule: str = "TwentyFour_Hours"
    """How often Config runs the periodic sweep (its MaximumExecutionFrequency)."""
    log_retention_days: int = 365
    alarm_email: str | None = None
    """Subscribed to the alarm topic when set (AWS sends a confirmation email first)."""
    reserved_concurrency: int | None = None
    """Reserved concurrent executions for the function; unset, it shares the account's pool.
    In organization mode it defaults to ``ORGANIZATION_RESERVED_CONCURRENCY``."""
    create_recorder: bool = False
    """Also deploy a Config recorder limited to security groups, for an account with none."""
    remediation: str = "off"
    """``off``; ``manual`` or ``automatic``: the remediation document and function, and the rule's
    remediation configuration (a Remediate action, or automatic remediation with retry limits)."""
    organization: Organization | None = None
    """Set exactly when ``deploy_as`` is ``organization``."""

    @classmethod
    def from_context(cls, scope: Construct | Node) -> Settings:
        """Read and validate the `portguard:*` context keys; absent keys take their defaults.

        Values may be strings (``-c``), or booleans and numbers (``cdk.json``): they mean the same.
        Raises :class:`ContextError` naming the key and the bad value, for example
        ``invalid CDK context portguard:blockedPorts='22,70000': port 70000 is above 65535``.
        """
        node = scope.node if isinstance(scope, Construct) else scope
        context = _portguard_context(node.get_all_context())
        parameters = _rule_parameters(context)
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
        deploy_as = _choice(context, DEPLOY_AS_KEY, DEPLOY_AS) or "rule"
        remediation = _choice(context, REMEDIATION_KEY, REMEDIATION) or "off"
        organization = _organization_settings(context, deploy_as, remediation)
        if organization is not None and concurrency is None:
            concurrency = ORGANIZATION_RESERVED_CONCURRENCY
        return cls(
            parameters=parameters,
            deploy_as=deploy_as,
            schedule=_choice(context, SCHEDULE_KEY, SCHEDULES) or "TwentyFour_Hours",
            log_retention_days=retention or 365,
            alarm_email=email.strip() if isinstance(email, str) else None,
            reserved_concurrency=concurrency,
            create_recorder=_boolean(context, RECORDER_KEY),
            remediation=remediation,
            organization=organization,
        )


def _portguard_context(everything: Mapping[str, object]) -> dict[str, object]:
    """The ``portguard:`` keys that hold a value, each known; a key that names a portguard
    option without the prefix is refused (the defaults would deploy in silence)."""
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
    return context


def _rule_parameters(context: Mapping[str, object]) -> RuleParameters:
    """The rule's parameters from their keys, validated by the function's own parser, and short
    enough for Config."""
    raw = {name: context[key] for key, name in PARAMETER_KEYS.items() if key in context}
    try:
        parameters = parse_rule_parameters(raw)
    except InvalidParameterError as error:
        raise ContextError(f"{CONTEXT_PREFIX}{error.name}", error.value, error.reason) from error
    _check_input_parameters_length(parameters, context)
    return parameters


def _organization_settings(
    context: Mapping[str, object], deploy_as: str, remediation: str
) -> Organization | None:
    """The organization's settings in organization mode (remediation refused there); elsewhere
    ``None``, and an organization-only key refused."""
    if deploy_as != "organization":
        _refuse_organization_keys(context, deploy_as)
        return None
    organization = _organization(context)
    if remediation != "off":
        raise ContextError(
            REMEDIATION_KEY,
            context[REMEDIATION_KEY],
            f"not available with {DEPLOY_AS_KEY}=organization: the remediation "
            "configuration, document and function act on this account's rule and groups "
            "only, while the organization rule runs in every member account (remediate "
            "a member's groups with `portguard remediate` and that account's credentials)",
        )
    return organization


def input_parameters_json(parameters: RuleParameters) -> str:
    """The rule's InputParameters as the JSON string Config receives (``json.dumps``' spacing,
    the longer of the usual ones, so that the length checked at synth is never an underestimate).
    """
    return json.dumps(parameters.as_input_parameters())


def _check_input_parameters_length(
    parameters: RuleParameters, context: Mapping[str, object]
) -> None:
    """Refuse parameters whose JSON exceeds Config's limit, naming the longest parameter's key:
    CloudFormation would fail the deploy with a generic validation error instead."""
    text = input_parameters_json(parameters)
    if len(text) <= INPUT_PARAMETERS_LIMIT:
        return
    values = parameters.as_input_parameters()
    longest = max(values, key=lambda name: len(values[name]))
    key = f"{CONTEXT_PREFIX}{longest}"
    raise ContextError(
        key,
        context.get(key, values[longest]),
        f"the rule's parameters would be {len(text):,} characters of JSON, above AWS Config's "
        f"limit of {INPUT_PARAMETERS_LIMIT:,} for a rule's InputParameters; write consecutive "
        "ports as ranges (8000-8100) or use a preset",
    )


def _organization(context: Mapping[str, object]) -> Organization:
    """The organization-only keys, validated; organizationId and organizationTargets required."""
    for key in (ORGANIZATION_ID_KEY, ORGANIZATION_TARGETS_KEY):
        if key not in context:
            raise ContextError(
                key, None, f"required with {DEPLOY_AS_KEY}=organization ({_WHAT_IT_IS[key]})"
            )
    organization_id = context[ORGANIZATION_ID_KEY]
    if not (isinstance(organization_id, str) and _ORGANIZATION_ID.fullmatch(organization_id)):
        raise ContextError(
            ORGANIZATION_ID_KEY,
            organization_id,
            "expected an organization id: o- and 10 to 32 lowercase letters or digits",
        )
    targets = _id_list(ORGANIZATION_TARGETS_KEY, context[ORGANIZATION_TARGETS_KEY], _target)
    if not targets:
        raise ContextError(
            ORGANIZATION_TARGETS_KEY,
            context[ORGANIZATION_TARGETS_KEY],
            f"expected at least one id ({_WHAT_IT_IS[ORGANIZATION_TARGETS_KEY]})",
        )
    role_name = context.get(MEMBER_ROLE_NAME_KEY, DEFAULT_MEMBER_ROLE_NAME)
    # The hub function reads it from its environment with the same pattern.
    if not (isinstance(role_name, str) and ROLE_NAME.fullmatch(role_name)):
        raise ContextError(
            MEMBER_ROLE_NAME_KEY,
            role_name,
            "expected an IAM role name: 1 to 64 letters, digits or +=,.@_- (no path)",
        )
    excluded = _id_list(EXCLUDED_ACCOUNTS_KEY, context.get(EXCLUDED_ACCOUNTS_KEY, ()), _account)
    if len(excluded) > MAXIMUM_EXCLUDED_ACCOUNTS:
        raise ContextError(
            EXCLUDED_ACCOUNTS_KEY,
            context[EXCLUDED_ACCOUNTS_KEY],
            f"{len(excluded):,} accounts; AWS Config excludes at most "
            f"{MAXIMUM_EXCLUDED_ACCOUNTS:,} from an organization rule",
        )
    return Organization(
        organization_id=organization_id,
        targets=targets,
        member_role_name=role_name,
        excluded_accounts=excluded,
        deploy_from=_choice(context, DEPLOY_FROM_KEY, DEPLOY_FROM) or "delegated-administrator",
        scan_principals=_id_list(
            SCAN_PRINCIPALS_KEY, context.get(SCAN_PRINCIPALS_KEY, ()), _principal
        ),
    )


_WHAT_IT_IS = {
    ORGANIZATION_ID_KEY: "the organization's id, o-...",
    ORGANIZATION_TARGETS_KEY: (
        "the organizational unit ids ou-... or the root id r-... whose accounts get the member "
        "role, separated by commas"
    ),
}


def _principal(text: str) -> str | None:
    """Why ``text`` is not an IAM role or user ARN, or None when it is one."""
    if _PRINCIPAL_ARN.fullmatch(text):
        return None
    return (
        f"{text!r} is not the ARN of an IAM role or user "
        "(arn:aws:iam::123456789012:role/NAME): the member role trusts principals by ARN"
    )


def _target(text: str) -> str | None:
    """Why ``text`` is not an OU or root id, or None when it is one."""
    if _ORGANIZATIONAL_UNIT_ID.fullmatch(text) or _ROOT_ID.fullmatch(text):
        return None
    return f"{text!r} is not an organizational unit id (ou-...) or a root id (r-...)"


def _account(text: str) -> str | None:
    """Why ``text`` is not an account id, or None when it is one."""
    if is_account_id(text):
        return None
    return f"{text!r} is not an AWS account id (12 digits)"


def _id_list(key: str, value: object, refusal: Callable[[str], str | None]) -> tuple[str, ...]:
    """Ids given as a JSON list (cdk.json) or separated by commas or spaces (``-c``), each
    checked by ``refusal``; duplicates are dropped, the order kept."""
    if isinstance(value, str):
        items: list[object] = [item for item in _LIST_SEPARATORS.split(value) if item]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise ContextError(key, value, "expected ids separated by commas, or a JSON list of ids")
    ids: list[str] = []
    for item in items:
        if not isinstance(item, str):
            # An account id may begin with 0, which a JSON number would lose.
            raise ContextError(key, value, f"{item!r} is not text: write each id in quotes")
        reason = refusal(item.strip())
        if reason is not None:
            raise ContextError(key, value, reason)
        ids.append(item.strip())
    return tuple(dict.fromkeys(ids))


def _refuse_organization_keys(context: Mapping[str, object], deploy_as: str) -> None:
    """An organization-only key outside organization mode would be ignored in silence: the
    operator meant an organization deployment and would get a single-account one."""
    for key in ORGANIZATION_KEYS:
        if key in context:
            raise ContextError(
                key,
                context[key],
                f"used only with {DEPLOY_AS_KEY}=organization; with {DEPLOY_AS_KEY}={deploy_as} "
                "the app deploys for this account alone and would ignore it",
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
    """The known key whose name (without the prefix) ``name`` spells (:func:`spelled_like`):
    ``blockedport`` is ``portguard:blockedPorts``."""
    spelled = spelled_like(name, (key.removeprefix(CONTEXT_PREFIX) for key in KNOWN_KEYS))
    return None if spelled is None else f"{CONTEXT_PREFIX}{spelled}"
