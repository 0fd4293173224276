"""``portguard invoke EVENT.json``: the rule's real Lambda handler on a Config event, locally.

The handler runs as deployed: built by :func:`portguard.rule.make_handler`, as
``portguard.handler.lambda_handler`` is, with its Powertools decorators (structured logging, EMF
metrics), given a local stand-in for the Lambda context. Only its rule's clients differ: the
sandbox's (``--sandbox``) or a session of the caller's profile and region. Every
``PutEvaluations`` call really happens; a botocore hook records the evaluations it sends.

Output: standard output holds one JSON object, ``{"evaluations": [...], "summary": {...}}``, and
nothing else; the handler's log lines and EMF metrics go to standard error. Exit status 0 when the
handler returned, 2 when it raised (bad parameters, a malformed event, AWS refusing a call), with
``portguard invoke: the handler failed: <what and why>`` on standard error (the cause too: no
credentials, an endpoint out of reach, access denied) and standard output empty, or, when
evaluations were sent before it failed, ``{"evaluations": [...], "error": "..."}``.

Against an account, the region is ``--region``, else ``AWS_REGION``, else the profile's or
``AWS_DEFAULT_REGION`` (as ``scan`` reads it), and credentials are checked before the handler runs.

With ``--sandbox`` the event's result token is replaced by ``TESTMODE`` (said on standard error):
the sandbox's Config takes test mode only, and a captured token means nothing to it.

Against a real account this posts to AWS Config unless the event's result token is ``TESTMODE``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, TYPE_CHECKING, Any, cast

from portguard.events import TEST_MODE_TOKEN
from portguard_cli.main import UsageError, read_json
from portguard_cli.results import EXIT_ERROR

if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator, Mapping

    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_config import ConfigServiceClient
    from mypy_boto3_ec2 import EC2Client

EXIT_OK = 0
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
    ``metrics_stream``. Built by the factory, as the deployed one is; the Lambda's entry point,
    :mod:`portguard.handler`, is never imported (it freezes the collector)."""
    # Powertools and boto3 load only here.
    from portguard.rule import PortguardRule, logger, make_handler  # noqa: PLC0415

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


def run(args: argparse.Namespace) -> int:
    event = read_json(args.event)
    outcome = _in_sandbox(event, args) if args.sandbox else _in_account(event, args)
    return _report(outcome, sys.stdout)


def _in_sandbox(event: Any, args: argparse.Namespace) -> HandlerRun:
    from portguard_cli.sandbox import REGION, Sandbox, SeedError  # noqa: PLC0415 - loads moto

    if args.profile:
        raise UsageError(
            "--profile with --sandbox: the sandbox is its own account, with no profile"
        )
    token = event.get("resultToken") if isinstance(event, dict) else None
    if isinstance(token, str) and token != TEST_MODE_TOKEN:
        # A captured token means nothing to the sandbox's Config, which takes test mode only.
        print(
            "portguard invoke: the sandbox accepts evaluations in test mode only: "
            f"resultToken replaced by {TEST_MODE_TOKEN}",
            file=sys.stderr,
        )
        event = {**event, "resultToken": TEST_MODE_TOKEN}
    try:
        with Sandbox(region=args.region or REGION) as sandbox:
            return run_handler(
                event,
                config_client=sandbox.config,
                ec2_client=sandbox.ec2,
                log_stream=sys.stderr,
                metrics_stream=sys.stderr,
            )
    except SeedError as error:
        raise UsageError(str(error)) from error


def _in_account(event: Any, args: argparse.Namespace) -> HandlerRun:
    from portguard.adapters import client_config  # noqa: PLC0415
    from portguard_cli.scan import default_region, open_session  # noqa: PLC0415 - boto3

    session = open_session(args.profile)  # a missing profile or credentials: said here, once
    region = args.region or default_region(session)
    if not region:
        raise UsageError(
            "no region: pass --region, or set AWS_REGION, or a region in your AWS profile"
        )
    config = session.client("config", region_name=region, config=client_config())
    ec2 = session.client("ec2", region_name=region, config=client_config())
    token = event.get("resultToken") if isinstance(event, dict) else None
    if token == TEST_MODE_TOKEN:
        note = (
            "PutEvaluations in test mode (result token TESTMODE): AWS Config checks the "
            "evaluations and records nothing"
        )
    else:
        note = (
            "this POSTS the evaluations to AWS Config for real (the event's result token is not "
            f"{TEST_MODE_TOKEN}; Config accepts only the token of a live invocation)"
        )
    print(
        f"portguard invoke: calling AWS in {region} with your credentials; {note}", file=sys.stderr
    )
    return run_handler(
        event,
        config_client=config,
        ec2_client=ec2,
        log_stream=sys.stderr,
        metrics_stream=sys.stderr,
    )


def handler_failure(error: BaseException, region: str | None) -> str:
    """What the handler's exception means, in one line, with its cause: a botocore error as
    ``scan`` explains it (no credentials, an endpoint out of reach, access denied); any other
    with the error it was raised from, which for undelivered evaluations is why."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    from portguard_cli.scan import explain  # noqa: PLC0415

    if isinstance(error, ClientError | BotoCoreError):
        return explain(error, region or "")
    message = str(error) or type(error).__name__
    cause = error.__cause__
    if cause is not None and str(cause) not in message:
        message += f" ({handler_failure(cause, region)})"
    return message


def _json_default(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")  # pragma: no cover


def _report(outcome: HandlerRun, out: IO[str]) -> int:
    """The evaluations and summary as JSON on ``out``; an error on standard error."""
    failure = outcome.failure
    if failure is None:
        document: dict[str, Any] = {"evaluations": outcome.evaluations, "summary": outcome.summary}
    elif outcome.evaluations:  # some were sent before it failed: show them, they are the clue
        document = {"evaluations": outcome.evaluations, "error": failure}
    else:
        document = {}
    if document:
        json.dump(document, out, indent=2, default=_json_default)
        out.write("\n")
        out.flush()
    if failure is not None:
        print(f"portguard invoke: the handler failed: {failure}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK
