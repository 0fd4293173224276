"""Section 1: decision throughput per configuration item, against ``json.loads`` alone.

Section 4 (``worst``) lives here too: the decision alone on the largest realistic group.
"""

from __future__ import annotations

import itertools
import json
from datetime import date
from typing import TYPE_CHECKING

from bench import corpus
from bench.report import Row, Section, best, interleaved, median, profile_text

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path
    from typing import Any

TODAY = date(2026, 11, 21)


def clear_caches() -> None:
    """Empty the core's memo caches (``functools`` caches: the parsed CIDRs, what each
    protocol's openings expose, the annotation texts), as in a new container."""
    from portguard import annotation, decision, reader

    for module in (annotation, decision, reader):
        for value in list(vars(module).values()):
            if callable(getattr(value, "cache_clear", None)):
                value.cache_clear()


def _events(strings: list[str]) -> list[dict[str, str]]:
    """Config rule events around the invokingEvent strings, with the deployed (empty) parameters."""
    return [
        {"invokingEvent": text, "ruleParameters": "{}", "resultToken": "token"} for text in strings
    ]


def _partial_path(strings: list[str], *, read: bool) -> Callable[[], None]:
    """The full path stopped early: ``parse_event`` alone, or with the reader. Timed like the full
    path (fresh objects made and freed each pass), so the differences say where its time goes."""
    from portguard.events import parse_event
    from portguard.reader import parse_configuration_item

    events = _events(strings)

    def run() -> None:
        for event in events:
            invocation = parse_event(event)
            if read:
                parse_configuration_item(invocation.payload)

    return run


def _full_path(strings: list[str], *, uncached_parameters: bool = False) -> Callable[[], None]:
    """The figure: from the invokingEvent string to the verdict and its annotation, the way the
    handler goes: ``parse_event`` (which runs ``json.loads`` on the invokingEvent and reads the
    rule parameters, parsed once per distinct text and then cached), the reader, the decision.

    ``uncached_parameters``: parse the rule parameters afresh for every item, as a container
    would if every invocation carried different parameters (context only)."""
    from portguard.decision import evaluate_item
    from portguard.events import parse_event
    from portguard.parameters import parse_rule_parameters
    from portguard.reader import parse_configuration_item

    resolve = corpus.resolve_prefix_list
    events = _events(strings)

    def run() -> None:
        for event in events:
            invocation = parse_event(event)
            item = parse_configuration_item(invocation.payload)
            params = parse_rule_parameters({}) if uncached_parameters else invocation.parameters
            verdict = evaluate_item(item, params, resolve_prefix_list=resolve, today=TODAY)
            _ = verdict.annotation

    return run


def _loads_only(strings: list[str]) -> Callable[[], None]:
    loads = json.loads

    def run() -> None:
        for text in strings:
            loads(text)

    return run


def _stages(strings: list[str]) -> dict[str, Callable[[], None]]:
    """Each step of the full path alone, on inputs prepared beforehand."""
    from portguard import decision
    from portguard.parameters import parse_rule_parameters
    from portguard.reader import parse_configuration_item

    resolve = corpus.resolve_prefix_list
    raw_items: list[Mapping[str, Any]] = [json.loads(s)["configurationItem"] for s in strings]
    items = [parse_configuration_item(raw) for raw in raw_items]
    params = parse_rule_parameters({})

    def rule_parameters() -> None:
        for _ in strings:
            parse_rule_parameters({})

    def reader() -> None:
        for raw in raw_items:
            parse_configuration_item(raw)

    def evaluate_warm() -> None:
        for item in items:
            _ = decision.evaluate_item(
                item, params, resolve_prefix_list=resolve, today=TODAY
            ).annotation

    def evaluate_cold() -> None:
        clear_caches()  # a new container: no CIDR parsed yet
        evaluate_warm()

    return {
        "parse_rule_parameters({})": rule_parameters,
        "parse_configuration_item": reader,
        "evaluate_item + annotation (caches warm)": evaluate_warm,
        "evaluate_item + annotation (caches cold)": evaluate_cold,
    }


