"""The organization's hub function: the real rule and handler with the organization's clients,
against moto with several accounts (moto keeps accounts apart behind ``AssumeRole``) and a Config
stand-in on the loopback that knows whose credentials sign each call
(:mod:`tests.functional.config_standin`).

Each member's result is posted with that member's credentials and never another's; its oversized
item is read from its own history, its sweep lists its own groups, its prefix lists are its own;
the hub's own account uses its own credentials; ids that disagree, and a member without the role,
fail with nothing posted; one ``AssumeRole`` per account for a burst, another before expiry; the
single-account promises (batches, retries, re-sends) hold per member; logs and metrics name the
member.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import boto3
import botocore.session
import pytest
from moto import mock_aws

from portguard.adapters.accounts import role_arn
from portguard.adapters.organization import OrganizationClients
from portguard.definition import (
    DEPLOYMENT_VARIABLE,
    MEMBER_ROLE_NAME_VARIABLE,
    ORGANIZATION_DEPLOYMENT,
)
from portguard.errors import (
    AccountAccessError,
    EvaluationDeliveryError,
    InvalidDeploymentError,
    InvalidEventError,
    InvalidParameterError,
)
from portguard.rule import PortguardRule, container_rule, make_handler

from .config_standin import ConfigStandIn
from .conftest import OPEN_SSH_GROUP, load, open_ssh_item
from .roles import Clock, assume_calls, refuse_assume_role

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

HOME = "123456789012"  # moto's default account: the hub's own
MEMBER = "111122223333"
OTHER = "444455556666"
OVERSIZED_MEMBER = "333344445555"  # the account of the oversized event and history fixtures
ROLE = "portguard-member"
REGION = "eu-west-1"  # the hub's (AWS_REGION); the tests' default region is us-east-1
HUB_ARN = f"arn:aws:lambda:{REGION}:{HOME}:function:Portguard-RuleFunction"


@dataclass
class HubContext:
    """What Lambda passes the hub's handler as ``context``, as far as Powertools reads it."""

    function_name: str = "Portguard-RuleFunction"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = HUB_ARN
    aws_request_id: str = "0f3b7e0c-0000-4000-8000-000000000012"


@pytest.fixture
def config(monkeypatch: pytest.MonkeyPatch) -> Iterator[ConfigStandIn]:
    """Moto for STS and EC2, the Config stand-in for Config, the hub in REGION."""
    with mock_aws(), ConfigStandIn() as stand_in:
        monkeypatch.setenv("AWS_REGION", REGION)
        monkeypatch.setenv("AWS_ENDPOINT_URL_CONFIG_SERVICE", stand_in.url)
        yield stand_in


@pytest.fixture
def home(config: ConfigStandIn) -> botocore.session.Session:
    """The hub's own session: the function's credentials (moto's default account)."""
    return botocore.session.get_session()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def hub(home: botocore.session.Session, clock: Clock) -> PortguardRule:
    return PortguardRule(organization=OrganizationClients(ROLE, session=home, clock=clock))


def member_rule_arn(account: str) -> str:
    """An organization rule's rule in ``account`` (a service-linked rule, named by Config)."""
    return (
        f"arn:aws:config:{REGION}:{account}:config-rule/aws-service-rule/"
        "config-multiaccountsetup.amazonaws.com/config-rule-ab12cd"
    )


