"""AWS sessions for the commands that call AWS: the profile and its credentials checked before
any call (:func:`open_session`), the region as the AWS CLI reads it (:func:`default_region`) and
regions checked against those boto3 knows (:func:`check_regions`), the clients' settings
(:data:`CLIENT_CONFIG`), and what an AWS error means for the user, in one line (:func:`explain`,
:func:`explanation`).
"""

from __future__ import annotations

import difflib
import os
from typing import TYPE_CHECKING, NamedTuple

import boto3
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ProfileNotFound,
    SSOTokenLoadError,
    TokenRetrievalError,
    UnauthorizedSSOTokenError,
)

from portguard.adapters import client_config, error_code
from portguard_cli.inputs import UsageError

if TYPE_CHECKING:
    from collections.abc import Sequence

    import botocore.session

# portguard's client settings (retries, timeouts), with the command line named in the user agent:
# in CloudTrail, a call the command made is told from one the deployed rule made.
CLIENT_CONFIG = client_config("portguard-cli")

NO_CREDENTIALS = (
    "no AWS credentials found: run `aws configure` or `aws sso login`, or set AWS_PROFILE"
)
EXPIRED = "credentials expired: refresh them (`aws sso login`, or new temporary credentials)"
_EXPIRED_CODES = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired"})
_INVALID_CODES = frozenset(
    {"InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch"}
)
_DENIED_CODES = frozenset({"UnauthorizedOperation", "AccessDenied", "AccessDeniedException"})
# The IAM service prefix of the calls portguard makes outside EC2 (`invoke` runs the handler,
# `scan` reads an organization and an aggregator).
_SERVICE_PREFIXES = {
    "PutEvaluations": "config",
    "GetResourceConfigHistory": "config",
    "SelectAggregateResourceConfig": "config",
    "ListAccounts": "organizations",
    "AssumeRole": "sts",
    "GetCallerIdentity": "sts",
}
_SSO_ERRORS = (SSOTokenLoadError, UnauthorizedSSOTokenError, TokenRetrievalError)


class Explanation(NamedTuple):
    """What an AWS error means for the user: ``cause`` in words that are the same wherever it
    happened (so that a scan of many accounts says it once for all of them), ``detail`` AWS's
    own words, which may name an account or a principal (``""`` when there are none), and
    whether it is about the caller's own credentials, the same in every region (``everywhere``).
    """

    cause: str
    detail: str = ""
    everywhere: bool = False

    def in_region(self, region: str) -> str:
        """One line: the region first, unless it is the same everywhere."""
        text = self.cause if self.everywhere else f"{region}: {self.cause}"
        return f"{text}: {self.detail}" if self.detail else text


def explain(error: ClientError | BotoCoreError, region: str) -> str:
    """What went wrong and what to do about it, in one line. Errors that are the same in every
    region (credentials) do not name the region, so that they are printed once."""
    return explanation(error).in_region(region)


def explanation(error: ClientError | BotoCoreError) -> Explanation:
    """An AWS error in the user's words (:class:`Explanation`)."""
    if isinstance(error, ClientError):
        return _explain_client_error(error)
    if isinstance(error, NoCredentialsError):
        return Explanation(NO_CREDENTIALS, everywhere=True)
    if isinstance(error, _SSO_ERRORS):
        return Explanation(EXPIRED, str(error), everywhere=True)
    if isinstance(error, EndpointConnectionError):
        endpoint = error.kwargs.get("endpoint_url")
        return Explanation(f"cannot reach {endpoint}: check the network")
    return Explanation(str(error))


def _explain_client_error(error: ClientError) -> Explanation:
    code = error_code(error)
    message = str(error.response.get("Error", {}).get("Message", "")) or str(error)
    if code in _EXPIRED_CODES:
        return Explanation(f"{EXPIRED} ({code})", everywhere=True)
    if code in _INVALID_CODES:
        return Explanation(f"credentials not valid ({code})", message, everywhere=True)
    if code in _DENIED_CODES:
        action = f"{_SERVICE_PREFIXES.get(error.operation_name, 'ec2')}:{error.operation_name}"
        return Explanation(f"access denied to {action}", message)
    if code == "OptInRequired":
        return Explanation("the region is not enabled for this account (OptInRequired)")
    if code == "AuthFailure":
        return Explanation(
            "AWS did not accept the credentials here (AuthFailure): the region may not be "
            "enabled for this account, or the credentials are not valid",
            message,
        )
    return Explanation(str(error))


def open_session(profile: str | None) -> boto3.Session:
    """A session for ``--profile`` (or the environment's), with credentials: otherwise every call
    would fail the same way, so it is said once, before any."""
    try:
        session = boto3.Session(profile_name=profile)
    except ProfileNotFound as error:
        raise UsageError(
            f"{error}: check --profile or AWS_PROFILE (aws configure list-profiles)"
        ) from error
    require_credentials(session)
    return session


def require_credentials(session: boto3.Session) -> None:
    """Without credentials every region would fail the same way: say it once, before any."""
    try:
        credentials = session.get_credentials()
    except BotoCoreError as error:  # a profile's credential_process or SSO setup failing
        raise UsageError(explain(error, session.region_name or "")) from error
    if credentials is None:
        raise UsageError(NO_CREDENTIALS)


def default_region(session: boto3.Session) -> str | None:
    """AWS_REGION, as the AWS CLI and the Lambda runtime read it (boto3 reads only
    AWS_DEFAULT_REGION), else the session's: AWS_DEFAULT_REGION or the profile's."""
    return os.environ.get("AWS_REGION") or session.region_name


def check_regions(session: boto3.Session, regions: Sequence[str]) -> None:
    """:class:`UsageError` for a region this boto3 does not know, with the closest it knows."""
    known = {
        r
        for partition in session.get_available_partitions()
        for r in session.get_available_regions("ec2", partition_name=partition)
    }
    for region in regions:
        if region not in known:
            close = difflib.get_close_matches(region, sorted(known), n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise UsageError(
                f"unknown region {region!r}: {hint}(a region newer than this boto3 "
                "needs an upgrade: pip install -U boto3)"
            )


def core_of(session: boto3.Session) -> botocore.session.Session:
    """The botocore session a boto3 session wraps, for
    :class:`~portguard.adapters.accounts.AccountClients`, which makes every account's clients
    from its service models, loaded once. boto3 keeps it as ``_session`` and offers no other
    way to it."""
    core: botocore.session.Session = session._session
    return core
