"""The rule's InputParameters, read into one validated, frozen value.

The same parser validates the Lambda's ``ruleParameters``, the CLI's options and the CDK app's
context at synth time, so a value that deploys is a value the function accepts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import TypeVar

from portguard.errors import InvalidParameterError
from portguard.ports import MAX_PORT, PortSet

# Security Hub EC2.19: "Security groups should not allow unrestricted access to ports with
# high risk".
FSBP_PORTS = (20, 21, 22, 23, 25, 110, 135, 143, 445, 1433, 1434, 3000, 3306, 3389, 4333, 5000,
              5432, 5500, 5601, 8080, 8088, 8888, 9200, 9300)  # fmt: skip
# AWS's HIPAA conformance pack: restricted-common-ports' defaults plus SSH.
HIPAA_PORTS = (20, 21, 22, 3306, 3389, 4333)
# CIS remote administration ports.
CIS_PORTS = (22, 3389)

PRESETS: Mapping[str, tuple[int, ...]] = {
    "fsbp": FSBP_PORTS,
    "hipaa": HIPAA_PORTS,
    "cis": CIS_PORTS,
}

DEFAULT_BLOCKED_PORTS = "fsbp"

_E = TypeVar("_E", bound=Enum)

# ASCII digits only: \d and int() also read other scripts' digits (full-width 22 is 22).
_RANGE = re.compile(r"([0-9]+)-([0-9]+)")
_PORT = re.compile(r"[0-9]+")
_SPACED_HYPHEN = re.compile(r"\s*-\s*")
_SEPARATORS = re.compile(r"[,\s]+")


class ProtocolType(StrEnum):
    TCP = "TCP"
    UDP = "UDP"
    ALL = "ALL"

    @property
    def protocols(self) -> tuple[str, ...]:
        """The transport protocols whose ports are checked, in report order."""
        return {"TCP": ("tcp",), "UDP": ("udp",), "ALL": ("tcp", "udp")}[self.value]


class IpType(StrEnum):
    IPV4 = "IPv4"
    IPV6 = "IPv6"
    ALL = "ALL"

    @property
    def families(self) -> tuple[int, ...]:
        """The IP versions whose whole-space coverage counts."""
        return {"IPv4": (4,), "IPv6": (6,), "ALL": (4, 6)}[self.value]


@dataclass(frozen=True, slots=True)
class RuleParameters:
    """Validated rule parameters. Build with :func:`parse_rule_parameters`."""

    blocked_ports: PortSet
    protocol_type: ProtocolType = ProtocolType.ALL
    ip_type: IpType = IpType.ALL
    exempt_tag_key: str | None = None
    resolve_prefix_lists: bool = True
    protocols: tuple[str, ...] = field(init=False, repr=False, compare=False)
    """``protocol_type.protocols``, kept: the decision reads it for every group."""
    families: tuple[int, ...] = field(init=False, repr=False, compare=False)
    """``ip_type.families``, kept: the decision reads it for every group."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "protocols", self.protocol_type.protocols)
        object.__setattr__(self, "families", self.ip_type.families)

    def as_input_parameters(self) -> dict[str, str]:
        """The parameters as Config InputParameters (strings), normalized.

        >>> params = parse_rule_parameters({"blockedPorts": "cis", "ipType": "ipv4"})
        >>> params.as_input_parameters()["blockedPorts"], params.as_input_parameters()["ipType"]
        ('22,3389', 'IPv4')
        """
        out = {
            "blockedPorts": self.blocked_ports.describe(),
            "protocolType": self.protocol_type.value,
            "ipType": self.ip_type.value,
            "resolvePrefixLists": "true" if self.resolve_prefix_lists else "false",
        }
        if self.exempt_tag_key is not None:
            out["exemptTagKey"] = self.exempt_tag_key
        return out


def parse_ports(text: str, *, name: str = "blockedPorts", allow_all: bool = False) -> PortSet:
    """Read the blockedPorts grammar: ports, ranges and presets separated by commas and/or spaces.

    ``allow_all`` admits the word ``all`` (every port), as exemption tags do.

    >>> parse_ports("22, 8000-8001 cis").ranges
    ((22, 22), (3389, 3389), (8000, 8001))
    """
    tokens = [t for t in _SEPARATORS.split(_SPACED_HYPHEN.sub("-", text.strip())) if t]
    if not tokens:
        raise InvalidParameterError(name, text, "the port list is empty")
    ranges: list[tuple[int, int]] = []
    for token in tokens:
        lowered = token.lower()
        if lowered in PRESETS:
            ranges.extend((p, p) for p in PRESETS[lowered])
        elif allow_all and lowered == "all":
            ranges.append((0, MAX_PORT))
        elif _PORT.fullmatch(token):
            ranges.append((_port(name, text, token), _port(name, text, token)))
        elif match := _RANGE.fullmatch(token):
            low, high = _port(name, text, match[1]), _port(name, text, match[2])
            if low > high:
                raise InvalidParameterError(
                    name, text, f"range {token!r} is reversed (write {high}-{low})"
                )
            ranges.append((low, high))
        else:
            expected = "a port, a range like 8000-8100, " + (
                "a preset (fsbp, hipaa, cis) or all"
                if allow_all
                else "or a preset (fsbp, hipaa, cis)"
            )
            if any(char.isdigit() for char in token if not char.isascii()):
                expected += "; ports are written with the digits 0-9"
            raise InvalidParameterError(name, text, f"unknown token {token!r}: expected {expected}")
    return PortSet(ranges)


