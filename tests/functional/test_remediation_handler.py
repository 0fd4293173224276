"""The remediation function the Config console's Remediate action runs (through the automation
document), against moto's EC2 and Service Quotas: it closes the rule's ports, returns the rollback
document that `portguard restore` takes back exactly, logs it before the first change, and fails
loudly (the automation ends failed) when refused, on bad input, or when EC2 fails halfway."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from portguard import remediation_handler
from portguard.errors import InvalidEventError, InvalidParameterError, RemediationError
from portguard.remediation.apply import restore
from portguard.remediation.rollback import read_rollback
from portguard.remediation.rules import rules_of
from portguard_cli.harness import LocalContext

from .conftest import REGION

CIS = {"PORTGUARD_RULE_PARAMETERS": json.dumps({"blockedPorts": "cis"})}
WORLD4 = [{"CidrIp": "0.0.0.0/0", "Description": "anyone"}]


@pytest.fixture
def aws() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("ec2", region_name=REGION)


@pytest.fixture
def remediation_log() -> Iterator[Any]:
    """The function's structured log lines (its own Powertools logger), parsed."""
    buffer = io.StringIO()
    handler = remediation_handler.logger.registered_handler
    previous = handler.setStream(buffer)

    def read() -> list[dict[str, Any]]:
        return [json.loads(x) for x in buffer.getvalue().splitlines() if x.startswith("{")]

    yield read
    handler.setStream(previous)  # type: ignore[arg-type]


def make_group(client: Any, permissions: list[dict[str, Any]]) -> str:
    vpc = client.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    group_id: str = client.create_security_group(GroupName="g", Description="d", VpcId=vpc)[
        "GroupId"
    ]
    client.authorize_security_group_ingress(GroupId=group_id, IpPermissions=permissions)
    return group_id


def current(client: Any, group_id: str) -> list[Any]:
    group = client.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    return sorted(rules_of(group["IpPermissions"]))


def wide_open(client: Any) -> str:
    private = [{"CidrIp": "10.0.0.0/8"}]
    return make_group(
        client,
        [
            {"IpProtocol": "tcp", "FromPort": 0, "ToPort": 65535, "IpRanges": WORLD4},
            {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "IpRanges": private},
        ],
    )


