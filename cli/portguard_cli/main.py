"""The ``portguard`` command line: argument parsing and dispatch.

Every subcommand's options are declared here, so the interface SPEC.md §3 fixes is in one place
(the rule's parameters through :func:`portguard_cli.inputs.add_parameter_options`, beside the code
that reads them back); each subcommand's work lives in its own module, imported only when it runs
(``evaluate`` never loads boto3). Commands import what they share from the modules named for it
(``inputs``, ``sessions``, ``harness``, ``results``), never from this one or from each other.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import TYPE_CHECKING

from portguard.definition import DEFAULT_MEMBER_ROLE_NAME
from portguard_cli.inputs import (
    DEFAULT_WORKERS,
    MAX_WORKERS,
    UsageError,
    add_parameter_options,
    workers,
)
from portguard_cli.results import EXIT_ERROR
from portguard_cli.runner import run_guarded

if TYPE_CHECKING:
    from collections.abc import Sequence


def _add_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="a table for people (default) or a JSON array for pipelines",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="portguard",
        description="Which security groups open a high-risk port to the whole internet? "
        "The same decision as the portguard AWS Config rule.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    scan = commands.add_parser(
        "scan",
        help="evaluate the live security groups of regions, accounts or an organization",
        description="Evaluate every security group of the given regions with the rule's "
        "decision: in your own account, in every account of your organization (--org) or of a "
        "list (--accounts) through a role in each, or every group an AWS Config aggregator "
        "recorded (--aggregator). Exit status: 0 all compliant, 1 any non-compliant, 2 errors "
        "(any account or region that could not be read).",
    )
    scan.add_argument(
        "--region",
        action="append",
        dest="regions",
        metavar="REGION",
        help="a region to scan (repeatable); default: the session's region; with "
        "--aggregator, the region the aggregator is in",
    )
    scan.add_argument(
        "--all-regions",
        action="store_true",
        help="every region enabled for your account (in every account scanned)",
    )
    scan.add_argument("--profile", help="the AWS CLI profile to use")
    where = scan.add_argument_group(
        "accounts (default: your own account only)"
    ).add_mutually_exclusive_group()
    where.add_argument(
        "--org",
        action="store_true",
        help="every active account of your organization (from its management account or a "
        "delegated administrator), each through --role; yours with your own credentials",
    )
    where.add_argument(
        "--accounts",
        action="append",
        metavar="ID[,ID...]",
        help="these accounts (repeatable), each through --role; yours with your own credentials",
    )
    where.add_argument(
        "--aggregator",
        metavar="NAME",
        help="every security group this AWS Config aggregator recorded, in every account and "
        "region it aggregates; no role is assumed unless --role (to read prefix lists)",
    )
    scan.add_argument(
        "--role",
        metavar="NAME",
        help="the role to assume in each account (default: "
        f"{DEFAULT_MEMBER_ROLE_NAME}, which portguard's organization deployment creates and "
        "trusts for the principals it names in portguard:scanPrincipals; "
        "OrganizationAccountAccessRole also works)",
    )
    scan.add_argument(
        "--workers",
        type=workers,
        default=DEFAULT_WORKERS,
        metavar="N",
        help=f"account-regions read at once (default: {DEFAULT_WORKERS}; at most {MAX_WORKERS})",
    )
    add_parameter_options(scan)
    _add_format(scan)
    scan.set_defaults(module="scan", command_parser=scan)

    evaluate = commands.add_parser(
        "evaluate",
        help="decide for security groups in files, offline",
        description="Decide for Config configuration items, GetResourceConfigHistory output or "
        "`aws ec2 describe-security-groups` output, offline. '-' reads standard input. "
        "Managed prefix lists cannot be resolved offline: they count as the whole internet "
        "unless --no-resolve-prefix-lists.",
    )
    evaluate.add_argument("files", nargs="+", metavar="FILE")
    add_parameter_options(evaluate)
    _add_format(evaluate)
    evaluate.set_defaults(module="evaluate", command_parser=evaluate)

    invoke = commands.add_parser(
        "invoke",
        help="run the real Lambda handler on a Config event, locally",
        description="Run the rule's Lambda handler on a Config rule event (a JSON file) and "
        "print the evaluations it posts: against your account (its credentials), or against "
        "an embedded sandbox account with --sandbox. Against your account it really posts to "
        "AWS Config unless the event's resultToken is TESTMODE; --sandbox always uses "
        "TESTMODE. Exit status 0 when the handler returned, 2 when it raised.",
    )
    invoke.add_argument("event", metavar="EVENT.json", help="the Lambda event ('-' for stdin)")
    invoke.add_argument(
        "--sandbox",
        action="store_true",
        help="an embedded AWS account (moto), seeded from examples/",
    )
    invoke.add_argument("--profile", help="the AWS CLI profile to use")
    invoke.add_argument(
        "--region",
        help="the region (default: AWS_REGION, else the profile's or AWS_DEFAULT_REGION)",
    )
    invoke.set_defaults(module="invoke", command_parser=invoke)

    remediate = commands.add_parser(
        "remediate",
        help="close a group's high-risk ports to the internet, keeping its other traffic",
        description="Plan closing the offending ports of one security group: each rule that "
        "opens them to the internet is replaced by the same rule without them, so every other "
        "port keeps exactly its sources. Prints the plan as a diff and changes nothing unless "
        "--apply; with --apply it writes the rollback file first, adds rules before removing "
        "any, and reads the group again to confirm it is compliant. Exit status: 0 shown or "
        "applied, 1 refused, 2 errors.",
    )
    remediate.add_argument("group_id", metavar="GROUP_ID", help="the security group (sg-…)")
    remediate.add_argument("--region", help="the group's region (default: the session's)")
    remediate.add_argument("--profile", help="the AWS CLI profile to use")
    remediate.add_argument(
        "--allow-cidr",
        action="append",
        dest="allow_cidrs",
        metavar="CIDR",
        help="a source that keeps access: for each rule removed, the same protocol and ports "
        "from this CIDR are added first (repeatable; IPv4 for IPv4 rules, IPv6 for IPv6)",
    )
    remediate.add_argument("--apply", action="store_true", help="make the changes")
    remediate.add_argument(
        "--rollback-file",
        metavar="PATH",
        help="where the original rules are saved before any change (default: "
        "portguard-rollback-GROUP_ID-TIME.json here); never overwritten",
    )
    add_parameter_options(remediate)
    remediate.set_defaults(module="remediate", command_parser=remediate)

    restore = commands.add_parser(
        "restore",
        help="undo a remediation from its rollback file",
        description="Re-add the rules a remediation removed and revoke the rules it added, from "
        "the rollback file `portguard remediate --apply` wrote (or the JSON output of the "
        "remediation automation). Changes nothing unless --apply. Exit status: 0 shown or "
        "restored, 2 errors.",
    )
    restore.add_argument("rollback_file", metavar="PATH", help="the rollback file ('-': stdin)")
    restore.add_argument("--apply", action="store_true", help="make the changes")
    restore.add_argument("--profile", help="the AWS CLI profile to use")
    restore.add_argument("--region", help="overrides the region the rollback file names")
    restore.set_defaults(module="remediate", command_parser=restore)

    pack = commands.add_parser(
        "conformance-pack",
        help="print a conformance pack template (YAML) with the rule",
        description="Print an AWS Config conformance pack template holding the portguard rule "
        "that calls an already deployed function, for teams that deploy packs through the "
        "console or AWS Organizations.",
    )
    pack.add_argument(
        "--lambda-arn", required=True, metavar="ARN", help="the portguard function's ARN"
    )
    pack.add_argument(
        "--schedule",
        default="TwentyFour_Hours",
        help="the periodic sweep's frequency (default: TwentyFour_Hours)",
    )
    add_parameter_options(pack)
    pack.set_defaults(module="pack", command_parser=pack)
    return parser


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line, parsed; exits 2 with the command's own usage when it is wrong."""
    args, unknown = build_parser().parse_known_args(argv)
    if unknown:
        # argparse leaves these to `portguard`'s own parser, whose usage says nothing of the
        # command's options: report them with the command's usage.
        command_parser: argparse.ArgumentParser = args.command_parser
        command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """``portguard``: the exit status is 0 when every group complies (or the work was done), 1
    when a group is NON_COMPLIANT (or a remediation plan was refused), 2 when anything failed."""
    args = parse_arguments(argv)
    return run_guarded(f"portguard {args.command}", lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    module = importlib.import_module(f"portguard_cli.{args.module}")
    try:
        status: int = module.run(args)
    except UsageError as error:
        print(f"portguard {args.command}: {error}", file=sys.stderr)
        return EXIT_ERROR
    return status
