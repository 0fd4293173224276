"""The sandbox behind ``make run``: every example group is seeded, the real handler's verdict on
each is the one its ``why`` promises, change notifications and the sweep agree, the events are
shaped like Config's (our fixtures, and the real captures where they are), and the caller's AWS
environment is left as it was."""

from __future__ import annotations

import io
import json
import os
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from shared_data import fixture

from portguard.parameters import FSBP_PORTS, PRESETS, parse_ports, parse_rule_parameters
from portguard.rule import logger
from portguard_cli.sandbox import demo, events
from portguard_cli.sandbox.account import SEED_FILE, Sandbox, SeedError, one_year_after
from portguard_cli.sandbox.demo import SandboxRun, evaluate_sandbox

if TYPE_CHECKING:
    from collections.abc import Callable

SEED = json.loads(SEED_FILE.read_text())
SEEDED_NAMES = [g["GroupName"] for g in SEED["securityGroups"]]


def expected() -> dict[str, tuple[str, str | None]]:
    """Group name -> (compliance, a part of the annotation; None: no annotation), from what
    each group of examples/sandbox.json is there to show."""
    until = one_year_after(datetime.now(UTC).date()).isoformat()
    return {
        "mysql-open-to-world": ("NON_COMPLIANT", "from 0.0.0.0/0: tcp/3306"),
        "postgres-open-to-world": ("NON_COMPLIANT", "from 0.0.0.0/0: tcp/5432"),
        "ssh-open-to-world": ("NON_COMPLIANT", "from 0.0.0.0/0: tcp/22"),
        "rdp-open-over-ipv6": ("NON_COMPLIANT", "Open to the internet from ::/0: tcp/3389"),
        "all-traffic-open-to-world": ("NON_COMPLIANT", "from 0.0.0.0/0: tcp/20-23, tcp/25,"),
        "split-cidr-ssh": ("NON_COMPLIANT", "from 0.0.0.0/1, 128.0.0.0/1: tcp/22"),
        "elasticsearch-via-prefix-list": ("NON_COMPLIANT", "{everyone}: tcp/9200"),
        "ping-from-anywhere": ("COMPLIANT", None),
        "https-load-balancer": ("COMPLIANT", None),
        "app-behind-load-balancer": ("COMPLIANT", None),
        "ssh-from-private-network": ("COMPLIANT", None),
        "exempted-ssh": (
            "COMPLIANT",
            f"Exempted by tag portguard:exempt until {until}, open to the internet from "
            "0.0.0.0/0: tcp/22",
        ),
        "no-ingress": ("COMPLIANT", None),
        "default": ("COMPLIANT", None),  # the sandbox VPC's own, which AWS creates
    }


def aws_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(("AWS_", "MOTO_"))}


