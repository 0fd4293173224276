"""The sandbox: an embedded AWS account (moto, in process) seeded with example security groups.

``make run`` runs :func:`main` (``python -m portguard_cli.sandbox``): it starts the sandbox, sends
the rule's real Lambda handler a Config ``ConfigurationItemChangeNotification`` for every group,
then one ``ScheduledNotification`` (the periodic sweep), and prints what AWS Config would show.
``portguard invoke --sandbox`` runs the handler on any event against the same account.

Nothing here reaches AWS. For the sandbox's duration every ``AWS_*`` variable is replaced by fake
credentials, the region, and ``AWS_CONFIG_FILE``/``AWS_SHARED_CREDENTIALS_FILE`` pointing at
the null device (a developer's own profiles are never read); all are restored on exit.

The seed file (``examples/sandbox.json``) lists groups in the shape of EC2's
``AuthorizeSecurityGroupIngress``, each with a ``why``. Its placeholders ``{prefix-list:NAME}``
and ``{group:NAME}`` become the ids the sandbox creates, ``{one-year-from-today}`` a date a year
after the run.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import sys
import textwrap
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from portguard.errors import InvalidParameterError
from portguard.events import TEST_MODE_TOKEN, MessageType
from portguard.model import SECURITY_GROUP_TYPE, Compliance
from portguard.parameters import DEFAULT_BLOCKED_PORTS, parse_ports, parse_rule_parameters
from portguard_cli.harness import HandlerRun, run_handler
from portguard_cli.results import Result, ordered, write_table
from portguard_cli.runner import run_guarded
from portguard_cli.sessions import CLIENT_CONFIG

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
    from types import TracebackType

    import boto3
    from mypy_boto3_config import ConfigServiceClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import AddPrefixListEntryTypeDef

    from portguard.parameters import RuleParameters
    from portguard.ports import PortRange, PortSet

REPOSITORY = Path(__file__).resolve().parents[2]
SEED_FILE = REPOSITORY / "examples" / "sandbox.json"
REGION = "us-east-1"
SANDBOX_RULE_NAME = "portguard"

# What the sandbox's environment holds instead of the caller's AWS_* variables.
_FAKE_KEY = "sandbox"
_PLACEHOLDER = re.compile(r"\{([a-z-]+)(?::([^{}]+))?\}")
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


class SeedError(ValueError):
    """The seed file is unreadable or describes something the sandbox cannot create."""


@dataclass(frozen=True, slots=True)
class SeededGroup:
    """A group of the seed file, as created in the sandbox."""

    name: str
    group_id: str
    why: str


class Sandbox:
    """An embedded AWS account: moto in process, seeded from ``seed_file``, for a ``with`` block.

    Inside the block, :attr:`ec2` and :attr:`config` are boto3 clients of the sandbox,
    :meth:`change_event` and :meth:`scheduled_event` build the events Config would send, and
    :meth:`run_handler` invokes the real handler with this account's clients. moto accepts
    ``PutEvaluations`` only in test mode: events for the sandbox carry the result token
    ``TESTMODE``. Do not start one inside another moto mock: they would share one account.
    """

    def __init__(self, seed_file: Path | None = None, *, region: str = REGION) -> None:
        self.seed_file = seed_file or SEED_FILE
        self.region = region
        self._seed = load_seed(self.seed_file)
        self.parameters: dict[str, str] = dict(self._seed.get("ruleParameters") or {})
        self.groups: list[SeededGroup] = []
        self.prefix_lists: dict[str, str] = {}
        self.vpc_id = ""
        self.account_id = ""
        self._saved_env: dict[str, str] | None = None
        self._mock: Any = None
        self._ec2: EC2Client | None = None
        self._config: ConfigServiceClient | None = None

    # --- lifetime ---------------------------------------------------------------------------

    def __enter__(self) -> Sandbox:
        try:
            from moto import mock_aws  # noqa: PLC0415 - a development dependency, loaded here
        except ImportError as error:  # pragma: no cover - moto is in the sandbox extra
            raise SeedError(
                "the sandbox needs moto: run `make run`, or pip install -e '.[sandbox]'"
            ) from error
        self._saved_env = {k: v for k, v in os.environ.items() if _sandbox_owns(k)}
        for key in self._saved_env:
            del os.environ[key]
        os.environ.update(
            AWS_ACCESS_KEY_ID=_FAKE_KEY,
            AWS_SECRET_ACCESS_KEY=_FAKE_KEY,
            AWS_DEFAULT_REGION=self.region,
            AWS_REGION=self.region,
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
            AWS_EC2_METADATA_DISABLED="true",
            # moto's catalogue of public AMIs: 0.4 s per start, and no group needs one.
            MOTO_EC2_LOAD_DEFAULT_AMIS="false",
        )
        self.groups, self.prefix_lists = [], {}
        self._mock = mock_aws()
        self._mock.start()
        try:
            self._connect()
            self._create()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        if self._saved_env is not None:
            for key in [k for k in os.environ if _sandbox_owns(k)]:
                del os.environ[key]
            os.environ.update(self._saved_env)
            self._saved_env = None
        self._ec2 = self._config = None

    def _connect(self) -> None:
        session = _session()
        self._ec2 = session.client("ec2", region_name=self.region, config=CLIENT_CONFIG)
        self._config = session.client("config", region_name=self.region, config=CLIENT_CONFIG)

    @property
    def ec2(self) -> EC2Client:
        if self._ec2 is None:
            raise RuntimeError("the sandbox is not running: use it in a `with` block")
        return self._ec2

    @property
    def config(self) -> ConfigServiceClient:
        if self._config is None:
            raise RuntimeError("the sandbox is not running: use it in a `with` block")
        return self._config

    # --- seeding ----------------------------------------------------------------------------

    def _create(self) -> None:
        ec2 = self.ec2
        # moto starts every region with a default VPC (and its default group). The sandbox
        # holds only its own VPC, so a sweep sees the seeded groups and that VPC's default one.
        for vpc in ec2.describe_vpcs()["Vpcs"]:
            if vpc.get("IsDefault"):
                subnets = ec2.describe_subnets(
                    Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}]
                )["Subnets"]
                for subnet in subnets:
                    ec2.delete_subnet(SubnetId=subnet["SubnetId"])
                ec2.delete_vpc(VpcId=vpc["VpcId"])
        spec = self._seed.get("vpc") or {}
        vpc = ec2.create_vpc(
            CidrBlock=str(spec.get("cidrBlock", "10.20.0.0/16")),
            TagSpecifications=[
                {
                    "ResourceType": "vpc",
                    "Tags": [{"Key": "Name", "Value": str(spec.get("name", "portguard-sandbox"))}],
                }
            ],
        )["Vpc"]
        self.vpc_id = vpc["VpcId"]
        self.account_id = vpc.get("OwnerId", "123456789012")

        for entry in self._seed.get("prefixLists") or []:
            name = entry["name"]
            entries: list[AddPrefixListEntryTypeDef] = [
                {"Cidr": cidr} for cidr in entry.get("entries", [])
            ]
            with self._refused(f"prefix list {name}"):
                created = ec2.create_managed_prefix_list(
                    PrefixListName=name,
                    AddressFamily=entry.get("addressFamily", "IPv4"),
                    MaxEntries=max(len(entries), 1),
                    Entries=entries,
                )
            self.prefix_lists[name] = created["PrefixList"]["PrefixListId"]

        # Groups first, rules second: a rule may refer to any group by name.
        ids: dict[str, str] = {}
        for spec_group in self._seed["securityGroups"]:
            name = spec_group["GroupName"]
            kwargs: dict[str, Any] = {
                "GroupName": name,
                "Description": spec_group.get("Description") or name,
                "VpcId": self.vpc_id,
            }
            tags = self._substitute(spec_group.get("Tags") or [], ids, name)
            if tags:
                kwargs["TagSpecifications"] = [{"ResourceType": "security-group", "Tags": tags}]
            with self._refused(f"group {name}"):
                ids[name] = ec2.create_security_group(**kwargs)["GroupId"]
            self.groups.append(SeededGroup(name, ids[name], str(spec_group.get("why", ""))))
        for spec_group in self._seed["securityGroups"]:
            name = spec_group["GroupName"]
            permissions = self._substitute(spec_group.get("IpPermissions") or [], ids, name)
            if permissions:
                with self._refused(f"group {name}"):
                    ec2.authorize_security_group_ingress(
                        GroupId=ids[name], IpPermissions=permissions
                    )

    @contextlib.contextmanager
    def _refused(self, what: str) -> Iterator[None]:
        """What EC2 refuses in the seed file (a bad CIDR, a wrong key) is the file's error."""
        try:
            yield
        except (ClientError, BotoCoreError) as error:
            raise SeedError(f"{self.seed_file}: {what}: {error}") from error

    def _substitute(self, value: Any, groups: Mapping[str, str], where: str) -> Any:
        """``value`` with its placeholders replaced (recursively)."""
        if isinstance(value, list):
            return [self._substitute(v, groups, where) for v in value]
        if isinstance(value, dict):
            return {k: self._substitute(v, groups, where) for k, v in value.items()}
        if not isinstance(value, str):
            return value

        def replace(match: re.Match[str]) -> str:
            kind, name = match.group(1), match.group(2)
            if kind == "one-year-from-today" and name is None:
                return one_year_after(datetime.now(UTC).date()).isoformat()
            if kind == "prefix-list" and name in self.prefix_lists:
                return self.prefix_lists[name]
            if kind == "group" and name in groups:
                return groups[name]
            raise SeedError(
                f"{self.seed_file}: group {where}: {match.group(0)} names nothing the sandbox "
                "created (prefix lists and groups are named by their name in the file)"
            )

        return _PLACEHOLDER.sub(replace, value)

    # --- what Config would send -------------------------------------------------------------

    def security_groups(self) -> list[dict[str, Any]]:
        """Every group of the sandbox account, as DescribeSecurityGroups gives them."""
        groups: list[dict[str, Any]] = []
        for page in self.ec2.get_paginator("describe_security_groups").paginate():
            groups.extend(page["SecurityGroups"])  # type: ignore[arg-type]
        return groups

    def change_event(self, group: Mapping[str, Any]) -> dict[str, Any]:
        """The ConfigurationItemChangeNotification Config sends when ``group`` is recorded."""
        return change_event(
            group,
            region=self.region,
            account_id=self.account_id,
            parameters=self.parameters,
        )

    def scheduled_event(self) -> dict[str, Any]:
        """The ScheduledNotification of the rule's periodic sweep."""
        return scheduled_event(
            region=self.region, account_id=self.account_id, parameters=self.parameters
        )

    def run_handler(self, event: Mapping[str, Any], *, log_stream: IO[str]) -> HandlerRun:
        """The real ``lambda_handler`` on ``event``, with this account's clients."""
        return run_handler(
            event,
            config_client=self.config,
            ec2_client=self.ec2,
            log_stream=log_stream,
            metrics_stream=log_stream,
        )


