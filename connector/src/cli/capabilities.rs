//! `baton-notion capabilities`: what the connector can do per resource type, in the JSON shape
//! of baton-sdk's `ConnectorCapabilities` (as `protojson` prints it).

use serde_json::{json, Value};

/// Sync only, for all three types; provisioning arrives with a later change, and each capability
/// is added here when it works.
pub fn capabilities_json() -> Value {
    json!({
        "@type": "type.googleapis.com/c1.connector.v2.ConnectorCapabilities",
        "resourceTypeCapabilities": [
            {
                "resourceType": {
                    "id": "group",
                    "displayName": "Group",
                    "traits": ["TRAIT_GROUP"]
                },
                "capabilities": ["CAPABILITY_SYNC"],
                "permissions": {}
            },
            {
                "resourceType": {
                    "id": "role",
                    "displayName": "Role",
                    "traits": ["TRAIT_ROLE", "TRAIT_LICENSE_PROFILE"]
                },
                "capabilities": ["CAPABILITY_SYNC"],
                "permissions": {}
            },
            {
                "resourceType": {
                    "id": "user",
                    "displayName": "User",
                    "traits": ["TRAIT_USER"],
                    "annotations": [
                        { "@type": "type.googleapis.com/c1.connector.v2.SkipEntitlements" }
                    ]
                },
                "capabilities": ["CAPABILITY_SYNC"],
                "permissions": {}
            }
        ],
        "connectorCapabilities": ["CAPABILITY_SYNC"]
    })
}
