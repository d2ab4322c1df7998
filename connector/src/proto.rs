//! The baton protobuf messages of package `c1.connector.v2`, written by hand with `prost` derives.
//!
//! Field numbers, names and types follow baton-sdk's `proto/c1/connector/v2/resource.proto`,
//! `entitlement.proto`, `grant.proto`, `annotation_trait.proto`,
//! `annotation_exclusion_group.proto` and `asset.proto`, and the field-less `SkipEntitlements`
//! and `SkipGrants` annotations. Only the messages a sync writes (and the ones those reference)
//! are here; RPC request/response types are not. Fields the SDK added after these definitions
//! decode as unknown fields and are skipped, so a newer file still reads.
//!
//! Traits travel as `google.protobuf.Any` annotations; [`pack`] and [`unpack`] convert with the
//! type URL `type.googleapis.com/c1.connector.v2.<Message>` that Go's `anypb` uses.

use prost::{Message, Name};
use prost_types::{Any, Struct, Timestamp};

/// The protobuf package of every message in this module.
pub const PACKAGE: &str = "c1.connector.v2";

/// The prefix Go's `anypb.New` puts before a message's full name.
pub const TYPE_URL_PREFIX: &str = "type.googleapis.com/";

/// `c1.connector.v2.ResourceType`.
#[derive(Clone, PartialEq, Message)]
pub struct ResourceType {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(string, tag = "2")]
    pub display_name: String,
    #[prost(enumeration = "resource_type::Trait", repeated, tag = "3")]
    pub traits: Vec<i32>,
    #[prost(message, repeated, tag = "4")]
    pub annotations: Vec<Any>,
    #[prost(string, tag = "5")]
    pub description: String,
    #[prost(bool, tag = "6")]
    pub sourced_externally: bool,
}

/// Nested types of [`ResourceType`].
pub mod resource_type {
    /// `c1.connector.v2.ResourceType.Trait`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum Trait {
        Unspecified = 0,
        User = 1,
        Group = 2,
        Role = 3,
        App = 4,
        Secret = 5,
        SecurityInsight = 6,
        ScopeBinding = 7,
        Vendor = 8,
        VendorAgreement = 9,
        LicenseProfile = 10,
        Agent = 11,
        ManagedDevice = 12,
    }
}

/// `c1.connector.v2.ResourceId`.
#[derive(Clone, PartialEq, Eq, Hash, Message)]
pub struct ResourceId {
    #[prost(string, tag = "1")]
    pub resource_type: String,
    #[prost(string, tag = "2")]
    pub resource: String,
    #[prost(bool, tag = "3")]
    pub baton_resource: bool,
}

impl ResourceId {
    /// A plain (non-baton) resource id.
    pub fn new(resource_type: impl Into<String>, resource: impl Into<String>) -> Self {
        Self {
            resource_type: resource_type.into(),
            resource: resource.into(),
            baton_resource: false,
        }
    }
}

/// `c1.connector.v2.ExternalId` (deprecated in `Resource`, kept so old data decodes).
#[derive(Clone, PartialEq, Message)]
pub struct ExternalId {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(string, tag = "2")]
    pub link: String,
    #[prost(string, tag = "3")]
    pub description: String,
}

/// `c1.connector.v2.AssetRef` (from `asset.proto`).
#[derive(Clone, PartialEq, Message)]
pub struct AssetRef {
    #[prost(string, tag = "1")]
    pub id: String,
}

/// `c1.connector.v2.Resource`.
#[derive(Clone, PartialEq, Message)]
pub struct Resource {
    #[prost(message, optional, tag = "1")]
    pub id: Option<ResourceId>,
    #[prost(message, optional, tag = "2")]
    pub parent_resource_id: Option<ResourceId>,
    #[prost(string, tag = "3")]
    pub display_name: String,
    #[prost(message, repeated, tag = "4")]
    pub annotations: Vec<Any>,
    #[prost(string, tag = "5")]
    pub description: String,
    #[prost(bool, tag = "6")]
    pub baton_resource: bool,
    /// Deprecated upstream; never written by this connector.
    #[prost(message, optional, tag = "7")]
    pub external_id: Option<ExternalId>,
    /// Deprecated upstream; never written by this connector.
    #[prost(enumeration = "resource::CreationSource", tag = "8")]
    pub creation_source: i32,
    #[prost(message, optional, tag = "9")]
    pub profile: Option<Struct>,
    #[prost(message, optional, tag = "10")]
    pub icon: Option<AssetRef>,
    #[prost(message, optional, tag = "11")]
    pub status: Option<Status>,
    #[prost(message, optional, tag = "12")]
    pub created_at: Option<Timestamp>,
}

