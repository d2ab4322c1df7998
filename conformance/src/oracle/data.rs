//! What a sync run holds, in plain Rust values: the shape both halves of the oracle meet in.
//! The decoder (`c1z.rs`) fills it from a connector's file; `expected.rs` fills the parts a
//! correct connector must write from the target's ground truth. Maps are ordered by id so that
//! two datasets compare, print and snapshot the same way every time.

use std::collections::BTreeMap;

use serde::Serialize;

/// `<resource type>:<resource id>`, as baton keys resources.
pub type ResourceKey = String;

/// One sync run of a c1z, decoded.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Dataset {
    pub resource_types: BTreeMap<String, ResourceTypeRow>,
    /// By `<type>:<id>`.
    pub resources: BTreeMap<ResourceKey, ResourceRow>,
    /// By entitlement id.
    pub entitlements: BTreeMap<String, EntitlementRow>,
    /// By grant id.
    pub grants: BTreeMap<String, GrantRow>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ResourceTypeRow {
    pub id: String,
    pub display_name: String,
    /// Trait names as baton spells them without the prefix: `USER`, `GROUP`, `ROLE`,
    /// `APP`, `SECRET`, `LICENSE_PROFILE` (or `UNKNOWN(n)`).
    pub traits: Vec<String>,
    /// Type URLs of the annotations, in file order.
    pub annotations: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ResourceRow {
    pub resource_type: String,
    pub id: String,
    pub display_name: String,
    pub description: String,
    /// `<type>:<id>` of the parent resource, if any.
    pub parent: Option<ResourceKey>,
    pub user: Option<UserTraitRow>,
    pub group: Option<GroupTraitRow>,
    pub role: Option<RoleTraitRow>,
    /// The resource-level profile (`Resource.profile`), empty when absent.
    pub profile: BTreeMap<String, serde_json::Value>,
    /// The resource-level status (`Resource.status`, newer baton-sdk): `ENABLED`, `DISABLED`,
    /// `DELETED`, `UNSPECIFIED` (or `UNKNOWN(n)`); `None` when the message has none.
    pub status: Option<String>,
    /// Type URLs of every annotation, the traits included, in file order.
    pub annotations: Vec<String>,
    /// The `LicenseProfileTrait` annotation's content, if the resource carries one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license_profile: Option<LicenseProfileRow>,
}

/// `LicenseProfileTrait`: the seat a resource stands for, and the entitlements that grant it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LicenseProfileRow {
    pub license_name: String,
    pub entitlement_ids: Vec<String>,
    pub purchased_seats: i64,
    pub consumed_seats: i64,
    pub cost_per_unit_in_cents: i64,
    pub currency: String,
}

/// `EntitlementExclusionGroup`: the group of mutually exclusive entitlements this one is in.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ExclusionGroupRow {
    pub exclusion_group_id: String,
    pub order: u32,
    pub is_default: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UserTraitRow {
    /// (address, is_primary), in file order.
    pub emails: Vec<(String, bool)>,
    /// `ENABLED`, `DISABLED`, `DELETED`, `UNSPECIFIED` (or `UNKNOWN(n)`).
    pub status: String,
    pub login: String,
    /// `HUMAN`, `SERVICE`, `SYSTEM`, `UNSPECIFIED` (or `UNKNOWN(n)`).
    pub account_type: String,
    pub profile: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GroupTraitRow {
    pub profile: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RoleTraitRow {
    pub profile: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EntitlementRow {
    pub id: String,
    /// `<type>:<id>` of the resource the entitlement belongs to.
    pub resource: ResourceKey,
    pub display_name: String,
    pub description: String,
    pub slug: String,
    /// `ASSIGNMENT`, `PERMISSION`, `UNSPECIFIED` (or `UNKNOWN(n)`).
    pub purpose: String,
    /// Resource type ids the entitlement can be granted to.
    pub grantable_to: Vec<String>,
    pub annotations: Vec<String>,
    /// The `EntitlementExclusionGroup` annotation's content, if the entitlement carries one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exclusion_group: Option<ExclusionGroupRow>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GrantRow {
    pub id: String,
    pub entitlement_id: String,
    /// `<type>:<id>` of the entitlement's resource, as the grant message carries it.
    pub entitlement_resource: ResourceKey,
    /// `<type>:<id>` of the principal.
    pub principal: ResourceKey,
    pub annotations: Vec<String>,
}

/// One row of `v1_sync_runs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncRun {
    pub sync_id: String,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub sync_type: String,
    pub parent_sync_id: String,
}

/// Counts, for reports.
impl Dataset {
    pub fn summary(&self) -> String {
        format!(
            "{} resource types, {} resources, {} entitlements, {} grants",
            self.resource_types.len(),
            self.resources.len(),
            self.entitlements.len(),
            self.grants.len()
        )
    }
}
