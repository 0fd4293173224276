"""Clients of other AWS accounts, through a role in each: the organization's hub function reports
for every member account with that account's own credentials, and ``portguard scan --org`` reads
every account of an organization the same way.

- Credentials are assumed once per account (``sts:AssumeRole`` on
  ``arn:<partition>:iam::<account>:role/<role name>``) and kept: botocore's refreshable
  credentials assume the role again on their own a quarter of an hour before they expire, so a
  burst of work in one account costs one ``AssumeRole`` however long it lasts.
- The home account (the caller's own) uses the caller's credentials: no role is assumed there.
- Every client is made from one set of service models, loaded once: a client of a new session
  would load them again (about 14 ms of CPU each). Member sessions share the home session's
  event hooks too (botocore's handlers, and any the caller registers there).
- Thread-safe: the command line scans accounts on several threads.

A role that cannot be assumed (missing in that account, or refusing the caller) raises
:class:`~portguard.errors.AccountAccessError`, which names the account, the role and what to
deploy; other accounts are unaffected.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import botocore.session
from botocore.credentials import (
    CredentialProvider,
    CredentialResolver,
    DeferredRefreshableCredentials,
)
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from portguard.adapters import error_reason
from portguard.errors import AccountAccessError

if TYPE_CHECKING:
    from collections.abc import Callable

    from botocore.client import BaseClient
    from botocore.config import Config
    from botocore.credentials import Credentials

SESSION_NAME = "portguard"
"""The role session's name: what CloudTrail shows in each member account for portguard's calls."""


def role_arn(partition: str, account_id: str, role_name: str) -> str:
    """``arn:<partition>:iam::<account>:role/<role name>``."""
    return f"arn:{partition}:iam::{account_id}:role/{role_name}"


class AccountClients:
    """Clients of any account: the home account's with the session's own credentials, every
    other account's through ``role_name`` in it.

    ``session`` is the caller's botocore session (its credentials, its service models);
    ``home_account`` the account those credentials belong to; ``partition`` the one role ARNs
    are written in; ``region`` where STS is called (``None``: the session's). ``config`` is given
    to every client made (retries, timeouts). ``clock`` tells botocore the time (tests).
    """

    def __init__(
        self,
        session: botocore.session.Session,
        *,
        home_account: str,
        role_name: str,
        partition: str = "aws",
        region: str | None = None,
        config: Config | None = None,
        session_name: str = SESSION_NAME,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._home = session
        self.home_account = home_account
        self.role_name = role_name
        self.partition = partition
        self._region = region
        self._config = config
        self._session_name = session_name
        self._clock = clock or _now
        self._sessions: dict[str, botocore.session.Session] = {home_account: session}
        self._sts: Any = None
        # Sessions are not thread-safe, clients are: sessions are used under this lock.
        self._lock = threading.RLock()

    def role_arn(self, account_id: str) -> str:
        return role_arn(self.partition, account_id, self.role_name)

    def client(self, service: str, account_id: str, region: str) -> Any:
        """A client of ``service`` in ``account_id`` and ``region``. Its first use in a new
        account assumes the role there; :class:`AccountAccessError` when that is refused."""
        self.credentials(account_id)  # assumed now: a refusal is one clear error, here
        with self._lock:
            client: BaseClient = self._session(account_id).create_client(
                service, region_name=region, config=self._config
            )
        return client

    def credentials(self, account_id: str) -> Credentials:
        """The account's credentials: the session's own for the home account, else assumed
        through the role once and renewed by botocore before they expire;
        :class:`AccountAccessError` when the role cannot be assumed."""
        with self._lock:
            credentials = self._session(account_id).get_credentials()
        if credentials is None:  # only the home session can have none
            raise NoCredentialsError
        try:
            credentials.get_frozen_credentials()  # assumes the role the first time
        except (ClientError, BotoCoreError) as error:
            raise AccountAccessError(
                account_id, self.role_arn(account_id), error_reason(error)
            ) from error
        return credentials

    def forget(self, account_id: str) -> None:
        """Let go of a member account's session and credentials (tens of KB each): a scan of a
        thousand accounts keeps only the ones still in use. Its next client assumes the role
        again. The home account's session is the caller's and stays."""
        if account_id != self.home_account:
            with self._lock:
                self._sessions.pop(account_id, None)

    def _session(self, account_id: str) -> botocore.session.Session:
        """The account's session (made the first time), under the lock."""
        session = self._sessions.get(account_id)
        if session is None:
            session = self._sessions[account_id] = self._member_session(account_id)
        return session

    def _member_session(self, account_id: str) -> botocore.session.Session:
        """A session of ``account_id`` whose credentials come from assuming the role there,
        sharing the home session's loaded service models and its event hooks."""
        credentials = DeferredRefreshableCredentials(
            refresh_using=lambda: self._assume(account_id),
            method="assume-role",
            time_fetcher=self._clock,
        )
        # A session registers botocore's built-in handlers anew: ~110 KB of its ~137 KB (29 KB
        # sharing the home session's), and sessions are kept for every account for the process's
        # life (1,000 accounts: 137 MB, in a hub function of 256 MB). Clients copy the hooks.
        session = botocore.session.Session(
            event_hooks=self._home.get_component("event_emitter"), include_builtin_handlers=False
        )
        session.register_component("data_loader", self._home.get_component("data_loader"))
        session.register_component(
            "credential_provider", CredentialResolver([_Assumed(credentials)])
        )
        return session

    def _assume(self, account_id: str) -> dict[str, str]:
        """``sts:AssumeRole`` into the account, as botocore's refreshable credentials take it."""
        with self._lock:
            if self._sts is None:
                self._sts = self._home.create_client(
                    "sts", region_name=self._region, config=self._config
                )
        answer = self._sts.assume_role(
            RoleArn=self.role_arn(account_id), RoleSessionName=self._session_name
        )["Credentials"]
        return {
            "access_key": answer["AccessKeyId"],
            "secret_key": answer["SecretAccessKey"],
            "token": answer["SessionToken"],
            "expiry_time": answer["Expiration"].isoformat(),
        }


def _now() -> datetime:
    return datetime.now(UTC)


class _Assumed(CredentialProvider):
    """Hands a session the credentials assumed for its account, and nothing else: a member
    session must never fall back to the environment's credentials."""

    METHOD = "assume-role"

    def __init__(self, credentials: Credentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> Credentials:
        return self._credentials
