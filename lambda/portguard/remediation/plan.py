"""The plan: the smallest change to a group's ingress rules that closes its offending ports.

The compliance guides' procedure is: add rules for the sources that really need a port, remove the
rules open to the internet, check, and roll back if something broke. This module plans it, purely:

- the plan works on :class:`~portguard.remediation.rules.Rule` values, so that every rule it
  removes is revoked exactly as EC2 stores it;
- an offending port loses the sources the decision names for it (``0.0.0.0/0``, ``::/0``, the two
  halves of a split CIDR, a prefix list that covers the internet) and nothing else: each rule that
  opens it is replaced by the same rule minus the offending ports, so every other port keeps
  exactly its sources; protected sources (private ranges, narrow CIDRs, security-group
  references) are untouched;
- the result is decided again with the same decision, and a plan that would leave the group open
  (:class:`StillOpen`), or need more rules than its :class:`Quota` while adding before removing
  (:class:`OverQuota`), is refused with that reason as a value;
- every rule the plan adds knows the original rules it exists for (it is a piece of them, or an
  allowed source in their place): when one of those is removed by someone else meanwhile, what
  was added for it alone must go too (see :func:`~portguard.remediation.rules.opened_beyond` and
  :mod:`portguard.remediation.apply`).

The plan holds values only: :mod:`portguard.remediation.rendering` says them in words.
"""

from __future__ import annotations

