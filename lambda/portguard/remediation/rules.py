"""Rules as EC2 knows them, and what they let in.

A :class:`Rule` is one protocol, its ports and one source, as EC2 stores it: read from the EC2
API's ``IpPermissions`` (:func:`rules_of`, strictly: a rule is revoked exactly as EC2 holds it),
written back for Authorize/RevokeSecurityGroupIngress (:func:`ip_permissions`), and read into the
decision's model (:func:`permissions_of`) the way :mod:`portguard.reader` reads a group. Which
sources remediation never touches (:func:`protected`), and whether some rules let in more than
others (:func:`opened_beyond`), are decided here too.
"""

from __future__ import annotations

import ipaddress
import json
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from portguard.errors import RemediationError
from portguard.model import ALL_PROTOCOLS, PORTED_PROTOCOLS, normalize_protocol
from portguard.ports import PortSet
from portguard.reader import is_object, json_kind, new_permission, read_ports

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from portguard.model import Permission

IPV4, IPV6, PREFIX_LIST, GROUP_PAIR = "IpRanges", "Ipv6Ranges", "PrefixListIds", "UserIdGroupPairs"
"""The kinds of source an ``IpPermission`` holds, named as the EC2 API names their lists."""
_SOURCE_FIELD = {IPV4: "CidrIp", IPV6: "CidrIpv6", PREFIX_LIST: "PrefixListId"}
SOURCE_KINDS = (IPV4, IPV6, PREFIX_LIST, GROUP_PAIR)
"""Every kind, in the order rules are read and shown."""


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


def rules_of(ip_permissions: object) -> list[Rule]:
    """The rules of an EC2 ``IpPermissions`` list, one per source, in the order EC2 gave them.

    Raises :class:`RemediationError` naming the entry when the list is not EC2's shape.
    """
    if not isinstance(ip_permissions, list):
        raise RemediationError(f"IpPermissions is not a list: {json_kind(ip_permissions)}")
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
        for kind in SOURCE_KINDS:
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
        raise RemediationError(f"{where}.{kind} holds {json_kind(entry)}, not an object")
    description = entry.get("Description")
    description = description if isinstance(description, str) else None
    if kind == GROUP_PAIR:
        pair = {k: v for k, v in entry.items() if k != "Description"}
        return Rule(
            protocol, from_port, to_port, kind, json.dumps(pair, sort_keys=True), description
        )
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
        head = (rule.protocol, rule.from_port, rule.to_port)
        sources = pooled.setdefault(head, {IPV4: [], IPV6: [], PREFIX_LIST: []})
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


def ports_of(rules: Iterable[Rule]) -> PortSet:
    """The tcp or udp ports ``rules`` let in, together (:attr:`Rule.ports`)."""
    return PortSet(ports for rule in rules if (ports := rule.ports) is not None)


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


def opened_beyond(
    rules: Iterable[Rule],
    reference: Iterable[Rule],
    origins: Mapping[RuleKey, Sequence[Rule]] = MappingProxyType({}),
) -> list[Rule]:
    """The rules of ``rules`` that let in something ``reference`` does not: a port (an ICMP type,
    a protocol) from their source that no rule of ``reference`` from that source lets in.

    A rule with ``origins`` (see :attr:`portguard.remediation.plan.Plan.origins`) may also be
    read as letting in from the sources it stands in for, so that an allowed source counts as the
    narrower stand-in for the removed one that the user asked for, not as a new opening.

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
        return not ports_of([rule]).difference(ports_of(same))
    # ICMP's "ports" are a type and a code, -1 meaning any; other protocols (and -1) have none.
    return any(
        other.from_port in (None, -1, rule.from_port) and other.to_port in (None, -1, rule.to_port)
        for other in same
    )
