"""The sandbox: an embedded AWS account (moto, in process) seeded with example security groups.

``make run`` (:mod:`portguard_cli.sandbox.demo`) and ``portguard invoke --sandbox`` run the rule's
real Lambda handler against it. Nothing here reaches AWS. For the sandbox's duration every
``AWS_*`` variable is replaced by fake credentials, the region, and
``AWS_CONFIG_FILE``/``AWS_SHARED_CREDENTIALS_FILE`` pointing at the null device (a developer's own
profiles are never read); all are restored on exit.

The seed file (``examples/sandbox.json``) lists groups in the shape of EC2's
``AuthorizeSecurityGroupIngress``, each with a ``why``. Its placeholders ``{prefix-list:NAME}``
and ``{group:NAME}`` become the ids the sandbox creates, ``{one-year-from-today}`` a date a year
after the run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from portguard.errors import InvalidParameterError
from portguard.parameters import parse_rule_parameters
from portguard_cli.sandbox.events import change_event, scheduled_event
from portguard_cli.sessions import CLIENT_CONFIG

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from types import TracebackType

    import boto3
    from mypy_boto3_config import ConfigServiceClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import AddPrefixListEntryTypeDef

REPOSITORY = Path(__file__).resolve().parents[3]
SEED_FILE = REPOSITORY / "examples" / "sandbox.json"
REGION = "us-east-1"

# What the sandbox's environment holds instead of the caller's AWS_* variables.
_FAKE_KEY = "sandbox"
_PLACEHOLDER = re.compile(r"\{([a-z-]+)(?::([^{}]+))?\}")


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

    Inside the block, :attr:`ec2` and :attr:`config` are boto3 clients of the sandbox (the
    clients a rule is given to run against it: :func:`portguard_cli.harness.run_handler`), and
    :meth:`change_event` and :meth:`scheduled_event` build the events Config would send. moto
    accepts ``PutEvaluations`` only in test mode: events for the sandbox carry the result token
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
