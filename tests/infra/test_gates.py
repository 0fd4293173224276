"""The gates of issue 3, item 7: cdk-nag and cfn-lint, on every variant the app can synthesize
(in organization mode, the hub stack, the member role's stack and the StackSet's template body).

- cdk-nag: the AwsSolutions and HIPAA Security packs, added to the App exactly as ``app.py`` adds
  them (``app.py`` synthesizes when imported, so its two lines are repeated here), leave no error
  and no warning: every finding is either fixed or acknowledged with a reason.
- cfn-lint: no error on any synthesized template, linted for every region (the stack is region-
  and partition-agnostic), except a resource type CloudFormation does not offer in a region, for
  the pairs REGIONAL_GAPS lists (and the README states).

Each variant synthesizes once, with the nag packs, and both gates read that one synthesis.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest
from aws_cdk import App, Aspects, Stack
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Annotations, Match
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks
from cfnlint.api import lint_file
from cfnlint.config import ManualArgs
from cfnlint.helpers import REGIONS

from infra.organization import MEMBER_ROLE_STACK_ID, MemberRoleStack
from infra.settings import Settings, cdk_json_context
from infra.stack import PortguardStack

if TYPE_CHECKING:
    from collections.abc import Mapping

    from cfnlint.rules import Match as LintMatch

pytestmark = pytest.mark.infra

REPO = Path(__file__).resolve().parents[2]

VARIANTS: Mapping[str, Mapping[str, object]] = {
    "rule": {},
    "conformance-pack": {"portguard:deployAs": "conformance-pack"},
    # Every other option away from its default: the email subscription, reserved concurrency
    # (which drops the LambdaConcurrency acknowledgement), another schedule and retention.
    "every-option": {
        "portguard:schedule": "Six_Hours",
        "portguard:logRetentionDays": 30,
        "portguard:alarmEmail": "ops@example.com",
        "portguard:reservedConcurrency": 5,
        "portguard:exemptTagKey": "portguard:exempt",
    },
    "recorder": {"portguard:createRecorder": True},
    "recorder-conformance-pack": {
        "portguard:createRecorder": "true",
        "portguard:deployAs": "conformance-pack",
    },
    # Remediation: its function, document and roles, with the remediation configuration beside
    # the rule (manual) and inside the conformance pack (automatic).
    "remediation-manual": {"portguard:remediation": "manual"},
    "remediation-automatic-conformance-pack": {
        "portguard:remediation": "automatic",
        "portguard:deployAs": "conformance-pack",
    },
    # The organization's hub and member role (issue 12), with its defaults (reserved
    # concurrency, so no LambdaConcurrency acknowledgement) and with every option set, a
    # recorder for the administrator account included.
    "organization": {
        "portguard:deployAs": "organization",
        "portguard:organizationId": "o-a1b2c3d4e5",
        "portguard:organizationTargets": "ou-ab12-cd34ef56",
    },
    "organization-every-option": {
        "portguard:deployAs": "organization",
        "portguard:organizationId": "o-a1b2c3d4e5",
        "portguard:organizationTargets": ["ou-ab12-cd34ef56", "r-ab12"],
        "portguard:memberRoleName": "audit-portguard",
        "portguard:excludedAccounts": "111122223333",
        "portguard:deployFrom": "management-account",
        "portguard:schedule": "One_Hour",
        "portguard:alarmEmail": "ops@example.com",
        "portguard:createRecorder": "true",
        "portguard:scanPrincipals": "arn:aws:iam::999988887777:role/security-audit",
    },
}

# W3005 (a DependsOn already implied by a Ref/GetAtt): the CDK writes it itself, as Lambda's
# Function makes itself depend on its role; nothing in our code can remove it.
IGNORED_LINT_CHECKS = ("W3005",)

# Resource types CloudFormation does not offer in some regions (cfn-lint's region data), each a
# known limit the README states: with portguard:remediation in rule mode, the stack cannot deploy
# there. E3006 for exactly these pairs is expected; anything else fails the gate, and
# test_known_regional_gaps_are_still_gaps says when a gap closes.
REGIONAL_GAPS: Mapping[str, tuple[str, ...]] = {
    "AWS::Config::RemediationConfiguration": (
        "ap-east-2",
        "ap-southeast-6",
        "ap-southeast-7",
        "mx-central-1",
    ),
}
_MISSING_TYPE = re.compile(r"^Resource type '([^']+)' does not exist in '([^']+)'$")


def recorder_supported() -> bool:
    """Whether the stack reads ``Settings.create_recorder`` yet (issue 3, item 5)."""
    return "create_recorder" in (REPO / "infra" / "stack.py").read_text(encoding="utf-8")


class Gated(NamedTuple):
    refused: str | None
    """Why synth failed, if it did: cdk.json's ``@aws-cdk/core:annotationsInValidationReport``
    turns nag errors into a failed validation (as ``cdk synth`` and ``python app.py`` see it)."""
    errors: list[Any]
    warnings: list[Any]
    assembly: Path


def add_nag_packs(app: App) -> None:
    # As app.py does it.
    Aspects.of(app).add(AwsSolutionsChecks())
    Aspects.of(app).add(HIPAASecurityChecks())


def findings(annotations: Annotations) -> tuple[list[Any], list[Any]]:
    everything = Match.string_like_regexp(".*")
    return (
        list(annotations.find_error("*", everything)),
        list(annotations.find_warning("*", everything)),
    )


@pytest.fixture(scope="module", params=list(VARIANTS))
def gated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Gated:
    variant: str = request.param
    if variant.startswith("recorder") and not recorder_supported():
        pytest.skip(
            "infra/stack.py does not use Settings.create_recorder yet: "
            "portguard:createRecorder=true would synthesize the same stack as the default"
        )
    outdir = tmp_path_factory.mktemp(variant)
    app = App(context={**cdk_json_context(), **VARIANTS[variant]}, outdir=str(outdir))
    settings = Settings.from_context(app)
    # As app.py builds them.
    stacks: list[Stack] = [PortguardStack(app, "Portguard", settings=settings)]
    if settings.organization is not None:
        stacks.append(
            MemberRoleStack(app, MEMBER_ROLE_STACK_ID, organization=settings.organization)
        )
    add_nag_packs(app)
    try:
        app.synth()
    except RuntimeError as error:
        return Gated(refusal(error, outdir), [], [], outdir)
    errors: list[Any] = []
    warnings: list[Any] = []
    for stack in stacks:
        stack_errors, stack_warnings = findings(Annotations.from_stack(stack))
        errors += stack_errors
        warnings += stack_warnings
    return Gated(None, errors, warnings, outdir)


def refusal(error: RuntimeError, outdir: Path) -> str:
    """The failed synth's message and its validation report, which lists each finding."""
    report = outdir / "validation-report.json"
    return f"{error}\n{report.read_text() if report.exists() else ''}"


