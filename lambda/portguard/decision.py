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
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from functools import lru_cache
from typing import NamedTuple

from portguard.annotation import cut_at_word, port_items, render
from portguard.errors import InvalidParameterError, PrefixListUnavailableError
from portguard.model import ALL_PROTOCOLS, ConfigItem, SecurityGroup
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


class Verdict(NamedTuple):
    """The decision on one group: its compliance, the annotation for Config, and why."""

    compliance: Compliance
    annotation: str | None = None
    exposures: tuple[Exposure, ...] = ()
    """Offending ports that are not excused."""
    exempted: tuple[Exposure, ...] = ()
    """Offending ports excused by a valid exemption tag."""
    warnings: tuple[str, ...] = ()


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

    open_now: Sequence[Exposure] = exposures
    excused: list[Exposure] = []
    if exemption.ports is not None:
        open_now = []
        for exposure in exposures:
            ports = PortSet([exposure.ports])
            excused.extend(_split(exposure, ports.intersection(exemption.ports).ranges))
            open_now.extend(_split(exposure, ports.difference(exemption.ports).ranges))

    if open_now:
        notes: tuple[str, ...] = ()
        if excused:
            ranges = len(port_items(excused))
            notes = (f"{ranges} port range{'s' if ranges > 1 else ''} exempted {exemption.note}",)
        elif exemption.note and exemption.ports is None:
            notes = (exemption.note,)
        open_now = tuple(open_now)
        annotation = render("Open to the internet", open_now, notes)
        return Verdict(Compliance.NON_COMPLIANT, annotation, open_now, tuple(excused),
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

Key = tuple[int, int, str]
"""A source's sort key and label: (kind, first address, label); kinds order the annotation."""
Source = tuple[int, int, int, Key, int]
"""(family, first address, last address, key, ends): ``ends`` has bit 1 when the source holds
its space's first address and bit 2 when it holds the last, so 3 is the whole space."""


def _make_source(family: int, first: int, last: int, key: Key) -> Source:
    return (family, first, last, key, (first == 0) | ((last == _SPACE_END[family]) << 1))


@lru_cache(maxsize=8192)
def _parse_cidr(text: str) -> Source | None:
    """A CIDR as a source labelled by itself; ``None`` when it is not one. Lenient: host bits
    allowed (``1.2.3.4/0`` is all of IPv4), any IPv6 spelling. Cached: a warm container meets
    the same few CIDRs in group after group."""
    try:
        net = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None
    family, first = net.version, int(net.network_address)
    return _make_source(family, first, int(net.broadcast_address), (family, first, str(net)))


def _cidr_sources(texts: tuple[str, ...], warnings: list[str]) -> list[Source]:
    out = []
    for text in texts:
        source = _parse_cidr(text)
        if source is None:
            warnings.append(f"skipped source {text!r}: not a CIDR")
        else:
            out.append(source)
    return out


def _prefix_list_sources(
    list_id: str,
    resolve: PrefixListResolver | None,
    resolved: dict[str, list[Source]],
    warnings: list[str],
) -> list[Source]:
    """A prefix list's entries, each labelled by the list; read once per group (``resolved``)."""
    if list_id not in resolved:
        resolved[list_id] = _read_prefix_list(list_id, resolve, warnings)
    return resolved[list_id]


def _read_prefix_list(
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
        return [_make_source(4, 0, _SPACE_END[4], key), _make_source(6, 0, _SPACE_END[6], key)]
    out: list[Source] = []
    key = (_PREFIX_LIST_ORDER, 0, list_id)
    for text in cidrs:
        parsed = _parse_cidr(text)
        if parsed is None:
            warnings.append(f"skipped entry {text!r} of prefix list {list_id}: not a CIDR")
            continue
        out.append((parsed[0], parsed[1], parsed[2], key, parsed[4]))
    # A list whose entries cover a whole space (0.0.0.0/1 and 128.0.0.0/1) opens ports by itself,
    # as 0.0.0.0/0 does: it becomes one whole-space source, so no port line is cut for it.
    for family in _covering_families(_ends_mask(out)):
        if _cover_keys(out, (family,)):
            out = [s for s in out if s[0] != family]
            out.append(_make_source(family, 0, _SPACE_END[family], key))
    return out


# --- exposure ---------------------------------------------------------------------------------


_Relevant = tuple[tuple[str, ...], int, int, list[Key], list[Source]]
"""A permission that could open a blocked port: the in-scope protocols it opens, its ports, the
keys of its sources that are a whole address space (each opens the ports alone), and its other
sources of the in-scope families (which can open them only pooled with others)."""


def _exposures(
    group: SecurityGroup,
    parameters: RuleParameters,
    resolve: PrefixListResolver | None,
    warnings: list[str],
) -> list[Exposure]:
    blocked, protocols, families = (
        parameters.blocked_ports,
        parameters.protocols,
        parameters.families,
    )
    relevant, ends = _relevant(group, parameters, resolve, warnings)
    if not relevant:
        return []
    opened: dict[str, list[tuple[int, int, list[Key]]]] = {p: [] for p in protocols}
    for opens, low, high, whole, _ in relevant:
        if whole:
            for protocol in opens:
                opened[protocol].append((low, high, whole))
    # Partial sources can cover a space only if one holds its first address and one its last:
    # private ranges and hosts never do, so the port line is cut and pooled only when they might
    # (0.0.0.0/1 on one permission and 128.0.0.0/1 on another).
    if _covering_families(ends):
        for protocol in protocols:
            entries = [(low, high, part) for opens, low, high, _, part in relevant
                       if part and protocol in opens]  # fmt: skip
            opened[protocol].extend(_pooled_covers(entries, families, blocked))
    out: list[Exposure] = []
    for protocol in protocols:
        if opened[protocol]:
            out.extend(_blocked_exposures(protocol, opened[protocol], blocked))
    return out


def _relevant(
    group: SecurityGroup,
    parameters: RuleParameters,
    resolve: PrefixListResolver | None,
    warnings: list[str],
) -> tuple[list[_Relevant], int]:
    """Each permission that could open a blocked port, read once for both protocols; and the
    :func:`_ends_mask` of all their partial sources.

    This runs for every permission of every group, so it is written for speed: one loop over
    the sources, each parsed once per container (:func:`_parse_cidr`)."""
    blocked, protocols, families = (
        parameters.blocked_ports,
        parameters.protocols,
        parameters.families,
    )
    relevant: list[_Relevant] = []
    ends = 0
    resolved: dict[str, list[Source]] = {}
    for protocol, ports, ipv4, ipv6, prefix_lists in group.permissions:
        if protocol == ALL_PROTOCOLS:
            low, high, opens = 0, MAX_PORT, protocols
        elif ports is not None and protocol in protocols:
            (low, high), opens = ports, (protocol,)
        else:
            continue
        if not blocked.overlaps(low, high):
            continue
        sources = _cidr_sources(ipv4 + ipv6 if ipv6 else ipv4, warnings)
        if prefix_lists and parameters.resolve_prefix_lists:
            for list_id in prefix_lists:
                sources += _prefix_list_sources(list_id, resolve, resolved, warnings)
        whole: list[Key] = []
        partial: list[Source] = []
        for source in sources:
            family, _, _, key, edges = source
            if family not in families:
                continue
            if edges == 3:
                whole.append(key)
            else:
                partial.append(source)
                ends |= edges << _END_BITS_SHIFT[family]
        if whole or partial:
            relevant.append((opens, low, high, whole, partial))
    return relevant, ends


def _pooled_covers(
    entries: list[tuple[int, int, list[Source]]], families: tuple[int, ...], blocked: PortSet
) -> list[tuple[int, int, list[Key]]]:
    """Cut the port line at every permission's edge; keep the pieces whose pooled sources cover
    a whole address space, with the keys of the sources that do."""
    if not entries:
        return []
    # Pieces whose permissions together miss an end of every space are not pooled at all.
    masks = [_ends_mask(part) for _, _, part in entries]
    edges = sorted({low for low, _, _ in entries} | {high + 1 for _, high, _ in entries})
    out: list[tuple[int, int, list[Key]]] = []
    decided: dict[tuple[int, ...], list[Key]] = {}  # same permissions, same answer
    for start, stop in itertools.pairwise(edges):
        last = stop - 1
        if not blocked.overlaps(start, last):
            continue
        covering = tuple([i for i, (low, high, _) in enumerate(entries)
                          if low <= start and high >= last])  # fmt: skip
        if not covering:
            continue
        keys = decided.get(covering)
        if keys is None:
            mask = 0
            for i in covering:
                mask |= masks[i]
            keys = []
            if _covering_families(mask):
                pooled = [source for i in covering for source in entries[i][2]]
                keys = _cover_keys(pooled, families)
            decided[covering] = keys
        if keys:
            out.append((start, last, keys))
    return out


_END_BITS_SHIFT = {4: 0, 6: 2}
"""Where each family's ``ends`` bits sit in a mask of both: IPv4 in bits 1-2, IPv6 in 3-4."""


def _ends_mask(sources: list[Source]) -> int:
    """Which ends of each space the sources hold, together."""
    mask = 0
    for family, _, _, _, edges in sources:
        mask |= edges << _END_BITS_SHIFT[family]
    return mask


def _covering_families(mask: int) -> list[int]:
    """The families whose first and last addresses are both held: only sources of those can
    cover a whole space between them."""
    return [family for family, shift in _END_BITS_SHIFT.items() if (mask >> shift) & 3 == 3]


def _blocked_exposures(
    protocol: str, opened: list[tuple[int, int, list[Key]]], blocked: PortSet
) -> Sequence[Exposure]:
    """The blocked ports inside the opened intervals (which may overlap), each named with the
    keys of every interval that opens it; consecutive ports with the same sources merged."""
    merged: list[tuple[int, int, tuple[str, ...]]] = []
    if len(opened) == 1:  # the usual case: one permission opens it
        low, high, keys = opened[0]
        merged.append((low, high, _labels(keys)))
    else:
        # Cut where intervals start and end; join neighbours that end up with the same sources,
        # so that each stretch is intersected with the blocked ports once.
        edges = sorted({low for low, _, _ in opened} | {high + 1 for _, high, _ in opened})
        for start, stop in itertools.pairwise(edges):
            keys = [k for low, high, ks in opened if low <= start and high >= stop - 1 for k in ks]
            if not keys:
                continue
            labels = _labels(keys)
            if merged and merged[-1][2] == labels and merged[-1][1] + 1 == start:
                merged[-1] = (merged[-1][0], stop - 1, labels)
            else:
                merged.append((start, stop - 1, labels))
    if len(merged) == 1:
        return _stretch_exposures(protocol, *merged[0], blocked)
    return [e for low, high, labels in merged
            for e in _stretch_exposures(protocol, low, high, labels, blocked)]  # fmt: skip


@lru_cache(maxsize=1024)
def _stretch_exposures(
    protocol: str, low: int, high: int, labels: tuple[str, ...], blocked: PortSet
) -> tuple[Exposure, ...]:
    """The blocked ports of one stretch ``low..high`` opened by ``labels``. Cached: the same few
    stretches recur group after group (``0.0.0.0/0`` on every port, on 22, on 3389), and a ``-1``
    rule makes one exposure per blocked range, which would otherwise be built anew each time."""
    return tuple(Exposure(protocol, ports, labels) for ports in blocked.intersect_range(low, high))


def _labels(keys: list[Key]) -> tuple[str, ...]:
    """Source labels in report order (IPv4, IPv6, prefix lists, unreadable lists), once each."""
    if len(keys) == 1:
        return (keys[0][2],)
    return tuple(label for _, _, label in sorted(set(keys)))


def _cover_keys(pooled: list[Source], families: tuple[int, ...]) -> list[Key]:
    """The keys of the sources that together cover a whole address space, or ``[]``.

    The sweep goes in address order and keeps only the sources that push the covered prefix
    further, so that 10.0.0.0/8 inside 0.0.0.0/1 is not blamed."""
    keys: list[Key] = []
    for family in families:
        end = _SPACE_END[family]
        # Widest first among spans that start together: 0.0.0.0/2 beside 0.0.0.0/1 is not blamed.
        spans = sorted((first, -last, key) for fam, first, last, key, _ in pooled if fam == family)
        reach, used = -1, []
        for first, negative_last, key in spans:
            last = -negative_last
            if first > reach + 1:
                break
            if last > reach:
                reach = last
                used.append(key)
        if reach >= end:
            keys.extend(used)
    return keys


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
