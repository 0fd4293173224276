"""``portguard invoke``: the real Lambda handler on a Config event, against the sandbox or an
account (moto here). Standard output is pure JSON; logs, EMF metrics and errors go to stderr."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from shared_data import FIXTURES

from portguard.rule import logger
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
    stream = logger.registered_handler.stream  # type: ignore[attr-defined]

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
    assert logger.registered_handler.stream is stream  # type: ignore[attr-defined]


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


def test_the_handler_runs_without_the_lambdas_entry_point(tmp_path: Path) -> None:
    """`portguard invoke` builds its own handler with the factory: it never imports
    portguard.handler, whose import freezes the collector for a Lambda container's lifetime, nor
    swaps that module's rule. A fresh interpreter, as the command runs."""
    path = event_file(tmp_path, CHANGE_EVENT.name, resultToken="TESTMODE")
    child = f"""
import gc, io, sys
from contextlib import redirect_stderr, redirect_stdout
from portguard_cli.main import main
with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
    status = main(["invoke", "--sandbox", {str(path)!r}])
print(status, gc.get_freeze_count(), "portguard.handler" in sys.modules)
"""
    process = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", child], capture_output=True, text=True, check=True, timeout=120
    )
    assert process.stdout.split() == ["0", "0", "False"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"invokingEvent": "{not json"}, "invokingEvent cannot be read as JSON: Expecting"),
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
    assert err.splitlines()[-1].startswith("portguard invoke: the handler failed: ")
    assert message in err.splitlines()[-1]


def test_a_real_scheduled_event_with_another_rules_parameters(
    real_events_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Captured by another project, read in place: it carries that rule's {"test": "x"}.
    event = real_events_dir / "powertools-lambda-event-scheduled.json"
    assert main(["invoke", "--sandbox", str(event)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "the handler failed: invalid rule parameter test='x'" in err


def test_an_event_that_is_not_an_object_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "list.json"
    path.write_text("[]")
    assert main(["invoke", "--sandbox", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "the event is not a JSON object: it is a JSON list" in err


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
    assert "portguard invoke: the handler failed: " in err


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
    monkeypatch.setattr("portguard_cli.sandbox.account.SEED_FILE", tmp_path / "gone.json")
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


# --- against an account: the region as scan reads it, and every failure with its cause --------

AUDITOR = "arn:aws:iam::123456789012:user/auditor"
OPEN_GROUP = {
    "GroupId": "sg-0a1b2c3d4e5f60718",
    "GroupName": "web",
    "VpcId": "vpc-0123456789abcdef0",
    "IpPermissions": [
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    ],
}


def change_event_file(tmp_path: Path) -> Path:
    """A ConfigurationItemChangeNotification for OPEN_GROUP in eu-west-1 (result token
    TESTMODE), as the sandbox writes Config's events."""
    from portguard_cli.sandbox.events import change_event

    event = change_event(OPEN_GROUP, region="eu-west-1", account_id="123456789012", parameters={})
    path = tmp_path / "change.json"
    path.write_text(json.dumps(event))
    return path


def oversized_event_file(tmp_path: Path) -> Path:
    """The same change as Config sends it for an item over 256 KB: only its summary."""
    event = json.loads(change_event_file(tmp_path).read_text())
    item = json.loads(event["invokingEvent"])["configurationItem"]
    summary = {k: v for k, v in item.items() if k not in ("configuration", "relationships")}
    event["invokingEvent"] = json.dumps(
        {
            "configurationItemSummary": summary,
            "messageType": "OversizedConfigurationItemChangeNotification",
            "notificationCreationTime": item["configurationItemCaptureTime"],
            "recordVersion": "1.0",
        }
    )
    path = tmp_path / "oversized.json"
    path.write_text(json.dumps(event))
    return path


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An environment with no AWS settings of the developer's: no profile, no credentials,
    no instance metadata; region eu-west-1 by AWS_REGION only."""
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    (tmp_path / "empty").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "empty"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "empty"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")


def test_aws_region_is_honoured_as_scan_honours_it(
    account: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # boto3 reads only AWS_DEFAULT_REGION; the AWS CLI and Lambda read AWS_REGION first.
    import boto3

    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    ec2 = boto3.client("ec2", region_name="eu-west-1")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    group = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]

    assert main(["invoke", str(EXAMPLES / "events/scheduled.json")]) == 0
    out, err = capsys.readouterr()
    # The sweep read eu-west-1's groups: the one made there is evaluated.
    assert group in {e["ComplianceResourceId"] for e in json.loads(out)["evaluations"]}
    assert "calling AWS in eu-west-1" in err


def test_no_credentials_is_said_before_the_handler_runs(
    no_aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["invoke", str(change_event_file(tmp_path))]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "portguard invoke: no AWS credentials found: run `aws configure` or `aws sso login`, "
        "or set AWS_PROFILE\n"
    )


class DeniedConfig(BaseHTTPRequestHandler):
    """AWS Config on the loopback, refusing every call as AWS refuses a role without the
    permission (HTTP 400, AccessDeniedException, in the JSON 1.1 protocol)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        operation = self.headers["X-Amz-Target"].rsplit(".", 1)[-1]
        body = json.dumps(
            {
                "__type": "AccessDeniedException",
                "message": f"User: {AUDITOR} is not authorized to perform: config:{operation}",
            }
        ).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:  # quiet: the test reads stderr
        return


@pytest.fixture
def config_endpoint(no_aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Credentials, and AWS Config's endpoint pointed at a loopback stand-in that denies."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    server = ThreadingHTTPServer(("127.0.0.1", 0), DeniedConfig)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("AWS_ENDPOINT_URL_CONFIG_SERVICE", url)
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()


def test_undelivered_evaluations_are_said_with_why(
    config_endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["invoke", str(change_event_file(tmp_path))]) == 2
    out, err = capsys.readouterr()
    failure = (
        "1 evaluation(s) could not be delivered to AWS Config: sg-0a1b2c3d4e5f60718 (An error "
        "occurred (AccessDeniedException) when calling the PutEvaluations operation: User: "
        f"{AUDITOR} is not authorized to perform: config:PutEvaluations)"
    )
    assert err.splitlines()[-1] == f"portguard invoke: the handler failed: {failure}"
    # What was sent is shown, as the clue, with the same words.
    document = json.loads(out)
    assert [e["ComplianceResourceId"] for e in document["evaluations"]] == [OPEN_GROUP["GroupId"]]
    assert document["error"] == failure


def test_a_refused_call_is_explained_as_scan_explains_it(
    config_endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["invoke", str(oversized_event_file(tmp_path))]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "portguard invoke: the handler failed: eu-west-1: access denied to "
        f"config:GetResourceConfigHistory: User: {AUDITOR} is not authorized to perform: "
        "config:GetResourceConfigHistory"
    )


def test_an_unreachable_endpoint_is_said(
    no_aws: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_CONFIG_SERVICE", f"http://127.0.0.1:{port}")
    # botocore retries a refused connection 7 times with backoff: skip the waits.
    monkeypatch.setattr(time, "sleep", lambda _: None)
    assert main(["invoke", str(change_event_file(tmp_path))]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "portguard invoke: the handler failed: 1 evaluation(s) could not be delivered to AWS "
        f'Config: sg-0a1b2c3d4e5f60718 (Could not connect to the endpoint URL: "http://127.0.0.1:'
        f'{port}/")'
    )
