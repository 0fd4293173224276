"""The decision on real AWS data captured by other projects, read in place from the shared
``real-events`` folder (``PORTGUARD_REAL_EVENTS``, else ``../shared/real-events``; provenance in its
SOURCES.md). Skipped, saying why, where that folder is not; the same cases run on our own files
in ``test_item_shapes.py`` everywhere.

Expectations are read off each capture's ingress rules (summarized in SOURCES.md) and SPEC §1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import pytest
from core_helpers import TODAY, exposed, load_json, load_placebo, select_items

from portguard.decision import evaluate_group, evaluate_item
from portguard.errors import InvalidParameterError
from portguard.events import MessageType, parse_event
from portguard.model import Compliance
from portguard.parameters import parse_rule_parameters
from portguard.reader import parse_configuration_item, parse_ec2_group

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path

    from portguard.model import Verdict

FSBP_TCP = (
    "20-23,25,110,135,143,445,1433-1434,3000,3306,3389,4333,5000,5432,5500,5601,8080,8088,8888,"
    "9200,9300"
)


def decide_item(item: Mapping, parameters: Mapping | None = None, **kwargs: object) -> Verdict:
    return evaluate_item(
        parse_configuration_item(item), parse_rule_parameters(parameters), today=TODAY, **kwargs
    )  # type: ignore[arg-type]


@pytest.fixture
def capture(real_events_dir: Path) -> Callable[[str], Any]:
    """A capture of the shared folder, as JSON."""
    return lambda name: load_json(real_events_dir / name)


@pytest.fixture
def placebo(real_events_dir: Path) -> Callable[[str], Any]:
    """The boto3 response a placebo recording of the shared folder holds."""
    return lambda name: load_placebo(real_events_dir / name)


def test_every_capture_is_attributed(real_events_dir: Path) -> None:
    sources = (real_events_dir / "SOURCES.md").read_text(encoding="utf-8")
    names = sorted(p.name for p in real_events_dir.glob("*.json"))
    assert len(names) >= 16
    for name in names:
        assert f"`{name}`" in sources, name


# --- the events, read ----------------------------------------------------------------------


def test_change_event_is_read(capture: Callable[[str], Any]) -> None:
    invocation = parse_event(capture("c7n-lambda-event-sg-open-ssh.json"))
    assert invocation.message_type is MessageType.CHANGE
    assert invocation.payload["resourceId"] == "sg-e2fb6999"
    assert invocation.rule_name == "custodian-sg-exposed-port7"
    assert invocation.event_left_scope is False


def test_scheduled_event_with_another_rules_parameters(capture: Callable[[str], Any]) -> None:
    raw = capture("powertools-lambda-event-scheduled.json")
    # It carries another rule's parameter ({"test": "x"}): portguard refuses unknown names.
    with pytest.raises(InvalidParameterError, match="test"):
        parse_event(raw)
    invocation = parse_event({**raw, "ruleParameters": "{}"})
    assert invocation.message_type is MessageType.SCHEDULED
    assert invocation.notification_time == "2023-04-27T13:26:17.741Z"


def test_oversized_event_is_read(capture: Callable[[str], Any]) -> None:
    raw = capture("powertools-lambda-event-oversized-ec2-instance.json")
    with pytest.raises(InvalidParameterError, match="myParameterKey"):
        parse_event(raw)
    invocation = parse_event({**raw, "ruleParameters": "{}"})
    assert invocation.message_type is MessageType.OVERSIZED
    assert invocation.payload["resourceType"] == "AWS::EC2::Instance"
    assert invocation.result_token == "myResultToken"


def test_instance_event_with_foreign_parameters(capture: Callable[[str], Any]) -> None:
    raw = capture("powertools-lambda-event-ec2-instance-changed.json")
    with pytest.raises(InvalidParameterError, match="desiredInstanceType") as caught:
        parse_event(raw)
    assert "t2.micro" in str(caught.value)


def test_deleted_event_left_scope(capture: Callable[[str], Any]) -> None:
    invocation = parse_event(capture("accessanalyzer-lambda-event-deleted-iam-role.json"))
    assert invocation.event_left_scope is True
    assert invocation.payload["configurationItemStatus"] == "ResourceDeleted"


# --- the decisions -------------------------------------------------------------------------


def test_c7n_change_event_open_ssh(capture: Callable[[str], Any]) -> None:
    invocation = parse_event(capture("c7n-lambda-event-sg-open-ssh.json"))
    item = parse_configuration_item(invocation.payload)
    assert item.capture_time == "2017-11-27T14:26:11.300Z"
    verdict = evaluate_item(item, invocation.parameters, today=TODAY)
    assert verdict.compliance is Compliance.NON_COMPLIANT
    assert exposed(verdict) == {"tcp": "22"}
    # ipv4Ranges and the legacy ipRanges both hold 0.0.0.0/0: named once.
    assert verdict.annotation == "Open to the internet from 0.0.0.0/0: tcp/22"


class TestAwsConfigRulesIpv6Capture:
    """tcp 15000 v4; tcp 80 v4+v6; tcp 11000 v6 only; tcp 0-65535 v4+v6; udp 10000 v4+v6;
    tcp 443 from one /32."""

    @pytest.fixture
    def item(self, capture: Callable[[str], Any]) -> dict[str, Any]:
        return capture("awsconfigrules-invoking-event-sg-ipv6-open.json")["configurationItem"]  # type: ignore[no-any-return]

    def test_default_parameters(self, item: dict[str, Any]) -> None:
        verdict = decide_item(item)
        assert verdict.compliance is Compliance.NON_COMPLIANT
        assert exposed(verdict) == {"tcp": FSBP_TCP}  # the udp rule is port 10000 only
        assert verdict.annotation is not None
        assert len(verdict.annotation) <= 256
        assert "::/0" in verdict.annotation

    @pytest.mark.parametrize(
        ("parameters", "expected"),
        [
            pytest.param(
                {"blockedPorts": "10000", "protocolType": "UDP"}, {"udp": "10000"}, id="udp-10000"
            ),
            pytest.param({"blockedPorts": "10001", "protocolType": "UDP"}, {}, id="udp-10001"),
            pytest.param(
                {"blockedPorts": "11000", "ipType": "IPv6"}, {"tcp": "11000"}, id="v6-only-rule"
            ),
            pytest.param({"blockedPorts": "53", "protocolType": "udp"}, {}, id="udp-53"),
        ],
    )
    def test_parameters(self, item: dict[str, Any], parameters: dict, expected: dict) -> None:
        assert exposed(decide_item(item, parameters)) == expected

    def test_ipv6_alone_opens(self, item: dict[str, Any]) -> None:
        # Drop the tcp 0-65535 rule: tcp/11000 is then open from ::/0 only.
        item["configuration"]["ipPermissions"] = [
            p for p in item["configuration"]["ipPermissions"] if p["toPort"] != 65535
        ]
        v6 = decide_item(item, {"blockedPorts": "11000", "ipType": "IPv6"})
        v4 = decide_item(item, {"blockedPorts": "11000", "ipType": "IPv4"})
        assert exposed(v6) == {"tcp": "11000"}
        assert v6.annotation == "Open to the internet from ::/0: tcp/11000"
        assert v4.compliance is Compliance.COMPLIANT
        assert decide_item(item, {"blockedPorts": "443"}).compliance is Compliance.COMPLIANT


def test_rdk_legacy_item(capture: Callable[[str], Any]) -> None:
    verdict = decide_item(capture("rdk-ci-sg-launch-wizard-legacy.json"))
    assert verdict.compliance is Compliance.NON_COMPLIANT
    assert verdict.annotation == "Open to the internet from 0.0.0.0/0: tcp/22"


def test_c7n_history_items_legacy_strings(placebo: Callable[[str], Any]) -> None:
    items = placebo("c7n-history-sg-allow-access-legacy.json")["configurationItems"]
    assert len(items) == 2
    for raw in items:
        item = parse_configuration_item(raw)
        assert item.capture_time is not None
        assert item.capture_time.startswith("2016-12-")
        assert item.group is not None
        assert dict(item.group.tags) == {"NetworkLocation": "DMZ", "App": "blue-moon"}
        verdict = evaluate_item(item, parse_rule_parameters(None), today=TODAY)
        assert exposed(verdict) == {"tcp": "8080"}  # 443 is from 10.42.1.0/24 only


def test_c7n_history_item_tag_that_is_no_exemption(placebo: Callable[[str], Any]) -> None:
    raw = placebo("c7n-history-sg-allow-access-legacy.json")["configurationItems"][0]
    verdict = decide_item(raw, {"exemptTagKey": "App"})
    assert verdict.compliance is Compliance.NON_COMPLIANT
    assert verdict.annotation is not None
    assert "App" in verdict.annotation
    assert "blue-moon" in verdict.annotation


def test_c7n_history_group_pair_port_0(placebo: Callable[[str], Any]) -> None:
    (raw,) = placebo("c7n-history-sg-group-pair-port0.json")["configurationItems"]
    verdict = decide_item(raw, {"blockedPorts": "0-65535"})
    assert verdict.compliance is Compliance.COMPLIANT


@pytest.mark.parametrize(
    ("name", "parameters", "expected"),
    [
        pytest.param("c7n-select-sg-float-ports-ssh.json", None, {"tcp": "22"}, id="float-ports"),
        pytest.param(
            "c7n-select-sg-float-ports-ssh.json",
            {"blockedPorts": "21,23"},
            {},
            id="float-ports-other-ports",
        ),
        pytest.param(
            "c7n-select-sg-no-ingress.json", {"blockedPorts": "0-65535"}, {}, id="no-ingress"
        ),
        pytest.param(
            "c7n-select-sg-default-all-traffic.json",
            {"blockedPorts": "0-65535"},
            {},
            id="minus-one-from-a-host-and-self",
        ),
    ],
)
def test_select_resource_config_results(
    placebo: Callable[[str], Any], name: str, parameters: dict | None, expected: dict
) -> None:
    (item,) = select_items(placebo(name)["Results"])
    verdict = decide_item(item, parameters)
    assert exposed(verdict) == expected
    assert verdict.compliance is (Compliance.NON_COMPLIANT if expected else Compliance.COMPLIANT)


def test_select_default_group_tags(placebo: Callable[[str], Any]) -> None:
    (item,) = select_items(placebo("c7n-select-sg-default-all-traffic.json")["Results"])
    group = parse_configuration_item(item).group
    assert group is not None
    assert group.tags == {"NetworkLocation": "Private"}


def test_ec2_all_traffic_open(placebo: Callable[[str], Any]) -> None:
    (raw,) = placebo("c7n-ec2-describe-sg-all-traffic-open.json")["SecurityGroups"]
    group = parse_ec2_group(raw)
    assert group.group_id == "sg-03c0b84cdad91744f"
    assert group.tags == {"ASV": "PolicyTest", "Owner": "c7n"}
    verdict = evaluate_group(group, parse_rule_parameters(None), today=TODAY)
    assert exposed(verdict) == {"tcp": FSBP_TCP, "udp": FSBP_TCP}
    assert verdict.annotation is not None
    assert len(verdict.annotation) <= 256


def test_ec2_all_traffic_open_exempted_by_ec2_tag(placebo: Callable[[str], Any]) -> None:
    (raw,) = placebo("c7n-ec2-describe-sg-all-traffic-open.json")["SecurityGroups"]
    raw = {**raw, "Tags": [*raw["Tags"], {"Key": "Exempt", "Value": "all until 2025-06-01"}]}
    verdict = evaluate_group(
        parse_ec2_group(raw), parse_rule_parameters({"exemptTagKey": "Exempt"}), today=TODAY
    )
    assert verdict.compliance is Compliance.COMPLIANT
    assert verdict.annotation is not None
    assert "2025-06-01" in verdict.annotation


TEN_GROUPS_OPEN = {"sg-a38ed1de": {"tcp": "8080"}, "sg-926a56e8": {"tcp": "22"}}


def test_ec2_ten_groups(placebo: Callable[[str], Any]) -> None:
    groups = placebo("c7n-ec2-describe-sg-ten-groups-icmp.json")["SecurityGroups"]
    assert len(groups) == 10
    params = parse_rule_parameters(None)
    for raw in groups:
        group = parse_ec2_group(raw)
        verdict = evaluate_group(group, params, today=TODAY)
        assert exposed(verdict) == TEN_GROUPS_OPEN.get(group.group_id, {}), group.group_id


def test_ec2_icmp_type_is_not_a_port(placebo: Callable[[str], Any]) -> None:
    groups = placebo("c7n-ec2-describe-sg-ten-groups-icmp.json")["SecurityGroups"]
    (raw,) = [g for g in groups if g["GroupId"] == "sg-a38ed1de"]
    # Even if the icmp rule (type 15) were open to everyone, 15 is no tcp/udp port.
    for permission in raw["IpPermissions"]:
        if permission["IpProtocol"] == "icmp":
            permission["IpRanges"] = [{"CidrIp": "0.0.0.0/0"}]
    verdict = evaluate_group(parse_ec2_group(raw), parse_rule_parameters({"blockedPorts": "15"}))
    assert verdict.compliance is Compliance.COMPLIANT


class TestPrefixListCapture:
    """sg-01a19f602ecaf25f4: tcp 80 from 192.168.0.1/31 and pl-63a5400b."""

    params: ClassVar[dict[str, str]] = {"blockedPorts": "80,443"}

    @pytest.fixture
    def groups(self, placebo: Callable[[str], Any]) -> list[dict[str, Any]]:
        return placebo("c7n-ec2-describe-sg-prefixlist-udp.json")["SecurityGroups"]  # type: ignore[no-any-return]

    def verdict(
        self,
        groups: list[dict[str, Any]],
        group_id: str,
        parameters: dict,
        resolver: object = None,
    ) -> Verdict:
        (raw,) = [g for g in groups if g["GroupId"] == group_id]
        return evaluate_group(
            parse_ec2_group(raw),
            parse_rule_parameters(parameters),
            resolve_prefix_list=resolver,  # type: ignore[arg-type]
        )

    def test_prefix_list_of_the_internet(self, groups: list[dict[str, Any]]) -> None:
        asked: list[str] = []

        def resolve(prefix_list_id: str) -> list[str]:
            asked.append(prefix_list_id)
            return ["0.0.0.0/1", "128.0.0.0/1"]

        verdict = self.verdict(groups, "sg-01a19f602ecaf25f4", self.params, resolve)
        assert asked == ["pl-63a5400b"]
        assert exposed(verdict) == {"tcp": "80"}
        assert verdict.annotation == "Open to the internet from pl-63a5400b: tcp/80"

    def test_private_prefix_list(self, groups: list[dict[str, Any]]) -> None:
        verdict = self.verdict(
            groups, "sg-01a19f602ecaf25f4", self.params, lambda _: ["10.0.0.0/8"]
        )
        assert verdict.compliance is Compliance.COMPLIANT
        assert verdict.warnings == ()  # 192.168.0.1/31 has host bits but is a CIDR

    def test_unreadable_prefix_list(
        self, groups: list[dict[str, Any]], unreadable: Callable[[str], Sequence[str]]
    ) -> None:
        verdict = self.verdict(groups, "sg-01a19f602ecaf25f4", self.params, unreadable)
        assert verdict.compliance is Compliance.NON_COMPLIANT
        assert verdict.annotation is not None
        assert "pl-63a5400b" in verdict.annotation

    def test_not_resolved(self, groups: list[dict[str, Any]]) -> None:
        group_id = "sg-01a19f602ecaf25f4"
        off = self.verdict(groups, group_id, {**self.params, "resolvePrefixLists": "false"})
        offline = self.verdict(groups, group_id, self.params)
        assert off.compliance is Compliance.COMPLIANT
        assert offline.compliance is Compliance.NON_COMPLIANT

    @pytest.mark.parametrize("group_id", ["sg-0b650189861ce4f6c", "sg-c573e6b3"])
    def test_narrow_sources(self, groups: list[dict[str, Any]], group_id: str) -> None:
        assert self.verdict(groups, group_id, self.params).compliance is Compliance.COMPLIANT


def test_ec2_instance_change_is_not_applicable(capture: Callable[[str], Any]) -> None:
    raw = capture("powertools-lambda-event-ec2-instance-changed.json")
    invocation = parse_event({**raw, "ruleParameters": "{}"})
    item = parse_configuration_item(invocation.payload)
    assert item.resource_type == "AWS::EC2::Instance"
    verdict = evaluate_item(item, invocation.parameters, today=TODAY)
    assert verdict.compliance is Compliance.NOT_APPLICABLE


def test_oversized_summary_of_an_instance_is_not_applicable(capture: Callable[[str], Any]) -> None:
    raw = capture("powertools-lambda-event-oversized-ec2-instance.json")
    invocation = parse_event({**raw, "ruleParameters": "{}"})
    verdict = evaluate_item(parse_configuration_item(invocation.payload), invocation.parameters)
    assert verdict.compliance is Compliance.NOT_APPLICABLE


def test_deleted_resource_left_scope_is_not_applicable(capture: Callable[[str], Any]) -> None:
    invocation = parse_event(capture("accessanalyzer-lambda-event-deleted-iam-role.json"))
    item = parse_configuration_item(invocation.payload)
    assert item.gone
    verdict = evaluate_item(
        item, invocation.parameters, event_left_scope=invocation.event_left_scope
    )
    assert verdict.compliance is Compliance.NOT_APPLICABLE


def test_sns_notification_created_group_without_ingress(capture: Callable[[str], Any]) -> None:
    message = capture("awsdocs-sns-notification-sg-created.json")["Message"]
    verdict = decide_item(message["configurationItem"], {"blockedPorts": "0-65535"})
    assert verdict.compliance is Compliance.COMPLIANT  # egress -1 to 0.0.0.0/0 does not count
