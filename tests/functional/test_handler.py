"""The real handler with real boto3 clients: Config under botocore's Stubber (exact parameters),
EC2 under moto or Stubber. Each message type, batching, retries, re-sends and refusals; the
Lambda handler the factory builds, and the entry point built with it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber
from moto import mock_aws

from portguard import handler, rule
from portguard.errors import EvaluationDeliveryError, InvalidEventError, InvalidParameterError
from portguard.rule import PortguardRule, make_handler

from .conftest import (
    CHANGE_EVENT,
    OPEN_SSH_GROUP,
    LambdaContext,
    change_event,
    history_response,
    load,
    open_ssh_item,
    scheduled_event,
)

SSH_CAPTURE_TIME = datetime(2025, 3, 14, 9, 26, 53, 512000, tzinfo=UTC)
SSH_ANNOTATION = "Open to the internet from 0.0.0.0/0: tcp/22"
SWEEP_TIME = datetime(2025, 3, 15, 0, 12, 45, 307000, tzinfo=UTC)
"""The notificationCreationTime of the scheduled event fixture."""


def evaluation(
    resource_id: str,
    compliance: str,
    when: datetime,
    annotation: str | None = None,
    resource_type: str = "AWS::EC2::SecurityGroup",
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ComplianceResourceType": resource_type,
        "ComplianceResourceId": resource_id,
        "ComplianceType": compliance,
        "OrderingTimestamp": when,
    }
    if annotation is not None:
        out["Annotation"] = annotation
    return out


# The verdict on the change event fixture (tcp/22 from 0.0.0.0/0).
OPEN_SSH = evaluation(OPEN_SSH_GROUP, "NON_COMPLIANT", SSH_CAPTURE_TIME, SSH_ANNOTATION)


def expect_put(
    stub: Stubber,
    evaluations: Any,
    *,
    token: Any = "token-1",
    failed: list[dict[str, Any]] | None = None,
    test_mode: bool = False,
) -> None:
    """Expect one PutEvaluations call with exactly these evaluations (a list, ``ANY`` or a
    :class:`Batch`); Config answers that ``failed`` were not accepted."""
    params: dict[str, Any] = {"Evaluations": evaluations, "ResultToken": token}
    if test_mode:
        params["TestMode"] = True
    stub.add_response("put_evaluations", {"FailedEvaluations": failed or []}, params)


class Batch:
    """Matches a PutEvaluations ``Evaluations`` list of exactly ``size`` items and keeps it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.seen: list[dict[str, Any]] = []

    def __eq__(self, other: object) -> bool:
        if isinstance(other, list) and len(other) == self.size:
            self.seen = other
            return True
        return False

    def __hash__(self) -> int:  # pragma: no cover - never hashed
        return id(self)

    def __repr__(self) -> str:
        return f"<{self.size} evaluations>"


# --- ConfigurationItemChangeNotification -------------------------------------------------------


def test_change_notification_posts_exact_evaluation(
    config_client: Any, config_stub: Stubber
) -> None:
    event = load(CHANGE_EVENT)
    expect_put(
        config_stub,
        [OPEN_SSH],
        token=event["resultToken"],
    )
    summary = PortguardRule(config_client=config_client).handle(event)
    assert summary["NON_COMPLIANT"] == 1
    assert summary["putEvaluationsCalls"] == 1
    assert summary["testMode"] is False


def test_testmode_token_sets_test_mode(config_client: Any, config_stub: Stubber) -> None:
    expect_put(config_stub, ANY, token="TESTMODE", test_mode=True)
    summary = PortguardRule(config_client=config_client).handle(
        change_event(open_ssh_item(), token="TESTMODE")
    )
    assert summary["testMode"] is True


def test_compliant_group_after_parameters_narrow_the_ports(
    config_client: Any, config_stub: Stubber
) -> None:
    expect_put(config_stub, [evaluation(OPEN_SSH_GROUP, "COMPLIANT", SSH_CAPTURE_TIME)])
    PortguardRule(config_client=config_client).handle(
        change_event(open_ssh_item(), parameters={"blockedPorts": "3389", "protocolType": "tcp"})
    )


