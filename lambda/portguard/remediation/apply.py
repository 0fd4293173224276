"""Applying a remediation plan (or a restore) to a live group, the same way from the command line
and from the remediation function.

The order keeps the group safe at every step, even while someone else changes it:

1. the group is read and the plan made; a refused plan changes nothing;
2. the rollback document is handed to ``journal`` (a file, a log line) before the first change,
   and again after every change, holding only facts: the rules portguard added and still holds,
   the rules it revoked itself. If it cannot be written before the first change, nothing changes;
   a change it cannot record is taken back, so the document stays enough to undo the run;
3. rules are added first, one call per rule, so that each success is known exactly; every rule
   added is part of a rule being removed (a piece of it, or an allowed source in its place);
4. then the rules open to the internet are revoked, one call per rule: each step only narrows;
5. the group is read again. A rule the plan removes that is gone, but not revoked by portguard
   (``InvalidPermission.NotFound``, or in a default VPC ``UnknownIpPermissions``), was closed by
   someone else: the rules portguard added for it alone are taken back (its ports stay closed),
   and restore will not bring it back. A rule portguard added that someone removed is no longer
   portguard's;
6. the result is what AWS says, not what was planned: ``applied`` only when the group is
   COMPLIANT and nothing portguard holds lets in more than the group did when found, or than it
   would without portguard's changes (what others left).

This is the one module of :mod:`portguard.remediation` that calls AWS (botocore stays here).
Throttling and server errors are retried by botocore (see :func:`portguard.adapters.client_config`).
A rule that already exists when added was added by someone else, and is not portguard's to revoke
on restore; any other error stops the steps where they are, and the group is still read again and
checked as above.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from portguard.adapters import error_code, error_reason
from portguard.adapters.ec2 import PrefixListCache
from portguard.decision import evaluate_group
from portguard.errors import RemediationError, StepError
from portguard.model import Compliance, Verdict
from portguard.reader import parse_ec2_group
from portguard.remediation.plan import DEFAULT_QUOTA, RULES_QUOTA_CODE, Quota, plan_remediation
from portguard.remediation.rendering import (
    describe_refusal,
    describe_rule,
    describe_rules,
    plan_lines,
    restore_lines,
)
from portguard.remediation.rollback import RollbackState, plan_restore, rollback_document
from portguard.remediation.rules import ip_permissions, opened_beyond, rules_of

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from datetime import date

    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_service_quotas import ServiceQuotasClient

    from portguard.parameters import RuleParameters
    from portguard.remediation.plan import Plan
    from portguard.remediation.rollback import Rollback
    from portguard.remediation.rules import Rule, RuleKey


class Status(StrEnum):
    """How a remediation or restore ended (the remediation function returns it as ``state``
    for a group it left alone)."""

    COMPLIANT = "compliant"
    """Nothing to do: the group is not open, or the remediation is already undone."""
    PLANNED = "planned"
    """A dry run: the plan is shown, nothing changed."""
    REFUSED = "refused"
    """The plan would leave the group open, or exceed its rule quota: nothing changed."""
    APPLIED = "applied"
    """Done, and checked on the group read again."""
    FAILED = "failed"
    """Stopped, or done but not as planned: the message says what, and whether to restore."""

    @property
    def succeeded(self) -> bool:
        """Whether the run did what it was asked: nothing was needed, or the plan was shown, or
        applied and checked."""
        return self in (Status.COMPLIANT, Status.PLANNED, Status.APPLIED)


class Outcome(NamedTuple):
    """How a remediation or restore ended: its :class:`Status`, a sentence for people, the plan
    as lines of a diff, the rollback document as last written (remediation only), the verdict on
    the group read again after the changes, and ``meanwhile``: what someone else changed while
    portguard worked, and what portguard did about it."""

    status: Status
    message: str
    lines: tuple[str, ...]
    document: dict[str, Any] | None = None
    verdict: Verdict | None = None
    meanwhile: tuple[str, ...] = ()


def read_group(client: EC2Client, group_id: str) -> Mapping[str, Any]:
    """The group as DescribeSecurityGroups gives it; :class:`RemediationError` when it is gone."""
    try:
        groups = client.describe_security_groups(GroupIds=[group_id]).get("SecurityGroups", [])
    except ClientError as error:
        if error_code(error) == "InvalidGroup.NotFound":
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
            f"{error_reason(error)}"
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

    ``journal`` receives the rollback document before the first change and after each change;
    ``now`` gives the time written into it. Raises :class:`RemediationError` (a bad allowed
    source, a group that does not exist) and what the client raises before any change, and what
    ``journal`` raises (after taking back the change it could not record); after the first
    change, EC2's errors end in a ``failed`` outcome.
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
        return Outcome(Status.COMPLIANT, message, (), verdict=plan.before)
    if plan.refusal is not None:
        message = f"refused, nothing changed: {describe_refusal(plan.refusal)}"
        return Outcome(Status.REFUSED, message, lines)
    document = rollback_document(plan, region=region, created=now(), state=RollbackState.PLANNED)
    if not apply:
        return Outcome(Status.PLANNED, "dry run: nothing changed", lines, document)

    def decide(group: Mapping[str, Any]) -> Verdict:
        return evaluate_group(
            parse_ec2_group(group), parameters, resolve_prefix_list=resolver, today=today
        )

    return _Apply(client, plan, document, journal).run(decide, lines)


class _Apply:
    """One run of a plan: what portguard added and still holds, what it revoked itself, and the
    rollback document that records both after every change."""

    def __init__(
        self,
        client: EC2Client,
        plan: Plan,
        document: dict[str, Any],
        journal: Callable[[dict[str, Any]], None] | None,
    ) -> None:
        self.client, self.plan, self.document, self.journal = client, plan, document, journal
        self.added: list[Rule] = []  # added by portguard, and there when last read
        self.removed: list[Rule] = []  # revoked by portguard itself
        self.closed: set[RuleKey] = set()  # rules of the plan someone else removed meanwhile

    def run(
        self, decide: Callable[[Mapping[str, Any]], Verdict], lines: tuple[str, ...]
    ) -> Outcome:
        self._record(RollbackState.ADDING)  # if the rollback cannot be kept, nothing changes
        failure: StepError | None = None
        try:
            self._steps()
        except StepError as error:
            failure = error
        try:
            group, meanwhile, stuck = self._settle()
        except (ClientError, BotoCoreError, RemediationError) as error:
            done = f"failed while {failure.step}: {failure}" if failure else "applied"
            unchecked = f"the group could not be read again to check it: {error_reason(error)}"
            self._record_failure(f"{done}; {unchecked}")
            return Outcome(Status.FAILED, f"{done}; {unchecked}", lines, self.document)
        verdict = decide(group)
        beyond = self._opened_beyond(rules_of(list(group.get("IpPermissions") or [])))
        status, message = self._conclude(failure, stuck, beyond, verdict)
        return Outcome(status, message, lines, self.document, verdict, meanwhile)

    def _steps(self) -> None:
        """Add, then revoke, one rule a call, each change recorded as soon as it is made."""
        group_id = self.plan.group_id
        for done, rule in enumerate(self.plan.add):
            if _authorize(self.client, group_id, rule, done):
                self.added.append(rule)
                self._record_change(RollbackState.ADDING, rule, self.added, _revoke)
        for done, rule in enumerate(self.plan.remove):
            if _revoke(self.client, group_id, rule, done):
                self.removed.append(rule)
                self._record_change(RollbackState.REMOVING, rule, self.removed, _authorize)

    def _settle(self) -> tuple[Mapping[str, Any], tuple[str, ...], StepError | None]:
        """Read the group again and act on what others changed meanwhile (see :meth:`_read`),
        taking back what portguard added only for rules someone else closed. Returns the group
        as read last, what happened meanwhile, and the error that stopped taking back, if any."""
        meanwhile: list[str] = []
        taken: list[Rule] = []
        stuck: StepError | None = None
        group, unneeded = self._read(meanwhile)
        while unneeded and not stuck:  # read again after taking back: until nothing is left
            try:
                for done, rule in enumerate(unneeded):
                    _revoke(self.client, self.plan.group_id, rule, done)  # gone already: as good
                    self.added.remove(rule)
                    taken.append(rule)
                    self._record(RollbackState.TAKING_BACK)
            except StepError as error:
                stuck = error
            group, unneeded = self._read(meanwhile)
        meanwhile += [
            f"taken back, as the rules it was added for are gone: {text}"
            for text in describe_rules(taken)
        ]
        return group, tuple(meanwhile), stuck

    def _read(self, meanwhile: list[str]) -> tuple[Mapping[str, Any], list[Rule]]:
        """Read the group: a rule of the plan that is gone but was not revoked by portguard was
        closed by someone else; a rule portguard added that is gone is no longer its own. Says
        so in ``meanwhile``; returns the group and the rules portguard holds for nothing."""
        group = read_group(self.client, self.plan.group_id)
        present = {rule.key for rule in rules_of(list(group.get("IpPermissions") or []))}
        revoked = {rule.key for rule in self.removed}
        vanished = [
            rule
            for rule in self.plan.remove
            if rule.key not in revoked and rule.key not in present and rule.key not in self.closed
        ]
        lost = [rule for rule in self.added if rule.key not in present]
        self.closed.update(rule.key for rule in vanished)
        self.added = [rule for rule in self.added if rule.key in present]
        for rule in vanished:
            meanwhile.append(
                f"removed by someone else before portguard revoked it (restore "
                f"will not bring it back): {describe_rule(rule)}"
            )
        for text in describe_rules(lost):
            meanwhile.append(f"removed by someone else after portguard added it: {text}")
        if vanished or lost:
            self._record(RollbackState.READ_AGAIN)
        # A rule added only for rules that are gone, and not by portguard's hand, stands for
        # nothing: someone else closed those ports, and they stay closed.
        needed = revoked | present
        unneeded = [
            rule
            for rule in self.added
            if not any(origin.key in needed for origin in self.plan.origins.get(rule.key, ()))
        ]
        return group, unneeded

    def _opened_beyond(self, final: Sequence[Rule]) -> list[Rule]:
        """The rules portguard holds that let in more than the group did when found, or than
        it would now without portguard's changes (what others left): none, unless taking back
        failed."""
        held = {rule.key for rule in self.added}
        left_by_others = [rule for rule in final if rule.key not in held] + self.removed
        beyond = {
            rule.key: rule
            for rule in (
                *opened_beyond(self.added, self.plan.original, self.plan.origins),
                *opened_beyond(self.added, left_by_others, self.plan.origins),
            )
        }
        return list(beyond.values())

    def _conclude(
        self,
        failure: StepError | None,
        stuck: StepError | None,
        beyond: Sequence[Rule],
        verdict: Verdict,
    ) -> tuple[Status, str]:
        """The run's status and message; the document records how it ended."""
        if beyond:
            rules = "; ".join(describe_rules(beyond))
            done = f"failed while {failure.step}: {failure}; " if failure else ""
            why = f" (taking them back failed: {stuck})" if stuck else ""
            self._record_failure(f"{done}the group is more open than it was: run restore")
            return Status.FAILED, (
                f"{done}the group lets in more than it did, or than others left "
                f"it: {rules}{why}; restore takes them back"
            )
        if failure:
            safe = (
                "nothing was removed"
                if failure.step == RollbackState.ADDING
                else "some rules open to the internet are still there"
            )
            self._record_failure(f"failed while {failure.step}: {failure}")
            return Status.FAILED, (
                f"failed while {failure.step} ({safe}; the group is no more open "
                f"than before): {failure}"
            )
        if verdict.compliance is not Compliance.COMPLIANT:
            self._record_failure(f"applied, but the group is still {verdict.compliance}")
            return Status.FAILED, (
                f"applied, but read again the group is {verdict.compliance}: {verdict.annotation}"
            )
        self._record(RollbackState.APPLIED)
        return Status.APPLIED, f"applied: {self.plan.group_id} is now COMPLIANT"

    def _record(self, state: RollbackState) -> None:
        """Hand the document to the journal as it is now, at ``state``."""
        self._journal(state.value)

    def _record_failure(self, why: str) -> None:
        """Hand the document of a run that failed to the journal: its state says why."""
        self._journal(why)

    def _journal(self, state: str) -> None:
        self.document["added"] = ip_permissions(self.added)
        self.document["removed"] = ip_permissions(self.removed)
        self.document["state"] = state
        if self.journal is not None:
            self.journal(self.document)

    def _record_change(
        self,
        state: RollbackState,
        rule: Rule,
        done: list[Rule],
        take_back: Callable[[EC2Client, str, Rule, int], bool],
    ) -> None:
        """Record a change just made; one that cannot be recorded is taken back, so that the
        document stays true and enough to undo the run, and the journal's error is raised with
        a note saying so (the command line shows it)."""
        try:
            self._record(state)
        except Exception as error:
            done.remove(rule)
            verb = "add" if state == RollbackState.ADDING else "revoke"
            change = f"its {verb} of {describe_rule(rule)}"
            try:
                take_back(self.client, self.plan.group_id, rule, 0)
            except StepError as stuck:
                error.add_note(
                    f"portguard stopped, but could not take back {change}, which the "
                    f"rollback document does not hold: {stuck}"
                )
            else:
                error.add_note(
                    f"portguard stopped, and took back {change}: the rollback "
                    "document holds everything else it did"
                )
            raise


