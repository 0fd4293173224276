"""Remediation in the Config console (issue 5, part 3): the synthesized stack with
``portguard:remediation`` off (the default), ``manual`` and ``automatic``, in both deploy modes.

Every App gets cdk.json's context, as the CDK CLI would give it, plus the overrides a test names;
each variant synthesizes once per module. Logical ids are hashed: resources are found by what they
are (a function by its handler, a role by who may assume it), never by a typed id.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest
from aws_cdk import App, Stack

from infra.remediation import (
    FAIL_SCRIPT,
    MAXIMUM_AUTOMATIC_ATTEMPTS,
    RETRY_ATTEMPT_SECONDS,
    PortguardRemediation,
    remediation_configuration_properties,
)
from infra.rule import PortguardRule
from infra.settings import Settings, cdk_json_context
from infra.stack import PortguardStack
from portguard.parameters import parse_rule_parameters

if TYPE_CHECKING:
    from collections.abc import Mapping

pytestmark = pytest.mark.infra

RULE_HANDLER = "portguard.handler.lambda_handler"
REMEDIATION_HANDLER = "portguard.remediation_handler.lambda_handler"
STACK_UUID = "1c2fa620-982a-11e3-aff7-50e2416294e0"
PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": "eu-west-1",
    "AWS::AccountId": "111122223333",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "Portguard",
    "AWS::StackId": f"arn:aws:cloudformation:eu-west-1:111122223333:stack/Portguard/{STACK_UUID}",
}
PACK: Mapping[str, object] = {"portguard:deployAs": "conformance-pack"}
MANUAL: Mapping[str, object] = {"portguard:remediation": "manual"}
# Automatic, with parameters and retention away from their defaults: the remediation function
# must follow them.
AUTOMATIC: Mapping[str, object] = {
    "portguard:remediation": "automatic",
    "portguard:blockedPorts": "cis, 8000-8100",
    "portguard:protocolType": "tcp",
    "portguard:exemptTagKey": "portguard:exempt",
    "portguard:logRetentionDays": "30",
}

# What the remediation handler calls, each on the narrowest resource IAM allows.
REMEDIATION_GRANTS = {
    "ec2:DescribeSecurityGroups": ["*"],
    "ec2:DescribeManagedPrefixLists": ["*"],
    "ec2:AuthorizeSecurityGroupIngress": ["arn:aws:ec2:eu-west-1:111122223333:security-group/*"],
    "ec2:RevokeSecurityGroupIngress": ["arn:aws:ec2:eu-west-1:111122223333:security-group/*"],
    "ec2:GetManagedPrefixListEntries": ["arn:aws:ec2:eu-west-1:*:prefix-list/*"],
    "servicequotas:GetServiceQuota": ["*"],
}


class Synthesized(NamedTuple):
    body: dict[str, Any]
    settings: Settings


def synthesize(outdir: Path, **overrides: object) -> Synthesized:
    app = App(context={**cdk_json_context(), **overrides}, outdir=str(outdir))
    settings = Settings.from_context(app)
    PortguardStack(app, "Portguard", settings=settings)
    directory = Path(app.synth().directory)
    return Synthesized(json.loads((directory / "Portguard.template.json").read_text()), settings)


@pytest.fixture(scope="module")
def off(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("off"))


@pytest.fixture(scope="module")
def off_pack(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("off-pack"), **PACK)


@pytest.fixture(scope="module")
def manual(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("manual"), **MANUAL)


@pytest.fixture(scope="module")
def manual_pack(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("manual-pack"), **MANUAL, **PACK)


@pytest.fixture(scope="module")
def automatic(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("automatic"), **AUTOMATIC)


@pytest.fixture(scope="module")
def automatic_pack(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("automatic-pack"), **AUTOMATIC, **PACK)


REMEDIATED = ["manual", "manual_pack", "automatic", "automatic_pack"]


@pytest.fixture(params=REMEDIATED)
def remediated(request: pytest.FixtureRequest) -> Synthesized:
    """Each variant that deploys remediation."""
    synthesized: Synthesized = request.getfixturevalue(request.param)
    return synthesized


# --- Helpers ------------------------------------------------------------------------------------


def resources_of(body: Mapping[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {i: r for i, r in body["Resources"].items() if r["Type"] == resource_type}


def only(found: Mapping[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    assert len(found) == 1, f"expected one, found {sorted(found)}"
    return next(iter(found.items()))


def only_resource(body: Mapping[str, Any], resource_type: str) -> tuple[str, dict[str, Any]]:
    return only(resources_of(body, resource_type))


def function(body: Mapping[str, Any], handler: str) -> tuple[str, dict[str, Any]]:
    return only(
        {
            i: r
            for i, r in resources_of(body, "AWS::Lambda::Function").items()
            if r["Properties"]["Handler"] == handler
        }
    )


def role_assumed_by(body: Mapping[str, Any], service: str) -> tuple[str, dict[str, Any]]:
    return only(
        {
            i: r
            for i, r in resources_of(body, "AWS::IAM::Role").items()
            if any(
                s["Principal"].get("Service") == service
                for s in r["Properties"]["AssumeRolePolicyDocument"]["Statement"]
            )
        }
    )


def remediation_role(body: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    _, fn = function(body, REMEDIATION_HANDLER)
    (role_id,) = fn["Properties"]["Role"]["Fn::GetAtt"][:1]
    return role_id, body["Resources"][role_id]


def policies_of_role(body: Mapping[str, Any], role_id: str) -> dict[str, dict[str, Any]]:
    return {
        i: p
        for i, p in resources_of(body, "AWS::IAM::ManagedPolicy").items()
        if {"Ref": role_id} in p["Properties"].get("Roles", [])
    }


def grants(policy: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Each action of a policy, with the resources it is allowed on."""
    found: dict[str, list[Any]] = {}
    for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
        assert statement["Effect"] == "Allow"
        assert not {"NotAction", "NotResource", "Principal", "Condition"} & set(statement)
        for action in as_list(statement["Action"]):
            found.setdefault(action, []).extend(as_list(statement["Resource"]))
    return found


