"""Remediation in words: a plan and a restore as the lines of a diff, rules as people read them
(``tcp 0-21, 23-3388 from 0.0.0.0/0 (web) [2 rules]``), a plan's notes and why it is refused.
The values stay values until here.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from portguard.model import ALL_PROTOCOLS, PORTED_PROTOCOLS, Family
from portguard.remediation.plan import RULES_QUOTA_CODE, StillOpen
from portguard.remediation.rules import GROUP_PAIR, SOURCE_KINDS

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from portguard.remediation.plan import Plan, Refusal
    from portguard.remediation.rollback import RestorePlan
    from portguard.remediation.rules import Rule


def describe_rule(rule: Rule) -> str:
    """``tcp 0-21 from 0.0.0.0/0 (web)``, ``all traffic from ::/0``,
    ``icmp type 8 code -1 from 10.0.0.0/8``."""
    name = rule.protocol_name
    if name == ALL_PROTOCOLS:
        what = "all traffic"
    elif name in PORTED_PROTOCOLS:
        low, high = rule.from_port, rule.to_port
        what = f"{name} {low}" if low == high else f"{name} {low}-{high}"
    elif name in ("icmp", "icmpv6") and rule.from_port == rule.to_port == -1:
        what = f"{name} (all types)"
    elif name in ("icmp", "icmpv6"):
        what = f"{name} type {rule.from_port} code {rule.to_port}"
    else:
        what = f"protocol {name}"
    if rule.kind == GROUP_PAIR:
        pair = json.loads(rule.source)
        source = "/".join(str(pair[k]) for k in ("UserId", "GroupId") if k in pair) or rule.source
    else:
        source = rule.source
    note = f" ({rule.description})" if rule.description else ""
    return f"{what} from {source}{note}"


def plan_lines(plan: Plan) -> list[str]:
    """The plan as a diff: ``-`` rules removed, ``+`` rules added (rules that differ only in their
    ports on one line), then the notes, the rule count against the quota, and the result."""
    lines = [f"- {text}" for text in describe_rules(plan.remove)]
    lines += [f"+ {text}" for text in describe_rules(plan.add)]
    lines += [f"note: {note}" for note in plan_notes(plan)]
    ipv4, ipv6 = plan.peak
    lines.append(
        f"rules at the peak: {ipv4} IPv4, {ipv6} IPv6; quota {plan.quota.limit} "
        f"({plan.quota.source})"
    )
    after = plan.after
    annotation = f": {after.annotation}" if after.annotation else ""
    lines.append(f"after: {after.compliance}{annotation}")
    return lines


def plan_notes(plan: Plan) -> list[str]:
    """What a plan changes besides its rules' ports: the protocols that all-traffic rules lose,
    then the prefix lists counted as one rule each."""
    notes = [describe_all_traffic_replaced(source) for source in plan.all_traffic_replaced]
    if plan.unsized_prefix_lists:
        notes.append(describe_unsized_prefix_lists(plan.unsized_prefix_lists))
    return notes


def describe_all_traffic_replaced(source: str) -> str:
    """What an all-traffic rule from ``source`` keeps, and what it loses, once replaced."""
    return (
        f"all traffic from {source} keeps tcp, udp and icmp where they are not offending; every "
        f"other IP protocol (GRE, ESP, SCTP …) from {source} is no longer allowed"
    )


def describe_unsized_prefix_lists(prefix_list_ids: Sequence[str]) -> str:
    """Prefix lists counted as one rule each against the quota, and why."""
    return (
        f"prefix lists {', '.join(prefix_list_ids)} counted as one rule each: their maximum "
        "size could not be read"
    )


_FAMILY_NAMES = {Family.IPV4: "IPv4", Family.IPV6: "IPv6"}


def describe_refusal(refusal: Refusal) -> str:
    """Why a plan is refused, and for the quota what to do about it."""
    if isinstance(refusal, StillOpen):
        return f"the group would still be open: {refusal.verdict.annotation}"
    quota = refusal.quota
    return (
        f"adding before removing needs {refusal.peak} {_FAMILY_NAMES[refusal.family]} inbound "
        f"rules at once, more than the quota of {quota.limit} ({quota.source}); raise the quota "
        f"(Service Quotas, vpc {RULES_QUOTA_CODE}) or narrow the group first"
    )


def describe_rules(rules: Iterable[Rule]) -> list[str]:
    """Rules in source order, those of one source, protocol and description on one line:
    ``tcp 0-19, 24, 26-109 from 0.0.0.0/0 (web) [3 rules]``."""
    order = {kind: index for index, kind in enumerate(SOURCE_KINDS)}
    lines: dict[tuple[int, str, str, str], list[Rule]] = {}
    for rule in rules:
        head = (order[rule.kind], rule.source, rule.protocol, rule.description or "")
        lines.setdefault(head, []).append(rule)
    out: list[str] = []
    for head in sorted(lines):
        group = sorted(lines[head], key=lambda r: (r.from_port or 0, r.to_port or 0))
        text = describe_rule(group[0])
        if len(group) > 1 and group[0].protocol_name in PORTED_PROTOCOLS:
            name = group[0].protocol_name
            ports = ", ".join(
                str(r.from_port) if r.from_port == r.to_port else f"{r.from_port}-{r.to_port}"
                for r in group
            )
            text = f"{name} {ports}{text[text.index(' from ') :]} [{len(group)} rules]"
        elif len(group) > 1:
            out.extend(describe_rule(rule) for rule in group)
            continue
        out.append(text)
    return out


def restore_lines(plan: RestorePlan) -> list[str]:
    """A restore as a diff: ``+`` rules re-added, ``-`` rules revoked, then what someone else
    changed, which restore leaves as it is."""
    lines = [f"+ {text}" for text in describe_rules(plan.add)]
    lines += [f"- {text}" for text in describe_rules(plan.remove)]
    changed = [f"missing since: {describe_rule(rule)}" for rule in plan.missing_since]
    changed += [f"added since: {describe_rule(rule)}" for rule in plan.added_since]
    lines += [f"left as it is, changed by someone else: {text}" for text in changed]
    return lines
