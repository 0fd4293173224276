"""``portguard scan``: the rule's decision on live security groups, in the regions of your own
account, in every account of an organization (``--org``) or of a list (``--accounts``) through
a role in each, or everywhere a Config aggregator records (``--aggregator``, in
:mod:`portguard_cli.aggregator`).

Per (account, region) pair this is the handler's periodic sweep, call for call:
:func:`iter_security_groups` pages through DescribeSecurityGroups, :func:`parse_ec2_group` reads
each group and :func:`evaluate_group` decides, with a :class:`PrefixListCache` resolving managed
prefix lists. Pairs are scanned on ``--workers`` threads, each with its own client (made from
its account's credentials, assumed once per account); a pair that fails (a role refused, a
region not enabled, a call throttled after retries) is reported once on standard error, grouped
by cause, and every other pair is still scanned (exit status 2).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from portguard.adapters.accounts import AccountClients
from portguard.adapters.ec2 import PrefixListCache, iter_security_groups
from portguard.decision import evaluate_group
from portguard.errors import AccountAccessError
from portguard.reader import parse_ec2_group
from portguard_cli import aggregator
from portguard_cli.failures import Failure, describe
from portguard_cli.inputs import DEFAULT_WORKERS, UsageError, rule_parameters
from portguard_cli.organization import (
    DEFAULT_ROLE,
    MemberClients,
    Pair,
    caller,
    organization_accounts,
    parse_accounts,
    refused_advice,
)
from portguard_cli.parallel import Progress, in_parallel
from portguard_cli.results import Result, report
from portguard_cli.sessions import (
    CLIENT_CONFIG,
    check_regions,
    core_of,
    default_region,
    explain,
    open_session,
)

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Iterator, Sequence

    import boto3
    from mypy_boto3_ec2 import EC2Client

    from portguard.parameters import RuleParameters

FALLBACK_REGION = "us-east-1"
"""Where ``--all-regions`` asks for the account's regions when the session has no region."""


@dataclass
class PairScan:
    """What one (account, region) pair gave: its groups' results (those read before an error
    too) and what went wrong, if anything."""

    pair: Pair
    results: list[Result] = field(default_factory=list)
    failure: Failure | None = None


def run(args: argparse.Namespace) -> int:
    parameters = rule_parameters(args)  # before anything is asked of AWS
    if args.all_regions and args.regions:
        raise UsageError("--all-regions and --region cannot be used together")
    if args.role is not None and not (args.org or args.accounts or args.aggregator):
        raise UsageError("--role needs --org, --accounts or --aggregator")
    if args.aggregator is not None:
        return aggregator.run(args, parameters)
    accounts = parse_accounts(args.accounts) if args.accounts else None
    session = open_session(args.profile)
    regions = _regions(args, session)
    today = datetime.now(UTC).date()
    if args.org or accounts:
        return _scan_accounts(
            args, session, regions, accounts=accounts, parameters=parameters, today=today
        )

    # Clients are made here, one per region: making them from one session is not thread-safe,
    # calling them from another thread is.
    clients = {r: session.client("ec2", region_name=r, config=CLIENT_CONFIG) for r in regions}
    pairs = [Pair(None, region) for region in regions]
    scans = scan_pairs(
        pairs, lambda pair: clients[pair.region], parameters, today=today, workers=args.workers
    )
    return _report(args, scans, by_account=False)


def _scan_accounts(
    args: argparse.Namespace,
    session: boto3.Session,
    regions: list[str],
    *,
    accounts: list[str] | None,
    parameters: RuleParameters,
    today: date,
) -> int:
    """``--org`` or ``--accounts``: every (account, region) pair, the caller's own account with
    its own credentials, the others through the role."""
    home_region = default_region(session) or regions[0]
    you = caller(session, home_region)
    if accounts is None:
        accounts = organization_accounts(session, home_region)
    role = args.role or DEFAULT_ROLE
    clients = AccountClients(
        core_of(session),
        home_account=you.account_id,
        role_name=role,
        partition=you.partition,
        region=home_region,
        # Every worker may be assuming a role at once, through the one STS client.
        config=CLIENT_CONFIG.merge(Config(max_pool_connections=args.workers)),
    )
    pairs = [Pair(account, region) for account in accounts for region in regions]
    members = MemberClients(clients, pairs)
    scans = scan_pairs(
        pairs,
        members.ec2,
        parameters,
        today=today,
        workers=args.workers,
        done=members.done,
        advice=refused_advice(role, you),
    )
    return _report(args, scans, by_account=True)


