"""The organization deployment (issue 12, "The deployment", items 1-6): the hub stack and the member
role's stack, property by property.

Every App gets cdk.json's context, as the CDK CLI would give it, plus the organization keys; each
variant synthesizes once per module, both stacks as ``app.py`` builds them. Logical ids are hashed:
resources are found by what they are, never by a typed id.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest
from aws_cdk import App
from aws_cdk.assertions import Match, Template

from infra.node_runtime import END_OF_LIFE_BANNER_VARIABLE
from infra.organization import MEMBER_ROLE_STACK_ID, MemberRoleStack
from infra.settings import ORGANIZATION_RESERVED_CONCURRENCY, Settings, cdk_json_context
from infra.stack import PortguardStack
from portguard.definition import (
    DEPLOYMENT_VARIABLE,
    DESCRIPTION,
    MEMBER_ROLE_NAME_VARIABLE,
    ORGANIZATION_DEPLOYMENT,
)
from portguard.parameters import parse_rule_parameters

if TYPE_CHECKING:
    from collections.abc import Mapping

pytestmark = pytest.mark.infra

REPO = Path(__file__).resolve().parents[2]
HANDLER = "portguard.handler.lambda_handler"

ORGANIZATION_ID = "o-a1b2c3d4e5"
OU = "ou-ab12-cd34ef56"
OTHER_OU = "ou-ab12-gh78ij90"
ORGANIZATION: Mapping[str, object] = {
    "portguard:deployAs": "organization",
    "portguard:organizationId": ORGANIZATION_ID,
    "portguard:organizationTargets": f"{OU},{OTHER_OU}",
}
# Every organization option away from its default, as `cdk synth -c key=value` passes them.
TUNED: Mapping[str, object] = {
    **ORGANIZATION,
    "portguard:memberRoleName": "audit-portguard",
    "portguard:excludedAccounts": "111122223333,444455556666",
    "portguard:deployFrom": "management-account",
    "portguard:schedule": "Six_Hours",
    "portguard:blockedPorts": "cis",
    "portguard:reservedConcurrency": "25",
}

# What the pseudo parameters resolve to in one region of the hub's account.
PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": "eu-west-1",
    "AWS::AccountId": "999988887777",
    "AWS::StackName": "Portguard",
}

# Exactly what the handler calls in a member account (issue 12, item 4).
MEMBER_ACTIONS = frozenset(
    {
        "config:PutEvaluations",
        "config:GetResourceConfigHistory",
        "ec2:DescribeSecurityGroups",
        "ec2:GetManagedPrefixListEntries",
    }
)


class Synthesized(NamedTuple):
    hub: dict[str, Any]
    member: dict[str, Any]
    settings: Settings

    @property
    def hub_template(self) -> Template:
        return Template.from_json(self.hub)

    @property
    def member_template(self) -> Template:
        return Template.from_json(self.member)


def synthesize(outdir: Path, context: Mapping[str, object]) -> Synthesized:
    """Both stacks, as app.py builds them."""
    app = App(context={**cdk_json_context(), **context}, outdir=str(outdir))
    settings = Settings.from_context(app)
    PortguardStack(app, "Portguard", settings=settings)
    if settings.organization is not None:
        MemberRoleStack(app, MEMBER_ROLE_STACK_ID, organization=settings.organization)
    directory = Path(app.synth().directory)
    member = directory / f"{MEMBER_ROLE_STACK_ID}.template.json"
    return Synthesized(
        json.loads((directory / "Portguard.template.json").read_text()),
        json.loads(member.read_text()) if member.exists() else {},
        settings,
    )


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("organization"), ORGANIZATION)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("tuned"), TUNED)


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The single-account stack, to compare the hub with."""
    return synthesize(tmp_path_factory.mktemp("rule"), {})


