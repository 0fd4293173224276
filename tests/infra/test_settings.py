"""Every ``portguard:*`` context option, read through ``Settings.from_context`` (issue 3, item 1).

No synthesis here: an ``App(context=...)`` is enough to read context. Values come as ``cdk.json``
holds them (strings, booleans, numbers) or as ``cdk synth -c key=value`` passes them (strings);
both mean the same. Each bad value raises ``ContextError`` naming the key and the value.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk import App

from infra.node_runtime import END_OF_LIFE_BANNER_VARIABLE, silence_end_of_life_banner
from infra.settings import ContextError, Settings, cdk_json_context
from portguard.definition import SCHEDULES
from portguard.parameters import parse_rule_parameters

pytestmark = pytest.mark.infra

REPO = Path(__file__).resolve().parents[2]
DEFAULT_PARAMETERS = parse_rule_parameters(None).as_input_parameters()


def settings_from(context: dict[str, object]) -> Settings:
    """As the app reads them: cdk.json's context, overridden by ``context`` (like ``-c``)."""
    return Settings.from_context(App(context={**cdk_json_context(), **context}))


def observed(settings: Settings, field: str) -> object:
    """A Settings attribute, or ``param:<name>`` for the rule parameter as Config receives it."""
    if field.startswith("param:"):
        return settings.parameters.as_input_parameters().get(field.removeprefix("param:"))
    return getattr(settings, field)


# Each context key, the Settings field it sets, and its value when the key is absent.
DEFAULTS = [
    ("portguard:blockedPorts", "param:blockedPorts", DEFAULT_PARAMETERS["blockedPorts"]),
    ("portguard:protocolType", "param:protocolType", "ALL"),
    ("portguard:ipType", "param:ipType", "ALL"),
    ("portguard:exemptTagKey", "param:exemptTagKey", None),
    ("portguard:resolvePrefixLists", "param:resolvePrefixLists", "true"),
    ("portguard:deployAs", "deploy_as", "rule"),
    ("portguard:schedule", "schedule", "TwentyFour_Hours"),
    ("portguard:logRetentionDays", "log_retention_days", 365),
    ("portguard:alarmEmail", "alarm_email", None),
    ("portguard:reservedConcurrency", "reserved_concurrency", None),
    ("portguard:createRecorder", "create_recorder", False),
    ("portguard:remediation", "remediation", "off"),
]


@pytest.mark.parametrize(("key", "field", "expected"), DEFAULTS, ids=[d[0] for d in DEFAULTS])
def test_default_when_absent(key: str, field: str, expected: object) -> None:
    settings = Settings.from_context(App(context={}))
    assert observed(settings, field) == expected


def test_cdk_json_holds_the_defaults() -> None:
    assert Settings.from_context(App(context=cdk_json_context())) == Settings.from_context(
        App(context={})
    )
    assert Settings.from_context(App(context={})) == Settings(
        parameters=parse_rule_parameters(None)
    )


def test_remediation_off_is_the_default() -> None:
    assert settings_from({"portguard:remediation": "off"}) == settings_from({})


