"""The account an organization rule's event reports for (``events.member_account``): the
envelope's ``accountId``, which every other account id of the event must repeat; and the ARNs and
account ids it is read with (``portguard.arns``)."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import pytest
from shared_data import fixture

from portguard.arns import Arn, is_account_id, parse_arn
from portguard.errors import InvalidEventError
from portguard.events import member_account, parse_event

if TYPE_CHECKING:
    from pathlib import Path

MEMBER = "111122223333"
OTHER = "444455556666"
RULE_ARN = f"arn:aws:config:eu-west-1:{MEMBER}:config-rule/config-rule-7k2m9q"
# An organization rule's rule in a member account is a service-linked rule.
ORGANIZATION_RULE_ARN = (
    f"arn:aws:config:eu-west-1:{MEMBER}:config-rule/aws-service-rule/"
    "config-multiaccountsetup.amazonaws.com/config-rule-ab12cd"
)
# Our fixtures, one per message type; each names MEMBER (the oversized one 333344445555)
# everywhere, as Config writes them.
CHANGE = "config-rule-change-event.json"
OVERSIZED = "config-rule-oversized-event.json"
SCHEDULED = "config-rule-scheduled-event.json"
FULL_WIDTH_ACCOUNT = "\N{FULLWIDTH DIGIT ONE}" * 12
"""Twelve digits that ``\\d`` and ``str.isdigit`` take, and AWS does not."""
ITEM_KEYS = {
    CHANGE: "configurationItem",
    OVERSIZED: "configurationItemSummary",
    SCHEDULED: None,  # the invoking event's own awsAccountId
}


def event_of(name: str, *, item_account: object = "same", **envelope: Any) -> dict[str, Any]:
    """The fixture ``name`` with its envelope's keys replaced (``None`` removes one) and the
    item's ``awsAccountId`` set (``"same"``: kept; ``None``: removed)."""
    event: dict[str, Any] = fixture(name)
    for key, value in envelope.items():
        if value is None:
            event.pop(key, None)
        else:
            event[key] = value
    if item_account != "same":
        invoking = json.loads(event["invokingEvent"])
        key = ITEM_KEYS[name]
        holder = invoking if key is None else invoking[key]
        if item_account is None:
            holder.pop("awsAccountId", None)
        else:
            holder["awsAccountId"] = item_account
        event["invokingEvent"] = json.dumps(invoking)
    return event


def account_of(event: dict[str, Any]) -> str:
    return member_account(parse_event(event))


@pytest.mark.parametrize(
    ("name", "account"),
    [(CHANGE, MEMBER), (OVERSIZED, "333344445555"), (SCHEDULED, MEMBER)],
)
def test_each_message_type_reports_for_the_envelopes_account(name: str, account: str) -> None:
    assert account_of(event_of(name)) == account


def test_an_organization_rules_service_linked_arn_names_its_account() -> None:
    assert account_of(event_of(CHANGE, configRuleArn=ORGANIZATION_RULE_ARN)) == MEMBER


@pytest.mark.parametrize("name", [CHANGE, OVERSIZED, SCHEDULED])
def test_only_the_envelopes_account_is_required(name: str) -> None:
    event = event_of(name, item_account=None, configRuleArn=None)
    assert account_of(event) == fixture(name)["accountId"]


@pytest.mark.parametrize(
    ("name", "where"),
    [
        (CHANGE, "configurationItem.awsAccountId"),
        (OVERSIZED, "configurationItemSummary.awsAccountId"),
        (SCHEDULED, "invokingEvent.awsAccountId"),
    ],
)
def test_an_item_of_another_account_is_refused_naming_both(name: str, where: str) -> None:
    event = event_of(name, accountId=MEMBER, configRuleArn=RULE_ARN, item_account=OTHER)
    with pytest.raises(InvalidEventError) as raised:
        account_of(event)
    assert str(raised.value) == (
        f"the event's account ids disagree: accountId is {MEMBER} but {where} is {OTHER}; "
        "nothing was posted"
    )


def test_a_rule_of_another_account_is_refused_naming_both() -> None:
    event = event_of(CHANGE, configRuleArn=RULE_ARN.replace(MEMBER, OTHER))
    with pytest.raises(InvalidEventError, match=f"but configRuleArn's account is {OTHER};"):
        account_of(event)


def test_every_disagreement_is_named() -> None:
    event = event_of(CHANGE, accountId=OTHER, item_account=MEMBER)
    with pytest.raises(InvalidEventError) as raised:
        account_of(event)
    assert str(raised.value) == (
        f"the event's account ids disagree: accountId is {OTHER} but "
        f"configurationItem.awsAccountId is {MEMBER} and configRuleArn's account is {MEMBER}; "
        "nothing was posted"
    )


