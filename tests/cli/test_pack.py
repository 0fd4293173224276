"""``portguard conformance-pack``: the template holds the rule as the one definition describes it,
parses as YAML, passes cfn-lint, and bad options exit 2 with nothing printed on stdout.

PyYAML (a dependency of cfn-lint) reads the template here; the command itself writes YAML
without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.api import lint_file
from cfnlint.config import ManualArgs
from cfnlint.helpers import REGIONS
from hypothesis import given
from hypothesis import strategies as st

from portguard.definition import SCHEDULES, config_rule_properties
from portguard.parameters import parse_rule_parameters
from portguard_cli.main import main
from portguard_cli.pack import to_yaml

ARN = "arn:aws:lambda:eu-west-1:123456789012:function:portguard-Function0A1B2C"

# The options as the command takes them, and the rule parameters they stand for.
CASES: dict[str, tuple[list[str], dict[str, str], str]] = {
    "defaults": ([], {}, "TwentyFour_Hours"),
    "hipaa-ipv4-six-hours": (
        ["--blocked-ports", "hipaa", "--ip-type", "IPv4", "--schedule", "Six_Hours"],
        {"blockedPorts": "hipaa", "ipType": "IPv4"},
        "Six_Hours",
    ),
    "every-option": (
        [
            "--blocked-ports", "22, 8000-8100 cis",
            "--protocol-type", "tcp",
            "--ip-type", "ipv6",
            "--exempt-tag-key", "portguard:exempt",
            "--no-resolve-prefix-lists",
            "--schedule", "One_Hour",
        ],
        {
            "blockedPorts": "22, 8000-8100 cis",
            "protocolType": "tcp",
            "ipType": "ipv6",
            "exemptTagKey": "portguard:exempt",
            "resolvePrefixLists": "false",
        },
        "One_Hour",
    ),
}  # fmt: skip


def pack(capsys: pytest.CaptureFixture[str], *options: str) -> tuple[int, str, str]:
    status = main(["conformance-pack", *options])
    out, err = capsys.readouterr()
    return status, out, err


def template_of(capsys: pytest.CaptureFixture[str], *options: str) -> tuple[str, Any]:
    status, out, err = pack(capsys, "--lambda-arn", ARN, *options)
    assert (status, err) == (0, "")
    return out, yaml.safe_load(out)


# --- the template ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(CASES))
def test_the_rule_is_the_one_definition(capsys: pytest.CaptureFixture[str], case: str) -> None:
    options, raw, schedule = CASES[case]
    _, template = template_of(capsys, *options)
    assert template == {
        "Resources": {
            "PortguardRule": {
                "Type": "AWS::Config::ConfigRule",
                "Properties": config_rule_properties(
                    ARN, parse_rule_parameters(raw), schedule=schedule
                ),
            }
        }
    }


def test_the_options_reach_the_rule(capsys: pytest.CaptureFixture[str]) -> None:
    _, template = template_of(capsys, *CASES["every-option"][0])
    properties = template["Resources"]["PortguardRule"]["Properties"]
    assert properties["Source"]["SourceIdentifier"] == ARN
    assert properties["Source"]["SourceDetails"][-1]["MaximumExecutionFrequency"] == "One_Hour"
    assert properties["InputParameters"] == {
        "blockedPorts": "22,3389,8000-8100",
        "protocolType": "TCP",
        "ipType": "IPv6",
        "exemptTagKey": "portguard:exempt",
        "resolvePrefixLists": "false",
    }


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_every_schedule(capsys: pytest.CaptureFixture[str], schedule: str) -> None:
    _, template = template_of(capsys, "--schedule", schedule)
    details = template["Resources"]["PortguardRule"]["Properties"]["Source"]["SourceDetails"]
    assert [d.get("MaximumExecutionFrequency") for d in details] == [None, None, schedule]


def test_every_value_is_a_string(capsys: pytest.CaptureFixture[str]) -> None:
    # Quoted, so "true", "22" or "IPv4" can never come back as a boolean or a number.
    out, template = template_of(capsys, "--blocked-ports", "22")
    parameters = template["Resources"]["PortguardRule"]["Properties"]["InputParameters"]
    assert parameters["blockedPorts"] == "22"
    assert parameters["resolvePrefixLists"] == "true"
    assert 'blockedPorts: "22"' in out


def test_an_unusual_tag_key_survives(capsys: pytest.CaptureFixture[str]) -> None:
    key = 'owner: "ops" #1 \\ é 😀 yes'
    out, template = template_of(capsys, "--exempt-tag-key", key)
    parameters = template["Resources"]["PortguardRule"]["Properties"]["InputParameters"]
    assert parameters["exemptTagKey"] == key
    assert out.isascii()


def test_the_header_says_what_it_is_and_how_to_deploy_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out, _ = template_of(capsys)
    header = out[: out.index("Resources:")]
    assert all(line.startswith("#") for line in header.splitlines())
    flat = " ".join(header.replace("\\\n#", " ").split())
    assert "conformance pack" in flat
    assert ARN in flat
    assert (
        f"aws lambda add-permission --region eu-west-1 --function-name {ARN} "
        "--statement-id portguard-config --action lambda:InvokeFunction "
        "--principal config.amazonaws.com --source-account 123456789012"
    ) in flat
    assert (
        "aws configservice put-conformance-pack --region eu-west-1 "
        "--conformance-pack-name portguard --template-body file://pack.yaml"
    ) in flat


def test_a_qualifier_is_quoted_for_the_shell(capsys: pytest.CaptureFixture[str]) -> None:
    arn = f"{ARN}:$LATEST"
    status, out, _ = pack(capsys, "--lambda-arn", arn)
    assert status == 0
    assert f"--function-name '{arn}'" in out
    assert (
        yaml.safe_load(out)["Resources"]["PortguardRule"]["Properties"]["Source"][
            "SourceIdentifier"
        ]
        == arn
    )


# --- cfn-lint ---------------------------------------------------------------------------------


def lint(template: Path) -> list[Any]:
    return list(lint_file(template, config=ManualArgs(regions=REGIONS)))


@pytest.mark.parametrize("case", list(CASES))
def test_cfn_lint_finds_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, case: str
) -> None:
    out, _ = template_of(capsys, *CASES[case][0])
    path = tmp_path / "pack.yaml"
    path.write_text(out, encoding="utf-8")
    matches = lint(path)
    assert matches == [], "\n".join(f"{m.rule.id} {m.linenumber} {m.message}" for m in matches)


def test_the_lint_gate_can_fail(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # The harness sees errors in this template: a property the resource does not have (E3002).
    # (cfn-lint's schema has no enum for Owner, MessageType or MaximumExecutionFrequency: the
    # command checks --schedule itself.)
    out, _ = template_of(capsys)
    path = tmp_path / "pack.yaml"
    path.write_text(out.replace("      Scope:", "      Scopes:"), encoding="utf-8")
    assert [m for m in lint(path) if m.rule.id.startswith("E")]


# --- bad options ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arn",
    [
        f"{ARN}:live",
        f"{ARN}:7",
        "arn:aws-cn:lambda:cn-north-1:123456789012:function:portguard",
        "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:port_guard",
    ],
)
def test_function_arns_accepted(capsys: pytest.CaptureFixture[str], arn: str) -> None:
    status, out, _ = pack(capsys, "--lambda-arn", arn)
    assert status == 0
    assert (
        yaml.safe_load(out)["Resources"]["PortguardRule"]["Properties"]["Source"][
            "SourceIdentifier"
        ]
        == arn
    )


@pytest.mark.parametrize(
    "arn",
    [
        "portguard-Function",
        "arn:aws:lambda:eu-west-1:123456789012:function:",
        "arn:aws:lambda:eu-west-1:12345678901:function:portguard",
        "arn:aws:lambda:eu-west-1:123456789012:layer:portguard:1",
        "arn:aws:iam::123456789012:role/portguard",
        "arn:aws:lambda::123456789012:function:portguard",
        f"{ARN}:live:extra",
        f"{ARN}\n",
        f" {ARN}",
        # Full-width digits in the account and the region: \d takes them, AWS does not.
        "arn:aws:lambda:eu-west-1:\uff11\uff12\uff13456789012:function:portguard",
        "arn:aws:lambda:eu-west-\uff11:123456789012:function:portguard",
    ],
)
def test_a_bad_lambda_arn(capsys: pytest.CaptureFixture[str], arn: str) -> None:
    status, out, err = pack(capsys, "--lambda-arn", arn)
    assert (status, out) == (2, "")
    assert err.startswith("portguard conformance-pack: invalid --lambda-arn ")
    assert repr(arn) in err


@pytest.mark.parametrize("schedule", ["Daily", "twentyfour_hours", "24h", ""])
def test_a_bad_schedule(capsys: pytest.CaptureFixture[str], schedule: str) -> None:
    status, out, err = pack(capsys, "--lambda-arn", ARN, "--schedule", schedule)
    assert (status, out) == (2, "")
    assert f"invalid --schedule {schedule!r}" in err
    assert all(s in err for s in SCHEDULES)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--blocked-ports", "22,70000"], ["--blocked-ports", "70000"]),
        (["--blocked-ports", "ssh"], ["--blocked-ports", "ssh"]),
        (["--protocol-type", "SCTP"], ["--protocol-type", "SCTP"]),
        (["--ip-type", "IPv5"], ["--ip-type", "IPv5"]),
        (["--exempt-tag-key", "  "], ["--exempt-tag-key"]),
    ],
)
def test_a_bad_rule_parameter(
    capsys: pytest.CaptureFixture[str], options: list[str], named: list[str]
) -> None:
    status, out, err = pack(capsys, "--lambda-arn", ARN, *options)
    assert (status, out) == (2, "")
    assert all(word in err for word in named), err


def test_the_lambda_arn_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["conformance-pack"])
    assert exited.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "--lambda-arn" in err


# --- the YAML writer --------------------------------------------------------------------------

_SCALARS = st.none() | st.booleans() | st.integers() | st.text()
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(), _VALUES, max_size=5))
def test_yaml_reads_back_what_was_written(value: dict[str, Any]) -> None:
    assert yaml.safe_load(to_yaml(value)) == value


def test_yaml_keys_that_would_mean_something_else_are_quoted() -> None:
    value = {
        "yes": [],
        "Off": {},
        "null": [[1, "a"], {"b": None}],
        "a b": "",
        "x-1": "0x1F",
        "Key\n": "v",
    }
    text = to_yaml(value)
    assert '"yes": []' in text
    assert '"Off": {}' in text
    assert yaml.safe_load(text) == value


def test_yaml_writes_a_long_key_explicitly() -> None:
    key = "k" * 2000
    value = {key: "v", "list": [{key: [1, {key: {}}], "short": {key: {"a": "b"}}}]}
    assert yaml.safe_load(to_yaml(value)) == value


def test_yaml_refuses_what_it_cannot_write() -> None:
    with pytest.raises(TypeError):
        to_yaml({"a": 1.5})
    with pytest.raises(TypeError):
        to_yaml({1: "a"})  # type: ignore[dict-item]
