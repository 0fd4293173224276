"""The decision: is a port in scope open to the whole internet, and is it excused?

For a protocol *p* and port *n*, the sources of every ingress permission that allows (*p*, *n*)
are pooled; the port is open when their union covers all of ``0.0.0.0/0`` or all of ``::/0``.
Ports are handled as intervals and addresses as integer intervals, so a permission for
``tcp 0-65535`` costs the same as one for ``tcp 22``.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from functools import lru_cache
from typing import NamedTuple

from portguard.annotation import cut_at_word, port_items, render
from portguard.errors import InvalidParameterError, PrefixListUnavailableError
from portguard.model import ALL_PROTOCOLS, ConfigItem, Permission, SecurityGroup
from portguard.parameters import RuleParameters, parse_ports
from portguard.ports import MAX_PORT, PortSet

PrefixListResolver = Callable[[str], Sequence[str]]
"""Returns a managed prefix list's CIDRs; raises :class:`PrefixListUnavailableError`."""

_SPACE_END = {4: (1 << 32) - 1, 6: (1 << 128) - 1}
# Sort order of source labels in an annotation: IPv4, IPv6, prefix lists, unreadable lists.
_PREFIX_LIST_ORDER = 7
_UNREADABLE_ORDER = 8
_MAX_REASON = 60


class Compliance(StrEnum):
    COMPLIANT = "COMPLIANT"
    NON_COMPLIANT = "NON_COMPLIANT"
    NOT_APPLICABLE = "NOT_APPLICABLE"


class Exposure(NamedTuple):
    """Ports of one protocol open to the whole internet, and the sources that open them.

    A named tuple rather than a dataclass: a group open on every port makes dozens of these,
    and a tuple is several times cheaper to build.
    """

    protocol: str
    ports: tuple[int, int]
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Verdict:
    compliance: Compliance
    annotation: str | None = None
    exposures: tuple[Exposure, ...] = ()
    """Offending ports that are not excused."""
    exempted: tuple[Exposure, ...] = ()
    """Offending ports excused by a valid exemption tag."""
    warnings: tuple[str, ...] = field(default=())


NOT_APPLICABLE = Verdict(Compliance.NOT_APPLICABLE)


def evaluate_item(
    item: ConfigItem,
    parameters: RuleParameters,
    *,
    resolve_prefix_list: PrefixListResolver | None = None,
    today: date | None = None,
    event_left_scope: bool = False,
) -> Verdict:
    """Decide one Config item: NOT_APPLICABLE for other types, deleted items or out of scope."""
    if event_left_scope or item.gone or item.group is None:
        return NOT_APPLICABLE
    return evaluate_group(
        item.group, parameters, resolve_prefix_list=resolve_prefix_list, today=today
    )


def evaluate_group(
    group: SecurityGroup,
    parameters: RuleParameters,
    *,
    resolve_prefix_list: PrefixListResolver | None = None,
    today: date | None = None,
) -> Verdict:
    """Decide one security group.

    ``resolve_prefix_list`` reads a managed prefix list's CIDRs; without one (offline), a prefix
    list that matters fails closed, as an unreadable one does. ``today`` (UTC) dates exemptions.
    """
    warnings = list(group.warnings)
    exposures = _exposures(group, parameters, resolve_prefix_list, warnings)
    exemption = _read_exemption(group, parameters, today)

    open_now: list[Exposure] = []
    excused: list[Exposure] = []
    for exposure in exposures:
        if exemption.ports is None:
            open_now.append(exposure)
            continue
        ports = PortSet([exposure.ports])
        excused.extend(_split(exposure, ports.intersection(exemption.ports).ranges))
        open_now.extend(_split(exposure, ports.difference(exemption.ports).ranges))

    if open_now:
        notes = [exemption.note] if exemption.note and exemption.ports is None else []
        if excused:
            ranges = len(port_items(excused))
            notes = [f"{ranges} port range{'s' if ranges > 1 else ''} exempted {exemption.note}"]
        annotation = render("Open to the internet", open_now, notes)
        return Verdict(Compliance.NON_COMPLIANT, annotation, tuple(open_now), tuple(excused),
                       tuple(warnings))  # fmt: skip
    if excused:
        annotation = render(f"Exempted {exemption.note}, open to the internet", excused)
        return Verdict(Compliance.COMPLIANT, annotation, (), tuple(excused), tuple(warnings))
    # Nothing open: an exemption that does not parse or expired is still worth a word.
    note = cut_at_word(exemption.note) if exemption.note and exemption.ports is None else None
    return Verdict(Compliance.COMPLIANT, note, (), (), tuple(warnings))


