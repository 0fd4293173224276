"""Config's events for the sandbox's groups, in the shapes AWS Config sends them to a custom
rule (tests/fixtures has captured examples): a ``ConfigurationItemChangeNotification`` around a
configuration item (version 1.3) made from an EC2 group, and the ``ScheduledNotification`` of the
periodic sweep. Their result token is ``TESTMODE``: the sandbox's Config takes test mode only.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from portguard.events import TEST_MODE_TOKEN, MessageType
from portguard.model import SECURITY_GROUP_TYPE

if TYPE_CHECKING:
    from collections.abc import Mapping

SANDBOX_RULE_NAME = "portguard"


def _config_time(when: datetime) -> str:
    """Config's timestamp format: ``2017-11-27T14:26:11.300Z``."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _camel(value: Any) -> Any:
    """An EC2 API value in Config's key style (``IpProtocol`` -> ``ipProtocol``)."""
    if isinstance(value, list):
        return [_camel(v) for v in value]
    if isinstance(value, dict):
        return {k[:1].lower() + k[1:]: _camel(v) for k, v in value.items()}
    return value


def _config_permission(permission: Mapping[str, Any]) -> dict[str, Any]:
    """One EC2 ``IpPermission`` as a Config item holds it: EC2's ``IpRanges`` is Config's
    ``ipv4Ranges``, and Config repeats its CIDRs in the legacy string list ``ipRanges``."""
    out: dict[str, Any] = _camel({k: v for k, v in permission.items() if k != "IpRanges"})
    ranges = permission.get("IpRanges") or []
    out["ipv4Ranges"] = _camel(ranges)
    out["ipRanges"] = [r["CidrIp"] for r in ranges if "CidrIp" in r]
    for key in ("ipv6Ranges", "prefixListIds", "userIdGroupPairs"):
        out.setdefault(key, [])
    return out


def configuration_item(
    group: Mapping[str, Any], *, region: str, account_id: str, captured: datetime
) -> dict[str, Any]:
    """The configuration item (version 1.3) Config records for an EC2 group."""
    group_id = group["GroupId"]
    tags = group.get("Tags") or []
    configuration = {
        "description": group.get("Description"),
        "groupName": group.get("GroupName"),
        "ipPermissions": [_config_permission(p) for p in group.get("IpPermissions") or []],
        "ownerId": group.get("OwnerId", account_id),
        "groupId": group_id,
        "ipPermissionsEgress": [
            _config_permission(p) for p in group.get("IpPermissionsEgress") or []
        ],
        "tags": _camel(tags),
        "vpcId": group.get("VpcId"),
    }
    relationships = []
    if group.get("VpcId"):
        relationships.append(
            {
                "resourceId": group["VpcId"],
                "resourceName": None,
                "resourceType": "AWS::EC2::VPC",
                "name": "Is contained in Vpc",
            }
        )
    text = json.dumps(configuration, sort_keys=True)
    return {
        "relatedEvents": [],
        "relationships": relationships,
        "configuration": configuration,
        "supplementaryConfiguration": {},
        "tags": {t["Key"]: t.get("Value", "") for t in tags if "Key" in t},
        "configurationItemVersion": "1.3",
        "configurationItemCaptureTime": _config_time(captured),
        "configurationStateId": int(captured.timestamp() * 1000),
        "awsAccountId": account_id,
        "configurationItemStatus": "ResourceDiscovered",
        "resourceType": SECURITY_GROUP_TYPE,
        "resourceId": group_id,
        "resourceName": group.get("GroupName"),
        "ARN": f"arn:aws:ec2:{region}:{account_id}:security-group/{group_id}",
        "awsRegion": region,
        "availabilityZone": "Not Applicable",
        "configurationStateMd5Hash": hashlib.md5(text.encode(), usedforsecurity=False).hexdigest(),
        "resourceCreationTime": None,
    }


def _envelope(
    invoking: Mapping[str, Any], *, region: str, account_id: str, parameters: Mapping[str, str]
) -> dict[str, Any]:
    """The Lambda event around an invoking event, as Config sends it to a custom rule."""
    return {
        "configRuleId": "config-rule-sandbox",
        "version": "1.0",
        "configRuleName": SANDBOX_RULE_NAME,
        "configRuleArn": f"arn:aws:config:{region}:{account_id}:config-rule/config-rule-sandbox",
        "invokingEvent": json.dumps(invoking),
        "ruleParameters": json.dumps(dict(parameters)),
        "resultToken": TEST_MODE_TOKEN,
        "eventLeftScope": False,
        "executionRoleArn": f"arn:aws:iam::{account_id}:role/aws-service-role/"
        "config.amazonaws.com/AWSServiceRoleForConfig",
        "accountId": account_id,
        "evaluationMode": "DETECTIVE",
    }


def change_event(
    group: Mapping[str, Any],
    *,
    region: str,
    account_id: str,
    parameters: Mapping[str, str],
    now: datetime | None = None,
) -> dict[str, Any]:
    """A ConfigurationItemChangeNotification for an EC2 group, result token ``TESTMODE``."""
    now = now or datetime.now(UTC)
    invoking = {
        "configurationItemDiff": None,
        "configurationItem": configuration_item(
            group, region=region, account_id=account_id, captured=now
        ),
        "notificationCreationTime": _config_time(now),
        "messageType": MessageType.CHANGE.value,
        "recordVersion": "1.3",
    }
    return _envelope(invoking, region=region, account_id=account_id, parameters=parameters)


def scheduled_event(
    *,
    region: str,
    account_id: str,
    parameters: Mapping[str, str],
    now: datetime | None = None,
) -> dict[str, Any]:
    """A ScheduledNotification (the periodic sweep), result token ``TESTMODE``."""
    invoking = {
        "awsAccountId": account_id,
        "notificationCreationTime": _config_time(now or datetime.now(UTC)),
        "messageType": MessageType.SCHEDULED.value,
        "recordVersion": "1.0",
    }
    return _envelope(invoking, region=region, account_id=account_id, parameters=parameters)
