"""The rollback document and restore (:mod:`portguard.remediation.rollback`): written and read
back, documents written before still read, bad documents named, and restore undoing exactly the
remediation while leaving what someone else changed.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from core_helpers import load_json
from remediation_helpers import (
    ANY4,
    ANY6,
    GROUP_ID,
    SSH,
    applied,
    decide_rules,
    keys,
    perm,
    plan,
    r,
)
from shared_data import FIXTURES

from portguard.errors import RemediationError
from portguard.model import Compliance
from portguard.remediation.plan import Plan
from portguard.remediation.rendering import restore_lines
from portguard.remediation.rollback import (
    RollbackState,
    plan_restore,
    read_rollback,
    rollback_document,
)

# --- the rollback document ------------------------------------------------------------------------


def remediated() -> Plan:
    return plan(
        perm("tcp", 0, 65535, v4=ANY4, description="web"),
        perm("tcp", 443, 443, v4=["10.0.0.0/8"]),
        perm("-1", v6=ANY6, pairs=["sg-9"]),
        params=SSH,
        allow_cidrs=["10.0.0.0/8"],
    )


def document(p: Plan) -> dict[str, Any]:
    """The document once the whole plan ran: everything added and removed by portguard."""
    doc = rollback_document(
        p,
        region="eu-west-1",
        created="2025-06-01T10:00:00Z",
        state=RollbackState.APPLIED,
        added=p.add,
        removed=p.remove,
    )
    loaded: dict[str, Any] = json.loads(json.dumps(doc))  # as written to, and read from, a file
    return loaded


def test_rollback_document_round_trip() -> None:
    p = remediated()
    doc = document(p)
    assert {k: doc[k] for k in ("format", "version", "groupId", "region", "created", "state")} == {
        "format": "portguard-rollback",
        "version": 1,
        "groupId": GROUP_ID,
        "region": "eu-west-1",
        "created": "2025-06-01T10:00:00Z",
        "state": "applied",
    }
    assert doc["removed"] == [
        {
            "IpProtocol": "tcp",
            "FromPort": 0,
            "ToPort": 65535,
            "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "web"}],
        },
        {"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
    ]
    assert "portguard restore" in doc["restore"]
    rollback = read_rollback(doc)
    assert rollback.group_id == GROUP_ID
    assert rollback.region == "eu-west-1"
    assert set(rollback.original) == set(p.original)
    assert set(rollback.added) == set(p.add)
    assert set(rollback.removed) == set(p.remove)
    assert len(rollback.original) == len(p.original) == 4


def test_rollback_document_without_region() -> None:
    p = remediated()
    doc = rollback_document(p, region=None, created="now", state=RollbackState.ADDING)
    assert read_rollback(doc).region is None


def test_a_rollback_document_before_any_change_claims_nothing_done() -> None:
    # Only facts: restore must never revoke a rule portguard did not add, nor re-add one it did
    # not remove (someone else may have, meanwhile).
    p = remediated()
    rollback = read_rollback(
        rollback_document(p, region=None, created="now", state=RollbackState.ADDING)
    )
    assert (rollback.added, rollback.removed) == ((), ())
    assert set(rollback.original) == set(p.original)
    assert plan_restore(rollback, applied(p)).add == ()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(
            {"format": "terraform"},
            "'format' is 'terraform', not 'portguard-rollback'",
            id="format",
        ),
        pytest.param(
            {"format": None}, "not a portguard rollback document: 'format' is None", id="no-format"
        ),
        pytest.param({"version": 2}, "rollback document version 2 is not 1", id="version"),
        pytest.param({"version": "1"}, "rollback document version '1' is not 1", id="version-text"),
        pytest.param({"groupId": "i-0123"}, "groupId 'i-0123' is not a group id", id="group-id"),
        pytest.param({"groupId": None}, "groupId None is not a group id", id="no-group-id"),
        pytest.param({"region": 7}, "region 7 is not a string", id="region"),
        pytest.param(
            {"original": "tcp 22"},
            "the rollback document's 'original': IpPermissions is not a list: a JSON string",
            id="original-not-a-list",
        ),
        pytest.param(
            {"original": [{"IpProtocol": "tcp", "FromPort": 22}]},
            "the rollback document's 'original': IpPermissions[0] (tcp) has no integer FromPort",
            id="original-bad-permission",
        ),
        pytest.param(
            {"added": [{"IpProtocol": "-1", "IpRanges": [{}]}]},
            "'added': IpPermissions[0].IpRanges has an entry without CidrIp",
            id="added-bad-entry",
        ),
        pytest.param(
            {"removed": None},
            "the rollback document's 'removed': IpPermissions is not a list: null",
            id="removed-missing",
        ),
    ],
)
def test_read_rollback_names_what_is_wrong(change: dict[str, Any], message: str) -> None:
    doc = {**document(remediated()), **change}
    with pytest.raises(RemediationError, match=re.escape(message)):
        read_rollback(doc)


def test_rollback_documents_written_before_are_still_read() -> None:
    # Every document portguard 0.1.0 journaled (before the state became RollbackState) in a run
    # that failed while removing; a failed run's state is why, in words.
    journal = load_json(FIXTURES / "rollback-journal-failed-while-removing.json")
    rollbacks = [read_rollback(written) for written in journal]
    assert [len(rollback.added) for rollback in rollbacks] == [0, 1, 2, 3, 4, 4, 4]
    assert [rollback.removed for rollback in rollbacks[-2:]] == [
        (r("tcp", 0, 65535, "0.0.0.0/0", "everything"),)
    ] * 2
    assert (rollbacks[-1].group_id, rollbacks[-1].region) == ("sg-0c9d8e7f6a5b4c3d2", "eu-west-1")
    assert len(rollbacks[-1].original) == 3
    assert [written["state"] for written in journal[:-1]] == ["adding"] * 5 + ["removing"]
    assert {written["state"] for written in journal[:-1]} <= set(RollbackState)
    assert journal[-1]["state"].startswith("failed while removing: removing tcp rule from ::/0")


@pytest.mark.parametrize("doc", [[], "portguard-rollback", None, 1])
def test_read_rollback_refuses_what_is_not_an_object(doc: object) -> None:
    with pytest.raises(RemediationError, match="the rollback document is not a JSON object"):
        read_rollback(doc)


# --- restore --------------------------------------------------------------------------------------


def test_restore_after_a_remediation_undoes_exactly_it() -> None:
    p = remediated()
    current = applied(p)
    restore = plan_restore(read_rollback(document(p)), current)
    assert set(restore.add) == set(p.remove)
    assert keys(restore.remove) == keys(p.add)
    assert (restore.missing_since, restore.added_since) == ((), ())
    # Add, then remove: exactly the original rules, descriptions included.
    removed = keys(restore.remove)
    back = [rule for rule in (*current, *restore.add) if rule.key not in removed]
    assert sorted(back) == sorted(p.original)
    assert decide_rules(back, SSH).compliance is Compliance.NON_COMPLIANT


def test_restore_of_an_untouched_group_changes_nothing() -> None:
    p = remediated()
    restore = plan_restore(read_rollback(document(p)), p.original)
    assert set(restore.add) == set()
    assert set(restore.remove) == set()
    assert (restore.missing_since, restore.added_since) == ((), ())


def test_restore_leaves_changes_by_someone_else_alone_and_reports_them() -> None:
    p = remediated()
    untouched = r("tcp", 443, 443, "10.0.0.0/8")
    theirs = r("tcp", 8080, 8080, "198.51.100.7/32")
    piece_gone = r("tcp", 0, 21, "0.0.0.0/0", "web")
    readded = r("-1", None, None, "::/0")
    assert untouched in p.original
    assert piece_gone in p.add
    assert readded in p.remove
    current = [rule for rule in applied(p) if rule not in (untouched, piece_gone)]
    current += [theirs, readded]
    restore = plan_restore(read_rollback(document(p)), current)
    assert set(restore.add) == set(p.remove) - {readded}
    assert set(restore.remove) == set(p.add) - {piece_gone}
    assert (restore.missing_since, restore.added_since) == ((untouched,), (theirs,))
    assert theirs not in restore.remove
    assert untouched not in restore.add
    assert restore_lines(restore) == [
        "+ tcp 0-65535 from 0.0.0.0/0 (web)",
        "- tcp 23-65535 from 0.0.0.0/0 (web)",
        "- tcp 0-65535 from 10.0.0.0/8 (portguard: in place of 0.0.0.0/0)",
        "- icmpv6 (all types) from ::/0",
        "- tcp 0-21, 23-65535 from ::/0 [2 rules]",
        "- udp 0-21, 23-65535 from ::/0 [2 rules]",
        "left as it is, changed by someone else: missing since: tcp 443 from 10.0.0.0/8",
        "left as it is, changed by someone else: added since: tcp 8080 from 198.51.100.7/32",
    ]
