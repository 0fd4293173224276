"""PortSet: sorted, disjoint inclusive intervals, checked against plain Python sets."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portguard.ports import MAX_PORT, MIN_PORT, PortSet


def as_set(ports: PortSet) -> set[int]:
    return {p for lo, hi in ports.ranges for p in range(lo, hi + 1)}


@pytest.mark.parametrize(
    ("ranges", "expected"),
    [
        pytest.param([], (), id="empty"),
        pytest.param([(22, 22)], ((22, 22),), id="single"),
        pytest.param([(20, 21), (22, 22), (80, 80)], ((20, 22), (80, 80)), id="adjacent-merged"),
        pytest.param([(80, 80), (20, 25), (22, 30)], ((20, 30), (80, 80)), id="overlap-unsorted"),
        pytest.param([(1, 1), (3, 3)], ((1, 1), (3, 3)), id="gap-of-one-kept"),
        pytest.param([(5, 10), (6, 7)], ((5, 10),), id="contained"),
        pytest.param([(0, 0), (65535, 65535)], ((0, 0), (65535, 65535)), id="edges"),
        pytest.param([(22, 22), (22, 22)], ((22, 22),), id="duplicates"),
    ],
)
def test_normalizes_ranges(ranges: list[tuple[int, int]], expected: tuple) -> None:
    assert PortSet(ranges).ranges == expected


def test_all_ports() -> None:
    everything = PortSet.all_ports()
    assert everything.ranges == ((MIN_PORT, MAX_PORT),)
    assert len(everything) == 65536
    assert 0 in everything
    assert 65535 in everything


def test_membership_len_bool() -> None:
    ports = PortSet([(20, 23), (3389, 3389)])
    assert 20 in ports
    assert 23 in ports
    assert 24 not in ports
    assert 3389 in ports
    assert "22" not in ports  # only ints are ports
    assert len(ports) == 5
    assert ports
    assert not PortSet()


def test_equality_and_hash() -> None:
    assert PortSet([(20, 21), (22, 23)]) == PortSet([(20, 23)])
    assert hash(PortSet([(20, 21), (22, 23)])) == hash(PortSet([(20, 23)]))
    assert PortSet([(20, 23)]) != PortSet([(20, 24)])
    assert PortSet([(22, 22)]) != ((22, 22),)


@pytest.mark.parametrize(
    ("ranges", "text"),
    [
        pytest.param([(22, 22)], "22", id="port"),
        pytest.param([(20, 23), (3389, 3389)], "20-23,3389", id="range-and-port"),
        pytest.param([(0, 65535)], "0-65535", id="all"),
        pytest.param([], "", id="empty"),
    ],
)
def test_describe(ranges: list[tuple[int, int]], text: str) -> None:
    assert PortSet(ranges).describe() == text


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        pytest.param(0, 65535, [(20, 23), (80, 80), (8000, 8100)], id="everything"),
        pytest.param(21, 22, [(21, 22)], id="inside"),
        pytest.param(22, 90, [(22, 23), (80, 80)], id="straddles"),
        pytest.param(24, 79, [], id="gap"),
        pytest.param(8100, 9000, [(8100, 8100)], id="upper-edge"),
        pytest.param(0, 20, [(20, 20)], id="lower-edge"),
    ],
)
def test_intersect_range_and_overlaps(low: int, high: int, expected: list) -> None:
    ports = PortSet([(20, 23), (80, 80), (8000, 8100)])
    assert ports.intersect_range(low, high) == expected
    assert ports.overlaps(low, high) is bool(expected)


def test_set_operations_examples() -> None:
    blocked = PortSet([(20, 23), (3389, 3389)])
    assert blocked.union(PortSet([(24, 25)])).ranges == ((20, 25), (3389, 3389))
    assert blocked.intersection(PortSet([(22, 3000)])).ranges == ((22, 23),)
    assert blocked.difference(PortSet([(21, 22)])).ranges == ((20, 20), (23, 23), (3389, 3389))
    assert blocked.difference(PortSet.all_ports()) == PortSet()
    assert PortSet.all_ports().difference(PortSet([(0, 0), (65535, 65535)])).ranges == ((1, 65534),)


small_ranges = st.lists(
    st.tuples(st.integers(0, 60), st.integers(0, 60)).map(lambda t: (min(t), max(t))),
    max_size=6,
)


@settings(max_examples=200, deadline=None)
@given(small_ranges, small_ranges)
def test_operations_agree_with_python_sets(a: list, b: list) -> None:
    left, right = PortSet(a), PortSet(b)
    sa, sb = as_set(left), as_set(right)
    assert sa == {p for lo, hi in a for p in range(lo, hi + 1)}
    assert as_set(left.union(right)) == sa | sb
    assert as_set(left.intersection(right)) == sa & sb
    assert as_set(left.difference(right)) == sa - sb
    assert len(left) == len(sa)
    # Canonical form: sorted, disjoint and never adjacent.
    for (_, hi), (lo, _) in zip(left.ranges, left.ranges[1:], strict=False):
        assert lo > hi + 1