def show(found: list[Any]) -> str:
    return json.dumps(found, indent=1, default=str)


def test_cdk_nag_finds_no_error(gated: Gated) -> None:
    assert gated.refused is None, gated.refused
    assert gated.errors == [], show(gated.errors)


def test_cdk_nag_finds_no_warning(gated: Gated) -> None:
    assert gated.warnings == [], show(gated.warnings)


def test_the_nag_gate_can_fail(tmp_path: Path) -> None:
    # Both packs see findings, and the synth fails on them: an unencrypted queue with no TLS
    # policy (AwsSolutions), a log group with no key and no retention (HIPAA).
    app = App(context=cdk_json_context(), outdir=str(tmp_path))
    stack = PortguardStack(app, "Portguard", settings=Settings.from_context(app))
    sqs.Queue(stack, "Careless", encryption=sqs.QueueEncryption.UNENCRYPTED)
    logs.CfnLogGroup(stack, "CarelessLogs")
    add_nag_packs(app)
    with pytest.raises(RuntimeError) as raised:
        app.synth()
    report = refusal(raised.value, tmp_path)
    assert "AwsSolutions-SQS4" in report
    assert "HIPAA.Security-CloudWatchLogGroupEncrypted" in report


def test_the_nag_gate_covers_the_member_roles_stack(tmp_path: Path) -> None:
    app = App(context={**cdk_json_context(), **VARIANTS["organization"]}, outdir=str(tmp_path))
    settings = Settings.from_context(app)
    assert settings.organization is not None
    PortguardStack(app, "Portguard", settings=settings)
    member = MemberRoleStack(app, MEMBER_ROLE_STACK_ID, organization=settings.organization)
    sqs.Queue(member, "Careless", encryption=sqs.QueueEncryption.UNENCRYPTED)
    add_nag_packs(app)
    with pytest.raises(RuntimeError) as raised:
        app.synth()
    report = refusal(raised.value, tmp_path)
    assert "AwsSolutions-SQS4" in report
    assert f"{MEMBER_ROLE_STACK_ID}/Careless" in report


