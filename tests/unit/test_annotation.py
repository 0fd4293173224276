"""The annotation (SPEC §1 "Annotation"): at most 256 characters; every offending protocol/port,
merged when consecutive, in ascending order, with the sources; only offending ports; ``and N more``
when it does not all fit; never a port number or a word cut in half."""

from __future__ import annotations

import re
from datetime import date

import pytest
from core_helpers import decide, exposed, perm, source
from hypothesis import given, settings
from hypothesis import strategies as st

from portguard.annotation import MAX_ANNOTATION, describe_ports, render
from portguard.errors import InvalidParameterError, PrefixListUnavailableError
from portguard.model import Compliance, Exposure
from portguard.parameters import parse_ports

ANY4 = ["0.0.0.0/0"]
ANY6 = ["::/0"]
ITEM = re.compile(r"\b(tcp|udp)/(\d+)(?:-(\d+))?\b")
# SPEC §1's fsbp ports, merged where consecutive, as the annotation must write them.
FSBP_ITEMS = [
    "20-23",
    "25",
    "110",
    "135",
    "143",
    "445",
    "1433-1434",
    "3000",
    "3306",
    "3389",
    "4333",
    "5000",
    "5432",
    "5500",
    "5601",
    "8080",
    "8088",
    "8888",
    "9200",
    "9300",
]


def items(text: str) -> list[str]:
    """The ``proto/port`` items an annotation names, in the order it names them."""
    return [m.group(0) for m in ITEM.finditer(text)]


def expand(named: list[str]) -> set[tuple[str, int]]:
    """Every (protocol, port) the items cover."""
    out = set()
    for item in named:
        protocol, ports = item.split("/")
        low, _, high = ports.partition("-")
        out.update((protocol, p) for p in range(int(low), int(high or low) + 1))
    return out


@pytest.mark.parametrize(
    ("permissions", "parameters", "expected"),
    [
        pytest.param(
            [perm("tcp", 22, 22, v4=ANY4)],
            {"blockedPorts": "22"},
            "Open to the internet from 0.0.0.0/0: tcp/22",
            id="ssh",
        ),
        pytest.param(
            [perm("tcp", 0, 65535, v4=ANY4)],
            {"blockedPorts": "22"},
            "Open to the internet from 0.0.0.0/0: tcp/22",
            id="only-the-offending-port-of-a-wide-range",
        ),
        pytest.param(
            [perm("tcp", 0, 65535, v4=ANY4)],
            {"blockedPorts": "3389,20-23"},
            "Open to the internet from 0.0.0.0/0: tcp/20-23, tcp/3389",
            id="consecutive-merged-ascending",
        ),
        pytest.param(
            [
                perm("tcp", 3389, 3389, v4=ANY4),
                perm("tcp", 20, 21, v4=ANY4),
                perm("tcp", 22, 23, v4=ANY4),
            ],
            {"blockedPorts": "20-23,3389"},
            "Open to the internet from 0.0.0.0/0: tcp/20-23, tcp/3389",
            id="merged-across-permissions",
        ),
        pytest.param(
            [perm("tcp", 22, 22, v4=ANY4, v6=ANY6)],
            {"blockedPorts": "22"},
            "Open to the internet from 0.0.0.0/0, ::/0: tcp/22",
            id="both-families",
        ),
        pytest.param(
            [perm("-1", v4=ANY4)],
            {"blockedPorts": "cis"},
            "Open to the internet from 0.0.0.0/0: tcp/22, tcp/3389, udp/22, udp/3389",
            id="minus-one-cis",
        ),
        pytest.param(
            [perm("tcp", 22, 22, v4=["0.0.0.0/1"]), perm("tcp", 22, 22, v4=["128.0.0.0/1"])],
            {"blockedPorts": "22"},
            "Open to the internet from 0.0.0.0/1, 128.0.0.0/1: tcp/22",
            id="split-sources",
        ),
        pytest.param(
            [perm("tcp", 22, 22, v6=["0:0:0:0:0:0:0:0/0"])],
            {"blockedPorts": "22"},
            "Open to the internet from ::/0: tcp/22",
            id="v6-spelled-long",
        ),
    ],
)
def test_exact_annotations(permissions: list, parameters: dict, expected: str) -> None:
    verdict = decide(permissions, parameters)
    assert verdict.compliance is Compliance.NON_COMPLIANT
    assert verdict.annotation == expected


