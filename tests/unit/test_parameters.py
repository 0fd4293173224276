"""The rule's InputParameters (SPEC §1 "Parameters")."""

from __future__ import annotations

import pytest

from portguard.errors import InvalidParameterError
from portguard.parameters import (
    IpType,
    ProtocolType,
    RuleParameters,
    parse_ports,
    parse_rule_parameters,
)
from portguard.ports import PortSet

# The preset contents, copied from SPEC §1 (not from the code).
SPEC_FSBP = [
    20,
    21,
    22,
    23,
    25,
    110,
    135,
    143,
    445,
    1433,
    1434,
    3000,
    3306,
    3389,
    4333,
    5000,
    5432,
    5500,
    5601,
    8080,
    8088,
    8888,
    9200,
    9300,
]
SPEC_HIPAA = [20, 21, 22, 3306, 3389, 4333]
SPEC_CIS = [22, 3389]


def ports_of(ports: PortSet) -> list[int]:
    return [p for lo, hi in ports.ranges for p in range(lo, hi + 1)]


@pytest.mark.parametrize("raw", [None, {}], ids=["none", "empty"])
def test_defaults(raw: dict | None) -> None:
    params = parse_rule_parameters(raw)
    assert ports_of(params.blocked_ports) == SPEC_FSBP
    assert params.protocol_type is ProtocolType.ALL
    assert params.ip_type is IpType.ALL
    assert params.exempt_tag_key is None
    assert params.resolve_prefix_lists is True


def test_fsbp_has_the_24_ports_of_ec2_19() -> None:
    assert len(SPEC_FSBP) == 24
    assert ports_of(parse_ports("fsbp")) == SPEC_FSBP


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("fsbp", SPEC_FSBP, id="fsbp"),
        pytest.param("hipaa", SPEC_HIPAA, id="hipaa"),
        pytest.param("cis", SPEC_CIS, id="cis"),
        pytest.param("FSBP", SPEC_FSBP, id="fsbp-upper"),
        pytest.param("Hipaa", SPEC_HIPAA, id="hipaa-mixed"),
        pytest.param("CIS", SPEC_CIS, id="cis-upper"),
    ],
)
def test_presets(text: str, expected: list[int]) -> None:
    assert ports_of(parse_rule_parameters({"blockedPorts": text}).blocked_ports) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("22", [(22, 22)], id="one-port"),
        pytest.param("22,3389", [(22, 22), (3389, 3389)], id="commas"),
        pytest.param("22 3389", [(22, 22), (3389, 3389)], id="spaces"),
        pytest.param(" 22 ,  3389 ,", [(22, 22), (3389, 3389)], id="commas-and-spaces"),
        pytest.param("8000-8100", [(8000, 8100)], id="range"),
        pytest.param("8000 - 8100", [(8000, 8100)], id="range-spaced"),
        pytest.param("0-65535", [(0, 65535)], id="everything"),
        pytest.param("0", [(0, 0)], id="port-zero"),
        pytest.param("65535", [(65535, 65535)], id="highest-port"),
        pytest.param(
            "25,cis 8000-8001", [(22, 22), (25, 25), (3389, 3389), (8000, 8001)], id="mixed-tokens"
        ),
        pytest.param("20-22,21-23", [(20, 23)], id="overlapping-ranges"),
    ],
)
def test_blocked_ports_grammar(text: str, expected: list[tuple[int, int]]) -> None:
    assert parse_rule_parameters({"blockedPorts": text}).blocked_ports == PortSet(expected)


def test_given_blocked_ports_replace_the_default() -> None:
    blocked = parse_rule_parameters({"blockedPorts": "8443"}).blocked_ports
    assert ports_of(blocked) == [8443]
    assert 22 not in blocked


