"""``portguard scan --org`` and ``--accounts`` against moto: an organization of several accounts
(moto keeps each account apart behind AssumeRole), two regions, groups of every kind; the role
assumed once per account and never at home; a refused role, a region that fails and a throttled
call, each said once and grouped by cause while every other pair is still scanned; every exit
status; the JSON schema; the table at 80 columns."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws
from organization import (
    HOME,
    ROLE,
    WORLD4,
    WORLD6,
    Calls,
    assuming,
    calling,
    client,
    create_group,
    create_organization,
    perm,
)
from rows import JSON_FIELDS
from shared_data import fixture
from terminal import Terminal

from portguard.errors import AccountAccessError
from portguard.rule import PortguardRule
from portguard_cli import failures
from portguard_cli.failures import Failure, describe
from portguard_cli.main import main
from portguard_cli.organization import MemberClients, Pair
from portguard_cli.sessions import Explanation

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

REGIONS = ("eu-west-1", "us-east-1")
SSH = "Open to the internet from 0.0.0.0/0: tcp/22"
DENIED = "User: arn:aws:sts::123456789012:assumed-role/Admin/me is not authorized to perform: "


@pytest.fixture(autouse=True)
def _isolated_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials, us-east-1, and no real AWS config, endpoint or metadata service."""
    for var in (
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_EC2",
        "AWS_ENDPOINT_URL_STS",
        "AWS_ENDPOINT_URL_ORGANIZATIONS",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-such-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-such-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def members() -> Iterator[list[str]]:
    """An organization of the caller's account and three members; in the first member, a group
    of each kind in eu-west-1 and SSH open in us-east-1; SSH open in the second; nothing but the
    default groups in the third and at home."""
    with mock_aws():
        accounts = create_organization(3)
        ec2 = client("ec2", accounts[0], "eu-west-1")
        for name, permissions in kinds_of_group(ec2).items():
            create_group(ec2, name, permissions)
        create_group(
            client("ec2", accounts[0], "us-east-1"), "ssh", [perm("tcp", 22, IpRanges=WORLD4)]
        )
        create_group(
            client("ec2", accounts[1], "eu-west-1"), "ssh", [perm("tcp", 22, IpRanges=WORLD4)]
        )
        yield accounts


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    return Calls().install(monkeypatch)


def kinds_of_group(ec2: Any) -> dict[str, list[dict[str, Any]]]:
    prefix_list = ec2.create_managed_prefix_list(
        PrefixListName="world",
        MaxEntries=2,
        AddressFamily="IPv4",
        Entries=[{"Cidr": "0.0.0.0/1"}, {"Cidr": "128.0.0.0/1"}],
    )["PrefixList"]["PrefixListId"]
    return {
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


def scan_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[Any], str]:
    status = main(["scan", *argv, "--format", "json"])
    captured = capsys.readouterr()
    return status, json.loads(captured.out), captured.err


def org_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[Any], str]:
    return scan_json(capsys, "--org", "--region", REGIONS[0], "--region", REGIONS[1], *argv)


def pairs_of(rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(row["accountId"], row["region"]) for row in rows}


# --- every account and region, the rule's decision --------------------------------------------


