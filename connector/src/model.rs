//! How Notion's SCIM users, groups and roles become baton resources, entitlements and grants.
//!
//! This mirrors ConductorOne's `baton-notion` (its SCIM-only version: `pkg/connector/user.go`,
//! `group.go`, `role.go`, `resource_types.go`) plus what baton-sdk's helpers
//! (`rs.NewUserResource`, `ent.NewAssignmentEntitlement`, `grant.NewGrant`) fill in implicitly,
//! so that the c1z we write holds the same messages the Go connector's does. The parity test
//! (`conformance/tests/parity_data.rs`) compares them, field by field and down to the stored
//! messages, with the files the Go connector wrote from the same orgs:
//! - a resource's traits are `Any` annotations (`UserTrait`, `GroupTrait`, `RoleTrait`, and
//!   `LicenseProfileTrait` on roles, before the `RoleTrait`);
//! - profiles sit on the resource (`Resource.profile`, newer baton-sdk) and, for groups and
//!   roles, on the trait too; a user's trait has none (the SDK deprecated it there);
//! - a user is a HUMAN account; its status is on the resource (`Resource.status`) and on the
//!   trait;
//! - the `user` resource type carries `SkipEntitlements`, the `role` type `SkipGrants` (a
//!   user's role grant is emitted with the user);
//! - an assignment entitlement is `{id, resource, display_name, description, slug, purpose
//!   ASSIGNMENT}` with `grantable_to` holding the plain user `ResourceType`; a role's
//!   `assigned` entitlement is in the exclusion group `notion-workspace-role` (a member holds
//!   exactly one role; `restricted_member` is the default);
//! - a grant's entitlement is only `{id, resource}` and its principal only `{id}`.
//!
//! Where ours differs from the Go connector's file, on purpose (README, "Where ours differs from
//! the Go connector"):
//! - a user without the role extension has `workspace_role` `member` and the `member` role
//!   grant (Notion's clients read a missing extension as `member`); Go gives neither;
//! - an inactive user's `UserTrait.status` is DISABLED, as its resource status is; Go's trait
//!   says ENABLED (baton-sdk's default when a connector sets only the resource's status), which
//!   readers of the trait alone (SDKs before `Resource.status`) would take as active.
//!
//! Ids: entitlement `<type>:<id>:<slug>`, grant `<entitlement id>:<principal type>:<principal id>`.

use std::collections::BTreeMap;

use prost_types::{value::Kind, Struct, Value};

use crate::proto::{
    self, entitlement::PurposeValue, resource_type::Trait, status::ResourceStatus, user_trait, Entitlement,
    EntitlementExclusionGroup, Grant, GroupTrait, LicenseProfileTrait, Resource, ResourceId, ResourceType, RoleTrait,
    SkipEntitlements, SkipGrants, UserTrait,
};
use crate::scim::types::{ScimGroup, ScimMember, ScimUser};

/// Resource type ids.
pub const USER: &str = "user";
pub const GROUP: &str = "group";
pub const ROLE: &str = "role";

/// The group entitlement's slug.
pub const MEMBER_SLUG: &str = "member";
/// The role entitlement's slug.
pub const ASSIGNED_SLUG: &str = "assigned";

/// The role a user holds when Notion sends no role extension.
pub const DEFAULT_ROLE: &str = "member";
/// The role a revoke downgrades to (the floor: a Notion member always has a role).
pub const REVOKED_ROLE: &str = "restricted_member";

/// The exclusion group of the roles' `assigned` entitlements: a member holds exactly one role.
pub const ROLE_EXCLUSION_GROUP: &str = "notion-workspace-role";

/// One of Notion's four fixed workspace roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotionRole {
    pub id: &'static str,
    pub display_name: &'static str,
    pub description: &'static str,
    /// Privilege order within the exclusion group; higher is more privileged.
    pub order: u32,
}

