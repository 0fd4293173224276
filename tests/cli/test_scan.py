"""``portguard scan`` against moto's EC2 (in process): several regions, every option, every exit
status, the JSON schema, the table, errors per region, and the handler's verdicts for the same
groups. Nothing reaches AWS: credentials are fake and the AWS config files are isolated."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import SSOTokenLoadError
from botocore.stub import Stubber
from moto import mock_aws
from rows import JSON_FIELDS
from shared_data import fixture

from portguard_cli import scan, sessions
from portguard_cli.main import main

WORLD4 = [{"CidrIp": "0.0.0.0/0"}]
WORLD6 = [{"CidrIpv6": "::/0"}]
SSH_ANNOTATION = "Open to the internet from 0.0.0.0/0: tcp/22"
ACCOUNT = "123456789012"  # moto's default account: the caller's
PROGRESS_CHARS = ("╸", "╺", "⠋", "⠙", "⠹", "\x1b[")


def perm(protocol: str, port: int, **sources: Any) -> dict[str, Any]:
    return {"IpProtocol": protocol, "FromPort": port, "ToPort": port, **sources}


@pytest.fixture(autouse=True)
def _isolated_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials from the environment, no region, and no real AWS config or IMDS."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-such-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-such-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for var in (
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_EC2",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def ec2(region: str) -> Any:
    return boto3.client("ec2", region_name=region)


def create_group(
    region: str,
    name: str,
    permissions: list[dict[str, Any]],
    tags: dict[str, str] | None = None,
) -> str:
    client = ec2(region)
    kwargs: dict[str, Any] = {"GroupName": name, "Description": name}
    if tags:
        tags_list = [{"Key": k, "Value": v} for k, v in tags.items()]
        kwargs["TagSpecifications"] = [{"ResourceType": "security-group", "Tags": tags_list}]
    group_id = str(client.create_security_group(**kwargs)["GroupId"])
    if permissions:
        client.authorize_security_group_ingress(GroupId=group_id, IpPermissions=permissions)
    return group_id


@pytest.fixture
def groups(aws: None) -> dict[str, str]:
    """us-east-1: tcp/22 from the internet; eu-west-1: tcp/443 from the internet only (compliant).
    Each region also holds moto's default group of its default VPC."""
    return {
        "ssh": create_group("us-east-1", "open-ssh", [perm("tcp", 22, IpRanges=WORLD4)]),
        "web": create_group("eu-west-1", "web", [perm("tcp", 443, IpRanges=WORLD4)]),
    }


def scan_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[Any], str]:
    status = main(["scan", *argv, "--format", "json"])
    captured = capsys.readouterr()
    return status, json.loads(captured.out), captured.err


def by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["groupId"]: row for row in rows}


def fail_in(
    monkeypatch: pytest.MonkeyPatch,
    region: str,
    code: str,
    message: str = "You are not authorized to perform this operation.",
    status: int = 403,
) -> None:
    """The EC2 client the scan makes for ``region`` answers DescribeSecurityGroups with an
    error; the other regions' clients go to moto."""
    make_client = boto3.Session.client

    def client(self: boto3.Session, service: str, *args: Any, **kwargs: Any) -> Any:
        made = make_client(self, service, *args, **kwargs)  # type: ignore[call-overload]
        if kwargs.get("region_name") == region:
            stubber = Stubber(made)
            stubber.add_client_error(
                "describe_security_groups",
                service_error_code=code,
                service_message=message,
                http_status_code=status,
            )
            stubber.activate()
        return made

    monkeypatch.setattr(boto3.Session, "client", client)


# --- regions, the JSON schema and the order -------------------------------------------------


