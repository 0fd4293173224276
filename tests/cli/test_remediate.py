"""``portguard remediate`` and ``portguard restore`` against moto's EC2 (in process): the dry run
changes nothing, apply then restore gives back exactly the original rules (descriptions too), and
EC2 failing halfway never leaves a group more open than before, with the rollback file enough to
return to the start. Nothing reaches AWS: credentials are fake and the AWS config is isolated."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from moto import mock_aws

from portguard.decision import evaluate_group
from portguard.model import Compliance
from portguard.parameters import parse_rule_parameters
from portguard.ports import PortSet
from portguard.reader import parse_ec2_group
from portguard.remediation.rules import Rule, rules_of
from portguard_cli import remediate as remediate_cli
from portguard_cli.main import main

REGION = "eu-west-1"
WORLD4 = {"CidrIp": "0.0.0.0/0", "Description": "from anywhere"}
WORLD6 = {"CidrIpv6": "::/0"}
EVERY_PORT = parse_rule_parameters({"blockedPorts": "0-65535"})


@pytest.fixture(autouse=True)
def _isolated_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-such-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-such-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)  # default rollback files land here
    monkeypatch.setattr(time, "sleep", lambda _: None)  # botocore's retry backoff
    with mock_aws():
        yield


def ec2() -> Any:
    return boto3.client("ec2", region_name=REGION)


def create_group(permissions: list[dict[str, Any]], name: str = "web") -> str:
    client = ec2()
    vpc = client.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    other = client.create_security_group(GroupName=f"{name}-peer", Description="p", VpcId=vpc)
    group_id: str = client.create_security_group(GroupName=name, Description="test", VpcId=vpc)[
        "GroupId"
    ]
    for permission in permissions:  # a reference to another group, where asked
        for pair in permission.get("UserIdGroupPairs", []):
            pair["GroupId"] = other["GroupId"]
    if permissions:
        client.authorize_security_group_ingress(GroupId=group_id, IpPermissions=permissions)
    return group_id


def rules(group_id: str) -> list[Rule]:
    group = ec2().describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    return sorted(rules_of(group["IpPermissions"]))


def open_ports(group_id: str) -> dict[str, PortSet]:
    """Per protocol, every port open to the whole internet (all ports count as blocked)."""
    group = parse_ec2_group(
        ec2().describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    )
    verdict = evaluate_group(group, EVERY_PORT)
    out: dict[str, list[tuple[int, int]]] = {}
    for exposure in verdict.exposures:
        out.setdefault(exposure.protocol, []).append(exposure.ports)
    return {protocol: PortSet(ranges) for protocol, ranges in out.items()}


def no_more_open(after: dict[str, PortSet], before: dict[str, PortSet]) -> bool:
    return all(not ports.difference(before.get(p, PortSet())) for p, ports in after.items())


def compliance(group_id: str, blocked: str = "fsbp") -> Compliance:
    group = parse_ec2_group(
        ec2().describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    )
    return evaluate_group(group, parse_rule_parameters({"blockedPorts": blocked})).compliance


def hook_ec2(monkeypatch: pytest.MonkeyPatch, event: str, hook: Callable[..., Any]) -> None:
    """Register ``hook`` first on every EC2 client the command makes (before moto answers)."""
    real = remediate_cli.open_session

    def session_with_hook(profile: str | None) -> Any:
        session = real(profile)
        make = session.client

        def client(name: str, **kwargs: Any) -> Any:
            made = make(name, **kwargs)  # type: ignore[call-overload]
            if name == "ec2":
                made.meta.events.register_first(event, hook)
            return made

        session.client = client  # type: ignore[method-assign]
        return session

    monkeypatch.setattr(remediate_cli, "open_session", session_with_hook)


def fail_on_call(number: int, operation: str, code: str = "UnauthorizedOperation") -> Any:
    """A before-call hook: the ``number``-th call of ``operation`` fails with ``code``."""
    calls = [0]

    def hook(**_: Any) -> None:
        calls[0] += 1
        if calls[0] == number:
            raise ClientError({"Error": {"Code": code, "Message": "refused"}}, operation)

    return hook


GROUPS = {
    "all tcp from the internet, beside a private range": [
        {"IpProtocol": "tcp", "FromPort": 0, "ToPort": 65535,
         "IpRanges": [WORLD4, {"CidrIp": "10.0.0.0/8", "Description": "office"}]},
    ],
    "all traffic over IPv4 and IPv6, and a group reference": [
        {"IpProtocol": "-1", "IpRanges": [WORLD4], "Ipv6Ranges": [WORLD6],
         "UserIdGroupPairs": [{"Description": "peer"}]},
    ],
    "ssh split across two halves, rdp from ::/0": [
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/1"}]},
        {"IpProtocol": "tcp", "FromPort": 0, "ToPort": 1000,
         "IpRanges": [{"CidrIp": "128.0.0.0/1"}]},
        {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "Ipv6Ranges": [WORLD6]},
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [WORLD4]},
    ],
}  # fmt: skip


def test_dry_run_changes_nothing_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    group_id = create_group(GROUPS["all tcp from the internet, beside a private range"])
    before = rules(group_id)
    assert main(["remediate", group_id, "--blocked-ports", "cis"]) == 0
    assert rules(group_id) == before
    out = capsys.readouterr().out
    assert "- tcp 0-65535 from 0.0.0.0/0 (from anywhere)" in out
    assert "+ tcp 0-21, 23-3388, 3390-65535 from 0.0.0.0/0 (from anywhere) [3 rules]" in out
    assert "10.0.0.0/8" not in out  # the private range is not part of the plan
    assert "dry run: nothing changed" in out
    assert not list(tmp_path.glob("portguard-rollback-*"))


@pytest.mark.parametrize("name", list(GROUPS))
def test_apply_then_restore_gives_back_exactly_the_original_rules(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    group_id = create_group(GROUPS[name])
    before, opened = rules(group_id), open_ports(group_id)
    assert compliance(group_id) is Compliance.NON_COMPLIANT
    rollback = tmp_path / "rollback.json"

    # cis (22, 3389) keeps the -1 group's pieces under moto's rule limit, which (unlike EC2's)
    # counts IPv4 and IPv6 rules together: see docs/development.md.
    status = main(
        [
            "remediate",
            group_id,
            "--apply",
            "--rollback-file",
            str(rollback),
            "--blocked-ports",
            "cis",
            "--allow-cidr",
            "203.0.113.0/24",
        ]
    )
    out = capsys.readouterr().out
    assert status == 0, out
    assert f"applied: {group_id} is now COMPLIANT" in out
    assert compliance(group_id, "cis") is Compliance.COMPLIANT
    assert no_more_open(open_ports(group_id), opened)
    # Nothing but internet-wide sources lost anything: private, narrow and group sources remain.
    kept = {r.key for r in rules(group_id)}
    for rule in before:
        if rule.source in ("10.0.0.0/8",) or rule.kind == "UserIdGroupPairs":
            assert rule.key in kept
    document = json.loads(rollback.read_text())
    assert document["state"] == "applied"
    assert sorted(rules_of(document["original"])) == before

    assert main(["restore", str(rollback), "--apply"]) == 0
    assert rules(group_id) == before  # descriptions included
    assert "has the rules the remediation changed back" in capsys.readouterr().out
    # A second restore has nothing left to do.
    assert main(["restore", str(rollback), "--apply"]) == 0
    assert "nothing to restore" in capsys.readouterr().out


def test_other_ports_keep_their_sources_and_allowed_cidrs_get_the_removed_rules(
    tmp_path: Path,
) -> None:
    group_id = create_group(GROUPS["all tcp from the internet, beside a private range"])
    rollback = tmp_path / "r.json"
    assert (
        main(
            [
                "remediate",
                group_id,
                "--blocked-ports",
                "22",
                "--apply",
                "--rollback-file",
                str(rollback),
                "--allow-cidr",
                "198.51.100.7/24",
                "--allow-cidr",
                "2001:db8::/32",
            ]
        )
        == 0
    )
    after = {(r.protocol, r.from_port, r.to_port, r.source) for r in rules(group_id)}
    assert after == {
        ("tcp", 0, 21, "0.0.0.0/0"),
        ("tcp", 23, 65535, "0.0.0.0/0"),
        ("tcp", 0, 65535, "10.0.0.0/8"),
        ("tcp", 0, 65535, "198.51.100.0/24"),  # IPv4 only: the removed rule was IPv4
    }


def test_the_rollback_file_is_written_before_the_first_change(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    group_id = create_group(GROUPS["ssh split across two halves, rdp from ::/0"])
    before = rules(group_id)
    rollback = tmp_path / "r.json"
    seen: list[dict[str, Any]] = []

    def check(**_: Any) -> None:
        if not seen:  # at the first change, the file already holds the original rules
            seen.append(json.loads(rollback.read_text()))

    hook_ec2(monkeypatch, "before-call.ec2.AuthorizeSecurityGroupIngress", check)
    assert main(["remediate", group_id, "--apply", "--rollback-file", str(rollback)]) == 0
    assert seen
    assert seen[0]["state"] == "adding"
    assert sorted(rules_of(seen[0]["original"])) == before


@pytest.mark.parametrize(
    ("operation", "number"),
    [
        ("AuthorizeSecurityGroupIngress", 1),
        ("AuthorizeSecurityGroupIngress", 3),
        ("RevokeSecurityGroupIngress", 1),
        ("RevokeSecurityGroupIngress", 2),
    ],
)
def test_a_failure_halfway_leaves_the_group_no_more_open_and_restore_returns_it(
    operation: str,
    number: int,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    group_id = create_group(GROUPS["all traffic over IPv4 and IPv6, and a group reference"])
    before, opened = rules(group_id), open_ports(group_id)
    rollback = tmp_path / "r.json"
    hook_ec2(monkeypatch, f"before-call.ec2.{operation}", fail_on_call(number, operation))

    status = main(
        [
            "remediate",
            group_id,
            "--apply",
            "--rollback-file",
            str(rollback),
            "--blocked-ports",
            "cis",
        ]
    )
    captured = capsys.readouterr()
    assert status == 2
    step = "adding" if operation.startswith("Authorize") else "removing"
    assert f"failed while {step}" in captured.out
    assert "UnauthorizedOperation" in captured.out
    assert no_more_open(open_ports(group_id), opened)
    if step == "adding":
        assert {r.key for r in before} <= {r.key for r in rules(group_id)}  # nothing removed
    document = json.loads(rollback.read_text())
    assert document["state"].startswith(f"failed while {step}")
    monkeypatch.undo()  # EC2 works again; the environment is set up anew below
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    assert main(["restore", str(rollback), "--apply"]) == 0
    assert rules(group_id) == before


THROTTLED = (
    b"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>slow down</Message>"
    b"</Error></Errors><RequestID>1</RequestID></Response>"
)


def test_throttling_is_retried_by_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    group_id = create_group(GROUPS["all tcp from the internet, beside a private range"])
    answered: list[int] = []

    class Raw:
        def stream(self, **_: Any) -> Iterator[bytes]:
            yield THROTTLED

    def throttle_once(request: Any, **_: Any) -> AWSResponse | None:
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body)
        if "Action=AuthorizeSecurityGroupIngress" in body and not answered:
            answered.append(503)
            return AWSResponse(request.url, 503, {}, Raw())
        return None

    hook_ec2(monkeypatch, "before-send.ec2", throttle_once)
    assert main(["remediate", group_id, "--blocked-ports", "cis", "--apply"]) == 0
    assert answered == [503]
    assert compliance(group_id, "cis") is Compliance.COMPLIANT


def test_a_rule_someone_else_adds_is_theirs_and_one_they_remove_stays_removed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Until issue 10, the pieces of the removed rule stayed and restore brought the rule back.
    group_id = create_group(GROUPS["all tcp from the internet, beside a private range"])
    before = rules(group_id)
    piece = {"IpProtocol": "tcp", "FromPort": 0, "ToPort": 21, "IpRanges": [WORLD4]}
    changed: list[str] = []

    def race(**_: Any) -> None:
        if not changed:  # just before our first add: the piece appears, the world rule goes
            changed.append("now")
            ec2().authorize_security_group_ingress(GroupId=group_id, IpPermissions=[piece])
            world = {"IpProtocol": "tcp", "FromPort": 0, "ToPort": 65535, "IpRanges": [WORLD4]}
            ec2().revoke_security_group_ingress(GroupId=group_id, IpPermissions=[world])

    hook_ec2(monkeypatch, "before-call.ec2.AuthorizeSecurityGroupIngress", race)
    rollback = tmp_path / "r.json"
    assert (
        main(
            [
                "remediate",
                group_id,
                "--blocked-ports",
                "cis",
                "--apply",
                "--rollback-file",
                str(rollback),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert (
        "meanwhile: removed by someone else before portguard revoked it (restore will not bring "
        "it back): tcp 0-65535 from 0.0.0.0/0 (from anywhere)"
    ) in out
    assert (
        "meanwhile: taken back, as the rules it was added for are gone: "
        "tcp 23-3388, 3390-65535 from 0.0.0.0/0 (from anywhere) [2 rules]"
    ) in out
    # As the operator left it: their piece, the private range, and nothing of portguard's.
    theirs = sorted([rule for rule in before if rule.source == "10.0.0.0/8"] + rules_of([piece]))
    assert rules(group_id) == theirs
    document = json.loads(rollback.read_text())
    assert (document["added"], document["removed"]) == ([], [])
    assert main(["restore", str(rollback), "--apply"]) == 0
    out = capsys.readouterr().out
    assert "nothing to restore" in out
    assert "changed by someone else: missing since: tcp 0-65535 from 0.0.0.0/0" in out
    assert "changed by someone else: added since: tcp 0-21 from 0.0.0.0/0" in out
    assert rules(group_id) == theirs


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        (["--allow-cidr", "0.0.0.0/0"], "the group would still be open"),
        (["--allow-cidr", "0.0.0.0/1", "--allow-cidr", "128.0.0.0/1"],
         "the group would still be open"),
    ],
)  # fmt: skip
def test_a_refused_plan_changes_nothing_and_exits_1(
    arguments: list[str], reason: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    group_id = create_group(GROUPS["all tcp from the internet, beside a private range"])
    before = rules(group_id)
    assert main(["remediate", group_id, "--apply", *arguments]) == 1
    assert reason in capsys.readouterr().out
    assert rules(group_id) == before
    assert not list(tmp_path.glob("portguard-rollback-*"))


def test_over_the_quota_is_refused_naming_the_quota_read(
    capsys: pytest.CaptureFixture[str],
) -> None:
    narrow = [{"CidrIp": f"198.51.100.{i}/32"} for i in range(50)]
    https = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": narrow}
    group_id = create_group([https, {"IpProtocol": "-1", "IpRanges": [WORLD4]}])
    assert main(["remediate", group_id, "--apply"]) == 1
    out = capsys.readouterr().out
    assert "needs 94 IPv4 inbound rules at once, more than the quota of 60" in out
    assert "this account's quota vpc/L-0EA8095F" in out  # moto's Service Quotas answered


def test_a_compliant_group_needs_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    group_id = create_group(
        [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [WORLD4]}]
    )
    assert main(["remediate", group_id, "--apply"]) == 0
    assert "is COMPLIANT: nothing to change" in capsys.readouterr().out


def test_errors_say_what_is_wrong_and_change_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    group_id = create_group(GROUPS["all tcp from the internet, beside a private range"])
    before = rules(group_id)
    assert main(["remediate", "sg-0123456789abcdef0"]) == 2
    assert "sg-0123456789abcdef0 does not exist here" in capsys.readouterr().err
    assert main(["remediate", group_id, "--allow-cidr", "office"]) == 2
    assert "--allow-cidr: allowed source 'office' is not an IPv4 or IPv6 CIDR" in (
        capsys.readouterr().err
    )
    existing = tmp_path / "taken.json"
    existing.write_text("{}")
    assert main(["remediate", group_id, "--apply", "--rollback-file", str(existing)]) == 2
    assert "taken.json exists" in capsys.readouterr().err
    nowhere = tmp_path / "no-such-dir" / "r.json"
    assert main(["remediate", group_id, "--apply", "--rollback-file", str(nowhere)]) == 2
    assert "cannot write the rollback file, nothing was changed" in capsys.readouterr().err
    assert rules(group_id) == before


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"format": "other"}, "not a portguard rollback document"),
        ({"format": "portguard-rollback", "version": 2}, "version 2 is not 1"),
        ({"format": "portguard-rollback", "version": 1, "groupId": "web"}, "is not a group id"),
        ({"format": "portguard-rollback", "version": 1, "groupId": "sg-1", "original": {}},
         "'original': IpPermissions is not a list"),
    ],
)  # fmt: skip
def test_restore_names_what_is_wrong_with_the_file(
    document: dict[str, Any], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    assert main(["restore", str(path)]) == 2
    assert message in capsys.readouterr().err


def test_restore_dry_run_shows_the_undo_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    group_id = create_group(GROUPS["all tcp from the internet, beside a private range"])
    rollback = tmp_path / "r.json"
    assert main(["remediate", group_id, "--apply", "--rollback-file", str(rollback)]) == 0
    remediated = rules(group_id)
    capsys.readouterr()
    assert main(["restore", str(rollback)]) == 0
    out = capsys.readouterr().out
    assert "+ tcp 0-65535 from 0.0.0.0/0 (from anywhere)" in out
    assert "dry run: nothing changed" in out
    assert rules(group_id) == remediated


def test_a_rollback_file_that_cannot_be_updated_midway_is_said_and_still_restores(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    group_id = create_group(GROUPS["all tcp from the internet, beside a private range"])
    before, opened = rules(group_id), open_ports(group_id)
    real = remediate_cli.write_rollback
    writes: list[str] = []

    def full_disk_after_the_first(path: Path, document: dict[str, Any]) -> None:
        writes.append(document["state"])
        if len(writes) > 1:
            raise OSError(28, "No space left on device")
        real(path, document)

    monkeypatch.setattr(remediate_cli, "write_rollback", full_disk_after_the_first)
    rollback = tmp_path / "r.json"
    assert main(["remediate", group_id, "--apply", "--rollback-file", str(rollback)]) == 2
    err = capsys.readouterr().err
    assert (
        "cannot update the rollback file (No space left on device); portguard stopped, and took "
        "back its add of tcp 0-19 from 0.0.0.0/0 (from anywhere): the rollback document holds "
        "everything else it did"
    ) in err
    assert f"portguard restore {rollback} --apply" in err
    assert no_more_open(open_ports(group_id), opened)
    assert rules(group_id) == before  # the one change made was not recorded, and taken back
    assert json.loads(rollback.read_text())["state"] == "adding"  # the first write, whole
    monkeypatch.setattr(remediate_cli, "write_rollback", real)
    assert main(["restore", str(rollback), "--apply"]) == 0
    assert rules(group_id) == before
