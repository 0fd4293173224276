"""``portguard evaluate``: the rule's decision on the files of ``tests/fixtures`` (our own, in
the shapes AWS writes; see its README.md), in every input shape, through the command line
(``main([...])``), as JSON and as a table, with every rule option, exit status and error.

The API responses there are what ``aws configservice get-resource-config-history`` or ``aws ec2
describe-security-groups`` prints, so the files are given to the command as they are.
"""

from __future__ import annotations

import copy
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from rows import JSON_FIELDS
from shared_data import FIXTURES, fixture

from portguard_cli.evaluate import SHAPES
from portguard_cli.main import main

LAMBDA_EVENT = FIXTURES / "config-rule-change-event.json"
LEGACY_ITEM = FIXTURES / "configuration-item-legacy.json"
IPV6_EVENT = FIXTURES / "invoking-event-ipv6.json"
INSTANCE_EVENT = FIXTURES / "config-rule-change-event-instance.json"
DELETED_GROUP_EVENT = FIXTURES / "config-rule-change-event-deleted-group.json"
SCHEDULED_EVENT = FIXTURES / "config-rule-scheduled-event.json"
HISTORY = "get-resource-config-history.json"
HISTORY_GROUP_PAIR = "get-resource-config-history-group-reference.json"
TEN_GROUPS = "describe-security-groups.json"
PREFIX_LIST = "describe-security-groups-prefix-list.json"
ALL_TRAFFIC = "describe-security-groups-all-traffic.json"
SELECT = "select-resource-config.json"

SSH_OPEN = "Open to the internet from 0.0.0.0/0: tcp/22"
HTTP_ALT_OPEN = "Open to the internet from 0.0.0.0/0: tcp/8080"
RANK = {"NON_COMPLIANT": 0, "COMPLIANT": 1, "NOT_APPLICABLE": 2}


# --- helpers ----------------------------------------------------------------------------------


def api_output(name: str) -> Any:
    """An API response of tests/fixtures, as the AWS CLI prints it, to change in a test."""
    return fixture(name)


def lambda_event() -> dict[str, Any]:
    event: dict[str, Any] = json.loads(LAMBDA_EVENT.read_text(encoding="utf-8"))
    return event


def invoking_event() -> dict[str, Any]:
    invoking: dict[str, Any] = json.loads(lambda_event()["invokingEvent"])
    return invoking


def write(directory: Path, name: str, document: Any) -> str:
    path = directory / name
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return str(path)


def api_file(name: str) -> str:
    """The file of tests/fixtures holding the API response ``name``."""
    return str(FIXTURES / name)


def evaluate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["evaluate", *args])
    out, err = capsys.readouterr()
    return status, out, err


def evaluate_json(
    capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, list[dict[str, Any]], str]:
    status, out, err = evaluate(capsys, *args, "--format", "json")
    return status, json.loads(out), err


def by_group(results: list[dict[str, Any]]) -> dict[str, tuple[str, str | None]]:
    return {r["groupId"]: (r["compliance"], r["annotation"]) for r in results}


