"""The decision of SPEC §1, row by row: which ports of which protocol are open to the internet.

Each row is a Config item's ingress permissions plus InputParameters; the expectation is the set of
offending ports per protocol (``{}`` means COMPLIANT). Expectations come from SPEC §1.
"""

from __future__ import annotations

import ipaddress
from datetime import date
from typing import TYPE_CHECKING, Any

import pytest
from core_helpers import config_item, decide, exposed, named, perm

from portguard.decision import evaluate_group, evaluate_item
from portguard.errors import PrefixListUnavailableError
from portguard.model import Compliance, ConfigItem, Permission, SecurityGroup
from portguard.parameters import parse_rule_parameters
from portguard.reader import parse_configuration_item

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

ANY4 = ["0.0.0.0/0"]
ANY6 = ["::/0"]
SSH = {"blockedPorts": "22"}


def _all_but_last_address() -> list[str]:
    last = ipaddress.IPv4Address("255.255.255.254")
    return [str(n) for n in ipaddress.summarize_address_range(ipaddress.IPv4Address(0), last)]


def row(case_id: str, permissions: list, parameters: dict | None, expected: dict[str, str]) -> Any:
    return pytest.param(permissions, parameters, expected, id=case_id)


DECISIONS = [
    # --- protocol forms (blockedPorts 22) ---------------------------------------------------
    row("minus-one", [perm("-1", v4=ANY4)], SSH, {"tcp": "22", "udp": "22"}),
    row("minus-one-int", [perm(-1, v4=ANY4)], SSH, {"tcp": "22", "udp": "22"}),
    row("minus-one-ports-0-0", [perm("-1", 0, 0, v4=ANY4)], SSH, {"tcp": "22", "udp": "22"}),
    row("minus-one-ports-m1", [perm("-1", -1, -1, v4=ANY4)], SSH, {"tcp": "22", "udp": "22"}),
    row("minus-one-ports-443", [perm("-1", 443, 443, v4=ANY4)], SSH, {"tcp": "22", "udp": "22"}),
    row("all", [perm("all", v4=ANY4)], SSH, {"tcp": "22", "udp": "22"}),
    row("tcp", [perm("tcp", 22, 22, v4=ANY4)], SSH, {"tcp": "22"}),
    row("tcp-6", [perm("6", 22, 22, v4=ANY4)], SSH, {"tcp": "22"}),
    row("tcp-6-int", [perm(6, 22, 22, v4=ANY4)], SSH, {"tcp": "22"}),
    row("tcp-upper", [perm("TCP", 22, 22, v4=ANY4)], SSH, {"tcp": "22"}),
    row("udp", [perm("udp", 22, 22, v4=ANY4)], SSH, {"udp": "22"}),
    row("udp-17", [perm("17", 22, 22, v4=ANY4)], SSH, {"udp": "22"}),
    row("udp-17-int", [perm(17, 22, 22, v4=ANY4)], SSH, {"udp": "22"}),
    row("icmp-type-8", [perm("icmp", 8, -1, v4=ANY4)], {"blockedPorts": "8"}, {}),
    row("icmp-1", [perm("1", 8, -1, v4=ANY4)], {"blockedPorts": "0-65535"}, {}),
    row("icmpv6", [perm("icmpv6", 22, 22, v6=ANY6)], SSH, {}),
    row("icmpv6-58", [perm("58", -1, -1, v6=ANY6)], {"blockedPorts": "0-65535"}, {}),
    row("esp-50", [perm("50", v4=ANY4)], {"blockedPorts": "0-65535"}, {}),
    row("gre-47-with-ports", [perm("47", 22, 22, v4=ANY4)], SSH, {}),
    row("sctp-132", [perm(132, 0, 65535, v4=ANY4)], SSH, {}),
    row("float-ports", [perm("tcp", 22.0, 22.0, v4=ANY4)], SSH, {"tcp": "22"}),
    row("string-ports", [perm("tcp", "20", "25", v4=ANY4)], SSH, {"tcp": "22"}),
    # --- port edges ---------------------------------------------------------------------------
    row("range-21-23", [perm("tcp", 21, 23, v4=ANY4)], SSH, {"tcp": "22"}),
    row("range-23-24", [perm("tcp", 23, 24, v4=ANY4)], SSH, {}),
    row("range-0-21", [perm("tcp", 0, 21, v4=ANY4)], SSH, {}),
    row("range-0-65535", [perm("tcp", 0, 65535, v4=ANY4)], SSH, {"tcp": "22"}),
    row("tcp-ports-absent", [perm("tcp", v4=ANY4)], SSH, {"tcp": "22"}),
    row("tcp-ports-minus-one", [perm("tcp", -1, -1, v4=ANY4)], SSH, {"tcp": "22"}),
    row("udp-ports-absent", [perm("udp", v4=ANY4)], SSH, {"udp": "22"}),
    row("port-0", [perm("tcp", 0, 0, v4=ANY4)], {"blockedPorts": "0"}, {"tcp": "0"}),
    row(
        "port-65535",
        [perm("udp", 65535, 65535, v4=ANY4)],
        {"blockedPorts": "65535"},
        {"udp": "65535"},
    ),
    row(
        "blocked-range", [perm("tcp", 22, 23, v4=ANY4)], {"blockedPorts": "20-25"}, {"tcp": "22-23"}
    ),
    row(
        "blocked-range-wider-perm",
        [perm("tcp", 0, 65535, v4=ANY4)],
        {"blockedPorts": "8000-8100"},
        {"tcp": "8000-8100"},
    ),
    row(
        "blocked-everything",
        [perm("tcp", 443, 443, v4=ANY4)],
        {"blockedPorts": "0-65535"},
        {"tcp": "443"},
    ),
    row(
        "default-fsbp",
        [perm("tcp", 3389, 3389, v4=ANY4), perm("tcp", 443, 443, v4=ANY4)],
        None,
        {"tcp": "3389"},
    ),
    row("default-fsbp-range", [perm("tcp", 1400, 1500, v4=ANY4)], None, {"tcp": "1433-1434"}),
    row(
        "hipaa-preset",
        [perm("tcp", 0, 65535, v4=ANY4)],
        {"blockedPorts": "hipaa"},
        {"tcp": "20-22,3306,3389,4333"},
    ),
    row(
        "cis-preset-udp",
        [perm("udp", 0, 65535, v4=ANY4)],
        {"blockedPorts": "cis"},
        {"udp": "22,3389"},
    ),
    # --- IP families ------------------------------------------------------------------------
    row("ipv6-only", [perm("tcp", 22, 22, v6=ANY6)], SSH, {"tcp": "22"}),
    row(
        "ipv6-only-ip-type-ipv6",
        [perm("tcp", 22, 22, v6=ANY6)],
        {"blockedPorts": "22", "ipType": "IPv6"},
        {"tcp": "22"},
    ),
    row(
        "ipv6-only-ip-type-ipv4",
        [perm("tcp", 22, 22, v6=ANY6)],
        {"blockedPorts": "22", "ipType": "IPv4"},
        {},
    ),
    row(
        "ipv4-only-ip-type-ipv6",
        [perm("tcp", 22, 22, v4=ANY4)],
        {"blockedPorts": "22", "ipType": "ipv6"},
        {},
    ),
    row(
        "ipv4-only-ip-type-ipv4",
        [perm("tcp", 22, 22, v4=ANY4)],
        {"blockedPorts": "22", "ipType": "IPV4"},
        {"tcp": "22"},
    ),
    # --- unions of sources ------------------------------------------------------------------
    row(
        "split-v4-across-permissions",
        [perm("tcp", 22, 22, v4=["0.0.0.0/1"]), perm("tcp", 20, 25, v4=["128.0.0.0/1"])],
        SSH,
        {"tcp": "22"},
    ),
    row("half-v4-alone", [perm("tcp", 22, 22, v4=["0.0.0.0/1"])], SSH, {}),
    row("private-v4", [perm("tcp", 22, 22, v4=["10.0.0.0/8"])], SSH, {}),
    row(
        "split-v6-across-permissions",
        [perm("tcp", 22, 22, v6=["::/1"]), perm("-1", v6=["8000::/1"])],
        SSH,
        {"tcp": "22"},
    ),
    row("half-v6-alone", [perm("tcp", 22, 22, v6=["8000::/1"])], SSH, {}),
    row(
        "halves-of-different-families",
        [
            perm("tcp", 22, 22, v4=["0.0.0.0/1"], v6=["8000::/1"]),
            perm("tcp", 22, 22, v4=["10.0.0.0/8"], v6=["::/1"]),
        ],
        SSH,
        {"tcp": "22"},
    ),
    row("v4-half-plus-v6-half", [perm("tcp", 22, 22, v4=["0.0.0.0/1"], v6=["8000::/1"])], SSH, {}),
    row(
        "split-across-protocols",
        [perm("tcp", 22, 22, v4=["0.0.0.0/1"]), perm("udp", 22, 22, v4=["128.0.0.0/1"])],
        SSH,
        {},
    ),
    row(
        "split-across-ports",
        [perm("tcp", 22, 22, v4=["0.0.0.0/1"]), perm("tcp", 23, 23, v4=["128.0.0.0/1"])],
        {"blockedPorts": "22-23"},
        {},
    ),
    row(
        "minus-one-half-plus-tcp-half",
        [perm("-1", v4=["0.0.0.0/1"]), perm("tcp", 22, 22, v4=["128.0.0.0/1"])],
        SSH,
        {"tcp": "22"},
    ),
    row(
        "split-between-ipv4ranges-and-legacy",
        [perm("tcp", 22, 22, v4=["0.0.0.0/1"], legacy=["128.0.0.0/1"])],
        SSH,
        {"tcp": "22"},
    ),
    row(
        "quarters",
        [
            perm("tcp", 22, 22, v4=["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2"]),
            perm("tcp", 22, 22, v4=["192.0.0.0/2"]),
        ],
        SSH,
        {"tcp": "22"},
    ),
    row(
        "overlapping-pieces",
        [
            perm(
                "tcp",
                22,
                22,
                v4=["0.0.0.0/1", "64.0.0.0/2", "128.0.0.0/2", "160.0.0.0/3", "192.0.0.0/2"],
            )
        ],
        SSH,
        {"tcp": "22"},
    ),
    row(
        "gap-of-an-eighth",
        [perm("tcp", 22, 22, v4=["0.0.0.0/1", "128.0.0.0/2", "224.0.0.0/3"])],
        SSH,
        {},
    ),
    row("gap-of-one-address", [perm("tcp", 22, 22, v4=_all_but_last_address())], SSH, {}),
    row(
        "gap-of-one-address-closed",
        [
            perm("tcp", 22, 22, v4=_all_but_last_address()),
            perm("tcp", 22, 22, v4=["255.255.255.255/32"]),
        ],
        SSH,
        {"tcp": "22"},
    ),
    row(
        "split-covers-on-two-ports-apart",  # the ports between them are pooled from nothing
        [
            perm("tcp", 22, 22, v4=["0.0.0.0/1"]),
            perm("tcp", 22, 22, v4=["128.0.0.0/1"]),
            perm("tcp", 3389, 3389, v6=["::/1"]),
            perm("tcp", 3389, 3389, v6=["8000::/1"]),
        ],
        {"blockedPorts": "22-3389"},
        {"tcp": "22,3389"},
    ),
    row(
        "ends-held-in-different-families-only",  # first of IPv4 and last of IPv6: no cover
        [perm("tcp", 22, 22, v4=["0.0.0.0/1"]), perm("tcp", 22, 22, v6=["8000::/1"])],
        SSH,
        {},
    ),
    row(
        "union-covers-part-of-a-range",
        [perm("tcp", 0, 100, v4=["0.0.0.0/1"]), perm("tcp", 21, 22, v4=["128.0.0.0/1"])],
        {"blockedPorts": "20-23"},
        {"tcp": "21-22"},
    ),
    # --- lenient CIDRs ----------------------------------------------------------------------
    row("host-bits", [perm("tcp", 22, 22, v4=["1.2.3.4/0"])], SSH, {"tcp": "22"}),
    row("host-bits-v6", [perm("tcp", 22, 22, v6=["2001:db8::1/0"])], SSH, {"tcp": "22"}),
    row("long-v6-spelling", [perm("tcp", 22, 22, v6=["0:0:0:0:0:0:0:0/0"])], SSH, {"tcp": "22"}),
    row("whitespace-around-cidr", [perm("tcp", 22, 22, v4=[" 0.0.0.0/0 "])], SSH, {"tcp": "22"}),
    row(
        "host-bits-half",
        [perm("tcp", 22, 22, v4=["127.1.2.3/1", "200.0.0.1/1"])],
        SSH,
        {"tcp": "22"},
    ),
    row(
        "legacy-only",
        [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipRanges": ["0.0.0.0/0"]}],
        SSH,
        {"tcp": "22"},
    ),
    # --- what never counts ------------------------------------------------------------------
    row("group-pair-only", [perm("tcp", 22, 22, groups=["sg-9"])], SSH, {}),
    row("group-pair-and-private", [perm("-1", v4=["10.0.0.0/8"], groups=["sg-9"])], SSH, {}),
    row("no-ingress", [], None, {}),
    row("no-sources", [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22}], SSH, {}),
    row(
        "null-lists",
        [
            {
                "ipProtocol": "-1",
                "fromPort": None,
                "toPort": None,
                "ipv4Ranges": None,
                "ipRanges": None,
                "ipv6Ranges": None,
                "prefixListIds": None,
                "userIdGroupPairs": None,
            }
        ],
        SSH,
        {},
    ),
    row("empty-permission", [{}], SSH, {}),
    row("junk-permission", [None, "tcp", 22], SSH, {}),
    # --- protocolType -----------------------------------------------------------------------
    row(
        "protocol-type-tcp-ignores-udp",
        [perm("udp", 22, 22, v4=ANY4)],
        {"blockedPorts": "22", "protocolType": "TCP"},
        {},
    ),
    row(
        "protocol-type-tcp",
        [perm("tcp", 22, 22, v4=ANY4)],
        {"blockedPorts": "22", "protocolType": "tcp"},
        {"tcp": "22"},
    ),
    row(
        "protocol-type-tcp-minus-one",
        [perm("-1", v4=ANY4)],
        {"blockedPorts": "22", "protocolType": "TCP"},
        {"tcp": "22"},
    ),
    row(
        "protocol-type-udp-ignores-tcp",
        [perm("tcp", 22, 22, v4=ANY4)],
        {"blockedPorts": "22", "protocolType": "UDP"},
        {},
    ),
    row(
        "protocol-type-udp-minus-one",
        [perm("-1", v4=ANY4)],
        {"blockedPorts": "22", "protocolType": "udp"},
        {"udp": "22"},
    ),
    row(
        "protocol-type-all",
        [perm("udp", 22, 22, v4=ANY4), perm("tcp", 22, 22, v6=ANY6)],
        {"blockedPorts": "22", "protocolType": "ALL"},
        {"tcp": "22", "udp": "22"},
    ),
]


