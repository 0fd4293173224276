"""The remediation function: what the Config console's *Remediate* action (or automatic
remediation) runs, through portguard's Systems Manager Automation document.

The document passes ``{"GroupId": "sg-…"}``. The function reads the rule's parameters from
``PORTGUARD_RULE_PARAMETERS`` (the rule's InputParameters, set at deploy, so the ports it closes
are exactly the ones the rule flags), applies the plan with :func:`portguard.remediation.apply.
remediate`, and returns the rollback document, which the automation shows as its output. The same
document is logged (``rollback document``) before the first change and after each change, so the
original rules, and what was done, are in the log group even when the run fails or times out. What
someone else changed on the group meanwhile, and what portguard did about it, is logged with the
outcome (``meanwhile``). To undo: save the document to a file and run
``portguard restore FILE --apply``.

A refused plan, a failure, or a group still open when read again raises, so that the automation
(and Config's remediation status) ends *failed* with the reason.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools import Logger

from portguard.adapters import client_config
from portguard.definition import GROUP_ID_PATTERN, REMEDIATION_PARAMETERS_VARIABLE
from portguard.errors import InvalidEventError, RemediationError
from portguard.parameters import parse_rule_parameters
from portguard.remediation.apply import read_quota, remediate

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_service_quotas import ServiceQuotasClient

    from portguard.parameters import RuleParameters

_GROUP_ID = re.compile(GROUP_ID_PATTERN)

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "portguard-remediation"))
CLIENT_CONFIG = client_config("remediation")


def rule_parameters(environ: dict[str, str] | os._Environ[str] = os.environ) -> RuleParameters:
    """The rule's parameters, as deployed beside the rule (empty: the rule's defaults)."""
    text = environ.get(REMEDIATION_PARAMETERS_VARIABLE, "") or "{}"
    try:
        raw = json.loads(text)
    except ValueError as error:
        raise InvalidEventError(
            f"{REMEDIATION_PARAMETERS_VARIABLE} is not JSON: {error}"
        ) from error
    if not isinstance(raw, dict):
        raise InvalidEventError(f"{REMEDIATION_PARAMETERS_VARIABLE} is not a JSON object")
    return parse_rule_parameters(raw)


def group_id_of(event: object) -> str:
    """The ``GroupId`` the automation passes; :class:`InvalidEventError` naming what is wrong."""
    if not isinstance(event, dict) or "GroupId" not in event:
        raise InvalidEventError('the event has no "GroupId": expected {"GroupId": "sg-…"}')
    group_id = event["GroupId"]
    if not isinstance(group_id, str) or not _GROUP_ID.match(group_id):
        raise InvalidEventError(f"GroupId {group_id!r} is not a security group id (sg-…)")
    return group_id


def handle(
    event: object,
    *,
    ec2: EC2Client | None = None,
    quotas: ServiceQuotasClient | None = None,
    environ: dict[str, str] | os._Environ[str] = os.environ,
) -> dict[str, Any]:
    """Remediate the event's group; returns the rollback document (or, for a group that is not
    open, its verdict). Raises :class:`RemediationError` when refused or failed."""
    group_id = group_id_of(event)
    parameters = rule_parameters(environ)
    ec2 = ec2 or boto3.client("ec2", config=CLIENT_CONFIG)
    quotas = quotas or boto3.client("service-quotas", config=CLIENT_CONFIG)

    def journal(document: dict[str, Any]) -> None:
        logger.info("rollback document", extra={"group_id": group_id, "rollback": document})

    outcome = remediate(
        ec2,
        group_id,
        parameters,
        quota=read_quota(quotas),
        apply=True,
        journal=journal,
        region=ec2.meta.region_name,
        now=lambda: datetime.now(UTC).isoformat(timespec="seconds"),
    )
    extra = {
        "group_id": group_id,
        "status": outcome.status,
        "plan": list(outcome.lines),
        "meanwhile": list(outcome.meanwhile),
    }
    if not outcome.status.succeeded:
        logger.error(outcome.message, extra=extra)
        raise RemediationError(f"{group_id}: {outcome.message}")
    logger.info(outcome.message, extra=extra)
    if outcome.document is None:  # nothing was open: nothing changed
        return {"groupId": group_id, "state": outcome.status, "message": outcome.message}
    return outcome.document


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        return handle(event)
    except Exception as exc:
        # The rollback document, if any change was made, is already in the log above this line.
        logger.exception("portguard could not remediate this group", extra={"error": str(exc)})
        raise
