"""Section 3: a periodic sweep of N security groups against moto (EC2 and Config, in-process).

The handler (``PortguardRule.handle`` on the real scheduled event) is compared with a bare loop
that lists the same groups with the same paginator and posts a fixed COMPLIANT evaluation for
each, in batches of 100, to the same moto Config client (``TestMode=True``, token TESTMODE).
"""

from __future__ import annotations

import gc
import io
import math
import os
import random
import resource
import statistics
import time
import warnings
from collections import Counter
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bench import corpus
from bench.report import Row, Section, mib, peak_traced, profile_text

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

PAGE_SIZE = 1000
BATCH = 100
WORLD4 = [{"CidrIp": "0.0.0.0/0"}]
WORLD6 = [{"CidrIpv6": "::/0"}]


def _perm(proto: str, low: int, high: int, **sources: Any) -> dict[str, Any]:
    perm: dict[str, Any] = {"IpProtocol": proto, **sources}
    if proto != "-1":
        perm["FromPort"], perm["ToPort"] = low, high
    return perm


_COMPLIANT_POOL: list[dict[str, Any]] = [
    _perm("tcp", 443, 443, IpRanges=WORLD4, Ipv6Ranges=WORLD6),
    _perm("tcp", 80, 80, IpRanges=WORLD4),
    _perm("tcp", 22, 22, IpRanges=[{"CidrIp": "10.0.0.0/8", "Description": "vpn"}]),
    _perm("tcp", 5432, 5432, IpRanges=[{"CidrIp": "172.16.0.0/12"}]),
    _perm("udp", 53, 53, IpRanges=[{"CidrIp": "10.20.0.0/16"}, {"CidrIp": "10.30.0.0/16"}]),
    _perm("icmp", 8, -1, IpRanges=WORLD4),
    _perm("tcp", 3389, 3389, IpRanges=[{"CidrIp": "203.0.113.7/32"}]),
    _perm("tcp", 8000, 8100, IpRanges=[{"CidrIp": "192.168.0.0/16"}]),
]


def group_permissions(index: int, rng: random.Random) -> tuple[str, list[dict[str, Any]]]:
    """The mix: 1 in 20 each opens tcp/22 to 0.0.0.0/0, tcp/3389 to ::/0, all traffic to
    0.0.0.0/0, or has no ingress; the rest hold 1-4 compliant permissions."""
    kind = index % 20
    if kind == 0:
        return "tcp/22 from 0.0.0.0/0", [_perm("tcp", 22, 22, IpRanges=WORLD4), _COMPLIANT_POOL[0]]
    if kind == 1:
        return "tcp/3389 from ::/0", [_perm("tcp", 3389, 3389, Ipv6Ranges=WORLD6)]
    if kind == 2:
        return "-1 from 0.0.0.0/0", [_perm("-1", 0, 0, IpRanges=WORLD4)]
    if kind == 3:
        return "no ingress", []
    return "compliant", rng.sample(_COMPLIANT_POOL, rng.randint(1, 4))


def create_groups(ec2: Any, count: int, *, via_api: bool) -> Counter[str]:
    """``count`` groups in the default VPC.

    Through the EC2 API (create_security_group + authorize_security_group_ingress), moto takes
    about 13 ms a group, over a minute for 5,000; by default the same two operations are called
    on moto's EC2 backend directly, with the permissions read by moto's own request parser, which
    gives the same DescribeSecurityGroups output in about a tenth of the time.
    """
    rng = random.Random(corpus.SEED)
    vpc_id = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0][
        "VpcId"
    ]
    create, authorize = _api_calls(ec2) if via_api else _backend_calls()
    kinds: Counter[str] = Counter()
    for index in range(count):
        kind, perms = group_permissions(index, rng)
        kinds[kind] += 1
        group_id = create(f"bench-{index:05d}", f"bench {kind}", vpc_id)
        if perms:
            authorize(group_id, perms)
    return kinds


