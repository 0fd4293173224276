"""The values portguard works with: a security group as read, and the verdict on it.

Input: :class:`SecurityGroup` (its :class:`Permission` list, tags and what could not be read),
inside a :class:`ConfigItem`. Output: a :class:`Verdict`, whose :class:`Exposure` list says which
ports of which protocol are open to the whole internet and which :class:`Source` values open them,
and whose :class:`Exemption` says what an exemption tag excused. Only :mod:`portguard.annotation`
turns these values into words; the remediation plan and the command line read them as they are.

The values are named tuples: immutable and typed like frozen dataclasses, and several times cheaper
to build, which matters because every item of every sweep builds them.
"""

from __future__ import annotations

from enum import Enum, IntEnum, StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple

from portguard.ports import PortSet

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import date

SECURITY_GROUP_TYPE = "AWS::EC2::SecurityGroup"

#: Config item statuses for which a group gets NOT_APPLICABLE.
GONE_STATUSES = frozenset({"ResourceDeleted", "ResourceDeletedNotRecorded", "ResourceNotRecorded"})


# --- protocols ---------------------------------------------------------------------------------

ALL_PROTOCOLS = "all"
"""The normalized protocol of a ``-1`` permission: every port of every protocol."""
PORTED_PROTOCOLS = ("tcp", "udp")
"""The protocols whose ports the rule checks, in report order."""

_PROTOCOL_NAMES = {
    "-1": ALL_PROTOCOLS,
    "all": ALL_PROTOCOLS,
    "tcp": "tcp",
    "6": "tcp",
    "udp": "udp",
    "17": "udp",
    "icmp": "icmp",
    "1": "icmp",
    "icmpv6": "icmpv6",
    "58": "icmpv6",
}


def normalize_protocol(value: object) -> str | None:
    """An ``IpProtocol`` as EC2 or Config writes it, by name: ``all`` for ``-1``, ``tcp`` for
    ``tcp`` or ``6``, ``udp``, ``icmp``, ``icmpv6``; any other protocol as its lower-cased text
    (``50``, ``gre``). ``None`` when there is none (missing, null, empty).

    >>> normalize_protocol("6"), normalize_protocol("-1"), normalize_protocol(50.0)
    ('tcp', 'all', '50')
    """
    if type(value) is str and value in _PROTOCOL_NAMES:  # the usual spellings, first
        return _PROTOCOL_NAMES[value]
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip().lower()
    if not text:
        return None
    return _PROTOCOL_NAMES.get(text, text)


# --- a security group as read ------------------------------------------------------------------


class Permission(NamedTuple):
    """One ingress permission.

    ``protocol`` is normalized (:func:`normalize_protocol`; empty when the permission has none).
    ``ports`` is the inclusive tcp/udp range it allows (``None`` for ``all`` and for protocols
    without ports). Sources are kept as written; the decision parses them when it needs them.
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
    """What the reader skipped (a permission that is not an object, an unreadable port)."""


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


# --- the verdict -------------------------------------------------------------------------------


class Compliance(StrEnum):
    COMPLIANT = "COMPLIANT"
    NON_COMPLIANT = "NON_COMPLIANT"
    NOT_APPLICABLE = "NOT_APPLICABLE"


class Family(IntEnum):
    """An IP address family, by its version number."""

    IPV4 = 4
    IPV6 = 6


LAST_ADDRESS: Mapping[Family, int] = MappingProxyType(
    {Family.IPV4: (1 << 32) - 1, Family.IPV6: (1 << 128) - 1}
)
"""The last address of each family's space (the first is 0)."""


class SourceKind(IntEnum):
    """What a source is; sources are reported in this order."""

    IPV4_CIDR = 1
    IPV6_CIDR = 2
    PREFIX_LIST = 3
    UNREADABLE_PREFIX_LIST = 4
    """A managed prefix list that could not be read: it fails closed, as the whole internet."""


class Source(NamedTuple):
    """A source that opens ports to the internet, as an exposure names it.

    Its fields order sources as they are reported: by kind, then a CIDR by its first address
    (``9.0.0.0/8`` before ``10.0.0.0/8``), then by name.
    """

    kind: SourceKind
    address: int
    """A CIDR's first address, as an integer; 0 for a prefix list."""
    name: str
    """A CIDR as :mod:`ipaddress` writes it (``0.0.0.0/0``, ``::/0``), or a prefix list's id."""
    reason: str = ""
    """Why an unreadable prefix list could not be read (``AccessDenied``, ``not resolved
    offline``); empty for every other kind."""


class Exposure(NamedTuple):
    """Ports of one protocol open to the whole internet, and the sources that open them.

    ``ports`` is an inclusive range of blocked ports; ``sources`` are in report order, each once.
    """

    protocol: str
    ports: tuple[int, int]
    sources: tuple[Source, ...]


class ExemptionStatus(Enum):
    VALID = "valid"
    EXPIRED = "expired"
    UNREADABLE = "unreadable"


class Exemption(NamedTuple):
    """What a group's exemption tag says (see :mod:`portguard.exemptions`)."""

    tag_key: str
    status: ExemptionStatus
    ports: PortSet = PortSet()
    """The ports it excuses, when it is valid (none otherwise)."""
    until: date | None = None
    """The last day it excuses them (UTC), or the day it expired; ``None``: no end date."""
    problem: str = ""
    """Why it could not be read, when it is unreadable (``'ssh' is not a port``)."""


class Verdict(NamedTuple):
    """The decision on one group: its compliance, the annotation for Config, and why."""

    compliance: Compliance
    annotation: str | None = None
    exposures: tuple[Exposure, ...] = ()
    """Offending ports that are not excused."""
    exempted: tuple[Exposure, ...] = ()
    """Offending ports excused by a valid exemption tag."""
    warnings: tuple[str, ...] = ()
    """What could not be read and was skipped (a source that is not a CIDR, an unreadable
    prefix list), for the logs."""
    exemption: Exemption | None = None
    """The group's exemption tag, when exemptions are on and the group has one."""


NOT_APPLICABLE = Verdict(Compliance.NOT_APPLICABLE)
