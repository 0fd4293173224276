"""``portguard conformance-pack``: an AWS Config conformance pack template (YAML) with the rule.

The rule's properties come from :func:`portguard.definition.config_rule_properties`, the one
definition the CDK app also deploys; this module only validates the options, wraps the rule in a
template and writes it as YAML. The YAML is written here, not by a library: the template is maps,
lists and strings, and the command needs nothing beyond its declared dependencies. Every string is
double-quoted (with YAML escapes for anything outside printable ASCII), so no value can be read
back as a number, a boolean, a date or null.
"""

from __future__ import annotations

import re
import shlex
import sys
from typing import TYPE_CHECKING, Any

from portguard.definition import SCHEDULES, config_rule_properties
from portguard_cli.inputs import UsageError, rule_parameters
from portguard_cli.results import EXIT_COMPLIANT

if TYPE_CHECKING:
    import argparse

PACK_NAME = "portguard"
RESOURCE_NAME = "PortguardRule"

# arn:<partition>:lambda:<region>:<account>:function:<name>[:<version or alias>]; ASCII: \d
# alone also takes other scripts' digits.
_FUNCTION_ARN = re.compile(
    r"arn:(?P<partition>aws(?:-[a-z]+)*):lambda:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+):"
    r"(?P<account>\d{12}):function:(?P<name>[A-Za-z0-9_-]{1,64})"
    r"(?::(?P<qualifier>\$LATEST|[A-Za-z0-9_-]{1,128}))?",
    re.ASCII,
)


def run(args: argparse.Namespace) -> int:
    arn = _function_arn(args.lambda_arn)
    if args.schedule not in SCHEDULES:
        raise UsageError(
            f"invalid --schedule {args.schedule!r}: expected one of {', '.join(SCHEDULES)}"
        )
    parameters = rule_parameters(args)
    template = {
        "Resources": {
            RESOURCE_NAME: {
                "Type": "AWS::Config::ConfigRule",
                "Properties": config_rule_properties(
                    arn.group(0), parameters, schedule=args.schedule
                ),
            }
        }
    }
    sys.stdout.write(_header(arn) + to_yaml(template))
    return EXIT_COMPLIANT


def _function_arn(value: str) -> re.Match[str]:
    match = _FUNCTION_ARN.fullmatch(value)
    if match is None:
        raise UsageError(
            f"invalid --lambda-arn {value!r}: expected a Lambda function ARN, "
            "arn:aws:lambda:REGION:ACCOUNT:function:NAME[:VERSION_OR_ALIAS]"
        )
    return match


def _header(arn: re.Match[str]) -> str:
    region, account = arn["region"], arn["account"]
    lines = [
        "AWS Config conformance pack: the portguard rule, which flags security groups that open",
        "high-risk ports to the whole internet. Written by `portguard conformance-pack`.",
        "The rule calls an already deployed portguard function:",
        f"  {arn.group(0)}",
        "",
        "1. Let AWS Config invoke the function (once; --source-account is the account the pack",
        "   is deployed in, here the function's own):",
        f"     aws lambda add-permission --region {region} \\",
        f"       --function-name {shlex.quote(arn.group(0))} \\",
        "       --statement-id portguard-config --action lambda:InvokeFunction \\",
        f"       --principal config.amazonaws.com --source-account {account}",
        "2. Save this template as pack.yaml and deploy it in the function's region:",
        f"     aws configservice put-conformance-pack --region {region} \\",
        f"       --conformance-pack-name {PACK_NAME} --template-body file://pack.yaml",
    ]
    return "".join(f"# {line}".rstrip() + "\n" for line in lines)


# --- YAML --------------------------------------------------------------------------------------

# Keys written without quotes: identifiers YAML cannot read as anything but a string.
_PLAIN_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_RESERVED = frozenset({"y", "yes", "n", "no", "true", "false", "on", "off", "null", "nan", "inf"})
# YAML allows at most 1024 characters before the ":" of an implicit key.
_MAX_IMPLICIT_KEY = 1000
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def to_yaml(value: dict[str, Any]) -> str:
    """``value`` (maps with string keys, lists, strings, booleans, integers, None) as a YAML
    document in block style."""
    if not value:
        return "{}\n"
    return "".join(line + "\n" for line in _block(value, 0))


def _block(value: dict[str, Any] | list[Any], indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"a YAML key must be a string here, not {key!r}")
            plain = _PLAIN_KEY.fullmatch(key) and key.lower() not in _RESERVED
            name = key if plain else _quote(key)
            if len(name) > _MAX_IMPLICIT_KEY:  # an explicit key: "? key" then ": value"
                lines.append(f"{pad}? {name}")
                name = ""
            if _nested(item):
                lines.append(f"{pad}{name}:")
                lines.extend(_block(item, indent + 2))
            else:
                lines.append(f"{pad}{name}: {_scalar(item)}")
    else:
        for item in value:
            if _nested(item):
                inner = _block(item, indent + 2)
                lines.append(f"{pad}- {inner[0][indent + 2 :]}")
                lines.extend(inner[1:])
            else:
                lines.append(f"{pad}- {_scalar(item)}")
    return lines


def _nested(value: Any) -> bool:
    """A non-empty map or list, written as a block (empty ones are ``{}`` and ``[]``)."""
    return isinstance(value, dict | list) and bool(value)


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return _quote(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if value == {}:
        return "{}"
    if value == []:
        return "[]"
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as YAML here")


def _quote(text: str) -> str:
    """A double-quoted YAML scalar, in printable ASCII: every other character escaped by code
    point (``\\uXXXX``, or ``\\UXXXXXXXX`` beyond the BMP: YAML does not pair surrogates)."""
    out = []
    for char in text:
        code = ord(char)
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif 0x20 <= code < 0x7F:
            out.append(char)
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return '"' + "".join(out) + '"'
