"""How the function learns its deployment from its environment (``definition.member_role_name``):
one account's rule, or an organization's hub and the role it assumes in each member. The CDK app
sets these variables; anything else stops the function rather than let it guess."""

from __future__ import annotations

import pytest

from portguard.definition import (
    DEPLOYMENT_VARIABLE,
    MEMBER_ROLE_NAME_VARIABLE,
    ORGANIZATION_DEPLOYMENT,
    member_role_name,
)
from portguard.errors import InvalidDeploymentError


@pytest.mark.parametrize(
    "environ",
    [
        pytest.param({}, id="unset"),
        pytest.param({DEPLOYMENT_VARIABLE: ""}, id="empty"),
        # The role name alone does not make a hub: only the deployment says so.
        pytest.param({MEMBER_ROLE_NAME_VARIABLE: "portguard-member"}, id="role-name-alone"),
    ],
)
def test_without_the_deployment_it_is_one_accounts_rule(environ: dict[str, str]) -> None:
    assert member_role_name(environ) is None


@pytest.mark.parametrize("role_name", ["portguard-member", "a", "x" * 64, "A+=,.@_-9"])
def test_an_organizations_hub_has_its_member_role(role_name: str) -> None:
    environ = {DEPLOYMENT_VARIABLE: ORGANIZATION_DEPLOYMENT, MEMBER_ROLE_NAME_VARIABLE: role_name}
    assert member_role_name(environ) == role_name


def test_an_unknown_deployment_is_refused_naming_the_variable() -> None:
    with pytest.raises(InvalidDeploymentError) as raised:
        member_role_name({DEPLOYMENT_VARIABLE: "organisation"})
    assert str(raised.value) == (
        "PORTGUARD_DEPLOYMENT='organisation': expected 'organization' (the hub of an "
        "organization) or nothing (one account); redeploy with the CDK app"
    )


@pytest.mark.parametrize(
    ("role_name", "said"),
    [
        pytest.param(None, "unset", id="unset"),
        pytest.param("", "unset", id="empty"),
        pytest.param("team/portguard-member", "'team/portguard-member'", id="path"),
        pytest.param("x" * 65, f"'{'x' * 65}'", id="too-long"),
        pytest.param("portguard member", "'portguard member'", id="space"),
    ],
)
def test_a_hub_without_a_valid_role_name_is_refused(role_name: str | None, said: str) -> None:
    environ = {DEPLOYMENT_VARIABLE: ORGANIZATION_DEPLOYMENT}
    if role_name is not None:
        environ[MEMBER_ROLE_NAME_VARIABLE] = role_name
    with pytest.raises(InvalidDeploymentError) as raised:
        member_role_name(environ)
    assert str(raised.value).startswith(
        f"PORTGUARD_MEMBER_ROLE_NAME is {said}: an organization's hub needs the name of the role "
        "it assumes in each member account"
    )