@pytest.mark.parametrize(("permissions", "parameters", "expected"), DECISIONS)
def test_decision(permissions: list, parameters: dict | None, expected: dict[str, str]) -> None:
    verdict = decide(permissions, parameters)
    assert exposed(verdict) == expected
    if expected:
        assert verdict.compliance is Compliance.NON_COMPLIANT
        assert verdict.annotation
    else:
        assert verdict.compliance is Compliance.COMPLIANT


def test_egress_never_counts() -> None:
    verdict = decide([], None, egress=[perm("-1", v4=ANY4, v6=ANY6)])
    assert verdict.compliance is Compliance.COMPLIANT
    assert verdict.exposures == ()


def test_sources_are_named_once_when_ipv4ranges_and_ip_ranges_repeat() -> None:
    verdict = decide([perm("tcp", 22, 22, v4=ANY4, legacy=ANY4)], SSH)
    assert [named(e) for e in verdict.exposures] == [("0.0.0.0/0",)]
    assert verdict.annotation is not None
    assert verdict.annotation.count("0.0.0.0/0") == 1


def test_both_families_open_name_both_sources() -> None:
    verdict = decide([perm("tcp", 22, 22, v4=ANY4, v6=ANY6)], SSH)
    assert [named(e) for e in verdict.exposures] == [("0.0.0.0/0", "::/0")]


