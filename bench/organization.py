"""Section 6: ``portguard scan --org`` over many accounts, against a loopback AWS with latency.

The AWS is moto's ``ThreadedMotoServer`` on 127.0.0.1, in a process of its own (so that its CPU
is not the command's), every request held ``LATENCY`` seconds before moto answers it, as a real
endpoint keeps a caller waiting. The organization (moto's Organizations API) holds the caller's
account and N - 1 members; each (account, region) pair holds its default VPC's default group and
three more (SSH open to the world, HTTPS open to the world, SSH from a private range).

- **Time**: the command (``portguard_cli.main.main``, ``--format json`` into memory) against a
  bare loop that makes the same calls with the same number of worker threads: GetCallerIdentity,
  every page of ListAccounts, one AssumeRole per member account (the caller's own account with
  its own credentials) and DescribeSecurityGroups of every pair, each pair's client made from one
  botocore session (its service models loaded once) and its account's credentials, counting the
  groups and deciding nothing. Runs alternate; medians.
- **Workers**: the command at several worker counts, for the default.
- **Memory**: tracemalloc's peak during the command at two sizes of organization; its growth per
  account against what each account's rows and their JSON take.
"""

from __future__ import annotations

import gc
import io
import logging
import multiprocessing
import os
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import redirect_stdout
from typing import TYPE_CHECKING, Any, NamedTuple

from bench.report import Row, Section, mib, peak_traced

if TYPE_CHECKING:
    from collections.abc import Callable
    from multiprocessing.connection import Connection
    from multiprocessing.sharedctypes import Synchronized

LATENCY = 0.020
"""Seconds each request waits before moto answers it."""

REGIONS = ("us-east-1", "eu-west-1")
HOME_REGION = "us-east-1"
ROLE = "portguard-member"
GOAL_RATIO = 1.3
GROWTH_GOAL_KIB = 32
"""Memory growth allowed per account: its rows and their JSON (a few KiB for its 8 groups),
with room; a botocore session kept per account, with its credentials, is about 220 KiB."""


# --- the loopback AWS ----------------------------------------------------------------------------


def _serve(answer: Connection, latency: Synchronized[float]) -> None:
    """The server process: ThreadedMotoServer with every request delayed by ``latency``."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    class SlowMotoServer(ThreadedMotoServer):
        """moto's threaded server, its application wrapped in a delay."""

        def _server_entry(self) -> None:
            app = DomainDispatcherApplication(create_backend_app)

            def slow(environ: dict[str, Any], start_response: Any) -> Any:
                time.sleep(latency.value)
                return app(environ, start_response)

            self._server = make_server(
                self._ip_address, self._port, slow, True, request_handler=MotoRequestHandler
            )
            self._server_ready_event.set()
            self._server.serve_forever()

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    server = SlowMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    answer.send(server.get_host_and_port()[1])
    threading.Event().wait()  # until the parent terminates the process


