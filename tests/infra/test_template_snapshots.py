"""Restructuring keeps every template: each deployment mode synthesizes exactly as the committed
``tests/snapshot/templates/<mode>.json`` says, asset hashes aside.

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
}


def synthesized(tmp_path: Path, overrides: Mapping[str, object]) -> str:
    """The stack's template as sorted, indented JSON, asset hashes replaced."""
    app = App(context={**cdk_json_context(), **overrides}, outdir=str(tmp_path))
    PortguardStack(app, "Portguard", settings=Settings.from_context(app))
    body = json.loads((Path(app.synth().directory) / "Portguard.template.json").read_text())
    return ASSET_HASH.sub("ASSET-HASH", json.dumps(body, indent=1, sort_keys=True)) + "\n"


@pytest.mark.parametrize("mode", list(MODES))
def test_template_unchanged(mode: str, tmp_path: Path) -> None:
    text = synthesized(tmp_path, MODES[mode])
    path = SNAPSHOTS / f"{mode}.json"
    if UPDATE:
        SNAPSHOTS.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    expected = path.read_text(encoding="utf-8")
    assert text == expected, (
        f"the {mode} template differs from {path.name}; if that is meant, regenerate it "
        "(PORTGUARD_UPDATE_SNAPSHOTS=1) and review the diff"
    )
