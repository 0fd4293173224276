"""Remediation: the smallest change to a group's ingress rules that closes its offending ports.

The compliance guides' procedure is: add rules for the sources that really need a port, remove the
rules open to the internet, check, and roll back if something broke. This module plans it, purely:

- the plan works on *rules* as EC2 knows them (a protocol, its ports, one source), read from the
  EC2 API's ``IpPermissions``, so that every rule it removes is revoked exactly as EC2 stores it;
- an offending port loses the sources the decision names for it (``0.0.0.0/0``, ``::/0``, the two
  halves of a split CIDR, a prefix list that covers the internet) and nothing else: each rule that
  opens it is replaced by the same rule minus the offending ports, so every other port keeps
  exactly its sources; private ranges, narrow CIDRs and security-group references are untouched;
- the result is decided again with the same decision, and a plan that would leave the group open,
  or need more rules than its quota while adding before removing, is refused with the reason;
- every rule the plan adds knows the original rules it exists for (it is a piece of them, or an
  allowed source in their place): when one of those is removed by someone else meanwhile, what
  was added for it alone must go too (see :func:`opened_beyond` and the apply adapter).

The rollback document (what ``portguard remediate`` writes before its first change, and what the
remediation function returns to Systems Manager) is defined here too, so both read the same format.
"""

from __future__ import annotations

import ipaddress
import json
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from portguard.decision import PrefixListResolver, evaluate_group, parse_cidr
from portguard.errors import PortguardError
from portguard.model import (
    ALL_PROTOCOLS,
    PORTED_PROTOCOLS,
    Compliance,
    SourceKind,
    Verdict,
    normalize_protocol,
)
from portguard.ports import MAX_PORT, PortSet
from portguard.reader import is_object, new_permission, parse_ec2_group, read_ports

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from datetime import date

    from portguard.model import Exposure, Permission, Source
    from portguard.parameters import RuleParameters

IPV4, IPV6, PREFIX_LIST, GROUP_PAIR = "IpRanges", "Ipv6Ranges", "PrefixListIds", "UserIdGroupPairs"
"""The kinds of source an ``IpPermission`` holds, named as the EC2 API names their lists."""
_SOURCE_FIELD = {IPV4: "CidrIp", IPV6: "CidrIpv6", PREFIX_LIST: "PrefixListId"}
_KINDS = (IPV4, IPV6, PREFIX_LIST, GROUP_PAIR)

_PREFIX_LIST_KINDS = (SourceKind.PREFIX_LIST, SourceKind.UNREADABLE_PREFIX_LIST)

RULES_QUOTA_CODE = "L-0EA8095F"
"""Service Quotas' code for "Inbound or outbound rules per security group" (service ``vpc``)."""
DEFAULT_RULES_QUOTA = 60

ROLLBACK_FORMAT = "portguard-rollback"
ROLLBACK_VERSION = 1


class RemediationError(PortguardError):
    """A plan was refused, a rollback document is unusable, or EC2 refused a change."""


class Rule(NamedTuple):
    """One ingress rule as EC2 knows it: a protocol, its ports, one source.

    ``protocol`` is the ``IpProtocol`` as EC2 describes it (``tcp``, ``6``, ``icmp``, ``-1``,
    ``50``), kept so that a rule is revoked exactly as EC2 holds it; :attr:`protocol_name` says
    what it means. ``from_port``/``to_port`` are ``None`` for ``-1``; ``source`` is the CIDR or
    prefix-list id as written, or for a security-group reference its pair as sorted JSON. The
    description is not part of a rule's identity: EC2 matches rules without it.
    """

    protocol: str
    from_port: int | None
    to_port: int | None
    kind: str
    source: str
    description: str | None = None

    @property
    def key(self) -> RuleKey:
        return (self.protocol, self.from_port, self.to_port, self.kind, self.source)

    @property
    def protocol_name(self) -> str:
        """The protocol in the decision's words (:func:`~portguard.model.normalize_protocol`):
        ``tcp`` for ``6``, ``all`` for ``-1``, ``icmp`` for ``1``."""
        return normalize_protocol(self.protocol) or ""

    @property
    def ports(self) -> tuple[int, int] | None:
        """The tcp or udp ports it lets in, read as the decision reads a permission's
        (:func:`portguard.reader.read_ports`: none given is every port); ``None`` for a rule of
        any other protocol, all traffic included."""
        return read_ports(self.protocol_name, self.from_port, self.to_port, [])