def restore(client: EC2Client, rollback: Rollback, *, apply: bool = False) -> Outcome:
    """Undo a remediation: re-add the rules it removed, then revoke the rules it added; with
    ``apply``, read the group again and check that nothing of it is left to undo."""
    plan = plan_restore(rollback, _current_rules(client, rollback.group_id))
    lines = tuple(restore_lines(plan))
    if not plan.add and not plan.remove:
        return Outcome(Status.COMPLIANT, "nothing to restore: the remediation is undone", lines)
    if not apply:
        return Outcome(Status.PLANNED, "dry run: nothing changed", lines)
    try:
        for done, rule in enumerate(plan.add):
            _authorize(client, rollback.group_id, rule, done)  # there already: as good
        for done, rule in enumerate(plan.remove):
            _revoke(client, rollback.group_id, rule, done)  # gone already: as good
    except StepError as error:
        return Outcome(Status.FAILED, f"restore stopped, run it again: {error}", lines)
    left = plan_restore(rollback, _current_rules(client, rollback.group_id))
    if left.add or left.remove:
        message = (
            f"read again, {len(left.add)} rule(s) are still missing and "
            f"{len(left.remove)} still to revoke: run restore again"
        )
        return Outcome(Status.FAILED, message, lines)
    message = f"restored: {rollback.group_id} has the rules the remediation changed back"
    return Outcome(Status.APPLIED, message, lines)