def test_split_sources_are_named() -> None:
    verdict = decide(
        [
            perm("tcp", 22, 22, v4=["0.0.0.0/1", "10.0.0.0/8"]),
            perm("tcp", 22, 22, v4=["128.0.0.0/1"]),
        ],
        SSH,
    )
    (exposure,) = verdict.exposures
    assert "0.0.0.0/1" in named(exposure)
    assert "128.0.0.0/1" in named(exposure)


@pytest.mark.parametrize(
    ("cidrs", "expected"),
    [
        pytest.param(["not-a-cidr", "10.0.0.0/8"], {}, id="invalid-with-private"),
        pytest.param(["not-a-cidr", "0.0.0.0/0"], {"tcp": "22"}, id="invalid-with-internet"),
        pytest.param(["0.0.0.0/33"], {}, id="prefix-too-long"),
        pytest.param(["xxx.xxx.xxx.xx/21"], {}, id="redacted-address"),
    ],
)
def test_invalid_cidr_is_skipped_with_a_warning(cidrs: list[str], expected: dict) -> None:
    verdict = decide([perm("tcp", 22, 22, v4=cidrs)], SSH)
    assert exposed(verdict) == expected
    bad = cidrs[0]
    assert any(bad in warning for warning in verdict.warnings), verdict.warnings


