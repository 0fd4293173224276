"""The rule as the Lambda runs it: :class:`PortguardRule` reads a Config event, decides and
delivers the evaluations; :func:`make_handler` wraps a rule into a Lambda handler with Powertools'
structured logging and metrics.

The Lambda's entry point, :mod:`portguard.handler`, is this module's handler around the
container's rule. The command line (``portguard invoke``, the sandbox) builds its own around its
clients and never imports :mod:`portguard.handler`, which freezes the collector for the Lambda.

This module only wires: the decision is in :mod:`portguard.decision`, AWS access in
:mod:`portguard.adapters`. Clients are injected; those a rule is not given it makes on first use,
with portguard's client settings (:func:`portguard.adapters.client_config`).

The hub of an organization deployment is the same rule given the organization's clients
(:class:`~portguard.adapters.organization.OrganizationClients`): each invocation's account is
read from the event and checked (:func:`portguard.events.member_account`), and everything that
invocation reads and posts uses that account's clients. :func:`container_rule` builds the rule
the function's environment describes.
"""

from __future__ import annotations

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
from portguard.adapters.organization import OrganizationClients
from portguard.decision import PrefixListResolver, evaluate_group, evaluate_item
from portguard.definition import member_role_name
from portguard.events import Invocation, MessageType, member_account, parse_event
from portguard.model import SECURITY_GROUP_TYPE, Compliance, ConfigItem, Verdict
from portguard.reader import parse_configuration_item, parse_ec2_group

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Protocol

    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_config import ConfigServiceClient
    from mypy_boto3_config.type_defs import EvaluationTypeDef
    from mypy_boto3_ec2 import EC2Client

    LambdaHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]
    """What Lambda calls: the event and the context in, the handler's summary out."""

    class Clients(Protocol):
        """The clients of the account an invocation reports for."""

        @property
        def config(self) -> ConfigServiceClient: ...
        @property
        def ec2(self) -> EC2Client: ...


SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "portguard")
logger = Logger(service=SERVICE)
metrics = Metrics(
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "portguard"), service=SERVICE
)

ACCOUNT_KEY = "account_id"
"""The log key, and the metrics' metadata key, naming the account an organization's hub
reported for."""

_METRIC_NAMES = {
    Compliance.COMPLIANT: "CompliantEvaluations",
    Compliance.NON_COMPLIANT: "NonCompliantEvaluations",
    Compliance.NOT_APPLICABLE: "NotApplicableEvaluations",
}


class PortguardRule:
    """The rule: reads an event, decides, delivers. Its clients are injected (the command
    line's, a test's stubs); a client not given is made on first use and kept, as the Lambda's
    container keeps them.

    With ``organization`` it is an organization's hub: each invocation uses the clients of the
    account it reports for, which ``organization`` makes (clients are then not injected).
    ``today`` fixes the date exemptions are judged on (UTC); by default, the day of the call.
    """

    def __init__(
        self,
        *,
        config_client: ConfigServiceClient | None = None,
        ec2_client: EC2Client | None = None,
        today: date | None = None,
        organization: OrganizationClients | None = None,
    ) -> None:
        if organization is not None and (config_client is not None or ec2_client is not None):
            raise ValueError(
                "an organization's rule uses each account's own clients: inject none of its own"
            )
        self._config = config_client
        self._ec2 = ec2_client
        self._today = today
        self._organization = organization

    @property
    def config(self) -> ConfigServiceClient:
        if self._config is None:
            self._config = boto3.client("config", config=client_config())
        return self._config

    @property
    def ec2(self) -> EC2Client:
        if self._ec2 is None:
            self._ec2 = boto3.client("ec2", config=client_config())
        return self._ec2

    def handle(self, event: object, *, function_arn: str | None = None) -> dict[str, Any]:
        """Decide and deliver; return a summary. Raise on a bad event or undelivered evaluations.

        An organization's hub also raises when the event's account ids disagree, or when the
        account's role cannot be assumed; ``function_arn`` (the Lambda context's
        ``invoked_function_arn``) tells it its own account and partition. A rule of one account
        does not read it.
        """
        # A warm container (or the CLI) calls this many times: start each call with no keys.
        logger.remove_keys(["rule_name", "message_type", "resource_id", ACCOUNT_KEY])
        invocation = parse_event(event)  # validates parameters too: nothing is posted before
        logger.append_keys(
            rule_name=invocation.rule_name, message_type=invocation.message_type.value
        )
        clients = self._clients_of(invocation, function_arn)
        today = self._today or datetime.now(UTC).date()
        resolver = self._prefix_list_resolver(clients)
        counts: Counter[Compliance] = Counter()
        sink = EvaluationSink(clients.config, invocation.result_token)

        if invocation.message_type is MessageType.SCHEDULED:
            ordering = _timestamp(invocation.notification_time)
            for raw in iter_security_groups(clients.ec2):
                group = parse_ec2_group(raw)
                verdict = evaluate_group(
                    group, invocation.parameters, resolve_prefix_list=resolver, today=today
                )
                _log_verdict(group.group_id, verdict)
                counts[verdict.compliance] += 1
                sink.add(_evaluation(SECURITY_GROUP_TYPE, group.group_id, verdict, ordering))
        else:
            item = self._item(invocation, clients)
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

    def _clients_of(self, invocation: Invocation, function_arn: str | None) -> Clients:
        """The clients of the account ``invocation`` reports for: the rule's own, or for an
        organization's hub those of the event's account, once its ids agree (before anything is
        assumed or posted)."""
        if self._organization is None:
            return self
        account_id = member_account(invocation)
        logger.append_keys(**{ACCOUNT_KEY: account_id})
        return self._organization.clients(account_id, function_arn)

    def _item(self, invocation: Invocation, clients: Clients) -> ConfigItem:
        item = parse_configuration_item(invocation.payload)
        if invocation.message_type is MessageType.CHANGE:
            return item
        # Oversized: the event carries only a summary. Decide NOT_APPLICABLE from it when we
        # can, before anything is fetched; otherwise read the item from Config's history.
        if item.resource_type != SECURITY_GROUP_TYPE or item.gone or invocation.event_left_scope:
            return item
        history = fetch_history_item(
            clients.config, item.resource_type, item.resource_id, item.capture_time
        )
        return parse_configuration_item(history)

    @staticmethod
    def _prefix_list_resolver(clients: Clients) -> PrefixListResolver:
        # One cache per invocation; the EC2 client is made only if a prefix list matters.
        cache: list[PrefixListCache] = []

        def resolve(prefix_list_id: str) -> tuple[str, ...]:
            if not cache:
                cache.append(PrefixListCache(clients.ec2))
            return cache[0](prefix_list_id)

        return resolve


