"""What every row of the command's JSON output holds, for the tests of every command that
writes rows (``evaluate``, ``scan``, ``scan --org``, ``scan --aggregator``)."""

from __future__ import annotations

JSON_FIELDS = frozenset(
    {
        "groupId",
        "groupName",
        "vpcId",
        "region",
        "accountId",
        "compliance",
        "annotation",
        "source",
        "warnings",
    }
)
"""SPEC.md §3's fields (groupId, groupName, region, compliance, annotation) and the ones the
command adds (vpcId, accountId, source, warnings): no more, no fewer."""
