"""``portguard scan``: the rule's decision on the live security groups of one or more regions.

Per region this is the handler's periodic sweep, call for call: :func:`iter_security_groups`
pages through DescribeSecurityGroups, :func:`parse_ec2_group` reads each group and
:func:`evaluate_group` decides, with a :class:`PrefixListCache` resolving managed prefix lists.
Regions are scanned concurrently, each with its own client; an error in one region (access denied,
not enabled, unreachable) is reported and the other regions still are (exit status 2).
"""

from __future__ import annotations

import difflib
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from portguard.adapters.ec2 import PrefixListCache, iter_security_groups
from portguard.decision import evaluate_group
from portguard.reader import parse_ec2_group
from portguard_cli.inputs import UsageError, rule_parameters
from portguard_cli.results import Result, report
from portguard_cli.sessions import CLIENT_CONFIG, default_region, explain, open_session

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Iterator, Sequence

    import boto3
    from mypy_boto3_ec2 import EC2Client

    from portguard.parameters import RuleParameters

MAX_WORKERS = 8
"""Regions scanned at once."""

FALLBACK_REGION = "us-east-1"
"""Where ``--all-regions`` asks for the account's regions when the session has no region."""


@dataclass
class RegionScan:
    """What one region gave: its groups' results (those read before an error too) and the
    error, if any, explained for the user."""

    region: str
    results: list[Result] = field(default_factory=list)
    error: str | None = None


def run(args: argparse.Namespace) -> int:
    parameters = rule_parameters(args)  # before anything is asked of AWS
    if args.all_regions and args.regions:
        raise UsageError("--all-regions and --region cannot be used together")
    session = open_session(args.profile)
    regions = _regions(args, session)
    # Clients are made here, one per region: making them from one session is not thread-safe,
    # calling them from another thread is.
    clients = {r: session.client("ec2", region_name=r, config=CLIENT_CONFIG) for r in regions}
    scans = scan_regions(clients, parameters, today=datetime.now(UTC).date())

    results = [result for scan in scans for result in scan.results]
    errors = list(dict.fromkeys(scan.error for scan in scans if scan.error))  # each one once
    for message in errors:
        print(f"portguard scan: {message}", file=sys.stderr)
    return report(results, errors, args.format)


def scan_regions(
    clients: dict[str, EC2Client], parameters: RuleParameters, *, today: date
) -> list[RegionScan]:
    """Scan each region with its client, up to :data:`MAX_WORKERS` at once, in the given order;
    a progress bar on standard error when it is a terminal."""
    stop = threading.Event()

    def work(region: str, advance: Callable[[], None] | None) -> RegionScan:
        scan = RegionScan(region)
        try:
            for result in scan_region(clients[region], region, parameters, today=today):
                if stop.is_set():
                    break
                scan.results.append(result)
                if advance is not None:
                    advance()
        except (ClientError, BotoCoreError) as error:
            scan.error = explain(error, region)
        return scan

    workers = max(1, min(MAX_WORKERS, len(clients)))
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="portguard-scan")
    try:
        if not sys.stderr.isatty():
            return list(executor.map(lambda r: work(r, None), clients))
        return _with_progress(executor, list(clients), work)
    except BaseException:  # Ctrl-C: stop every region at its next group, start no other
        stop.set()
        executor.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        executor.shutdown(wait=True)


def _with_progress(
    executor: ThreadPoolExecutor,
    regions: Sequence[str],
    work: Callable[[str, Callable[[], None] | None], RegionScan],
) -> list[RegionScan]:
    from rich.console import Console  # noqa: PLC0415 - only a terminal pays for rich
    from rich.progress import (  # noqa: PLC0415
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    lock = threading.Lock()
    groups = 0
    with Progress(
        SpinnerColumn(),
        TextColumn("scanning"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("regions, {task.fields[groups]} groups"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task("scan", total=len(regions), groups=0)

        def advance() -> None:
            nonlocal groups
            with lock:
                groups += 1
                progress.update(task, groups=groups)

        def one(region: str) -> RegionScan:
            scan = work(region, advance)
            progress.advance(task)
            return scan

        return list(executor.map(one, regions))


def scan_region(
    client: EC2Client, region: str, parameters: RuleParameters, *, today: date
) -> Iterator[Result]:
    """Every security group of the client's region, decided as the handler's sweep decides it.
    Raises what the client raises (:class:`ClientError`, :class:`BotoCoreError`)."""
    resolver = PrefixListCache(client) if parameters.resolve_prefix_lists else None
    for raw in iter_security_groups(client):
        group = parse_ec2_group(raw)
        verdict = evaluate_group(group, parameters, resolve_prefix_list=resolver, today=today)
        yield Result.of_group(verdict, group, region=region, source=region)


def _regions(args: argparse.Namespace, session: boto3.Session) -> list[str]:
    default = default_region(session)
    if args.all_regions:
        region = default or FALLBACK_REGION
        client = session.client("ec2", region_name=region, config=CLIENT_CONFIG)
        try:
            response = client.describe_regions(AllRegions=False)
        except (ClientError, BotoCoreError) as error:
            reason = explain(error, region)
            raise UsageError(f"cannot list the account's regions: {reason}") from error
        return sorted(r["RegionName"] for r in response.get("Regions", []) if "RegionName" in r)
    if args.regions:
        regions = list(dict.fromkeys(args.regions))
        known = {
            r
            for partition in session.get_available_partitions()
            for r in session.get_available_regions("ec2", partition_name=partition)
        }
        for region in regions:
            if region not in known:
                close = difflib.get_close_matches(region, sorted(known), n=1)
                hint = f"did you mean {close[0]}? " if close else ""
                raise UsageError(
                    f"unknown region {region!r}: {hint}(a region newer than this boto3 "
                    "needs an upgrade: pip install -U boto3)"
                )
        return regions
    if default:
        return [default]
    raise UsageError(
        "no region: pass --region REGION (repeatable) or --all-regions, or set AWS_REGION"
    )
