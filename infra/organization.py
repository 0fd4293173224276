"""What an organization deployment adds beside the hub function and its organization rule
(``portguard:deployAs=organization``).

- **The member role**, the only way the hub reports for a member account: it trusts exactly the
  hub function's role, from inside the organization, and allows exactly what the handler calls in
  a member account. It is one small template (:class:`MemberRoleStack`), deployed to the target
  organizational units by a service-managed StackSet (:class:`MemberRoleStackSet`), and also
  synthesized as a plain stack for the management account, which service-managed StackSets never
  reach.
- **An organization aggregator** (:class:`OrganizationAggregator`), so that every member's
  results are read in one place.

How the member template learns the hub role's ARN: a template parameter (``HubRoleArn``), which
the StackSet sets from the hub role's ``Arn``. Trusting a role by ARN pins its unique id when the
trust policy is written, so a hub role that is replaced would leave every member trusting a role
that is gone; passed as a parameter, a replaced role changes the StackSet's parameter and
CloudFormation updates every member's trust with it. A fixed, guessed role name would not (the
ARN would stay the same, and no update would run). The management account's plain stack takes the
same parameter, from the hub stack's ``HubRoleArn`` output.
"""

from __future__ import annotations

import tempfile
from typing import TYPE_CHECKING, Any

from aws_cdk import App, Aws, CfnParameter, LegacyStackSynthesizer, Stack
from aws_cdk import aws_cloudformation as cloudformation
from aws_cdk import aws_config as config
from aws_cdk import aws_iam as iam
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.recorder import CONFIG_PRINCIPAL, config_service_conditions
from infra.remediation import ROLE_ARN_PATTERN
from infra.rule import PREFIX_LISTS_ACKNOWLEDGEMENT, read_prefix_lists

if TYPE_CHECKING:
    from collections.abc import Mapping

    from infra.settings import Organization

HUB_ROLE_ARN_PARAMETER = "HubRoleArn"
MEMBER_ROLE_STACK_ID = "PortguardMemberRole"
AGGREGATOR_NAME = "portguard"

# How the StackSet rolls out to hundreds of accounts. Every account at once (StackSets throttles
# itself), and SOFT_FAILURE_TOLERANCE so that failures do not lower that concurrency (STRICT
# starts at the failure tolerance + 1 accounts at a time). Up to 10% of accounts may fail (a role
# of that name already there, an SCP refusing iam:CreateRole) without rolling back the whole
# deployment: those accounts show as failed in the StackSet, and the hub's invocations for them
# fail with the account and role named, raising the rule's alarms.
STACK_SET_MAX_CONCURRENT_PERCENTAGE = 100
STACK_SET_FAILURE_TOLERANCE_PERCENTAGE = 10
# An account that leaves the target OUs (or the organization) loses the member role: a role
# trusting an account it no longer belongs with is clutter at best. The hub could not use it
# anyway (it assumes roles only inside the organization).
RETAIN_MEMBER_ROLE_ON_ACCOUNT_REMOVAL = False


def member_role_statements(stack: Stack, *, every_region: bool) -> list[iam.PolicyStatement]:
    """Exactly what the handler calls in a member account, in the stack's region (the hub's: the
    organization rule and the StackSet are in the hub's region, and the management account's
    stack is deployed there too). With ``every_region`` (scan principals are trusted), reading
    security groups and prefix lists is allowed in every region, for ``portguard scan --org``;
    Config stays the hub's region's."""
    this_region = {"StringEquals": {"aws:RequestedRegion": stack.region}}
    return [
        iam.PolicyStatement(
            sid="ReportToConfig",
            # Neither action supports resource-level permissions: IAM requires "*".
            actions=["config:PutEvaluations", "config:GetResourceConfigHistory"],
            resources=["*"],
            conditions=this_region,
        ),
        iam.PolicyStatement(
            sid="ListSecurityGroups",
            # Describe actions do not support resource-level permissions.
            actions=["ec2:DescribeSecurityGroups"],
            resources=["*"],
            conditions=None if every_region else this_region,
        ),
        read_prefix_lists(stack, every_region=every_region),
    ]


