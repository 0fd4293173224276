"""The synthesized portguard stack: the function, the Config rule, its parameters and its asset.

The App gets cdk.json's context, as the CDK CLI would give it (a bare ``App()`` has no feature
flags). The first synthesis in a process starts jsii and takes seconds; later ones are fast, so
templates are shared per module and only what needs other context synthesizes again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest
from aws_cdk import App
from aws_cdk.assertions import Capture, Match, Template

from infra import rule as rule_module
from infra.settings import ContextError, Settings, cdk_json_context
from infra.stack import PortguardStack
from portguard.parameters import parse_rule_parameters

if TYPE_CHECKING:
    from collections.abc import Mapping

pytestmark = pytest.mark.infra

REPO = Path(__file__).resolve().parents[2]
POWERTOOLS_LAYER = "AWSLambdaPowertoolsPythonV3-python313-arm64:27"


class Synthesized(NamedTuple):
    template: Template
    assembly: Path


def synthesize(outdir: Path, **overrides: object) -> Synthesized:
    app = App(context={**cdk_json_context(), **overrides}, outdir=str(outdir))
    PortguardStack(app, "Portguard", settings=Settings.from_context(app))
    directory = Path(app.synth().directory)
    template = json.loads((directory / "Portguard.template.json").read_text())
    return Synthesized(Template.from_json(template), directory)


def only_resource(template: Template, resource_type: str) -> tuple[str, Mapping[str, Any]]:
    """The logical id and body of the single resource of this type (ids are hashed: never typed)."""
    resources = template.find_resources(resource_type)
    assert len(resources) == 1, f"expected one {resource_type}, found {sorted(resources)}"
    ((logical_id, body),) = resources.items()
    return logical_id, body


def render(value: object) -> str:
    """A string or an Fn::Join of strings and pseudo-parameter Refs, written as ``${Ref}``."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Ref" in value:
        return "${" + str(value["Ref"]) + "}"
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(render(part) for part in parts)
    raise AssertionError(f"cannot render {value!r}")


@pytest.fixture(scope="module")
def default(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("default"))


@pytest.fixture(scope="module")
def function_id(default: Synthesized) -> str:
    return only_resource(default.template, "AWS::Lambda::Function")[0]


def test_function_runs_the_handler_on_python313_arm64(default: Synthesized) -> None:
    default.template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Runtime": "python3.13",
            "Architectures": ["arm64"],
            "Handler": "portguard.handler.lambda_handler",
            "MemorySize": 256,
            "Timeout": 300,
            "Environment": {
                "Variables": {
                    "POWERTOOLS_SERVICE_NAME": "portguard",
                    "POWERTOOLS_METRICS_NAMESPACE": "portguard",
                    "LOG_LEVEL": "INFO",
                }
            },
        },
    )


def test_function_uses_the_public_powertools_layer_of_its_own_partition_and_region(
    default: Synthesized,
) -> None:
    layers = Capture()
    default.template.has_resource_properties("AWS::Lambda::Function", {"Layers": layers})
    (layer,) = layers.as_array()
    assert render(layer) == (
        f"arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:017000801446:layer:{POWERTOOLS_LAYER}"
    )


def test_function_may_read_security_groups_and_prefix_lists(
    default: Synthesized, function_id: str
) -> None:
    _, function = only_resource(default.template, "AWS::Lambda::Function")
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    default.template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Roles": [{"Ref": role}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Allow",
                                "Action": Match.array_with(
                                    [
                                        "ec2:DescribeSecurityGroups",
                                        "ec2:GetManagedPrefixListEntries",
                                    ]
                                ),
                            }
                        )
                    ]
                )
            },
        },
    )


def test_rule_is_a_custom_lambda_rule_on_the_function(
    default: Synthesized, function_id: str
) -> None:
    default.template.has_resource_properties(
        "AWS::Config::ConfigRule",
        {
            "Source": {
                "Owner": "CUSTOM_LAMBDA",
                "SourceIdentifier": {"Fn::GetAtt": [function_id, "Arn"]},
                "SourceDetails": Match.any_value(),
            },
            "Scope": {"ComplianceResourceTypes": ["AWS::EC2::SecurityGroup"]},
            "MaximumExecutionFrequency": "TwentyFour_Hours",
        },
    )
    # Config may invoke the function, from this account only.
    default.template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": [function_id, "Arn"]},
            "Principal": "config.amazonaws.com",
            "SourceAccount": {"Ref": "AWS::AccountId"},
        },
    )