/// Nested types of [`Resource`].
pub mod resource {
    /// `c1.connector.v2.Resource.CreationSource`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum CreationSource {
        Unspecified = 0,
        ConnectorListResources = 1,
        ConnectorListGrantsPrincipalJit = 2,
    }
}

/// `c1.connector.v2.Status` (a resource's status, not the user trait's).
#[derive(Clone, PartialEq, Message)]
pub struct Status {
    #[prost(enumeration = "status::ResourceStatus", tag = "1")]
    pub status: i32,
    #[prost(string, tag = "2")]
    pub details: String,
}

/// Nested types of [`Status`].
pub mod status {
    /// `c1.connector.v2.Status.ResourceStatus`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum ResourceStatus {
        Unspecified = 0,
        Enabled = 1,
        Disabled = 2,
        Deleted = 3,
    }
}

/// `c1.connector.v2.Entitlement`.
#[derive(Clone, PartialEq, Message)]
pub struct Entitlement {
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    #[prost(string, tag = "2")]
    pub id: String,
    #[prost(string, tag = "3")]
    pub display_name: String,
    #[prost(string, tag = "4")]
    pub description: String,
    #[prost(message, repeated, tag = "5")]
    pub grantable_to: Vec<ResourceType>,
    #[prost(message, repeated, tag = "6")]
    pub annotations: Vec<Any>,
    #[prost(enumeration = "entitlement::PurposeValue", tag = "7")]
    pub purpose: i32,
    #[prost(string, tag = "8")]
    pub slug: String,
}

/// Nested types of [`Entitlement`].
pub mod entitlement {
    /// `c1.connector.v2.Entitlement.PurposeValue`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum PurposeValue {
        Unspecified = 0,
        Assignment = 1,
        Permission = 2,
    }
}

/// `c1.connector.v2.Grant`. Note the proto declares `sources = 5` before `annotations = 4`.
#[derive(Clone, PartialEq, Message)]
pub struct Grant {
    #[prost(message, optional, tag = "1")]
    pub entitlement: Option<Entitlement>,
    #[prost(message, optional, tag = "2")]
    pub principal: Option<Resource>,
    #[prost(string, tag = "3")]
    pub id: String,
    #[prost(message, optional, tag = "5")]
    pub sources: Option<GrantSources>,
    #[prost(message, repeated, tag = "4")]
    pub annotations: Vec<Any>,
}

/// `c1.connector.v2.GrantSources`.
#[derive(Clone, PartialEq, Message)]
pub struct GrantSources {
    #[prost(btree_map = "string, message", tag = "1")]
    pub sources: std::collections::BTreeMap<String, grant_sources::GrantSource>,
}

/// Nested types of [`GrantSources`].
pub mod grant_sources {
    /// `c1.connector.v2.GrantSources.GrantSource`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GrantSource {
        #[prost(bool, tag = "1")]
        pub is_direct: bool,
    }
}

/// `c1.connector.v2.UserTrait`.
#[derive(Clone, PartialEq, Message)]
pub struct UserTrait {
    #[prost(message, repeated, tag = "1")]
    pub emails: Vec<user_trait::Email>,
    #[prost(message, optional, tag = "2")]
    pub status: Option<user_trait::Status>,
    #[prost(message, optional, tag = "3")]
    pub profile: Option<Struct>,
    #[prost(message, optional, tag = "4")]
    pub icon: Option<AssetRef>,
    #[prost(enumeration = "user_trait::AccountType", tag = "5")]
    pub account_type: i32,
    #[prost(string, tag = "6")]
    pub login: String,
    #[prost(string, repeated, tag = "7")]
    pub login_aliases: Vec<String>,
    #[prost(message, optional, tag = "8")]
    pub created_at: Option<Timestamp>,
    #[prost(message, optional, tag = "9")]
    pub last_login: Option<Timestamp>,
    #[prost(message, optional, tag = "10")]
    pub mfa_status: Option<user_trait::MfaStatus>,
    #[prost(message, optional, tag = "11")]
    pub sso_status: Option<user_trait::SsoStatus>,
}

