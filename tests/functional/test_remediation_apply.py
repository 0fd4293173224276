"""Applying a plan or a restore to a live group (:mod:`portguard.remediation.apply`), against
moto's EC2 and a stubbed Service Quotas: the quota it falls back to (and says so), prefix-list
sizes, a group changed back under it, restore or apply stopped by EC2 or the network, the
rollback documents it journals (as they always were), and someone else changing the group between
any two of portguard's EC2 calls (the group never ends more open than they left it, and the
rollback document stays true)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, NamedTuple

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.stub import Stubber
from moto import mock_aws
from shared_data import FIXTURES

from portguard.parameters import parse_rule_parameters
from portguard.ports import PortSet
from portguard.remediation.apply import PrefixListSizes, Status, read_quota, remediate, restore
from portguard.remediation.rollback import read_rollback
from portguard.remediation.rules import IPV4, Rule, ip_permissions, rules_of

from .conftest import REGION

CIS = parse_rule_parameters({"blockedPorts": "cis"})
WORLD_SSH = {
    "IpProtocol": "tcp",
    "FromPort": 22,
    "ToPort": 22,
    "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
}


@pytest.fixture
def ec2() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("ec2", region_name=REGION)


def open_group(client: Any) -> str:
    vpc = client.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    group_id: str = client.create_security_group(GroupName="g", Description="d", VpcId=vpc)[
        "GroupId"
    ]
    wide = {
        "IpProtocol": "tcp",
        "FromPort": 0,
        "ToPort": 65535,
        "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
    }
    client.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[wide])
    return group_id


def ingress(client: Any, group_id: str) -> Any:
    group = client.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    return group["IpPermissions"]


def run(client: Any, group_id: str, documents: list[dict[str, Any]] | None = None) -> Any:
    return remediate(
        client,
        group_id,
        CIS,
        apply=True,
        journal=(lambda d: documents.append(dict(d))) if documents is not None else None,
        region=REGION,
        now=lambda: "2026-11-21T00:00:00+00:00",
    )


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("AccessDeniedException", "could not be read, AccessDeniedException: denied"),
        ("NoSuchResourceException", "could not be read, NoSuchResourceException: denied"),
    ],
)
def test_an_unreadable_quota_falls_back_to_the_default_and_says_why(
    code: str, expected: str
) -> None:
    client = boto3.client("service-quotas", region_name=REGION)
    with Stubber(client) as stub:
        stub.add_client_error("get_service_quota", code, "denied")
        quota = read_quota(client)
    assert quota.limit == 60
    assert quota.source == f"AWS's default: the account's quota {expected}"


def test_the_accounts_quota_is_used_when_readable() -> None:
    client = boto3.client("service-quotas", region_name=REGION)
    with Stubber(client) as stub:
        stub.add_response("get_service_quota", {"Quota": {"Value": 200.0}})
        quota = read_quota(client)
    assert quota.limit == 200
    assert quota.source == "this account's quota vpc/L-0EA8095F"


def test_prefix_list_sizes_are_their_maximum_entries(ec2: Any) -> None:
    made = ec2.create_managed_prefix_list(
        PrefixListName="office", MaxEntries=20, AddressFamily="IPv4"
    )
    sizes = PrefixListSizes(ec2)
    assert sizes(made["PrefixList"]["PrefixListId"]) == 20
    assert sizes("pl-0000000000000dead") is None


def test_a_group_opened_again_meanwhile_is_reported_not_applied(ec2: Any) -> None:
    group_id = open_group(ec2)

    def reopen(**_: Any) -> None:  # someone adds ssh back after our last revoke
        ec2.meta.events.unregister("after-call.ec2.RevokeSecurityGroupIngress", reopen)
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[WORLD_SSH])

    ec2.meta.events.register("after-call.ec2.RevokeSecurityGroupIngress", reopen)
    documents: list[dict[str, Any]] = []
    outcome = run(ec2, group_id, documents)
    assert outcome.status == Status.FAILED
    assert outcome.message == (
        "applied, but read again the group is NON_COMPLIANT: "
        "Open to the internet from 0.0.0.0/0: tcp/22"
    )
    assert documents[-1]["state"] == "applied, but the group is still NON_COMPLIANT"


def test_the_network_failing_while_adding_stops_before_any_removal(ec2: Any) -> None:
    group_id = open_group(ec2)

    def unreachable(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="https://ec2.eu-west-1.amazonaws.com")

    ec2.meta.events.register_first("before-call.ec2.AuthorizeSecurityGroupIngress", unreachable)
    documents: list[dict[str, Any]] = []
    outcome = run(ec2, group_id, documents)
    assert outcome.status == Status.FAILED
    assert outcome.message.startswith("failed while adding (nothing was removed;")
    assert "Could not connect to the endpoint URL" in outcome.message
    assert documents[-1]["added"] == []  # nothing was added: restore has nothing to revoke


def test_the_journal_writes_the_documents_it_always_wrote(ec2: Any) -> None:
    # The rollback document's format does not change: a run that fails while removing writes,
    # document for document, what portguard 0.1.0 wrote in the same run (the group id aside).
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    group_id = ec2.create_security_group(GroupName="web", Description="d", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 0,
                "ToPort": 65535,
                "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "everything"}],
            },
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
            },
            {
                "IpProtocol": "tcp",
                "FromPort": 3389,
                "ToPort": 3389,
                "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "office"}],
            },
        ],
    )
    revokes = [0]

    def refuse_the_second(**_: Any) -> None:
        revokes[0] += 1
        if revokes[0] == 2:
            error = {
                "Code": "UnauthorizedOperation",
                "Message": "You are not authorized to perform this operation.",
            }
            raise ClientError({"Error": error}, "RevokeSecurityGroupIngress")

    ec2.meta.events.register_first("before-call.ec2.RevokeSecurityGroupIngress", refuse_the_second)
    written: list[dict[str, Any]] = []
    outcome = remediate(
        ec2,
        group_id,
        CIS,
        allow_cidrs=("203.0.113.0/24",),
        apply=True,
        journal=lambda document: written.append(json.loads(json.dumps(document))),
        region="eu-west-1",
        now=lambda: "2026-11-20T09:30:00+00:00",
    )
    assert outcome.status == Status.FAILED
    before = (FIXTURES / "rollback-journal-failed-while-removing.json").read_text(encoding="utf-8")
    assert written == json.loads(before.replace("sg-0c9d8e7f6a5b4c3d2", group_id))


def test_restore_stopped_by_ec2_says_to_run_it_again(ec2: Any) -> None:
    group_id = open_group(ec2)
    outcome = run(ec2, group_id)
    assert outcome.status == Status.APPLIED
    rollback = read_rollback(outcome.document)

    def refuse(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "no"}}, "Auth")

    ec2.meta.events.register_first("before-call.ec2.AuthorizeSecurityGroupIngress", refuse)
    stopped = restore(ec2, rollback, apply=True)
    assert stopped.status == Status.FAILED
    assert stopped.message.startswith(
        "restore stopped, run it again: adding tcp rule from 0.0.0.0/0"
    )
    ec2.meta.events.unregister("before-call.ec2.AuthorizeSecurityGroupIngress", refuse)
    assert restore(ec2, rollback, apply=True).status == Status.APPLIED


def test_a_rule_closed_by_someone_else_meanwhile_is_not_reopened_in_pieces(ec2: Any) -> None:
    # The reproduction: between portguard's read and its adds, an operator removes the
    # wide rule; its pieces must not stay, and restore must not bring the rule back.
    group_id = open_group(ec2)
    operator = boto3.client("ec2", region_name=REGION)
    wide = {
        "IpProtocol": "tcp",
        "FromPort": 0,
        "ToPort": 65535,
        "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
    }

    def close_it(**_: Any) -> None:
        ec2.meta.events.unregister("before-call.ec2.AuthorizeSecurityGroupIngress", close_it)
        operator.revoke_security_group_ingress(GroupId=group_id, IpPermissions=[wide])

    ec2.meta.events.register("before-call.ec2.AuthorizeSecurityGroupIngress", close_it)
    outcome = run(ec2, group_id)
    assert ingress(ec2, group_id) == []  # as the operator left it
    assert outcome.status == Status.APPLIED
    rollback = read_rollback(outcome.document)
    assert (rollback.added, rollback.removed) == ((), ())
    restore(ec2, rollback, apply=True)
    assert ingress(ec2, group_id) == []


# --- someone else changing the group between any two of portguard's EC2 calls ----------------

WIDE = Rule("tcp", 0, 65535, IPV4, "0.0.0.0/0", "wide")
LEGACY = Rule("tcp", 0, 3388, IPV4, "0.0.0.0/0", "legacy")
OFFICE = Rule("tcp", 3389, 3389, IPV4, "10.0.0.0/8", "office")
ALLOWED = "203.0.113.0/24"
AUTHORIZE, REVOKE = "AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress"
CALLS = ["DescribeSecurityGroups", *[AUTHORIZE] * 5, *[REVOKE] * 2, "DescribeSecurityGroups"]
"""portguard's EC2 calls on the group below when nobody interferes (the cis ports): the read;
tcp 0-21, 23-3388 (pieces of both WIDE and LEGACY) and 3390-65535 from 0.0.0.0/0, and WIDE's and
LEGACY's ports from ALLOWED; the revokes of WIDE and LEGACY; the read again."""


