"""The benchmark's inputs: real Config events, generated variants of them, the worst group.

Real items are read in place from the shared folder of captures other projects made
(``--events``; by default ``$PORTGUARD_REAL_EVENTS``, else ``../shared/real-events`` beside the
repository, found by ``tests/shared_data.py`` as the tests find it); where it is not there, the
corpus has generated items only. The project does not redistribute those captures. Generated
ones copy the shape of the real ones (Config item v1.3 envelope, ``ipv4Ranges`` repeated in the
legacy ``ipRanges``, egress, relationships, tags) with a fixed seed, so every run decides the same
items.
"""

from __future__ import annotations

import json
import random
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

SEED = 20261121
ACCOUNT = "123456789012"
REGION = "us-east-1"

# Prefix lists the generated items name, and what the fake resolver says they hold.
PREFIX_LISTS: dict[str, tuple[str, ...]] = {
    "pl-63a5400a": ("52.94.0.0/22", "52.119.224.0/20", "3.5.0.0/19"),  # an S3-like list
    "pl-0a1b2c3d4e5f60718": ("10.20.0.0/16", "10.30.0.0/16"),  # a customer list, private
    "pl-02cd2c6b": ("0.0.0.0/1", "128.0.0.0/1"),  # a customer list that is the internet
}


def resolve_prefix_list(list_id: str) -> tuple[str, ...]:
    """A warm ``PrefixListCache`` without EC2: known lists resolve, others are empty."""
    return PREFIX_LISTS.get(list_id, ())


def real_invoking_events(events_dir: Path) -> list[tuple[str, str]]:
    """``(name, invokingEvent JSON string)`` of the real security-group change items."""
    out: list[tuple[str, str]] = []
    c7n = events_dir / "c7n-lambda-event-sg-open-ssh.json"
    if c7n.exists():
        out.append((c7n.name, json.loads(c7n.read_text())["invokingEvent"]))
    ipv6 = events_dir / "awsconfigrules-invoking-event-sg-ipv6-open.json"
    if ipv6.exists():
        out.append((ipv6.name, json.dumps(json.loads(ipv6.read_text()))))
    rdk = events_dir / "rdk-ci-sg-launch-wizard-legacy.json"
    if rdk.exists():
        wrapped = {
            "configurationItemDiff": None,
            "configurationItem": json.loads(rdk.read_text()),
            "notificationCreationTime": "2016-06-09T09:00:02.113Z",
            "messageType": "ConfigurationItemChangeNotification",
            "recordVersion": "1.2",
        }
        out.append((rdk.name, json.dumps(wrapped)))
    return out


def scheduled_event(events_dir: Path) -> dict[str, Any]:
    """The real scheduled event, with the TESTMODE token and the deployed (empty) parameters.

    Its captured ``ruleParameters`` (``{"test": "x"}``) belong to another rule; portguard rejects
    unknown parameters, so they are replaced by ``{}``.
    """
    path = events_dir / "powertools-lambda-event-scheduled.json"
    if path.exists():
        event: dict[str, Any] = json.loads(path.read_text())
    else:
        invoking = {
            "awsAccountId": ACCOUNT,
            "notificationCreationTime": "2023-04-27T13:26:17.741Z",
            "messageType": "ScheduledNotification",
            "recordVersion": "1.0",
        }
        event = {"version": "1.0", "invokingEvent": json.dumps(invoking)}
    event["resultToken"] = "TESTMODE"
    event["ruleParameters"] = "{}"
    return event


# --- generated Config items ------------------------------------------------------------------

_PORTS: list[tuple[str, int, int]] = [
    ("tcp", 22, 22), ("tcp", 80, 80), ("tcp", 443, 443), ("tcp", 443, 443), ("tcp", 3306, 3306),
    ("tcp", 3389, 3389), ("tcp", 5432, 5432), ("tcp", 8080, 8080), ("tcp", 8000, 8100),
    ("tcp", 1024, 65535), ("tcp", 0, 65535), ("udp", 53, 53), ("udp", 123, 123),
    ("udp", 10000, 20000), ("icmp", -1, -1), ("icmp", 8, -1), ("-1", 0, 0),
]  # fmt: skip


def _ipv4(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.35:  # private
        return rng.choice(
            [
                f"10.{rng.randrange(256)}.{rng.randrange(256)}.0/24",
                "10.0.0.0/8",
                "172.16.0.0/12",
                f"192.168.{rng.randrange(256)}.0/24",
            ]
        )
    if roll < 0.6:  # one public host
        return f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}/32"  # noqa: E501
    if roll < 0.75:  # a public block
        return f"{rng.randrange(1, 224)}.{rng.randrange(256)}.0.0/{rng.choice([16, 20, 24])}"
    return "0.0.0.0/0"


