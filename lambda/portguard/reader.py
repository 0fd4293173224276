"""Read security groups from every shape AWS gives them in, into :mod:`portguard.model`.

Shapes:

* a Config configuration item as in a rule's invoking event (``configuration`` an object,
  ``awsAccountId``, ``ARN``, tags as a map);
* an item from ``GetResourceConfigHistory`` or a snapshot (``configuration`` a JSON string,
  ``accountId``, ``arn``);
* a group from the EC2 API (``DescribeSecurityGroups``: ``GroupId``, ``IpPermissions`` …).

Nothing in a group may crash the reader: missing keys and null lists are empty, ports may be
floats (SelectResourceConfig writes ``22.0``), legacy items have only ``ipRanges`` as strings.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeGuard

from portguard.errors import InvalidEventError
from portguard.model import (
    PORTED_PROTOCOLS,
    SECURITY_GROUP_TYPE,
    ConfigItem,
    Permission,
    SecurityGroup,
    normalize_protocol,
)

# A port written as a string: ASCII digits only (str.isdigit() and int() take any script's
# digits, and superscripts that int() then refuses), few enough for int() to read.
_PORT_TEXT = re.compile(r"\s*(-?)0*([0-9]{1,20})\s*")
_SHOWN = 60
"""Characters of an unreadable value quoted in a warning."""
_JSON_KINDS = (
    (int | float, "a JSON number"),
    (str, "a JSON string"),
    (list | tuple, "a JSON list"),
)


class _Keys:
    """Key names of one shape: Config's camelCase or the EC2 API's PascalCase."""

    __slots__ = (
        "from_port",
        "group_id",
        "group_name",
        "ipv4",
        "ipv4_cidr",
        "ipv6",
        "ipv6_cidr",
        "legacy",
        "permissions",
        "prefix_id",
        "prefix_lists",
        "protocol",
        "tag_key",
        "tag_value",
        "tags",
        "to_port",
        "vpc_id",
    )

    def __init__(self, *, pascal: bool) -> None:
        def k(name: str) -> str:
            return name[0].upper() + name[1:] if pascal else name

        self.group_id, self.group_name, self.vpc_id = k("groupId"), k("groupName"), k("vpcId")
        self.permissions, self.protocol = k("ipPermissions"), k("ipProtocol")
        self.from_port, self.to_port = k("fromPort"), k("toPort")
        self.prefix_lists, self.prefix_id = k("prefixListIds"), k("prefixListId")
        self.ipv6, self.ipv6_cidr = k("ipv6Ranges"), k("cidrIpv6")
        self.tags, self.tag_key, self.tag_value = k("tags"), k("key"), k("value")
        # EC2's IpRanges is Config's ipv4Ranges; Config's ipRanges is the legacy string list.
        self.ipv4, self.ipv4_cidr = ("IpRanges", "CidrIp") if pascal else ("ipv4Ranges", "cidrIp")
        self.legacy = None if pascal else "ipRanges"


def is_object(value: object) -> TypeGuard[Mapping[str, Any]]:
    """A JSON object: a dict (as json and boto3 give) or any other mapping. The exact-type test
    comes first because ``isinstance`` against an ABC costs ten times more."""
    return type(value) is dict or isinstance(value, Mapping)


def json_kind(value: object) -> str:
    """What a JSON value is, in JSON's words (never Python's type names), for messages.

    >>> json_kind([1]), json_kind(None), json_kind({})
    ('a JSON list', 'null', 'an empty object')
    """
    if value is None or isinstance(value, bool):
        return json.dumps(value)  # null, true or false
    if is_object(value):
        return "a JSON object" if value else "an empty object"
    for types, kind in _JSON_KINDS:
        if isinstance(value, types):
            return kind
    return "a value JSON does not have"


def json_error_reason(error: ValueError | RecursionError) -> str:
    """Why ``json.loads`` refused a text, in plain words: its own messages say where the syntax
    breaks, but a deep nesting or a long number fail with messages about Python's limits."""
    if isinstance(error, RecursionError):
        return "its lists and objects are nested too deeply"
    if not isinstance(error, json.JSONDecodeError) and "integer string conversion" in str(error):
        return f"it holds a number of more than {sys.get_int_max_str_digits()} digits"
    return str(error)