VALID = [
    ("portguard:blockedPorts", "22", "param:blockedPorts", "22"),
    ("portguard:blockedPorts", 22, "param:blockedPorts", "22"),
    ("portguard:blockedPorts", "3389 22, CIS", "param:blockedPorts", "22,3389"),
    ("portguard:blockedPorts", "hipaa", "param:blockedPorts", "20-22,3306,3389,4333"),
    ("portguard:blockedPorts", "8000-8100", "param:blockedPorts", "8000-8100"),
    ("portguard:protocolType", "tcp", "param:protocolType", "TCP"),
    ("portguard:protocolType", "UDP", "param:protocolType", "UDP"),
    ("portguard:protocolType", "all", "param:protocolType", "ALL"),
    ("portguard:ipType", "ipv4", "param:ipType", "IPv4"),
    ("portguard:ipType", "IPv6", "param:ipType", "IPv6"),
    ("portguard:ipType", "all", "param:ipType", "ALL"),
    ("portguard:resolvePrefixLists", False, "param:resolvePrefixLists", "false"),
    ("portguard:resolvePrefixLists", True, "param:resolvePrefixLists", "true"),
    ("portguard:resolvePrefixLists", "false", "param:resolvePrefixLists", "false"),
    ("portguard:resolvePrefixLists", "TRUE", "param:resolvePrefixLists", "true"),
    ("portguard:exemptTagKey", "portguard:exempt", "param:exemptTagKey", "portguard:exempt"),
    ("portguard:exemptTagKey", " owner:exempt ", "param:exemptTagKey", "owner:exempt"),
    ("portguard:deployAs", "rule", "deploy_as", "rule"),
    ("portguard:deployAs", "conformance-pack", "deploy_as", "conformance-pack"),
    ("portguard:deployAs", "Conformance-Pack", "deploy_as", "conformance-pack"),
    *[("portguard:schedule", schedule, "schedule", schedule) for schedule in SCHEDULES],
    ("portguard:schedule", "six_hours", "schedule", "Six_Hours"),
    ("portguard:logRetentionDays", 30, "log_retention_days", 30),
    ("portguard:logRetentionDays", "30", "log_retention_days", 30),
    ("portguard:logRetentionDays", 1, "log_retention_days", 1),
    ("portguard:logRetentionDays", "3653", "log_retention_days", 3653),
    ("portguard:alarmEmail", "ops@example.com", "alarm_email", "ops@example.com"),
    ("portguard:alarmEmail", " ops@example.com ", "alarm_email", "ops@example.com"),
    ("portguard:reservedConcurrency", 5, "reserved_concurrency", 5),
    ("portguard:reservedConcurrency", "5", "reserved_concurrency", 5),
    ("portguard:reservedConcurrency", "1", "reserved_concurrency", 1),
    ("portguard:createRecorder", True, "create_recorder", True),
    ("portguard:createRecorder", False, "create_recorder", False),
    ("portguard:createRecorder", "true", "create_recorder", True),
    ("portguard:createRecorder", "FALSE", "create_recorder", False),
    ("portguard:remediation", "off", "remediation", "off"),
    ("portguard:remediation", "manual", "remediation", "manual"),
    ("portguard:remediation", "automatic", "remediation", "automatic"),
    ("portguard:remediation", " Manual ", "remediation", "manual"),
    ("portguard:remediation", "AUTOMATIC", "remediation", "automatic"),
]


@pytest.mark.parametrize(
    ("key", "value", "field", "expected"), VALID, ids=[f"{v[0]}={v[1]!r}" for v in VALID]
)
def test_valid_value(key: str, value: object, field: str, expected: object) -> None:
    assert observed(settings_from({key: value}), field) == expected


def test_rule_parameters_leave_the_other_parameters_at_their_defaults() -> None:
    parameters = settings_from({"portguard:protocolType": "tcp"}).parameters
    assert parameters.as_input_parameters() == {**DEFAULT_PARAMETERS, "protocolType": "TCP"}


INVALID = [
    ("portguard:blockedPorts", "22,70000", r"portguard:blockedPorts='22,70000': .*70000"),
    ("portguard:blockedPorts", "", r"portguard:blockedPorts='': the port list is empty"),
    ("portguard:blockedPorts", "ssh", r"portguard:blockedPorts='ssh': unknown token 'ssh'"),
    ("portguard:blockedPorts", "8100-8000", r"portguard:blockedPorts='8100-8000': .*reversed"),
    ("portguard:protocolType", "icmp", r"portguard:protocolType='icmp': expected one of TCP"),
    ("portguard:ipType", "v5", r"portguard:ipType='v5': expected one of IPv4"),
    ("portguard:resolvePrefixLists", "maybe", r"resolvePrefixLists='maybe': expected true or"),
    ("portguard:resolvePrefixLists", 1.5, r"portguard:resolvePrefixLists=1\.5"),
    ("portguard:exemptTagKey", "  ", r"portguard:exemptTagKey='  ': the tag key is empty"),
    ("portguard:exemptTagKey", "k" * 129, r"portguard:exemptTagKey='k+': .*128 characters"),
    ("portguard:deployAs", "stack", r"portguard:deployAs='stack': expected one of rule, confor"),
    ("portguard:schedule", "Hourly", r"portguard:schedule='Hourly': expected one of One_Hour"),
    ("portguard:logRetentionDays", 42, r"portguard:logRetentionDays=42: CloudWatch Logs keeps"),
    ("portguard:logRetentionDays", "42", r"portguard:logRetentionDays='42': CloudWatch Logs"),
    ("portguard:logRetentionDays", "abc", r"logRetentionDays='abc': expected a whole number"),
    ("portguard:logRetentionDays", True, r"portguard:logRetentionDays=True: expected a whole"),
    ("portguard:alarmEmail", "not-an-email", r"alarmEmail='not-an-email': expected an email"),
    ("portguard:reservedConcurrency", "0", r"portguard:reservedConcurrency='0': .*from 1"),
    ("portguard:reservedConcurrency", 0, r"portguard:reservedConcurrency=0: .*from 1"),
    ("portguard:reservedConcurrency", "x", r"reservedConcurrency='x': expected a whole number"),
    # ASCII digits only: full-width digits are not read as 30, a superscript does not crash.
    (
        "portguard:logRetentionDays",
        "\uff13\uff10",
        "logRetentionDays='\uff13\uff10': expected a whole",
    ),
    ("portguard:reservedConcurrency", "\u00b2", "reservedConcurrency='\u00b2': expected a whole"),
    ("portguard:reservedConcurrency", "\u0665", "reservedConcurrency='\u0665': expected a whole"),
    ("portguard:createRecorder", "yes", r"createRecorder='yes': expected true or false"),
    (
        "portguard:remediation",
        "sometimes",
        r"^invalid CDK context portguard:remediation='sometimes': "
        r"expected one of off, manual, automatic$",
    ),
    ("portguard:remediation", True, r"portguard:remediation=True: expected one of off, manual"),
    ("portguard:remediation", "auto", r"portguard:remediation='auto': expected one of off"),
    (
        "portguard:blockedPort",
        "22",
        r"portguard:blockedPort='22': unknown .*\(did you mean portguard:blockedPorts\?\)",
    ),
    ("portguard:colour", "red", r"portguard:colour='red': unknown portguard context key; known:"),
    # A portguard option without its prefix (`cdk synth -c blockedPorts=22`) is not read: the
    # defaults would deploy in silence.
    (
        "blockedPorts",
        "22",
        r"^invalid CDK context blockedPorts='22': portguard reads only keys that start with "
        r"portguard: \(did you mean portguard:blockedPorts\?\)$",
    ),
    ("protocoltype", "TCP", r"protocoltype='TCP': .*\(did you mean portguard:protocolType\?\)"),
    ("schedule", "One_Hour", r"schedule='One_Hour': .*\(did you mean portguard:schedule\?\)"),
    ("remediation", "manual", r"remediation='manual': .*did you mean portguard:remediation\?"),
    ("alarmEmail", "a@b.co", r"alarmEmail='a@b.co': .*did you mean portguard:alarmEmail\?"),
    ("blockedPort", "22", r"blockedPort='22': .*\(did you mean portguard:blockedPorts\?\)"),
]


