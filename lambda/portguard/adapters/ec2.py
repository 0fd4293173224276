"""EC2: every security group of a region, and managed prefix lists resolved to their CIDRs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from portguard.adapters import error_code
from portguard.errors import PrefixListUnavailableError

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from mypy_boto3_ec2 import EC2Client

PAGE_SIZE = 1000
"""DescribeSecurityGroups' largest page: the fewest calls for a sweep."""


def iter_security_groups(client: EC2Client) -> Iterator[Mapping[str, Any]]:
    """Every security group of the client's region, page by page (never all held at once)."""
    paginator = client.get_paginator("describe_security_groups")
    for page in paginator.paginate(PaginationConfig={"PageSize": PAGE_SIZE}):
        yield from page.get("SecurityGroups", [])


class PrefixListCache:
    """Resolves managed prefix lists through ``GetManagedPrefixListEntries``, each list once.

    Make one per invocation: lists change, and a warm container must not serve stale entries.
    A list that cannot be read raises :class:`PrefixListUnavailableError` (and is remembered, so
    a sweep does not ask again for every group); the decision then fails closed.
    """

    def __init__(self, client: EC2Client) -> None:
        self._client = client
        self._entries: dict[str, tuple[str, ...] | PrefixListUnavailableError] = {}

    def __call__(self, prefix_list_id: str) -> tuple[str, ...]:
        if prefix_list_id not in self._entries:
            self._entries[prefix_list_id] = self._read(prefix_list_id)
        found = self._entries[prefix_list_id]
        if isinstance(found, PrefixListUnavailableError):
            raise found
        return found

    def _read(self, prefix_list_id: str) -> tuple[str, ...] | PrefixListUnavailableError:
        try:
            paginator = self._client.get_paginator("get_managed_prefix_list_entries")
            return tuple(
                entry["Cidr"]
                for page in paginator.paginate(PrefixListId=prefix_list_id)
                for entry in page.get("Entries", [])
                if "Cidr" in entry
            )
        except ClientError as exc:
            return PrefixListUnavailableError(prefix_list_id, error_code(exc) or "ClientError")
        except BotoCoreError as exc:
            return PrefixListUnavailableError(prefix_list_id, type(exc).__name__)