@pytest.mark.parametrize(
    "status", ["ResourceDeleted", "ResourceDeletedNotRecorded", "ResourceNotRecorded"]
)
def test_deleted_group_is_not_applicable(
    config_client: Any, config_stub: Stubber, status: str
) -> None:
    item = open_ssh_item()
    item.update(configurationItemStatus=status, configuration=None)
    expect_put(config_stub, [evaluation(OPEN_SSH_GROUP, "NOT_APPLICABLE", SSH_CAPTURE_TIME)])
    PortguardRule(config_client=config_client).handle(change_event(item))


def test_event_left_scope_is_not_applicable_even_when_open(
    config_client: Any, config_stub: Stubber
) -> None:
    expect_put(config_stub, [evaluation(OPEN_SSH_GROUP, "NOT_APPLICABLE", SSH_CAPTURE_TIME)])
    PortguardRule(config_client=config_client).handle(
        change_event(open_ssh_item(), left_scope=True)
    )


def test_deletion_event_is_not_applicable(config_client: Any, config_stub: Stubber) -> None:
    # configuration null, eventLeftScope true: as Config sends a deleted group.
    event = load("config-rule-change-event-deleted-group.json")
    expect_put(
        config_stub,
        [
            evaluation(
                "sg-09d4c1e8b7a6f5023",
                "NOT_APPLICABLE",
                datetime(2025, 3, 14, 11, 2, 17, 660000, tzinfo=UTC),
            )
        ],
        token=event["resultToken"],
    )
    summary = PortguardRule(config_client=config_client).handle(event)
    assert summary["NOT_APPLICABLE"] == 1


def test_other_resource_type_is_not_applicable(config_client: Any, config_stub: Stubber) -> None:
    event = load("config-rule-change-event-instance.json")
    expect_put(
        config_stub,
        [
            evaluation(
                "i-0e5d2c4b8a7f61930", "NOT_APPLICABLE", ANY, resource_type="AWS::EC2::Instance"
            )
        ],
        token=event["resultToken"],
    )
    PortguardRule(config_client=config_client).handle(event)


def test_prefix_list_resolved_through_ec2(config_client: Any, config_stub: Stubber) -> None:
    with mock_aws():
        import boto3

        ec2 = boto3.client("ec2", region_name="us-east-1")
        pl = ec2.create_managed_prefix_list(
            PrefixListName="everyone-in-halves",
            MaxEntries=5,
            AddressFamily="IPv4",
            Entries=[{"Cidr": "0.0.0.0/1"}, {"Cidr": "128.0.0.0/1"}],
        )["PrefixList"]["PrefixListId"]
        item = open_ssh_item()
        item["configuration"]["ipPermissions"][0].update(
            ipv4Ranges=[], ipRanges=[], prefixListIds=[{"prefixListId": pl}]
        )
        expect_put(
            config_stub,
            [
                evaluation(
                    OPEN_SSH_GROUP,
                    "NON_COMPLIANT",
                    SSH_CAPTURE_TIME,
                    f"Open to the internet from {pl}: tcp/22",
                )
            ],
        )
        PortguardRule(config_client=config_client, ec2_client=ec2).handle(change_event(item))


def test_unreadable_prefix_list_fails_closed(
    config_client: Any, config_stub: Stubber, ec2_client: Any
) -> None:
    item = open_ssh_item()
    item["configuration"]["ipPermissions"][0].update(
        ipv4Ranges=[], ipRanges=[], prefixListIds=[{"prefixListId": "pl-0123456789abcdef0"}]
    )
    with Stubber(ec2_client) as ec2_stub:
        ec2_stub.add_client_error(
            "get_managed_prefix_list_entries",
            service_error_code="UnauthorizedOperation",
            http_status_code=403,
            expected_params={"PrefixListId": "pl-0123456789abcdef0"},
        )
        expect_put(
            config_stub,
            [
                evaluation(
                    OPEN_SSH_GROUP,
                    "NON_COMPLIANT",
                    SSH_CAPTURE_TIME,
                    "Open to the internet from pl-0123456789abcdef0 "
                    "(unreadable: UnauthorizedOperation): tcp/22",
                )
            ],
        )
        PortguardRule(config_client=config_client, ec2_client=ec2_client).handle(change_event(item))
        ec2_stub.assert_no_pending_responses()