def test_unreadable_prefix_list_annotation() -> None:
    def resolve(prefix_list_id: str) -> list[str]:
        raise PrefixListUnavailableError(prefix_list_id, "AccessDenied")

    verdict = decide(
        [perm("tcp", 22, 22, prefix_lists=["pl-63a5400b"])],
        {"blockedPorts": "22"},
        resolver=resolve,
    )
    assert (
        verdict.annotation
        == "Open to the internet from pl-63a5400b (unreadable: AccessDenied): tcp/22"
    )


def test_resolved_prefix_list_is_named_as_the_source() -> None:
    verdict = decide(
        [perm("tcp", 22, 22, prefix_lists=["pl-any"])],
        {"blockedPorts": "22"},
        resolver=lambda _: ["0.0.0.0/0"],
    )
    assert verdict.annotation == "Open to the internet from pl-any: tcp/22"


EXEMPT = {"blockedPorts": "cis", "exemptTagKey": "PortguardExempt"}


@pytest.mark.parametrize(
    ("tag", "today", "expected"),
    [
        pytest.param(
            "22,3389 until 2030-01-01",
            date(2025, 6, 1),
            "Exempted by tag PortguardExempt until 2030-01-01, open to the internet from "
            "0.0.0.0/0: tcp/22, tcp/3389",
            id="exempted-until",
        ),
        pytest.param(
            "22,3389",
            date(2025, 6, 1),
            "Exempted by tag PortguardExempt with no end date, open to the internet from "
            "0.0.0.0/0: tcp/22, tcp/3389",
            id="exempted-no-date",
        ),
        pytest.param(
            "22,3389 until 2030-01-01",
            date(2030, 1, 2),
            "Exemption tag PortguardExempt expired 2030-01-01. "
            "Open to the internet from 0.0.0.0/0: tcp/22, tcp/3389",
            id="expired",
        ),
        pytest.param(
            "22 until 2030-01-01",
            date(2025, 6, 1),
            "1 port range exempted by tag PortguardExempt until 2030-01-01. "
            "Open to the internet from 0.0.0.0/0: tcp/3389",
            id="partial",
        ),
    ],
)
def test_exemption_annotations(tag: str, today: date, expected: str) -> None:
    verdict = decide(
        [perm("tcp", 0, 65535, v4=ANY4)],
        EXEMPT,
        today=today,
        item_tags={"PortguardExempt": tag},
    )
    assert verdict.annotation == expected


def test_fsbp_minus_one_fits_and_counts_what_is_left_out() -> None:
    verdict = decide([perm("-1", v4=ANY4, v6=ANY6)], None)
    text = verdict.annotation
    assert text is not None
    assert len(text) <= MAX_ANNOTATION
    all_items = [f"tcp/{p}" for p in FSBP_ITEMS] + [f"udp/{p}" for p in FSBP_ITEMS]
    assert exposed(verdict) == {"tcp": ",".join(FSBP_ITEMS), "udp": ",".join(FSBP_ITEMS)}
    named = items(text)
    assert named == all_items[: len(named)]  # ascending, nothing skipped, nothing cut
    match = re.search(r"and (\d+) more$", text)
    assert match, text
    assert int(match.group(1)) == len(all_items) - len(named)
    assert len(named) >= 1
    assert "0.0.0.0/0" in text
    assert "::/0" in text


def test_render_never_exceeds_the_limit_or_cuts_an_item() -> None:
    exposures = [Exposure("tcp", (p, p), (source("0.0.0.0/0"),)) for p in range(10000, 10400, 2)]
    text = render("Open to the internet", exposures)
    assert len(text) <= MAX_ANNOTATION
    named = items(text)
    expected = [describe_ports(e.protocol, e.ports) for e in exposures]
    assert named == expected[: len(named)]
    match = re.search(r"and (\d+) more$", text)
    assert match
    assert int(match.group(1)) == len(exposures) - len(named)


