"""The optional AWS Config recorder: what it records, where it delivers, and the nag gate.

Each stack here holds only the construct. The App gets cdk.json's context, as the CDK CLI would
give it; with it, an unsuppressed cdk-nag error fails synthesis, as it would fail ``cdk synth``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from aws_cdk import App, Aspects, Duration, Stack
from aws_cdk import aws_config as config
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Annotations, Capture, Match, Template
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks

from infra.recorder import ConfigRecorder
from infra.settings import cdk_json_context

if TYPE_CHECKING:
    from collections.abc import Mapping

pytestmark = pytest.mark.infra

NAG_FINDING = Match.string_like_regexp("AwsSolutions-.*|HIPAA.*")
# With it, a nag error fails synthesis instead of being listed: turned off only to list findings.
ANNOTATIONS_IN_REPORT = "@aws-cdk/core:annotationsInValidationReport"


def recorder_stack(context: Mapping[str, Any] | None = None, **kwargs: Any) -> Stack:
    app = App(context={**cdk_json_context(), **(context or {})})
    stack = Stack(app, "RecorderOnly")
    ConfigRecorder(stack, "Recorder", **kwargs)
    return stack


def checked(stack: Stack) -> Stack:
    Aspects.of(stack).add(AwsSolutionsChecks())
    Aspects.of(stack).add(HIPAASecurityChecks())
    return stack


def logical_id(template: Template, resource_type: str) -> str:
    """The logical id of the single resource of this type (ids are hashed: never typed)."""
    resources = template.find_resources(resource_type)
    assert len(resources) == 1, f"expected one {resource_type}, found {sorted(resources)}"
    return next(iter(resources))


def render(value: object) -> str:
    """A string, Ref, GetAtt or Fn::Join of them, written as ``${Ref}`` and ``${Id.Attr}``."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Ref" in value:
        return "${" + str(value["Ref"]) + "}"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return "${" + ".".join(value["Fn::GetAtt"]) + "}"
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(render(part) for part in parts)
    raise AssertionError(f"cannot render {value!r}")


@pytest.fixture(scope="module")
def template() -> Template:
    return Template.from_stack(recorder_stack())


@pytest.fixture(scope="module")
def ids(template: Template) -> dict[str, str]:
    return {
        name: logical_id(template, resource_type)
        for name, resource_type in {
            "recorder": "AWS::Config::ConfigurationRecorder",
            "bucket": "AWS::S3::Bucket",
            "bucket_policy": "AWS::S3::BucketPolicy",
            "key": "AWS::KMS::Key",
            "role": "AWS::IAM::Role",
            "delivery_policy": "AWS::IAM::ManagedPolicy",
        }.items()
    }


def this_recorder(**string_equals: str) -> dict[str, Any]:
    """The confused-deputy guard AWS Config documents: this account (aws:SourceAccount), and
    Config acting for this region's recorder and delivery channel (aws:SourceArn)."""
    return {
        "StringEquals": {**string_equals, "aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        "ArnLike": {
            "aws:SourceArn": {
                "Fn::Join": [
                    "",
                    [
                        "arn:",
                        {"Ref": "AWS::Partition"},
                        ":config:",
                        {"Ref": "AWS::Region"},
                        ":",
                        {"Ref": "AWS::AccountId"},
                        ":*",
                    ],
                ]
            }
        },
    }


def test_recorder_records_security_groups_only_continuously(
    template: Template, ids: dict[str, str]
) -> None:
    template.has_resource_properties(
        "AWS::Config::ConfigurationRecorder",
        {
            "RecordingGroup": Match.object_equals(
                {
                    "AllSupported": False,
                    "IncludeGlobalResourceTypes": False,
                    "ResourceTypes": ["AWS::EC2::SecurityGroup"],
                    "RecordingStrategy": {"UseOnly": "INCLUSION_BY_RESOURCE_TYPES"},
                }
            ),
            "RecordingMode": {"RecordingFrequency": "CONTINUOUS"},
            "RoleARN": {"Fn::GetAtt": [ids["role"], "Arn"]},
        },
    )


def test_recorder_role_is_assumed_by_config_for_this_recorder_only(template: Template) -> None:
    template.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "sts:AssumeRole",
                        "Principal": {"Service": "config.amazonaws.com"},
                        "Condition": this_recorder(),
                    }
                ]
            }
        },
    )


def test_recorder_role_has_the_documented_config_role_policy(template: Template) -> None:
    arns = Capture()
    template.has_resource_properties("AWS::IAM::Role", {"ManagedPolicyArns": arns})
    assert [render(arn) for arn in arns.as_array()] == [
        "arn:${AWS::Partition}:iam::aws:policy/service-role/AWS_ConfigRole"
    ]


