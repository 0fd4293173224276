"""``events.parse_event``: a Config rule event read into an Invocation, or an error saying what is
wrong (SPEC §2)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from core_helpers import config_item

from portguard.errors import InvalidEventError, InvalidParameterError
from portguard.events import MessageType, parse_event
from portguard.parameters import IpType, ProtocolType


def event(
    invoking: object = None,
    *,
    rule_parameters: object = "absent",
    **extra: Any,
) -> dict[str, Any]:
    if invoking is None:
        invoking = {
            "messageType": "ConfigurationItemChangeNotification",
            "configurationItem": config_item([]),
            "notificationCreationTime": "2025-05-30T10:00:01.000Z",
        }
    out: dict[str, Any] = {
        "invokingEvent": invoking if isinstance(invoking, str) else json.dumps(invoking),
        "resultToken": "token-1",
        "eventLeftScope": False,
        "configRuleName": "portguard",
    }
    if rule_parameters != "absent":
        out["ruleParameters"] = rule_parameters
    out.update(extra)
    return out


def test_change_notification() -> None:
    invocation = parse_event(event())
    assert invocation.message_type is MessageType.CHANGE
    assert invocation.payload["resourceId"] == "sg-0123"
    assert invocation.result_token == "token-1"
    assert invocation.rule_name == "portguard"
    assert invocation.event_left_scope is False
    assert invocation.test_mode is False
    assert invocation.notification_time == "2025-05-30T10:00:01.000Z"


@pytest.mark.parametrize(
    "rule_parameters",
    [
        pytest.param("absent", id="absent"),
        pytest.param("{}", id="empty-object"),
        pytest.param(None, id="null"),
        pytest.param("", id="blank"),
    ],
)
def test_rule_parameters_absent_or_empty_give_the_defaults(rule_parameters: object) -> None:
    params = parse_event(event(rule_parameters=rule_parameters)).parameters
    assert params.blocked_ports.describe() == (
        "20-23,25,110,135,143,445,1433-1434,3000,3306,3389,4333,5000,5432,5500,5601,8080,8088,"
        "8888,9200,9300"
    )
    assert params.protocol_type is ProtocolType.ALL


def test_rule_parameters_are_read() -> None:
    invocation = parse_event(
        event(rule_parameters=json.dumps({"blockedPorts": "22", "ipType": "IPv6"}))
    )
    assert invocation.parameters.blocked_ports.describe() == "22"
    assert invocation.parameters.ip_type is IpType.IPV6


def test_bad_rule_parameter_fails_naming_it() -> None:
    with pytest.raises(InvalidParameterError, match="blockedPorts") as caught:
        parse_event(event(rule_parameters=json.dumps({"blockedPorts": "22,99999"})))
    assert "99999" in str(caught.value)


@pytest.mark.parametrize(
    ("bad_event", "words"),
    [
        pytest.param([], "not a JSON object: it is a JSON list", id="event-a-list"),
        pytest.param(
            event("[" * 100_000 + "]" * 100_000),
            "invokingEvent cannot be read as JSON: its lists and objects are nested too deeply",
            id="nested-too-deeply",
        ),
        pytest.param({"resultToken": "t"}, "invokingEvent", id="no-invoking-event"),
        pytest.param(
            event("{not json"), "invokingEvent cannot be read as JSON: Expecting", id="invalid-json"
        ),
        pytest.param(event("[1, 2]"), "invokingEvent is not a JSON object", id="json-list"),
        pytest.param(
            event({"messageType": "FooNotification"}), "FooNotification", id="unknown-message-type"
        ),
        pytest.param(event({"configurationItem": {}}), "messageType", id="no-message-type"),
        pytest.param(
            event({"messageType": "ConfigurationItemChangeNotification"}),
            "configurationItem is missing",
            id="no-configuration-item",
        ),
        pytest.param(
            event(
                {"messageType": "ConfigurationItemChangeNotification", "configurationItem": "sg-1"}
            ),
            "configurationItem is not an object",
            id="item-a-string",
        ),
        pytest.param(
            event(
                {
                    "messageType": "ConfigurationItemChangeNotification",
                    "configurationItem": [config_item([])],
                }
            ),
            "configurationItem is not an object",
            id="item-a-list",
        ),
        pytest.param(
            event({"messageType": "OversizedConfigurationItemChangeNotification"}),
            "configurationItemSummary",
            id="oversized-without-summary",
        ),
        pytest.param(
            event(rule_parameters="{not json"),
            "ruleParameters cannot be read as JSON: Expecting",
            id="rule-parameters-invalid-json",
        ),
        pytest.param(
            event(rule_parameters='["22"]'),
            "ruleParameters is not a JSON object",
            id="rule-parameters-a-list",
        ),
        pytest.param(
            {k: v for k, v in event().items() if k != "resultToken"},
            "resultToken",
            id="no-result-token",
        ),
        pytest.param(event(resultToken=""), "resultToken", id="empty-result-token"),
    ],
)
def test_malformed_events_fail_saying_what_is_wrong(bad_event: object, words: str) -> None:
    with pytest.raises(InvalidEventError, match=words):
        parse_event(bad_event)


def test_invoking_event_may_already_be_an_object() -> None:
    raw = event()
    raw["invokingEvent"] = json.loads(raw["invokingEvent"])
    assert parse_event(raw).message_type is MessageType.CHANGE


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), ("true", True), (False, False), (None, False), ("false", False)],
)
def test_event_left_scope(value: object, expected: bool) -> None:
    assert parse_event(event(eventLeftScope=value)).event_left_scope is expected


def test_test_mode_token() -> None:
    assert parse_event(event(resultToken="TESTMODE")).test_mode is True
    assert parse_event(event(resultToken="testmode")).test_mode is False
