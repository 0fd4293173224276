"""The table that `evaluate`, `scan` and `make run` print: at any width every annotation and
every warning is printed whole, wrapped and never cut, and the ids are whole; the JSON carries
the warnings too."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from terminal import Terminal

from portguard.model import Compliance, Verdict
from portguard_cli.main import main
from portguard_cli.results import FILE_WIDTH, Result, ordered, write_json, write_table

# The longest annotation the rule writes is 256 characters; these hold the longest words it
# writes too (an IPv6 CIDR, an unreadable prefix list's reason).
LONG = (
    "Open to the internet from 0.0.0.0/0, 2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff/128, "
    "pl-0123456789abcdef0 (unreadable: An error occurred (UnauthorizedOperation)): "
    "tcp/20-23, tcp/25, tcp/110, tcp/135, tcp/143, tcp/445, tcp/1433-1434, tcp/3000, and 12 more"
)
RESULTS = [
    Result(
        group_id="sg-0123456789abcdef0",
        group_name="[bold]web-servers-behind-the-public-load-balancer",
        vpc_id="vpc-0123456789abcdef0",
        region="ap-southeast-2",
        compliance=Compliance.NON_COMPLIANT,
        annotation=LONG,
        source="sgs.json",
        warnings=("skipped source 'xxx.xxx.xxx.xx/21': not a CIDR",),
    ),
    Result(
        group_id="sg-0fedcba9876543210",
        group_name="db",
        vpc_id="vpc-0fedcba9876543210",
        region="eu-west-1",
        compliance=Compliance.COMPLIANT,
        annotation="Exempted by tag portguard:exempt until 2027-11-21, open to the internet "
        "from 0.0.0.0/0: tcp/22",
        source="sgs.json",
    ),
    Result(
        group_id="sg-0aaaabbbbccccdddd",
        group_name=None,
        vpc_id=None,
        region="eu-west-1",
        compliance=Compliance.COMPLIANT,
        annotation=None,
        source="sgs.json",
        warnings=('skipped ipPermissions: a JSON string, not a list"',),
    ),
]


def table(results: list[Result], width: int | None) -> str:
    out = io.StringIO()
    write_table(results, out, width=width)
    return out.getvalue()


def last_cells(text: str) -> str:
    """The text of the table's last column (annotations and warnings), every row in order,
    without the spaces wrapping put in or took out."""
    cells = [line.split("│")[-2] for line in text.splitlines() if line.startswith("│")]
    return "".join("".join(cells).split())


@pytest.mark.parametrize("width", [FILE_WIDTH, 120, 80, 60, 40])
def test_every_annotation_and_warning_is_printed_whole_at_any_width(width: int) -> None:
    text = table(RESULTS, width)
    # Nothing is cut or cropped: the last column holds every character of every annotation
    # and warning, in the table's order, and no line is wider than the output.
    expected = "".join(
        (r.annotation or "") + "".join(f"warning: {w}" for w in r.warnings)
        for r in ordered(RESULTS)
    )
    assert last_cells(text) == "".join(expected.split())
    assert max(len(line) for line in text.splitlines()) <= width
    # Lines are broken at spaces: each word is whole on its line, unless it is longer than the
    # column (at 40 columns the annotation has 12; longer words are folded, not cut).
    words = ["internet", "tcp/3000,", "and", "12", "more"]
    if width >= 60:
        words += ["tcp/1433-1434,", "pl-0123456789abcdef0", "(UnauthorizedOperation)):"]
    for word in words:
        assert word in text
    # The ids are whole, and a name is printed as written (not read as markup).
    for result in RESULTS:
        assert result.group_id in text
        if result.vpc_id:
            assert result.vpc_id in text
    assert "[bold]" in text


@pytest.mark.parametrize("width", [80, 60])
def test_the_annotation_is_not_cut_to_its_first_words(width: int) -> None:
    """On 80 columns the annotation column was cut to `Open to` (or dropped) when a group
    had a name, a VPC and a region."""
    annotation = last_cells(table(RESULTS[:1], width))
    assert annotation.startswith("Opentotheinternet")
    assert "tcp/3000,and12more" in annotation
    assert annotation.endswith("warning:skippedsource'xxx.xxx.xxx.xx/21':notaCIDR")


@pytest.mark.parametrize("columns", [80, 60])
def test_a_terminal_gets_the_table_at_its_own_width(
    monkeypatch: pytest.MonkeyPatch, columns: int
) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))  # what rich reads a terminal's width from first
    out = Terminal()
    write_table(RESULTS, out)
    text = out.plain()
    assert max(len(line) for line in text.splitlines()) <= columns
    assert "tcp/3000,and12more" in last_cells(text)
    assert "sg-0123456789abcdef0" in text


def test_the_layout_narrows_as_the_width_does() -> None:
    header = {width: table(RESULTS, width).splitlines()[1] for width in (FILE_WIDTH, 80, 60)}
    # A column per field when there is room; then name, VPC and region under the id; then the
    # compliance there too.
    for column in ("group", "name", "VPC", "region", "compliance", "annotation"):
        assert column in header[FILE_WIDTH]
    assert header[80].split() == ["┃", "group", "┃", "compliance", "┃", "annotation", "┃"]
    assert header[60].split() == ["┃", "group", "┃", "annotation", "┃"]


def test_the_summary_counts_groups_with_warnings() -> None:
    assert table(RESULTS, FILE_WIDTH).splitlines()[-1] == (
        "3 groups: 1 non-compliant, 2 compliant, 0 not applicable; 2 with warnings (input skipped)"
    )
    assert table(RESULTS[1:2], FILE_WIDTH).splitlines()[-1] == (
        "1 group: 0 non-compliant, 1 compliant, 0 not applicable"
    )


def test_results_carry_the_verdicts_warnings() -> None:
    verdict = Verdict(Compliance.COMPLIANT, None, warnings=('unreadable port "ssh": …',))
    result = Result.of(
        verdict, group_id="sg-1", group_name=None, vpc_id=None, region=None, source="f.json"
    )
    assert result.warnings == verdict.warnings
    assert result.as_json()["warnings"] == ['unreadable port "ssh": …']


# --- through `portguard evaluate` ---------------------------------------------------------------

REDACTED = {
    "SecurityGroups": [
        {
            # A group copied from a ticket, its office CIDR redacted: unreadable, and said.
            "GroupId": "sg-0a1b2c3d4e5f60718",
            "GroupName": "office-ssh",
            "IpPermissions": [
                {
                    "IpProtocol": "tcp",
                    "FromPort": 22,
                    "ToPort": 22,
                    "IpRanges": [{"CidrIp": "xxx.xxx.xxx.xx/21"}, {"CidrIp": "0.0.0.0/1"}],
                }
            ],
        },
        {"GroupId": "sg-0f1e2d3c4b5a69788", "GroupName": "broken", "IpPermissions": "tcp/22"},
        {"GroupId": "sg-0123123123123123a", "GroupName": "clean", "IpPermissions": []},
    ]
}


def test_evaluate_says_what_it_skipped_in_the_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "redacted.json"
    path.write_text(json.dumps(REDACTED), encoding="utf-8")
    assert main(["evaluate", "--format", "json", str(path)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    warnings = {r["groupId"]: r["warnings"] for r in json.loads(out)}
    assert warnings == {
        "sg-0a1b2c3d4e5f60718": ["skipped source 'xxx.xxx.xxx.xx/21': not a CIDR"],
        "sg-0f1e2d3c4b5a69788": ["skipped IpPermissions: a JSON string, not a list"],
        "sg-0123123123123123a": [],
    }


def test_evaluate_says_what_it_skipped_in_the_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "redacted.json"
    path.write_text(json.dumps(REDACTED), encoding="utf-8")
    assert main(["evaluate", str(path)]) == 0
    out = capsys.readouterr().out
    rows = {
        line.split("│")[1].strip(): line.split("│")[-2].strip()
        for line in out.splitlines()
        if line.startswith("│ sg-")
    }
    assert rows == {
        "sg-0a1b2c3d4e5f60718": "warning: skipped source 'xxx.xxx.xxx.xx/21': not a CIDR",
        "sg-0f1e2d3c4b5a69788": "warning: skipped IpPermissions: a JSON string, not a list",
        "sg-0123123123123123a": "",
    }
    assert out.splitlines()[-1].endswith("; 2 with warnings (input skipped)")


# --- the JSON: the same array, laid out for its reader ------------------------------------------


def test_json_for_a_pipeline_is_one_compact_object_a_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "redacted.json"
    path.write_text(json.dumps(REDACTED), encoding="utf-8")
    assert main(["evaluate", "--format", "json", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "["
    assert lines[-1] == "]"
    objects = [line.removesuffix(",") for line in lines[1:-1]]
    rows = [json.loads(text) for text in objects]
    assert [row["groupId"] for row in rows] == [
        "sg-0123123123123123a",
        "sg-0a1b2c3d4e5f60718",
        "sg-0f1e2d3c4b5a69788",
    ]
    assert all(line.endswith(",") for line in lines[1:-2])
    # Compact: no space between keys, values and items (strings keep theirs).
    assert objects == [json.dumps(row, separators=(",", ":")) for row in rows]
    assert objects[0].startswith('{"groupId":"sg-0123123123123123a","groupName":"clean",')


def test_json_on_a_terminal_is_indented_and_says_the_same() -> None:
    terminal, pipe = Terminal(), io.StringIO()
    for out in (terminal, pipe):
        write_json(RESULTS, out)
    assert terminal.getvalue().startswith('[\n  {\n    "groupId": "sg-0123456789abcdef0",\n')
    assert json.loads(terminal.getvalue()) == json.loads(pipe.getvalue())
    assert len(pipe.getvalue().splitlines()) == len(RESULTS) + 2


@pytest.mark.parametrize("out", [io.StringIO(), Terminal()], ids=["pipe", "terminal"])
def test_json_of_no_groups_is_an_empty_array(out: io.StringIO) -> None:
    write_json([], out)
    assert json.loads(out.getvalue()) == []