# --- prefix lists ----------------------------------------------------------------------------


def resolver_of(
    table: dict[str, Sequence[str]], calls: list[str]
) -> Callable[[str], Sequence[str]]:
    def resolve(prefix_list_id: str) -> Sequence[str]:
        calls.append(prefix_list_id)
        if prefix_list_id not in table:
            raise PrefixListUnavailableError(prefix_list_id, "InvalidPrefixListID.NotFound")
        return table[prefix_list_id]

    return resolve


@pytest.mark.parametrize(
    ("permissions", "table", "expected"),
    [
        pytest.param(
            [perm("tcp", 22, 22, prefix_lists=["pl-any"])],
            {"pl-any": ["0.0.0.0/0"]},
            {"tcp": "22"},
            id="list-is-the-internet",
        ),
        pytest.param(
            [perm("tcp", 22, 22, prefix_lists=["pl-v6"])],
            {"pl-v6": ["::/0"]},
            {"tcp": "22"},
            id="list-is-the-v6-internet",
        ),
        pytest.param(
            [perm("tcp", 22, 22, prefix_lists=["pl-corp"])],
            {"pl-corp": ["10.0.0.0/8", "192.0.2.0/24"]},
            {},
            id="private-list",
        ),
        pytest.param(
            [perm("tcp", 22, 22, prefix_lists=["pl-empty"])], {"pl-empty": []}, {}, id="empty-list"
        ),
        pytest.param(
            [perm("tcp", 22, 22, v4=["0.0.0.0/1"], prefix_lists=["pl-hi"])],
            {"pl-hi": ["128.0.0.0/1"]},
            {"tcp": "22"},
            id="list-joins-the-union",
        ),
        pytest.param(
            [perm("tcp", 22, 22, v4=["0.0.0.0/1"]), perm("-1", prefix_lists=["pl-hi"])],
            {"pl-hi": ["128.0.0.0/2", "192.0.0.0/2"]},
            {"tcp": "22"},
            id="list-joins-the-union-across-permissions",
        ),
        pytest.param(
            [perm("tcp", 22, 22, prefix_lists=["pl-junk"])],
            {"pl-junk": ["garbage", "10.0.0.0/8"]},
            {},
            id="list-with-junk-entry",
        ),
        pytest.param(
            [perm("tcp", 20, 25, prefix_lists=["pl-halves"])],
            {"pl-halves": ["128.0.0.0/1", "10.0.0.0/8", "0.0.0.0/1"]},
            {"tcp": "22"},
            id="list-whose-entries-cover-the-internet",
        ),
        pytest.param(
            [perm("tcp", 22, 22, prefix_lists=["pl-halves-v6"])],
            {"pl-halves-v6": ["::/1", "8000::/1", "10.0.0.0/8"]},
            {"tcp": "22"},
            id="list-whose-entries-cover-the-v6-internet",
        ),
        pytest.param(
            [perm("tcp", 22, 22, prefix_lists=["pl-gap"])],
            {"pl-gap": ["0.0.0.0/1", "128.0.0.0/2", "224.0.0.0/3"]},
            {},
            id="list-with-a-gap-between-its-ends",
        ),
        pytest.param(
            [perm("tcp", 22, 22, prefix_lists=["pl-mixed"])],
            {"pl-mixed": ["0.0.0.0/1", "8000::/1"]},
            {},
            id="list-holding-ends-of-different-families",
        ),
    ],
)
def test_prefix_lists_resolved(permissions: list, table: dict, expected: dict) -> None:
    calls: list[str] = []
    verdict = decide(permissions, SSH, resolver=resolver_of(table, calls))
    assert exposed(verdict) == expected
    assert calls  # the list was asked for
    for exposure in verdict.exposures:
        assert any(s.startswith("pl-") for s in named(exposure))


