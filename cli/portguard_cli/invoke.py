"""``portguard invoke EVENT.json``: the rule's real Lambda handler on a Config event, locally.

The handler runs as deployed: built by :func:`portguard.rule.make_handler`, as
``portguard.handler.lambda_handler`` is, with its Powertools decorators (structured logging, EMF
metrics), given a local stand-in for the Lambda context (:mod:`portguard_cli.harness`). Only its
rule's clients differ: the sandbox's (``--sandbox``) or a session of the caller's profile and
region. Every ``PutEvaluations`` call really happens; a botocore hook records the evaluations it
sends.

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

import json
import sys
from datetime import date, datetime
from typing import IO, TYPE_CHECKING, Any

from portguard.events import TEST_MODE_TOKEN
from portguard_cli.harness import HandlerRun, run_handler
from portguard_cli.inputs import UsageError, read_json
from portguard_cli.results import EXIT_ERROR

if TYPE_CHECKING:
    import argparse

EXIT_OK = 0


def run(args: argparse.Namespace) -> int:
    event = read_json(args.event)
    outcome = _in_sandbox(event, args) if args.sandbox else _in_account(event, args)
    return _report(outcome, sys.stdout)


def _in_sandbox(event: Any, args: argparse.Namespace) -> HandlerRun:
    from portguard_cli.sandbox.account import (  # noqa: PLC0415 - loads moto
        REGION,
        Sandbox,
        SeedError,
    )

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
    from portguard_cli.sessions import (  # noqa: PLC0415 - boto3 loads only against an account
        CLIENT_CONFIG,
        default_region,
        open_session,
    )

    session = open_session(args.profile)  # a missing profile or credentials: said here, once
    region = args.region or default_region(session)
    if not region:
        raise UsageError(
            "no region: pass --region, or set AWS_REGION, or a region in your AWS profile"
        )
    config = session.client("config", region_name=region, config=CLIENT_CONFIG)
    ec2 = session.client("ec2", region_name=region, config=CLIENT_CONFIG)
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
