"""Reading AWS's error answers: one helper gives a ``ClientError``'s code to the adapters and the
command line, and a prefix list whose answer carries no code still fails closed with a reason."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from portguard.adapters import error_code
from portguard.adapters.ec2 import PrefixListCache
from portguard.errors import PrefixListUnavailableError

from .conftest import REGION


def test_error_code_is_the_code_aws_answered() -> None:
    client = boto3.client("ec2", region_name=REGION)
    with Stubber(client) as stub:
        stub.add_client_error("describe_security_groups", "InvalidGroup.NotFound", "gone")
        with pytest.raises(ClientError) as raised:
            client.describe_security_groups(GroupIds=["sg-0123"])
    assert error_code(raised.value) == "InvalidGroup.NotFound"


@pytest.mark.parametrize(
    "response",
    [
        pytest.param({"Error": {"Message": "no code"}}, id="no-code"),
        pytest.param({}, id="no-error"),
    ],
)
def test_an_answer_without_a_code_has_the_empty_code(response: dict[str, object]) -> None:
    assert error_code(ClientError(response, "DescribeSecurityGroups")) == ""


def test_an_unreadable_prefix_list_without_a_code_is_named_as_a_client_error() -> None:
    client = boto3.client("ec2", region_name=REGION)
    with Stubber(client) as stub:
        stub.add_client_error("get_managed_prefix_list_entries", "", "", http_status_code=500)
        with pytest.raises(PrefixListUnavailableError) as raised:
            PrefixListCache(client)("pl-0123")
    assert raised.value.reason == "ClientError"
