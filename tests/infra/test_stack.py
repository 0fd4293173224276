"""The synthesized portguard stack, property by property (issue 3, items 1-4 and 6).

Every App gets cdk.json's context, as the CDK CLI would give it, plus the overrides a test names.
The first synthesis in a process starts jsii and takes seconds; later ones are fast, so each
variant synthesizes once per module. Logical ids are hashed: they are always looked up, never typed.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest
from aws_cdk import App
from aws_cdk.assertions import Capture, Match, Template

from infra import rule as rule_module
from infra.rule import MAXIMUM_EVALUATION_HOURS, SCHEDULE_HOURS, heartbeat_hours
from infra.settings import Settings, cdk_json_context
from infra.stack import PortguardStack
from portguard.definition import SCHEDULES, config_rule_properties
from portguard.parameters import parse_rule_parameters

if TYPE_CHECKING:
    from collections.abc import Mapping

pytestmark = pytest.mark.infra

REPO = Path(__file__).resolve().parents[2]

POWERTOOLS_LAYER = "AWSLambdaPowertoolsPythonV3-python314-arm64:36"
POWERTOOLS_ACCOUNTS = {"aws": "017000801446", "aws-cn": "498634801083"}

# What the pseudo parameters resolve to in one region of each partition the app targets.
STACK_UUID = "1c2fa620-982a-11e3-aff7-50e2416294e0"
PSEUDO: Mapping[str, Mapping[str, str]] = {
    "aws": {
        "AWS::Partition": "aws",
        "AWS::Region": "eu-west-1",
        "AWS::AccountId": "111122223333",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackName": "Portguard",
        "AWS::StackId": (
            f"arn:aws:cloudformation:eu-west-1:111122223333:stack/Portguard/{STACK_UUID}"
        ),
    },
    "aws-cn": {
        "AWS::Partition": "aws-cn",
        "AWS::Region": "cn-north-1",
        "AWS::AccountId": "111122223333",
        "AWS::URLSuffix": "amazonaws.com.cn",
        "AWS::StackName": "Portguard",
        "AWS::StackId": (
            f"arn:aws-cn:cloudformation:cn-north-1:111122223333:stack/Portguard/{STACK_UUID}"
        ),
    },
}
# Where this stack's log groups live once deployed (PSEUDO's "aws" region and stack).
LOG_GROUP_PREFIX = f"/portguard/Portguard/{STACK_UUID}/"

# Every option away from its default, as `cdk synth -c key=value` passes them: strings.
TUNED: Mapping[str, object] = {
    "portguard:blockedPorts": "hipaa",
    "portguard:protocolType": "tcp",
    "portguard:ipType": "ipv6",
    "portguard:exemptTagKey": "portguard:exempt",
    "portguard:resolvePrefixLists": "false",
    "portguard:schedule": "Six_Hours",
    "portguard:logRetentionDays": "30",
    "portguard:alarmEmail": "ops@example.com",
    "portguard:reservedConcurrency": "5",
}
PACK: Mapping[str, object] = {"portguard:deployAs": "conformance-pack"}

# Exactly what the handler calls, and on what (issue 3, item 3; the queue and key for item 4).
POLICY_ACTIONS = frozenset(
    {
        "config:PutEvaluations",
        "config:GetResourceConfigHistory",
        "ec2:DescribeSecurityGroups",
        "ec2:GetManagedPrefixListEntries",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "sqs:SendMessage",
        "kms:GenerateDataKey",
        "kms:Decrypt",
    }
)

# Stands for the function's ARN in the conformance pack's template body (a JSON string literal).
ARN_PLACEHOLDER = "PORTGUARD-FUNCTION-ARN-PLACEHOLDER"


class Ids(NamedTuple):
    """The logical ids of the construct's resources, looked up in the template."""

    function: str
    role: str
    policy: str
    key: str
    log_group: str
    queue: str
    topic: str
    permission: str


class Synthesized(NamedTuple):
    template: Template
    body: dict[str, Any]
    assembly: Path
    settings: Settings
    ids: Ids


def only_resource(body: Mapping[str, Any], resource_type: str) -> tuple[str, dict[str, Any]]:
    """The logical id and body of the single resource of this type."""
    found = [
        (logical_id, resource)
        for logical_id, resource in body["Resources"].items()
        if resource["Type"] == resource_type
    ]
    assert len(found) == 1, f"expected one {resource_type}, found {[i for i, _ in found]}"
    return found[0]


