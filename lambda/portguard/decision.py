"""The decision: is a port in scope open to the whole internet, and is it excused?

For a protocol *p* and port *n*, the sources of every ingress permission that allows (*p*, *n*)
are pooled; the port is open when their union covers all of ``0.0.0.0/0`` or all of ``::/0``.

How it is decided, without ever listing ports or addresses one by one:

1. Each permission that could open a blocked port becomes an :class:`Opening`: the protocols and
   ports it opens, and its sources of the families in scope as :class:`Span` values (integer
   address intervals; each CIDR is parsed once per container, a prefix list's entries are spans
   named by the list).
2. A source whose span is a whole address space opens the opening's ports by itself. The other
   sources open ports only pooled with those of every opening over the same ports: the port line
   is cut at each opening's edges, and each piece's spans are swept into a :class:`Coverage` per
   family. Sources can cover a space together only if one holds its first address and one its
   last (private ranges and hosts never do), so the port line is cut only when they might.
3. The blocked ports inside what is open become :class:`~portguard.model.Exposure` values, each
   naming the sources that open it.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple

from portguard.annotation import annotate
from portguard.errors import PrefixListUnavailableError
from portguard.exemptions import read_exemption
from portguard.model import (
    ALL_PROTOCOLS,
    LAST_ADDRESS,
    NOT_APPLICABLE,
    Compliance,
    Exemption,
    ExemptionStatus,
    Exposure,
    Family,
    Source,
    SourceKind,
    Verdict,
)
from portguard.ports import MAX_PORT, PortSet

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import date

    from portguard.model import ConfigItem, SecurityGroup
    from portguard.parameters import RuleParameters

PrefixListResolver = Callable[[str], Sequence[str]]
"""Returns a managed prefix list's CIDRs; raises :class:`PrefixListUnavailableError`."""


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
    exemption = read_exemption(group.tags, parameters.exempt_tag_key, today)
    open_now, excused = _excuse(exposures, exemption)
    return Verdict(
        Compliance.NON_COMPLIANT if open_now else Compliance.COMPLIANT,
        annotate(open_now, excused, exemption),
        open_now,
        excused,
        tuple(warnings),
        exemption,
    )


def _excuse(
    exposures: list[Exposure], exemption: Exemption | None
) -> tuple[tuple[Exposure, ...], tuple[Exposure, ...]]:
    """The exposures still open, and those a valid exemption excuses (split where it ends)."""
    if exemption is None or exemption.status is not ExemptionStatus.VALID:
        return tuple(exposures), ()
    open_now: list[Exposure] = []
    excused: list[Exposure] = []
    for exposure in exposures:
        ports = PortSet([exposure.ports])
        excused += [exposure._replace(ports=r) for r in ports.intersection(exemption.ports).ranges]
        open_now += [exposure._replace(ports=r) for r in ports.difference(exemption.ports).ranges]
    return tuple(open_now), tuple(excused)


# --- sources as address spans ------------------------------------------------------------------


class Span(NamedTuple):
    """The addresses ``first``..``last`` of one family, and the source they come from. Make one
    with :meth:`of`, which says whether it is the whole space."""

    family: Family
    first: int
    last: int
    source: Source
    whole: bool
    """Whether it is its family's whole space (``0.0.0.0/0``, ``::/0``)."""

    @classmethod
    def of(cls, family: Family, first: int, last: int, source: Source) -> Span:
        return cls(family, first, last, source, first == 0 and last == LAST_ADDRESS[family])


def _whole_space(family: Family, source: Source) -> Span:
    return Span.of(family, 0, LAST_ADDRESS[family], source)


_CIDR_KINDS = {Family.IPV4: SourceKind.IPV4_CIDR, Family.IPV6: SourceKind.IPV6_CIDR}


@lru_cache(maxsize=8192)
def parse_cidr(text: str) -> Span | None:
    """A CIDR as the span it covers, named by itself; ``None`` when it is not one. Lenient: host
    bits allowed (``1.2.3.4/0`` is all of IPv4), any IPv6 spelling. Cached: a warm container
    meets the same few CIDRs in group after group.

    >>> parse_cidr("10.1.2.3/8").source.name
    '10.0.0.0/8'
    """
    try:
        network = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None
    family, first = Family(network.version), int(network.network_address)
    source = Source(_CIDR_KINDS[family], first, str(network))
    return Span.of(family, first, int(network.broadcast_address), source)