def test_list_covering_the_internet_by_itself_is_named_alone() -> None:
    """A list that is the internet in two halves opens its ports by itself, as 0.0.0.0/0 does:
    it is named, and a half that another permission adds to it is not."""
    table = {"pl-halves": ["0.0.0.0/1", "128.0.0.0/1"]}
    verdict = decide(
        [perm("tcp", 22, 22, prefix_lists=["pl-halves"]), perm("tcp", 22, 22, v4=["128.0.0.0/1"])],
        SSH,
        resolver=resolver_of(table, []),
    )
    assert [named(e) for e in verdict.exposures] == [("pl-halves",)]
    assert verdict.annotation == "Open to the internet from pl-halves: tcp/22"


def test_unreadable_prefix_list_fails_closed_naming_list_and_reason() -> None:
    calls: list[str] = []
    verdict = decide(
        [perm("tcp", 22, 22, prefix_lists=["pl-0badc0ffee"])], SSH, resolver=resolver_of({}, calls)
    )
    assert verdict.compliance is Compliance.NON_COMPLIANT
    assert exposed(verdict) == {"tcp": "22"}
    assert verdict.annotation is not None
    assert "pl-0badc0ffee" in verdict.annotation
    assert "InvalidPrefixListID.NotFound" in verdict.annotation
    assert any("pl-0badc0ffee" in w for w in verdict.warnings)