def resources_of(body: Mapping[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {i: r for i, r in body["Resources"].items() if r["Type"] == resource_type}


def synthesize(outdir: Path, **overrides: object) -> Synthesized:
    app = App(context={**cdk_json_context(), **overrides}, outdir=str(outdir))
    settings = Settings.from_context(app)
    PortguardStack(app, "Portguard", settings=settings)
    directory = Path(app.synth().directory)
    body = json.loads((directory / "Portguard.template.json").read_text())
    ids = Ids(
        function=only_resource(body, "AWS::Lambda::Function")[0],
        role=only_resource(body, "AWS::IAM::Role")[0],
        policy=only_resource(body, "AWS::IAM::ManagedPolicy")[0],
        key=only_resource(body, "AWS::KMS::Key")[0],
        log_group=only_resource(body, "AWS::Logs::LogGroup")[0],
        queue=only_resource(body, "AWS::SQS::Queue")[0],
        topic=only_resource(body, "AWS::SNS::Topic")[0],
        permission=only_resource(body, "AWS::Lambda::Permission")[0],
    )
    return Synthesized(Template.from_json(body), body, directory, settings, ids)


def evaluate(value: object, body: Mapping[str, Any], partition: str = "aws") -> str:
    """A string-valued intrinsic (pseudo-parameter Refs, Fn::Join, Fn::FindInMap, Fn::Sub),
    resolved as CloudFormation would in one region of ``partition``."""
    pseudo = PSEUDO[partition]
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref" and argument in pseudo:
            return pseudo[argument]
        if function == "Fn::Join":
            separator, parts = argument
            return str(separator).join(evaluate(part, body, partition) for part in parts)
        if function == "Fn::FindInMap":
            name, first, second = (evaluate(part, body, partition) for part in argument)
            return str(body["Mappings"][name][first][second])
        if function == "Fn::Sub" and isinstance(argument, str):
            return re.sub(r"\$\{([^}]+)\}", lambda m: pseudo[m[1]], argument)
        if function == "Fn::Select":
            index, split = argument
            separator, source = split["Fn::Split"]
            return evaluate(source, body, partition).split(separator)[int(index)]
    raise AssertionError(f"cannot evaluate {value!r}")


def arn_like(pattern: str, arn: str) -> bool:
    """IAM's ArnLike: ``*`` and ``?`` within each of an ARN's six colon-separated parts."""
    pattern_parts, arn_parts = pattern.split(":", 5), arn.split(":", 5)
    return len(pattern_parts) == len(arn_parts) == 6 and all(
        fnmatch.fnmatchcase(part, wanted)
        for part, wanted in zip(arn_parts, pattern_parts, strict=True)
    )


def get_att(logical_id: str, attribute: str = "Arn") -> dict[str, list[str]]:
    return {"Fn::GetAtt": [logical_id, attribute]}


def as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.fixture(scope="module")
def default(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("default"))


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("tuned"), **TUNED)


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("pack"), **PACK)


@pytest.fixture(scope="module")
def tuned_pack(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("tuned-pack"), **TUNED, **PACK)


# --- The function (item 2) -------------------------------------------------------------------


def test_function_runs_the_handler_on_python314_arm64_sized_from_the_benchmark(
    default: Synthesized,
) -> None:
    default.template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Runtime": "python3.14",
            "Architectures": ["arm64"],
            "Handler": "portguard.handler.lambda_handler",
            "MemorySize": 256,
            "Timeout": 300,
            "Role": get_att(default.ids.role),
        },
    )


def test_function_environment(default: Synthesized) -> None:
    environment = Capture()
    default.template.has_resource_properties("AWS::Lambda::Function", {"Environment": environment})
    assert environment.as_object() == {
        "Variables": {
            "POWERTOOLS_SERVICE_NAME": "portguard",
            "POWERTOOLS_METRICS_NAMESPACE": "portguard",
            "LOG_LEVEL": "INFO",
        }
    }


def test_function_uses_the_pinned_powertools_layer_of_its_own_partition_and_region(
    default: Synthesized,
) -> None:
    layers = Capture()
    default.template.has_resource_properties("AWS::Lambda::Function", {"Layers": layers})
    (layer,) = layers.as_array()
    parts = layer["Fn::Join"][1]
    # Resolved at deploy: the partition and region are the stack's, the account is looked up
    # by partition in a mapping (not typed in).
    assert {"Ref": "AWS::Partition"} in parts
    assert {"Ref": "AWS::Region"} in parts
    (lookup,) = [part["Fn::FindInMap"] for part in parts if "Fn::FindInMap" in part]
    assert lookup[1] == {"Ref": "AWS::Partition"}
    assert {
        partition: entry[lookup[2]]
        for partition, entry in default.body["Mappings"][lookup[0]].items()
    } == POWERTOOLS_ACCOUNTS
    assert parts[-1].endswith(f":layer:{POWERTOOLS_LAYER}")
    for partition, account in POWERTOOLS_ACCOUNTS.items():
        region = PSEUDO[partition]["AWS::Region"]
        assert evaluate(layer, default.body, partition) == (
            f"arn:{partition}:lambda:{region}:{account}:layer:{POWERTOOLS_LAYER}"
        )