class Coverage(NamedTuple):
    """How far pooled spans of one family reach from its first address without a gap, and the
    sources that pushed the reach there (a source inside what others already cover is not one
    of them: with ``0.0.0.0/1``, ``10.0.0.0/8`` and ``128.0.0.0/1``, ``10.0.0.0/8`` is not)."""

    family: Family
    reach: int
    sources: tuple[Source, ...]

    @property
    def whole(self) -> bool:
        return self.reach >= LAST_ADDRESS[self.family]


def coverage(spans: Iterable[Span], family: Family) -> Coverage:
    """Sweep ``spans`` of ``family`` in address order, the widest first among spans that start
    together (so that ``0.0.0.0/2`` beside ``0.0.0.0/1`` is not named)."""
    reach, sources = -1, []
    for span in sorted((s for s in spans if s.family == family), key=_sweep_order):
        if span.first > reach + 1:
            break  # a gap: nothing after it joins the cover from the first address
        if span.last > reach:
            reach = span.last
            sources.append(span.source)
    return Coverage(family, reach, tuple(sources))


def _sweep_order(span: Span) -> tuple[int, int, Source]:
    return (span.first, -span.last, span.source)


def _cidr_spans(texts: tuple[str, ...], warnings: list[str]) -> list[Span]:
    spans = []
    for text in texts:
        span = parse_cidr(text)
        if span is None:
            warnings.append(f"skipped source {text!r}: not a CIDR")
        else:
            spans.append(span)
    return spans


def _prefix_list_spans(
    list_id: str, resolve: PrefixListResolver | None, warnings: list[str]
) -> list[Span]:
    """A prefix list's entries as spans named by the list. A list that cannot be read fails
    closed: it could hold anything, so it is the whole of both spaces."""
    try:
        if resolve is None:
            raise PrefixListUnavailableError(list_id, "not resolved offline")
        cidrs = resolve(list_id)
    except PrefixListUnavailableError as exc:
        warnings.append(f"{exc}; counted as the whole internet")
        unreadable = Source(SourceKind.UNREADABLE_PREFIX_LIST, 0, list_id, exc.reason)
        return [_whole_space(family, unreadable) for family in Family]
    source = Source(SourceKind.PREFIX_LIST, 0, list_id)
    spans = []
    for text in cidrs:
        span = parse_cidr(text)
        if span is None:
            warnings.append(f"skipped entry {text!r} of prefix list {list_id}: not a CIDR")
        else:
            spans.append(Span(span.family, span.first, span.last, source, span.whole))
    # A list whose entries cover a whole space (0.0.0.0/1 and 128.0.0.0/1) opens ports by itself,
    # as 0.0.0.0/0 does: it becomes one whole-space span, so no port line is cut for it.
    for family in _both_ends_held(spans):
        if coverage(spans, family).whole:
            spans = [s for s in spans if s.family != family] + [_whole_space(family, source)]
    return spans


def _prefix_lists_spans(
    list_ids: tuple[str, ...],
    resolve: PrefixListResolver | None,
    read: dict[str, list[Span]],
    warnings: list[str],
) -> list[Span]:
    """The spans of several prefix lists, each list read once per group (``read``)."""
    spans = []
    for list_id in list_ids:
        if list_id not in read:
            read[list_id] = _prefix_list_spans(list_id, resolve, warnings)
        spans += read[list_id]
    return spans


# --- openings and what they open -------------------------------------------------------------


class Opening(NamedTuple):
    """A permission that may open blocked ports.

    ``protocols`` are the in-scope protocols it opens on ``low``..``high``; ``whole`` are its
    sources that are a whole address space (each opens those ports by itself); ``partial`` are
    the spans of its other in-scope sources, which open them only pooled with others.
    """

    protocols: tuple[str, ...]
    low: int
    high: int
    whole: tuple[Source, ...]
    partial: tuple[Span, ...]


Stretch = tuple[int, int, tuple[Source, ...]]
"""Ports ``low``..``high`` of one protocol, and the sources that open them."""


def _openings(
    group: SecurityGroup,
    parameters: RuleParameters,
    resolve: PrefixListResolver | None,
    warnings: list[str],
) -> list[Opening]:
    """Each permission of ``group`` that could open a blocked port, with its in-scope sources."""
    blocked, in_scope, families = (
        parameters.blocked_ports,
        parameters.protocols,
        parameters.families,
    )
    lists: dict[str, list[Span]] = {}  # each prefix list read once per group
    openings = []
    for permission in group.permissions:
        if permission.protocol == ALL_PROTOCOLS:
            low, high, protocols = 0, MAX_PORT, in_scope
        elif permission.ports is not None and permission.protocol in in_scope:
            (low, high), protocols = permission.ports, (permission.protocol,)
        else:
            continue
        if not blocked.overlaps(low, high):
            continue
        spans = _cidr_spans(permission.ipv4 + permission.ipv6, warnings)
        if permission.prefix_lists and parameters.resolve_prefix_lists:
            spans += _prefix_lists_spans(permission.prefix_lists, resolve, lists, warnings)
        whole: list[Source] = []
        partial: list[Span] = []
        for span in spans:
            if span.family in families:
                if span.whole:
                    whole.append(span.source)
                else:
                    partial.append(span)
        if whole or partial:
            openings.append(Opening(protocols, low, high, tuple(whole), tuple(partial)))
    return openings


