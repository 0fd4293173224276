"""Section 5 (``evaluate``): ``portguard evaluate FILE --format json`` on one
``describe-security-groups`` file of 10,000 groups, per group, against ``json.load`` of the same
file; and where the command's time goes (read, decide, rows, dump).
"""

from __future__ import annotations

import json
import tempfile
from contextlib import redirect_stdout
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import corpus
from bench.decision import clear_caches
from bench.report import Section, interleaved, median, profile_text

if TYPE_CHECKING:
    from collections.abc import Callable

GROUPS = 10_000
GOAL = 3.0
"""At most this many times json.load's time per group (issue 11)."""


def _load(path: Path) -> Callable[[], object]:
    def load() -> object:
        with path.open("rb") as source:
            return json.load(source)

    return load


def _evaluate(path: Path, out: Path) -> Callable[[], int]:
    """The command as a user runs it, in process: fresh caches (a new process has none), stdout
    a file (not a terminal)."""
    from portguard_cli.main import main

    def evaluate() -> int:
        clear_caches()
        with out.open("w", encoding="utf-8") as stdout, redirect_stdout(stdout):
            return main(["evaluate", str(path), "--format", "json"])

    return evaluate


def _stages(path: Path, out: Path) -> dict[str, Callable[[], object]]:
    """Each step of the command alone, on the previous step's output prepared beforehand."""
    from portguard.decision import evaluate_group
    from portguard.parameters import parse_rule_parameters
    from portguard.reader import parse_ec2_group
    from portguard_cli.results import Result, write_json

    raw = json.loads(path.read_bytes())["SecurityGroups"]
    parameters = parse_rule_parameters({})
    today = datetime.now(UTC).date()
    groups = [parse_ec2_group(group) for group in raw]
    verdicts = [evaluate_group(group, parameters, today=today) for group in groups]
    rows = [
        Result.of_group(verdict, group, region=None, source=str(path))
        for verdict, group in zip(verdicts, groups, strict=True)
    ]

    def read() -> object:
        return [parse_ec2_group(group) for group in raw]

    def decide() -> object:
        clear_caches()
        return [evaluate_group(group, parameters, today=today) for group in groups]

    def build_rows() -> object:
        return [
            Result.of_group(verdict, group, region=None, source=str(path))
            for verdict, group in zip(verdicts, groups, strict=True)
        ]

    def dump() -> None:
        with out.open("w", encoding="utf-8") as stdout:
            write_json(rows, stdout)

    return {
        "read: parse_ec2_group": read,
        "decide: evaluate_group + annotation (caches cold)": decide,
        "rows: Result.of_group": build_rows,
        "dump: write_json (sorted, to a file)": dump,
    }


def run_evaluate(*, quick: bool, profile: bool) -> Section:
    document = corpus.describe_security_groups(GROUPS)
    with tempfile.TemporaryDirectory(prefix="portguard-bench-") as folder:
        indented, compact = Path(folder, "sgs.json"), Path(folder, "sgs-compact.json")
        out = Path(folder, "out.json")
        # As `aws ec2 describe-security-groups > sgs.json` writes it (awscli's JSONFormatter).
        indented.write_text(json.dumps(document, indent=4), encoding="utf-8")
        compact.write_text(json.dumps(document), encoding="utf-8")
        del document  # the timed runs' heap holds what they make, as a command's would
        evaluate = _evaluate(indented, out)
        status = evaluate()
        rows: list[dict[str, Any]] = json.loads(out.read_text(encoding="utf-8"))
        repeat = 3 if quick else 7
        samples = interleaved(
            {
                "load": _load(indented),
                "evaluate": evaluate,
                "load-compact": _load(compact),
                "evaluate-compact": _evaluate(compact, out),
            },
            repeat=repeat,
        )
        stage_samples = interleaved(_stages(indented, out), repeat=repeat)
        collected = interleaved(
            {"load": _load(indented), "evaluate": evaluate}, repeat=repeat, collector=True
        )
        profiled = profile_text(evaluate, 1) if profile else ""
        sizes = indented.stat().st_size, compact.stat().st_size

    us = {name: median(times) * 1e6 / GROUPS for name, times in samples.items()}
    load = us["load"]
    section = Section(
        f"5. portguard evaluate: one describe-security-groups file of {GROUPS:,} groups, "
        "--format json to a file, per group, against json.load of the file"
    )
    section.goal_ratio(
        "portguard evaluate FILE --format json", us["evaluate"], load, limit=GOAL, unit="us/group"
    )
    section.info_ratio(
        "  same, the file without indentation",
        us["evaluate-compact"],
        us["load-compact"],
        unit="us/group",
    )
    stages = {name: median(t) * 1e6 / GROUPS for name, t in stage_samples.items()}
    section.info_ratio("  its share: json.load (the baseline)", load, load, unit="us/group")
    for name, value in stages.items():
        section.info_ratio(f"  its share: {name}", value, load, unit="us/group")
    rest = us["evaluate"] - load - sum(stages.values())
    section.info_ratio(
        "  its share: the rest (options, shapes, the guard)", rest, load, unit="us/group"
    )
    on = {name: median(t) * 1e6 / GROUPS for name, t in collected.items()}
    section.info_ratio("  both with the collector on", on["evaluate"], on["load"], unit="us/group")
    non_compliant = sum(row["compliance"] == "NON_COMPLIANT" for row in rows)
    spread = {
        name: f"{min(times) * 1e6 / GROUPS:.1f}-{max(times) * 1e6 / GROUPS:.1f}"
        for name, times in samples.items()
    }
    section.notes += [
        f"the file: {GROUPS:,} groups in EC2's shape (bench.corpus.describe_security_groups: the "
        "decision corpus's mix of permissions, CIDRs drawn from a pool of "
        f"{corpus.CIDR_POOL:,} IPv4 and {corpus.CIDR_POOL // 4} IPv6), written with indent=4 as "
        f"the AWS CLI writes it ({sizes[0] / 1e6:.1f} MB; {sizes[1] / 1e6:.1f} MB without "
        "indentation)",
        f"the command's answer: exit status {status}, {len(rows):,} rows, {non_compliant:,} "
        "NON_COMPLIANT",
        f"figures are medians of {repeat} samples, the cases alternating, the collector off "
        "while a sample runs, as in timeit (in the row that says it is on: on, each sample "
        "after a collection); the core's caches are emptied before each run of the command, as "
        "a new process has them; range of the samples, "
        f"us/group: {', '.join(f'{name} {text}' for name, text in spread.items())}",
        "its share: each step alone, on the previous step's output prepared beforehand; "
        "the rest is the command's time less json.load and the steps",
    ]
    if profiled:
        section.notes.append("profile of one run of the command:\n" + profiled)
    return section
