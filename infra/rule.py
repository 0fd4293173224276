"""The portguard rule: its Lambda function, what keeps it honest, and the Config rule that calls it.

Everything here is written for a careful security team:

- the function's role carries no AWS managed policy and no inline policy, only a customer-managed
  policy listing exactly what the handler calls;
- Config may invoke the function only on behalf of this account;
- failed invocations land in an encrypted queue, and errors or queued failures raise an alarm;
- what portguard stores (logs, failed events, alarm messages) is encrypted with one KMS key the
  team owns.
"""

from __future__ import annotations

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

from portguard.definition import config_rule_properties

if TYPE_CHECKING:
    from collections.abc import Mapping

    from infra.settings import Settings

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

# Logical ids inside the conformance pack's template (its own namespace, not the stack's).
PACK_RULE_ID = "PortguardRule"
PACK_REMEDIATION_ID = "PortguardRemediation"


def read_prefix_lists(stack: Stack) -> iam.PolicyStatement:
    """``ec2:GetManagedPrefixListEntries`` in the stack's region, for every function that decides
    (the rule's and the remediation's): the decision resolves prefix lists."""
    return iam.PolicyStatement(
        sid="ReadPrefixLists",
        actions=["ec2:GetManagedPrefixListEntries"],
        # Any owner: AWS-managed lists (owner "AWS") and lists shared through RAM.
        resources=[f"arn:{stack.partition}:ec2:{stack.region}:*:prefix-list/*"],
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


def encrypted_log_group(
    scope: Construct, construct_id: str, *, key: kms.IKey, retention_days: int
) -> logs.LogGroup:
    """A log group encrypted with ``key``, kept ``retention_days`` and retained on destroy."""
    log_group = logs.LogGroup(
        scope, construct_id, encryption_key=key, removal_policy=RemovalPolicy.RETAIN
    )
    # In days, as CloudFormation takes it (the L2's enum names periods, not days); the
    # settings accept only the periods CloudWatch Logs offers.
    resource = log_group.node.default_child
    assert isinstance(resource, logs.CfnLogGroup)  # noqa: S101 - CDK's own type
    resource.retention_in_days = retention_days
    return log_group


def package_function(
    scope: Construct,
    *,
    role_description: str,
    policy_description: str,
    statements: list[iam.PolicyStatement],
    **function_props: Any,
) -> tuple[lambda_.Function, iam.Role, iam.ManagedPolicy]:
    """A function of the ``portguard`` package (``Function`` in ``scope``) with its own role
    (``Role``): assumed by Lambda, carrying one customer-managed policy (``Policy``) of
    ``statements`` and nothing else: no AWS managed policy, and no inline policy, since CDK's
    own grants are refused. The function waits for its policy. ``function_props`` go to
    :class:`aws_lambda.Function` with the runtime and architecture every portguard function has.
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
        role=role.without_policy_updates(),
        **function_props,
    )
    function.node.add_dependency(policy)
    return function, role, policy


class PortguardRule(Construct):
    """The function that decides, and the Config rule (or conformance pack) that calls it.

    Exposes ``function``, ``role``, ``log_group``, ``key``, ``failure_queue``, ``alarm_topic``,
    ``alarms``, ``invoke_permission``, ``code`` and ``powertools_layer`` (for other functions of
    the same package), and either ``rule`` or ``conformance_pack``. What Config deploys for the
    rule (the rule, and a remediation configuration with :meth:`add_remediation`) goes where the
    rule is: standalone, or inside the conformance pack's template.
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
        # CloudWatch Logs encrypts this account's portguard log group with the key...
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
                            f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:*"
                        )
                    }
                },
            )
        )
        # ...and CloudWatch alarms publish to the encrypted topic.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
        )

        self.log_group = encrypted_log_group(
            self, "Logs", key=self.key, retention_days=settings.log_retention_days
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
        if settings.alarm_email:
            self.alarm_topic.add_subscription(subscriptions.EmailSubscription(settings.alarm_email))

        # One asset and one layer for every function of the package (the rule's, the remediation's).
        self.code = lambda_.Code.from_asset(str(LAMBDA_ROOT), exclude=list(ASSET_EXCLUDE))
        self.powertools_layer = self._powertools_layer()

        self.function, self.role, self.policy = package_function(
            self,
            role_description="portguard's function: reads security groups, reports to AWS Config",
            policy_description="Exactly what portguard's handler calls",
            statements=self._statements(stack),
            description="portguard: flags security groups open to the internet on high-risk ports",
            handler=HANDLER,
            code=self.code,
            layers=[self.powertools_layer],
            memory_size=MEMORY_MB,
            timeout=TIMEOUT,
            log_group=self.log_group,
            reserved_concurrent_executions=settings.reserved_concurrency,
            on_failure=destinations.SqsDestination(self.failure_queue),
            environment={
                "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
                "POWERTOOLS_METRICS_NAMESPACE": SERVICE_NAME,
                "LOG_LEVEL": "INFO",
            },
        )

        self.invoke_permission = lambda_.CfnPermission(
            self,
            "ConfigInvoke",
            action="lambda:InvokeFunction",
            function_name=self.function.function_arn,
            principal="config.amazonaws.com",
            source_account=Aws.ACCOUNT_ID,
        )

        self.alarms = self._alarms()
        self.rule: config.CfnConfigRule | None = None
        self.conformance_pack: config.CfnConformancePack | None = None
        rule_properties = config_rule_properties(
            self.function.function_arn, settings.parameters, schedule=settings.schedule
        )
        # The conformance pack's template: its resources by logical id, rendered by _pack_body().
        self._pack_resources: dict[str, dict[str, Any]] = {}
        if settings.deploy_as == "conformance-pack":
            self._pack_resources[PACK_RULE_ID] = {
                "Type": "AWS::Config::ConfigRule",
                "Properties": rule_properties,
            }
            self.conformance_pack = config.CfnConformancePack(
                self,
                "ConformancePack",
                conformance_pack_name=CONFORMANCE_PACK_NAME,
                template_body=self._pack_body(),
            )
            self.conformance_pack.node.add_dependency(self.invoke_permission)
        else:
            self.rule = config.CfnConfigRule(
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
            self.rule.node.add_dependency(self.invoke_permission)
        self._acknowledge(settings)

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
        assert self.rule is not None  # noqa: S101 - one of the two is always deployed
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

    def _powertools_layer(self) -> lambda_.ILayerVersion:
        accounts = CfnMapping(
            self,
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
        return lambda_.LayerVersion.from_layer_version_arn(self, "PowertoolsLayer", arn)

    def _statements(self, stack: Stack) -> list[iam.PolicyStatement]:
        """Each action the handler calls, on the narrowest resource IAM allows for it."""
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
        ]

    def _alarms(self) -> list[cloudwatch.Alarm]:
        action = cloudwatch_actions.SnsAction(self.alarm_topic)
        errors = cloudwatch.Alarm(
            self,
            "ErrorsAlarm",
            alarm_description=(
                "portguard's function failed: a bad event or parameter, AWS refusing a call, or "
                "evaluations Config would not take. Its log group has one ERROR line saying which."
            ),
            metric=self.function.metric_errors(period=Duration.minutes(5), statistic="Sum"),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        failures = cloudwatch.Alarm(
            self,
            "FailedInvocationsAlarm",
            alarm_description=(
                "An invocation failed after Lambda's retries: its event waits in portguard's "
                "failure queue (kept 14 days) and the security group it named was not evaluated."
            ),
            metric=self.failure_queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic="Maximum"
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        for alarm in (errors, failures):
            alarm.add_alarm_action(action)
        return [errors, failures]

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