def _api_calls(ec2: Any) -> tuple[Callable[[str, str, str], str], Callable[[str, Any], None]]:
    def create(name: str, description: str, vpc_id: str) -> str:
        response = ec2.create_security_group(GroupName=name, Description=description, VpcId=vpc_id)
        return str(response["GroupId"])

    def authorize(group_id: str, perms: list[dict[str, Any]]) -> None:
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=perms)

    return create, authorize


def _backend_calls() -> tuple[Callable[[str, str, str], str], Callable[[str, Any], None]]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends
    from moto.ec2.responses.security_groups import parse_sg_attributes_from_dict

    backend = ec2_backends[DEFAULT_ACCOUNT_ID][corpus.REGION]

    def create(name: str, description: str, vpc_id: str) -> str:
        return str(backend.create_security_group(name, description, vpc_id=vpc_id).id)

    def authorize(group_id: str, perms: list[dict[str, Any]]) -> None:
        for perm in perms:
            proto, low, high, ranges, pairs, lists = parse_sg_attributes_from_dict(perm)
            backend.authorize_security_group_ingress(
                group_id, proto, low, high, ranges, source_groups=pairs, prefix_list_ids=lists
            )

    return create, authorize


class _Counter:
    """Counts PutEvaluations calls and evaluations, from the client's own event hook."""

    def __init__(self, client: Any) -> None:
        self.calls = 0
        self.evaluations = 0
        self.test_mode = True
        client.meta.events.register(
            "provide-client-params.config-service.PutEvaluations", self._hook
        )

    def _hook(self, params: dict[str, Any], **_: Any) -> None:
        self.calls += 1
        self.evaluations += len(params.get("Evaluations", []))
        self.test_mode = self.test_mode and params.get("TestMode") is True

    def reset(self) -> None:
        self.calls = self.evaluations = 0


class _LineCounter(io.TextIOBase):
    """Stdout of the handler: counts lines and sends them on to /dev/null."""

    def __init__(self) -> None:
        self.lines = 0
        self._null = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the section

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.lines += text.count("\n")
        return self._null.write(text)

    def close(self) -> None:
        self._null.close()
        super().close()


def baseline_loop(ec2: Any, config: Any) -> int:
    """List every group with the handler's paginator settings; post COMPLIANT for each."""
    ordering = datetime.now(UTC)
    batch: list[dict[str, Any]] = []
    total = 0
    paginator = ec2.get_paginator("describe_security_groups")
    for page in paginator.paginate(PaginationConfig={"PageSize": PAGE_SIZE}):
        for group in page.get("SecurityGroups", []):
            batch.append(
                {
                    "ComplianceResourceType": "AWS::EC2::SecurityGroup",
                    "ComplianceResourceId": group["GroupId"],
                    "ComplianceType": "COMPLIANT",
                    "OrderingTimestamp": ordering,
                }
            )
            total += 1
            if len(batch) == BATCH:
                config.put_evaluations(Evaluations=batch, ResultToken="TESTMODE", TestMode=True)
                batch = []
    if batch:
        config.put_evaluations(Evaluations=batch, ResultToken="TESTMODE", TestMode=True)
    return total


def _max_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


