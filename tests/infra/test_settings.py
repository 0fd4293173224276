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
from infra.settings import (
    INPUT_PARAMETERS_LIMIT,
    ORGANIZATION_RESERVED_CONCURRENCY,
    ContextError,
    Organization,
    Settings,
    cdk_json_context,
    input_parameters_json,
)
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
    ("portguard:deployAs", "organization", None),
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


# --- Organization mode (issue 12) -------------------------------------------------------------

ORGANIZATION_ID = "o-a1b2c3d4e5"
OU = "ou-ab12-cd34ef56"
ROOT = "r-ab12"
ORGANIZATION: dict[str, object] = {
    "portguard:deployAs": "organization",
    "portguard:organizationId": ORGANIZATION_ID,
    "portguard:organizationTargets": OU,
}


def organization_from(context: dict[str, object]) -> Organization:
    organization = settings_from({**ORGANIZATION, **context}).organization
    assert organization is not None
    return organization


def test_organization_mode_reads_the_organization_and_its_defaults() -> None:
    settings = settings_from(ORGANIZATION)
    assert settings.deploy_as == "organization"
    assert settings.organization == Organization(
        organization_id=ORGANIZATION_ID,
        targets=(OU,),
        member_role_name="portguard-member",
        excluded_accounts=(),
        deploy_from="delegated-administrator",
    )
    assert settings.organization.stack_set_call_as == "DELEGATED_ADMIN"


ORGANIZATION_VALID = [
    # Lists: separated by commas and/or spaces on the command line, a JSON list in cdk.json.
    ("portguard:organizationTargets", f"{OU},{ROOT}", "targets", (OU, ROOT)),
    ("portguard:organizationTargets", f" {OU} , {ROOT} ", "targets", (OU, ROOT)),
    ("portguard:organizationTargets", f"{OU} {ROOT}", "targets", (OU, ROOT)),
    ("portguard:organizationTargets", [OU, ROOT], "targets", (OU, ROOT)),
    ("portguard:organizationTargets", f"{OU},{OU}", "targets", (OU,)),
    ("portguard:organizationTargets", ROOT, "targets", (ROOT,)),
    ("portguard:memberRoleName", "audit-portguard", "member_role_name", "audit-portguard"),
    ("portguard:memberRoleName", "r" * 64, "member_role_name", "r" * 64),
    ("portguard:excludedAccounts", "111122223333", "excluded_accounts", ("111122223333",)),
    (
        "portguard:excludedAccounts",
        "111122223333, 012345678901",
        "excluded_accounts",
        ("111122223333", "012345678901"),
    ),
    (
        "portguard:excludedAccounts",
        ["012345678901", "111122223333"],
        "excluded_accounts",
        ("012345678901", "111122223333"),
    ),
    ("portguard:excludedAccounts", [], "excluded_accounts", ()),
    ("portguard:deployFrom", "management-account", "deploy_from", "management-account"),
    ("portguard:deployFrom", "Delegated-Administrator", "deploy_from", "delegated-administrator"),
    (
        "portguard:scanPrincipals",
        "arn:aws:iam::111122223333:role/audit/scan, arn:aws:iam::111122223333:user/alice",
        "scan_principals",
        ("arn:aws:iam::111122223333:role/audit/scan", "arn:aws:iam::111122223333:user/alice"),
    ),
    ("portguard:scanPrincipals", [], "scan_principals", ()),
]


@pytest.mark.parametrize(
    ("key", "value", "field", "expected"),
    ORGANIZATION_VALID,
    ids=[f"{v[0]}={str(v[1])[:24]!r}" for v in ORGANIZATION_VALID],
)
def test_valid_organization_value(key: str, value: object, field: str, expected: object) -> None:
    assert getattr(organization_from({key: value}), field) == expected


def test_the_management_account_creates_the_stack_set_as_itself() -> None:
    organization = organization_from({"portguard:deployFrom": "management-account"})
    assert organization.stack_set_call_as == "SELF"


def test_organization_mode_reserves_concurrency_as_a_cost_cap_unless_told() -> None:
    assert settings_from(ORGANIZATION).reserved_concurrency == ORGANIZATION_RESERVED_CONCURRENCY
    tuned = settings_from({**ORGANIZATION, "portguard:reservedConcurrency": "50"})
    assert tuned.reserved_concurrency == 50
    # A single account keeps the account's shared pool by default.
    assert settings_from({}).reserved_concurrency is None