def _exposures(
    group: SecurityGroup,
    parameters: RuleParameters,
    resolve: PrefixListResolver | None,
    warnings: list[str],
) -> list[Exposure]:
    """The blocked ports open to the internet, per protocol in report order."""
    openings = _openings(group, parameters, resolve, warnings)
    # Partial sources can cover a space only if they hold both its ends: private ranges and
    # hosts never do, so the port line is usually not cut for them at all.
    may_pool = bool(_both_ends_held([span for o in openings for span in o.partial]))
    exposures: list[Exposure] = []
    for protocol in parameters.protocols:
        opened: list[Stretch] = []  # what whole-space sources open, each by itself
        pooling: list[Opening] = []  # openings whose other sources may cover a space together
        for opening in openings:
            if protocol in opening.protocols:
                if opening.whole:
                    opened.append((opening.low, opening.high, opening.whole))
                if may_pool and opening.partial:
                    pooling.append(opening)
        if pooling:
            opened += _pooled(pooling, parameters.blocked_ports)
        if opened:
            exposures += _opened_exposures(protocol, tuple(opened), parameters.blocked_ports)
    return exposures


def _pooled(openings: list[Opening], blocked: PortSet) -> list[Stretch]:
    """The pieces of the port line where the partial sources of the openings over them cover a
    whole space together, with the sources that do."""
    edges = sorted({edge for o in openings for edge in (o.low, o.high + 1)})
    pieces: list[Stretch] = []
    decided: dict[tuple[int, ...], tuple[Source, ...]] = {}  # same openings, same answer
    for start, stop in itertools.pairwise(edges):
        last = stop - 1
        if not blocked.overlaps(start, last):
            continue
        over = tuple(i for i, o in enumerate(openings) if o.low <= start and o.high >= last)
        if over not in decided:
            decided[over] = _pooled_sources([span for i in over for span in openings[i].partial])
        if decided[over]:
            pieces.append((start, last, decided[over]))
    return pieces


def _both_ends_held(spans: list[Span]) -> list[Family]:
    """The families whose first address and last address ``spans`` hold: only in those can the
    spans cover the whole space between them."""
    starts = {span.family for span in spans if span.first == 0}
    if not starts:
        return []  # the usual case: private ranges and hosts do not start a space
    ends = {span.family for span in spans if span.last == LAST_ADDRESS[span.family]}
    return sorted(starts & ends)


def _pooled_sources(spans: list[Span]) -> tuple[Source, ...]:
    """The sources whose ``spans``, pooled, cover a whole space, or ``()``."""
    sources: list[Source] = []
    for family in _both_ends_held(spans):
        cover = coverage(spans, family)
        if cover.whole:
            sources += cover.sources
    return tuple(sources)


def _stretches(opened: Sequence[Stretch]) -> list[Stretch]:
    """Possibly overlapping stretches as disjoint ones, in port order, each naming every source
    that opens its ports (in report order, once); neighbours with the same sources joined."""
    edges: set[int] = set()
    for low, high, _ in opened:
        edges.update((low, high + 1))
    out: list[Stretch] = []
    for start, stop in itertools.pairwise(sorted(edges)):
        last = stop - 1
        named: set[Source] = set()
        for low, high, sources in opened:
            if low <= start and last <= high:
                named.update(sources)
        if not named:
            continue
        sources = tuple(sorted(named))
        if out and out[-1][2] == sources and out[-1][1] + 1 == start:
            out[-1] = (out[-1][0], last, sources)
        else:
            out.append((start, last, sources))
    return out


@lru_cache(maxsize=4096)
def _opened_exposures(
    protocol: str, opened: tuple[Stretch, ...], blocked: PortSet
) -> tuple[Exposure, ...]:
    """The blocked ports inside what ``opened`` opens, one exposure per blocked range of each
    stretch. Cached: the same few openings recur group after group (``0.0.0.0/0`` on 22, on
    3389, on every port), and one open on every port is forty exposures, built anew otherwise."""
    return tuple(
        Exposure(protocol, ports, sources)
        for low, high, sources in _stretches(opened)
        for ports in blocked.intersect_range(low, high)
    )
