"""One model of a security group, whatever shape it was read from.

The model's values are named tuples: immutable and typed like frozen dataclasses, and several
times cheaper to build, which matters because every item of every sweep builds them.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Mapping

SECURITY_GROUP_TYPE = "AWS::EC2::SecurityGroup"

#: Config item statuses for which a group gets NOT_APPLICABLE.
GONE_STATUSES = frozenset({"ResourceDeleted", "ResourceDeletedNotRecorded", "ResourceNotRecorded"})

ALL_PROTOCOLS = "all"
"""The normalized protocol of a ``-1`` permission."""


class Permission(NamedTuple):
    """One ingress permission.

    ``protocol`` is normalized: ``all``, ``tcp``, ``udp``, ``icmp``, ``icmpv6`` or the lower-cased
    text Config gave (``50``, ``gre`` …). ``ports`` is the inclusive tcp/udp range it allows
    (``None`` for ``all`` and for protocols without ports). Sources are kept as written; they are
    parsed when the decision needs them.
    """

    protocol: str
    ports: tuple[int, int] | None = None
    ipv4: tuple[str, ...] = ()
    ipv6: tuple[str, ...] = ()
    prefix_lists: tuple[str, ...] = ()


class SecurityGroup(NamedTuple):
    group_id: str
    group_name: str | None = None
    vpc_id: str | None = None
    permissions: tuple[Permission, ...] = ()
    tags: Mapping[str, str] = MappingProxyType({})
    warnings: tuple[str, ...] = ()


class ConfigItem(NamedTuple):
    """A Config configuration item: which resource, its status, and the group when there is one.

    ``group`` is ``None`` when the item is not a security group or carries no configuration
    (a deleted resource).
    """

    resource_type: str
    resource_id: str
    status: str | None
    capture_time: str | None
    group: SecurityGroup | None

    @property
    def gone(self) -> bool:
        return self.status in GONE_STATUSES
