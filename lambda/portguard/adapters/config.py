"""AWS Config: deliver evaluations in as few PutEvaluations calls as possible, lose none."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from portguard.errors import EvaluationDeliveryError, ItemNotFoundError
from portguard.events import TEST_MODE_TOKEN

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from mypy_boto3_config import ConfigServiceClient
    from mypy_boto3_config.type_defs import EvaluationTypeDef

MAX_BATCH = 100
"""PutEvaluations takes at most 100 evaluations a call."""


class EvaluationSink:
    """Sends evaluations to Config in batches of 100 as they come, so a sweep stays small.

    Throttling and server errors are retried by the client (botocore's standard retry mode).
    Evaluations Config reports in ``FailedEvaluations`` are sent again, up to ``resend_attempts``
    times with backoff. Whatever still fails is raised as :class:`EvaluationDeliveryError` by
    :meth:`flush`, after every other batch was delivered.
    """

    def __init__(
        self,
        client: ConfigServiceClient,
        result_token: str,
        *,
        resend_attempts: int = 3,
        backoff_seconds: float = 0.5,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._client = client
        self._token = result_token
        self._resend_attempts = resend_attempts
        self._backoff = backoff_seconds
        self._sleep = sleep if sleep is not None else time.sleep
        self._pending: list[EvaluationTypeDef] = []
        self._failed: list[EvaluationTypeDef] = []
        self._errors: list[str] = []
        self.calls = 0

    def add(self, evaluation: EvaluationTypeDef) -> None:
        self._pending.append(evaluation)
        if len(self._pending) == MAX_BATCH:
            self._send_pending()

    def flush(self) -> None:
        """Send what is pending; raise if anything could not be delivered."""
        if self._pending:
            self._send_pending()
        if self._failed:
            error = EvaluationDeliveryError([dict(e) for e in self._failed])
            if self._errors:
                raise error from RuntimeError("; ".join(self._errors))
            raise error

    def _send_pending(self) -> None:
        batch, self._pending = self._pending, []
        for attempt in range(self._resend_attempts + 1):
            if attempt:
                self._sleep(self._backoff * 2 ** (attempt - 1))
            try:
                batch = self._put(batch)
            except (ClientError, BotoCoreError) as exc:
                # The client already retried what is worth retrying; keep going with the other
                # batches and report this one at the end.
                self._errors.append(str(exc))
                self._failed.extend(batch)
                return
            if not batch:
                return
        self._failed.extend(batch)

    def _put(self, batch: list[EvaluationTypeDef]) -> list[EvaluationTypeDef]:
        """One PutEvaluations call; returns the evaluations Config did not accept."""
        kwargs: dict[str, Any] = {"Evaluations": batch, "ResultToken": self._token}
        if self._token == TEST_MODE_TOKEN:
            kwargs["TestMode"] = True
        self.calls += 1
        response = self._client.put_evaluations(**kwargs)
        failed: list[EvaluationTypeDef] = list(response.get("FailedEvaluations") or [])  # type: ignore[arg-type]
        return failed


def fetch_history_item(
    client: ConfigServiceClient, resource_type: str, resource_id: str, capture_time: str | None
) -> Mapping[str, Any]:
    """The configuration item an oversized notification points to, from Config's history."""
    kwargs: dict[str, Any] = {"resourceType": resource_type, "resourceId": resource_id, "limit": 1}
    if capture_time:
        kwargs["laterTime"] = capture_time
    response = client.get_resource_config_history(**kwargs)
    items = response.get("configurationItems") or []
    if not items:
        raise ItemNotFoundError(
            f"GetResourceConfigHistory returned no configuration item for {resource_type} "
            f"{resource_id} at or before {capture_time}"
        )
    return items[0]