def _shown(value: object) -> str:
    """A value as JSON writes it, cut short, to quote in a warning."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (ValueError, RecursionError):  # a circular or too deep structure: say what it is
        text = json_kind(value)
    return text if len(text) <= _SHOWN else f"{text[: _SHOWN - 1]}…"


_CONFIG = _Keys(pascal=False)
_EC2 = _Keys(pascal=True)


def parse_configuration_item(item: Mapping[str, Any]) -> ConfigItem:
    """Read a Config configuration item (invoking-event or history shape).

    Raises :class:`InvalidEventError` when the item is not an object, has no resource type or id,
    or a security group's configuration is present but not an object.
    """
    if not is_object(item):
        raise InvalidEventError(f"configurationItem is not an object: {json_kind(item)}")
    resource_type = item.get("resourceType")
    resource_id = item.get("resourceId")
    if not isinstance(resource_type, str) or not isinstance(resource_id, str):
        raise InvalidEventError(
            "configurationItem has no resourceType or resourceId "
            f"(resourceType={resource_type!r}, resourceId={resource_id!r})"
        )
    status = item.get("configurationItemStatus")
    capture_time = item.get("configurationItemCaptureTime")
    if isinstance(capture_time, datetime):  # boto3 parses the history response's timestamps
        capture_time = capture_time.isoformat()
    elif not isinstance(capture_time, str):
        capture_time = None  # unreadable: the handler falls back to the notification's time
    group = None
    configuration = item.get("configuration")
    if resource_type == SECURITY_GROUP_TYPE and configuration is not None:
        if isinstance(configuration, str):  # GetResourceConfigHistory gives a JSON string
            try:
                configuration = json.loads(configuration)
            except (ValueError, RecursionError) as exc:
                raise InvalidEventError(
                    f"configuration of {resource_id} cannot be read as JSON: "
                    f"{json_error_reason(exc)}"
                ) from exc
        if not is_object(configuration):
            raise InvalidEventError(
                f"configuration of {resource_id} is not an object: {json_kind(configuration)}"
            )
        group = _read_group(
            configuration, _CONFIG, default_id=resource_id, item_tags=item.get("tags")
        )
    return ConfigItem(
        resource_type,
        resource_id,
        status if isinstance(status, str) else None,
        capture_time,
        group,
    )


def parse_ec2_group(group: Mapping[str, Any]) -> SecurityGroup:
    """Read one group of the EC2 API's ``DescribeSecurityGroups`` output."""
    if not is_object(group):
        raise InvalidEventError(f"security group is not an object: {json_kind(group)}")
    return _read_group(group, _EC2, default_id="", item_tags=None)


def _read_group(
    conf: Mapping[str, Any], keys: _Keys, *, default_id: str, item_tags: object
) -> SecurityGroup:
    warnings: list[str] = []
    permissions = []
    raw_permissions = conf.get(keys.permissions)
    if raw_permissions is not None and type(raw_permissions) is not list:
        warnings.append(f"skipped {keys.permissions}: {json_kind(raw_permissions)}, not a list")
    for raw in _list(raw_permissions):
        if is_object(raw):
            permissions.append(_read_permission(raw, keys, warnings))
        else:
            warnings.append(f"skipped an ingress permission that is not an object: {_shown(raw)}")
    group_id = conf.get(keys.group_id)
    return SecurityGroup(
        group_id if isinstance(group_id, str) and group_id else default_id,
        _str_or_none(conf.get(keys.group_name)),
        _str_or_none(conf.get(keys.vpc_id)),
        tuple(permissions),
        _read_tags(item_tags, conf.get(keys.tags), keys),
        tuple(warnings),
    )


def _read_permission(raw: Mapping[str, Any], keys: _Keys, warnings: list[str]) -> Permission:
    # This runs for every permission of every item: the usual shapes (int ports, dicts and
    # strings) take the first branch; the rest the general one.
    get = raw.get
    proto_raw = get(keys.protocol)
    protocol = normalize_protocol(proto_raw)
    if protocol is None:
        warnings.append(f"permission without ipProtocol ({_shown(proto_raw)}): allows no port")
        protocol = ""
    ports = read_ports(protocol, get(keys.from_port), get(keys.to_port), warnings)
    # Source lists are usually empty, so each is looked at before a call is made to read it.
    ipv4 = _cidrs(value, keys.ipv4, keys.ipv4_cidr, warnings) if (value := get(keys.ipv4)) else []
    if keys.legacy is not None and (legacy := get(keys.legacy)) and legacy != ipv4:
        # Config repeats ipv4Ranges in the legacy ipRanges (as strings): read it only when it
        # says something else.
        ipv4 += _cidrs(legacy, keys.legacy, keys.ipv4_cidr, warnings)
    ipv6 = _cidrs(value, keys.ipv6, keys.ipv6_cidr, warnings) if (value := get(keys.ipv6)) else ()
    lists = (
        _cidrs(value, keys.prefix_lists, keys.prefix_id, warnings)
        if (value := get(keys.prefix_lists))
        else ()
    )
    return new_permission(protocol, ports, ipv4, ipv6, lists)


