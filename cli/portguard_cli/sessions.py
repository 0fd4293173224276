"""AWS sessions for the commands that call AWS: the profile and its credentials checked before
any call (:func:`open_session`), the region as the AWS CLI reads it (:func:`default_region`),
the clients' settings (:data:`CLIENT_CONFIG`), and what an AWS error means for the user, in one
line (:func:`explain`).
"""

from __future__ import annotations

import os

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
# The IAM service prefix of the calls portguard makes outside EC2 (`invoke` runs the handler).
_SERVICE_PREFIXES = {"PutEvaluations": "config", "GetResourceConfigHistory": "config"}
_SSO_ERRORS = (SSOTokenLoadError, UnauthorizedSSOTokenError, TokenRetrievalError)


def explain(error: ClientError | BotoCoreError, region: str) -> str:
    """What went wrong and what to do about it, in one line. Errors that are the same in every
    region (credentials) do not name the region, so that they are printed once."""
    if isinstance(error, ClientError):
        return _explain_client_error(error, region)
    if isinstance(error, NoCredentialsError):
        return NO_CREDENTIALS
    if isinstance(error, _SSO_ERRORS):
        return f"{EXPIRED}: {error}"
    if isinstance(error, EndpointConnectionError):
        return f"{region}: cannot reach {error.kwargs.get('endpoint_url')}: check the network"
    return f"{region}: {error}"


def _explain_client_error(error: ClientError, region: str) -> str:
    code = error_code(error)
    message = str(error.response.get("Error", {}).get("Message", "")) or str(error)
    if code in _EXPIRED_CODES:
        return f"{EXPIRED} ({code})"
    if code in _INVALID_CODES:
        return f"credentials not valid ({code}): {message}"
    if code in _DENIED_CODES:
        action = f"{_SERVICE_PREFIXES.get(error.operation_name, 'ec2')}:{error.operation_name}"
        return f"{region}: access denied to {action}: {message}"
    if code == "OptInRequired":
        return f"{region}: the region is not enabled for this account (OptInRequired)"
    if code == "AuthFailure":
        return (
            f"{region}: AWS did not accept the credentials here (AuthFailure): the region may "
            f"not be enabled for this account, or the credentials are not valid: {message}"
        )
    return f"{region}: {error}"


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
