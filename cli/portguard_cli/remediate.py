"""``portguard remediate`` and ``portguard restore``: close a group's offending ports, and undo it.

Both print their plan as a diff and change nothing without ``--apply``. The work is
:func:`portguard.remediation.apply.remediate` and :func:`~portguard.remediation.apply.restore`,
the same code the remediation function runs; this module adds the rollback file, written (to a
temporary name, then renamed) before the first change and after every step.

Exit status: 0 when the plan was shown or applied (or nothing needed changing), 1 when the plan
was refused, 2 on errors and failures.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from portguard.errors import RemediationError
from portguard.remediation.apply import Status, read_quota, remediate, restore
from portguard.remediation.plan import parse_allowed_cidrs
from portguard.remediation.rollback import read_rollback
from portguard_cli.inputs import UsageError, read_json, rule_parameters
from portguard_cli.results import EXIT_ERROR
from portguard_cli.sessions import CLIENT_CONFIG, default_region, explain, open_session

if TYPE_CHECKING:
    import argparse

    from portguard.remediation.apply import Outcome

EXIT_OK, EXIT_REFUSED = 0, 1


def run(args: argparse.Namespace) -> int:
    if args.command == "restore":
        return _restore(args)
    return _remediate(args)


def _remediate(args: argparse.Namespace) -> int:
    parameters = rule_parameters(args)  # everything the user typed is checked before AWS
    try:
        allow_cidrs = parse_allowed_cidrs(args.allow_cidrs or ())
    except RemediationError as error:
        raise UsageError(f"--allow-cidr: {error}") from error
    now = datetime.now(UTC)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    path = Path(args.rollback_file or f"portguard-rollback-{args.group_id}-{stamp}.json")
    if args.apply and path.exists():
        raise UsageError(
            f"{path} exists: it may be an earlier rollback; choose another --rollback-file"
        )
    session = open_session(args.profile)
    region = args.region or default_region(session)
    if not region:
        raise UsageError("no region: pass --region REGION, or set AWS_REGION")
    ec2 = session.client("ec2", region_name=region, config=CLIENT_CONFIG)
    quotas = session.client("service-quotas", region_name=region, config=CLIENT_CONFIG)
    print(f"portguard remediate {args.group_id} in {region}")
    try:
        outcome = remediate(
            ec2,
            args.group_id,
            parameters,
            allow_cidrs=allow_cidrs,
            quota=read_quota(quotas),
            apply=args.apply,
            journal=lambda document: write_rollback(path, document),
            region=region,
            now=lambda: now.isoformat(timespec="seconds"),
            today=now.date(),
        )
    except (ClientError, BotoCoreError) as error:
        return _failed(args.command, explain(error, region), path if args.apply else None)
    except RemediationError as error:
        return _failed(args.command, str(error), None)
    except OSError as error:
        return _rollback_file_failed(args.command, path, error)
    _print(outcome)
    if outcome.status == Status.PLANNED:
        print(
            f"to apply: the same command with --apply (the rollback file goes to {path} "
            "before the first change)"
        )
    elif outcome.status not in (Status.COMPLIANT, Status.REFUSED):
        print(f"rollback file: {path}\nto undo: portguard restore {path} --apply")
    if outcome.status == Status.REFUSED:
        return EXIT_REFUSED
    return EXIT_OK if outcome.status.succeeded else EXIT_ERROR


def _rollback_file_failed(command: str, path: Path, error: OSError) -> int:
    """The rollback file could not be written: before any change (nothing changed), or after
    some (the file holds the original rules and what was done before it)."""
    if not path.exists():  # the first write failed, and it comes before any change
        message = f"{path}: cannot write the rollback file, nothing was changed"
        return _failed(command, f"{message} ({error.strerror})", None)
    # The adapter's note says whether the one change it could not record was taken back.
    notes = "; ".join(getattr(error, "__notes__", ())) or "the group may have been changed"
    message = f"{path}: cannot update the rollback file ({error.strerror}); {notes}"
    return _failed(command, message, path)


def _restore(args: argparse.Namespace) -> int:
    try:
        rollback = read_rollback(read_json(args.rollback_file))
    except RemediationError as error:
        raise UsageError(f"{args.rollback_file}: {error}") from error
    session = open_session(args.profile)
    region = args.region or rollback.region or default_region(session)
    if not region:
        raise UsageError("no region: the rollback file names none; pass --region REGION")
    ec2 = session.client("ec2", region_name=region, config=CLIENT_CONFIG)
    print(f"portguard restore {rollback.group_id} in {region}")
    try:
        outcome = restore(ec2, rollback, apply=args.apply)
    except (ClientError, BotoCoreError) as error:
        return _failed(args.command, explain(error, region), None)
    except RemediationError as error:
        return _failed(args.command, str(error), None)
    _print(outcome)
    if outcome.status == Status.PLANNED:
        print("to apply: the same command with --apply")
    return EXIT_OK if outcome.status.succeeded else EXIT_ERROR


def write_rollback(path: Path, document: dict[str, Any]) -> None:
    """Write ``document`` to ``path`` whole or not at all: a temporary file beside it, flushed
    to disk, then renamed over it (a crash never leaves half a rollback)."""
    directory = path.parent if str(path.parent) else Path()
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=2)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _print(outcome: Outcome) -> None:
    for line in outcome.lines:
        print(line)
    for line in outcome.meanwhile:
        print(f"meanwhile: {line}")
    print(outcome.message)


def _failed(command: str, message: str, path: Path | None) -> int:
    print(f"portguard {command}: {message}", file=sys.stderr)
    if path is not None and path.exists():
        print(
            f"portguard {command}: the rollback file {path} holds the original rules: "
            f"portguard restore {path} --apply",
            file=sys.stderr,
        )
    return EXIT_ERROR