import ipaddress
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from portguard.decision import PrefixListResolver, evaluate_group, parse_cidr
from portguard.errors import RemediationError
from portguard.model import (
    ALL_PROTOCOLS,
    PORTED_PROTOCOLS,
    Compliance,
    Family,
    SourceKind,
    Verdict,
)
from portguard.ports import MAX_PORT, PortSet
from portguard.reader import parse_ec2_group
from portguard.remediation.rules import (
    IPV4,
    IPV6,
    PREFIX_LIST,
    Rule,
    RuleKey,
    permissions_of,
    ports_of,
    protected,
    rules_of,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from datetime import date

    from portguard.model import Exposure, Source
    from portguard.parameters import RuleParameters

_PREFIX_LIST_KINDS = (SourceKind.PREFIX_LIST, SourceKind.UNREADABLE_PREFIX_LIST)

RULES_QUOTA_CODE = "L-0EA8095F"
"""Service Quotas' code for "Inbound or outbound rules per security group" (service ``vpc``)."""
DEFAULT_RULES_QUOTA = 60


class Quota(NamedTuple):
    """The group's rule quota, and where that figure came from (said in every plan)."""

    limit: int
    source: str


DEFAULT_QUOTA = Quota(DEFAULT_RULES_QUOTA, "AWS's default")


class StillOpen(NamedTuple):
    """A plan refused because the group it leaves is still open (an allowed source is the
    internet, or covers it together with others)."""

    verdict: Verdict
    """The decision on the group as the plan would leave it (the plan's ``after``)."""


class OverQuota(NamedTuple):
    """A plan refused because adding before removing needs more inbound rules of one family at
    once than the group's quota allows (the first family over it, IPv4 before IPv6)."""

    family: Family
    peak: int
    """The rules of ``family`` at the peak, as the quota counts them (see ``Plan.peak``)."""
    quota: Quota


Refusal = StillOpen | OverQuota
"""Why a plan is refused; a plan that can be applied has none."""


class Plan(NamedTuple):
    """What to add and remove to close a group's offending ports, or why not.

    ``add`` and ``remove`` are applied in that order; ``peak`` is the number of IPv4 and IPv6
    rules (as the quota counts them) while both old and new rules are in place. ``origins`` gives,
    for each rule added (by key), the original rules it exists for: those it is a piece of, or
    stands in for as an allowed source. A rule added for several (the same piece of two rules)
    is needed while any of them is.

    What the user should know besides the rules: ``all_traffic_replaced``, the sources whose
    all-traffic rules become tcp, udp and icmp rules (every other IP protocol from them is no
    longer allowed), and ``unsized_prefix_lists``, the prefix lists counted as one rule each
    because their maximum size could not be read. Both in the order found, each once.
    """

    group_id: str
    original: tuple[Rule, ...]
    add: tuple[Rule, ...]
    remove: tuple[Rule, ...]
    before: Verdict
    after: Verdict
    quota: Quota
    peak: tuple[int, int]
    all_traffic_replaced: tuple[str, ...] = ()
    unsized_prefix_lists: tuple[str, ...] = ()
    refusal: Refusal | None = None
    origins: Mapping[RuleKey, tuple[Rule, ...]] = MappingProxyType({})

    @property
    def needed(self) -> bool:
        """Whether the group is open at all (a compliant group needs no plan)."""
        return self.before.compliance is Compliance.NON_COMPLIANT


def parse_allowed_cidrs(texts: Iterable[str]) -> tuple[str, ...]:
    """Allowed sources, normalized (``10.1.2.3/8`` is ``10.0.0.0/8``), each once.

    Raises :class:`RemediationError` naming the first one that is not a CIDR.
    """
    out: dict[str, None] = {}
    for text in texts:
        try:
            out[str(ipaddress.ip_network(text.strip(), strict=False))] = None
        except ValueError:
            raise RemediationError(f"allowed source {text!r} is not an IPv4 or IPv6 CIDR") from None
    return tuple(out)


def plan_remediation(
    group: Mapping[str, Any],
    parameters: RuleParameters,
    *,
    allow_cidrs: Sequence[str] = (),
    resolve_prefix_list: PrefixListResolver | None = None,
    prefix_list_size: Callable[[str], int | None] | None = None,
    quota: Quota = DEFAULT_QUOTA,
    today: date | None = None,
) -> Plan:
    """Plan closing the offending ports of ``group`` (one group of ``DescribeSecurityGroups``).

    ``allow_cidrs`` (see :func:`parse_allowed_cidrs`) each get, for every rule removed, the same
    protocol and ports, added before anything is removed. ``prefix_list_size`` gives a prefix
    list's maximum number of entries, which is what it counts against the quota (one rule each
    when it is not given or returns ``None``). ``today`` dates exemptions, as in the decision.
    """
    model = parse_ec2_group(group)

    def decide(rules: Iterable[Rule]) -> Verdict:
        """The decision on the group with these rules (and its tags, for exemptions)."""
        regrouped = model._replace(permissions=permissions_of(rules))
        return evaluate_group(
            regrouped, parameters, resolve_prefix_list=resolve_prefix_list, today=today
        )

    original = rules_of(group.get("IpPermissions") or [])
    originals = {rule.key: rule for rule in original}
    before = evaluate_group(model, parameters, resolve_prefix_list=resolve_prefix_list, today=today)
    if before.compliance is not Compliance.NON_COMPLIANT:
        peak = _count(original, prefix_list_size)[0]
        return Plan(model.group_id, tuple(original), (), (), before, before, quota, peak)

    current, origins, all_traffic_replaced = _carve(originals, before, decide)
    _stand_in(originals, current, origins, parse_allowed_cidrs(allow_cidrs))
    removed = [rule for key, rule in originals.items() if key not in current]
    add = tuple(rule for key, rule in current.items() if key not in originals)
    after = decide(current.values())
    peak, unsized_prefix_lists = _count([*original, *add], prefix_list_size)
    refusal = _refusal(after, peak, quota)
    stands_for = {rule.key: tuple(origins[rule.key].values()) for rule in add}
    return Plan(
        model.group_id,
        tuple(original),
        add,
        tuple(removed),
        before,
        after,
        quota,
        peak,
        tuple(dict.fromkeys(all_traffic_replaced)),
        unsized_prefix_lists,
        refusal,
        MappingProxyType(stands_for),
    )


Origins = dict[RuleKey, dict[RuleKey, Rule]]
"""For every rule that is not an original: the originals it comes from, however many rounds of
carving lie between (a piece of a piece of W comes from W), or that it stands in for."""


def _carve(
    originals: Mapping[RuleKey, Rule], verdict: Verdict, decide: Callable[[Iterable[Rule]], Verdict]
) -> tuple[dict[RuleKey, Rule], Origins, list[str]]:
    """The rules once every rule that opens an offending port has lost it, from the sources the
    decision named; where each new rule comes from; and the sources of the all-traffic rules
    carved (see ``Plan.all_traffic_replaced``).

    One round removes, from every rule that opens an offending port, the sources the decision
    named. Sources that only covered the internet together with those are left; if they still
    cover it (a prefix list holding 0.0.0.0/1 beside that very CIDR), the next round takes them.
    """
    current = dict(originals)
    origins: Origins = {}
    all_traffic_replaced: list[str] = []
    while verdict.exposures:
        carved = []
        for rule in list(current.values()):
            if _carve_rule(rule, verdict.exposures, current, originals, origins):
                carved.append(rule)
        if not carved:
            break  # nothing named can be removed: the refusal says what stays open
        all_traffic_replaced += [
            rule.source for rule in carved if rule.protocol_name == ALL_PROTOCOLS
        ]
        verdict = decide(current.values())
    return current, origins, all_traffic_replaced


def _carve_rule(
    rule: Rule,
    exposures: Sequence[Exposure],
    current: dict[RuleKey, Rule],
    originals: Mapping[RuleKey, Rule],
    origins: Origins,
) -> bool:
    """Replace ``rule`` in ``current`` by its pieces without the offending ports it opens from a
    source the decision named; whether it opened any."""
    offending = _offending(rule, exposures)
    if not offending:
        return False
    del current[rule.key]
    came_from = origins.get(rule.key, {rule.key: rule})
    for piece in _pieces(rule, offending):
        current.setdefault(piece.key, piece)
        if piece.key not in originals:  # a piece that is an original stays that original
            origins.setdefault(piece.key, {}).update(came_from)
    return True


def _stand_in(
    originals: Mapping[RuleKey, Rule],
    current: dict[RuleKey, Rule],
    origins: Origins,
    allowed: Sequence[str],
) -> None:
    """Add to ``current``, for every original rule carved away, the same protocol and ports
    from each allowed source (an original rule of that source stays as it is)."""
    for carved_away in [rule for key, rule in originals.items() if key not in current]:
        for rule in _allowed(carved_away, allowed):
            current.setdefault(rule.key, originals.get(rule.key, rule))
            if rule.key not in originals:
                origins.setdefault(rule.key, {})[carved_away.key] = carved_away


def _offending(rule: Rule, exposures: Sequence[Exposure]) -> dict[str, PortSet]:
    """Per protocol, the offending ports this rule opens from a source the decision named
    (never from a protected one: see :func:`protected`)."""
    if protected(rule):
        return {}
    protocols: tuple[str, ...]
    if rule.protocol_name == ALL_PROTOCOLS:
        low, high, protocols = 0, MAX_PORT, PORTED_PROTOCOLS
    elif (ports := rule.ports) is not None:
        (low, high), protocols = ports, (rule.protocol_name,)
    else:
        return {}
    found: dict[str, list[tuple[int, int]]] = {}
    for exposure in exposures:
        if exposure.protocol not in protocols or not _named(rule, exposure.sources):
            continue
        first, last = exposure.ports
        if first <= high and last >= low:
            found.setdefault(exposure.protocol, []).append((max(first, low), min(last, high)))
    return {protocol: PortSet(ranges) for protocol, ranges in found.items()}


def _named(rule: Rule, sources: tuple[Source, ...]) -> bool:
    """Whether the decision named this rule's source among ``sources``: the same CIDR (however
    it is written), or the same prefix list, read or unreadable."""
    if rule.kind == PREFIX_LIST:
        return any(s.name == rule.source and s.kind in _PREFIX_LIST_KINDS for s in sources)
    span = parse_cidr(rule.source)
    return span is not None and span.source in sources


def _pieces(rule: Rule, offending: Mapping[str, PortSet]) -> list[Rule]:
    """What is left of ``rule`` once its offending ports are taken out, as EC2 rules."""
    out: list[Rule] = []
    if rule.protocol_name == ALL_PROTOCOLS:
        keep = [
            (p, PortSet.all_ports().difference(offending.get(p, PortSet())))
            for p in PORTED_PROTOCOLS
        ]
        for protocol, ports in keep:
            out.extend(
                rule._replace(protocol=protocol, from_port=low, to_port=high)
                for low, high in ports.ranges
            )
        # New rules, in EC2's spelling (which for these is also the decision's).
        icmp = {IPV4: ("icmp",), IPV6: ("icmpv6",)}.get(rule.kind, ("icmp", "icmpv6"))
        out.extend(rule._replace(protocol=p, from_port=-1, to_port=-1) for p in icmp)
        return out
    for piece in ports_of([rule]).difference(offending[rule.protocol_name]).ranges:
        out.append(rule._replace(from_port=piece[0], to_port=piece[1]))
    return out


def _allowed(removed: Rule, allow_cidrs: Sequence[str]) -> list[Rule]:
    """For a removed rule, the same protocol and ports from each allowed source of its family
    (both families for a prefix list, whose family the plan does not know)."""
    out: list[Rule] = []
    for cidr in allow_cidrs:
        kind = IPV6 if ":" in cidr else IPV4
        if removed.kind in (kind, PREFIX_LIST):
            note = f"portguard: in place of {removed.source}"
            out.append(removed._replace(kind=kind, source=cidr, description=note))
    return out


def _count(
    rules: Iterable[Rule], prefix_list_size: Callable[[str], int | None] | None
) -> tuple[tuple[int, int], tuple[str, ...]]:
    """IPv4 and IPv6 rules as the quota counts them: each family separately; a security-group
    reference counts in both, a prefix-list reference as its maximum entries in both. Also the
    prefix lists whose maximum could not be read, counted as one rule each."""
    ipv4 = ipv6 = 0
    unknown: dict[str, None] = {}
    for rule in {rule.key: rule for rule in rules}.values():
        if rule.kind == IPV4:
            ipv4 += 1
        elif rule.kind == IPV6:
            ipv6 += 1
        else:
            weight = 1
            if rule.kind == PREFIX_LIST:
                size = prefix_list_size(rule.source) if prefix_list_size else None
                if size is None:
                    unknown[rule.source] = None
                weight = size if size is not None else 1
            ipv4, ipv6 = ipv4 + weight, ipv6 + weight
    return (ipv4, ipv6), tuple(unknown)


def _refusal(after: Verdict, peak: tuple[int, int], quota: Quota) -> Refusal | None:
    """Why the plan cannot be applied: the group would stay open, or a family's rules at the
    peak exceed the quota; ``None`` when it can."""
    if after.compliance is Compliance.NON_COMPLIANT:
        return StillOpen(after)
    for family, count in zip((Family.IPV4, Family.IPV6), peak, strict=True):
        if count > quota.limit:
            return OverQuota(family, count, quota)
    return None
