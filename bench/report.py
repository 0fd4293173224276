"""Plain-text tables, goal checks and timing helpers shared by the sections."""

from __future__ import annotations

import cProfile
import gc
import io
import pstats
import statistics
import sys
import sysconfig
import timeit
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

DASH = "-"


@dataclass
class Row:
    figure: str
    measured: str
    baseline: str = DASH
    ratio: str = DASH
    goal: str = DASH
    result: str = DASH


@dataclass
class Section:
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.rows.append(row)

    def goal_ratio(
        self,
        figure: str,
        value: float,
        baseline: float,
        *,
        limit: float,
        unit: str,
        digits: int = 1,
    ) -> bool:
        """A row whose goal is ``value <= limit * baseline``; returns whether it is met."""
        ratio = value / baseline if baseline else float("inf")
        met = ratio <= limit
        shown = f"{ratio:.2f}"
        if shown == f"{limit:.2f}":  # do not let rounding hide which side of the goal it is
            shown = f"{ratio:.3f}"
        self.add(
            Row(
                figure,
                f"{value:.{digits}f} {unit}",
                f"{baseline:.{digits}f} {unit}",
                f"{shown}x",
                f"<= {limit:g}x",
                "PASS" if met else "MISS",
            )
        )
        return met

    def goal_max(
        self, figure: str, value: float, *, limit: float, unit: str, baseline: float | None = None
    ) -> bool:
        """A row whose goal is an absolute ceiling, ``value <= limit``; the baseline and the
        ratio are shown for context."""
        met = value <= limit
        self.add(
            Row(
                figure,
                f"{value:.1f} {unit}",
                DASH if baseline is None else f"{baseline:.1f} {unit}",
                f"{value / baseline:.2f}x" if baseline else DASH,
                f"<= {limit:g} {unit}",
                "PASS" if met else "MISS",
            )
        )
        return met

    def info_ratio(
        self, figure: str, value: float, baseline: float, *, unit: str, digits: int = 1
    ) -> None:
        """A row for context: a ratio to the baseline, no goal."""
        ratio = f"{value / baseline:.2f}x" if baseline else DASH
        self.add(Row(figure, f"{value:.{digits}f} {unit}", f"{baseline:.{digits}f} {unit}", ratio))

    def render(self) -> str:
        headers = Row("figure", "measured", "baseline", "ratio", "goal", "result")
        table = [headers, *self.rows]
        cols = list(zip(*[_cells(r) for r in table], strict=True))
        widths = [max(len(c) for c in col) for col in cols]
        lines = [f"== {self.title} =="]
        for index, row in enumerate(table):
            cells = _cells(row)
            first = cells[0].ljust(widths[0])
            rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
            lines.append("  ".join([first, *rest]).rstrip())
            if index == 0:
                lines.append("  ".join("-" * w for w in widths))
        lines.extend(f"  * {note}" for note in self.notes)
        return "\n".join(lines)

    @property
    def verdicts(self) -> list[tuple[str, str]]:
        return [(r.figure, r.result) for r in self.rows if r.result != DASH]


def _cells(row: Row) -> list[str]:
    return [row.figure, row.measured, row.baseline, row.ratio, row.goal, row.result]


def calibrate(fn: Callable[[], object], target: float = 0.2) -> int:
    """How many calls of ``fn`` take about ``target`` seconds (at least 1)."""
    timer = timeit.Timer(fn)
    number = 1
    while True:
        elapsed = timer.timeit(number)
        if elapsed >= target / 5 or number >= 1 << 20:
            return max(1, int(number * target / max(elapsed, 1e-9)))
        number *= 4


def interleaved(
    cases: dict[str, Callable[[], object]],
    *,
    repeat: int,
    target: float = 0.2,
    collector: bool = False,
) -> dict[str, list[float]]:
    """Seconds per call of each case, ``repeat`` samples each, cases alternating so that the
    machine's noise falls on all of them alike. Like ``timeit``, the collector is off while a
    sample runs, unless ``collector``: then it runs as in a program, and each sample starts after
    a collection, so that none pays for the garbage of the one before."""
    numbers = {name: calibrate(fn, target) for name, fn in cases.items()}
    setup = "gc.enable()" if collector else "pass"  # timeit's own recipe to keep it on
    timers = {name: timeit.Timer(fn, setup, globals={"gc": gc}) for name, fn in cases.items()}
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeat):
        for name, timer in timers.items():
            if collector:
                gc.collect()
            samples[name].append(timer.timeit(numbers[name]) / numbers[name])
    gc.collect()
    return samples


def best(samples: list[float]) -> float:
    """The figure of a micro-benchmark: the fastest sample (the least disturbed by the noise)."""
    return min(samples)


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def peak_traced(fn: Callable[[], object]) -> int:
    """The peak of Python's allocations (tracemalloc) while ``fn`` runs, in bytes, after a
    collection so that earlier garbage does not count."""
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def mib(n_bytes: float) -> float:
    return n_bytes / (1 << 20)


def profile_text(fn: Callable[[], object], calls: int, *, top: int = 15) -> str:
    """cProfile of ``calls`` calls of ``fn``: the hottest functions by own time, then portguard's
    functions by cumulative time; paths shortened."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        fn()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats("portguard", top)
    prefixes = sorted(
        {
            str(Path(__file__).resolve().parent.parent) + "/",
            sysconfig.get_paths()["purelib"] + "/",
            sysconfig.get_paths()["stdlib"] + "/",
            sys.prefix + "/",
        },
        key=len,
        reverse=True,
    )
    lines = []
    for line in out.getvalue().splitlines():
        if not line.strip() or line.lstrip().startswith(("List reduced", "Ordered by")):
            continue
        for prefix in prefixes:
            line = line.replace(prefix, "")  # noqa: PLW2901
        lines.append("    " + line.strip() if "function calls" in line else line)
    return "\n".join(lines)