@settings(max_examples=300, deadline=None)
@given(
    ports=st.lists(
        st.integers(0, 32767).map(lambda n: 2 * n),
        min_size=1,
        max_size=60,
        unique=True,
    ),
    lead=st.text(alphabet="abc ", min_size=1, max_size=120).map(str.strip).filter(bool),
)
def test_render_names_as_many_items_as_fit(ports: list[int], lead: str) -> None:
    """Not only within the limit: one more item (with its "and N more") would not fit. Even
    ports only, so that no two merge into one item."""
    exposures = [Exposure("tcp", (p, p), (source("0.0.0.0/0"),)) for p in sorted(ports)]
    text = render(lead, list(reversed(exposures)))  # any order in, ascending out
    assert render(lead, tuple(exposures)) == text  # a list or a tuple, the same text
    expected = [describe_ports(e.protocol, e.ports) for e in exposures]
    named = items(text)
    assert named == expected[: len(named)]
    assert len(text) <= MAX_ANNOTATION
    if len(named) < len(expected):
        head = text[: text.index(named[0])] if named else text
        more = len(expected) - len(named) - 1
        suffix = f", and {more} more" if more else ""
        longer = head + ", ".join(expected[: len(named) + 1]) + suffix
        assert len(longer) > MAX_ANNOTATION, (text, longer)


def test_render_counts_the_sources_then_cuts_the_lead_when_room_runs_out() -> None:
    """Room is made by naming fewer sources, then by counting them; a lead that leaves no room
    for one item is cut at a word and marked."""
    both = [
        Exposure("tcp", (22, 22), (source("0.0.0.0/0"),)),
        Exposure("udp", (53, 53), (source("::/0"),)),
    ]
    lead = "x" * 222  # " from 0.0.0.0/0, ::/0: tcp/22, udp/53" would make 259 characters
    assert render(lead, both) == lead + " from 2 sources: tcp/22, udp/53"
    lead = "x" * 234  # " from 0.0.0.0/0: tcp/22" would make 257
    assert render(lead, both[:1]) == lead + " from 1 source: tcp/22"
    lead = "word " * 60  # 300 characters: no room for any item
    cut = render(lead, both)
    assert len(cut) <= MAX_ANNOTATION
    assert cut.endswith("word…")


def test_render_all_fits() -> None:
    exposures = [
        Exposure("tcp", (20, 23), (source("0.0.0.0/0"),)),
        Exposure("udp", (53, 53), (source("::/0"),)),
    ]
    text = render("Open to the internet", exposures)
    assert text == "Open to the internet from 0.0.0.0/0, ::/0: tcp/20-23, udp/53"
    assert "more" not in text


@pytest.mark.parametrize(
    ("protocol", "ports", "text"),
    [
        ("tcp", (22, 22), "tcp/22"),
        ("tcp", (20, 23), "tcp/20-23"),
        ("udp", (0, 65535), "udp/0-65535"),
    ],
)
def test_describe_ports(protocol: str, ports: tuple[int, int], text: str) -> None:
    assert describe_ports(protocol, ports) == text


def test_many_sources_stay_within_the_limit() -> None:
    pieces = [f"{n}.0.0.0/8" for n in range(256)]
    verdict = decide([perm("tcp", 0, 65535, v4=pieces)], None)
    assert verdict.compliance is Compliance.NON_COMPLIANT
    assert verdict.annotation is not None
    assert len(verdict.annotation) <= MAX_ANNOTATION
    assert items(verdict.annotation)[0] == "tcp/20-23"


def test_long_tag_key_stays_within_the_limit() -> None:
    key = "K" * 128
    verdict = decide(
        [perm("-1", v4=ANY4, v6=ANY6)],
        {"exemptTagKey": key},
        today=date(2030, 1, 2),
        item_tags={key: "22 until 2030-01-01"},
    )
    assert verdict.compliance is Compliance.NON_COMPLIANT
    assert verdict.annotation
    assert len(verdict.annotation) <= MAX_ANNOTATION
    assert items(verdict.annotation)[0] == "tcp/20-23"


