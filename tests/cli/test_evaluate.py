"""``portguard evaluate``: the rule's decision on the real captured files of ``tests/events``, in
every input shape, through the command line (``main([...])``), as JSON and as a table, with every
rule option, exit status and error.

Placebo recordings hold a boto3 response as ``{"status_code": …, "data": {…}}`` with datetimes as
``{"__class__": "datetime", …}``; the tests write the ``data`` part, datetimes as ISO strings, to a
file: what ``aws configservice get-resource-config-history`` or ``aws ec2
describe-security-groups`` prints.
"""

from __future__ import annotations

import copy
import io
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from portguard_cli.evaluate import SHAPES
from portguard_cli.main import main

EVENTS = Path(__file__).resolve().parents[1] / "events"

LAMBDA_EVENT = EVENTS / "c7n-lambda-event-sg-open-ssh.json"
RDK_ITEM = EVENTS / "rdk-ci-sg-launch-wizard-legacy.json"
IPV6_EVENT = EVENTS / "awsconfigrules-invoking-event-sg-ipv6-open.json"
INSTANCE_EVENT = EVENTS / "powertools-lambda-event-ec2-instance-changed.json"
DELETED_ROLE_EVENT = EVENTS / "accessanalyzer-lambda-event-deleted-iam-role.json"
SCHEDULED_EVENT = EVENTS / "powertools-lambda-event-scheduled.json"
HISTORY = "c7n-history-sg-allow-access-legacy.json"
HISTORY_GROUP_PAIR = "c7n-history-sg-group-pair-port0.json"
TEN_GROUPS = "c7n-ec2-describe-sg-ten-groups-icmp.json"
PREFIX_LIST = "c7n-ec2-describe-sg-prefixlist-udp.json"
ALL_TRAFFIC = "c7n-ec2-describe-sg-all-traffic-open.json"
SELECT = "c7n-select-sg-no-ingress.json"

SSH_OPEN = "Open to the internet from 0.0.0.0/0: tcp/22"
HTTP_ALT_OPEN = "Open to the internet from 0.0.0.0/0: tcp/8080"
FIELDS = {
    "groupId",
    "groupName",
    "vpcId",
    "region",
    "compliance",
    "annotation",
    "source",
    "warnings",
}
RANK = {"NON_COMPLIANT": 0, "COMPLIANT": 1, "NOT_APPLICABLE": 2}


# --- helpers ----------------------------------------------------------------------------------


def _placebo_hook(obj: dict[str, Any]) -> Any:
    if obj.get("__class__") == "datetime":
        fields = {k: v for k, v in obj.items() if k != "__class__"}
        return datetime(**fields, tzinfo=UTC).isoformat()
    return obj


def placebo(name: str) -> Any:
    """The API response a placebo recording holds, as the AWS CLI prints it."""
    recorded = json.loads((EVENTS / name).read_text(encoding="utf-8"), object_hook=_placebo_hook)
    assert set(recorded) == {"status_code", "data"}
    return recorded["data"]


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


def api_file(directory: Path, name: str) -> str:
    """The placebo recording ``name`` as the API's own output, in a file."""
    return write(directory, name, placebo(name))


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
    "groupId": "sg-e2fb6999",
    "groupName": "sg_open_ssh",
    "vpcId": "vpc-f16e4296",
    "region": "eu-west-1",
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


def test_the_legacy_rdk_item(capsys: pytest.CaptureFixture[str]) -> None:
    # History naming (accountId, arn), legacy ipRanges strings only, egress with no ports.
    status, results, _ = evaluate_json(capsys, str(RDK_ITEM))
    assert status == 1
    assert only(results) == {
        "groupId": "sg-1d56fc66",
        "groupName": "launch-wizard-7",
        "vpcId": "vpc-0990dc6d",
        "region": "us-east-1",
        "compliance": "NON_COMPLIANT",
        "annotation": SSH_OPEN,
        "source": str(RDK_ITEM),
        "warnings": [],
    }