def test_json_schema_regions_and_order(
    groups: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    status, rows, err = scan_json(capsys, "--region", "us-east-1", "--region", "eu-west-1")

    assert status == 1
    assert err == ""
    assert isinstance(rows, list)
    assert len(rows) == 4  # two groups and two default groups
    for row in rows:
        assert set(row) == JSON_FIELDS
        for key in ("groupId", "groupName", "vpcId", "region", "compliance", "source"):
            assert isinstance(row[key], str), key
        assert row["accountId"] == ACCOUNT  # each group's OwnerId
        assert row["annotation"] is None or isinstance(row["annotation"], str)
        assert row["compliance"] in {"COMPLIANT", "NON_COMPLIANT", "NOT_APPLICABLE"}
        assert row["groupId"].startswith("sg-")
        assert row["vpcId"].startswith("vpc-")
        assert row["source"] == row["region"]
    assert rows[0]["groupId"] == groups["ssh"]  # non-compliant first
    ssh = by_id(rows)[groups["ssh"]]
    assert ssh["compliance"] == "NON_COMPLIANT"
    assert ssh["annotation"] == SSH_ANNOTATION
    assert ssh["groupName"] == "open-ssh"
    assert ssh["region"] == "us-east-1"
    web = by_id(rows)[groups["web"]]
    assert (web["compliance"], web["annotation"], web["region"]) == ("COMPLIANT", None, "eu-west-1")
    defaults = [row for row in rows if row["groupName"] == "default"]
    assert sorted(row["region"] for row in defaults) == ["eu-west-1", "us-east-1"]
    assert all(row["compliance"] == "COMPLIANT" for row in defaults)
    assert [row["compliance"] for row in rows[1:]] == ["COMPLIANT"] * 3


def test_each_region_reports_its_own_groups(
    groups: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    status, rows, _ = scan_json(capsys, "--region", "eu-west-1")
    assert status == 0
    assert {row["region"] for row in rows} == {"eu-west-1"}
    assert groups["web"] in by_id(rows)
    assert groups["ssh"] not in by_id(rows)


def test_a_region_named_twice_is_scanned_once(
    groups: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, rows, _ = scan_json(capsys, "--region", "us-east-1", "--region", "us-east-1")
    assert len(rows) == len(by_id(rows)) == 2


@pytest.mark.parametrize(
    ("env", "region"),
    [
        ({"AWS_DEFAULT_REGION": "us-east-1"}, "us-east-1"),
        ({"AWS_REGION": "eu-west-1"}, "eu-west-1"),
        # AWS_REGION first, as the AWS CLI reads them.
        ({"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-1"}, "eu-west-1"),
    ],
)
def test_default_region_is_the_environments(
    groups: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    region: str,
) -> None:
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    _, rows, _ = scan_json(capsys)
    assert {row["region"] for row in rows} == {region}


def test_all_regions_scans_every_enabled_region(
    groups: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    enabled = {r["RegionName"] for r in ec2("us-east-1").describe_regions()["Regions"]}
    status, rows, err = scan_json(capsys, "--all-regions")
    assert status == 1
    assert err == ""
    assert {row["region"] for row in rows} == enabled  # a default group in each
    assert by_id(rows)[groups["ssh"]]["region"] == "us-east-1"
    assert by_id(rows)[groups["web"]]["region"] == "eu-west-1"
    assert rows[0]["groupId"] == groups["ssh"]


def test_profile_gives_the_region_and_credentials(
    groups: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    config = tmp_path / "config"
    config.write_text(
        "[profile auditor]\nregion = eu-west-1\n"
        "aws_access_key_id = auditor\naws_secret_access_key = auditor\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    status, rows, _ = scan_json(capsys, "--profile", "auditor")
    assert status == 0
    assert {row["region"] for row in rows} == {"eu-west-1"}
    assert groups["web"] in by_id(rows)


# --- the rule's parameters as options -------------------------------------------------------


def test_blocked_ports_makes_the_ssh_group_compliant(
    groups: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    status, rows, _ = scan_json(capsys, "--region", "us-east-1", "--blocked-ports", "3389")
    assert status == 0
    assert by_id(rows)[groups["ssh"]]["compliance"] == "COMPLIANT"


def test_protocol_type(groups: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    snmp = create_group("us-east-1", "snmp", [perm("udp", 161, IpRanges=WORLD4)])
    argv = ["--region", "us-east-1", "--blocked-ports", "22,161"]

    _, rows, _ = scan_json(capsys, *argv)
    assert by_id(rows)[snmp]["compliance"] == by_id(rows)[groups["ssh"]]["compliance"]

    status, rows, _ = scan_json(capsys, *argv, "--protocol-type", "udp")
    assert status == 1
    assert by_id(rows)[snmp]["compliance"] == "NON_COMPLIANT"
    assert by_id(rows)[snmp]["annotation"] == "Open to the internet from 0.0.0.0/0: udp/161"
    assert by_id(rows)[groups["ssh"]]["compliance"] == "COMPLIANT"


def test_ip_type(groups: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    ssh6 = create_group("us-east-1", "open-ssh-v6", [perm("tcp", 22, Ipv6Ranges=WORLD6)])

    status, rows, _ = scan_json(capsys, "--region", "us-east-1", "--ip-type", "IPv6")
    assert status == 1
    assert by_id(rows)[ssh6]["compliance"] == "NON_COMPLIANT"
    assert by_id(rows)[ssh6]["annotation"] == "Open to the internet from ::/0: tcp/22"
    assert by_id(rows)[groups["ssh"]]["compliance"] == "COMPLIANT"

    _, rows, _ = scan_json(capsys, "--region", "us-east-1", "--ip-type", "IPv4")
    assert by_id(rows)[ssh6]["compliance"] == "COMPLIANT"
    assert by_id(rows)[groups["ssh"]]["compliance"] == "NON_COMPLIANT"


def test_exempt_tag_key(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    bastion = create_group(
        "us-east-1",
        "bastion",
        [perm("tcp", 22, IpRanges=WORLD4)],
        tags={"portguard:exempt": "22 until 2999-12-31"},
    )

    status, rows, _ = scan_json(capsys, "--region", "us-east-1")
    assert status == 1
    assert by_id(rows)[bastion]["compliance"] == "NON_COMPLIANT"

    status, rows, _ = scan_json(
        capsys, "--region", "us-east-1", "--exempt-tag-key", "portguard:exempt"
    )
    assert status == 0
    row = by_id(rows)[bastion]
    assert row["compliance"] == "COMPLIANT"
    assert row["annotation"].startswith("Exempted by tag portguard:exempt until 2999-12-31")


def test_prefix_lists_resolved_or_not(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    client = ec2("us-east-1")
    prefix_list = client.create_managed_prefix_list(
        PrefixListName="halves-of-the-internet",
        MaxEntries=2,
        AddressFamily="IPv4",
        Entries=[{"Cidr": "0.0.0.0/1"}, {"Cidr": "128.0.0.0/1"}],
    )["PrefixList"]["PrefixListId"]
    group = create_group(
        "us-east-1",
        "via-prefix-list",
        [perm("tcp", 22, PrefixListIds=[{"PrefixListId": prefix_list}])],
    )

    status, rows, _ = scan_json(capsys, "--region", "us-east-1")
    assert status == 1
    assert by_id(rows)[group]["compliance"] == "NON_COMPLIANT"
    assert by_id(rows)[group]["annotation"] == f"Open to the internet from {prefix_list}: tcp/22"

    status, rows, _ = scan_json(capsys, "--region", "us-east-1", "--no-resolve-prefix-lists")
    assert status == 0
    assert by_id(rows)[group]["compliance"] == "COMPLIANT"


# --- exit statuses and errors ---------------------------------------------------------------


def test_exit_0_when_all_comply(groups: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    status, rows, _ = scan_json(
        capsys, "--region", "us-east-1", "--region", "eu-west-1", "--blocked-ports", "1"
    )
    assert status == 0
    assert len(rows) == 4
    assert {row["compliance"] for row in rows} == {"COMPLIANT"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--ip-type", "IPv5"], "portguard scan: invalid --ip-type 'IPv5'"),
        (["--blocked-ports", "ssh"], "portguard scan: invalid --blocked-ports 'ssh'"),
        (["--all-regions"], "--all-regions and --region cannot be used together"),
        (["--region", "us-eats-1"], "unknown region 'us-eats-1': did you mean us-east-1?"),
    ],
)
def test_exit_2_on_a_bad_option(
    aws: None, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    status = main(["scan", "--region", "us-east-1", *argv, "--format", "json"])
    captured = capsys.readouterr()
    assert status == 2
    assert message in captured.err
    assert captured.out == ""


def test_exit_2_without_a_region(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan"]) == 2
    err = capsys.readouterr().err
    assert "portguard scan: no region: pass --region" in err
    assert "AWS_REGION" in err


def test_exit_2_with_an_unknown_profile(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", "--profile", "nobody", "--region", "us-east-1"]) == 2
    err = capsys.readouterr().err
    assert "portguard scan: The config profile (nobody) could not be found" in err


def test_exit_2_without_credentials(
    aws: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # mock_aws puts fake keys in the environment when it starts: take them away again.
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(var, raising=False)
    for name in ("config", "credentials"):
        (tmp_path / name).write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))

    status = main(["scan", "--region", "us-east-1", "--region", "eu-west-1"])
    captured = capsys.readouterr()
    assert status == 2
    assert captured.err.count("no AWS credentials found") == 1
    assert captured.err == f"portguard scan: {sessions.NO_CREDENTIALS}\n"


def test_access_denied_in_one_region_reports_the_others(
    groups: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_in(monkeypatch, "eu-west-1", "UnauthorizedOperation")
    status, rows, err = scan_json(capsys, "--region", "us-east-1", "--region", "eu-west-1")
    assert status == 2
    assert {row["region"] for row in rows} == {"us-east-1"}
    assert by_id(rows)[groups["ssh"]]["compliance"] == "NON_COMPLIANT"
    assert err == (
        "portguard scan: eu-west-1: access denied to ec2:DescribeSecurityGroups: "
        "You are not authorized to perform this operation.\n"
    )


def test_expired_credentials_are_said_once(
    aws: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_in(monkeypatch, "us-east-1", "ExpiredToken", "The security token is expired", 400)
    fail_in(monkeypatch, "eu-west-1", "ExpiredToken", "The security token is expired", 400)
    status, rows, err = scan_json(capsys, "--region", "us-east-1", "--region", "eu-west-1")
    assert status == 2
    assert rows == []
    assert err.count("credentials expired") == 1
    assert "aws sso login" in err


def test_all_regions_when_they_cannot_be_listed(
    aws: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    make_client = boto3.Session.client

    def client(self: boto3.Session, service: str, *args: Any, **kwargs: Any) -> Any:
        made = make_client(self, service, *args, **kwargs)  # type: ignore[call-overload]
        stubber = Stubber(made)
        stubber.add_client_error("describe_regions", "UnauthorizedOperation", "no", 403)
        stubber.activate()
        return made

    monkeypatch.setattr(boto3.Session, "client", client)
    assert main(["scan", "--all-regions"]) == 2
    assert capsys.readouterr().err == (
        "portguard scan: cannot list the account's regions: "
        "us-east-1: access denied to ec2:DescribeRegions: no\n"
    )


def test_credentials_that_cannot_be_loaded(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Any) -> None:
        raise SSOTokenLoadError(error_msg="run aws sso login")

    monkeypatch.setattr(boto3.Session, "get_credentials", broken)
    assert main(["scan", "--region", "us-east-1"]) == 2
    assert "portguard scan: credentials expired" in capsys.readouterr().err


# --- the table and the progress bar ---------------------------------------------------------


def test_table_output(groups: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["scan", "--region", "us-east-1", "--region", "eu-west-1"])
    captured = capsys.readouterr()
    assert status == 1
    lines = captured.out.splitlines()
    ssh_line = next(line for line in lines if groups["ssh"] in line)
    assert "NON_COMPLIANT" in ssh_line
    assert "us-east-1" in ssh_line
    assert SSH_ANNOTATION in ssh_line
    web_line = next(line for line in lines if groups["web"] in line)
    assert lines.index(ssh_line) < lines.index(web_line)  # non-compliant first
    assert "4 groups: 1 non-compliant, 3 compliant, 0 not applicable" in captured.out
    assert captured.err == ""  # not a terminal: no progress bar
    for char in PROGRESS_CHARS:  # ("━" is the table's own header rule)
        assert char not in captured.out


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_stays_off_stdout(
    groups: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    status, rows, _ = scan_json(capsys, "--region", "us-east-1", "--region", "eu-west-1")
    assert status == 1
    assert len(rows) == 4  # stdout is exactly the JSON array
    assert "scanning" in terminal.getvalue()
    assert "regions" in terminal.getvalue()


# --- the same decision as the deployed rule -------------------------------------------------


class FakeConfig:
    """A Config client that keeps what PutEvaluations was given."""

    def __init__(self) -> None:
        self.evaluations: list[dict[str, Any]] = []

    def put_evaluations(self, **kwargs: Any) -> dict[str, Any]:
        self.evaluations.extend(kwargs["Evaluations"])
        return {"FailedEvaluations": []}


def test_verdicts_equal_the_handlers(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    from portguard.rule import PortguardRule

    client = ec2("us-east-1")
    prefix_list = client.create_managed_prefix_list(
        PrefixListName="world",
        MaxEntries=2,
        AddressFamily="IPv4",
        Entries=[{"Cidr": "0.0.0.0/1"}, {"Cidr": "128.0.0.0/1"}],
    )["PrefixList"]["PrefixListId"]
    cases = {
        "ssh": [perm("tcp", 22, IpRanges=WORLD4)],
        "rdp6": [perm("tcp", 3389, Ipv6Ranges=WORLD6)],
        "all": [{"IpProtocol": "-1", "IpRanges": WORLD4}],
        "split": [perm("tcp", 5432, IpRanges=[{"CidrIp": "0.0.0.0/1"}, {"CidrIp": "128.0.0.0/1"}])],
        "prefix": [perm("tcp", 22, PrefixListIds=[{"PrefixListId": prefix_list}])],
        "private": [perm("tcp", 22, IpRanges=[{"CidrIp": "10.0.0.0/8"}])],
        "web": [perm("tcp", 443, IpRanges=WORLD4, Ipv6Ranges=WORLD6)],
        "ping": [{"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1, "IpRanges": WORLD4}],
        "none": [],
    }
    for name, permissions in cases.items():
        create_group("us-east-1", name, permissions)

    config = FakeConfig()
    event = fixture("config-rule-scheduled-event.json")
    event["ruleParameters"] = "{}"
    PortguardRule(config_client=config, ec2_client=client).handle(event)  # type: ignore[arg-type]
    capsys.readouterr()  # the handler's log lines
    handler = {
        e["ComplianceResourceId"]: (e["ComplianceType"], e.get("Annotation"))
        for e in config.evaluations
    }

    status, rows, _ = scan_json(capsys, "--region", "us-east-1")
    scanned = {row["groupId"]: (row["compliance"], row["annotation"]) for row in rows}
    assert status == 1
    assert scanned == handler
    assert len(scanned) == len(cases) + 1  # and the default group
    assert sum(c == "NON_COMPLIANT" for c, _ in scanned.values()) == 5


def test_scan_region_decides_today_in_utc(aws: None) -> None:
    """The scan's own entry point, as a benchmark or another tool would call it."""
    from portguard.parameters import parse_rule_parameters

    group = create_group("us-east-1", "ssh", [perm("tcp", 22, IpRanges=WORLD4)])
    results = list(
        scan.scan_region(
            ec2("us-east-1"),
            "us-east-1",
            parse_rule_parameters({}),
            today=datetime.now(UTC).date(),
        )
    )
    assert {r.group_id: r.compliance.value for r in results}[group] == "NON_COMPLIANT"


def test_ctrl_c_stops_every_region(
    aws: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Interrupted, the scan does not wait for the regions to finish: each stops at its next
    group, and the command exits 130."""
    import signal
    import threading
    import time

    from portguard.model import Compliance, Verdict
    from portguard_cli.results import Result

    produced: list[int] = []
    interrupted = threading.Lock()  # taken by the one region that presses Ctrl-C

    def endless(*args: Any, **kwargs: Any) -> Iterator[Result]:
        if interrupted.acquire(blocking=False):
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
        for index in range(2000):  # 20 s if nothing stops it
            produced.append(index)
            time.sleep(0.01)
            yield Result.of(
                Verdict(Compliance.COMPLIANT),
                group_id=f"sg-{index}",
                group_name=None,
                vpc_id=None,
                region="us-east-1",
                source="us-east-1",
            )

    monkeypatch.setattr(scan, "scan_region", endless)
    started = time.monotonic()
    assert main(["scan", "--region", "us-east-1", "--region", "eu-west-1"]) == 130
    assert time.monotonic() - started < 5
    assert len(produced) < 1000
    assert capsys.readouterr().out == ""
