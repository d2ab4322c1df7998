//! `c1.connectorapi.baton.v1` messages (BatonService), written by hand with `prost` derives from
//! the field numbers in baton-sdk's public `proto/c1/connectorapi/baton/v1/baton.proto`
//! (v0.25.0), plus the few `c1.connector.v2` messages a task carries that the oracle's own
//! [`crate::oracle::proto`] does not declare. Nothing here comes from the connector under test.
//!
//! Only what the fake reads or writes is declared; prost skips the rest as unknown fields.

use prost_types::{Any, Duration, Struct};

pub use crate::oracle::proto::{Entitlement, Grant, Resource, ResourceId, ResourceType};

/// The gRPC service name; method paths are `/<SERVICE>/<Method>`.
pub const SERVICE: &str = "c1.connectorapi.baton.v1.BatonService";

#[derive(Clone, PartialEq, prost::Message)]
pub struct BuildInfo {
    #[prost(string, tag = "1")]
    pub lang_version: String,
    #[prost(string, tag = "2")]
    pub package: String,
    #[prost(string, tag = "3")]
    pub package_version: String,
}

#[derive(Clone, PartialEq, prost::Message)]
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

/// `c1.connector.v2.ConnectorMetadata`: only its name, description and capabilities.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ConnectorMetadata {
    #[prost(string, tag = "1")]
    pub display_name: String,
    #[prost(string, tag = "7")]
    pub description: String,
    #[prost(message, optional, tag = "8")]
    pub capabilities: Option<ConnectorCapabilities>,
}

/// `c1.connector.v2.ConnectorCapabilities`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ConnectorCapabilities {
    #[prost(message, repeated, tag = "1")]
    pub resource_type_capabilities: Vec<ResourceTypeCapability>,
    #[prost(int32, repeated, tag = "2")]
    pub connector_capabilities: Vec<i32>,
}

/// `c1.connector.v2.ResourceTypeCapability`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceTypeCapability {
    #[prost(message, optional, tag = "1")]
    pub resource_type: Option<ResourceType>,
    #[prost(int32, repeated, tag = "2")]
    pub capabilities: Vec<i32>,
}

/// The `c1.connector.v2.Capability` names, by value.
pub fn capability_name(value: i32) -> String {
    let name = match value {
        1 => "PROVISION",
        2 => "SYNC",
        3 => "EVENT_FEED",
        4 => "TICKETING",
        5 => "ACCOUNT_PROVISIONING",
        6 => "CREDENTIAL_ROTATION",
        7 => "RESOURCE_CREATE",
        8 => "RESOURCE_DELETE",
        9 => "SYNC_SECRETS",
        10 => "ACTIONS",
        11 => "TARGETED_SYNC",
        12 => "EVENT_FEED_V2",
        13 => "SERVICE_MODE_TARGETED_SYNC",
        14 => "CREDENTIAL_ISSUE",
        other => return format!("CAPABILITY_{other}"),
    };
    format!("CAPABILITY_{name}")
}

#[derive(Clone, PartialEq, prost::Message)]
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