def test_unreadable_prefix_list_counts_for_ipv6_only_too(
    unreadable: Callable[[str], Sequence[str]],
) -> None:
    verdict = decide(
        [perm("tcp", 22, 22, prefix_lists=["pl-1"])],
        {"blockedPorts": "22", "ipType": "IPv6"},
        resolver=unreadable,
    )
    assert exposed(verdict) == {"tcp": "22"}
    assert verdict.annotation is not None
    assert "AccessDenied" in verdict.annotation


def test_no_resolver_fails_closed() -> None:
    verdict = decide([perm("tcp", 22, 22, prefix_lists=["pl-offline"])], SSH, resolver=None)
    assert verdict.compliance is Compliance.NON_COMPLIANT
    assert verdict.annotation is not None
    assert "pl-offline" in verdict.annotation


def test_resolve_prefix_lists_false_ignores_them() -> None:
    calls: list[str] = []
    verdict = decide(
        [perm("tcp", 22, 22, v4=["0.0.0.0/1"], prefix_lists=["pl-1"])],
        {"blockedPorts": "22", "resolvePrefixLists": "false"},
        resolver=resolver_of({"pl-1": ["128.0.0.0/1"]}, calls),
    )
    assert verdict.compliance is Compliance.COMPLIANT
    assert calls == []
    no_resolver = decide(
        [perm("tcp", 22, 22, prefix_lists=["pl-1"])],
        {"blockedPorts": "22", "resolvePrefixLists": "false"},
    )
    assert no_resolver.compliance is Compliance.COMPLIANT


def test_prefix_list_of_a_port_out_of_scope_does_not_matter(
    unreadable: Callable[[str], Sequence[str]],
) -> None:
    verdict = decide([perm("tcp", 443, 443, prefix_lists=["pl-1"])], SSH, resolver=unreadable)
    assert verdict.compliance is Compliance.COMPLIANT


# --- exemptions ------------------------------------------------------------------------------

EXEMPT = {"blockedPorts": "cis", "exemptTagKey": "PortguardExempt"}
OPEN_CIS = [perm("tcp", 0, 65535, v4=ANY4)]