def as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else [value]


def get_att(logical_id: str, attribute: str = "Arn") -> dict[str, list[str]]:
    return {"Fn::GetAtt": [logical_id, attribute]}


def evaluate(value: object) -> str:
    """A string-valued intrinsic of pseudo-parameter Refs, Fn::Join and Fn::Select of an
    Fn::Split, resolved in PSEUDO's account, region and stack."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and list(value) == ["Ref"] and value["Ref"] in PSEUDO:
        return PSEUDO[value["Ref"]]
    if isinstance(value, dict) and list(value) == ["Fn::Join"]:
        separator, parts = value["Fn::Join"]
        return str(separator).join(evaluate(part) for part in parts)
    if isinstance(value, dict) and list(value) == ["Fn::Select"]:
        index, split = value["Fn::Select"]
        separator, source = split["Fn::Split"]
        return evaluate(source).split(separator)[int(index)]
    raise AssertionError(f"cannot evaluate {value!r}")


def stand_in(token: Mapping[str, Any]) -> str:
    """A string standing for a Ref or GetAtt inside the conformance pack's template body."""
    if list(token) == ["Ref"]:
        return f"<Ref {token['Ref']}>"
    if list(token) == ["Fn::GetAtt"]:
        return "<GetAtt {}.{}>".format(*token["Fn::GetAtt"])
    raise AssertionError(f"unexpected token {token!r} in the pack's template")


def stood_in(value: object) -> object:
    """A property value with its Refs and GetAtts replaced by stand_in's strings."""
    if isinstance(value, dict):
        if list(value) in (["Ref"], ["Fn::GetAtt"]):
            return stand_in(value)
        return {k: stood_in(v) for k, v in value.items()}
    if isinstance(value, list):
        return [stood_in(v) for v in value]
    return value


def pack_template(synthesized: Synthesized) -> dict[str, Any]:
    """The conformance pack's template, each stack token in it written as stand_in's string."""
    _, pack = only_resource(synthesized.body, "AWS::Config::ConformancePack")
    separator, parts = pack["Properties"]["TemplateBody"]["Fn::Join"]
    assert separator == ""
    return dict(json.loads("".join(p if isinstance(p, str) else stand_in(p) for p in parts)))


def document_content(synthesized: Synthesized) -> dict[str, Any]:
    _, document = only_resource(synthesized.body, "AWS::SSM::Document")
    return dict(document["Properties"]["Content"])