/// Nested types of [`UserTrait`].
pub mod user_trait {
    /// `c1.connector.v2.UserTrait.Email`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Email {
        #[prost(string, tag = "1")]
        pub address: String,
        #[prost(bool, tag = "2")]
        pub is_primary: bool,
    }

    /// `c1.connector.v2.UserTrait.Status`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Status {
        #[prost(enumeration = "status::Status", tag = "1")]
        pub status: i32,
        #[prost(string, tag = "2")]
        pub details: String,
    }

    /// Nested types of [`Status`].
    pub mod status {
        /// `c1.connector.v2.UserTrait.Status.Status`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
        #[repr(i32)]
        pub enum Status {
            Unspecified = 0,
            Enabled = 1,
            Disabled = 2,
            Deleted = 3,
        }
    }

    /// `c1.connector.v2.UserTrait.AccountType`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum AccountType {
        Unspecified = 0,
        Human = 1,
        Service = 2,
        System = 3,
    }

    /// `c1.connector.v2.UserTrait.MFAStatus`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MfaStatus {
        #[prost(bool, tag = "1")]
        pub mfa_enabled: bool,
    }

    /// `c1.connector.v2.UserTrait.SSOStatus`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SsoStatus {
        #[prost(bool, tag = "1")]
        pub sso_enabled: bool,
    }
}

/// `c1.connector.v2.GroupTrait`.
#[derive(Clone, PartialEq, Message)]
pub struct GroupTrait {
    #[prost(message, optional, tag = "1")]
    pub icon: Option<AssetRef>,
    #[prost(message, optional, tag = "2")]
    pub profile: Option<Struct>,
}

/// `c1.connector.v2.RoleTrait`.
#[derive(Clone, PartialEq, Message)]
pub struct RoleTrait {
    #[prost(message, optional, tag = "1")]
    pub profile: Option<Struct>,
}

/// `c1.connector.v2.LicenseProfileTrait`: the resource is a seat or plan that users hold; the
/// entitlements in `entitlement_ids` are what grants it.
#[derive(Clone, PartialEq, Message)]
pub struct LicenseProfileTrait {
    #[prost(string, tag = "1")]
    pub license_name: String,
    #[prost(int64, tag = "2")]
    pub purchased_seats: i64,
    #[prost(int64, tag = "3")]
    pub consumed_seats: i64,
    #[prost(int64, tag = "4")]
    pub cost_per_unit_in_cents: i64,
    #[prost(string, tag = "5")]
    pub currency: String,
    #[prost(string, repeated, tag = "6")]
    pub entitlement_ids: Vec<String>,
}

/// `c1.connector.v2.EntitlementExclusionGroup`: a principal holds at most one entitlement of the
/// group; `order` ranks them (higher is more privileged) and `is_default` marks the one a
/// principal falls back to.
#[derive(Clone, PartialEq, Message)]
pub struct EntitlementExclusionGroup {
    #[prost(string, tag = "1")]
    pub exclusion_group_id: String,
    #[prost(uint32, tag = "2")]
    pub order: u32,
    #[prost(bool, tag = "3")]
    pub is_default: bool,
}

/// `c1.connector.v2.SkipEntitlements` (on a resource type: the syncer asks for no
/// entitlements of its resources). No fields.
#[derive(Clone, PartialEq, Message)]
pub struct SkipEntitlements {}

/// `c1.connector.v2.SkipGrants` (on a resource type: the syncer asks for no grants of its
/// resources; another type's listing emits them). No fields.
#[derive(Clone, PartialEq, Message)]
pub struct SkipGrants {}

macro_rules! named {
    ($($ty:ident => $name:literal),* $(,)?) => {$(
        impl Name for $ty {
            const NAME: &'static str = $name;
            const PACKAGE: &'static str = PACKAGE;
            fn type_url() -> String {
                format!("{TYPE_URL_PREFIX}{PACKAGE}.{}", $name)
            }
        }
    )*};
}

named! {
    ResourceType => "ResourceType",
    ResourceId => "ResourceId",
    Resource => "Resource",
    Entitlement => "Entitlement",
    Grant => "Grant",
    UserTrait => "UserTrait",
    GroupTrait => "GroupTrait",
    RoleTrait => "RoleTrait",
    LicenseProfileTrait => "LicenseProfileTrait",
    EntitlementExclusionGroup => "EntitlementExclusionGroup",
    SkipEntitlements => "SkipEntitlements",
    SkipGrants => "SkipGrants",
}

