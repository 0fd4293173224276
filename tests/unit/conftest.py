"""Fixtures of the core's unit tests. Plain helpers live in ``core_helpers``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from portguard.errors import PrefixListUnavailableError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence


@pytest.fixture
def unreadable() -> Callable[[str], Sequence[str]]:
    """A prefix-list resolver that can read nothing (access denied for every list)."""

    def resolve(prefix_list_id: str) -> Sequence[str]:
        raise PrefixListUnavailableError(prefix_list_id, "AccessDenied")

    return resolve
