//! The JSON shapes Notion answers with, serialised straight from the model (no intermediate
//! `serde_json::Value`: list pages are the hot path).
//!
//! Observed shapes kept here: only the core URN in `schemas` even when the Notion extension is
//! present; `meta.created`/`lastModified` as epoch-millisecond strings; `meta.location` on
//! `app.notion.com` whatever host was called; emails without `type`; users with only
//! `name.formatted` or without the extension object.

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use uuid::Uuid;

use crate::model::{Account, Group, Member};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const NOTION_USER_EXT: &str = "urn:ietf:params:scim:schemas:extension:notion:2.0:User";
pub const ENTERPRISE_USER_EXT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// `meta.location` always names this host [O].
pub const LOCATION_BASE: &str = "https://app.notion.com/scim/v2";

/// A workspace member as `/Users` shows them.
#[derive(Debug)]
pub struct UserView<'a> {
    pub account: &'a Account,
    pub member: &'a Member,
}

struct Meta<'a> {
    resource_type: &'a str,
    created: u64,
    modified: u64,
    kind: &'a str,
    id: Uuid,
}

impl Serialize for Meta<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("resourceType", self.resource_type)?;
        m.serialize_entry("created", &self.created.to_string())?;
        m.serialize_entry("lastModified", &self.modified.to_string())?;
        m.serialize_entry("location", &format!("{LOCATION_BASE}/{}/{}", self.kind, self.id))?;
        m.end()
    }
}

struct Name<'a>(&'a crate::model::PersonName);

impl Serialize for Name<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let n = self.0;
        let mut m = s.serialize_map(None)?;
        if let Some(f) = &n.formatted {
            m.serialize_entry("formatted", f)?;
        }
        if let Some(g) = &n.given {
            m.serialize_entry("givenName", g)?;
        }
        if let Some(f) = &n.family {
            m.serialize_entry("familyName", f)?;
        }
        m.end()
    }
}

struct Emails<'a>(&'a Account);

impl Serialize for Emails<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Email<'b> {
            value: &'b str,
            primary: bool,
        }
        let mut seq = s.serialize_seq(None)?;
        seq.serialize_element(&Email {
            value: &self.0.email,
            primary: true,
        })?;
        if let Some(second) = &self.0.secondary_email {
            seq.serialize_element(&Email {
                value: second,
                primary: false,
            })?;
        }
        seq.end()
    }
}

struct Photos<'a>(&'a Option<String>);

impl Serialize for Photos<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Photo<'b> {
            value: &'b str,
            #[serde(rename = "type")]
            kind: &'static str,
        }
        let mut seq = s.serialize_seq(None)?;
        if let Some(p) = self.0 {
            seq.serialize_element(&Photo {
                value: p,
                kind: "photo",
            })?;
        }
        seq.end()
    }
}

impl Serialize for UserView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let a = self.account;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("schemas", &[USER_SCHEMA])?;
        m.serialize_entry("id", &a.id)?;
        m.serialize_entry("userName", &a.email)?;
        m.serialize_entry("name", &Name(&a.name))?;
        m.serialize_entry("displayName", &a.name.display().unwrap_or_else(|| a.email.clone()))?;
        m.serialize_entry("emails", &Emails(a))?;
        m.serialize_entry("active", &self.member.active)?;
        m.serialize_entry("photos", &Photos(&a.photo))?;
        for (k, v) in &a.attributes {
            m.serialize_entry(k, v)?;
        }
        m.serialize_entry(
            "meta",
            &Meta {
                resource_type: "User",
                created: self.member.created_ms,
                modified: self.member.modified_ms,
                kind: "Users",
                id: a.id,
            },
        )?;
        if let Some(role) = self.member.role {
            #[derive(Serialize)]
            struct Ext {
                role: &'static str,
            }
            m.serialize_entry(NOTION_USER_EXT, &Ext { role: role.as_str() })?;
        }
        m.end()
    }
}

/// A group as `/Groups` shows it.
#[derive(Debug)]
pub struct GroupView<'a> {
    pub id: Uuid,
    pub group: &'a Group,
    pub with_members: bool,
    /// Whether `schemas` and `meta` are shown ([`crate::Quirks::group_meta`]).
    pub with_meta: bool,
}

struct GroupMembers<'a>(&'a Group);

impl Serialize for GroupMembers<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct M<'b> {
            value: &'b Uuid,
            #[serde(rename = "$ref")]
            reference: String,
            #[serde(rename = "type")]
            kind: &'static str,
        }
        let mut seq = s.serialize_seq(Some(self.0.members.len()))?;
        for id in &self.0.members {
            seq.serialize_element(&M {
                value: id,
                reference: format!("{LOCATION_BASE}/Users/{id}"),
                kind: "User",
            })?;
        }
        seq.end()
    }
}

impl Serialize for GroupView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if self.with_meta {
            m.serialize_entry("schemas", &[GROUP_SCHEMA])?;
        }
        m.serialize_entry("id", &self.id)?;
        m.serialize_entry("displayName", &self.group.display_name)?;
        if self.with_members {
            m.serialize_entry("members", &GroupMembers(self.group))?;
        }
        if self.with_meta {
            m.serialize_entry(
                "meta",
                &Meta {
                    resource_type: "Group",
                    created: self.group.created_ms,
                    modified: self.group.modified_ms,
                    kind: "Groups",
                    id: self.id,
                },
            )?;
        }
        m.end()
    }
}

/// A `ListResponse` page.
#[derive(Debug)]
pub struct ListPage<I> {
    pub total_results: u64,
    pub start_index: u64,
    /// `None` leaves the field out (a paging fault).
    pub items_per_page: Option<u64>,
    pub resources: I,
}

impl<I, T> Serialize for ListPage<I>
where
    I: Clone + Iterator<Item = T>,
    T: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("schemas", &[LIST_SCHEMA])?;
        m.serialize_entry("totalResults", &self.total_results)?;
        m.serialize_entry("startIndex", &self.start_index)?;
        if let Some(n) = self.items_per_page {
            m.serialize_entry("itemsPerPage", &n)?;
        }
        m.serialize_entry("Resources", &Seq(self.resources.clone()))?;
        m.end()
    }
}

struct Seq<I>(I);

impl<I, T> Serialize for Seq<I>
where
    I: Clone + Iterator<Item = T>,
    T: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for item in self.0.clone() {
            seq.serialize_element(&item)?;
        }
        seq.end()
    }
}