def _port(name: str, text: str, digits: str) -> int:
    # Length first: int() refuses strings of over 4300 digits with an error about Python.
    significant = digits.lstrip("0") or "0"
    if len(significant) > len(str(MAX_PORT)) or int(significant) > MAX_PORT:
        shown = digits if len(digits) <= 12 else f"{digits[:6]}… ({len(digits)} digits)"
        raise InvalidParameterError(name, text, f"port {shown} is above {MAX_PORT}")
    return int(significant)


def _choice(name: str, raw: str, enum: type[_E]) -> _E:
    for member in enum:
        if str(member.value).lower() == raw.strip().lower():
            return member
    allowed = ", ".join(str(m.value) for m in enum)
    raise InvalidParameterError(name, raw, f"expected one of {allowed}")


def _as_text(name: str, value: object) -> str:
    # Config always sends strings; JSON written by hand may hold true/22, which mean the same.
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    raise InvalidParameterError(name, value, "expected a string")


KNOWN_PARAMETERS = ("blockedPorts", "protocolType", "ipType", "exemptTagKey", "resolvePrefixLists")


def parse_rule_parameters(raw: Mapping[str, object] | None) -> RuleParameters:
    """Validate the rule's InputParameters. Every parameter is optional.

    Raises :class:`InvalidParameterError` naming the parameter and the bad value; never falls back
    to a default in silence.

    >>> parse_rule_parameters({"blockedPorts": "22", "protocolType": "tcp"}).protocol_type
    <ProtocolType.TCP: 'TCP'>
    """
    raw = raw or {}
    if not isinstance(raw, Mapping):
        raise InvalidParameterError("ruleParameters", raw, "expected a JSON object")
    for key in raw:
        if key not in KNOWN_PARAMETERS:
            hint = spelled_like(key, KNOWN_PARAMETERS)
            raise InvalidParameterError(
                key,
                raw[key],
                f"unknown parameter{f' (did you mean {hint}?)' if hint else ''}; "
                f"known: {', '.join(KNOWN_PARAMETERS)}",
            )
    values = {key: _as_text(key, value) for key, value in raw.items()}

    blocked = parse_ports(values.get("blockedPorts", DEFAULT_BLOCKED_PORTS))
    protocol_type = _choice("protocolType", values.get("protocolType", "ALL"), ProtocolType)
    ip_type = _choice("ipType", values.get("ipType", "ALL"), IpType)

    exempt_tag_key = values.get("exemptTagKey")
    if exempt_tag_key is not None:
        exempt_tag_key = exempt_tag_key.strip()
        if not exempt_tag_key:
            raise InvalidParameterError(
                "exemptTagKey", values["exemptTagKey"], "the tag key is empty"
            )
        if len(exempt_tag_key) > 128:
            raise InvalidParameterError(
                "exemptTagKey", exempt_tag_key, "a tag key has at most 128 characters"
            )

    resolve = values.get("resolvePrefixLists", "true").strip().lower()
    if resolve not in ("true", "false"):
        raise InvalidParameterError(
            "resolvePrefixLists", values["resolvePrefixLists"], "expected true or false"
        )

    return RuleParameters(
        blocked_ports=blocked,
        protocol_type=protocol_type,
        ip_type=ip_type,
        exempt_tag_key=exempt_tag_key,
        resolve_prefix_lists=resolve == "true",
    )


def spelled_like(name: str, known: Iterable[str]) -> str | None:
    """The one of ``known`` that ``name`` spells, ignoring case, surrounding spaces and a
    trailing ``s``, for "did you mean": the parameters' names here, the CDK app's settings.

    >>> spelled_like("blockedport", KNOWN_PARAMETERS)
    'blockedPorts'
    """
    loose = name.strip().lower().rstrip("s")
    return next((k for k in known if k.lower().rstrip("s") == loose), None)
