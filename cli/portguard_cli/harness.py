"""Running the rule's real Lambda handler locally: the handler
:func:`portguard.rule.make_handler` builds (Powertools' logging and metrics as deployed) around a
rule with the caller's clients, given a stand-in for the Lambda context (:class:`LocalContext`).
What it posted to ``PutEvaluations`` and what it returned or raised come back as a
:class:`HandlerRun`.

``portguard invoke`` and the sandbox run the handler through :func:`run_handler`. The Lambda's
own entry point, :mod:`portguard.handler`, is never imported here: it freezes the collector for
the container's lifetime, which a command must not do.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from portguard.rule import PortguardRule, logger, make_handler
from portguard_cli.sessions import explain

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_config import ConfigServiceClient
    from mypy_boto3_ec2 import EC2Client

_PUT_EVALUATIONS = "before-parameter-build.config-service.PutEvaluations"


@dataclass(frozen=True, slots=True)
class LocalContext:
    """What Lambda passes the handler as ``context``, as far as Powertools reads it."""

    function_name: str = "portguard"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:local:000000000000:function:portguard"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/portguard"
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@dataclass(frozen=True, slots=True)
class HandlerRun:
    """One invocation: the evaluations sent to PutEvaluations, and what the handler returned
    (``summary``) or raised (``error``), in the clients' ``region``."""

    evaluations: list[dict[str, Any]]
    summary: dict[str, Any] | None
    error: Exception | None
    region: str | None = None

    @property
    def failure(self) -> str | None:
        """The error, said for people (:func:`handler_failure`)."""
        return None if self.error is None else handler_failure(self.error, self.region)


def run_handler(
    event: Any,
    *,
    config_client: ConfigServiceClient,
    ec2_client: EC2Client,
    log_stream: IO[str],
    metrics_stream: IO[str],
) -> HandlerRun:
    """The rule's Lambda handler around these clients, on ``event`` (any JSON value, as Lambda
    would pass it), its log lines written to ``log_stream`` and its EMF metrics (printed) to
    ``metrics_stream``."""
    lambda_handler = make_handler(PortguardRule(config_client=config_client, ec2_client=ec2_client))
    posted: list[dict[str, Any]] = []

    def record(params: Mapping[str, Any], **_: Any) -> None:
        posted.extend(dict(e) for e in params.get("Evaluations") or [])

    config_client.meta.events.register(_PUT_EVALUATIONS, record)
    try:
        with (
            _logs_to(logger.registered_handler, log_stream),
            contextlib.redirect_stdout(metrics_stream),
        ):
            summary = lambda_handler(event, cast("LambdaContext", LocalContext()))
    except Exception as error:  # noqa: BLE001 - whatever the handler raises is the answer
        return HandlerRun(posted, None, error, config_client.meta.region_name)
    finally:
        config_client.meta.events.unregister(_PUT_EVALUATIONS, record)
    return HandlerRun(posted, dict(summary), None, config_client.meta.region_name)


@contextlib.contextmanager
def _logs_to(log_handler: logging.Handler, stream: IO[str]) -> Iterator[None]:
    """Powertools' handler keeps the stdout of import time: point it at ``stream`` for a while."""
    if not isinstance(log_handler, logging.StreamHandler):  # pragma: no cover - Powertools' own
        yield
        return
    previous = log_handler.setStream(stream)  # None when it already writes to ``stream``
    try:
        yield
    finally:
        if previous is not None:
            log_handler.setStream(previous)


def handler_failure(error: BaseException, region: str | None) -> str:
    """What the handler's exception means, in one line, with its cause: a botocore error as
    the commands explain AWS errors (no credentials, an endpoint out of reach, access denied);
    any other with the error it was raised from, which for undelivered evaluations is why."""
    if isinstance(error, ClientError | BotoCoreError):
        return explain(error, region or "")
    message = str(error) or type(error).__name__
    cause = error.__cause__
    if cause is not None and str(cause) not in message:
        message += f" ({handler_failure(cause, region)})"
    return message
