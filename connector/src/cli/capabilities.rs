//! `baton-notion capabilities`: what the connector can do per resource type, in the JSON shape
//! of baton-sdk's `ConnectorCapabilities` (as `protojson` prints it).

use serde_json::{json, Value};

/// Everything provisionable, per type: users are created and deleted, roles and group
/// memberships granted and revoked. The resource types are the ones a sync writes (`SkipGrants`
/// on roles, `SkipEntitlements` on users). The one difference from ConductorOne's baton-notion:
/// groups declare `CAPABILITY_PROVISION` (their memberships are granted and revoked here).
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
                "capabilities": ["CAPABILITY_SYNC", "CAPABILITY_PROVISION"],
                "permissions": {}
            },
            {
                "resourceType": {
                    "id": "role",
                    "displayName": "Role",
                    "traits": ["TRAIT_ROLE", "TRAIT_LICENSE_PROFILE"],
                    "annotations": [
                        { "@type": "type.googleapis.com/c1.connector.v2.SkipGrants" }
                    ]
                },
                "capabilities": ["CAPABILITY_SYNC", "CAPABILITY_PROVISION"],
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
                "capabilities": ["CAPABILITY_SYNC", "CAPABILITY_ACCOUNT_PROVISIONING", "CAPABILITY_RESOURCE_DELETE"],
                "permissions": {}
            }
        ],
        "connectorCapabilities": [
            "CAPABILITY_PROVISION",
            "CAPABILITY_SYNC",
            "CAPABILITY_ACCOUNT_PROVISIONING",
            "CAPABILITY_RESOURCE_DELETE"
        ],
        "credentialDetails": {
            "capabilityAccountProvisioning": {
                "supportedCredentialOptions": ["CAPABILITY_DETAIL_CREDENTIAL_OPTION_NO_PASSWORD"],
                "preferredCredentialOption": "CAPABILITY_DETAIL_CREDENTIAL_OPTION_NO_PASSWORD"
            }
        }
    })
}