def test_prefix_lists_not_resolved_when_disabled(config_client: Any, config_stub: Stubber) -> None:
    item = open_ssh_item()
    item["configuration"]["ipPermissions"][0].update(
        ipv4Ranges=[], ipRanges=[], prefixListIds=[{"prefixListId": "pl-0123456789abcdef0"}]
    )

    class NoEc2:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"EC2 must not be called ({name})")

    expect_put(config_stub, [evaluation(OPEN_SSH_GROUP, "COMPLIANT", SSH_CAPTURE_TIME)])
    PortguardRule(config_client=config_client, ec2_client=NoEc2()).handle(  # type: ignore[arg-type]
        change_event(item, parameters={"resolvePrefixLists": "false"})
    )


def test_exemption_tag_is_honoured_until_its_date(config_client: Any, config_stub: Stubber) -> None:
    item = open_ssh_item()
    item["tags"] = {"portguard:exempt": "22 until 2026-11-30"}
    params = {"exemptTagKey": "portguard:exempt"}
    expect_put(
        config_stub,
        [
            evaluation(
                OPEN_SSH_GROUP,
                "COMPLIANT",
                SSH_CAPTURE_TIME,
                "Exempted by tag portguard:exempt until 2026-11-30, open to the internet "
                "from 0.0.0.0/0: tcp/22",
            )
        ],
    )
    expect_put(
        config_stub,
        [
            evaluation(
                OPEN_SSH_GROUP,
                "NON_COMPLIANT",
                SSH_CAPTURE_TIME,
                "Exemption tag portguard:exempt expired 2026-11-30. " + SSH_ANNOTATION,
            )
        ],
    )
    PortguardRule(config_client=config_client, today=date(2026, 11, 30)).handle(
        change_event(item, parameters=params)
    )
    PortguardRule(config_client=config_client, today=date(2026, 12, 1)).handle(
        change_event(item, parameters=params)
    )


# --- OversizedConfigurationItemChangeNotification ----------------------------------------------


def oversized_event(**summary: Any) -> dict[str, Any]:
    """The oversized event of sg-4f2a9c81 (the group of the history fixture), with ``summary``
    changed."""
    event = load("config-rule-oversized-event.json")
    invoking = json.loads(event["invokingEvent"])
    invoking["configurationItemSummary"].update(summary)
    event["invokingEvent"] = json.dumps(invoking)
    event["resultToken"] = "token-1"
    return event


def test_oversized_item_is_fetched_from_history(config_client: Any, config_stub: Stubber) -> None:
    config_stub.add_response(
        "get_resource_config_history",
        history_response("get-resource-config-history.json"),
        {
            "resourceType": "AWS::EC2::SecurityGroup",
            "resourceId": "sg-4f2a9c81",
            "laterTime": "2017-06-09T12:43:51.904Z",
            "limit": 1,
        },
    )
    expect_put(
        config_stub,
        [
            evaluation(
                "sg-4f2a9c81",
                "NON_COMPLIANT",
                datetime(2017, 6, 9, 12, 43, 51, 904000, tzinfo=UTC),
                "Open to the internet from 0.0.0.0/0: tcp/8080",
            )
        ],
    )
    PortguardRule(config_client=config_client).handle(oversized_event())


def test_oversized_deleted_item_is_decided_from_the_summary(
    config_client: Any, config_stub: Stubber
) -> None:
    expect_put(
        config_stub,
        [
            evaluation(
                "sg-4f2a9c81",
                "NOT_APPLICABLE",
                datetime(2017, 6, 9, 12, 43, 51, 904000, tzinfo=UTC),
            )
        ],
    )
    PortguardRule(config_client=config_client).handle(
        oversized_event(configurationItemStatus="ResourceDeleted")
    )