class LoopbackAws:
    """The server process; :attr:`url` for ``AWS_ENDPOINT_URL``; :meth:`slow` sets the delay."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._latency = context.Value("d", 0.0)
        ours, theirs = context.Pipe()
        self._process = context.Process(target=_serve, args=(theirs, self._latency), daemon=True)
        self._process.start()
        self.url = f"http://127.0.0.1:{ours.recv()}"

    def slow(self, seconds: float) -> None:
        self._latency.value = seconds

    def stop(self) -> None:
        self._process.terminate()
        self._process.join()


# --- the organization ----------------------------------------------------------------------------


class Organization:
    """The organization on the loopback AWS, grown by :meth:`grow`: the caller's account (the
    management account) and members, four groups in each of their (account, region) pairs."""

    def __init__(self) -> None:
        import boto3

        self._org = boto3.client("organizations", region_name=HOME_REGION)
        self._org.create_organization(FeatureSet="ALL")
        self.home = boto3.client("sts", region_name=HOME_REGION).get_caller_identity()["Account"]
        _seed_account(self.home, self.home)
        self.members: list[str] = []

    @property
    def size(self) -> int:
        return 1 + len(self.members)

    def grow(self, accounts: int) -> None:
        """Members added until the organization holds ``accounts`` accounts."""
        for n in range(self.size, accounts):
            status = self._org.create_account(
                AccountName=f"member-{n}", Email=f"member-{n}@example.com"
            )
            account = status["CreateAccountStatus"]["AccountId"]
            _seed_account(account, self.home)
            self.members.append(account)


def _seed_account(account: str, home: str) -> None:
    import boto3

    credentials: dict[str, Any] = {}
    if account != home:
        assumed = boto3.client("sts", region_name=HOME_REGION).assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/{ROLE}", RoleSessionName="bench-seed"
        )["Credentials"]
        credentials = {
            "aws_access_key_id": assumed["AccessKeyId"],
            "aws_secret_access_key": assumed["SecretAccessKey"],
            "aws_session_token": assumed["SessionToken"],
        }
    for region in REGIONS:
        ec2 = boto3.client("ec2", region_name=region, **credentials)
        for name, cidr, port in (
            ("ssh-open", "0.0.0.0/0", 22),
            ("https", "0.0.0.0/0", 443),
            ("ssh-private", "10.0.0.0/8", 22),
        ):
            group = ec2.create_security_group(GroupName=name, Description=name)["GroupId"]
            ec2.authorize_security_group_ingress(
                GroupId=group,
                IpPermissions=[
                    {
                        "IpProtocol": "tcp",
                        "FromPort": port,
                        "ToPort": port,
                        "IpRanges": [{"CidrIp": cidr}],
                    }
                ],
            )


# --- what is timed -------------------------------------------------------------------------------


def command(workers: int) -> tuple[int, int]:
    """``portguard scan --org`` of every account and both regions; its exit status and the
    length of its JSON."""
    from portguard_cli.main import main

    out = io.StringIO()
    argv = ["scan", "--org", "--format", "json", "--workers", str(workers)]
    for region in REGIONS:
        argv += ["--region", region]
    with redirect_stdout(out):
        status = main(argv)
    return status, len(out.getvalue())


def bare_loop(workers: int) -> int:
    """The same calls, nothing decided: the groups counted."""
    import botocore.session
    from botocore.config import Config

    session = botocore.session.get_session()
    config = Config(max_pool_connections=workers)
    sts: Any = session.create_client("sts", region_name=HOME_REGION, config=config)
    home = sts.get_caller_identity()["Account"]
    organizations: Any = session.create_client("organizations", region_name=HOME_REGION)
    accounts = [
        account["Id"]
        for page in organizations.get_paginator("list_accounts").paginate()
        for account in page["Accounts"]
        if account.get("State", account.get("Status")) == "ACTIVE"
    ]
    lock = threading.Lock()
    assumed: dict[str, dict[str, Any]] = {}
    locks = {account: threading.Lock() for account in accounts}

    def credentials(account: str) -> dict[str, Any]:
        if account == home:
            return {}
        with locks[account]:
            if account not in assumed:
                answer = sts.assume_role(
                    RoleArn=f"arn:aws:iam::{account}:role/{ROLE}", RoleSessionName="bench"
                )["Credentials"]
                assumed[account] = {
                    "aws_access_key_id": answer["AccessKeyId"],
                    "aws_secret_access_key": answer["SecretAccessKey"],
                    "aws_session_token": answer["SessionToken"],
                }
            return assumed[account]

    def pair(account_region: tuple[str, str]) -> int:
        account, region = account_region
        keys = credentials(account)
        with lock:  # a session is not thread-safe; its clients are
            ec2 = session.create_client("ec2", region_name=region, **keys)
        pages = ec2.get_paginator("describe_security_groups").paginate(
            PaginationConfig={"PageSize": 1000}
        )
        return sum(len(page["SecurityGroups"]) for page in pages)

    pairs = [(account, region) for account in accounts for region in REGIONS]
    with ThreadPoolExecutor(max_workers=workers) as executor:
        return sum(executor.map(pair, pairs))


def _timed(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall-clock seconds, and this process's CPU seconds (every thread's; the server's are
    its own process's)."""
    gc.collect()
    started, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - started, time.process_time() - cpu


class _Medians(NamedTuple):
    command: float
    bare: float
    command_cpu: float
    bare_cpu: float


def _pair_of_medians(workers: int, reps: int) -> _Medians:
    """The command's and the loop's median seconds (wall and CPU) with ``workers``, the runs
    alternating."""
    mine, floor = [], []
    for _ in range(reps):
        floor.append(_timed(lambda: bare_loop(workers)))
        mine.append(_timed(lambda: command(workers)))
    return _Medians(
        statistics.median(wall for wall, _ in mine),
        statistics.median(wall for wall, _ in floor),
        statistics.median(cpu for _, cpu in mine),
        statistics.median(cpu for _, cpu in floor),
    )