def test_rule_runs_on_changes_oversized_changes_and_every_24_hours(default: Synthesized) -> None:
    _, rule = only_resource(default.template, "AWS::Config::ConfigRule")
    details = rule["Properties"]["Source"]["SourceDetails"]
    assert sorted(details, key=lambda d: d["MessageType"]) == [
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


def test_rule_parameters_are_the_normalized_defaults(default: Synthesized) -> None:
    parameters = Capture()
    default.template.has_resource_properties(
        "AWS::Config::ConfigRule", {"InputParameters": parameters}
    )
    assert parameters.as_object() == parse_rule_parameters(None).as_input_parameters()
    assert sorted(parameters.as_object()) == [
        "blockedPorts",
        "ipType",
        "protocolType",
        "resolvePrefixLists",
    ]


def test_outputs_name_the_rule_and_the_function(default: Synthesized, function_id: str) -> None:
    rule_id, _ = only_resource(default.template, "AWS::Config::ConfigRule")
    default.template.has_output("RuleName", {"Value": {"Ref": rule_id}})
    default.template.has_output("FunctionName", {"Value": {"Ref": function_id}})


def test_cdk_json_feature_flags_are_applied(default: Synthesized, function_id: str) -> None:
    # @aws-cdk/aws-lambda:useCdkManagedLogGroup: without cdk.json's context there is no log group.
    default.template.has_resource_properties(
        "AWS::Logs::LogGroup",
        {"LogGroupName": {"Fn::Join": ["", ["/aws/lambda/", {"Ref": function_id}]]}},
    )


def asset_directory(synthesized: Synthesized) -> Path:
    """The staged directory of the function's code, found through the asset manifest."""
    _, function = only_resource(synthesized.template, "AWS::Lambda::Function")
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
    assert {"portguard/__init__.py", "portguard/parameters.py", "portguard/handler.py"} <= files
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
        (cache / "parameters.cpython-313.pyc").write_bytes(b"\0")
    (root / "portguard" / "stray.pyc").write_bytes(b"\0")
    monkeypatch.setattr(rule_module, "LAMBDA_ROOT", root)

    staged = asset_directory(synthesize(tmp_path / "out"))

    names = {p.name for p in staged.rglob("*")}
    assert "parameters.py" in names
    assert "__pycache__" not in names
    assert not [n for n in names if n.endswith(".pyc")]


def test_context_overrides_flow_into_the_rule_parameters(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    synthesized = synthesize(
        tmp_path_factory.mktemp("overrides"),
        **{
            "portguard:blockedPorts": "hipaa",
            "portguard:protocolType": "tcp",
            "portguard:ipType": "ipv6",
            "portguard:exemptTagKey": "portguard:exempt",
            "portguard:resolvePrefixLists": False,
        },
    )
    synthesized.template.has_resource_properties(
        "AWS::Config::ConfigRule",
        {
            "InputParameters": {
                "blockedPorts": "20-22,3306,3389,4333",
                "protocolType": "TCP",
                "ipType": "IPv6",
                "exemptTagKey": "portguard:exempt",
                "resolvePrefixLists": "false",
            }
        },
    )


def parameters_from(context: Mapping[str, object]) -> dict[str, str]:
    return Settings.from_context(App(context=dict(context))).parameters.as_input_parameters()


def test_absent_keys_take_the_rule_defaults() -> None:
    assert parameters_from({}) == parse_rule_parameters(None).as_input_parameters()


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        # cdk.json may hold booleans and numbers; -c gives strings. Both mean the same.
        ({"portguard:resolvePrefixLists": False}, {"resolvePrefixLists": "false"}),
        ({"portguard:resolvePrefixLists": "FALSE"}, {"resolvePrefixLists": "false"}),
        ({"portguard:resolvePrefixLists": True}, {"resolvePrefixLists": "true"}),
        ({"portguard:blockedPorts": 22}, {"blockedPorts": "22"}),
        ({"portguard:blockedPorts": "3389 22, CIS"}, {"blockedPorts": "22,3389"}),
        ({"portguard:exemptTagKey": " owner:exempt "}, {"exemptTagKey": "owner:exempt"}),
        ({"portguard:deployAs": "rule"}, {}),
        ({"portguard:remediation": "off"}, {}),
    ],
)
def test_context_values_of_any_json_type(
    context: dict[str, object], expected: dict[str, str]
) -> None:
    assert parameters_from(context) == {
        **parse_rule_parameters(None).as_input_parameters(),
        **expected,
    }


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("portguard:blockedPorts", "22,70000", r"portguard:blockedPorts='22,70000'.*70000"),
        ("portguard:blockedPorts", "", r"portguard:blockedPorts='': the port list is empty"),
        ("portguard:blockedPorts", "ssh", r"portguard:blockedPorts='ssh': unknown token 'ssh'"),
        ("portguard:protocolType", "icmp", r"portguard:protocolType='icmp': expected one of"),
        ("portguard:ipType", "v5", r"portguard:ipType='v5': expected one of"),
        ("portguard:resolvePrefixLists", "maybe", r"portguard:resolvePrefixLists='maybe'"),
        ("portguard:resolvePrefixLists", 1.5, r"portguard:resolvePrefixLists=1\.5"),
        ("portguard:exemptTagKey", "  ", r"portguard:exemptTagKey='  ': the tag key is empty"),
        (
            "portguard:deployAs",
            "conformance-pack",
            r"deployAs='conformance-pack': not supported yet",
        ),
        ("portguard:deployAs", "stack", r"portguard:deployAs='stack': expected one of rule,"),
        ("portguard:remediation", "automatic", r"remediation='automatic': not supported yet"),
        (
            "portguard:blockedPort",
            "22",
            r"portguard:blockedPort='22': unknown .*did you mean portguard:blockedPorts",
        ),
    ],
)
def test_a_bad_context_value_names_the_key_and_the_value(
    key: str, value: object, message: str
) -> None:
    app = App(context={**cdk_json_context(), key: value})
    with pytest.raises(ContextError, match=message):
        Settings.from_context(app)


def test_python_app_py_fails_synth_on_a_bad_value(tmp_path: Path) -> None:
    # As `cdk synth -c portguard:blockedPorts=22,70000` runs it: the CLI passes context in the
    # environment, and it overrides cdk.json's.
    env = {
        **os.environ,
        "CDK_CONTEXT_JSON": json.dumps({"portguard:blockedPorts": "22,70000"}),
        "CDK_OUTDIR": str(tmp_path),
    }
    result = subprocess.run(  # noqa: S603 - fixed argv, our own app
        [sys.executable, str(REPO / "app.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "invalid CDK context portguard:blockedPorts='22,70000'" in result.stderr
    assert "port 70000 is above 65535" in result.stderr
    assert not (tmp_path / "manifest.json").exists()
