"""The portguard rule: its Lambda function, what keeps it honest, and the Config rule that calls it.

Everything here is written for a careful security team:

- the function's role carries no AWS managed policy and no inline policy, only a customer-managed
  policy listing exactly what the handler calls;
- Config may invoke the function only on behalf of this account;
- nothing fails quietly: failed invocations land in an encrypted queue, and alarms notify the
  alarm topic of errors, of every event sent to that queue, of an event that could not even reach
  it, and of a function Config stopped invoking (the heartbeat);
- what portguard stores (logs, failed events, alarm messages) is encrypted with one KMS key the
  team owns, and each service principal that uses it is bound to this account and this stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aws_cdk import Aws, CfnMapping, CfnResource, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_config as config
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.settings import input_parameters_json
from portguard.definition import (
    DEPLOYMENT_VARIABLE,
    MEMBER_ROLE_NAME_VARIABLE,
    ORGANIZATION_DEPLOYMENT,
    config_rule_properties,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from infra.settings import Organization, Settings
    from portguard.parameters import RuleParameters

# The Lambda asset root: `lambda/` holds the `portguard` package (and nothing else is shipped).
LAMBDA_ROOT = Path(__file__).resolve().parent.parent / "lambda"
ASSET_EXCLUDE = ("__pycache__", "*.pyc")

HANDLER = "portguard.handler.lambda_handler"
SERVICE_NAME = "portguard"
CONFORMANCE_PACK_NAME = "portguard"

# The newest Python runtime aws-cdk-lib 2.275 offers, and the public Powertools for AWS Lambda
# (Python) layer built for it. Layer version 36 ships Powertools 3.31.1, the version the tests
# run against (pyproject.toml): raise both together. AWS publishes the layer under one account
# per partition; the stack is region- and partition-agnostic, so the ARN is resolved at deploy.
RUNTIME = lambda_.Runtime.PYTHON_3_14
POWERTOOLS_LAYER_NAME = "AWSLambdaPowertoolsPythonV3-python314-arm64"
POWERTOOLS_LAYER_VERSION = 36
POWERTOOLS_LAYER_ACCOUNTS = {"aws": "017000801446", "aws-cn": "498634801083"}

# Sized from `make bench`: a sweep of 5,001 groups peaked at 44 MiB of Python allocations, above
# a 50 MiB resident mark for the interpreter, boto3 and moto, so 256 MB leaves room (and gives
# twice the CPU of 128 MB). That sweep took about 5 s on one full core; five minutes leaves
# headroom for larger accounts at a fraction of a core (an estimate, not measured on Lambda).
MEMORY_MB = 256
TIMEOUT = Duration.minutes(5)

FAILURE_RETENTION = Duration.days(14)  # the longest SQS keeps a message

# Asynchronous invocation (Config invokes the function asynchronously). Lambda's own values, set
# on purpose: 2 retries (Lambda waits about a minute, then two) outlast a throttling burst the
# SDK's 8 attempts did not, and posting the same evaluations again is harmless. 6 hours, the
# longest Lambda allows, lets a burst of change events wait out throttling (reserved concurrency)
# before anything is given up; an event too old, or still failing, goes to the failure queue with
# its error, and that raises an alarm.
RETRY_ATTEMPTS = 2
MAXIMUM_EVENT_AGE = Duration.hours(6)

# Config's periodic frequencies (the rule's MaximumExecutionFrequency), in hours.
SCHEDULE_HOURS: Mapping[str, int] = {
    "One_Hour": 1,
    "Three_Hours": 3,
    "Six_Hours": 6,
    "Twelve_Hours": 12,
    "TwentyFour_Hours": 24,
}
# The heartbeat counts invocations per hour. CloudWatch limits an alarm's period x evaluation
# periods to 7 days when the period is an hour or longer (to 1 day below an hour), so hourly
# periods let the window outlast a 24-hour schedule.
HEARTBEAT_PERIOD = Duration.hours(1)
MAXIMUM_EVALUATION_HOURS = 7 * 24
# How often the other alarms look. The failure queue's window is longer: SQS publishes the
# metrics of a queue that was idle up to 15 minutes late, and a late datapoint must still fall
# inside the window (the alarm fires when any of its 4 periods saw a message).
ALARM_PERIOD = Duration.minutes(5)
FAILED_EVENTS_PERIODS = 4

# Logical ids inside the conformance pack's template (its own namespace, not the stack's).
PACK_RULE_ID = "PortguardRule"
PACK_REMEDIATION_ID = "PortguardRemediation"


def heartbeat_hours(schedule: str) -> int:
    """The hours without any invocation after which the heartbeat alarm fires: the periodic
    interval plus a quarter of it, at least two hours (Config's periodic runs are not exact to the
    minute, and Lambda's metrics arrive minutes late). ``TwentyFour_Hours``: 30."""
    hours = SCHEDULE_HOURS[schedule]
    return hours + max(2, hours // 4)


def _hours(count: int) -> str:
    return "hour" if count == 1 else f"{count} hours"


def log_group_name(name: str) -> str:
    """``/portguard/<stack name>/<stack id>/<name>``: the log groups of one stack share a prefix
    the KMS key's policy can name (it cannot refer to log groups the key encrypts: a cycle). The
    stack id, unique to each stack ever created, keeps a redeploy after ``cdk destroy`` from
    colliding with the log groups the old stack retained."""
    stack_id = Fn.select(2, Fn.split("/", Aws.STACK_ID))  # arn:...:stack/<name>/<id>
    return f"/portguard/{Aws.STACK_NAME}/{stack_id}/{name}"


def alarm_name(name: str) -> str:
    """``<stack name>-<name>``: the stack's alarms share a prefix that the key's policy can name
    (it cannot refer to the alarms, which refer to the topic the key encrypts: a cycle); the
    topic's policy names them the same way."""
    return f"{Aws.STACK_NAME}-{name}"


def alarm_publisher_conditions() -> dict[str, Any]:
    """CloudWatch may publish (and use the key) only for this stack's alarms, in this account and
    region: the confused-deputy guard on ``cloudwatch.amazonaws.com``."""
    return {
        "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
        "ArnLike": {
            "aws:SourceArn": (
                f"arn:{Aws.PARTITION}:cloudwatch:{Aws.REGION}:{Aws.ACCOUNT_ID}:alarm:"
                f"{alarm_name('*')}"
            )
        },
    }


def read_prefix_lists(stack: Stack, *, every_region: bool = False) -> iam.PolicyStatement:
    """``ec2:GetManagedPrefixListEntries`` in the stack's region (or every region), for every
    role that decides (the rule's, the remediation's, a member's): the decision resolves prefix
    lists."""
    region = "*" if every_region else stack.region
    return iam.PolicyStatement(
        sid="ReadPrefixLists",
        actions=["ec2:GetManagedPrefixListEntries"],
        # Any owner: AWS-managed lists (owner "AWS") and lists shared through RAM.
        resources=[f"arn:{stack.partition}:ec2:{region}:*:prefix-list/*"],
    )


PREFIX_LISTS_ACKNOWLEDGEMENT = NagPackSuppression(
    id="AwsSolutions-IAM5",
    applies_to=["Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:*:prefix-list/*"],
    reason=(
        "Security groups reference prefix lists owned by AWS (account 'AWS') or shared from "
        "other accounts, so the owner cannot be named; the action only reads list entries, in "
        "this region."
    ),
)
"""cdk-nag's acknowledgement of :func:`read_prefix_lists`' wildcard."""


def assume_member_roles(stack: Stack, organization: Organization) -> iam.PolicyStatement:
    """The hub function may assume the member role of any account of the organization, and no
    role outside it: aws:ResourceOrgID is the organization of the account that owns the role."""
    return iam.PolicyStatement(
        sid="AssumeMemberRoles",
        actions=["sts:AssumeRole"],
        resources=[f"arn:{stack.partition}:iam::*:role/{organization.member_role_name}"],
        conditions={"StringEquals": {"aws:ResourceOrgID": organization.organization_id}},
    )


def encrypted_log_group(
    scope: Construct, construct_id: str, *, name: str, key: kms.IKey, retention_days: int
) -> logs.LogGroup:
    """A log group named :func:`log_group_name` (``name``), encrypted with ``key``, kept
    ``retention_days`` and retained on destroy."""
    log_group = logs.LogGroup(
        scope,
        construct_id,
        log_group_name=log_group_name(name),
        encryption_key=key,
        removal_policy=RemovalPolicy.RETAIN,
    )
    # In days, as CloudFormation takes it (the L2's enum names periods, not days); the
    # settings accept only the periods CloudWatch Logs offers.
    resource = log_group.node.default_child
    assert isinstance(resource, logs.CfnLogGroup)  # noqa: S101 - CDK's own type
    resource.retention_in_days = retention_days
    return log_group


@dataclass(frozen=True, slots=True)
class FunctionPackage:
    """The ``portguard`` package as every one of its functions runs it: one code asset (``lambda/``)
    and the public Powertools layer. Build it once per stack with :meth:`in_scope`."""

    code: lambda_.Code
    powertools_layer: lambda_.ILayerVersion

    @classmethod
    def in_scope(cls, scope: Construct) -> FunctionPackage:
        """The asset and the layer (``PowertoolsLayer``, with its ``PowertoolsLayerAccount``
        mapping) in ``scope``. The stack is region- and partition-agnostic, so the layer's ARN
        is resolved at deploy from the partition's publishing account."""
        accounts = CfnMapping(
            scope,
            "PowertoolsLayerAccount",
            mapping={
                partition: {"account": account}
                for partition, account in POWERTOOLS_LAYER_ACCOUNTS.items()
            },
        )
        arn = Fn.join(
            "",
            [
                f"arn:{Aws.PARTITION}:lambda:{Aws.REGION}:",
                accounts.find_in_map(Aws.PARTITION, "account"),
                f":layer:{POWERTOOLS_LAYER_NAME}:{POWERTOOLS_LAYER_VERSION}",
            ],
        )
        return cls(
            code=lambda_.Code.from_asset(str(LAMBDA_ROOT), exclude=list(ASSET_EXCLUDE)),
            powertools_layer=lambda_.LayerVersion.from_layer_version_arn(
                scope, "PowertoolsLayer", arn
            ),
        )


def package_function(
    scope: Construct,
    *,
    package: FunctionPackage,
    handler: str,
    service_name: str,
    log_group: logs.ILogGroup,
    role_description: str,
    policy_description: str,
    statements: list[iam.PolicyStatement],
    environment: Mapping[str, str] | None = None,
    **function_props: Any,
) -> tuple[lambda_.Function, iam.Role, iam.ManagedPolicy]:
    """A function of the ``portguard`` package (``Function`` in ``scope``) with its own role
    (``Role``): assumed by Lambda, carrying one customer-managed policy (``Policy``) of
    ``statements`` and nothing else: no AWS managed policy, and no inline policy, since CDK's
    own grants are refused. The function waits for its policy.

    What every portguard function shares is set here: the runtime and architecture, the package's
    code and Powertools layer, ``handler``, logging to ``log_group`` at INFO as ``service_name``.
    ``environment`` adds to that; ``function_props`` (memory, timeout, invocation settings) go
    to :class:`aws_lambda.Function`.
    """
    role = iam.Role(
        scope,
        "Role",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=role_description,
    )
    policy = iam.ManagedPolicy(
        scope, "Policy", description=policy_description, roles=[role], statements=statements
    )
    function = lambda_.Function(
        scope,
        "Function",
        runtime=RUNTIME,
        architecture=lambda_.Architecture.ARM_64,
        code=package.code,
        layers=[package.powertools_layer],
        handler=handler,
        log_group=log_group,
        environment={
            "POWERTOOLS_SERVICE_NAME": service_name,
            "LOG_LEVEL": "INFO",
            **(environment or {}),
        },
        role=role.without_policy_updates(),
        **function_props,
    )
    function.node.add_dependency(policy)
    return function, role, policy


class PortguardRule(Construct):
    """The function that decides, and the Config rule (a standalone rule, a conformance pack, or
    an organization rule) that calls it.

    Exposes ``function``, ``role``, ``log_group``, ``key``, ``failure_queue``, ``alarm_topic``,
    ``alarms``, ``invoke_permission``, ``package`` (for other functions of the same package), and
    one of ``rule``, ``conformance_pack`` or ``organization_rule`` (also as ``deployment``). What
    Config deploys for the rule (the rule, and a remediation configuration with
    :meth:`add_remediation`) goes where the rule is: standalone, or inside the conformance pack's
    template. In organization mode the function is the hub: it reports for each member account
    through the member role (``PORTGUARD_DEPLOYMENT`` and ``PORTGUARD_MEMBER_ROLE_NAME``).
    """

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)

        self.key = kms.Key(
            self,
            "Key",
            description="portguard: encrypts its logs, failed invocations and alarm messages",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # CloudWatch Logs encrypts this stack's log groups with the key (named by their shared
        # prefix; AWS documents this encryption-context condition for CloudWatch Logs)...
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
                actions=[
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": (
                            f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:"
                            f"{log_group_name('*')}"
                        )
                    }
                },
            )
        )
        # ...and this stack's CloudWatch alarms publish to the encrypted topic (SNS documents
        # both confused-deputy keys for an AWS service publishing to an encrypted topic).
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions=alarm_publisher_conditions(),
            )
        )

        self.log_group = encrypted_log_group(
            self, "Logs", name="rule", key=self.key, retention_days=settings.log_retention_days
        )
        self.failure_queue = sqs.Queue(
            self,
            "FailedInvocations",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.key,
            retention_period=FAILURE_RETENTION,
            enforce_ssl=True,
        )
        self.alarm_topic = sns.Topic(
            self, "Alarms", display_name="portguard alarms", master_key=self.key, enforce_ssl=True
        )
        # A topic policy replaces SNS's default one, and CloudWatch publishes as its service
        # principal: without this statement no alarm would ever notify anyone.
        self.alarm_topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="ThisStacksAlarmsPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.alarm_topic.topic_arn],
                conditions=alarm_publisher_conditions(),
            )
        )
        if settings.alarm_email:
            self.alarm_topic.add_subscription(subscriptions.EmailSubscription(settings.alarm_email))

        # One asset and one layer for every function of the package (the rule's, the remediation's).
        self.package = FunctionPackage.in_scope(self)

        self.function, self.role, self.policy = package_function(
            self,
            package=self.package,
            handler=HANDLER,
            service_name=SERVICE_NAME,
            log_group=self.log_group,
            role_description="portguard's function: reads security groups, reports to AWS Config",
            policy_description="Exactly what portguard's handler calls",
            statements=self._statements(stack, settings),
            environment=self._environment(settings),
            description="portguard: flags security groups open to the internet on high-risk ports",
            memory_size=MEMORY_MB,
            timeout=TIMEOUT,
            reserved_concurrent_executions=settings.reserved_concurrency,
            on_failure=destinations.SqsDestination(self.failure_queue),
            retry_attempts=RETRY_ATTEMPTS,
            max_event_age=MAXIMUM_EVENT_AGE,
        )

        self.invoke_permission = self._config_invoke_permission(settings)

        self.alarms: list[cloudwatch.Alarm] = []
        self.rule: config.CfnConfigRule | None = None
        self.conformance_pack: config.CfnConformancePack | None = None
        self.organization_rule: config.CfnOrganizationConfigRule | None = None
        # The one definition of the rule, whichever way it is deployed.
        rule_properties = config_rule_properties(
            self.function.function_arn, settings.parameters, schedule=settings.schedule
        )
        # The conformance pack's template: its resources by logical id, rendered by _pack_body().
        self._pack_resources: dict[str, dict[str, Any]] = {}
        if settings.deploy_as == "conformance-pack":
            self.conformance_pack = self._conformance_pack(rule_properties)
        elif settings.organization is not None:
            self.organization_rule = self._organization_rule(
                rule_properties, settings.parameters, settings.organization
            )
        else:
            self.rule = self._standalone_rule(rule_properties)
        self.deployment.node.add_dependency(self.invoke_permission)
        self._add_rule_alarms(settings)
        self._acknowledge(settings)

    @property
    def deployment(self) -> CfnResource:
        """What deploys the rule: the standalone rule, the conformance pack or the organization
        rule. Whatever the rule needs first (its recorder, the member roles) goes before it."""
        deployed = self.rule or self.conformance_pack or self.organization_rule
        assert deployed is not None  # noqa: S101 - __init__ always deploys one
        return deployed

    def _config_invoke_permission(self, settings: Settings) -> lambda_.CfnPermission:
        """AWS Config's permission to invoke the function."""
        if settings.organization is None:
            # Config's invocations carry the rule's ARN as their source, but that ARN holds an id
            # Config generates (config-rule/config-rule-ab12cd), known only once the rule exists,
            # and the rule needs this permission first: a SourceArn here would be a cycle (and in
            # conformance-pack mode Config creates the rule itself). So this account only.
            return lambda_.CfnPermission(
                self,
                "ConfigInvoke",
                action="lambda:InvokeFunction",
                function_name=self.function.function_arn,
                principal="config.amazonaws.com",
                source_account=Aws.ACCOUNT_ID,
            )
        # An organization rule is a rule in every member account, and Config invokes the hub on
        # behalf of each: the invocation's source account is the member's, its source ARN the
        # member's rule (created by Config, named only at run time). Lambda's permissions offer no
        # condition that limits a service principal to an organization (PrincipalOrgID matches
        # the caller's organization, and Config's service principal belongs to none), so any
        # account's Config rule that names this function's ARN can invoke it.
        # What makes such a foreign invocation harmless: its event names the foreign account
        # (Config writes the account id and the rule's ARN), and the hub reports for an account
        # only through that account's member role. Its own role may assume member roles only
        # inside the organization (aws:ResourceOrgID), and only the accounts the StackSet reached
        # have a member role that trusts it (aws:PrincipalOrgID); the handler also refuses an
        # event whose account ids disagree. So a foreign event fails, posts nothing, and ends in
        # the failure queue, which raises an alarm.
        # What makes it cheap: reserved concurrency (10 by default in this mode) caps how much of
        # the function can run at once, and so what a flood of foreign invocations can cost.
        return lambda_.CfnPermission(
            self,
            "ConfigInvoke",
            action="lambda:InvokeFunction",
            function_name=self.function.function_arn,
            principal="config.amazonaws.com",
        )

    def _standalone_rule(self, rule_properties: Mapping[str, Any]) -> config.CfnConfigRule:
        """The ``AWS::Config::ConfigRule`` of this account."""
        return config.CfnConfigRule(
            self,
            "Rule",
            config_rule_name=rule_properties["ConfigRuleName"],
            description=rule_properties["Description"],
            source=config.CfnConfigRule.SourceProperty(
                owner="CUSTOM_LAMBDA",
                source_identifier=self.function.function_arn,
                source_details=[
                    config.CfnConfigRule.SourceDetailProperty(
                        event_source=detail["EventSource"],
                        message_type=detail["MessageType"],
                        maximum_execution_frequency=detail.get("MaximumExecutionFrequency"),
                    )
                    for detail in rule_properties["Source"]["SourceDetails"]
                ],
            ),
            scope=config.CfnConfigRule.ScopeProperty(
                compliance_resource_types=rule_properties["Scope"]["ComplianceResourceTypes"]
            ),
            input_parameters=rule_properties["InputParameters"],
        )

    def _conformance_pack(self, rule_properties: Mapping[str, Any]) -> config.CfnConformancePack:
        """The conformance pack holding the rule (Config creates the rule from its template)."""
        self._pack_resources[PACK_RULE_ID] = {
            "Type": "AWS::Config::ConfigRule",
            "Properties": rule_properties,
        }
        return config.CfnConformancePack(
            self,
            "ConformancePack",
            conformance_pack_name=CONFORMANCE_PACK_NAME,
            template_body=self._pack_body(),
        )

    def _organization_rule(
        self,
        rule_properties: Mapping[str, Any],
        parameters: RuleParameters,
        organization: Organization,
    ) -> config.CfnOrganizationConfigRule:
        """The ``AWS::Config::OrganizationConfigRule``: the same rule, which Config creates in
        every member account (but the excluded ones), each invoking this function."""
        details = rule_properties["Source"]["SourceDetails"]
        frequency = next(
            d["MaximumExecutionFrequency"] for d in details if "MaximumExecutionFrequency" in d
        )
        return config.CfnOrganizationConfigRule(
            self,
            "OrganizationRule",
            organization_config_rule_name=rule_properties["ConfigRuleName"],
            organization_custom_rule_metadata=(
                config.CfnOrganizationConfigRule.OrganizationCustomRuleMetadataProperty(
                    lambda_function_arn=rule_properties["Source"]["SourceIdentifier"],
                    description=rule_properties["Description"],
                    organization_config_rule_trigger_types=[d["MessageType"] for d in details],
                    maximum_execution_frequency=frequency,
                    resource_types_scope=rule_properties["Scope"]["ComplianceResourceTypes"],
                    # A JSON string here (the standalone rule's is an object): the one whose
                    # length the settings checked against Config's limit.
                    input_parameters=input_parameters_json(parameters),
                )
            ),
            excluded_accounts=list(organization.excluded_accounts) or None,
        )

    def add_alarm(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        description: str,
        metric: cloudwatch.IMetric,
        comparison: cloudwatch.ComparisonOperator = (
            cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
        ),
        evaluation_periods: int = 1,
        datapoints_to_alarm: int | None = None,
        missing_data: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
    ) -> cloudwatch.Alarm:
        """An alarm (``construct_id`` in ``scope``) named :func:`alarm_name` (``name``), the only
        names the topic and key let publish, on ``metric`` against a threshold of 1, notifying
        the alarm topic. It is created after the topic's policy, so that no notification is
        refused while the stack deploys. Listed in ``alarms``."""
        alarm = cloudwatch.Alarm(
            scope,
            construct_id,
            alarm_name=alarm_name(name),
            alarm_description=description,
            metric=metric,
            threshold=1,
            comparison_operator=comparison,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints_to_alarm,
            treat_missing_data=missing_data,
        )
        alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.alarm_topic))
        alarm.node.add_dependency(self.alarm_topic)  # the topic and its policy
        self.alarms.append(alarm)
        return alarm

    def add_remediation(self, scope: Construct, properties: Mapping[str, Any]) -> CfnResource:
        """Deploy an ``AWS::Config::RemediationConfiguration`` for the rule, where the rule is.

        Standalone, it is a resource of ``scope`` that waits for the rule. In conformance-pack mode
        it goes into the pack's template next to the rule (Config accepts no remediation
        configuration from outside a pack for a rule the pack deploys), and the pack is updated.
        ``properties`` are the resource's CloudFormation properties, tokens allowed. Returns the
        resource that deploys it, the remediation configuration or the pack: make it depend on
        whatever the remediation needs to exist first.
        """
        if self.conformance_pack is not None:
            self._pack_resources[PACK_REMEDIATION_ID] = {
                "Type": "AWS::Config::RemediationConfiguration",
                "DependsOn": PACK_RULE_ID,
                "Properties": dict(properties),
            }
            self.conformance_pack.template_body = self._pack_body()
            return self.conformance_pack
        if self.rule is None:  # Settings refuse remediation in organization mode
            raise ValueError("an organization rule takes no remediation configuration")
        remediation = config.CfnRemediationConfiguration(
            scope,
            "RemediationConfiguration",
            config_rule_name=properties["ConfigRuleName"],
            target_type=properties["TargetType"],
            target_id=properties["TargetId"],
            resource_type=properties.get("ResourceType"),
            parameters=properties.get("Parameters"),
            automatic=properties.get("Automatic"),
            maximum_automatic_attempts=properties.get("MaximumAutomaticAttempts"),
            retry_attempt_seconds=properties.get("RetryAttemptSeconds"),
        )
        remediation.node.add_dependency(self.rule)
        return remediation

    def _pack_body(self) -> str:
        """The conformance pack's template (JSON, with this stack's tokens resolved at deploy)."""
        return Stack.of(self).to_json_string({"Resources": self._pack_resources})

    @staticmethod
    def _environment(settings: Settings) -> dict[str, str]:
        """The function's own environment; in organization mode, what makes it the hub."""
        environment = {"POWERTOOLS_METRICS_NAMESPACE": SERVICE_NAME}
        if settings.organization is not None:
            environment[DEPLOYMENT_VARIABLE] = ORGANIZATION_DEPLOYMENT
            environment[MEMBER_ROLE_NAME_VARIABLE] = settings.organization.member_role_name
        return environment

    def _statements(self, stack: Stack, settings: Settings) -> list[iam.PolicyStatement]:
        """Each action the handler calls, on the narrowest resource IAM allows for it; in
        organization mode, also the member roles it assumes (its own account's groups are
        evaluated with its own credentials, so everything else stays)."""
        organization = (
            [assume_member_roles(stack, settings.organization)] if settings.organization else []
        )
        return [
            iam.PolicyStatement(
                sid="ReportToConfig",
                # Neither action supports resource-level permissions: IAM requires "*".
                actions=["config:PutEvaluations", "config:GetResourceConfigHistory"],
                resources=["*"],
            ),
            iam.PolicyStatement(
                sid="ListSecurityGroups",
                # Describe actions do not support resource-level permissions.
                actions=["ec2:DescribeSecurityGroups"],
                resources=["*"],
            ),
            read_prefix_lists(stack),
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            ),
            iam.PolicyStatement(
                sid="RecordFailedInvocations",
                actions=["sqs:SendMessage"],
                resources=[self.failure_queue.queue_arn],
            ),
            iam.PolicyStatement(
                sid="EncryptFailedInvocations",
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[self.key.key_arn],
            ),
            *organization,
        ]

    def _add_rule_alarms(self, settings: Settings) -> None:
        """The rule function's alarms: errors, the heartbeat, failed events, undelivered ones."""
        self.add_alarm(
            self,
            "ErrorsAlarm",
            name="RuleErrors",
            description=(
                "portguard's function failed: a bad event or parameter, AWS refusing a call, or "
                "evaluations Config would not take. Its log group has one ERROR line saying which; "
                "Lambda retries the event twice, then sends it to the failure queue."
            ),
            metric=self.function.metric_errors(period=ALARM_PERIOD, statistic="Sum"),
        )
        hours = heartbeat_hours(settings.schedule)
        heartbeat = self.add_alarm(
            self,
            "HeartbeatAlarm",
            name="RuleHeartbeat",
            description=(
                f"AWS Config has not invoked portguard's function for {hours} hours, although its "
                f"periodic evaluation is due every {_hours(SCHEDULE_HOURS[settings.schedule])}: "
                "the rule was deleted or changed, its invoke permission or Config's recorder is "
                "missing, or Lambda throttles every invocation. No security group is being "
                "evaluated."
            ),
            # Lambda emits no Invocations datapoint for an hour with none: missing is breaching,
            # and every hour of the window must be empty.
            metric=self.function.metric_invocations(period=HEARTBEAT_PERIOD, statistic="Sum"),
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=hours,
            datapoints_to_alarm=hours,
            missing_data=cloudwatch.TreatMissingData.BREACHING,
        )
        # It ends by itself once invocations resume: say so, too. Created after the rule, whose
        # creation makes Config evaluate at once.
        heartbeat.add_ok_action(cloudwatch_actions.SnsAction(self.alarm_topic))
        heartbeat.node.add_dependency(self.deployment)
        self.add_alarm(
            self,
            "FailedInvocationsAlarm",
            name="RuleFailedEvents",
            description=(
                "An invocation failed after Lambda's retries (or waited 6 hours): its event is in "
                "portguard's failure queue (kept 14 days) with the error, and the security "
                "group(s) it named were not evaluated. Fires for each new failed event."
            ),
            # NumberOfMessagesSent counts SendMessage calls, which is how Lambda delivers to an
            # SQS on-failure destination (only messages SQS itself moves to a dead-letter queue
            # are not counted). Unlike the queue's depth, it rises again for every new failure.
            metric=self.failure_queue.metric_number_of_messages_sent(
                period=ALARM_PERIOD, statistic="Sum"
            ),
            evaluation_periods=FAILED_EVENTS_PERIODS,
            datapoints_to_alarm=1,
        )
        self.add_alarm(
            self,
            "UndeliveredEventsAlarm",
            name="RuleUndeliveredEvents",
            description=(
                "Lambda could not send a failed event to portguard's failure queue (the queue or "
                "its key refused it): that event is lost, and the security group(s) it named were "
                "not evaluated."
            ),
            metric=self.function.metric(
                "DestinationDeliveryFailures", period=ALARM_PERIOD, statistic="Sum"
            ),
        )

    @staticmethod
    def _organization_acknowledgements(settings: Settings) -> list[NagPackSuppression]:
        if settings.organization is None:
            return []
        return [
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                applies_to=[
                    "Resource::arn:<AWS::Partition>:iam::*:role/"
                    f"{settings.organization.member_role_name}"
                ],
                reason=(
                    "The hub reports for every member account of the organization, and accounts "
                    "join and leave: the account cannot be named. The role name is fixed, and "
                    "aws:ResourceOrgID limits the statement to roles in accounts of the "
                    "organization."
                ),
            )
        ]

    def _acknowledge(self, settings: Settings) -> None:
        """cdk-nag findings that are right for other workloads and wrong for this one."""
        NagSuppressions.add_resource_suppressions(
            self.policy,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    applies_to=["Resource::*"],
                    reason=(
                        "config:PutEvaluations, config:GetResourceConfigHistory and "
                        "ec2:DescribeSecurityGroups support no resource-level permissions: IAM "
                        "accepts only '*' for them."
                    ),
                ),
                PREFIX_LISTS_ACKNOWLEDGEMENT,
                *self._organization_acknowledgements(settings),
            ],
        )
        function_acks = [
            NagPackSuppression(
                id="HIPAA.Security-LambdaDLQ",
                reason=(
                    "Failed asynchronous invocations go to an on-failure destination (the "
                    "encrypted FailedInvocations queue, alarmed), which records the event and the "
                    "error; a dead-letter queue as well would record each failure twice."
                ),
            ),
            NagPackSuppression(
                id="HIPAA.Security-LambdaInsideVPC",
                reason=(
                    "The function talks only to AWS APIs (Config, EC2, CloudWatch Logs) and "
                    "holds no data; in a VPC it would need NAT or three interface endpoints for "
                    "the same calls, adding cost and failure modes and protecting no data path."
                ),
            ),
        ]
        if settings.reserved_concurrency is None:
            function_acks.append(
                NagPackSuppression(
                    id="HIPAA.Security-LambdaConcurrency",
                    reason=(
                        "Unset by default: reserving concurrency fails in accounts with the "
                        "default limit of 10 concurrent executions, and Config's invocations are "
                        "asynchronous (queued and retried by Lambda when throttled). Set "
                        "portguard:reservedConcurrency to reserve."
                    ),
                )
            )
        NagSuppressions.add_resource_suppressions(self.function, function_acks)
        NagSuppressions.add_resource_suppressions(
            self.failure_queue,
            [
                NagPackSuppression(
                    id="AwsSolutions-SQS3",
                    reason=(
                        "This queue is itself the function's failure destination; a queue behind "
                        "it would only move the same messages, which are kept 14 days and alarmed."
                    ),
                )
            ],
        )