def test_get_resource_config_history_output(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Two versions of one group (configuration as a JSON string): one answer, about the group.
    # tcp/8080 from 0.0.0.0/0 is NON_COMPLIANT by default, as fsbp (Security Hub EC2.19)
    # holds 8080.
    path = api_file(tmp_path, HISTORY)
    assert len(placebo(HISTORY)["configurationItems"]) == 2
    status, results, _ = evaluate_json(capsys, path)
    assert status == 1
    assert only(results) == {
        "groupId": "sg-a38ed1de",
        "groupName": "allow-access",
        "vpcId": "vpc-72885e14",
        "region": "us-east-1",
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
    history = placebo(HISTORY)
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
    assert (only(results)["groupId"], only(results)["compliance"]) == ("sg-a38ed1de", "COMPLIANT")


TEN_GROUPS_DEFAULT = {
    "sg-926a56e8": ("NON_COMPLIANT", SSH_OPEN),  # tcp/22 from 0.0.0.0/0
    "sg-a38ed1de": ("NON_COMPLIANT", HTTP_ALT_OPEN),  # tcp/8080 from 0.0.0.0/0, icmp 15/-1
    "sg-12eeb66f": ("COMPLIANT", None),  # no ingress
    "sg-10eeb66d": ("COMPLIANT", None),  # -1 from itself
    "sg-6c7fa917": ("COMPLIANT", None),  # -1 from a /32 and itself
    "sg-a08ed1dd": ("COMPLIANT", None),  # -1 from itself
    "sg-cd3d01b7": ("COMPLIANT", None),  # tcp/3306 from a /32
    "sg-314baa4c": ("COMPLIANT", None),
    "sg-704f840d": ("COMPLIANT", None),
    "sg-411b413c": ("COMPLIANT", None),  # tcp/22 from a /32
}


def test_describe_security_groups_output(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = api_file(tmp_path, TEN_GROUPS)
    status, results, _ = evaluate_json(capsys, path)
    assert status == 1
    assert by_group(results) == TEN_GROUPS_DEFAULT
    assert {(r["region"], r["source"]) for r in results} == {(None, path)}
    names = {r["groupId"]: (r["groupName"], r["vpcId"]) for r in results}
    assert names["sg-926a56e8"] == ("launch-wizard-1", "vpc-d2d616b5")


def test_every_port_blocked_still_flags_only_the_internet(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Group references, /32s and ICMP never count as the internet, whatever the ports.
    _, results, _ = evaluate_json(
        capsys, api_file(tmp_path, TEN_GROUPS), "--blocked-ports", "0-65535"
    )
    assert by_group(results) == TEN_GROUPS_DEFAULT


def test_one_ec2_group(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (group,) = [g for g in placebo(TEN_GROUPS)["SecurityGroups"] if g["GroupId"] == "sg-926a56e8"]
    status, results, _ = evaluate_json(capsys, write(tmp_path, "group.json", group))
    assert status == 1
    assert by_group(results) == {"sg-926a56e8": ("NON_COMPLIANT", SSH_OPEN)}


def test_a_json_list_of_groups(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    groups = placebo(TEN_GROUPS)["SecurityGroups"]
    status, results, _ = evaluate_json(capsys, write(tmp_path, "groups.json", groups))
    assert status == 1
    assert by_group(results) == TEN_GROUPS_DEFAULT


def test_a_json_list_of_mixed_shapes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    ec2_group = placebo(PREFIX_LIST)["SecurityGroups"][1]
    document = [lambda_event(), invoking_event()["configurationItem"], placebo(HISTORY), ec2_group]
    status, results, _ = evaluate_json(capsys, write(tmp_path, "mixed.json", document))
    assert status == 1
    assert [(r["groupId"], r["compliance"]) for r in results] == [
        ("sg-e2fb6999", "NON_COMPLIANT"),  # eu-west-1
        ("sg-e2fb6999", "NON_COMPLIANT"),
        ("sg-a38ed1de", "NON_COMPLIANT"),  # us-east-1
        ("sg-0b650189861ce4f6c", "COMPLIANT"),
    ]


def test_standard_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(RDK_ITEM.read_text(encoding="utf-8")))
    status, results, _ = evaluate_json(capsys, "-")
    assert status == 1
    assert (only(results)["groupId"], only(results)["source"]) == ("sg-1d56fc66", "-")


def test_several_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    ten = api_file(tmp_path, TEN_GROUPS)
    pair = api_file(tmp_path, HISTORY_GROUP_PAIR)
    status, results, err = evaluate_json(capsys, ten, str(LAMBDA_EVENT), pair)
    assert (status, err) == (1, "")
    assert len(results) == 12
    sources = {r["groupId"]: r["source"] for r in results}
    assert sources["sg-926a56e8"] == ten
    assert sources["sg-e2fb6999"] == str(LAMBDA_EVENT)
    assert sources["sg-65229a0c"] == pair  # tcp/0 from a group: compliant
    assert by_group(results)["sg-65229a0c"] == ("COMPLIANT", None)


@pytest.mark.parametrize("event", [INSTANCE_EVENT, DELETED_ROLE_EVENT], ids=["instance", "deleted"])
def test_not_a_security_group_is_not_applicable(
    capsys: pytest.CaptureFixture[str], event: Path
) -> None:
    # An EC2 instance's item; a deleted IAM role (configuration null, eventLeftScope true).
    status, results, _ = evaluate_json(capsys, str(event))
    assert status == 0
    assert (only(results)["compliance"], only(results)["annotation"]) == ("NOT_APPLICABLE", None)


# --- output -----------------------------------------------------------------------------------


def test_the_json_schema(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _, results, _ = evaluate_json(
        capsys, str(INSTANCE_EVENT), api_file(tmp_path, TEN_GROUPS), str(LAMBDA_EVENT)
    )
    assert isinstance(results, list)
    assert len(results) == 12
    for result in results:
        assert set(result) == FIELDS
        assert isinstance(result["groupId"], str)
        assert isinstance(result["source"], str)
        assert result["compliance"] in RANK
        for field in ("groupName", "vpcId", "region", "annotation"):
            assert result[field] is None or isinstance(result[field], str)
    ranks = [RANK[r["compliance"]] for r in results]
    assert ranks == sorted(ranks)  # non-compliant first
    assert [r["groupId"] for r in results[:3]] == ["sg-926a56e8", "sg-a38ed1de", "sg-e2fb6999"]
    assert results[-1]["compliance"] == "NOT_APPLICABLE"


def test_the_table(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, out, err = evaluate(capsys, api_file(tmp_path, TEN_GROUPS), str(INSTANCE_EVENT))
    assert (status, err) == (1, "")
    for header in ("group", "name", "VPC", "region", "compliance", "annotation"):
        assert header in out.splitlines()[1]
    rows = [line for line in out.splitlines() if "sg-" in line or "i-0" in line]
    assert len(rows) == 11
    assert [row.split()[1] for row in rows[:2]] == ["sg-926a56e8", "sg-a38ed1de"]
    assert "NON_COMPLIANT" in rows[0]
    assert SSH_OPEN in rows[0]
    assert "launch-wizard-1" in rows[0]
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
    status, results, _ = evaluate_json(
        capsys, api_file(tmp_path, PREFIX_LIST), api_file(tmp_path, HISTORY_GROUP_PAIR)
    )
    assert status == 0
    assert {r["compliance"] for r in results} == {"COMPLIANT"}


def test_exit_1_when_any_group_does_not(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, _, _ = evaluate_json(capsys, api_file(tmp_path, PREFIX_LIST), str(RDK_ITEM))
    assert status == 1


def test_exit_2_on_an_error_even_with_a_non_compliant_group(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, results, _ = evaluate_json(capsys, str(RDK_ITEM), str(tmp_path / "missing.json"))
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
        assert only(json.loads(out))["groupId"] == "sg-e2fb6999"
    else:
        assert "sg-e2fb6999" in out
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
    status, results, err = evaluate_json(capsys, str(path), str(RDK_ITEM))
    assert status == 2
    assert err.startswith(f"portguard evaluate: {path}: not JSON (")
    assert only(results)["groupId"] == "sg-1d56fc66"


def test_an_object_of_an_unknown_shape(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # SelectResourceConfig output (real): not one of the shapes; the message lists them.
    path = api_file(tmp_path, SELECT)
    status, results, err = evaluate_json(capsys, path)
    assert (status, results) == (2, [])
    keys = "QueryInfo, ResponseMetadata, Results"
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
        (42, "configuration of sg-e2fb6999 is not an object: a JSON number"),
        ([], "configuration of sg-e2fb6999 is not an object: a JSON list"),
        ("[1, 2]", "configuration of sg-e2fb6999 is not an object: a JSON list"),
        ("{not json", "configuration of sg-e2fb6999 cannot be read as JSON: Expecting"),
    ],
)
def test_a_configuration_that_is_not_an_object(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, configuration: Any, message: str
) -> None:
    item = invoking_event()["configurationItem"]
    item["configuration"] = configuration
    path = write(tmp_path, "item.json", item)
    status, results, err = evaluate_json(capsys, path, str(RDK_ITEM))
    assert status == 2
    assert err.startswith(f"portguard evaluate: {path}: {message}")
    assert only(results)["groupId"] == "sg-1d56fc66"


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
    status, results, _ = evaluate_json(capsys, api_file(tmp_path, HISTORY), *options)
    assert by_group(results) == {"sg-a38ed1de": expected}
    assert status == (1 if expected[0] == "NON_COMPLIANT" else 0)


def test_blocked_ports_on_the_ten_groups(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _, results, _ = evaluate_json(capsys, api_file(tmp_path, TEN_GROUPS), "--blocked-ports", "22")
    assert {g for g, (c, _) in by_group(results).items() if c == "NON_COMPLIANT"} == {"sg-926a56e8"}


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
    assert by_group(results) == {"sg-e2fb6999": expected}


def test_protocol_type_on_all_traffic(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # -1 opens both: UDP reports the udp ports only.
    _, results, _ = evaluate_json(
        capsys, api_file(tmp_path, ALL_TRAFFIC), "--protocol-type", "UDP", "--blocked-ports", "22"
    )
    assert by_group(results) == {
        "sg-03c0b84cdad91744f": ("NON_COMPLIANT", "Open to the internet from 0.0.0.0/0: udp/22")
    }


@pytest.mark.parametrize(
    ("ip_type", "compliance"),
    [("ALL", "NON_COMPLIANT"), ("IPv4", "NON_COMPLIANT"), ("IPv6", "COMPLIANT")],
)
def test_ip_type_on_an_ipv4_only_group(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, ip_type: str, compliance: str
) -> None:
    _, results, _ = evaluate_json(capsys, api_file(tmp_path, ALL_TRAFFIC), "--ip-type", ip_type)
    assert only(results)["compliance"] == compliance


@pytest.mark.parametrize(("ip_type", "source"), [("IPv4", "0.0.0.0/0"), ("ipv6", "::/0")])
def test_ip_type_on_an_ipv6_group(
    capsys: pytest.CaptureFixture[str], ip_type: str, source: str
) -> None:
    _, results, _ = evaluate_json(
        capsys, str(IPV6_EVENT), "--ip-type", ip_type, "--blocked-ports", "10000,11000"
    )
    assert only(results)["annotation"] == (
        f"Open to the internet from {source}: tcp/10000, tcp/11000, udp/10000"
    )


def test_exempt_tag_key_with_the_items_own_tag(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # The history item's real tags: App=blue-moon, which is not an exemption: said, not honoured.
    path = api_file(tmp_path, HISTORY)
    _, results, _ = evaluate_json(capsys, path, "--exempt-tag-key", "App")
    assert by_group(results) == {
        "sg-a38ed1de": (
            "NON_COMPLIANT",
            f"Exemption tag App ignored: unknown token 'blue-moon'. {HTTP_ALT_OPEN}",
        )
    }


def _tagged_history(tmp_path: Path, value: str) -> str:
    history = placebo(HISTORY)
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
        "sg-a38ed1de": (
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
    output = copy.deepcopy(placebo(TEN_GROUPS))
    for group in output["SecurityGroups"]:
        if group["GroupId"] == "sg-a38ed1de":
            group["Tags"].append({"Key": "portguard:exempt", "Value": value})
    path = write(tmp_path, "tagged.json", output)
    _, results, _ = evaluate_json(capsys, path, "--exempt-tag-key", "portguard:exempt")
    verdict = by_group(results)["sg-a38ed1de"]
    assert verdict[0] == compliance
    assert verdict[1] is not None
    if note is not None:
        assert verdict[1].startswith(note)
    assert by_group(results)["sg-926a56e8"] == ("NON_COMPLIANT", SSH_OPEN)  # untagged


def test_prefix_lists_fail_closed_offline(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # sg-01a19f602ecaf25f4 opens tcp/80 to 192.168.0.1/31 and to the prefix list pl-63a5400b,
    # which cannot be read offline: on a blocked port it counts as the whole internet.
    path = api_file(tmp_path, PREFIX_LIST)
    status, results, _ = evaluate_json(capsys, path, "--blocked-ports", "80")
    assert status == 1
    assert by_group(results) == {
        "sg-01a19f602ecaf25f4": (
            "NON_COMPLIANT",
            "Open to the internet from pl-63a5400b (unreadable: not resolved offline): tcp/80",
        ),
        "sg-0b650189861ce4f6c": ("COMPLIANT", None),
        "sg-c573e6b3": ("COMPLIANT", None),
    }


def test_no_resolve_prefix_lists_ignores_them(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = api_file(tmp_path, PREFIX_LIST)
    status, results, _ = evaluate_json(
        capsys, path, "--blocked-ports", "80", "--no-resolve-prefix-lists"
    )
    assert status == 0
    assert {c for c, _ in by_group(results).values()} == {"COMPLIANT"}


def test_a_prefix_list_on_a_port_not_blocked_is_no_matter(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, _, _ = evaluate_json(capsys, api_file(tmp_path, PREFIX_LIST))  # fsbp: no 80
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
    status, results, err = evaluate_json(capsys, path, str(RDK_ITEM))
    assert status == 2
    assert path in err
    assert only(results)["groupId"] == "sg-1d56fc66"


def test_a_file_that_is_not_text(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "binary.json"
    path.write_bytes(b"\x80\x81\xfe\xff{}")
    status, results, err = evaluate_json(capsys, str(path), str(RDK_ITEM))
    assert status == 2
    assert str(path) in err
    assert only(results)["groupId"] == "sg-1d56fc66"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_a_file_with_a_byte_order_mark(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, encoding: str
) -> None:
    path = tmp_path / "sgs.json"
    path.write_text(json.dumps(placebo(TEN_GROUPS)), encoding=encoding)
    status, results, _ = evaluate_json(capsys, str(path))
    assert status == 1
    assert by_group(results) == TEN_GROUPS_DEFAULT


def test_the_table_shows_names_as_written(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    groups = placebo(TEN_GROUPS)["SecurityGroups"][:2]
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
    data = RDK_ITEM.read_text(encoding="utf-8").encode("utf-16")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    status, results, _ = evaluate_json(capsys, "-")
    assert status == 1
    assert only(results)["groupId"] == "sg-1d56fc66"
