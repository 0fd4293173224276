"""AWS account ids and ARNs, read strictly: the hub function writes an event's account id into a
role's ARN (``arn:<partition>:iam::<account>:role/<name>``), so it takes only what AWS writes."""

from __future__ import annotations

import re
from typing import NamedTuple, TypeGuard

ACCOUNT_ID = re.compile(r"[0-9]{12}")
"""An AWS account id: exactly 12 ASCII digits (``\\d`` would take any script's digits)."""
_PARTITION = re.compile(r"aws(-[a-z]+)*")


class Arn(NamedTuple):
    """The parts of ``arn:<partition>:<service>:<region>:<account>:<resource>``."""

    partition: str
    service: str
    region: str
    account: str
    resource: str


def is_account_id(value: object) -> TypeGuard[str]:
    """Whether ``value`` is an account id as AWS writes it: a string of 12 ASCII digits.

    >>> is_account_id("012345678901"), is_account_id("0123456789012"), is_account_id(12345678901)
    (True, False, False)
    """
    return isinstance(value, str) and ACCOUNT_ID.fullmatch(value) is not None


def parse_arn(text: object) -> Arn | None:
    """The parts of an ARN, or ``None`` when ``text`` is none: six fields separated by colons
    (the resource may hold more), a partition ``aws`` or ``aws-…``, a service, and an account
    that is empty (IAM's region, S3's account) or an account id.

    >>> parse_arn("arn:aws:lambda:eu-west-1:111122223333:function:portguard").account
    '111122223333'
    """
    if not isinstance(text, str):
        return None
    parts = text.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    arn = Arn(*parts[1:])
    if not _PARTITION.fullmatch(arn.partition) or not arn.service:
        return None
    if arn.account and not is_account_id(arn.account):
        return None
    return arn
