//! Every operation of every service the emulator knows, one enum per service, with the HTTP
//! binding that names it (from the AWS API models: botocore's `service-2.json`). The request
//! layer ([`crate::route`]) reads a request's operation from these tables once; handlers,
//! CloudTrail records and the coverage table ([`coverage_markdown`], `emulator/COVERAGE.md`)
//! all read the same enums, so a new operation is added in one place.
//!
//! An operation listed under `not_served` is known (its name is reported exactly, in the
//! protocol's own error shape) but not emulated.

use std::fmt;

/// Declares one service's operation enum: `served` ones are handled, `not_served` ones are
/// named in a "not implemented" error.
macro_rules! operations {
    (
        $(#[$doc:meta])*
        $name:ident {
            served: [$($s:ident),* $(,)?],
            not_served: [$($n:ident),* $(,)?] $(,)?
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($s,)*
            $($n,)*
        }

        impl $name {
            /// The operations the emulator serves.
            pub const SERVED: &'static [Self] = &[$(Self::$s),*];
            /// The operations of the service's API model that the emulator does not serve.
            pub const NOT_SERVED: &'static [Self] = &[$(Self::$n),*];

            /// The operation's name in the AWS API (and in CloudTrail's `eventName`).
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$s => stringify!($s),)*
                    $(Self::$n => stringify!($n),)*
                }
            }

            /// The operation with this AWS name.
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $(stringify!($s) => Some(Self::$s),)*
                    $(stringify!($n) => Some(Self::$n),)*
                    _ => None,
                }
            }

            /// Whether the emulator serves it.
            pub fn served(self) -> bool {
                Self::SERVED.contains(&self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

operations! {
    /// QLDB's control plane (`qldb` 2019-01-02, rest-json).
    QldbOp {
        served: [
            CancelJournalKinesisStream, CreateLedger, DeleteLedger, DescribeJournalKinesisStream,
            DescribeJournalS3Export, DescribeLedger, ExportJournalToS3, GetBlock, GetDigest,
            GetRevision, ListJournalKinesisStreamsForLedger, ListJournalS3Exports,
            ListJournalS3ExportsForLedger, ListLedgers, ListTagsForResource,
            StreamJournalToKinesis, TagResource, UntagResource, UpdateLedger,
            UpdateLedgerPermissionsMode,
        ],
        not_served: [],
    }
}

operations! {
    /// QLDB's session API (`qldb-session` 2019-07-11, awsJson1_0): one operation whose body
    /// carries one command.
    QldbSessionOp {
        served: [SendCommand],
        not_served: [],
    }
}

operations! {
    /// CloudTrail (2013-11-01, awsJson1_1).
    CloudTrailOp {
        served: [
            AddTags, CreateTrail, DeleteTrail, DescribeTrails, GetEventSelectors, GetTrail,
            GetTrailStatus, ListPublicKeys, ListTags, ListTrails, LookupEvents,
            PutEventSelectors, RemoveTags, StartLogging, StopLogging, UpdateTrail,
        ],
        not_served: [
            CancelQuery, CreateChannel, CreateDashboard, CreateEventDataStore, DeleteChannel,
            DeleteDashboard, DeleteEventDataStore, DeleteResourcePolicy,
            DeregisterOrganizationDelegatedAdmin, DescribeQuery, DisableFederation,
            EnableFederation, GenerateQuery, GetChannel, GetDashboard, GetEventConfiguration,
            GetEventDataStore, GetImport, GetInsightSelectors, GetQueryResults,
            GetResourcePolicy, ListChannels, ListDashboards, ListEventDataStores,
            ListImportFailures, ListImports, ListInsightsMetricData, ListQueries,
            PutEventConfiguration, PutInsightSelectors, PutResourcePolicy,
            RegisterOrganizationDelegatedAdmin, RestoreEventDataStore, SearchSampleQueries,
            StartDashboardRefresh, StartEventDataStoreIngestion, StartImport, StartQuery,
            StopEventDataStoreIngestion, StopImport, UpdateChannel, UpdateDashboard,
            UpdateEventDataStore,
        ],
    }
}

operations! {
    /// EventBridge (`events` 2015-10-07, awsJson1_1, target prefix `AWSEvents`).
    EventsOp {
        served: [
            CreateApiDestination, CreateConnection, CreateEventBus, DeleteApiDestination,
            DeleteConnection, DeleteEventBus, DeleteRule, DescribeApiDestination,
            DescribeConnection, DescribeEventBus, DescribeRule, DisableRule, EnableRule,
            ListApiDestinations, ListConnections, ListEventBuses, ListRuleNamesByTarget,
            ListRules, ListTagsForResource, ListTargetsByRule, PutEvents, PutRule, PutTargets,
            RemoveTargets, TagResource, TestEventPattern, UntagResource,
        ],
        not_served: [
            ActivateEventSource, CancelReplay, CreateArchive, CreateEndpoint,
            CreatePartnerEventSource, DeactivateEventSource, DeauthorizeConnection,
            DeleteArchive, DeleteEndpoint, DeletePartnerEventSource, DescribeArchive,
            DescribeEndpoint, DescribeEventSource, DescribePartnerEventSource, DescribeReplay,
            ListArchives, ListEndpoints, ListEventSources, ListPartnerEventSourceAccounts,
            ListPartnerEventSources, ListReplays, PutPartnerEvents, PutPermission,
            RemovePermission, StartReplay, UpdateApiDestination, UpdateArchive, UpdateConnection,
            UpdateEndpoint, UpdateEventBus,
        ],
    }
}

operations! {
    /// S3 (2006-03-01, rest-xml, path-style addressing).
    S3Op {
        served: [
            CreateBucket, DeleteBucket, DeleteBucketEncryption, DeleteBucketLifecycle,
            DeleteBucketPolicy, DeleteBucketTagging, DeleteObject, DeleteObjects,
            DeletePublicAccessBlock, GetBucketEncryption, GetBucketLifecycleConfiguration, GetBucketLocation,
            GetBucketPolicy, GetBucketTagging, GetBucketVersioning, GetObject, GetObjectLegalHold,
            GetObjectLockConfiguration, GetObjectRetention, GetPublicAccessBlock, HeadBucket,
            HeadObject, ListBuckets, ListObjectVersions, ListObjects, ListObjectsV2,
            PutBucketEncryption, PutBucketLifecycleConfiguration, PutBucketPolicy,
            PutBucketTagging, PutBucketVersioning, PutObject, PutObjectLegalHold, PutObjectLockConfiguration,
            PutObjectRetention, PutPublicAccessBlock,
        ],
        not_served: [
            AbortMultipartUpload, CompleteMultipartUpload, CopyObject,
            CreateBucketMetadataTableConfiguration, CreateMultipartUpload, CreateSession,
            DeleteBucketAnalyticsConfiguration, DeleteBucketCors,
            DeleteBucketIntelligentTieringConfiguration, DeleteBucketInventoryConfiguration,
            DeleteBucketMetadataTableConfiguration, DeleteBucketMetricsConfiguration,
            DeleteBucketOwnershipControls, DeleteBucketReplication,
            DeleteBucketWebsite, DeleteObjectTagging, GetBucketAccelerateConfiguration,
            GetBucketAcl, GetBucketAnalyticsConfiguration, GetBucketCors,
            GetBucketIntelligentTieringConfiguration, GetBucketInventoryConfiguration,
            GetBucketLifecycle, GetBucketLogging, GetBucketMetadataTableConfiguration,
            GetBucketMetricsConfiguration, GetBucketNotification,
            GetBucketNotificationConfiguration, GetBucketOwnershipControls,
            GetBucketPolicyStatus, GetBucketReplication, GetBucketRequestPayment,
            GetBucketWebsite, GetObjectAcl, GetObjectAttributes,
            GetObjectTagging, GetObjectTorrent, ListBucketAnalyticsConfigurations,
            ListBucketIntelligentTieringConfigurations, ListBucketInventoryConfigurations,
            ListBucketMetricsConfigurations, ListDirectoryBuckets, ListMultipartUploads,
            ListParts, PutBucketAccelerateConfiguration, PutBucketAcl,
            PutBucketAnalyticsConfiguration, PutBucketCors,
            PutBucketIntelligentTieringConfiguration, PutBucketInventoryConfiguration,
            PutBucketLifecycle, PutBucketLogging, PutBucketMetricsConfiguration,
            PutBucketNotification, PutBucketNotificationConfiguration,
            PutBucketOwnershipControls, PutBucketReplication, PutBucketRequestPayment,
            PutBucketWebsite, PutObjectAcl, PutObjectTagging, RenameObject,
            RestoreObject, SelectObjectContent, UploadPart, UploadPartCopy,
            WriteGetObjectResponse,
        ],
    }
}

operations! {
    /// SQS (2012-11-05): awsJson1_0 (`X-Amz-Target: AmazonSQS.<Op>`, what current SDKs and the
    /// AWS CLI speak) and the query protocol (`Action=<Op>` forms, what older SDKs speak).
    SqsOp {
        served: [
            ChangeMessageVisibility, ChangeMessageVisibilityBatch, CreateQueue, DeleteMessage,
            DeleteMessageBatch, DeleteQueue, GetQueueAttributes, GetQueueUrl,
            ListDeadLetterSourceQueues, ListQueueTags, ListQueues, PurgeQueue, ReceiveMessage,
            SendMessage, SendMessageBatch, SetQueueAttributes, TagQueue, UntagQueue,
        ],
        not_served: [
            AddPermission, CancelMessageMoveTask, ListMessageMoveTasks, RemovePermission,
            StartMessageMoveTask,
        ],
    }
}

operations! {
    /// SNS (2010-03-31, query protocol).
    SnsOp {
        served: [
            ConfirmSubscription, CreateTopic, DeleteTopic, GetSubscriptionAttributes,
            GetTopicAttributes, ListSubscriptions, ListSubscriptionsByTopic,
            ListTagsForResource, ListTopics, Publish, PublishBatch, SetSubscriptionAttributes,
            SetTopicAttributes, Subscribe, TagResource, Unsubscribe, UntagResource,
        ],
        not_served: [
            AddPermission, CheckIfPhoneNumberIsOptedOut, CreatePlatformApplication,
            CreatePlatformEndpoint, CreateSMSSandboxPhoneNumber, DeleteEndpoint,
            DeletePlatformApplication, DeleteSMSSandboxPhoneNumber, GetDataProtectionPolicy,
            GetEndpointAttributes, GetPlatformApplicationAttributes, GetSMSAttributes,
            GetSMSSandboxAccountStatus, ListEndpointsByPlatformApplication,
            ListOriginationNumbers, ListPhoneNumbersOptedOut, ListPlatformApplications,
            ListSMSSandboxPhoneNumbers, OptInPhoneNumber, PutDataProtectionPolicy,
            RemovePermission, SetEndpointAttributes, SetPlatformApplicationAttributes,
            SetSMSAttributes, VerifySMSSandboxPhoneNumber,
        ],
    }
}

operations! {
    /// STS (2011-06-15, query protocol).
    StsOp {
        served: [GetCallerIdentity],
        not_served: [
            AssumeRole, AssumeRoleWithSAML, AssumeRoleWithWebIdentity, AssumeRoot,
            DecodeAuthorizationMessage, GetAccessKeyInfo, GetFederationToken, GetSessionToken,
        ],
    }
}

operations! {
    /// Secrets Manager (2017-10-17, awsJson1_1, target prefix `secretsmanager`).
    SecretsManagerOp {
        served: [GetRandomPassword],
        not_served: [
            BatchGetSecretValue, CancelRotateSecret, CreateSecret, DeleteResourcePolicy,
            DeleteSecret, DescribeSecret, GetResourcePolicy, GetSecretValue,
            ListSecretVersionIds, ListSecrets, PutResourcePolicy, PutSecretValue,
            RemoveRegionsFromReplication, ReplicateSecretToRegions, RestoreSecret, RotateSecret,
            StopReplicationToReplica, TagResource, UntagResource, UpdateSecret,
            UpdateSecretVersionStage, ValidateResourcePolicy,
        ],
    }
}

operations! {
    /// IAM (2010-05-08, query protocol; a global service).
    IamOp {
        served: [
            AttachRolePolicy, CreatePolicy, CreateRole, DeletePolicy, DeleteRole,
            DeleteRolePolicy, DetachRolePolicy, GetPolicy, GetPolicyVersion, GetRole,
            GetRolePolicy, ListAttachedRolePolicies, ListRolePolicies, ListRoles, PutRolePolicy,
            TagRole,
        ],
        not_served: [
            AddClientIDToOpenIDConnectProvider, AddRoleToInstanceProfile, AddUserToGroup,
            AttachGroupPolicy, AttachUserPolicy, ChangePassword, CreateAccessKey,
            CreateAccountAlias, CreateGroup, CreateInstanceProfile, CreateLoginProfile,
            CreateOpenIDConnectProvider, CreatePolicyVersion, CreateSAMLProvider,
            CreateServiceLinkedRole, CreateServiceSpecificCredential, CreateUser,
            CreateVirtualMFADevice, DeactivateMFADevice, DeleteAccessKey, DeleteAccountAlias,
            DeleteAccountPasswordPolicy, DeleteGroup, DeleteGroupPolicy, DeleteInstanceProfile,
            DeleteLoginProfile, DeleteOpenIDConnectProvider, DeletePolicyVersion,
            DeleteRolePermissionsBoundary, DeleteSAMLProvider, DeleteSSHPublicKey,
            DeleteServerCertificate, DeleteServiceLinkedRole, DeleteServiceSpecificCredential,
            DeleteSigningCertificate, DeleteUser, DeleteUserPermissionsBoundary,
            DeleteUserPolicy, DeleteVirtualMFADevice, DetachGroupPolicy, DetachUserPolicy,
            DisableOrganizationsRootCredentialsManagement, DisableOrganizationsRootSessions,
            EnableMFADevice, EnableOrganizationsRootCredentialsManagement,
            EnableOrganizationsRootSessions, GenerateCredentialReport,
            GenerateOrganizationsAccessReport, GenerateServiceLastAccessedDetails,
            GetAccessKeyLastUsed, GetAccountAuthorizationDetails, GetAccountPasswordPolicy,
            GetAccountSummary, GetContextKeysForCustomPolicy, GetContextKeysForPrincipalPolicy,
            GetCredentialReport, GetGroup, GetGroupPolicy, GetInstanceProfile, GetLoginProfile,
            GetMFADevice, GetOpenIDConnectProvider, GetOrganizationsAccessReport,
            GetSAMLProvider, GetSSHPublicKey, GetServerCertificate,
            GetServiceLastAccessedDetails, GetServiceLastAccessedDetailsWithEntities,
            GetServiceLinkedRoleDeletionStatus, GetUser, GetUserPolicy, ListAccessKeys,
            ListAccountAliases, ListAttachedGroupPolicies, ListAttachedUserPolicies,
            ListEntitiesForPolicy, ListGroupPolicies, ListGroups, ListGroupsForUser,
            ListInstanceProfileTags, ListInstanceProfiles, ListInstanceProfilesForRole,
            ListMFADeviceTags, ListMFADevices, ListOpenIDConnectProviderTags,
            ListOpenIDConnectProviders, ListOrganizationsFeatures, ListPolicies,
            ListPoliciesGrantingServiceAccess, ListPolicyTags, ListPolicyVersions,
            ListRoleTags, ListSAMLProviderTags, ListSAMLProviders, ListSSHPublicKeys,
            ListServerCertificateTags, ListServerCertificates, ListServiceSpecificCredentials,
            ListSigningCertificates, ListUserPolicies, ListUserTags, ListUsers,
            ListVirtualMFADevices, PutGroupPolicy, PutRolePermissionsBoundary,
            PutUserPermissionsBoundary, PutUserPolicy, RemoveClientIDFromOpenIDConnectProvider,
            RemoveRoleFromInstanceProfile, RemoveUserFromGroup, ResetServiceSpecificCredential,
            ResyncMFADevice, SetDefaultPolicyVersion, SetSecurityTokenServicePreferences,
            SimulateCustomPolicy, SimulatePrincipalPolicy, TagInstanceProfile, TagMFADevice,
            TagOpenIDConnectProvider, TagPolicy, TagSAMLProvider, TagServerCertificate, TagUser,
            UntagInstanceProfile, UntagMFADevice, UntagOpenIDConnectProvider, UntagPolicy,
            UntagRole, UntagSAMLProvider, UntagServerCertificate, UntagUser, UpdateAccessKey,
            UpdateAccountPasswordPolicy, UpdateAssumeRolePolicy, UpdateGroup,
            UpdateLoginProfile, UpdateOpenIDConnectProviderThumbprint, UpdateRole,
            UpdateRoleDescription, UpdateSAMLProvider, UpdateSSHPublicKey,
            UpdateServerCertificate, UpdateServiceSpecificCredential, UpdateSigningCertificate,
            UpdateUser, UploadSSHPublicKey, UploadServerCertificate, UploadSigningCertificate,
        ],
    }
}

operations! {
    /// KMS (2014-11-01, awsJson1_1, target prefix `TrentService`).
    KmsOp {
        served: [
            CancelKeyDeletion, CreateAlias, CreateKey, Decrypt, DescribeKey, DisableKey,
            EnableKey, EnableKeyRotation, Encrypt, GenerateDataKey, GetKeyRotationStatus,
            ListAliases, ListKeys, ScheduleKeyDeletion,
        ],
        not_served: [
            ConnectCustomKeyStore, CreateCustomKeyStore, CreateGrant, DeleteAlias,
            DeleteCustomKeyStore, DeleteImportedKeyMaterial, DeriveSharedSecret,
            DescribeCustomKeyStores, DisableKeyRotation, DisconnectCustomKeyStore,
            GenerateDataKeyPair, GenerateDataKeyPairWithoutPlaintext,
            GenerateDataKeyWithoutPlaintext, GenerateMac, GenerateRandom, GetKeyPolicy,
            GetParametersForImport, GetPublicKey, ImportKeyMaterial, ListGrants,
            ListKeyPolicies, ListKeyRotations, ListResourceTags, ListRetirableGrants,
            PutKeyPolicy, ReEncrypt, ReplicateKey, RetireGrant, RevokeGrant, RotateKeyOnDemand,
            Sign, TagResource, UntagResource, UpdateAlias, UpdateKeyDescription,
            UpdateCustomKeyStore, UpdatePrimaryRegion, Verify, VerifyMac,
        ],
    }
}

operations! {
    /// Kinesis Data Streams (2013-12-02, awsJson1_1, target prefix `Kinesis_20131202`).
    KinesisOp {
        served: [
            CreateStream, DecreaseStreamRetentionPeriod, DeleteStream, DescribeStream,
            DescribeStreamSummary, GetRecords, GetShardIterator, IncreaseStreamRetentionPeriod,
            ListShards, ListStreams, PutRecord, PutRecords,
        ],
        not_served: [
            AddTagsToStream, DeleteResourcePolicy, DeregisterStreamConsumer, DescribeLimits,
            DescribeStreamConsumer, DisableEnhancedMonitoring, EnableEnhancedMonitoring,
            GetResourcePolicy, ListStreamConsumers, ListTagsForResource, ListTagsForStream,
            MergeShards, PutResourcePolicy, RegisterStreamConsumer, RemoveTagsFromStream,
            SplitShard, StartStreamEncryption, StopStreamEncryption, SubscribeToShard,
            TagResource, UntagResource, UpdateShardCount, UpdateStreamMode,
        ],
    }
}

/// Where an S3 operation is addressed: the service, a bucket, or an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3Level {
    Service,
    Bucket,
    Object,
}

/// S3's HTTP bindings: (method, level, subresource in the query, operation). A request's
/// operation is the first row whose method and level match and whose subresource (if any) is
/// in the query; rows sharing a binding are told apart in [`crate::route`] (`id` for the
/// configuration lists, `uploadId` for parts, `x-amz-copy-source` for copies).
pub const S3_BINDINGS: &[(&str, S3Level, &str, S3Op)] = {
    use S3Level::{Bucket as B, Object as O, Service as S};
    use S3Op::*;
    &[
        ("GET", S, "", ListBuckets),
        ("POST", S, "", WriteGetObjectResponse),
        // Object subresources.
        ("GET", O, "acl", GetObjectAcl),
        ("PUT", O, "acl", PutObjectAcl),
        ("GET", O, "attributes", GetObjectAttributes),
        ("GET", O, "legal-hold", GetObjectLegalHold),
        ("PUT", O, "legal-hold", PutObjectLegalHold),
        ("PUT", O, "renameObject", RenameObject),
        ("POST", O, "restore", RestoreObject),
        ("GET", O, "retention", GetObjectRetention),
        ("PUT", O, "retention", PutObjectRetention),
        ("POST", O, "select", SelectObjectContent),
        ("DELETE", O, "tagging", DeleteObjectTagging),
        ("GET", O, "tagging", GetObjectTagging),
        ("PUT", O, "tagging", PutObjectTagging),
        ("GET", O, "torrent", GetObjectTorrent),
        ("POST", O, "uploads", CreateMultipartUpload),
        ("DELETE", O, "uploadId", AbortMultipartUpload),
        ("GET", O, "uploadId", ListParts),
        ("POST", O, "uploadId", CompleteMultipartUpload),
        ("PUT", O, "uploadId", UploadPart),
        ("DELETE", O, "", DeleteObject),
        ("GET", O, "", GetObject),
        ("HEAD", O, "", HeadObject),
        ("PUT", O, "", PutObject),
        // Bucket subresources.
        ("GET", B, "accelerate", GetBucketAccelerateConfiguration),
        ("PUT", B, "accelerate", PutBucketAccelerateConfiguration),
        ("GET", B, "acl", GetBucketAcl),
        ("PUT", B, "acl", PutBucketAcl),
        ("DELETE", B, "analytics", DeleteBucketAnalyticsConfiguration),
        ("GET", B, "analytics", GetBucketAnalyticsConfiguration),
        ("PUT", B, "analytics", PutBucketAnalyticsConfiguration),
        ("DELETE", B, "cors", DeleteBucketCors),
        ("GET", B, "cors", GetBucketCors),
        ("PUT", B, "cors", PutBucketCors),
        ("POST", B, "delete", DeleteObjects),
        ("DELETE", B, "encryption", DeleteBucketEncryption),
        ("GET", B, "encryption", GetBucketEncryption),
        ("PUT", B, "encryption", PutBucketEncryption),
        (
            "DELETE",
            B,
            "intelligent-tiering",
            DeleteBucketIntelligentTieringConfiguration,
        ),
        (
            "GET",
            B,
            "intelligent-tiering",
            GetBucketIntelligentTieringConfiguration,
        ),
        (
            "PUT",
            B,
            "intelligent-tiering",
            PutBucketIntelligentTieringConfiguration,
        ),
        ("DELETE", B, "inventory", DeleteBucketInventoryConfiguration),
        ("GET", B, "inventory", GetBucketInventoryConfiguration),
        ("PUT", B, "inventory", PutBucketInventoryConfiguration),
        ("DELETE", B, "lifecycle", DeleteBucketLifecycle),
        ("GET", B, "lifecycle", GetBucketLifecycleConfiguration),
        ("PUT", B, "lifecycle", PutBucketLifecycleConfiguration),
        ("GET", B, "location", GetBucketLocation),
        ("GET", B, "logging", GetBucketLogging),
        ("PUT", B, "logging", PutBucketLogging),
        (
            "DELETE",
            B,
            "metadataTable",
            DeleteBucketMetadataTableConfiguration,
        ),
        (
            "GET",
            B,
            "metadataTable",
            GetBucketMetadataTableConfiguration,
        ),
        (
            "POST",
            B,
            "metadataTable",
            CreateBucketMetadataTableConfiguration,
        ),
        ("DELETE", B, "metrics", DeleteBucketMetricsConfiguration),
        ("GET", B, "metrics", GetBucketMetricsConfiguration),
        ("PUT", B, "metrics", PutBucketMetricsConfiguration),
        ("GET", B, "notification", GetBucketNotificationConfiguration),
        ("PUT", B, "notification", PutBucketNotificationConfiguration),
        ("GET", B, "object-lock", GetObjectLockConfiguration),
        ("PUT", B, "object-lock", PutObjectLockConfiguration),
        (
            "DELETE",
            B,
            "ownershipControls",
            DeleteBucketOwnershipControls,
        ),
        ("GET", B, "ownershipControls", GetBucketOwnershipControls),
        ("PUT", B, "ownershipControls", PutBucketOwnershipControls),
        ("DELETE", B, "policy", DeleteBucketPolicy),
        ("GET", B, "policy", GetBucketPolicy),
        ("PUT", B, "policy", PutBucketPolicy),
        ("GET", B, "policyStatus", GetBucketPolicyStatus),
        ("DELETE", B, "publicAccessBlock", DeletePublicAccessBlock),
        ("GET", B, "publicAccessBlock", GetPublicAccessBlock),
        ("PUT", B, "publicAccessBlock", PutPublicAccessBlock),
        ("DELETE", B, "replication", DeleteBucketReplication),
        ("GET", B, "replication", GetBucketReplication),
        ("PUT", B, "replication", PutBucketReplication),
        ("GET", B, "requestPayment", GetBucketRequestPayment),
        ("PUT", B, "requestPayment", PutBucketRequestPayment),
        ("GET", B, "session", CreateSession),
        ("DELETE", B, "tagging", DeleteBucketTagging),
        ("GET", B, "tagging", GetBucketTagging),
        ("PUT", B, "tagging", PutBucketTagging),
        ("GET", B, "uploads", ListMultipartUploads),
        ("GET", B, "versioning", GetBucketVersioning),
        ("PUT", B, "versioning", PutBucketVersioning),
        ("GET", B, "versions", ListObjectVersions),
        ("DELETE", B, "website", DeleteBucketWebsite),
        ("GET", B, "website", GetBucketWebsite),
        ("PUT", B, "website", PutBucketWebsite),
        ("DELETE", B, "", DeleteBucket),
        ("GET", B, "", ListObjects),
        ("HEAD", B, "", HeadBucket),
        ("PUT", B, "", CreateBucket),
    ]
};

/// QLDB's rest-json bindings: (method, path template, operation); `{}` is one path segment,
/// `{+}` the rest of the path (the percent-encoded ARN of the tag operations).
pub const QLDB_BINDINGS: &[(&str, &str, QldbOp)] = {
    use QldbOp::*;
    &[
        ("POST", "/ledgers", CreateLedger),
        ("GET", "/ledgers", ListLedgers),
        ("GET", "/ledgers/{}", DescribeLedger),
        ("PATCH", "/ledgers/{}", UpdateLedger),
        ("DELETE", "/ledgers/{}", DeleteLedger),
        (
            "PATCH",
            "/ledgers/{}/permissions-mode",
            UpdateLedgerPermissionsMode,
        ),
        ("POST", "/ledgers/{}/digest", GetDigest),
        ("POST", "/ledgers/{}/block", GetBlock),
        ("POST", "/ledgers/{}/revision", GetRevision),
        ("POST", "/ledgers/{}/journal-s3-exports", ExportJournalToS3),
        (
            "GET",
            "/ledgers/{}/journal-s3-exports",
            ListJournalS3ExportsForLedger,
        ),
        (
            "GET",
            "/ledgers/{}/journal-s3-exports/{}",
            DescribeJournalS3Export,
        ),
        ("GET", "/journal-s3-exports", ListJournalS3Exports),
        (
            "POST",
            "/ledgers/{}/journal-kinesis-streams",
            StreamJournalToKinesis,
        ),
        (
            "GET",
            "/ledgers/{}/journal-kinesis-streams",
            ListJournalKinesisStreamsForLedger,
        ),
        (
            "GET",
            "/ledgers/{}/journal-kinesis-streams/{}",
            DescribeJournalKinesisStream,
        ),
        (
            "DELETE",
            "/ledgers/{}/journal-kinesis-streams/{}",
            CancelJournalKinesisStream,
        ),
        ("POST", "/tags/{+}", TagResource),
        ("GET", "/tags/{+}", ListTagsForResource),
        ("DELETE", "/tags/{+}", UntagResource),
    ]
};

/// The wire protocol of a request, which decides the shape of its errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `X-Amz-Target` and a JSON body, `application/x-amz-json-1.0` (QLDB session, SQS, Kinesis…).
    AwsJson10,
    /// `X-Amz-Target` and a JSON body, `application/x-amz-json-1.1` (CloudTrail, EventBridge…).
    AwsJson11,
    /// REST with JSON bodies (QLDB's control plane).
    RestJson,
    /// REST with XML bodies (S3).
    RestXml,
    /// Form-encoded `Action=…` requests with XML answers (IAM, STS, SNS; SQS as awscli 1.x speaks it).
    Query,
}

