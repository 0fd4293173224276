"""How every command runs: any failure exits 2 with one line; a closed standard output ends
the output quietly.

Pipelines read the exit status, and 1 means "a group is NON_COMPLIANT", nothing else. An
exception left to Python would exit 1 with a traceback, so none is: an unexpected one becomes
``portguard COMMAND: what went wrong`` on standard error and exit status 2. With
``PORTGUARD_DEBUG=1`` in the environment its traceback is printed too.

A reader that leaves early (``portguard evaluate --format json sgs.json | head -1``) closes the
pipe, and every later write fails with ``BrokenPipeError``. Standard output is wrapped so that
from then on what is written is discarded: the command finishes its work (a remediation is never
stopped half-way by it) and exits with the status of its answer, which it knows whether or not
anyone read it all. The descriptor is pointed at the null device, Python's documented recipe, so
that the interpreter's own last flush at exit fails nowhere and prints nothing.
"""

from __future__ import annotations

import io
import os
import sys
import traceback
from typing import TYPE_CHECKING, TextIO, cast

from portguard_cli.results import EXIT_ERROR

if TYPE_CHECKING:
    from collections.abc import Callable

DEBUG_VARIABLE = "PORTGUARD_DEBUG"
"""Set to 1 to get the traceback of an unexpected failure, under its one line."""

EXIT_INTERRUPTED = 130
"""Ctrl-C, as shells report a command stopped by SIGINT."""


def run_guarded(command: str, work: Callable[[], int]) -> int:
    """``work()``'s exit status, with standard output guarded against a reader that left; any
    exception it raises is said in one line naming ``command`` (exit status 2)."""
    stdout = sys.stdout
    guard = ReaderGoneStream(stdout) if stdout is not None else None
    if guard is not None:
        sys.stdout = cast("TextIO", guard)
    try:
        return work()
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as error:  # noqa: BLE001 - the point: nothing leaves as a traceback
        print(f"{command}: {describe_failure(error)}", file=sys.stderr)
        if os.environ.get(DEBUG_VARIABLE, "") not in ("", "0"):
            traceback.print_exception(error, file=sys.stderr)
        return EXIT_ERROR
    finally:
        if guard is not None:
            guard.flush()  # what is still buffered, while a closed pipe is still forgiven
            sys.stdout = stdout


def describe_failure(error: BaseException) -> str:
    """An unexpected failure in a few plain words, with what to do."""
    if isinstance(error, MemoryError):
        return "out of memory (the input may be too large)"
    if isinstance(error, RecursionError):
        return "the input is nested too deeply to read"
    if isinstance(error, OSError) and error.strerror:
        where = f" ({error.filename})" if error.filename else ""
        return f"{error.strerror}{where}"
    detail = f": {error}" if str(error) else ""
    return (
        f"unexpected error, a bug in portguard ({type(error).__name__}{detail}); "
        f"{DEBUG_VARIABLE}=1 shows where, please report it"
    )


class ReaderGoneStream(io.TextIOBase):
    """A text stream that forwards to ``stream`` until its reader has gone (a closed pipe),
    then discards what is written instead of raising."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self._stream = stream
        self.reader_gone = False

    def write(self, text: str) -> int:
        if not self.reader_gone:
            try:
                self._stream.write(text)
            except BrokenPipeError:
                self._discard_from_now_on()
        return len(text)

    def flush(self) -> None:
        if not self.reader_gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._discard_from_now_on()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]  # io declares it an attribute
        return self._stream.encoding

    def _discard_from_now_on(self) -> None:
        self.reader_gone = True
        try:
            descriptor = self._stream.fileno()
        except (OSError, ValueError, AttributeError):  # not a file (a test's capture)
            return
        # What is left in the stream's buffer is flushed at exit: to the null device.
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, descriptor)
        finally:
            os.close(null)