def event_for(
    account: str,
    config: ConfigStandIn,
    *,
    fixture: str = "config-rule-change-event.json",
    item: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The event Config sends the hub for ``account``'s member rule: its ids are ``account``
    everywhere (the envelope, the rule's ARN, the item or summary or invoking event), with a
    result token the stand-in issued to ``account``. ``item`` replaces a change event's item."""
    event = load(fixture)
    invoking = json.loads(event["invokingEvent"])
    holder = invoking.get("configurationItem") or invoking.get("configurationItemSummary")
    if item is not None:
        holder = invoking["configurationItem"] = item
    (holder if holder is not None else invoking)["awsAccountId"] = account
    event.update(
        invokingEvent=json.dumps(invoking),
        accountId=account,
        configRuleArn=member_rule_arn(account),
        configRuleName="OrgConfigRule-portguard-ab12cd",
        executionRoleArn=f"arn:aws:iam::{account}:role/aws-service-role/config.amazonaws.com/"
        "AWSServiceRoleForConfig",
        resultToken=config.token(account),
        ruleParameters="{}",
    )
    return event


def member_ec2(account: str) -> Any:
    """An EC2 client of ``account`` in the hub's region, for setting the account up (moto gives
    credentials of any account to any AssumeRole)."""
    credentials = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/test-setup", RoleSessionName="setup"
    )["Credentials"]
    return boto3.client(
        "ec2",
        region_name=REGION,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def open_group(ec2: Any, name: str, *, port: int = 22, cidr: str = "0.0.0.0/0") -> str:
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    group_id: str = ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc["VpcId"])[
        "GroupId"
    ]
    ec2.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": cidr}]}
        ],
    )
    return group_id


def assert_every_post_is_its_tokens_owners(config: ConfigStandIn) -> None:
    """The stand-in refuses a token posted with another account's credentials; this says so
    plainly, and that every call was made in the hub's region."""
    assert [c.refused for c in config.calls] == [None] * len(config.calls)
    for call in config.puts():
        assert call.account == config.owner(call.request["ResultToken"])
    assert {c.region for c in config.calls} <= {REGION}


# --- whose credentials ------------------------------------------------------------------------


def test_each_members_result_is_posted_with_that_members_credentials(
    hub: PortguardRule, home: botocore.session.Session, config: ConfigStandIn
) -> None:
    assumed = assume_calls(home)
    for account in (MEMBER, OTHER, MEMBER):
        summary = hub.handle(event_for(account, config), function_arn=HUB_ARN)
        assert summary["NON_COMPLIANT"] == 1
    assert_every_post_is_its_tokens_owners(config)
    assert config.posted() == {
        MEMBER: [(OPEN_SSH_GROUP, "NON_COMPLIANT")] * 2,
        OTHER: [(OPEN_SSH_GROUP, "NON_COMPLIANT")],
    }
    assert assumed == [role_arn("aws", MEMBER, ROLE), role_arn("aws", OTHER, ROLE)]


def test_the_functions_own_account_uses_its_own_credentials(
    hub: PortguardRule, home: botocore.session.Session, config: ConfigStandIn
) -> None:
    assumed = assume_calls(home)
    hub.handle(event_for(HOME, config), function_arn=HUB_ARN)
    assert_every_post_is_its_tokens_owners(config)
    own_key = home.get_credentials().access_key
    assert [(c.account, c.access_key) for c in config.puts()] == [(HOME, own_key)]
    assert assumed == []


def test_the_role_is_named_in_the_functions_partition(
    hub: PortguardRule, home: botocore.session.Session, config: ConfigStandIn
) -> None:
    assumed = assume_calls(home)
    refuse_assume_role(home, MEMBER)  # the ARN asked for is the point
    china = HUB_ARN.replace("arn:aws:", "arn:aws-cn:")
    with pytest.raises(AccountAccessError):
        hub.handle(event_for(MEMBER, config), function_arn=china)
    assert assumed == [f"arn:aws-cn:iam::{MEMBER}:role/{ROLE}"]


# --- events whose accounts disagree -----------------------------------------------------------


def _item_of(account: str) -> dict[str, Any]:
    item = open_ssh_item()
    item["awsAccountId"] = account
    return item


def _item_of_other(event: dict[str, Any]) -> None:
    invoking = json.loads(event["invokingEvent"])
    invoking["configurationItem"]["awsAccountId"] = OTHER
    event["invokingEvent"] = json.dumps(invoking)