#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloResponse {
    #[prost(message, repeated, tag = "1")]
    pub annotations: Vec<Any>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetTaskRequest {
    #[prost(string, tag = "1")]
    pub host_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
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

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetTasksRequest {
    #[prost(string, tag = "1")]
    pub host_id: String,
    #[prost(uint32, tag = "2")]
    pub page_size: u32,
    #[prost(string, repeated, tag = "3")]
    pub known_task_ids: Vec<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetTasksResponse {
    #[prost(message, repeated, tag = "1")]
    pub tasks: Vec<Task>,
    #[prost(message, optional, tag = "2")]
    pub next_poll: Option<Duration>,
    #[prost(message, optional, tag = "3")]
    pub next_heartbeat: Option<Duration>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct HeartbeatRequest {
    #[prost(string, tag = "1")]
    pub host_id: String,
    #[prost(string, tag = "2")]
    pub task_id: String,
    #[prost(message, repeated, tag = "3")]
    pub annotations: Vec<Any>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct HeartbeatResponse {
    #[prost(message, optional, tag = "1")]
    pub next_heartbeat: Option<Duration>,
    #[prost(bool, tag = "2")]
    pub cancelled: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct UploadAssetRequest {
    #[prost(oneof = "upload_asset_request::Msg", tags = "100, 101, 102")]
    pub msg: Option<upload_asset_request::Msg>,
}

pub mod upload_asset_request {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Msg {
        #[prost(message, tag = "100")]
        Metadata(super::UploadMetadata),
        #[prost(message, tag = "101")]
        Data(super::UploadData),
        #[prost(message, tag = "102")]
        Eof(super::UploadEof),
    }
}

/// Field 3 is unused in the proto.
#[derive(Clone, PartialEq, prost::Message)]
pub struct UploadMetadata {
    #[prost(string, tag = "1")]
    pub host_id: String,
    #[prost(string, tag = "2")]
    pub task_id: String,
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
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct UploadAssetResponse {
    #[prost(message, repeated, tag = "1")]
    pub annotations: Vec<Any>,
}

/// `google.rpc.Status`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<Any>,
}

#[derive(Clone, PartialEq, prost::Message)]
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

#[derive(Clone, PartialEq, prost::Message)]
pub struct FinishTaskResponse {
    #[prost(message, repeated, tag = "1")]
    pub annotations: Vec<Any>,
}

/// `Task`: an id, a debug flag and one payload.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Task {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(int32, tag = "2")]
    pub status: i32,
    #[prost(bool, tag = "3")]
    pub debug: bool,
    #[prost(oneof = "task::TaskType", tags = "100, 101, 102, 103, 104, 105, 107, 109")]
    pub task_type: Option<task::TaskType>,
}

pub mod task {
    use prost_types::{Any, Duration, Timestamp};

    use super::{AccountInfo, CredentialOptions, Entitlement, Grant, Resource, ResourceId};

    /// `Task.Status.PENDING`.
    pub const STATUS_PENDING: i32 = 1;

    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum TaskType {
        #[prost(message, tag = "100")]
        None(NoneTask),
        #[prost(message, tag = "101")]
        Hello(HelloTask),
        #[prost(message, tag = "102")]
        SyncFull(SyncFullTask),
        #[prost(message, tag = "103")]
        Grant(GrantTask),
        #[prost(message, tag = "104")]
        Revoke(RevokeTask),
        #[prost(message, tag = "105")]
        CreateAccount(CreateAccountTask),
        #[prost(message, tag = "107")]
        DeleteResource(DeleteResourceTask),
        /// A type the SDK does not handle: the connector must finish it with an error.
        #[prost(message, tag = "109")]
        EventFeed(EventFeedTask),
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct NoneTask {
        #[prost(message, repeated, tag = "1")]
        pub annotations: Vec<Any>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct HelloTask {
        #[prost(message, repeated, tag = "1")]
        pub annotations: Vec<Any>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
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

    #[derive(Clone, PartialEq, prost::Message)]
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

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct RevokeTask {
        #[prost(message, optional, tag = "1")]
        pub grant: Option<Grant>,
        #[prost(message, repeated, tag = "2")]
        pub annotations: Vec<Any>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct CreateAccountTask {
        #[prost(message, optional, tag = "1")]
        pub account_info: Option<AccountInfo>,
        #[prost(message, optional, tag = "2")]
        pub credential_options: Option<CredentialOptions>,
        #[prost(string, tag = "4")]
        pub resource_type_id: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct DeleteResourceTask {
        #[prost(message, optional, tag = "1")]
        pub resource_id: Option<ResourceId>,
        #[prost(message, optional, tag = "2")]
        pub parent_resource_id: Option<ResourceId>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct EventFeedTask {
        #[prost(message, repeated, tag = "1")]
        pub annotations: Vec<Any>,
        #[prost(message, optional, tag = "2")]
        pub start_at: Option<Timestamp>,
    }
}

/// `c1.connector.v2.AccountInfo`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AccountInfo {
    #[prost(message, repeated, tag = "1")]
    pub emails: Vec<AccountEmail>,
    #[prost(string, tag = "2")]
    pub login: String,
    #[prost(string, repeated, tag = "3")]
    pub login_aliases: Vec<String>,
    #[prost(message, optional, tag = "4")]
    pub profile: Option<Struct>,
}

/// `c1.connector.v2.AccountInfo.Email`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AccountEmail {
    #[prost(string, tag = "1")]
    pub address: String,
    #[prost(bool, tag = "2")]
    pub is_primary: bool,
}

/// `c1.connector.v2.CredentialOptions`: only `no_password` (101), the one Notion offers.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CredentialOptions {
    #[prost(bool, tag = "1")]
    pub force_change_at_next_login: bool,
    #[prost(oneof = "credential_options::Options", tags = "101")]
    pub options: Option<credential_options::Options>,
}

pub mod credential_options {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Options {
        #[prost(message, tag = "101")]
        NoPassword(NoPassword),
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct NoPassword {}
}

/// `c1.connector.v2.CreateAccountResponse`: the created (or existing) account, whichever result.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CreateAccountResponse {
    #[prost(oneof = "create_account_response::Result", tags = "100, 101, 102, 103")]
    pub result: Option<create_account_response::Result>,
}

pub mod create_account_response {
    use super::Resource;

    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Result {
        #[prost(message, tag = "100")]
        Success(Outcome),
        #[prost(message, tag = "101")]
        ActionRequired(Outcome),
        #[prost(message, tag = "102")]
        AlreadyExists(Outcome),
        #[prost(message, tag = "103")]
        InProgress(Outcome),
    }

    /// Each result carries the resource as field 1.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Outcome {
        #[prost(message, optional, tag = "1")]
        pub resource: Option<Resource>,
    }
}

/// A `google.protobuf.Duration` of `ms` milliseconds.
pub fn duration_ms(ms: u64) -> Duration {
    Duration {
        seconds: i64::try_from(ms / 1000).unwrap_or(i64::MAX),
        nanos: i32::try_from((ms % 1000) * 1_000_000).unwrap_or(0),
    }
}