class Seen:
    """What one sandbox held and what the handler posted for it (the sandbox has stopped)."""

    def __init__(self, box: Sandbox, run: SandboxRun, inside: dict[str, str]) -> None:
        self.box = box
        self.run = run
        self.inside = inside  # the AWS environment while it ran
        self.names = {g["GroupId"]: g["GroupName"] for g in run.groups}

    def by_name(self, evaluations: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {self.names[gid]: e for gid, e in evaluations.items()}


@pytest.fixture(scope="module")
def seen() -> Seen:
    """One sandbox for the module: seeded, every group sent through the handler, stopped."""
    with Sandbox() as box:
        run = evaluate_sandbox(box, log_stream=io.StringIO())
        inside = aws_environment()
    return Seen(box, run, inside)


def test_every_example_group_is_seeded_in_the_sandbox_vpc(seen: Seen) -> None:
    assert [g.name for g in seen.box.groups] == SEEDED_NAMES
    assert len(SEEDED_NAMES) >= 12
    assert sorted(seen.names.values()) == sorted([*SEEDED_NAMES, "default"])
    assert {g["VpcId"] for g in seen.run.groups} == {seen.box.vpc_id}
    assert all(g["why"] for g in SEED["securityGroups"])


def test_the_seed_file_reads_as_ec2_ingress_and_names_ids_symbolically() -> None:
    text = SEED_FILE.read_text()
    assert "{prefix-list:everyone}" in text
    assert "{one-year-from-today}" in text
    assert "pl-" not in text
    assert "sg-" not in text
    assert SEED["ruleParameters"] == {"exemptTagKey": "portguard:exempt"}


@pytest.mark.parametrize("name", list(expected()))
def test_each_group_gets_the_verdict_it_is_there_to_show(seen: Seen, name: str) -> None:
    compliance, annotation = expected()[name]
    evaluation = seen.by_name(seen.run.by_change)[name]
    assert evaluation["ComplianceType"] == compliance
    if annotation is None:
        assert "Annotation" not in evaluation
    else:
        annotation = annotation.format(**seen.box.prefix_lists)
        assert annotation in evaluation["Annotation"]


def test_all_traffic_annotation_fits_config_and_counts_the_rest(seen: Seen) -> None:
    annotation = seen.by_name(seen.run.by_change)["all-traffic-open-to-world"]["Annotation"]
    assert len(annotation) <= 256
    assert annotation.endswith("more")


def test_change_notifications_and_the_sweep_agree_on_every_group(seen: Seen) -> None:
    run = seen.run
    assert run.errors == []
    ids = {g["GroupId"] for g in run.groups}
    assert set(run.by_change) == set(run.by_sweep) == ids
    assert run.disagreements() == []
    for gid in ids:
        change, sweep = run.by_change[gid], run.by_sweep[gid]
        assert (change["ComplianceType"], change.get("Annotation")) == (
            sweep["ComplianceType"],
            sweep.get("Annotation"),
        )
    # one invocation (and one PutEvaluations call) per group, plus the sweep's
    assert run.invocations == len(ids) + 1
    assert run.put_evaluations_calls == len(ids) + 1


def test_the_sandbox_environment_is_fake_and_reads_no_aws_config(seen: Seen) -> None:
    inside = seen.inside
    assert inside["AWS_CONFIG_FILE"] == os.devnull
    assert inside["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull
    assert inside["AWS_DEFAULT_REGION"] == "us-east-1"
    assert "AWS_PROFILE" not in inside
    assert "AWS_SESSION_TOKEN" not in inside


def test_the_callers_environment_is_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "someones-real-profile")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALKEY")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:1")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("MOTO_EC2_LOAD_DEFAULT_AMIS", raising=False)
    before = aws_environment()
    with Sandbox() as box:
        assert "AWS_PROFILE" not in os.environ
        assert "AWS_ENDPOINT_URL" not in os.environ
        assert box.ec2.describe_security_groups()["SecurityGroups"]
    assert aws_environment() == before


def test_a_failed_seed_restores_the_environment(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(
        json.dumps(
            {
                "securityGroups": [
                    {
                        "GroupName": "bad-reference",
                        "IpPermissions": [
                            {
                                "IpProtocol": "tcp",
                                "FromPort": 22,
                                "ToPort": 22,
                                "PrefixListIds": [{"PrefixListId": "{prefix-list:missing}"}],
                            }
                        ],
                    }
                ]
            }
        )
    )
    before = aws_environment()
    with pytest.raises(SeedError, match=r"bad-reference: \{prefix-list:missing\} names nothing"):
        Sandbox(seed).__enter__()
    assert aws_environment() == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "not JSON"),
        ("[]", "securityGroups list"),
        ('{"securityGroups": [{"Description": "x"}]}', r"securityGroups\[0\] has no GroupName"),
        ('{"securityGroups": [{"GroupName": "a"}, {"GroupName": "a"}]}', "two groups are named a"),
        (
            '{"securityGroups": [], "ruleParameters": {"blockedPort": "22"}}',
            "ruleParameters: invalid rule parameter blockedPort",
        ),
    ],
)
def test_a_bad_seed_file_is_named_in_the_error(tmp_path: Path, content: str, message: str) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(content)
    with pytest.raises(SeedError, match=message) as caught:
        Sandbox(seed)
    assert str(seed) in str(caught.value)


def test_a_missing_seed_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SeedError, match="cannot read the seed file"):
        Sandbox(tmp_path / "absent.json")


def test_one_year_after_keeps_the_day_or_ends_february() -> None:
    assert one_year_after(date(2025, 6, 2)) == date(2026, 6, 2)
    assert one_year_after(date(2028, 2, 29)) == date(2029, 2, 28)


# --- the events are Config's -------------------------------------------------------------------


@pytest.fixture(params=["fixture", "real"])
def reference(request: pytest.FixtureRequest) -> Callable[[str, str], dict[str, Any]]:
    """Loads the event to compare with: ``(our fixture's name, the real capture's name)`` ->
    ours, or the capture of another project read in place (skipped where it is not)."""
    if request.param == "fixture":
        return lambda ours, _: fixture(ours)  # type: ignore[no-any-return]
    real_events_dir: Path = request.getfixturevalue("real_events_dir")
    return lambda _, real: json.loads((real_events_dir / real).read_text())  # type: ignore[no-any-return]


