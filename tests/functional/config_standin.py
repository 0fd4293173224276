"""AWS Config for several accounts on the loopback (127.0.0.1), for the hub function's tests.

moto's own ``PutEvaluations`` works only in test mode and keeps no result tokens, so it cannot
tell whose credentials posted a result. This stand-in can: it reads who calls from the request's
SigV4 ``Authorization`` header (the access key id of its credential scope) and maps that key to
the account moto issued it for (``moto.iam.models.get_account_id_from``, the mapping moto itself
uses to keep accounts apart; a key moto never issued is moto's default account, the tests' own).

- Each result token belongs to the account :meth:`ConfigStandIn.token` made it for.
  ``PutEvaluations`` with another account's credentials is refused as Config refuses a token it
  did not issue to the caller (``InvalidResultTokenException``).
- ``GetResourceConfigHistory`` answers from the caller's own account's history only, as Config
  does (``ResourceNotDiscoveredException`` otherwise).
- Scripted trouble: :meth:`throttle` answers the next calls ``ThrottlingException``;
  :meth:`refuse_evaluations` puts evaluations in ``FailedEvaluations`` the next time.

Every request is kept in :attr:`ConfigStandIn.calls`. Point clients at it with
``AWS_ENDPOINT_URL_CONFIG_SERVICE`` (:attr:`ConfigStandIn.url`).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from moto.iam.models import get_account_id_from

if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import TracebackType

_CREDENTIAL = re.compile(
    r"Credential=(?P<key>[^/]+)/[0-9]{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/"
)


@dataclass(frozen=True)
class Call:
    """One request: the operation, the account whose credentials signed it (and their access key
    id), the region of the signature's scope, the request's JSON, and Config's answer: the
    error's ``__type`` when it refused the call, and how many evaluations (the first ones) it
    listed in ``FailedEvaluations``."""

    operation: str
    account: str
    access_key: str
    region: str
    request: dict[str, Any]
    refused: str | None = None
    failed: int = 0


class ConfigStandIn:
    """AWS Config for every account on one loopback port (see the module's docstring)."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._owners: dict[str, str] = {}
        self._history: dict[tuple[str, str], dict[str, Any]] = {}
        self._throttles = 0
        self._refusals: list[int] = []
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> ConfigStandIn:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- what the test sets up -----------------------------------------------------------------

    def token(self, account: str) -> str:
        """A new result token, as Config gives one to a rule of ``account``."""
        token = f"token-{next(self._numbers)}-of-{account}"
        self._owners[token] = account
        return token

    def record(self, account: str, item: Mapping[str, Any]) -> None:
        """``item`` (GetResourceConfigHistory's shape, as the AWS CLI prints it: the capture time
        an ISO string) in ``account``'s history."""
        self._history[(account, item["resourceId"])] = dict(item)

    def throttle(self, times: int) -> None:
        """Answer the next ``times`` calls ``ThrottlingException`` (HTTP 400)."""
        self._throttles = times

    def refuse_evaluations(self, count: int) -> None:
        """The next ``PutEvaluations`` lists its first ``count`` evaluations as failed."""
        self._refusals.append(count)

    # --- what the test reads -------------------------------------------------------------------

    def puts(self) -> list[Call]:
        """The PutEvaluations calls Config accepted."""
        return [c for c in self.calls if c.operation == "PutEvaluations" and c.refused is None]

    def owner(self, token: str) -> str:
        return self._owners[token]

    def posted(self) -> dict[str, list[tuple[str, str]]]:
        """Per account, the evaluations Config accepted: (resource id, compliance), in order."""
        posted: dict[str, list[tuple[str, str]]] = {}
        for call in self.puts():
            posted.setdefault(call.account, []).extend(
                (e["ComplianceResourceId"], e["ComplianceType"])
                for e in call.request["Evaluations"][call.failed :]
            )
        return posted

    # --- the server ------------------------------------------------------------------------------

    def _answer(self, operation: str, headers: Mapping[str, str], body: bytes) -> tuple[int, Any]:
        scope = _CREDENTIAL.search(headers.get("Authorization", ""))
        if scope is None or scope["service"] != "config":
            return 403, _error("MissingAuthenticationTokenException", "not signed for Config")
        account = get_account_id_from(scope["key"])
        request = json.loads(body or b"{}")
        with self._lock:
            status, answer = self._decide(operation, account, request)
            self.calls.append(
                Call(
                    operation,
                    account,
                    scope["key"],
                    scope["region"],
                    request,
                    refused=answer.get("__type") if status != 200 else None,
                    failed=len(answer.get("FailedEvaluations", [])),
                )
            )
        return status, answer

    def _decide(self, operation: str, account: str, request: dict[str, Any]) -> tuple[int, Any]:
        if self._throttles:
            self._throttles -= 1
            return 400, _error("ThrottlingException", "Rate exceeded")
        if operation == "PutEvaluations":
            if self._owners.get(request.get("ResultToken", "")) != account:
                # What Config answers a token it did not issue to the caller's account.
                return 400, _error(
                    "InvalidResultTokenException", "The specified ResultToken is not valid."
                )
            count = self._refusals.pop(0) if self._refusals else 0
            return 200, {"FailedEvaluations": request["Evaluations"][:count]}
        if operation == "GetResourceConfigHistory":
            item = self._history.get((account, request.get("resourceId", "")))
            if item is None:
                return 400, _error(
                    "ResourceNotDiscoveredException",
                    f"Resource {request.get('resourceId')} of resourceType:"
                    f"{request.get('resourceType')} is unknown or has not been discovered",
                )
            wire = dict(item)
            wire["configurationItemCaptureTime"] = datetime.fromisoformat(
                item["configurationItemCaptureTime"]
            ).timestamp()
            return 200, {"configurationItems": [wire]}
        return 400, _error("InvalidAction", f"the stand-in does not answer {operation}")

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                operation = self.headers.get("X-Amz-Target", "").rsplit(".", 1)[-1]
                status, answer = stand_in._answer(operation, self.headers, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("x-amzn-RequestId", "stand-in")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: object) -> None:  # quiet
                return

        return Handler


def _error(kind: str, message: str) -> dict[str, str]:
    """An error in the JSON 1.1 protocol, as Config answers one."""
    return {"__type": kind, "message": message}