@pytest.mark.parametrize(
    ("spoil", "named"),
    [
        pytest.param(
            _item_of_other,
            f"accountId is {MEMBER} but configurationItem.awsAccountId is {OTHER}",
            id="item",
        ),
        pytest.param(
            lambda event: event.update(configRuleArn=member_rule_arn(OTHER)),
            f"accountId is {MEMBER} but configRuleArn's account is {OTHER}",
            id="rule",
        ),
        pytest.param(
            lambda event: event.pop("accountId"), "the event has no accountId", id="no-account"
        ),
        pytest.param(
            lambda event: event.update(accountId="*"),
            "accountId is '*', not an AWS account id",
            id="not-an-account",
        ),
    ],
)
def test_accounts_that_disagree_fail_before_anything_is_assumed_or_posted(
    hub: PortguardRule,
    home: botocore.session.Session,
    config: ConfigStandIn,
    spoil: Callable[[dict[str, Any]], object],
    named: str,
) -> None:
    assumed = assume_calls(home)
    event = event_for(MEMBER, config)
    spoil(event)
    with pytest.raises(InvalidEventError, match=re.escape(named)):
        hub.handle(event, function_arn=HUB_ARN)
    assert config.calls == []
    assert assumed == []


def test_bad_parameters_fail_before_anything_is_assumed_or_posted(
    hub: PortguardRule, home: botocore.session.Session, config: ConfigStandIn
) -> None:
    assumed = assume_calls(home)
    event = event_for(MEMBER, config)
    event["ruleParameters"] = json.dumps({"blockedPorts": "22,70000"})
    with pytest.raises(InvalidParameterError, match="port 70000 is above 65535"):
        hub.handle(event, function_arn=HUB_ARN)
    assert config.calls == []
    assert assumed == []


def test_a_rule_of_one_account_does_not_read_accounts(config: ConfigStandIn) -> None:
    """The single-account rule stays as it was: it posts with its own clients whatever the
    event's account ids say (the captures' sanitised ids among them)."""
    event = event_for(HOME, config)
    event["accountId"] = "0123456789012"
    client = boto3.client("config", region_name=REGION)
    assert PortguardRule(config_client=client).handle(event)["NON_COMPLIANT"] == 1
    assert [c.account for c in config.puts()] == [HOME]


# --- a member without the role ------------------------------------------------------------------


def test_a_member_without_the_role_fails_alone_naming_the_account_the_role_and_what_to_deploy(
    hub: PortguardRule,
    home: botocore.session.Session,
    config: ConfigStandIn,
    capsys: pytest.CaptureFixture[str],
    log_lines: Any,
) -> None:
    refuse_assume_role(home, OTHER)  # missing, or not trusting the hub: STS says AccessDenied
    handler = make_handler(hub)
    handler(event_for(MEMBER, config), HubContext())
    with pytest.raises(AccountAccessError):
        handler(event_for(OTHER, config), HubContext())
    handler(event_for(MEMBER, config), HubContext())

    errors = [line for line in log_lines() if line["level"] == "ERROR"]
    assert len(errors) == 1
    assert errors[0]["account_id"] == OTHER
    assert errors[0]["error"] == (
        f"account {OTHER}: cannot assume arn:aws:iam::{OTHER}:role/{ROLE}: AccessDenied: User: "
        "arn:aws:sts::123456789012:assumed-role/hub is not authorized. The role must exist in "
        "that account and trust this caller: portguard's organization deployment creates it in "
        "every member account (its StackSet) and, with its member-role stack, in the "
        "management account"
    )
    emf = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"_aws"' in x]
    assert [(x.get("FailedInvocations"), x["account_id"]) for x in emf] == [
        (None, MEMBER),
        ([1.0], OTHER),
        (None, MEMBER),
    ]
    assert config.posted() == {MEMBER: [(OPEN_SSH_GROUP, "NON_COMPLIANT")] * 2}
    assert_every_post_is_its_tokens_owners(config)


def test_a_role_deployed_later_is_assumed_on_the_next_invocation(
    hub: PortguardRule, home: botocore.session.Session, config: ConfigStandIn
) -> None:
    """A refusal is not kept: Lambda retries the invocation, and the StackSet may have reached
    the account meanwhile."""
    refused = refuse_assume_role(home, MEMBER)
    with pytest.raises(AccountAccessError):
        hub.handle(event_for(MEMBER, config), function_arn=HUB_ARN)
    refused.clear()  # the member role is there now
    assert hub.handle(event_for(MEMBER, config), function_arn=HUB_ARN)["NON_COMPLIANT"] == 1
    assert [c.account for c in config.puts()] == [MEMBER]