RuleKey = tuple[str, int | None, int | None, str, str]
"""What identifies a rule to EC2: :attr:`Rule.key`."""


class Quota(NamedTuple):
    """The group's rule quota, and where that figure came from (said in every plan)."""

    limit: int
    source: str


DEFAULT_QUOTA = Quota(DEFAULT_RULES_QUOTA, "AWS's default")


class Plan(NamedTuple):
    """What to add and remove to close a group's offending ports, or why not.

    ``add`` and ``remove`` are applied in that order; ``peak`` is the number of IPv4 and IPv6
    rules (as the quota counts them) while both old and new rules are in place. ``origins`` gives,
    for each rule added (by key), the original rules it exists for: those it is a piece of, or
    stands in for as an allowed source. A rule added for several (the same piece of two rules)
    is needed while any of them is.
    """

    group_id: str
    original: tuple[Rule, ...]
    add: tuple[Rule, ...]
    remove: tuple[Rule, ...]
    before: Verdict
    after: Verdict
    quota: Quota
    peak: tuple[int, int]
    notes: tuple[str, ...] = ()
    refusal: str | None = None
    origins: Mapping[RuleKey, tuple[Rule, ...]] = MappingProxyType({})

    @property
    def needed(self) -> bool:
        """Whether the group is open at all (a compliant group needs no plan)."""
        return self.before.compliance is Compliance.NON_COMPLIANT


# --- rules ------------------------------------------------------------------------------------


def rules_of(ip_permissions: object) -> list[Rule]:
    """The rules of an EC2 ``IpPermissions`` list, one per source, in the order EC2 gave them.

    Raises :class:`RemediationError` naming the entry when the list is not EC2's shape.
    """
    if not isinstance(ip_permissions, list):
        raise RemediationError(f"IpPermissions is not a list: {type(ip_permissions).__name__}")
    rules: list[Rule] = []
    for index, permission in enumerate(ip_permissions):
        where = f"IpPermissions[{index}]"
        if not is_object(permission) or not isinstance(permission.get("IpProtocol"), str | int):
            raise RemediationError(f"{where} is not an EC2 permission with an IpProtocol")
        protocol = str(permission["IpProtocol"]).lower()
        from_port = to_port = None
        if normalize_protocol(protocol) != ALL_PROTOCOLS:
            # ESP, AH, GRE… rules have no ports: EC2 describes them without FromPort/ToPort.
            from_port, to_port = permission.get("FromPort"), permission.get("ToPort")
            if (from_port, to_port) != (None, None) and not (
                _is_port(from_port) and _is_port(to_port)
            ):
                raise RemediationError(f"{where} ({protocol}) has no integer FromPort and ToPort")
        for kind in _KINDS:
            entries = permission.get(kind) or []
            if not isinstance(entries, list):
                raise RemediationError(f"{where}.{kind} is not a list")
            for entry in entries:
                rules.append(_rule((protocol, from_port, to_port), kind, entry, where))
    return rules


