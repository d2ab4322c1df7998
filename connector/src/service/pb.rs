//! The protobuf messages of service mode, written by hand with `prost` derives: package
//! `c1.connectorapi.baton.v1` (baton-sdk's `proto/c1/connectorapi/baton/v1/baton.proto`) and
//! the `c1.connector.v2` request, response and annotation messages that its tasks embed and
//! its `FinishTask` carries back (the ones a sync writes are in [`crate::proto`]).
//!
//! Field numbers and types are baton-sdk v0.25.0's. Task payloads this connector does not act
//! on are declared as [`Opaque`]: the `Task` oneof still tells which kind of task arrived (so it
//! can be finished with the right error), while the payload's fields are skipped unread.

use prost::{Message, Name, Oneof};
use prost_types::{Any, Duration, Struct};

use crate::proto::{Entitlement, Grant, Resource, ResourceId, ResourceType, TYPE_URL_PREFIX};

/// The gRPC service every method path starts with.
pub const SERVICE: &str = "c1.connectorapi.baton.v1.BatonService";

/// A message whose fields are skipped unread (prost ignores unknown fields).
#[derive(Clone, PartialEq, Message)]
pub struct Opaque {}

/// `google.rpc.Status`.
#[derive(Clone, PartialEq, Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<Any>,
}

/// `BatonServiceHelloRequest.BuildInfo`.
#[derive(Clone, PartialEq, Message)]
pub struct BuildInfo {
    #[prost(string, tag = "1")]
    pub lang_version: String,
    #[prost(string, tag = "2")]
    pub package: String,
    #[prost(string, tag = "3")]
    pub package_version: String,
}

/// `BatonServiceHelloRequest.OSInfo`.
#[derive(Clone, PartialEq, Message)]
pub struct OsInfo {
    #[prost(string, tag = "1")]
    pub hostname: String,
    #[prost(string, tag = "2")]
    pub os: String,
    #[prost(string, tag = "3")]
    pub platform: String,
    #[prost(string, tag = "4")]
    pub platform_version: String,
    #[prost(string, tag = "5")]
    pub platform_family: String,
    #[prost(string, tag = "6")]
    pub kernel_version: String,
    #[prost(string, tag = "7")]
    pub kernel_arch: String,
    #[prost(string, tag = "8")]
    pub virtualization_system: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct HelloRequest {
    #[prost(string, tag = "1")]
    pub host_id: String,
    #[prost(string, tag = "2")]
    pub task_id: String,
    #[prost(message, optional, tag = "3")]
    pub build_info: Option<BuildInfo>,
    #[prost(message, optional, tag = "4")]
    pub os_info: Option<OsInfo>,
    #[prost(message, optional, tag = "5")]
    pub connector_metadata: Option<ConnectorMetadata>,
    #[prost(message, repeated, tag = "6")]
    pub annotations: Vec<Any>,
}

#[derive(Clone, PartialEq, Message)]
pub struct HelloResponse {
    #[prost(message, repeated, tag = "1")]
    pub annotations: Vec<Any>,
}

#[derive(Clone, PartialEq, Message)]
pub struct GetTaskRequest {
    #[prost(string, tag = "1")]
    pub host_id: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct GetTaskResponse {
    #[prost(message, optional, tag = "1")]
    pub task: Option<Task>,
    #[prost(message, optional, tag = "2")]
    pub next_poll: Option<Duration>,
    #[prost(message, optional, tag = "3")]
    pub next_heartbeat: Option<Duration>,
    #[prost(message, repeated, tag = "4")]
    pub annotations: Vec<Any>,
}

#[derive(Clone, PartialEq, Message)]
pub struct HeartbeatRequest {
    #[prost(string, tag = "1")]
    pub host_id: String,
    #[prost(string, tag = "2")]
    pub task_id: String,
    #[prost(message, repeated, tag = "3")]
    pub annotations: Vec<Any>,
    #[prost(string, repeated, tag = "4")]
    pub task_ids: Vec<String>,
}

#[derive(Clone, PartialEq, Message)]
pub struct HeartbeatResponse {
    #[prost(message, optional, tag = "1")]
    pub next_heartbeat: Option<Duration>,
    #[prost(bool, tag = "2")]
    pub cancelled: bool,
    #[prost(message, repeated, tag = "3")]
    pub annotations: Vec<Any>,
    #[prost(string, repeated, tag = "4")]
    pub cancelled_task_ids: Vec<String>,
}

/// `BatonServiceUploadAssetRequest`: one message of the client stream.
#[derive(Clone, PartialEq, Message)]
pub struct UploadAssetRequest {
    #[prost(oneof = "upload_asset_request::Msg", tags = "100, 101, 102")]
    pub msg: Option<upload_asset_request::Msg>,
}

/// Nested types of [`UploadAssetRequest`].
pub mod upload_asset_request {
    use prost_types::Any;

    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Msg {
        #[prost(message, tag = "100")]
        Metadata(UploadMetadata),
        #[prost(message, tag = "101")]
        Data(UploadData),
        #[prost(message, tag = "102")]
        Eof(UploadEof),
    }

