"""Read an AWS Config rule's Lambda event into a typed invocation, or say exactly what is wrong."""

from __future__ import annotations

import json
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple

from portguard.arns import is_account_id, parse_arn
from portguard.errors import InvalidEventError
from portguard.parameters import RuleParameters, parse_rule_parameters
from portguard.reader import is_object, json_error_reason, json_kind

if TYPE_CHECKING:
    from collections.abc import Mapping

TEST_MODE_TOKEN = "TESTMODE"  # noqa: S105 - Config's documented placeholder, not a secret


class MessageType(StrEnum):
    CHANGE = "ConfigurationItemChangeNotification"
    OVERSIZED = "OversizedConfigurationItemChangeNotification"
    SCHEDULED = "ScheduledNotification"


_MESSAGE_TYPES = {m.value: m for m in MessageType}


class Invocation(NamedTuple):
    """Everything the handler needs from one event, already validated."""

    message_type: MessageType
    invoking_event: Mapping[str, Any]
    parameters: RuleParameters
    result_token: str
    rule_name: str | None
    event_left_scope: bool
    account_id: object = None
    """The envelope's ``accountId`` as Config sent it: the account whose rule was invoked. Read
    only by :func:`member_account` (the organization's hub reports for that account)."""
    rule_arn: object = None
    """The envelope's ``configRuleArn`` as Config sent it, likewise."""

    @property
    def test_mode(self) -> bool:
        return self.result_token == TEST_MODE_TOKEN

    @property
    def notification_time(self) -> str | None:
        value = self.invoking_event.get("notificationCreationTime")
        return value if isinstance(value, str) else None

    @property
    def payload(self) -> Mapping[str, Any]:
        """The configuration item (change) or its summary (oversized)."""
        key = (
            "configurationItem"
            if self.message_type is MessageType.CHANGE
            else "configurationItemSummary"
        )
        return self.invoking_event[key]  # type: ignore[no-any-return]


def parse_event(event: object) -> Invocation:
    """Validate a Config rule event. Raises :class:`InvalidEventError` or
    :class:`~portguard.errors.InvalidParameterError` naming what is wrong."""
    if not is_object(event):
        raise InvalidEventError(f"the event is not a JSON object: it is {json_kind(event)}")
    invoking = _json_object(event, "invokingEvent", required=True)
    raw_type = invoking.get("messageType")
    message_type = _MESSAGE_TYPES.get(raw_type) if type(raw_type) is str else None
    if message_type is None:
        known = ", ".join(m.value for m in MessageType)
        raise InvalidEventError(
            f"invokingEvent.messageType {raw_type!r} is not one portguard handles ({known})"
        )
    if message_type is not MessageType.SCHEDULED:
        key = (
            "configurationItem"
            if message_type is MessageType.CHANGE
            else "configurationItemSummary"
        )
        if not is_object(invoking.get(key)):
            raise InvalidEventError(
                f"invokingEvent has messageType {message_type.value} but its {key} is "
                f"{'missing' if invoking.get(key) is None else 'not an object'}"
            )
    raw_parameters = event.get("ruleParameters")
    if isinstance(raw_parameters, str):
        parameters = _parameters_of(raw_parameters)
    else:
        parameters = parse_rule_parameters(_json_object(event, "ruleParameters", required=False))
    token = event.get("resultToken")
    if not isinstance(token, str) or not token:
        raise InvalidEventError("the event has no resultToken: Config could not accept evaluations")
    rule_name = event.get("configRuleName")
    left = event.get("eventLeftScope")
    return Invocation(
        message_type,
        invoking,
        parameters,
        token,
        rule_name if isinstance(rule_name, str) else None,
        left is True or (isinstance(left, str) and left.lower() == "true"),
        event.get("accountId"),
        event.get("configRuleArn"),
    )


def member_account(invocation: Invocation) -> str:
    """The account an organization rule's invocation reports for: the envelope's ``accountId``,
    the account whose rule Config invoked. Every other account id the event carries must be the
    same one: the item's ``awsAccountId`` (the summary's for an oversized item, the invoking
    event's own for the periodic sweep) and the account of ``configRuleArn``; those absent are
    not asked for. Raises :class:`InvalidEventError` naming what is missing or disagrees.

    The hub assumes a role in that account and posts with its credentials, so this is read
    before anything is assumed or posted.
    """
    account = invocation.account_id
    if account is None:
        raise InvalidEventError(
            "the event has no accountId: the hub reports for the account whose rule Config "
            "invoked, and this event does not say which"
        )
    if not is_account_id(account):
        raise InvalidEventError(f"accountId is {_account_said(account)}")
    disagreeing = []
    where, item_account = _item_account(invocation)
    if item_account is not None and item_account != account:
        disagreeing.append(f"{where} is {_account_said(item_account)}")
    if invocation.rule_arn is not None:
        arn = parse_arn(invocation.rule_arn)
        if arn is None:
            raise InvalidEventError(f"configRuleArn is {_said(invocation.rule_arn)}, not an ARN")
        if arn.account != account:
            disagreeing.append(f"configRuleArn's account is {arn.account or 'empty'}")
    if disagreeing:
        raise InvalidEventError(
            f"the event's account ids disagree: accountId is {account} but "
            f"{' and '.join(disagreeing)}; nothing was posted"
        )
    return account


def _item_account(invocation: Invocation) -> tuple[str, object]:
    """Where the invoking event names the item's account, and what it says there (``None``:
    nothing)."""
    if invocation.message_type is MessageType.SCHEDULED:
        return "invokingEvent.awsAccountId", invocation.invoking_event.get("awsAccountId")
    key = (
        "configurationItem"
        if invocation.message_type is MessageType.CHANGE
        else "configurationItemSummary"
    )
    return f"{key}.awsAccountId", invocation.payload.get("awsAccountId")


def _account_said(value: object) -> str:
    """An account id as a message quotes it; a value that is none says so."""
    if is_account_id(value):
        return str(value)
    return f"{_said(value)}, not an AWS account id (12 digits)"


def _said(value: object) -> str:
    """A string quoted, anything else named in JSON's words (a JSON number, null)."""
    return repr(value) if isinstance(value, str) else json_kind(value)


def _json_object(event: Mapping[str, Any], key: str, *, required: bool) -> Mapping[str, Any]:
    raw = event.get(key)
    if raw is None or (isinstance(raw, str) and not raw.strip() and not required):
        if required:
            raise InvalidEventError(f"the event has no {key}: is this a Config rule event?")
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            reason = json_error_reason(exc)
            raise InvalidEventError(f"{key} cannot be read as JSON: {reason}") from exc
    if not is_object(raw):
        raise InvalidEventError(f"{key} is not a JSON object: it is {json_kind(raw)}")
    return raw


@lru_cache(maxsize=16)
def _parameters_of(text: str) -> RuleParameters:
    """Parameters by their JSON text: a rule sends the same text on every invocation, and the
    value is frozen, so a warm container parses it once. Errors are raised, never cached."""
    return parse_rule_parameters(
        _json_object({"ruleParameters": text}, "ruleParameters", required=False)
    )