/// Packs a message into an `Any` with the `type.googleapis.com/c1.connector.v2.*` type URL.
pub fn pack<M: Name>(message: &M) -> Any {
    Any {
        type_url: M::type_url(),
        value: message.encode_to_vec(),
    }
}

/// Unpacks `any` as `M`: `Ok(None)` when the type URL names another message, an error when the
/// URL matches but the bytes do not decode.
pub fn unpack<M: Name + Default>(any: &Any) -> Result<Option<M>, prost::DecodeError> {
    if any.type_url != M::type_url() {
        return Ok(None);
    }
    M::decode(any.value.as_slice()).map(Some)
}

/// The first annotation of type `M` in `annotations`, decoded.
pub fn find_annotation<M: Name + Default>(annotations: &[Any]) -> Result<Option<M>, prost::DecodeError> {
    for any in annotations {
        if let Some(message) = unpack::<M>(any)? {
            return Ok(Some(message));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_urls_match_go_anypb() {
        assert_eq!(UserTrait::type_url(), "type.googleapis.com/c1.connector.v2.UserTrait");
        assert_eq!(GroupTrait::type_url(), "type.googleapis.com/c1.connector.v2.GroupTrait");
        assert_eq!(RoleTrait::type_url(), "type.googleapis.com/c1.connector.v2.RoleTrait");
        assert_eq!(
            LicenseProfileTrait::type_url(),
            "type.googleapis.com/c1.connector.v2.LicenseProfileTrait"
        );
        assert_eq!(
            EntitlementExclusionGroup::type_url(),
            "type.googleapis.com/c1.connector.v2.EntitlementExclusionGroup"
        );
        assert_eq!(SkipGrants::type_url(), "type.googleapis.com/c1.connector.v2.SkipGrants");
        assert_eq!(
            SkipEntitlements::type_url(),
            "type.googleapis.com/c1.connector.v2.SkipEntitlements"
        );
    }

    #[test]
    fn pack_and_unpack_round_trip() {
        let role = RoleTrait {
            profile: Some(Struct::default()),
        };
        let any = pack(&role);
        assert_eq!(unpack::<RoleTrait>(&any).ok().flatten(), Some(role));
        assert_eq!(unpack::<UserTrait>(&any).ok().flatten(), None);
        let bad = Any {
            type_url: RoleTrait::type_url(),
            value: vec![0xff, 0xff],
        };
        assert!(unpack::<RoleTrait>(&bad).is_err());
    }

    #[test]
    fn wire_bytes_use_the_sdk_field_numbers() {
        // ResourceId{resource_type: "u", resource: "1"}: field 1 (0x0a) then field 2 (0x12).
        let id = ResourceId::new("u", "1");
        assert_eq!(id.encode_to_vec(), vec![0x0a, 1, b'u', 0x12, 1, b'1']);
        // Grant.sources is field 5 and annotations field 4; prost writes by tag order.
        let grant = Grant {
            id: "g".into(),
            sources: Some(GrantSources::default()),
            annotations: vec![Any::default()],
            ..Default::default()
        };
        assert_eq!(grant.encode_to_vec(), vec![0x1a, 1, b'g', 0x22, 0, 0x2a, 0]);
        // Traits are a packed repeated enum (field 3, wire type 2).
        let rt = ResourceType {
            traits: vec![
                resource_type::Trait::Role as i32,
                resource_type::Trait::LicenseProfile as i32,
            ],
            ..Default::default()
        };
        assert_eq!(rt.encode_to_vec(), vec![0x1a, 2, 3, 10]);
        // The annotations' field numbers, as baton-sdk declares them.
        let lp = LicenseProfileTrait {
            license_name: "O".into(),
            entitlement_ids: vec!["e".into()],
            ..Default::default()
        };
        assert_eq!(lp.encode_to_vec(), vec![0x0a, 1, b'O', 0x32, 1, b'e']);
        let eg = EntitlementExclusionGroup {
            exclusion_group_id: "g".into(),
            order: 1,
            is_default: true,
        };
        assert_eq!(eg.encode_to_vec(), vec![0x0a, 1, b'g', 0x10, 1, 0x18, 1]);
    }
}
