"""Lambda entry point. AWS Config invokes ``lambda_handler`` on every security-group change
(``ConfigurationItemChangeNotification``, or ``Oversized…`` for items over 256 KB) and periodically
(``ScheduledNotification``), and portguard answers with ``PutEvaluations``.

This module only wires: the decision is in :mod:`portguard.decision`, AWS access in
:mod:`portguard.adapters`. Clients are made once per container, on first use, with botocore's
standard retry mode (throttling and server errors retried with backoff).
"""

from __future__ import annotations

import gc
import os
from collections import Counter
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from portguard.adapters import client_config
from portguard.adapters.config import EvaluationSink, fetch_history_item
from portguard.adapters.ec2 import PrefixListCache, iter_security_groups
from portguard.decision import PrefixListResolver, evaluate_group, evaluate_item
from portguard.events import Invocation, MessageType, parse_event
from portguard.model import SECURITY_GROUP_TYPE, Compliance, ConfigItem, Verdict
from portguard.reader import parse_configuration_item, parse_ec2_group

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_config import ConfigServiceClient
    from mypy_boto3_config.type_defs import EvaluationTypeDef
    from mypy_boto3_ec2 import EC2Client

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "portguard")
logger = Logger(service=SERVICE)
metrics = Metrics(
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "portguard"), service=SERVICE
)

CLIENT_CONFIG = client_config()

_METRIC_NAMES = {
    Compliance.COMPLIANT: "CompliantEvaluations",
    Compliance.NON_COMPLIANT: "NonCompliantEvaluations",
    Compliance.NOT_APPLICABLE: "NotApplicableEvaluations",
}


class PortguardRule:
    """The rule: reads an event, decides, delivers. Clients are injected in tests.

    ``today`` fixes the date exemptions are judged on (UTC); by default, the day of the call.
    """

    def __init__(
        self,
        *,
        config_client: ConfigServiceClient | None = None,
        ec2_client: EC2Client | None = None,
        today: date | None = None,
    ) -> None:
        self._config = config_client
        self._ec2 = ec2_client
        self._today = today

    @property
    def config(self) -> ConfigServiceClient:
        if self._config is None:
            self._config = boto3.client("config", config=CLIENT_CONFIG)
        return self._config

    @property
    def ec2(self) -> EC2Client:
        if self._ec2 is None:
            self._ec2 = boto3.client("ec2", config=CLIENT_CONFIG)
        return self._ec2

    def handle(self, event: object) -> dict[str, Any]:
        """Decide and deliver; return a summary. Raise on a bad event or undelivered evaluations."""
        # A warm container (or the CLI) calls this many times: start each call with no keys.
        logger.remove_keys(["rule_name", "message_type", "resource_id"])
        invocation = parse_event(event)  # validates parameters too: nothing is posted before
        logger.append_keys(
            rule_name=invocation.rule_name, message_type=invocation.message_type.value
        )
        today = self._today or datetime.now(UTC).date()
        resolver = self._prefix_list_resolver()
        counts: Counter[Compliance] = Counter()
        sink = EvaluationSink(self.config, invocation.result_token)

        if invocation.message_type is MessageType.SCHEDULED:
            ordering = _timestamp(invocation.notification_time)
            for raw in iter_security_groups(self.ec2):
                group = parse_ec2_group(raw)
                verdict = evaluate_group(
                    group, invocation.parameters, resolve_prefix_list=resolver, today=today
                )
                _log_verdict(group.group_id, verdict)
                counts[verdict.compliance] += 1
                sink.add(_evaluation(SECURITY_GROUP_TYPE, group.group_id, verdict, ordering))
        else:
            item = self._item(invocation)
            logger.append_keys(resource_id=item.resource_id)
            verdict = evaluate_item(
                item,
                invocation.parameters,
                resolve_prefix_list=resolver,
                today=today,
                event_left_scope=invocation.event_left_scope,
            )
            _log_verdict(item.resource_id, verdict)
            counts[verdict.compliance] += 1
            ordering = _timestamp(item.capture_time, invocation.notification_time)
            sink.add(_evaluation(item.resource_type, item.resource_id, verdict, ordering))

        sink.flush()
        summary = {
            "messageType": invocation.message_type.value,
            "testMode": invocation.test_mode,
            "evaluations": sum(counts.values()),
            "putEvaluationsCalls": sink.calls,
            **{c.value: counts[c] for c in Compliance},
        }
        logger.info("evaluations delivered", extra=summary)
        return summary

    def _item(self, invocation: Invocation) -> ConfigItem:
        item = parse_configuration_item(invocation.payload)
        if invocation.message_type is MessageType.CHANGE:
            return item
        # Oversized: the event carries only a summary. Decide NOT_APPLICABLE from it when we
        # can, before anything is fetched; otherwise read the item from Config's history.
        if item.resource_type != SECURITY_GROUP_TYPE or item.gone or invocation.event_left_scope:
            return item
        history = fetch_history_item(
            self.config, item.resource_type, item.resource_id, item.capture_time
        )
        return parse_configuration_item(history)

    def _prefix_list_resolver(self) -> PrefixListResolver:
        # One cache per invocation; the EC2 client is made only if a prefix list matters.
        cache: list[PrefixListCache] = []

        def resolve(prefix_list_id: str) -> tuple[str, ...]:
            if not cache:
                cache.append(PrefixListCache(self.ec2))
            return cache[0](prefix_list_id)

        return resolve


