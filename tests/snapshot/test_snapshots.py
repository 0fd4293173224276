"""Refactoring keeps every verdict: the corpus of ``snapshot_corpus`` decided as the committed
``verdicts.json.gz`` says.

``PORTGUARD_UPDATE_SNAPSHOTS=1`` rewrites the file instead of comparing (for a meant change; review
the diff before committing it).
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

from snapshot_corpus import snapshot

VERDICTS = Path(__file__).with_name("verdicts.json.gz")
UPDATE = os.environ.get("PORTGUARD_UPDATE_SNAPSHOTS") == "1"


def _write(path: Path, data: object) -> None:
    # One record per line: a changed verdict is one line of the diff.
    lines = []
    for key, records in data.items():  # type: ignore[attr-defined]
        body = ",\n".join(json.dumps(r, separators=(",", ":")) for r in records)
        lines.append(f"{json.dumps(key)}: [\n{body}\n]")
    text = "{\n" + ",\n".join(lines) + "\n}\n"
    # mtime=0: the same verdicts give the same bytes, so an unchanged snapshot is no change.
    path.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))


def test_verdicts_unchanged() -> None:
    got = snapshot()
    if UPDATE:
        _write(VERDICTS, got)
    expected = json.loads(gzip.decompress(VERDICTS.read_bytes()))
    assert list(got) == list(expected)
    for key in expected:
        changed = [
            (want, have) for want, have in zip(expected[key], got[key], strict=True) if want != have
        ]
        assert not changed, f"{key}: {len(changed)} verdicts changed, the first: {changed[0]}"
    # The corpus really meets every outcome the snapshot is meant to hold.
    all_records = [r for records in expected.values() for r in records]
    assert {r[1] for r in all_records} == {"COMPLIANT", "NON_COMPLIANT"}
    assert any(r[4] for r in all_records), "no exemption applied anywhere"
    assert any("unreadable" in (r[2] or "") for r in all_records)
    assert any("expired" in (r[2] or "") for r in all_records)
    assert any("ignored" in (r[2] or "") for r in all_records)