def container_rule(environ: Mapping[str, str]) -> PortguardRule:
    """The rule a Lambda container runs, as the function's environment (set by the CDK app)
    describes it: one account's, or an organization's hub, which assumes the member role named
    there (:func:`portguard.definition.member_role_name`) in the function's region
    (``AWS_REGION``). Its clients are made on first use and kept while the container lives."""
    role_name = member_role_name(environ)
    if role_name is None:
        return PortguardRule()
    return PortguardRule(
        organization=OrganizationClients(role_name, region=environ.get("AWS_REGION"))
    )


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


def make_handler(rule: PortguardRule) -> LambdaHandler:
    """The Lambda handler around ``rule``: each invocation logs with the Lambda context
    (Powertools), records the evaluations' metrics and flushes them as EMF, and on failure logs
    one ERROR line, counts ``FailedInvocations`` and raises, so that Lambda retries it.

    :data:`portguard.handler.lambda_handler` is this around the container's rule;
    ``portguard invoke`` and the sandbox build one around their own clients.
    """

    @metrics.log_metrics
    @logger.inject_lambda_context(clear_state=True)
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        try:
            summary = rule.handle(event, function_arn=context.invoked_function_arn)
        except Exception as exc:
            # Bad input, undelivered evaluations, or AWS refusing a call (AccessDenied on EC2…):
            # one structured line that says what, then raise so that Lambda reports and retries.
            _metrics_name_the_account()
            metrics.add_metric(name="FailedInvocations", unit=MetricUnit.Count, value=1)
            logger.exception(
                "portguard could not complete this evaluation", extra={"error": str(exc)}
            )
            raise
        # Metrics are recorded here, not in handle(): a caller of handle() alone (a benchmark,
        # a test) must not leave them buffered in Powertools' module-wide Metrics.
        _metrics_name_the_account()
        for compliance, name in _METRIC_NAMES.items():
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=summary[compliance.value])
        metrics.add_metric(
            name="PutEvaluationsCalls", unit=MetricUnit.Count, value=summary["putEvaluationsCalls"]
        )
        return summary

    return lambda_handler


def _metrics_name_the_account() -> None:
    """An organization's hub: the metrics carry the account the log lines carry (once the event
    named a valid one), in the EMF record's metadata. Not as a dimension: each dimension value
    makes its own custom metric, billed monthly, and 1,000 accounts would make thousands."""
    account_id = logger.get_current_keys().get(ACCOUNT_KEY)
    if account_id:
        metrics.add_metadata(key=ACCOUNT_KEY, value=account_id)
