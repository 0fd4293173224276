"""``python -m bench [--quick] [--section NAME ...] [--groups N] [--profile]``.

Prints one table per section and a summary of the goals; exits 0 whether goals are met or not,
1 if a section crashed.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.report import Section

SECTIONS = ("decision", "coldstart", "sweep", "worst", "evaluate", "organization")

# Before boto3, moto or portguard.handler is imported: fake credentials (moto), no shared AWS
# files, and the settings the deployed function has.
_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "portguard",
    "POWERTOOLS_METRICS_NAMESPACE": "portguard",
    "LOG_LEVEL": "INFO",
}


def _parse(argv: list[str]) -> argparse.Namespace:
    # The tests' rule for the shared captures (python -m bench runs from the repository root).
    from tests.shared_data import SharedDataError, real_events

    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    try:
        default_events = real_events().path
    except SharedDataError as error:
        parser.error(str(error))
    parser.add_argument(
        "--quick", action="store_true", help="smaller corpus, 500 groups, fewer repeats"
    )
    parser.add_argument(
        "--section",
        action="append",
        choices=SECTIONS,
        help="run only this section (repeatable); default: all",
    )
    parser.add_argument(
        "--groups", type=int, default=None, help="groups the sweep creates (5000; 500 --quick)"
    )
    parser.add_argument(
        "--setup-api",
        action="store_true",
        help="create the sweep's groups through the EC2 API (slow), not on moto's backend",
    )
    parser.add_argument(
        "--profile", action="store_true", help="add cProfile's hottest functions to sections"
    )
    parser.add_argument(
        "--events",
        type=Path,
        default=default_events,
        help="folder of the real events, read in place (default $PORTGUARD_REAL_EVENTS, else "
        f"../shared/real-events: {default_events})",
    )
    return parser.parse_args(argv)


def _run_section(name: str, args: argparse.Namespace) -> Section:
    if name == "decision":
        from bench.decision import run_decision

        return run_decision(args.events, quick=args.quick, profile=args.profile)
    if name == "coldstart":
        from bench.coldstart import run_coldstart

        return run_coldstart(quick=args.quick)
    if name == "sweep":
        from bench.sweep import run_sweep

        groups = args.groups or (500 if args.quick else 5000)
        return run_sweep(
            args.events,
            groups=groups,
            quick=args.quick,
            profile=args.profile,
            via_api=args.setup_api,
        )
    if name == "evaluate":
        from bench.evaluate import run_evaluate

        return run_evaluate(quick=args.quick, profile=args.profile)
    if name == "organization":
        from bench.organization import run_organization

        return run_organization(quick=args.quick)
    from bench.decision import run_worst

    return run_worst(quick=args.quick, profile=args.profile)


def _revision() -> str:
    """The commit measured, and whether lambda/ differs from it."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "lambda"],  # noqa: S607
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "an unknown revision (no git)"
    return f"commit {head}" + (" with uncommitted changes in lambda/" if dirty else "")


def main(argv: list[str]) -> int:
    for key, value in _ENV.items():
        os.environ[key] = value
    args = _parse(argv)
    selected = args.section or list(SECTIONS)
    started = time.perf_counter()
    print(
        f"portguard benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; Python "
        f"{platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; "
        f"{'quick' if args.quick else 'full'} run"
    )
    print(f"portguard at {_revision()}; real events from {args.events}")
    if not args.events.is_dir():
        print(
            f"note: {args.events} not found: the corpus has generated items only (set "
            "PORTGUARD_REAL_EVENTS or --events to the folder of real events)"
        )
    verdicts: list[tuple[str, str, str]] = []
    crashed = []
    for name in selected:
        section_started = time.perf_counter()
        print(flush=True)
        try:
            section = _run_section(name, args)
        except Exception:  # noqa: BLE001 - report, go on with the other sections, exit 1
            traceback.print_exc()
            crashed.append(name)
            continue
        print(section.render())
        print(f"  ({time.perf_counter() - section_started:.0f} s)", flush=True)
        verdicts += [(name, figure.strip(), result) for figure, result in section.verdicts]
    print("\n== Goals ==")
    for name, figure, result in verdicts:
        print(f"{result:<5} {name}: {figure}")
    for name in crashed:
        print(f"CRASH {name}")
    print(f"total {time.perf_counter() - started:.0f} s")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
