"""The command line never crashes and never lies with its exit status: 1 means a group is
NON_COMPLIANT and nothing else; every failure is one line and exit status 2; a reader that
closes the pipe early ends the output quietly, with the status of the answer.

The exit statuses and the closed pipe are checked through a real process
(``python -m portguard_cli``), as a shell pipeline meets them; the rest through ``main([...])``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from portguard_cli.main import main
from portguard_cli.runner import ReaderGoneStream, describe_failure

GROUPS_OVER_A_PIPE_BUFFER = 1500
"""Enough groups that their output (~400 KB) overflows a pipe's buffer (64 KB on Linux)."""


def ec2_group(number: int, *, open_ssh: bool) -> dict[str, Any]:
    """One group as `aws ec2 describe-security-groups` prints it."""
    source = "0.0.0.0/0" if open_ssh else "10.0.0.0/8"
    return {
        "GroupId": f"sg-{number:017x}",
        "GroupName": f"group-{number}",
        "VpcId": "vpc-0123456789abcdef0",
        "IpPermissions": [
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": source}]}
        ],
    }


def describe_output(tmp_path: Path, count: int, *, open_ssh: bool, name: str = "sgs.json") -> Path:
    path = tmp_path / name
    groups = [ec2_group(n, open_ssh=open_ssh) for n in range(count)]
    path.write_text(json.dumps({"SecurityGroups": groups}), encoding="utf-8")
    return path