def test_function_logs_to_the_constructs_log_group(default: Synthesized) -> None:
    default.template.has_resource_properties(
        "AWS::Lambda::Function", {"LoggingConfig": {"LogGroup": {"Ref": default.ids.log_group}}}
    )


def test_function_reserves_no_concurrency_by_default(default: Synthesized) -> None:
    default.template.has_resource_properties(
        "AWS::Lambda::Function", {"ReservedConcurrentExecutions": Match.absent()}
    )


def test_reserved_concurrency_from_context(tuned: Synthesized) -> None:
    tuned.template.has_resource_properties(
        "AWS::Lambda::Function", {"ReservedConcurrentExecutions": 5}
    )


def asset_directory(synthesized: Synthesized) -> Path:
    """The staged directory of the function's code, found through the asset manifest."""
    _, function = only_resource(synthesized.body, "AWS::Lambda::Function")
    object_key = function["Properties"]["Code"]["S3Key"]
    manifest = json.loads((synthesized.assembly / "Portguard.assets.json").read_text())
    (source,) = [
        entry["source"]
        for entry in manifest["files"].values()
        for destination in entry["destinations"].values()
        if destination["objectKey"] == object_key
    ]
    assert source["packaging"] == "zip"
    return synthesized.assembly / str(source["path"])


def test_function_code_is_the_lambda_directory(default: Synthesized) -> None:
    staged = asset_directory(default)
    files = {p.relative_to(staged).as_posix() for p in staged.rglob("*") if p.is_file()}
    assert {
        "portguard/__init__.py",
        "portguard/parameters.py",
        "portguard/handler.py",
        "portguard/definition.py",
    } <= files
    assert all(f.startswith("portguard/") for f in files), files
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]


def test_function_code_leaves_out_bytecode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The real lambda/ may hold no bytecode right now: stage a copy that does.
    root = tmp_path / "lambda"
    shutil.copytree(REPO / "lambda", root, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for cache in (
        root / "portguard" / "__pycache__",
        root / "portguard" / "adapters" / "__pycache__",
    ):
        cache.mkdir(parents=True, exist_ok=True)
        (cache / "parameters.cpython-314.pyc").write_bytes(b"\0")
    (root / "portguard" / "stray.pyc").write_bytes(b"\0")
    monkeypatch.setattr(rule_module, "LAMBDA_ROOT", root)

    staged = asset_directory(synthesize(tmp_path / "out"))

    names = {p.name for p in staged.rglob("*")}
    assert {"parameters.py", "handler.py", "definition.py"} <= names
    assert "__pycache__" not in names
    assert not [n for n in names if n.endswith(".pyc")]


# --- Its log group and key (item 2, and what item 4 stores) -----------------------------------


def test_log_group_is_encrypted_kept_a_year_and_retained(default: Synthesized) -> None:
    default.template.has_resource(
        "AWS::Logs::LogGroup",
        {
            "DeletionPolicy": "Retain",
            "Properties": {"RetentionInDays": 365, "KmsKeyId": get_att(default.ids.key)},
        },
    )


def test_log_retention_from_context(tuned: Synthesized) -> None:
    tuned.template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 30})


def key_statements(synthesized: Synthesized) -> list[dict[str, Any]]:
    _, key = only_resource(synthesized.body, "AWS::KMS::Key")
    return list(key["Properties"]["KeyPolicy"]["Statement"])


def service_principals(statement: Mapping[str, Any], body: Mapping[str, Any]) -> set[str]:
    principal = statement.get("Principal", {})
    if not isinstance(principal, dict):
        return set()
    return {evaluate(service, body) for service in as_list(principal.get("Service", []))}


def test_key_rotates(default: Synthesized) -> None:
    default.template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def log_group_arn(name: str) -> str:
    return f"arn:aws:logs:eu-west-1:111122223333:log-group:{name}"