def test_change_event_has_the_shape_of_configs(
    seen: Seen, reference: Callable[[str, str], dict[str, Any]]
) -> None:
    captured = reference("config-rule-change-event.json", "c7n-lambda-event-sg-open-ssh.json")
    group = next(g for g in seen.run.groups if g["GroupName"] == "split-cidr-ssh")
    event = events.change_event(
        group, region="us-east-1", account_id="123456789012", parameters={"ipType": "IPv4"}
    )
    assert set(captured) - {"debug"} <= set(event)
    assert event["resultToken"] == "TESTMODE"
    assert json.loads(event["ruleParameters"]) == {"ipType": "IPv4"}

    invoking, captured_invoking = (json.loads(e["invokingEvent"]) for e in (event, captured))
    assert set(invoking) == set(captured_invoking)
    item, captured_item = invoking["configurationItem"], captured_invoking["configurationItem"]
    assert set(item) == set(captured_item)
    assert item["configurationItemVersion"] == "1.3"
    assert set(item["configuration"]) == set(captured_item["configuration"])
    permission = item["configuration"]["ipPermissions"][0]
    assert set(permission) == set(captured_item["configuration"]["ipPermissions"][0])
    assert permission["ipRanges"] == ["0.0.0.0/1", "128.0.0.0/1"]
    assert [r["cidrIp"] for r in permission["ipv4Ranges"]] == ["0.0.0.0/1", "128.0.0.0/1"]
    assert item["ARN"].endswith(f"security-group/{group['GroupId']}")
    assert datetime.fromisoformat(item["configurationItemCaptureTime"]).tzinfo is not None


def test_change_event_carries_tags_as_configs_map(seen: Seen) -> None:
    group = next(g for g in seen.run.groups if g["GroupName"] == "exempted-ssh")
    event = events.change_event(group, region="us-east-1", account_id="1", parameters={})
    item = json.loads(event["invokingEvent"])["configurationItem"]
    until = one_year_after(datetime.now(UTC).date()).isoformat()
    assert item["tags"] == {"portguard:exempt": f"22 until {until}"}
    assert item["configuration"]["tags"] == [
        {"key": "portguard:exempt", "value": f"22 until {until}"}
    ]


def test_scheduled_event_has_the_shape_of_configs(
    reference: Callable[[str, str], dict[str, Any]],
) -> None:
    captured = reference(
        "config-rule-scheduled-event.json", "powertools-lambda-event-scheduled.json"
    )
    event = events.scheduled_event(region="eu-west-1", account_id="1", parameters={})
    assert set(captured) <= set(event)
    assert set(json.loads(event["invokingEvent"])) == set(json.loads(captured["invokingEvent"]))
    assert event["resultToken"] == "TESTMODE"
    assert event["configRuleArn"].startswith("arn:aws:config:eu-west-1:1:")


def test_example_events_are_the_sandboxs_own() -> None:
    examples = SEED_FILE.parent / "events"
    scheduled = json.loads((examples / "scheduled.json").read_text())
    change = json.loads((examples / "change-split-cidr-ssh.json").read_text())
    for event in (scheduled, change):
        assert event["resultToken"] == "TESTMODE"
        assert json.loads(event["ruleParameters"]) == SEED["ruleParameters"]


# --- make run ------------------------------------------------------------------------------------


def test_make_run_prints_a_row_per_group_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    before = aws_environment()
    log_stream = logger.registered_handler.stream  # type: ignore[attr-defined]

    assert demo.main() == 0

    out, err = capsys.readouterr()
    assert err == ""
    assert "no AWS account of yours" in out
    assert "exemptTagKey=portguard:exempt" in out
    for name in [*SEEDED_NAMES, "default"]:
        assert name in out
    rows = [line for line in out.splitlines() if line.startswith("│ sg-")]
    assert len(rows) == len(SEEDED_NAMES) + 1
    assert sum("NON_COMPLIANT" in row for row in rows) == 7
    assert "14 groups: 7 non-compliant, 7 compliant, 0 not applicable" in out
    assert "agree on all 14 groups" in out
    assert "portguard evaluate" in out
    assert "portguard scan" in out
    assert "README" in out
    # The remediation shown on split-cidr-ssh: both halves go, the allowed source comes, undone.
    shown = out[out.index("Closing one of them") :]
    assert (
        "  - tcp 22 from 0.0.0.0/1 (lower half)\n  - tcp 22 from 128.0.0.0/1 (upper half)\n"
        in shown
    )
    assert "  + tcp 22 from 203.0.113.0/24" in shown
    assert "is now COMPLIANT" in shown
    assert "has the rules the remediation changed back" in shown
    assert not any(line.startswith("{") for line in out.splitlines())  # no log line, no EMF
    assert aws_environment() == before
    assert logger.registered_handler.stream is log_stream  # type: ignore[attr-defined]