class MemberRoleStack(Stack):
    """The member role, alone in its stack: the StackSet's template, and the plain stack for the
    management account (deploy it there with the hub stack's ``HubRoleArn`` output).

    Needs no CDK bootstrap: ``LegacyStackSynthesizer`` adds no bootstrap-version parameter or rule
    and names no CDK deploy role (``cdk deploy`` uses the caller's credentials and sends the small
    template inline), and the stack has no assets. It carries no CDK metadata resource either, so
    that its template is exactly what every member account runs. Exposes ``hub_role_arn`` (the
    parameter), ``role`` and ``policy``.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, organization: Organization, **kwargs: Any
    ) -> None:
        kwargs.setdefault(
            "description",
            "portguard: the role portguard's hub function assumes to report a member account's "
            "security groups to AWS Config",
        )
        super().__init__(
            scope,
            construct_id,
            # The management account is seldom CDK-bootstrapped, and should not need to be.
            synthesizer=LegacyStackSynthesizer(),
            analytics_reporting=False,
            **kwargs,
        )
        self.hub_role_arn = CfnParameter(
            self,
            HUB_ROLE_ARN_PARAMETER,
            type="String",
            allowed_pattern=ROLE_ARN_PATTERN,
            description="The ARN of portguard's hub function role (the hub stack's output "
            "HubRoleArn): the only principal this role trusts",
        )
        in_organization = {"StringEquals": {"aws:PrincipalOrgID": organization.organization_id}}
        self.role = iam.Role(
            self,
            "Role",
            role_name=organization.member_role_name,
            description="portguard: the hub function reports this account's security groups",
            # Exactly the hub's role, and only while it is in the organization.
            assumed_by=iam.ArnPrincipal(self.hub_role_arn.value_as_string).with_conditions(
                in_organization
            ),
        )
        if organization.scan_principals:
            # And the principals the operator named for `portguard scan --org`, likewise.
            self.role.assume_role_policy.add_statements(  # type: ignore[union-attr]
                iam.PolicyStatement(
                    sid="PortguardScan",
                    actions=["sts:AssumeRole"],
                    principals=[iam.ArnPrincipal(arn) for arn in organization.scan_principals],
                    conditions=in_organization,
                )
            )
        # A customer-managed policy, not an inline one: HIPAA's IAMNoInlinePolicy.
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            description="Exactly what portguard's handler calls in a member account",
            roles=[self.role],
            statements=member_role_statements(
                self, every_region=bool(organization.scan_principals)
            ),
        )
        every_region_lists = NagPackSuppression(
            id="AwsSolutions-IAM5",
            applies_to=["Resource::arn:<AWS::Partition>:ec2:*:*:prefix-list/*"],
            reason=(
                "portguard scan --org (the scan principals this role trusts) resolves the prefix "
                "lists of every region it reads; lists are owned by AWS or shared from other "
                "accounts, so the owner cannot be named. The action only reads list entries."
            ),
        )
        NagSuppressions.add_resource_suppressions(
            self.policy,
            [
                *([every_region_lists] if organization.scan_principals else []),
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    applies_to=["Resource::*"],
                    reason=(
                        "config:PutEvaluations, config:GetResourceConfigHistory and "
                        "ec2:DescribeSecurityGroups support no resource-level permissions: IAM "
                        "accepts only '*' for them. aws:RequestedRegion limits them to the hub's "
                        "region (reading security groups to every region when scan principals "
                        "are trusted: portguard scan --org reads every region)."
                    ),
                ),
                PREFIX_LISTS_ACKNOWLEDGEMENT,
            ],
        )


def member_role_template(
    organization: Organization, *, context: Mapping[str, Any]
) -> dict[str, Any]:
    """The template of :class:`MemberRoleStack`, synthesized on its own (in an app of its own,
    in a temporary directory, with ``context``'s feature flags) for the StackSet's TemplateBody.

    The app's own copy (the management account's stack) is the same class with the same
    settings, so both are the same template; the tests compare them.
    """
    with tempfile.TemporaryDirectory(prefix="portguard-member-role-") as outdir:
        # outdir given: CDK_OUTDIR (set by the CDK CLI for the app) must not be written here.
        app = App(context=dict(context), outdir=outdir, analytics_reporting=False)
        stack = MemberRoleStack(app, MEMBER_ROLE_STACK_ID, organization=organization)
        template: dict[str, Any] = app.synth().get_stack_artifact(stack.artifact_id).template
        return template


class MemberRoleStackSet(Construct):
    """The service-managed StackSet that deploys the member role to every account of the target
    organizational units, now and as accounts join, in one region (IAM is global).

    Exposes ``stack_set``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        organization: Organization,
        hub_role: iam.IRole,
        template_body: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.stack_set = cloudformation.CfnStackSet(
            self,
            "StackSet",
            stack_set_name=f"{Aws.STACK_NAME}-member-role",
            description="portguard: the member role its hub function assumes in each account",
            permission_model="SERVICE_MANAGED",
            # A delegated administrator must say so; the management account acts as itself.
            call_as=organization.stack_set_call_as,
            auto_deployment=cloudformation.CfnStackSet.AutoDeploymentProperty(
                enabled=True,
                retain_stacks_on_account_removal=RETAIN_MEMBER_ROLE_ON_ACCOUNT_REMOVAL,
            ),
            capabilities=["CAPABILITY_NAMED_IAM"],  # the role has a fixed name
            # Operations that do not conflict (an automatic deployment to a new account during
            # an update) run side by side; conflicting ones queue instead of failing.
            managed_execution={"Active": True},
            operation_preferences=cloudformation.CfnStackSet.OperationPreferencesProperty(
                concurrency_mode="SOFT_FAILURE_TOLERANCE",
                max_concurrent_percentage=STACK_SET_MAX_CONCURRENT_PERCENTAGE,
                failure_tolerance_percentage=STACK_SET_FAILURE_TOLERANCE_PERCENTAGE,
            ),
            parameters=[
                cloudformation.CfnStackSet.ParameterProperty(
                    parameter_key=HUB_ROLE_ARN_PARAMETER, parameter_value=hub_role.role_arn
                )
            ],
            stack_instances_group=[
                cloudformation.CfnStackSet.StackInstancesProperty(
                    deployment_targets=cloudformation.CfnStackSet.DeploymentTargetsProperty(
                        organizational_unit_ids=list(organization.targets)
                    ),
                    regions=[Aws.REGION],
                )
            ],
            template_body=template_body,
        )