def test_key_lets_cloudwatch_logs_use_it_for_this_stacks_log_groups_only(
    default: Synthesized,
) -> None:
    region = PSEUDO["aws"]["AWS::Region"]
    (statement,) = [
        s
        for s in key_statements(default)
        if f"logs.{region}.amazonaws.com" in service_principals(s, default.body)
    ]
    assert statement["Effect"] == "Allow"
    actions = set(as_list(statement["Action"]))
    assert {"kms:Encrypt*", "kms:Decrypt*", "kms:GenerateDataKey*"} <= actions
    assert list(statement["Condition"]) == ["ArnLike"]
    (context_arn,) = statement["Condition"]["ArnLike"].values()
    assert list(statement["Condition"]["ArnLike"]) == ["kms:EncryptionContext:aws:logs:arn"]
    # This stack's log groups, not the account's (log-group:*).
    pattern = evaluate(context_arn, default.body)
    assert pattern == log_group_arn(f"{LOG_GROUP_PREFIX}*")
    assert not arn_like(pattern, log_group_arn("/aws/lambda/someone-else"))
    assert not arn_like(pattern, log_group_arn("/portguard/Portguard/another-stack-id/rule"))


@pytest.mark.parametrize("variant", ["default", "tuned"])
def test_the_log_groups_are_the_ones_the_key_names(
    variant: str, request: pytest.FixtureRequest
) -> None:
    synthesized: Synthesized = request.getfixturevalue(variant)
    names = [
        evaluate(group["Properties"]["LogGroupName"], synthesized.body)
        for group in resources_of(synthesized.body, "AWS::Logs::LogGroup").values()
    ]
    assert names == [f"{LOG_GROUP_PREFIX}rule"]


def alarm_arns(synthesized: Synthesized) -> dict[str, str]:
    """Each alarm's ARN once deployed in PSEUDO's "aws" account and region, by logical id."""
    return {
        logical_id: "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:"
        + evaluate(alarm["Properties"]["AlarmName"], synthesized.body)
        for logical_id, alarm in resources_of(synthesized.body, "AWS::CloudWatch::Alarm").items()
    }


def assert_bound_to_this_stacks_alarms(
    statement: Mapping[str, Any], synthesized: Synthesized
) -> None:
    """The statement's conditions: this account (aws:SourceAccount) and this stack's alarms in
    this region (aws:SourceArn), which every alarm of the stack matches, and no other."""
    assert statement["Condition"]["StringEquals"] == {
        "aws:SourceAccount": {"Ref": "AWS::AccountId"}
    }
    assert list(statement["Condition"]["ArnLike"]) == ["aws:SourceArn"]
    pattern = evaluate(statement["Condition"]["ArnLike"]["aws:SourceArn"], synthesized.body)
    assert pattern == "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:Portguard-*"
    arns = alarm_arns(synthesized)
    assert len(arns) >= 4
    assert all(arn_like(pattern, arn) for arn in arns.values()), arns
    for stranger in (
        "arn:aws:cloudwatch:eu-west-1:444455556666:alarm:Portguard-RuleErrors",
        "arn:aws:cloudwatch:us-east-1:111122223333:alarm:Portguard-RuleErrors",
        "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:SomeoneElses",
    ):
        assert not arn_like(pattern, stranger)


def test_key_lets_this_stacks_alarms_publish_to_the_encrypted_topic(
    default: Synthesized,
) -> None:
    (statement,) = [
        s
        for s in key_statements(default)
        if "cloudwatch.amazonaws.com" in service_principals(s, default.body)
    ]
    assert statement["Effect"] == "Allow"
    assert set(as_list(statement["Action"])) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert set(statement["Condition"]) == {"StringEquals", "ArnLike"}
    assert_bound_to_this_stacks_alarms(statement, default)


# --- Least privilege (item 3) -----------------------------------------------------------------


def test_role_is_assumed_by_lambda_only(default: Synthesized) -> None:
    _, role = only_resource(default.body, "AWS::IAM::Role")
    statements = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [(s["Effect"], s["Action"], s["Principal"]) for s in statements] == [
        ("Allow", "sts:AssumeRole", {"Service": "lambda.amazonaws.com"})
    ]


def test_role_carries_only_the_customer_managed_policy(default: Synthesized) -> None:
    ids = default.ids
    _, role = only_resource(default.body, "AWS::IAM::Role")
    # Attached from either side: the role's ManagedPolicyArns, or a managed policy's Roles.
    own = role["Properties"].get("ManagedPolicyArns")
    assert own in (None, [{"Ref": ids.policy}]), own
    attached = list(own or []) + [
        {"Ref": policy_id}
        for policy_id, policy in resources_of(default.body, "AWS::IAM::ManagedPolicy").items()
        if {"Ref": ids.role} in policy["Properties"].get("Roles", [])
    ]
    assert attached == [{"Ref": ids.policy}]


