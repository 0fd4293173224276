"""``portguard invoke``: the real Lambda handler on a Config event, against the sandbox or an
account (moto here). Standard output is pure JSON; logs, EMF metrics and errors go to stderr."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from shared_data import FIXTURES

from portguard import handler
from portguard_cli.main import main

CHANGE_EVENT = FIXTURES / "config-rule-change-event.json"
EXAMPLES = Path(__file__).parent.parent.parent / "examples"
SEED = json.loads((EXAMPLES / "sandbox.json").read_text())
SANDBOX_GROUPS = len(SEED["securityGroups"]) + 1  # and the VPC's default group

OPEN_SSH = {
    "ComplianceResourceType": "AWS::EC2::SecurityGroup",
    "ComplianceResourceId": "sg-0b7e4f1a2c3d5e6f7",
    "ComplianceType": "NON_COMPLIANT",
    "OrderingTimestamp": "2025-03-14T09:26:53.512000+00:00",
    "Annotation": "Open to the internet from 0.0.0.0/0: tcp/22",
}


def event_file(tmp_path: Path, name: str, **changes: Any) -> Path:
    """A temporary copy of an event of tests/fixtures, with ``changes`` applied."""
    event = json.loads((FIXTURES / name).read_text())
    event.update(changes)
    path = tmp_path / name
    path.write_text(json.dumps(event))
    return path


def aws_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(("AWS_", "MOTO_"))}


def log_lines(err: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


# --- --sandbox -----------------------------------------------------------------------------------


def test_change_event_prints_the_evaluation_posted_as_pure_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = event_file(tmp_path, CHANGE_EVENT.name, resultToken="TESTMODE")
    before = aws_environment()
    rule, stream = handler.rule, handler.logger.registered_handler.stream  # type: ignore[attr-defined]

    assert main(["invoke", "--sandbox", str(path)]) == 0

    out, err = capsys.readouterr()
    document = json.loads(out)
    assert document["evaluations"] == [OPEN_SSH]
    assert document["summary"] == {
        "messageType": "ConfigurationItemChangeNotification",
        "testMode": True,
        "evaluations": 1,
        "putEvaluationsCalls": 1,
        "COMPLIANT": 0,
        "NON_COMPLIANT": 1,
        "NOT_APPLICABLE": 0,
    }
    # The handler ran as deployed: its Powertools log lines (with the Lambda context) and its
    # EMF metrics are on stderr.
    lines = log_lines(err)
    assert any(
        x.get("message") == "security group open to the internet"
        and x.get("function_name") == "portguard"
        and x.get("resource_id") == "sg-0b7e4f1a2c3d5e6f7"
        for x in lines
    )
    assert any("_aws" in x and x.get("NonCompliantEvaluations") == [1.0] for x in lines)
    # Everything put back.
    assert aws_environment() == before
    assert handler.rule is rule
    assert handler.logger.registered_handler.stream is stream  # type: ignore[attr-defined]


def test_a_live_result_token_is_replaced_by_testmode_in_the_sandbox(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["invoke", "--sandbox", str(CHANGE_EVENT)]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["evaluations"] == [OPEN_SSH]
    assert "resultToken replaced by TESTMODE" in err


def test_scheduled_event_sweeps_every_sandbox_group(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = event_file(
        tmp_path,
        "config-rule-scheduled-event.json",
        resultToken="TESTMODE",
        ruleParameters=json.dumps(SEED["ruleParameters"]),
    )
    assert main(["invoke", "--sandbox", str(path)]) == 0
    document = json.loads(capsys.readouterr().out)
    evaluations = document["evaluations"]
    assert len(evaluations) == SANDBOX_GROUPS
    assert len({e["ComplianceResourceId"] for e in evaluations}) == SANDBOX_GROUPS
    assert {e["OrderingTimestamp"] for e in evaluations} == {"2025-03-15T00:12:45.307000+00:00"}
    assert sum(e["ComplianceType"] == "NON_COMPLIANT" for e in evaluations) == 7
    assert document["summary"]["evaluations"] == SANDBOX_GROUPS
    assert document["summary"]["messageType"] == "ScheduledNotification"


def test_the_example_scheduled_event_reads_from_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO((EXAMPLES / "events/scheduled.json").read_text()))
    assert main(["invoke", "--sandbox", "-"]) == 0
    evaluations = json.loads(capsys.readouterr().out)["evaluations"]
    exempted = [
        e for e in evaluations if "Exempted by tag portguard:exempt" in e.get("Annotation", "")
    ]
    assert len(exempted) == 1
    assert exempted[0]["ComplianceType"] == "COMPLIANT"


def test_the_example_change_event(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["invoke", "--sandbox", str(EXAMPLES / "events/change-split-cidr-ssh.json")]) == 0
    (evaluation,) = json.loads(capsys.readouterr().out)["evaluations"]
    assert evaluation["ComplianceType"] == "NON_COMPLIANT"
    assert evaluation["Annotation"] == "Open to the internet from 0.0.0.0/1, 128.0.0.0/1: tcp/22"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"invokingEvent": "{not json"}, "invokingEvent is not valid JSON"),
        (
            {"invokingEvent": json.dumps({"messageType": "SomethingElse"})},
            "messageType 'SomethingElse' is not one portguard handles",
        ),
        (
            {"invokingEvent": json.dumps({"messageType": "ConfigurationItemChangeNotification"})},
            "its configurationItem is missing",
        ),
        ({"ruleParameters": json.dumps({"blockedPorts": "70000"})}, "blockedPorts"),
        ({"ruleParameters": json.dumps({"test": "x"})}, "invalid rule parameter test='x'"),
    ],
)
def test_a_malformed_event_or_bad_parameters_exit_2_with_nothing_on_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], changes: dict[str, str], message: str
) -> None:
    path = event_file(tmp_path, CHANGE_EVENT.name, resultToken="TESTMODE", **changes)
    assert main(["invoke", "--sandbox", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "portguard invoke: the handler raised" in err
    assert message in err.splitlines()[-1]


def test_a_real_scheduled_event_with_another_rules_parameters(
    real_events_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Captured by another project, read in place: it carries that rule's {"test": "x"}.
    event = real_events_dir / "powertools-lambda-event-scheduled.json"
    assert main(["invoke", "--sandbox", str(event)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "InvalidParameterError: invalid rule parameter test='x'" in err


def test_an_event_that_is_not_an_object_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "list.json"
    path.write_text("[]")
    assert main(["invoke", "--sandbox", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "the event is not an object: list" in err


# --- reading the file --------------------------------------------------------------------------


def test_a_missing_file_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere.json"
    assert main(["invoke", "--sandbox", str(missing)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"portguard invoke: {missing}: cannot read it")


def test_a_file_that_is_not_json_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "event.txt"
    path.write_text("resultToken=TESTMODE")
    assert main(["invoke", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert f"portguard invoke: {path}: not JSON" in err


def test_profile_and_sandbox_do_not_mix(capsys: pytest.CaptureFixture[str]) -> None:
    event = str(CHANGE_EVENT)
    assert main(["invoke", "--sandbox", "--profile", "prod", event]) == 2
    assert "--profile with --sandbox" in capsys.readouterr().err


# --- an account (moto standing in for AWS) -------------------------------------------------------


@pytest.fixture
def account(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    (tmp_path / "config").write_text("[profile audit]\nregion = eu-west-1\n")
    (tmp_path / "credentials").write_text(
        "[audit]\naws_access_key_id = testing\naws_secret_access_key = testing\n"
    )
    with mock_aws():
        yield


def test_with_credentials_in_test_mode(
    account: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = event_file(tmp_path, CHANGE_EVENT.name, resultToken="TESTMODE")
    assert main(["invoke", "--region", "eu-west-1", str(path)]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["evaluations"] == [OPEN_SSH]
    assert "calling AWS in eu-west-1 with your credentials" in err
    assert "test mode" in err


def test_with_a_profile_its_region_is_used(
    account: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = event_file(tmp_path, CHANGE_EVENT.name, resultToken="TESTMODE")
    assert main(["invoke", "--profile", "audit", str(path)]) == 0
    assert "calling AWS in eu-west-1" in capsys.readouterr().err


def test_with_a_live_token_it_warns_that_it_really_posts(
    account: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # moto's Config takes PutEvaluations in test mode only, so the call fails here: what was
    # sent is still shown, as the clue, with the error.
    event = str(CHANGE_EVENT)
    assert main(["invoke", "--region", "eu-west-1", event]) == 2
    out, err = capsys.readouterr()
    assert "this POSTS the evaluations to AWS Config for real" in err
    document = json.loads(out)
    assert document["evaluations"] == [OPEN_SSH]
    assert "error" in document
    assert "portguard invoke: the handler raised" in err


def test_no_region_is_a_usage_error(account: Any, capsys: pytest.CaptureFixture[str]) -> None:
    event = str(CHANGE_EVENT)
    assert main(["invoke", event]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "portguard invoke: no region: pass --region" in err


def test_an_unknown_profile_is_a_usage_error(
    account: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    event = str(CHANGE_EVENT)
    assert main(["invoke", "--profile", "nobody", event]) == 2
    assert "nobody" in capsys.readouterr().err


def test_sandbox_in_another_region(capsys: pytest.CaptureFixture[str]) -> None:
    path = EXAMPLES / "events/scheduled.json"
    assert main(["invoke", "--sandbox", "--region", "eu-west-1", str(path)]) == 0
    assert len(json.loads(capsys.readouterr().out)["evaluations"]) == SANDBOX_GROUPS


def test_an_unreadable_seed_file_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("portguard_cli.sandbox.SEED_FILE", tmp_path / "gone.json")
    assert main(["invoke", "--sandbox", str(EXAMPLES / "events/scheduled.json")]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert f"portguard invoke: {tmp_path / 'gone.json'}: cannot read the seed file" in err


def test_a_file_that_is_not_text_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "event.bin"
    path.write_bytes(b"\xff\xfe\x00")
    assert main(["invoke", "--sandbox", str(path)]) == 2
    assert (
        f"portguard invoke: {path}: not JSON (not text in UTF-8, UTF-16 or UTF-32"
        in capsys.readouterr().err
    )


def test_an_event_file_in_utf16_runs_as_evaluate_reads_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One reader for every command: PowerShell's redirections (UTF-16 with a BOM) parse."""
    path = event_file(tmp_path, CHANGE_EVENT.name, resultToken="TESTMODE")
    path.write_text(path.read_text(), encoding="utf-16")
    assert main(["invoke", "--sandbox", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["evaluations"] == [OPEN_SSH]