@pytest.mark.parametrize(
    ("tags", "today", "compliance", "still_open", "words"),
    [
        pytest.param(
            {"PortguardExempt": "22,3389"},
            date(2025, 6, 1),
            Compliance.COMPLIANT,
            {},
            ["xempt", "no end date"],
            id="no-date",
        ),
        pytest.param(
            {"PortguardExempt": "22 3389 until 2030-01-01"},
            date(2029, 12, 31),
            Compliance.COMPLIANT,
            {},
            ["xempt", "2030-01-01"],
            id="until",
        ),
        pytest.param(
            {"PortguardExempt": "22,3389 until 2030-01-01"},
            date(2030, 1, 1),
            Compliance.COMPLIANT,
            {},
            ["xempt", "2030-01-01"],
            id="until-day-is-inclusive",
        ),
        pytest.param(
            {"PortguardExempt": "22,3389 until 2030-01-01"},
            date(2030, 1, 2),
            Compliance.NON_COMPLIANT,
            {"tcp": "22,3389"},
            ["expired", "2030-01-01"],
            id="expired",
        ),
        pytest.param(
            {"PortguardExempt": "all until 2030-01-01"},
            date(2025, 6, 1),
            Compliance.COMPLIANT,
            {},
            ["xempt", "2030-01-01"],
            id="all",
        ),
        pytest.param(
            {"PortguardExempt": "cis"},
            date(2025, 6, 1),
            Compliance.COMPLIANT,
            {},
            ["xempt"],
            id="preset",
        ),
        pytest.param(
            {"PortguardExempt": "3000-4000"},
            date(2025, 6, 1),
            Compliance.NON_COMPLIANT,
            {"tcp": "22"},
            ["tcp/22"],
            id="partial-range",
        ),
        pytest.param(
            {"PortguardExempt": "22"},
            date(2025, 6, 1),
            Compliance.NON_COMPLIANT,
            {"tcp": "3389"},
            ["tcp/3389"],
            id="partial",
        ),
        pytest.param(
            {"PortguardExempt": "8080"},
            date(2025, 6, 1),
            Compliance.NON_COMPLIANT,
            {"tcp": "22,3389"},
            ["tcp/22", "tcp/3389"],
            id="other-ports",
        ),
        pytest.param(
            {"PortguardExempt": "ssh"},
            date(2025, 6, 1),
            Compliance.NON_COMPLIANT,
            {"tcp": "22,3389"},
            ["PortguardExempt", "ssh"],
            id="unparseable-token",
        ),
        pytest.param(
            {"PortguardExempt": "22 until 2030-02-30"},
            date(2025, 6, 1),
            Compliance.NON_COMPLIANT,
            {"tcp": "22,3389"},
            ["PortguardExempt", "2030-02-30"],
            id="impossible-date",
        ),
        pytest.param(
            {"PortguardExempt": "22 until next week"},
            date(2025, 6, 1),
            Compliance.NON_COMPLIANT,
            {"tcp": "22,3389"},
            ["PortguardExempt"],
            id="unparseable-date",
        ),
        pytest.param(
            {"PortguardExempt": "22 until 01/02/2030"},
            date(2025, 6, 1),
            Compliance.NON_COMPLIANT,
            {"tcp": "22,3389"},
            ["PortguardExempt", "01/02/2030"],
            id="wrong-date-format",
        ),
        pytest.param(
            {"PortguardExempt": ""},
            date(2025, 6, 1),
            Compliance.NON_COMPLIANT,
            {"tcp": "22,3389"},
            ["PortguardExempt", "empty"],
            id="empty-value",
        ),
        pytest.param(
            {"PortguardExempt": "99999"},
            date(2025, 6, 1),
            Compliance.NON_COMPLIANT,
            {"tcp": "22,3389"},
            ["PortguardExempt", "99999"],
            id="port-too-high",
        ),
        pytest.param(
            {"OtherTag": "22,3389"},
            date(2025, 6, 1),
            Compliance.NON_COMPLIANT,
            {"tcp": "22,3389"},
            ["tcp/22"],
            id="other-tag-key",
        ),
    ],
)
def test_exemptions(
    tags: dict, today: date, compliance: Compliance, still_open: dict, words: list[str]
) -> None:
    verdict = decide(OPEN_CIS, EXEMPT, today=today, item_tags=tags)
    assert verdict.compliance is compliance
    assert exposed(verdict) == still_open
    assert verdict.annotation is not None
    for word in words:
        assert word in verdict.annotation, verdict.annotation


def test_partial_exemption_names_only_the_unexcused_port() -> None:
    verdict = decide(OPEN_CIS, EXEMPT, item_tags={"PortguardExempt": "22 until 2030-01-01"})
    assert verdict.annotation is not None
    assert "tcp/3389" in verdict.annotation
    assert "tcp/22" not in verdict.annotation
    assert [(e.protocol, e.ports) for e in verdict.exempted] == [("tcp", (22, 22))]