def test_oversized_item_of_another_type_is_not_fetched(
    config_client: Any, config_stub: Stubber
) -> None:
    event = oversized_event(resourceType="AWS::EC2::Instance", resourceId="i-0e5d2c4b8a7f61930")
    expect_put(
        config_stub,
        [
            evaluation(
                "i-0e5d2c4b8a7f61930", "NOT_APPLICABLE", ANY, resource_type="AWS::EC2::Instance"
            )
        ],
    )
    PortguardRule(config_client=config_client).handle(event)


def test_oversized_item_missing_from_history_raises_and_posts_nothing(
    config_client: Any, config_stub: Stubber
) -> None:
    config_stub.add_response("get_resource_config_history", {"configurationItems": []}, None)
    with pytest.raises(
        Exception, match="no configuration item for AWS::EC2::SecurityGroup sg-4f2a9c81"
    ):
        PortguardRule(config_client=config_client).handle(oversized_event())


# --- ScheduledNotification ---------------------------------------------------------------------


def test_periodic_sweep_posts_250_evaluations_in_3_calls(
    config_client: Any, config_stub: Stubber
) -> None:
    with mock_aws():
        import boto3

        ec2 = boto3.client("ec2", region_name="us-east-1")
        vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
        created = [
            ec2.create_security_group(GroupName=f"g{i}", Description="d", VpcId=vpc)["GroupId"]
            for i in range(249)  # plus the default VPC's default group: 250
        ]
        ec2.authorize_security_group_ingress(
            GroupId=created[7],
            IpPermissions=[{"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}],
        )
        ec2.authorize_security_group_ingress(
            GroupId=created[200],
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 3389,
                    "ToPort": 3389,
                    "IpRanges": [{"CidrIp": "0.0.0.0/1"}],
                },
                {
                    "IpProtocol": "tcp",
                    "FromPort": 3000,
                    "ToPort": 4000,
                    "IpRanges": [{"CidrIp": "128.0.0.0/1"}],
                },
            ],
        )
        batches = [Batch(100), Batch(100), Batch(50)]
        notified = SWEEP_TIME
        for batch in batches:
            expect_put(config_stub, batch)
        summary = PortguardRule(config_client=config_client, ec2_client=ec2).handle(
            scheduled_event()
        )

    posted = {e["ComplianceResourceId"]: e for b in batches for e in b.seen}
    assert len(posted) == 250
    assert set(created) <= set(posted)
    assert summary == {
        "messageType": "ScheduledNotification",
        "testMode": False,
        "evaluations": 250,
        "putEvaluationsCalls": 3,
        "COMPLIANT": 248,
        "NON_COMPLIANT": 2,
        "NOT_APPLICABLE": 0,
    }
    assert all(e["OrderingTimestamp"] == notified for e in posted.values())
    assert posted[created[7]]["Annotation"].startswith(
        "Open to the internet from ::/0: tcp/20-23, tcp/25, tcp/110"
    )
    assert posted[created[7]]["Annotation"].endswith("tcp/9300, udp/20-23, and 19 more")
    assert posted[created[200]]["Annotation"] == (
        "Open to the internet from 0.0.0.0/1, 128.0.0.0/1: tcp/3389"
    )
    assert "Annotation" not in posted[created[0]]


