"""``portguard scan --aggregator NAME``: every security group an AWS Config aggregator recorded,
in every account and region it aggregates, decided with the rule's own reader and decision.

- **The query.** ``SelectAggregateResourceConfig`` over ``AWS::EC2::SecurityGroup``, every page
  (100 results a page, the most it gives). Its pages come one after the other, so the query is
  split by region: one aggregation query (``GROUP BY awsRegion``) says which regions hold groups
  and how many, then each region's groups are read on its own thread (``--workers``).
- **The results.** Each is a JSON string holding the fields the SELECT names, ``configuration``
  as an object and ``tags`` as a list of ``{key, value, tag}`` (AWS's advanced-query schema for
  ``AWS::EC2::SecurityGroup``): :func:`config_item` puts it in the shape of a Config item, which
  :func:`~portguard.reader.parse_configuration_item` reads as it reads every item, and
  :func:`~portguard.decision.evaluate_item` decides (a deleted item is NOT_APPLICABLE).
- **Prefix lists.** Config records only their ids. With ``--role`` each group's lists are
  resolved in the account and region that own the group (a
  :class:`~portguard.adapters.ec2.PrefixListCache` per pair, through the role); without it they
  fail closed, as the rule does for a list it cannot read, and the annotation says why
  (``pl-… (unreadable: not resolved: no --role)``).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from portguard.adapters import error_code
from portguard.adapters.accounts import AccountClients
from portguard.adapters.ec2 import PrefixListCache
from portguard.decision import evaluate_item
from portguard.errors import AccountAccessError, InvalidEventError, PrefixListUnavailableError
from portguard.model import SECURITY_GROUP_TYPE
from portguard.reader import is_object, json_error_reason, json_kind, parse_configuration_item
from portguard_cli.failures import Failure, describe
from portguard_cli.inputs import UsageError
from portguard_cli.organization import MemberClients, Pair, caller, refused_advice
from portguard_cli.parallel import Progress, in_parallel
from portguard_cli.results import Result, report
from portguard_cli.sessions import (
    CLIENT_CONFIG,
    Explanation,
    check_regions,
    core_of,
    default_region,
    explain,
    explanation,
    open_session,
)

if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator, Sequence
    from datetime import date

    from mypy_boto3_config import ConfigServiceClient

    from portguard.decision import PrefixListResolver
    from portguard.model import ConfigItem
    from portguard.parameters import RuleParameters

REGIONS_QUERY = (
    f"SELECT awsRegion, COUNT(*) WHERE resourceType = '{SECURITY_GROUP_TYPE}' GROUP BY awsRegion"
)
"""Which regions the aggregator holds security groups in, and how many."""

GROUPS_QUERY = (
    "SELECT resourceId, resourceType, accountId, awsRegion, configurationItemStatus, "
    f"configuration, tags WHERE resourceType = '{SECURITY_GROUP_TYPE}' AND awsRegion = '{{}}'"
)
"""Every security group of one region (``{}``), with what the reader needs."""

PAGE_SIZE = 100
"""SelectAggregateResourceConfig's largest page (its Limit: 0 to 100)."""

NO_ROLE = "not resolved: no --role"
"""Why a prefix list fails closed without ``--role``, as the annotation says it."""


@dataclass
class _Read:
    """What one region of the aggregator gave: results decided, groups that wait for their
    prefix lists (by the pair that owns them), and what could not be read."""

    results: list[Result] = field(default_factory=list)
    waiting: dict[Pair, list[ConfigItem]] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)


def run(args: argparse.Namespace, parameters: RuleParameters) -> int:
    """``scan --aggregator NAME [--region R] [--role NAME]``."""
    if args.all_regions or len(set(args.regions or ())) > 1:
        raise UsageError(
            "--aggregator reads one aggregator: give at most one --region, the one it is in "
            "(it covers every region it aggregates)"
        )
    session = open_session(args.profile)
    region = args.regions[0] if args.regions else default_region(session)
    if not region:
        raise UsageError("no region: pass --region, the aggregator's, or set AWS_REGION")
    check_regions(session, [region])
    # Every worker may be reading a region of the aggregator at once, through the one client.
    config = CLIENT_CONFIG.merge(Config(max_pool_connections=args.workers))
    client = session.client("config", region_name=region, config=config)
    accounts, advice = None, ""
    if args.role:
        you = caller(session, region)
        accounts = AccountClients(
            core_of(session),
            home_account=you.account_id,
            role_name=args.role,
            partition=you.partition,
            region=region,
            config=config,
        )
        advice = refused_advice(args.role, you)
    results, failures = scan_aggregator(
        client,
        args.aggregator,
        parameters,
        today=datetime.now(UTC).date(),
        workers=args.workers,
        accounts=accounts,
        advice=advice,
    )
    lines = describe(failures)
    for line in lines:
        print(f"portguard scan: {line}", file=sys.stderr)
    note = (
        f"{len(failures)} problems reading the aggregator (see standard error)" if lines else None
    )
    return report(results, lines, args.format, by_account=True, note=note)