class Change(NamedTuple):
    """Someone else's change: authorize or revoke ``rule`` (``None``: the rule portguard's last
    call added), and how portguard's run must end."""

    verb: str
    rule: Rule | None
    status: Status


CHANGES = {
    "closes-the-wide-rule": Change("revoke", WIDE, Status.APPLIED),
    "removes-what-portguard-just-added": Change("revoke", None, Status.APPLIED),
    "opens-rdp-to-the-internet": Change(
        "authorize", Rule("tcp", 3389, 3389, IPV4, "0.0.0.0/0", "rdp"), Status.FAILED
    ),
    "opens-postgres-to-a-partner": Change(
        "authorize", Rule("tcp", 5432, 5432, IPV4, "198.51.100.0/24", "partner"), Status.APPLIED
    ),
}
GAPS = [
    pytest.param(name, after, id=f"{name}-after-call-{after}")
    for name, change in CHANGES.items()
    for after in range(1, len(CALLS))  # between call `after` and the next
    if change.rule is not None or CALLS[after - 1] == AUTHORIZE
]


class Interference:
    """Counts portguard's EC2 calls (hooks on its client), notes which rules its calls really
    added and revoked, and makes someone else's change, through their own client, just before
    call ``after + 1``."""

    def __init__(
        self, portguard: Any, group_id: str, change: Change | None = None, after: int = 0
    ) -> None:
        self.operator = boto3.client("ec2", region_name=REGION)
        self.group_id, self.change, self.after = group_id, change, after
        self.calls: list[str] = []
        self.added: list[Rule] = []  # by portguard's calls
        self.revoked: list[Rule] = []
        self.accepted: Rule | None = None  # the operator's rule, when EC2 took the change
        self._asked: Rule | None = None
        portguard.meta.events.register_first("before-call.ec2", self._before)
        portguard.meta.events.register("before-parameter-build.ec2", self._params)
        portguard.meta.events.register("after-call.ec2", self._after)

    def _params(self, params: dict[str, Any], **_: Any) -> None:
        permissions = params.get("IpPermissions")
        self._asked = rules_of(permissions)[0] if permissions else None

    def _before(self, model: Any, **_: Any) -> None:
        if self.change is not None and len(self.calls) == self.after:
            self._make(self.change)
        self.calls.append(model.name)

    def _after(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        if "Error" not in parsed and not parsed.get("UnknownIpPermissions"):
            if model.name == AUTHORIZE and self._asked:
                self.added.append(self._asked)
            elif model.name == REVOKE and self._asked:
                self.revoked.append(self._asked)

    def _make(self, change: Change) -> None:
        rule = change.rule or self.added[-1]
        call = getattr(self.operator, f"{change.verb}_security_group_ingress")
        try:
            call(GroupId=self.group_id, IpPermissions=ip_permissions([rule]))
        except ClientError as error:  # what someone else meets: nothing to change
            if error.response["Error"]["Code"] not in (
                "InvalidPermission.NotFound",
                "InvalidPermission.Duplicate",
            ):
                raise
            return
        self.accepted = rule


def concurrent_group(client: Any) -> str:
    vpc = client.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    group_id: str = client.create_security_group(GroupName="g", Description="d", VpcId=vpc)[
        "GroupId"
    ]
    permissions = ip_permissions([WIDE, LEGACY, OFFICE])
    client.authorize_security_group_ingress(GroupId=group_id, IpPermissions=permissions)
    return group_id


def rules_now(client: Any, group_id: str) -> list[Rule]:
    return sorted(rules_of(ingress(client, group_id)))


def apply_with_journal(client: Any, group_id: str, documents: list[dict[str, Any]]) -> Any:
    return remediate(
        client,
        group_id,
        CIS,
        allow_cidrs=(ALLOWED,),
        apply=True,
        journal=lambda d: documents.append(json.loads(json.dumps(d))),
        region=REGION,
        now=lambda: "2026-11-21T00:00:00+00:00",
    )


def tcp_open(rules: list[Rule]) -> dict[str, PortSet]:
    """Per source, the tcp ports its rules let in; ALLOWED read as the 0.0.0.0/0 it stands in
    for (it is inside it: --allow-cidr asks for it in place of the rules removed)."""
    out: dict[str, PortSet] = {}
    for rule in rules:
        source = "0.0.0.0/0" if rule.source == ALLOWED else rule.source
        ports = PortSet([(rule.from_port or 0, rule.to_port or 0)])
        out[source] = out.get(source, PortSet()).union(ports)
    return out


def keys_of(permissions: Any) -> set[Any]:
    return {rule.key for rule in rules_of(permissions)}


def test_portguards_ec2_calls_are_as_counted(ec2: Any) -> None:
    group_id = concurrent_group(ec2)
    calls = Interference(ec2, group_id)
    assert apply_with_journal(ec2, group_id, []).status == Status.APPLIED
    assert calls.calls == CALLS  # GAPS covers each gap between two of these


@pytest.mark.parametrize(("name", "after"), GAPS)
def test_someone_elses_change_between_any_two_calls_never_leaves_the_group_more_open(
    ec2: Any, name: str, after: int
) -> None:
    group_id = concurrent_group(ec2)
    original = rules_now(ec2, group_id)
    change = CHANGES[name]
    interference = Interference(ec2, group_id, change, after)
    documents: list[dict[str, Any]] = []

    outcome = apply_with_journal(ec2, group_id, documents)

    assert interference.calls[:after] == CALLS[:after]  # the change came where it was meant to
    # What the operator left: the group as found, with their change if EC2 took it.
    theirs = {rule.key: rule for rule in original}
    if interference.accepted and change.verb == "authorize":
        theirs[interference.accepted.key] = interference.accepted
    elif interference.accepted:
        theirs.pop(interference.accepted.key, None)
    final = rules_now(ec2, group_id)
    assert outcome.status == change.status, outcome.message
    # For each source, the ports open at the end are some of those the operator left open.
    left_open = tcp_open(list(theirs.values()))
    for source, ports in tcp_open(final).items():
        assert not ports.difference(left_open.get(source, PortSet())), (source, ports)
    # The rollback document: "added" is exactly what the group holds beyond what the operator
    # left, "removed" exactly what it lacks; at every write, only what portguard's own calls did.
    document = outcome.document
    assert keys_of(document["added"]) == {r.key for r in final} - set(theirs)
    assert keys_of(document["removed"]) == set(theirs) - {r.key for r in final}
    assert (documents[0]["added"], documents[0]["removed"]) == ([], [])
    for written in documents:
        assert keys_of(written["added"]) <= {r.key for r in interference.added}
        assert keys_of(written["removed"]) <= {r.key for r in interference.revoked} & set(theirs)
    # It says what someone else closed, and restore gives back the operator's state.
    closed = [line for line in outcome.meanwhile if "before portguard revoked it" in line]
    assert bool(closed) == (change.rule is WIDE and interference.accepted is not None)
    undone = restore(ec2, read_rollback(document), apply=True)
    assert undone.status in (Status.APPLIED, Status.COMPLIANT), undone.message
    assert rules_now(ec2, group_id) == sorted(theirs.values())


def close_before_the_first_add(portguard: Any, group_id: str) -> None:
    """Someone else revokes the group's rule `tcp 0-65535 from 0.0.0.0/0` after portguard read
    the group, just before its first add."""
    operator = boto3.client("ec2", region_name=REGION)
    wide = {
        "IpProtocol": "tcp",
        "FromPort": 0,
        "ToPort": 65535,
        "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
    }

    def close_it(**_: Any) -> None:
        portguard.meta.events.unregister("before-call.ec2.AuthorizeSecurityGroupIngress", close_it)
        operator.revoke_security_group_ingress(GroupId=group_id, IpPermissions=[wide])

    portguard.meta.events.register("before-call.ec2.AuthorizeSecurityGroupIngress", close_it)


def answer_revokes_as_in_a_default_vpc(portguard: Any, group_id: str) -> None:
    """EC2 in a default VPC answers the revoke of a rule that is not there with success, the
    rule listed in UnknownIpPermissions (EC2 API reference); moto answers NotFound everywhere."""
    operator = boto3.client("ec2", region_name=REGION)
    asked: dict[str, Any] = {}

    def remember(params: dict[str, Any], **_: Any) -> None:
        asked["IpPermissions"] = params["IpPermissions"]

    def answer(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        ok = AWSResponse("https://ec2.amazonaws.com", 200, {}, None)
        try:
            operator.revoke_security_group_ingress(GroupId=group_id, **asked)
        except ClientError as error:
            if error.response["Error"]["Code"] != "InvalidPermission.NotFound":
                raise
            return ok, {"Return": True, "UnknownIpPermissions": asked["IpPermissions"]}
        return ok, {"Return": True}

    portguard.meta.events.register(
        "before-parameter-build.ec2.RevokeSecurityGroupIngress", remember
    )
    portguard.meta.events.register_first("before-call.ec2.RevokeSecurityGroupIngress", answer)


def test_in_a_default_vpc_a_rule_already_gone_is_not_counted_as_revoked(ec2: Any) -> None:
    group_id = open_group(ec2)
    answer_revokes_as_in_a_default_vpc(ec2, group_id)
    close_before_the_first_add(ec2, group_id)
    outcome = run(ec2, group_id)
    assert outcome.status == Status.APPLIED
    assert ingress(ec2, group_id) == []  # the pieces were taken back
    rollback = read_rollback(outcome.document)
    assert (rollback.added, rollback.removed) == ((), ())


@pytest.mark.parametrize(
    ("failing_write", "held"),
    [
        pytest.param(2, 0, id="after-the-first-add"),
        pytest.param(5, 3, id="after-the-revoke"),
    ],
)
def test_a_change_the_journal_cannot_record_is_taken_back(
    ec2: Any, failing_write: int, held: int
) -> None:
    group_id = open_group(ec2)
    before = rules_now(ec2, group_id)
    written: list[dict[str, Any]] = []

    def journal(document: dict[str, Any]) -> None:
        if len(written) + 1 == failing_write:
            raise OSError(28, "No space left on device")
        written.append(json.loads(json.dumps(document)))

    with pytest.raises(OSError, match="No space left") as raised:
        remediate(
            ec2,
            group_id,
            CIS,
            apply=True,
            journal=journal,
            region=REGION,
            now=lambda: "2026-11-21T00:00:00+00:00",
        )
    assert raised.value.__notes__[0].startswith("portguard stopped, and took back its ")
    # The group is as the last document written says: the original rules, and what it added.
    rollback = read_rollback(written[-1])
    assert (len(rollback.added), rollback.removed) == (held, ())
    assert rules_now(ec2, group_id) == sorted([*before, *rollback.added])
    restore(ec2, rollback, apply=True)
    assert rules_now(ec2, group_id) == before


def test_what_cannot_be_taken_back_fails_the_run_and_restore_takes_it_back(ec2: Any) -> None:
    group_id = open_group(ec2)
    close_before_the_first_add(ec2, group_id)
    revokes = [0]

    def refuse_after_the_first(**_: Any) -> None:  # the first is the wide rule's: NotFound
        revokes[0] += 1
        if revokes[0] > 1:
            raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "no"}}, "R")

    ec2.meta.events.register_first(
        "before-call.ec2.RevokeSecurityGroupIngress", refuse_after_the_first
    )
    outcome = run(ec2, group_id)
    assert outcome.status == Status.FAILED
    assert outcome.message == (
        "the group lets in more than it did, or than others left it: "
        "tcp 0-21, 23-3388, 3390-65535 from 0.0.0.0/0 [3 rules] (taking them back failed: "
        "removing tcp rule from 0.0.0.0/0 failed after 0 done: UnauthorizedOperation: no); "
        "restore takes them back"
    )
    assert outcome.document["state"] == "the group is more open than it was: run restore"
    rollback = read_rollback(outcome.document)
    assert (len(rollback.added), rollback.removed) == (3, ())
    ec2.meta.events.unregister("before-call.ec2.RevokeSecurityGroupIngress", refuse_after_the_first)
    assert restore(ec2, rollback, apply=True).status == Status.APPLIED
    assert ingress(ec2, group_id) == []