class OrganizationAggregator(Construct):
    """A Config aggregator over the organization, all regions (present and future), and the role
    Config reads the organization's accounts with.

    Exposes ``aggregator``, ``role`` and ``policy``.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.role = iam.Role(
            self,
            "Role",
            description="portguard: lets AWS Config list the organization's accounts for the "
            "aggregator",
            # This account's Config in this region, as for the recorder's role.
            assumed_by=iam.ServicePrincipal(
                CONFIG_PRINCIPAL, conditions=config_service_conditions(stack)
            ),
        )
        # The actions of AWS's AWSConfigRoleForOrganizations (v2), written out: read-only
        # Organizations calls, none of which supports resource-level permissions.
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            description="Read the organization's accounts for portguard's Config aggregator",
            roles=[self.role],
            statements=[
                iam.PolicyStatement(
                    sid="ReadOrganization",
                    actions=[
                        "organizations:DescribeOrganization",
                        "organizations:ListAccounts",
                        "organizations:ListAWSServiceAccessForOrganization",
                        "organizations:ListDelegatedAdministrators",
                    ],
                    resources=["*"],
                )
            ],
        )
        self.aggregator = config.CfnConfigurationAggregator(
            self,
            "Aggregator",
            configuration_aggregator_name=AGGREGATOR_NAME,
            organization_aggregation_source=(
                config.CfnConfigurationAggregator.OrganizationAggregationSourceProperty(
                    role_arn=self.role.role_arn, all_aws_regions=True
                )
            ),
        )
        # Config lists the accounts as soon as the aggregator exists.
        self.aggregator.node.add_dependency(self.policy)
        NagSuppressions.add_resource_suppressions(
            self.policy,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    applies_to=["Resource::*"],
                    reason=(
                        "organizations:DescribeOrganization, ListAccounts, "
                        "ListAWSServiceAccessForOrganization and ListDelegatedAdministrators "
                        "support no resource-level permissions: IAM accepts only '*'. All four "
                        "only read."
                    ),
                ),
            ],
        )