def test_every_account_and_region_is_scanned_as_the_rule_decides(
    members: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    status, rows, err = org_json(capsys)

    assert (status, err) == (1, "")
    everyone = [HOME, *members]
    # Every pair has at least its default VPC's default group.
    assert pairs_of(rows) == {(account, region) for account in everyone for region in REGIONS}
    for row in rows:
        assert set(row) == JSON_FIELDS
        assert re.fullmatch(r"[0-9]{12}", row["accountId"])
        assert row["source"] == row["region"]
    # Each group is in its own account: the calls were made with that account's credentials.
    ssh = [(r["accountId"], r["region"]) for r in rows if r["groupName"] == "ssh"]
    assert sorted(ssh) == sorted(
        [(members[0], "eu-west-1"), (members[0], "us-east-1"), (members[1], "eu-west-1")]
    )
    assert all(r["annotation"] == SSH for r in rows if r["groupName"] == "ssh")
    # Non-compliant first, then by account.
    flags = [r["compliance"] == "NON_COMPLIANT" for r in rows]
    assert flags == sorted(flags, reverse=True)

    # The first member's groups of every kind: the verdicts the rule's handler posts there.
    config = FakeConfig()
    event = fixture("config-rule-scheduled-event.json")
    event["ruleParameters"] = "{}"
    ec2 = client("ec2", members[0], "eu-west-1")
    PortguardRule(config_client=config, ec2_client=ec2).handle(event)  # type: ignore[arg-type]
    capsys.readouterr()  # the handler's log lines
    handler = {
        e["ComplianceResourceId"]: (e["ComplianceType"], e.get("Annotation"))
        for e in config.evaluations
    }
    scanned = {
        r["groupId"]: (r["compliance"], r["annotation"])
        for r in rows
        if (r["accountId"], r["region"]) == (members[0], "eu-west-1")
    }
    assert scanned == handler
    assert sum(c == "NON_COMPLIANT" for c, _ in scanned.values()) == 5


class FakeConfig:
    """A Config client that keeps what PutEvaluations was given."""

    def __init__(self) -> None:
        self.evaluations: list[dict[str, Any]] = []

    def put_evaluations(self, **kwargs: Any) -> dict[str, Any]:
        self.evaluations.extend(kwargs["Evaluations"])
        return {"FailedEvaluations": []}


def test_each_member_role_is_assumed_once_and_the_home_account_uses_its_own(
    members: list[str], calls: Calls, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, _ = org_json(capsys)

    assert status == 1
    roles = sorted(call.params["RoleArn"] for call in calls.of("AssumeRole"))
    assert roles == sorted(f"arn:aws:iam::{account}:role/{ROLE}" for account in members)
    assert all(call.params["RoleSessionName"] == "portguard" for call in calls.of("AssumeRole"))
    described = sorted((call.account, call.region) for call in calls.of("DescribeSecurityGroups"))
    assert described == sorted((a, r) for a in [HOME, *members] for r in REGIONS)
    # The organization is listed from the home account; nothing else is asked.
    assert {call.operation for call in calls.made} == {
        "GetCallerIdentity",
        "ListAccounts",
        "AssumeRole",
        "DescribeSecurityGroups",
        "GetManagedPrefixListEntries",  # the first member's prefix list
    }
    lists = calls.of("GetManagedPrefixListEntries")
    assert [(call.account, call.region) for call in lists] == [(members[0], "eu-west-1")]


def test_only_active_accounts_are_scanned(
    members: list[str], calls: Calls, capsys: pytest.CaptureFixture[str]
) -> None:
    boto3.client("organizations", region_name="us-east-1").close_account(AccountId=members[2])
    _, rows, _ = org_json(capsys)
    assert members[2] not in {row["accountId"] for row in rows}
    assert not any(members[2] in call.params.get("RoleArn", "") for call in calls.of("AssumeRole"))


def test_a_list_of_accounts(
    members: list[str], calls: Calls, capsys: pytest.CaptureFixture[str]
) -> None:
    status, rows, err = scan_json(
        capsys,
        "--accounts",
        f"{members[1]},{HOME}",
        "--accounts",
        members[1],
        "--region",
        REGIONS[0],
    )
    assert (status, err) == (1, "")
    assert pairs_of(rows) == {(members[1], "eu-west-1"), (HOME, "eu-west-1")}
    assert calls.of("ListAccounts") == []  # no Organizations needed
    assert [call.params["RoleArn"] for call in calls.of("AssumeRole")] == [
        f"arn:aws:iam::{members[1]}:role/{ROLE}"  # once, though named twice; none for home
    ]


# --- failures: isolated, said once, grouped by cause -----------------------------------------


def test_a_refused_role_fails_its_account_and_no_other(
    members: list[str], calls: Calls, capsys: pytest.CaptureFixture[str]
) -> None:
    refused = members[1]
    arn = f"arn:aws:iam::{refused}:role/{ROLE}"
    calls.fail(assuming(refused), "AccessDenied", f"{DENIED}sts:AssumeRole on resource: {arn}")

    status, rows, err = org_json(capsys)

    assert status == 2  # though groups are non-compliant: the answer is incomplete
    assert refused not in {row["accountId"] for row in rows}
    assert pairs_of(rows) == {(a, r) for a in [HOME, members[0], members[2]] for r in REGIONS}
    lines = err.splitlines()
    assert lines[0] == (
        f"portguard scan: cannot assume the role {ROLE} (AccessDenied) in account {refused}, "
        f"none of its regions read: {DENIED}sts:AssumeRole on resource: {arn}"
    )
    # What to do, once: the deployment's member role trusts only the hub unless told.
    assert lines[1].startswith(f"portguard scan: {ROLE}, the member role of portguard's")
    assert "-c portguard:scanPrincipals=ARN" in lines[1]
    assert "you are arn:aws:sts::123456789012:user/moto" in lines[1]
    assert "--role OrganizationAccountAccessRole" in lines[1]
    assert len(lines) == 2
    # Asked once, not once per region.
    assert len([c for c in calls.of("AssumeRole") if refused in c.params["RoleArn"]]) == 1


def test_accounts_that_refuse_alike_are_one_line(
    members: list[str], calls: Calls, capsys: pytest.CaptureFixture[str]
) -> None:
    for account in members[1:]:
        calls.fail(assuming(account), "AccessDenied", f"{DENIED}sts:AssumeRole on {account}")

    status, rows, err = org_json(capsys, "--role", "audit")

    assert status == 2
    assert {row["accountId"] for row in rows} == {HOME, members[0]}
    first, second = sorted(members[1:], key=members.index)
    assert err.splitlines() == [
        f"portguard scan: cannot assume the role audit (AccessDenied) in 2 accounts ({first}, "
        f"{second}), none of their regions read (AWS said, for {first}: {DENIED}sts:AssumeRole "
        f"on {first})",
        "portguard scan: The role audit must exist in each account and trust you "
        "(arn:aws:sts::123456789012:user/moto) with sts:AssumeRole; the scan needs "
        "ec2:DescribeSecurityGroups and ec2:GetManagedPrefixListEntries through it (README, "
        "Scanning an organization).",
    ]


def test_a_region_that_fails_in_one_account_leaves_its_other_regions(
    members: list[str], calls: Calls, capsys: pytest.CaptureFixture[str]
) -> None:
    calls.fail(calling("DescribeSecurityGroups", members[0], "eu-west-1"), "OptInRequired")

    status, rows, err = org_json(capsys)

    assert status == 2
    assert (members[0], "us-east-1") in pairs_of(rows)
    assert (members[0], "eu-west-1") not in pairs_of(rows)
    assert len(pairs_of(rows)) == 7
    assert err == (
        "portguard scan: the region is not enabled for this account (OptInRequired) in "
        f"eu-west-1 of account {members[0]}\n"
    )


def test_a_call_throttled_after_retries_is_said_once_for_every_pair_it_hit(
    members: list[str], calls: Calls, capsys: pytest.CaptureFixture[str]
) -> None:
    throttled = {(members[1], "eu-west-1"), (members[1], "us-east-1"), (members[2], "us-east-1")}
    calls.fail(
        lambda call: (
            call.operation == "DescribeSecurityGroups" and (call.account, call.region) in throttled
        ),
        "RequestLimitExceeded",
        "Request limit exceeded.",
    )

    status, rows, err = org_json(capsys)

    assert status == 2
    assert not pairs_of(rows) & throttled
    assert len(pairs_of(rows)) == 8 - 3
    (line,) = err.splitlines()
    assert line.startswith(
        "portguard scan: An error occurred (RequestLimitExceeded) when calling the "
        "DescribeSecurityGroups operation: Request limit exceeded. in "
    )
    assert line.endswith(
        f"eu-west-1, us-east-1 of account {members[1]}; us-east-1 of account {members[2]}"
    )


def test_failures_of_many_accounts_are_listed_short() -> None:
    accounts = [f"{n:012d}" for n in range(1, 13)]
    denied = Explanation("access denied to ec2:DescribeSecurityGroups", "not authorized")
    lines = describe(
        [Failure(account, region, denied) for account in accounts for region in REGIONS]
    )
    assert lines == [
        "access denied to ec2:DescribeSecurityGroups in eu-west-1, us-east-1 of 12 accounts "
        "(000000000001, 000000000002, 000000000003, 000000000004, 000000000005 and 7 more) "
        "(AWS said, for 000000000001 eu-west-1: not authorized)"
    ]
    assert failures.SHOWN == 5


# --- exit statuses and usage ----------------------------------------------------------------


def test_exit_0_when_every_account_complies(
    members: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # Nothing opens port 1 over IPv6 (the all-traffic group opens it over IPv4 only).
    status, rows, err = org_json(capsys, "--blocked-ports", "1", "--ip-type", "IPv6")
    assert (status, err) == (0, "")
    assert {row["compliance"] for row in rows} == {"COMPLIANT"}
    assert len({row["accountId"] for row in rows}) == 4


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--org", "--accounts", "111122223333"], "not allowed with argument"),
        (["--accounts", "11112222333"], "invalid --accounts '11112222333': '11112222333' is not"),
        (["--accounts", "111122223333,"], "'111122223333,': an empty one is not an account id"),
        (["--region", "eu-west-1", "--role", "audit"], "--role needs --org, --accounts or"),
        (["--org", "--workers", "0"], "argument --workers: '0' is not a whole number from 1 to"),
        (["--org", "--workers", "65"], "'65' is not a whole number from 1 to 64"),
    ],
)
def test_exit_2_on_a_bad_option(
    members: list[str], capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert exit_status(["scan", *argv]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""


def exit_status(argv: list[str]) -> int:
    """``main``'s status, or the one argparse exits with."""
    try:
        return main(argv)
    except SystemExit as exit_:
        return int(str(exit_.code))


def test_exit_2_when_not_in_an_organization(
    calls: Calls, capsys: pytest.CaptureFixture[str]
) -> None:
    # What Organizations answers an account outside any (moto lists no accounts instead).
    calls.fail(
        lambda call: call.operation == "ListAccounts",
        "AWSOrganizationsNotInUseException",
        "Your account is not a member of an organization.",
    )
    with mock_aws():
        assert main(["scan", "--org", "--region", "eu-west-1"]) == 2
    assert capsys.readouterr().err == (
        "portguard scan: this account is not in an organization "
        "(AWSOrganizationsNotInUseException): list the accounts to scan with --accounts ID,…\n"
    )


def test_exit_2_when_the_organization_cannot_be_listed(
    members: list[str], calls: Calls, capsys: pytest.CaptureFixture[str]
) -> None:
    calls.fail(lambda call: call.operation == "ListAccounts", "AccessDeniedException", "no")
    assert main(["scan", "--org", "--region", "eu-west-1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "portguard scan: cannot list the organization's accounts: us-east-1: access denied to "
        "organizations:ListAccounts: no. --org reads them from the management account or a "
        "delegated administrator"
    )
    assert calls.of("AssumeRole") == []


# --- the table, the progress bar, the workers --------------------------------------------------


def test_the_table_at_80_columns_is_grouped_by_account(
    members: list[str],
    calls: Calls,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls.fail(assuming(members[2]), "AccessDenied", "no")
    monkeypatch.setenv("COLUMNS", "80")
    terminal = Terminal()
    monkeypatch.setattr("sys.stdout", terminal)

    status = main(["scan", "--org", "--region", REGIONS[0], "--region", REGIONS[1]])

    assert status == 2
    lines = terminal.plain().splitlines()
    assert max(map(len, lines)) <= 80
    headings = [line for line in lines if line.startswith("Account ")]
    # Accounts with non-compliant groups first (by id), each with its summary.
    summaries = {
        members[0]: "6 non-compliant, 6 compliant, 0 not applicable",
        members[1]: "1 non-compliant, 2 compliant, 0 not applicable",
    }
    assert headings == [
        *(f"Account {account}: {summaries[account]}" for account in sorted(summaries)),
        f"Account {HOME}: 0 non-compliant, 2 compliant, 0 not applicable",
    ]
    # The tables line up: every row of every table is as wide.
    assert len({len(line) for line in lines if line[:1] in "┏┃┡│└"}) == 1
    assert lines[-2:] == [
        "In 3 accounts: 17 groups: 7 non-compliant, 10 compliant, 0 not applicable",
        "2 of 8 account-regions could not be read (see standard error)",
    ]
    assert SSH.split(":", maxsplit=1)[0] in terminal.plain()


def test_the_progress_bar_counts_account_regions(
    members: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    status, rows, _ = org_json(capsys)
    assert status == 1
    assert len(pairs_of(rows)) == 8  # stdout is exactly the JSON array
    assert "account-regions" in terminal.getvalue()


def test_one_worker_gives_the_same_answer(
    members: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, many, _ = org_json(capsys)
    _, one, _ = org_json(capsys, "--workers", "1")
    assert one == many


class FakeAccounts:
    """Records what :class:`MemberClients` asks of its AccountClients."""

    home_account = HOME

    def __init__(self) -> None:
        self.forgotten: list[str] = []

    def credentials(self, account_id: str) -> str:
        return account_id

    def client(self, service: str, account_id: str, region: str) -> str:
        return f"{service} {account_id} {region}"

    def forget(self, account_id: str) -> None:
        self.forgotten.append(account_id)


def test_each_account_is_let_go_after_its_last_pair() -> None:
    pairs = [Pair(account, region) for account in ("111", "222") for region in REGIONS]
    accounts = FakeAccounts()
    clients = MemberClients(accounts, pairs)  # type: ignore[arg-type]
    assert clients.ec2(pairs[0]) == "ec2 111 eu-west-1"
    clients.done(pairs[0])
    assert accounts.forgotten == []
    clients.done(pairs[1])
    assert accounts.forgotten == ["111"]
    clients.done(pairs[3])
    clients.done(pairs[2])
    assert accounts.forgotten == ["111", "222"]


def test_a_refusal_that_is_no_answer_of_aws_keeps_botocores_words() -> None:
    account = "111122223333"
    error = AccountAccessError(
        account,
        f"arn:aws:iam::{account}:role/audit",
        "Could not connect to the endpoint URL: https://sts.amazonaws.com/",
    )
    failure = Failure.refused(error, "advice")
    assert failure == Failure(
        account,
        None,
        Explanation(
            "cannot assume the role audit",
            "Could not connect to the endpoint URL: https://sts.amazonaws.com/",
        ),
        "advice",
    )


def test_regions_of_ones_own_account_that_fail_alike_are_one_line() -> None:
    denied = Explanation("access denied to ec2:DescribeSecurityGroups", "not authorized")
    other = denied._replace(detail="not authorized either")
    assert describe([Failure(None, "eu-west-1", denied), Failure(None, "us-east-1", denied)]) == [
        "eu-west-1, us-east-1: access denied to ec2:DescribeSecurityGroups: not authorized"
    ]
    assert describe([Failure(None, "eu-west-1", denied), Failure(None, "us-east-1", other)]) == [
        "eu-west-1, us-east-1: access denied to ec2:DescribeSecurityGroups (for example in "
        "eu-west-1: not authorized)"
    ]


def test_exit_2_when_sts_does_not_know_the_caller(
    members: list[str], calls: Calls, capsys: pytest.CaptureFixture[str]
) -> None:
    calls.fail(
        lambda call: call.operation == "GetCallerIdentity",
        "InvalidClientTokenId",
        "The security token included in the request is invalid.",
    )
    assert main(["scan", "--org", "--region", "eu-west-1"]) == 2
    assert capsys.readouterr().err == (
        "portguard scan: cannot tell who you are: credentials not valid (InvalidClientTokenId): "
        "The security token included in the request is invalid.\n"
    )
    assert calls.of("ListAccounts") == []
