"""One result per security group, printed as a table for people or JSON for pipelines."""

from __future__ import annotations

import json
import sys
from enum import Enum
from operator import attrgetter
from typing import IO, TYPE_CHECKING, NamedTuple

from portguard.model import Compliance

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from rich.table import Table
    from rich.text import Text

    from portguard.model import SecurityGroup, Verdict

EXIT_COMPLIANT = 0
EXIT_NON_COMPLIANT = 1
EXIT_ERROR = 2

_ORDER = {Compliance.NON_COMPLIANT: 0, Compliance.COMPLIANT: 1, Compliance.NOT_APPLICABLE: 2}


class Result(NamedTuple):
    """A group's verdict and where it came from (an account and region, or a file). A named
    tuple: a scan or a file may have tens of thousands, and it is the cheapest immutable value
    to build."""

    group_id: str
    group_name: str | None
    vpc_id: str | None
    region: str | None
    compliance: Compliance
    annotation: str | None
    source: str
    warnings: tuple[str, ...] = ()
    """What was skipped reading the group (an unreadable CIDR or port, a malformed list), as
    the handler logs it."""
    account_id: str | None = None
    """The account that owns the group, when known (a scan always knows it)."""

    @classmethod
    def of(
        cls,
        verdict: Verdict,
        *,
        group_id: str,
        group_name: str | None,
        vpc_id: str | None,
        region: str | None,
        source: str,
        account_id: str | None = None,
    ) -> Result:
        return cls(
            group_id,
            group_name,
            vpc_id,
            region,
            verdict.compliance,
            verdict.annotation,
            source,
            verdict.warnings,
            account_id,
        )

    @classmethod
    def of_group(
        cls,
        verdict: Verdict,
        group: SecurityGroup,
        *,
        region: str | None,
        source: str,
        account_id: str | None = None,
    ) -> Result:
        """A result for a security group read from the EC2 API's shape."""
        return cls.of(
            verdict,
            group_id=group.group_id,
            group_name=group.group_name,
            vpc_id=group.vpc_id,
            region=region,
            source=source,
            account_id=account_id,
        )

    def as_json(self) -> dict[str, str | list[str] | None]:
        """The stable JSON fields (SPEC §3): groupId, groupName, vpcId, region, accountId (null
        when the input does not say), compliance, annotation, source, and warnings (a list of
        strings, empty when nothing was skipped)."""
        return {
            "groupId": self.group_id,
            "groupName": self.group_name,
            "vpcId": self.vpc_id,
            "region": self.region,
            "accountId": self.account_id,
            "compliance": self.compliance,  # a StrEnum: JSON writes its text
            "annotation": self.annotation,
            "source": self.source,
            "warnings": list(self.warnings),
        }


def ordered(results: Iterable[Result]) -> list[Result]:
    """Non-compliant first, then by account, region and group id."""
    return sorted(
        results,
        key=lambda r: (_ORDER[r.compliance], r.account_id or "", r.region or "", r.group_id),
    )


def exit_status(results: Sequence[Result], errors: Sequence[str]) -> int:
    """2 when anything could not be read (the answer is incomplete), else 1 when any group is
    NON_COMPLIANT, else 0."""
    if errors:
        return EXIT_ERROR
    if any(r.compliance is Compliance.NON_COMPLIANT for r in results):
        return EXIT_NON_COMPLIANT
    return EXIT_COMPLIANT


def report(
    results: Sequence[Result],
    errors: Sequence[str],
    output_format: str,
    *,
    by_account: bool = False,
    note: str | None = None,
) -> int:
    """Print the results to stdout as the user asked (``table`` or ``json``); the exit status.
    ``by_account`` and ``note``: see :func:`write_table`."""
    if output_format == "json":
        write_json(results, sys.stdout)
    else:
        write_table(results, sys.stdout, by_account=by_account, note=note)
    return exit_status(results, errors)


def write_json(results: Sequence[Result], out: IO[str]) -> None:
    """One JSON array of the results' objects (:meth:`Result.as_json`), non-compliant first:
    indented on a terminal, for people; otherwise, for pipelines, each object compact on a line
    of its own (``jq``, ``grep`` and ``head`` read it alike), written at once."""
    rows = [result.as_json() for result in ordered(results)]
    if out.isatty():
        text = json.dumps(rows, indent=2)
    elif rows:
        text = "[\n" + ",\n".join(map(_compact, rows)) + "\n]"
    else:
        text = "[]"
    out.write(text + "\n")