def test_sweep_reads_every_page_at_the_largest_page_size(
    config_client: Any, config_stub: Stubber, ec2_client: Any
) -> None:
    open_group = {
        "GroupId": "sg-2",
        "GroupName": "web",
        "VpcId": "vpc-1",
        "IpPermissions": [
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    }
    with Stubber(ec2_client) as ec2_stub:
        ec2_stub.add_response(
            "describe_security_groups",
            {"SecurityGroups": [{"GroupId": "sg-1", "GroupName": "quiet"}], "NextToken": "page-2"},
            {"MaxResults": 1000},
        )
        ec2_stub.add_response(
            "describe_security_groups",
            {"SecurityGroups": [open_group]},
            {"MaxResults": 1000, "NextToken": "page-2"},
        )
        when = SWEEP_TIME
        expect_put(
            config_stub,
            [
                evaluation("sg-1", "COMPLIANT", when),
                evaluation("sg-2", "NON_COMPLIANT", when, SSH_ANNOTATION),
            ],
        )
        PortguardRule(config_client=config_client, ec2_client=ec2_client).handle(scheduled_event())
        ec2_stub.assert_no_pending_responses()


# --- delivery: retries, re-sends, failures -----------------------------------------------------


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, "ThrottlingException"), (500, "InternalFailure"), (503, "ServiceUnavailable")],
)
def test_throttling_and_server_errors_are_retried_by_the_client(
    config_client: Any, monkeypatch: pytest.MonkeyPatch, status: int, error: str
) -> None:
    """The wire answers an error first, then success: botocore's retry mode must retry it."""
    sleeps: list[float] = []
    monkeypatch.setattr(time, "sleep", sleeps.append)
    sent: list[Any] = []

    def wire(request: Any, **_: Any) -> AWSResponse:
        sent.append(json.loads(request.body))
        if len(sent) == 1:
            body = json.dumps({"__type": error, "message": "try again"}).encode()
            return AWSResponse(request.url, status, {"x-amzn-requestid": "1"}, _Raw(body))
        return AWSResponse(
            request.url, 200, {"x-amzn-requestid": "2"}, _Raw(b'{"FailedEvaluations":[]}')
        )

    config_client.meta.events.register("before-send.config-service.PutEvaluations", wire)
    summary = PortguardRule(config_client=config_client).handle(change_event(open_ssh_item()))
    assert len(sent) == 2
    assert sent[0] == sent[1]
    assert len(sleeps) == 1
    assert summary["NON_COMPLIANT"] == 1