def test_no_aws_managed_policy_anywhere(default: Synthesized) -> None:
    # AWSConfigRulesExecutionRole (the CustomRule L2's) or any other arn:...:iam::aws:policy/...
    rendered = json.dumps(default.body)
    assert ":iam::aws:policy/" not in rendered
    assert "AWSConfigRulesExecutionRole" not in rendered


def test_role_has_no_inline_policy(default: Synthesized) -> None:
    default.template.has_resource_properties("AWS::IAM::Role", {"Policies": Match.absent()})
    attached = {
        policy_id: policy
        for policy_id, policy in resources_of(default.body, "AWS::IAM::Policy").items()
        if {"Ref": default.ids.role} in policy["Properties"].get("Roles", [])
    }
    assert attached == {}


def policy_statements(synthesized: Synthesized) -> list[dict[str, Any]]:
    _, policy = only_resource(synthesized.body, "AWS::IAM::ManagedPolicy")
    return list(policy["Properties"]["PolicyDocument"]["Statement"])


def test_policy_allows_exactly_what_the_handler_calls(default: Synthesized) -> None:
    statements = policy_statements(default)
    actions = [action for s in statements for action in as_list(s["Action"])]
    assert sorted(actions) == sorted(POLICY_ACTIONS)
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert not {"NotAction", "NotResource", "NotPrincipal", "Principal"} & set(statement)


def test_policy_grants_each_action_on_the_narrowest_resource(default: Synthesized) -> None:
    ids = default.ids
    resources: dict[str, list[Any]] = {}
    for statement in policy_statements(default):
        for action in as_list(statement["Action"]):
            resources.setdefault(action, []).extend(as_list(statement["Resource"]))
    (prefix_lists,) = resources.pop("ec2:GetManagedPrefixListEntries")
    assert evaluate(prefix_lists, default.body) == "arn:aws:ec2:eu-west-1:*:prefix-list/*"
    assert resources == {
        "config:PutEvaluations": ["*"],
        "config:GetResourceConfigHistory": ["*"],
        "ec2:DescribeSecurityGroups": ["*"],
        "logs:CreateLogStream": [get_att(ids.log_group)],
        "logs:PutLogEvents": [get_att(ids.log_group)],
        "sqs:SendMessage": [get_att(ids.queue)],
        "kms:GenerateDataKey": [get_att(ids.key)],
        "kms:Decrypt": [get_att(ids.key)],
    }


def test_config_may_invoke_the_function_for_this_account_only(default: Synthesized) -> None:
    _, permission = only_resource(default.body, "AWS::Lambda::Permission")
    assert permission["Properties"] == {
        "Action": "lambda:InvokeFunction",
        "FunctionName": get_att(default.ids.function),
        "Principal": "config.amazonaws.com",
        "SourceAccount": {"Ref": "AWS::AccountId"},
    }


# --- Nothing lost, nothing silent (item 4) ----------------------------------------------------


def test_failed_invocations_go_to_the_queue(default: Synthesized) -> None:
    default.template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "FunctionName": {"Ref": default.ids.function},
            "DestinationConfig": {"OnFailure": {"Destination": get_att(default.ids.queue)}},
        },
    )


def test_asynchronous_invocation_is_configured_explicitly(default: Synthesized) -> None:
    default.template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "FunctionName": {"Ref": default.ids.function},
            "MaximumRetryAttempts": 2,
            "MaximumEventAgeInSeconds": 6 * 3600,
        },
    )


def test_queue_is_encrypted_and_keeps_messages_14_days(default: Synthesized) -> None:
    default.template.has_resource_properties(
        "AWS::SQS::Queue",
        {"KmsMasterKeyId": get_att(default.ids.key), "MessageRetentionPeriod": 1209600},
    )


def test_queue_refuses_requests_without_tls(default: Synthesized) -> None:
    default.template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "Queues": [{"Ref": default.ids.queue}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                "Resource": get_att(default.ids.queue),
                            }
                        )
                    ]
                )
            },
        },
    )


def test_alarm_on_the_functions_errors(default: Synthesized) -> None:
    default.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/Lambda",
            "MetricName": "Errors",
            "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": default.ids.function}}],
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "AlarmActions": [{"Ref": default.ids.topic}],
        },
    )