def _split(exposure: Exposure, ranges: Sequence[tuple[int, int]]) -> list[Exposure]:
    return [Exposure(exposure.protocol, r, exposure.sources) for r in ranges]


# --- sources ---------------------------------------------------------------------------------

Source = tuple[int, int, int, tuple[int, int, str]]
"""(family, first address, last address, sort key and label)."""


@lru_cache(maxsize=8192)
def _parse_cidr(text: str) -> tuple[int, int, int, str] | None:
    """Lenient: host bits allowed (``1.2.3.4/0`` is all of IPv4), any IPv6 spelling."""
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    return net.version, int(net.network_address), int(net.broadcast_address), str(net)


def _sources(
    permission: Permission,
    parameters: RuleParameters,
    resolve: PrefixListResolver | None,
    resolved: dict[str, list[Source]],
    warnings: list[str],
) -> list[Source]:
    out: list[Source] = []
    for text in permission.ipv4 + permission.ipv6:
        parsed = _parse_cidr(text)
        if parsed is None:
            warnings.append(f"skipped source {text!r}: not a CIDR")
            continue
        family, first, last, label = parsed
        out.append((family, first, last, (family, first, label)))
    if parameters.resolve_prefix_lists:
        for list_id in permission.prefix_lists:
            if list_id not in resolved:
                resolved[list_id] = _prefix_list_sources(list_id, resolve, warnings)
            out.extend(resolved[list_id])
    return out


def _prefix_list_sources(
    list_id: str, resolve: PrefixListResolver | None, warnings: list[str]
) -> list[Source]:
    try:
        if resolve is None:
            raise PrefixListUnavailableError(list_id, "not resolved offline")
        cidrs = resolve(list_id)
    except PrefixListUnavailableError as exc:
        # Fail closed: a list nobody can read could hold anything, so it counts as the internet.
        warnings.append(f"{exc}; counted as the whole internet")
        reason = cut_at_word(exc.reason, _MAX_REASON)
        key = (_UNREADABLE_ORDER, 0, f"{list_id} (unreadable: {reason})")
        return [(4, 0, _SPACE_END[4], key), (6, 0, _SPACE_END[6], key)]
    out: list[Source] = []
    key = (_PREFIX_LIST_ORDER, 0, list_id)
    for text in cidrs:
        parsed = _parse_cidr(text)
        if parsed is None:
            warnings.append(f"skipped entry {text!r} of prefix list {list_id}: not a CIDR")
            continue
        out.append((parsed[0], parsed[1], parsed[2], key))
    return out


# --- exposure ---------------------------------------------------------------------------------


def _exposures(
    group: SecurityGroup,
    parameters: RuleParameters,
    resolve: PrefixListResolver | None,
    warnings: list[str],
) -> list[Exposure]:
    blocked = parameters.blocked_ports
    protocols = parameters.protocols
    families = parameters.families
    resolved: dict[str, list[Source]] = {}
    # Each permission that could open a blocked port, once: the in-scope protocols it opens,
    # its ports, and its sources of the in-scope families.
    relevant: list[tuple[tuple[str, ...], int, int, list[Source]]] = []
    for permission in group.permissions:
        if permission.protocol == ALL_PROTOCOLS:
            low, high, opens = 0, MAX_PORT, protocols
        elif permission.ports is not None and permission.protocol in protocols:
            (low, high), opens = permission.ports, (permission.protocol,)
        else:
            continue
        if not (permission.ipv4 or permission.ipv6 or permission.prefix_lists):
            continue
        if not blocked.overlaps(low, high):
            continue
        sources = _sources(permission, parameters, resolve, resolved, warnings)
        sources = [source for source in sources if source[0] in families]
        if sources:
            relevant.append((opens, low, high, sources))
    if not relevant:
        return []
    # Most groups stop here: when all their sources pooled cannot cover a whole address space,
    # no port can be open, and the port line need not be cut.
    labels = _whole_space_labels([s for *_, sources in relevant for s in sources], families)
    if not labels:
        return []
    if len(relevant) == 1:  # one permission opens it: its blocked ports are the answer
        opens, low, high, _ = relevant[0]
        ranges = blocked.intersect_range(low, high)
        return [Exposure(protocol, ports, labels) for protocol in opens for ports in ranges]
    out: list[Exposure] = []
    for protocol in protocols:
        entries = [(low, high, srcs) for opens, low, high, srcs in relevant if protocol in opens]
        out.extend(_open_ports(protocol, entries, families, blocked))
    return out


