"""Applying a remediation plan (or a restore) to a live group, the same way from the command line
and from the remediation function.

The order keeps the group safe at every step:

1. the group is read and the plan made; a refused plan changes nothing;
2. the rollback document is handed to ``journal`` (a file, a log line) before the first change:
   if that fails, nothing changes;
3. rules are added first, one call per rule, so that each success is known exactly; every rule
   added is part of what was already open (a piece of a rule being narrowed, or an allowed source
   for ports that were open to every address), so the group is never more open than before;
4. then the rules open to the internet are revoked, one call per rule: each step only narrows;
5. the group is read again and decided again: the result is what AWS says, not what was planned.

Throttling and server errors are retried by botocore (see :func:`portguard.adapters.client_config`).
A rule that already exists when added, or is already gone when revoked, changed under us and is
taken as done; any other error stops the run where it is, with the group no more open than before
and the rollback document enough to return to the start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from portguard.adapters.ec2 import PrefixListCache
from portguard.decision import evaluate_group
from portguard.model import Compliance, Verdict
from portguard.reader import parse_ec2_group
from portguard.remediation import (
    DEFAULT_QUOTA,
    RULES_QUOTA_CODE,
    Quota,
    RemediationError,
    Rollback,
    Rule,
    ip_permissions,
    plan_lines,
    plan_remediation,
    plan_restore,
    restore_lines,
    rollback_document,
    rules_of,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from datetime import date

    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_service_quotas import ServiceQuotasClient

    from portguard.parameters import RuleParameters

# What a run ended with.
COMPLIANT = "compliant"  # nothing to do
PLANNED = "planned"  # a dry run
REFUSED = "refused"
APPLIED = "applied"
FAILED = "failed"


class Outcome(NamedTuple):
    """How a remediation or restore ended: ``status`` (one of the constants above), a sentence
    for people, the plan as lines of a diff, the rollback document as last written (remediation
    only), and the verdict on the group read again after the changes."""

    status: str
    message: str
    lines: tuple[str, ...]
    document: dict[str, Any] | None = None
    verdict: Verdict | None = None


class StepError(RemediationError):
    """EC2 refused a change: says which, and how many of the step's rules were done."""

    def __init__(self, step: str, rule: Rule, done: Sequence[Rule], error: Exception) -> None:
        self.done = tuple(done)
        super().__init__(f"{step} {rule.protocol} rule from {rule.source} failed after "
                         f"{len(done)} done: {_reason(error)}")  # fmt: skip


def read_group(client: EC2Client, group_id: str) -> Mapping[str, Any]:
    """The group as DescribeSecurityGroups gives it; :class:`RemediationError` when it is gone."""
    try:
        groups = client.describe_security_groups(GroupIds=[group_id]).get("SecurityGroups", [])
    except ClientError as error:
        if _code(error) == "InvalidGroup.NotFound":
            raise RemediationError(f"security group {group_id} does not exist here") from error
        raise
    if not groups:
        raise RemediationError(f"security group {group_id} does not exist here")
    return groups[0]


def read_quota(client: ServiceQuotasClient) -> Quota:
    """This account's "inbound or outbound rules per security group" quota, or AWS's default
    with the reason it could not be read."""
    try:
        value = client.get_service_quota(ServiceCode="vpc", QuotaCode=RULES_QUOTA_CODE)["Quota"]
        return Quota(int(value["Value"]), f"this account's quota vpc/{RULES_QUOTA_CODE}")
    except (ClientError, BotoCoreError, KeyError, TypeError, ValueError) as error:
        return DEFAULT_QUOTA._replace(
            source=f"{DEFAULT_QUOTA.source}: the account's quota could not be read, "
            f"{_reason(error)}"
        )


class PrefixListSizes:
    """A prefix list's maximum number of entries (what it counts against the rule quota)."""

    def __init__(self, client: EC2Client) -> None:
        self._client = client
        self._sizes: dict[str, int | None] = {}

    def __call__(self, prefix_list_id: str) -> int | None:
        if prefix_list_id not in self._sizes:
            try:
                lists = self._client.describe_managed_prefix_lists(
                    PrefixListIds=[prefix_list_id]
                ).get("PrefixLists", [])
                size = lists[0].get("MaxEntries") if lists else None
            except (ClientError, BotoCoreError):
                size = None
            self._sizes[prefix_list_id] = size
        return self._sizes[prefix_list_id]