/// The roles, in baton-notion's order. Descriptions are baton-notion's.
pub const ROLES: [NotionRole; 4] = [
    NotionRole {
        id: "owner",
        display_name: "Owner",
        description: "Workspace owner. Has full administrative control, including billing, security, and SCIM token management.",
        order: 4,
    },
    NotionRole {
        id: "membership_admin",
        display_name: "Membership Admin",
        description: "Can add and remove workspace members and manage groups, but cannot access billing or security settings.",
        order: 3,
    },
    NotionRole {
        id: "member",
        display_name: "Member",
        description: "Standard workspace member with full access to non-administrative workspace content.",
        order: 2,
    },
    NotionRole {
        id: "restricted_member",
        display_name: "Restricted Member",
        description: "Workspace member with restricted access — useful for contractors or contributors who should only see explicitly shared pages.",
        order: 1,
    },
];

/// The role with this id, if it is one of the four.
pub fn role(id: &str) -> Option<&'static NotionRole> {
    ROLES.iter().find(|r| r.id == id)
}

/// `user`: User, trait USER, annotated `SkipEntitlements` (users offer none).
pub fn user_resource_type() -> ResourceType {
    ResourceType {
        annotations: vec![proto::pack(&SkipEntitlements {})],
        ..grantable_user_type()
    }
}

/// The user type as an entitlement's `grantable_to` names it: id, name and trait only.
fn grantable_user_type() -> ResourceType {
    resource_type(USER, "User", &[Trait::User])
}

/// `group`: Group, trait GROUP.
pub fn group_resource_type() -> ResourceType {
    resource_type(GROUP, "Group", &[Trait::Group])
}

/// `role`: Role, traits ROLE and LICENSE_PROFILE (each role is also a seat tier), annotated
/// `SkipGrants` (role grants come with the users).
pub fn role_resource_type() -> ResourceType {
    ResourceType {
        annotations: vec![proto::pack(&SkipGrants {})],
        ..resource_type(ROLE, "Role", &[Trait::Role, Trait::LicenseProfile])
    }
}

/// The three resource types, in sync order.
pub fn resource_types() -> Vec<ResourceType> {
    vec![user_resource_type(), group_resource_type(), role_resource_type()]
}

fn resource_type(id: &str, display_name: &str, traits: &[Trait]) -> ResourceType {
    ResourceType {
        id: id.into(),
        display_name: display_name.into(),
        traits: traits.iter().map(|t| *t as i32).collect(),
        ..Default::default()
    }
}

/// `<type>:<id>:<slug>`.
pub fn entitlement_id(resource: &ResourceId, slug: &str) -> String {
    format!("{}:{}:{}", resource.resource_type, resource.resource, slug)
}

/// `<entitlement id>:<principal type>:<principal id>`.
pub fn grant_id(entitlement_id: &str, principal: &ResourceId) -> String {
    format!("{}:{}:{}", entitlement_id, principal.resource_type, principal.resource)
}

/// The user's workspace role: the extension's `role`, or [`DEFAULT_ROLE`] without one (an
/// empty role string counts as none). Unknown role strings are returned as they are.
pub fn workspace_role(user: &ScimUser) -> &str {
    user.notion
        .as_ref()
        .and_then(|n| n.role.as_deref())
        .filter(|r| !r.is_empty())
        .unwrap_or(DEFAULT_ROLE)
}

