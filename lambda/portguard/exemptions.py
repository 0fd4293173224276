"""The exemption tag's grammar: ``<exemptTagKey>`` = ``PORTS`` or ``PORTS until YYYY-MM-DD``.

PORTS is the ``blockedPorts`` grammar (ports, ranges, presets) or ``all``; the ports are excused
through the given day (UTC), or with no end date. A value that does not parse excuses nothing,
and the verdict says why.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from portguard.errors import InvalidParameterError
from portguard.model import Exemption, ExemptionStatus
from portguard.parameters import parse_ports

if TYPE_CHECKING:
    from collections.abc import Mapping

_EXEMPTION = re.compile(r"^\s*(?P<ports>.*?)(?:\s+until\s+(?P<until>\S+))?\s*$", re.IGNORECASE)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)


def read_exemption(
    tags: Mapping[str, str], tag_key: str | None, today: date | None
) -> Exemption | None:
    """The exemption the group's ``tag_key`` tag says, judged on ``today`` (UTC; default: now);
    ``None`` when exemptions are off (no ``tag_key``) or the group has no such tag.

    >>> read_exemption({"ex": "22 until 2030-01-31"}, "ex", date(2026, 1, 1)).status
    <ExemptionStatus.VALID: 'valid'>
    """
    if tag_key is None or tag_key not in tags:
        return None
    match = _EXEMPTION.match(tags[tag_key])
    assert match is not None  # the pattern matches any string  # noqa: S101
    until = None
    if match["until"] is not None:
        if not _ISO_DATE.match(match["until"]):
            return _unreadable(tag_key, f"{match['until']!r} is not YYYY-MM-DD")
        try:
            until = date.fromisoformat(match["until"])
        except ValueError:
            return _unreadable(tag_key, f"{match['until']} is not a date")
    try:
        ports = parse_ports(match["ports"], name=f"tag {tag_key}", allow_all=True)
    except InvalidParameterError as exc:
        # The reason's first clause ("unknown token 'ssh'") says it; the rest is the grammar.
        return _unreadable(tag_key, exc.reason.split(": ")[0])
    if until is not None and (today or datetime.now(UTC).date()) > until:
        return Exemption(tag_key, ExemptionStatus.EXPIRED, until=until)
    return Exemption(tag_key, ExemptionStatus.VALID, ports, until)


def _unreadable(tag_key: str, problem: str) -> Exemption:
    return Exemption(tag_key, ExemptionStatus.UNREADABLE, problem=problem)
