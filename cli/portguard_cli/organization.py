"""The accounts ``portguard scan --org`` and ``--accounts`` read, and how it reads them.

- :func:`caller`: who runs the scan (``sts:GetCallerIdentity``): its account is scanned with its
  own credentials, the others through ``--role``.
- :func:`organization_accounts`: the organization's active accounts
  (``organizations:ListAccounts``, every page), from the management account or a delegated
  administrator; :func:`parse_accounts` reads ``--accounts`` instead.
- :class:`MemberClients`: each (account, region) pair's EC2 client, through
  :class:`~portguard.adapters.accounts.AccountClients` (the role assumed once per account), each
  account let go once its last pair is done, so that memory does not grow with the accounts.
- :func:`refused_advice`: what to do when the role is refused, said once under the accounts.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from typing import TYPE_CHECKING, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from portguard.adapters import error_code
from portguard.definition import DEFAULT_MEMBER_ROLE_NAME
from portguard.errors import AccountAccessError
from portguard_cli.inputs import UsageError
from portguard_cli.sessions import CLIENT_CONFIG, explain

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import boto3
    from mypy_boto3_ec2 import EC2Client

    from portguard.adapters.accounts import AccountClients

DEFAULT_ROLE = DEFAULT_MEMBER_ROLE_NAME
"""The role the organization deployment creates in every member account."""

OTHER_ROLE = "OrganizationAccountAccessRole"
"""The role Organizations creates in the accounts it creates: the usual alternative."""

ACTIVE = "ACTIVE"
_ACCOUNT_ID = re.compile(r"[0-9]{12}")


class Caller(NamedTuple):
    """Who runs the scan: ``sts:GetCallerIdentity``'s answer."""

    account_id: str
    arn: str

    @property
    def partition(self) -> str:
        """``aws``, ``aws-cn``, ``aws-us-gov``: role ARNs are written in it."""
        return self.arn.split(":")[1]


class Pair(NamedTuple):
    """An account and a region to scan; ``account_id`` is ``None`` for the caller's own account
    in a scan of regions only (``portguard scan --region``)."""

    account_id: str | None
    region: str


def caller(session: boto3.Session, region: str) -> Caller:
    """The caller's account and ARN; :class:`UsageError` when STS refuses (nothing else could
    work then)."""
    client = session.client("sts", region_name=region, config=CLIENT_CONFIG)
    try:
        identity = client.get_caller_identity()
    except (ClientError, BotoCoreError) as error:
        raise UsageError(f"cannot tell who you are: {explain(error, region)}") from error
    return Caller(identity["Account"], identity["Arn"])


def parse_accounts(values: Sequence[str]) -> list[str]:
    """``--accounts ID[,ID…]`` (repeatable), each account once, in the order given."""
    accounts: list[str] = []
    for value in values:
        for text in value.split(","):
            account = text.strip()
            if not _ACCOUNT_ID.fullmatch(account):
                shown = repr(account) if account else "an empty one"
                raise UsageError(
                    f"invalid --accounts {value!r}: {shown} is not an account id (12 digits)"
                )
            accounts.append(account)
    return list(dict.fromkeys(accounts))


def organization_accounts(session: boto3.Session, region: str) -> list[str]:
    """The ids of the organization's ACTIVE accounts, every page of ``ListAccounts``, in its
    order. Suspended, closing and closed accounts have nothing to scan. :class:`UsageError`
    when the organization cannot be read."""
    client = session.client("organizations", region_name=region, config=CLIENT_CONFIG)
    accounts = []
    try:
        for page in client.get_paginator("list_accounts").paginate():
            for account in page.get("Accounts", []):
                # `Status` is retired on 2026-09-09 in favour of `State` (Organizations API
                # reference, Account); either says ACTIVE for an account in use.
                state = account.get("State") or account.get("Status")
                if state == ACTIVE and "Id" in account:
                    accounts.append(account["Id"])
    except ClientError as error:
        code = error_code(error)
        if code == "AWSOrganizationsNotInUseException":
            raise UsageError(
                "this account is not in an organization (AWSOrganizationsNotInUseException): "
                "list the accounts to scan with --accounts ID,…"
            ) from error
        raise UsageError(
            f"cannot list the organization's accounts: {explain(error, region)}. --org reads "
            "them from the management account or a delegated administrator (for example of "
            "AWS Config); elsewhere, list them with --accounts ID,…"
        ) from error
    except BotoCoreError as error:
        raise UsageError(
            f"cannot list the organization's accounts: {explain(error, region)}"
        ) from error
    return accounts


def refused_advice(role_name: str, you: Caller) -> str:
    """What to do when accounts refuse ``role_name`` to the caller."""
    if role_name == DEFAULT_ROLE:
        return (
            f"{DEFAULT_ROLE}, the member role of portguard's organization deployment, trusts "
            "only the hub function's role unless the deployment names who scans: deploy it "
            "with -c portguard:scanPrincipals=ARN,… listing the role or user you scan as (you "
            f"are {you.arn}; docs/organization.md), and --role {DEFAULT_ROLE} works for them. "
            f"Otherwise scan with --role {OTHER_ROLE} (the role Organizations creates in the "
            "accounts it creates) or a read-only role of your own in each account."
        )
    return (
        f"The role {role_name} must exist in each account and trust you ({you.arn}) with "
        "sts:AssumeRole; the scan needs ec2:DescribeSecurityGroups and "
        "ec2:GetManagedPrefixListEntries through it (README, Scanning an organization)."
    )


class MemberClients:
    """EC2 clients of the pairs of a scan, made through ``accounts`` (thread-safe). Each
    account's role is assumed by the first of its pairs while the others wait, so an account
    that refuses it is asked once: its other pairs get the same refusal at once. Each account's
    session is let go (:meth:`AccountClients.forget`) when its last pair is :meth:`done`: a scan
    keeps only the accounts it is still reading."""

    def __init__(self, accounts: AccountClients, pairs: Iterable[Pair]) -> None:
        self.accounts = accounts
        self._pending = Counter(pair.account_id for pair in pairs)
        self._refused: dict[str, AccountAccessError] = {}
        self._assuming: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def ec2(self, pair: Pair) -> EC2Client:
        """The pair's client; :class:`AccountAccessError` when the account refuses the role."""
        account_id = pair.account_id or self.accounts.home_account
        with self._lock:
            assuming = self._assuming.setdefault(account_id, threading.Lock())
        with assuming:
            refused = self._refused.get(account_id)
            if refused is not None:  # a new exception: the first may be raised in another thread
                raise AccountAccessError(
                    refused.account_id, refused.role_arn, refused.reason
                ) from refused.__cause__
            try:
                self.accounts.credentials(account_id)
            except AccountAccessError as error:
                self._refused[account_id] = error
                raise
        client: EC2Client = self.accounts.client("ec2", account_id, pair.region)
        return client

    def done(self, pair: Pair) -> None:
        with self._lock:
            self._pending[pair.account_id] -= 1
            finished = self._pending[pair.account_id] <= 0
        if finished and pair.account_id is not None:
            self.accounts.forget(pair.account_id)
            with self._lock:
                self._assuming.pop(pair.account_id, None)
