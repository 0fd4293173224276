"""The tests' data: our own fixtures, and where the third-party captures are.

``tests/fixtures`` holds files written for portguard in the shapes AWS produces (see its
README.md). Third-party captures stay outside the repository and are read in place, never
copied in. Two folders of real AWS data recorded by other projects are used, when they are there:

- ``real-events``: Config rule events and API responses (provenance in its ``SOURCES.md``);
- ``real-data``: 341 captures with the verdicts they must get (``expected.json``, ``SOURCES.tsv``).

Each is found the same way, by the tests and by the benchmark: the environment variable
(``PORTGUARD_REAL_EVENTS``, ``PORTGUARD_REAL_DATA``) first, else ``../shared/<name>`` beside the
repository. A folder that is simply absent (a fresh clone elsewhere) is no error: what reads it
is skipped, saying why. A variable that names no folder is an error: it was asked for.

Plain Python (no pytest), so that ``python -m bench`` can use it too.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parents[1]
FIXTURES = REPOSITORY / "tests" / "fixtures"


def fixture(name: str) -> Any:
    """A file of ``tests/fixtures``, as JSON."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def as_boto3_history(response: dict[str, Any]) -> dict[str, Any]:
    """A GetResourceConfigHistory response as the AWS CLI prints it (capture times as ISO
    strings), with the capture times as boto3 returns them: ``datetime`` objects."""
    for item in response["configurationItems"]:
        item["configurationItemCaptureTime"] = datetime.fromisoformat(
            item["configurationItemCaptureTime"]
        )
    return response


class SharedDataError(ValueError):
    """An environment variable names a folder of captures that is not there."""


@dataclass(frozen=True, slots=True)
class SharedFolder:
    """One folder of third-party captures, found or not."""

    name: str
    variable: str
    path: Path

    @property
    def present(self) -> bool:
        return self.path.is_dir()

    @property
    def absent_reason(self) -> str:
        """Why what reads the folder does not run, in a line."""
        return (
            f"{self.name}: no folder {self.path} (third-party captures, not part of the "
            f"repository); set {self.variable} to where they are to read them in place"
        )


def find(name: str, variable: str) -> SharedFolder:
    """The folder ``name`` of the shared captures: ``$variable`` first, else
    ``<repository>/../shared/<name>``. Raises :class:`SharedDataError` when the variable is set
    to something that is not a folder."""
    value = os.environ.get(variable, "").strip()
    if value:
        path = Path(value).expanduser().resolve()
        if not path.is_dir():
            raise SharedDataError(f"{variable}={value}: no such folder of {name}")
        return SharedFolder(name, variable, path)
    return SharedFolder(name, variable, REPOSITORY.parent / "shared" / name)


def real_events() -> SharedFolder:
    """Config events and API responses captured by other projects (see its SOURCES.md)."""
    return find("real-events", "PORTGUARD_REAL_EVENTS")


def real_data() -> SharedFolder:
    """Captures with their expected verdicts (``inputs/``, ``expected.json``)."""
    return find("real-data", "PORTGUARD_REAL_DATA")
