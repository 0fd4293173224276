"""The safety net of refactoring: a fixed corpus decided under many parameter sets.

Every verdict (compliance, annotation, each exposure with its sources, what was exempted, the
warnings) is compared with the committed ``verdicts.json.gz`` (gzipped: 14,000 verdicts, many
naming forty port ranges, are megabytes of JSON; ``zcat`` reads it, one verdict a line). A change
that alters any verdict fails ``test_verdicts_unchanged``; when the change is meant (a new
behaviour), regenerate the file with ``PORTGUARD_UPDATE_SNAPSHOTS=1 .venv/bin/pytest
tests/snapshot`` and review its diff.

The corpus is the benchmark's generated groups (``bench.corpus``: the project's own generator with
a fixed seed, shaped like real Config items) with exemption tags of every form added, and the
benchmark's worst group; nothing in it comes from third-party data.
"""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING, Any

from bench import corpus
from portguard.annotation import describe_source
from portguard.decision import evaluate_group, evaluate_item
from portguard.errors import PrefixListUnavailableError
from portguard.parameters import parse_rule_parameters
from portguard.reader import parse_configuration_item, parse_ec2_group

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from portguard.decision import PrefixListResolver
    from portguard.model import Verdict

TODAY = date(2026, 11, 21)
GROUPS = 600
EXEMPT_TAG = "portguard:exempt"

# Every form an exemption tag takes: valid, dated, expired, unparseable, a bad date.
EXEMPTIONS = (
    None,
    "22",
    "22 until 2099-12-31",
    "all until 2020-01-01",
    "ssh",
    "22,3389 until 2026-13-01",
    "3389, 8000-8100 until 2026-11-21",
    "all",
    "fsbp until 2026-11-20",
)

# Name -> the rule parameters: the defaults, each preset, one protocol, one family, exemptions on,
# prefix lists off, and a mix.
PARAMETER_SETS: dict[str, dict[str, str]] = {
    "default": {},
    "cis": {"blockedPorts": "cis"},
    "hipaa": {"blockedPorts": "hipaa"},
    "tcp-ipv4": {"blockedPorts": "22, 3389 8000-8100", "protocolType": "TCP", "ipType": "IPv4"},
    "udp-ipv6": {"protocolType": "udp", "ipType": "ipv6"},
    "exemptions": {"exemptTagKey": EXEMPT_TAG},
    "exemptions-all-ports": {"exemptTagKey": EXEMPT_TAG, "blockedPorts": "0-65535"},
    "no-prefix-lists": {"resolvePrefixLists": "false"},
}

UNREADABLE_LIST = "pl-0a1b2c3d4e5f60718"
"""Made unreadable by the second resolver, so both the read and the fail-closed paths are met."""


def _readable(list_id: str) -> Sequence[str]:
    return corpus.resolve_prefix_list(list_id)


def _one_unreadable(list_id: str) -> Sequence[str]:
    if list_id == UNREADABLE_LIST:
        raise PrefixListUnavailableError(list_id, "AccessDenied")
    return corpus.resolve_prefix_list(list_id)


RESOLVERS: dict[str, PrefixListResolver | None] = {
    "resolved": _readable,
    "one-unreadable": _one_unreadable,
    "offline": None,
}


def items() -> Iterator[dict[str, Any]]:
    """The corpus's configuration items, exemption tags added in turn."""
    for index, text in enumerate(corpus.generated_invoking_events(GROUPS)):
        item: dict[str, Any] = json.loads(text)["configurationItem"]
        value = EXEMPTIONS[index % len(EXEMPTIONS)]
        if value is not None:
            item["tags"] = {**item["tags"], EXEMPT_TAG: value}
        yield item


def verdict_record(resource_id: str, verdict: Verdict) -> list[Any]:
    """A verdict as plain JSON values: what must not change."""

    def exposures(values: Sequence[Any]) -> list[Any]:
        return [[e.protocol, *e.ports, [describe_source(s) for s in e.sources]] for e in values]

    return [
        resource_id,
        verdict.compliance.value,
        verdict.annotation,
        exposures(verdict.exposures),
        exposures(verdict.exempted),
        list(verdict.warnings),
    ]


def snapshot() -> dict[str, list[Any]]:
    """``{"<parameters>/<resolver>": [verdict record, ...]}`` for the whole corpus."""
    corpus_items = list(items())
    worst = corpus.worst_ec2_group()
    out: dict[str, list[Any]] = {}
    for name, raw in PARAMETER_SETS.items():
        parameters = parse_rule_parameters(raw)
        for resolver_name, resolver in RESOLVERS.items():
            records = []
            for item in corpus_items:
                parsed = parse_configuration_item(item)
                verdict = evaluate_item(
                    parsed, parameters, resolve_prefix_list=resolver, today=TODAY
                )
                records.append(verdict_record(parsed.resource_id, verdict))
            group = parse_ec2_group(worst)
            verdict = evaluate_group(group, parameters, resolve_prefix_list=resolver, today=TODAY)
            records.append(verdict_record(group.group_id, verdict))
            out[f"{name}/{resolver_name}"] = records
    return out
