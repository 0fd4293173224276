"""Sets of ports as sorted, disjoint, inclusive intervals: never a set of 65,536 ints."""

from __future__ import annotations

from bisect import bisect_right
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

MIN_PORT = 0
MAX_PORT = 65535

PortRange = tuple[int, int]
"""An inclusive range of ports ``(low, high)``."""


class PortSet:
    """An immutable set of ports stored as sorted, disjoint, non-adjacent inclusive ranges.

    >>> PortSet([(20, 21), (22, 22), (80, 80)]).ranges
    ((20, 22), (80, 80))
    """

    __slots__ = ("_hash", "_highs", "_ranges")

    def __init__(self, ranges: Iterable[PortRange] = ()) -> None:
        merged: list[list[int]] = []
        for low, high in sorted(ranges):
            if merged and low <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], high)
            else:
                merged.append([low, high])
        self._ranges: tuple[PortRange, ...] = tuple((lo, hi) for lo, hi in merged)
        # Each range's high end, ascending: bisect finds the first range that can reach a port.
        self._highs = [hi for _, hi in self._ranges]
        self._hash = hash(self._ranges)  # kept: the decision's caches hash the blocked ports

    @classmethod
    def all_ports(cls) -> PortSet:
        return cls([(MIN_PORT, MAX_PORT)])

    @property
    def ranges(self) -> tuple[PortRange, ...]:
        return self._ranges

    def __bool__(self) -> bool:
        return bool(self._ranges)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PortSet) and self._ranges == other._ranges

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"PortSet({list(self._ranges)!r})"

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and any(lo <= port <= hi for lo, hi in self._ranges)

    def __len__(self) -> int:
        """The number of ports in the set."""
        return sum(hi - lo + 1 for lo, hi in self._ranges)

    def union(self, other: PortSet) -> PortSet:
        return PortSet(self._ranges + other._ranges)

    def intersect_range(self, low: int, high: int) -> list[PortRange]:
        """The parts of this set that fall inside ``low..high``, in ascending order."""
        ranges = self._ranges
        if ranges and low <= ranges[0][0] and high >= ranges[-1][1]:
            return list(ranges)  # a -1 or 0-65535 permission: every range, as it is
        out: list[PortRange] = []
        for index in range(bisect_right(self._highs, low - 1), len(ranges)):
            lo, hi = ranges[index]
            if lo > high:
                break
            out.append((max(lo, low), min(hi, high)))
        return out

    def intersection(self, other: PortSet) -> PortSet:
        return PortSet(part for lo, hi in other._ranges for part in self.intersect_range(lo, hi))

    def overlaps(self, low: int, high: int) -> bool:
        """Whether any port of ``low..high`` is in the set (a bisection, not a scan)."""
        index = bisect_right(self._highs, low - 1)
        return index < len(self._ranges) and self._ranges[index][0] <= high

    def difference(self, other: PortSet) -> PortSet:
        out: list[PortRange] = []
        for lo, hi in self._ranges:
            start = lo
            for olo, ohi in other._ranges:
                if ohi < start or olo > hi:
                    continue
                if olo > start:
                    out.append((start, olo - 1))
                start = ohi + 1
                if start > hi:
                    break
            if start <= hi:
                out.append((start, hi))
        return PortSet(out)

    def describe(self) -> str:
        """Ranges written the way the blockedPorts grammar reads them: ``20-23,3389``."""
        return ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in self._ranges)