def _is_port(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _rule(head: tuple[str, int | None, int | None], kind: str, entry: object, where: str) -> Rule:
    protocol, from_port, to_port = head
    if not is_object(entry):
        raise RemediationError(f"{where}.{kind} holds a {type(entry).__name__}, not an object")
    description = entry.get("Description")
    description = description if isinstance(description, str) else None
    if kind == GROUP_PAIR:
        pair = {k: v for k, v in entry.items() if k != "Description"}
        return Rule(protocol, from_port, to_port, kind, json.dumps(pair, sort_keys=True),
                    description)  # fmt: skip
    source = entry.get(_SOURCE_FIELD[kind])
    if not isinstance(source, str) or not source:
        raise RemediationError(f"{where}.{kind} has an entry without {_SOURCE_FIELD[kind]}")
    return Rule(protocol, from_port, to_port, kind, source, description)


def ip_permissions(rules: Iterable[Rule]) -> list[dict[str, Any]]:
    """Rules as EC2 ``IpPermissions`` (for Authorize/RevokeSecurityGroupIngress), rules of the
    same protocol and ports sharing one permission, in first-seen order."""
    grouped: dict[tuple[str, int | None, int | None], dict[str, Any]] = {}
    for rule in rules:
        head = (rule.protocol, rule.from_port, rule.to_port)
        permission = grouped.get(head)
        if permission is None:
            permission = grouped[head] = {"IpProtocol": rule.protocol}
            if rule.from_port is not None:
                permission["FromPort"], permission["ToPort"] = rule.from_port, rule.to_port
        if rule.kind == GROUP_PAIR:
            entry: dict[str, Any] = json.loads(rule.source)
        else:
            entry = {_SOURCE_FIELD[rule.kind]: rule.source}
        if rule.description is not None:
            entry["Description"] = rule.description
        permission.setdefault(rule.kind, []).append(entry)
    return list(grouped.values())


def permissions_of(rules: Iterable[Rule]) -> tuple[Permission, ...]:
    """The decision's model of a group holding ``rules``: rules of one protocol and ports pooled
    into one :class:`~portguard.model.Permission` (as EC2 pools them into one ``IpPermission``),
    read as :mod:`portguard.reader` reads a group's (the protocol by name, the ports as
    :attr:`Rule.ports`, each source once; security-group references are no source of the
    decision)."""
    pooled: dict[tuple[str, int | None, int | None], dict[str, list[str]]] = {}
    for rule in rules:
        sources = pooled.setdefault((rule.protocol, rule.from_port, rule.to_port),
                                    {IPV4: [], IPV6: [], PREFIX_LIST: []})  # fmt: skip
        if rule.kind in sources:
            sources[rule.kind].append(rule.source)
    permissions = []
    for (protocol, from_port, to_port), sources in pooled.items():
        name = normalize_protocol(protocol) or ""
        ports = read_ports(name, from_port, to_port, [])  # rules hold integer ports: no warning
        permissions.append(
            new_permission(name, ports, sources[IPV4], sources[IPV6], sources[PREFIX_LIST])
        )
    return tuple(permissions)


def describe_rule(rule: Rule) -> str:
    """``tcp 0-21 from 0.0.0.0/0 (web)``, ``all traffic from ::/0``, ``icmp 8/-1 from …``."""
    name = rule.protocol_name
    if name == ALL_PROTOCOLS:
        what = "all traffic"
    elif name in PORTED_PROTOCOLS:
        low, high = rule.from_port, rule.to_port
        what = f"{name} {low}" if low == high else f"{name} {low}-{high}"
    elif name in ("icmp", "icmpv6"):
        both = rule.from_port == -1 and rule.to_port == -1
        what = f"{name} (all types)" if both else (
            f"{name} type {rule.from_port} code {rule.to_port}")  # fmt: skip
    else:
        what = f"protocol {name}"
    if rule.kind == GROUP_PAIR:
        pair = json.loads(rule.source)
        source = "/".join(str(pair[k]) for k in ("UserId", "GroupId") if k in pair) or rule.source
    else:
        source = rule.source
    note = f" ({rule.description})" if rule.description else ""
    return f"{what} from {source}{note}"


# --- the plan ---------------------------------------------------------------------------------


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

    notes: list[str] = []
    current = dict(originals)
    # For every rule that is not an original: the originals it comes from, however many rounds
    # of carving lie between (a piece of a piece of W comes from W).
    origins: dict[RuleKey, dict[RuleKey, Rule]] = {}
    verdict = before
    # One round removes, from every rule that opens an offending port, the sources the decision
    # named. Sources that only covered the internet together with those are left; if they still
    # cover it (a prefix list holding 0.0.0.0/1 beside that very CIDR), the next round takes them.
    while verdict.exposures:
        carved = False
        for rule in list(current.values()):
            offending = _offending(rule, verdict.exposures)
            if not offending:
                continue
            carved = True
            del current[rule.key]
            came_from = origins.get(rule.key, {rule.key: rule})
            for piece in _pieces(rule, offending):
                current.setdefault(piece.key, piece)
                if piece.key not in originals:  # a piece that is an original stays that original
                    origins.setdefault(piece.key, {}).update(came_from)
            if rule.protocol_name == ALL_PROTOCOLS:
                notes.append(
                    f"all traffic from {rule.source} keeps tcp, udp and icmp where they are not "
                    f"offending; every other IP protocol (GRE, ESP, SCTP …) from {rule.source} "
                    "is no longer allowed"
                )
        if not carved:
            break  # nothing named can be removed: the refusal below says what stays open
        verdict = decide(current.values())

    allowed = parse_allowed_cidrs(allow_cidrs)
    for carved_away in [rule for key, rule in originals.items() if key not in current]:
        for rule in _allowed(carved_away, allowed):
            current.setdefault(rule.key, originals.get(rule.key, rule))  # an original stays
            if rule.key not in originals:
                origins.setdefault(rule.key, {})[carved_away.key] = carved_away
    removed = [rule for key, rule in originals.items() if key not in current]
    add = tuple(rule for key, rule in current.items() if key not in originals)
    after = decide(current.values())
    peak, counted_as_one = _count([*original, *add], prefix_list_size)
    if counted_as_one:
        notes.append(f"prefix lists {', '.join(counted_as_one)} counted as one rule each: their "
                     "maximum size could not be read")  # fmt: skip
    refusal = _refusal(after, peak, quota)
    stands_for = {rule.key: tuple(origins[rule.key].values()) for rule in add}
    return Plan(model.group_id, tuple(original), add, tuple(removed), before, after, quota, peak,
                tuple(dict.fromkeys(notes)), refusal, MappingProxyType(stands_for))  # fmt: skip


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


NARROW_PREFIX = {4: 16, 6: 32}
"""A CIDR at least this long is narrow. Even at the highest rule quota EC2 allows (1,000), narrow
CIDRs alone cannot cover an address space (1,000 x 2**16 < 2**32), so a plan never needs them."""


def protected(rule: Rule) -> bool:
    """Whether remediation leaves this rule's source alone whatever it opens: a security-group
    reference, a private range (``10.0.0.0/8``, ``fd00::/8``…) or a narrow CIDR. When such
    sources are part of a union covering the internet, the wide sources beside them are removed
    and the union no longer covers it."""
    if rule.kind == GROUP_PAIR:
        return True
    if rule.kind == PREFIX_LIST:
        return False
    try:
        network = ipaddress.ip_network(rule.source.strip(), strict=False)
    except ValueError:
        return True  # not a CIDR: the decision skipped it, and EC2 would not hold it
    return network.is_private or network.prefixlen >= NARROW_PREFIX[network.version]


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
        keep = [(p, PortSet.all_ports().difference(offending.get(p, PortSet()))) for p in
                PORTED_PROTOCOLS]  # fmt: skip
        for protocol, ports in keep:
            out.extend(rule._replace(protocol=protocol, from_port=low, to_port=high)
                       for low, high in ports.ranges)  # fmt: skip
        # New rules, in EC2's spelling (which for these is also the decision's).
        icmp = {IPV4: ("icmp",), IPV6: ("icmpv6",)}.get(rule.kind, ("icmp", "icmpv6"))
        out.extend(rule._replace(protocol=p, from_port=-1, to_port=-1) for p in icmp)
        return out
    for piece in PortSet([_ports(rule)]).difference(offending[rule.protocol_name]).ranges:
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
) -> tuple[tuple[int, int], list[str]]:
    """IPv4 and IPv6 rules as the quota counts them: each family separately; a security-group
    reference counts in both, a prefix-list reference as its maximum entries in both."""
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
    return (ipv4, ipv6), list(unknown)