def test_make_run_says_first_what_the_rule_flags_and_which_ports(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert demo.main() == 0
    out = capsys.readouterr().out
    flat = " ".join(out.split())  # as read, whatever the line breaks
    table = out.index("What AWS Config would show for each group:\n")  # the table follows
    intro, legend = out[:table], out[out.index("Why each group is there") :]
    # What the rule flags, in plain words, before anything technical.
    assert intro.startswith("portguard, an AWS Config rule, on a sandbox account\n")
    assert "lets the whole internet reach SSH, RDP, a database or an admin console" in " ".join(
        intro.split()
    )
    for technical in ("TESTMODE", "EMF", "lambda_handler", "moto", "Notification"):
        assert technical not in intro, technical
    # Every blocked port, named, in the introduction.
    ports = " ".join(intro[intro.index("The blocked ports here are") :].split())
    assert ports.startswith("The blocked ports here are Security Hub EC2.19's 24")
    for port in FSBP_PORTS:
        assert re.search(rf"\b{port}\b", ports), port
    for named in (
        "22 SSH",
        "3306 MySQL",
        "3389 Windows remote desktop (RDP)",
        "5432 PostgreSQL",
        "1433-1434 SQL Server",
        "9200 and 9300 Elasticsearch",
    ):
        assert named in ports, named
    # Each group's why from the seed file, under the table, beside its name.
    for group in SEED["securityGroups"]:
        line = " ".join(legend[legend.index(f"  {group['GroupName']} ") :].split())
        assert line.startswith(f"{group['GroupName']} {' '.join(group['why'].split())}"), group
    assert "default COMPLIANT: the default group every VPC comes with" in flat
    # The prose fits an 80-column terminal (the table fits itself to the terminal: see
    # test_results); only a long command line may run over.
    prose = [
        line for line in out.splitlines() if line[:1] not in "┏┃┡│└" and "portguard " not in line
    ]
    assert max(len(line) for line in prose) <= 80, max(prose, key=len)
    # The technical details come last, briefly.
    how = out.index("How this ran:")
    assert how > out.index("Go further:") > out.index("Why each group is there") > table
    assert "result token TESTMODE" in " ".join(out[how:].split())
    assert "EMF" in out[how:]
    legend = legend[: legend.index("\n\n")]
    assert all(len(line) <= 100 for line in [*intro.splitlines(), *legend.splitlines()])


@pytest.mark.parametrize(
    ("ports", "text"),
    [
        ("cis", "22 SSH, 3389 Windows remote desktop (RDP)"),
        ("20-22,3389", "20-21 FTP, 22 SSH, 3389 Windows remote desktop (RDP)"),
        ("9200,9300,10000", "9200 and 9300 Elasticsearch, 10000"),
        ("8000-8100,22", "22 SSH, 8000-8100"),
        ("7000-7002", "7000-7002"),
        ("0-65535", "0-65535"),
    ],
)
def test_describe_ports_names_each_known_service(ports: str, text: str) -> None:
    described = demo.describe_ports(parse_ports(ports)).replace("\u00a0", " ")
    assert described == text


def test_every_preset_port_has_a_service_name() -> None:
    for preset in PRESETS.values():
        assert set(preset) <= set(demo.PORT_SERVICES)


def test_the_introduction_follows_the_seed_files_parameters() -> None:
    raw = {"blockedPorts": "cis", "protocolType": "TCP", "ipType": "IPv6"}
    text = " ".join(demo.introduction(parse_rule_parameters(raw), raw).split())
    assert "open over TCP to every address (::/0, or sources that add up to it)" in text
    assert "The blocked ports here are 2 (blockedPorts=cis): 22 SSH, 3389 Windows" in text


def test_make_run_reports_a_bad_seed_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text("{")
    assert demo.main(seed) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert f"portguard sandbox: {seed}: not JSON" in err


def test_what_ec2_refuses_in_the_seed_file_names_the_group(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    permission = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"Cidr": "x"}]}
    seed.write_text(
        json.dumps({"securityGroups": [{"GroupName": "typo", "IpPermissions": [permission]}]})
    )
    before = aws_environment()
    with pytest.raises(SeedError, match=f"{seed}: group typo: Parameter validation failed"):
        Sandbox(seed).__enter__()
    assert aws_environment() == before