/// What a role must allow for an operation to be served to it ([`Operation::access`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Access {
    /// Reads digests, proofs, objects, events, reports; changes nothing.
    Read,
    /// Appends data: QLDB transactions that write, PutObject, PutEvents, SendMessage, …
    Write,
    /// Manages: creates and deletes ledgers, buckets, trails, queues, keys, policies, retention.
    Manage,
}

impl Access {
    /// `read`, `write` or `manage` (the coverage table's column).
    pub fn name(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Manage => "manage",
        }
    }
}

/// The operation a request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    Qldb(QldbOp),
    QldbSession(QldbSessionOp),
    S3(S3Op),
    CloudTrail(CloudTrailOp),
    Events(EventsOp),
    Sqs(SqsOp),
    Sns(SnsOp),
    Sts(StsOp),
    SecretsManager(SecretsManagerOp),
    Iam(IamOp),
    Kms(KmsOp),
    Kinesis(KinesisOp),
    /// An operation of a service the emulator does not serve, or an unknown one: its service's
    /// signing name (or target prefix) and the operation name the request gave.
    NotServed {
        service: String,
        operation: String,
    },
}

impl Operation {
    /// The AWS operation name (CloudTrail's `eventName`).
    pub fn name(&self) -> &str {
        match self {
            Self::Qldb(o) => o.name(),
            Self::QldbSession(o) => o.name(),
            Self::S3(o) => o.name(),
            Self::CloudTrail(o) => o.name(),
            Self::Events(o) => o.name(),
            Self::Sqs(o) => o.name(),
            Self::Sns(o) => o.name(),
            Self::Sts(o) => o.name(),
            Self::SecretsManager(o) => o.name(),
            Self::Iam(o) => o.name(),
            Self::Kms(o) => o.name(),
            Self::Kinesis(o) => o.name(),
            Self::NotServed { operation, .. } => operation,
        }
    }

