"""What an AWS error means for the user, in one line (``portguard_cli.sessions.explain``), as
every command that calls AWS says it. The sessions themselves (profiles, credentials, regions) are
tested through the commands: ``test_scan``, ``test_invoke``, ``test_remediate``."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
    SSOTokenLoadError,
)

from portguard_cli import sessions


def client_error(code: str, message: str = "details") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "DescribeSecurityGroups")


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (NoCredentialsError(), sessions.NO_CREDENTIALS),
        (client_error("ExpiredToken"), f"{sessions.EXPIRED} (ExpiredToken)"),
        (client_error("ExpiredTokenException"), f"{sessions.EXPIRED} (ExpiredTokenException)"),
        (client_error("RequestExpired"), f"{sessions.EXPIRED} (RequestExpired)"),
        (
            SSOTokenLoadError(error_msg="token gone"),
            f"{sessions.EXPIRED}: Error loading SSO Token: token gone",
        ),
        (
            client_error("InvalidClientTokenId", "bad key"),
            "credentials not valid (InvalidClientTokenId): bad key",
        ),
        (
            client_error("AccessDenied", "nope"),
            "ap-south-2: access denied to ec2:DescribeSecurityGroups: nope",
        ),
        (
            client_error("AccessDeniedException", "nope"),
            "ap-south-2: access denied to ec2:DescribeSecurityGroups: nope",
        ),
        (
            client_error("OptInRequired"),
            "ap-south-2: the region is not enabled for this account (OptInRequired)",
        ),
        (
            client_error("AuthFailure", "could not validate"),
            "ap-south-2: AWS did not accept the credentials here (AuthFailure): the region may "
            "not be enabled for this account, or the credentials are not valid: "
            "could not validate",
        ),
        (
            EndpointConnectionError(endpoint_url="https://ec2.ap-south-2.amazonaws.com/"),
            "ap-south-2: cannot reach https://ec2.ap-south-2.amazonaws.com/: check the network",
        ),
        (
            ReadTimeoutError(endpoint_url="https://ec2.ap-south-2.amazonaws.com/"),
            'ap-south-2: Read timeout on endpoint URL: "https://ec2.ap-south-2.amazonaws.com/"',
        ),
        (
            client_error("RequestLimitExceeded", "slow down"),
            "ap-south-2: An error occurred (RequestLimitExceeded) when calling the "
            "DescribeSecurityGroups operation: slow down",
        ),
    ],
)
def test_explain(error: Exception, message: str) -> None:
    assert sessions.explain(error, "ap-south-2") == message  # type: ignore[arg-type]
