"""The rollback document, and undoing a remediation with it.

The rollback document is what ``portguard remediate`` writes before its first change (and after
each), and what the remediation function logs and returns to Systems Manager: the group's rules
as found and what the remediation changed, in EC2's ``IpPermissions`` shape. Both write and read
it here (:func:`rollback_document`, :func:`read_rollback`), and :func:`plan_restore` says what
undoes the remediation on the group as it is now.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple

from portguard.errors import RemediationError
from portguard.reader import is_object
from portguard.remediation.rules import ip_permissions, rules_of

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from portguard.remediation.plan import Plan
    from portguard.remediation.rules import Rule

ROLLBACK_FORMAT = "portguard-rollback"
ROLLBACK_VERSION = 1


class RollbackState(StrEnum):
    """The rollback document's ``state``: the step the run was at when it wrote the document.

    A run that failed writes, in its place, why it failed (``failed while removing: …``), as
    documents always have. Nothing reads the state back: it is for the people reading the
    document, and :func:`read_rollback` reads every document ever written, whatever it says.
    """

    PLANNED = "planned"
    """Planned, nothing changed yet (a dry run shows the document in this state)."""
    ADDING = "adding"
    """Adding rules: the pieces of the rules being removed, and the allowed sources."""
    REMOVING = "removing"
    """Revoking the rules open to the internet."""
    TAKING_BACK = "taking back"
    """Taking back rules added only for rules that someone else closed meanwhile."""
    READ_AGAIN = "read again"
    """The group, read again, shows someone else's changes (the document now says so)."""
    APPLIED = "applied"
    """Done: the group is COMPLIANT and lets in no more than it did, or than others left it."""


class Rollback(NamedTuple):
    """What ``restore`` needs: the group, its rules before, and what the remediation changed."""

    group_id: str
    region: str | None
    original: tuple[Rule, ...]
    added: tuple[Rule, ...]
    removed: tuple[Rule, ...]


def rollback_document(
    plan: Plan,
    *,
    region: str | None,
    created: str,
    state: RollbackState,
    added: Iterable[Rule] = (),
    removed: Iterable[Rule] = (),
) -> dict[str, Any]:
    """The rollback document for ``plan``, enough, with ``portguard restore``, to undo what the
    remediation did. It holds the group's rules as found, and only facts: ``added`` the rules
    portguard added and still holds, ``removed`` the rules portguard itself revoked (nothing, before
    the first change); restore re-adds only those, so it never brings back a rule that someone else
    removed meanwhile."""
    return {
        "format": ROLLBACK_FORMAT,
        "version": ROLLBACK_VERSION,
        "groupId": plan.group_id,
        "region": region,
        "created": created,
        "state": state.value,
        "original": ip_permissions(plan.original),
        "added": ip_permissions(added),
        "removed": ip_permissions(removed),
        "restore": "portguard restore THIS_FILE --apply",
    }


def read_rollback(document: object) -> Rollback:
    """Read a rollback document; raises :class:`RemediationError` naming what is wrong."""
    if not is_object(document):
        raise RemediationError("the rollback document is not a JSON object")
    if document.get("format") != ROLLBACK_FORMAT:
        raise RemediationError(
            f"not a portguard rollback document: 'format' is {document.get('format')!r}, "
            f"not {ROLLBACK_FORMAT!r}"
        )
    if document.get("version") != ROLLBACK_VERSION:
        raise RemediationError(
            f"rollback document version {document.get('version')!r} is not {ROLLBACK_VERSION}"
        )
    group_id, region = document.get("groupId"), document.get("region")
    if not isinstance(group_id, str) or not group_id.startswith("sg-"):
        raise RemediationError(f"the rollback document's groupId {group_id!r} is not a group id")
    if region is not None and not isinstance(region, str):
        raise RemediationError(f"the rollback document's region {region!r} is not a string")
    parts = {}
    for name in ("original", "added", "removed"):
        try:
            parts[name] = tuple(rules_of(document.get(name)))
        except RemediationError as exc:
            raise RemediationError(f"the rollback document's {name!r}: {exc}") from None
    return Rollback(group_id, region, parts["original"], parts["added"], parts["removed"])


class RestorePlan(NamedTuple):
    """Undoing a remediation: re-add the rules it removed, revoke the rules it added. Where the
    group differs from the original in rules the remediation never touched, someone else changed
    it: ``missing_since`` are original rules gone, ``added_since`` rules they added."""

    add: tuple[Rule, ...]
    remove: tuple[Rule, ...]
    missing_since: tuple[Rule, ...] = ()
    added_since: tuple[Rule, ...] = ()


def plan_restore(rollback: Rollback, current: Sequence[Rule]) -> RestorePlan:
    """What brings ``current`` back to the original rules that the remediation changed.

    Rules changed by someone else since are left as they are, and named: restore undoes the
    remediation, and only it.
    """
    now = {rule.key: rule for rule in current}
    original = {rule.key: rule for rule in rollback.original}
    add = tuple(rule for rule in rollback.removed if rule.key not in now)
    remove = tuple(
        now[rule.key] for rule in rollback.added if rule.key in now and rule.key not in original
    )
    touched = {rule.key for rule in (*rollback.added, *rollback.removed)}
    missing = tuple(rule for key, rule in original.items() if key not in now and key not in touched)
    appeared = tuple(
        rule for key, rule in now.items() if key not in original and key not in touched
    )
    return RestorePlan(add, remove, missing, appeared)