def scan_aggregator(
    client: ConfigServiceClient,
    name: str,
    parameters: RuleParameters,
    *,
    today: date,
    workers: int,
    accounts: AccountClients | None = None,
    advice: str = "",
) -> tuple[list[Result], list[Failure]]:
    """Every security group aggregator ``name`` recorded, decided; and what could not be read.
    With ``accounts`` (``--role``), prefix lists are resolved in the groups' own accounts.
    :class:`UsageError` when the aggregator cannot be queried at all."""
    regions = _regions(client, name)
    source = f"aggregator {name}"
    total = sum(count for _, count in regions)
    with Progress(total, "groups", groups=False) as progress:

        def read(region: str) -> _Read:
            return _read_region(
                client,
                name,
                region,
                parameters,
                today=today,
                source=source,
                defer=accounts is not None and parameters.resolve_prefix_lists,
                progress=progress,
            )

        reads = in_parallel(
            [region for region, _ in regions], read, workers=workers, progress=progress
        )
    results = [result for region in reads for result in region.results]
    failures = [failure for region in reads for failure in region.failures]
    waiting: dict[Pair, list[ConfigItem]] = {}
    for region in reads:
        for pair, items in region.waiting.items():
            waiting.setdefault(pair, []).extend(items)
    if accounts is not None and waiting:
        resolved, refused = _resolve(
            accounts,
            waiting,
            parameters,
            today=today,
            source=source,
            workers=workers,
            advice=advice,
        )
        results += resolved
        failures += refused
    return results, failures


def _regions(client: ConfigServiceClient, name: str) -> list[tuple[str, int]]:
    """The regions holding groups, and how many each: the aggregation query's one page."""
    try:
        texts = [
            text
            for page in client.get_paginator("select_aggregate_resource_config").paginate(
                Expression=REGIONS_QUERY, ConfigurationAggregatorName=name
            )
            for text in page.get("Results", [])
        ]
    except ClientError as error:
        if error_code(error) == "NoSuchConfigurationAggregatorException":
            raise UsageError(
                f"no configuration aggregator named {name!r} in {client.meta.region_name} "
                "(aws configservice describe-configuration-aggregators lists them; --region "
                "is where the aggregator is)"
            ) from error
        raise UsageError(
            f"cannot query aggregator {name}: {explain(error, client.meta.region_name)}"
        ) from error
    except BotoCoreError as error:
        raise UsageError(
            f"cannot query aggregator {name}: {explain(error, client.meta.region_name)}"
        ) from error
    regions = []
    for text in texts:
        try:
            row = json.loads(text)
        except (ValueError, RecursionError) as error:
            reason = json_error_reason(error)
            raise UsageError(f"aggregator {name} answered what is not JSON: {reason}") from error
        region = row.get("awsRegion") if is_object(row) else None
        if isinstance(region, str) and region:
            count = row.get("COUNT(*)")
            regions.append((region, count if isinstance(count, int) else 0))
    return sorted(regions)


def _read_region(
    client: ConfigServiceClient,
    name: str,
    region: str,
    parameters: RuleParameters,
    *,
    today: date,
    source: str,
    defer: bool,
    progress: Progress,
) -> _Read:
    """One region's groups, page by page; with ``defer``, groups with prefix lists wait for
    their accounts' clients."""
    read = _Read()
    unresolved = _unresolved(NO_ROLE)
    try:
        for text in _results(client, name, GROUPS_QUERY.format(region)):
            if progress.stopped.is_set():
                break
            progress.done()
            try:
                document = config_item(text)
                item = parse_configuration_item(document)
            except InvalidEventError as error:
                what = Explanation("a result of the aggregator could not be read", str(error))
                read.failures.append(Failure(None, region, what))
                continue
            pair = Pair(_text(document, "accountId"), _text(document, "awsRegion") or region)
            if (
                defer
                and item.group is not None
                and any(p.prefix_lists for p in item.group.permissions)
            ):
                read.waiting.setdefault(pair, []).append(item)
            else:
                read.results.append(
                    _decide(item, pair, parameters, unresolved, today=today, source=source)
                )
    except (ClientError, BotoCoreError) as error:
        reason = explanation(error)
        what = Explanation(
            f"the aggregator's groups could not all be read: {reason.cause}", reason.detail
        )
        read.failures.append(Failure(None, region, what))
    return read


