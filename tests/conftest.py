"""Fixtures every layer of tests may use: the folders of third-party captures, read in place.

A test that asks for one is skipped, saying why, when the folder is not there (a clone without
``../shared``); see ``shared_data``. Plain helpers live in ``shared_data``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from shared_data import SharedFolder, real_data, real_events

if TYPE_CHECKING:
    from pathlib import Path


def _present(folder: SharedFolder) -> Path:
    if not folder.present:
        pytest.skip(folder.absent_reason)
    return folder.path


@pytest.fixture(scope="session")
def real_events_dir() -> Path:
    """The folder of real Config events and API responses (``PORTGUARD_REAL_EVENTS``)."""
    return _present(real_events())


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The folder of real captures with their expected verdicts (``PORTGUARD_REAL_DATA``)."""
    return _present(real_data())