def test_alarm_on_every_new_failed_event(default: Synthesized) -> None:
    # Messages sent to the queue, not its depth: the depth stays at 1 or more for the 14 days
    # a message is kept, and the alarm with it, while later failures pass silently.
    default.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/SQS",
            "MetricName": "NumberOfMessagesSent",
            "Dimensions": [{"Name": "QueueName", "Value": get_att(default.ids.queue, "QueueName")}],
            "Statistic": "Sum",
            "Period": 300,
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            # Any one of 4 periods: a datapoint SQS publishes up to 15 minutes late still counts.
            "EvaluationPeriods": 4,
            "DatapointsToAlarm": 1,
            "TreatMissingData": "notBreaching",
            "AlarmActions": [{"Ref": default.ids.topic}],
        },
    )
    assert "ApproximateNumberOfMessagesVisible" not in json.dumps(default.body)


def test_alarm_on_events_lambda_could_not_deliver_to_the_queue(default: Synthesized) -> None:
    default.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/Lambda",
            "MetricName": "DestinationDeliveryFailures",
            "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": default.ids.function}}],
            "Statistic": "Sum",
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": [{"Ref": default.ids.topic}],
        },
    )


def heartbeat(synthesized: Synthesized) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (logical_id, alarm)
        for logical_id, alarm in resources_of(synthesized.body, "AWS::CloudWatch::Alarm").items()
        if alarm["Properties"]["MetricName"] == "Invocations"
    ]
    return found


@pytest.mark.parametrize(("variant", "hours"), [("default", 30), ("tuned", 8)])
def test_heartbeat_fires_when_config_stops_invoking_the_function(
    variant: str, hours: int, request: pytest.FixtureRequest
) -> None:
    synthesized: Synthesized = request.getfixturevalue(variant)
    assert heartbeat_hours(synthesized.settings.schedule) == hours
    _, alarm = heartbeat(synthesized)
    properties = alarm["Properties"]
    assert properties["Namespace"] == "AWS/Lambda"
    assert properties["Dimensions"] == [
        {"Name": "FunctionName", "Value": {"Ref": synthesized.ids.function}}
    ]
    assert (properties["Statistic"], properties["Period"]) == ("Sum", 3600)
    # Every hour of the window without an invocation: Lambda emits no datapoint for an hour
    # with none, so missing data must count as breaching.
    assert (properties["ComparisonOperator"], properties["Threshold"]) == ("LessThanThreshold", 1)
    assert properties["EvaluationPeriods"] == properties["DatapointsToAlarm"] == hours
    assert properties["TreatMissingData"] == "breaching"
    assert properties["AlarmActions"] == properties["OKActions"] == [{"Ref": synthesized.ids.topic}]


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_heartbeat_window_outlasts_the_schedule_within_cloudwatchs_limit(schedule: str) -> None:
    hours = heartbeat_hours(schedule)
    # Longer than the periodic interval by a margin; CloudWatch accepts an hourly alarm over at
    # most 7 days (1 day only for periods under an hour, too short for TwentyFour_Hours).
    assert SCHEDULE_HOURS[schedule] + 2 <= hours <= MAXIMUM_EVALUATION_HOURS == 168


def test_schedule_hours_cover_every_schedule_config_offers() -> None:
    assert tuple(SCHEDULE_HOURS) == SCHEDULES


@pytest.mark.parametrize("variant", ["default", "pack"])
def test_heartbeat_is_created_after_the_rule(variant: str, request: pytest.FixtureRequest) -> None:
    synthesized: Synthesized = request.getfixturevalue(variant)
    resource_type = (
        "AWS::Config::ConformancePack" if variant == "pack" else "AWS::Config::ConfigRule"
    )
    deployed_id, _ = only_resource(synthesized.body, resource_type)
    _, alarm = heartbeat(synthesized)
    assert deployed_id in alarm["DependsOn"]


EXPECTED_ALARMS = [
    ("Portguard-RuleErrors", "AWS/Lambda", "Errors"),
    ("Portguard-RuleFailedEvents", "AWS/SQS", "NumberOfMessagesSent"),
    ("Portguard-RuleHeartbeat", "AWS/Lambda", "Invocations"),
    ("Portguard-RuleUndeliveredEvents", "AWS/Lambda", "DestinationDeliveryFailures"),
]


@pytest.mark.parametrize("variant", ["default", "pack", "tuned"])
def test_every_alarm_notifies_the_topic_once_its_policy_exists(
    variant: str, request: pytest.FixtureRequest
) -> None:
    synthesized: Synthesized = request.getfixturevalue(variant)
    alarms = resources_of(synthesized.body, "AWS::CloudWatch::Alarm").values()
    assert (
        sorted(
            (
                evaluate(a["Properties"]["AlarmName"], synthesized.body),
                a["Properties"]["Namespace"],
                a["Properties"]["MetricName"],
            )
            for a in alarms
        )
        == EXPECTED_ALARMS
    )
    topic_policy_id, _ = only_resource(synthesized.body, "AWS::SNS::TopicPolicy")
    for alarm in alarms:
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": synthesized.ids.topic}]
        assert topic_policy_id in alarm["DependsOn"]
        assert alarm["Properties"]["AlarmDescription"]