def _refusal(after: Verdict, peak: tuple[int, int], quota: Quota) -> str | None:
    if after.compliance is Compliance.NON_COMPLIANT:
        return f"the group would still be open: {after.annotation}"
    for family, count in zip(("IPv4", "IPv6"), peak, strict=True):
        if count > quota.limit:
            return (
                f"adding before removing needs {count} {family} inbound rules at once, more than "
                f"the quota of {quota.limit} ({quota.source}); raise the quota "
                f"(Service Quotas, vpc {RULES_QUOTA_CODE}) or narrow the group first"
            )
    return None


# --- what rules let in -----------------------------------------------------------------------


def opened_beyond(
    rules: Iterable[Rule],
    reference: Iterable[Rule],
    origins: Mapping[RuleKey, Sequence[Rule]] = MappingProxyType({}),
) -> list[Rule]:
    """The rules of ``rules`` that let in something ``reference`` does not: a port (an ICMP type,
    a protocol) from their source that no rule of ``reference`` from that source lets in.

    A rule with ``origins`` (see :attr:`Plan.origins`) may also be read as letting in from the
    sources it stands in for, so that an allowed source counts as the narrower stand-in for the
    removed one that the user asked for, not as a new opening.

    >>> wide = Rule("tcp", 0, 65535, IPV4, "0.0.0.0/0")
    >>> piece, udp = wide._replace(from_port=23, to_port=3388), wide._replace(protocol="udp")
    >>> [rule.protocol for rule in opened_beyond([piece, udp], [wide])]
    ['udp']
    """
    by_source: dict[tuple[str, str], list[Rule]] = {}
    for rule in reference:
        by_source.setdefault((rule.kind, rule.source), []).append(rule)
    out: list[Rule] = []
    for rule in rules:
        stands_for = origins.get(rule.key, ())
        sources = [(rule.kind, rule.source), *((o.kind, o.source) for o in stands_for)]
        if not any(_lets_in(by_source.get(source, []), rule) for source in sources):
            out.append(rule)
    return out