def test_failed_evaluations_are_sent_again(
    config_client: Any, config_stub: Stubber, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(time, "sleep", lambda _: None)
    expected = OPEN_SSH
    expect_put(config_stub, [expected], failed=[expected])
    expect_put(config_stub, [expected])
    summary = PortguardRule(config_client=config_client).handle(change_event(open_ssh_item()))
    assert summary["putEvaluationsCalls"] == 2


def test_undeliverable_evaluation_fails_after_the_rest_is_delivered(
    config_client: Any, config_stub: Stubber, ec2_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(time, "sleep", lambda _: None)
    groups = [{"GroupId": f"sg-{i:04d}", "GroupName": f"g{i}"} for i in range(150)]
    when = SWEEP_TIME
    stuck = evaluation("sg-0003", "COMPLIANT", when)
    first, second = Batch(100), Batch(50)
    with Stubber(ec2_client) as ec2_stub:
        ec2_stub.add_response(
            "describe_security_groups", {"SecurityGroups": groups}, {"MaxResults": 1000}
        )
        expect_put(config_stub, first, failed=[stuck])
        for _ in range(3):  # sent again three times, refused each time
            expect_put(config_stub, [stuck], failed=[stuck])
        expect_put(config_stub, second)
        with pytest.raises(EvaluationDeliveryError, match=r"1 evaluation.*sg-0003") as caught:
            PortguardRule(config_client=config_client, ec2_client=ec2_client).handle(
                scheduled_event()
            )
    assert [e["ComplianceResourceId"] for e in second.seen][-1] == "sg-0149"
    assert caught.value.failed == [stuck]


def test_client_error_on_one_batch_does_not_stop_the_others(
    config_client: Any, config_stub: Stubber, ec2_client: Any
) -> None:
    groups = [{"GroupId": f"sg-{i:04d}", "GroupName": f"g{i}"} for i in range(120)]
    second = Batch(20)
    with Stubber(ec2_client) as ec2_stub:
        ec2_stub.add_response(
            "describe_security_groups", {"SecurityGroups": groups}, {"MaxResults": 1000}
        )
        config_stub.add_client_error(
            "put_evaluations",
            service_error_code="InvalidParameterValueException",
            expected_params={"Evaluations": Batch(100), "ResultToken": "token-1"},
        )
        expect_put(config_stub, second)
        with pytest.raises(EvaluationDeliveryError, match="100 evaluation") as caught:
            PortguardRule(config_client=config_client, ec2_client=ec2_client).handle(
                scheduled_event()
            )
    assert len(second.seen) == 20
    assert "InvalidParameterValueException" in str(caught.value.__cause__)


# --- refusals: nothing posted -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parameters", "named"),
    [
        ({"blockedPorts": "22,70000"}, "blockedPorts='22,70000': port 70000"),
        ({"blockedPort": "22"}, "blockedPort='22': unknown parameter"),
        ({"ipType": "IPv5"}, "ipType='IPv5'"),
        ({"protocolType": "icmp"}, "protocolType='icmp'"),
        ({"resolvePrefixLists": "yes"}, "resolvePrefixLists='yes'"),
        ({"blockedPorts": "ssh"}, "unknown token 'ssh'"),
    ],
)
def test_bad_parameters_fail_and_post_nothing(
    config_client: Any, config_stub: Stubber, parameters: dict[str, str], named: str
) -> None:
    with pytest.raises(InvalidParameterError, match=named.replace("(", r"\(")):
        PortguardRule(config_client=config_client).handle(
            change_event(open_ssh_item(), parameters=parameters)
        )


def _broken(mutate: Any) -> dict[str, Any]:
    event = change_event(open_ssh_item())
    mutate(event)
    return event


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (_broken(lambda e: e.pop("invokingEvent")), "no invokingEvent"),
        (
            _broken(lambda e: e.update(invokingEvent="{not json")),
            "invokingEvent cannot be read as JSON: Expecting",
        ),
        (
            _broken(lambda e: e.update(invokingEvent=json.dumps({"messageType": "Bogus"}))),
            "messageType 'Bogus'",
        ),
        (
            _broken(
                lambda e: e.update(
                    invokingEvent=json.dumps(
                        {
                            "messageType": "ConfigurationItemChangeNotification",
                            "configurationItem": {
                                "resourceType": "AWS::EC2::SecurityGroup",
                                "resourceId": "sg-1",
                                "configuration": [1],
                            },
                        }
                    )
                )
            ),
            "configuration of sg-1 is not an object",
        ),
        (_broken(lambda e: e.pop("resultToken")), "no resultToken"),
        (_broken(lambda e: e.update(ruleParameters="[1]")), "ruleParameters is not a JSON object"),
        ("not an event", "the event is not a JSON object: it is a JSON string"),
    ],
    ids=[
        "no-invoking-event",
        "not-json",
        "unknown-message",
        "configuration-list",
        "no-token",
        "parameters-list",
        "not-object",
    ],
)
def test_malformed_events_fail_and_post_nothing(
    config_client: Any, config_stub: Stubber, event: Any, message: str
) -> None:
    with pytest.raises(InvalidEventError, match=message):
        PortguardRule(config_client=config_client).handle(event)


# --- the Lambda entry point as deployed ----------------------------------------------------------


def test_lambda_handler_logs_and_emits_metrics(
    config_client: Any,
    config_stub: Stubber,
    capsys: pytest.CaptureFixture[str],
    log_lines: Any,
) -> None:
    lambda_handler = make_handler(PortguardRule(config_client=config_client))
    expect_put(config_stub, ANY, token=ANY)
    result = lambda_handler(load(CHANGE_EVENT), LambdaContext())
    assert result["NON_COMPLIANT"] == 1
    verdicts = [x for x in log_lines() if x["message"] == "security group open to the internet"]
    assert verdicts[0]["resource_id"] == OPEN_SSH_GROUP
    assert verdicts[0]["rule_name"] == "portguard"
    assert verdicts[0]["annotation"] == SSH_ANNOTATION
    emf = next(json.loads(x) for x in capsys.readouterr().out.splitlines() if '"_aws"' in x)
    assert emf["NonCompliantEvaluations"] == [1.0]
    assert emf["CompliantEvaluations"] == [0.0]
    assert emf["service"] == "portguard"