def run_organization(*, quick: bool) -> Section:
    aws = LoopbackAws()
    saved = {key: os.environ.get(key) for key in ("AWS_ENDPOINT_URL",)}
    os.environ["AWS_ENDPOINT_URL"] = aws.url
    try:
        return _run(aws, quick=quick)
    finally:
        aws.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _run(aws: LoopbackAws, *, quick: bool) -> Section:
    from portguard_cli.inputs import DEFAULT_WORKERS

    small, large = (20, 50) if quick else (50, 200)
    reps = 2 if quick else 3
    sweep = (4, 8, 16, 32) if not quick else (8, 16)
    section = Section(
        f"6. portguard scan --org: {large} accounts x {len(REGIONS)} regions, loopback moto "
        f"with {LATENCY * 1000:.0f} ms a call, against a bare loop of the same calls"
    )

    started = time.perf_counter()
    organization = Organization()
    organization.grow(small)
    seeding = time.perf_counter() - started
    aws.slow(LATENCY)
    status, json_small = command(DEFAULT_WORKERS)  # a warm-up, and the small JSON's size
    peak_small = peak_traced(lambda: command(DEFAULT_WORKERS))
    aws.slow(0.0)
    started = time.perf_counter()
    organization.grow(large)
    seeding += time.perf_counter() - started
    aws.slow(LATENCY)

    status, json_large = command(DEFAULT_WORKERS)
    groups = bare_loop(DEFAULT_WORKERS)
    default = _pair_of_medians(DEFAULT_WORKERS, reps)
    section.goal_ratio(
        f"scan --org, {DEFAULT_WORKERS} workers (the default)",
        default.command,
        default.bare,
        limit=GOAL_RATIO,
        unit="s",
        digits=2,
    )
    pairs = large * len(REGIONS)
    section.info_ratio(
        "  its CPU per pair (this process, every thread)",
        default.command_cpu / pairs * 1000,
        default.bare_cpu / pairs * 1000,
        unit="ms",
    )
    by_workers = {DEFAULT_WORKERS: default}
    for workers in sweep:
        if workers not in by_workers:
            by_workers[workers] = _pair_of_medians(workers, reps)
    for workers, medians in sorted(by_workers.items()):
        section.info_ratio(
            f"  {workers} workers", medians.command, medians.bare, unit="s", digits=2
        )

    peak_large = peak_traced(lambda: command(DEFAULT_WORKERS))
    growth = (peak_large - peak_small) / (large - small)
    rows_per_account = (json_large - json_small) / (large - small)
    section.goal_max(
        f"peak memory growth per account ({small} -> {large} accounts)",
        growth / 1024,
        limit=GROWTH_GOAL_KIB,
        unit="KiB",
    )
    section.add(Row(f"  peak traced memory, {small} accounts", f"{mib(peak_small):.1f} MiB"))
    section.add(Row(f"  peak traced memory, {large} accounts", f"{mib(peak_large):.1f} MiB"))
    section.add(Row("  the JSON of one account's rows", f"{rows_per_account / 1024:.1f} KiB"))

    calls = 1 + -(-large // 20) + (large - 1) + pairs
    section.notes += [
        f"{large} accounts (the caller's and {large - 1} members) x {len(REGIONS)} regions = "
        f"{pairs} pairs, {groups} groups; exit status {status}; about {calls} calls a run "
        "(GetCallerIdentity, ListAccounts in pages of 20, an AssumeRole per member, a "
        "DescribeSecurityGroups per pair), the same for both",
        f"moto (ThreadedMotoServer) in its own process on 127.0.0.1, each request held "
        f"{LATENCY * 1000:.0f} ms; seeding took {seeding:.0f} s (no delay)",
        f"figures are medians of {reps} runs, the command and the loop alternating; the bare "
        "loop makes each pair's client from one botocore session, as the command does",
        f"memory: tracemalloc's peak during one run of the command at {small} and {large} "
        "accounts (clients, pages, sessions and the rows with their JSON); a session kept per "
        "account would add about 220 KiB each",
        f"machine: {os.cpu_count()} CPUs; Python {sys.version.split()[0]}",
    ]
    return section