def _lets_in(reference: Sequence[Rule], rule: Rule) -> bool:
    """Whether ``reference`` (rules of one source) lets in all that ``rule`` lets in."""
    if any(other.protocol_name == ALL_PROTOCOLS for other in reference):
        return True
    protocol = rule.protocol_name
    same = [other for other in reference if other.protocol_name == protocol]
    if protocol in PORTED_PROTOCOLS:
        return not PortSet([_ports(rule)]).difference(PortSet(_ports(other) for other in same))
    # ICMP's "ports" are a type and a code, -1 meaning any; other protocols (and -1) have none.
    return any(other.from_port in (None, -1, rule.from_port)
               and other.to_port in (None, -1, rule.to_port) for other in same)  # fmt: skip


def _ports(rule: Rule) -> tuple[int, int]:
    """A tcp or udp rule's ports (:attr:`Rule.ports`, which every such rule has)."""
    return rule.ports or (0, MAX_PORT)


# --- showing a plan ---------------------------------------------------------------------------


def plan_lines(plan: Plan) -> list[str]:
    """The plan as a diff: ``-`` rules removed, ``+`` rules added (rules that differ only in their
    ports on one line), then the notes, the rule count against the quota, and the result."""
    lines = [f"- {text}" for text in describe_rules(plan.remove)]
    lines += [f"+ {text}" for text in describe_rules(plan.add)]
    lines += [f"note: {note}" for note in plan.notes]
    ipv4, ipv6 = plan.peak
    lines.append(f"rules at the peak: {ipv4} IPv4, {ipv6} IPv6; quota {plan.quota.limit} "
                 f"({plan.quota.source})")  # fmt: skip
    after = plan.after
    annotation = f": {after.annotation}" if after.annotation else ""
    lines.append(f"after: {after.compliance}{annotation}")
    return lines


def describe_rules(rules: Iterable[Rule]) -> list[str]:
    """Rules in source order, those of one source, protocol and description on one line:
    ``tcp 0-19, 24, 26-109 from 0.0.0.0/0 (web) [3 rules]``."""
    order = {kind: index for index, kind in enumerate(_KINDS)}
    lines: dict[tuple[int, str, str, str], list[Rule]] = {}
    for rule in rules:
        head = (order[rule.kind], rule.source, rule.protocol, rule.description or "")
        lines.setdefault(head, []).append(rule)
    out: list[str] = []
    for head in sorted(lines):
        group = sorted(lines[head], key=lambda r: (r.from_port or 0, r.to_port or 0))
        text = describe_rule(group[0])
        if len(group) > 1 and group[0].protocol_name in PORTED_PROTOCOLS:
            name = group[0].protocol_name
            ports = ", ".join(str(r.from_port) if r.from_port == r.to_port
                              else f"{r.from_port}-{r.to_port}" for r in group)  # fmt: skip
            text = f"{name} {ports}{text[text.index(' from ') :]} [{len(group)} rules]"
        elif len(group) > 1:
            out.extend(describe_rule(rule) for rule in group)
            continue
        out.append(text)
    return out


