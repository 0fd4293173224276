"""The Config rule itself, as CloudFormation describes it: name, triggers, scope, parameters.

One definition for every way portguard is deployed: the CDK app (a standalone rule or a
conformance pack) and any template the command line prints. Plain data, standard library only.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from portguard.errors import InvalidDeploymentError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from portguard.parameters import RuleParameters

RULE_NAME = "portguard"
RESOURCE_TYPES = ("AWS::EC2::SecurityGroup",)
DESCRIPTION = (
    "Flags security groups that open high-risk ports to the whole internet "
    "(IPv4 or IPv6, across split CIDRs and managed prefix lists)."
)
SCHEDULES = ("One_Hour", "Three_Hours", "Six_Hours", "Twelve_Hours", "TwentyFour_Hours")
"""Config's MaximumExecutionFrequency values, for the periodic sweep."""
DEFAULT_SCHEDULE = "TwentyFour_Hours"

REMEDIATION_PARAMETERS_VARIABLE = "PORTGUARD_RULE_PARAMETERS"
"""The remediation function's environment variable holding the rule's InputParameters (JSON), so
that it closes exactly the ports the deployed rule flags."""
DEPLOYMENT_VARIABLE = "PORTGUARD_DEPLOYMENT"
"""The rule function's environment variable naming how it is deployed: ``organization``
(:data:`ORGANIZATION_DEPLOYMENT`) when it is the hub function of an organization rule and reports
for each member account; absent for a single account. Set by the CDK app, never a rule parameter."""
ORGANIZATION_DEPLOYMENT = "organization"
MEMBER_ROLE_NAME_VARIABLE = "PORTGUARD_MEMBER_ROLE_NAME"
"""The hub function's environment variable holding the name of the role it assumes in each member
account (``arn:<partition>:iam::<account>:role/<name>``); set only in organization mode."""
ROLE_NAME = re.compile(r"[A-Za-z0-9+=,.@_-]{1,64}")
"""An IAM role name without a path (IAM's pattern): the member role's name is written into
``arn:<partition>:iam::<account>:role/<name>``."""
DEFAULT_MEMBER_ROLE_NAME = "portguard-member"
"""The member role's name unless ``portguard:memberRoleName`` says otherwise, and the role
``portguard scan --org`` assumes unless ``--role`` says otherwise."""
GROUP_ID_PATTERN = r"^sg-[0-9a-f]{8,17}$"
"""A security group id, as the remediation document and function accept it."""


def member_role_name(environ: Mapping[str, str]) -> str | None:
    """The role the hub function assumes in each member account when the function's environment
    says it is an organization's hub (:data:`DEPLOYMENT_VARIABLE`), else ``None`` (one account).

    Raises :class:`~portguard.errors.InvalidDeploymentError` for a deployment it does not know or
    a hub without a valid role name: such a function must not guess whose credentials to use.
    """
    deployment = environ.get(DEPLOYMENT_VARIABLE, "")
    if not deployment:
        return None
    if deployment != ORGANIZATION_DEPLOYMENT:
        raise InvalidDeploymentError(
            f"{DEPLOYMENT_VARIABLE}={deployment!r}: expected {ORGANIZATION_DEPLOYMENT!r} (the hub "
            "of an organization) or nothing (one account); redeploy with the CDK app"
        )
    role_name = environ.get(MEMBER_ROLE_NAME_VARIABLE, "")
    if not ROLE_NAME.fullmatch(role_name):
        said = repr(role_name) if role_name else "unset"
        raise InvalidDeploymentError(
            f"{MEMBER_ROLE_NAME_VARIABLE} is {said}: an organization's hub needs the name of the "
            "role it assumes in each member account (1 to 64 letters, digits or +=,.@_-); "
            "redeploy with the CDK app"
        )
    return role_name


def source_details(schedule: str = DEFAULT_SCHEDULE) -> list[dict[str, str]]:
    """Config's triggers: every change, oversized changes, and the periodic sweep."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule {schedule!r} is not one of {', '.join(SCHEDULES)}")
    return [
        {"EventSource": "aws.config", "MessageType": "ConfigurationItemChangeNotification"},
        {
            "EventSource": "aws.config",
            "MessageType": "OversizedConfigurationItemChangeNotification",
        },
        {
            "EventSource": "aws.config",
            "MessageType": "ScheduledNotification",
            "MaximumExecutionFrequency": schedule,
        },
    ]


def config_rule_properties(
    function_arn: Any, parameters: RuleParameters, *, schedule: str = DEFAULT_SCHEDULE
) -> dict[str, Any]:
    """An ``AWS::Config::ConfigRule``'s properties for portguard, calling ``function_arn``
    (a string, or a CloudFormation expression such as a CDK token)."""
    return {
        "ConfigRuleName": RULE_NAME,
        "Description": DESCRIPTION,
        "Source": {
            "Owner": "CUSTOM_LAMBDA",
            "SourceIdentifier": function_arn,
            "SourceDetails": source_details(schedule),
        },
        "Scope": {"ComplianceResourceTypes": list(RESOURCE_TYPES)},
        "InputParameters": parameters.as_input_parameters(),
    }
