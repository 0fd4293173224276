"""The decision on every shape AWS writes a security group in, from our own files in
``tests/fixtures`` (described in its README.md): Config rule events, an invoking event, a bare
configuration item, GetResourceConfigHistory, SelectResourceConfig and DescribeSecurityGroups
responses, with the quirks real captures have (legacy ``ipRanges`` strings, float ports, null
lists, a non-canonical CIDR, ICMP types).

The same cases on real captures of other projects are in ``test_real_items.py``, which runs
where the shared folder is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import pytest
from core_helpers import TODAY, exposed, select_items
from shared_data import FIXTURES, as_boto3_history, fixture

from portguard.decision import evaluate_group, evaluate_item
from portguard.events import MessageType, parse_event
from portguard.model import Compliance
from portguard.parameters import parse_rule_parameters
from portguard.reader import parse_configuration_item, parse_ec2_group

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from portguard.model import Verdict

FSBP_TCP = (
    "20-23,25,110,135,143,445,1433-1434,3000,3306,3389,4333,5000,5432,5500,5601,8080,8088,8888,"
    "9200,9300"
)


def decide_item(item: Mapping, parameters: Mapping | None = None, **kwargs: object) -> Verdict:
    return evaluate_item(
        parse_configuration_item(item), parse_rule_parameters(parameters), today=TODAY, **kwargs
    )  # type: ignore[arg-type]


def ec2_group(name: str, group_id: str) -> dict[str, Any]:
    (raw,) = [g for g in fixture(name)["SecurityGroups"] if g["GroupId"] == group_id]
    return raw  # type: ignore[no-any-return]


def test_every_fixture_is_described() -> None:
    readme = (FIXTURES / "README.md").read_text(encoding="utf-8")
    names = sorted(p.name for p in FIXTURES.glob("*.json"))
    assert len(names) >= 13
    for name in names:
        assert f"`{name}`" in readme, name


# --- Config rule events --------------------------------------------------------------------


def test_change_event_open_ssh() -> None:
    invocation = parse_event(fixture("config-rule-change-event.json"))
    assert invocation.message_type is MessageType.CHANGE
    assert invocation.rule_name == "portguard"
    assert invocation.event_left_scope is False
    item = parse_configuration_item(invocation.payload)
    assert item.capture_time == "2025-03-14T09:26:53.512Z"
    verdict = evaluate_item(item, invocation.parameters, today=TODAY)
    assert verdict.compliance is Compliance.NON_COMPLIANT
    assert exposed(verdict) == {"tcp": "22"}
    # ipv4Ranges and the legacy ipRanges both hold 0.0.0.0/0: named once.
    assert verdict.annotation == "Open to the internet from 0.0.0.0/0: tcp/22"


def test_scheduled_event() -> None:
    invocation = parse_event(fixture("config-rule-scheduled-event.json"))
    assert invocation.message_type is MessageType.SCHEDULED
    assert invocation.notification_time == "2025-03-15T00:12:45.307Z"
    assert invocation.parameters == parse_rule_parameters({"blockedPorts": "fsbp"})


def test_oversized_event_carries_only_a_summary() -> None:
    invocation = parse_event(fixture("config-rule-oversized-event.json"))
    assert invocation.message_type is MessageType.OVERSIZED
    assert invocation.payload["resourceId"] == "sg-4f2a9c81"
    assert "configuration" not in invocation.payload


def test_oversized_summary_of_an_instance_is_not_applicable() -> None:
    raw = fixture("config-rule-oversized-event.json")
    invocation = parse_event(raw)
    summary = {**invocation.payload, "resourceType": "AWS::EC2::Instance", "resourceId": "i-1"}
    verdict = evaluate_item(parse_configuration_item(summary), invocation.parameters)
    assert verdict.compliance is Compliance.NOT_APPLICABLE


def test_instance_change_is_not_applicable() -> None:
    invocation = parse_event(fixture("config-rule-change-event-instance.json"))
    item = parse_configuration_item(invocation.payload)
    assert item.resource_type == "AWS::EC2::Instance"
    verdict = evaluate_item(item, invocation.parameters, today=TODAY)
    assert verdict.compliance is Compliance.NOT_APPLICABLE


@pytest.mark.parametrize("left_scope", [True, False])
def test_deleted_group_is_not_applicable(left_scope: bool) -> None:
    # Config sends the deletion with configuration null (and says the group left the scope);
    # the deletion alone decides, whatever eventLeftScope says.
    raw = fixture("config-rule-change-event-deleted-group.json")
    invocation = parse_event({**raw, "eventLeftScope": left_scope})
    assert invocation.event_left_scope is left_scope
    item = parse_configuration_item(invocation.payload)
    assert item.gone
    assert invocation.payload["configuration"] is None
    verdict = evaluate_item(
        item, invocation.parameters, event_left_scope=invocation.event_left_scope
    )
    assert verdict.compliance is Compliance.NOT_APPLICABLE


# --- one dual-stack item -------------------------------------------------------------------


class TestDualStackItem:
    """tcp 8443 v4; tcp 80 v4+v6; tcp 9418 v6 only; tcp 0-65535 v4+v6; udp 51820 v4+v6;
    tcp 443 from one /32."""

    @pytest.fixture
    def item(self) -> dict[str, Any]:
        return fixture("invoking-event-ipv6.json")["configurationItem"]  # type: ignore[no-any-return]

    def test_default_parameters(self, item: dict[str, Any]) -> None:
        verdict = decide_item(item)
        assert verdict.compliance is Compliance.NON_COMPLIANT
        assert exposed(verdict) == {"tcp": FSBP_TCP}  # the udp rule is port 51820 only
        assert verdict.annotation is not None
        assert len(verdict.annotation) <= 256
        assert "::/0" in verdict.annotation

    @pytest.mark.parametrize(
        ("parameters", "expected"),
        [
            pytest.param(
                {"blockedPorts": "51820", "protocolType": "UDP"}, {"udp": "51820"}, id="udp-51820"
            ),
            pytest.param({"blockedPorts": "51821", "protocolType": "UDP"}, {}, id="udp-51821"),
            pytest.param(
                {"blockedPorts": "9418", "ipType": "IPv6"}, {"tcp": "9418"}, id="v6-only-rule"
            ),
            pytest.param({"blockedPorts": "53", "protocolType": "udp"}, {}, id="udp-53"),
        ],
    )
    def test_parameters(self, item: dict[str, Any], parameters: dict, expected: dict) -> None:
        assert exposed(decide_item(item, parameters)) == expected

    def test_ipv6_alone_opens(self, item: dict[str, Any]) -> None:
        # Drop the tcp 0-65535 rule: tcp/9418 is then open from ::/0 only.
        item["configuration"]["ipPermissions"] = [
            p for p in item["configuration"]["ipPermissions"] if p["toPort"] != 65535
        ]
        v6 = decide_item(item, {"blockedPorts": "9418", "ipType": "IPv6"})
        v4 = decide_item(item, {"blockedPorts": "9418", "ipType": "IPv4"})
        assert exposed(v6) == {"tcp": "9418"}
        assert v6.annotation == "Open to the internet from ::/0: tcp/9418"
        assert v4.compliance is Compliance.COMPLIANT
        assert decide_item(item, {"blockedPorts": "443"}).compliance is Compliance.COMPLIANT


# --- configuration items in the history's naming --------------------------------------------


def test_legacy_item() -> None:
    # accountId/arn naming, legacy ipRanges strings only, egress with no port keys.
    verdict = decide_item(fixture("configuration-item-legacy.json"))
    assert verdict.compliance is Compliance.NON_COMPLIANT
    assert verdict.annotation == "Open to the internet from 0.0.0.0/0: tcp/22"


def test_history_items_as_boto3_returns_them() -> None:
    # configuration as a JSON string, capture times as datetimes, legacy ipRanges strings.
    history = as_boto3_history(fixture("get-resource-config-history.json"))
    items = history["configurationItems"]
    assert len(items) == 2
    for raw in items:
        item = parse_configuration_item(raw)
        assert item.capture_time is not None
        assert item.capture_time.startswith("2017-06-0")
        assert item.group is not None
        assert dict(item.group.tags) == {"Environment": "staging", "Team": "payments"}
        verdict = evaluate_item(item, parse_rule_parameters(None), today=TODAY)
        assert exposed(verdict) == {"tcp": "8080"}  # 443 is from 172.31.0.0/16 only


def test_history_item_tag_that_is_no_exemption() -> None:
    raw = fixture("get-resource-config-history.json")["configurationItems"][0]
    verdict = decide_item(raw, {"exemptTagKey": "Team"})
    assert verdict.compliance is Compliance.NON_COMPLIANT
    assert verdict.annotation is not None
    assert "Team" in verdict.annotation
    assert "payments" in verdict.annotation


def test_history_group_reference_port_0() -> None:
    (raw,) = fixture("get-resource-config-history-group-reference.json")["configurationItems"]
    verdict = decide_item(raw, {"blockedPorts": "0-65535"})
    assert verdict.compliance is Compliance.COMPLIANT


SELECTED = {
    item["configuration"]["groupName"]: item
    for item in select_items(fixture("select-resource-config.json")["Results"])
}


@pytest.mark.parametrize(
    ("name", "parameters", "expected"),
    [
        pytest.param("launch-wizard-5", None, {"tcp": "22"}, id="float-ports"),
        pytest.param(
            "launch-wizard-5", {"blockedPorts": "21,23"}, {}, id="float-ports-other-ports"
        ),
        pytest.param("ecs-task-unused", {"blockedPorts": "0-65535"}, {}, id="no-ingress"),
        pytest.param(
            "default", {"blockedPorts": "0-65535"}, {}, id="minus-one-from-a-host-and-self"
        ),
    ],
)
def test_select_resource_config_results(name: str, parameters: dict | None, expected: dict) -> None:
    verdict = decide_item(SELECTED[name], parameters)
    assert exposed(verdict) == expected
    assert verdict.compliance is (Compliance.NON_COMPLIANT if expected else Compliance.COMPLIANT)


def test_select_default_group_tags() -> None:
    group = parse_configuration_item(SELECTED["default"]).group
    assert group is not None
    assert group.tags == {"Tier": "private"}


# --- DescribeSecurityGroups -----------------------------------------------------------------

ALL_TRAFFIC = "describe-security-groups-all-traffic.json"
ALL_TRAFFIC_GROUP = "sg-01e5a9c3d7b2f4e6a"


def test_ec2_all_traffic_open() -> None:
    group = parse_ec2_group(ec2_group(ALL_TRAFFIC, ALL_TRAFFIC_GROUP))
    assert group.tags == {"Owner": "platform", "CostCenter": "1207"}
    verdict = evaluate_group(group, parse_rule_parameters(None), today=TODAY)
    assert exposed(verdict) == {"tcp": FSBP_TCP, "udp": FSBP_TCP}
    assert verdict.annotation is not None
    assert len(verdict.annotation) <= 256


def test_ec2_all_traffic_open_exempted_by_ec2_tag() -> None:
    raw = ec2_group(ALL_TRAFFIC, ALL_TRAFFIC_GROUP)
    raw = {**raw, "Tags": [*raw["Tags"], {"Key": "Exempt", "Value": "all until 2025-06-01"}]}
    verdict = evaluate_group(
        parse_ec2_group(raw), parse_rule_parameters({"exemptTagKey": "Exempt"}), today=TODAY
    )
    assert verdict.compliance is Compliance.COMPLIANT
    assert verdict.annotation is not None
    assert "2025-06-01" in verdict.annotation


TEN_GROUPS = "describe-security-groups.json"
WEB_FRONTEND = "sg-0a1e5c9d3b7f2e461"
TEN_GROUPS_OPEN = {WEB_FRONTEND: {"tcp": "8080"}, "sg-0b3d7f1a5c9e4b683": {"tcp": "22"}}


def test_ec2_ten_groups() -> None:
    groups = fixture(TEN_GROUPS)["SecurityGroups"]
    assert len(groups) == 10
    params = parse_rule_parameters(None)
    for raw in groups:
        group = parse_ec2_group(raw)
        verdict = evaluate_group(group, params, today=TODAY)
        assert exposed(verdict) == TEN_GROUPS_OPEN.get(group.group_id, {}), group.group_id


def test_ec2_icmp_type_is_not_a_port() -> None:
    raw = ec2_group(TEN_GROUPS, WEB_FRONTEND)
    # Even if the icmp rule (type 3, code 4) were open to everyone, 3 and 4 are no tcp/udp ports.
    (icmp,) = [p for p in raw["IpPermissions"] if p["IpProtocol"] == "icmp"]
    icmp["IpRanges"] = [{"CidrIp": "0.0.0.0/0"}]
    verdict = evaluate_group(parse_ec2_group(raw), parse_rule_parameters({"blockedPorts": "3-4"}))
    assert verdict.compliance is Compliance.COMPLIANT


class TestPrefixListGroup:
    """sg-02b6d0a4e8c1f3a59: tcp 80 from 192.168.0.1/31 and pl-4fa65026."""

    file = "describe-security-groups-prefix-list.json"
    group_id = "sg-02b6d0a4e8c1f3a59"
    params: ClassVar[dict[str, str]] = {"blockedPorts": "80,443"}

    def verdict(self, group_id: str, parameters: dict, resolver: object = None) -> Verdict:
        return evaluate_group(
            parse_ec2_group(ec2_group(self.file, group_id)),
            parse_rule_parameters(parameters),
            resolve_prefix_list=resolver,  # type: ignore[arg-type]
        )

    def test_prefix_list_of_the_internet(self) -> None:
        asked: list[str] = []

        def resolve(prefix_list_id: str) -> list[str]:
            asked.append(prefix_list_id)
            return ["0.0.0.0/1", "128.0.0.0/1"]

        verdict = self.verdict(self.group_id, self.params, resolve)
        assert asked == ["pl-4fa65026"]
        assert exposed(verdict) == {"tcp": "80"}
        assert verdict.annotation == "Open to the internet from pl-4fa65026: tcp/80"

    def test_private_prefix_list(self) -> None:
        verdict = self.verdict(self.group_id, self.params, lambda _: ["10.0.0.0/8"])
        assert verdict.compliance is Compliance.COMPLIANT
        assert verdict.warnings == ()  # 192.168.0.1/31 has host bits but is a CIDR

    def test_unreadable_prefix_list(self, unreadable: Callable[[str], Sequence[str]]) -> None:
        verdict = self.verdict(self.group_id, self.params, unreadable)
        assert verdict.compliance is Compliance.NON_COMPLIANT
        assert verdict.annotation is not None
        assert "pl-4fa65026" in verdict.annotation

    def test_not_resolved(self) -> None:
        off = self.verdict(self.group_id, {**self.params, "resolvePrefixLists": "false"})
        offline = self.verdict(self.group_id, self.params)
        assert off.compliance is Compliance.COMPLIANT
        assert offline.compliance is Compliance.NON_COMPLIANT

    @pytest.mark.parametrize("group_id", ["sg-03c7e1b5f9d2a4b6a", "sg-04d8f2c6a0e3b5c7b"])
    def test_narrow_sources(self, group_id: str) -> None:
        assert self.verdict(group_id, self.params).compliance is Compliance.COMPLIANT
