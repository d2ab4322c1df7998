//! Every behaviour of Notion's SCIM API that nobody has observed, as one switch each.
//!
//! `docs/notion-scim.md` tags each fact of Notion's SCIM API with its evidence ([N] Notion's own
//! text, [O] observed on a live workspace, [T] third-party clients and docs, [R] the SCIM RFCs,
//! [?] unknown). Where a fact is unknown, the emulation takes the best guess as the default and
//! exposes a switch here, so a connector can be tested against every plausible reality. When a
//! real tenant is recorded, the recording decides and the default moves.
//!
//! Each field is also a command-line flag of `notion-scim-mock serve` (its doc comment is the
//! flag's help) and a JSON field of `PUT /__admin/quirks`. A value is spelled the same in both
//! places (`not-found`, `return-existing`); JSON also accepts the older `not_found` spelling.
//! The table of switches in `docs/notion-scim.md` is generated from these doc comments and a
//! test fails when it is stale.

use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

/// The switches for Notion's unknown behaviours. `Quirks::default()` is the best guess.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Args)]
#[serde(default, deny_unknown_fields)]
pub struct Quirks {
    /// Error body dialect. Unknown [?]: RFC 7644 §3.12 (`schemas`, `status` as a string,
    /// `scimType`, `detail`) or Notion's REST form (`object`, `status`, `code`, `message`).
    /// Guess: rfc.
    #[arg(long, value_enum, default_value_t = ErrorDialect::Rfc)]
    pub error_dialect: ErrorDialect,

    /// Status for a missing, wrong or revoked token. Notion says only "non-2xx" [?]. Guess: 401.
    #[arg(long, default_value_t = 401)]
    pub auth_failure_status: u16,

    /// Status when the token's workspace is not on the Enterprise plan. Unknown [?]. Guess: 403.
    #[arg(long, default_value_t = 403)]
    pub non_enterprise_status: u16,

    /// What a list `count` above 100 does. Notion documents the maximum of 100 [N] but not what
    /// happens above it [?]. Guess: clamp silently.
    #[arg(long, value_enum, default_value_t = CountOverMax::Clamp)]
    pub count_over_max: CountOverMax,

    /// Page size when a list carries no `count`. Unknown [?]. Guess: 100.
    #[arg(long, default_value_t = 100)]
    pub default_count: usize,

    /// What a filter outside Notion's vocabulary does (`co`, `sw`, `and`, value paths,
    /// `externalId`, ...). Unknown [?]. Guess: reject with 400 `invalidFilter`.
    #[arg(long, value_enum, default_value_t = UnsupportedFilter::Reject)]
    pub unsupported_filter: UnsupportedFilter,

    /// Whether group lists carry `members` (unless `excludedAttributes=members` asks
    /// otherwise). No group list was ever captured [?]. Guess: they do, as RFC 7644 lists do.
    #[arg(long, action = clap::ArgAction::Set, default_value_t = true)]
    pub list_groups_with_members: bool,

    /// Whether a group carries the core Group URN in `schemas` and a user-style `meta`. No
    /// Notion group was ever captured [?]. Guess: yes.
    #[arg(long, action = clap::ArgAction::Set, default_value_t = true)]
    pub group_meta: bool,

    /// What a group member that is itself a group does. Notion: "assume none" [N][?].
    /// Guess: reject with 400 `invalidValue`.
    #[arg(long, value_enum, default_value_t = NestedGroups::Reject)]
    pub nested_groups: NestedGroups,

    /// Whether re-adding a removed person (POST with their email) brings back their old id.
    /// Notion keeps the account [N]; that the id is kept is a guess [?]. Guess: yes.
    #[arg(long, action = clap::ArgAction::Set, default_value_t = true)]
    pub readd_keeps_id: bool,

    /// What POST /Users does for someone who is already a member. Unknown [?]. Guess: 409
    /// `uniqueness`.
    #[arg(long, value_enum, default_value_t = PostExistingMember::Conflict)]
    pub post_existing_member: PostExistingMember,

    /// Role given by POST /Users when the request names none. Unknown [?]. Guess: member.
    #[arg(long, value_enum, default_value_t = crate::Role::Member)]
    pub default_role: crate::Role,

    /// Whether a creation answers 201 with a `Location` header (RFC 7644) or 200 without one.
    /// Unknown for Notion [?]. Guess: 201 with `Location`.
    #[arg(long, action = clap::ArgAction::Set, default_value_t = true)]
    pub created_with_location: bool,