def remediate(
    client: EC2Client,
    group_id: str,
    parameters: RuleParameters,
    *,
    allow_cidrs: Sequence[str] = (),
    quota: Quota = DEFAULT_QUOTA,
    apply: bool = False,
    journal: Callable[[dict[str, Any]], None] | None = None,
    region: str | None = None,
    now: Callable[[], str],
    today: date | None = None,
) -> Outcome:
    """Plan closing ``group_id``'s offending ports, and with ``apply`` do it (module docstring).

    ``journal`` receives the rollback document before the first change and after each step
    that changes what it says; ``now`` gives the time written into it. Raises
    :class:`RemediationError` (a bad allowed source, a group that does not exist) and what the
    client raises before any change; after the first change, errors end in a ``failed`` outcome.
    """
    resolver = PrefixListCache(client) if parameters.resolve_prefix_lists else None
    plan = plan_remediation(
        read_group(client, group_id),
        parameters,
        allow_cidrs=allow_cidrs,
        resolve_prefix_list=resolver,
        prefix_list_size=PrefixListSizes(client),
        quota=quota,
        today=today,
    )
    lines = tuple(plan_lines(plan))
    if not plan.needed:
        message = f"{group_id} is {plan.before.compliance}: nothing to change"
        return Outcome(COMPLIANT, message, (), verdict=plan.before)
    if plan.refusal:
        return Outcome(REFUSED, f"refused, nothing changed: {plan.refusal}", lines)
    document = rollback_document(plan, region=region, created=now(), state="planned")
    if not apply:
        return Outcome(PLANNED, "dry run: nothing changed", lines, document)

    _write(journal, document, "adding")  # if the rollback cannot be kept, nothing changes
    try:
        added = _authorize(client, group_id, plan.add)
        if len(added) != len(plan.add):  # some existed already: restore must not revoke them
            document["added"] = ip_permissions(added)
        _write(journal, document, "removing")
        _revoke(client, group_id, plan.remove)
    except StepError as error:
        step = document["state"]
        if step == "adding":
            document["added"] = ip_permissions(error.done)
            safe = "nothing was removed"
        else:
            safe = "some rules open to the internet are still there"
        _write(journal, document, f"failed while {step}: {error}")
        message = f"failed while {step} ({safe}; the group is no more open than before): {error}"
        return Outcome(FAILED, message, lines, document)

    group = parse_ec2_group(read_group(client, group_id))
    verdict = evaluate_group(group, parameters, resolve_prefix_list=resolver, today=today)
    if verdict.compliance is not Compliance.COMPLIANT:
        _write(journal, document, f"applied, but the group is still {verdict.compliance}")
        message = f"applied, but read again the group is {verdict.compliance}: {verdict.annotation}"
        return Outcome(FAILED, message, lines, document, verdict)
    _write(journal, document, "applied")
    return Outcome(APPLIED, f"applied: {group_id} is now COMPLIANT", lines, document, verdict)


def restore(client: EC2Client, rollback: Rollback, *, apply: bool = False) -> Outcome:
    """Undo a remediation: re-add the rules it removed, then revoke the rules it added; with
    ``apply``, read the group again and check that nothing of it is left to undo."""
    plan = plan_restore(rollback, _current_rules(client, rollback.group_id))
    lines = tuple(restore_lines(plan))
    if not plan.add and not plan.remove:
        return Outcome(COMPLIANT, "nothing to restore: the remediation is undone", lines)
    if not apply:
        return Outcome(PLANNED, "dry run: nothing changed", lines)
    try:
        _authorize(client, rollback.group_id, plan.add)
        _revoke(client, rollback.group_id, plan.remove)
    except StepError as error:
        return Outcome(FAILED, f"restore stopped, run it again: {error}", lines)
    left = plan_restore(rollback, _current_rules(client, rollback.group_id))
    if left.add or left.remove:
        message = (f"read again, {len(left.add)} rule(s) are still missing and "
                   f"{len(left.remove)} still to revoke: run restore again")  # fmt: skip
        return Outcome(FAILED, message, lines)
    message = f"restored: {rollback.group_id} has the rules the remediation changed back"
    return Outcome(APPLIED, message, lines)


def _current_rules(client: EC2Client, group_id: str) -> list[Rule]:
    return rules_of(list(read_group(client, group_id).get("IpPermissions") or []))


def _authorize(client: EC2Client, group_id: str, rules: Sequence[Rule]) -> list[Rule]:
    """Add each rule; returns those added (a rule that already exists was not)."""
    added: list[Rule] = []
    for rule in rules:
        try:
            client.authorize_security_group_ingress(
                GroupId=group_id,
                IpPermissions=ip_permissions([rule]),  # type: ignore[arg-type]
            )
        except ClientError as error:
            if _code(error) == "InvalidPermission.Duplicate":
                continue
            raise StepError("adding", rule, added, error) from error
        except BotoCoreError as error:
            raise StepError("adding", rule, added, error) from error
        added.append(rule)
    return added


def _revoke(client: EC2Client, group_id: str, rules: Sequence[Rule]) -> None:
    """Revoke each rule; one already gone is taken as done."""
    done: list[Rule] = []
    for rule in rules:
        try:
            client.revoke_security_group_ingress(
                GroupId=group_id,
                IpPermissions=ip_permissions([rule]),  # type: ignore[arg-type]
            )
        except ClientError as error:
            if _code(error) != "InvalidPermission.NotFound":
                raise StepError("removing", rule, done, error) from error
        except BotoCoreError as error:
            raise StepError("removing", rule, done, error) from error
        done.append(rule)


def _write(
    journal: Callable[[dict[str, Any]], None] | None, document: dict[str, Any], state: str
) -> None:
    document["state"] = state
    if journal is not None:
        journal(document)


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _reason(error: Exception) -> str:
    if isinstance(error, ClientError):
        message = error.response.get("Error", {}).get("Message", "")
        return f"{_code(error)}: {message}" if message else _code(error) or str(error)
    return str(error) or type(error).__name__
