"""Work on several threads, with a progress bar on a terminal, for ``scan``.

:func:`in_parallel` runs a function over items on a bounded number of threads and gives the
answers in the items' order; Ctrl-C stops it at once: the work in flight is asked to stop
(:attr:`Progress.stopped`) and nothing new starts. :class:`Progress` draws the bar on standard
error when it is a terminal, and does nothing otherwise: standard output carries only the
answer.
"""

from __future__ import annotations

import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from types import TracebackType

    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID

Item = TypeVar("Item")
Answer = TypeVar("Answer")


class Progress:
    """Counts what is done (``total`` of them, called ``unit``) and, with ``groups``, the groups
    read so far. Thread-safe. Draws on standard error only when it is a terminal."""

    def __init__(self, total: int, unit: str, *, groups: bool = True) -> None:
        self.total = total
        self.unit = unit
        self.counts_groups = groups
        self.stopped = threading.Event()
        self._lock = threading.Lock()
        self._groups = 0
        self._bar: RichProgress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> Progress:
        if sys.stderr.isatty():
            self._bar = _rich_bar(self.unit, groups=self.counts_groups)
            self._bar.__enter__()
            # A total of 0 is one not known (an aggregator that did not count): no bar, a count.
            self._task = self._bar.add_task("scan", total=self.total or None, groups=0)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.__exit__(kind, error, traceback)

    def group(self) -> None:
        """One more group read."""
        if self._bar is not None and self._task is not None:
            with self._lock:
                self._groups += 1
                self._bar.update(self._task, groups=self._groups)

    def done(self, count: int = 1) -> None:
        """``count`` more of the ``total`` done."""
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task, count)


def _rich_bar(unit: str, *, groups: bool) -> RichProgress:
    from rich.console import Console  # noqa: PLC0415 - only a terminal pays for rich
    from rich.progress import (  # noqa: PLC0415
        BarColumn,
        MofNCompleteColumn,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.progress import Progress as RichProgress  # noqa: PLC0415

    return RichProgress(
        SpinnerColumn(),
        TextColumn("scanning"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(f"{unit}, {{task.fields[groups]}} groups" if groups else unit),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )


def in_parallel(
    items: Sequence[Item],
    work: Callable[[Item], Answer],
    *,
    workers: int,
    progress: Progress,
) -> list[Answer]:
    """``work(item)`` for each item, on at most ``workers`` threads, in the items' order. On
    Ctrl-C (or any exception here) ``progress.stopped`` is set for the work in flight, no other
    item starts, and the exception goes on without waiting for the rest."""
    executor = ThreadPoolExecutor(
        max_workers=max(1, min(workers, len(items))), thread_name_prefix="portguard-scan"
    )
    try:
        return list(executor.map(work, items))
    except BaseException:
        progress.stopped.set()
        executor.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        executor.shutdown(wait=True)