def _sandbox_owns(name: str) -> bool:
    """The environment variables the sandbox replaces while it runs, and restores after."""
    return name.startswith("AWS_") or name == "MOTO_EC2_LOAD_DEFAULT_AMIS"


_SESSION: list[boto3.session.Session] = []


def _session() -> boto3.session.Session:
    """The boto3 session of every sandbox. Made inside the first sandbox (so it sees only the
    sandbox's environment: fake credentials, no config files) and kept: a new session loads
    the service models again, 0.4 s. Its credentials are the sandbox's fake ones, always."""
    if not _SESSION:
        import boto3  # noqa: PLC0415

        _SESSION.append(boto3.session.Session())
    return _SESSION[0]


def load_seed(path: Path) -> dict[str, Any]:
    """The seed file, checked enough that a mistake in it names the file and the group."""
    try:
        seed = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise SeedError(f"{path}: cannot read the seed file ({error.strerror})") from error
    except ValueError as error:
        raise SeedError(f"{path}: not JSON ({error})") from error
    if not isinstance(seed, dict) or not isinstance(seed.get("securityGroups"), list):
        raise SeedError(f"{path}: expected an object with a securityGroups list")
    names = set()
    for index, group in enumerate(seed["securityGroups"]):
        if not isinstance(group, dict) or not isinstance(group.get("GroupName"), str):
            raise SeedError(f"{path}: securityGroups[{index}] has no GroupName")
        if group["GroupName"] in names:
            raise SeedError(f"{path}: two groups are named {group['GroupName']}")
        names.add(group["GroupName"])
    parameters = seed.get("ruleParameters") or {}
    try:
        parse_rule_parameters(parameters)
    except InvalidParameterError as error:
        raise SeedError(f"{path}: ruleParameters: {error}") from error
    for entry in seed.get("prefixLists") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise SeedError(f"{path}: a prefixLists entry has no name")
    return seed