def read_ports(
    protocol: str, from_port: object, to_port: object, warnings: list[str]
) -> tuple[int, int] | None:
    """The ports a permission of ``protocol`` (by name: :func:`normalize_protocol`) allows, as
    SPEC §1 reads them: for tcp and udp ``fromPort``..``toPort``, absent, null or -1 ports
    meaning every port; ``None`` for every other protocol (``all`` opens every port without
    naming any). A port that cannot be read is said in ``warnings`` and counts as every port.

    >>> read_ports("tcp", 22, 22, []), read_ports("udp", None, -1, []), read_ports("icmp", 8, 0, [])
    ((22, 22), (0, 65535), None)
    """
    if protocol not in PORTED_PROTOCOLS:
        return None
    if type(from_port) is int and type(to_port) is int and 0 <= from_port <= to_port <= 65535:
        return (from_port, to_port)  # the usual shape, first
    return _read_ports(from_port, to_port, warnings)


def new_permission(
    protocol: str,
    ports: tuple[int, int] | None,
    ipv4: Sequence[str],
    ipv6: Sequence[str],
    prefix_lists: Sequence[str],
) -> Permission:
    """A :class:`Permission` holding each source once, in the order first written; built at
    half the cost of ``Permission(...)``, whose own ``__new__`` is Python."""
    fields = (protocol, ports, _unique(ipv4), _unique(ipv6), _unique(prefix_lists))
    return tuple.__new__(Permission, fields)


def _cidrs(value: object, name: str, key: str, warnings: list[str]) -> list[str]:
    """The strings of the source list ``name``: entries are ``{key: "cidr"}`` objects or plain
    strings. What is not one is skipped with a warning."""
    if type(value) is not list:
        warnings.append(f"skipped {name}: {json_kind(value)}, not a list")
        return []
    out = []
    for entry in value:
        # Legacy ipRanges hold plain strings; the other lists hold objects.
        text = entry if type(entry) is str else entry.get(key) if is_object(entry) else None
        if type(text) is str and text:
            out.append(text)  # stripped, if need be, when parsed (once per distinct string)
        else:
            warnings.append(f"skipped an unreadable {name} entry: {_shown(entry)}")
    return out


def _unique(values: Sequence[str]) -> tuple[str, ...]:
    """Each source once, in the order first written."""
    return tuple(dict.fromkeys(values)) if len(values) > 1 else tuple(values)


def _read_ports(from_port: object, to_port: object, warnings: list[str]) -> tuple[int, int]:
    low, high = _port_or_none(from_port, warnings), _port_or_none(to_port, warnings)
    # Absent, null or -1 ports mean every port (as EC2 does for tcp/udp without a range).
    if low is None or high is None:
        return (0, 65535)
    if low > high:
        low, high = high, low
    return (low, high)


def _port_or_none(value: object, warnings: list[str]) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and (match := _PORT_TEXT.fullmatch(value)):
        value = int(match[1] + match[2])
    if not isinstance(value, int):
        warnings.append(f"unreadable port {_shown(value)}: counted as every port")
        return None
    if value < 0:
        return None
    return min(value, 65535)


def _read_tags(item_tags: object, conf_tags: object, keys: _Keys) -> dict[str, str]:
    tags: dict[str, str] = {}
    for entry in _list(conf_tags):
        if is_object(entry):
            key, value = entry.get(keys.tag_key), entry.get(keys.tag_value)
            if isinstance(key, str):
                tags[key] = value if isinstance(value, str) else ""
    if is_object(item_tags):
        tags.update(
            {k: v if isinstance(v, str) else "" for k, v in item_tags.items() if isinstance(k, str)}
        )
    return tags


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