def test_topic_lets_this_stacks_alarms_publish(default: Synthesized) -> None:
    # A topic policy replaces SNS's default one: without this statement CloudWatch could not
    # publish, and no alarm would notify anyone.
    _, topic_policy = only_resource(default.body, "AWS::SNS::TopicPolicy")
    (statement,) = [
        s
        for s in topic_policy["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow"
    ]
    assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert as_list(statement["Action"]) == ["sns:Publish"]
    assert statement["Resource"] == {"Ref": default.ids.topic}
    assert set(statement["Condition"]) == {"StringEquals", "ArnLike"}
    assert_bound_to_this_stacks_alarms(statement, default)


def test_topic_is_encrypted_and_ssl_only(default: Synthesized) -> None:
    default.template.has_resource_properties(
        "AWS::SNS::Topic", {"KmsMasterKeyId": get_att(default.ids.key)}
    )
    default.template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "Topics": [{"Ref": default.ids.topic}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                "Resource": {"Ref": default.ids.topic},
                            }
                        )
                    ]
                )
            },
        },
    )


def test_no_email_subscription_by_default(default: Synthesized) -> None:
    assert resources_of(default.body, "AWS::SNS::Subscription") == {}


def test_alarm_email_from_context_subscribes_to_the_topic(tuned: Synthesized) -> None:
    (subscription,) = resources_of(tuned.body, "AWS::SNS::Subscription").values()
    assert subscription["Properties"] == {
        "Protocol": "email",
        "Endpoint": "ops@example.com",
        "TopicArn": {"Ref": tuned.ids.topic},
    }


# --- The rule (SPEC §3) and the conformance pack (item 6) -------------------------------------


def sorted_details(details: list[dict[str, str]]) -> list[dict[str, str]]:
    return sorted(details, key=lambda d: d["MessageType"])


def test_rule_is_a_custom_lambda_rule_on_the_function(default: Synthesized) -> None:
    _, rule = only_resource(default.body, "AWS::Config::ConfigRule")
    properties = rule["Properties"]
    assert properties["ConfigRuleName"] == "portguard"
    assert properties["Source"]["Owner"] == "CUSTOM_LAMBDA"
    assert properties["Source"]["SourceIdentifier"] == get_att(default.ids.function)
    assert properties["Scope"] == {"ComplianceResourceTypes": ["AWS::EC2::SecurityGroup"]}
    assert properties["InputParameters"] == parse_rule_parameters(None).as_input_parameters()
    assert "MaximumExecutionFrequency" not in properties  # per trigger, not per rule


def test_rule_runs_on_changes_oversized_changes_and_every_24_hours(default: Synthesized) -> None:
    _, rule = only_resource(default.body, "AWS::Config::ConfigRule")
    assert sorted_details(rule["Properties"]["Source"]["SourceDetails"]) == [
        {"EventSource": "aws.config", "MessageType": "ConfigurationItemChangeNotification"},
        {
            "EventSource": "aws.config",
            "MessageType": "OversizedConfigurationItemChangeNotification",
        },
        {
            "EventSource": "aws.config",
            "MessageType": "ScheduledNotification",
            "MaximumExecutionFrequency": "TwentyFour_Hours",
        },
    ]


def test_schedule_and_parameters_from_context(tuned: Synthesized) -> None:
    _, rule = only_resource(tuned.body, "AWS::Config::ConfigRule")
    (scheduled,) = [
        d
        for d in rule["Properties"]["Source"]["SourceDetails"]
        if d["MessageType"] == "ScheduledNotification"
    ]
    assert scheduled["MaximumExecutionFrequency"] == "Six_Hours"
    assert rule["Properties"]["InputParameters"] == {
        "blockedPorts": "20-22,3306,3389,4333",
        "protocolType": "TCP",
        "ipType": "IPv6",
        "exemptTagKey": "portguard:exempt",
        "resolvePrefixLists": "false",
    }


@pytest.mark.parametrize("variant", ["default", "tuned"])
def test_rule_is_the_shared_definition(variant: str, request: pytest.FixtureRequest) -> None:
    synthesized: Synthesized = request.getfixturevalue(variant)
    _, rule = only_resource(synthesized.body, "AWS::Config::ConfigRule")
    assert rule["Properties"] == config_rule_properties(
        get_att(synthesized.ids.function),
        synthesized.settings.parameters,
        schedule=synthesized.settings.schedule,
    )