def test_recorder_role_may_write_the_delivery_prefix_and_use_the_key(
    template: Template, ids: dict[str, str]
) -> None:
    statements = Capture()
    template.has_resource_properties(
        "AWS::IAM::ManagedPolicy",
        {"Roles": [{"Ref": ids["role"]}], "PolicyDocument": {"Statement": statements}},
    )
    rendered = [
        (
            statement["Effect"],
            statement["Action"],
            render(statement["Resource"]),
            statement.get("Condition"),
        )
        for statement in statements.as_array()
    ]
    # No s3:PutObjectAcl: the bucket's ACLs are disabled (BucketOwnerEnforced).
    assert rendered == [
        (
            "Allow",
            "s3:PutObject",
            f"${{{ids['bucket']}.Arn}}/AWSLogs/${{AWS::AccountId}}/Config/*",
            {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}},
        ),
        ("Allow", "s3:GetBucketAcl", f"${{{ids['bucket']}.Arn}}", None),
        ("Allow", ["kms:Decrypt", "kms:GenerateDataKey"], f"${{{ids['key']}.Arn}}", None),
    ]
    # Customer managed, not inline: nothing else grants the role anything.
    assert template.find_resources("AWS::IAM::Policy") == {}


def test_delivery_channel_delivers_to_the_bucket_with_its_key(
    template: Template, ids: dict[str, str]
) -> None:
    template.has_resource_properties(
        "AWS::Config::DeliveryChannel",
        {
            "S3BucketName": {"Ref": ids["bucket"]},
            "S3KmsKeyArn": {"Fn::GetAtt": [ids["key"], "Arn"]},
            "ConfigSnapshotDeliveryProperties": {"DeliveryFrequency": "TwentyFour_Hours"},
        },
    )


def test_delivery_channel_comes_after_the_recorder_and_the_write_permissions(
    template: Template, ids: dict[str, str]
) -> None:
    depends_on = Capture()
    template.has_resource("AWS::Config::DeliveryChannel", {"DependsOn": depends_on})
    assert {ids["recorder"], ids["bucket_policy"], ids["delivery_policy"]} <= set(
        depends_on.as_array()
    )


def test_bucket_is_encrypted_with_its_own_rotating_kms_key(
    template: Template, ids: dict[str, str]
) -> None:
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {
                        "ServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": {"Fn::GetAtt": [ids["key"], "Arn"]},
                        },
                        "BucketKeyEnabled": True,
                    }
                ]
            }
        },
    )
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_key_lets_config_encrypt_for_this_recorder_only(template: Template) -> None:
    template.has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        {
                            "Sid": "AWSConfigKMSPolicy",
                            "Effect": "Allow",
                            "Principal": {"Service": "config.amazonaws.com"},
                            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                            "Resource": "*",
                            "Condition": this_recorder(),
                        }
                    ]
                )
            }
        },
    )


def test_bucket_blocks_public_access_and_disables_acls(template: Template) -> None:
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
        },
    )


def test_bucket_denies_requests_without_tls(template: Template, ids: dict[str, str]) -> None:
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": ids["bucket"]},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "s3:*",
                                "Principal": {"AWS": "*"},
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            },
        },
    )


def test_bucket_is_versioned_and_expires_config_history(template: Template) -> None:
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "VersioningConfiguration": {"Status": "Enabled"},
            "LifecycleConfiguration": {
                "Rules": [
                    Match.object_like(
                        {
                            "Status": "Enabled",
                            "ExpirationInDays": 365,
                            "NoncurrentVersionExpiration": {"NoncurrentDays": 365},
                        }
                    )
                ]
            },
        },
    )


@pytest.mark.parametrize(
    "resource_type", ["AWS::S3::Bucket", "AWS::S3::BucketPolicy", "AWS::KMS::Key"]
)
def test_compliance_history_outlives_the_stack(template: Template, resource_type: str) -> None:
    template.has_resource(
        resource_type, {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
    )


def test_bucket_policy_grants_config_what_aws_documents(
    template: Template, ids: dict[str, str]
) -> None:
    statements = Capture()
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {"Bucket": {"Ref": ids["bucket"]}, "PolicyDocument": {"Statement": statements}},
    )
    granted = {
        statement["Sid"]: statement
        for statement in statements.as_array()
        if statement["Effect"] == "Allow"
    }
    assert sorted(granted) == [
        "AWSConfigBucketDelivery",
        "AWSConfigBucketExistenceCheck",
        "AWSConfigBucketPermissionsCheck",
    ]
    bucket = f"${{{ids['bucket']}.Arn}}"
    expected = {
        "AWSConfigBucketPermissionsCheck": ("s3:GetBucketAcl", bucket, {}),
        "AWSConfigBucketExistenceCheck": ("s3:ListBucket", bucket, {}),
        "AWSConfigBucketDelivery": (
            "s3:PutObject",
            f"{bucket}/AWSLogs/${{AWS::AccountId}}/Config/*",
            {"s3:x-amz-acl": "bucket-owner-full-control"},
        ),
    }
    for sid, (action, resource, extra) in expected.items():
        statement = granted[sid]
        assert statement["Principal"] == {"Service": "config.amazonaws.com"}, sid
        assert statement["Action"] == action, sid
        assert render(statement["Resource"]) == resource, sid
        assert statement["Condition"] == this_recorder(**extra), sid


