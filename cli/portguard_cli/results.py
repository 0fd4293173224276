"""One result per security group, printed as a table for people or JSON for pipelines."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from operator import attrgetter
from typing import IO, TYPE_CHECKING

from portguard.model import Compliance

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from portguard.model import SecurityGroup, Verdict

EXIT_COMPLIANT = 0
EXIT_NON_COMPLIANT = 1
EXIT_ERROR = 2

_ORDER = {Compliance.NON_COMPLIANT: 0, Compliance.COMPLIANT: 1, Compliance.NOT_APPLICABLE: 2}


@dataclass(frozen=True, slots=True)
class Result:
    """A group's verdict and where it came from (a region, or a file)."""

    group_id: str
    group_name: str | None
    vpc_id: str | None
    region: str | None
    compliance: Compliance
    annotation: str | None
    source: str

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
    ) -> Result:
        return cls(
            group_id, group_name, vpc_id, region, verdict.compliance, verdict.annotation, source
        )

    @classmethod
    def of_group(
        cls, verdict: Verdict, group: SecurityGroup, *, region: str | None, source: str
    ) -> Result:
        """A result for a security group read from the EC2 API's shape."""
        return cls.of(verdict, group_id=group.group_id, group_name=group.group_name,
                      vpc_id=group.vpc_id, region=region, source=source)  # fmt: skip

    def as_json(self) -> dict[str, str | None]:
        """The stable JSON fields (SPEC §3): groupId, groupName, vpcId, region, compliance,
        annotation, source."""
        return {
            "groupId": self.group_id,
            "groupName": self.group_name,
            "vpcId": self.vpc_id,
            "region": self.region,
            "compliance": self.compliance.value,
            "annotation": self.annotation,
            "source": self.source,
        }


def ordered(results: Iterable[Result]) -> list[Result]:
    """Non-compliant first, then by region and group id."""
    return sorted(results, key=lambda r: (_ORDER[r.compliance], r.region or "", r.group_id))


def exit_status(results: Sequence[Result], errors: Sequence[str]) -> int:
    """2 when anything could not be read (the answer is incomplete), else 1 when any group is
    NON_COMPLIANT, else 0."""
    if errors:
        return EXIT_ERROR
    if any(r.compliance is Compliance.NON_COMPLIANT for r in results):
        return EXIT_NON_COMPLIANT
    return EXIT_COMPLIANT


def report(results: Sequence[Result], errors: Sequence[str], output_format: str) -> int:
    """Print the results to stdout as the user asked (``table`` or ``json``); the exit status."""
    if output_format == "json":
        write_json(results, sys.stdout)
    else:
        write_table(results, sys.stdout)
    return exit_status(results, errors)


def write_json(results: Sequence[Result], out: IO[str]) -> None:
    json.dump([r.as_json() for r in ordered(results)], out, indent=2)
    out.write("\n")


def write_table(results: Sequence[Result], out: IO[str]) -> None:
    """A readable table (rich), non-compliant first, with a one-line summary under it."""
    from rich.console import Console  # noqa: PLC0415 - JSON output never pays for rich
    from rich.markup import escape  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    # A terminal's own width; written to a file or pipe, wide enough not to fold the ids.
    console = Console(file=out, width=None if out.isatty() else 200)
    table = Table(show_lines=False)
    # Columns that say something: a file's groups have no region, the sandbox's no VPC.
    columns: list[tuple[str, Callable[[Result], str | None]]] = [
        ("group", attrgetter("group_id")),
        ("name", attrgetter("group_name")),
        ("VPC", attrgetter("vpc_id")),
        ("region", attrgetter("region")),
    ]
    columns = [(header, get) for header, get in columns if any(get(r) for r in results)]
    for header, _ in columns:
        table.add_column(header, no_wrap=True)
    table.add_column("compliance", no_wrap=True)
    table.add_column("annotation", overflow="fold", min_width=40)
    styles = {
        Compliance.NON_COMPLIANT: "bold red",
        Compliance.COMPLIANT: "green",
        Compliance.NOT_APPLICABLE: "dim",
    }
    for r in ordered(results):
        # Group names may hold brackets, which rich would read as markup: escape what AWS gave.
        table.add_row(
            *(escape(get(r) or "") for _, get in columns),
            f"[{styles[r.compliance]}]{r.compliance.value}[/]",
            escape(r.annotation or ""),
        )
    if results:
        console.print(table)
    counts = {c: sum(1 for r in results if r.compliance is c) for c in Compliance}
    console.print(
        f"{len(results)} group{'' if len(results) == 1 else 's'}: "
        f"{counts[Compliance.NON_COMPLIANT]} non-compliant, "
        f"{counts[Compliance.COMPLIANT]} compliant, {counts[Compliance.NOT_APPLICABLE]} "
        "not applicable",
        highlight=False,
    )
