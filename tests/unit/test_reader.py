"""Reading items of every shape into the model (SPEC §1 "Reading a permission")."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from core_helpers import config_item, perm

from portguard.errors import InvalidEventError
from portguard.model import Permission
from portguard.reader import parse_configuration_item, parse_ec2_group


def read_one(permission: Any) -> Permission:
    item = parse_configuration_item(config_item([permission]))
    assert item.group is not None
    (only,) = item.group.permissions
    return only


@pytest.mark.parametrize(
    ("protocol", "from_port", "to_port", "expected_protocol", "expected_ports"),
    [
        pytest.param("-1", None, None, "all", None, id="minus-one"),
        pytest.param(-1, None, None, "all", None, id="minus-one-int"),
        pytest.param("-1", 0, 0, "all", None, id="minus-one-ports-0"),
        pytest.param("-1", -1, -1, "all", None, id="minus-one-ports-minus-one"),
        pytest.param("all", None, None, "all", None, id="all"),
        pytest.param("ALL", None, None, "all", None, id="all-upper"),
        pytest.param("tcp", 22, 22, "tcp", (22, 22), id="tcp"),
        pytest.param("TCP", 22, 22, "tcp", (22, 22), id="tcp-upper"),
        pytest.param("6", 22, 22, "tcp", (22, 22), id="tcp-number"),
        pytest.param(6, 22, 22, "tcp", (22, 22), id="tcp-int"),
        pytest.param("udp", 53, 53, "udp", (53, 53), id="udp"),
        pytest.param("17", 53, 53, "udp", (53, 53), id="udp-number"),
        pytest.param(17, 53, 53, "udp", (53, 53), id="udp-int"),
        pytest.param("Udp", 53, 53, "udp", (53, 53), id="udp-mixed"),
        pytest.param("icmp", 8, -1, "icmp", None, id="icmp-type-8"),
        pytest.param("1", 8, -1, "icmp", None, id="icmp-number"),
        pytest.param("icmpv6", 128, 0, "icmpv6", None, id="icmpv6"),
        pytest.param("58", -1, -1, "icmpv6", None, id="icmpv6-number"),
        pytest.param("50", None, None, "50", None, id="esp"),
        pytest.param("47", 22, 22, "47", None, id="gre-with-ports"),
        pytest.param(132, 22, 22, "132", None, id="sctp-int"),
        pytest.param(6.0, 22, 22, "tcp", (22, 22), id="tcp-float-number"),
        pytest.param(" tcp ", 22, 22, "tcp", (22, 22), id="tcp-padded"),
        pytest.param("tcp", 22.0, 22.0, "tcp", (22, 22), id="float-ports"),
        pytest.param("tcp", "22", "23", "tcp", (22, 23), id="string-ports"),
        pytest.param("tcp", 0, 65535, "tcp", (0, 65535), id="tcp-everything"),
        pytest.param("tcp", None, None, "tcp", (0, 65535), id="tcp-no-ports"),
        pytest.param("tcp", -1, -1, "tcp", (0, 65535), id="tcp-minus-one"),
        pytest.param("udp", 20, None, "udp", (0, 65535), id="udp-no-to-port"),
        pytest.param("tcp", 0, 0, "tcp", (0, 0), id="tcp-port-zero"),
    ],
)
def test_protocol_and_ports(
    protocol: object,
    from_port: object,
    to_port: object,
    expected_protocol: str,
    expected_ports: tuple[int, int] | None,
) -> None:
    permission = read_one(perm(protocol, from_port, to_port, v4=["0.0.0.0/0"]))
    assert permission.protocol == expected_protocol
    assert permission.ports == expected_ports


def test_explicit_null_ports_mean_every_port() -> None:
    raw = {"ipProtocol": "tcp", "fromPort": None, "toPort": None, "ipRanges": ["0.0.0.0/0"]}
    assert read_one(raw).ports == (0, 65535)


@pytest.mark.parametrize(
    ("from_port", "to_port"),
    [("ssh", 22), (22, [22]), (True, 22), ({"n": 22}, 23)],
    ids=["word", "list", "bool", "object"],
)
def test_unreadable_ports_do_not_crash(from_port: object, to_port: object) -> None:
    item = parse_configuration_item(config_item([perm("tcp", from_port, to_port, v4=["::/0"])]))
    assert item.group is not None
    assert item.group.permissions[0].protocol == "tcp"
    assert item.group.permissions[0].ports is not None


@pytest.mark.parametrize("protocol", [None, "", "  "], ids=["null", "empty", "blank"])
def test_permission_without_protocol_allows_nothing(protocol: object) -> None:
    from portguard.decision import evaluate_item
    from portguard.model import Compliance
    from portguard.parameters import parse_rule_parameters

    item = parse_configuration_item(config_item([perm(protocol, 22, 22, v4=["0.0.0.0/0"])]))
    assert item.group is not None
    assert item.group.warnings  # said in the log
    verdict = evaluate_item(item, parse_rule_parameters({"blockedPorts": "0-65535"}))
    assert verdict.compliance is Compliance.COMPLIANT


def test_sources_of_every_kind() -> None:
    permission = read_one(
        perm(
            "tcp",
            22,
            22,
            v4=["10.0.0.0/8"],
            legacy=["10.0.0.0/8", "192.0.2.0/24"],
            v6=["::/0"],
            prefix_lists=["pl-1"],
            groups=["sg-9"],
        )
    )
    # ipv4Ranges and the legacy ipRanges repeat each other: each CIDR once.
    assert permission.ipv4 == ("10.0.0.0/8", "192.0.2.0/24")
    assert permission.ipv6 == ("::/0",)
    assert permission.prefix_lists == ("pl-1",)


def test_legacy_ip_ranges_only() -> None:
    raw = {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipRanges": ["0.0.0.0/0"]}
    assert read_one(raw).ipv4 == ("0.0.0.0/0",)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(
            {
                "ipProtocol": "tcp",
                "fromPort": 22,
                "toPort": 22,
                "ipv4Ranges": None,
                "ipRanges": None,
                "ipv6Ranges": None,
                "prefixListIds": None,
                "userIdGroupPairs": None,
            },
            id="null-lists",
        ),
        pytest.param({"ipProtocol": "tcp"}, id="no-lists"),
        pytest.param(
            {
                "ipProtocol": "tcp",
                "ipv4Ranges": [None, 5, {}, {"cidrIp": None}],
                "ipv6Ranges": [{"cidrIpv6": 7}],
                "prefixListIds": [{}],
            },
            id="junk-entries",
        ),
        pytest.param({"ipProtocol": "tcp", "ipv4Ranges": "0.0.0.0/0"}, id="list-is-a-string"),
    ],
)
def test_missing_and_null_lists_are_empty(raw: dict) -> None:
    permission = read_one(raw)
    assert permission.ipv4 == ()
    assert permission.ipv6 == ()
    assert permission.prefix_lists == ()


@pytest.mark.parametrize(
    "configuration",
    [
        pytest.param({}, id="empty-configuration"),
        pytest.param({"ipPermissions": None}, id="null-permissions"),
        pytest.param({"ipPermissions": "nope"}, id="permissions-a-string"),
        pytest.param({"ipPermissions": [None, "x", 3]}, id="permissions-not-objects"),
        pytest.param({"ipPermissions": [{}]}, id="permission-empty"),
        pytest.param({"ipPermissions": [{"ipProtocol": None}]}, id="protocol-null"),
    ],
)
def test_odd_configurations_do_not_crash(configuration: dict) -> None:
    item = parse_configuration_item(
        {
            "resourceType": "AWS::EC2::SecurityGroup",
            "resourceId": "sg-1",
            "configuration": configuration,
        }
    )
    assert item.group is not None
    assert item.group.group_id == "sg-1"
    for permission in item.group.permissions:
        assert permission.ipv4 == ()


def test_egress_is_not_read_as_ingress() -> None:
    item = parse_configuration_item(config_item([], egress=[perm("-1", v4=["0.0.0.0/0"])]))
    assert item.group is not None
    assert item.group.permissions == ()


@pytest.mark.parametrize(
    ("item_tags", "configuration_tags", "expected"),
    [
        pytest.param({"Exempt": "22"}, None, {"Exempt": "22"}, id="item-tag-map"),
        pytest.param(
            None, [{"key": "Exempt", "value": "22"}], {"Exempt": "22"}, id="configuration-tag-list"
        ),
        pytest.param({"A": "1"}, [{"key": "B", "value": "2"}], {"A": "1", "B": "2"}, id="both"),
        pytest.param(
            None,
            [{"key": "K", "value": None}, {"value": "orphan"}, "junk"],
            {"K": ""},
            id="odd-tag-entries",
        ),
        pytest.param("junk", "junk", {}, id="tags-not-collections"),
    ],
)
def test_tags(item_tags: object, configuration_tags: object, expected: dict) -> None:
    item = parse_configuration_item(
        config_item([], item_tags=item_tags, configuration_tags=configuration_tags)
    )
    assert item.group is not None
    assert dict(item.group.tags) == expected


def test_history_shape_configuration_is_a_json_string() -> None:
    item = config_item([perm("tcp", 22, 22, v4=["0.0.0.0/0"])], item_tags={"Name": "x"})
    item["configuration"] = json.dumps(item["configuration"])
    item["configurationItemCaptureTime"] = datetime(2025, 5, 30, 10, 0, tzinfo=UTC)
    parsed = parse_configuration_item(item)
    assert parsed.group is not None
    assert parsed.group.permissions[0].ports == (22, 22)
    assert parsed.capture_time == "2025-05-30T10:00:00+00:00"
    assert parsed.group.tags == {"Name": "x"}


def test_ec2_shape() -> None:
    group = parse_ec2_group(
        {
            "GroupId": "sg-9",
            "GroupName": "db",
            "VpcId": "vpc-9",
            "IpPermissions": [
                {
                    "IpProtocol": "tcp",
                    "FromPort": 5432,
                    "ToPort": 5432,
                    "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "all"}],
                    "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
                    "PrefixListIds": [{"PrefixListId": "pl-2"}],
                    "UserIdGroupPairs": [{"GroupId": "sg-1"}],
                },
            ],
            "IpPermissionsEgress": [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
            "Tags": [{"Key": "Exempt", "Value": "5432"}],
        }
    )
    assert group.group_id == "sg-9"
    assert group.group_name == "db"
    assert group.permissions == (
        Permission("tcp", (5432, 5432), ("0.0.0.0/0",), ("::/0",), ("pl-2",)),
    )
    assert group.tags == {"Exempt": "5432"}


def test_other_resource_types_have_no_group() -> None:
    item = parse_configuration_item(config_item([], resource_type="AWS::EC2::Instance"))
    assert item.group is None
    assert item.resource_type == "AWS::EC2::Instance"


@pytest.mark.parametrize(
    ("status", "gone"),
    [
        ("OK", False),
        ("ResourceDiscovered", False),
        ("ResourceDeleted", True),
        ("ResourceDeletedNotRecorded", True),
        ("ResourceNotRecorded", True),
    ],
)
def test_gone_statuses(status: str, gone: bool) -> None:
    assert parse_configuration_item(config_item([], status=status)).gone is gone


@pytest.mark.parametrize(
    ("item", "words"),
    [
        pytest.param([], "not an object", id="item-a-list"),
        pytest.param({"resourceId": "sg-1"}, "resourceType", id="no-resource-type"),
        pytest.param({"resourceType": "AWS::EC2::SecurityGroup"}, "resourceId", id="no-id"),
        pytest.param(
            {
                "resourceType": "AWS::EC2::SecurityGroup",
                "resourceId": "sg-1",
                "configuration": "{not json",
            },
            "cannot be read as JSON: Expecting property name",
            id="configuration-bad-json",
        ),
        pytest.param(
            {
                "resourceType": "AWS::EC2::SecurityGroup",
                "resourceId": "sg-1",
                "configuration": [1, 2],
            },
            "not an object",
            id="configuration-a-list",
        ),
        pytest.param(
            {
                "resourceType": "AWS::EC2::SecurityGroup",
                "resourceId": "sg-1",
                "configuration": "[1]",
            },
            "not an object",
            id="configuration-json-list",
        ),
    ],
)
def test_malformed_items_raise_saying_what_is_wrong(item: Any, words: str) -> None:
    with pytest.raises(InvalidEventError, match=words):
        parse_configuration_item(item)


def test_ec2_group_not_an_object() -> None:
    with pytest.raises(InvalidEventError, match="not an object"):
        parse_ec2_group(["sg-1"])  # type: ignore[arg-type]


def test_odd_capture_time_does_not_crash() -> None:
    item = config_item([perm("tcp", 22, 22, v4=["0.0.0.0/0"])])
    item["configurationItemCaptureTime"] = 1511792771300
    parsed = parse_configuration_item(item)
    assert parsed.group is not None
    assert parsed.capture_time is None  # the handler then orders by the notification's time
    assert parsed.capture_time is None  # the handler then orders by the notification's time


# --- what reaches people: JSON's words, ASCII ports, and every skipped thing said -------------

FULL_WIDTH_22 = "\uff12\uff12"
ARABIC_INDIC_22 = "\u0662\u0662"


def warnings_of(configuration: dict[str, Any]) -> tuple[str, ...]:
    item = parse_configuration_item(
        {
            "resourceType": "AWS::EC2::SecurityGroup",
            "resourceId": "sg-1",
            "configuration": configuration,
        }
    )
    assert item.group is not None
    return item.group.warnings


@pytest.mark.parametrize(
    "port",
    [
        pytest.param(FULL_WIDTH_22, id="full-width"),
        pytest.param(ARABIC_INDIC_22, id="arabic-indic"),
        pytest.param("\u00b2", id="superscript-two"),  # isdigit() says yes, int() refuses it
        pytest.param("--5", id="two-minus-signs"),  # lstrip("-") made it look like digits
        pytest.param("9" * 5000, id="five-thousand-digits"),  # beyond int()'s 4300 digits
    ],
)
def test_a_port_string_is_ascii_digits_or_unreadable(port: str) -> None:
    # Unreadable counts as every port (fail closed), with a warning that quotes it.
    item = parse_configuration_item(config_item([perm("tcp", port, 22, v4=["0.0.0.0/0"])]))
    assert item.group is not None
    assert item.group.permissions[0].ports == (0, 65535)
    (warning,) = item.group.warnings
    assert warning.startswith(f'unreadable port "{port[:20]}')
    assert warning.endswith(": counted as every port")


@pytest.mark.parametrize(
    ("from_port", "expected"),
    [(" 22 ", (22, 23)), ("0022", (22, 23)), ("-1", (0, 65535)), ("99999", (23, 65535))],
)
def test_ascii_port_strings_are_read(from_port: str, expected: tuple[int, int]) -> None:
    assert read_one(perm("tcp", from_port, 23, v4=["0.0.0.0/0"])).ports == expected


@pytest.mark.parametrize(
    ("item", "message"),
    [
        pytest.param([], "configurationItem is not an object: a JSON list", id="item"),
        pytest.param(
            {"resourceType": "AWS::EC2::SecurityGroup", "resourceId": "sg-1", "configuration": 42},
            "configuration of sg-1 is not an object: a JSON number",
            id="configuration",
        ),
        pytest.param(
            {"resourceType": "AWS::EC2::SecurityGroup", "resourceId": "sg-1", "configuration": "0"},
            "configuration of sg-1 is not an object: a JSON number",
            id="history-configuration",
        ),
        pytest.param(
            {
                "resourceType": "AWS::EC2::SecurityGroup",
                "resourceId": "sg-1",
                "configuration": "[" * 100_000 + "]" * 100_000,
            },
            "configuration of sg-1 cannot be read as JSON: its lists and objects are nested too "
            "deeply",
            id="nested-100000-deep",
        ),
        pytest.param(
            {
                "resourceType": "AWS::EC2::SecurityGroup",
                "resourceId": "sg-1",
                "configuration": '{"ipPermissions": [{"fromPort": ' + "2" * 5000 + "}]}",
            },
            "configuration of sg-1 cannot be read as JSON: it holds a number of more than 4300 "
            "digits",
            id="a-number-of-5000-digits",
        ),
    ],
)
def test_errors_speak_json_not_python(item: Any, message: str) -> None:
    with pytest.raises(InvalidEventError) as caught:
        parse_configuration_item(item)
    assert str(caught.value).startswith(message)
    for python_word in ("int", "list", "NoneType", "str", "set_int_max_str_digits"):
        assert f": {python_word}" not in str(caught.value)


def test_an_ec2_group_that_is_not_an_object_is_named_in_json_words() -> None:
    with pytest.raises(InvalidEventError, match="security group is not an object: null"):
        parse_ec2_group(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("configuration", "expected"),
    [
        pytest.param(
            {"ipPermissions": "tcp 22 0.0.0.0/0"},
            ["skipped ipPermissions: a JSON string, not a list"],
            id="permission-list-a-string",
        ),
        pytest.param(
            {"ipPermissions": {"ipProtocol": "tcp"}},
            ["skipped ipPermissions: a JSON object, not a list"],
            id="permission-list-an-object",
        ),
        pytest.param(
            {"ipPermissions": [42, None]},
            [
                "skipped an ingress permission that is not an object: 42",
                "skipped an ingress permission that is not an object: null",
            ],
            id="permissions-not-objects",
        ),
        pytest.param(
            {"ipPermissions": [{"ipProtocol": None}]},
            ["permission without ipProtocol (null): allows no port"],
            id="protocol-null",
        ),
        pytest.param(
            {"ipPermissions": [{"ipProtocol": "tcp", "ipv4Ranges": "0.0.0.0/0"}]},
            ["skipped ipv4Ranges: a JSON string, not a list"],
            id="source-list-a-string",
        ),
        pytest.param(
            {
                "ipPermissions": [
                    {
                        "ipProtocol": "tcp",
                        "ipv4Ranges": [None, {"cidrIp": ""}, {"cidr": "0.0.0.0/0"}],
                        "ipv6Ranges": [{"cidrIpv6": 7}],
                        "prefixListIds": [{}],
                    }
                ]
            },
            [
                "skipped an unreadable ipv4Ranges entry: null",
                'skipped an unreadable ipv4Ranges entry: {"cidrIp": ""}',
                'skipped an unreadable ipv4Ranges entry: {"cidr": "0.0.0.0/0"}',
                'skipped an unreadable ipv6Ranges entry: {"cidrIpv6": 7}',
                "skipped an unreadable prefixListIds entry: {}",
            ],
            id="junk-source-entries",
        ),
        pytest.param({"ipPermissions": None}, [], id="null-is-empty-and-fine"),
        pytest.param(
            {"ipPermissions": [{"ipProtocol": "tcp", "ipv4Ranges": None, "ipRanges": []}]},
            [],
            id="null-and-empty-source-lists-are-fine",
        ),
    ],
)
def test_what_the_reader_skips_it_says(configuration: dict[str, Any], expected: list[str]) -> None:
    # The handler logs these and `portguard evaluate` shows them: nothing is skipped in silence.
    assert list(warnings_of(configuration)) == expected


def test_a_long_unreadable_value_is_quoted_short() -> None:
    (warning,) = warnings_of({"ipPermissions": [{"ipProtocol": "tcp", "fromPort": "x" * 500}]})
    assert len(warning) < 120
    assert warning.startswith('unreadable port "xxxx')
    assert "…" in warning
