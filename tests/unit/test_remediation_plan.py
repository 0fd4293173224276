"""The remediation plan of SPEC §4 as pure tables: what is removed, what is added, what is refused.

Groups are written in the EC2 ``DescribeSecurityGroups`` shape (``GroupId``, ``IpPermissions``) by
the builders of ``remediation_helpers``; expectations are exact sets of rules (``Rule``,
description included), read off SPEC §1 and §4. "Applying" a plan is set arithmetic on
``Rule.key``: the original rules, plus ``add``, minus ``remove``, decided again with the same
decision.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import date
from typing import TYPE_CHECKING, Any

import pytest
from core_helpers import TODAY, exposed, named
from hypothesis import event, given, settings
from hypothesis import strategies as st
from remediation_helpers import (
    ANY4,
    ANY6,
    CIS,
    CIS_REST,
    NARROW,
    OPEN_LIST,
    PROPERTY_LISTS,
    SSH,
    applied,
    decide_rules,
    ec2_permissions,
    group,
    keys,
    perm,
    plan,
    r,
    ranges_of,
    resolver_of,
    small_port,
)

from portguard.errors import RemediationError
from portguard.model import Compliance, Family
from portguard.parameters import parse_rule_parameters
from portguard.remediation.plan import (
    DEFAULT_QUOTA,
    OverQuota,
    Plan,
    Quota,
    StillOpen,
    parse_allowed_cidrs,
    plan_remediation,
)
from portguard.remediation.rendering import plan_lines, plan_notes
from portguard.remediation.rules import GROUP_PAIR, IPV4, IPV6, PREFIX_LIST, Rule, rules_of

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from portguard.parameters import RuleParameters


# --- the plan, rule by rule -----------------------------------------------------------------------


def row(
    case_id: str,
    permissions: list[dict[str, Any]],
    remove: list[Rule],
    add: list[Rule],
    params: RuleParameters = CIS,
    **kwargs: Any,
) -> Any:
    return pytest.param(permissions, params, kwargs, remove, add, id=case_id)


CARVING = [
    # --- port ranges split around the blocked ports --------------------------------------------
    row(
        "tcp-all-ports-keeps-description",
        [perm("tcp", 0, 65535, v4=ANY4, description="web"), perm("tcp", 443, 443, v4=ANY4)],
        [r("tcp", 0, 65535, "0.0.0.0/0", "web")],
        ranges_of("tcp", "0.0.0.0/0", CIS_REST, "web"),
    ),
    row(
        "exactly-a-blocked-port",
        [perm("tcp", 22, 22, v4=ANY4)],
        [r("tcp", 22, 22, "0.0.0.0/0")],
        [],
    ),
    row(
        "range-around-a-blocked-port",
        [perm("tcp", 20, 25, v4=ANY4)],
        [r("tcp", 20, 25, "0.0.0.0/0")],
        [r("tcp", 20, 21, "0.0.0.0/0"), r("tcp", 23, 25, "0.0.0.0/0")],
        SSH,
    ),
    row(
        "range-starting-on-a-blocked-port",
        [perm("tcp", 22, 25, v4=ANY4)],
        [r("tcp", 22, 25, "0.0.0.0/0")],
        [r("tcp", 23, 25, "0.0.0.0/0")],
        SSH,
    ),
    row(
        "range-ending-on-a-blocked-port",
        [perm("tcp", 3000, 3389, v4=ANY4)],
        [r("tcp", 3000, 3389, "0.0.0.0/0")],
        [r("tcp", 3000, 3388, "0.0.0.0/0")],
    ),
    row(
        "range-ending-one-after-a-blocked-port",
        [perm("udp", 21, 23, v4=ANY4)],
        [r("udp", 21, 23, "0.0.0.0/0")],
        [r("udp", 21, 21, "0.0.0.0/0"), r("udp", 23, 23, "0.0.0.0/0")],
        SSH,
    ),
    row(
        "blocked-range-inside-a-range",
        [perm("tcp", 18, 30, v4=ANY4)],
        [r("tcp", 18, 30, "0.0.0.0/0")],
        [r("tcp", 18, 19, "0.0.0.0/0"), r("tcp", 26, 30, "0.0.0.0/0")],
        parse_rule_parameters({"blockedPorts": "20-25"}),
    ),
    row(
        "range-wholly-blocked",
        [perm("tcp", 21, 23, v4=ANY4)],
        [r("tcp", 21, 23, "0.0.0.0/0")],
        [],
        parse_rule_parameters({"blockedPorts": "20-25"}),
    ),
    row(
        "protocol-spelled-6",
        [perm("6", 0, 65535, v4=ANY4)],
        [r("6", 0, 65535, "0.0.0.0/0")],
        ranges_of("6", "0.0.0.0/0", CIS_REST),
    ),
    row(
        "protocol-spelled-17",
        [perm("17", 20, 25, v4=ANY4)],
        [r("17", 20, 25, "0.0.0.0/0")],
        [r("17", 20, 21, "0.0.0.0/0"), r("17", 23, 25, "0.0.0.0/0")],
        SSH,
    ),
    row(
        "only-the-named-source-of-a-permission",
        [perm("tcp", 20, 25, v4=["0.0.0.0/0", "10.0.0.0/8", "203.0.113.5/32"], pairs=["sg-9"])],
        [r("tcp", 20, 25, "0.0.0.0/0")],
        [r("tcp", 20, 21, "0.0.0.0/0"), r("tcp", 23, 25, "0.0.0.0/0")],
        SSH,
    ),
    # --- -1 ---------------------------------------------------------------------------------------
    row(
        "minus-one-ipv4",
        [perm("-1", v4=ANY4)],
        [r("-1", None, None, "0.0.0.0/0")],
        [
            *ranges_of("tcp", "0.0.0.0/0", CIS_REST),
            *ranges_of("udp", "0.0.0.0/0", CIS_REST),
            r("icmp", -1, -1, "0.0.0.0/0"),
        ],
    ),
    row(
        "minus-one-int",
        [perm(-1, v4=ANY4)],
        [r("-1", None, None, "0.0.0.0/0")],
        [
            *ranges_of("tcp", "0.0.0.0/0", CIS_REST),
            *ranges_of("udp", "0.0.0.0/0", CIS_REST),
            r("icmp", -1, -1, "0.0.0.0/0"),
        ],
    ),
    row(
        "minus-one-ipv6",
        [perm("-1", v6=ANY6)],
        [r("-1", None, None, "::/0")],
        [
            *ranges_of("tcp", "::/0", CIS_REST),
            *ranges_of("udp", "::/0", CIS_REST),
            r("icmpv6", -1, -1, "::/0"),
        ],
    ),
    row(
        "minus-one-prefix-list",
        [perm("-1", prefix_lists=["pl-open"])],
        [r("-1", None, None, "pl-open")],
        [
            *ranges_of("tcp", "pl-open", CIS_REST),
            *ranges_of("udp", "pl-open", CIS_REST),
            r("icmp", -1, -1, "pl-open"),
            r("icmpv6", -1, -1, "pl-open"),
        ],
        resolve_prefix_list=OPEN_LIST,
    ),
    row(
        "minus-one-protocol-type-tcp-keeps-udp-whole",
        [perm("-1", v4=ANY4)],
        [r("-1", None, None, "0.0.0.0/0")],
        [
            *ranges_of("tcp", "0.0.0.0/0", CIS_REST),
            r("udp", 0, 65535, "0.0.0.0/0"),
            r("icmp", -1, -1, "0.0.0.0/0"),
        ],
        parse_rule_parameters({"blockedPorts": "cis", "protocolType": "TCP"}),
    ),
    row(
        "minus-one-both-families-one-permission",
        [perm("-1", v4=ANY4, v6=ANY6)],
        [r("-1", None, None, "0.0.0.0/0"), r("-1", None, None, "::/0")],
        [
            *ranges_of("tcp", "0.0.0.0/0", [(0, 21), (23, 65535)]),
            *ranges_of("udp", "0.0.0.0/0", [(0, 21), (23, 65535)]),
            r("icmp", -1, -1, "0.0.0.0/0"),
            *ranges_of("tcp", "::/0", [(0, 21), (23, 65535)]),
            *ranges_of("udp", "::/0", [(0, 21), (23, 65535)]),
            r("icmpv6", -1, -1, "::/0"),
        ],
        SSH,
    ),
    row(
        "minus-one-private-and-pair-untouched",
        [perm("-1", v4=["0.0.0.0/0", "10.0.0.0/8"], pairs=["sg-9"])],
        [r("-1", None, None, "0.0.0.0/0")],
        [
            r("tcp", 0, 21, "0.0.0.0/0"),
            r("tcp", 23, 65535, "0.0.0.0/0"),
            r("udp", 0, 21, "0.0.0.0/0"),
            r("udp", 23, 65535, "0.0.0.0/0"),
            r("icmp", -1, -1, "0.0.0.0/0"),
        ],
        SSH,
    ),
    # --- IPv6 -------------------------------------------------------------------------------------
    row(
        "ipv6-all-ports",
        [perm("tcp", 0, 65535, v6=ANY6)],
        [r("tcp", 0, 65535, "::/0")],
        ranges_of("tcp", "::/0", CIS_REST),
    ),
    row(
        "ipv6-long-spelling-revoked-as-written",
        [perm("tcp", 22, 22, v6=["0:0:0:0:0:0:0:0/0"])],
        [r("tcp", 22, 22, "0:0:0:0:0:0:0:0/0")],
        [],
    ),
    row(
        "ip-type-ipv4-leaves-ipv6",
        [perm("tcp", 20, 25, v4=ANY4, v6=ANY6)],
        [r("tcp", 20, 25, "0.0.0.0/0")],
        [r("tcp", 20, 21, "0.0.0.0/0"), r("tcp", 23, 25, "0.0.0.0/0")],
        parse_rule_parameters({"blockedPorts": "22", "ipType": "IPv4"}),
    ),
    row(
        "ip-type-ipv6-leaves-ipv4",
        [perm("tcp", 22, 22, v4=ANY4, v6=ANY6)],
        [r("tcp", 22, 22, "::/0")],
        [],
        parse_rule_parameters({"blockedPorts": "22", "ipType": "IPv6"}),
    ),
    # --- split CIDRs ------------------------------------------------------------------------------
    row(
        "split-halves-on-different-permissions",
        [perm("tcp", 22, 22, v4=["0.0.0.0/1"]), perm("tcp", 20, 25, v4=["128.0.0.0/1"])],
        [r("tcp", 22, 22, "0.0.0.0/1"), r("tcp", 20, 25, "128.0.0.0/1")],
        [r("tcp", 20, 21, "128.0.0.0/1"), r("tcp", 23, 25, "128.0.0.0/1")],
        SSH,
    ),
    row(
        "split-halves-ipv6",
        [perm("tcp", 22, 22, v6=["::/1"]), perm("-1", v6=["8000::/1"])],
        [r("tcp", 22, 22, "::/1"), r("-1", None, None, "8000::/1")],
        [
            r("tcp", 0, 21, "8000::/1"),
            r("tcp", 23, 65535, "8000::/1"),
            r("udp", 0, 65535, "8000::/1"),
            r("icmpv6", -1, -1, "8000::/1"),
        ],
        SSH,
    ),
    row(
        "split-halves-leave-a-private-range-inside-one",
        [
            perm("tcp", 22, 22, v4=["0.0.0.0/1", "10.0.0.0/8"]),
            perm("tcp", 22, 22, v4=["128.0.0.0/1"]),
        ],
        [r("tcp", 22, 22, "0.0.0.0/1"), r("tcp", 22, 22, "128.0.0.0/1")],
        [],
        SSH,
    ),
    row(
        "half-and-prefix-list-half",
        [perm("tcp", 22, 22, v4=["0.0.0.0/1"], prefix_lists=["pl-half"])],
        [r("tcp", 22, 22, "0.0.0.0/1"), r("tcp", 22, 22, "pl-half")],
        [],
        SSH,
        resolve_prefix_list=resolver_of({"pl-half": ["128.0.0.0/1"]}),
    ),
    # --- prefix lists -----------------------------------------------------------------------------
    row(
        "prefix-list-resolving-to-the-internet",
        [perm("tcp", 20, 25, prefix_lists=["pl-open"])],
        [r("tcp", 20, 25, "pl-open")],
        [r("tcp", 20, 21, "pl-open"), r("tcp", 23, 25, "pl-open")],
        SSH,
        resolve_prefix_list=OPEN_LIST,
    ),
    row(
        "prefix-list-unreadable-fails-closed",
        [perm("tcp", 20, 25, prefix_lists=["pl-gone"])],
        [r("tcp", 20, 25, "pl-gone")],
        [r("tcp", 20, 21, "pl-gone"), r("tcp", 23, 25, "pl-gone")],
        SSH,
        resolve_prefix_list=OPEN_LIST,
    ),
    row(
        "prefix-list-offline-fails-closed",
        [perm("tcp", 22, 22, prefix_lists=["pl-open"])],
        [r("tcp", 22, 22, "pl-open")],
        [],
        SSH,
    ),
    row(
        "prefix-list-private-untouched",
        [perm("tcp", 22, 22, v4=ANY4, prefix_lists=["pl-private"])],
        [r("tcp", 22, 22, "0.0.0.0/0")],
        [],
        SSH,
        resolve_prefix_list=OPEN_LIST,
    ),
    # --- what is never touched, and what EC2 must be told exactly ---------------------------------
    row(
        "private-narrow-and-pairs-never-removed",
        [
            perm("tcp", 22, 22, v4=["10.0.0.0/8", "192.168.0.0/16", "203.0.113.5/32"]),
            perm("tcp", 22, 22, v4=ANY4, pairs=["sg-9"]),
            perm("-1", v4=["172.16.0.0/12"], pairs=["sg-8"]),
        ],
        [r("tcp", 22, 22, "0.0.0.0/0")],
        [],
        SSH,
    ),
    row(
        "not-a-cidr-left-alone",
        [perm("tcp", 22, 22, v4=["banana", "0.0.0.0/0"])],
        [r("tcp", 22, 22, "0.0.0.0/0")],
        [],
        SSH,
    ),
    row(
        "host-bits-revoked-as-written",
        [perm("tcp", 20, 25, v4=["1.2.3.4/0"])],
        [r("tcp", 20, 25, "1.2.3.4/0")],
        [r("tcp", 20, 21, "1.2.3.4/0"), r("tcp", 23, 25, "1.2.3.4/0")],
        SSH,
    ),
    row(
        "piece-already-in-the-group-not-added-again",
        [perm("tcp", 0, 65535, v4=ANY4), perm("tcp", 0, 21, v4=ANY4)],
        [r("tcp", 0, 65535, "0.0.0.0/0")],
        ranges_of("tcp", "0.0.0.0/0", CIS_REST[1:]),
    ),
    row(
        "pieces-of-two-rules-coincide",
        [perm("tcp", 20, 25, v4=ANY4), perm("tcp", 22, 25, v4=ANY4)],
        [r("tcp", 20, 25, "0.0.0.0/0"), r("tcp", 22, 25, "0.0.0.0/0")],
        [r("tcp", 20, 21, "0.0.0.0/0"), r("tcp", 23, 25, "0.0.0.0/0")],
        SSH,
    ),
    row(
        "tcp-without-ports-is-every-port",
        [{"IpProtocol": "tcp", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
        [r("tcp", None, None, "0.0.0.0/0")],
        ranges_of("tcp", "0.0.0.0/0", CIS_REST),
    ),
    row(
        "icmp-and-other-protocols-untouched",
        [perm("icmp", 8, -1, v4=ANY4), perm("47", -1, -1, v4=ANY4), perm("tcp", 22, 22, v4=ANY4)],
        [r("tcp", 22, 22, "0.0.0.0/0")],
        [],
        SSH,
    ),
]


@pytest.mark.parametrize(("permissions", "params", "kwargs", "remove", "add"), CARVING)
def test_plan_removes_and_adds_exactly(
    permissions: list[dict[str, Any]],
    params: RuleParameters,
    kwargs: dict[str, Any],
    remove: list[Rule],
    add: list[Rule],
) -> None:
    p = plan(*permissions, params=params, **kwargs)
    assert p.needed
    assert p.refusal is None
    assert set(p.remove) == set(remove)
    assert set(p.add) == set(add)
    assert len(p.add) == len(set(p.add))  # nothing added twice
    # Removed rules are revoked as EC2 stores them: each is one of the group's own rules.
    assert set(p.remove) <= set(rules_of(group(*permissions)["IpPermissions"]))
    assert p.after.compliance is Compliance.COMPLIANT
    assert p.after.exposures == ()
    resolver = kwargs.get("resolve_prefix_list")
    assert decide_rules(applied(p), params, resolver=resolver).compliance is Compliance.COMPLIANT


def test_all_ports_rule_keeps_every_other_port_public() -> None:
    p = plan(perm("tcp", 0, 65535, v4=ANY4, description="web"), perm("tcp", 443, 443, v4=ANY4))
    everything = parse_rule_parameters({"blockedPorts": "0-65535", "protocolType": "TCP"})
    # The pieces alone open every tcp port to 0.0.0.0/0 but the cis ones ...
    pieces = decide_rules(p.add, everything)
    assert exposed(pieces) == {"tcp": "0-21,23-3388,3390-65535"}
    assert {named(e) for e in pieces.exposures} == {("0.0.0.0/0",)}
    # ... and the group after the plan the same, tcp/443 included.
    after = decide_rules(applied(p), everything)
    assert exposed(after) == {"tcp": "0-21,23-3388,3390-65535"}
    https = parse_rule_parameters({"blockedPorts": "443"})
    assert (
        decide_rules(applied(p), https).annotation == "Open to the internet from 0.0.0.0/0: tcp/443"
    )
    assert p.before.annotation == "Open to the internet from 0.0.0.0/0: tcp/22, tcp/3389"
    assert p.after.compliance is Compliance.COMPLIANT
    assert (p.all_traffic_replaced, p.unsized_prefix_lists) == ((), ())
    assert plan_notes(p) == []


def test_minus_one_plan_names_the_sources_that_lose_the_other_protocols() -> None:
    p = plan(perm("-1", v4=ANY4), perm("-1", v6=ANY6))
    assert p.all_traffic_replaced == ("0.0.0.0/0", "::/0")
    assert len([line for line in plan_lines(p) if "every other IP protocol" in line]) == 2


def test_a_source_whose_all_traffic_rules_are_replaced_is_named_once() -> None:
    # -1 and all, both read as all traffic: two rules, one source, named once.
    p = plan(perm("-1", v4=ANY4), perm("all", v4=ANY4), params=SSH)
    assert p.all_traffic_replaced == ("0.0.0.0/0",)


def test_a_minus_one_rule_from_a_protected_source_is_not_replaced() -> None:
    p = plan(perm("-1", v4=["10.0.0.0/8", *ANY4]), params=SSH)
    assert p.all_traffic_replaced == ("0.0.0.0/0",)


def test_a_plan_without_minus_one_has_no_note_about_other_protocols() -> None:
    p = plan(perm("tcp", 0, 65535, v4=ANY4), perm("udp", 0, 65535, v6=ANY6))
    assert p.all_traffic_replaced == ()


# --- exemptions -----------------------------------------------------------------------------------


EXEMPT = parse_rule_parameters({"blockedPorts": "cis", "exemptTagKey": "portguard-exempt"})


@pytest.mark.parametrize(
    ("tag", "today", "add"),
    [
        pytest.param(
            "22 until 2025-12-31",
            date(2025, 6, 1),
            ranges_of("tcp", "0.0.0.0/0", [(0, 3388), (3390, 65535)]),
            id="ssh-exempted-rdp-closed",
        ),
        pytest.param(
            "22 until 2025-12-31",
            date(2025, 12, 31),
            ranges_of("tcp", "0.0.0.0/0", [(0, 3388), (3390, 65535)]),
            id="last-day-of-the-exemption",
        ),
        pytest.param(
            "22 until 2025-12-31",
            date(2026, 1, 1),
            ranges_of("tcp", "0.0.0.0/0", CIS_REST),
            id="expired-exemption-closes-both",
        ),
        pytest.param(
            "ssh", date(2025, 6, 1), ranges_of("tcp", "0.0.0.0/0", CIS_REST), id="unreadable-tag"
        ),
    ],
)
def test_exempted_ports_are_not_closed(tag: str, today: date, add: list[Rule]) -> None:
    p = plan(
        perm("tcp", 0, 65535, v4=ANY4),
        params=EXEMPT,
        tags={"portguard-exempt": tag, "Name": "web"},
        today=today,
    )
    assert set(p.remove) == {r("tcp", 0, 65535, "0.0.0.0/0")}
    assert set(p.add) == set(add)
    assert p.after.compliance is Compliance.COMPLIANT
    assert p.refusal is None


def test_fully_exempted_group_needs_no_plan() -> None:
    p = plan(
        perm("tcp", 22, 22, v4=ANY4),
        params=EXEMPT,
        tags={"portguard-exempt": "22,3389"},
    )
    assert not p.needed
    assert (p.add, p.remove, p.refusal) == ((), (), None)
    assert p.before.exempted != ()


# --- compliant groups -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("permissions", "params"),
    [
        pytest.param([], CIS, id="no-ingress"),
        pytest.param([perm("tcp", 22, 22, v4=["0.0.0.0/1"])], CIS, id="lone-half"),
        pytest.param(
            [perm("tcp", 22, 22, v4=["0.0.0.0/1"]), perm("udp", 22, 22, v4=["128.0.0.0/1"])],
            CIS,
            id="halves-on-different-protocols",
        ),
        pytest.param([perm("tcp", 0, 65535, v4=["10.0.0.0/8"], pairs=["sg-9"])], CIS, id="private"),
        pytest.param([perm("tcp", 443, 443, v4=ANY4, v6=ANY6)], CIS, id="only-https-public"),
        pytest.param(
            [perm("tcp", 22, 22, v6=ANY6)],
            parse_rule_parameters({"blockedPorts": "22", "ipType": "IPv4"}),
            id="ipv6-out-of-scope",
        ),
        pytest.param(
            [perm("udp", 22, 22, v4=ANY4)],
            parse_rule_parameters({"blockedPorts": "22", "protocolType": "TCP"}),
            id="udp-out-of-scope",
        ),
        pytest.param([perm("icmp", -1, -1, v4=ANY4)], CIS, id="icmp"),
    ],
)
def test_compliant_group_needs_no_plan(
    permissions: list[dict[str, Any]], params: RuleParameters
) -> None:
    p = plan(*permissions, params=params)
    assert not p.needed
    assert p.add == ()
    assert p.remove == ()
    assert p.refusal is None
    assert p.before.compliance is Compliance.COMPLIANT
    assert p.after == p.before
    assert set(p.original) == set(rules_of(group(*permissions)["IpPermissions"]))
    assert plan_lines(p)[-1] == "after: COMPLIANT"


# --- --allow-cidr ---------------------------------------------------------------------------------


def test_allowed_sources_replace_each_removed_rule_in_its_family() -> None:
    p = plan(
        perm("tcp", 20, 25, v4=ANY4),
        perm("-1", v6=ANY6),
        params=SSH,
        allow_cidrs=["10.1.2.3/8", "2001:db8::1/32", "192.168.0.0/16"],
    )
    assert set(p.remove) == {r("tcp", 20, 25, "0.0.0.0/0"), r("-1", None, None, "::/0")}
    allowed = {
        rule for rule in p.add if rule.description and rule.description.startswith("portguard")
    }
    assert allowed == {
        r("tcp", 20, 25, "10.0.0.0/8", "portguard: in place of 0.0.0.0/0"),
        r("tcp", 20, 25, "192.168.0.0/16", "portguard: in place of 0.0.0.0/0"),
        r("-1", None, None, "2001:db8::/32", "portguard: in place of ::/0"),
    }
    pieces = set(p.add) - allowed
    assert pieces == {
        r("tcp", 20, 21, "0.0.0.0/0"),
        r("tcp", 23, 25, "0.0.0.0/0"),
        r("tcp", 0, 21, "::/0"),
        r("tcp", 23, 65535, "::/0"),
        r("udp", 0, 21, "::/0"),
        r("udp", 23, 65535, "::/0"),
        r("icmpv6", -1, -1, "::/0"),
    }
    assert p.refusal is None
    assert p.after.compliance is Compliance.COMPLIANT


def test_allowed_sources_for_a_removed_prefix_list_go_in_both_families() -> None:
    p = plan(
        perm("tcp", 22, 22, prefix_lists=["pl-open"]),
        params=SSH,
        allow_cidrs=["10.0.0.0/8", "fd00::/8"],
        resolve_prefix_list=OPEN_LIST,
    )
    assert set(p.add) == {
        r("tcp", 22, 22, "10.0.0.0/8", "portguard: in place of pl-open"),
        r("tcp", 22, 22, "fd00::/8", "portguard: in place of pl-open"),
    }


def test_an_allowed_source_already_in_the_group_is_not_added_again() -> None:
    p = plan(
        perm("tcp", 22, 22, v4=["0.0.0.0/0", "10.0.0.0/8"]),
        params=SSH,
        allow_cidrs=["10.0.0.0/8"],
    )
    assert set(p.remove) == {r("tcp", 22, 22, "0.0.0.0/0")}
    assert p.add == ()
    assert p.refusal is None


def test_each_added_rule_knows_the_original_rules_it_exists_for() -> None:
    wide = perm("tcp", 0, 65535, v4=ANY4, description="wide")
    legacy = perm("tcp", 0, 3388, v4=ANY4, description="legacy")
    p = plan(wide, legacy, allow_cidrs=["198.51.100.0/24"])
    w, s = r("tcp", 0, 65535, "0.0.0.0/0", "wide"), r("tcp", 0, 3388, "0.0.0.0/0", "legacy")
    assert set(p.remove) == {w, s}
    origins = {
        (rule.from_port, rule.to_port, rule.source): set(p.origins[rule.key]) for rule in p.add
    }
    assert origins == {
        # The same piece of both rules: needed while either is.
        (0, 21, "0.0.0.0/0"): {w, s},
        (23, 3388, "0.0.0.0/0"): {w, s},
        (3390, 65535, "0.0.0.0/0"): {w},
        # An allowed source stands in for each rule removed with those ports.
        (0, 65535, "198.51.100.0/24"): {w},
        (0, 3388, "198.51.100.0/24"): {s},
    }


def test_a_piece_carved_again_in_a_later_round_comes_from_the_original_rule() -> None:
    # Round 1 names only 0.0.0.0/0 on tcp/22 (the halves do not widen its cover) and the halves
    # on tcp/21; once 0.0.0.0/0 is gone, round 2 names the halves on tcp/22 too.
    half = perm("tcp", 0, 100, v4=["0.0.0.0/1"])
    p = plan(
        half,
        perm("tcp", 21, 21, v4=["128.0.0.0/1"]),
        perm("tcp", 22, 22, v4=ANY4),
        perm("tcp", 22, 22, v4=["128.0.0.0/1"]),
        params=parse_rule_parameters({"blockedPorts": "21,22"}),
    )
    assert {(rule.from_port, rule.to_port): p.origins[rule.key] for rule in p.add} == {
        (0, 20): (r("tcp", 0, 100, "0.0.0.0/1"),),
        (23, 100): (r("tcp", 0, 100, "0.0.0.0/1"),),
    }


@pytest.mark.parametrize(
    "allow",
    [
        pytest.param(["0.0.0.0/0"], id="the-internet"),
        pytest.param(["0.0.0.0/1", "128.0.0.0/1"], id="two-halves"),
        pytest.param(["::/1", "8000::/1"], id="two-ipv6-halves"),
    ],
)
def test_allowed_sources_that_reopen_the_port_are_refused(allow: list[str]) -> None:
    p = plan(perm("tcp", 0, 65535, v4=ANY4), perm("tcp", 0, 65535, v6=ANY6), allow_cidrs=allow)
    assert p.refusal == StillOpen(p.after)
    assert p.after.compliance is Compliance.NON_COMPLIANT
    assert ("tcp", (22, 22)) in {(e.protocol, e.ports) for e in p.after.exposures}
    assert plan_lines(p)[-1].startswith("after: NON_COMPLIANT: Open to the internet")


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        pytest.param(["10.1.2.3/8"], ("10.0.0.0/8",), id="host-bits"),
        pytest.param([" 10.0.0.0/8 ", "10.9.9.9/8"], ("10.0.0.0/8",), id="once-each"),
        pytest.param(["2001:DB8::1/32"], ("2001:db8::/32",), id="ipv6"),
        pytest.param(["203.0.113.5"], ("203.0.113.5/32",), id="a-host"),
        pytest.param([], (), id="none"),
    ],
)
def test_parse_allowed_cidrs_normalizes(texts: list[str], expected: tuple[str, ...]) -> None:
    assert parse_allowed_cidrs(texts) == expected


@pytest.mark.parametrize("bad", ["banana", "10.0.0.0/33", "", "pl-1234"])
def test_parse_allowed_cidrs_names_what_is_not_a_cidr(bad: str) -> None:
    with pytest.raises(RemediationError, match=re.escape(f"allowed source {bad!r} is not")):
        parse_allowed_cidrs(["10.0.0.0/8", bad])


def test_plan_rejects_an_allowed_source_that_is_not_a_cidr() -> None:
    with pytest.raises(RemediationError, match="'banana'"):
        plan(perm("tcp", 22, 22, v4=ANY4), allow_cidrs=["banana"])


# --- the quota ------------------------------------------------------------------------------------


def narrow_rules(count: int, *, v6: bool = False) -> list[dict[str, Any]]:
    """``count`` rules, each tcp/1000+n from one host."""
    if v6:
        return [
            perm("tcp", 1000 + n, 1000 + n, v6=[f"2001:db8::{n + 1:x}/128"]) for n in range(count)
        ]
    return [perm("tcp", 1000 + n, 1000 + n, v4=[f"203.0.113.{n + 1}/32"]) for n in range(count)]


def test_quota_refusal_names_count_family_quota_and_source() -> None:
    p = plan(*narrow_rules(58), perm("-1", v4=ANY4))
    # 58 + the -1 rule + 7 pieces (tcp and udp in three, icmp) while both are in place.
    assert p.peak == (66, 0)
    assert p.refusal == OverQuota(Family.IPV4, 66, DEFAULT_QUOTA)
    assert p.quota == DEFAULT_QUOTA
    assert p.after.compliance is Compliance.COMPLIANT  # it would work, but cannot be applied
    assert "rules at the peak: 66 IPv4, 0 IPv6; quota 60 (AWS's default)" in plan_lines(p)


def test_quota_read_from_the_account_passes_and_is_named() -> None:
    quota = Quota(100, "this account's quota")
    p = plan(*narrow_rules(58), perm("-1", v4=ANY4), quota=quota)
    assert p.refusal is None
    assert p.quota == quota
    assert "rules at the peak: 66 IPv4, 0 IPv6; quota 100 (this account's quota)" in plan_lines(p)


def test_quota_refusal_for_ipv6() -> None:
    p = plan(*narrow_rules(58, v6=True), perm("-1", v6=ANY6))
    assert p.peak == (0, 66)
    assert p.refusal == OverQuota(Family.IPV6, 66, DEFAULT_QUOTA)


def test_quota_counts_each_family_separately() -> None:
    p = plan(*narrow_rules(40), *narrow_rules(40, v6=True), perm("tcp", 0, 65535, v4=ANY4, v6=ANY6))
    assert p.peak == (44, 44)  # 80 + 2 + 6 in all, but 44 per family
    assert p.refusal is None


def test_quota_counts_group_references_in_both_families() -> None:
    pairs = [perm("tcp", 2000 + n, 2000 + n, pairs=[f"sg-{n:04x}"]) for n in range(5)]
    without = plan(*narrow_rules(55), perm("tcp", 0, 65535, v4=ANY4))
    assert without.peak == (59, 0)
    assert without.refusal is None
    p = plan(*narrow_rules(55), *pairs, perm("tcp", 0, 65535, v4=ANY4))
    assert p.peak == (64, 5)
    assert p.refusal == OverQuota(Family.IPV4, 64, DEFAULT_QUOTA)


def test_prefix_list_counts_its_maximum_size_in_both_families() -> None:
    sizes = {"pl-open": 20}
    p = plan(
        perm("tcp", 22, 22, prefix_lists=["pl-open"]),
        perm("tcp", 80, 80, v4=["203.0.113.5/32"]),
        resolve_prefix_list=OPEN_LIST,
        prefix_list_size=sizes.get,
    )
    assert set(p.remove) == {r("tcp", 22, 22, "pl-open")}
    assert p.peak == (21, 20)
    assert p.unsized_prefix_lists == ()
    # Pieces of a list count its size each: 1 + 3 rules of 20 entries.
    big = plan(
        perm("tcp", 0, 65535, prefix_lists=["pl-open"]),
        resolve_prefix_list=OPEN_LIST,
        prefix_list_size=sizes.get,
    )
    assert big.peak == (80, 80)
    assert big.refusal == OverQuota(Family.IPV4, 80, DEFAULT_QUOTA)  # IPv4 named first


@pytest.mark.parametrize(
    "size",
    [pytest.param(None, id="no-size-reader"), pytest.param({}.get, id="size-unknown")],
)
def test_prefix_list_of_unknown_size_counts_as_one_and_says_so(
    size: Callable[[str], int | None] | None,
) -> None:
    p = plan(
        perm("tcp", 22, 22, prefix_lists=["pl-open", "pl-private"]),
        resolve_prefix_list=OPEN_LIST,
        prefix_list_size=size,
    )
    assert p.peak == (2, 2)
    assert p.unsized_prefix_lists == ("pl-open", "pl-private")
    assert len([line for line in plan_lines(p) if "pl-open, pl-private" in line]) == 1


# --- a property over small random groups ----------------------------------------------------------


PROBE_PORTS = [*range(42), 3388, 3389, 3390, 65535]


@st.composite
def property_parameters(draw: st.DrawFn) -> RuleParameters:
    blocked = draw(
        st.one_of(
            st.just("cis"),
            st.sets(small_port, min_size=1, max_size=8).map(lambda s: ",".join(map(str, s))),
        )
    )
    raw = {
        "blockedPorts": blocked,
        "protocolType": draw(st.sampled_from(["TCP", "UDP", "ALL"])),
        "ipType": draw(st.sampled_from(["IPv4", "IPv6", "ALL"])),
        "exemptTagKey": "Exempt",
    }
    return parse_rule_parameters(raw)


def opens(rules: Iterable[Rule], protocol: str, port: int, kind: str, source: str) -> bool:
    """Whether a rule of ``rules`` lets (protocol, port) in from this exact source."""
    spellings = {"tcp": ("tcp", "6"), "udp": ("udp", "17")}[protocol]
    for rule in rules:
        if (rule.kind, rule.source) != (kind, source):
            continue
        if rule.protocol == "-1":
            return True
        if (
            rule.protocol in spellings
            and rule.from_port is not None
            and rule.to_port is not None
            and rule.from_port <= port <= rule.to_port
        ):
            return True
    return False


def opens_icmp(rules: Iterable[Rule], name: str, kind: str, source: str) -> bool:
    """Whether every ICMP (``icmp``) or ICMPv6 (``icmpv6``) type is let in from this source."""
    return any(
        (rule.kind, rule.source) == (kind, source)
        and (rule.protocol == "-1" or (rule.protocol == name and rule.from_port == -1))
        for rule in rules
    )


def assert_every_added_rule_exists_for_removed_ones(p: Plan, allowed: Sequence[str]) -> None:
    """Every rule added exists for removed rules, and lets in nothing they did not, from their
    source (an allowed source stands in for theirs): once they are gone and it is taken back,
    nothing of what they opened is left."""
    assert set(p.origins) == keys(p.add)
    for rule in p.add:
        origins = p.origins[rule.key]
        assert origins
        assert keys(origins) <= keys(p.remove)
        # A piece comes from rules of its own source; anything else is an allowed source.
        assert rule.source in allowed or all(
            (o.kind, o.source) == (rule.kind, rule.source) for o in origins
        )
        if rule.protocol in ("tcp", "udp"):
            low, high = rule.from_port or 0, rule.to_port or 0
            for port in (port for port in PROBE_PORTS if low <= port <= high):
                assert any(opens([o], rule.protocol, port, o.kind, o.source) for o in origins)
        elif rule.protocol in ("icmp", "icmpv6"):
            assert any(opens_icmp([o], rule.protocol, o.kind, o.source) for o in origins), rule


@settings(max_examples=150, deadline=None)
def assert_only_offending_ports_of_wide_sources_closed(p: Plan, result: list[Rule]) -> None:
    """Every (protocol, port, source) open before is still open in ``result``, unless that port
    was offending and the source is one that can help cover the internet; icmp stays open."""
    original = p.original
    offending = {
        (e.protocol, port) for e in p.before.exposures for port in range(e.ports[0], e.ports[1] + 1)
    }
    for kind, source in {(rule.kind, rule.source) for rule in original}:
        for protocol in ("tcp", "udp"):
            for port in PROBE_PORTS:
                if opens(original, protocol, port, kind, source) and not opens(
                    result, protocol, port, kind, source
                ):
                    assert (protocol, port) in offending, (protocol, port, source)
                    assert source not in NARROW
                    assert kind != GROUP_PAIR
        icmp = {IPV4: ["icmp"], IPV6: ["icmpv6"]}.get(kind, ["icmp", "icmpv6"])
        for name in icmp:
            if opens_icmp(original, name, kind, source):
                assert opens_icmp(result, name, kind, source), (name, source)


@given(
    st.lists(ec2_permissions(), max_size=5),
    property_parameters(),
    st.sampled_from([None, "22", "0-10 until 2025-12-31", "all until 2025-01-01"]),
    st.lists(st.sampled_from(["10.0.0.0/8", "fd00::/8", "198.51.100.0/24"]), max_size=2),
)
def test_every_plan_closes_exactly_the_offending_ports(
    permissions: list[dict[str, Any]],
    params: RuleParameters,
    exemption: str | None,
    allow: list[str],
) -> None:
    tags = None if exemption is None else {"Exempt": exemption}
    resolver = resolver_of(PROPERTY_LISTS)
    p = plan(
        *permissions,
        params=params,
        tags=tags,
        allow_cidrs=allow,
        resolve_prefix_list=resolver,
        quota=Quota(10_000, "test"),
    )
    original = p.original
    event(f"needed={p.needed}, removed={bool(p.remove)}, refused={p.refusal is not None}")

    # What is removed is the group's own; what is added is new; nothing both.
    assert keys(p.remove) <= keys(original)
    assert not keys(p.add) & keys(original)
    # Private ranges, narrow CIDRs, their prefix list and group references are never removed.
    assert not [rule for rule in p.remove if rule.kind == GROUP_PAIR or rule.source in NARROW]
    if not p.needed:
        assert (p.add, p.remove, p.refusal) == ((), (), None)
        return

    # With a quota this large and narrow allowed sources, a plan is never refused: the result
    # is compliant, and the plan's `after` is the decision on exactly that result.
    result = applied(p)
    verdict = decide_rules(result, params, resolver=resolver, tags=tags)
    assert p.refusal is None, p.refusal
    assert verdict.compliance is Compliance.COMPLIANT
    assert p.after.compliance is verdict.compliance

    assert_only_offending_ports_of_wide_sources_closed(p, result)
    assert_every_added_rule_exists_for_removed_ones(p, parse_allowed_cidrs(allow))

    # Each removed rule is replaced by the same protocol and ports from each allowed source of
    # its family.
    for rule in p.remove:
        for cidr in parse_allowed_cidrs(allow):
            family = IPV6 if ":" in cidr else IPV4
            if rule.kind in (family, PREFIX_LIST):
                assert (rule.protocol, rule.from_port, rule.to_port, family, cidr) in keys(result)


# --- found by review: an allowed source that equals a removed one, ports-less protocols,
# --- protected sources inside a covering union, the widest span blamed first


def test_allowed_internet_on_a_rule_removed_whole_is_refused() -> None:
    p = plan(perm("tcp", 22, 22, v4=ANY4), allow_cidrs=["0.0.0.0/0"])
    assert p.refusal == StillOpen(p.after)
    assert p.after.compliance is Compliance.NON_COMPLIANT


def test_a_group_with_an_esp_rule_can_be_remediated() -> None:
    esp = {"IpProtocol": "50", "IpRanges": [{"CidrIp": "203.0.113.5/32"}]}
    assert rules_of([esp]) == [Rule("50", None, None, IPV4, "203.0.113.5/32")]
    p = plan_remediation(group(esp, perm("tcp", 22, 22, v4=ANY4)), CIS, today=TODAY)
    assert set(p.remove) == {r("tcp", 22, 22, "0.0.0.0/0")}


def _cover_with_private_range() -> list[str]:
    """All of IPv4 as CIDRs, 10.0.0.0/8 one of them (as in an "every range" list)."""
    rest = ipaddress.IPv4Network("0.0.0.0/0").address_exclude(ipaddress.IPv4Network("10.0.0.0/8"))
    return [*sorted(str(n) for n in rest), "10.0.0.0/8"]


def test_a_private_range_in_a_covering_union_is_kept() -> None:
    p = plan(perm("tcp", 22, 22, v4=_cover_with_private_range()), params=SSH)
    assert p.refusal is None
    assert r("tcp", 22, 22, "10.0.0.0/8") not in p.remove


def test_a_narrow_cidr_inside_a_half_is_kept() -> None:
    p = plan(
        perm("tcp", 22, 22, v4=["0.0.0.0/1", "0.0.0.0/2"]),
        perm("tcp", 22, 22, v4=["128.0.0.0/1"]),
        params=SSH,
    )
    assert set(p.remove) == {r("tcp", 22, 22, "0.0.0.0/1"), r("tcp", 22, 22, "128.0.0.0/1")}


def test_narrow_cidrs_in_a_halving_cover_are_kept_and_the_wide_ones_removed() -> None:
    """0.0.0.0/1, 128.0.0.0/2, 192.0.0.0/3 … 255.255.255.254/32, 255.255.255.255/32: together
    all of IPv4. The wide ones go; the narrow ones (/16 and longer) stay, and cover nothing."""
    halves = [str(ipaddress.IPv4Network(((1 << 32) - (1 << (33 - n)), n))) for n in range(1, 33)]
    cover = [*halves, "255.255.255.255/32"]
    p = plan(perm("tcp", 22, 22, v4=cover), params=SSH)
    assert p.refusal is None
    assert p.after.compliance is Compliance.COMPLIANT
    # 240.0.0.0/4 onwards is reserved space (private to Python's registry): protected as well.
    removed = {rule.source for rule in p.remove}
    assert removed == {"0.0.0.0/1", "128.0.0.0/2", "192.0.0.0/3", "224.0.0.0/4"}
    kept = {rule.source for rule in applied(p)}
    assert {c for c in cover if int(c.split("/")[1]) >= 16} <= kept
