"""The annotation Config shows beside a verdict: which ports, from where, in 256 characters.

This is the one place where the decision's values become words: the decision, the remediation
plan and the command line pass :class:`~portguard.model.Exposure`, :class:`~portguard.model.Source`
and :class:`~portguard.model.Exemption` values around, and nothing parses these words back.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from portguard.model import ExemptionStatus, SourceKind

if TYPE_CHECKING:
    from collections.abc import Sequence

    from portguard.model import Exemption, Exposure, Source

MAX_ANNOTATION = 256
"""PutEvaluations rejects longer annotations."""

_MAX_SOURCES_SHOWN = 3
_MAX_REASON = 60
"""An unreadable prefix list's reason is cut to this, so the ports keep their room."""


def annotate(
    open_now: Sequence[Exposure], excused: Sequence[Exposure], exemption: Exemption | None
) -> str | None:
    """A verdict's annotation: the ports open to the internet and their sources, with what an
    exemption tag excused or why it excused nothing; ``None`` when there is nothing to say.

    >>> from portguard.decision import parse_cidr
    >>> from portguard.model import Exposure
    >>> annotate([Exposure("tcp", (22, 22), (parse_cidr("0.0.0.0/0").source,))], [], None)
    'Open to the internet from 0.0.0.0/0: tcp/22'
    """
    if not excused or exemption is None:
        problem = _exemption_problem(exemption)
        if open_now:
            return render("Open to the internet", open_now, (problem,) if problem else ())
        return cut_at_word(problem) if problem else None
    until = f"until {exemption.until.isoformat()}" if exemption.until else "with no end date"
    by_tag = f"by tag {exemption.tag_key} {until}"
    if open_now:
        ranges = len(port_items(excused))
        note = f"{ranges} port range{'s' if ranges > 1 else ''} exempted {by_tag}"
        return render("Open to the internet", open_now, (note,))
    return render(f"Exempted {by_tag}, open to the internet", excused)


def _exemption_problem(exemption: Exemption | None) -> str | None:
    """Why an exemption tag excuses nothing (expired, unreadable), or ``None``."""
    if exemption is None or exemption.status is ExemptionStatus.VALID:
        return None
    if exemption.status is ExemptionStatus.EXPIRED and exemption.until is not None:
        return f"Exemption tag {exemption.tag_key} expired {exemption.until.isoformat()}"
    return f"Exemption tag {exemption.tag_key} ignored: {exemption.problem}"


def describe_source(source: Source) -> str:
    """``0.0.0.0/0``, ``pl-0123456789abcdef0``, or ``pl-… (unreadable: AccessDenied)``."""
    if source.kind is SourceKind.UNREADABLE_PREFIX_LIST:
        return f"{source.name} (unreadable: {cut_at_word(source.reason, _MAX_REASON)})"
    return source.name


def describe_ports(protocol: str, ports: tuple[int, int]) -> str:
    """``tcp/22`` or ``tcp/20-23``."""
    low, high = ports
    return f"{protocol}/{low}" if low == high else f"{protocol}/{low}-{high}"


def port_items(exposures: Sequence[Exposure]) -> list[str]:
    """Each protocol's offending ports in ascending order, consecutive ports merged whatever
    their sources: ``['tcp/20-23', 'tcp/3389', 'udp/53']``."""
    return _merged_items(sorted(exposures))


def _merged_items(ordered: Sequence[Exposure]) -> list[str]:
    out: list[str] = []
    protocol, low, high = "", -2, -2
    for this, (first, last), _ in ordered:
        if this == protocol and first <= high + 1:
            high = max(high, last)
            continue
        if protocol:
            out.append(f"{protocol}/{low}" if low == high else f"{protocol}/{low}-{high}")
        protocol, low, high = this, first, last
    if protocol:
        out.append(f"{protocol}/{low}" if low == high else f"{protocol}/{low}-{high}")
    return out


def render(lead: str, exposures: Sequence[Exposure], notes: Sequence[str] = ()) -> str:
    """``[notes. ]<lead> from <sources>: <ports>[, and N more]``, in at most 256 characters.

    Port items are never cut. When they do not all fit, the text names the lowest ones and ends
    with ``and N more``; to make room it first shows fewer sources (``and K other sources``),
    and drops the notes only as a last resort.

    >>> from portguard.decision import parse_cidr
    >>> from portguard.model import Exposure
    >>> render("Open to the internet", [Exposure("tcp", (22, 22), (parse_cidr("::/0").source,))])
    'Open to the internet from ::/0: tcp/22'
    """
    return _render(lead, tuple(exposures), tuple(notes))


@lru_cache(maxsize=4096)
def _render(lead: str, exposures: tuple[Exposure, ...], notes: tuple[str, ...]) -> str:
    """:func:`render`, cached: the same few texts recur group after group (``0.0.0.0/0`` on 22,
    a ``-1`` rule's forty port ranges), and a long one costs as much as reading a group."""
    ordered = sorted(exposures)  # by protocol and ports (no two exposures share both)
    items = _merged_items(ordered)
    named = dict.fromkeys(source for exposure in ordered for source in exposure.sources)
    sources = list(dict.fromkeys(map(describe_source, named)))
    for prefix in (_notes(notes), ""):
        for shown in range(min(_MAX_SOURCES_SHOWN, len(sources)), -1, -1):
            head = f"{prefix}{lead} from {_sources(sources, shown)}: "
            count = _fitting(items, MAX_ANNOTATION - len(head))
            if count:
                more = len(items) - count
                return head + ", ".join(items[:count]) + (f", and {more} more" if more else "")
        if not prefix:
            break
    # Only a lead longer than the limit gets here (a 128-character tag key in it, say).
    return cut_at_word(
        f"{lead}: {items[0]}" + (f", and {len(items) - 1} more" if len(items) > 1 else "")
    )


def _fitting(items: list[str], room: int) -> int:
    """How many of ``items`` fit in ``room`` characters, with ``, and N more`` when not all."""
    count, length = 0, -2  # no ", " before the first item
    for item in items:
        if length + len(item) + 2 > room:
            break
        length += len(item) + 2
        count += 1
    else:
        return count  # all of them: no "and N more"
    # Make room for ", and N more" (11 characters and N's digits), one item at a time.
    while count and length + 11 + len(str(len(items) - count)) > room:
        count -= 1
        length -= len(items[count]) + 2
    return count


def _notes(notes: Sequence[str]) -> str:
    return "".join(f"{note}. " for note in notes)


def _sources(sources: list[str], shown: int) -> str:
    if shown == 0:
        return f"{len(sources)} sources" if len(sources) != 1 else "1 source"
    hidden = len(sources) - shown
    text = ", ".join(sources[:shown])
    if hidden > 0:
        text += f" and {hidden} other source{'s' if hidden > 1 else ''}"
    return text


def cut_at_word(text: str, limit: int = MAX_ANNOTATION) -> str:
    """``text`` within ``limit`` characters, cut at a space (never in a word) and marked ``…``."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > 0 else cut).rstrip(",;:. ") + "…"