def resources_of(body: Mapping[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {i: r for i, r in body["Resources"].items() if r["Type"] == resource_type}


def only(body: Mapping[str, Any], resource_type: str) -> tuple[str, dict[str, Any]]:
    found = resources_of(body, resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {list(found)}"
    return next(iter(found.items()))


def get_att(logical_id: str, attribute: str = "Arn") -> dict[str, list[str]]:
    return {"Fn::GetAtt": [logical_id, attribute]}


def evaluate(value: object) -> str:
    """A string-valued intrinsic of pseudo parameters (Ref, Fn::Join), as CloudFormation would
    resolve it in PSEUDO's region and account."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and list(value) == ["Ref"] and value["Ref"] in PSEUDO:
        return PSEUDO[value["Ref"]]
    if isinstance(value, dict) and list(value) == ["Fn::Join"]:
        separator, parts = value["Fn::Join"]
        return str(separator).join(evaluate(part) for part in parts)
    raise AssertionError(f"cannot evaluate {value!r}")


def as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else [value]


def hub_function(synthesized: Synthesized) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (i, r)
        for i, r in resources_of(synthesized.hub, "AWS::Lambda::Function").items()
        if r["Properties"]["Handler"] == HANDLER
    ]
    return found


def hub_role_id(synthesized: Synthesized) -> str:
    _, function = hub_function(synthesized)
    role = function["Properties"]["Role"]["Fn::GetAtt"]
    assert role[1] == "Arn"
    return str(role[0])


def hub_policy(synthesized: Synthesized) -> dict[str, Any]:
    role_id = hub_role_id(synthesized)
    (policy,) = [
        p
        for p in resources_of(synthesized.hub, "AWS::IAM::ManagedPolicy").values()
        if {"Ref": role_id} in p["Properties"].get("Roles", [])
    ]
    return policy


def statements(policy: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(policy["Properties"]["PolicyDocument"]["Statement"])


# --- 1. The hub function ------------------------------------------------------------------------


def test_the_hub_is_the_single_account_function_same_package_and_handler(
    org: Synthesized, single: Synthesized
) -> None:
    _, hub = hub_function(org)
    _, alone = hub_function(single)
    for name in ("Handler", "Runtime", "Architectures", "Code", "Layers", "MemorySize", "Timeout"):
        assert hub["Properties"][name] == alone["Properties"][name], name
    assert len(resources_of(org.hub, "AWS::Lambda::Function")) == 1


def test_the_hub_is_told_it_reports_for_an_organization_and_which_role_to_assume(
    org: Synthesized, tuned: Synthesized, single: Synthesized
) -> None:
    def variables(synthesized: Synthesized) -> dict[str, str]:
        _, function = hub_function(synthesized)
        return dict(function["Properties"]["Environment"]["Variables"])

    assert variables(org) == {
        **variables(single),
        DEPLOYMENT_VARIABLE: ORGANIZATION_DEPLOYMENT,
        MEMBER_ROLE_NAME_VARIABLE: "portguard-member",
    }
    assert variables(tuned)[MEMBER_ROLE_NAME_VARIABLE] == "audit-portguard"
    assert DEPLOYMENT_VARIABLE not in variables(single)


def test_the_hub_keeps_the_single_account_functions_guards(
    org: Synthesized, single: Synthesized
) -> None:
    # Log group, failure queue, topic, key, alarms and the failure destination: the same
    # resources as a single account's, with the same properties.
    def properties(synthesized: Synthesized, resource_type: str) -> dict[str, Any]:
        return {i: r["Properties"] for i, r in resources_of(synthesized.hub, resource_type).items()}

    for resource_type in (
        "AWS::Logs::LogGroup",
        "AWS::SQS::Queue",
        "AWS::SNS::Topic",
        "AWS::KMS::Key",
        "AWS::CloudWatch::Alarm",
        "AWS::Lambda::EventInvokeConfig",
    ):
        assert properties(org, resource_type) == properties(single, resource_type), resource_type
        assert properties(org, resource_type), resource_type


def test_the_hub_role_adds_only_the_member_role_to_the_single_account_policy(
    org: Synthesized, single: Synthesized
) -> None:
    added = [s for s in statements(hub_policy(org)) if s not in statements(hub_policy(single))]
    assert [s["Sid"] for s in added] == ["AssumeMemberRoles"]
    assert len(statements(hub_policy(org))) == len(statements(hub_policy(single))) + 1


@pytest.mark.parametrize(
    ("variant", "role_name"), [("org", "portguard-member"), ("tuned", "audit-portguard")]
)
def test_the_hub_may_assume_only_the_member_role_and_only_inside_the_organization(
    variant: str, role_name: str, request: pytest.FixtureRequest
) -> None:
    synthesized: Synthesized = request.getfixturevalue(variant)
    (assume,) = [s for s in statements(hub_policy(synthesized)) if s["Sid"] == "AssumeMemberRoles"]
    assert as_list(assume["Action"]) == ["sts:AssumeRole"]
    assert [evaluate(r) for r in as_list(assume["Resource"])] == [
        f"arn:aws:iam::*:role/{role_name}"
    ]
    assert assume["Condition"] == {"StringEquals": {"aws:ResourceOrgID": ORGANIZATION_ID}}
    # No other statement of any policy in the hub stack lets anything assume a role.
    everywhere = [
        statement
        for policy in resources_of(synthesized.hub, "AWS::IAM::ManagedPolicy").values()
        for statement in statements(policy)
        if any(str(a).startswith("sts:") for a in as_list(statement["Action"]))
    ]
    assert everywhere == [assume]


def test_the_hubs_role_is_still_assumed_by_lambda_only(org: Synthesized) -> None:
    role = org.hub["Resources"][hub_role_id(org)]
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert "ManagedPolicyArns" not in role["Properties"]
    assert "Policies" not in role["Properties"]


# --- 2. The organization rule -------------------------------------------------------------------


def organization_rule(synthesized: Synthesized) -> tuple[str, dict[str, Any]]:
    return only(synthesized.hub, "AWS::Config::OrganizationConfigRule")


def test_the_organization_rule_is_a_custom_lambda_rule_on_the_hub(org: Synthesized) -> None:
    function_id, _ = hub_function(org)
    _, rule = organization_rule(org)
    properties = rule["Properties"]
    assert properties["OrganizationConfigRuleName"] == "portguard"
    metadata = properties["OrganizationCustomRuleMetadata"]
    assert metadata["LambdaFunctionArn"] == get_att(function_id)
    assert metadata["Description"] == DESCRIPTION
    assert metadata["ResourceTypesScope"] == ["AWS::EC2::SecurityGroup"]
    assert sorted(metadata["OrganizationConfigRuleTriggerTypes"]) == [
        "ConfigurationItemChangeNotification",
        "OversizedConfigurationItemChangeNotification",
        "ScheduledNotification",
    ]
    assert metadata["MaximumExecutionFrequency"] == "TwentyFour_Hours"
    assert "ExcludedAccounts" not in properties


def test_the_organization_rule_takes_the_schedule_parameters_and_exclusions_from_context(
    tuned: Synthesized,
) -> None:
    _, rule = organization_rule(tuned)
    metadata = rule["Properties"]["OrganizationCustomRuleMetadata"]
    assert metadata["MaximumExecutionFrequency"] == "Six_Hours"
    assert json.loads(metadata["InputParameters"]) == {
        **parse_rule_parameters(None).as_input_parameters(),
        "blockedPorts": "22,3389",
    }
    assert rule["Properties"]["ExcludedAccounts"] == ["111122223333", "444455556666"]


@pytest.mark.parametrize("variant", ["org", "tuned"])
def test_the_organization_rules_parameters_are_the_rules_and_fit_configs_limit(
    variant: str, request: pytest.FixtureRequest
) -> None:
    synthesized: Synthesized = request.getfixturevalue(variant)
    _, rule = organization_rule(synthesized)
    text = rule["Properties"]["OrganizationCustomRuleMetadata"]["InputParameters"]
    assert isinstance(text, str)  # a JSON string, not an object
    assert 0 < len(text) <= 1024
    assert json.loads(text) == synthesized.settings.parameters.as_input_parameters()
    # The member role's name is deployment configuration, never a rule parameter.
    assert "portguard-member" not in text
    assert "audit-portguard" not in text


def test_organization_mode_deploys_no_standalone_rule_and_no_pack(org: Synthesized) -> None:
    assert resources_of(org.hub, "AWS::Config::ConfigRule") == {}
    assert resources_of(org.hub, "AWS::Config::ConformancePack") == {}
    assert "RuleName" not in org.hub["Outputs"]


def test_the_organization_rule_waits_for_the_invoke_permission_and_the_member_roles(
    org: Synthesized,
) -> None:
    permission_id, _ = only(org.hub, "AWS::Lambda::Permission")
    stack_set_id, _ = only(org.hub, "AWS::CloudFormation::StackSet")
    _, rule = organization_rule(org)
    assert {permission_id, stack_set_id} <= set(rule["DependsOn"])


def test_the_heartbeat_is_created_after_the_organization_rule(org: Synthesized) -> None:
    rule_id, _ = organization_rule(org)
    (heartbeat,) = [
        a
        for a in resources_of(org.hub, "AWS::CloudWatch::Alarm").values()
        if a["Properties"]["ComparisonOperator"] == "LessThanThreshold"
    ]
    assert rule_id in heartbeat["DependsOn"]


# --- 3. Config's permission to invoke the hub, and the cost cap -------------------------------


def test_config_may_invoke_the_hub_on_behalf_of_any_member_account(org: Synthesized) -> None:
    # Invocations carry the member's account and rule as their source: binding the permission to
    # the hub's account would refuse every member. What limits a foreign caller is the role
    # chain (above and below) and the reserved concurrency (next test).
    function_id, _ = hub_function(org)
    _, permission = only(org.hub, "AWS::Lambda::Permission")
    assert permission["Properties"] == {
        "Action": "lambda:InvokeFunction",
        "FunctionName": get_att(function_id),
        "Principal": "config.amazonaws.com",
    }


@pytest.mark.parametrize(
    ("variant", "concurrency"), [("org", ORGANIZATION_RESERVED_CONCURRENCY), ("tuned", 25)]
)
def test_reserved_concurrency_caps_what_the_hub_can_cost(
    variant: str, concurrency: int, request: pytest.FixtureRequest
) -> None:
    synthesized: Synthesized = request.getfixturevalue(variant)
    _, function = hub_function(synthesized)
    assert function["Properties"]["ReservedConcurrentExecutions"] == concurrency


# --- 4. The member role: its template, the StackSet, the management account's stack -----------


def member_role(synthesized: Synthesized) -> tuple[str, dict[str, Any]]:
    return only(synthesized.member, "AWS::IAM::Role")


@pytest.mark.parametrize(
    ("variant", "role_name"), [("org", "portguard-member"), ("tuned", "audit-portguard")]
)
def test_the_member_role_trusts_exactly_the_hub_role_from_inside_the_organization(
    variant: str, role_name: str, request: pytest.FixtureRequest
) -> None:
    synthesized: Synthesized = request.getfixturevalue(variant)
    _, role = member_role(synthesized)
    assert role["Properties"]["RoleName"] == role_name
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == {
        "Action": "sts:AssumeRole",
        "Effect": "Allow",
        "Principal": {"AWS": {"Ref": "HubRoleArn"}},
        "Condition": {"StringEquals": {"aws:PrincipalOrgID": ORGANIZATION_ID}},
    }


def test_the_member_role_allows_exactly_what_the_handler_calls_in_a_member(
    org: Synthesized,
) -> None:
    role_id, role = member_role(org)
    assert "ManagedPolicyArns" not in role["Properties"]  # no AWS managed policy
    assert "Policies" not in role["Properties"]  # no inline policy
    (policy,) = resources_of(org.member, "AWS::IAM::ManagedPolicy").values()
    assert policy["Properties"]["Roles"] == [{"Ref": role_id}]
    found = statements(policy)
    assert {a for s in found for a in as_list(s["Action"])} == MEMBER_ACTIONS
    assert all(s["Effect"] == "Allow" for s in found)
    grants = {
        action: ([evaluate(r) for r in as_list(s["Resource"])], s.get("Condition"))
        for s in found
        for action in as_list(s["Action"])
    }
    in_region = {"StringEquals": {"aws:RequestedRegion": {"Ref": "AWS::Region"}}}
    assert grants == {
        "config:PutEvaluations": (["*"], in_region),
        "config:GetResourceConfigHistory": (["*"], in_region),
        "ec2:DescribeSecurityGroups": (["*"], in_region),
        "ec2:GetManagedPrefixListEntries": (["arn:aws:ec2:eu-west-1:*:prefix-list/*"], None),
    }


def test_the_member_template_is_the_role_and_its_policy_only(org: Synthesized) -> None:
    assert sorted(r["Type"] for r in org.member["Resources"].values()) == [
        "AWS::IAM::ManagedPolicy",
        "AWS::IAM::Role",
    ]
    # Deployable anywhere without the CDK: no bootstrap version check, no CDK metadata.
    assert list(org.member["Parameters"]) == ["HubRoleArn"]
    assert "Rules" not in org.member
    assert "Conditions" not in org.member


@pytest.mark.parametrize(
    ("arn", "accepted"),
    [
        ("arn:aws:iam::999988887777:role/Portguard-RuleRole14E80175-AbCdEf123456", True),
        ("arn:aws-cn:iam::999988887777:role/Portguard-RuleRole-X", True),
        ("arn:aws:iam::999988887777:user/someone", False),
        ("999988887777", False),
        ("arn:aws:iam::*:role/Portguard-RuleRole-X", False),
    ],
)
def test_the_hub_role_parameter_accepts_only_a_role_arn(
    org: Synthesized, arn: str, accepted: bool
) -> None:
    pattern = org.member["Parameters"]["HubRoleArn"]["AllowedPattern"]
    assert (re.fullmatch(pattern, arn) is not None) == accepted


def stack_set(synthesized: Synthesized) -> dict[str, Any]:
    return only(synthesized.hub, "AWS::CloudFormation::StackSet")[1]["Properties"]


def test_the_stack_set_deploys_the_member_template(org: Synthesized) -> None:
    # The StackSet's template is the management account's stack, to the byte once parsed.
    assert json.loads(stack_set(org)["TemplateBody"]) == org.member


def test_the_stack_set_gives_the_member_template_the_hub_roles_arn(org: Synthesized) -> None:
    assert stack_set(org)["Parameters"] == [
        {"ParameterKey": "HubRoleArn", "ParameterValue": get_att(hub_role_id(org))}
    ]
    org.hub_template.has_output("HubRoleArn", {"Value": get_att(hub_role_id(org))})


@pytest.mark.parametrize(("variant", "call_as"), [("org", "DELEGATED_ADMIN"), ("tuned", "SELF")])
def test_the_stack_set_is_service_managed_and_follows_the_target_ous(
    variant: str, call_as: str, request: pytest.FixtureRequest
) -> None:
    properties = stack_set(request.getfixturevalue(variant))
    assert properties["PermissionModel"] == "SERVICE_MANAGED"
    assert properties["CallAs"] == call_as
    # New accounts of the OUs get the role; an account that leaves loses it.
    assert properties["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": False}
    # One region: IAM is global. The hub's region.
    assert properties["StackInstancesGroup"] == [
        {
            "DeploymentTargets": {"OrganizationalUnitIds": [OU, OTHER_OU]},
            "Regions": [{"Ref": "AWS::Region"}],
        }
    ]
    assert properties["Capabilities"] == ["CAPABILITY_NAMED_IAM"]
    assert evaluate(properties["StackSetName"]) == "Portguard-member-role"


def test_the_stack_set_rolls_out_to_every_account_at_once_and_tolerates_a_few_failures(
    org: Synthesized,
) -> None:
    assert stack_set(org)["OperationPreferences"] == {
        "ConcurrencyMode": "SOFT_FAILURE_TOLERANCE",
        "MaxConcurrentPercentage": 100,
        "FailureTolerancePercentage": 10,
    }
    assert stack_set(org)["ManagedExecution"] == {"Active": True}


def test_single_account_modes_deploy_nothing_for_an_organization(single: Synthesized) -> None:
    for resource_type in (
        "AWS::Config::OrganizationConfigRule",
        "AWS::CloudFormation::StackSet",
        "AWS::Config::ConfigurationAggregator",
    ):
        assert resources_of(single.hub, resource_type) == {}, resource_type
    assert single.member == {}


# --- 5. The organization aggregator -----------------------------------------------------------


def test_the_aggregator_covers_the_organization_in_every_region(org: Synthesized) -> None:
    aggregator_id, aggregator = only(org.hub, "AWS::Config::ConfigurationAggregator")
    source = aggregator["Properties"]["OrganizationAggregationSource"]
    assert source["AllAwsRegions"] is True
    assert "AwsRegions" not in source
    assert "AccountAggregationSources" not in aggregator["Properties"]
    assert aggregator["Properties"]["ConfigurationAggregatorName"] == "portguard"
    org.hub_template.has_output("AggregatorName", {"Value": {"Ref": aggregator_id}})


def test_the_aggregators_role_is_config_of_this_account_reading_the_organization(
    org: Synthesized,
) -> None:
    _, aggregator = only(org.hub, "AWS::Config::ConfigurationAggregator")
    role_id = aggregator["Properties"]["OrganizationAggregationSource"]["RoleArn"]["Fn::GetAtt"][0]
    role = org.hub["Resources"][role_id]
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "config.amazonaws.com"}
    assert evaluate(trust["Condition"]["StringEquals"]["aws:SourceAccount"]) == "999988887777"
    source_arn = evaluate(trust["Condition"]["ArnLike"]["aws:SourceArn"])
    assert source_arn == "arn:aws:config:eu-west-1:999988887777:*"
    assert fnmatch.fnmatchcase(
        "arn:aws:config:eu-west-1:999988887777:config-aggregator/config-aggregator-ab12cd34",
        source_arn,
    )
    assert "ManagedPolicyArns" not in role["Properties"]
    (policy_id, policy) = next(
        (i, p)
        for i, p in resources_of(org.hub, "AWS::IAM::ManagedPolicy").items()
        if {"Ref": role_id} in p["Properties"]["Roles"]
    )
    (statement,) = statements(policy)
    assert sorted(statement["Action"]) == [
        "organizations:DescribeOrganization",
        "organizations:ListAWSServiceAccessForOrganization",
        "organizations:ListAccounts",
        "organizations:ListDelegatedAdministrators",
    ]
    assert statement["Resource"] == "*"
    assert policy_id in aggregator["DependsOn"]


def test_outputs_name_the_organization_rule_the_stack_set_and_the_aggregator(
    org: Synthesized,
) -> None:
    rule_id, _ = organization_rule(org)
    stack_set_id, _ = only(org.hub, "AWS::CloudFormation::StackSet")
    org.hub_template.has_output("OrganizationRuleName", {"Value": {"Ref": rule_id}})
    org.hub_template.has_output("MemberRoleStackSetId", {"Value": {"Ref": stack_set_id}})
    org.hub_template.has_output("FunctionName", Match.any_value())


# --- 6. `cdk synth` in organization mode, offline, with clean gates ---------------------------


def test_app_py_synthesizes_both_stacks_offline_with_clean_gates(tmp_path: Path) -> None:
    # As `cdk synth -c portguard:deployAs=organization -c portguard:organizationId=... -c
    # portguard:organizationTargets=...` runs it: the CLI passes -c in the environment, as
    # strings. No credentials and no network: the default region and account stay unresolved.
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "CDK_CONTEXT_JSON": json.dumps({k: str(v) for k, v in ORGANIZATION.items()}),
        "CDK_OUTDIR": str(tmp_path),
    }
    env.pop(END_OF_LIFE_BANNER_VARIABLE, None)
    result = subprocess.run(  # noqa: S603 - fixed argv, our own app
        [sys.executable, str(REPO / "app.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    stacks = {
        name
        for name, artifact in manifest["artifacts"].items()
        if artifact["type"] == "aws:cloudformation:stack"
    }
    assert stacks == {"Portguard", MEMBER_ROLE_STACK_ID}
    # cdk-nag's findings are annotations: an error fails the synth (above), and no warning or
    # error is left on either stack.
    findings = [
        (path, entry["data"])
        for artifact in manifest["artifacts"].values()
        for path, entries in (artifact.get("metadata") or {}).items()
        for entry in entries
        if entry["type"] in ("aws:cdk:warning", "aws:cdk:error")
    ]
    assert findings == []
    for stack in stacks:
        assert (tmp_path / f"{stack}.template.json").exists()
    assert "end-of-life" not in result.stderr
    # The management account's stack deploys with the caller's credentials and its template
    # inline: no CDK deploy role, bootstrap version or template bucket to look for there.
    member = manifest["artifacts"][MEMBER_ROLE_STACK_ID]["properties"]
    assert not {
        "assumeRoleArn",
        "requiresBootstrapStackVersion",
        "stackTemplateAssetObjectUrl",
    } & set(member)


SCANNER = "arn:aws:iam::999988887777:role/security-audit"
SCAN: Mapping[str, object] = {**ORGANIZATION, "portguard:scanPrincipals": SCANNER}


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("scan"), SCAN)


def test_named_scan_principals_may_assume_the_member_role_from_inside_the_organization(
    scan: Synthesized,
) -> None:
    _, role = member_role(scan)
    hub, scanners = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    in_organization = {"StringEquals": {"aws:PrincipalOrgID": ORGANIZATION_ID}}
    assert hub["Principal"] == {"AWS": {"Ref": "HubRoleArn"}}
    assert hub["Condition"] == in_organization
    assert scanners == {
        "Sid": "PortguardScan",
        "Action": "sts:AssumeRole",
        "Effect": "Allow",
        "Principal": {"AWS": SCANNER},
        "Condition": in_organization,
    }


def test_with_scan_principals_security_groups_are_read_in_every_region(
    scan: Synthesized,
) -> None:
    (policy,) = resources_of(scan.member, "AWS::IAM::ManagedPolicy").values()
    found = statements(policy)
    assert {a for s in found for a in as_list(s["Action"])} == MEMBER_ACTIONS
    grants = {
        action: ([evaluate(r) for r in as_list(s["Resource"])], s.get("Condition"))
        for s in found
        for action in as_list(s["Action"])
    }
    in_region = {"StringEquals": {"aws:RequestedRegion": {"Ref": "AWS::Region"}}}
    assert grants == {
        # Config stays the hub's region's: only the hub reports.
        "config:PutEvaluations": (["*"], in_region),
        "config:GetResourceConfigHistory": (["*"], in_region),
        "ec2:DescribeSecurityGroups": (["*"], None),
        "ec2:GetManagedPrefixListEntries": (["arn:aws:ec2:*:*:prefix-list/*"], None),
    }
    # The StackSet deploys this very template.
    assert json.loads(stack_set(scan)["TemplateBody"]) == scan.member