@pytest.mark.parametrize(
    ("raw", "protocol_type", "ip_type", "resolve"),
    [
        pytest.param({"protocolType": "TCP"}, ProtocolType.TCP, IpType.ALL, True, id="tcp"),
        pytest.param({"protocolType": "udp"}, ProtocolType.UDP, IpType.ALL, True, id="udp-lower"),
        pytest.param({"protocolType": "All"}, ProtocolType.ALL, IpType.ALL, True, id="all-mixed"),
        pytest.param({"ipType": "IPv4"}, ProtocolType.ALL, IpType.IPV4, True, id="ipv4"),
        pytest.param({"ipType": "ipv6"}, ProtocolType.ALL, IpType.IPV6, True, id="ipv6-lower"),
        pytest.param({"ipType": "ALL"}, ProtocolType.ALL, IpType.ALL, True, id="ip-all"),
        pytest.param(
            {"resolvePrefixLists": "false"}, ProtocolType.ALL, IpType.ALL, False, id="no-resolve"
        ),
        pytest.param(
            {"resolvePrefixLists": "TRUE"}, ProtocolType.ALL, IpType.ALL, True, id="resolve-upper"
        ),
        pytest.param(
            {"resolvePrefixLists": "False"},
            ProtocolType.ALL,
            IpType.ALL,
            False,
            id="no-resolve-mixed",
        ),
    ],
)
def test_choices_are_case_insensitive(
    raw: dict, protocol_type: ProtocolType, ip_type: IpType, resolve: bool
) -> None:
    params = parse_rule_parameters(raw)
    assert params.protocol_type is protocol_type
    assert params.ip_type is ip_type
    assert params.resolve_prefix_lists is resolve


def test_protocol_and_ip_type_scopes() -> None:
    assert ProtocolType.TCP.protocols == ("tcp",)
    assert ProtocolType.UDP.protocols == ("udp",)
    assert set(ProtocolType.ALL.protocols) == {"tcp", "udp"}
    assert IpType.IPV4.families == (4,)
    assert IpType.IPV6.families == (6,)
    assert set(IpType.ALL.families) == {4, 6}


def test_exempt_tag_key() -> None:
    assert parse_rule_parameters({"exemptTagKey": "PortguardExempt"}).exempt_tag_key == (
        "PortguardExempt"
    )


@pytest.mark.parametrize(
    ("raw", "name", "bad"),
    [
        pytest.param({"blockedPorts": "22,65536"}, "blockedPorts", "65536", id="port-too-high"),
        pytest.param({"blockedPorts": "70000"}, "blockedPorts", "70000", id="only-port-too-high"),
        pytest.param(
            {"blockedPorts": "8000-70000"}, "blockedPorts", "70000", id="range-end-too-high"
        ),
        pytest.param({"blockedPorts": "8100-8000"}, "blockedPorts", "8100-8000", id="reversed"),
        pytest.param({"blockedPorts": "22,ssh"}, "blockedPorts", "ssh", id="unknown-token"),
        pytest.param({"blockedPorts": "pci"}, "blockedPorts", "pci", id="unknown-preset"),
        pytest.param({"blockedPorts": "-1"}, "blockedPorts", "-1", id="negative"),
        pytest.param({"blockedPorts": "22.5"}, "blockedPorts", "22.5", id="not-an-integer"),
        pytest.param({"blockedPorts": "all"}, "blockedPorts", "all", id="all-is-for-tags-only"),
        pytest.param({"blockedPorts": ""}, "blockedPorts", "''", id="empty"),
        pytest.param({"blockedPorts": " , "}, "blockedPorts", "' , '", id="only-separators"),
        pytest.param({"protocolType": "ICMP"}, "protocolType", "ICMP", id="protocol-type"),
        pytest.param({"protocolType": ""}, "protocolType", "''", id="protocol-type-empty"),
        pytest.param({"ipType": "IPv5"}, "ipType", "IPv5", id="ip-type"),
        pytest.param(
            {"resolvePrefixLists": "yes"}, "resolvePrefixLists", "yes", id="resolve-prefix-lists"
        ),
        pytest.param({"blockedPort": "22"}, "blockedPort", "22", id="unknown-name-singular"),
        pytest.param(
            {"desiredInstanceType": "t2.micro"},
            "desiredInstanceType",
            "t2.micro",
            id="another-rules-parameter",
        ),
        pytest.param({"exemptTagKey": "  "}, "exemptTagKey", "'  '", id="empty-tag-key"),
        pytest.param({"exemptTagKey": "K" * 129}, "exemptTagKey", "K" * 129, id="tag-key-too-long"),
        pytest.param({"blockedPorts": ["22"]}, "blockedPorts", "['22']", id="not-a-string"),
    ],
)
def test_bad_parameters_fail_naming_parameter_and_value(raw: dict, name: str, bad: str) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        parse_rule_parameters(raw)
    assert caught.value.name == name
    message = str(caught.value)
    assert name in message
    assert bad in message