/// A user resource, as baton-notion's `parseIntoUserResource` builds it: display name
/// `name.formatted` (empty when Notion sends none, as in Go), a HUMAN account whose login and
/// primary email are `userName`, status ENABLED iff `active` (on the resource and the trait),
/// and the resource profile `first_name`/`last_name` (the SCIM given/family names, empty
/// strings when absent), `email` (`userName`) and `workspace_role`.
pub fn user_resource(user: &ScimUser) -> Resource {
    let name = user.name.clone().unwrap_or_default();
    let profile = string_struct(&[
        ("first_name", name.given_name.as_deref().unwrap_or_default()),
        ("last_name", name.family_name.as_deref().unwrap_or_default()),
        ("email", &user.user_name),
        ("workspace_role", workspace_role(user)),
    ]);
    let (status, resource_status) = if user.active {
        (user_trait::status::Status::Enabled, ResourceStatus::Enabled)
    } else {
        (user_trait::status::Status::Disabled, ResourceStatus::Disabled)
    };
    // The SDK's WithEmail and WithUserLogin skip empty values.
    let emails = if user.user_name.is_empty() {
        Vec::new()
    } else {
        vec![user_trait::Email {
            address: user.user_name.clone(),
            is_primary: true,
        }]
    };
    let user_trait = UserTrait {
        emails,
        status: Some(user_trait::Status {
            status: status as i32,
            details: String::new(),
        }),
        account_type: user_trait::AccountType::Human as i32,
        login: user.user_name.clone(),
        ..Default::default()
    };
    Resource {
        id: Some(ResourceId::new(USER, user.id.clone())),
        display_name: name.formatted.unwrap_or_default(),
        annotations: vec![proto::pack(&user_trait)],
        profile: Some(profile),
        status: Some(proto::Status {
            status: resource_status as i32,
            details: String::new(),
        }),
        ..Default::default()
    }
}

/// A group resource: display name `displayName`, profile `group_id`, `group_name` on the
/// GroupTrait and on the resource.
pub fn group_resource(group: &ScimGroup) -> Resource {
    let profile = string_struct(&[("group_id", &group.id), ("group_name", &group.display_name)]);
    Resource {
        id: Some(ResourceId::new(GROUP, group.id.clone())),
        display_name: group.display_name.clone(),
        annotations: vec![proto::pack(&GroupTrait {
            icon: None,
            profile: Some(profile.clone()),
        })],
        profile: Some(profile),
        ..Default::default()
    }
}

/// The group's one entitlement, `group:<gid>:member`: display name `<name> Group member`,
/// description `Member of <name> Group in Notion`, grantable to users.
pub fn group_member_entitlement(group: &Resource) -> Entitlement {
    assignment_entitlement(
        group,
        MEMBER_SLUG,
        format!("{} Group {}", group.display_name, MEMBER_SLUG),
        format!("Member of {} Group in Notion", group.display_name),
    )
}

/// One grant per member: `group:<gid>:member:user:<uid>`. Members are users (Notion has no
/// nested groups), whatever their `type` says; duplicate member ids give one grant.
pub fn group_member_grants(group: &Resource, members: &[ScimMember]) -> Vec<Grant> {
    let entitlement = grant_entitlement(group, MEMBER_SLUG);
    member_principals(members)
        .into_iter()
        .map(|p| new_grant(&entitlement, p))
        .collect()
}

/// The principals of a group's member grants: one user per distinct, non-empty member id, in
/// the order Notion listed them.
pub fn member_principals(members: &[ScimMember]) -> Vec<ResourceId> {
    member_ids(members)
        .into_iter()
        .map(|id| ResourceId::new(USER, id))
        .collect()
}

/// A group's distinct, non-empty member ids, in the order Notion listed them (a member listed
/// twice makes one grant).
pub fn member_ids(members: &[ScimMember]) -> Vec<&str> {
    let mut seen = std::collections::HashSet::with_capacity(members.len());
    members
        .iter()
        .map(|m| m.value.as_str())
        .filter(|id| !id.is_empty() && seen.insert(*id))
        .collect()
}

/// The four role resources: display name; a `LicenseProfileTrait` naming the role and its
/// `assigned` entitlement (each role is a seat tier); a RoleTrait with the profile `role_id`,
/// `description`, `is_administrative`, which is on the resource too.
pub fn role_resources() -> Vec<Resource> {
    ROLES.iter().map(role_resource).collect()
}