def one_year_after(day: date) -> date:
    """The same day a year later (28 February for 29 February)."""
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return day.replace(year=day.year + 1, day=28)


# --- Config's events, in the shapes Config sends (tests/fixtures has examples) ----------------


def _config_time(when: datetime) -> str:
    """Config's timestamp format: ``2017-11-27T14:26:11.300Z``."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _camel(value: Any) -> Any:
    """An EC2 API value in Config's key style (``IpProtocol`` -> ``ipProtocol``)."""
    if isinstance(value, list):
        return [_camel(v) for v in value]
    if isinstance(value, dict):
        return {k[:1].lower() + k[1:]: _camel(v) for k, v in value.items()}
    return value


def _config_permission(permission: Mapping[str, Any]) -> dict[str, Any]:
    """One EC2 ``IpPermission`` as a Config item holds it: EC2's ``IpRanges`` is Config's
    ``ipv4Ranges``, and Config repeats its CIDRs in the legacy string list ``ipRanges``."""
    out: dict[str, Any] = _camel({k: v for k, v in permission.items() if k != "IpRanges"})
    ranges = permission.get("IpRanges") or []
    out["ipv4Ranges"] = _camel(ranges)
    out["ipRanges"] = [r["CidrIp"] for r in ranges if "CidrIp" in r]
    for key in ("ipv6Ranges", "prefixListIds", "userIdGroupPairs"):
        out.setdefault(key, [])
    return out