def test_parameters_must_be_an_object() -> None:
    with pytest.raises(InvalidParameterError, match="ruleParameters"):
        parse_rule_parameters(["blockedPorts", "22"])  # type: ignore[arg-type]


def test_a_good_parameter_does_not_hide_a_bad_one() -> None:
    # No silent fallback: the bad value fails even though the rest is valid.
    with pytest.raises(InvalidParameterError, match="ipType"):
        parse_rule_parameters({"blockedPorts": "22", "protocolType": "TCP", "ipType": "v6"})


def test_unknown_name_suggests_the_known_one() -> None:
    with pytest.raises(InvalidParameterError, match="blockedPorts"):
        parse_rule_parameters({"blockedPort": "22"})


def test_as_input_parameters_round_trip() -> None:
    params = parse_rule_parameters(
        {
            "blockedPorts": "cis, 8000-8001",
            "protocolType": "tcp",
            "ipType": "ipv6",
            "exemptTagKey": "Exempt",
            "resolvePrefixLists": "false",
        }
    )
    assert params.as_input_parameters() == {
        "blockedPorts": "22,3389,8000-8001",
        "protocolType": "TCP",
        "ipType": "IPv6",
        "exemptTagKey": "Exempt",
        "resolvePrefixLists": "false",
    }
    assert parse_rule_parameters(params.as_input_parameters()) == params


def test_parameters_are_frozen() -> None:
    params = parse_rule_parameters({})
    assert isinstance(params, RuleParameters)
    with pytest.raises(AttributeError):
        params.ip_type = IpType.IPV4  # type: ignore[misc]


# Digits of other scripts, written as escapes (ruff flags the characters as look-alikes).
FULL_WIDTH_22 = "\uff12\uff12"
ARABIC_INDIC_3389 = "\u0663\u0663\u0668\u0669"
FULL_WIDTH_8100 = "\uff18\uff11\uff10\uff10"
DEVANAGARI_22 = "\u0968\u0968"


@pytest.mark.parametrize(
    ("text", "token"),
    [
        pytest.param(FULL_WIDTH_22, FULL_WIDTH_22, id="full-width"),
        pytest.param(f"22,{ARABIC_INDIC_3389}", ARABIC_INDIC_3389, id="arabic-indic"),
        pytest.param(f"8000-{FULL_WIDTH_8100}", f"8000-{FULL_WIDTH_8100}", id="range-end"),
        pytest.param(f"{DEVANAGARI_22}-23", f"{DEVANAGARI_22}-23", id="devanagari-range-start"),
    ],
)
@pytest.mark.parametrize("allow_all", [False, True], ids=["blockedPorts", "exemption-tag"])
def test_ports_are_written_in_ascii_digits(text: str, token: str, allow_all: bool) -> None:
    # Python's \d and int() read any script's digits (full-width 22 as 22): a port is ASCII 0-9
    # only, in the rule's parameter and in an exemption tag alike.
    with pytest.raises(InvalidParameterError) as caught:
        parse_ports(text, allow_all=allow_all)
    message = str(caught.value)
    assert f"unknown token {token!r}" in message
    assert "0-9" in message


def test_a_port_of_thousands_of_digits_is_above_the_highest() -> None:
    # int() refuses over 4300 digits with a message about sys.set_int_max_str_digits().
    with pytest.raises(InvalidParameterError, match=r"port 999999… \(5000 digits\) is above 65535"):
        parse_ports("9" * 5000)
    assert parse_ports("0" * 5000 + "22") == PortSet([(22, 22)])