/// One role resource.
pub fn role_resource(role: &NotionRole) -> Resource {
    let id = ResourceId::new(ROLE, role.id);
    let mut fields = BTreeMap::new();
    fields.insert("role_id".to_string(), string_value(role.id));
    fields.insert("description".to_string(), string_value(role.description));
    let administrative = role.id == "owner" || role.id == "membership_admin";
    fields.insert(
        "is_administrative".to_string(),
        Value {
            kind: Some(Kind::BoolValue(administrative)),
        },
    );
    let profile = Struct { fields };
    let license = LicenseProfileTrait {
        license_name: role.display_name.into(),
        entitlement_ids: vec![entitlement_id(&id, ASSIGNED_SLUG)],
        ..Default::default()
    };
    Resource {
        id: Some(id),
        display_name: role.display_name.into(),
        annotations: vec![
            proto::pack(&license),
            proto::pack(&RoleTrait {
                profile: Some(profile.clone()),
            }),
        ],
        profile: Some(profile),
        ..Default::default()
    }
}

/// The role's entitlement, `role:<r>:assigned`: display name `<Role> role assigned`, the role's
/// description (or `Assigned the <Role> role in Notion` for an unknown role), grantable to users,
/// in the exclusion group [`ROLE_EXCLUSION_GROUP`] with the role's order (`restricted_member`,
/// what a revoke leaves, the default).
pub fn role_assigned_entitlement(role_resource: &Resource) -> Entitlement {
    let role_id = role_resource
        .id
        .as_ref()
        .map(|id| id.resource.as_str())
        .unwrap_or_default();
    let description = match role(role_id) {
        Some(r) => r.description.to_string(),
        None => format!("Assigned the {} role in Notion", role_resource.display_name),
    };
    let mut entitlement = assignment_entitlement(
        role_resource,
        ASSIGNED_SLUG,
        format!("{} role {}", role_resource.display_name, ASSIGNED_SLUG),
        description,
    );
    if let Some(r) = role(role_id) {
        entitlement.annotations.push(proto::pack(&EntitlementExclusionGroup {
            exclusion_group_id: ROLE_EXCLUSION_GROUP.into(),
            order: r.order,
            is_default: r.id == REVOKED_ROLE,
        }));
    }
    entitlement
}

/// The user's role grant, `role:<r>:assigned:user:<uid>`, from the role extension (no extension
/// means `member`). A role outside the four gives none. Like baton-notion's user `Grants`, the
/// grant's entitlement resource carries only the role's id.
pub fn user_role_grants(user: &ScimUser) -> Vec<Grant> {
    user_role(user)
        .map(|role| new_grant(&role_grant_entitlement(role), ResourceId::new(USER, user.id.clone())))
        .into_iter()
        .collect()
}

/// The role of the user's role grant: [`workspace_role`] if it is one of the four.
pub fn user_role(user: &ScimUser) -> Option<&'static NotionRole> {
    role(workspace_role(user))
}

/// The entitlement a role grant carries: `role:<r>:assigned` on a resource holding only the
/// role's id.
pub fn role_grant_entitlement(role: &NotionRole) -> Entitlement {
    let role_ref = Resource {
        id: Some(ResourceId::new(ROLE, role.id)),
        ..Default::default()
    };
    grant_entitlement(&role_ref, ASSIGNED_SLUG)
}

/// `ent.NewAssignmentEntitlement` with `WithGrantableTo(user)`, `WithDisplayName`,
/// `WithDescription`.
fn assignment_entitlement(resource: &Resource, slug: &str, display_name: String, description: String) -> Entitlement {
    let rid = resource.id.clone().unwrap_or_default();
    Entitlement {
        resource: Some(resource.clone()),
        id: entitlement_id(&rid, slug),
        display_name,
        description,
        grantable_to: vec![grantable_user_type()],
        annotations: Vec::new(),
        purpose: PurposeValue::Assignment as i32,
        slug: slug.into(),
    }
}