# --- credentials: a burst, then renewal ---------------------------------------------------------


def test_a_burst_from_one_account_assumes_once_and_renews_before_expiry(
    hub: PortguardRule, home: botocore.session.Session, config: ConfigStandIn, clock: Clock
) -> None:
    assumed = assume_calls(home)
    clock.dates_credentials(home)
    for _ in range(5):
        hub.handle(event_for(MEMBER, config), function_arn=HUB_ARN)
    assert assumed == [role_arn("aws", MEMBER, ROLE)]
    first_key = {c.access_key for c in config.puts()}
    assert len(first_key) == 1

    clock.now += timedelta(minutes=40)  # still good for 20 minutes: kept
    hub.handle(event_for(MEMBER, config), function_arn=HUB_ARN)
    assert len(assumed) == 1
    clock.now += timedelta(minutes=10)  # 10 minutes left: renewed, once
    hub.handle(event_for(MEMBER, config), function_arn=HUB_ARN)
    assert assumed == [role_arn("aws", MEMBER, ROLE)] * 2
    renewed = config.puts()[-1]
    assert renewed.access_key not in first_key
    assert renewed.account == MEMBER
    assert_every_post_is_its_tokens_owners(config)


def test_a_role_removed_later_fails_naming_it_when_the_credentials_are_due(
    hub: PortguardRule, home: botocore.session.Session, config: ConfigStandIn, clock: Clock
) -> None:
    """The credentials kept for a member are renewed before anything is read or posted: a role
    deleted since fails as a missing role does, not as an undelivered evaluation."""
    clock.dates_credentials(home)
    refused = refuse_assume_role(home)  # none yet (the hub's STS client keeps the hooks it had)
    hub.handle(event_for(MEMBER, config), function_arn=HUB_ARN)
    refused.add(MEMBER)  # the member role was deleted
    clock.now += timedelta(minutes=55)
    with pytest.raises(AccountAccessError, match=f"account {MEMBER}: cannot assume"):
        hub.handle(event_for(MEMBER, config), function_arn=HUB_ARN)
    assert len(config.calls) == 1


def test_few_accounts_clients_are_kept_and_every_accounts_credentials(
    home: botocore.session.Session, config: ConfigStandIn
) -> None:
    """An EC2 client is heavy (about 1.4 MB): only the last accounts' clients are kept between
    invocations. Credentials are small, and kept for every account."""
    assumed = assume_calls(home)
    organization = OrganizationClients(ROLE, session=home, kept_accounts=1)
    first = organization.clients(MEMBER, HUB_ARN)
    assert organization.clients(MEMBER, HUB_ARN) is first  # a burst: the same clients
    organization.clients(OTHER, HUB_ARN)
    again = organization.clients(MEMBER, HUB_ARN)
    assert again is not first
    assert again.config.meta.region_name == REGION
    assert assumed == [role_arn("aws", MEMBER, ROLE), role_arn("aws", OTHER, ROLE)]


# --- what is read comes from the member ---------------------------------------------------------


def test_an_oversized_item_is_read_from_the_members_history(
    hub: PortguardRule, config: ConfigStandIn
) -> None:
    history = load("get-resource-config-history.json")["configurationItems"][0]
    config.record(OVERSIZED_MEMBER, history)
    event = event_for(OVERSIZED_MEMBER, config, fixture="config-rule-oversized-event.json")
    hub.handle(event, function_arn=HUB_ARN)
    assert [(c.operation, c.account) for c in config.calls] == [
        ("GetResourceConfigHistory", OVERSIZED_MEMBER),
        ("PutEvaluations", OVERSIZED_MEMBER),
    ]
    assert config.calls[0].request == {
        "resourceType": "AWS::EC2::SecurityGroup",
        "resourceId": "sg-4f2a9c81",
        "laterTime": 1497012231.904,
        "limit": 1,
    }
    assert config.puts()[0].request["Evaluations"][0]["Annotation"] == (
        "Open to the internet from 0.0.0.0/0: tcp/8080"
    )
    assert_every_post_is_its_tokens_owners(config)


