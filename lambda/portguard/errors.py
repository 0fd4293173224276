"""Errors raised by portguard. Each message names what is wrong, for the operator reading logs."""

from __future__ import annotations


class PortguardError(Exception):
    """Base class of every error portguard raises on purpose."""


class InvalidParameterError(PortguardError, ValueError):
    """A rule parameter (or a CDK context value feeding one) is not valid."""

    def __init__(self, name: str, value: object, reason: str) -> None:
        self.name = name
        self.value = value
        self.reason = reason
        super().__init__(f"invalid rule parameter {name}={value!r}: {reason}")


class InvalidEventError(PortguardError, ValueError):
    """The Lambda event is not a Config rule event portguard can decide."""


class InvalidDeploymentError(PortguardError, ValueError):
    """The function's environment (which the CDK app sets) does not say how it is deployed in a
    way portguard can follow."""


class ItemNotFoundError(PortguardError):
    """An oversized item's configuration could not be fetched from Config's history."""


class EvaluationDeliveryError(PortguardError):
    """Some evaluations could not be delivered to Config after retries.

    Raised only after everything deliverable was delivered, so that Lambda retries the invocation.
    """

    def __init__(self, failed: list[dict[str, object]]) -> None:
        self.failed = failed
        ids = ", ".join(str(f.get("ComplianceResourceId")) for f in failed[:10])
        more = f" and {len(failed) - 10} more" if len(failed) > 10 else ""
        super().__init__(
            f"{len(failed)} evaluation(s) could not be delivered to AWS Config: {ids}{more}"
        )


class PrefixListUnavailableError(PortguardError):
    """A managed prefix list could not be read; the decision treats it as the whole internet."""

    def __init__(self, prefix_list_id: str, reason: str) -> None:
        self.prefix_list_id = prefix_list_id
        self.reason = reason
        super().__init__(f"prefix list {prefix_list_id} could not be read: {reason}")


class AccountAccessError(PortguardError):
    """Another account's role could not be assumed: it is missing there, or refuses the caller."""

    def __init__(self, account_id: str, role_arn: str, reason: str) -> None:
        self.account_id = account_id
        self.role_arn = role_arn
        self.reason = reason
        super().__init__(
            f"account {account_id}: cannot assume {role_arn}: {reason}. The role must exist in "
            "that account and trust this caller: portguard's organization deployment creates it "
            "in every member account (its StackSet) and, with its member-role stack, in the "
            "management account"
        )


class RemediationError(PortguardError):
    """A plan was refused, a rollback document is unusable, or EC2 refused a change."""


class StepError(RemediationError):
    """EC2 refused one change of a remediation or restore: says which, and how many changes of
    that step were done before it.

    ``step`` is what the run was doing (``adding``, ``removing``); ``change`` the change in
    words (``tcp rule from 0.0.0.0/0``); ``reason`` what AWS or botocore said.
    """

    def __init__(self, step: str, change: str, done: int, reason: str) -> None:
        self.step = step
        super().__init__(f"{step} {change} failed after {done} done: {reason}")