def steps(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    return {step["name"]: step for step in document_content(synthesized)["mainSteps"]}


# --- Off (the default): nothing deployed ------------------------------------------------------


@pytest.mark.parametrize("variant", ["off", "off_pack"])
def test_off_deploys_no_remediation(variant: str, request: pytest.FixtureRequest) -> None:
    synthesized: Synthesized = request.getfixturevalue(variant)
    body = synthesized.body
    assert synthesized.settings.remediation == "off"
    assert resources_of(body, "AWS::SSM::Document") == {}
    assert resources_of(body, "AWS::Config::RemediationConfiguration") == {}
    assert [
        f["Properties"]["Handler"] for f in resources_of(body, "AWS::Lambda::Function").values()
    ] == [RULE_HANDLER]
    principals = [
        s["Principal"]
        for role in resources_of(body, "AWS::IAM::Role").values()
        for s in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    ]
    assert principals == [{"Service": "lambda.amazonaws.com"}]
    assert len(resources_of(body, "AWS::Logs::LogGroup")) == 1
    assert not {"RemediationDocumentName", "RemediationLogGroupName"} & set(body["Outputs"])


def test_off_conformance_pack_holds_only_the_rule(off_pack: Synthesized) -> None:
    resources = pack_template(off_pack)["Resources"]
    assert {i: r["Type"] for i, r in resources.items()} == {
        "PortguardRule": "AWS::Config::ConfigRule"
    }


def test_the_construct_refuses_remediation_off() -> None:
    app = App(context=cdk_json_context())
    stack = Stack(app, "S")
    settings = Settings(parameters=parse_rule_parameters(None))
    rule = PortguardRule(stack, "Rule", settings=settings)
    with pytest.raises(ValueError, match="remediation 'off': nothing to deploy"):
        PortguardRemediation(stack, "Remediation", settings=settings, rule=rule)


# --- The remediation configuration: standalone, beside the rule ---------------------------------


def test_manual_remediation_is_a_remediate_action_without_retry_settings(
    manual: Synthesized,
) -> None:
    _, configuration = only_resource(manual.body, "AWS::Config::RemediationConfiguration")
    document_id, _ = only_resource(manual.body, "AWS::SSM::Document")
    automation_role_id, _ = role_assumed_by(manual.body, "ssm.amazonaws.com")
    assert configuration["Properties"] == {
        "ConfigRuleName": "portguard",
        "TargetType": "SSM_DOCUMENT",
        "TargetId": {"Ref": document_id},
        "ResourceType": "AWS::EC2::SecurityGroup",
        "Parameters": {
            "AutomationAssumeRole": {"StaticValue": {"Values": [get_att(automation_role_id)]}},
            "GroupId": {"ResourceValue": {"Value": "RESOURCE_ID"}},
        },
        "Automatic": False,
    }


def test_automatic_remediation_has_retry_limits(automatic: Synthesized) -> None:
    _, configuration = only_resource(automatic.body, "AWS::Config::RemediationConfiguration")
    properties = configuration["Properties"]
    assert properties["Automatic"] is True
    assert properties["MaximumAutomaticAttempts"] == MAXIMUM_AUTOMATIC_ATTEMPTS == 3
    assert properties["RetryAttemptSeconds"] == RETRY_ATTEMPT_SECONDS == 3600
    # The window must hold every attempt, or Config never stops retrying: each attempt lasts at
    # most the invoke step's timeout.
    timeout = steps(automatic)["RemediateSecurityGroup"]["timeoutSeconds"]
    assert properties["MaximumAutomaticAttempts"] * timeout < properties["RetryAttemptSeconds"]


@pytest.mark.parametrize("variant", ["manual", "automatic"])
def test_standalone_remediation_waits_for_the_rule_and_the_automation_policy(
    variant: str, request: pytest.FixtureRequest
) -> None:
    synthesized: Synthesized = request.getfixturevalue(variant)
    body = synthesized.body
    rule_id, _ = only_resource(body, "AWS::Config::ConfigRule")
    automation_role_id, _ = role_assumed_by(body, "ssm.amazonaws.com")
    (automation_policy_id,) = policies_of_role(body, automation_role_id)
    _, configuration = only_resource(body, "AWS::Config::RemediationConfiguration")
    assert {rule_id, automation_policy_id} <= set(configuration["DependsOn"])
    assert resources_of(body, "AWS::Config::ConformancePack") == {}


# --- The remediation configuration: inside the conformance pack ---------------------------------


@pytest.mark.parametrize(
    ("variant", "standalone"), [("manual_pack", "manual"), ("automatic_pack", "automatic")]
)
def test_conformance_pack_holds_the_remediation_next_to_the_rule(
    variant: str, standalone: str, request: pytest.FixtureRequest
) -> None:
    synthesized: Synthesized = request.getfixturevalue(variant)
    alone: Synthesized = request.getfixturevalue(standalone)
    body = synthesized.body
    # Nothing standalone: Config takes no remediation configuration for a pack's rule from
    # outside the pack.
    assert resources_of(body, "AWS::Config::RemediationConfiguration") == {}
    assert resources_of(body, "AWS::Config::ConfigRule") == {}
    resources = pack_template(synthesized)["Resources"]
    assert {i: r["Type"] for i, r in resources.items()} == {
        "PortguardRule": "AWS::Config::ConfigRule",
        "PortguardRemediation": "AWS::Config::RemediationConfiguration",
    }
    remediation = resources["PortguardRemediation"]
    assert remediation["DependsOn"] == "PortguardRule"
    document_id, _ = only_resource(body, "AWS::SSM::Document")
    automation_role_id, _ = role_assumed_by(body, "ssm.amazonaws.com")
    automatic = synthesized.settings.remediation == "automatic"
    assert remediation["Properties"] == remediation_configuration_properties(
        stand_in({"Ref": document_id}),
        stand_in(get_att(automation_role_id)),
        automatic=automatic,
    )
    # ...the same remediation configuration as the standalone one built from the same context.
    _, standalone_configuration = only_resource(alone.body, "AWS::Config::RemediationConfiguration")
    assert remediation["Properties"] == stood_in(standalone_configuration["Properties"])
    assert ("MaximumAutomaticAttempts" in remediation["Properties"]) is automatic


@pytest.mark.parametrize("variant", ["manual_pack", "automatic_pack"])
def test_conformance_pack_waits_for_the_automation_policy(
    variant: str, request: pytest.FixtureRequest
) -> None:
    synthesized: Synthesized = request.getfixturevalue(variant)
    automation_role_id, _ = role_assumed_by(synthesized.body, "ssm.amazonaws.com")
    (automation_policy_id,) = policies_of_role(synthesized.body, automation_role_id)
    _, pack = only_resource(synthesized.body, "AWS::Config::ConformancePack")
    assert automation_policy_id in pack["DependsOn"]


def test_conformance_pack_rule_keeps_its_definition(automatic_pack: Synthesized) -> None:
    rule_function_id, _ = function(automatic_pack.body, RULE_HANDLER)
    rule = pack_template(automatic_pack)["Resources"]["PortguardRule"]
    assert rule["Properties"]["Source"]["SourceIdentifier"] == stand_in(get_att(rule_function_id))
    assert rule["Properties"]["InputParameters"] == (
        automatic_pack.settings.parameters.as_input_parameters()
    )


# --- The remediation function ---------------------------------------------------------------


def test_function_is_the_rules_package_with_the_remediation_handler(
    remediated: Synthesized,
) -> None:
    body = remediated.body
    _, rule_fn = function(body, RULE_HANDLER)
    role_id, _ = remediation_role(body)
    _, fn = function(body, REMEDIATION_HANDLER)
    properties = fn["Properties"]
    assert properties["Runtime"] == rule_fn["Properties"]["Runtime"] == "python3.14"
    assert properties["Architectures"] == ["arm64"]
    assert properties["MemorySize"] == 256
    assert properties["Timeout"] == 60
    assert properties["Role"] == get_att(role_id)
    # The same asset and the same Powertools layer as the rule's function.
    assert properties["Code"] == rule_fn["Properties"]["Code"]
    assert properties["Layers"] == rule_fn["Properties"]["Layers"]
    # Invoked synchronously by the automation: no failure destination, no reserved concurrency.
    assert "ReservedConcurrentExecutions" not in properties
    rule_function_id, _ = function(body, RULE_HANDLER)
    assert [
        c["Properties"]["FunctionName"]
        for c in resources_of(body, "AWS::Lambda::EventInvokeConfig").values()
    ] == [{"Ref": rule_function_id}]


@pytest.mark.parametrize("variant", REMEDIATED)
def test_function_environment_carries_the_rules_parameters(
    variant: str, request: pytest.FixtureRequest
) -> None:
    synthesized: Synthesized = request.getfixturevalue(variant)
    _, fn = function(synthesized.body, REMEDIATION_HANDLER)
    variables = dict(fn["Properties"]["Environment"]["Variables"])
    parameters = json.loads(variables.pop("PORTGUARD_RULE_PARAMETERS"))
    assert variables == {"POWERTOOLS_SERVICE_NAME": "portguard-remediation", "LOG_LEVEL": "INFO"}
    # Exactly the rule's InputParameters, so the function closes the ports the rule flags.
    assert parameters == synthesized.settings.parameters.as_input_parameters()
    if synthesized.settings.deploy_as == "conformance-pack":
        rule = pack_template(synthesized)["Resources"]["PortguardRule"]
    else:
        _, rule = only_resource(synthesized.body, "AWS::Config::ConfigRule")
    assert parameters == rule["Properties"]["InputParameters"]


def test_function_follows_tuned_parameters(automatic: Synthesized) -> None:
    _, fn = function(automatic.body, REMEDIATION_HANDLER)
    parameters = json.loads(
        fn["Properties"]["Environment"]["Variables"]["PORTGUARD_RULE_PARAMETERS"]
    )
    assert parameters == {
        "blockedPorts": "22,3389,8000-8100",
        "protocolType": "TCP",
        "ipType": "ALL",
        "exemptTagKey": "portguard:exempt",
        "resolvePrefixLists": "true",
    }


@pytest.mark.parametrize(("variant", "days"), [("manual", 365), ("automatic", 30)])
def test_function_logs_to_its_own_encrypted_retained_log_group(
    variant: str, days: int, request: pytest.FixtureRequest
) -> None:
    synthesized: Synthesized = request.getfixturevalue(variant)
    body = synthesized.body
    key_id, _ = only_resource(body, "AWS::KMS::Key")
    _, rule_fn = function(body, RULE_HANDLER)
    _, fn = function(body, REMEDIATION_HANDLER)
    log_group_ref = fn["Properties"]["LoggingConfig"]["LogGroup"]
    assert log_group_ref != rule_fn["Properties"]["LoggingConfig"]["LogGroup"]
    log_group = body["Resources"][log_group_ref["Ref"]]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["DeletionPolicy"] == "Retain"
    properties = dict(log_group["Properties"])
    # Named under the stack's prefix, which the key's policy lets CloudWatch Logs use.
    assert evaluate(properties.pop("LogGroupName")) == (
        f"/portguard/Portguard/{STACK_UUID}/remediation"
    )
    assert properties == {"KmsKeyId": get_att(key_id), "RetentionInDays": days}


# --- Its role and policy ----------------------------------------------------------------------


def test_function_role_is_assumed_by_lambda_only(remediated: Synthesized) -> None:
    _, role = remediation_role(remediated.body)
    statements = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [(s["Effect"], s["Action"], s["Principal"]) for s in statements] == [
        ("Allow", "sts:AssumeRole", {"Service": "lambda.amazonaws.com"})
    ]


@pytest.mark.parametrize("service", ["lambda.amazonaws.com", "ssm.amazonaws.com"])
def test_each_new_role_carries_one_customer_managed_policy_and_nothing_inline(
    service: str, remediated: Synthesized
) -> None:
    body = remediated.body
    if service == "lambda.amazonaws.com":
        role_id, role = remediation_role(body)
    else:
        role_id, role = role_assumed_by(body, service)
    assert "Policies" not in role["Properties"]
    assert "ManagedPolicyArns" not in role["Properties"]
    assert len(policies_of_role(body, role_id)) == 1
    assert not [
        p
        for p in resources_of(body, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"].get("Roles", [])
    ]
    assert ":iam::aws:policy/" not in json.dumps(body)


def test_function_policy_grants_exactly_what_the_handler_calls(remediated: Synthesized) -> None:
    body = remediated.body
    role_id, _ = remediation_role(body)
    ((_, policy),) = policies_of_role(body, role_id).items()
    found = grants(policy)
    (create_stream,) = found.pop("logs:CreateLogStream")
    (put_events,) = found.pop("logs:PutLogEvents")
    _, fn = function(body, REMEDIATION_HANDLER)
    own_log_group = fn["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    assert create_stream == put_events == get_att(own_log_group)
    assert {action: [evaluate(r) for r in resources] for action, resources in found.items()} == (
        REMEDIATION_GRANTS
    )


def test_quota_read_is_allowed_on_every_resource(remediated: Synthesized) -> None:
    # A quota ARN here was reported to deny every read, and a denied read only lowers the quota to
    # the default of 60 in silence: "*" cannot deny.
    body = remediated.body
    role_id, _ = remediation_role(body)
    ((_, policy),) = policies_of_role(body, role_id).items()
    (statement,) = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if "servicequotas:GetServiceQuota" in as_list(s["Action"])
    ]
    assert as_list(statement["Action"]) == ["servicequotas:GetServiceQuota"]
    assert statement["Resource"] == "*"


def test_function_waits_for_its_policy(remediated: Synthesized) -> None:
    body = remediated.body
    role_id, _ = remediation_role(body)
    (policy_id,) = policies_of_role(body, role_id)
    _, fn = function(body, REMEDIATION_HANDLER)
    assert policy_id in fn["DependsOn"]


# --- The automation role ----------------------------------------------------------------------


def test_automation_role_is_assumed_by_this_accounts_automations_only(
    remediated: Synthesized,
) -> None:
    _, role = role_assumed_by(remediated.body, "ssm.amazonaws.com")
    (trusted,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    statement = dict(trusted)
    condition = statement.pop("Condition")
    assert statement == {
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
        "Principal": {"Service": "ssm.amazonaws.com"},
    }
    assert set(condition) == {"StringEquals", "ArnLike"}
    assert condition["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    # Systems Manager sets aws:SourceArn to the automation execution when it assumes the role.
    assert {key: evaluate(value) for key, value in condition["ArnLike"].items()} == {
        "aws:SourceArn": "arn:aws:ssm:eu-west-1:111122223333:automation-execution/*"
    }


def test_automation_role_may_only_invoke_the_remediation_function(
    remediated: Synthesized,
) -> None:
    body = remediated.body
    role_id, _ = role_assumed_by(body, "ssm.amazonaws.com")
    ((_, policy),) = policies_of_role(body, role_id).items()
    function_id, _ = function(body, REMEDIATION_HANDLER)
    assert grants(policy) == {"lambda:InvokeFunction": [get_att(function_id)]}


# --- The Automation document ------------------------------------------------------------------


def test_document_is_an_automation_with_a_group_and_a_role(remediated: Synthesized) -> None:
    _, document = only_resource(remediated.body, "AWS::SSM::Document")
    assert document["Properties"]["DocumentType"] == "Automation"
    assert "Name" not in document["Properties"]  # generated: a changed document is replaced
    content = document_content(remediated)
    assert content["schemaVersion"] == "0.3"
    assert content["assumeRole"] == "{{ AutomationAssumeRole }}"
    parameters = content["parameters"]
    assert set(parameters) == {"GroupId", "AutomationAssumeRole"}
    assert {p["type"] for p in parameters.values()} == {"String"}
    group = re.compile(parameters["GroupId"]["allowedPattern"])
    assert group.match("sg-0123abcd")
    assert group.match("sg-0123456789abcdef0")
    assert not group.match("sg-0123abcd; rm")
    assert not group.match("i-0123456789abcdef0")
    role = re.compile(parameters["AutomationAssumeRole"]["allowedPattern"])
    assert role.match("arn:aws:iam::111122223333:role/Portguard-RemediationAutomationRole-AbC1")
    assert role.match("arn:aws-cn:iam::111122223333:role/path/name")
    assert not role.match("arn:aws:iam::111122223333:user/alice")


def test_document_invokes_the_remediation_function_with_the_group(
    remediated: Synthesized,
) -> None:
    function_id, fn = function(remediated.body, REMEDIATION_HANDLER)
    content = document_content(remediated)
    invoke = content["mainSteps"][0]
    assert invoke["action"] == "aws:invokeLambdaFunction"
    assert invoke["inputs"] == {
        "FunctionName": get_att(function_id),
        "InvocationType": "RequestResponse",
        "InputPayload": {"GroupId": "{{ GroupId }}"},
    }
    assert invoke["maxAttempts"] == 1
    assert invoke["onFailure"] == "Abort"
    # The step outlives the function, so a timeout comes back as the function's error.
    assert invoke["timeoutSeconds"] > fn["Properties"]["Timeout"]
    # The automation's output is the function's returned payload: the rollback document.
    assert content["outputs"] == [f"{invoke['name']}.Payload"]


def test_document_fails_the_execution_when_the_function_fails(remediated: Synthesized) -> None:
    content = document_content(remediated)
    invoke, check, fail = content["mainSteps"]
    assert invoke["nextStep"] == check["name"]
    assert check["action"] == "aws:branch"
    function_error = "{{ " + invoke["name"] + ".FunctionError }}"
    ((choice),) = check["inputs"]["Choices"]
    assert choice["NextStep"] == fail["name"]
    assert sorted(c["StringEquals"] for c in choice["Or"]) == ["Handled", "Unhandled"]
    assert {c["Variable"] for c in choice["Or"]} == {function_error}
    # No error: no choice matches, and the execution ends there, successfully.
    assert check["isEnd"] is True
    assert "Default" not in check["inputs"]
    assert fail["action"] == "aws:executeScript"
    assert fail["onFailure"] == "Abort"
    assert fail["isCritical"] is True
    assert fail["inputs"]["InputPayload"] == {
        "GroupId": "{{ GroupId }}",
        "FunctionError": function_error,
        "Payload": "{{ " + invoke["name"] + ".Payload }}",
    }
    assert fail["inputs"]["Script"] == FAIL_SCRIPT


def test_the_failing_step_raises_with_the_functions_error() -> None:
    namespace: dict[str, Any] = {}
    exec(compile(FAIL_SCRIPT, "fail-script", "exec"), namespace)  # noqa: S102 - our own script
    event = {
        "GroupId": "sg-0123abcd",
        "FunctionError": "Unhandled",
        "Payload": '{"errorMessage": "sg-0123abcd: refused: 61 rules exceed the quota of 60"}',
    }
    with pytest.raises(RuntimeError, match=r"did not remediate sg-0123abcd: Unhandled error .*61"):
        namespace["fail"](event, None)


# --- The alarm --------------------------------------------------------------------------------


def test_remediation_errors_notify_the_rules_alarm_topic(remediated: Synthesized) -> None:
    body = remediated.body
    function_id, _ = function(body, REMEDIATION_HANDLER)
    topic_id, _ = only_resource(body, "AWS::SNS::Topic")
    topic_policy_id, _ = only_resource(body, "AWS::SNS::TopicPolicy")
    (alarm,) = [
        a
        for a in resources_of(body, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Dimensions")
        == [{"Name": "FunctionName", "Value": {"Ref": function_id}}]
    ]
    properties = alarm["Properties"]
    assert (properties["Namespace"], properties["MetricName"]) == ("AWS/Lambda", "Errors")
    assert (properties["Statistic"], properties["Threshold"]) == ("Sum", 1)
    assert properties["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert properties["AlarmActions"] == [{"Ref": topic_id}]
    # Named like the stack's other alarms, the only ones the topic lets publish.
    assert evaluate(properties["AlarmName"]) == "Portguard-RemediationErrors"
    assert topic_policy_id in alarm["DependsOn"]


def test_no_remediation_alarm_when_remediation_is_off(off: Synthesized) -> None:
    names = [
        evaluate(a["Properties"]["AlarmName"])
        for a in resources_of(off.body, "AWS::CloudWatch::Alarm").values()
    ]
    assert "Portguard-RemediationErrors" not in names
    assert names


# --- Stack outputs ----------------------------------------------------------------------------


def test_outputs_name_the_document_and_the_remediation_log_group(remediated: Synthesized) -> None:
    body = remediated.body
    document_id, _ = only_resource(body, "AWS::SSM::Document")
    _, fn = function(body, REMEDIATION_HANDLER)
    assert body["Outputs"]["RemediationDocumentName"]["Value"] == {"Ref": document_id}
    assert (
        body["Outputs"]["RemediationLogGroupName"]["Value"]
        == fn["Properties"]["LoggingConfig"]["LogGroup"]
    )