    /// Field 3 is unused upstream.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct UploadMetadata {
        #[prost(string, tag = "1")]
        pub host_id: String,
        #[prost(string, tag = "2")]
        pub task_id: String,
        #[prost(message, repeated, tag = "4")]
        pub annotations: Vec<Any>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct UploadData {
        #[prost(bytes = "vec", tag = "1")]
        pub data: Vec<u8>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct UploadEof {
        #[prost(bytes = "vec", tag = "1")]
        pub sha256_checksum: Vec<u8>,
        #[prost(message, repeated, tag = "2")]
        pub annotations: Vec<Any>,
    }
}

#[derive(Clone, PartialEq, Message)]
pub struct UploadAssetResponse {
    #[prost(message, repeated, tag = "1")]
    pub annotations: Vec<Any>,
}

#[derive(Clone, PartialEq, Message)]
pub struct FinishTaskRequest {
    #[prost(string, tag = "1")]
    pub host_id: String,
    #[prost(string, tag = "2")]
    pub task_id: String,
    #[prost(message, optional, tag = "3")]
    pub status: Option<RpcStatus>,
    #[prost(oneof = "finish_task_request::FinalState", tags = "100, 101")]
    pub final_state: Option<finish_task_request::FinalState>,
}

/// Nested types of [`FinishTaskRequest`].
pub mod finish_task_request {
    use prost_types::Any;

    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum FinalState {
        #[prost(message, tag = "100")]
        Error(Error),
        #[prost(message, tag = "101")]
        Success(Success),
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Error {
        #[prost(bool, tag = "1")]
        pub non_retryable: bool,
        #[prost(message, repeated, tag = "2")]
        pub annotations: Vec<Any>,
        #[prost(message, optional, tag = "3")]
        pub response: Option<Any>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Success {
        #[prost(message, repeated, tag = "1")]
        pub annotations: Vec<Any>,
        #[prost(message, optional, tag = "2")]
        pub response: Option<Any>,
    }
}

#[derive(Clone, PartialEq, Message)]
pub struct FinishTaskResponse {
    #[prost(message, repeated, tag = "1")]
    pub annotations: Vec<Any>,
}

/// `c1.connectorapi.baton.v1.Task`.
#[derive(Clone, PartialEq, Message)]
pub struct Task {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(int32, tag = "2")]
    pub status: i32,
    #[prost(bool, tag = "3")]
    pub debug: bool,
    #[prost(
        oneof = "TaskType",
        tags = "100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123"
    )]
    pub task_type: Option<TaskType>,
}

/// The `task_type` oneof of [`Task`].
#[derive(Clone, PartialEq, Oneof)]
pub enum TaskType {
    #[prost(message, tag = "100")]
    None(Opaque),
    #[prost(message, tag = "101")]
    Hello(Opaque),
    #[prost(message, tag = "102")]
    SyncFull(SyncFullTask),
    #[prost(message, tag = "103")]
    Grant(GrantTask),
    #[prost(message, tag = "104")]
    Revoke(RevokeTask),
    #[prost(message, tag = "105")]
    CreateAccount(CreateAccountTask),
    #[prost(message, tag = "106")]
    CreateResource(Opaque),
    #[prost(message, tag = "107")]
    DeleteResource(DeleteResourceTask),
    #[prost(message, tag = "108")]
    RotateCredentials(Opaque),
    #[prost(message, tag = "109")]
    EventFeed(Opaque),
    #[prost(message, tag = "110")]
    CreateTicketTask(Opaque),
    #[prost(message, tag = "111")]
    ListTicketSchemas(Opaque),
    #[prost(message, tag = "112")]
    GetTicket(Opaque),
    #[prost(message, tag = "113")]
    BulkCreateTickets(Opaque),
    #[prost(message, tag = "114")]
    BulkGetTickets(Opaque),
    #[prost(message, tag = "115")]
    ActionListSchemas(Opaque),
    #[prost(message, tag = "116")]
    ActionGetSchema(Opaque),
    #[prost(message, tag = "117")]
    ActionInvoke(Opaque),
    #[prost(message, tag = "118")]
    ActionStatus(Opaque),
    #[prost(message, tag = "119")]
    CreateSyncDiff(Opaque),
    #[prost(message, tag = "120")]
    CompactSyncs(Opaque),
    #[prost(message, tag = "121")]
    ListEventFeeds(Opaque),
    #[prost(message, tag = "122")]
    ListEvents(Opaque),
    #[prost(message, tag = "123")]
    IssueCredential(Opaque),
}

impl TaskType {
    /// The oneof field's name in the proto, for logs and error messages.
    pub fn name(&self) -> &'static str {
        match self {
            TaskType::None(_) => "none",
            TaskType::Hello(_) => "hello",
            TaskType::SyncFull(_) => "sync_full",
            TaskType::Grant(_) => "grant",
            TaskType::Revoke(_) => "revoke",
            TaskType::CreateAccount(_) => "create_account",
            TaskType::CreateResource(_) => "create_resource",
            TaskType::DeleteResource(_) => "delete_resource",
            TaskType::RotateCredentials(_) => "rotate_credentials",
            TaskType::EventFeed(_) => "event_feed",
            TaskType::CreateTicketTask(_) => "create_ticket_task",
            TaskType::ListTicketSchemas(_) => "list_ticket_schemas",
            TaskType::GetTicket(_) => "get_ticket",
            TaskType::BulkCreateTickets(_) => "bulk_create_tickets",
            TaskType::BulkGetTickets(_) => "bulk_get_tickets",
            TaskType::ActionListSchemas(_) => "action_list_schemas",
            TaskType::ActionGetSchema(_) => "action_get_schema",
            TaskType::ActionInvoke(_) => "action_invoke",
            TaskType::ActionStatus(_) => "action_status",
            TaskType::CreateSyncDiff(_) => "create_sync_diff",
            TaskType::CompactSyncs(_) => "compact_syncs",
            TaskType::ListEventFeeds(_) => "list_event_feeds",
            TaskType::ListEvents(_) => "list_events",
            TaskType::IssueCredential(_) => "issue_credential",
        }
    }
}

#[derive(Clone, PartialEq, Message)]
pub struct SyncFullTask {
    #[prost(message, repeated, tag = "1")]
    pub annotations: Vec<Any>,
    #[prost(bool, tag = "2")]
    pub skip_expand_grants: bool,
    #[prost(bool, tag = "3")]
    pub skip_entitlements_and_grants: bool,
    #[prost(message, repeated, tag = "4")]
    pub targeted_sync_resources: Vec<Resource>,
    #[prost(string, repeated, tag = "5")]
    pub sync_resource_type_ids: Vec<String>,
    #[prost(bool, tag = "6")]
    pub skip_grants: bool,
    #[prost(string, tag = "7")]
    pub storage_engine: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct GrantTask {
    #[prost(message, optional, tag = "1")]
    pub entitlement: Option<Entitlement>,
    #[prost(message, optional, tag = "2")]
    pub principal: Option<Resource>,
    #[prost(message, repeated, tag = "3")]
    pub annotations: Vec<Any>,
    #[prost(message, optional, tag = "4")]
    pub duration: Option<Duration>,
}

#[derive(Clone, PartialEq, Message)]
pub struct RevokeTask {
    #[prost(message, optional, tag = "1")]
    pub grant: Option<Grant>,
    #[prost(message, repeated, tag = "2")]
    pub annotations: Vec<Any>,
}

#[derive(Clone, PartialEq, Message)]
pub struct CreateAccountTask {
    #[prost(message, optional, tag = "1")]
    pub account_info: Option<AccountInfo>,
    #[prost(message, optional, tag = "2")]
    pub credential_options: Option<CredentialOptions>,
    #[prost(message, repeated, tag = "3")]
    pub encryption_configs: Vec<Opaque>,
    #[prost(string, tag = "4")]
    pub resource_type_id: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct DeleteResourceTask {
    #[prost(message, optional, tag = "1")]
    pub resource_id: Option<ResourceId>,
    #[prost(message, optional, tag = "2")]
    pub parent_resource_id: Option<ResourceId>,
}

/// `c1.connector.v2.AccountInfo`.
#[derive(Clone, PartialEq, Message)]
pub struct AccountInfo {
    #[prost(message, repeated, tag = "1")]
    pub emails: Vec<account_info::Email>,
    #[prost(string, tag = "2")]
    pub login: String,
    #[prost(string, repeated, tag = "3")]
    pub login_aliases: Vec<String>,
    #[prost(message, optional, tag = "4")]
    pub profile: Option<Struct>,
}

/// Nested types of [`AccountInfo`].
pub mod account_info {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Email {
        #[prost(string, tag = "1")]
        pub address: String,
        #[prost(bool, tag = "2")]
        pub is_primary: bool,
    }
}

/// `c1.connector.v2.CredentialOptions`: only which option was chosen matters here.
#[derive(Clone, PartialEq, Message)]
pub struct CredentialOptions {
    #[prost(bool, tag = "1")]
    pub force_change_at_next_login: bool,
    #[prost(oneof = "CredentialOption", tags = "100, 101, 102, 103")]
    pub options: Option<CredentialOption>,
}

#[derive(Clone, PartialEq, Oneof)]
pub enum CredentialOption {
    #[prost(message, tag = "100")]
    RandomPassword(Opaque),
    #[prost(message, tag = "101")]
    NoPassword(Opaque),
    #[prost(message, tag = "102")]
    Sso(Opaque),
    #[prost(message, tag = "103")]
    EncryptedPassword(Opaque),
}

/// `c1.connector.v2.GrantManagerServiceGrantResponse`.
#[derive(Clone, PartialEq, Message)]
pub struct GrantManagerServiceGrantResponse {
    #[prost(message, repeated, tag = "1")]
    pub annotations: Vec<Any>,
    #[prost(message, repeated, tag = "2")]
    pub grants: Vec<Grant>,
}

/// `c1.connector.v2.GrantManagerServiceRevokeResponse`.
#[derive(Clone, PartialEq, Message)]
pub struct GrantManagerServiceRevokeResponse {
    #[prost(message, repeated, tag = "1")]
    pub annotations: Vec<Any>,
}

/// `c1.connector.v2.CreateAccountResponse`.
#[derive(Clone, PartialEq, Message)]
pub struct CreateAccountResponse {
    #[prost(oneof = "create_account_response::Result", tags = "100, 101, 102, 103")]
    pub result: Option<create_account_response::Result>,
    #[prost(message, repeated, tag = "2")]
    pub encrypted_data: Vec<Opaque>,
    #[prost(message, repeated, tag = "3")]
    pub annotations: Vec<Any>,
}

/// Nested types of [`CreateAccountResponse`].
pub mod create_account_response {
    use crate::proto::Resource;

    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Result {
        #[prost(message, tag = "100")]
        Success(SuccessResult),
        #[prost(message, tag = "101")]
        ActionRequired(ActionRequiredResult),
        #[prost(message, tag = "102")]
        AlreadyExists(AlreadyExistsResult),
        #[prost(message, tag = "103")]
        InProgress(AlreadyExistsResult),
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SuccessResult {
        #[prost(message, optional, tag = "1")]
        pub resource: Option<Resource>,
        #[prost(bool, tag = "2")]
        pub is_create_account_result: bool,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ActionRequiredResult {
        #[prost(message, optional, tag = "1")]
        pub resource: Option<Resource>,
        #[prost(string, tag = "2")]
        pub message: String,
        #[prost(bool, tag = "3")]
        pub is_create_account_result: bool,
    }

    /// The shape of both `AlreadyExistsResult` and `InProgressResult`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AlreadyExistsResult {
        #[prost(message, optional, tag = "1")]
        pub resource: Option<Resource>,
        #[prost(bool, tag = "2")]
        pub is_create_account_result: bool,
    }
}

/// `c1.connector.v2.DeleteResourceResponse`.
#[derive(Clone, PartialEq, Message)]
pub struct DeleteResourceResponse {
    #[prost(message, repeated, tag = "1")]
    pub annotations: Vec<Any>,
}

/// `c1.connector.v2.GrantAlreadyExists`: the grant asked for already held; nothing changed.
#[derive(Clone, PartialEq, Message)]
pub struct GrantAlreadyExists {}

/// `c1.connector.v2.GrantAlreadyRevoked`: the grant to revoke did not hold; nothing changed.
#[derive(Clone, PartialEq, Message)]
pub struct GrantAlreadyRevoked {}

/// `c1.connector.v2.ResourceDoesNotExist`: the resource to delete was already gone.
#[derive(Clone, PartialEq, Message)]
pub struct ResourceDoesNotExist {}

/// `c1.connector.v2.ConnectorMetadata`, sent in `Hello`.
#[derive(Clone, PartialEq, Message)]
pub struct ConnectorMetadata {
    #[prost(string, tag = "1")]
    pub display_name: String,
    #[prost(string, tag = "2")]
    pub help_url: String,
    #[prost(message, optional, tag = "5")]
    pub profile: Option<Struct>,
    #[prost(message, repeated, tag = "6")]
    pub annotations: Vec<Any>,
    #[prost(string, tag = "7")]
    pub description: String,
    #[prost(message, optional, tag = "8")]
    pub capabilities: Option<ConnectorCapabilities>,
}

/// `c1.connector.v2.ConnectorCapabilities` (without `credential_details`).
#[derive(Clone, PartialEq, Message)]
pub struct ConnectorCapabilities {
    #[prost(message, repeated, tag = "1")]
    pub resource_type_capabilities: Vec<ResourceTypeCapability>,
    #[prost(enumeration = "Capability", repeated, tag = "2")]
    pub connector_capabilities: Vec<i32>,
}

/// `c1.connector.v2.ResourceTypeCapability` (without `permissions` and later fields).
#[derive(Clone, PartialEq, Message)]
pub struct ResourceTypeCapability {
    #[prost(message, optional, tag = "1")]
    pub resource_type: Option<ResourceType>,
    #[prost(enumeration = "Capability", repeated, tag = "2")]
    pub capabilities: Vec<i32>,
}

/// `c1.connector.v2.Capability`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Capability {
    Unspecified = 0,
    Provision = 1,
    Sync = 2,
    EventFeed = 3,
    Ticketing = 4,
    AccountProvisioning = 5,
    CredentialRotation = 6,
    ResourceCreate = 7,
    ResourceDelete = 8,
    SyncSecrets = 9,
    Actions = 10,
    TargetedSync = 11,
    EventFeedV2 = 12,
    ServiceModeTargetedSync = 13,
    CredentialIssue = 14,
}

macro_rules! connector_v2 {
    ($($ty:ident),* $(,)?) => {$(
        impl Name for $ty {
            const NAME: &'static str = stringify!($ty);
            const PACKAGE: &'static str = crate::proto::PACKAGE;
            fn type_url() -> String {
                format!("{TYPE_URL_PREFIX}{}.{}", crate::proto::PACKAGE, stringify!($ty))
            }
        }
    )*};
}

connector_v2! {
    GrantManagerServiceGrantResponse,
    GrantManagerServiceRevokeResponse,
    CreateAccountResponse,
    DeleteResourceResponse,
    GrantAlreadyExists,
    GrantAlreadyRevoked,
    ResourceDoesNotExist,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_numbers_are_baton_sdks() {
        // Task.id = 1, debug = 3, sync_full = 102 (0xb2 0x06), its sync_resource_type_ids = 5.
        let task = Task {
            id: "t".into(),
            debug: true,
            task_type: Some(TaskType::SyncFull(SyncFullTask {
                sync_resource_type_ids: vec!["user".into()],
                ..Default::default()
            })),
            ..Default::default()
        };
        let bytes = task.encode_to_vec();
        assert_eq!(
            bytes,
            vec![0x0a, 1, b't', 0x18, 1, 0xb2, 0x06, 6, 0x2a, 4, b'u', b's', b'e', b'r']
        );
        assert_eq!(Task::decode(bytes.as_slice()).ok(), Some(task));
        // UploadAsset's eof is field 102 and carries the checksum as field 1.
        let eof = UploadAssetRequest {
            msg: Some(upload_asset_request::Msg::Eof(upload_asset_request::UploadEof {
                sha256_checksum: vec![7],
                annotations: vec![],
            })),
        };
        assert_eq!(eof.encode_to_vec(), vec![0xb2, 0x06, 3, 0x0a, 1, 7]);
        // FinishTask: status = 3, error = 100 with non_retryable = 1.
        let finish = FinishTaskRequest {
            status: Some(RpcStatus {
                code: 9,
                ..Default::default()
            }),
            final_state: Some(finish_task_request::FinalState::Error(finish_task_request::Error {
                non_retryable: true,
                ..Default::default()
            })),
            ..Default::default()
        };
        assert_eq!(finish.encode_to_vec(), vec![0x1a, 2, 0x08, 9, 0xa2, 0x06, 2, 0x08, 1]);
    }

    #[test]
    fn an_unknown_task_payload_still_names_its_kind() {
        // A create_ticket_task (110) with a payload of fields this connector never reads.
        let mut bytes = vec![0x0a, 1, b'x'];
        bytes.extend_from_slice(&[0xf2, 0x06, 4, 0x0a, 2, b'h', b'i']);
        let task = Task::decode(bytes.as_slice()).ok();
        assert_eq!(
            task.and_then(|t| t.task_type).map(|t| t.name()),
            Some("create_ticket_task")
        );
    }

    #[test]
    fn annotation_type_urls() {
        assert_eq!(
            GrantAlreadyExists::type_url(),
            "type.googleapis.com/c1.connector.v2.GrantAlreadyExists"
        );
        assert_eq!(
            GrantManagerServiceGrantResponse::type_url(),
            "type.googleapis.com/c1.connector.v2.GrantManagerServiceGrantResponse"
        );
    }
}
