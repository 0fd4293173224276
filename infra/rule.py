"""The portguard rule: its Lambda function and the AWS Config custom rule that invokes it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from aws_cdk import Duration, Stack
from aws_cdk import aws_config as config
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

if TYPE_CHECKING:
    from portguard.parameters import RuleParameters

# The Lambda asset root: `lambda/` holds the `portguard` package (and nothing else is shipped).
LAMBDA_ROOT = Path(__file__).resolve().parent.parent / "lambda"
ASSET_EXCLUDE = ("__pycache__", "*.pyc")

HANDLER = "portguard.handler.lambda_handler"
SERVICE_NAME = "portguard"

# Public Powertools for AWS Lambda (Python) layer, published by AWS in every commercial region under
# this account. Version 27 is Powertools 3.x for python3.13/arm64; raise it deliberately, together
# with the `aws-lambda-powertools` pin in pyproject.toml that the tests run against.
# (China and GovCloud regions publish it under other accounts: not supported here yet.)
POWERTOOLS_LAYER_ACCOUNT = "017000801446"
POWERTOOLS_LAYER_NAME = "AWSLambdaPowertoolsPythonV3-python313-arm64"
POWERTOOLS_LAYER_VERSION = 27

# Provisional sizing: the benchmark (bench/) will set memory and timeout from measured runs.
MEMORY_MB = 256
TIMEOUT = Duration.minutes(5)


class PortguardRule(Construct):
    """The Lambda function that decides, and the Config rule that calls it for security groups.

    Exposes ``function`` and ``rule``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        parameters: RuleParameters,
        maximum_execution_frequency: config.MaximumExecutionFrequency = (
            config.MaximumExecutionFrequency.TWENTY_FOUR_HOURS
        ),
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)

        powertools = lambda_.LayerVersion.from_layer_version_arn(
            self,
            "PowertoolsLayer",
            f"arn:{stack.partition}:lambda:{stack.region}:{POWERTOOLS_LAYER_ACCOUNT}:layer:"
            f"{POWERTOOLS_LAYER_NAME}:{POWERTOOLS_LAYER_VERSION}",
        )

        self.function = lambda_.Function(
            self,
            "Function",
            description="portguard: flags security groups open to the internet on high-risk ports",
            runtime=lambda_.Runtime.PYTHON_3_13,
            architecture=lambda_.Architecture.ARM_64,
            handler=HANDLER,
            code=lambda_.Code.from_asset(str(LAMBDA_ROOT), exclude=list(ASSET_EXCLUDE)),
            layers=[powertools],
            memory_size=MEMORY_MB,
            timeout=TIMEOUT,
            environment={
                "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
                "POWERTOOLS_METRICS_NAMESPACE": SERVICE_NAME,
                "LOG_LEVEL": "INFO",
            },
        )
        # What the handler calls beyond Config (CustomRule grants Config access, see below):
        # the scheduled run lists every group, and prefix lists are resolved to their CIDRs. Without
        # the second, every referenced prefix list would fail closed as the whole internet.
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ec2:DescribeSecurityGroups", "ec2:GetManagedPrefixListEntries"],
                resources=["*"],
            )
        )

        # CustomRule also adds the Lambda permission for config.amazonaws.com and attaches the
        # managed policy service-role/AWSConfigRulesExecutionRole to the function's role.
        self.rule = config.CustomRule(
            self,
            "Rule",
            lambda_function=self.function,
            configuration_changes=True,
            periodic=True,
            maximum_execution_frequency=maximum_execution_frequency,
            rule_scope=config.RuleScope.from_resources([config.ResourceType.EC2_SECURITY_GROUP]),
            input_parameters=parameters.as_input_parameters(),
            description=(
                "Flags security groups that open high-risk ports to the whole internet "
                "(IPv4 or IPv6, across split CIDRs and managed prefix lists)."
            ),
        )