def configuration_item(
    group: Mapping[str, Any], *, region: str, account_id: str, captured: datetime
) -> dict[str, Any]:
    """The configuration item (version 1.3) Config records for an EC2 group."""
    group_id = group["GroupId"]
    tags = group.get("Tags") or []
    configuration = {
        "description": group.get("Description"),
        "groupName": group.get("GroupName"),
        "ipPermissions": [_config_permission(p) for p in group.get("IpPermissions") or []],
        "ownerId": group.get("OwnerId", account_id),
        "groupId": group_id,
        "ipPermissionsEgress": [
            _config_permission(p) for p in group.get("IpPermissionsEgress") or []
        ],
        "tags": _camel(tags),
        "vpcId": group.get("VpcId"),
    }
    relationships = []
    if group.get("VpcId"):
        relationships.append(
            {
                "resourceId": group["VpcId"],
                "resourceName": None,
                "resourceType": "AWS::EC2::VPC",
                "name": "Is contained in Vpc",
            }
        )
    text = json.dumps(configuration, sort_keys=True)
    return {
        "relatedEvents": [],
        "relationships": relationships,
        "configuration": configuration,
        "supplementaryConfiguration": {},
        "tags": {t["Key"]: t.get("Value", "") for t in tags if "Key" in t},
        "configurationItemVersion": "1.3",
        "configurationItemCaptureTime": _config_time(captured),
        "configurationStateId": int(captured.timestamp() * 1000),
        "awsAccountId": account_id,
        "configurationItemStatus": "ResourceDiscovered",
        "resourceType": SECURITY_GROUP_TYPE,
        "resourceId": group_id,
        "resourceName": group.get("GroupName"),
        "ARN": f"arn:aws:ec2:{region}:{account_id}:security-group/{group_id}",
        "awsRegion": region,
        "availabilityZone": "Not Applicable",
        "configurationStateMd5Hash": hashlib.md5(text.encode(), usedforsecurity=False).hexdigest(),
        "resourceCreationTime": None,
    }


def _envelope(
    invoking: Mapping[str, Any], *, region: str, account_id: str, parameters: Mapping[str, str]
) -> dict[str, Any]:
    """The Lambda event around an invoking event, as Config sends it to a custom rule."""
    return {
        "configRuleId": "config-rule-sandbox",
        "version": "1.0",
        "configRuleName": SANDBOX_RULE_NAME,
        "configRuleArn": f"arn:aws:config:{region}:{account_id}:config-rule/config-rule-sandbox",
        "invokingEvent": json.dumps(invoking),
        "ruleParameters": json.dumps(dict(parameters)),
        "resultToken": TEST_MODE_TOKEN,
        "eventLeftScope": False,
        "executionRoleArn": f"arn:aws:iam::{account_id}:role/aws-service-role/"
        "config.amazonaws.com/AWSServiceRoleForConfig",
        "accountId": account_id,
        "evaluationMode": "DETECTIVE",
    }


def change_event(
    group: Mapping[str, Any],
    *,
    region: str,
    account_id: str,
    parameters: Mapping[str, str],
    now: datetime | None = None,
) -> dict[str, Any]:
    """A ConfigurationItemChangeNotification for an EC2 group, result token ``TESTMODE``."""
    now = now or datetime.now(UTC)
    invoking = {
        "configurationItemDiff": None,
        "configurationItem": configuration_item(
            group, region=region, account_id=account_id, captured=now
        ),
        "notificationCreationTime": _config_time(now),
        "messageType": MessageType.CHANGE.value,
        "recordVersion": "1.3",
    }
    return _envelope(invoking, region=region, account_id=account_id, parameters=parameters)


def scheduled_event(
    *,
    region: str,
    account_id: str,
    parameters: Mapping[str, str],
    now: datetime | None = None,
) -> dict[str, Any]:
    """A ScheduledNotification (the periodic sweep), result token ``TESTMODE``."""
    invoking = {
        "awsAccountId": account_id,
        "notificationCreationTime": _config_time(now or datetime.now(UTC)),
        "messageType": MessageType.SCHEDULED.value,
        "recordVersion": "1.0",
    }
    return _envelope(invoking, region=region, account_id=account_id, parameters=parameters)


# --- make run -------------------------------------------------------------------------------


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
        outcome = sandbox.run_handler(event, log_stream=log_stream)
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
    from portguard.adapters.remediate import remediate, restore  # noqa: PLC0415 - only here
    from portguard.remediation import read_rollback  # noqa: PLC0415

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


if __name__ == "__main__":
    # As every portguard command: a failure is one line, a closed pipe ends the output quietly.
    raise SystemExit(run_guarded("portguard sandbox", main))
