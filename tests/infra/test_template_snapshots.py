"""Restructuring keeps every template: each deployment mode synthesizes exactly as the committed
``tests/snapshot/templates/<mode>.json`` says (and, in organization mode, the member role's stack
as ``<mode>-member-role.json``), asset hashes aside.

A change to the infrastructure that is meant shows as a diff of these files: regenerate them with
``PORTGUARD_UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/infra/test_template_snapshots.py`` and
review the diff before committing it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from aws_cdk import App

from infra.organization import MEMBER_ROLE_STACK_ID, MemberRoleStack
from infra.settings import Settings, cdk_json_context
from infra.stack import PortguardStack

if TYPE_CHECKING:
    from collections.abc import Mapping

pytestmark = pytest.mark.infra

SNAPSHOTS = Path(__file__).resolve().parents[1] / "snapshot" / "templates"
UPDATE = os.environ.get("PORTGUARD_UPDATE_SNAPSHOTS") == "1"
ASSET_HASH = re.compile(r"\b[0-9a-f]{64}\b")

# Every deployment mode, and every setting away from its default somewhere.
MODES: Mapping[str, Mapping[str, object]] = {
    "rule": {},
    "conformance-pack": {"portguard:deployAs": "conformance-pack"},
    "rule-remediation-recorder": {
        "portguard:remediation": "manual",
        "portguard:createRecorder": "true",
    },
    "pack-remediation-automatic": {
        "portguard:deployAs": "conformance-pack",
        "portguard:remediation": "automatic",
    },
    "tuned": {
        "portguard:blockedPorts": "hipaa",
        "portguard:protocolType": "tcp",
        "portguard:ipType": "ipv6",
        "portguard:exemptTagKey": "portguard:exempt",
        "portguard:resolvePrefixLists": "false",
        "portguard:schedule": "Six_Hours",
        "portguard:logRetentionDays": "30",
        "portguard:alarmEmail": "ops@example.com",
        "portguard:reservedConcurrency": "5",
    },
    "organization": {
        "portguard:deployAs": "organization",
        "portguard:organizationId": "o-a1b2c3d4e5",
        "portguard:organizationTargets": "ou-ab12-cd34ef56",
    },
    "organization-tuned": {
        "portguard:deployAs": "organization",
        "portguard:organizationId": "o-a1b2c3d4e5",
        "portguard:organizationTargets": "ou-ab12-cd34ef56,r-ab12",
        "portguard:memberRoleName": "audit-portguard",
        "portguard:excludedAccounts": "111122223333",
        "portguard:deployFrom": "management-account",
        "portguard:reservedConcurrency": "25",
        "portguard:schedule": "Twelve_Hours",
    },
}
# Each stack's snapshot file, by stack name.
SNAPSHOT_FILES: Mapping[str, str] = {
    "Portguard": "{mode}.json",
    MEMBER_ROLE_STACK_ID: "{mode}-member-role.json",
}


def synthesized(tmp_path: Path, overrides: Mapping[str, object]) -> dict[str, str]:
    """Each stack's template (as app.py builds them) as sorted, indented JSON, asset hashes
    replaced, by stack name."""
    app = App(context={**cdk_json_context(), **overrides}, outdir=str(tmp_path))
    settings = Settings.from_context(app)
    PortguardStack(app, "Portguard", settings=settings)
    if settings.organization is not None:
        MemberRoleStack(app, MEMBER_ROLE_STACK_ID, organization=settings.organization)
    directory = Path(app.synth().directory)
    texts = {}
    for path in sorted(directory.glob("*.template.json")):
        body = json.loads(path.read_text())
        text = ASSET_HASH.sub("ASSET-HASH", json.dumps(body, indent=1, sort_keys=True)) + "\n"
        texts[path.name.removesuffix(".template.json")] = text
    return texts


@pytest.mark.parametrize("mode", list(MODES))
def test_template_unchanged(mode: str, tmp_path: Path) -> None:
    texts = synthesized(tmp_path, MODES[mode])
    assert set(texts) <= set(SNAPSHOT_FILES)
    for stack, text in texts.items():
        path = SNAPSHOTS / SNAPSHOT_FILES[stack].format(mode=mode)
        if UPDATE:
            SNAPSHOTS.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        expected = path.read_text(encoding="utf-8")
        assert text == expected, (
            f"the {mode} template of {stack} differs from {path.name}; if that is meant, "
            "regenerate it (PORTGUARD_UPDATE_SNAPSHOTS=1) and review the diff"
        )


def test_every_snapshot_file_belongs_to_a_mode() -> None:
    # A snapshot whose mode was removed would otherwise linger, compared with nothing.
    expected = {pattern.format(mode=mode) for mode in MODES for pattern in SNAPSHOT_FILES.values()}
    assert {path.name for path in SNAPSHOTS.glob("*.json")} <= expected