def _current_rules(client: EC2Client, group_id: str) -> list[Rule]:
    return rules_of(list(read_group(client, group_id).get("IpPermissions") or []))


def _authorize(client: EC2Client, group_id: str, rule: Rule, done: int) -> bool:
    """Add one rule: ``True`` when this call added it, ``False`` when it was there already
    (someone else's); :class:`StepError` when EC2 refused (``done`` rules of the step were done)."""
    try:
        client.authorize_security_group_ingress(
            GroupId=group_id,
            IpPermissions=ip_permissions([rule]),  # type: ignore[arg-type]
        )
    except ClientError as error:
        if error_code(error) == "InvalidPermission.Duplicate":
            return False
        raise _step_error(RollbackState.ADDING, rule, done, error) from error
    except BotoCoreError as error:
        raise _step_error(RollbackState.ADDING, rule, done, error) from error
    return True


def _revoke(client: EC2Client, group_id: str, rule: Rule, done: int) -> bool:
    """Revoke one rule: ``True`` when this call revoked it, ``False`` when it was not there.

    EC2 says "not there" two ways: ``InvalidPermission.NotFound`` in a non-default VPC, and in a
    default VPC success with the rule listed in ``UnknownIpPermissions`` (EC2 API reference)."""
    try:
        answer = client.revoke_security_group_ingress(
            GroupId=group_id,
            IpPermissions=ip_permissions([rule]),  # type: ignore[arg-type]
        )
    except ClientError as error:
        if error_code(error) == "InvalidPermission.NotFound":
            return False
        raise _step_error(RollbackState.REMOVING, rule, done, error) from error
    except BotoCoreError as error:
        raise _step_error(RollbackState.REMOVING, rule, done, error) from error
    return not answer.get("UnknownIpPermissions")


def _step_error(step: RollbackState, rule: Rule, done: int, error: Exception) -> StepError:
    """EC2 refused ``rule`` while ``step``, after ``done`` rules of that step."""
    return StepError(
        step, f"{rule.protocol_name} rule from {rule.source}", done, error_reason(error)
    )
