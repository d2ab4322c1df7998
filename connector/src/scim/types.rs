//! SCIM resources as Notion returns them. Lenient on purpose: Notion omits fields that RFC 7643
//! calls required (some users carry only `name.formatted`, some no role extension), so every
//! field but `id` has a default.

use serde::{Deserialize, Serialize};

/// The schema URN of Notion's user extension, which carries the workspace role.
pub const NOTION_USER_EXTENSION: &str = "urn:ietf:params:scim:schemas:extension:notion:2.0:User";

/// One workspace member (`/Users`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScimUser {
    pub id: String,
    #[serde(default)]
    pub user_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<ScimName>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<ScimEmail>,
    /// Notion marks every listed member active but captures show inactive records too.
    #[serde(default = "default_true")]
    pub active: bool,
    #[serde(
        rename = "urn:ietf:params:scim:schemas:extension:notion:2.0:User",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub notion: Option<NotionUserExtension>,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScimName {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScimEmail {
    pub value: String,
    #[serde(default)]
    pub primary: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotionUserExtension {
    /// `owner`, `membership_admin`, `member` or `restricted_member`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// One workspace group (`/Groups`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScimGroup {
    pub id: String,
    #[serde(default)]
    pub display_name: String,
    /// `None` when the response did not carry members (a list that leaves them out); the
    /// connector then reads the group by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<ScimMember>>,
}

/// A group member: only its user id is kept. Notion's members are users whatever their `type`
/// says (it has no nested groups), and `$ref`, `type` and `display` are never used; a group's
/// page can hold hundreds of thousands of members, and those three strings were most of its
/// memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScimMember {
    /// The member's user id.
    pub value: String,
}

/// A SCIM `ListResponse` page. Every count is optional: a careful client checks them rather
/// than trusting them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse<T> {
    #[serde(default)]
    pub total_results: Option<u64>,
    #[serde(default)]
    pub start_index: Option<u64>,
    #[serde(default)]
    pub items_per_page: Option<u64>,
    #[serde(rename = "Resources", default = "Vec::new")]
    pub resources: Vec<T>,
}
