"""An optional AWS Config recorder, for an account that has none yet, so one deploy is enough.

AWS Config evaluates rules only against what a configuration recorder records, and a region holds
at most one (customer managed) recorder and one delivery channel. Where a recorder exists (Control
Tower, Security Hub, an organization's own setup), do not deploy this construct: its recorder would
fail to create, and recording there is someone else's; make sure that one records security groups.

What it builds: a recorder limited to ``AWS::EC2::SecurityGroup`` (the only type portguard
evaluates, so the only configuration items paid for), the IAM role it runs as, a KMS-encrypted
bucket for the snapshots and history files, and the delivery channel to that bucket. CloudFormation
starts the recorder once the delivery channel exists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_config as config
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

if TYPE_CHECKING:
    from collections.abc import Mapping

CONFIG_PRINCIPAL = "config.amazonaws.com"
RECORDED_TYPES = ("AWS::EC2::SecurityGroup",)

# AWS documents this managed policy for the role a recorder runs as ("Permissions for the IAM Role
# Assigned to AWS Config": "Use the AWS managed policy AWS_ConfigRole"): AWS keeps it in step with
# the Describe/List calls that Config makes to read each resource type it records.
CONFIG_ROLE_POLICY = "service-role/AWS_ConfigRole"

DEFAULT_SNAPSHOT_EXPIRATION = Duration.days(365)

# CloudFormation's DeliveryFrequency values, keyed by the enum the Config rule's frequency uses.
DELIVERY_FREQUENCIES: dict[config.MaximumExecutionFrequency, str] = {
    config.MaximumExecutionFrequency.ONE_HOUR: "One_Hour",
    config.MaximumExecutionFrequency.THREE_HOURS: "Three_Hours",
    config.MaximumExecutionFrequency.SIX_HOURS: "Six_Hours",
    config.MaximumExecutionFrequency.TWELVE_HOURS: "Twelve_Hours",
    config.MaximumExecutionFrequency.TWENTY_FOUR_HOURS: "TwentyFour_Hours",
}

# Why each cdk-nag finding that this construct does not fix is acknowledged.
ACCESS_LOGS_REASON = (
    "Only AWS Config writes to this bucket (as the recorder's role, or as config.amazonaws.com "
    "limited to this account by the bucket policy) and no application reads it. Server access "
    "logs would need a second bucket, which this rule then flags in turn (a log bucket cannot "
    "usefully log to itself), so the chain ends in a suppression either way. Changes to the "
    "bucket and its policy are CloudTrail management events; enable CloudTrail S3 data events "
    "on this bucket if object-level access must be audited."
)
REPLICATION_REASON = (
    "The objects are AWS Config's snapshots and history files for security groups. AWS Config "
    "keeps the same configuration items in its own store (7 years unless a retention period is "
    "set), readable with GetResourceConfigHistory, and re-delivers a snapshot every delivery "
    "period. Without replication a team loses only the S3 copies of past files if this region's "
    "bucket is lost; replicating them needs a second bucket, key and role in another region, out "
    "of proportion for an optional bootstrap recorder. An account that must keep a second copy "
    "should point its own organization-wide Config setup at a replicated archive instead."
)
CONFIG_ROLE_POLICY_REASON = (
    f"{CONFIG_ROLE_POLICY} is the policy AWS documents for a configuration recorder's role "
    "(AWS Config Developer Guide, 'Permissions for the IAM Role Assigned to AWS Config'): the "
    "read-only Describe/Get/List calls Config makes to read resource configurations, kept up to "
    "date by AWS as Config's recording changes. A hand-written copy for AWS::EC2::SecurityGroup "
    "would stop recording silently when those calls change. Writing is granted separately, to "
    "this construct's bucket prefix and key only."
)
DELIVERY_PREFIX_REASON = (
    "AWS Config names the objects it delivers itself (AWSLogs/<account>/Config/<region>/<date>/"
    "...): the wildcard is the documented delivery prefix, for this account, in this construct's "
    "bucket only, and PutObject further requires the bucket-owner-full-control ACL."
)


def _check_whole_days(expiration: Duration) -> None:
    days = expiration.to_days(integral=False)
    if days < 1 or days != int(days):
        raise ValueError(
            "snapshot_expiration must be a whole number of days, at least one; "
            f"got {expiration.to_human_string()}"
        )


def config_service_conditions(stack: Stack) -> dict[str, dict[str, str]]:
    """The conditions that bind a grant to Config's service principal to this account's Config
    in this region: AWS Config documents that it sets aws:SourceAccount, and aws:SourceArn to
    arn:<partition>:config:<region>:<account>:*, for the recorder's role, the bucket and the key
    ("Permissions for the IAM Role Assigned to AWS Config", "... for the Amazon S3 Bucket",
    "... for the KMS Key")."""
    return {
        "StringEquals": {"aws:SourceAccount": stack.account},
        "ArnLike": {
            "aws:SourceArn": f"arn:{stack.partition}:config:{stack.region}:{stack.account}:*"
        },
    }


class ConfigRecorder(Construct):
    """An AWS Config recorder for security groups only, delivering to a bucket of its own.

    Exposes ``recorder``, ``delivery_channel``, ``bucket`` (and ``bucket_policy``), ``key`` (the
    bucket's KMS key), ``role`` (the role the recorder runs as) and ``delivery_policy`` (the role's
    write access). A Config rule in the same stack must come after it::

        rule.node.add_dependency(recorder.delivery_channel)

    PutConfigRule fails with NoAvailableConfigurationRecorderException while there is no recorder,
    and the recorder starts only once the delivery channel exists.

    ``snapshot_expiration`` is how long snapshots and history files are kept (whole days, at least
    one); a deleted or expired object's previous version is kept as long again.
    ``delivery_frequency`` is how often Config delivers a snapshot. ``encryption_key`` shares a key
    the stack already has (one key less, $1 a month); by default the construct makes its own,
    rotated. A shared key must be one whose policy this stack writes (not imported): Config's
    service principal is added to it.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        snapshot_expiration: Duration = DEFAULT_SNAPSHOT_EXPIRATION,
        delivery_frequency: config.MaximumExecutionFrequency = (
            config.MaximumExecutionFrequency.TWENTY_FOUR_HOURS
        ),
        encryption_key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        _check_whole_days(snapshot_expiration)
        stack = Stack.of(self)
        this_recorder = config_service_conditions(stack)
        config_principal = iam.ServicePrincipal(CONFIG_PRINCIPAL, conditions=this_recorder)

        self.key: kms.IKey = self._key(encryption_key, config_principal)
        self.bucket = self._bucket(snapshot_expiration)
        delivery_prefix = self.bucket.arn_for_objects(f"AWSLogs/{stack.account}/Config/*")
        self.bucket_policy = self._let_config_deliver(delivery_prefix, this_recorder)
        self.role, self.delivery_policy = self._recorder_role(config_principal, delivery_prefix)
        self.recorder = self._recorder()
        self.delivery_channel = self._delivery_channel(delivery_frequency)
        self._acknowledge_nag_findings()

    def _key(self, shared: kms.IKey | None, config_principal: iam.IPrincipal) -> kms.IKey:
        """The bucket's key (``shared``, or one of its own), which Config's service principal may
        use for this recorder."""
        key = shared or kms.Key(
            self,
            "Key",
            description="portguard: encrypts the AWS Config snapshots and history in its bucket",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,  # the retained bucket is unreadable without it
        )
        # "Permissions for the KMS Key": if delivery as the role fails, Config retries as its
        # service principal, which then needs the key itself.
        added = key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AWSConfigKMSPolicy",
                principals=[config_principal],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
            )
        )
        if not added.statement_added:
            raise ValueError(
                "encryption_key must be a key whose policy this app defines (not imported): "
                "AWS Config's service principal is added to it"
            )
        return key

    def _bucket(self, expiration: Duration) -> s3.Bucket:
        """The private, versioned, KMS-encrypted bucket Config delivers to, kept on destroy."""
        return s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            # KMS, not S3-managed keys: HIPAA's S3DefaultEncryptionKMS, and Config documents
            # delivery to SSE-KMS buckets. The S3 Bucket Key spares a KMS request per object.
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-config-history",
                    expiration=expiration,
                    noncurrent_version_expiration=expiration,
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
            # It holds the compliance history: deleting the stack must not delete the evidence.
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _let_config_deliver(
        self, delivery_prefix: str, this_recorder: Mapping[str, Mapping[str, str]]
    ) -> s3.BucketPolicy:
        """The bucket policy: "Permissions for the Amazon S3 Bucket for the AWS Config Delivery
        Channel", the statements the Config console adds, so delivery also works as the service
        principal; retained with the bucket."""
        for sid, action, resource, extra in (
            ("AWSConfigBucketPermissionsCheck", "s3:GetBucketAcl", self.bucket.bucket_arn, {}),
            ("AWSConfigBucketExistenceCheck", "s3:ListBucket", self.bucket.bucket_arn, {}),
            (
                "AWSConfigBucketDelivery",
                "s3:PutObject",
                delivery_prefix,
                {"s3:x-amz-acl": "bucket-owner-full-control"},
            ),
        ):
            self.bucket.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=sid,
                    principals=[iam.ServicePrincipal(CONFIG_PRINCIPAL)],
                    actions=[action],
                    resources=[resource],
                    conditions={
                        **this_recorder,
                        "StringEquals": {**extra, **this_recorder["StringEquals"]},
                    },
                )
            )

        # The SSL-only Deny and Config's grants stay with the retained bucket.
        bucket_policy = self.bucket.policy
        if bucket_policy is None:  # add_to_resource_policy made it
            raise TypeError("the bucket has no policy")
        bucket_policy.apply_removal_policy(RemovalPolicy.RETAIN)
        return bucket_policy

    def _recorder_role(
        self, config_principal: iam.IPrincipal, delivery_prefix: str
    ) -> tuple[iam.Role, iam.ManagedPolicy]:
        """The role the recorder runs as: AWS's documented managed policy, and a policy of ours
        that writes to this bucket's delivery prefix with this key only."""
        role = iam.Role(
            self,
            "Role",
            description="portguard: the AWS Config recorder's role (records security groups)",
            assumed_by=config_principal,
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(CONFIG_ROLE_POLICY)],
        )
        # In the same account Config delivers as the role ("IAM Role Policy for your S3 Bucket",
        # "IAM Role Policy for KMS Key"). A customer managed policy, not an inline one: HIPAA's
        # IAMNoInlinePolicy. No s3:PutObjectAcl: the bucket enforces its ownership, so ACLs are
        # disabled (AWS documents that one for a bucket in another account).
        delivery_policy = iam.ManagedPolicy(
            self,
            "DeliveryPolicy",
            description="portguard: lets the AWS Config recorder's role write to its bucket",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    actions=["s3:PutObject"],
                    resources=[delivery_prefix],
                    conditions={"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}},
                ),
                iam.PolicyStatement(
                    actions=["s3:GetBucketAcl"],
                    resources=[self.bucket.bucket_arn],
                ),
                iam.PolicyStatement(
                    actions=["kms:Decrypt", "kms:GenerateDataKey"],
                    resources=[self.key.key_arn],
                ),
            ],
        )
        return role, delivery_policy

    def _recorder(self) -> config.CfnConfigurationRecorder:
        """The recorder: security groups only, continuously."""
        return config.CfnConfigurationRecorder(
            self,
            "Recorder",
            role_arn=self.role.role_arn,
            recording_group=config.CfnConfigurationRecorder.RecordingGroupProperty(
                all_supported=False,
                include_global_resource_types=False,
                resource_types=list(RECORDED_TYPES),
                recording_strategy=config.CfnConfigurationRecorder.RecordingStrategyProperty(
                    use_only="INCLUSION_BY_RESOURCE_TYPES"
                ),
            ),
            # Continuous, Config's default: the rule runs on every change, not once a day.
            recording_mode=config.CfnConfigurationRecorder.RecordingModeProperty(
                recording_frequency="CONTINUOUS"
            ),
        )

    def _delivery_channel(
        self, frequency: config.MaximumExecutionFrequency
    ) -> config.CfnDeliveryChannel:
        """The delivery channel to the bucket, created once the recorder and every permission it
        needs exist."""
        channel = config.CfnDeliveryChannel(
            self,
            "DeliveryChannel",
            s3_bucket_name=self.bucket.bucket_name,
            s3_kms_key_arn=self.key.key_arn,
            config_snapshot_delivery_properties=(
                config.CfnDeliveryChannel.ConfigSnapshotDeliveryPropertiesProperty(
                    delivery_frequency=DELIVERY_FREQUENCIES[frequency]
                )
            ),
        )
        # A delivery channel needs a recorder to exist first; Config checks that it can write to
        # the bucket when the channel is created, so the permissions must be in place by then.
        channel.add_resource_dependency(self.recorder)
        channel.node.add_dependency(self.bucket_policy, self.delivery_policy)
        return channel

    def _acknowledge_nag_findings(self) -> None:
        """Acknowledge, each with its reason, the cdk-nag findings this construct cannot fix.

        AwsSolutions and HIPAA Security report nothing else for it: the bucket is KMS-encrypted
        (rotating key), versioned, SSL-only and private; the role has no inline policy.
        """
        stack = Stack.of(self)
        cfn_bucket = self.bucket.node.default_child
        if not isinstance(cfn_bucket, s3.CfnBucket):  # s3.Bucket always has one
            raise TypeError(f"expected the bucket's CfnBucket, got {cfn_bucket!r}")
        bucket_id = stack.resolve(stack.get_logical_id(cfn_bucket))
        # On the bucket itself only: its policy (a child of the L2 bucket) is not exempted.
        NagSuppressions.add_resource_suppressions(
            cfn_bucket,
            [
                NagPackSuppression(id=rule, reason=ACCESS_LOGS_REASON)
                for rule in ("AwsSolutions-S1", "HIPAA.Security-S3BucketLoggingEnabled")
            ]
            + [
                NagPackSuppression(
                    id="HIPAA.Security-S3BucketReplicationEnabled", reason=REPLICATION_REASON
                )
            ],
            apply_to_children=True,
        )
        NagSuppressions.add_resource_suppressions(
            self.role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM4",
                    reason=CONFIG_ROLE_POLICY_REASON,
                    applies_to=[
                        f"Policy::arn:<AWS::Partition>:iam::aws:policy/{CONFIG_ROLE_POLICY}"
                    ],
                )
            ],
            apply_to_children=True,
        )
        NagSuppressions.add_resource_suppressions(
            self.delivery_policy,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason=DELIVERY_PREFIX_REASON,
                    applies_to=[f"Resource::<{bucket_id}.Arn>/AWSLogs/<AWS::AccountId>/Config/*"],
                )
            ],
            apply_to_children=True,
        )