def test_lambda_handler_logs_the_error_and_raises(
    config_client: Any,
    config_stub: Stubber,
    capsys: pytest.CaptureFixture[str],
    log_lines: Any,
) -> None:
    lambda_handler = make_handler(PortguardRule(config_client=config_client))
    with pytest.raises(InvalidParameterError):
        lambda_handler(
            change_event(open_ssh_item(), parameters={"blockedPorts": "22,70000"}), LambdaContext()
        )
    emf = next(json.loads(x) for x in capsys.readouterr().out.splitlines() if '"_aws"' in x)
    assert emf["FailedInvocations"] == [1.0]
    error = next(x for x in log_lines() if x["level"] == "ERROR")
    assert (
        error["error"]
        == "invalid rule parameter blockedPorts='22,70000': port 70000 is above 65535"
    )
    assert error["exception_name"] == "InvalidParameterError"
    assert "blockedPorts='22,70000': port 70000 is above 65535" in error["exception"]
    assert error["function_request_id"] == LambdaContext.aws_request_id


def test_handlers_around_two_rules_each_use_their_own_clients(
    config_client: Any, config_stub: Stubber, capsys: pytest.CaptureFixture[str]
) -> None:
    """The factory makes a handler per rule and they share nothing but Powertools' logger and
    metrics: a handler keeps answering with its own rule's clients after another is built
    around other clients (another account's, in the organization mode)."""

    class Refusing:
        def put_evaluations(self, **_: Any) -> dict[str, Any]:
            raise AssertionError("the other handler's rule was asked")

    first = make_handler(PortguardRule(config_client=config_client))
    make_handler(PortguardRule(config_client=Refusing()))  # type: ignore[arg-type]
    expect_put(config_stub, [OPEN_SSH], token=ANY)
    summary = first(load(CHANGE_EVENT), LambdaContext())
    assert summary["putEvaluationsCalls"] == 1
    emf = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"_aws"' in x]
    assert [x["NonCompliantEvaluations"] for x in emf] == [[1.0]]


