"""``portguard evaluate FILE...``: the decision on security groups in files, offline.

Shapes are detected, not declared: a Config configuration item (as in an invoking event, or one
item of GetResourceConfigHistory), a whole GetResourceConfigHistory output, a Lambda event or
invoking event holding an item, `aws ec2 describe-security-groups` output, one EC2 group, or a
JSON list of any of these.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from portguard.decision import evaluate_group, evaluate_item
from portguard.errors import InvalidEventError
from portguard.reader import (
    is_object,
    json_error_reason,
    json_kind,
    parse_configuration_item,
    parse_ec2_group,
)
from portguard_cli.inputs import UsageError, read_json, rule_parameters
from portguard_cli.results import Result, report

if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator

    from portguard.parameters import RuleParameters

SHAPES = (
    "a Config configuration item, GetResourceConfigHistory output ({configurationItems: [...]}), "
    "a Lambda or invoking event with a configurationItem, `aws ec2 describe-security-groups` "
    "output ({SecurityGroups: [...]}), one EC2 security group, or a list of these"
)


def run(args: argparse.Namespace) -> int:
    parameters = rule_parameters(args)
    results: list[Result] = []
    errors: list[str] = []
    for name in args.files:
        try:
            document = read_json(name)
            results.extend(evaluate_document(document, parameters, source=name))
        except UsageError as error:
            errors.append(str(error))
            print(f"portguard evaluate: {error}", file=sys.stderr)
    return report(results, errors, args.format)


def evaluate_document(document: Any, parameters: RuleParameters, *, source: str) -> list[Result]:
    """Every group in one JSON document, decided. Raises :class:`UsageError` naming the file
    when the document is none of the shapes portguard reads."""
    today = datetime.now(UTC).date()
    results = []
    for kind, value in _groups(document, source):
        try:
            if kind == "ec2":
                group = parse_ec2_group(value)
                verdict = evaluate_group(group, parameters, today=today)
                account_id = _text(value, "OwnerId")
                results.append(
                    Result.of_group(
                        verdict, group, region=None, source=source, account_id=account_id
                    )
                )
            else:
                item = parse_configuration_item(value)
                verdict = evaluate_item(
                    item, parameters, today=today, event_left_scope=kind == "config-left-scope"
                )
                group_name = item.group.group_name if item.group else None
                vpc_id = item.group.vpc_id if item.group else None
                results.append(
                    Result.of(
                        verdict,
                        group_id=item.resource_id,
                        group_name=group_name,
                        vpc_id=vpc_id,
                        region=_text(value, "awsRegion"),
                        source=source,
                        # An invoking event's item says awsAccountId, the history's accountId.
                        account_id=_text(value, "awsAccountId") or _text(value, "accountId"),
                    )
                )
        except InvalidEventError as error:
            raise UsageError(f"{source}: {error}") from error
    return results


def _text(document: Any, key: str) -> str | None:
    """The document's string at ``key``, if it has one."""
    value = document.get(key) if is_object(document) else None
    return value if isinstance(value, str) and value else None


def _groups(document: Any, source: str) -> Iterator[tuple[str, Any]]:
    """(``"config"``, ``"config-left-scope"`` or ``"ec2"``, the object) for each group the
    document holds, in order. Lists of lists are walked with a stack, not by recursion: JSON
    may nest deeper than Python recurses."""
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, list):
            pending.extend(reversed(value))
        else:
            yield from _groups_of_object(value, source)


def _groups_of_object(document: Any, source: str) -> Iterator[tuple[str, Any]]:
    if not is_object(document):
        raise UsageError(f"{source}: {json_kind(document)} is not {SHAPES}")
    document, left_scope = _unwrap_lambda_event(document, source)
    if is_object(document.get("configurationItem")):  # an invoking event
        # Config said the resource left the rule's scope: the handler answers NOT_APPLICABLE.
        yield ("config-left-scope" if left_scope else "config"), document["configurationItem"]
    elif isinstance(document.get("configurationItems"), list):  # GetResourceConfigHistory
        yield from _latest_per_resource(document["configurationItems"], source)
    elif isinstance(document.get("SecurityGroups"), list):  # describe-security-groups
        for group in document["SecurityGroups"]:
            yield "ec2", group
    elif "resourceType" in document and "resourceId" in document:  # one configuration item
        yield "config", document
    elif "GroupId" in document:  # one EC2 group
        yield "ec2", document
    elif not document:
        raise UsageError(f"{source}: an empty object is not {SHAPES}")
    else:
        keys = ", ".join(sorted(map(str, document))[:6])
        raise UsageError(f"{source}: an object with keys {keys} is not {SHAPES}")


def _unwrap_lambda_event(document: Any, source: str) -> tuple[Any, bool]:
    """A Lambda event's invoking event, and whether Config said the resource left the rule's
    scope; any other document as it is."""
    if not isinstance(document.get("invokingEvent"), str):
        return document, False
    try:
        invoking = json.loads(document["invokingEvent"])
    except (ValueError, RecursionError) as error:
        reason = json_error_reason(error)
        raise UsageError(f"{source}: invokingEvent cannot be read as JSON: {reason}") from error
    if not is_object(invoking):
        raise UsageError(f"{source}: invokingEvent is not an object: {json_kind(invoking)}")
    return invoking, document.get("eventLeftScope") is True


def _latest_per_resource(items: list[Any], source: str) -> Iterator[tuple[str, Any]]:
    """History holds a resource's versions: the question is about its latest one."""
    latest: dict[str, Any] = {}
    for item in items:
        if not is_object(item):
            kind = json_kind(item)
            raise UsageError(f"{source}: a configurationItems entry is not an object: {kind}")
        key = str(item.get("resourceId"))
        time = str(item.get("configurationItemCaptureTime", ""))
        if key not in latest or time > str(latest[key].get("configurationItemCaptureTime", "")):
            latest[key] = item
    for item in latest.values():
        yield "config", item
