"""The gates of issue 3, item 7: cdk-nag and cfn-lint, on every variant the app can synthesize.

- cdk-nag: the AwsSolutions and HIPAA Security packs, added to the App exactly as ``app.py`` adds
  them (``app.py`` synthesizes when imported, so its two lines are repeated here), leave no error
  and no warning: every finding is either fixed or acknowledged with a reason.
- cfn-lint: no error on any synthesized template, linted for every region (the stack is region-
  and partition-agnostic).

Each variant synthesizes once, with the nag packs, and both gates read that one synthesis.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest
from aws_cdk import App, Aspects
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Annotations, Match
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks
from cfnlint.api import lint_file
from cfnlint.config import ManualArgs
from cfnlint.helpers import REGIONS

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
}

# W3005 (a DependsOn already implied by a Ref/GetAtt): the CDK writes it itself, as Lambda's
# Function makes itself depend on its role; nothing in our code can remove it.
IGNORED_LINT_CHECKS = ("W3005",)


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
    stack = PortguardStack(app, "Portguard", settings=Settings.from_context(app))
    add_nag_packs(app)
    try:
        app.synth()
    except RuntimeError as error:
        return Gated(refusal(error, outdir), [], [], outdir)
    errors, warnings = findings(Annotations.from_stack(stack))
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


def lint(template: Path) -> list[LintMatch]:
    return list(
        lint_file(template, config=ManualArgs(regions=REGIONS, ignore_checks=IGNORED_LINT_CHECKS))
    )


def templates(assembly: Path) -> list[Path]:
    found = sorted(assembly.rglob("*.template.json"))
    assert found, f"no template in {assembly}"
    return found


def describe(matches: list[LintMatch]) -> str:
    return "\n".join(f"{m.rule.id} {m.filename}:{m.linenumber} {m.message}" for m in matches)


@pytest.fixture(scope="module")
def lint_matches(gated: Gated) -> list[LintMatch]:
    return [match for template in templates(gated.assembly) for match in lint(template)]


def test_cfn_lint_finds_no_error(lint_matches: list[LintMatch]) -> None:
    errors = [m for m in lint_matches if m.rule.id.startswith("E")]
    assert errors == [], describe(errors)


def test_cfn_lint_finds_no_warning(lint_matches: list[LintMatch]) -> None:
    warnings = [m for m in lint_matches if m.rule.id.startswith("W")]
    assert warnings == [], describe(warnings)


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
