"""Adapters between the pure core and AWS: Config (evaluations, history) and EC2 (groups, lists)."""

from __future__ import annotations

from botocore.config import Config
from botocore.exceptions import ClientError

from portguard import __version__


def client_config(user_agent: str = "") -> Config:
    """How portguard's AWS clients behave, in the Lambda and on the command line: botocore's
    standard retry mode (throttling and server errors retried with backoff, 8 attempts in all)
    and bounded timeouts."""
    return Config(
        retries={"mode": "standard", "max_attempts": 8},
        connect_timeout=5,
        read_timeout=30,
        user_agent_extra=f"portguard/{__version__}{f' {user_agent}' if user_agent else ''}",
    )


def error_code(error: ClientError) -> str:
    """The code of AWS's answer (``InvalidPermission.NotFound``, ``AccessDenied``), or ``""``
    when the answer carries none (an error botocore could not parse)."""
    return str(error.response.get("Error", {}).get("Code", ""))


def error_reason(error: Exception) -> str:
    """A refused call's code and AWS's message (``AccessDenied: User … is not authorized``), or
    what botocore said (no credentials, an endpoint it could not reach)."""
    if isinstance(error, ClientError):
        message = error.response.get("Error", {}).get("Message", "")
        code = error_code(error)
        return f"{code}: {message}" if message else code or str(error)
    return str(error) or type(error).__name__