    /// The service's signing name, as in `<service>.amazonaws.com` (CloudTrail's `eventSource`).
    pub fn service(&self) -> &str {
        match self {
            Self::Qldb(_) | Self::QldbSession(_) => "qldb",
            Self::S3(_) => "s3",
            Self::CloudTrail(_) => "cloudtrail",
            Self::Events(_) => "events",
            Self::Sqs(_) => "sqs",
            Self::Sns(_) => "sns",
            Self::Sts(_) => "sts",
            Self::SecretsManager(_) => "secretsmanager",
            Self::Iam(_) => "iam",
            Self::Kms(_) => "kms",
            Self::Kinesis(_) => "kinesis",
            Self::NotServed { service, .. } => service,
        }
    }

    /// Whether the emulator serves it.
    pub fn served(&self) -> bool {
        match self {
            Self::Qldb(o) => o.served(),
            Self::QldbSession(o) => o.served(),
            Self::S3(o) => o.served(),
            Self::CloudTrail(o) => o.served(),
            Self::Events(o) => o.served(),
            Self::Sqs(o) => o.served(),
            Self::Sns(o) => o.served(),
            Self::Sts(o) => o.served(),
            Self::SecretsManager(o) => o.served(),
            Self::Iam(o) => o.served(),
            Self::Kms(o) => o.served(),
            Self::Kinesis(o) => o.served(),
            Self::NotServed { .. } => false,
        }
    }

