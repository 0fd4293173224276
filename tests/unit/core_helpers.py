"""Helpers of the core's unit tests: Config-shaped items, decisions, and captured files.

Tables are written as Config configuration items (camelCase, as in a rule's invoking event) and
decided through the public API (``parse_configuration_item`` then ``evaluate_item``), so every row
checks the reader and the decision together, the way the handler uses them.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from portguard.annotation import describe_source
from portguard.decision import evaluate_item, parse_cidr
from portguard.model import SECURITY_GROUP_TYPE
from portguard.parameters import parse_rule_parameters
from portguard.ports import PortSet
from portguard.reader import parse_configuration_item

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from portguard.decision import PrefixListResolver
    from portguard.model import Exposure, Source, Verdict

TODAY = date(2025, 6, 1)
"""The fixed day exemptions are judged on, unless a test says otherwise."""


def perm(
    protocol: object,
    from_port: object = None,
    to_port: object = None,
    *,
    v4: Sequence[str] = (),
    v6: Sequence[str] = (),
    legacy: Sequence[str] | None = None,
    prefix_lists: Sequence[str] = (),
    groups: Sequence[str] = (),
) -> dict[str, Any]:
    """One ingress permission as a Config item writes it (``ipv4Ranges`` plus legacy ``ipRanges``).

    ``legacy`` defaults to the same CIDRs as ``v4``, as Config does; pass ``[]`` to leave it empty.
    """
    out: dict[str, Any] = {
        "ipProtocol": protocol,
        "ipv4Ranges": [{"cidrIp": c} for c in v4],
        "ipRanges": list(v4 if legacy is None else legacy),
        "ipv6Ranges": [{"cidrIpv6": c} for c in v6],
        "prefixListIds": [{"prefixListId": p} for p in prefix_lists],
        "userIdGroupPairs": [{"groupId": g, "userId": "123456789012"} for g in groups],
    }
    if from_port is not None:
        out["fromPort"] = from_port
    if to_port is not None:
        out["toPort"] = to_port
    return out


def config_item(
    permissions: object = (),
    *,
    egress: object = (),
    item_tags: object = None,
    configuration_tags: object = None,
    status: str = "OK",
    resource_type: str = SECURITY_GROUP_TYPE,
) -> dict[str, Any]:
    """A configuration item for security group sg-0123 as a change notification carries it."""
    return {
        "resourceType": resource_type,
        "resourceId": "sg-0123",
        "configurationItemStatus": status,
        "configurationItemCaptureTime": "2025-05-30T10:00:00.000Z",
        "tags": {} if item_tags is None else item_tags,
        "configuration": {
            "groupId": "sg-0123",
            "groupName": "web",
            "vpcId": "vpc-1",
            "ipPermissions": list(permissions) if isinstance(permissions, tuple) else permissions,
            "ipPermissionsEgress": list(egress) if isinstance(egress, tuple) else egress,
            "tags": [] if configuration_tags is None else configuration_tags,
        },
    }


def decide(
    permissions: object = (),
    parameters: Mapping[str, object] | None = None,
    *,
    resolver: PrefixListResolver | None = None,
    today: date = TODAY,
    **item: Any,
) -> Verdict:
    """Read a Config item with these permissions and decide it with these InputParameters."""
    return evaluate_item(
        parse_configuration_item(config_item(permissions, **item)),
        parse_rule_parameters(parameters),
        resolve_prefix_list=resolver,
        today=today,
    )


def source(text: str) -> Source:
    """The source the decision names for a CIDR (``10.1.2.3/8`` is ``10.0.0.0/8``)."""
    span = parse_cidr(text)
    assert span is not None, f"{text!r} is not a CIDR"
    return span.source


def named(exposure: Exposure) -> tuple[str, ...]:
    """The sources an exposure names, as the annotation writes them."""
    return tuple(describe_source(s) for s in exposure.sources)


def exposed(verdict: Verdict) -> dict[str, str]:
    """The verdict's offending (not excused) ports per protocol, written ``20-23,3389``."""
    by_protocol: dict[str, PortSet] = {}
    for exposure in verdict.exposures:
        by_protocol[exposure.protocol] = by_protocol.get(exposure.protocol, PortSet()).union(
            PortSet([exposure.ports])
        )
    return {protocol: ports.describe() for protocol, ports in sorted(by_protocol.items())}


def _placebo_hook(obj: dict[str, Any]) -> object:
    # placebo stores datetimes as {"__class__": "datetime", "year": …} and gives boto3 callers a
    # datetime back; do the same so items look as GetResourceConfigHistory returns them.
    if obj.get("__class__") == "datetime":
        return datetime(
            obj["year"],
            obj["month"],
            obj["day"],
            obj["hour"],
            obj["minute"],
            obj["second"],
            obj["microsecond"],
            tzinfo=UTC,
        )
    return obj


def load_json(path: Path) -> Any:
    """A JSON file (a fixture of ours, or a capture read in place)."""
    return json.loads(path.read_text(encoding="utf-8"))


def load_placebo(path: Path) -> Any:
    """The boto3 response recorded by placebo in a capture (real-events' sections D to F)."""
    recording = json.loads(path.read_text(encoding="utf-8"), object_hook=_placebo_hook)
    assert recording["status_code"] == 200
    return recording["data"]


def select_items(results: Sequence[str]) -> list[dict[str, Any]]:
    """SelectResourceConfig ``Results`` as configuration items (a result has no type or id)."""
    items = []
    for result in results:
        item = json.loads(result)
        item["resourceType"] = SECURITY_GROUP_TYPE
        item["resourceId"] = item["configuration"]["groupId"]
        items.append(item)
    return items
