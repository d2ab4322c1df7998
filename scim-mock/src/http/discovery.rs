//! `/ServiceProviderConfig` (no token needed [O]), `/ResourceTypes`, `/Schemas`, and the
//! endpoints Notion does not document (`/Me`, `/Bulk`, `/.search`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::{json_response, AppState};
use crate::error::ScimError;
use crate::quirks::UndocumentedEndpoints;
use crate::resource::{ENTERPRISE_USER_EXT, GROUP_SCHEMA, LOCATION_BASE, NOTION_USER_EXT, USER_SCHEMA};

fn respond(state: &AppState, value: &Value) -> Response {
    json_response(state, StatusCode::OK, value.to_string().into_bytes())
}

/// Patch and filter supported; sort, bulk, etag, password change not [O].
pub(crate) async fn service_provider_config(State(state): State<AppState>) -> Response {
    respond(
        &state,
        &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "documentationUri": "https://www.notion.so/help/provision-users-and-groups-with-scim",
            "patch": { "supported": true },
            "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
            "filter": { "supported": true, "maxResults": 100 },
            "changePassword": { "supported": false },
            "sort": { "supported": false },
            "etag": { "supported": false },
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "Authentication with the workspace's SCIM API token",
                "primary": true
            }],
            "meta": { "resourceType": "ServiceProviderConfig", "location": format!("{LOCATION_BASE}/ServiceProviderConfig") }
        }),
    )
}

fn resource_type_docs() -> [Value; 2] {
    [
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User", "name": "User", "endpoint": "/Users", "description": "Workspace member",
            "schema": USER_SCHEMA,
            "schemaExtensions": [
                { "schema": NOTION_USER_EXT, "required": false },
                { "schema": ENTERPRISE_USER_EXT, "required": false }
            ],
            "meta": { "resourceType": "ResourceType", "location": format!("{LOCATION_BASE}/ResourceTypes/User") }
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Group", "name": "Group", "endpoint": "/Groups", "description": "Workspace group",
            "schema": GROUP_SCHEMA,
            "meta": { "resourceType": "ResourceType", "location": format!("{LOCATION_BASE}/ResourceTypes/Group") }
        }),
    ]
}

fn list_of(items: Vec<Value>) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": items.len(),
        "startIndex": 1,
        "itemsPerPage": items.len(),
        "Resources": items,
    })
}

pub(crate) async fn resource_types(State(state): State<AppState>) -> Response {
    respond(&state, &list_of(resource_type_docs().to_vec()))
}

