"""An AWS organization for the tests of ``portguard scan --org`` and ``--aggregator``: moto's
Organizations with member accounts (moto keeps each account's resources apart and lets
``AssumeRole`` into any of them), clients of each member, and a record of the API calls the
command makes, with errors injected into chosen ones."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import boto3
import botocore.client
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from collections.abc import Callable

    import pytest

HOME = "123456789012"  # moto's default account: the caller's, the organization's management
ROLE = "portguard-member"
WORLD4 = [{"CidrIp": "0.0.0.0/0"}]
WORLD6 = [{"CidrIpv6": "::/0"}]


def perm(protocol: str, port: int, **sources: Any) -> dict[str, Any]:
    return {"IpProtocol": protocol, "FromPort": port, "ToPort": port, **sources}


def create_organization(members: int, home_region: str = "us-east-1") -> list[str]:
    """An organization managed by :data:`HOME` with ``members`` more accounts; their ids."""
    org = boto3.client("organizations", region_name=home_region)
    org.create_organization(FeatureSet="ALL")
    return [
        org.create_account(AccountName=f"member-{n}", Email=f"member-{n}@example.com")[
            "CreateAccountStatus"
        ]["AccountId"]
        for n in range(members)
    ]


def client(service: str, account: str, region: str) -> Any:
    """A client of ``account``: the caller's own for :data:`HOME`, else through a role (moto
    assumes any)."""
    if account == HOME:
        return boto3.client(service, region_name=region)
    credentials = boto3.client("sts", region_name=region).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/seed", RoleSessionName="seed"
    )["Credentials"]
    return boto3.client(
        service,
        region_name=region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def create_group(
    ec2: Any, name: str, permissions: list[dict[str, Any]], tags: dict[str, str] | None = None
) -> str:
    kwargs: dict[str, Any] = {"GroupName": name, "Description": name}
    if tags:
        tags_list = [{"Key": k, "Value": v} for k, v in tags.items()]
        kwargs["TagSpecifications"] = [{"ResourceType": "security-group", "Tags": tags_list}]
    group_id = str(ec2.create_security_group(**kwargs)["GroupId"])
    if permissions:
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=permissions)
    return group_id


class Call(NamedTuple):
    """One API call: its operation, parameters, and the account and region it was made in
    (the account as far as the recorder knows: the one an assumed key was issued for, else
    :data:`HOME`)."""

    operation: str
    params: dict[str, Any]
    account: str
    region: str


@dataclass
class Calls:
    """Every API call made through botocore while installed (:class:`Call`), and the errors to
    answer some with (:meth:`fail`), as AWS answers after botocore's retries."""

    made: list[Call] = field(default_factory=list)
    rules: list[tuple[Callable[[Call], bool], str, str]] = field(default_factory=list)
    _accounts: dict[str, str] = field(default_factory=dict)
    """Access key id -> the account whose role issued it."""

    def fail(self, when: Callable[[Call], bool], code: str, message: str = "") -> None:
        self.rules.append((when, code, message))

    def of(self, operation: str) -> list[Call]:
        return [call for call in self.made if call.operation == operation]

    def install(self, monkeypatch: pytest.MonkeyPatch) -> Calls:
        make_api_call = botocore.client.BaseClient._make_api_call

        def recorded(client: Any, operation: str, params: dict[str, Any]) -> Any:
            credentials = client._request_signer._credentials
            key = credentials.get_frozen_credentials().access_key if credentials else ""
            call = Call(
                operation, dict(params), self._accounts.get(key, HOME), client.meta.region_name
            )
            self.made.append(call)
            for when, code, message in self.rules:
                if when(call):
                    error = {"Error": {"Code": code, "Message": message}}
                    raise ClientError(error, operation)  # type: ignore[arg-type]
            answer = make_api_call(client, operation, params)
            if operation == "AssumeRole":
                account = params["RoleArn"].split(":")[4]
                self._accounts[answer["Credentials"]["AccessKeyId"]] = account
            return answer

        monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recorded)
        return self


def assuming(account: str) -> Callable[[Call], bool]:
    """An AssumeRole into ``account``."""
    return lambda call: (
        call.operation == "AssumeRole" and f"::{account}:role/" in str(call.params.get("RoleArn"))
    )


def calling(operation: str, account: str, region: str) -> Callable[[Call], bool]:
    """``operation`` in ``account`` and ``region``."""
    return lambda call: (call.operation, call.account, call.region) == (operation, account, region)