def test_compliant_and_not_applicable_annotations_are_none_or_not_empty() -> None:
    for verdict in (
        decide([], None),
        decide([perm("tcp", 22, 22, v4=["10.0.0.0/8"])], None),
        decide([perm("-1", v4=ANY4)], None, status="ResourceDeleted"),
    ):
        assert verdict.annotation is None or verdict.annotation.strip()


# --- SPEC §1 edges: ascending across sources, no word cut, "and N more" always said -------------


def test_ports_ascending_and_merged_even_when_sources_differ() -> None:
    verdict = decide([perm("-1", v4=ANY4), perm("tcp", 22, 22, v6=ANY6)], {"blockedPorts": "20-23"})
    assert verdict.annotation is not None
    assert items(verdict.annotation) == ["tcp/20-23", "udp/20-23"]


def test_truncated_annotation_names_the_lowest_ports_first() -> None:
    verdict = decide([perm("-1", v4=ANY4), perm("tcp", 22, 22, v6=ANY6)], None)
    assert verdict.annotation is not None
    assert "more" in verdict.annotation
    named = expand(items(verdict.annotation))
    offending = {
        (e.protocol, port) for e in verdict.exposures for port in range(e.ports[0], e.ports[1] + 1)
    }
    assert named <= offending
    highest = max(named, key=lambda pp: (pp[0], pp[1]))
    assert {pp for pp in offending if pp < highest} <= named  # nothing lower left out


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text))


def test_unparseable_exemption_note_cuts_no_word() -> None:
    value = "ssh"
    verdict = decide(
        [perm("tcp", 22, 22, v4=ANY4)],
        {"blockedPorts": "22", "exemptTagKey": "PortguardExempt"},
        item_tags={"PortguardExempt": value},
    )
    with pytest.raises(InvalidParameterError) as caught:
        parse_ports(value, name="tag PortguardExempt", allow_all=True)
    vocabulary = _words(
        "Exemption tag PortguardExempt ignored. Open to the internet from 0.0.0.0/0: tcp/22 "
        + caught.value.reason
    )
    assert verdict.annotation is not None
    assert _words(verdict.annotation) <= vocabulary, _words(verdict.annotation) - vocabulary


def test_unreadable_prefix_list_reason_cuts_no_word() -> None:
    reason = "Unable to read prefix list entries because access was denied by policy"

    def resolve(prefix_list_id: str) -> list[str]:
        raise PrefixListUnavailableError(prefix_list_id, reason)

    verdict = decide(
        [perm("tcp", 22, 22, prefix_lists=["pl-1"])], {"blockedPorts": "22"}, resolver=resolve
    )
    assert verdict.annotation is not None
    assert "pl-1" in verdict.annotation
    vocabulary = _words("Open to the internet from pl-1 unreadable: tcp/22 " + reason)
    assert _words(verdict.annotation) <= vocabulary, _words(verdict.annotation) - vocabulary


NOT_FOUND_LISTS = [f"pl-0123456789abcdef{n}" for n in range(4)]


def _not_found(prefix_list_id: str) -> list[str]:
    raise PrefixListUnavailableError(prefix_list_id, "InvalidPrefixListID.NotFound")


def test_long_sources_still_say_how_many_more() -> None:
    verdict = decide([perm("-1", prefix_lists=NOT_FOUND_LISTS)], None, resolver=_not_found)
    assert verdict.compliance is Compliance.NON_COMPLIANT
    text = verdict.annotation
    assert text is not None
    assert len(text) <= MAX_ANNOTATION
    named = items(text)
    match = re.search(r"and (\d+) more", text)
    assert match, text
    assert int(match.group(1)) == len(verdict.exposures) - len(named)


def test_expired_exemption_is_reported_even_with_long_sources() -> None:
    verdict = decide(
        [perm("-1", prefix_lists=NOT_FOUND_LISTS)],
        {"exemptTagKey": "Exempt"},
        resolver=_not_found,
        today=date(2030, 1, 2),
        item_tags={"Exempt": "22 until 2030-01-01"},
    )
    assert verdict.compliance is Compliance.NON_COMPLIANT
    assert verdict.annotation is not None
    assert len(verdict.annotation) <= MAX_ANNOTATION
    assert "expired" in verdict.annotation
