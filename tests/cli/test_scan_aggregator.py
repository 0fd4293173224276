"""``portguard scan --aggregator`` against a stand-in of SelectAggregateResourceConfig
(tests/cli/config_aggregator.py, pages of at most 100): every page of every region, the same
reading and decision as the rule, tags and deleted items, prefix lists failing closed without a
role and resolved in their own account with one (moto), failures isolated, the JSON schema and
the table."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from config_aggregator import Aggregator, permission, security_group, serve
from moto import mock_aws
from organization import HOME, ROLE, Calls, assuming, client, create_organization
from rows import JSON_FIELDS
from terminal import Terminal

from portguard_cli.aggregator import GROUPS_QUERY, REGIONS_QUERY, config_item
from portguard_cli.main import main

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

NAME = "portguard"
A, B = "111122223333", "444455556666"
SSH = "Open to the internet from 0.0.0.0/0: tcp/22"


@pytest.fixture(autouse=True)
def _isolated_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-such-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-such-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def kinds(account: str, region: str) -> list[dict[str, Any]]:
    """A recorded group of each kind, ids made from the account and region."""
    prefix = f"sg-{account[:4]}{'e' if region.startswith('eu') else 'a'}"

    def group(n: int, name: str, *perms: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return security_group(account, region, f"{prefix}{n:011x}", name, list(perms), **kwargs)

    return [
        group(1, "ssh", permission("tcp", 22, "0.0.0.0/0")),
        group(2, "rdp6", permission("tcp", 3389, "::/0")),
        group(3, "all", {**permission("-1", 0, "0.0.0.0/0"), "fromPort": None, "toPort": None}),
        group(4, "split", permission("tcp", 5432, "0.0.0.0/1", "128.0.0.0/1")),
        group(5, "private", permission("tcp", 22, "10.0.0.0/8")),
        group(6, "web", permission("tcp", 443, "0.0.0.0/0", "::/0")),
        group(
            7, "bastion", permission("tcp", 22, "0.0.0.0/0"), tags={"exempt": "22 until 2999-12-31"}
        ),
        group(8, "gone", permission("tcp", 22, "0.0.0.0/0"), status="ResourceDeleted"),
        group(9, "none"),
    ]


def filler(account: str, region: str, count: int) -> list[dict[str, Any]]:
    return [
        security_group(account, region, f"sg-f{account[:4]}{n:011x}", f"app-{n}", [])
        for n in range(count)
    ]


@pytest.fixture
def aggregator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aggregator]:
    """Account A in eu-west-1 (a group of each kind and 150 more: two pages) and us-east-1 (a
    group of each kind), account B in us-east-1 (80 groups)."""
    items = [
        *kinds(A, "eu-west-1"),
        *filler(A, "eu-west-1", 150),
        *kinds(A, "us-east-1"),
        *filler(B, "us-east-1", 80),
    ]
    standin = Aggregator(NAME, items)
    url, stop = serve(standin)
    monkeypatch.setenv("AWS_ENDPOINT_URL_CONFIG_SERVICE", url)
    yield standin
    stop()


def scan_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[Any], str]:
    status = main(["scan", "--aggregator", NAME, *argv, "--format", "json"])
    captured = capsys.readouterr()
    return status, json.loads(captured.out), captured.err


def by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["groupId"]: row for row in rows}


def test_every_group_of_every_region_every_page(
    aggregator: Aggregator, capsys: pytest.CaptureFixture[str]
) -> None:
    status, rows, err = scan_json(capsys)

    assert (status, err) == (1, "")
    assert sorted(by_id(rows)) == sorted(item["resourceId"] for item in aggregator.items)
    assert len(rows) == len(aggregator.items) == 9 + 150 + 9 + 80
    for row in rows:
        item = next(i for i in aggregator.items if i["resourceId"] == row["groupId"])
        assert (row["accountId"], row["region"]) == (item["accountId"], item["awsRegion"])
        assert row["source"] == f"aggregator {NAME}"
        assert row["groupName"] == item["resourceName"]
    # One aggregation query, then each region page by page, 100 at a time.
    first, *pages = aggregator.requests
    assert first["Expression"] == REGIONS_QUERY
    assert sorted((p["Expression"], p.get("NextToken", "")) for p in pages) == [
        (GROUPS_QUERY.format("eu-west-1"), ""),
        (GROUPS_QUERY.format("eu-west-1"), "100"),
        (GROUPS_QUERY.format("us-east-1"), ""),
    ]
    assert {page["Limit"] for page in pages} == {100}
    assert {request["ConfigurationAggregatorName"] for request in aggregator.requests} == {NAME}


def test_the_rules_reading_and_decision(
    aggregator: Aggregator, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, rows, _ = scan_json(capsys, "--exempt-tag-key", "exempt")
    assert status == 1
    verdicts = {
        row["groupName"]: (row["compliance"], row["annotation"])
        for row in rows
        if (row["accountId"], row["region"]) == (A, "eu-west-1")
        and not row["groupName"].startswith("app-")
    }
    assert verdicts["ssh"] == ("NON_COMPLIANT", SSH)  # ports recorded as 22.0
    assert verdicts["rdp6"] == ("NON_COMPLIANT", "Open to the internet from ::/0: tcp/3389")
    assert verdicts["split"] == (
        "NON_COMPLIANT",
        "Open to the internet from 0.0.0.0/1, 128.0.0.0/1: tcp/5432",
    )
    assert verdicts["all"][0] == "NON_COMPLIANT"
    assert verdicts["private"] == verdicts["web"] == verdicts["none"] == ("COMPLIANT", None)
    # The exemption tag is read from the result's own tags ({key, value, tag}).
    assert verdicts["bastion"][0] == "COMPLIANT"
    assert verdicts["bastion"][1].startswith("Exempted by tag exempt until 2999-12-31")
    assert verdicts["gone"] == ("NOT_APPLICABLE", None)

    # Exactly what `portguard evaluate` decides for the same items in Config's item shape.
    recorded = [config_item(json.dumps(item)) for item in kinds(A, "eu-west-1")]
    path = tmp_path / "items.json"
    path.write_text(json.dumps(recorded))
    main(["evaluate", str(path), "--exempt-tag-key", "exempt", "--format", "json"])
    evaluated = json.loads(capsys.readouterr().out)
    assert {r["groupName"]: (r["compliance"], r["annotation"]) for r in evaluated} == verdicts


def test_a_prefix_list_without_a_role_fails_closed_and_says_why(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    listed = security_group(
        A, "eu-west-1", "sg-0aaa", "listed", [permission("tcp", 22, lists=("pl-0123abcd",))]
    )
    url, stop = serve(Aggregator(NAME, [listed]))
    monkeypatch.setenv("AWS_ENDPOINT_URL_CONFIG_SERVICE", url)
    try:
        status, rows, err = scan_json(capsys)
    finally:
        stop()
    assert (status, err) == (1, "")
    (row,) = rows
    assert row["compliance"] == "NON_COMPLIANT"
    assert row["annotation"] == (
        "Open to the internet from pl-0123abcd (unreadable: not resolved: no --role): tcp/22"
    )


def test_with_a_role_prefix_lists_are_read_in_their_own_account(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = Calls().install(monkeypatch)
    with mock_aws():
        private, world, refused = create_organization(3)

        def prefix_list(account: str, *cidrs: str) -> str:
            return str(
                client("ec2", account, "eu-west-1").create_managed_prefix_list(
                    PrefixListName="sources",
                    MaxEntries=2,
                    AddressFamily="IPv4",
                    Entries=[{"Cidr": cidr} for cidr in cidrs],
                )["PrefixList"]["PrefixListId"]
            )

        lists = {
            private: prefix_list(private, "10.0.0.0/8"),
            world: prefix_list(world, "0.0.0.0/1", "128.0.0.0/1"),
            HOME: prefix_list(HOME, "192.168.0.0/16"),
            refused: "pl-0fedcba987654321",
        }
        items = [
            security_group(
                account,
                "eu-west-1",
                f"sg-{account[:8]}",
                "listed",
                [permission("tcp", 22, lists=(pl,))],
            )
            for account, pl in lists.items()
        ]
        items.append(
            security_group(B, "eu-west-1", "sg-0b", "ssh", [permission("tcp", 22, "0.0.0.0/0")])
        )
        url, stop = serve(Aggregator(NAME, items))
        monkeypatch.setenv("AWS_ENDPOINT_URL_CONFIG_SERVICE", url)
        calls.fail(assuming(refused), "AccessDenied", "not authorized")
        try:
            status, rows, err = scan_json(capsys, "--role", ROLE, "--region", "us-east-1")
        finally:
            stop()

    assert status == 2  # the refused account's lists could not be read
    verdicts = {row["accountId"]: (row["compliance"], row["annotation"]) for row in rows}
    assert verdicts[private] == ("COMPLIANT", None)
    assert verdicts[world] == ("NON_COMPLIANT", f"Open to the internet from {lists[world]}: tcp/22")
    assert verdicts[HOME] == ("COMPLIANT", None)
    assert verdicts[refused] == (
        "NON_COMPLIANT",
        f"Open to the internet from {lists[refused]} (unreadable: not resolved: cannot assume "
        f"{ROLE}): tcp/22",
    )
    assert verdicts[B] == ("NON_COMPLIANT", SSH)
    # Lists are read in the account and region that own the group; only those accounts' roles
    # are assumed (none for the group without lists, none at home).
    read = sorted((c.account, c.region) for c in calls.of("GetManagedPrefixListEntries"))
    assert read == sorted([(private, "eu-west-1"), (world, "eu-west-1"), (HOME, "eu-west-1")])
    assumed = sorted(
        c.params["RoleArn"].split(":")[4]
        for c in calls.of("AssumeRole")
        if c.params["RoleSessionName"] == "portguard"  # not the test's own, seeding the lists
    )
    assert assumed == sorted([private, world, refused])
    assert err.splitlines()[0] == (
        f"portguard scan: cannot assume the role {ROLE} (AccessDenied) in account {refused}, "
        "none of its regions read: not authorized"
    )
    assert "scanPrincipals" in err


# --- failures ---------------------------------------------------------------------------------


def test_an_unknown_aggregator(aggregator: Aggregator, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", "--aggregator", "nope", "--region", "eu-west-1"]) == 2
    captured = capsys.readouterr()
    assert captured.err == (
        "portguard scan: no configuration aggregator named 'nope' in eu-west-1 (aws "
        "configservice describe-configuration-aggregators lists them; --region is where the "
        "aggregator is)\n"
    )
    assert captured.out == ""


def test_a_region_that_fails_half_way_leaves_the_rest(
    aggregator: Aggregator, capsys: pytest.CaptureFixture[str]
) -> None:
    def second_page(request: dict[str, Any]) -> tuple[int, str, str] | None:
        if request.get("NextToken") == "100":
            return 400, "AccessDeniedException", "not authorized on the second page"
        return None

    aggregator.fail = second_page
    status, rows, err = scan_json(capsys)

    assert status == 2
    regions = [row["region"] for row in rows]
    assert regions.count("eu-west-1") == 100  # the first page's
    assert regions.count("us-east-1") == 9 + 80
    assert err == (
        "portguard scan: eu-west-1: the aggregator's groups could not all be read: access "
        "denied to config:SelectAggregateResourceConfig: not authorized on the second page\n"
    )


def test_a_result_that_cannot_be_read_is_said_and_the_rest_decided(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = security_group(A, "eu-west-1", "sg-0bad", "broken", [])
    broken["configuration"] = "[not an object"
    good = security_group(A, "eu-west-1", "sg-0good", "good", [permission("tcp", 22, "0.0.0.0/0")])
    url, stop = serve(Aggregator(NAME, [broken, good]))
    monkeypatch.setenv("AWS_ENDPOINT_URL_CONFIG_SERVICE", url)
    try:
        status, rows, err = scan_json(capsys)
    finally:
        stop()
    assert status == 2
    assert [row["groupId"] for row in rows] == ["sg-0good"]
    assert err.startswith(
        "portguard scan: eu-west-1: a result of the aggregator could not be read: "
        "configuration of sg-0bad cannot be read as JSON"
    )


@pytest.mark.parametrize(
    "argv",
    [["--region", "eu-west-1", "--region", "us-east-1"], ["--all-regions"]],
)
def test_one_aggregator_one_region(
    aggregator: Aggregator, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert main(["scan", "--aggregator", NAME, *argv]) == 2
    assert "--aggregator reads one aggregator: give at most one --region" in (
        capsys.readouterr().err
    )
    assert aggregator.requests == []


# --- the output -------------------------------------------------------------------------------


def test_the_json_schema(aggregator: Aggregator, capsys: pytest.CaptureFixture[str]) -> None:
    _, rows, _ = scan_json(capsys)
    for row in rows:
        assert set(row) == JSON_FIELDS
        assert row["compliance"] in {"COMPLIANT", "NON_COMPLIANT", "NOT_APPLICABLE"}
        assert isinstance(row["accountId"], str)
        assert row["annotation"] is None or isinstance(row["annotation"], str)


def test_the_table_at_80_columns(
    aggregator: Aggregator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    terminal = Terminal()
    monkeypatch.setattr("sys.stdout", terminal)
    assert main(["scan", "--aggregator", NAME]) == 1
    lines = terminal.plain().splitlines()
    assert max(map(len, lines)) <= 80
    assert [line for line in lines if line.startswith("Account ")] == [
        f"Account {A}: 10 non-compliant, 156 compliant, 2 not applicable",
        f"Account {B}: 0 non-compliant, 80 compliant, 0 not applicable",
    ]
    assert (
        lines[-1] == "In 2 accounts: 248 groups: 10 non-compliant, 236 compliant, 2 not applicable"
    )
    assert capsys.readouterr().err == ""


def test_the_progress_bar_counts_groups(
    aggregator: Aggregator, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    status, rows, _ = scan_json(capsys)
    assert status == 1
    assert len(rows) == len(aggregator.items)  # stdout is exactly the JSON array
    assert "groups" in terminal.getvalue()


def test_an_answer_that_is_not_json(
    aggregator: Aggregator, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        Aggregator,
        "_page",
        staticmethod(lambda results, fields, request, default: {"Results": ["{"]}),
    )
    assert main(["scan", "--aggregator", NAME]) == 2
    assert capsys.readouterr().err.startswith(
        f"portguard scan: aggregator {NAME} answered what is not JSON: "
    )