    /// Whether CloudTrail records it as read-only (`readOnly`). KMS's cryptographic calls
    /// (Encrypt, Decrypt, GenerateDataKey…) change no key: CloudTrail records them as read-only
    /// management events (a trail's `ExcludeManagementEventSources: kms.amazonaws.com` exists
    /// to leave them out).
    pub fn read_only(&self) -> bool {
        if let Self::Kms(op) = self {
            if matches!(
                op,
                KmsOp::Encrypt | KmsOp::Decrypt | KmsOp::GenerateDataKey | KmsOp::ReEncrypt
            ) || op.name().starts_with("GenerateDataKey")
            {
                return true;
            }
        }
        ["Get", "List", "Describe", "Lookup", "Head", "Test"]
            .iter()
            .any(|p| self.name().starts_with(p))
    }

    /// What a caller's role must allow for the operation: the one classification that
    /// authenticated serving ([`crate::auth`]) enforces. Every service is named here (a new
    /// service does not compile until it is classified); within a service, the operations that
    /// append data are listed, the ones CloudTrail calls read-only ([`Operation::read_only`])
    /// read, and everything else (a new operation too, until it is listed) manages.
    ///
    /// A QLDB session's `SendCommand` reads at this level: a transaction that writes is refused
    /// inside the session to a role that may not append.
    pub fn access(&self) -> Access {
        let appends = match self {
            Self::QldbSession(_) => false,
            Self::Qldb(_)
            | Self::CloudTrail(_)
            | Self::Sts(_)
            | Self::Iam(_)
            | Self::SecretsManager(_) => false,
            Self::S3(op) => matches!(
                op,
                S3Op::PutObject
                    | S3Op::CopyObject
                    | S3Op::CreateMultipartUpload
                    | S3Op::UploadPart
                    | S3Op::UploadPartCopy
                    | S3Op::CompleteMultipartUpload
                    | S3Op::AbortMultipartUpload
            ),
            Self::Events(op) => matches!(op, EventsOp::PutEvents | EventsOp::PutPartnerEvents),
            // The message calls (CloudTrail's data events of SQS and SNS): sending, and
            // receiving and deleting, which change the queue (a consumer writes).
            Self::Sqs(_) | Self::Sns(_) => self.data_event(),
            Self::Kinesis(op) => matches!(op, KinesisOp::PutRecord | KinesisOp::PutRecords),
            // Using a key (encrypting, decrypting, making data keys) changes no key, but it is
            // the data path of whoever writes encrypted data, not an auditor's reading.
            Self::Kms(op) => matches!(
                op,
                KmsOp::Encrypt
                    | KmsOp::Decrypt
                    | KmsOp::ReEncrypt
                    | KmsOp::GenerateDataKey
                    | KmsOp::GenerateDataKeyWithoutPlaintext
                    | KmsOp::GenerateDataKeyPair
                    | KmsOp::GenerateDataKeyPairWithoutPlaintext
                    | KmsOp::GenerateMac
                    | KmsOp::GenerateRandom
                    | KmsOp::Sign
                    | KmsOp::Verify
                    | KmsOp::VerifyMac
                    | KmsOp::DeriveSharedSecret
            ),
            Self::NotServed { .. } => false,
        };
        if appends {
            Access::Write
        } else if matches!(self, Self::QldbSession(_)) || self.read_only() {
            Access::Read
        } else {
            Access::Manage
        }
    }

