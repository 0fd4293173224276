"""341 real captures of other projects (1,342 security groups from recorded AWS responses),
evaluated as ``portguard evaluate`` reads them and compared, entry by entry, with the verdicts
``expected.json`` gives under the default parameters.

The captures are not part of the repository: they are read in place from the shared folder
``real-data`` (``PORTGUARD_REAL_DATA``, else ``../shared/real-data``; provenance in its
``SOURCES.tsv``), and skipped, saying why, where it is not. One test per file, so a failure
names it.
"""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING, Any

import pytest
from shared_data import real_data

from portguard.decision import evaluate_group, evaluate_item
from portguard.parameters import parse_rule_parameters
from portguard.reader import parse_configuration_item, parse_ec2_group
from portguard_cli.evaluate import _groups, evaluate_document
from portguard_cli.inputs import read_json

if TYPE_CHECKING:
    from pathlib import Path

    from portguard.model import Verdict

DEFAULTS = parse_rule_parameters(None)  # fsbp, tcp and udp, IPv4 and IPv6, lists fail closed
TODAY = date(2026, 11, 1)  # exemptions are off by default: the day decides nothing here


def _inputs() -> list[Any]:
    folder = real_data()
    if not folder.present:
        return [pytest.param(None, id="real-data", marks=pytest.mark.skip(folder.absent_reason))]
    return [pytest.param(path, id=path.name) for path in sorted(folder.path.glob("inputs/*.json"))]


INPUTS = _inputs()


@pytest.fixture(scope="module")
def expected(real_data_dir: Path) -> dict[str, list[dict[str, Any]]]:
    return json.loads((real_data_dir / "expected.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def offending(verdict: Verdict) -> list[str]:
    """The verdict's offending ports, one ``protocol/port`` each, as expected.json lists them."""
    return sorted(
        f"{exposure.protocol}/{port}"
        for exposure in verdict.exposures
        for port in range(exposure.ports[0], exposure.ports[1] + 1)
    )


def decide(kind: str, value: Any) -> tuple[str, Verdict]:
    """One group of a document, decided as ``evaluate_document`` decides it."""
    if kind == "ec2":
        group = parse_ec2_group(value)
        return group.group_id, evaluate_group(group, DEFAULTS, today=TODAY)
    item = parse_configuration_item(value)
    verdict = evaluate_item(
        item, DEFAULTS, today=TODAY, event_left_scope=kind == "config-left-scope"
    )
    return item.resource_id, verdict


def test_every_input_has_expected_verdicts(
    real_data_dir: Path, expected: dict[str, list[dict[str, Any]]]
) -> None:
    names = {path.name for path in real_data_dir.glob("inputs/*.json")}
    assert len(names) == 341
    assert names == set(expected)


@pytest.mark.parametrize("path", INPUTS)
def test_verdicts_are_the_expected_ones(
    path: Path, expected: dict[str, list[dict[str, Any]]]
) -> None:
    document = read_json(str(path))
    decided = [decide(kind, value) for kind, value in _groups(document, path.name)]
    got = [
        {"resourceId": resource_id, "compliance": verdict.compliance.value}
        | ({"offending": offending(verdict)} if verdict.exposures else {})
        for resource_id, verdict in decided
    ]
    want = [
        {**entry, "offending": sorted(entry["offending"])} if "offending" in entry else entry
        for entry in expected[path.name]
    ]
    assert got == want
    # The command's own path gives the same answers, in the same order.
    results = evaluate_document(document, DEFAULTS, source=path.name)
    assert [(r.group_id, r.compliance.value) for r in results] == [
        (e["resourceId"], e["compliance"]) for e in want
    ]
