"""``make run``: the rule on the sandbox account, as AWS Config would show it, told to a newcomer.

:func:`main` starts the sandbox, sends the rule's real Lambda handler a Config
``ConfigurationItemChangeNotification`` for every group, then one ``ScheduledNotification`` (the
periodic sweep), and prints what the rule flags and which ports, the table of verdicts, why each
group is there, a remediation applied and undone, and how it ran.
"""

from __future__ import annotations

import io
import sys
import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from portguard.model import Compliance
from portguard.parameters import DEFAULT_BLOCKED_PORTS, parse_ports, parse_rule_parameters
from portguard_cli.harness import run_handler
from portguard_cli.results import Result, ordered, write_table
from portguard_cli.sandbox.account import Sandbox, SeedError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from portguard.parameters import RuleParameters
    from portguard.ports import PortRange, PortSet
    from portguard_cli.sandbox.account import SeededGroup

# What commonly listens on each port of the presets, for the introduction of `make run`.
PORT_SERVICES: Mapping[int, str] = {
    20: "FTP", 21: "FTP", 22: "SSH", 23: "Telnet", 25: "SMTP mail", 110: "POP3 mail",
    135: "Windows RPC", 143: "IMAP mail", 445: "Windows file sharing (SMB)",
    1433: "SQL Server", 1434: "SQL Server", 3000: "dev web servers and Grafana",
    3306: "MySQL", 3389: "Windows remote desktop (RDP)", 4333: "mSQL",
    5000: "dev web servers and Docker registries", 5432: "PostgreSQL", 5500: "VNC",
    5601: "Kibana", 8080: "web admin consoles and proxies", 8088: "Hadoop YARN",
    8888: "Jupyter", 9200: "Elasticsearch", 9300: "Elasticsearch",
}  # fmt: skip
_WIDTH = 79  # the introduction's lines: they fit an 80-column terminal
_NO_BREAK = "\u00a0"  # a space _wrap never breaks a line at (textwrap splits at ASCII spaces)
# The rule's defaults, to say what the sandbox's parameters leave unset.
_PARAMETER_DEFAULTS = {
    "blockedPorts": f"{DEFAULT_BLOCKED_PORTS} (Security Hub EC2.19's 24 ports)",
    "protocolType": "ALL",
    "ipType": "ALL",
    "resolvePrefixLists": "true",
}


@dataclass(frozen=True, slots=True)
class SandboxRun:
    """What the handler posted for each group, through change notifications and the sweep."""

    groups: list[dict[str, Any]]
    """Every group of the account (DescribeSecurityGroups)."""
    by_change: dict[str, dict[str, Any]]
    """Group id -> the evaluation posted for its change notification."""
    by_sweep: dict[str, dict[str, Any]]
    """Group id -> the evaluation posted by the sweep."""
    invocations: int
    put_evaluations_calls: int
    errors: list[str]

    def disagreements(self) -> list[str]:
        """Groups whose two evaluations differ in compliance or annotation."""
        out = []
        for group in self.groups:
            gid = group["GroupId"]
            change, sweep = self.by_change.get(gid), self.by_sweep.get(gid)
            if change is None or sweep is None or _verdict(change) != _verdict(sweep):
                out.append(gid)
        return out

    def results(self) -> list[Result]:
        """The table's rows: each group's evaluation from its change notification."""
        rows = []
        for group in self.groups:
            evaluation = self.by_change.get(group["GroupId"]) or self.by_sweep.get(group["GroupId"])
            if evaluation is None:
                continue
            rows.append(
                Result(
                    group_id=group["GroupId"],
                    group_name=group.get("GroupName"),
                    # One VPC and one region, both in the header: the table keeps its
                    # width for the annotations.
                    vpc_id=None,
                    region=None,
                    compliance=Compliance(evaluation["ComplianceType"]),
                    annotation=evaluation.get("Annotation"),
                    source="sandbox",
                )
            )
        return rows


def _verdict(evaluation: Mapping[str, Any]) -> tuple[str, str | None]:
    return evaluation["ComplianceType"], evaluation.get("Annotation")


def evaluate_sandbox(sandbox: Sandbox, *, log_stream: IO[str]) -> SandboxRun:
    """Invoke the handler with a change notification for every group of the sandbox, then with
    one scheduled sweep; keep what each invocation posted."""
    groups = sandbox.security_groups()
    by_change: dict[str, dict[str, Any]] = {}
    by_sweep: dict[str, dict[str, Any]] = {}
    errors: list[str] = []
    calls = 0
    runs = [(sandbox.change_event(g), by_change) for g in groups]
    runs.append((sandbox.scheduled_event(), by_sweep))
    for event, into in runs:
        outcome = run_handler(
            event,
            config_client=sandbox.config,
            ec2_client=sandbox.ec2,
            log_stream=log_stream,
            metrics_stream=log_stream,
        )
        if outcome.failure is not None:
            errors.append(outcome.failure)
        if outcome.summary is not None:
            calls += int(outcome.summary.get("putEvaluationsCalls", 0))
        for evaluation in outcome.evaluations:
            into[evaluation["ComplianceResourceId"]] = evaluation
    return SandboxRun(groups, by_change, by_sweep, len(runs), calls, errors)