def _report(args: argparse.Namespace, scans: Sequence[PairScan], *, by_account: bool) -> int:
    results = [result for scan in scans for result in scan.results]
    failures = list(dict.fromkeys(scan.failure for scan in scans if scan.failure))
    lines = describe(failures)
    for line in lines:
        print(f"portguard scan: {line}", file=sys.stderr)
    failed = sum(1 for scan in scans if scan.failure)
    note = None
    if by_account and failed:
        note = f"{failed} of {len(scans)} account-regions could not be read (see standard error)"
    return report(results, lines, args.format, by_account=by_account, note=note)


def scan_pairs(
    pairs: Sequence[Pair],
    ec2_of: Callable[[Pair], EC2Client],
    parameters: RuleParameters,
    *,
    today: date,
    workers: int = DEFAULT_WORKERS,
    done: Callable[[Pair], None] | None = None,
    advice: str = "",
) -> list[PairScan]:
    """Scan each pair with its client (``ec2_of``), on up to ``workers`` threads, in the given
    order; ``done`` is told of each pair finished. An account whose role is refused fails
    whole, once (:meth:`Failure.refused`, with ``advice``). A progress bar on standard error when
    it is a terminal."""
    unit = "regions" if all(pair.account_id is None for pair in pairs) else "account-regions"

    with Progress(len(pairs), unit) as progress:

        def work(pair: Pair) -> PairScan:
            scan = PairScan(pair)
            try:
                _scan(pair, ec2_of, parameters, today=today, scan=scan, progress=progress)
            except AccountAccessError as error:
                scan.failure = Failure.refused(error, advice)
            except (ClientError, BotoCoreError) as error:
                scan.failure = Failure.of(error, pair.account_id, pair.region)
            finally:
                progress.done()
                if done is not None:
                    done(pair)
            return scan

        return in_parallel(pairs, work, workers=workers, progress=progress)


def _scan(
    pair: Pair,
    ec2_of: Callable[[Pair], EC2Client],
    parameters: RuleParameters,
    *,
    today: date,
    scan: PairScan,
    progress: Progress,
) -> None:
    """The pair's groups into ``scan``, until Ctrl-C stops it. Raises what the client raises."""
    client = ec2_of(pair)
    for result in scan_region(
        client, pair.region, parameters, today=today, account_id=pair.account_id
    ):
        if progress.stopped.is_set():
            break
        scan.results.append(result)
        progress.group()


def scan_region(
    client: EC2Client,
    region: str,
    parameters: RuleParameters,
    *,
    today: date,
    account_id: str | None = None,
) -> Iterator[Result]:
    """Every security group of the client's region, decided as the handler's sweep decides it.
    Rows carry ``account_id``, else the account each group names as its owner. Raises what the
    client raises (:class:`ClientError`, :class:`BotoCoreError`)."""
    resolver = PrefixListCache(client) if parameters.resolve_prefix_lists else None
    for raw in iter_security_groups(client):
        group = parse_ec2_group(raw)
        verdict = evaluate_group(group, parameters, resolve_prefix_list=resolver, today=today)
        owner = account_id or raw.get("OwnerId")
        yield Result.of_group(
            verdict,
            group,
            region=region,
            source=region,
            account_id=owner if isinstance(owner, str) else None,
        )


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
        check_regions(session, regions)
        return regions
    if default:
        return [default]
    raise UsageError(
        "no region: pass --region REGION (repeatable) or --all-regions, or set AWS_REGION"
    )
