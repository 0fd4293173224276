"""Fixtures for running the real handler against real boto3 clients (Stubber for Config, moto or
Stubber for EC2). Nothing here reaches AWS: credentials are fake and every call is stubbed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from shared_data import as_boto3_history, fixture

from portguard.adapters import client_config

REGION = "us-east-1"
CHANGE_EVENT = "config-rule-change-event.json"
OPEN_SSH_GROUP = "sg-0b7e4f1a2c3d5e6f7"
"""The group of CHANGE_EVENT: tcp/22 from 0.0.0.0/0."""


@pytest.fixture(autouse=True)
def _fake_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)


def load(name: str) -> dict[str, Any]:
    """A file of tests/fixtures (our own, in the shapes AWS sends; see its README.md)."""
    return fixture(name)  # type: ignore[no-any-return]


def history_response(name: str) -> dict[str, Any]:
    """A GetResourceConfigHistory response of tests/fixtures, as boto3 returns it."""
    return as_boto3_history(fixture(name))


def change_event(
    item: dict[str, Any],
    *,
    token: str = "token-1",
    parameters: dict[str, str] | None = None,
    left_scope: bool = False,
) -> dict[str, Any]:
    """A ConfigurationItemChangeNotification event around ``item``, shaped like Config's."""
    envelope = load(CHANGE_EVENT)
    invoking = json.loads(envelope["invokingEvent"])
    invoking["configurationItem"] = item
    envelope["invokingEvent"] = json.dumps(invoking)
    envelope["ruleParameters"] = json.dumps(parameters or {})
    envelope["resultToken"] = token
    envelope["eventLeftScope"] = left_scope
    return envelope


def open_ssh_item() -> dict[str, Any]:
    """The configuration item of the change event fixture: tcp/22 from 0.0.0.0/0."""
    return json.loads(load(CHANGE_EVENT)["invokingEvent"])[  # type: ignore[no-any-return]
        "configurationItem"
    ]


def scheduled_event(
    *, token: str = "token-1", parameters: dict[str, str] | None = None
) -> dict[str, Any]:
    event = load("config-rule-scheduled-event.json")
    event["resultToken"] = token
    event["ruleParameters"] = json.dumps(parameters or {})
    return event


@pytest.fixture
def config_client() -> Any:
    return boto3.client("config", region_name=REGION, config=client_config())


@pytest.fixture
def config_stub(config_client: Any) -> Iterator[Stubber]:
    with Stubber(config_client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def ec2_client() -> Any:
    return boto3.client("ec2", region_name=REGION, config=client_config())


@dataclass
class LambdaContext:
    function_name: str = "portguard"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:portguard"
    aws_request_id: str = "0f3b7e0c-0000-4000-8000-000000000000"


@pytest.fixture
def log_lines() -> Iterator[Any]:
    """The handler's structured log lines, parsed. Powertools' handler holds the stdout of import
    time, so capsys cannot see it: point that handler at a buffer for the test."""
    import io

    from portguard.rule import logger

    buffer = io.StringIO()
    stream_handler = logger.registered_handler
    previous = stream_handler.setStream(buffer)

    def read() -> list[dict[str, Any]]:
        lines = [json.loads(x) for x in buffer.getvalue().splitlines() if x.startswith("{")]
        buffer.seek(0)
        buffer.truncate()
        return lines

    yield read
    stream_handler.setStream(previous)  # type: ignore[arg-type]