class _AwsClock:
    """Time spent inside the clients' API calls (moto's work and botocore's (de)serializing),
    so that a run's time splits into AWS calls and the caller's own work."""

    def __init__(self, *clients: Any) -> None:
        self.seconds = 0.0
        for client in clients:
            client._make_api_call = self._timed(client._make_api_call)

    def _timed(self, call: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        return timed


@dataclass
class _Runs:
    wall: list[float] = field(default_factory=list)
    own: list[float] = field(default_factory=list)

    def time(self, fn: Callable[[], object], clock: _AwsClock) -> None:
        gc.collect()
        clock.seconds = 0.0
        start = time.perf_counter()
        fn()
        wall = time.perf_counter() - start
        self.wall.append(wall)
        self.own.append(wall - clock.seconds)


def run_sweep(
    events_dir: Path, *, groups: int, quick: bool, profile: bool, via_api: bool = False
) -> Section:
    import boto3
    from moto import mock_aws

    with mock_aws():
        return _run_sweep(
            boto3, events_dir, groups=groups, quick=quick, profile=profile, via_api=via_api
        )


def _run_sweep(
    boto3: Any, events_dir: Path, *, groups: int, quick: bool, profile: bool, via_api: bool
) -> Section:
    from portguard import rule as rule_module
    from portguard.adapters import client_config
    from portguard.rule import PortguardRule

    rss_start = _max_rss()
    ec2 = boto3.client("ec2", region_name=corpus.REGION, config=client_config())
    config = boto3.client("config", region_name=corpus.REGION, config=client_config())
    counter, clock = _Counter(config), _AwsClock(ec2, config)
    started = time.perf_counter()
    kinds = create_groups(ec2, groups, via_api=via_api)
    setup_seconds = time.perf_counter() - started
    rss_setup = _max_rss()

    out = _LineCounter()
    rule_module.logger.registered_handler.setStream(out)  # type: ignore[attr-defined]
    event = corpus.scheduled_event(events_dir)

    def handler_run() -> dict[str, Any]:
        summary = PortguardRule(config_client=config, ec2_client=ec2).handle(dict(event))
        # Whatever handle() recorded as metrics is printed as EMF, as @metrics.log_metrics
        # would (nothing when the entry point, not handle(), records them).
        with redirect_stdout(out), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            rule_module.metrics.flush_metrics()
        return summary

    def baseline_run() -> int:
        return baseline_loop(ec2, config)

    # First run: the calls and the RSS high-water mark, one-time loading included.
    counter.reset()
    summary = handler_run()
    rss_first = _max_rss()
    handler_calls, handler_evaluations, log_lines = counter.calls, counter.evaluations, out.lines
    counter.reset()
    n = baseline_run()  # the baseline's warm-up; N as moto lists it
    baseline_calls = counter.calls

    reps = 5
    runs = {"baseline": _Runs(), "handler": _Runs()}
    for _ in range(reps):
        runs["baseline"].time(baseline_run, clock)
        runs["handler"].time(handler_run, clock)
    peak_handler, peak_baseline = peak_traced(handler_run), peak_traced(baseline_run)

    section = Section(
        f"3. Periodic sweep: {groups:,} groups created + moto's default = {n:,} listed; "
        "handler vs a bare list-and-post loop"
    )
    expected_calls = math.ceil(n / BATCH)
    section.add(
        Row(
            "PutEvaluations calls",
            f"{handler_calls}",
            f"{baseline_calls}",
            f"{handler_calls / baseline_calls:.2f}x",
            f"== ceil(N/100) = {expected_calls}",
            "PASS" if handler_calls == expected_calls else "MISS",
        )
    )
    section.add(Row("  evaluations posted", f"{handler_evaluations:,}", f"{n:,}"))
    section.goal_max(
        "peak traced memory (tracemalloc)",
        mib(peak_handler),
        limit=128,
        unit="MiB",
        baseline=mib(peak_baseline),
    )
    section.add(
        Row(
            "  process max RSS: growth in the 1st run",
            f"+{mib(rss_first - rss_setup):.1f} MiB",
            f"{mib(rss_setup):.1f} MiB",
        )
    )
    median = {name: statistics.median(r.wall) for name, r in runs.items()}
    section.goal_ratio(
        "sweep wall time (median)",
        median["handler"],
        median["baseline"],
        limit=1.5,
        unit="s",
        digits=2,
    )
    own = {name: statistics.median(r.own) / n * 1e6 for name, r in runs.items()}
    section.info_ratio(
        "  time outside AWS calls, per group", own["handler"], own["baseline"], unit="us"
    )
    how = "through the EC2 API" if via_api else "on moto's EC2 backend (--setup-api: the API)"
    section.notes += [
        f"setup: {groups:,} groups made with create_security_group + "
        f"authorize_security_group_ingress {how} in {setup_seconds:.0f} s; mix: "
        + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])),
        f"handler summary (1st run): {_summary_text(summary)}; {log_lines} lines to stdout "
        "(LOG_LEVEL=INFO: NON_COMPLIANT at INFO, the rest at DEBUG)",
        f"wall times: {reps} runs each, alternating; samples handler "
        f"{_list(runs['handler'].wall)} s, baseline {_list(runs['baseline'].wall)} s",
        "time outside AWS calls: the run minus the time inside the clients' API calls (moto and "
        "botocore): the handler's reading, deciding, logging and batching, vs the loop's dicts",
        "Config client: moto (PutEvaluations with TestMode=True, token TESTMODE); "
        f"TestMode on every handler call: {counter.test_mode}",
        "moto ignores PageSize: DescribeSecurityGroups returns all groups in one page (AWS "
        "returns pages of <= 1000), so the page held in memory is the whole account's",
        "tracemalloc: peak of the Python allocations made during one run, moto's side included. "
        f"ru_maxrss: the process' resident high-water mark, {mib(rss_start):.0f} MiB before "
        f"moto's setup, {mib(rss_setup):.0f} MiB after it (interpreter, boto3, moto and its "
        "state); a run shows only as growth above that mark",
    ]
    _scan_rows(section, ec2, n, reps)
    if profile:
        section.notes.append("profile of one handler run:\n" + profile_text(handler_run, 1))
    out.close()
    return section