def test_the_periodic_sweep_lists_the_members_groups_in_batches_of_100(
    hub: PortguardRule, config: ConfigStandIn
) -> None:
    ec2 = member_ec2(MEMBER)
    open_ids = {open_group(ec2, f"open-{i}") for i in range(3)}
    closed_ids = {open_group(ec2, f"closed-{i}", cidr="10.0.0.0/8") for i in range(117)}
    elsewhere = open_group(member_ec2(HOME), "the-hubs-own")  # never this account's result
    event = event_for(MEMBER, config, fixture="config-rule-scheduled-event.json")

    summary = hub.handle(event, function_arn=HUB_ARN)

    posted = dict(config.posted()[MEMBER])
    assert set(posted) == open_ids | closed_ids | {default_group(ec2)}
    assert elsewhere not in posted
    assert {posted[g] for g in open_ids} == {"NON_COMPLIANT"}
    assert summary["NON_COMPLIANT"] == 3
    assert [len(c.request["Evaluations"]) for c in config.puts()] == [100, 21]
    assert_every_post_is_its_tokens_owners(config)


def default_group(ec2: Any) -> str:
    groups = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["default"]}])
    return str(groups["SecurityGroups"][0]["GroupId"])


def test_prefix_lists_are_the_members(hub: PortguardRule, config: ConfigStandIn) -> None:
    """A list of the member's that holds the whole internet: read with the hub's own
    credentials, moto would answer no entries for it (an unknown list) and the group would pass."""
    prefix_list = member_ec2(MEMBER).create_managed_prefix_list(
        PrefixListName="everyone",
        Entries=[{"Cidr": "0.0.0.0/0"}],
        MaxEntries=5,
        AddressFamily="IPv4",
    )["PrefixList"]["PrefixListId"]
    item = _item_of(MEMBER)
    item["configuration"]["ipPermissions"][0].update(
        ipv4Ranges=[], ipRanges=[], prefixListIds=[{"prefixListId": prefix_list}]
    )
    hub.handle(event_for(MEMBER, config, item=item), function_arn=HUB_ARN)
    evaluation = config.puts()[0].request["Evaluations"][0]
    assert evaluation["ComplianceType"] == "NON_COMPLIANT"
    assert evaluation["Annotation"] == f"Open to the internet from {prefix_list}: tcp/22"


# --- the single-account promises, per member --------------------------------------------------