pub(crate) async fn resource_type(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ScimError> {
    let doc = resource_type_docs()
        .into_iter()
        .find(|d| d["id"].as_str().is_some_and(|id| id.eq_ignore_ascii_case(&name)))
        .ok_or_else(|| ScimError::NotFound(format!("no resource type {name}")))?;
    Ok(respond(&state, &doc))
}

/// One attribute definition (RFC 7643 §7) with the common defaults: single-valued, optional,
/// not case-exact, read-write, returned by default, not unique.
fn attr(name: &str, kind: &str, description: &str) -> Value {
    json!({
        "name": name, "type": kind, "multiValued": false, "description": description,
        "required": false, "caseExact": false, "mutability": "readWrite",
        "returned": "default", "uniqueness": "none"
    })
}

/// `attr` with some of its fields changed.
fn with(mut def: Value, changes: Value) -> Value {
    if let (Some(d), Value::Object(c)) = (def.as_object_mut(), changes) {
        d.extend(c);
    }
    def
}

fn complex(name: &str, multi: bool, description: &str, subs: Vec<Value>) -> Value {
    with(
        attr(name, "complex", description),
        json!({ "multiValued": multi, "subAttributes": subs }),
    )
}

/// A sub-attribute the emulation accepts on input and drops, as Notion keeps only part of what
/// clients send: declared so that clients may send it, never returned.
fn accepted_only(name: &str, kind: &str) -> Value {
    with(
        attr(name, kind, "Accepted on input and not kept"),
        json!({ "mutability": "writeOnly", "returned": "never" }),
    )
}

/// `type`, `primary` and friends of a plural attribute whose items are kept as sent.
fn plural_subs(value_kind: &str) -> Vec<Value> {
    vec![
        attr("value", value_kind, "The value"),
        attr("display", "string", "A human-readable name"),
        attr("type", "string", "A label for the value's function"),
        attr("primary", "boolean", "Whether this is the preferred value"),
    ]
}

/// The schemas as the emulation serves and accepts them: every attribute a resource can carry
/// is declared, with its sub-attributes, so that schema-driven clients can validate what they
/// receive. Common attributes (`id`, `externalId`, `meta`) are not repeated here (RFC 7643
/// §3.1). Notion lists only the core URN in a user's `schemas` even when an extension object is
/// present [O]; the extensions are declared in `/ResourceTypes`.
fn schema_docs() -> [Value; 4] {
    let schema = |id: &str, name: &str, description: &str, attributes: Vec<Value>| {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": id, "name": name, "description": description, "attributes": attributes,
            "meta": { "resourceType": "Schema", "location": format!("{LOCATION_BASE}/Schemas/{id}") }
        })
    };
    let string = |name: &str, description: &str| attr(name, "string", description);
    let roles: Vec<Value> = crate::Role::ALL.iter().map(|r| json!(r.as_str())).collect();
    [
        schema(
            USER_SCHEMA,
            "User",
            "A workspace member",
            vec![
                with(
                    string("userName", "The member's email address: one account per address"),
                    json!({ "required": true, "uniqueness": "server" }),
                ),
                complex(
                    "name",
                    false,
                    "The member's name: Notion stores one name, so a new formatted name replaces the parts that no longer spell it",
                    vec![
                        string("formatted", "The whole name"),
                        string("givenName", "The given name"),
                        string("familyName", "The family name"),
                    ],
                ),
                string("displayName", "The name shown: the formatted name, else the email; writing it renames the member"),
                complex(
                    "emails",
                    true,
                    "The primary address (the userName) and at most one secondary address",
                    vec![
                        attr("value", "string", "An email address"),
                        attr("primary", "boolean", "Whether this is the userName"),
                        accepted_only("type", "string"),
                        accepted_only("display", "string"),
                    ],
                ),
                attr("active", "boolean", "false removes the member from the workspace"),
                with(
                    complex(
                        "photos",
                        true,
                        "The profile photo, read on creation only",
                        vec![
                            with(
                                attr("value", "reference", "The photo's URL"),
                                json!({ "referenceTypes": ["external"] }),
                            ),
                            with(string("type", "Always photo"), json!({ "canonicalValues": ["photo"] })),
                        ],
                    ),
                    json!({ "mutability": "immutable" }),
                ),
                string("title", "The member's title"),
                complex(
                    "phoneNumbers",
                    true,
                    "One phone number: the primary, else the first with a value",
                    vec![
                        string("value", "The number"),
                        string("type", "A label for the number"),
                        accepted_only("primary", "boolean"),
                        accepted_only("display", "string"),
                    ],
                ),
                complex(
                    "addresses",
                    true,
                    "Postal addresses, kept as sent",
                    vec![
                        string("formatted", "The whole address"),
                        string("streetAddress", "Street"),
                        string("locality", "City"),
                        string("region", "Region"),
                        string("postalCode", "Postal code"),
                        string("country", "Country"),
                        string("type", "A label for the address"),
                        attr("primary", "boolean", "Whether this is the preferred address"),
                    ],
                ),
                complex("roles", true, "Roles, kept as sent (the workspace role is in the Notion extension)", plural_subs("string")),
                string("locale", "The member's locale"),
                string("preferredLanguage", "The member's preferred language"),
                string("userType", "The member's type"),
            ],
        ),
        schema(
            GROUP_SCHEMA,
            "Group",
            "A workspace group: workspace members only, never guests or groups",
            vec![
                with(
                    string("displayName", "The group's name"),
                    json!({ "required": true }),
                ),
                complex(
                    "members",
                    true,
                    "The group's members",
                    vec![
                        with(
                            string("value", "The member's user id"),
                            json!({ "mutability": "immutable" }),
                        ),
                        with(
                            attr("$ref", "reference", "The member's URI"),
                            json!({ "mutability": "immutable", "referenceTypes": ["User"] }),
                        ),
                        with(
                            string("type", "Always User"),
                            json!({ "mutability": "immutable", "canonicalValues": ["User"] }),
                        ),
                        accepted_only("display", "string"),
                    ],
                ),
            ],
        ),
        schema(
            NOTION_USER_EXT,
            "NotionUser",
            "Notion's user extension: the workspace role",
            vec![with(
                string("role", "The workspace role; a record without it is read as member"),
                json!({ "canonicalValues": roles, "caseExact": true }),
            )],
        ),
        schema(
            ENTERPRISE_USER_EXT,
            "EnterpriseUser",
            "The enterprise user extension",
            vec![
                string("employeeNumber", "Employee number"),
                string("costCenter", "Cost center"),
                string("organization", "Organization"),
                string("division", "Division"),
                string("department", "Department"),
                complex(
                    "manager",
                    false,
                    "The member's manager",
                    vec![
                        string("value", "The manager's email address (Notion's manager is an email, not an id)"),
                        accepted_only("displayName", "string"),
                    ],
                ),
            ],
        ),
    ]
}

pub(crate) async fn schemas(State(state): State<AppState>) -> Response {
    respond(&state, &list_of(schema_docs().to_vec()))
}

pub(crate) async fn schema(State(state): State<AppState>, Path(urn): Path<String>) -> Result<Response, ScimError> {
    let doc = schema_docs()
        .into_iter()
        .find(|d| d["id"].as_str().is_some_and(|id| id.eq_ignore_ascii_case(&urn)))
        .ok_or_else(|| ScimError::NotFound(format!("no schema {urn}")))?;
    Ok(respond(&state, &doc))
}

pub(crate) async fn undocumented(State(state): State<AppState>, uri: axum::http::Uri) -> ScimError {
    let what = format!("{} is not offered by Notion's SCIM API", uri.path());
    match state.quirks.read().undocumented_endpoints {
        UndocumentedEndpoints::NotImplemented => ScimError::NotImplemented(what),
        UndocumentedEndpoints::NotFound => ScimError::NotFound(what),
    }
}