@pytest.mark.parametrize(
    ("account", "said"),
    [
        pytest.param(None, "the event has no accountId", id="missing"),
        pytest.param(
            "0123456789012",
            "accountId is '0123456789012', not an AWS account id (12 digits)",
            id="13-digits",
        ),
        pytest.param(
            FULL_WIDTH_ACCOUNT,
            f"accountId is '{FULL_WIDTH_ACCOUNT}', not an AWS account id (12 digits)",
            id="full-width-digits",
        ),
        pytest.param(
            "111122223333:role/x",
            "accountId is '111122223333:role/x', not an AWS account id (12 digits)",
            id="arn-injection",
        ),
        pytest.param(
            111122223333,
            "accountId is a JSON number, not an AWS account id (12 digits)",
            id="number",
        ),
        pytest.param("", "accountId is '', not an AWS account id (12 digits)", id="empty"),
    ],
)
def test_the_envelopes_account_must_be_an_account_id(account: object, said: str) -> None:
    event = fixture(CHANGE)
    if account is None:
        del event["accountId"]
    else:
        event["accountId"] = account
    with pytest.raises(InvalidEventError, match=f"^{re.escape(said)}"):
        account_of(event)


def test_an_item_account_that_is_not_an_account_id_is_said_so() -> None:
    event = event_of(CHANGE, item_account=None)
    invoking = json.loads(event["invokingEvent"])
    invoking["configurationItem"]["awsAccountId"] = None  # present, but null
    event["invokingEvent"] = json.dumps(invoking)
    assert account_of(event) == MEMBER  # null is absent: Config omits nothing it knows
    event = event_of(CHANGE, item_account=int(MEMBER))
    with pytest.raises(InvalidEventError, match="awsAccountId is a JSON number, not an AWS"):
        account_of(event)


@pytest.mark.parametrize(
    ("arn", "said"),
    [("config-rule-7k2m9q", "'config-rule-7k2m9q'"), (["arn"], "a JSON list")],
)
def test_a_rule_arn_that_is_no_arn_is_refused(arn: object, said: str) -> None:
    with pytest.raises(InvalidEventError, match=f"^configRuleArn is {said}, not an ARN$"):
        account_of(event_of(CHANGE, configRuleArn=arn))


def test_the_account_is_read_only_when_asked() -> None:
    # A rule of one account reads no account id: the captures' sanitised ids stay readable.
    invocation = parse_event(event_of(CHANGE, accountId="0123456789012"))
    assert invocation.account_id == "0123456789012"
    assert invocation.rule_arn == RULE_ARN


def test_real_captures(real_events_dir: Path) -> None:
    """Captured events: those with 12-digit ids that agree report for that account; those whose
    authors sanitised the account to 13 digits are refused naming it."""
    accounts = {}
    for path in sorted(real_events_dir.glob("*lambda-event*.json")):
        event = json.loads(path.read_text(encoding="utf-8"))
        event.pop("ruleParameters", None)  # other rules' parameters
        try:
            accounts[path.name] = account_of(event)
        except InvalidEventError as error:
            accounts[path.name] = str(error)
    assert accounts == {
        "accessanalyzer-lambda-event-deleted-iam-role.json": "123456789123",
        "c7n-lambda-event-sg-open-ssh.json": "123456789012",
        "powertools-lambda-event-ec2-instance-changed.json": (
            "accountId is '0123456789012', not an AWS account id (12 digits)"
        ),
        "powertools-lambda-event-oversized-ec2-instance.json": "123456789012",
        "powertools-lambda-event-scheduled.json": (
            "accountId is '0123456789012', not an AWS account id (12 digits)"
        ),
    }


@pytest.mark.parametrize(
    ("text", "arn"),
    [
        (
            "arn:aws:lambda:eu-west-1:111122223333:function:portguard",
            Arn("aws", "lambda", "eu-west-1", MEMBER, "function:portguard"),
        ),
        (
            "arn:aws-us-gov:lambda:us-gov-west-1:111122223333:function:portguard:live",
            Arn("aws-us-gov", "lambda", "us-gov-west-1", MEMBER, "function:portguard:live"),
        ),
        ("arn:aws:iam::111122223333:role/r", Arn("aws", "iam", "", MEMBER, "role/r")),
        ("arn:aws:s3:::bucket", Arn("aws", "s3", "", "", "bucket")),
        ("arn:aws:lambda:eu-west-1:0123456789012:function:f", None),  # 13 digits
        ("arn:aws:lambda:eu-west-1:1111222233:function:f", None),
        ("arn:gcp:lambda:eu-west-1:111122223333:function:f", None),
        ("arn:aws::eu-west-1:111122223333:function:f", None),  # no service
        ("arn:aws:lambda:eu-west-1:111122223333", None),  # five fields
        ("urn:aws:lambda:eu-west-1:111122223333:function:f", None),
        (None, None),
    ],
)
def test_arns_are_read_strictly(text: object, arn: Arn | None) -> None:
    assert parse_arn(text) == arn


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("000000000000", True),
        ("11112222333", False),
        ("1111222233334", False),
        (" 111122223333", False),
        ("11112222333४", False),  # a Devanagari digit: \d would take it
        (111122223333, False),
        (None, False),
    ],
)
def test_account_ids_are_twelve_ascii_digits(value: object, *, expected: bool) -> None:
    assert is_account_id(value) is expected