def describe_parameters(parameters: Mapping[str, str]) -> str:
    given = ", ".join(f"{k}={v}" for k, v in parameters.items()) or "none"
    defaults = ", ".join(f"{k}={v}" for k, v in _PARAMETER_DEFAULTS.items() if k not in parameters)
    return f"{given}; defaults for the rest: {defaults}" if defaults else given


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def describe_ports(ports: PortSet) -> str:
    """The ports for people, each named by what commonly listens there, ports of one service
    together: ``20-21 FTP, 22 SSH, …, 9200 and 9300 Elasticsearch``; a wide range as it is.

    >>> text = describe_ports(PortSet([(20, 22), (3389, 3389), (9200, 9200), (9300, 9300)]))
    >>> text.replace(_NO_BREAK, " ")
    '20-21 FTP, 22 SSH, 3389 Windows remote desktop (RDP), 9200 and 9300 Elasticsearch'
    """
    wide: list[PortRange] = []  # 8000-8100, 0-65535: no single service to name
    by_service: dict[str | None, list[PortRange]] = {}
    for low, high in ports.ranges:
        if high - low >= 64:
            wide.append((low, high))
            continue
        for port in range(low, high + 1):
            runs = by_service.setdefault(PORT_SERVICES.get(port), [])
            if runs and runs[-1][1] == port - 1:
                runs[-1] = (runs[-1][0], port)
            else:
                runs.append((port, port))
    items = [(run[0], _numbers([run])) for run in wide + by_service.pop(None, [])]
    items += [(runs[0][0], f"{_numbers(runs)} {name}") for name, runs in by_service.items()]
    # No line break inside an item: a port stays beside its name.
    return ", ".join(text.replace(" ", _NO_BREAK) for _, text in sorted(items))


def _numbers(runs: Sequence[PortRange]) -> str:
    """``20-21``, ``9200 and 9300``, ``1, 3 and 5``."""
    numbers = [str(low) if low == high else f"{low}-{high}" for low, high in runs]
    return ", ".join([*numbers[:-2], " and ".join(numbers[-2:])])


def introduction(parameters: RuleParameters, raw: Mapping[str, str]) -> str:
    """What the rule flags and which ports, in plain words: the first thing `make run` says."""
    spaces = " or ".join("0.0.0.0/0" if family == 4 else "::/0" for family in parameters.families)
    protocols = " or ".join(p.upper() for p in parameters.protocols)
    blocked = parameters.blocked_ports
    if blocked == parse_ports(DEFAULT_BLOCKED_PORTS):
        which = "Security Hub EC2.19's 24 (portguard's default, fsbp)"
    else:
        which = f"{len(blocked)} (blockedPorts={raw.get('blockedPorts', '')})"
    flags = (
        "What it flags: a security group that lets the whole internet reach SSH, RDP, a database "
        f"or an admin console, that is, a blocked port open over {protocols} to every address "
        f"({spaces}, or sources that add up to it). Such a group is NON_COMPLIANT and its "
        "annotation says which ports and from where; every other group is COMPLIANT."
    )
    return (
        "portguard, an AWS Config rule, on a sandbox account\n\n"
        + _wrap(flags)
        + f"\n\nThe blocked ports here are {which}:\n"
        + _wrap(describe_ports(blocked), indent="  ")
        + "\n"
    )


def why_each_group(rows: Sequence[Result], groups: Sequence[SeededGroup]) -> str:
    """One line per group, in the table's order: the seed file's ``why`` of each."""
    why = {group.group_id: group.why for group in groups}
    width = max((len(r.group_name or r.group_id) for r in rows), default=0) + 2
    lines = []
    for row in ordered(rows):
        reason = why.get(row.group_id) or (
            f"{row.compliance.value}: the default group every VPC comes with (not in the seed "
            "file): no port open to the internet."
            if row.group_name == "default"
            else f"{row.compliance.value}: not in the seed file."
        )
        name = (row.group_name or row.group_id).ljust(width)
        lines.append(_wrap(reason, indent="  " + name, hanging=" " * (width + 2)))
    return "\n".join(lines)


def _wrap(text: str, *, indent: str = "", hanging: str | None = None) -> str:
    """``text`` in lines of at most _WIDTH, broken at spaces only (not at _NO_BREAK)."""
    return textwrap.fill(
        text,
        width=_WIDTH,
        initial_indent=indent,
        subsequent_indent=indent if hanging is None else hanging,
        break_on_hyphens=False,
        break_long_words=False,
    ).replace(_NO_BREAK, " ")