def run_decision(events_dir: Path, *, quick: bool, profile: bool) -> Section:
    real = corpus.real_invoking_events(events_dir)
    generated = corpus.generated_invoking_events(150 if quick else 400)
    strings = [s for _, s in real] + generated
    section = Section(
        f"1. Decision throughput: per item, invokingEvent string -> verdict + annotation "
        f"({len(strings)} items: {len(real)} real + {len(generated)} generated)"
    )
    repeat = 5 if quick else 9
    cases = {
        "full": _full_path(strings),
        "loads": _loads_only(strings),
        "params-uncached": _full_path(strings, uncached_parameters=True),
        "upto-event": _partial_path(strings, read=False),
        "upto-read": _partial_path(strings, read=True),
    }
    if real:
        real_strings = [s for _, s in real]
        cases |= {"real-full": _full_path(real_strings), "real-loads": _loads_only(real_strings)}
    samples = interleaved(cases, repeat=repeat)
    us = {name: best(times) * 1e6 for name, times in samples.items()}
    n = len(strings)
    section.goal_ratio(
        "parse_event+read+evaluate, whole corpus",
        us["full"] / n,
        us["loads"] / n,
        limit=3,
        unit="us/item",
    )
    section.info_ratio(
        "  same, rule parameters parsed anew for every item",
        us["params-uncached"] / n,
        us["loads"] / n,
        unit="us/item",
    )
    if real:
        k = len(real)
        section.info_ratio(
            "  same, the real items only", us["real-full"] / k, us["real-loads"] / k, unit="us/item"
        )
    # Where the full path's time goes: each row is the path up to that step, minus the step before.
    steps = [
        ("loads", "json.loads"),
        ("upto-event", "the rest of parse_event (envelope checks)"),
        ("upto-read", "parse_configuration_item"),
        ("full", "evaluate_item + annotation"),
    ]
    for (before, _), (case, label) in itertools.pairwise(steps):
        section.info_ratio(
            f"  full path, its share: {label}",
            (us[case] - us[before]) / n,
            us["loads"] / n,
            unit="us/item",
        )
    loads_per_item = us["loads"] / n
    stage_samples = interleaved(_stages(strings), repeat=max(3, repeat // 2))
    for name, times in stage_samples.items():
        section.info_ratio(
            f"  stage: {name}", best(times) * 1e6 / n, loads_per_item, unit="us/item"
        )
    spread = median(samples["full"]) / best(samples["full"])
    by_median = median(samples["full"]) / median(samples["loads"])
    section.notes += [
        f"figures are the fastest of {repeat} samples, the cases alternating; the median of the "
        f"full path was {spread:.2f}x its fastest sample; ratio of the medians {by_median:.2f}x",
        "the full path runs with the core's caches (parsed CIDRs, the exposures of each "
        "protocol's openings, annotation texts) warm after its first pass; the 'cold' stage "
        "row empties them before each pass, as a new container would have them",
        "the full path is the handler's: parse_event (json.loads of the invokingEvent, the "
        "envelope checks, the rule parameters cached by their text), the reader, the decision",
        "baseline: json.loads of the same strings; stage rows are each step alone on inputs "
        "prepared beforehand (warm in the CPU's caches, no fresh objects), so they add up to "
        "less than the full path; their ratio is also to json.loads",
        "prefix lists resolve through an in-memory fake (a warm PrefixListCache); today is fixed",
    ]
    if profile:
        section.notes.append(
            "profile of the full path (20 passes):\n" + profile_text(_full_path(strings), 20)
        )
    return section


def run_worst(*, quick: bool, profile: bool) -> Section:
    from portguard import decision
    from portguard.parameters import parse_rule_parameters
    from portguard.reader import parse_ec2_group

    raw = corpus.worst_ec2_group()
    group = parse_ec2_group(raw)
    params = parse_rule_parameters({})
    n_sources = sum(len(p.ipv4) + len(p.ipv6) for p in group.permissions)
    verdict = decision.evaluate_group(group, params, today=TODAY)
    section = Section(
        f"4. Worst realistic group: {len(group.permissions)} tcp-range permissions x "
        f"{n_sources // len(group.permissions)} CIDRs, decision only (no I/O)"
    )
    text = json.dumps(raw)

    def evaluate() -> None:
        _ = decision.evaluate_group(group, params, today=TODAY).annotation

    def evaluate_cold() -> None:
        clear_caches()
        evaluate()

    cases = {
        "evaluate": evaluate,
        "cold": evaluate_cold,
        "read": lambda: parse_ec2_group(raw),
        "loads": lambda: json.loads(text),
    }
    samples = interleaved(cases, repeat=3 if quick else 7, target=0.1)
    ms = {name: best(times) * 1e3 for name, times in samples.items()}
    for figure, key in (
        ("evaluate_group + annotation (caches warm)", "evaluate"),
        ("evaluate_group + annotation (caches cold)", "cold"),
        ("parse_ec2_group", "read"),
    ):
        section.info_ratio(figure, ms[key], ms["loads"], unit="ms", digits=3)
    section.add(Row("verdict", f"{verdict.compliance.value}, {len(verdict.exposures)} exposures"))
    section.notes += [
        "no goal: for the record. Baseline for scale: json.loads of the same group as JSON "
        f"({len(text):,} bytes)",
    ]
    if profile:
        section.notes.append(
            "profile of evaluate_group (200 calls):\n" + profile_text(evaluate, 200)
        )
    return section
