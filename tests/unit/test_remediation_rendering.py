"""Remediation in words (:mod:`portguard.remediation.rendering`): a plan as a diff, its notes
and refusals, and rules as people read them.
"""

from __future__ import annotations

import pytest
from remediation_helpers import ACCOUNT, ANY4, ANY6, OPEN_LIST, SSH, perm, plan, r

from portguard.model import Family
from portguard.remediation.plan import DEFAULT_QUOTA, OverQuota, Quota, StillOpen
from portguard.remediation.rendering import (
    describe_refusal,
    describe_rule,
    describe_rules,
    plan_lines,
)
from portguard.remediation.rules import Rule

# --- a plan and rules in words --------------------------------------------------------------------


def test_plan_lines_show_a_diff() -> None:
    p = plan(perm("tcp", 0, 65535, v4=ANY4, description="web"), perm("tcp", 443, 443, v4=ANY4))
    assert plan_lines(p) == [
        "- tcp 0-65535 from 0.0.0.0/0 (web)",
        "+ tcp 0-21, 23-3388, 3390-65535 from 0.0.0.0/0 (web) [3 rules]",
        "rules at the peak: 5 IPv4, 0 IPv6; quota 60 (AWS's default)",
        "after: COMPLIANT",
    ]


def test_plan_lines_for_minus_one_from_everywhere() -> None:
    p = plan(perm("-1", v4=ANY4, v6=ANY6), params=SSH)
    lines = plan_lines(p)
    assert lines[:8] == [
        "- all traffic from 0.0.0.0/0",
        "- all traffic from ::/0",
        "+ icmp (all types) from 0.0.0.0/0",
        "+ tcp 0-21, 23-65535 from 0.0.0.0/0 [2 rules]",
        "+ udp 0-21, 23-65535 from 0.0.0.0/0 [2 rules]",
        "+ icmpv6 (all types) from ::/0",
        "+ tcp 0-21, 23-65535 from ::/0 [2 rules]",
        "+ udp 0-21, 23-65535 from ::/0 [2 rules]",
    ]
    assert lines[-2:] == [
        "rules at the peak: 6 IPv4, 6 IPv6; quota 60 (AWS's default)",
        "after: COMPLIANT",
    ]


def test_plan_lines_note_what_all_traffic_rules_lose() -> None:
    p = plan(perm("-1", v4=ANY4), perm("-1", v6=ANY6))
    assert [line for line in plan_lines(p) if line.startswith("note: ")] == [
        "note: all traffic from 0.0.0.0/0 keeps tcp, udp and icmp where they are not offending; "
        "every other IP protocol (GRE, ESP, SCTP …) from 0.0.0.0/0 is no longer allowed",
        "note: all traffic from ::/0 keeps tcp, udp and icmp where they are not offending; "
        "every other IP protocol (GRE, ESP, SCTP …) from ::/0 is no longer allowed",
    ]


def test_plan_lines_note_prefix_lists_counted_as_one_rule_before_the_count() -> None:
    p = plan(
        perm("tcp", 22, 22, prefix_lists=["pl-open", "pl-private"]),
        params=SSH,
        resolve_prefix_list=OPEN_LIST,
    )
    assert plan_lines(p) == [
        "- tcp 22 from pl-open",
        "note: prefix lists pl-open, pl-private counted as one rule each: their maximum size "
        "could not be read",
        "rules at the peak: 2 IPv4, 2 IPv6; quota 60 (AWS's default)",
        "after: COMPLIANT",
    ]


@pytest.mark.parametrize(
    ("refusal", "text"),
    [
        pytest.param(
            OverQuota(Family.IPV4, 66, DEFAULT_QUOTA),
            "adding before removing needs 66 IPv4 inbound rules at once, more than the quota of "
            "60 (AWS's default); raise the quota (Service Quotas, vpc L-0EA8095F) or narrow the "
            "group first",
            id="ipv4-default-quota",
        ),
        pytest.param(
            OverQuota(Family.IPV6, 101, Quota(100, "this account's quota vpc/L-0EA8095F")),
            "adding before removing needs 101 IPv6 inbound rules at once, more than the quota of "
            "100 (this account's quota vpc/L-0EA8095F); raise the quota (Service Quotas, vpc "
            "L-0EA8095F) or narrow the group first",
            id="ipv6-account-quota",
        ),
    ],
)
def test_a_refusal_over_the_quota_says_how_many_and_what_to_do(
    refusal: OverQuota, text: str
) -> None:
    assert describe_refusal(refusal) == text


