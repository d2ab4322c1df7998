//! What `Hello` says about this connector and the machine it runs on.
//!
//! The capabilities are read from the same JSON that `baton-notion capabilities` prints
//! ([`crate::cli::capabilities_json`]), so the two cannot drift apart.

use serde_json::Value;

use super::pb::{
    self, BuildInfo, Capability, ConnectorCapabilities, ConnectorMetadata, OsInfo, ResourceTypeCapability,
};
use crate::proto::{self, resource_type::Trait, ResourceType, SkipEntitlements, SkipGrants};

/// `BATON_HOST_ID`, else the host name, else `baton-sdk` (the SDK's fallbacks).
pub fn host_id() -> String {
    std::env::var("BATON_HOST_ID")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .or_else(hostname)
        .unwrap_or_else(|| "baton-sdk".to_owned())
}

fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

fn capability(name: &str) -> Option<Capability> {
    Some(match name {
        "CAPABILITY_PROVISION" => Capability::Provision,
        "CAPABILITY_SYNC" => Capability::Sync,
        "CAPABILITY_EVENT_FEED" => Capability::EventFeed,
        "CAPABILITY_TICKETING" => Capability::Ticketing,
        "CAPABILITY_ACCOUNT_PROVISIONING" => Capability::AccountProvisioning,
        "CAPABILITY_CREDENTIAL_ROTATION" => Capability::CredentialRotation,
        "CAPABILITY_RESOURCE_CREATE" => Capability::ResourceCreate,
        "CAPABILITY_RESOURCE_DELETE" => Capability::ResourceDelete,
        "CAPABILITY_TARGETED_SYNC" => Capability::TargetedSync,
        _ => return None,
    })
}

fn trait_of(name: &str) -> Option<Trait> {
    Some(match name {
        "TRAIT_USER" => Trait::User,
        "TRAIT_GROUP" => Trait::Group,
        "TRAIT_ROLE" => Trait::Role,
        "TRAIT_APP" => Trait::App,
        "TRAIT_LICENSE_PROFILE" => Trait::LicenseProfile,
        _ => return None,
    })
}

fn strings(v: &Value) -> impl Iterator<Item = &str> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str)
}

/// The connector's capabilities as the `ConnectorCapabilities` message.
pub fn capabilities() -> ConnectorCapabilities {
    let json = crate::cli::capabilities_json();
    let resource_type_capabilities = json["resourceTypeCapabilities"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|entry| {
            let rt = &entry["resourceType"];
            let annotations = rt["annotations"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a["@type"].as_str())
                .filter_map(|url| match url.rsplit('.').next() {
                    Some("SkipGrants") => Some(proto::pack(&SkipGrants {})),
                    Some("SkipEntitlements") => Some(proto::pack(&SkipEntitlements {})),
                    _ => None,
                })
                .collect();
            ResourceTypeCapability {
                resource_type: Some(ResourceType {
                    id: rt["id"].as_str().unwrap_or_default().to_owned(),
                    display_name: rt["displayName"].as_str().unwrap_or_default().to_owned(),
                    traits: strings(&rt["traits"]).filter_map(trait_of).map(|t| t as i32).collect(),
                    annotations,
                    ..Default::default()
                }),
                capabilities: strings(&entry["capabilities"])
                    .filter_map(capability)
                    .map(|c| c as i32)
                    .collect(),
            }
        })
        .collect();
    ConnectorCapabilities {
        resource_type_capabilities,
        connector_capabilities: strings(&json["connectorCapabilities"])
            .filter_map(capability)
            .map(|c| c as i32)
            .collect(),
    }
}

/// The connector's metadata, as `baton-notion config` names it.
pub fn metadata() -> ConnectorMetadata {
    let schema = crate::cli::config_schema_json();
    ConnectorMetadata {
        display_name: schema["displayName"].as_str().unwrap_or("Notion").to_owned(),
        description: "Notion Enterprise users, groups and workspace roles, over SCIM".to_owned(),
        capabilities: Some(capabilities()),
        ..Default::default()
    }
}

pub fn build_info() -> BuildInfo {
    BuildInfo {
        lang_version: format!("rust {}", env!("CARGO_PKG_RUST_VERSION")),
        package: env!("CARGO_PKG_NAME").to_owned(),
        package_version: env!("CARGO_PKG_VERSION").to_owned(),
    }
}

/// `/etc/os-release`'s value for `key`, unquoted.
fn os_release(text: &str, key: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
}

/// The machine, with the SDK's defaults for what cannot be read.
pub fn os_info() -> OsInfo {
    let release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let os = std::env::consts::OS.to_owned();
    let kernel_version = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    let platform = os_release(&release, "ID").unwrap_or_else(|| os.clone());
    OsInfo {
        hostname: hostname().unwrap_or_else(|| "unknown".to_owned()),
        platform_version: os_release(&release, "VERSION_ID").unwrap_or_else(|| kernel_version.clone()),
        platform_family: os_release(&release, "ID_LIKE").unwrap_or_else(|| platform.clone()),
        platform,
        os,
        kernel_version,
        kernel_arch: std::env::consts::ARCH.to_owned(),
        virtualization_system: "none".to_owned(),
    }
}

/// The `Hello` request; `task_id` is empty at start-up and a hello task's id otherwise.
pub fn request(host_id: &str, task_id: &str) -> pb::HelloRequest {
    pb::HelloRequest {
        host_id: host_id.to_owned(),
        task_id: task_id.to_owned(),
        build_info: Some(build_info()),
        os_info: Some(os_info()),
        connector_metadata: Some(metadata()),
        annotations: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_carries_the_printed_capabilities() {
        let caps = capabilities();
        let json = crate::cli::capabilities_json();
        assert_eq!(
            caps.resource_type_capabilities.len(),
            json["resourceTypeCapabilities"].as_array().map_or(0, Vec::len)
        );
        assert_eq!(
            caps.connector_capabilities.len(),
            json["connectorCapabilities"].as_array().map_or(0, Vec::len),
            "every printed capability has a number"
        );
        let user = caps
            .resource_type_capabilities
            .iter()
            .find(|c| c.resource_type.as_ref().is_some_and(|t| t.id == "user"));
        let user_caps = user.map(|u| u.capabilities.clone()).unwrap_or_default();
        assert_eq!(
            user_caps,
            vec![
                Capability::Sync as i32,
                Capability::AccountProvisioning as i32,
                Capability::ResourceDelete as i32
            ]
        );
        let user_type = user.and_then(|u| u.resource_type.clone()).unwrap_or_default();
        assert_eq!(user_type.traits, vec![Trait::User as i32]);
        assert_eq!(user_type.annotations, vec![proto::pack(&SkipEntitlements {})]);
        let hello = request("host-1", "");
        assert_eq!(hello.host_id, "host-1");
        assert_eq!(
            hello.connector_metadata.map(|m| m.display_name).as_deref(),
            Some("Notion")
        );
    }

    #[test]
    fn os_release_values_are_unquoted() {
        let text = "NAME=\"Debian GNU/Linux\"\nID=debian\nVERSION_ID=\"12\"\n";
        assert_eq!(os_release(text, "ID").as_deref(), Some("debian"));
        assert_eq!(os_release(text, "VERSION_ID").as_deref(), Some("12"));
        assert_eq!(os_release(text, "ID_LIKE"), None);
    }
}
