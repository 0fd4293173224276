"""What a scan could not read, said once per cause.

A scan of an organization reads hundreds of (account, region) pairs, and one cause (a role the
member accounts refuse, a region none of them enabled) can hit many of them. Each failed pair is
a :class:`Failure`; :func:`describe` groups them by cause into one line each, naming the accounts
and regions it hit, shortened when there are many. A scan of the caller's own account (no
account named) says each region as the command always has: ``eu-west-1: access denied to …``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from botocore.exceptions import ClientError

from portguard.adapters import error_code
from portguard_cli.sessions import Explanation, explanation

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from botocore.exceptions import BotoCoreError

    from portguard.errors import AccountAccessError

SHOWN = 5
"""Accounts (or regions) named in a line before the rest are counted."""


class Failure(NamedTuple):
    """One (account, region) pair that could not be read, or a whole account (``region`` is
    ``None``: its role could not be assumed); ``account_id`` is ``None`` in a scan of the
    caller's own account. ``advice`` is what to do about it, said once after the lines."""

    account_id: str | None
    region: str | None
    explanation: Explanation
    advice: str = ""

    @classmethod
    def of(
        cls, error: ClientError | BotoCoreError, account_id: str | None, region: str | None
    ) -> Failure:
        return cls(account_id, region, explanation(error))

    @classmethod
    def refused(cls, error: AccountAccessError, advice: str) -> Failure:
        """A whole account whose role could not be assumed, in words that are the same in every
        account that refuses it: AWS's own message names the account, so it is the detail."""
        role = error.role_arn.split(":role/", 1)[-1]
        reason = error.__cause__
        if isinstance(reason, ClientError):
            message = str(reason.response.get("Error", {}).get("Message", ""))
            cause = f"cannot assume the role {role} ({error_code(reason)})"
            return cls(error.account_id, None, Explanation(cause, message), advice)
        cause = f"cannot assume the role {role}"
        return cls(error.account_id, None, Explanation(cause, error.reason), advice)


def describe(failures: Iterable[Failure]) -> list[str]:
    """One line per cause, in the order the causes were first met, then each advice once."""
    causes: dict[tuple[str, bool], list[Failure]] = {}
    for failure in failures:
        key = (failure.explanation.cause, failure.region is None)
        causes.setdefault(key, []).append(failure)
    lines = [_line(group) for group in causes.values()]
    advice = dict.fromkeys(f.advice for group in causes.values() for f in group if f.advice)
    return lines + list(advice)


def _line(failures: Sequence[Failure]) -> str:
    first = failures[0].explanation
    details = {f.explanation.detail for f in failures}
    if all(f.account_id is None for f in failures):
        # The caller's own account: each region, as `scan` always said it.
        if first.everywhere:
            return first.in_region("")
        regions = ", ".join(dict.fromkeys(f.region or "" for f in failures))
        if len(details) == 1:
            return first.in_region(regions)
        return f"{regions}: {first.cause} (for example in {failures[0].region}: {first.detail})"
    line = f"{first.cause} in {_where(failures)}"
    if failures[0].region is None:  # a whole account (its role refused)
        line += (
            ", none of its regions read" if len(failures) == 1 else (", none of their regions read")
        )
    if not first.detail:
        return line
    if len(details) == 1 and len(failures) == 1:
        return f"{line}: {first.detail}"
    # AWS's words usually name the account: those of the first one stand for the others.
    example = failures[0].account_id
    if failures[0].region:
        example = f"{example} {failures[0].region}"
    return f"{line} (AWS said, for {example}: {first.detail})"


def _where(failures: Sequence[Failure]) -> str:
    """The accounts and regions one cause hit: ``3 accounts (111…, 222…, 333…)``, or, per set of
    regions, ``eu-west-1 of 2 accounts (111…, 222…); ap-east-1 of 111…``."""
    regions_of: dict[str | None, list[str]] = {}
    for failure in failures:
        regions = regions_of.setdefault(failure.account_id, [])
        if failure.region and failure.region not in regions:
            regions.append(failure.region)
    if all(not regions for regions in regions_of.values()):
        return _accounts(list(regions_of))
    accounts_of: dict[tuple[str, ...], list[str]] = {}
    for account_id, regions in regions_of.items():
        accounts_of.setdefault(tuple(sorted(regions)), []).append(account_id or "")
    places = [
        f"{_listed(list(regions), 'regions')} of {_accounts(accounts)}"
        for regions, accounts in accounts_of.items()
    ]
    if len(places) > SHOWN:
        places = [*places[:SHOWN], f"{len(places) - SHOWN} more sets of accounts and regions"]
    return "; ".join(places)


def _accounts(accounts: list[str | None] | list[str]) -> str:
    names = [account or "unknown" for account in accounts]
    if len(names) == 1:
        return f"account {names[0]}"
    return f"{len(names)} accounts ({_listed(names)})"


def _listed(names: list[str], noun: str = "") -> str:
    """``a, b, c``, or the first :data:`SHOWN` and how many more (``and 12 more regions``)."""
    if len(names) <= SHOWN:
        return ", ".join(names)
    rest = f" and {len(names) - SHOWN} more" + (f" {noun}" if noun else "")
    return ", ".join(names[:SHOWN]) + rest
