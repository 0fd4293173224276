"""Clients of other accounts through a role (portguard.adapters.accounts), on moto: each account's
calls really happen in that account, the role is assumed once per account and again before the
credentials expire, the home account needs no role, and a refusal names the account and role."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import botocore.session
import pytest
from botocore.credentials import CredentialResolver
from botocore.exceptions import NoCredentialsError
from moto import mock_aws

from portguard.adapters import client_config
from portguard.adapters.accounts import AccountClients, role_arn
from portguard.errors import AccountAccessError

from .roles import Clock, assume_calls, refuse_assume_role

if TYPE_CHECKING:
    from collections.abc import Iterator

HOME = "123456789012"  # moto's default account: the caller's own
MEMBER = "111122223333"
OTHER = "444455556666"
REGION = "eu-west-1"


@pytest.fixture
def home() -> Iterator[botocore.session.Session]:
    with mock_aws():
        session = botocore.session.get_session()
        session.set_config_variable("region", REGION)
        yield session


def accounts(session: botocore.session.Session, **kwargs: Any) -> AccountClients:
    return AccountClients(
        session,
        home_account=HOME,
        role_name="portguard-member",
        region=REGION,
        config=client_config(),
        **kwargs,
    )


def test_each_account_is_itself(home: botocore.session.Session) -> None:
    clients = accounts(home)
    member = clients.client("ec2", MEMBER, REGION)
    vpc = member.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]
    member.create_security_group(GroupName="in-member", Description="x", VpcId=vpc["VpcId"])

    def names(account: str) -> set[str]:
        groups = clients.client("ec2", account, REGION).describe_security_groups()
        return {g["GroupName"] for g in groups["SecurityGroups"]}

    assert "in-member" in names(MEMBER)
    assert "in-member" not in names(HOME)
    assert "in-member" not in names(OTHER)
    assert clients.client("sts", MEMBER, REGION).get_caller_identity()["Account"] == MEMBER


def test_the_home_account_assumes_no_role(home: botocore.session.Session) -> None:
    calls = assume_calls(home)
    clients = accounts(home)
    identity = clients.client("sts", HOME, REGION).get_caller_identity()
    assert identity["Account"] == HOME
    assert calls == []


def test_a_burst_in_one_account_assumes_the_role_once(home: botocore.session.Session) -> None:
    calls = assume_calls(home)
    clients = accounts(home)
    for _ in range(5):
        clients.client("ec2", MEMBER, REGION).describe_security_groups()
        clients.client("config", MEMBER, "us-east-1")
    clients.client("ec2", OTHER, REGION).describe_security_groups()
    assert calls == [
        role_arn("aws", MEMBER, "portguard-member"),
        role_arn("aws", OTHER, "portguard-member"),
    ]


def test_credentials_are_renewed_before_they_expire(home: botocore.session.Session) -> None:
    calls = assume_calls(home)
    clock = Clock()
    clients = accounts(home, clock=clock)
    ec2 = clients.client("ec2", MEMBER, REGION)
    ec2.describe_security_groups()
    first = clients.credentials(MEMBER).get_frozen_credentials()
    clock.now += timedelta(minutes=30)  # moto's credentials last an hour: still good
    ec2.describe_security_groups()
    assert len(calls) == 1
    clock.now += timedelta(minutes=20)  # within a quarter of an hour of expiry: renewed
    ec2.describe_security_groups()
    assert len(calls) == 2
    assert clients.credentials(MEMBER).get_frozen_credentials() != first


def test_a_role_that_cannot_be_assumed_names_the_account_and_role(
    home: botocore.session.Session,
) -> None:
    # STS refuses, as it does when the role is missing or does not trust the caller.
    refuse_assume_role(home, MEMBER)
    clients = accounts(home)
    with pytest.raises(AccountAccessError) as raised:
        clients.client("ec2", MEMBER, REGION)
    error = raised.value
    assert (error.account_id, error.role_arn) == (
        MEMBER,
        f"arn:aws:iam::{MEMBER}:role/portguard-member",
    )
    assert str(error).startswith(
        f"account {MEMBER}: cannot assume arn:aws:iam::{MEMBER}:role/portguard-member: "
        "AccessDenied: User: arn:aws:sts::123456789012:assumed-role/hub is not authorized. "
    )
    assert "member-role stack" in str(error)


def test_member_clients_share_the_home_sessions_hooks(home: botocore.session.Session) -> None:
    """Member sessions use the home session's event hooks rather than registering botocore's
    own anew (most of a session's memory, kept for every account): what is registered on the
    home session sees every account's calls."""
    seen: list[str] = []
    home.register("before-call.ec2.DescribeSecurityGroups", lambda **_: seen.append("call"))
    clients = accounts(home)
    for account in (HOME, MEMBER, OTHER):
        clients.client("ec2", account, REGION).describe_security_groups()
    assert seen == ["call"] * 3


def test_role_arns_are_written_in_the_partition() -> None:
    assert role_arn("aws-cn", MEMBER, "r") == f"arn:aws-cn:iam::{MEMBER}:role/r"


def test_threads_share_one_assumption_per_account(home: botocore.session.Session) -> None:
    calls = assume_calls(home)
    clients = accounts(home)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for account in (MEMBER, OTHER):
                clients.client("ec2", account, REGION).describe_security_groups()
        except BaseException as error:  # noqa: BLE001 - collected for the assertion
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(calls) == sorted(
        {role_arn("aws", MEMBER, "portguard-member"), role_arn("aws", OTHER, "portguard-member")}
    )


def test_without_credentials_the_home_account_says_so(home: botocore.session.Session) -> None:
    empty = botocore.session.Session()
    empty.register_component("credential_provider", CredentialResolver([]))
    clients = AccountClients(empty, home_account=HOME, role_name="portguard-member")
    with pytest.raises(NoCredentialsError):
        clients.client("ec2", HOME, REGION)


def test_a_forgotten_account_is_assumed_again_and_the_home_account_stays(
    home: botocore.session.Session,
) -> None:
    calls = assume_calls(home)
    clients = accounts(home)
    clients.client("ec2", MEMBER, REGION).describe_security_groups()
    clients.forget(MEMBER)
    clients.forget(HOME)
    clients.client("ec2", MEMBER, REGION).describe_security_groups()
    assert calls == [role_arn("aws", MEMBER, "portguard-member")] * 2
    assert clients.client("sts", HOME, REGION).get_caller_identity()["Account"] == HOME
    assert len(calls) == 2  # the home account still assumes nothing
