"""Builders for the remediation tests: groups and permissions in the EC2 ``DescribeSecurityGroups``
shape, rules, plans, and the decision on a group holding given rules. A plain module (not a
fixture file), imported by name as ``core_helpers`` is.
"""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING, Any

from core_helpers import TODAY
from hypothesis import strategies as st

from portguard.decision import evaluate_group
from portguard.errors import PrefixListUnavailableError
from portguard.parameters import parse_rule_parameters
from portguard.reader import parse_ec2_group
from portguard.remediation.plan import Plan, plan_remediation
from portguard.remediation.rules import GROUP_PAIR, IPV4, IPV6, PREFIX_LIST, Rule, ip_permissions

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from portguard.decision import PrefixListResolver
    from portguard.model import Verdict
    from portguard.parameters import RuleParameters


# --- groups, permissions and rules, as EC2 gives them ---------------------------------------------


ACCOUNT = "123456789012"
GROUP_ID = "sg-0123"
ANY4 = ["0.0.0.0/0"]
ANY6 = ["::/0"]
CIS = parse_rule_parameters({"blockedPorts": "cis"})
SSH = parse_rule_parameters({"blockedPorts": "22"})
CIS_REST = [(0, 21), (23, 3388), (3390, 65535)]
"""What is left of 0-65535 once the cis ports (22, 3389) are taken out."""


def perm(
    protocol: str | int,
    from_port: int | None = None,
    to_port: int | None = None,
    *,
    v4: Sequence[str] = (),
    v6: Sequence[str] = (),
    prefix_lists: Sequence[str] = (),
    pairs: Sequence[str] = (),
    description: str | None = None,
) -> dict[str, Any]:
    """One ``IpPermissions`` entry as DescribeSecurityGroups gives it (every list present)."""

    def entry(field: str, value: str) -> dict[str, str]:
        out = {field: value}
        if description is not None:
            out["Description"] = description
        return out

    out: dict[str, Any] = {
        "IpProtocol": protocol,
        "IpRanges": [entry("CidrIp", c) for c in v4],
        "Ipv6Ranges": [entry("CidrIpv6", c) for c in v6],
        "PrefixListIds": [entry("PrefixListId", p) for p in prefix_lists],
        "UserIdGroupPairs": [{"GroupId": g, "UserId": ACCOUNT} for g in pairs],
    }
    if from_port is not None:
        out["FromPort"] = from_port
        out["ToPort"] = from_port if to_port is None else to_port
    return out


