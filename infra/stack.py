"""The portguard stack: one unit of deployment holding the rule, its function and, when asked,
the remediation that Config runs on non-compliant groups; in organization mode, the hub: the
organization rule, the StackSet of member roles and the organization aggregator."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aws_cdk import CfnOutput, Stack

from infra.organization import MemberRoleStackSet, OrganizationAggregator, member_role_template
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
            self.rule.deployment.node.add_dependency(self.recorder.delivery_channel)
        self.member_roles: MemberRoleStackSet | None = None
        self.aggregator: OrganizationAggregator | None = None
        if settings.organization is not None:
            template = member_role_template(
                settings.organization, context=self.node.get_all_context()
            )
            self.member_roles = MemberRoleStackSet(
                self,
                "MemberRoles",
                organization=settings.organization,
                hub_role=self.rule.role,
                template_body=json.dumps(template),
            )
            # The rule's first evaluations in the members need their roles.
            self.rule.deployment.node.add_dependency(self.member_roles.stack_set)
            self.aggregator = OrganizationAggregator(self, "Aggregator")

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
        if self.rule.organization_rule is not None:
            CfnOutput(
                self,
                "OrganizationRuleName",
                value=self.rule.organization_rule.ref,
                description="The AWS Config organization rule's name (each member account's "
                "rule is named OrgConfigRule-<this name>-<suffix>)",
            )
        if self.member_roles is not None:
            CfnOutput(
                self,
                "HubRoleArn",
                value=self.rule.role.role_arn,
                description="The hub function's role: the HubRoleArn parameter of the member "
                "role's stack in the management account",
            )
            CfnOutput(
                self,
                "MemberRoleStackSetId",
                value=self.member_roles.stack_set.ref,
                description="The StackSet that deploys the member role to the target OUs",
            )
        if self.aggregator is not None:
            CfnOutput(
                self,
                "AggregatorName",
                value=self.aggregator.aggregator.ref,
                description="The AWS Config aggregator over the organization: every member's "
                "results in one place",
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