def test_a_refusal_of_a_group_left_open_says_what_stays_open() -> None:
    p = plan(perm("tcp", 22, 22, v4=ANY4), params=SSH, allow_cidrs=["0.0.0.0/0"])
    assert isinstance(p.refusal, StillOpen)
    assert describe_refusal(p.refusal) == (
        "the group would still be open: Open to the internet from 0.0.0.0/0: tcp/22"
    )


@pytest.mark.parametrize(
    ("rule", "text"),
    [
        pytest.param(r("tcp", 22, 22, "0.0.0.0/0"), "tcp 22 from 0.0.0.0/0", id="one-port"),
        pytest.param(
            r("6", 0, 21, "0.0.0.0/0", "web"), "tcp 0-21 from 0.0.0.0/0 (web)", id="tcp-6"
        ),
        pytest.param(r("17", 53, 53, "::/0"), "udp 53 from ::/0", id="udp-17"),
        pytest.param(r("-1", None, None, "::/0"), "all traffic from ::/0", id="all-traffic"),
        pytest.param(r("icmp", -1, -1, "pl-1"), "icmp (all types) from pl-1", id="icmp-all"),
        pytest.param(
            r("icmp", 8, -1, "0.0.0.0/0"), "icmp type 8 code -1 from 0.0.0.0/0", id="icmp-type"
        ),
        pytest.param(r("1", -1, -1, "0.0.0.0/0"), "icmp (all types) from 0.0.0.0/0", id="icmp-1"),
        pytest.param(r("58", 128, 0, "::/0"), "icmpv6 type 128 code 0 from ::/0", id="icmpv6-58"),
        pytest.param(
            r("50", -1, -1, "203.0.113.5/32"), "protocol 50 from 203.0.113.5/32", id="esp"
        ),
        pytest.param(r("tcp", 22, 22, "sg-9"), f"tcp 22 from {ACCOUNT}/sg-9", id="group-pair"),
        pytest.param(r("tcp", 22, 22, "10.0.0.0/8", ""), "tcp 22 from 10.0.0.0/8", id="empty-note"),
    ],
)
def test_describe_rule(rule: Rule, text: str) -> None:
    assert describe_rule(rule) == text


def test_describe_rules_groups_ports_of_one_source_and_orders_by_kind() -> None:
    rules = [
        r("tcp", 22, 22, "sg-9"),
        r("tcp", 3390, 65535, "0.0.0.0/0"),
        r("tcp", 0, 21, "0.0.0.0/0"),
        r("tcp", 22, 22, "pl-1"),
        r("tcp", 80, 80, "::/0"),
        r("tcp", 23, 3388, "0.0.0.0/0"),
        r("udp", 53, 53, "0.0.0.0/0"),
        r("tcp", 8080, 8080, "0.0.0.0/0", "proxy"),
    ]
    assert describe_rules(rules) == [
        "tcp 0-21, 23-3388, 3390-65535 from 0.0.0.0/0 [3 rules]",
        "tcp 8080 from 0.0.0.0/0 (proxy)",
        "udp 53 from 0.0.0.0/0",
        "tcp 80 from ::/0",
        "tcp 22 from pl-1",
        f"tcp 22 from {ACCOUNT}/sg-9",
    ]
    assert describe_rules([]) == []


def test_describe_rules_keeps_icmp_rules_in_order() -> None:
    rules = [r("icmp", 0, -1, "0.0.0.0/0"), r("icmp", 8, -1, "0.0.0.0/0")]
    assert describe_rules(rules) == [
        "icmp type 0 code -1 from 0.0.0.0/0",
        "icmp type 8 code -1 from 0.0.0.0/0",
    ]