def _ipv6(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return "::/0"
    return f"2600:1f18:{rng.randrange(0x10000):x}::/{rng.choice([48, 56, 64])}"


def _config_permission(
    rng: random.Random,
    group_ids: list[str],
    ipv4: Callable[[random.Random], str] = _ipv4,
    ipv6: Callable[[random.Random], str] = _ipv6,
) -> dict[str, Any]:
    """One ingress permission in Config's shape; its CIDRs made by ``ipv4`` and ``ipv6``."""
    proto, low, high = rng.choice(_PORTS)
    perm: dict[str, Any] = {"ipProtocol": proto}
    if proto != "-1":
        perm["fromPort"], perm["toPort"] = low, high
    pairs: list[dict[str, str]] = []
    v4: list[str] = []
    v6: list[str] = []
    lists: list[str] = []
    if rng.random() < 0.15:
        pairs.append({"groupId": rng.choice(group_ids), "userId": ACCOUNT})
    else:
        v4 = [ipv4(rng) for _ in range(rng.choice([0, 1, 1, 1, 2, 3, 5]))]
        if rng.random() < 0.25:
            v6 = [ipv6(rng) for _ in range(rng.choice([1, 1, 2]))]
        if rng.random() < 0.1:
            lists = [rng.choice(list(PREFIX_LISTS))]
        if not (v4 or v6 or lists):
            v4 = [ipv4(rng)]
    perm.update(
        {
            "ipv6Ranges": [{"cidrIpv6": c} for c in v6],
            "prefixListIds": [{"prefixListId": p} for p in lists],
            "userIdGroupPairs": pairs,
            "ipv4Ranges": [{"cidrIp": c} for c in v4],
            "ipRanges": list(v4),
        }
    )
    return perm


def generated_invoking_events(count: int, seed: int = SEED) -> list[str]:
    """``count`` invokingEvent strings of distinct groups with 1-10 ingress permissions."""
    rng = random.Random(seed)
    group_ids = [f"sg-{rng.getrandbits(68):017x}" for _ in range(count)]
    out = []
    for index, group_id in enumerate(group_ids):
        n_perms = rng.choice([1, 1, 2, 2, 3, 3, 4, 5, 6, 8, 10])
        vpc = f"vpc-{rng.getrandbits(32):08x}"
        name = f"app-{index}-sg"
        tags = {"Name": name, "team": rng.choice(["web", "data", "ops"])} if index % 3 else {}
        item = {
            "relatedEvents": [],
            "relationships": [
                {
                    "resourceId": f"eni-{rng.getrandbits(32):08x}",
                    "resourceName": None,
                    "resourceType": "AWS::EC2::NetworkInterface",
                    "name": "Is associated with NetworkInterface",
                },
                {
                    "resourceId": vpc,
                    "resourceName": None,
                    "resourceType": "AWS::EC2::VPC",
                    "name": "Is contained in Vpc",
                },
            ],
            "configuration": {
                "description": f"{name} managed by terraform",
                "groupName": name,
                "ipPermissions": [_config_permission(rng, group_ids) for _ in range(n_perms)],
                "ownerId": ACCOUNT,
                "groupId": group_id,
                "ipPermissionsEgress": [
                    {
                        "ipProtocol": "-1",
                        "ipv6Ranges": [],
                        "prefixListIds": [],
                        "userIdGroupPairs": [],
                        "ipv4Ranges": [{"cidrIp": "0.0.0.0/0"}],
                        "ipRanges": ["0.0.0.0/0"],
                    }
                ],
                "tags": [{"key": k, "value": v} for k, v in tags.items()],
                "vpcId": vpc,
            },
            "supplementaryConfiguration": {},
            "tags": tags,
            "configurationItemVersion": "1.3",
            "configurationItemCaptureTime": f"2026-11-{1 + index % 20:02d}T10:{index % 60:02d}:00.000Z",  # noqa: E501
            "configurationStateId": 1_763_700_000_000 + index,
            "awsAccountId": ACCOUNT,
            "configurationItemStatus": "OK" if index % 4 else "ResourceDiscovered",
            "resourceType": "AWS::EC2::SecurityGroup",
            "resourceId": group_id,
            "resourceName": name,
            "ARN": f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{group_id}",
            "awsRegion": REGION,
            "availabilityZone": "Not Applicable",
            "configurationStateMd5Hash": "",
            "resourceCreationTime": "2026-01-15T08:00:00.000Z",
        }
        invoking = {
            "configurationItemDiff": None,
            "configurationItem": item,
            "notificationCreationTime": "2026-11-21T10:00:00.000Z",
            "messageType": "ConfigurationItemChangeNotification",
            "recordVersion": "1.3",
        }
        out.append(json.dumps(invoking))
    return out


# --- a describe-security-groups file ----------------------------------------------------------

CIDR_POOL = 1000
"""How many distinct IPv4 CIDRs the groups of :func:`describe_security_groups` draw from (and a
quarter as many IPv6 ones): an account's offices, partners and services recur from group to
group. In the real captures (``PORTGUARD_REAL_DATA``), 57 distinct CIDRs make 2,287 sources."""


def describe_security_groups(
    count: int, *, cidr_pool: int | None = CIDR_POOL, seed: int = SEED
) -> dict[str, Any]:
    """``aws ec2 describe-security-groups`` output for ``count`` groups of one account, with the
    generated Config items' mix of permissions (protocols, ports, sources, group pairs, prefix
    lists) in EC2's shape. The CIDRs come from a pool of ``cidr_pool`` (see :data:`CIDR_POOL`);
    ``None``: every one drawn afresh, as in the Config items, so that public ones rarely recur."""
    rng = random.Random(seed)
    ipv4, ipv6 = _ipv4, _ipv6
    if cidr_pool is not None:
        pool4 = [_ipv4(rng) for _ in range(cidr_pool)]
        pool6 = [_ipv6(rng) for _ in range(max(1, cidr_pool // 4))]

        def ipv4(rng: random.Random) -> str:
            return rng.choice(pool4)

        def ipv6(rng: random.Random) -> str:
            return rng.choice(pool6)

    group_ids = [f"sg-{rng.getrandbits(68):017x}" for _ in range(count)]
    groups = []
    for index, group_id in enumerate(group_ids):
        n_perms = rng.choice([1, 1, 2, 2, 3, 3, 4, 5, 6, 8, 10])
        name = f"app-{index}-sg"
        permissions = [
            _ec2_permission(_config_permission(rng, group_ids, ipv4, ipv6)) for _ in range(n_perms)
        ]
        group: dict[str, Any] = {
            "Description": f"{name} managed by terraform",
            "GroupName": name,
            "IpPermissions": permissions,
            "OwnerId": ACCOUNT,
            "GroupId": group_id,
            "IpPermissionsEgress": [
                {
                    "IpProtocol": "-1",
                    "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                    "Ipv6Ranges": [],
                    "PrefixListIds": [],
                    "UserIdGroupPairs": [],
                }
            ],
            "VpcId": f"vpc-{rng.getrandbits(32):08x}",
            "SecurityGroupArn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{group_id}",
        }
        if index % 3:
            group["Tags"] = [
                {"Key": "Name", "Value": name},
                {"Key": "team", "Value": rng.choice(["web", "data", "ops"])},
            ]
        groups.append(group)
    return {"SecurityGroups": groups}


def _ec2_permission(permission: dict[str, Any]) -> dict[str, Any]:
    """A permission of Config's shape in EC2's: ``IpRanges`` is Config's ``ipv4Ranges``, and
    EC2 has no legacy ``ipRanges`` list."""
    out: dict[str, Any] = {"IpProtocol": permission["ipProtocol"]}
    if "fromPort" in permission:
        out["FromPort"], out["ToPort"] = permission["fromPort"], permission["toPort"]
    out["IpRanges"] = [{"CidrIp": r["cidrIp"]} for r in permission["ipv4Ranges"]]
    out["Ipv6Ranges"] = [{"CidrIpv6": r["cidrIpv6"]} for r in permission["ipv6Ranges"]]
    out["PrefixListIds"] = [
        {"PrefixListId": p["prefixListId"]} for p in permission["prefixListIds"]
    ]
    out["UserIdGroupPairs"] = [
        {"GroupId": p["groupId"], "UserId": p["userId"]} for p in permission["userIdGroupPairs"]
    ]
    return out


# --- the worst realistic group -----------------------------------------------------------------


def worst_ec2_group(
    n_perms: int = 60, cidrs_per_perm: int = 10, seed: int = SEED
) -> dict[str, Any]:
    """A DescribeSecurityGroups group with ``n_perms`` overlapping tcp ranges over blocked ports,
    each from ``cidrs_per_perm`` sources (8 IPv4, 2 IPv6) that cover the internet only together
    in some port pieces: every piece of the port line has to be pooled and checked."""
    rng = random.Random(seed)
    perms = []
    for index in range(n_perms):
        low = rng.randrange(0, 9000)
        high = min(65535, low + rng.choice([0, 10, 100, 1000, 5000, 20000]))
        # Every sixth permission carries half of IPv4, so some port pieces are covered only
        # by the union of two permissions' sources.
        ipv4 = ["0.0.0.0/1" if index % 12 == 0 else "128.0.0.0/1"] if index % 6 == 0 else []
        while len(ipv4) < cidrs_per_perm - 2:
            prefix = rng.choice([8, 12, 16, 24, 32])
            ipv4.append(f"{rng.randrange(1, 224)}.{rng.randrange(256)}.0.0/{prefix}")
        ipv6 = [f"2600:{rng.randrange(0x10000):x}::/32", f"2a05:{rng.randrange(0x10000):x}::/48"]
        perms.append(
            {
                "IpProtocol": "tcp",
                "FromPort": low,
                "ToPort": high,
                "UserIdGroupPairs": [],
                "IpRanges": [{"CidrIp": c, "Description": "partner"} for c in ipv4],
                "Ipv6Ranges": [{"CidrIpv6": c} for c in ipv6],
                "PrefixListIds": [],
            }
        )
    return {
        "GroupId": "sg-0worst000000000001",
        "GroupName": "worst",
        "Description": "60 permissions x 10 CIDRs",
        "VpcId": "vpc-0123456789abcdef0",
        "OwnerId": ACCOUNT,
        "IpPermissions": perms,
        "IpPermissionsEgress": [],
        "Tags": [{"Key": "Name", "Value": "worst"}],
    }
