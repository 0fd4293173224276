"""Rules as EC2 knows them (:mod:`portguard.remediation.rules`): read from ``IpPermissions``
strictly and written back exactly, read into the decision's model as the reader reads a group,
which sources are protected, and what rules let in compared with others.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from core_helpers import TODAY, load_json, load_placebo
from hypothesis import given, settings
from hypothesis import strategies as st
from remediation_helpers import ACCOUNT, ANY4, CIS, GROUP_ID, WIDE4, ec2_permissions, perm, r
from shared_data import FIXTURES, real_events

from portguard.errors import RemediationError
from portguard.reader import parse_ec2_group
from portguard.remediation.plan import plan_remediation
from portguard.remediation.rules import (
    GROUP_PAIR,
    IPV4,
    IPV6,
    PREFIX_LIST,
    Rule,
    ip_permissions,
    opened_beyond,
    permissions_of,
    protected,
    rules_of,
)

# --- what rules let in ----------------------------------------------------------------------------


WIDE = r("tcp", 0, 65535, "0.0.0.0/0")


@pytest.mark.parametrize(
    ("rule", "reference", "beyond"),
    [
        pytest.param(r("tcp", 23, 3388, "0.0.0.0/0"), [WIDE], False, id="a-piece"),
        pytest.param(r("tcp", 23, 3388, "0.0.0.0/0"), [r("tcp", 23, 100, "0.0.0.0/0"),
                     r("6", 101, 3388, "0.0.0.0/0")], False, id="pieces-together-any-spelling"),
        pytest.param(r("tcp", 23, 3388, "0.0.0.0/0"), [r("tcp", 23, 100, "0.0.0.0/0")], True,
                     id="wider-than-the-reference"),
        pytest.param(r("udp", 53, 53, "0.0.0.0/0"), [WIDE], True, id="another-protocol"),
        pytest.param(r("tcp", 22, 22, "::/0"), [WIDE], True, id="another-source"),
        pytest.param(r("tcp", 22, 22, "0.0.0.0/0"), [], True, id="nothing-left"),
        pytest.param(r("tcp", 22, 22, "::/0"), [r("-1", None, None, "::/0")], False,
                     id="all-traffic-lets-in-everything"),
        pytest.param(r("-1", None, None, "::/0"), [r("tcp", 0, 65535, "::/0"),
                     r("udp", 0, 65535, "::/0")], True, id="all-traffic-is-more-than-tcp-and-udp"),
        pytest.param(r("icmp", 8, 0, "0.0.0.0/0"), [r("1", -1, -1, "0.0.0.0/0")], False,
                     id="an-icmp-type-within-all-types"),
        pytest.param(r("icmp", -1, -1, "0.0.0.0/0"), [r("icmp", 8, -1, "0.0.0.0/0")], True,
                     id="all-icmp-types-beyond-one"),
        pytest.param(r("50", None, None, "0.0.0.0/0"), [r("50", None, None, "0.0.0.0/0")], False,
                     id="a-protocol-without-ports"),
    ],
)  # fmt: skip
def test_opened_beyond_compares_what_rules_let_in(
    rule: Rule, reference: list[Rule], beyond: bool
) -> None:
    assert opened_beyond([rule], reference) == ([rule] if beyond else [])


def test_opened_beyond_reads_an_allowed_source_as_the_rule_it_stands_in_for() -> None:
    allowed = r("tcp", 0, 65535, "203.0.113.0/24", "portguard: in place of 0.0.0.0/0")
    origins = {allowed.key: (WIDE,)}
    assert opened_beyond([allowed], [WIDE], origins) == []
    assert opened_beyond([allowed], [WIDE]) == [allowed]  # as itself, a new source
    # Once the rule it stands in for is gone, it opens something nothing else does.
    assert opened_beyond([allowed], [r("tcp", 443, 443, "0.0.0.0/0")], origins) == [allowed]


# --- rules_of, ip_permissions and permissions_of --------------------------------------------------


def _captured_groups() -> list[Any]:
    """Every group of our DescribeSecurityGroups fixtures, and of the real captures where the
    shared folder is (one skipped case saying why where it is not)."""
    ours = [
        pytest.param(sg, id=f"{path.stem}-{sg['GroupId']}")
        for path in sorted(FIXTURES.glob("describe-security-groups*.json"))
        for sg in load_json(path)["SecurityGroups"]
    ]
    real = real_events()
    if not real.present:
        return [*ours, pytest.param(None, id="real", marks=pytest.mark.skip(real.absent_reason))]
    return ours + [
        pytest.param(
            sg, id=f"real-{path.stem.removeprefix('c7n-ec2-describe-sg-')}-{sg['GroupId']}"
        )
        for path in sorted(real.path.glob("c7n-ec2-describe-sg-*.json"))
        for sg in load_placebo(path)["SecurityGroups"]
    ]


CAPTURED_GROUPS = _captured_groups()


def test_there_are_captures_to_read() -> None:
    assert sum(not p.id.startswith("real") for p in CAPTURED_GROUPS) >= 14


@pytest.mark.parametrize("captured", CAPTURED_GROUPS)
def test_rules_round_trip_on_real_captures(captured: dict[str, Any]) -> None:
    permissions = captured["IpPermissions"]
    rules = rules_of(permissions)
    assert len(rules) == sum(
        len(p.get(kind) or [])
        for p in permissions
        for kind in (IPV4, IPV6, PREFIX_LIST, GROUP_PAIR)
    )
    # The same permissions come back, empty source lists aside.
    assert ip_permissions(rules) == [{k: v for k, v in p.items() if v != []} for p in permissions]
    assert rules_of(ip_permissions(rules)) == rules
    # And the plan keeps every rule it reads as the original.
    assert set(plan_remediation(captured, CIS, today=TODAY).original) == set(rules)


def test_rules_of_reads_every_kind_of_source() -> None:
    permissions = [
        perm("tcp", 22, 22, v4=["0.0.0.0/0"], v6=["::/0"], prefix_lists=["pl-1"], description="d"),
        {
            "IpProtocol": "-1",
            "UserIdGroupPairs": [
                {"GroupId": "sg-9", "UserId": ACCOUNT, "VpcId": "vpc-2", "Description": "peer"}
            ],
        },
    ]
    assert rules_of(permissions) == [
        r("tcp", 22, 22, "0.0.0.0/0", "d"),
        r("tcp", 22, 22, "::/0", "d"),
        r("tcp", 22, 22, "pl-1", "d"),
        Rule(
            "-1",
            None,
            None,
            GROUP_PAIR,
            '{"GroupId": "sg-9", "UserId": "123456789012", "VpcId": "vpc-2"}',
            "peer",
        ),
    ]
    assert ip_permissions(rules_of(permissions))[1] == permissions[1]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            ec2_permissions(),
            st.builds(
                perm,
                st.sampled_from(["tcp", "6", "UDP", "17", "-1", "icmp", "1", "58", "50", ""]),
                st.sampled_from([None, -1, 0, 22, 65535]),
                st.sampled_from([None, -1, 0, 22, 65535]),
                v4=st.lists(st.sampled_from([*WIDE4, "banana", " 10.0.0.0/8"]), max_size=2),
            ),
        ),
        max_size=5,
    )
)
def test_rules_are_read_into_the_decisions_model_as_the_reader_reads_a_group(
    permissions: list[dict[str, Any]],
) -> None:
    # The plan decides on its rules directly; this is what they would be in a group read back
    # from EC2, by the rule's own reader.
    rules = rules_of(permissions)
    via_ec2 = parse_ec2_group({"GroupId": GROUP_ID, "IpPermissions": ip_permissions(rules)})
    assert permissions_of(rules) == via_ec2.permissions


def test_ip_permissions_groups_rules_of_one_protocol_and_ports() -> None:
    rules = [
        r("tcp", 22, 22, "0.0.0.0/0"),
        r("udp", 53, 53, "10.0.0.0/8"),
        r("tcp", 22, 22, "::/0", "v6"),
        r("tcp", 22, 22, "sg-9"),
        r("-1", None, None, "pl-1"),
    ]
    assert ip_permissions(rules) == [
        {
            "IpProtocol": "tcp",
            "FromPort": 22,
            "ToPort": 22,
            "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            "Ipv6Ranges": [{"CidrIpv6": "::/0", "Description": "v6"}],
            "UserIdGroupPairs": [{"GroupId": "sg-9", "UserId": ACCOUNT}],
        },
        {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
        {"IpProtocol": "-1", "PrefixListIds": [{"PrefixListId": "pl-1"}]},
    ]


@pytest.mark.parametrize(
    ("permissions", "message"),
    [
        pytest.param(
            {"IpProtocol": "tcp"}, "IpPermissions is not a list: a JSON object", id="not-a-list"
        ),
        pytest.param(None, "IpPermissions is not a list: null", id="none"),
        pytest.param(
            [perm("tcp", 22, 22, v4=ANY4), "tcp"],
            "IpPermissions[1] is not an EC2 permission with an IpProtocol",
            id="not-an-object",
        ),
        pytest.param(
            [{"FromPort": 22, "ToPort": 22}],
            "IpPermissions[0] is not an EC2 permission with an IpProtocol",
            id="no-protocol",
        ),
        pytest.param(
            [{"IpProtocol": "tcp", "FromPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
            "IpPermissions[0] (tcp) has no integer FromPort and ToPort",
            id="no-to-port",
        ),
        pytest.param(
            [{"IpProtocol": "tcp", "FromPort": "22", "ToPort": 22}],
            "IpPermissions[0] (tcp) has no integer FromPort and ToPort",
            id="string-port",
        ),
        pytest.param(
            [{"IpProtocol": "tcp", "FromPort": True, "ToPort": 22}],
            "IpPermissions[0] (tcp) has no integer FromPort and ToPort",
            id="bool-port",
        ),
        pytest.param(
            [
                perm("-1", v4=ANY4),
                {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 2, "IpRanges": "0.0.0.0/0"},
            ],
            "IpPermissions[1].IpRanges is not a list",
            id="ranges-not-a-list",
        ),
        pytest.param(
            [{"IpProtocol": "-1", "Ipv6Ranges": ["::/0"]}],
            "IpPermissions[0].Ipv6Ranges holds a JSON string, not an object",
            id="range-a-string",
        ),
        pytest.param(
            [{"IpProtocol": "-1", "PrefixListIds": [{"Description": "x"}]}],
            "IpPermissions[0].PrefixListIds has an entry without PrefixListId",
            id="entry-without-id",
        ),
        pytest.param(
            [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": None}]}],
            "IpPermissions[0].IpRanges has an entry without CidrIp",
            id="null-cidr",
        ),
        pytest.param(
            [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": ""}]}],
            "IpPermissions[0].IpRanges has an entry without CidrIp",
            id="empty-cidr",
        ),
    ],
)
def test_rules_of_names_what_is_malformed(permissions: object, message: str) -> None:
    with pytest.raises(RemediationError, match=re.escape(message)):
        rules_of(permissions)


# --- protected sources ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "kind", "expected"),
    [
        pytest.param("0.0.0.0/0", IPV4, False, id="the-internet"),
        pytest.param("0.0.0.0/1", IPV4, False, id="half"),
        pytest.param("1.0.0.0/15", IPV4, False, id="wide-public"),
        pytest.param("1.0.0.0/16", IPV4, True, id="narrow-16"),
        pytest.param("203.0.113.5/32", IPV4, True, id="host"),
        pytest.param("10.0.0.0/8", IPV4, True, id="private"),
        pytest.param("::/0", IPV6, False, id="ipv6-internet"),
        pytest.param("2400::/31", IPV6, False, id="ipv6-wide"),
        pytest.param("2001:db8::/32", IPV6, True, id="ipv6-narrow"),
        pytest.param("fd00::/8", IPV6, True, id="ipv6-unique-local"),
        pytest.param("pl-123", PREFIX_LIST, False, id="prefix-list"),
        pytest.param("not a cidr", IPV4, True, id="not-a-cidr"),
    ],
)
def test_which_sources_are_protected(source: str, kind: str, expected: bool) -> None:
    assert protected(Rule("tcp", 22, 22, kind, source)) is expected