def test_rule_waits_for_the_invoke_permission(default: Synthesized) -> None:
    default.template.has_resource(
        "AWS::Config::ConfigRule", {"DependsOn": Match.array_with([default.ids.permission])}
    )


def test_rule_mode_deploys_no_conformance_pack(default: Synthesized) -> None:
    assert resources_of(default.body, "AWS::Config::ConformancePack") == {}


def test_outputs_name_the_rule_the_function_the_topic_and_the_queue(default: Synthesized) -> None:
    rule_id, _ = only_resource(default.body, "AWS::Config::ConfigRule")
    default.template.has_output("RuleName", {"Value": {"Ref": rule_id}})
    default.template.has_output("FunctionName", {"Value": {"Ref": default.ids.function}})
    default.template.has_output("AlarmTopicArn", {"Value": {"Ref": default.ids.topic}})
    default.template.has_output("FailedInvocationsQueueUrl", {"Value": {"Ref": default.ids.queue}})


def pack_template_body(synthesized: Synthesized) -> dict[str, Any]:
    """The conformance pack's template, its one reference to the function's ARN replaced by
    ARN_PLACEHOLDER so that it parses as JSON."""
    _, conformance_pack = only_resource(synthesized.body, "AWS::Config::ConformancePack")
    body = conformance_pack["Properties"]["TemplateBody"]
    separator, parts = body["Fn::Join"]
    assert separator == ""
    tokens = [part for part in parts if not isinstance(part, str)]
    assert tokens == [get_att(synthesized.ids.function)]
    return dict(json.loads("".join(p if isinstance(p, str) else ARN_PLACEHOLDER for p in parts)))


@pytest.mark.parametrize(("variant", "standalone"), [("pack", "default"), ("tuned_pack", "tuned")])
def test_conformance_pack_holds_the_same_rule(
    variant: str, standalone: str, request: pytest.FixtureRequest
) -> None:
    synthesized: Synthesized = request.getfixturevalue(variant)
    alone: Synthesized = request.getfixturevalue(standalone)
    resources = pack_template_body(synthesized)["Resources"]
    (rule,) = resources.values()
    assert rule["Type"] == "AWS::Config::ConfigRule"
    assert rule["Properties"] == config_rule_properties(
        ARN_PLACEHOLDER, synthesized.settings.parameters, schedule=synthesized.settings.schedule
    )
    # ...and the same as the standalone rule built from the same context.
    _, standalone_rule = only_resource(alone.body, "AWS::Config::ConfigRule")
    expected = copy.deepcopy(standalone_rule["Properties"])
    assert expected["Source"]["SourceIdentifier"] == get_att(alone.ids.function)
    expected["Source"]["SourceIdentifier"] = ARN_PLACEHOLDER
    assert rule["Properties"]["Source"]["SourceDetails"] == expected["Source"]["SourceDetails"]
    assert rule["Properties"] == expected


def test_conformance_pack_uses_the_scheduled_frequency_from_context(
    tuned_pack: Synthesized,
) -> None:
    (rule,) = pack_template_body(tuned_pack)["Resources"].values()
    frequencies = [
        d.get("MaximumExecutionFrequency") for d in rule["Properties"]["Source"]["SourceDetails"]
    ]
    assert "Six_Hours" in frequencies


def test_conformance_pack_replaces_the_standalone_rule(pack: Synthesized) -> None:
    assert resources_of(pack.body, "AWS::Config::ConfigRule") == {}
    pack_id, _ = only_resource(pack.body, "AWS::Config::ConformancePack")
    pack.template.has_resource(
        "AWS::Config::ConformancePack",
        {
            "Properties": {"ConformancePackName": "portguard"},
            "DependsOn": Match.array_with([pack.ids.permission]),
        },
    )
    pack.template.has_output("ConformancePackName", {"Value": {"Ref": pack_id}})
    assert "RuleName" not in pack.body["Outputs"]


def test_conformance_pack_mode_keeps_the_function_and_its_guards(pack: Synthesized) -> None:
    # The invoke permission, the failure destination and the alarms do not depend on the mode.
    _, permission = only_resource(pack.body, "AWS::Lambda::Permission")
    assert permission["Properties"]["SourceAccount"] == {"Ref": "AWS::AccountId"}
    pack.template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {"DestinationConfig": {"OnFailure": {"Destination": get_att(pack.ids.queue)}}},
    )
    assert len(resources_of(pack.body, "AWS::CloudWatch::Alarm")) == len(EXPECTED_ALARMS)