def _open_ports(
    protocol: str,
    entries: list[tuple[int, int, list[Source]]],
    families: tuple[int, ...],
    blocked: PortSet,
) -> list[Exposure]:
    """Cut the port line at every permission's edge; decide each piece by its pooled sources."""
    if not entries:
        return []
    edges = sorted({low for low, _, _ in entries} | {high + 1 for _, high, _ in entries})
    out: list[Exposure] = []
    decided: dict[tuple[int, ...], tuple[str, ...]] = {}  # same permissions, same answer
    for start, stop in itertools.pairwise(edges):
        if not blocked.overlaps(start, stop - 1):
            continue
        covering = tuple(
            i for i, (low, high, _) in enumerate(entries) if low <= start and high >= stop - 1
        )
        if not covering:
            continue
        labels = decided.get(covering)
        if labels is None:
            pooled = [source for i in covering for source in entries[i][2]]
            labels = decided[covering] = _whole_space_labels(pooled, families)
        if not labels:
            continue
        for ports in blocked.intersect_range(start, stop - 1):
            last = out[-1] if out else None
            if last and last.sources == labels and last.ports[1] + 1 == ports[0]:
                out[-1] = Exposure(protocol, (last.ports[0], ports[1]), labels)
            else:
                out.append(Exposure(protocol, ports, labels))
    return out


def _whole_space_labels(pooled: list[Source], families: tuple[int, ...]) -> tuple[str, ...]:
    """The labels of the sources that together cover a whole address space, or ``()``."""
    if len(pooled) == 1:  # the usual case: one source, the whole space or not
        family, first, last, key = pooled[0]
        whole = family in families and first == 0 and last == _SPACE_END[family]
        return (key[2],) if whole else ()
    keys: set[tuple[int, int, str]] = set()
    for family in families:
        end = _SPACE_END[family]
        spans = sorted((first, last, key) for fam, first, last, key in pooled if fam == family)
        if not spans:
            continue
        # A source that is the whole space opens the port alone; name each one. Then check the
        # other sources together, in address order, naming only those that extend the cover, so
        # that 10.0.0.0/8 inside 0.0.0.0/1 is not blamed and every cause of the opening is named.
        reach, used = -1, []
        for first, last, key in spans:
            if first == 0 and last == end:
                keys.add(key)
            elif first > reach + 1:
                break
            elif last > reach:
                reach = last
                used.append(key)
        if reach >= end:
            keys.update(used)
    return tuple(label for _, _, label in sorted(keys))


# --- exemptions -------------------------------------------------------------------------------

_EXEMPTION = re.compile(r"^\s*(?P<ports>.*?)(?:\s+until\s+(?P<until>\S+))?\s*$", re.IGNORECASE)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True, slots=True)
class _Exemption:
    ports: PortSet | None = None
    note: str | None = None


_NO_EXEMPTION = _Exemption()


def _read_exemption(
    group: SecurityGroup, parameters: RuleParameters, today: date | None
) -> _Exemption:
    key = parameters.exempt_tag_key
    if key is None or key not in group.tags:
        return _NO_EXEMPTION
    today = today or datetime.now(UTC).date()
    value = group.tags[key]
    match = _EXEMPTION.match(value)
    assert match is not None  # the pattern matches any string  # noqa: S101
    until = None
    if match["until"] is not None:
        if not _ISO_DATE.match(match["until"]):
            return _Exemption(
                note=f"Exemption tag {key} ignored: {match['until']!r} is not YYYY-MM-DD"
            )
        try:
            until = date.fromisoformat(match["until"])
        except ValueError:
            return _Exemption(note=f"Exemption tag {key} ignored: {match['until']} is not a date")
    try:
        ports = parse_ports(match["ports"], name=f"tag {key}", allow_all=True)
    except InvalidParameterError as exc:
        # The reason's first clause ("unknown token 'ssh'") says it; the rest is the grammar.
        return _Exemption(note=f"Exemption tag {key} ignored: {exc.reason.split(': ')[0]}")
    if until is not None and today > until:
        return _Exemption(note=f"Exemption tag {key} expired {until.isoformat()}")
    when = f"until {until.isoformat()}" if until else "with no end date"
    return _Exemption(ports=ports, note=f"by tag {key} {when}")