ORGANIZATION_INVALID = [
    (
        {"portguard:organizationId": None},
        "portguard:organizationId",
        r"^missing CDK context portguard:organizationId: required with "
        r"portguard:deployAs=organization \(the organization's id, o-\.\.\.\)$",
    ),
    (
        {"portguard:organizationTargets": None},
        "portguard:organizationTargets",
        r"^missing CDK context portguard:organizationTargets: required with "
        r"portguard:deployAs=organization "
        r"\(the organizational unit ids ou-\.\.\. or the root id r-\.\.\.",
    ),
    (
        {"portguard:organizationId": "o-ABCDEFGHIJ"},
        "portguard:organizationId",
        r"organizationId='o-ABCDEFGHIJ': expected an organization id: o- and 10 to 32 lowercase",
    ),
    ({"portguard:organizationId": "o-short"}, "portguard:organizationId", r"'o-short': expected"),
    (
        {"portguard:organizationId": "111122223333"},
        "portguard:organizationId",
        r"'111122223333': expected an organization id",
    ),
    (
        {"portguard:organizationTargets": f"{OU},ou-bad"},
        "portguard:organizationTargets",
        rf"organizationTargets='{OU},ou-bad': 'ou-bad' is not an organizational unit id "
        r"\(ou-\.\.\.\) or a root id \(r-\.\.\.\)$",
    ),
    (
        {"portguard:organizationTargets": "111122223333"},
        "portguard:organizationTargets",
        r"'111122223333' is not an organizational unit id",
    ),
    (
        {"portguard:organizationTargets": " , "},
        "portguard:organizationTargets",
        r"organizationTargets=' , ': expected at least one id",
    ),
    (
        {"portguard:organizationTargets": []},
        "portguard:organizationTargets",
        r"organizationTargets=\[\]: expected at least one id",
    ),
    (
        {"portguard:organizationTargets": {"ou": OU}},
        "portguard:organizationTargets",
        r"expected ids separated by commas, or a JSON list of ids",
    ),
    (
        {"portguard:excludedAccounts": [111122223333]},
        "portguard:excludedAccounts",
        r"111122223333 is not text: write each id in quotes",
    ),
    (
        {"portguard:excludedAccounts": "11112222333"},
        "portguard:excludedAccounts",
        r"'11112222333' is not an AWS account id \(12 digits\)",
    ),
    (
        {"portguard:excludedAccounts": ",".join(f"{n:012d}" for n in range(1001))},
        "portguard:excludedAccounts",
        r"1,001 accounts; AWS Config excludes at most 1,000 from an organization rule",
    ),
    (
        {"portguard:memberRoleName": "path/portguard-member"},
        "portguard:memberRoleName",
        r"memberRoleName='path/portguard-member': expected an IAM role name: 1 to 64 .* "
        r"\(no path\)",
    ),
    ({"portguard:memberRoleName": "r" * 65}, "portguard:memberRoleName", r"expected an IAM role"),
    ({"portguard:memberRoleName": ""}, "portguard:memberRoleName", r"expected an IAM role name"),
    (
        {"portguard:scanPrincipals": "arn:aws:iam::111122223333:group/auditors"},
        "portguard:scanPrincipals",
        r"'arn:aws:iam::111122223333:group/auditors' is not the ARN of an IAM role or user",
    ),
    (
        {"portguard:scanPrincipals": "arn:aws:iam::*:role/audit"},
        "portguard:scanPrincipals",
        r"is not the ARN of an IAM role or user",
    ),
    (
        {"portguard:deployFrom": "member"},
        "portguard:deployFrom",
        r"deployFrom='member': expected one of delegated-administrator, management-account$",
    ),
    # Remediation acts on one account's rule and groups: refused, with the reason.
    (
        {"portguard:remediation": "manual"},
        "portguard:remediation",
        r"portguard:remediation='manual': not available with portguard:deployAs=organization: "
        r"the remediation configuration, document and function act on this account's rule",
    ),
]


@pytest.mark.parametrize(
    ("context", "key", "message"),
    ORGANIZATION_INVALID,
    ids=[
        f"{next(iter(v[0]))}={str(next(iter(v[0].values())))[:16]!r}" for v in ORGANIZATION_INVALID
    ],
)
def test_invalid_organization_value_names_the_key(
    context: dict[str, object], key: str, message: str
) -> None:
    everything = {**ORGANIZATION, **context}
    with pytest.raises(ContextError, match=message) as raised:
        settings_from({k: v for k, v in everything.items() if v is not None})
    assert raised.value.key == key


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("portguard:organizationId", ORGANIZATION_ID),
        ("portguard:organizationTargets", OU),
        ("portguard:memberRoleName", "portguard-member"),
        ("portguard:excludedAccounts", "111122223333"),
        ("portguard:deployFrom", "management-account"),
    ],
)
@pytest.mark.parametrize("deploy_as", ["rule", "conformance-pack"])
def test_organization_keys_are_refused_outside_organization_mode(
    key: str, value: str, deploy_as: str
) -> None:
    # Ignoring them would deploy for one account while the operator meant the organization.
    with pytest.raises(ContextError) as raised:
        settings_from({"portguard:deployAs": deploy_as, key: value})
    assert raised.value.key == key
    assert str(raised.value) == (
        f"invalid CDK context {key}={value!r}: used only with portguard:deployAs=organization; "
        f"with portguard:deployAs={deploy_as} the app deploys for this account alone and would "
        "ignore it"
    )


def every_other_port(count: int) -> str:
    """``count`` ports no two of which are consecutive: no range can shorten them."""
    return ",".join(str(port) for port in range(1, 2 * count, 2))


def test_parameters_longer_than_configs_limit_fail_the_synth_naming_the_longest() -> None:
    ports = every_other_port(250)
    with pytest.raises(ContextError) as raised:
        settings_from({"portguard:blockedPorts": ports})
    assert raised.value.key == "portguard:blockedPorts"
    assert raised.value.value == ports
    length = len(input_parameters_json(parse_rule_parameters({"blockedPorts": ports})))
    assert length > INPUT_PARAMETERS_LIMIT
    assert raised.value.reason == (
        f"the rule's parameters would be {length:,} characters of JSON, above AWS Config's limit "
        "of 1,024 for a rule's InputParameters; write consecutive ports as ranges (8000-8100) or "
        "use a preset"
    )


def test_parameters_up_to_configs_limit_are_accepted() -> None:
    # The longest list of ports whose InputParameters still fit.
    def length(count: int) -> int:
        return len(
            input_parameters_json(parse_rule_parameters({"blockedPorts": every_other_port(count)}))
        )

    count = 1
    while length(count + 1) <= INPUT_PARAMETERS_LIMIT:
        count += 1
    fitting = settings_from({"portguard:blockedPorts": every_other_port(count)})
    assert len(input_parameters_json(fitting.parameters)) <= INPUT_PARAMETERS_LIMIT
    with pytest.raises(ContextError):
        settings_from({"portguard:blockedPorts": every_other_port(count + 1)})
