"""The portguard stack: one unit of deployment holding the rule, its function and, when asked,
the remediation that Config runs on non-compliant groups."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_cdk import CfnOutput, Stack

from infra.recorder import ConfigRecorder
from infra.remediation import PortguardRemediation
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

        self.rule = PortguardRule(self, "Rule", settings=settings)
        self.remediation: PortguardRemediation | None = None
        if settings.remediation != "off":
            self.remediation = PortguardRemediation(
                self, "Remediation", settings=settings, rule=self.rule
            )
        self.recorder: ConfigRecorder | None = None
        if settings.create_recorder:
            # Sharing the rule's key: one key encrypts everything portguard keeps.
            self.recorder = ConfigRecorder(self, "ConfigRecorder", encryption_key=self.rule.key)
            # Config rules and packs need a recorder, and CloudFormation starts it only once
            # the delivery channel exists.
            deployed = self.rule.rule or self.rule.conformance_pack
            if deployed is not None:
                deployed.node.add_dependency(self.recorder.delivery_channel)

        if self.rule.rule is not None:
            CfnOutput(
                self, "RuleName", value=self.rule.rule.ref, description="The AWS Config rule's name"
            )
        if self.rule.conformance_pack is not None:
            CfnOutput(
                self,
                "ConformancePackName",
                value=self.rule.conformance_pack.ref,
                description="The AWS Config conformance pack holding the rule",
            )
        CfnOutput(
            self,
            "LogGroupName",
            value=self.rule.log_group.log_group_name,
            description="The function's logs: one ERROR line per failure",
        )
        CfnOutput(
            self,
            "AlarmTopicArn",
            value=self.rule.alarm_topic.topic_arn,
            description=(
                "Where portguard's alarms notify: subscribe to it, or set portguard:alarmEmail"
            ),
        )
        CfnOutput(
            self,
            "FailedInvocationsQueueUrl",
            value=self.rule.failure_queue.queue_url,
            description="Events whose evaluation failed after Lambda's retries",
        )
        CfnOutput(
            self,
            "FunctionName",
            value=self.rule.function.function_name,
            description="The Lambda function that evaluates security groups",
        )
        if self.remediation is not None:
            CfnOutput(
                self,
                "RemediationDocumentName",
                value=self.remediation.document.ref,
                description="The SSM Automation document Config runs to remediate a group; each "
                "execution's output is its rollback document, for portguard restore",
            )
            CfnOutput(
                self,
                "RemediationLogGroupName",
                value=self.remediation.log_group.log_group_name,
                description="The remediation function's logs: each group's rollback document, "
                "written before its first change",
            )