@pytest.mark.parametrize(
    ("key", "value", "message"), INVALID, ids=[f"{v[0]}={str(v[1])[:12]!r}" for v in INVALID]
)
def test_invalid_value_names_the_key_and_the_value(key: str, value: object, message: str) -> None:
    with pytest.raises(ContextError, match=message) as raised:
        settings_from({key: value})
    assert raised.value.key == key
    assert str(raised.value).startswith(f"invalid CDK context {key}=")


def test_other_tools_context_keys_are_left_alone() -> None:
    # Keys that name no portguard option, with or without a prefix of their own.
    assert settings_from(
        {"colour": "red", "other:blockedPorts": "22", "@aws-cdk/core:newFlag": True}
    ) == settings_from({})


@pytest.mark.parametrize(
    ("context", "messages"),
    [
        (
            {"portguard:blockedPorts": "22,70000"},
            [
                "invalid CDK context portguard:blockedPorts='22,70000'",
                "port 70000 is above 65535",
            ],
        ),
        (
            {"blockedPorts": "22"},
            ["invalid CDK context blockedPorts='22'", "did you mean portguard:blockedPorts?"],
        ),
    ],
    ids=["bad-value", "unprefixed-key"],
)
def test_python_app_py_fails_synth_on_a_bad_value(
    context: dict[str, str], messages: list[str], tmp_path: Path
) -> None:
    # As `cdk synth -c portguard:blockedPorts=22,70000` (or `-c blockedPorts=22`) runs it: the
    # CLI passes context in the environment, and it overrides cdk.json's.
    env = {
        **os.environ,
        "CDK_CONTEXT_JSON": json.dumps(context),
        "CDK_OUTDIR": str(tmp_path),
    }
    # As a shell would start it: without the variable this process's conftest set.
    env.pop(END_OF_LIFE_BANNER_VARIABLE, None)
    result = subprocess.run(  # noqa: S603 - fixed argv, our own app
        [sys.executable, str(REPO / "app.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode != 0
    for message in messages:
        assert message in result.stderr
    assert not (tmp_path / "manifest.json").exists()
    # jsii's Node end-of-life banner is silenced on the Node majors the project is tested on.
    assert "end-of-life" not in result.stderr


def test_the_banner_is_silenced_for_the_tested_node_majors_only() -> None:
    environ: dict[str, str] = {}
    silence_end_of_life_banner(environ)
    # jsii reads a comma-separated list of majors and stays silent only for those.
    assert environ == {"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}


def test_the_banner_setting_the_user_chose_is_kept() -> None:
    environ = {"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "18,20"}
    silence_end_of_life_banner(environ)
    assert environ == {"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "18,20"}