    /// Whether changing a user's name or email requires the email's domain to be one of the
    /// organisation's verified domains [N], and the status when it is not (unknown [?]).
    /// 0 turns the check off. Guess: 403.
    #[arg(long, default_value_t = 403)]
    pub unverified_domain_status: u16,

    /// Whether PUT /Users clears the optional attributes the body omits (title, phone numbers,
    /// addresses, locale, enterprise extension, ...). Unknown [?]. Guess: yes, as RFC 7644
    /// §3.5.1 says. Name and role are never cleared: Notion always holds one of each.
    #[arg(long, action = clap::ArgAction::Set, default_value_t = true)]
    pub put_clears_omitted: bool,

    /// Status when asked to remove the owner who created the calling token. Notion refuses
    /// [N]; the status is unknown [?]. Guess: 403.
    #[arg(long, default_value_t = 403)]
    pub token_creator_removal_status: u16,

    /// Status when deleting a group would leave a page with nobody holding full access.
    /// Notion refuses [N]; the status is unknown [?]. Guess: 409.
    #[arg(long, default_value_t = 409)]
    pub group_delete_refused_status: u16,

    /// How `/Me`, `/Bulk` and `/.search` answer: undocumented by Notion [?]. Guess: 501, as
    /// RFC 7644 asks of unsupported endpoints.
    #[arg(long, value_enum, default_value_t = UndocumentedEndpoints::NotImplemented)]
    pub undocumented_endpoints: UndocumentedEndpoints,

    /// The response `Content-Type`. Never recorded [?]. Guess: `application/scim+json`.
    #[arg(long, value_enum, default_value_t = ResponseContentType::ScimJson)]
    pub response_content_type: ResponseContentType,
}

impl Default for Quirks {
    fn default() -> Self {
        Quirks {
            error_dialect: ErrorDialect::Rfc,
            auth_failure_status: 401,
            non_enterprise_status: 403,
            count_over_max: CountOverMax::Clamp,
            default_count: 100,
            unsupported_filter: UnsupportedFilter::Reject,
            list_groups_with_members: true,
            group_meta: true,
            nested_groups: NestedGroups::Reject,
            readd_keeps_id: true,
            post_existing_member: PostExistingMember::Conflict,
            default_role: crate::Role::Member,
            created_with_location: true,
            unverified_domain_status: 403,
            put_clears_omitted: true,
            token_creator_removal_status: 403,
            group_delete_refused_status: 409,
            undocumented_endpoints: UndocumentedEndpoints::NotImplemented,
            response_content_type: ResponseContentType::ScimJson,
        }
    }
}

/// The shape of error bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorDialect {
    /// RFC 7644 §3.12: `{"schemas":[...Error], "status":"400", "scimType":..., "detail":...}`.
    Rfc,
    /// Notion's public REST API: `{"object":"error", "status":400, "code":..., "message":...}`.
    Notion,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum CountOverMax {
    /// Serve 100 items and say so in `itemsPerPage`.
    Clamp,
    /// Answer 400 `invalidValue`.
    Reject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum UnsupportedFilter {
    /// Answer 400 `invalidFilter`.
    Reject,
    /// Ignore the filter and list everything (what some SCIM servers do; dangerous for
    /// clients that check existence with a filter).
    Ignore,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum NestedGroups {
    /// Answer 400 `invalidValue`.
    Reject,
    /// Drop group members silently and keep the rest.
    Ignore,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum PostExistingMember {
    /// 409 `uniqueness`.
    Conflict,
    /// Answer as a creation would, with the existing member unchanged.
    #[serde(alias = "return_existing")]
    ReturnExisting,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum UndocumentedEndpoints {
    /// 501 Not Implemented.
    #[serde(alias = "not_implemented")]
    NotImplemented,
    /// 404 Not Found.
    #[serde(alias = "not_found")]
    NotFound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ResponseContentType {
    /// `application/scim+json`
    #[serde(alias = "scim_json")]
    ScimJson,
    /// `application/json`
    Json,
}

impl ResponseContentType {
    pub fn mime(self) -> &'static str {
        match self {
            ResponseContentType::ScimJson => "application/scim+json",
            ResponseContentType::Json => "application/json",
        }
    }
}