def test_a_group_that_cannot_be_read_again_is_not_reported_applied(ec2: Any) -> None:
    group_id = open_group(ec2)
    reads = [0]

    def unreachable_the_second_time(**_: Any) -> None:
        reads[0] += 1
        if reads[0] == 2:
            raise EndpointConnectionError(endpoint_url="https://ec2.eu-west-1.amazonaws.com")

    ec2.meta.events.register_first(
        "before-call.ec2.DescribeSecurityGroups", unreachable_the_second_time
    )
    outcome = run(ec2, group_id)
    assert outcome.status == Status.FAILED
    assert outcome.message.startswith(
        "applied; the group could not be read again to check it: Could not connect"
    )
    assert len(read_rollback(outcome.document).removed) == 1  # still enough to restore


def test_a_change_neither_recorded_nor_taken_back_is_named(ec2: Any) -> None:
    group_id = open_group(ec2)

    def journal(document: dict[str, Any]) -> None:
        if document["added"]:  # the write after the first add
            raise OSError(28, "No space left on device")

    def refuse(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "no"}}, "R")

    ec2.meta.events.register_first("before-call.ec2.RevokeSecurityGroupIngress", refuse)
    with pytest.raises(OSError, match="No space left") as raised:
        remediate(
            ec2,
            group_id,
            CIS,
            apply=True,
            journal=journal,
            region=REGION,
            now=lambda: "2026-11-21T00:00:00+00:00",
        )
    assert raised.value.__notes__ == [
        "portguard stopped, but could not take back its add of tcp 0-21 from 0.0.0.0/0, which "
        "the rollback document does not hold: removing tcp rule from 0.0.0.0/0 failed after 0 "
        "done: UnauthorizedOperation: no"
    ]