def _evaluation(
    resource_type: str, resource_id: str, verdict: Verdict, ordering: datetime
) -> EvaluationTypeDef:
    evaluation: EvaluationTypeDef = {
        "ComplianceResourceType": resource_type,
        "ComplianceResourceId": resource_id,
        "ComplianceType": verdict.compliance.value,
        "OrderingTimestamp": ordering,
    }
    if verdict.annotation:
        evaluation["Annotation"] = verdict.annotation
    return evaluation


def _timestamp(*candidates: str | None) -> datetime:
    """The first readable ISO 8601 time of ``candidates``, else now."""
    for text in candidates:
        if not text:
            continue
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            logger.warning("unreadable timestamp; trying the next", extra={"value": text})
    return datetime.now(UTC)


def _log_verdict(resource_id: str, verdict: Verdict) -> None:
    for warning in verdict.warnings:
        logger.warning(warning, extra={"resource_id": resource_id})
    extra = {
        "resource_id": resource_id,
        "compliance": verdict.compliance.value,
        "annotation": verdict.annotation,
    }
    if verdict.compliance is Compliance.NON_COMPLIANT:
        logger.info("security group open to the internet", extra=extra)
    else:
        logger.debug("security group evaluated", extra=extra)


rule = PortguardRule()
"""The container's rule: its clients are made on first use and kept while the container lives."""

# Everything imported so far lives as long as the container. Freezing it keeps the collector
# from walking it again: without this, making the first client set off a full collection over
# boto3's and Powertools' objects, ~45 ms of the cold start (measured by `make bench`).
gc.freeze()


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        summary = rule.handle(event)
    except Exception as exc:
        # Bad input, undelivered evaluations, or AWS refusing a call (AccessDenied on EC2…): one
        # structured line that says what, then raise so that Lambda reports and retries it.
        metrics.add_metric(name="FailedInvocations", unit=MetricUnit.Count, value=1)
        logger.exception("portguard could not complete this evaluation", extra={"error": str(exc)})
        raise
    # Metrics are recorded here, not in handle(): the CLI calls handle() and must not buffer them.
    for compliance, name in _METRIC_NAMES.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=summary[compliance.value])
    metrics.add_metric(
        name="PutEvaluationsCalls", unit=MetricUnit.Count, value=summary["putEvaluationsCalls"]
    )
    return summary
