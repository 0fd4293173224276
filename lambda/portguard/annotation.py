"""The annotation Config shows beside a verdict: which ports, from where, in 256 characters."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from portguard.decision import Exposure

MAX_ANNOTATION = 256
"""PutEvaluations rejects longer annotations."""

_MAX_SOURCES_SHOWN = 3


def describe_ports(protocol: str, ports: tuple[int, int]) -> str:
    """``tcp/22`` or ``tcp/20-23``."""
    low, high = ports
    return f"{protocol}/{low}" if low == high else f"{protocol}/{low}-{high}"


def render(head: str, exposures: Sequence[Exposure], tail: str = "") -> str:
    """Write ``head`` then each exposure, grouped by sources, then ``tail``, within the limit.

    Port items are never cut: when they do not all fit, the text names as many as fit, in
    ascending order, and ends with ``and N more``.

    >>> from portguard.decision import Exposure
    >>> render("Open to the internet: ", [Exposure("tcp", (22, 22), ("0.0.0.0/0",))])
    'Open to the internet: tcp/22 from 0.0.0.0/0'
    """
    groups: dict[tuple[str, ...], list[str]] = {}
    for exposure in exposures:
        groups.setdefault(exposure.sources, []).append(
            describe_ports(exposure.protocol, exposure.ports)
        )
    total = len(exposures)
    for shown in range(total, 0, -1):
        text = head + _body(groups, shown)
        if shown < total:
            text += f"; and {total - shown} more"
        text += tail
        if len(text) <= MAX_ANNOTATION:
            return text
    return _cut_at_word(head + _body(groups, 1) + (f"; and {total - 1} more" if total > 1 else ""))


def _body(groups: dict[tuple[str, ...], list[str]], limit: int) -> str:
    parts = []
    for sources, items in groups.items():
        if limit <= 0:
            break
        taken = items[:limit]
        limit -= len(taken)
        parts.append(f"{', '.join(taken)} from {_sources(sources)}")
    return "; ".join(parts)


def _sources(sources: tuple[str, ...]) -> str:
    shown = ", ".join(sources[:_MAX_SOURCES_SHOWN])
    hidden = len(sources) - _MAX_SOURCES_SHOWN
    return f"{shown} and {hidden} other sources" if hidden > 0 else shown


def _cut_at_word(text: str) -> str:
    """Last resort for pathological inputs (a 128-character tag key and long sources)."""
    if len(text) <= MAX_ANNOTATION:
        return text
    cut = text[: MAX_ANNOTATION - 2]
    return cut[: cut.rfind(" ")].rstrip(",;") + " …"
