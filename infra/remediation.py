"""Remediation in the Config console: portguard's remediation function, the Systems Manager
Automation document that runs it, and the ``AWS::Config::RemediationConfiguration`` that wires the
document to the rule (``portguard:remediation`` = ``manual`` or ``automatic``).

- The function is the rule's package (same asset, runtime, architecture and Powertools layer)
  with the remediation handler. It applies the plan for one group with the rule's own parameters,
  logs the rollback document before its first change, and returns it; it raises when the plan is
  refused or fails. Its role has one customer-managed policy: describing the group, reading prefix
  lists and the rules-per-group quota, authorizing and revoking ingress, writing its own logs.
- The document invokes the function synchronously and exposes its returned payload (the rollback
  document) as the automation's output. AWS documents ``FunctionError`` as an output of
  ``aws:invokeLambdaFunction`` ("if present, an error occurred while executing the function") but
  not that the step fails with it, so the document checks it and fails the execution itself.
- The automation role may only invoke that function, and only Systems Manager's automation
  executions of this account and region may assume it.
- An alarm on the function's errors notifies the rule's alarm topic: a remediation that was
  refused or failed reaches a person.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_ssm as ssm
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.rule import (
    ALARM_PERIOD,
    PREFIX_LISTS_ACKNOWLEDGEMENT,
    encrypted_log_group,
    package_function,
    read_prefix_lists,
)
from infra.settings import input_parameters_json
from portguard.definition import (
    GROUP_ID_PATTERN,
    REMEDIATION_PARAMETERS_VARIABLE,
    RESOURCE_TYPES,
    RULE_NAME,
)

if TYPE_CHECKING:
    from aws_cdk import CfnResource

    from infra.rule import PortguardRule
    from infra.settings import Settings

HANDLER = "portguard.remediation_handler.lambda_handler"
SERVICE_NAME = "portguard-remediation"

# One group per invocation: a few Describe calls, the quota, and a handful of Authorize/Revoke
# calls take seconds; a minute leaves room for the SDK's backoff when EC2 throttles. The
# automation waits for it twice as long, so a timeout is reported as the function's error.
MEMORY_MB = 256
TIMEOUT = Duration.minutes(1)
STEP_TIMEOUT_SECONDS = 120


# The document's steps, and what its parameters accept.
INVOKE_STEP = "RemediateSecurityGroup"
CHECK_STEP = "CheckFunctionError"
FAIL_STEP = "FailOnFunctionError"
ROLE_ARN_PATTERN = r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$"
# The runtime AWS recommends for aws:executeScript (3.6 to 3.8 are retired); the script only
# raises, so it needs no permission.
SCRIPT_RUNTIME = "python3.11"
FAIL_SCRIPT = """def fail(events, context):
    raise RuntimeError(
        "portguard did not remediate " + events["GroupId"] + ": " + events["FunctionError"]
        + " error from the remediation function: " + events["Payload"]
    )