    /// Every operation of every service enum, served or not.
    pub fn every() -> Vec<Operation> {
        fn all<T: Copy>(
            served: &[T],
            not_served: &[T],
            wrap: fn(T) -> Operation,
        ) -> Vec<Operation> {
            served.iter().chain(not_served).map(|o| wrap(*o)).collect()
        }
        [
            all(QldbOp::SERVED, QldbOp::NOT_SERVED, Self::Qldb),
            all(
                QldbSessionOp::SERVED,
                QldbSessionOp::NOT_SERVED,
                Self::QldbSession,
            ),
            all(S3Op::SERVED, S3Op::NOT_SERVED, Self::S3),
            all(
                CloudTrailOp::SERVED,
                CloudTrailOp::NOT_SERVED,
                Self::CloudTrail,
            ),
            all(EventsOp::SERVED, EventsOp::NOT_SERVED, Self::Events),
            all(SqsOp::SERVED, SqsOp::NOT_SERVED, Self::Sqs),
            all(SnsOp::SERVED, SnsOp::NOT_SERVED, Self::Sns),
            all(StsOp::SERVED, StsOp::NOT_SERVED, Self::Sts),
            all(
                SecretsManagerOp::SERVED,
                SecretsManagerOp::NOT_SERVED,
                Self::SecretsManager,
            ),
            all(IamOp::SERVED, IamOp::NOT_SERVED, Self::Iam),
            all(KmsOp::SERVED, KmsOp::NOT_SERVED, Self::Kms),
            all(KinesisOp::SERVED, KinesisOp::NOT_SERVED, Self::Kinesis),
        ]
        .concat()
    }