def test_the_entry_point_is_the_factorys_handler_around_the_containers_rule(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[tuple[object, str | None]] = []

    def handle(event: object, *, function_arn: str | None = None) -> dict[str, Any]:
        seen.append((event, function_arn))
        return {"putEvaluationsCalls": 0, "COMPLIANT": 0, "NON_COMPLIANT": 0, "NOT_APPLICABLE": 0}

    monkeypatch.setattr(handler.rule, "handle", handle)
    event = load(CHANGE_EVENT)
    assert handler.lambda_handler(event, LambdaContext())["putEvaluationsCalls"] == 0
    # The function's ARN tells an organization's hub its own account and partition.
    assert seen == [(event, LambdaContext.invoked_function_arn)]
    # Built by the factory: the metrics are flushed as EMF when it returns.
    emf = next(json.loads(x) for x in capsys.readouterr().out.splitlines() if '"_aws"' in x)
    assert emf["PutEvaluationsCalls"] == [0.0]


@pytest.mark.parametrize(
    ("modules", "frozen"),
    [(["portguard.handler"], True), (["portguard.rule", "portguard.adapters"], False)],
    ids=["entry-point", "factory"],
)
def test_only_the_lambdas_entry_point_freezes_the_collector(
    modules: list[str], *, frozen: bool
) -> None:
    """The entry point freezes what the container imported (the cold start's full collection,
    docs/benchmarks.md); the factory, which the command line imports, leaves the collector
    alone. A fresh interpreter: this one may have imported the entry point already."""
    imports = "; ".join(f"import {name}" for name in modules)
    code = f"import gc; {imports}; print(gc.get_freeze_count())"
    out = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert (int(out) > 0) is frozen


def test_clients_are_made_once_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[str] = []
    monkeypatch.setattr(rule.boto3, "client", lambda name, **kw: made.append(name) or object())
    container_rule = PortguardRule()
    assert made == []
    assert container_rule.config is container_rule.config
    assert container_rule.ec2 is container_rule.ec2
    assert made == ["config", "ec2"]


def test_log_keys_of_one_call_do_not_leak_into_the_next(
    config_client: Any, config_stub: Stubber, ec2_client: Any, log_lines: Any
) -> None:
    expect_put(config_stub, ANY, token=ANY)
    expect_put(config_stub, ANY, token=ANY)
    warm = PortguardRule(config_client=config_client, ec2_client=ec2_client)
    warm.handle(change_event(open_ssh_item()))
    assert log_lines()[-1]["resource_id"] == OPEN_SSH_GROUP
    with Stubber(ec2_client) as ec2_stub:
        ec2_stub.add_response(
            "describe_security_groups", {"SecurityGroups": [{"GroupId": "sg-1"}]}, None
        )
        warm.handle(scheduled_event())
    summary = next(x for x in log_lines() if x["message"] == "evaluations delivered")
    assert summary["message_type"] == "ScheduledNotification"
    assert "resource_id" not in summary


def test_aws_refusal_during_sweep_is_logged_counted_and_raised(
    config_client: Any,
    config_stub: Stubber,
    ec2_client: Any,
    capsys: pytest.CaptureFixture[str],
    log_lines: Any,
) -> None:
    lambda_handler = make_handler(PortguardRule(config_client=config_client, ec2_client=ec2_client))
    with Stubber(ec2_client) as ec2_stub:
        ec2_stub.add_client_error(
            "describe_security_groups",
            service_error_code="UnauthorizedOperation",
            http_status_code=403,
        )
        with pytest.raises(ClientError, match="UnauthorizedOperation"):
            lambda_handler(scheduled_event(), LambdaContext())
    error = next(x for x in log_lines() if x["level"] == "ERROR")
    assert "UnauthorizedOperation" in error["error"]
    emf = next(json.loads(x) for x in capsys.readouterr().out.splitlines() if '"_aws"' in x)
    assert emf["FailedInvocations"] == [1.0]


def test_unreadable_capture_time_orders_by_the_notification_time(
    config_client: Any, config_stub: Stubber
) -> None:
    item = open_ssh_item()
    item["configurationItemCaptureTime"] = "yesterday"
    event = change_event(item)
    invoking = json.loads(event["invokingEvent"])
    invoking["notificationCreationTime"] = "2017-11-27T14:26:12.000Z"
    event["invokingEvent"] = json.dumps(invoking)
    expect_put(
        config_stub,
        [
            evaluation(
                OPEN_SSH_GROUP,
                "NON_COMPLIANT",
                datetime(2017, 11, 27, 14, 26, 12, tzinfo=UTC),
                SSH_ANNOTATION,
            )
        ],
    )
    PortguardRule(config_client=config_client).handle(event)


def test_prefix_list_unreachable_endpoint_fails_closed(
    config_client: Any, config_stub: Stubber, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import EndpointConnectionError

    class Unreachable:
        def get_paginator(self, name: str) -> Any:
            raise EndpointConnectionError(endpoint_url="https://ec2.us-east-1.amazonaws.com")

    item = open_ssh_item()
    item["configuration"]["ipPermissions"][0].update(
        ipv4Ranges=[], ipRanges=[], prefixListIds=[{"prefixListId": "pl-1"}]
    )
    expect_put(
        config_stub,
        [
            evaluation(
                OPEN_SSH_GROUP,
                "NON_COMPLIANT",
                SSH_CAPTURE_TIME,
                "Open to the internet from pl-1 (unreadable: EndpointConnectionError): tcp/22",
            )
        ],
    )
    PortguardRule(config_client=config_client, ec2_client=Unreachable()).handle(  # type: ignore[arg-type]
        change_event(item)
    )
