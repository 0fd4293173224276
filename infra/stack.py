"""The portguard stack: one unit of deployment holding the rule and its function."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_cdk import CfnOutput, Stack

from infra.rule import PortguardRule

if TYPE_CHECKING:
    from constructs import Construct

    from infra.settings import Settings


class PortguardStack(Stack):
    """Deploys the portguard Config rule. Environment-agnostic: no account or region lookups."""

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: Settings, **kwargs: Any
    ) -> None:
        kwargs.setdefault(
            "description",
            "portguard: AWS Config custom rule flagging security groups that open high-risk ports "
            "to the internet",
        )
        super().__init__(scope, construct_id, **kwargs)

        self.rule = PortguardRule(self, "Rule", parameters=settings.parameters)

        CfnOutput(
            self,
            "RuleName",
            value=self.rule.rule.config_rule_name,
            description="The AWS Config rule's name",
        )
        CfnOutput(
            self,
            "FunctionName",
            value=self.rule.function.function_name,
            description="The Lambda function that evaluates security groups",
        )