def test_the_lint_gate_reads_the_stack_sets_template_body(tmp_path: Path) -> None:
    # The member role's template as the StackSet carries it: one more file to lint, and the
    # same template as the management account's stack.
    app = App(context={**cdk_json_context(), **VARIANTS["organization"]}, outdir=str(tmp_path))
    settings = Settings.from_context(app)
    assert settings.organization is not None
    PortguardStack(app, "Portguard", settings=settings)
    MemberRoleStack(app, MEMBER_ROLE_STACK_ID, organization=settings.organization)
    found = templates(Path(app.synth().directory))
    (body,) = [path for path in found if path.name.endswith(".body.json")]
    member = tmp_path / f"{MEMBER_ROLE_STACK_ID}.template.json"
    assert json.loads(body.read_text()) == json.loads(member.read_text())


def lint(template: Path) -> list[LintMatch]:
    return list(
        lint_file(template, config=ManualArgs(regions=REGIONS, ignore_checks=IGNORED_LINT_CHECKS))
    )


def known_gap(match: LintMatch) -> bool:
    """An E3006 for a resource type and region listed in REGIONAL_GAPS."""
    found = _MISSING_TYPE.match(match.message) if match.rule.id == "E3006" else None
    return found is not None and found[2] in REGIONAL_GAPS.get(found[1], ())


def templates(assembly: Path) -> list[Path]:
    """The assembly's templates, and the template body of each StackSet in them (written next to
    them): the member role's template as every member account runs it."""
    found = sorted(assembly.rglob("*.template.json"))
    assert found, f"no template in {assembly}"
    bodies = []
    for template in found:
        resources = json.loads(template.read_text())["Resources"]
        for logical_id, resource in resources.items():
            if resource["Type"] == "AWS::CloudFormation::StackSet":
                body = template.with_name(f"{template.stem}.{logical_id}.body.json")
                body.write_text(resource["Properties"]["TemplateBody"])
                bodies.append(body)
    return found + bodies


def describe(matches: list[LintMatch]) -> str:
    return "\n".join(f"{m.rule.id} {m.filename}:{m.linenumber} {m.message}" for m in matches)


@pytest.fixture(scope="module")
def lint_matches(gated: Gated) -> list[LintMatch]:
    return [
        match
        for template in templates(gated.assembly)
        for match in lint(template)
        if not known_gap(match)
    ]


def test_cfn_lint_finds_no_error(lint_matches: list[LintMatch]) -> None:
    errors = [m for m in lint_matches if m.rule.id.startswith("E")]
    assert errors == [], describe(errors)


def test_cfn_lint_finds_no_warning(lint_matches: list[LintMatch]) -> None:
    warnings = [m for m in lint_matches if m.rule.id.startswith("W")]
    assert warnings == [], describe(warnings)


@pytest.mark.parametrize("resource_type", list(REGIONAL_GAPS))
def test_known_regional_gaps_are_still_gaps(resource_type: str, tmp_path: Path) -> None:
    # A template holding only the type: linted for every region, it is missing exactly where
    # REGIONAL_GAPS says. When cfn-lint learns of the type there, drop the region (and the
    # README's note).
    template = tmp_path / "gap.template.json"
    template.write_text(
        json.dumps({"Resources": {"Gap": {"Type": resource_type, "Properties": {}}}})
    )
    missing = sorted(
        found[2]
        for match in lint(template)
        if match.rule.id == "E3006"
        and (found := _MISSING_TYPE.match(match.message)) is not None
        and found[1] == resource_type
    )
    assert missing == sorted(REGIONAL_GAPS[resource_type])


def test_the_lint_gate_can_fail(tmp_path: Path) -> None:
    # The harness sees errors: a runtime Lambda does not offer is one (E3030).
    app = App(context=cdk_json_context(), outdir=str(tmp_path / "out"))
    PortguardStack(app, "Portguard", settings=Settings.from_context(app))
    (template,) = templates(Path(app.synth().directory))
    body = json.loads(template.read_text())
    for resource in body["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function":
            resource["Properties"]["Runtime"] = "python2.9"
    broken = tmp_path / "broken.template.json"
    broken.write_text(json.dumps(body))
    shutil.rmtree(tmp_path / "out")
    assert [m for m in lint(broken) if m.rule.id.startswith("E")]