# --- the rollback document --------------------------------------------------------------------


class Rollback(NamedTuple):
    """What ``restore`` needs: the group, its rules before, and what the remediation changed."""

    group_id: str
    region: str | None
    original: tuple[Rule, ...]
    added: tuple[Rule, ...]
    removed: tuple[Rule, ...]


def rollback_document(
    plan: Plan,
    *,
    region: str | None,
    created: str,
    state: str,
    added: Iterable[Rule] = (),
    removed: Iterable[Rule] = (),
) -> dict[str, Any]:
    """The rollback document for ``plan``, enough, with ``portguard restore``, to undo what the
    remediation did. It holds the group's rules as found, and only facts: ``added`` the rules
    portguard added and still holds, ``removed`` the rules portguard itself revoked (nothing, before
    the first change); restore re-adds only those, so it never brings back a rule that someone else
    removed meanwhile."""
    return {
        "format": ROLLBACK_FORMAT,
        "version": ROLLBACK_VERSION,
        "groupId": plan.group_id,
        "region": region,
        "created": created,
        "state": state,
        "original": ip_permissions(plan.original),
        "added": ip_permissions(added),
        "removed": ip_permissions(removed),
        "restore": "portguard restore THIS_FILE --apply",
    }


def read_rollback(document: object) -> Rollback:
    """Read a rollback document; raises :class:`RemediationError` naming what is wrong."""
    if not is_object(document):
        raise RemediationError("the rollback document is not a JSON object")
    if document.get("format") != ROLLBACK_FORMAT:
        raise RemediationError(
            f"not a portguard rollback document: 'format' is {document.get('format')!r}, "
            f"not {ROLLBACK_FORMAT!r}"
        )
    if document.get("version") != ROLLBACK_VERSION:
        raise RemediationError(
            f"rollback document version {document.get('version')!r} is not {ROLLBACK_VERSION}"
        )
    group_id, region = document.get("groupId"), document.get("region")
    if not isinstance(group_id, str) or not group_id.startswith("sg-"):
        raise RemediationError(f"the rollback document's groupId {group_id!r} is not a group id")
    if region is not None and not isinstance(region, str):
        raise RemediationError(f"the rollback document's region {region!r} is not a string")
    parts = {}
    for name in ("original", "added", "removed"):
        try:
            parts[name] = tuple(rules_of(document.get(name)))
        except RemediationError as exc:
            raise RemediationError(f"the rollback document's {name!r}: {exc}") from None
    return Rollback(group_id, region, parts["original"], parts["added"], parts["removed"])


class RestorePlan(NamedTuple):
    """Undoing a remediation: re-add the rules it removed, revoke the rules it added; ``drift``
    says how the group differs from the original in rules the remediation never touched."""

    add: tuple[Rule, ...]
    remove: tuple[Rule, ...]
    drift: tuple[str, ...]


def plan_restore(rollback: Rollback, current: Sequence[Rule]) -> RestorePlan:
    """What brings ``current`` back to the original rules that the remediation changed.

    Rules changed by someone else since are left as they are and reported as drift: restore
    undoes the remediation, and only it.
    """
    now = {rule.key: rule for rule in current}
    original = {rule.key: rule for rule in rollback.original}
    add = tuple(rule for rule in rollback.removed if rule.key not in now)
    remove = tuple(now[rule.key] for rule in rollback.added
                   if rule.key in now and rule.key not in original)  # fmt: skip
    touched = {rule.key for rule in (*rollback.added, *rollback.removed)}
    drift = [f"missing since: {describe_rule(rule)}" for key, rule in original.items()
             if key not in now and key not in touched]  # fmt: skip
    drift += [f"added since: {describe_rule(rule)}" for key, rule in now.items()
              if key not in original and key not in touched]  # fmt: skip
    return RestorePlan(add, remove, tuple(drift))


def restore_lines(plan: RestorePlan) -> list[str]:
    """A restore as a diff: ``+`` rules re-added, ``-`` rules revoked, then any drift."""
    lines = [f"+ {text}" for text in describe_rules(plan.add)]
    lines += [f"- {text}" for text in describe_rules(plan.remove)]
    lines += [f"left as it is, changed by someone else: {text}" for text in plan.drift]
    return lines