_compact = json.JSONEncoder(separators=(",", ":")).encode
"""A JSON value in one line without spaces (json's C encoder)."""


FILE_WIDTH = 200
"""The table's width in a file or a pipe, which have none of their own."""

# The annotation column's least width in the first two layouts (the last takes what is left);
# in the second a long name gets room beyond the ids only while the annotation keeps this.
_WIDE_ANNOTATION = 40
_STACKED_ANNOTATION = 30
_STYLES = {
    Compliance.NON_COMPLIANT: "bold red",
    Compliance.COMPLIANT: "green",
    Compliance.NOT_APPLICABLE: "dim",
}
_GROUP_ID: Callable[[Result], str | None] = attrgetter("group_id")
_FIELDS: tuple[tuple[str, Callable[[Result], str | None]], ...] = (
    ("name", attrgetter("group_name")),
    ("VPC", attrgetter("vpc_id")),
    ("region", attrgetter("region")),
)
"""What is said of a group besides its id, when some group has it."""


def write_table(
    results: Sequence[Result],
    out: IO[str],
    *,
    width: int | None = None,
    by_account: bool = False,
    note: str | None = None,
) -> None:
    """A readable table (rich), non-compliant first, with a one-line summary under it.

    ``width`` is the output's: by default a terminal's own, and :data:`FILE_WIDTH` in a file or
    a pipe. Every annotation and warning is printed whole at any width (wrapped, never cut),
    and so are the ids as long as there is room for them: the layout is the first that leaves
    the annotation room, from one column per field to everything about a group stacked in one.

    ``by_account``: a table per account under a line that sums it up, accounts with
    non-compliant groups first; the columns are the same in every table. ``note`` is printed
    last (what could not be read).
    """
    from rich.console import Console  # noqa: PLC0415 - JSON output never pays for rich

    if width is None and not out.isatty():
        width = FILE_WIDTH
    console = Console(file=out, width=width, highlight=False)
    if by_account:
        layout = _Layout(results, console.width)
        accounts = _by_account(results)
        for account_id, rows in accounts:
            # The group count is left to the last line: this one fits 80 columns.
            console.print(f"Account {account_id or 'unknown'}: {_summary(rows, total=False)}")
            console.print(layout.table(ordered(rows)), crop=False)
        many = "" if len(accounts) == 1 else "s"
        console.print(f"In {len(accounts)} account{many}: {_summary(results)}")
    else:
        if results:
            console.print(_Layout(results, console.width).table(ordered(results)), crop=False)
        console.print(_summary(results))
    if note:
        console.print(note)


def _by_account(results: Sequence[Result]) -> list[tuple[str | None, list[Result]]]:
    """The results of each account, accounts with non-compliant groups first, then by id."""
    accounts: dict[str | None, list[Result]] = {}
    for result in results:
        accounts.setdefault(result.account_id, []).append(result)

    def key(item: tuple[str | None, list[Result]]) -> tuple[bool, str]:
        account_id, rows = item
        compliant = all(r.compliance is not Compliance.NON_COMPLIANT for r in rows)
        return (compliant, account_id or "")

    return sorted(accounts.items(), key=key)


def _summary(results: Sequence[Result], *, total: bool = True) -> str:
    """``3 groups: 1 non-compliant, 2 compliant, 0 not applicable`` (and those with warnings);
    without ``total``, from ``1 non-compliant`` on."""
    counts = {c: sum(1 for r in results if r.compliance is c) for c in Compliance}
    warned = sum(1 for r in results if r.warnings)
    return (
        (f"{len(results)} group{'' if len(results) == 1 else 's'}: " if total else "")
        + f"{counts[Compliance.NON_COMPLIANT]} non-compliant, "
        f"{counts[Compliance.COMPLIANT]} compliant, {counts[Compliance.NOT_APPLICABLE]} "
        "not applicable" + (f"; {warned} with warnings (input skipped)" if warned else "")
    )


class _Shape(Enum):
    """How the table's columns are laid out, from the widest to the narrowest."""

    COLUMNS = "a column per field"
    STACKED = "name, VPC and region under the group id"
    ALL_STACKED = "the compliance under the group id too"