"""

# Automatic mode. Config counts failed attempts per group within RetryAttemptSeconds and, at
# MaximumAutomaticAttempts, adds a remediation exception for that group (no more attempts until an
# operator removes it). Three attempts absorb a passing error (throttling, a rule changed under
# the function); a refused plan (still open, over the quota) fails the same way every time, so it
# stops after three and waits for a person. The window is an hour, not Config's default of 60 s:
# an attempt can take the step's two minutes, and three of them never fit in 60 s, so with the
# default the cap would never trigger and Config would retry forever.
MAXIMUM_AUTOMATIC_ATTEMPTS = 3
RETRY_ATTEMPT_SECONDS = 3600


def automation_document(function_arn: str) -> dict[str, Any]:
    """The Automation document (schema 0.3) that remediates one group with ``function_arn``.

    Its output is the function's returned payload: the rollback document (original rules, rules
    added and removed) that ``portguard restore`` takes. A function error (a refused plan, a
    failure, a timeout) fails the execution with the function's error message.
    """
    function_error = "{{ " + INVOKE_STEP + ".FunctionError }}"
    return {
        "schemaVersion": "0.3",
        "description": (
            "portguard: closes a security group's high-risk ports to the internet, keeping every "
            "other port's sources. The output is the rollback document (the original rules, the "
            "rules added and removed): save it to a file and run `portguard restore FILE --apply` "
            "to undo. A refused or failed remediation fails the execution with the reason."
        ),
        "assumeRole": "{{ AutomationAssumeRole }}",
        "parameters": {
            "GroupId": {
                "type": "String",
                "description": "The id of the security group to remediate (sg-...).",
                "allowedPattern": GROUP_ID_PATTERN,
            },
            "AutomationAssumeRole": {
                "type": "String",
                "description": "The role the automation runs as: it may invoke portguard's "
                "remediation function and nothing else.",
                "allowedPattern": ROLE_ARN_PATTERN,
            },
        },
        "mainSteps": [
            {
                "name": INVOKE_STEP,
                "action": "aws:invokeLambdaFunction",
                # Never retried inside one execution: the function does not resume a half-done
                # run, and each run records the rules it found before changing them.
                "maxAttempts": 1,
                "timeoutSeconds": STEP_TIMEOUT_SECONDS,
                "onFailure": "Abort",
                "inputs": {
                    "FunctionName": function_arn,
                    "InvocationType": "RequestResponse",
                    "InputPayload": {"GroupId": "{{ GroupId }}"},
                },
                "nextStep": CHECK_STEP,
            },
            {
                # FunctionError is present (Handled or Unhandled) only when the function failed.
                # No choice matches on success, and isEnd ends the execution there.
                "name": CHECK_STEP,
                "action": "aws:branch",
                "inputs": {
                    "Choices": [
                        {
                            "Or": [
                                {"Variable": function_error, "StringEquals": "Unhandled"},
                                {"Variable": function_error, "StringEquals": "Handled"},
                            ],
                            "NextStep": FAIL_STEP,
                        }
                    ]
                },
                "isEnd": True,
            },
            {
                "name": FAIL_STEP,
                "action": "aws:executeScript",
                "onFailure": "Abort",
                "isCritical": True,
                "isEnd": True,
                "inputs": {
                    "Runtime": SCRIPT_RUNTIME,
                    "Handler": "fail",
                    "InputPayload": {
                        "GroupId": "{{ GroupId }}",
                        "FunctionError": function_error,
                        "Payload": "{{ " + INVOKE_STEP + ".Payload }}",
                    },
                    "Script": FAIL_SCRIPT,
                },
            },
        ],
        "outputs": [f"{INVOKE_STEP}.Payload"],
    }


def remediation_configuration_properties(
    document_name: str, automation_role_arn: str, *, automatic: bool
) -> dict[str, Any]:
    """An ``AWS::Config::RemediationConfiguration``'s properties for the portguard rule: the
    document, run as ``automation_role_arn`` on each non-compliant group (tokens allowed)."""
    properties: dict[str, Any] = {
        "ConfigRuleName": RULE_NAME,
        "TargetType": "SSM_DOCUMENT",
        "TargetId": document_name,
        "ResourceType": RESOURCE_TYPES[0],
        "Parameters": {
            "AutomationAssumeRole": {"StaticValue": {"Values": [automation_role_arn]}},
            "GroupId": {"ResourceValue": {"Value": "RESOURCE_ID"}},
        },
        "Automatic": automatic,
    }
    if automatic:
        properties["MaximumAutomaticAttempts"] = MAXIMUM_AUTOMATIC_ATTEMPTS
        properties["RetryAttemptSeconds"] = RETRY_ATTEMPT_SECONDS
    return properties


class PortguardRemediation(Construct):
    """The remediation function, its Automation document and role, and the remediation
    configuration for ``rule`` (standalone or inside its conformance pack).

    Exposes ``function``, ``role``, ``policy``, ``log_group``, ``document``,
    ``automation_role``, ``automation_policy``, ``errors_alarm`` and ``deployed_by`` (the
    remediation configuration, or the conformance pack that holds it).
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: Settings, rule: PortguardRule
    ) -> None:
        if settings.remediation not in ("manual", "automatic"):
            raise ValueError(f"remediation {settings.remediation!r}: nothing to deploy")
        super().__init__(scope, construct_id)
        stack = Stack.of(self)

        self.log_group = encrypted_log_group(
            self,
            "Logs",
            name="remediation",
            key=rule.key,
            retention_days=settings.log_retention_days,
        )
        self.function, self.role, self.policy = package_function(
            self,
            package=rule.package,
            handler=HANDLER,
            service_name=SERVICE_NAME,
            log_group=self.log_group,
            role_description="portguard's remediation function: closes a group's high-risk ports",
            policy_description="Exactly what portguard's remediation handler calls",
            statements=self._statements(stack),
            # The rule's InputParameters, as the rule receives them.
            environment={
                REMEDIATION_PARAMETERS_VARIABLE: input_parameters_json(settings.parameters)
            },
            description="portguard: closes a security group's high-risk ports to the internet",
            memory_size=MEMORY_MB,
            timeout=TIMEOUT,
        )

        self.document = ssm.CfnDocument(
            self,
            "Document",
            document_type="Automation",
            document_format="JSON",
            content=automation_document(self.function.function_arn),
        )
        self.automation_role = iam.Role(
            self,
            "AutomationRole",
            # Systems Manager sets aws:SourceArn to the automation execution's ARN when it
            # assumes an automation's role.
            assumed_by=iam.ServicePrincipal(
                "ssm.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnLike": {
                        "aws:SourceArn": (
                            f"arn:{Aws.PARTITION}:ssm:{Aws.REGION}:{Aws.ACCOUNT_ID}:"
                            "automation-execution/*"
                        )
                    },
                },
            ),
            description="portguard's remediation automation: invokes the remediation function",
        )
        self.automation_policy = iam.ManagedPolicy(
            self,
            "AutomationPolicy",
            description="Invoke portguard's remediation function, nothing else",
            roles=[self.automation_role],
            statements=[
                iam.PolicyStatement(
                    sid="InvokeRemediationFunction",
                    actions=["lambda:InvokeFunction"],
                    resources=[self.function.function_arn],
                )
            ],
        )

        self.deployed_by: CfnResource = rule.add_remediation(
            self,
            remediation_configuration_properties(
                self.document.ref,
                self.automation_role.role_arn,
                automatic=settings.remediation == "automatic",
            ),
        )
        # Config may start an automation as soon as the configuration exists.
        self.deployed_by.node.add_dependency(self.automation_policy)
        self.errors_alarm = rule.add_alarm(
            self,
            "ErrorsAlarm",
            name="RemediationErrors",
            description=(
                "portguard's remediation function failed or refused a plan (the group would stay "
                "open, or exceed its rule quota): a non-compliant group was not closed. The "
                "automation execution's failure and the function's log say why and what changed."
            ),
            metric=self.function.metric_errors(period=ALARM_PERIOD, statistic="Sum"),
        )
        self._acknowledge()

    def _statements(self, stack: Stack) -> list[iam.PolicyStatement]:
        """Each action the remediation handler calls, on the narrowest resource IAM allows."""
        return [
            iam.PolicyStatement(
                sid="ReadSecurityGroups",
                # Describe actions support no resource-level permissions: IAM requires "*".
                actions=["ec2:DescribeSecurityGroups", "ec2:DescribeManagedPrefixLists"],
                resources=["*"],
            ),
            iam.PolicyStatement(
                sid="ChangeIngress",
                actions=["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"],
                resources=[
                    f"arn:{stack.partition}:ec2:{stack.region}:{stack.account}:security-group/*"
                ],
            ),
            read_prefix_lists(stack),
            iam.PolicyStatement(
                sid="ReadRulesPerGroupQuota",
                # "Inbound or outbound rules per security group": a plan that would not fit is
                # refused. On "*": the Service Authorization Reference lists an optional quota
                # resource for this action, but the quota's ARN here was reported to deny every read
                # on a live account, and a denied read only lowers the quota to AWS's default of
                # 60, quietly. "*" cannot deny; the action only reads quota values.
                actions=["servicequotas:GetServiceQuota"],
                resources=["*"],
            ),
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            ),
        ]

    def _acknowledge(self) -> None:
        """cdk-nag findings that are right for other workloads and wrong for this one."""
        NagSuppressions.add_resource_suppressions(
            self.policy,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    applies_to=["Resource::*"],
                    reason=(
                        "ec2:DescribeSecurityGroups and ec2:DescribeManagedPrefixLists support no "
                        "resource-level permissions: IAM accepts only '*' for them. "
                        "servicequotas:GetServiceQuota on the quota's ARN was reported to deny the "
                        "read on a live account, quietly lowering the quota to the default of 60. "
                        "All three only read."
                    ),
                ),
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    applies_to=[
                        "Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:"
                        "security-group/*"
                    ],
                    reason=(
                        "The function remediates whichever group AWS Config found non-compliant, "
                        "so the group cannot be named at deploy; it is limited to this account "
                        "and region, and to adding and removing ingress rules."
                    ),
                ),
                PREFIX_LISTS_ACKNOWLEDGEMENT,
            ],
        )
        NagSuppressions.add_resource_suppressions(
            self.function,
            [
                NagPackSuppression(
                    id="HIPAA.Security-LambdaDLQ",
                    reason=(
                        "Invoked only synchronously, by the SSM Automation step: a failure is "
                        "returned to the automation, which fails the execution with the error "
                        "and records it (and Config records the remediation as failed). A "
                        "dead-letter queue applies only to asynchronous invocations."
                    ),
                ),
                NagPackSuppression(
                    id="HIPAA.Security-LambdaInsideVPC",
                    reason=(
                        "The function talks only to AWS APIs (EC2, Service Quotas, CloudWatch "
                        "Logs) and holds no data; in a VPC it would need NAT or interface "
                        "endpoints for the same calls, adding cost and failure modes and "
                        "protecting no data path."
                    ),
                ),
                NagPackSuppression(
                    id="HIPAA.Security-LambdaConcurrency",
                    reason=(
                        "Runs once per remediated group, on an operator's Remediate action or "
                        "Config's automatic remediation, whose own execution controls pace it. "
                        "Reserving concurrency fails in accounts with the default limit of 10 "
                        "concurrent executions, and a throttled invocation is retried by the "
                        "automation step."
                    ),
                ),
            ],
        )