@pytest.mark.parametrize(
    "where",
    ["item-tags", "configuration-tags"],
)
def test_exemption_tag_read_from_config_shapes(where: str) -> None:
    tag = {"PortguardExempt": "all"}
    kwargs: dict[str, Any] = (
        {"item_tags": tag}
        if where == "item-tags"
        else {"configuration_tags": [{"key": "PortguardExempt", "value": "all"}]}
    )
    verdict = decide(OPEN_CIS, EXEMPT, **kwargs)
    assert verdict.compliance is Compliance.COMPLIANT


def test_exemption_tag_read_from_ec2_tags() -> None:
    from portguard.reader import parse_ec2_group

    group_raw = {
        "GroupId": "sg-1",
        "Tags": [{"Key": "PortguardExempt", "Value": "22,3389"}],
        "IpPermissions": [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    }
    group = parse_ec2_group(group_raw)
    # Exemption ports are ports of every protocol: tcp and udp 22 and 3389 are all excused.
    verdict = evaluate_group(group, parse_rule_parameters(EXEMPT), today=date(2025, 6, 1))
    assert verdict.compliance is Compliance.COMPLIANT
    assert {(e.protocol, e.ports) for e in verdict.exempted} == {
        ("tcp", (22, 22)),
        ("tcp", (3389, 3389)),
        ("udp", (22, 22)),
        ("udp", (3389, 3389)),
    }
    untagged = parse_ec2_group({**dict(group_raw), "Tags": []})
    assert evaluate_group(untagged, parse_rule_parameters(EXEMPT)).compliance is (
        Compliance.NON_COMPLIANT
    )


def test_exemptions_are_off_without_exempt_tag_key() -> None:
    verdict = decide(OPEN_CIS, {"blockedPorts": "cis"}, item_tags={"PortguardExempt": "all"})
    assert verdict.compliance is Compliance.NON_COMPLIANT


def test_exemption_excuses_only_its_ports_of_every_protocol() -> None:
    verdict = decide(
        [perm("-1", v4=ANY4)], EXEMPT, item_tags={"PortguardExempt": "22"}
    )  # exempts tcp/22 and udp/22, not 3389
    assert exposed(verdict) == {"tcp": "3389", "udp": "3389"}


# --- NOT_APPLICABLE ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status", ["ResourceDeleted", "ResourceDeletedNotRecorded", "ResourceNotRecorded"]
)
def test_gone_items_are_not_applicable_even_with_an_open_configuration(status: str) -> None:
    verdict = decide([perm("-1", v4=ANY4)], None, status=status)
    assert verdict.compliance is Compliance.NOT_APPLICABLE


def test_deleted_item_with_null_configuration() -> None:
    item = config_item([], status="ResourceDeleted")
    item["configuration"] = None
    verdict = evaluate_item(parse_configuration_item(item), parse_rule_parameters(None))
    assert verdict.compliance is Compliance.NOT_APPLICABLE
    assert not verdict.annotation or len(verdict.annotation) <= 256


def test_null_configuration_is_not_applicable() -> None:
    item = config_item([])
    item["configuration"] = None
    verdict = evaluate_item(parse_configuration_item(item), parse_rule_parameters(None))
    assert verdict.compliance is Compliance.NOT_APPLICABLE


def test_other_resource_type_is_not_applicable() -> None:
    verdict = decide([perm("-1", v4=ANY4)], None, resource_type="AWS::EC2::Instance")
    assert verdict.compliance is Compliance.NOT_APPLICABLE


def test_event_left_scope_is_not_applicable() -> None:
    item = parse_configuration_item(config_item([perm("-1", v4=ANY4)]))
    params = parse_rule_parameters(None)
    assert evaluate_item(item, params).compliance is Compliance.NON_COMPLIANT
    verdict = evaluate_item(item, params, event_left_scope=True)
    assert verdict.compliance is Compliance.NOT_APPLICABLE


def test_evaluate_group_on_the_model_directly() -> None:
    group = SecurityGroup(
        "sg-m",
        permissions=(
            Permission("tcp", (22, 22), ipv4=("0.0.0.0/1",)),
            Permission("all", None, ipv4=("128.0.0.0/1",)),
        ),
    )
    verdict = evaluate_group(group, parse_rule_parameters(SSH))
    assert exposed(verdict) == {"tcp": "22"}
    item = ConfigItem("AWS::EC2::SecurityGroup", "sg-m", "OK", None, group)
    assert evaluate_item(item, parse_rule_parameters(SSH)) == verdict