def test_delivery_frequency_and_expiration_are_settable() -> None:
    template = Template.from_stack(
        recorder_stack(
            delivery_frequency=config.MaximumExecutionFrequency.SIX_HOURS,
            snapshot_expiration=Duration.days(90),
        )
    )
    template.has_resource_properties(
        "AWS::Config::DeliveryChannel",
        {"ConfigSnapshotDeliveryProperties": {"DeliveryFrequency": "Six_Hours"}},
    )
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "LifecycleConfiguration": {
                "Rules": [
                    Match.object_like(
                        {
                            "ExpirationInDays": 90,
                            "NoncurrentVersionExpiration": {"NoncurrentDays": 90},
                        }
                    )
                ]
            }
        },
    )


@pytest.mark.parametrize("expiration", [Duration.days(0), Duration.hours(36)])
def test_snapshot_expiration_must_be_whole_days(expiration: Duration) -> None:
    with pytest.raises(ValueError, match="snapshot_expiration must be a whole number of days"):
        recorder_stack(snapshot_expiration=expiration)


@pytest.fixture(scope="module")
def nag() -> Annotations:
    return Annotations.from_stack(checked(recorder_stack({ANNOTATIONS_IN_REPORT: False})))


def describe(messages: list[Any]) -> list[str]:
    return [f"{message.id}: {str(message.entry.data)[:200]}" for message in messages]


def test_nag_reports_no_error_for_the_construct(nag: Annotations) -> None:
    assert describe(nag.find_error("*", NAG_FINDING)) == []


def test_nag_reports_no_warning_for_the_construct(nag: Annotations) -> None:
    assert describe(nag.find_warning("*", NAG_FINDING)) == []


def test_synth_with_cdk_json_context_passes_the_nag_gate() -> None:
    # With cdk.json's flags a nag error fails synthesis, as `cdk synth` would fail.
    Template.from_stack(checked(recorder_stack()))


def test_only_the_unfixable_findings_are_acknowledged(
    template: Template, ids: dict[str, str]
) -> None:
    acknowledged = {
        (logical, suppression["id"]): suppression
        for logical, resource in template.to_json()["Resources"].items()
        for suppression in resource.get("Metadata", {})
        .get("cdk_nag", {})
        .get("rules_to_suppress", [])
    }
    assert sorted(acknowledged) == sorted(
        [
            (ids["bucket"], "AwsSolutions-S1"),
            (ids["bucket"], "HIPAA.Security-S3BucketLoggingEnabled"),
            (ids["bucket"], "HIPAA.Security-S3BucketReplicationEnabled"),
            (ids["role"], "AwsSolutions-IAM4"),
            (ids["delivery_policy"], "AwsSolutions-IAM5"),
        ]
    )
    assert acknowledged[ids["role"], "AwsSolutions-IAM4"]["applies_to"] == [
        "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWS_ConfigRole"
    ]
    assert acknowledged[ids["delivery_policy"], "AwsSolutions-IAM5"]["applies_to"] == [
        f"Resource::<{ids['bucket']}.Arn>/AWSLogs/<AWS::AccountId>/Config/*"
    ]
    assert "AWS_ConfigRole" in acknowledged[ids["role"], "AwsSolutions-IAM4"]["reason"]
    assert (
        "GetResourceConfigHistory"
        in (acknowledged[ids["bucket"], "HIPAA.Security-S3BucketReplicationEnabled"]["reason"])
    )


def test_a_shared_key_encrypts_the_bucket_instead_of_a_new_one() -> None:
    app = App(context=cdk_json_context())
    stack = Stack(app, "SharedKey")
    shared = kms.Key(stack, "Shared", enable_key_rotation=True)
    recorder = ConfigRecorder(stack, "Recorder", encryption_key=shared)
    template = Template.from_stack(stack)

    assert recorder.key is shared
    key_id = logical_id(template, "AWS::KMS::Key")
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    Match.object_like(
                        {
                            "ServerSideEncryptionByDefault": {
                                "SSEAlgorithm": "aws:kms",
                                "KMSMasterKeyID": {"Fn::GetAtt": [key_id, "Arn"]},
                            }
                        }
                    )
                ]
            }
        },
    )
    template.has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [Match.object_like({"Sid": "AWSConfigKMSPolicy", "Condition": this_recorder()})]
                )
            }
        },
    )


def test_an_imported_key_is_refused() -> None:
    app = App(context=cdk_json_context())
    stack = Stack(app, "ImportedKey")
    imported = kms.Key.from_key_arn(
        stack,
        "Imported",
        "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    )
    with pytest.raises(ValueError, match="not imported"):
        ConfigRecorder(stack, "Recorder", encryption_key=imported)