def _scan_rows(section: Section, ec2: Any, n: int, reps: int) -> None:
    """Issue 4's goal on the same groups: ``portguard scan``'s work for one region (the command's
    own scan_region: list, read, decide) against a bare DescribeSecurityGroups loop."""
    from portguard.parameters import parse_rule_parameters
    from portguard_cli.scan import scan_region

    parameters = parse_rule_parameters({})
    today = datetime.now(UTC).date()

    def scan_run() -> int:
        return len(list(scan_region(ec2, corpus.REGION, parameters, today=today)))

    def list_run() -> int:
        paginator = ec2.get_paginator("describe_security_groups")
        return sum(
            len(page["SecurityGroups"])
            for page in paginator.paginate(PaginationConfig={"PageSize": PAGE_SIZE})
        )

    scanned = scan_run()  # warm-up, and the count it must match
    listed = list_run()
    walls: dict[str, list[float]] = {"scan": [], "list": []}
    reps = max(reps, 7)
    for _ in range(reps):
        for name, fn in (("list", list_run), ("scan", scan_run)):
            gc.collect()  # a collection inside one run but not the other is noise, not cost
            started = time.perf_counter()
            fn()
            walls[name].append(time.perf_counter() - started)
    section.goal_ratio(
        "portguard scan of the region (median)",
        statistics.median(walls["scan"]),
        statistics.median(walls["list"]),
        limit=1.5,
        unit="s",
        digits=2,
    )
    section.notes.append(
        f"scan: portguard_cli.scan.scan_region over the same {n:,} groups ({scanned:,} decided, "
        f"{listed:,} listed) against a bare paginated DescribeSecurityGroups loop; {reps} runs "
        f"each, alternating; samples scan {_list(walls['scan'])} s, list {_list(walls['list'])} s"
    )


def _summary_text(summary: dict[str, Any]) -> str:
    keys = ("evaluations", "putEvaluationsCalls", "COMPLIANT", "NON_COMPLIANT", "NOT_APPLICABLE")
    return ", ".join(f"{k} {summary.get(k)}" for k in keys)


def _list(values: list[float]) -> str:
    return "/".join(f"{v:.2f}" for v in values)
