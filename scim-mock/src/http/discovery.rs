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

fn attr(name: &str, kind: &str, multi: bool, required: bool) -> Value {
    json!({
        "name": name, "type": kind, "multiValued": multi, "required": required,
        "caseExact": false, "mutability": "readWrite", "returned": "default", "uniqueness": "none"
    })
}

fn schema_docs() -> [Value; 4] {
    let schema = |id: &str, name: &str, attributes: Vec<Value>| {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": id, "name": name, "attributes": attributes,
            "meta": { "resourceType": "Schema", "location": format!("{LOCATION_BASE}/Schemas/{id}") }
        })
    };
    [
        schema(
            USER_SCHEMA,
            "User",
            vec![
                attr("userName", "string", false, true),
                attr("name", "complex", false, false),
                attr("displayName", "string", false, false),
                attr("emails", "complex", true, false),
                attr("active", "boolean", false, false),
                attr("photos", "complex", true, false),
                attr("title", "string", false, false),
                attr("phoneNumbers", "complex", true, false),
                attr("addresses", "complex", true, false),
                attr("roles", "complex", true, false),
                attr("locale", "string", false, false),
                attr("preferredLanguage", "string", false, false),
                attr("userType", "string", false, false),
            ],
        ),
        schema(
            GROUP_SCHEMA,
            "Group",
            vec![
                attr("displayName", "string", false, true),
                attr("members", "complex", true, false),
            ],
        ),
        schema(
            NOTION_USER_EXT,
            "NotionUser",
            vec![attr("role", "string", false, false)],
        ),
        schema(
            ENTERPRISE_USER_EXT,
            "EnterpriseUser",
            vec![
                attr("employeeNumber", "string", false, false),
                attr("costCenter", "string", false, false),
                attr("organization", "string", false, false),
                attr("division", "string", false, false),
                attr("department", "string", false, false),
                attr("manager", "complex", false, false),
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
