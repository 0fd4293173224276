"""``sts:AssumeRole`` under moto, watched and refused, and the time botocore reads: for the tests
of other accounts' clients (``test_accounts``) and of the organization's hub (``test_hub``).

moto lets any role be assumed (it need not exist): a role that is missing, or that does not trust
the caller, is made here by answering ``AccessDenied`` as STS does, at the HTTP layer.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from botocore.awsrequest import AWSResponse

from portguard.arns import parse_arn

if TYPE_CHECKING:
    from collections.abc import Iterator

    import botocore.session

ACCESS_DENIED = (
    b'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
    b"<Code>AccessDenied</Code><Message>User: arn:aws:sts::123456789012:assumed-role/hub is not "
    b"authorized</Message></Error><RequestId>r</RequestId></ErrorResponse>"
)
"""STS's answer (HTTP 403) to a role that is missing or does not trust the caller: the two look
the same to the caller."""


class RawBody:
    """A raw HTTP body, as botocore reads one."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


class Clock:
    """The time botocore reads for the credentials' expiry, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def dates_credentials(self, session: botocore.session.Session) -> None:
        """Credentials assumed through ``session`` expire an hour after this clock's now, as STS
        dates them by its time. moto dates them by the real time, so that credentials renewed
        after the clock moved would seem close to expiry themselves, and be renewed again."""

        def date(parsed: dict[str, Any], **_: Any) -> None:
            if "Credentials" in parsed:
                parsed["Credentials"]["Expiration"] = self.now + timedelta(hours=1)

        session.register("after-call.sts.AssumeRole", date)


def assume_calls(session: botocore.session.Session) -> list[str]:
    """The role ARNs AssumeRole is called with through ``session``, from now on."""
    calls: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append(params["RoleArn"])

    session.register("provide-client-params.sts.AssumeRole", record)
    return calls


def refuse_assume_role(session: botocore.session.Session, *accounts: str) -> set[str]:
    """STS, through ``session``, refuses the roles of ``accounts`` with ``AccessDenied`` (moto
    answers the others). Returns the set of refused accounts, which the test may change later (a
    role deployed or deleted meanwhile): a client keeps the hooks its session had when it was
    made, so refusals that start later must be registered before the first call."""
    refused = set(accounts)

    def refuse(request: Any, **_: Any) -> AWSResponse | None:
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        arn = parse_arn(parse_qs(body or "").get("RoleArn", [""])[0])
        if arn is None or arn.account not in refused:
            return None
        return AWSResponse(request.url, 403, {}, RawBody(ACCESS_DENIED))  # type: ignore[arg-type]

    session.register("before-send.sts.AssumeRole", refuse)
    return refused