    /// Whether CloudTrail records it as a data event: S3 object-level calls, QLDB session
    /// commands, SQS message calls and SNS publishing.
    pub fn data_event(&self) -> bool {
        match self {
            Self::QldbSession(_) => true,
            Self::Sqs(op) => matches!(
                op,
                SqsOp::SendMessage
                    | SqsOp::SendMessageBatch
                    | SqsOp::ReceiveMessage
                    | SqsOp::DeleteMessage
                    | SqsOp::DeleteMessageBatch
                    | SqsOp::ChangeMessageVisibility
                    | SqsOp::ChangeMessageVisibilityBatch
            ),
            Self::Sns(op) => matches!(op, SnsOp::Publish | SnsOp::PublishBatch),
            Self::Kinesis(op) => matches!(
                op,
                KinesisOp::PutRecord
                    | KinesisOp::PutRecords
                    | KinesisOp::GetRecords
                    | KinesisOp::GetShardIterator
            ),
            Self::S3(op) => {
                *op == S3Op::DeleteObjects
                    || S3_BINDINGS
                        .iter()
                        .any(|(_, level, _, o)| o == op && *level == S3Level::Object)
            }
            _ => false,
        }
    }

    /// Whether the call runs inside a store write (committed with its CloudTrail record before
    /// it is answered): every call that can change what `aws.sqlite` holds, and LookupEvents,
    /// which reads the records and so commits the waiting ones first. QLDB session commands
    /// change only their ledger, which is durable by itself.
    pub fn writes_store(&self) -> bool {
        match self {
            Self::QldbSession(_) | Self::NotServed { .. } => false,
            Self::CloudTrail(CloudTrailOp::ListPublicKeys | CloudTrailOp::LookupEvents) => true,
            other => !other.read_only(),
        }
    }
}

