"""The hub function's clients: an organization rule's invocations come from every member account,
and the hub answers each with that account's own Config and EC2 clients, in its own region.

- A member account's clients use credentials assumed through the member role there
  (:class:`~portguard.adapters.accounts.AccountClients`: once per account for the container's
  life, renewed before they expire); the function's own account uses its own credentials.
- The function learns its own account and partition from its ARN (the Lambda context's
  ``invoked_function_arn``, no call needed), its region from ``AWS_REGION``.
- The clients of the last few accounts are kept for the next invocation: a burst from one
  account makes them once. Only a few, because an EC2 client costs about 1.4 MB and 15 ms to make
  (Config's 0.3 MB and 5 ms, measured on this machine), and a container of the hub may serve
  hundreds of accounts in its life; the credentials, which are small, are kept for all of them.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from functools import cached_property
from typing import TYPE_CHECKING

import botocore.session

from portguard.adapters import client_config
from portguard.adapters.accounts import AccountClients
from portguard.arns import parse_arn
from portguard.errors import InvalidDeploymentError

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from mypy_boto3_config import ConfigServiceClient
    from mypy_boto3_ec2 import EC2Client

KEPT_ACCOUNTS = 8
"""How many accounts' clients are kept between invocations (at most ~14 MB)."""


class AccountServices:
    """The Config and EC2 clients of one account in the hub's region, each made on first use
    (a change event needs no EC2 client unless a prefix list must be read)."""

    def __init__(self, accounts: AccountClients, account_id: str, region: str) -> None:
        self._accounts = accounts
        self.account_id = account_id
        self.region = region

    @cached_property
    def config(self) -> ConfigServiceClient:
        client: ConfigServiceClient = self._accounts.client("config", self.account_id, self.region)
        return client

    @cached_property
    def ec2(self) -> EC2Client:
        client: EC2Client = self._accounts.client("ec2", self.account_id, self.region)
        return client


class OrganizationClients:
    """Each account's clients for the hub function, through ``member_role_name`` in every
    account but its own.

    ``region``: the function's (``None``: ``AWS_REGION``, else the session's); ``session``: the
    botocore session whose credentials are the function's own (``None``: a new one, made on first
    use); ``clock`` tells botocore the time (tests); ``kept_accounts``: how many accounts' clients
    are kept between invocations.
    """

    def __init__(
        self,
        member_role_name: str,
        *,
        region: str | None = None,
        session: botocore.session.Session | None = None,
        clock: Callable[[], datetime] | None = None,
        kept_accounts: int = KEPT_ACCOUNTS,
    ) -> None:
        self.member_role_name = member_role_name
        self._session = session
        self._clock = clock
        self._kept_accounts = kept_accounts
        self._accounts: AccountClients | None = None
        self.region = region or ""
        """The function's region, where every account's clients are made (known on first use)."""
        self._kept: OrderedDict[str, AccountServices] = OrderedDict()
        self._lock = threading.Lock()

    def clients(self, account_id: str, function_arn: str | None) -> AccountServices:
        """The clients of ``account_id``, whose credentials are ready: a member's role is
        assumed the first time (and again when the credentials are due for renewal), so that a
        role that is missing or refuses is one
        :class:`~portguard.errors.AccountAccessError` here, before anything is read or posted.

        ``function_arn`` is the hub's own (the Lambda context's ``invoked_function_arn``).
        """
        with self._lock:
            accounts = self._account_clients(function_arn)
        accounts.credentials(account_id)
        with self._lock:
            services = self._kept.pop(account_id, None)
            if services is None:
                services = AccountServices(accounts, account_id, self.region)
            self._kept[account_id] = services
            while len(self._kept) > self._kept_accounts:
                self._kept.popitem(last=False)
        return services

    def _account_clients(self, function_arn: str | None) -> AccountClients:
        """The account clients of the function ``function_arn`` names (made the first time)."""
        arn = parse_arn(function_arn)
        if arn is None or arn.service != "lambda" or not arn.account:
            raise InvalidDeploymentError(
                f"the hub cannot tell its own account from its function's ARN {function_arn!r} "
                "(the Lambda context's invoked_function_arn)"
            )
        if self._accounts is None:
            session = self._session or botocore.session.get_session()
            region = (
                self.region or os.environ.get("AWS_REGION") or session.get_config_variable("region")
            )
            if not region:
                raise InvalidDeploymentError("the hub has no region: AWS_REGION is not set")
            self.region = region
            self._accounts = AccountClients(
                session,
                home_account=arn.account,
                role_name=self.member_role_name,
                partition=arn.partition,
                region=region,
                config=client_config(),
                clock=self._clock,
            )
        accounts = self._accounts
        if (accounts.partition, accounts.home_account) != (arn.partition, arn.account):
            raise InvalidDeploymentError(
                f"the hub's function was {accounts.home_account} in {accounts.partition} and is "
                f"now {function_arn!r}: one container serves one function"
            )
        return accounts