def test_closes_the_rules_ports_and_returns_a_rollback_that_restores_exactly(
    aws: Any, monkeypatch: pytest.MonkeyPatch, remediation_log: Any
) -> None:
    group_id = wide_open(aws)
    before = current(aws, group_id)
    monkeypatch.setenv("PORTGUARD_RULE_PARAMETERS", CIS["PORTGUARD_RULE_PARAMETERS"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)

    document = remediation_handler.lambda_handler({"GroupId": group_id}, LocalContext())  # type: ignore[arg-type]

    assert document["state"] == "applied"
    assert document["groupId"] == group_id
    assert document["region"] == REGION
    ports = {(r.from_port, r.to_port) for r in current(aws, group_id) if r.source == "0.0.0.0/0"}
    assert ports == {(0, 21), (23, 3388), (3390, 65535)}
    assert ("tcp", 3389, 3389, "IpRanges", "10.0.0.0/8") in {r.key for r in current(aws, group_id)}
    # Logged before the first change, with the original rules and nothing done, then after each
    # change (three pieces added, the wide rule revoked), each time holding only what was done.
    logged = [x["rollback"] for x in remediation_log() if x["message"] == "rollback document"]
    assert [x["state"] for x in logged] == ["adding"] * 4 + ["removing", "applied"]
    assert sorted(rules_of(logged[0]["original"])) == before
    assert [len(rules_of(x["added"])) for x in logged] == [0, 1, 2, 3, 3, 3]
    assert [len(rules_of(x["removed"])) for x in logged] == [0, 0, 0, 0, 1, 1]
    # The returned document is what `portguard restore` reads.
    assert restore(aws, read_rollback(document), apply=True).status == "applied"
    assert current(aws, group_id) == before


def test_a_rule_someone_else_closed_meanwhile_is_logged_and_not_in_the_rollback(
    aws: Any, remediation_log: Any
) -> None:
    group_id = wide_open(aws)
    operator = boto3.client("ec2", region_name=REGION)
    wide = {"IpProtocol": "tcp", "FromPort": 0, "ToPort": 65535, "IpRanges": WORLD4}

    def close_it(**_: Any) -> None:
        aws.meta.events.unregister("before-call.ec2.AuthorizeSecurityGroupIngress", close_it)
        operator.revoke_security_group_ingress(GroupId=group_id, IpPermissions=[wide])

    aws.meta.events.register("before-call.ec2.AuthorizeSecurityGroupIngress", close_it)
    document = remediation_handler.handle(
        {"GroupId": group_id}, ec2=aws, quotas=_quotas(), environ=CIS
    )
    assert (document["state"], document["added"], document["removed"]) == ("applied", [], [])
    assert [r.source for r in current(aws, group_id)] == ["10.0.0.0/8"]  # as the operator left it
    done = next(x for x in remediation_log() if x["message"].startswith("applied"))
    assert done["meanwhile"][0] == (
        "removed by someone else before portguard revoked it (restore will not bring it back): "
        "tcp 0-65535 from 0.0.0.0/0 (anyone)"
    )
    assert done["meanwhile"][1].startswith("taken back, as the rules it was added for are gone")


def test_a_group_that_is_not_open_is_left_alone(aws: Any) -> None:
    group_id = make_group(
        aws, [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": WORLD4}]
    )
    before = current(aws, group_id)
    result = remediation_handler.handle(
        {"GroupId": group_id}, ec2=aws, quotas=_quotas(), environ={}
    )
    assert result["state"] == "compliant"
    assert current(aws, group_id) == before


def test_the_parameters_deployed_with_it_decide_which_ports(aws: Any) -> None:
    group_id = wide_open(aws)
    environ = {"PORTGUARD_RULE_PARAMETERS": json.dumps({"blockedPorts": "8080"})}
    remediation_handler.handle({"GroupId": group_id}, ec2=aws, quotas=_quotas(), environ=environ)
    ports = {(r.from_port, r.to_port) for r in current(aws, group_id) if r.source == "0.0.0.0/0"}
    assert ports == {(0, 8079), (8081, 65535)}  # 22 and 3389 stay: this rule blocks only 8080


def test_a_refused_plan_raises_with_the_reason_and_changes_nothing(
    aws: Any, remediation_log: Any
) -> None:
    # 59 narrow rules and one -1 from the internet: its pieces do not fit under 60.
    narrow = [{"CidrIp": f"198.51.100.{i}/32"} for i in range(58)]
    https = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": narrow}
    group_id = make_group(aws, [https, {"IpProtocol": "-1", "IpRanges": WORLD4}])
    before = current(aws, group_id)
    with pytest.raises(RemediationError, match="refused, nothing changed: adding before removing"):
        remediation_handler.handle({"GroupId": group_id}, ec2=aws, quotas=_quotas(), environ=CIS)
    assert current(aws, group_id) == before
    error = next(x for x in remediation_log() if x["level"] == "ERROR")
    assert any(line.startswith("- all traffic from 0.0.0.0/0") for line in error["plan"])


def test_a_failure_halfway_raises_and_the_log_holds_the_original_rules(
    aws: Any, remediation_log: Any
) -> None:
    group_id = wide_open(aws)
    before = current(aws, group_id)

    def refuse(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "no"}}, "Revoke")

    aws.meta.events.register_first("before-call.ec2.RevokeSecurityGroupIngress", refuse)
    with pytest.raises(RemediationError, match="failed while removing"):
        remediation_handler.handle({"GroupId": group_id}, ec2=aws, quotas=_quotas(), environ=CIS)
    logged = [x["rollback"] for x in remediation_log() if x["message"] == "rollback document"]
    assert logged[-1]["state"].startswith("failed while removing")
    assert sorted(rules_of(logged[0]["original"])) == before
    aws.meta.events.unregister("before-call.ec2.RevokeSecurityGroupIngress", refuse)
    assert restore(aws, read_rollback(logged[-1]), apply=True).status == "applied"
    assert current(aws, group_id) == before


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({}, 'the event has no "GroupId"'),
        ([], 'the event has no "GroupId"'),
        ({"GroupId": "web"}, "GroupId 'web' is not a security group id"),
    ],
)
def test_a_bad_event_is_named(event: Any, message: str) -> None:
    with pytest.raises(InvalidEventError, match=message):
        remediation_handler.handle(event, environ={})


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        ("{", InvalidEventError, "PORTGUARD_RULE_PARAMETERS is not JSON"),
        ("[]", InvalidEventError, "PORTGUARD_RULE_PARAMETERS is not a JSON object"),
        ('{"blockedPorts": "70000"}', InvalidParameterError, "blockedPorts='70000'"),
    ],
)
def test_bad_deployed_parameters_are_named(
    value: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        remediation_handler.rule_parameters({"PORTGUARD_RULE_PARAMETERS": value})


def _quotas() -> Any:
    return boto3.client("service-quotas", region_name=REGION)