DEMO_GROUP = "split-cidr-ssh"
DEMO_ALLOWED = "203.0.113.0/24"


def demonstrate_remediation(sandbox: Sandbox) -> list[str]:
    """``portguard remediate`` on one sandbox group (split-cidr-ssh, when the seed has it):
    applied with an allowed source, then undone with ``restore``; the lines to show."""
    from portguard.remediation.apply import remediate, restore  # noqa: PLC0415 - only here
    from portguard.remediation.rollback import read_rollback  # noqa: PLC0415

    group = next((g for g in sandbox.groups if g.name == DEMO_GROUP), None)
    if group is None:
        return []
    applied = remediate(
        sandbox.ec2,
        group.group_id,
        parse_rule_parameters(sandbox.parameters),
        allow_cidrs=(DEMO_ALLOWED,),
        apply=True,
        region=sandbox.region,
        now=lambda: datetime.now(UTC).isoformat(timespec="seconds"),
    )
    lines = [
        f"Closing one of them: portguard remediate {group.group_id} ({group.name}) "
        f"--allow-cidr {DEMO_ALLOWED} --apply",
        *(f"  {line}" for line in applied.lines),
        f"  {applied.message}",
    ]
    if applied.document is not None:
        undone = restore(sandbox.ec2, read_rollback(applied.document), apply=True)
        lines += [
            "and undoing it from the rollback file: portguard restore FILE --apply",
            *(f"  {line}" for line in undone.lines),
            f"  {undone.message}",
        ]
    return lines


def main(seed_file: Path | None = None, out: IO[str] | None = None) -> int:
    """``make run``: the rule on the sandbox account, as AWS Config would show it."""
    out = out or sys.stdout
    logs = io.StringIO()  # the handler's log lines and EMF metrics: counted, not shown
    try:
        with Sandbox(seed_file) as sandbox:
            run = evaluate_sandbox(sandbox, log_stream=logs)
            groups, seeded = sandbox.groups, len(sandbox.groups)
            region, parameters, seed = sandbox.region, sandbox.parameters, sandbox.seed_file
            remediation = demonstrate_remediation(sandbox)
    except SeedError as error:
        print(f"portguard sandbox: {error}", file=sys.stderr)
        return 2
    for failure in run.errors:
        print(f"portguard sandbox: the handler failed: {failure}", file=sys.stderr)

    others = len(run.groups) - seeded
    default = " and the VPC's default group, which AWS makes with every VPC" if others else ""
    write = out.write
    write(introduction(parse_rule_parameters(parameters), parameters))
    write(
        "\n"
        + _wrap(
            "The sandbox: an AWS account inside this process, with no AWS account of yours and "
            f"no network, holding the {seeded} security groups of {_relative(seed)}, each there "
            f"to show one case,{default}. What AWS Config would show for each group:"
        )
        + "\n"
    )
    out.flush()
    rows = run.results()
    write_table(rows, out)
    disagree = run.disagreements()
    if disagree:
        write(
            f"\nThe change notifications and the sweep DISAGREE on {', '.join(disagree)}: "
            "a bug, please report it.\n"
        )
    write(f"\nWhy each group is there ({_relative(seed)}):\n{why_each_group(rows, groups)}\n")
    if remediation:
        write("\n" + "\n".join(remediation) + "\n")
    write(
        "\nGo further:\n"
        "  the handler on an event   .venv/bin/portguard invoke --sandbox "
        "examples/events/scheduled.json\n"
        "  files, offline            .venv/bin/portguard evaluate "
        "examples/describe-security-groups.json\n"
        "                            (yours: aws ec2 describe-security-groups > sgs.json)\n"
        "  your account, live        .venv/bin/portguard scan --region eu-west-1\n"
        "  close a group's ports     .venv/bin/portguard remediate sg-… --region eu-west-1\n"
        "  deploy the rule           README.md\n"
    )
    lines = sum(1 for line in logs.getvalue().splitlines() if line.startswith("{"))
    agreed = "" if disagree else f" The two agree on all {len(run.groups)} groups."
    write(
        "\n"
        + _wrap(
            "How this ran: the rule's real Lambda handler, built as "
            "portguard.handler.lambda_handler is but around the sandbox's clients, got "
            "what AWS Config sends, a ConfigurationItemChangeNotification per group, then one "
            "ScheduledNotification (the periodic sweep), and posted to the sandbox's "
            f"PutEvaluations in test mode (result token TESTMODE): {run.invocations} "
            f"invocations, {run.put_evaluations_calls} PutEvaluations calls, {lines} structured "
            f"log lines and EMF metrics (not shown).{agreed} The sandbox is moto, in region "
            f"{region}. Rule parameters: {describe_parameters(parameters)}."
        )
        + "\n"
    )
    return 1 if disagree or run.errors else 0