def only(results: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(results) == 1, results
    return results[0]


# --- each input shape -------------------------------------------------------------------------

OPEN_SSH = {
    "groupId": "sg-0b7e4f1a2c3d5e6f7",
    "groupName": "bastion-ssh",
    "vpcId": "vpc-0c4d2e8f1a3b5c7d9",
    "region": "eu-west-1",
    "accountId": "111122223333",  # the item's awsAccountId
    "compliance": "NON_COMPLIANT",
    "annotation": SSH_OPEN,
    "warnings": [],
}


@pytest.mark.parametrize("shape", ["lambda event", "invoking event", "configuration item"])
def test_a_config_item_from_an_invoking_event(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, shape: str
) -> None:
    if shape == "lambda event":
        path = str(LAMBDA_EVENT)  # the captured file itself
    elif shape == "invoking event":
        path = write(tmp_path, "invoking.json", invoking_event())
    else:
        path = write(tmp_path, "item.json", invoking_event()["configurationItem"])
    status, results, err = evaluate_json(capsys, path)
    assert (status, err) == (1, "")
    assert results == [{**OPEN_SSH, "source": path}]


def test_the_legacy_item(capsys: pytest.CaptureFixture[str]) -> None:
    # History naming (accountId, arn), legacy ipRanges strings only, egress with no ports.
    status, results, _ = evaluate_json(capsys, str(LEGACY_ITEM))
    assert status == 1
    assert only(results) == {
        "groupId": "sg-7c41a2e9",
        "groupName": "launch-wizard-3",
        "vpcId": "vpc-3b5e8d21",
        "region": "us-east-1",
        "accountId": "210987654321",  # history naming: accountId
        "compliance": "NON_COMPLIANT",
        "annotation": SSH_OPEN,
        "source": str(LEGACY_ITEM),
        "warnings": [],
    }


def test_get_resource_config_history_output(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Two versions of one group (configuration as a JSON string): one answer, about the group.
    # tcp/8080 from 0.0.0.0/0 is NON_COMPLIANT by default, as fsbp (Security Hub EC2.19)
    # holds 8080.
    path = api_file(HISTORY)
    assert len(api_output(HISTORY)["configurationItems"]) == 2
    status, results, _ = evaluate_json(capsys, path)
    assert status == 1
    assert only(results) == {
        "groupId": "sg-4f2a9c81",
        "groupName": "payments-api",
        "vpcId": "vpc-6d1e3b07",
        "region": "us-east-1",
        "accountId": "333344445555",
        "compliance": "NON_COMPLIANT",
        "annotation": HTTP_ALT_OPEN,
        "source": path,
        "warnings": [],
    }


@pytest.mark.parametrize("order", ["newest first", "oldest first"])
def test_history_answers_for_the_latest_version(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, order: str
) -> None:
    # The newer version closed 8080 (only the 10.42.1.0/24 rule is left): the group complies now.
    history = api_output(HISTORY)
    items = history["configurationItems"]
    newest = max(items, key=lambda item: item["configurationItemCaptureTime"])
    configuration = json.loads(newest["configuration"])
    configuration["ipPermissions"] = [
        p for p in configuration["ipPermissions"] if p["fromPort"] != 8080
    ]
    assert len(configuration["ipPermissions"]) == 1
    newest["configuration"] = json.dumps(configuration)
    items.sort(
        key=lambda item: item["configurationItemCaptureTime"], reverse=order == "newest first"
    )
    status, results, _ = evaluate_json(capsys, write(tmp_path, "history.json", history))
    assert status == 0
    assert (only(results)["groupId"], only(results)["compliance"]) == ("sg-4f2a9c81", "COMPLIANT")


LAUNCH_WIZARD = "sg-0b3d7f1a5c9e4b683"
WEB_FRONTEND = "sg-0a1e5c9d3b7f2e461"
TEN_GROUPS_DEFAULT = {
    LAUNCH_WIZARD: ("NON_COMPLIANT", SSH_OPEN),  # tcp/22 from 0.0.0.0/0
    WEB_FRONTEND: ("NON_COMPLIANT", HTTP_ALT_OPEN),  # tcp/8080 from 0.0.0.0/0, icmp 3/4
    "sg-0c2f6a0e4d8b3c572": ("COMPLIANT", None),  # no ingress
    "sg-0d3a7e1c5b9f4d683": ("COMPLIANT", None),  # -1 from itself
    "sg-0a7c1e5b9d3f8a250": ("COMPLIANT", None),  # -1 from a /32 and itself
    "sg-0b8d2f6c0e4a9b361": ("COMPLIANT", None),  # -1 from itself
    "sg-0e4b8c2a6f0d5e794": ("COMPLIANT", None),  # tcp/3306 from a /32
    "sg-0f6e0a4c8b2d7f916": ("COMPLIANT", None),
    "sg-0a9f3b7d1c5e0a147": ("COMPLIANT", None),
    "sg-0f5c9d3b7a1e6f805": ("COMPLIANT", None),  # tcp/22 from a /32
}


def test_describe_security_groups_output(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = api_file(TEN_GROUPS)
    status, results, _ = evaluate_json(capsys, path)
    assert status == 1
    assert by_group(results) == TEN_GROUPS_DEFAULT
    assert {(r["region"], r["source"]) for r in results} == {(None, path)}
    names = {r["groupId"]: (r["groupName"], r["vpcId"]) for r in results}
    assert names[LAUNCH_WIZARD] == ("launch-wizard-1", "vpc-0d8b6a4c2e0f1a3b5")


def test_every_port_blocked_still_flags_only_the_internet(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Group references, /32s and ICMP never count as the internet, whatever the ports.
    _, results, _ = evaluate_json(capsys, api_file(TEN_GROUPS), "--blocked-ports", "0-65535")
    assert by_group(results) == TEN_GROUPS_DEFAULT


def test_one_ec2_group(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (group,) = [
        g for g in api_output(TEN_GROUPS)["SecurityGroups"] if g["GroupId"] == LAUNCH_WIZARD
    ]
    status, results, _ = evaluate_json(capsys, write(tmp_path, "group.json", group))
    assert status == 1
    assert by_group(results) == {LAUNCH_WIZARD: ("NON_COMPLIANT", SSH_OPEN)}


def test_a_json_list_of_groups(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    groups = api_output(TEN_GROUPS)["SecurityGroups"]
    status, results, _ = evaluate_json(capsys, write(tmp_path, "groups.json", groups))
    assert status == 1
    assert by_group(results) == TEN_GROUPS_DEFAULT


def test_a_json_list_of_mixed_shapes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    ec2_group = api_output(PREFIX_LIST)["SecurityGroups"][1]
    document = [
        lambda_event(),
        invoking_event()["configurationItem"],
        api_output(HISTORY),
        ec2_group,
    ]
    status, results, _ = evaluate_json(capsys, write(tmp_path, "mixed.json", document))
    assert status == 1
    assert [(r["groupId"], r["compliance"]) for r in results] == [
        ("sg-0b7e4f1a2c3d5e6f7", "NON_COMPLIANT"),  # eu-west-1
        ("sg-0b7e4f1a2c3d5e6f7", "NON_COMPLIANT"),
        ("sg-4f2a9c81", "NON_COMPLIANT"),  # us-east-1
        ("sg-03c7e1b5f9d2a4b6a", "COMPLIANT"),
    ]


def test_standard_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(LEGACY_ITEM.read_text(encoding="utf-8")))
    status, results, _ = evaluate_json(capsys, "-")
    assert status == 1
    assert (only(results)["groupId"], only(results)["source"]) == ("sg-7c41a2e9", "-")


def test_several_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    ten = api_file(TEN_GROUPS)
    pair = api_file(HISTORY_GROUP_PAIR)
    status, results, err = evaluate_json(capsys, ten, str(LAMBDA_EVENT), pair)
    assert (status, err) == (1, "")
    assert len(results) == 12
    sources = {r["groupId"]: r["source"] for r in results}
    assert sources[LAUNCH_WIZARD] == ten
    assert sources["sg-0b7e4f1a2c3d5e6f7"] == str(LAMBDA_EVENT)
    assert sources["sg-2e7b5d13"] == pair  # tcp/0 from a group: compliant
    assert by_group(results)["sg-2e7b5d13"] == ("COMPLIANT", None)


@pytest.mark.parametrize(
    "event", [INSTANCE_EVENT, DELETED_GROUP_EVENT], ids=["instance", "deleted"]
)
def test_an_instance_or_a_deleted_group_is_not_applicable(
    capsys: pytest.CaptureFixture[str], event: Path
) -> None:
    # An EC2 instance's item; a deleted group (configuration null, eventLeftScope true).
    status, results, _ = evaluate_json(capsys, str(event))
    assert status == 0
    assert (only(results)["compliance"], only(results)["annotation"]) == ("NOT_APPLICABLE", None)


# --- output -----------------------------------------------------------------------------------


def test_the_json_schema(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _, results, _ = evaluate_json(
        capsys, str(INSTANCE_EVENT), api_file(TEN_GROUPS), str(LAMBDA_EVENT)
    )
    assert isinstance(results, list)
    assert len(results) == 12
    for result in results:
        assert set(result) == JSON_FIELDS
        assert isinstance(result["groupId"], str)
        assert isinstance(result["source"], str)
        assert result["compliance"] in RANK
        for field in ("groupName", "vpcId", "region", "accountId", "annotation"):
            assert result[field] is None or isinstance(result[field], str)
    ranks = [RANK[r["compliance"]] for r in results]
    assert ranks == sorted(ranks)  # non-compliant first, then by account
    assert [(r["accountId"], r["groupId"]) for r in results[:3]] == [
        ("111122223333", "sg-0b7e4f1a2c3d5e6f7"),  # the event's item: awsAccountId
        ("555566667777", WEB_FRONTEND),  # describe-security-groups: OwnerId
        ("555566667777", LAUNCH_WIZARD),
    ]
    assert results[-1]["compliance"] == "NOT_APPLICABLE"


def test_the_table(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, out, err = evaluate(capsys, api_file(TEN_GROUPS), str(INSTANCE_EVENT))
    assert (status, err) == (1, "")
    for header in ("group", "name", "VPC", "region", "compliance", "annotation"):
        assert header in out.splitlines()[1]
    rows = [line for line in out.splitlines() if "sg-" in line or "i-0" in line]
    assert len(rows) == 11
    assert [row.split()[1] for row in rows[:2]] == [WEB_FRONTEND, LAUNCH_WIZARD]
    assert "NON_COMPLIANT" in rows[0]
    assert HTTP_ALT_OPEN in rows[0]
    assert "web-frontend" in rows[0]
    assert "NOT_APPLICABLE" in rows[-1]
    assert out.splitlines()[-1] == "11 groups: 2 non-compliant, 8 compliant, 1 not applicable"


def test_the_table_with_nothing_in_it(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, out, _ = evaluate(capsys, write(tmp_path, "none.json", {"SecurityGroups": []}))
    assert status == 0
    assert out == "0 groups: 0 non-compliant, 0 compliant, 0 not applicable\n"


# --- exit statuses ----------------------------------------------------------------------------


def test_exit_0_when_every_group_complies(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, results, _ = evaluate_json(capsys, api_file(PREFIX_LIST), api_file(HISTORY_GROUP_PAIR))
    assert status == 0
    assert {r["compliance"] for r in results} == {"COMPLIANT"}


def test_exit_1_when_any_group_does_not(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, _, _ = evaluate_json(capsys, api_file(PREFIX_LIST), str(LEGACY_ITEM))
    assert status == 1


def test_exit_2_on_an_error_even_with_a_non_compliant_group(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, results, _ = evaluate_json(capsys, str(LEGACY_ITEM), str(tmp_path / "missing.json"))
    assert status == 2
    assert only(results)["compliance"] == "NON_COMPLIANT"


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("output", ["json", "table"])
def test_a_missing_file_is_named_and_the_others_reported(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, output: str
) -> None:
    missing = str(tmp_path / "missing.json")
    status, out, err = evaluate(capsys, missing, str(LAMBDA_EVENT), "--format", output)
    assert status == 2
    assert err == f"portguard evaluate: {missing}: cannot read it (No such file or directory)\n"
    if output == "json":
        assert only(json.loads(out))["groupId"] == "sg-0b7e4f1a2c3d5e6f7"
    else:
        assert "sg-0b7e4f1a2c3d5e6f7" in out
        assert out.splitlines()[-1].startswith("1 group: 1 non-compliant")


def test_a_directory(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, out, err = evaluate_json(capsys, str(tmp_path))
    assert (status, out) == (2, [])
    assert f"{tmp_path}: cannot read it" in err


@pytest.mark.parametrize("text", ["", "SecurityGroups: []", '{"SecurityGroups": [}', "{'a': 1}"])
def test_a_file_that_is_not_json(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str
) -> None:
    path = tmp_path / "broken.json"
    path.write_text(text, encoding="utf-8")
    status, results, err = evaluate_json(capsys, str(path), str(LEGACY_ITEM))
    assert status == 2
    assert err.startswith(f"portguard evaluate: {path}: not JSON (")
    assert only(results)["groupId"] == "sg-7c41a2e9"


def test_an_object_of_an_unknown_shape(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # SelectResourceConfig output (real): not one of the shapes; the message lists them.
    path = api_file(SELECT)
    status, results, err = evaluate_json(capsys, path)
    assert (status, results) == (2, [])
    keys = "QueryInfo, Results"
    assert err == f"portguard evaluate: {path}: an object with keys {keys} is not {SHAPES}\n"
    for shape in (
        "configurationItems",
        "SecurityGroups",
        "configurationItem",
        "EC2 security group",
    ):
        assert shape in err


def test_a_scheduled_event_holds_no_item(capsys: pytest.CaptureFixture[str]) -> None:
    status, results, err = evaluate_json(capsys, str(SCHEDULED_EVENT))
    assert (status, results) == (2, [])
    assert "messageType" in err
    assert SHAPES in err


@pytest.mark.parametrize(
    ("document", "kind"),
    [
        (42, "a JSON number"),
        ("sg-1", "a JSON string"),
        (None, "null"),
        (True, "true"),
        ({}, "an empty object"),
    ],
)
def test_a_document_that_is_not_an_object(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, document: Any, kind: str
) -> None:
    path = write(tmp_path, "scalar.json", document)
    status, _, err = evaluate_json(capsys, path)
    assert status == 2
    assert f"{path}: {kind} is not {SHAPES}" in err


@pytest.mark.parametrize(
    ("configuration", "message"),
    [
        (42, "configuration of sg-0b7e4f1a2c3d5e6f7 is not an object: a JSON number"),
        ([], "configuration of sg-0b7e4f1a2c3d5e6f7 is not an object: a JSON list"),
        ("[1, 2]", "configuration of sg-0b7e4f1a2c3d5e6f7 is not an object: a JSON list"),
        ("{not json", "configuration of sg-0b7e4f1a2c3d5e6f7 cannot be read as JSON: Expecting"),
    ],
)
def test_a_configuration_that_is_not_an_object(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, configuration: Any, message: str
) -> None:
    item = invoking_event()["configurationItem"]
    item["configuration"] = configuration
    path = write(tmp_path, "item.json", item)
    status, results, err = evaluate_json(capsys, path, str(LEGACY_ITEM))
    assert status == 2
    assert err.startswith(f"portguard evaluate: {path}: {message}")
    assert only(results)["groupId"] == "sg-7c41a2e9"


def test_an_item_with_no_resource_id(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    event = invoking_event()
    del event["configurationItem"]["resourceId"]
    status, _, err = evaluate_json(capsys, write(tmp_path, "event.json", event))
    assert status == 2
    assert "configurationItem has no resourceType or resourceId" in err


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"SecurityGroups": [42]}, "security group is not an object: a JSON number"),
        ({"configurationItems": ["sg-1"]}, "a configurationItems entry is not an object"),
        ({"invokingEvent": "{not json"}, "invokingEvent cannot be read as JSON: Expecting"),
        ([{"SecurityGroups": []}, {"Reservations": []}], "an object with keys Reservations"),
    ],
)
def test_a_malformed_container(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, document: Any, message: str
) -> None:
    path = write(tmp_path, "bad.json", document)
    status, results, err = evaluate_json(capsys, path)
    assert (status, results) == (2, [])
    assert err.startswith(f"portguard evaluate: {path}: {message}")


# --- the rule's options -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ports", "expected"),
    [
        (None, ("NON_COMPLIANT", HTTP_ALT_OPEN)),  # fsbp holds 8080
        ("8080", ("NON_COMPLIANT", HTTP_ALT_OPEN)),
        ("8000-8100", ("NON_COMPLIANT", HTTP_ALT_OPEN)),
        ("hipaa", ("COMPLIANT", None)),
        ("cis", ("COMPLIANT", None)),
        ("443", ("COMPLIANT", None)),  # open to 10.42.1.0/24 only
    ],
)
def test_blocked_ports(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    ports: str | None,
    expected: tuple[str, str | None],
) -> None:
    options = [] if ports is None else ["--blocked-ports", ports]
    status, results, _ = evaluate_json(capsys, api_file(HISTORY), *options)
    assert by_group(results) == {"sg-4f2a9c81": expected}
    assert status == (1 if expected[0] == "NON_COMPLIANT" else 0)


def test_blocked_ports_on_the_ten_groups(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _, results, _ = evaluate_json(capsys, api_file(TEN_GROUPS), "--blocked-ports", "22")
    assert {g for g, (c, _) in by_group(results).items() if c == "NON_COMPLIANT"} == {LAUNCH_WIZARD}


@pytest.mark.parametrize(
    ("protocol", "expected"),
    [
        ("ALL", ("NON_COMPLIANT", SSH_OPEN)),
        ("TCP", ("NON_COMPLIANT", SSH_OPEN)),
        ("tcp", ("NON_COMPLIANT", SSH_OPEN)),
        ("UDP", ("COMPLIANT", None)),
    ],
)
def test_protocol_type(
    capsys: pytest.CaptureFixture[str], protocol: str, expected: tuple[str, str | None]
) -> None:
    _, results, _ = evaluate_json(capsys, str(LAMBDA_EVENT), "--protocol-type", protocol)
    assert by_group(results) == {"sg-0b7e4f1a2c3d5e6f7": expected}


def test_protocol_type_on_all_traffic(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # -1 opens both: UDP reports the udp ports only.
    _, results, _ = evaluate_json(
        capsys, api_file(ALL_TRAFFIC), "--protocol-type", "UDP", "--blocked-ports", "22"
    )
    assert by_group(results) == {
        "sg-01e5a9c3d7b2f4e6a": ("NON_COMPLIANT", "Open to the internet from 0.0.0.0/0: udp/22")
    }


@pytest.mark.parametrize(
    ("ip_type", "compliance"),
    [("ALL", "NON_COMPLIANT"), ("IPv4", "NON_COMPLIANT"), ("IPv6", "COMPLIANT")],
)
def test_ip_type_on_an_ipv4_only_group(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, ip_type: str, compliance: str
) -> None:
    _, results, _ = evaluate_json(capsys, api_file(ALL_TRAFFIC), "--ip-type", ip_type)
    assert only(results)["compliance"] == compliance


@pytest.mark.parametrize(("ip_type", "source"), [("IPv4", "0.0.0.0/0"), ("ipv6", "::/0")])
def test_ip_type_on_an_ipv6_group(
    capsys: pytest.CaptureFixture[str], ip_type: str, source: str
) -> None:
    _, results, _ = evaluate_json(
        capsys, str(IPV6_EVENT), "--ip-type", ip_type, "--blocked-ports", "9418,51820"
    )
    assert only(results)["annotation"] == (
        f"Open to the internet from {source}: tcp/9418, tcp/51820, udp/51820"
    )


def test_exempt_tag_key_with_the_items_own_tag(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # The history item's own tags: Team=payments, which is not an exemption: said, not honoured.
    path = api_file(HISTORY)
    _, results, _ = evaluate_json(capsys, path, "--exempt-tag-key", "Team")
    assert by_group(results) == {
        "sg-4f2a9c81": (
            "NON_COMPLIANT",
            f"Exemption tag Team ignored: unknown token 'payments'. {HTTP_ALT_OPEN}",
        )
    }


def _tagged_history(tmp_path: Path, value: str) -> str:
    history = api_output(HISTORY)
    for item in history["configurationItems"]:
        item["tags"] = {**item["tags"], "portguard:exempt": value}
    return write(tmp_path, "tagged.json", history)


def test_exempt_tag_key_on_a_config_item(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = _tagged_history(tmp_path, "8080")
    status, results, _ = evaluate_json(capsys, path)
    assert (status, only(results)["compliance"]) == (1, "NON_COMPLIANT")  # not honoured unasked
    status, results, _ = evaluate_json(capsys, path, "--exempt-tag-key", "portguard:exempt")
    assert status == 0
    assert by_group(results) == {
        "sg-4f2a9c81": (
            "COMPLIANT",
            "Exempted by tag portguard:exempt with no end date, open to the internet "
            "from 0.0.0.0/0: tcp/8080",
        )
    }


@pytest.mark.parametrize(
    ("value", "compliance", "note"),
    [
        ("8080 until 2999-12-31", "COMPLIANT", "Exempted by tag portguard:exempt until 2999-12-31"),
        (
            "8080 until 2001-01-01",
            "NON_COMPLIANT",
            "Exemption tag portguard:exempt expired 2001-01-01",
        ),
        ("22", "NON_COMPLIANT", None),
    ],
)
def test_exempt_tag_key_on_an_ec2_group(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    value: str,
    compliance: str,
    note: str | None,
) -> None:
    output = copy.deepcopy(api_output(TEN_GROUPS))
    for group in output["SecurityGroups"]:
        if group["GroupId"] == WEB_FRONTEND:
            group["Tags"].append({"Key": "portguard:exempt", "Value": value})
    path = write(tmp_path, "tagged.json", output)
    _, results, _ = evaluate_json(capsys, path, "--exempt-tag-key", "portguard:exempt")
    verdict = by_group(results)[WEB_FRONTEND]
    assert verdict[0] == compliance
    assert verdict[1] is not None
    if note is not None:
        assert verdict[1].startswith(note)
    assert by_group(results)[LAUNCH_WIZARD] == ("NON_COMPLIANT", SSH_OPEN)  # untagged


def test_prefix_lists_fail_closed_offline(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # sg-02b6d0a4e8c1f3a59 opens tcp/80 to 192.168.0.1/31 and to the prefix list pl-4fa65026,
    # which cannot be read offline: on a blocked port it counts as the whole internet.
    path = api_file(PREFIX_LIST)
    status, results, _ = evaluate_json(capsys, path, "--blocked-ports", "80")
    assert status == 1
    assert by_group(results) == {
        "sg-02b6d0a4e8c1f3a59": (
            "NON_COMPLIANT",
            "Open to the internet from pl-4fa65026 (unreadable: not resolved offline): tcp/80",
        ),
        "sg-03c7e1b5f9d2a4b6a": ("COMPLIANT", None),
        "sg-04d8f2c6a0e3b5c7b": ("COMPLIANT", None),
    }


def test_no_resolve_prefix_lists_ignores_them(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = api_file(PREFIX_LIST)
    status, results, _ = evaluate_json(
        capsys, path, "--blocked-ports", "80", "--no-resolve-prefix-lists"
    )
    assert status == 0
    assert {c for c, _ in by_group(results).values()} == {"COMPLIANT"}


def test_a_prefix_list_on_a_port_not_blocked_is_no_matter(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, _, _ = evaluate_json(capsys, api_file(PREFIX_LIST))  # fsbp: no 80
    assert status == 0


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--blocked-ports", "22,70000"], ["--blocked-ports", "70000"]),
        (["--blocked-ports", "ssh"], ["--blocked-ports", "'ssh'"]),
        (["--blocked-ports", "100-20"], ["--blocked-ports", "reversed"]),
        (["--protocol-type", "ICMP"], ["--protocol-type", "ICMP", "TCP, UDP, ALL"]),
        (["--ip-type", "IPv5"], ["--ip-type", "IPv5", "IPv4, IPv6, ALL"]),
        (["--exempt-tag-key", " "], ["--exempt-tag-key", "empty"]),
        (["--exempt-tag-key", "k" * 129], ["--exempt-tag-key", "128"]),
    ],
)
def test_a_bad_option_value(
    capsys: pytest.CaptureFixture[str], options: list[str], named: list[str]
) -> None:
    status, out, err = evaluate(capsys, str(LAMBDA_EVENT), *options)
    assert (status, out) == (2, "")
    assert err.startswith("portguard evaluate: invalid ")
    for word in named:
        assert word in err


# --- inputs that once crashed or were misread ------------------------------------------------


def test_an_invoking_event_that_is_not_an_object(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write(tmp_path, "event.json", {**lambda_event(), "invokingEvent": "42"})
    status, results, err = evaluate_json(capsys, path, str(LEGACY_ITEM))
    assert status == 2
    assert path in err
    assert only(results)["groupId"] == "sg-7c41a2e9"


def test_a_file_that_is_not_text(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "binary.json"
    path.write_bytes(b"\x80\x81\xfe\xff{}")
    status, results, err = evaluate_json(capsys, str(path), str(LEGACY_ITEM))
    assert status == 2
    assert str(path) in err
    assert only(results)["groupId"] == "sg-7c41a2e9"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_a_file_with_a_byte_order_mark(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, encoding: str
) -> None:
    path = tmp_path / "sgs.json"
    path.write_text(json.dumps(api_output(TEN_GROUPS)), encoding=encoding)
    status, results, _ = evaluate_json(capsys, str(path))
    assert status == 1
    assert by_group(results) == TEN_GROUPS_DEFAULT


def test_the_table_shows_names_as_written(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    groups = api_output(TEN_GROUPS)["SecurityGroups"][:2]
    groups[0]["GroupName"] = "[bold]admin"
    groups[1]["GroupName"] = "web[/]"
    status, out, _ = evaluate(capsys, write(tmp_path, "groups.json", groups))
    assert status == 1
    assert "[bold]admin" in out
    assert "web[/]" in out


def test_an_event_whose_resource_left_scope_is_not_applicable(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """As the handler answers: Config said the group left the rule's scope."""
    path = write(tmp_path, "event.json", {**lambda_event(), "eventLeftScope": True})
    status, results, _ = evaluate_json(capsys, path)
    assert status == 0
    assert only(results)["compliance"] == "NOT_APPLICABLE"


def test_standard_input_as_bytes_in_utf16(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real pipe has a byte buffer: its encoding is detected as for files."""
    data = LEGACY_ITEM.read_text(encoding="utf-8").encode("utf-16")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    status, results, _ = evaluate_json(capsys, "-")
    assert status == 1
    assert only(results)["groupId"] == "sg-7c41a2e9"
