"""The ready-made files of ``examples/``: `portguard evaluate` reads each one and gives the
verdicts each is there to show, and the README shows those commands with their output exactly
as printed."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest
from terminal import Terminal

from portguard_cli.main import main

REPOSITORY = Path(__file__).resolve().parents[2]
README = REPOSITORY / "README.md"
SSH = "Open to the internet from 0.0.0.0/0: tcp/22"


def verdicts(capsys: pytest.CaptureFixture[str], *files: str) -> tuple[int, dict[str, tuple]]:
    status = main(["evaluate", "--format", "json", *(str(REPOSITORY / f) for f in files)])
    out, err = capsys.readouterr()
    assert err == ""
    results = json.loads(out)
    assert all(r["warnings"] == [] for r in results)  # real AWS output: nothing to skip
    return status, {
        r["groupId"]: (r["groupName"], r["compliance"], r["annotation"]) for r in results
    }


def test_describe_security_groups(capsys: pytest.CaptureFixture[str]) -> None:
    status, found = verdicts(capsys, "examples/describe-security-groups.json")
    assert status == 1
    assert found == {
        "sg-05d2e8c1a9b4f7360": ("bastion", "NON_COMPLIANT", SSH),
        # Two halves of the internet on one rule are the whole of it.
        "sg-0b81f4d6c2e9a7345": (
            "reporting-db",
            "NON_COMPLIANT",
            "Open to the internet from 0.0.0.0/1, 128.0.0.0/1: tcp/5432",
        ),
        "sg-0e6a3c5b8d7f21904": (
            "legacy-ftp",
            "NON_COMPLIANT",
            "Open to the internet from ::/0: tcp/20-21",
        ),
        # 80 and 443 are not high-risk ports; a group reference is no internet source; the
        # office and VPN ranges are narrow; ICMP has no ports.
        "sg-0f3b6a2c9d1e4b507": ("web-alb", "COMPLIANT", None),
        "sg-0a7c4e91b2d3f5086": ("app-servers", "COMPLIANT", None),
        "sg-09c7d1e3f5a2b4868": ("admin-access", "COMPLIANT", None),
        "sg-0123d4e5f6a7b8c90": ("default", "COMPLIANT", None),
    }


def test_a_config_item(capsys: pytest.CaptureFixture[str]) -> None:
    assert verdicts(capsys, "examples/config-item.json") == (
        1,
        {
            "sg-0d9e2f4a6b8c1e357": (
                "logs-kibana",
                "NON_COMPLIANT",
                "Open to the internet from 0.0.0.0/0, ::/0: tcp/5601",
            )
        },
    )


def test_a_history_answers_for_its_latest_version(capsys: pytest.CaptureFixture[str]) -> None:
    history = json.loads((REPOSITORY / "examples/history.json").read_text(encoding="utf-8"))
    older = json.loads(history["configurationItems"][1]["configuration"])
    assert any(  # the older version had MySQL open to the world
        r["cidrIp"] == "0.0.0.0/0" for p in older["ipPermissions"] for r in p["ipv4Ranges"]
    )
    assert verdicts(capsys, "examples/history.json") == (
        0,
        {"sg-06f1a8c3e5d7b9024": ("orders-db", "COMPLIANT", None)},
    )


def readme_transcript() -> str:
    """The README's example session: the code block under "Ready-made files"."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Ready-made files") :]
    start = section.index("```\n$ ") + len("```\n")
    return section[start : section.index("```", start)]


def test_the_readme_shows_the_output_as_printed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPOSITORY)  # the README's paths are relative to the repository
    monkeypatch.setenv("COLUMNS", "80")  # "On an 80-column terminal"
    session = []
    status = 0
    for line in readme_transcript().splitlines():
        if not line.startswith("$ "):
            continue
        session.append(line)
        command = shlex.split(line[2:])
        if command == ["echo", "$?"]:
            session.append(str(status))
            continue
        assert command[0] == "portguard"
        terminal = Terminal()
        monkeypatch.setattr(sys, "stdout", terminal)
        status = main(command[1:])
        assert capsys.readouterr().err == ""
        session.append(terminal.plain().rstrip("\n"))
    assert "\n".join(session) + "\n" == readme_transcript()