def group(*permissions: dict[str, Any], tags: Mapping[str, str] | None = None) -> dict[str, Any]:
    """One group of DescribeSecurityGroups; tags in the EC2 shape ``[{"Key", "Value"}]``."""
    out: dict[str, Any] = {
        "GroupId": GROUP_ID,
        "GroupName": "web",
        "VpcId": "vpc-1",
        "IpPermissions": list(permissions),
        "IpPermissionsEgress": [perm("-1", v4=ANY4)],
    }
    if tags is not None:
        out["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    return out


def pair_source(group_id: str) -> str:
    """How a rule names a security-group reference built by :func:`perm`."""
    return json.dumps({"GroupId": group_id, "UserId": ACCOUNT}, sort_keys=True)


def r(
    protocol: str,
    from_port: int | None,
    to_port: int | None,
    source: str,
    description: str | None = None,
) -> Rule:
    """A rule; its kind follows from the source (``pl-…``, ``sg-…``, IPv6, else IPv4)."""
    if source.startswith("pl-"):
        return Rule(protocol, from_port, to_port, PREFIX_LIST, source, description)
    if source.startswith("sg-"):
        return Rule(protocol, from_port, to_port, GROUP_PAIR, pair_source(source), description)
    kind = IPV6 if ":" in source else IPV4
    return Rule(protocol, from_port, to_port, kind, source, description)


def ranges_of(
    protocol: str, source: str, ranges: Iterable[tuple[int, int]], description: str | None = None
) -> list[Rule]:
    return [r(protocol, low, high, source, description) for low, high in ranges]


def plan(
    *permissions: dict[str, Any],
    params: RuleParameters = CIS,
    tags: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> Plan:
    kwargs.setdefault("today", TODAY)
    return plan_remediation(group(*permissions, tags=tags), params, **kwargs)


def keys(rules: Iterable[Rule]) -> set[tuple[str, int | None, int | None, str, str]]:
    return {rule.key for rule in rules}


def applied(p: Plan) -> list[Rule]:
    """The group's rules once the plan ran: the original ones, plus ``add``, minus ``remove``."""
    removed = keys(p.remove)
    return [rule for rule in (*p.original, *p.add) if rule.key not in removed]


def decide_rules(
    rules: Iterable[Rule],
    params: RuleParameters = CIS,
    *,
    resolver: PrefixListResolver | None = None,
    tags: Mapping[str, str] | None = None,
    today: date = TODAY,
) -> Verdict:
    """The decision on a group holding exactly these rules."""
    ec2 = {"GroupId": GROUP_ID, "IpPermissions": ip_permissions(rules)}
    if tags is not None:
        ec2["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    return evaluate_group(parse_ec2_group(ec2), params, resolve_prefix_list=resolver, today=today)


def resolver_of(table: Mapping[str, Sequence[str]]) -> PrefixListResolver:
    """A prefix-list resolver reading ``table``; any other list is unreadable (AccessDenied)."""

    def resolve(prefix_list_id: str) -> Sequence[str]:
        if prefix_list_id in table:
            return table[prefix_list_id]
        raise PrefixListUnavailableError(prefix_list_id, "AccessDenied")

    return resolve


OPEN_LIST = resolver_of({"pl-open": ANY4, "pl-both": [*ANY4, *ANY6], "pl-private": ["10.0.0.0/8"]})


# --- sources for random groups --------------------------------------------------------------------


WIDE4 = ["0.0.0.0/0", "0.0.0.0/1", "128.0.0.0/1", "64.0.0.0/2", "192.0.0.0/2", "1.2.3.4/0"]
WIDE6 = ["::/0", "::/1", "8000::/1", "4000::/2"]
# No union of these can cover a space together with the wide ones: none starts where a wide one
# ends, so the decision never names them.
NARROW4 = ["10.0.0.0/8", "192.168.0.0/16", "172.16.0.0/12", "203.0.113.5/32"]
NARROW6 = ["fd00::/8", "2001:db8::/32"]
PROPERTY_LISTS = {
    "pl-open": ["0.0.0.0/0", "::/0"],
    "pl-half": ["128.0.0.0/1"],
    "pl-private": ["10.0.0.0/8"],
}
NARROW = {*NARROW4, *NARROW6, "pl-private"}
small_port = st.integers(0, 40)


@st.composite
def ec2_permissions(draw: st.DrawFn) -> dict[str, Any]:
    protocol = draw(st.sampled_from(["tcp", "udp", "-1", "icmp", "6", "17"]))
    from_port = to_port = None
    if protocol in ("icmp",):
        from_port, to_port = draw(st.sampled_from([(-1, -1), (8, -1)]))
    elif protocol != "-1":
        if draw(st.integers(0, 4)) == 0:
            from_port, to_port = 0, 65535
        else:
            from_port, to_port = sorted((draw(small_port), draw(small_port)))
    return perm(
        protocol,
        from_port,
        to_port,
        v4=draw(st.lists(st.sampled_from(WIDE4 + NARROW4), max_size=3, unique=True)),
        v6=draw(st.lists(st.sampled_from(WIDE6 + NARROW6), max_size=2, unique=True)),
        prefix_lists=draw(
            st.lists(st.sampled_from([*PROPERTY_LISTS, "pl-gone"]), max_size=2, unique=True)
        ),
        pairs=draw(st.lists(st.sampled_from(["sg-a", "sg-b"]), max_size=1)),
    )
