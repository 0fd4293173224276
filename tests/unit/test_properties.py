"""Properties of the decision over random security groups and parameters (hypothesis).

Groups are built from ``portguard.model`` directly: permissions of protocol tcp, udp, all or icmp,
with port ranges and CIDRs drawn from a mix of random networks and pieces of the address space
(halves, quarters, the whole space), so that unions covering everything are common.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import date
from typing import TYPE_CHECKING

from hypothesis import event, given, settings
from hypothesis import strategies as st

from portguard.annotation import MAX_ANNOTATION, port_items
from portguard.decision import evaluate_group
from portguard.errors import PrefixListUnavailableError
from portguard.model import Compliance, Permission, SecurityGroup
from portguard.parameters import parse_rule_parameters

if TYPE_CHECKING:
    from collections.abc import Sequence

    from portguard.model import Exposure, Verdict
    from portguard.parameters import RuleParameters

PROPERTY = settings(max_examples=200, deadline=None)
TODAY = date(2025, 6, 1)
ITEM = re.compile(r"\b(tcp|udp)/(\d+)(?:-(\d+))?\b")

# --- strategies --------------------------------------------------------------------------------

V4_PIECES = [
    "0.0.0.0/0",
    "0.0.0.0/1",
    "128.0.0.0/1",
    "0.0.0.0/2",
    "64.0.0.0/2",
    "128.0.0.0/2",
    "192.0.0.0/2",
    "0.0.0.0/3",
    "224.0.0.0/3",
    "10.0.0.0/8",
]
V6_PIECES = ["::/0", "::/1", "8000::/1", "::/2", "4000::/2", "8000::/2", "c000::/2", "fd00::/8"]


def _v4(address: int, prefix: int) -> str:
    return str(ipaddress.IPv4Network((address, prefix), strict=False))


def _v6(address: int, prefix: int) -> str:
    return str(ipaddress.IPv6Network((address, prefix), strict=False))


random_v4 = st.builds(_v4, st.integers(0, 2**32 - 1), st.integers(0, 32))
random_v6 = st.builds(
    _v6, st.integers(0, 2**128 - 1), st.one_of(st.integers(0, 4), st.integers(0, 128))
)
cidr4 = st.one_of(st.sampled_from(V4_PIECES), random_v4)
cidr6 = st.one_of(st.sampled_from(V6_PIECES), random_v6)
# Only inside 10.0.0.0/8 and fd00::/8: no union of these can cover a whole space.
private4 = st.builds(
    lambda a, p: _v4((10 << 24) | a, p), st.integers(0, 2**24 - 1), st.integers(8, 32)
)
private6 = st.builds(
    lambda a, p: _v6((0xFD << 120) | a, p), st.integers(0, 2**120 - 1), st.integers(8, 128)
)

interesting_port = st.one_of(
    st.sampled_from([0, 19, 20, 21, 22, 23, 24, 25, 3389, 8080, 65535]), st.integers(0, 65535)
)


@st.composite
def permissions(
    draw: st.DrawFn,
    v4: st.SearchStrategy[str] = cidr4,
    v6: st.SearchStrategy[str] = cidr6,
    port: st.SearchStrategy[int] = interesting_port,
    prefix_lists: st.SearchStrategy[str] | None = None,
) -> Permission:
    protocol = draw(st.sampled_from(["tcp", "udp", "all", "icmp"]))
    ports = None
    if protocol in ("tcp", "udp"):
        low, high = sorted((draw(port), draw(port)))
        ports = (low, high)
    return Permission(
        protocol=protocol,
        ports=ports,
        ipv4=tuple(draw(st.lists(v4, max_size=3))),
        ipv6=tuple(draw(st.lists(v6, max_size=3))),
        prefix_lists=()
        if prefix_lists is None
        else tuple(draw(st.lists(prefix_lists, max_size=2, unique=True))),
    )


def groups(perm: st.SearchStrategy[Permission] | None = None) -> st.SearchStrategy[SecurityGroup]:
    return st.lists(permissions() if perm is None else perm, max_size=6).map(
        lambda ps: SecurityGroup("sg-prop", permissions=tuple(ps))
    )


port_token = st.one_of(
    interesting_port.map(str),
    st.tuples(interesting_port, interesting_port).map(lambda t: f"{min(t)}-{max(t)}"),
    st.sampled_from(["fsbp", "hipaa", "cis", "CIS"]),
)
blocked_text = st.lists(port_token, min_size=1, max_size=5).flatmap(
    lambda tokens: st.sampled_from([",", " ", ", "]).map(lambda sep: sep.join(tokens))
)


@st.composite
def rule_parameters(
    draw: st.DrawFn, blocked: st.SearchStrategy[str] = blocked_text
) -> RuleParameters:
    raw: dict[str, str] = {"blockedPorts": draw(blocked)}
    if draw(st.booleans()):
        raw["protocolType"] = draw(st.sampled_from(["TCP", "UDP", "ALL", "tcp"]))
    if draw(st.booleans()):
        raw["ipType"] = draw(st.sampled_from(["IPv4", "IPv6", "ALL", "ipv6"]))
    return parse_rule_parameters(raw)


# --- helpers -------------------------------------------------------------------------------------


def exposed_ports(exposures: Sequence[Exposure]) -> set[tuple[str, int]]:
    return {(e.protocol, p) for e in exposures for p in range(e.ports[0], e.ports[1] + 1)}


def decide(group: SecurityGroup, params: RuleParameters, **kwargs: object) -> Verdict:
    return evaluate_group(group, params, today=TODAY, **kwargs)  # type: ignore[arg-type]


def exposed_ranges(verdict: Verdict) -> set[tuple[str, int, int]]:
    """Offending ports as (protocol, low, high) merged per protocol: independent of sources."""
    out: set[tuple[str, int, int]] = set()
    for protocol in ("tcp", "udp"):
        ranges = sorted(e.ports for e in verdict.exposures if e.protocol == protocol)
        merged: list[list[int]] = []
        for low, high in ranges:
            if merged and low <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], high)
            else:
                merged.append([low, high])
        out.update((protocol, lo, hi) for lo, hi in merged)
    return out


# --- (a) order does not matter ------------------------------------------------------------------


@PROPERTY
@given(groups(), rule_parameters(), st.data())
def test_order_of_permissions_and_sources_does_not_matter(
    group: SecurityGroup, params: RuleParameters, data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(group.permissions))
    shuffled = [
        Permission(
            p.protocol,
            p.ports,
            tuple(data.draw(st.permutations(p.ipv4))),
            tuple(data.draw(st.permutations(p.ipv6))),
            p.prefix_lists,
        )
        for p in shuffled
    ]
    before = decide(group, params)
    after = decide(SecurityGroup(group.group_id, permissions=tuple(shuffled)), params)
    event(f"shuffled: {before.compliance.value}")
    assert after.compliance is before.compliance
    assert after.exposures == before.exposures
    assert after.annotation == before.annotation


# --- (b) a CIDR and its two halves are the same sources ----------------------------------------


@PROPERTY
@given(groups(), rule_parameters(), st.data())
def test_splitting_a_cidr_into_halves_keeps_the_verdict(
    group: SecurityGroup, params: RuleParameters, data: st.DataObject
) -> None:
    splittable = [
        (i, family, j)
        for i, p in enumerate(group.permissions)
        for family, cidrs in (("ipv4", p.ipv4), ("ipv6", p.ipv6))
        for j, text in enumerate(cidrs)
        if ipaddress.ip_network(text).prefixlen < ipaddress.ip_network(text).max_prefixlen
    ]
    if not splittable:
        return
    i, family, j = data.draw(st.sampled_from(splittable))
    target = group.permissions[i]
    cidrs = list(getattr(target, family))
    halves = [str(n) for n in ipaddress.ip_network(cidrs[j]).subnets()]
    cidrs[j : j + 1] = halves
    changed = Permission(
        target.protocol,
        target.ports,
        tuple(cidrs) if family == "ipv4" else target.ipv4,
        tuple(cidrs) if family == "ipv6" else target.ipv6,
    )
    split = SecurityGroup(
        group.group_id,
        permissions=(*group.permissions[:i], changed, *group.permissions[i + 1 :]),
    )
    before, after = decide(group, params), decide(split, params)
    event(f"split: {before.compliance.value}")
    assert after.compliance is before.compliance
    assert exposed_ranges(after) == exposed_ranges(before)


# --- (c) more permissions never make a group safer ---------------------------------------------


@PROPERTY
@given(groups(), permissions(), rule_parameters())
def test_adding_a_permission_never_closes_a_port(
    group: SecurityGroup, extra: Permission, params: RuleParameters
) -> None:
    before = decide(group, params)
    after = decide(SecurityGroup(group.group_id, permissions=(*group.permissions, extra)), params)
    event(f"{before.compliance.value} -> {after.compliance.value}")
    if before.compliance is Compliance.NON_COMPLIANT:
        assert after.compliance is Compliance.NON_COMPLIANT
    assert exposed_ports(after.exposures) >= exposed_ports(before.exposures)


# --- (d) sources that cannot cover the internet never open a port ------------------------------


@PROPERTY
@given(groups(permissions(v4=private4, v6=private6)), rule_parameters())
def test_private_sources_never_make_a_group_non_compliant(
    group: SecurityGroup, params: RuleParameters
) -> None:
    verdict = decide(group, params)
    assert verdict.compliance is Compliance.COMPLIANT
    assert verdict.exposures == ()


# --- (e) the annotation: short, and naming only offending ports -------------------------------

tag_key = st.text(
    st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"),
    min_size=1,
    max_size=128,
)
exemption_value = st.one_of(
    st.tuples(
        st.lists(port_token, min_size=1, max_size=3).map(",".join) | st.just("all"),
        st.none() | st.dates(date(2024, 1, 1), date(2027, 1, 1)).map(date.isoformat),
    ).map(lambda t: t[0] if t[1] is None else f"{t[0]} until {t[1]}"),
    st.text(st.sampled_from("abcdefgh -,0123456789"), max_size=40),
)
reason = st.one_of(
    st.sampled_from(["AccessDenied", "InvalidPrefixListID.NotFound", "UnauthorizedOperation"]),
    st.text(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop ."), max_size=80),
)
PREFIX_LISTS = ["pl-open", "pl-half", *(f"pl-0123456789abcdef{n}" for n in range(5))]


@PROPERTY
@given(
    groups(permissions(prefix_lists=st.sampled_from(PREFIX_LISTS))),
    rule_parameters(),
    tag_key,
    exemption_value,
    reason,
    st.booleans(),
)
def test_annotation_is_short_and_names_only_offending_ports(
    group: SecurityGroup,
    params: RuleParameters,
    key: str,
    value: str,
    why: str,
    tagged: bool,
) -> None:
    params = parse_rule_parameters({**params.as_input_parameters(), "exemptTagKey": key})
    group = SecurityGroup(
        group.group_id, permissions=group.permissions, tags={key: value} if tagged else {}
    )

    def resolve(prefix_list_id: str) -> Sequence[str]:
        if prefix_list_id == "pl-open":
            return ["0.0.0.0/0", "::/0"]
        if prefix_list_id == "pl-half":
            return ["128.0.0.0/1"]
        raise PrefixListUnavailableError(prefix_list_id, why or "AccessDenied")

    verdict = decide(group, params, resolve_prefix_list=resolve)
    text = verdict.annotation
    event(f"{verdict.compliance.value}, exempted={bool(verdict.exempted)}")
    if verdict.compliance is Compliance.NON_COMPLIANT:
        assert text
        named_from = verdict.exposures
    else:
        assert not verdict.exposures
        if text is None:
            return
        assert text.strip()
        named_from = verdict.exempted
    assert len(text) <= MAX_ANNOTATION
    expected_items = port_items(named_from)  # ascending, consecutive ports merged
    allowed = set(expected_items)
    named = [m.group(0) for m in ITEM.finditer(text)]
    for item in named:
        assert item in allowed, (item, text)  # an offending item, whole (never cut)
        ports = item.split("/")[1]
        low, _, high = ports.partition("-")
        assert params.blocked_ports.intersect_range(int(low), int(high or low)) == [
            (int(low), int(high or low))
        ]
    # The lowest items come first, and when not everything fits the text ends saying how many
    # more there are.
    offered = [item for item in expected_items if item in named]
    assert named[: len(offered)] == expected_items[: len(offered)], text
    more = re.search(r", and (\d+) more$", text)
    if more:
        event("truncated")
        assert int(more.group(1)) == len(expected_items) - len(named)
    else:
        assert named == expected_items, text  # everything fitted: everything is named


# --- (f) a brute-force oracle on small ports ---------------------------------------------------

small_port = st.integers(0, 40)
oracle_v4 = st.one_of(st.sampled_from(V4_PIECES), random_v4, st.just("not-a-cidr"))
oracle_v6 = st.one_of(st.sampled_from(V6_PIECES), random_v6)
oracle_blocked = st.sets(small_port, min_size=1, max_size=12).map(
    lambda ports: ",".join(str(p) for p in sorted(ports))
)


def oracle(group: SecurityGroup, params: RuleParameters) -> set[tuple[str, int]]:
    """Per blocked port and protocol, pool the allowing permissions' sources and collapse them."""
    whole = {4: ipaddress.ip_network("0.0.0.0/0"), 6: ipaddress.ip_network("::/0")}
    out = set()
    for protocol in params.protocol_type.protocols:
        for port in range(41):
            if port not in params.blocked_ports:
                continue
            networks: dict[int, list] = {4: [], 6: []}
            for p in group.permissions:
                allows = p.protocol == "all" or (
                    p.protocol == protocol
                    and p.ports is not None
                    and p.ports[0] <= port <= p.ports[1]
                )
                if not allows:
                    continue
                for text in p.ipv4 + p.ipv6:
                    try:
                        net = ipaddress.ip_network(text, strict=False)
                    except ValueError:
                        continue
                    networks[net.version].append(net)
            if any(
                list(ipaddress.collapse_addresses(networks[f])) == [whole[f]]
                for f in params.ip_type.families
            ):
                out.add((protocol, port))
    return out


@PROPERTY
@given(
    groups(permissions(v4=oracle_v4, v6=oracle_v6, port=small_port)),
    rule_parameters(blocked=oracle_blocked),
)
def test_exposures_match_a_brute_force_oracle(group: SecurityGroup, params: RuleParameters) -> None:
    verdict = decide(group, params)
    expected = oracle(group, params)
    event(f"oracle: {'open' if expected else 'closed'}")
    assert exposed_ports(verdict.exposures) == expected
    assert (verdict.compliance is Compliance.NON_COMPLIANT) == bool(verdict.exposures)