class _Layout:
    """The table's columns for ``results`` in ``width``: the first :class:`_Shape` that leaves
    the annotation room. Ids, regions and the compliance are never folded (unless
    ``width`` cannot hold an id at all); a name is, when it must be. :meth:`table` lays out any
    of the results with these columns."""

    def __init__(self, results: Sequence[Result], width: int) -> None:
        # Columns that say something: a file's groups have no region, the sandbox's no VPC.
        self.fields = [(header, get) for header, get in _FIELDS if any(get(r) for r in results)]
        said: list[tuple[str, Callable[[Result], str | None]]] = [
            ("group", _GROUP_ID),
            *self.fields,
        ]
        self.widths = {
            header: max([len(header), *(len(get(r) or "") for r in results)])
            for header, get in said
        }
        self.compliance = max([len("compliance"), *(len(r.compliance.value) for r in results)])
        whole = max(w for header, w in self.widths.items() if header != "name")
        name = self.widths.get("name", 0)

        def room(beside: int, used: int) -> int:
            """The annotation's width beside ``used`` characters in ``beside`` other columns:
            each column has a space either side and a border on its left, the table one more."""
            return width - used - 3 * (beside + 1) - 1

        wide = room(len(self.widths) + 1, sum(self.widths.values()) + self.compliance)
        if wide >= _WIDE_ANNOTATION:
            self.shape, self.group, annotation = _Shape.COLUMNS, 0, wide
        elif room(2, whole + self.compliance) >= _STACKED_ANNOTATION:
            self.shape = _Shape.STACKED
            self.group = max(whole, min(name, room(2, self.compliance) - _STACKED_ANNOTATION))
            annotation = room(2, self.group + self.compliance)
        else:
            # The annotation gets all the room the ids leave: a long name is folded.
            self.shape, self.group = _Shape.ALL_STACKED, max(whole, self.compliance)
            annotation = room(1, self.group)
        # As wide as the longest annotation needs, in every table made with this layout, so
        # that the tables of several accounts line up.
        longest = max((len(line) for r in results for line in _annotation(r).split()), default=0)
        self.annotation = max(0, min(annotation, max(longest, len("annotation"))))

    def table(self, results: Sequence[Result]) -> Table:
        from rich.table import Table  # noqa: PLC0415
        from rich.text import Text  # noqa: PLC0415

        table = Table()
        if self.shape is _Shape.COLUMNS:
            for header, column_width in self.widths.items():
                table.add_column(
                    header, overflow="fold", no_wrap=header != "name", width=column_width
                )
            table.add_column("compliance", no_wrap=True, width=self.compliance)
            table.add_column("annotation", overflow="fold", min_width=self.annotation)
            for r in results:
                cells = [Text(r.group_id), *(Text(get(r) or "") for _, get in self.fields)]
                table.add_row(*cells, _compliance(r), _annotation(r))
        elif self.shape is _Shape.STACKED:
            table.add_column("group", overflow="fold", width=self.group)
            table.add_column("compliance", no_wrap=True, width=self.compliance)
            table.add_column("annotation", overflow="fold", min_width=self.annotation)
            for r in results:
                table.add_row(_stacked(r, self.fields), _compliance(r), _annotation(r))
        else:
            table.add_column("group", overflow="fold", width=self.group)
            table.add_column("annotation", overflow="fold", min_width=self.annotation)
            for r in results:
                table.add_row(_stacked(r, self.fields, _compliance(r)), _annotation(r))
        return table


def _compliance(result: Result) -> Text:
    from rich.text import Text  # noqa: PLC0415

    return Text(result.compliance.value, style=_STYLES[result.compliance])


def _stacked(
    result: Result,
    fields: Sequence[tuple[str, Callable[[Result], str | None]]],
    *lines: Text,
) -> Text:
    """The group's id, then ``lines``, then its other fields (dim), one a line."""
    from rich.text import Text  # noqa: PLC0415

    out = Text(result.group_id)
    for line in lines:
        out.append("\n").append_text(line)
    for _, get in fields:
        if value := get(result):
            out.append(f"\n{value}", style="dim")
    return out


def _annotation(result: Result) -> Text:
    """The annotation, and under it each warning (dim). Text, not markup: what AWS or a file
    gave (brackets in a name, a CIDR) is printed as it is."""
    from rich.text import Text  # noqa: PLC0415

    out = Text(result.annotation or "")
    for warning in result.warnings:
        if out:
            out.append("\n")
        out.append(f"warning: {warning}", style="dim")
    return out