def test_throttling_and_failed_evaluations_are_retried_with_the_members_credentials(
    hub: PortguardRule, config: ConfigStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(time, "sleep", lambda _: None)
    config.throttle(1)
    config.refuse_evaluations(1)
    summary = hub.handle(event_for(MEMBER, config), function_arn=HUB_ARN)
    assert [(c.operation, c.account, c.refused, c.failed) for c in config.calls] == [
        ("PutEvaluations", MEMBER, "ThrottlingException", 0),  # botocore retries it
        ("PutEvaluations", MEMBER, None, 1),  # Config did not take it: sent again
        ("PutEvaluations", MEMBER, None, 0),
    ]
    assert summary["putEvaluationsCalls"] == 2
    assert config.posted() == {MEMBER: [(OPEN_SSH_GROUP, "NON_COMPLIANT")]}


def test_logs_and_metrics_carry_the_member_account_but_no_dimension_per_account(
    hub: PortguardRule,
    config: ConfigStandIn,
    capsys: pytest.CaptureFixture[str],
    log_lines: Any,
) -> None:
    make_handler(hub)(event_for(MEMBER, config), HubContext())
    lines = log_lines()
    verdict = next(x for x in lines if x["message"] == "security group open to the internet")
    summary = next(x for x in lines if x["message"] == "evaluations delivered")
    assert verdict["account_id"] == summary["account_id"] == MEMBER
    emf = next(json.loads(x) for x in capsys.readouterr().out.splitlines() if '"_aws"' in x)
    assert emf["account_id"] == MEMBER
    assert emf["NonCompliantEvaluations"] == [1.0]
    assert emf["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]


def test_a_rule_of_one_account_logs_and_counts_no_account(
    config: ConfigStandIn, capsys: pytest.CaptureFixture[str], log_lines: Any
) -> None:
    rule = PortguardRule(config_client=boto3.client("config", region_name=REGION))
    make_handler(rule)(event_for(HOME, config), HubContext())
    assert all("account_id" not in line for line in log_lines())
    emf = next(json.loads(x) for x in capsys.readouterr().out.splitlines() if '"_aws"' in x)
    assert "account_id" not in emf


# --- the deployment: the function's environment and ARN -------------------------------------


def test_the_container_rule_is_the_hub_its_environment_describes(
    home: botocore.session.Session, config: ConfigStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The container's rule makes its session on first use: let it be the test's, to watch it.
    monkeypatch.setattr(botocore.session, "get_session", lambda: home)
    monkeypatch.setenv("AWS_REGION", "us-west-2")  # the environment given wins
    assumed = assume_calls(home)
    rule = container_rule(
        {
            DEPLOYMENT_VARIABLE: ORGANIZATION_DEPLOYMENT,
            MEMBER_ROLE_NAME_VARIABLE: "security-portguard",
            "AWS_REGION": REGION,
        }
    )
    rule.handle(event_for(MEMBER, config), function_arn=HUB_ARN)
    assert assumed == [f"arn:aws:iam::{MEMBER}:role/security-portguard"]
    assert [(c.account, c.region) for c in config.puts()] == [(MEMBER, REGION)]


def test_the_stand_in_refuses_a_token_posted_with_another_accounts_credentials(
    config: ConfigStandIn,
) -> None:
    """What a hub that used the wrong credentials would meet: a rule of one account (no
    deployment in its environment) posts a member's result with its own credentials."""
    rule = container_rule({"AWS_REGION": REGION})
    with pytest.raises(EvaluationDeliveryError):
        rule.handle(event_for(MEMBER, config), function_arn=HUB_ARN)
    assert [(c.account, c.refused) for c in config.calls] == [(HOME, "InvalidResultTokenException")]


def test_an_unknown_deployment_stops_the_container() -> None:
    with pytest.raises(InvalidDeploymentError, match="PORTGUARD_DEPLOYMENT='organisation'"):
        container_rule({DEPLOYMENT_VARIABLE: "organisation"})


@pytest.mark.parametrize(
    "function_arn",
    [None, "portguard", f"arn:aws:iam::{HOME}:role/portguard", "arn:aws:lambda:eu-west-1::f"],
)
def test_the_hub_needs_its_functions_arn(
    hub: PortguardRule, config: ConfigStandIn, function_arn: str | None
) -> None:
    with pytest.raises(InvalidDeploymentError, match="cannot tell its own account"):
        hub.handle(event_for(MEMBER, config), function_arn=function_arn)
    assert config.calls == []


def test_one_container_serves_one_function(home: botocore.session.Session) -> None:
    organization = OrganizationClients(ROLE, session=home)
    organization.clients(HOME, HUB_ARN)
    with pytest.raises(InvalidDeploymentError, match="one container serves one function"):
        organization.clients(HOME, HUB_ARN.replace(HOME, OTHER))


def test_a_hub_without_a_region_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(variable, raising=False)
    organization = OrganizationClients(ROLE, session=botocore.session.Session())
    with pytest.raises(InvalidDeploymentError, match="AWS_REGION is not set"):
        organization.clients(MEMBER, HUB_ARN)


def test_a_hub_has_no_clients_of_its_own() -> None:
    with pytest.raises(ValueError, match="inject none of its own"):
        PortguardRule(
            config_client=boto3.client("config", region_name=REGION),
            organization=OrganizationClients(ROLE),
        )
