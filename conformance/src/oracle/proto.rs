//! The `c1.connector.v2` messages the oracle decodes, written by hand with `prost` derives.
//!
//! Field numbers and enum values come from baton-sdk's public definitions
//! (`proto/c1/connector/v2/resource.proto`, `entitlement.proto`, `grant.proto`,
//! `annotation_trait.proto`, `annotation_exclusion_group.proto`). This file is the oracle's own:
//! it shares nothing with the connector under test, so a wrong tag in the connector cannot be
//! mirrored here and go unnoticed.
//!
//! Only the fields the oracle reads are declared; prost skips the others (icons, timestamps,
//! deprecated fields...) as unknown fields, so leaving a field out never breaks decoding, while a
//! wrong tag would. Every tag below was checked against the .proto files.

use prost_types::{Any, Struct};

/// `c1.connector.v2.ResourceType`.
#[derive(Clone, PartialEq, prost::Message)]
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

pub mod resource_type {
    /// `c1.connector.v2.ResourceType.Trait` (values `TRAIT_*`).
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

    impl Trait {
        /// The proto name without its `TRAIT_` prefix.
        pub fn short_name(self) -> &'static str {
            match self {
                Trait::Unspecified => "UNSPECIFIED",
                Trait::User => "USER",
                Trait::Group => "GROUP",
                Trait::Role => "ROLE",
                Trait::App => "APP",
                Trait::Secret => "SECRET",
                Trait::SecurityInsight => "SECURITY_INSIGHT",
                Trait::ScopeBinding => "SCOPE_BINDING",
                Trait::Vendor => "VENDOR",
                Trait::VendorAgreement => "VENDOR_AGREEMENT",
                Trait::LicenseProfile => "LICENSE_PROFILE",
                Trait::Agent => "AGENT",
                Trait::ManagedDevice => "MANAGED_DEVICE",
            }
        }
    }
}

/// `c1.connector.v2.ResourceId`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceId {
    #[prost(string, tag = "1")]
    pub resource_type: String,
    #[prost(string, tag = "2")]
    pub resource: String,
    #[prost(bool, tag = "3")]
    pub baton_resource: bool,
}

/// `c1.connector.v2.Resource`. Not declared: `external_id` (7) and `creation_source` (8), both
/// deprecated; `icon` (10); `created_at` (12).
#[derive(Clone, PartialEq, prost::Message)]
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
    /// The resource-level profile (newer baton-sdk); the Go connector fills it with the same
    /// values as the trait's profile.
    #[prost(message, optional, tag = "9")]
    pub profile: Option<Struct>,
    /// The resource-level status (newer baton-sdk); the Go connector sets it on users.
    #[prost(message, optional, tag = "11")]
    pub status: Option<Status>,
}

/// `c1.connector.v2.Status`, the status of a resource.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Status {
    #[prost(enumeration = "status::ResourceStatus", tag = "1")]
    pub status: i32,
    #[prost(string, tag = "2")]
    pub details: String,
}

pub mod status {
    /// `c1.connector.v2.Status.ResourceStatus` (values `RESOURCE_STATUS_*`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum ResourceStatus {
        Unspecified = 0,
        Enabled = 1,
        Disabled = 2,
        Deleted = 3,
    }

    impl ResourceStatus {
        /// The proto name without its `RESOURCE_STATUS_` prefix.
        pub fn short_name(self) -> &'static str {
            match self {
                ResourceStatus::Unspecified => "UNSPECIFIED",
                ResourceStatus::Enabled => "ENABLED",
                ResourceStatus::Disabled => "DISABLED",
                ResourceStatus::Deleted => "DELETED",
            }
        }
    }
}

/// `c1.connector.v2.Entitlement`.
#[derive(Clone, PartialEq, prost::Message)]
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

pub mod entitlement {
    /// `c1.connector.v2.Entitlement.PurposeValue` (values `PURPOSE_VALUE_*`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum PurposeValue {
        Unspecified = 0,
        Assignment = 1,
        Permission = 2,
    }

    impl PurposeValue {
        /// The proto name without its `PURPOSE_VALUE_` prefix.
        pub fn short_name(self) -> &'static str {
            match self {
                PurposeValue::Unspecified => "UNSPECIFIED",
                PurposeValue::Assignment => "ASSIGNMENT",
                PurposeValue::Permission => "PERMISSION",
            }
        }
    }
}