def portguard(*args: str, **kwargs: Any) -> subprocess.Popen[bytes]:
    """``python -m portguard_cli ARGS`` as a process, its outputs piped."""
    return subprocess.Popen(  # noqa: S603 - our own interpreter and command
        [sys.executable, "-m", "portguard_cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kwargs,
    )


def first_line_then_close(process: subprocess.Popen[bytes]) -> tuple[bytes, bytes, int]:
    """What `| head -1` does: read one line, close the pipe; then the process's stderr and
    exit status."""
    assert process.stdout is not None
    assert process.stderr is not None
    line = process.stdout.readline()
    process.stdout.close()
    err = process.stderr.read()
    return line, err, process.wait(timeout=120)


# --- a reader that closes the pipe -------------------------------------------------------------


@pytest.mark.parametrize("output", ["json", "table"])
@pytest.mark.parametrize(("open_ssh", "status"), [(True, 1), (False, 0)])
def test_a_closed_pipe_ends_quietly_with_the_status_of_the_answer(
    tmp_path: Path, output: str, open_ssh: bool, status: int
) -> None:
    path = describe_output(tmp_path, GROUPS_OVER_A_PIPE_BUFFER, open_ssh=open_ssh)
    line, err, returncode = first_line_then_close(
        portguard("evaluate", "--format", output, str(path))
    )
    assert line.strip()  # the reader got its line
    # No BrokenPipeError traceback, no "Exception ignored" at exit: nothing at all.
    assert err == b""
    # The answer was known before the reader left: 1 when a group is open, 0 when none is.
    assert returncode == status


def test_remediation_is_not_stopped_half_way_by_a_closed_stdout(tmp_path: Path) -> None:
    """`portguard remediate --apply | head -1`, unbuffered (every line written at once): the
    pipe is closed before the first line, and the remediation still runs to its end."""
    child = f"""
import json, os, sys
from moto import mock_aws
from portguard_cli.main import main
os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                  AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
                  MOTO_EC2_LOAD_DEFAULT_AMIS="false")
with mock_aws():
    import boto3
    ec2 = boto3.client("ec2", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    group = ec2.create_security_group(GroupName="ssh", Description="ssh", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[{{"IpProtocol": "tcp",
        "FromPort": 22, "ToPort": 22, "IpRanges": [{{"CidrIp": "0.0.0.0/0"}}]}}])
    status = main(["remediate", group, "--region", "us-east-1", "--blocked-ports", "22",
                   "--allow-cidr", "203.0.113.0/24", "--apply",
                   "--rollback-file", {str(tmp_path / "rollback.json")!r}])
    (after,) = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]
    with open({str(tmp_path / "after.json")!r}, "w") as out:
        json.dump(after["IpPermissions"], out)
sys.exit(status)
"""
    reader, writer = os.pipe()
    os.close(reader)  # the reader is gone before the first line
    try:
        process = subprocess.run(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-u", "-c", child],
            stdout=writer,
            stderr=subprocess.PIPE,
            timeout=120,
            check=False,
        )
    finally:
        os.close(writer)
    assert process.stderr == b""
    assert process.returncode == 0  # applied
    (permission,) = json.loads((tmp_path / "after.json").read_text())
    assert [r["CidrIp"] for r in permission["IpRanges"]] == ["203.0.113.0/24"]
    assert json.loads((tmp_path / "rollback.json").read_text())["groupId"].startswith("sg-")


def test_make_run_ends_quietly_when_its_reader_leaves() -> None:
    """`make run | head -1`: the sandbox's entry point is guarded as the commands are."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        process = subprocess.run(
            [sys.executable, "-m", "portguard_cli.sandbox"],
            stdout=writer,
            stderr=subprocess.PIPE,
            timeout=300,
            check=False,
        )
    finally:
        os.close(writer)
    assert process.stderr == b""
    assert process.returncode == 0  # its answer: the change notifications and the sweep agree


# --- every failure: one line, exit status 2 ----------------------------------------------------


def test_json_nested_100000_deep_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    out, err = portguard("evaluate", "--format", "json", str(path)).communicate(timeout=120)
    assert err.decode() == (
        f"portguard evaluate: {path}: cannot be read as JSON: its lists and objects are nested "
        "too deeply\n"
    )
    assert json.loads(out) == []


def test_a_number_of_5000_digits_is_said_in_plain_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "long.json"
    path.write_text(
        '{"SecurityGroups": [{"GroupId": "sg-1", "IpPermissions": [{"FromPort": '
        + "2" * 5000
        + "}]}]}",
        encoding="utf-8",
    )
    assert main(["evaluate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"portguard evaluate: {path}: cannot be read as JSON: it holds a number of more than "
        "4300 digits\n"
    )


def test_an_unexpected_error_is_one_line_naming_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*_: object, **__: object) -> None:
        raise KeyError("configurationItem")

    monkeypatch.setattr("portguard_cli.evaluate.evaluate_document", broken)
    monkeypatch.delenv("PORTGUARD_DEBUG", raising=False)
    path = describe_output(tmp_path, 1, open_ssh=True)
    assert main(["evaluate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "portguard evaluate: unexpected error, a bug in portguard (KeyError: "
        "'configurationItem'); PORTGUARD_DEBUG=1 shows where, please report it\n"
    )

    monkeypatch.setenv("PORTGUARD_DEBUG", "1")
    assert main(["evaluate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("portguard evaluate: unexpected error")
    assert "Traceback (most recent call last)" in err
    assert 'raise KeyError("configurationItem")' in err


def test_an_os_error_is_said_as_the_system_says_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def full(*_: object, **__: object) -> None:
        raise OSError(28, "No space left on device", "rollback.json")

    monkeypatch.setattr("portguard_cli.pack.run", full)
    arn = "arn:aws:lambda:eu-west-1:111122223333:function:portguard"
    assert main(["conformance-pack", "--lambda-arn", arn]) == 2
    assert capsys.readouterr().err == (
        "portguard conformance-pack: No space left on device (rollback.json)\n"
    )


def test_ctrl_c_is_130_and_quiet(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("portguard_cli.pack.run", interrupted)
    arn = "arn:aws:lambda:eu-west-1:111122223333:function:portguard"
    assert main(["conformance-pack", "--lambda-arn", arn]) == 130
    assert capsys.readouterr() == ("", "")


# --- usage ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "command", "unknown"),
    [
        (["evaluate", "--bogus", "sgs.json"], "evaluate", "--bogus"),
        (["evaluate", "sgs.json", "--bogus"], "evaluate", "--bogus"),
        (["scan", "--regoin", "eu-west-1"], "scan", "--regoin eu-west-1"),
        (["restore", "rollback.json", "--bogus"], "restore", "--bogus"),
    ],
)
def test_an_unknown_option_shows_the_commands_own_usage(
    capsys: pytest.CaptureFixture[str], argv: list[str], command: str, unknown: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"usage: portguard {command} [-h]")
    assert err.endswith(f"portguard {command}: error: unrecognized arguments: {unknown}\n")


def test_a_full_width_port_is_no_port(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = describe_output(tmp_path, 1, open_ssh=True)
    full_width_22 = "\uff12\uff12"
    assert main(["evaluate", str(path), "--blocked-ports", full_width_22]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(
        f"portguard evaluate: invalid --blocked-ports '{full_width_22}': unknown token "
        f"'{full_width_22}'"
    )
    assert err.endswith("; ports are written with the digits 0-9\n")


# --- the runner's parts -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (MemoryError(), "out of memory (the input may be too large)"),
        (
            RecursionError("maximum recursion depth exceeded"),
            "the input is nested too deeply to read",
        ),
        (PermissionError(13, "Permission denied", "out.json"), "Permission denied (out.json)"),
        (OSError(28, "No space left on device"), "No space left on device"),
        (
            ValueError(),
            "unexpected error, a bug in portguard (ValueError); PORTGUARD_DEBUG=1 shows where, "
            "please report it",
        ),
    ],
)
def test_failures_in_plain_words(error: BaseException, said: str) -> None:
    assert describe_failure(error) == said


def test_a_stream_whose_reader_left_discards_and_points_at_the_null_device() -> None:
    reader, writer = os.pipe()
    os.close(reader)
    with os.fdopen(writer, "w", encoding="utf-8") as pipe:
        stream = ReaderGoneStream(pipe)
        assert stream.write("x" * 100_000) == 100_000  # more than the pipe's buffer: flushed
        stream.flush()
        assert stream.reader_gone
        # What is still buffered goes to the null device at exit, not to the closed pipe.
        assert os.path.samestat(os.fstat(writer), os.stat(os.devnull))
        assert stream.write("more") == 4
        assert (stream.isatty(), stream.writable(), stream.encoding) == (False, True, "utf-8")
