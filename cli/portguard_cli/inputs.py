"""What the user gives a command, read and checked in one place: JSON files (every command
reads them with :func:`read_json`), the rule's parameters as options (declared by
:func:`add_parameter_options`, read by :func:`rule_parameters`), and :class:`UsageError`, which
says in the user's words what is wrong with them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portguard.errors import InvalidParameterError
from portguard.parameters import parse_rule_parameters
from portguard.reader import json_error_reason

if TYPE_CHECKING:
    from portguard.parameters import RuleParameters

# Rule parameter -> the option that sets it, to name the option in an error.
PARAMETER_OPTIONS = {
    "blockedPorts": "--blocked-ports",
    "protocolType": "--protocol-type",
    "ipType": "--ip-type",
    "exemptTagKey": "--exempt-tag-key",
    "resolvePrefixLists": "--no-resolve-prefix-lists",
}


DEFAULT_WORKERS = 16
"""(Account, region) pairs ``scan`` reads at once unless ``--workers`` says otherwise; how it
was chosen: docs/benchmarks.md, section 6, and the README (*Scanning an organization*)."""

MAX_WORKERS = 64
"""The most ``--workers`` takes."""


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


def read_json(name: str) -> Any:
    """The JSON document in file ``name`` (``-``: standard input), for every command.

    Read as bytes, so json detects UTF-8, -16 or -32 and a byte-order mark (PowerShell 5.1
    writes UTF-16 with one when output is redirected to a file). Raises :class:`UsageError`
    naming the file when it cannot be read or is not JSON."""
    try:
        if name == "-":  # bytes when stdin has them (a pipe), text otherwise (a test's StringIO)
            stdin = getattr(sys.stdin, "buffer", sys.stdin)
            data: bytes | str = stdin.read()
        else:
            data = Path(name).read_bytes()
    except OSError as error:
        raise UsageError(f"{name}: cannot read it ({error.strerror})") from error
    try:
        return json.loads(data)
    except UnicodeDecodeError as error:
        raise UsageError(
            f"{name}: not JSON (not text in UTF-8, UTF-16 or UTF-32: {error.reason})"
        ) from error
    except json.JSONDecodeError as error:
        raise UsageError(f"{name}: not JSON ({error})") from error
    except (ValueError, RecursionError) as error:  # JSON beyond what Python reads
        raise UsageError(f"{name}: cannot be read as JSON: {json_error_reason(error)}") from error


def workers(text: str) -> int:
    """``--workers N``: a whole number from 1 to :data:`MAX_WORKERS` (an argparse type)."""
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_WORKERS):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 1 to {MAX_WORKERS}")
    return int(text)


def rule_parameters(args: argparse.Namespace) -> RuleParameters:
    """The rule's parameters from the options, validated by the rule's own parser."""
    raw: dict[str, object] = {}
    if args.blocked_ports is not None:
        raw["blockedPorts"] = args.blocked_ports
    if args.protocol_type is not None:
        raw["protocolType"] = args.protocol_type
    if args.ip_type is not None:
        raw["ipType"] = args.ip_type
    if args.exempt_tag_key is not None:
        raw["exemptTagKey"] = args.exempt_tag_key
    if getattr(args, "no_resolve_prefix_lists", False):
        raw["resolvePrefixLists"] = "false"
    try:
        return parse_rule_parameters(raw)
    except InvalidParameterError as error:
        option = PARAMETER_OPTIONS.get(error.name, error.name)
        raise UsageError(f"invalid {option} {error.value!r}: {error.reason}") from error


def add_parameter_options(parser: argparse.ArgumentParser, *, resolve: bool = True) -> None:
    group = parser.add_argument_group("rule parameters (as the deployed rule takes them)")
    group.add_argument(
        "--blocked-ports",
        metavar="PORTS",
        help="ports, ranges and presets (fsbp, hipaa, cis); default: fsbp",
    )
    group.add_argument("--protocol-type", metavar="TCP|UDP|ALL", help="default: ALL")
    group.add_argument("--ip-type", metavar="IPv4|IPv6|ALL", help="default: ALL")
    group.add_argument(
        "--exempt-tag-key",
        metavar="KEY",
        help="honour exemptions tagged with this key (default: none)",
    )
    if resolve:
        group.add_argument(
            "--no-resolve-prefix-lists",
            action="store_true",
            help="ignore managed prefix lists instead of resolving them",
        )
