"""A stand-in for a terminal, for the tests of what the commands print on one."""

from __future__ import annotations

import io
import re

_COLOURS = re.compile(r"\x1b\[[0-9;]*m")


class Terminal(io.StringIO):
    """Output that says it is a terminal, as `make run`, `evaluate` and `scan` meet one; rich
    then takes its width from COLUMNS and writes colours."""

    def isatty(self) -> bool:
        return True

    def plain(self) -> str:
        """What was written, without the colours."""
        return _COLOURS.sub("", self.getvalue())