def _results(client: ConfigServiceClient, name: str, query: str) -> Iterator[str]:
    """Every result of ``query``, page by page (never all held at once)."""
    paginator = client.get_paginator("select_aggregate_resource_config")
    pages = paginator.paginate(
        Expression=query,
        ConfigurationAggregatorName=name,
        PaginationConfig={"PageSize": PAGE_SIZE},
    )
    for page in pages:
        yield from page.get("Results", [])


def config_item(result: str) -> dict[str, Any]:
    """One result of the query in the shape of a Config item: the same keys (``resourceId``,
    ``resourceType``, ``configurationItemStatus``, ``configuration``, ``accountId``,
    ``awsRegion``), and the tags, which the query gives as ``[{key, value, tag}]``, as an item's
    ``{key: value}`` map. :class:`InvalidEventError` when it is not a JSON object."""
    try:
        document = json.loads(result)
    except (ValueError, RecursionError) as error:
        raise InvalidEventError(f"not JSON: {json_error_reason(error)}") from error
    if not is_object(document):
        raise InvalidEventError(f"not an object: {json_kind(document)}")
    item = dict(document)
    tags = document.get("tags")
    if isinstance(tags, list):
        item["tags"] = {
            tag["key"]: tag.get("value") if isinstance(tag.get("value"), str) else ""
            for tag in tags
            if is_object(tag) and isinstance(tag.get("key"), str)
        }
    return item


def _resolve(
    accounts: AccountClients,
    waiting: dict[Pair, list[ConfigItem]],
    parameters: RuleParameters,
    *,
    today: date,
    source: str,
    workers: int,
    advice: str,
) -> tuple[list[Result], list[Failure]]:
    """The groups with prefix lists, decided with their lists read in their own account and
    region (one :class:`PrefixListCache` per pair), the pairs on ``workers`` threads. An account
    that refuses the role leaves its lists unresolved (they fail closed) and is reported."""
    pairs = sorted(waiting, key=lambda pair: (pair.account_id or "", pair.region))
    members = MemberClients(accounts, pairs)
    role = accounts.role_name

    def resolve(pair: Pair) -> tuple[list[Result], Failure | None]:
        failure = None
        try:
            resolver: PrefixListResolver = PrefixListCache(members.ec2(pair))
        except AccountAccessError as error:
            failure = Failure.refused(error, advice)
            resolver = _unresolved(f"not resolved: cannot assume {role}")
        try:
            return [
                _decide(item, pair, parameters, resolver, today=today, source=source)
                for item in waiting[pair]
            ], failure
        finally:
            members.done(pair)

    with Progress(len(pairs), "account-regions (prefix lists)") as progress:
        answers = in_parallel(pairs, resolve, workers=workers, progress=progress)
    results = [result for found, _ in answers for result in found]
    failures = list(dict.fromkeys(failure for _, failure in answers if failure))
    return results, failures


def _has_prefix_lists(item: ConfigItem) -> bool:
    return item.group is not None and any(p.prefix_lists for p in item.group.permissions)


def _decide(
    item: ConfigItem,
    pair: Pair,
    parameters: RuleParameters,
    resolver: PrefixListResolver,
    *,
    today: date,
    source: str,
) -> Result:
    verdict = evaluate_item(item, parameters, resolve_prefix_list=resolver, today=today)
    group = item.group
    return Result.of(
        verdict,
        group_id=item.resource_id,
        group_name=group.group_name if group else None,
        vpc_id=group.vpc_id if group else None,
        region=pair.region,
        source=source,
        account_id=pair.account_id,
    )


def _unresolved(reason: str) -> PrefixListResolver:
    """A resolver that reads no list: each fails closed, saying ``reason``."""

    def resolve(prefix_list_id: str) -> Sequence[str]:
        raise PrefixListUnavailableError(prefix_list_id, reason)

    return resolve


def _text(document: dict[str, Any], key: str) -> str | None:
    value = document.get(key)
    return value if isinstance(value, str) and value else None