/// What `grant.NewGrant(resource, slug, principalId)` puts in a grant's `entitlement`: the id
/// `<type>:<id>:<slug>` and the resource, nothing else.
pub fn grant_entitlement(resource: &Resource, slug: &str) -> Entitlement {
    let rid = resource.id.clone().unwrap_or_default();
    Entitlement {
        resource: Some(resource.clone()),
        id: entitlement_id(&rid, slug),
        ..Default::default()
    }
}

/// `grant.NewGrant`: id `<entitlement id>:<principal type>:<principal id>`, the entitlement from
/// [`grant_entitlement`], a principal holding only its id.
pub fn new_grant(entitlement: &Entitlement, principal: ResourceId) -> Grant {
    Grant {
        id: grant_id(&entitlement.id, &principal),
        entitlement: Some(entitlement.clone()),
        principal: Some(Resource {
            id: Some(principal),
            ..Default::default()
        }),
        sources: None,
        annotations: Vec::new(),
    }
}

fn string_value(s: &str) -> Value {
    Value {
        kind: Some(Kind::StringValue(s.to_string())),
    }
}

fn string_struct(pairs: &[(&str, &str)]) -> Struct {
    Struct {
        fields: pairs.iter().map(|(k, v)| ((*k).to_string(), string_value(v))).collect(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

    use super::*;
    use crate::scim::types::{NotionUserExtension, ScimName};

    fn user(id: &str, name: Option<ScimName>, role: Option<&str>, active: bool) -> ScimUser {
        ScimUser {
            id: id.into(),
            user_name: format!("{id}@example.com"),
            display_name: None,
            name,
            emails: Vec::new(),
            active,
            notion: role.map(|r| NotionUserExtension { role: Some(r.into()) }),
        }
    }

    fn user_trait_of(resource: &Resource) -> UserTrait {
        proto::find_annotation::<UserTrait>(&resource.annotations)
            .expect("decodes")
            .expect("has a UserTrait")
    }

    fn profile_str(s: &Struct, key: &str) -> String {
        match s.fields.get(key).and_then(|v| v.kind.clone()) {
            Some(Kind::StringValue(v)) => v,
            other => panic!("{key}: {other:?}"),
        }
    }

    #[test]
    fn user_with_full_name_and_role() {
        let name = ScimName {
            formatted: Some("Ada Lovelace".into()),
            given_name: Some("Ada".into()),
            family_name: Some("Lovelace".into()),
        };
        let r = user_resource(&user("u1", Some(name), Some("owner"), true));
        assert_eq!(r.id, Some(ResourceId::new("user", "u1")));
        assert_eq!(r.display_name, "Ada Lovelace");
        assert_eq!(
            r.annotations[0].type_url,
            "type.googleapis.com/c1.connector.v2.UserTrait"
        );
        let t = user_trait_of(&r);
        assert_eq!(t.login, "u1@example.com");
        assert_eq!(
            t.emails,
            vec![user_trait::Email {
                address: "u1@example.com".into(),
                is_primary: true
            }]
        );
        assert_eq!(
            t.status.as_ref().map(|s| s.status),
            Some(user_trait::status::Status::Enabled as i32)
        );
        assert_eq!(t.account_type, user_trait::AccountType::Human as i32);
        assert_eq!(
            r.status.as_ref().map(|s| s.status),
            Some(ResourceStatus::Enabled as i32)
        );
        // The profile is the resource's, as the Go connector writes it; the trait has none.
        assert_eq!(t.profile, None);
        let p = r.profile.clone().expect("profile");
        assert_eq!(p.fields.len(), 4);
        assert_eq!(profile_str(&p, "first_name"), "Ada");
        assert_eq!(profile_str(&p, "last_name"), "Lovelace");
        assert_eq!(profile_str(&p, "email"), "u1@example.com");
        assert_eq!(profile_str(&p, "workspace_role"), "owner");
    }

    #[test]
    fn user_with_only_formatted_name_no_extension_inactive() {
        let name = ScimName {
            formatted: Some("Grace Hopper".into()),
            ..Default::default()
        };
        let r = user_resource(&user("u2", Some(name), None, false));
        assert_eq!(r.display_name, "Grace Hopper");
        let t = user_trait_of(&r);
        assert_eq!(
            t.status.as_ref().map(|s| s.status),
            Some(user_trait::status::Status::Disabled as i32)
        );
        assert_eq!(
            r.status.as_ref().map(|s| s.status),
            Some(ResourceStatus::Disabled as i32)
        );
        let p = r.profile.clone().expect("profile");
        assert_eq!(profile_str(&p, "first_name"), "");
        assert_eq!(profile_str(&p, "last_name"), "");
        assert_eq!(profile_str(&p, "workspace_role"), "member");
    }

    #[test]
    fn user_without_any_name_has_an_empty_display_name_like_go() {
        let r = user_resource(&user("u3", None, None, true));
        assert_eq!(r.display_name, "");
        assert_eq!(user_trait_of(&r).login, "u3@example.com");
    }

    #[test]
    fn group_with_members() {
        let group = ScimGroup {
            id: "g1".into(),
            display_name: "Designers".into(),
            members: Some(vec![
                ScimMember { value: "u1".into() },
                ScimMember { value: "u2".into() },
                ScimMember { value: "u1".into() },
            ]),
        };
        let r = group_resource(&group);
        assert_eq!(r.id, Some(ResourceId::new("group", "g1")));
        assert_eq!(r.display_name, "Designers");
        let trait_ = proto::find_annotation::<GroupTrait>(&r.annotations)
            .expect("decodes")
            .expect("GroupTrait");
        let p = trait_.profile.expect("profile");
        assert_eq!(profile_str(&p, "group_id"), "g1");
        assert_eq!(profile_str(&p, "group_name"), "Designers");
        assert_eq!(r.profile.as_ref(), Some(&p), "the resource carries the profile too");

        let e = group_member_entitlement(&r);
        assert_eq!(e.id, "group:g1:member");
        assert_eq!(e.slug, "member");
        assert_eq!(e.display_name, "Designers Group member");
        assert_eq!(e.description, "Member of Designers Group in Notion");
        assert_eq!(e.purpose, PurposeValue::Assignment as i32);
        assert_eq!(e.grantable_to, vec![grantable_user_type()]);
        assert!(e.grantable_to[0].annotations.is_empty());
        assert!(e.annotations.is_empty());
        assert_eq!(e.resource.as_ref(), Some(&r));

        let grants = group_member_grants(&r, group.members.as_deref().unwrap_or_default());
        let ids: Vec<&str> = grants.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(ids, vec!["group:g1:member:user:u1", "group:g1:member:user:u2"]);
        let g = &grants[0];
        assert_eq!(g.entitlement.as_ref().map(|e| e.id.as_str()), Some("group:g1:member"));
        assert_eq!(
            g.principal.as_ref().and_then(|p| p.id.clone()),
            Some(ResourceId::new("user", "u1"))
        );
    }

    #[test]
    fn roles_and_their_entitlements() {
        let roles = role_resources();
        let ids: Vec<&str> = roles
            .iter()
            .filter_map(|r| r.id.as_ref())
            .map(|id| id.resource.as_str())
            .collect();
        assert_eq!(ids, vec!["owner", "membership_admin", "member", "restricted_member"]);
        let names: Vec<&str> = roles.iter().map(|r| r.display_name.as_str()).collect();
        assert_eq!(names, vec!["Owner", "Membership Admin", "Member", "Restricted Member"]);
        let role_trait = proto::find_annotation::<RoleTrait>(&roles[0].annotations)
            .expect("decodes")
            .expect("a RoleTrait");
        assert_eq!(
            role_trait.profile, roles[0].profile,
            "the trait and the resource share the profile"
        );
        // Each role is a seat: its license names it and the entitlement that grants it; the
        // license comes first, as in the Go connector's file.
        for r in &roles {
            let license = proto::find_annotation::<LicenseProfileTrait>(&r.annotations)
                .expect("decodes")
                .expect("a LicenseProfileTrait");
            assert_eq!(license.license_name, r.display_name);
            let rid = r.id.as_ref().map(|id| id.resource.clone()).unwrap_or_default();
            assert_eq!(license.entitlement_ids, vec![format!("role:{rid}:assigned")]);
            assert_eq!(
                r.annotations[0].type_url,
                "type.googleapis.com/c1.connector.v2.LicenseProfileTrait"
            );
        }
        let admin = roles[1]
            .profile
            .as_ref()
            .and_then(|p| p.fields.get("is_administrative"))
            .cloned();
        assert_eq!(admin.and_then(|v| v.kind), Some(Kind::BoolValue(true)));

        let e = role_assigned_entitlement(&roles[3]);
        assert_eq!(e.id, "role:restricted_member:assigned");
        assert_eq!(e.display_name, "Restricted Member role assigned");
        assert_eq!(e.description, ROLES[3].description);
        assert_eq!(e.slug, "assigned");
        assert_eq!(e.grantable_to, vec![grantable_user_type()]);
        // One exclusion group: owner 4 > membership_admin 3 > member 2 > restricted_member 1,
        // the last (what a revoke leaves) the default.
        let groups: Vec<(String, u32, bool)> = roles
            .iter()
            .map(|r| {
                let g = proto::find_annotation::<EntitlementExclusionGroup>(&role_assigned_entitlement(r).annotations)
                    .expect("decodes")
                    .expect("an exclusion group");
                (g.exclusion_group_id, g.order, g.is_default)
            })
            .collect();
        let group = || ROLE_EXCLUSION_GROUP.to_string();
        assert_eq!(
            groups,
            vec![
                (group(), 4, false),
                (group(), 3, false),
                (group(), 2, false),
                (group(), 1, true)
            ]
        );
        assert_eq!(
            role_resource_type().traits,
            vec![Trait::Role as i32, Trait::LicenseProfile as i32]
        );
        let types: Vec<String> = resource_types().into_iter().map(|t| t.id).collect();
        assert_eq!(types, vec!["user", "group", "role"]);
        let skip = |t: ResourceType| t.annotations.into_iter().map(|a| a.type_url).collect::<Vec<_>>();
        assert_eq!(
            skip(user_resource_type()),
            ["type.googleapis.com/c1.connector.v2.SkipEntitlements"]
        );
        assert_eq!(
            skip(role_resource_type()),
            ["type.googleapis.com/c1.connector.v2.SkipGrants"]
        );
        assert!(skip(group_resource_type()).is_empty());
    }

    #[test]
    fn role_grants_come_from_the_extension() {
        let g = user_role_grants(&user("u1", None, Some("membership_admin"), true));
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].id, "role:membership_admin:assigned:user:u1");
        assert_eq!(
            g[0].entitlement.as_ref().map(|e| e.id.as_str()),
            Some("role:membership_admin:assigned")
        );
        let ent_resource = g[0]
            .entitlement
            .as_ref()
            .and_then(|e| e.resource.clone())
            .expect("resource");
        assert_eq!(ent_resource.id, Some(ResourceId::new("role", "membership_admin")));

        let no_extension = user_role_grants(&user("u2", None, None, true));
        assert_eq!(no_extension[0].id, "role:member:assigned:user:u2");
        let empty_role = ScimUser {
            notion: Some(NotionUserExtension { role: None }),
            ..user("u3", None, None, true)
        };
        assert_eq!(user_role_grants(&empty_role)[0].id, "role:member:assigned:user:u3");
        assert!(user_role_grants(&user("u4", None, Some("guest"), true)).is_empty());
    }
}