/// The coverage table: for each emulated service, every operation of its AWS API model and
/// whether it is served (kept true by a test against `emulator/COVERAGE.md`).
pub fn coverage_markdown() -> String {
    fn section(out: &mut String, title: &str, served: &[String], not_served: &[String]) {
        let mut all: Vec<(&str, bool)> = served
            .iter()
            .map(|n| (n.as_str(), true))
            .chain(not_served.iter().map(|n| (n.as_str(), false)))
            .collect();
        all.sort_unstable();
        out.push_str(&format!(
            "\n## {title}\n\n{} of {} operations served.\n\n",
            served.len(),
            all.len()
        ));
        for (name, is_served) in all {
            let mark = if is_served { "X" } else { " " };
            out.push_str(&format!("- [{mark}] {name}\n"));
        }
    }
    /// Each operation's name and the access it needs ([`Operation::access`]).
    fn names<T: Copy>(ops: &[T], wrap: fn(T) -> Operation) -> Vec<String> {
        ops.iter()
            .map(|o| {
                let op = wrap(*o);
                format!("{} ({})", op.name(), op.access().name())
            })
            .collect()
    }
    let mut out = String::from(
        "# Emulator coverage\n\n\
         Generated from the operation enums in `emulator/src/ops.rs` (`cargo xtask coverage` \
         rewrites it; a test keeps it true).\n\
         Each list is the service's whole API as its AWS model names it; an operation that is \
         not served is answered with the protocol's own error naming it.\n\
         In brackets, the access a caller's role needs when `veritrail serve` authenticates \
         (`--credentials`): read (auditor), write (writer), manage (admin).\n\
         Services with no row here (DynamoDB, Route 53, …) are not \
         served: their requests get their protocol's error shape (JSON or query XML) naming \
         the operation.\n",
    );
    section(
        &mut out,
        "qldb (control plane)",
        &names(QldbOp::SERVED, Operation::Qldb),
        &names(QldbOp::NOT_SERVED, Operation::Qldb),
    );
    section(
        &mut out,
        "qldb-session",
        &names(QldbSessionOp::SERVED, Operation::QldbSession),
        &names(QldbSessionOp::NOT_SERVED, Operation::QldbSession),
    );
    section(
        &mut out,
        "s3",
        &names(S3Op::SERVED, Operation::S3),
        &names(S3Op::NOT_SERVED, Operation::S3),
    );
    section(
        &mut out,
        "cloudtrail",
        &names(CloudTrailOp::SERVED, Operation::CloudTrail),
        &names(CloudTrailOp::NOT_SERVED, Operation::CloudTrail),
    );
    section(
        &mut out,
        "events (EventBridge)",
        &names(EventsOp::SERVED, Operation::Events),
        &names(EventsOp::NOT_SERVED, Operation::Events),
    );
    section(
        &mut out,
        "sqs",
        &names(SqsOp::SERVED, Operation::Sqs),
        &names(SqsOp::NOT_SERVED, Operation::Sqs),
    );
    section(
        &mut out,
        "sns",
        &names(SnsOp::SERVED, Operation::Sns),
        &names(SnsOp::NOT_SERVED, Operation::Sns),
    );
    section(
        &mut out,
        "sts",
        &names(StsOp::SERVED, Operation::Sts),
        &names(StsOp::NOT_SERVED, Operation::Sts),
    );
    section(
        &mut out,
        "secretsmanager",
        &names(SecretsManagerOp::SERVED, Operation::SecretsManager),
        &names(SecretsManagerOp::NOT_SERVED, Operation::SecretsManager),
    );
    section(
        &mut out,
        "iam",
        &names(IamOp::SERVED, Operation::Iam),
        &names(IamOp::NOT_SERVED, Operation::Iam),
    );
    section(
        &mut out,
        "kms",
        &names(KmsOp::SERVED, Operation::Kms),
        &names(KmsOp::NOT_SERVED, Operation::Kms),
    );
    section(
        &mut out,
        "kinesis",
        &names(KinesisOp::SERVED, Operation::Kinesis),
        &names(KinesisOp::NOT_SERVED, Operation::Kinesis),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_s3_operation_has_a_binding_and_names_round_trip() {
        for op in S3Op::SERVED.iter().chain(S3Op::NOT_SERVED) {
            assert_eq!(S3Op::from_name(op.name()), Some(*op));
            let bound = S3_BINDINGS.iter().any(|(_, _, _, o)| o == op);
            // Three operations share a binding with another and are told apart by headers or
            // the query (CopyObject, UploadPartCopy, the List… configurations), or are the
            // legacy twin of a served one (GetBucketLifecycle, PutBucketLifecycle,
            // GetBucketNotification, PutBucketNotification, ListDirectoryBuckets).
            let shared = matches!(
                op,
                S3Op::CopyObject
                    | S3Op::UploadPartCopy
                    | S3Op::ListBucketAnalyticsConfigurations
                    | S3Op::ListBucketIntelligentTieringConfigurations
                    | S3Op::ListBucketInventoryConfigurations
                    | S3Op::ListBucketMetricsConfigurations
                    | S3Op::GetBucketLifecycle
                    | S3Op::PutBucketLifecycle
                    | S3Op::GetBucketNotification
                    | S3Op::PutBucketNotification
                    | S3Op::ListDirectoryBuckets
                    | S3Op::ListObjectsV2
            );
            assert!(bound || shared, "{op} has no binding");
        }
        for op in QldbOp::SERVED.iter().chain(QldbOp::NOT_SERVED) {
            assert!(QLDB_BINDINGS.iter().any(|(_, _, o)| o == op), "{op}");
        }
    }

    #[test]
    fn the_coverage_table_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("COVERAGE.md");
        let want = coverage_markdown();
        if std::env::var_os("VERITRAIL_WRITE_COVERAGE").is_some() {
            std::fs::write(&path, &want).unwrap();
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "emulator/COVERAGE.md is stale: run `cargo xtask coverage`"
        );
    }
}