/// `c1.connector.v2.Grant`. Not declared: `sources` (5).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Grant {
    #[prost(message, optional, tag = "1")]
    pub entitlement: Option<Entitlement>,
    #[prost(message, optional, tag = "2")]
    pub principal: Option<Resource>,
    #[prost(string, tag = "3")]
    pub id: String,
    #[prost(message, repeated, tag = "4")]
    pub annotations: Vec<Any>,
}

/// `c1.connector.v2.UserTrait`. Not declared: `icon` (4), `created_at` (8), `last_login` (9),
/// `mfa_status` (10), `sso_status` (11), `structured_name` (12).
#[derive(Clone, PartialEq, prost::Message)]
pub struct UserTrait {
    #[prost(message, repeated, tag = "1")]
    pub emails: Vec<user_trait::Email>,
    #[prost(message, optional, tag = "2")]
    pub status: Option<user_trait::Status>,
    #[prost(message, optional, tag = "3")]
    pub profile: Option<Struct>,
    #[prost(enumeration = "user_trait::AccountType", tag = "5")]
    pub account_type: i32,
    #[prost(string, tag = "6")]
    pub login: String,
    #[prost(string, repeated, tag = "7")]
    pub login_aliases: Vec<String>,
    #[prost(string, repeated, tag = "13")]
    pub employee_ids: Vec<String>,
}

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

    pub mod status {
        /// `c1.connector.v2.UserTrait.Status.Status` (values `STATUS_*`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
        #[repr(i32)]
        pub enum Status {
            Unspecified = 0,
            Enabled = 1,
            Disabled = 2,
            Deleted = 3,
        }

        impl Status {
            /// The proto name without its `STATUS_` prefix.
            pub fn short_name(self) -> &'static str {
                match self {
                    Status::Unspecified => "UNSPECIFIED",
                    Status::Enabled => "ENABLED",
                    Status::Disabled => "DISABLED",
                    Status::Deleted => "DELETED",
                }
            }
        }
    }

    /// `c1.connector.v2.UserTrait.AccountType` (values `ACCOUNT_TYPE_*`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum AccountType {
        Unspecified = 0,
        Human = 1,
        Service = 2,
        System = 3,
    }

    impl AccountType {
        /// The proto name without its `ACCOUNT_TYPE_` prefix.
        pub fn short_name(self) -> &'static str {
            match self {
                AccountType::Unspecified => "UNSPECIFIED",
                AccountType::Human => "HUMAN",
                AccountType::Service => "SERVICE",
                AccountType::System => "SYSTEM",
            }
        }
    }
}

/// `c1.connector.v2.GroupTrait`. Not declared: `icon` (1).
#[derive(Clone, PartialEq, prost::Message)]
pub struct GroupTrait {
    #[prost(message, optional, tag = "2")]
    pub profile: Option<Struct>,
}

/// `c1.connector.v2.RoleTrait`. Not declared: `role_scope_conditions` (2).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RoleTrait {
    #[prost(message, optional, tag = "1")]
    pub profile: Option<Struct>,
}

/// `c1.connector.v2.LicenseProfileTrait`: a seat or plan users can hold. baton-notion (Go) puts
/// one on each role resource.
#[derive(Clone, PartialEq, prost::Message)]
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

/// `c1.connector.v2.EntitlementExclusionGroup`: entitlements of one resource of which a
/// principal may hold at most one. baton-notion (Go) puts one on each role's `assigned`
/// entitlement.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EntitlementExclusionGroup {
    #[prost(string, tag = "1")]
    pub exclusion_group_id: String,
    #[prost(uint32, tag = "2")]
    pub order: u32,
    #[prost(bool, tag = "3")]
    pub is_default: bool,
}

/// Fully qualified message names, as they end the type URLs of `Any` annotations.
pub mod names {
    pub const USER_TRAIT: &str = "c1.connector.v2.UserTrait";
    pub const GROUP_TRAIT: &str = "c1.connector.v2.GroupTrait";
    pub const ROLE_TRAIT: &str = "c1.connector.v2.RoleTrait";
    pub const LICENSE_PROFILE_TRAIT: &str = "c1.connector.v2.LicenseProfileTrait";
    pub const ENTITLEMENT_EXCLUSION_GROUP: &str = "c1.connector.v2.EntitlementExclusionGroup";
    /// The prefix `anypb.New` (Go) writes before the message name.
    pub const TYPE_URL_PREFIX: &str = "type.googleapis.com/";
}
