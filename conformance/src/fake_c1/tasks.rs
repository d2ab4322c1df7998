//! Tasks as the fake hands them out: a small JSON description ([`TaskSpec`], what Rust, the
//! command line and the admin API give) turned into the `Task` message baton-sdk expects, with
//! a 27-character alphanumeric id (the proto's validation pattern) and ids in the SDK's
//! conventions (entitlement `<type>:<id>:<slug>`, grant `<entitlement>:<type>:<id>`).

use anyhow::{bail, Context};
use prost_types::{value::Kind, Struct, Value};
use serde::{Deserialize, Serialize};

use super::proto::task::{self, TaskType};
use super::proto::{
    credential_options, AccountEmail, AccountInfo, CredentialOptions, Entitlement, Grant, Resource, ResourceId, Task,
};

/// A task to queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TaskSpec {
    /// A full sync; the connector uploads a c1z, then finishes.
    SyncFull {
        /// `sqlite` or `pebble` or empty (the connector's choice).
        #[serde(default)]
        storage_engine: String,
        /// Ask for a debug log upload as well.
        #[serde(default)]
        debug: bool,
    },
    /// Grant `entitlement` (`group:<id>:member`, `role:<role>:assigned`) to a principal.
    Grant {
        entitlement: String,
        principal: String,
        #[serde(default = "user")]
        principal_type: String,
    },
    /// Revoke a grant by its id (`<entitlement>:<principal type>:<principal id>`).
    Revoke { grant: String },
    /// Create a user account with no password.
    CreateAccount {
        email: String,
        #[serde(default)]
        first_name: String,
        #[serde(default)]
        last_name: String,
    },
    /// Delete a resource (`user` and its id, for Notion).
    DeleteResource {
        #[serde(default = "user")]
        resource_type: String,
        resource: String,
    },
    /// Ask for a Hello carrying this task's id (and no FinishTask).
    Hello,
    /// A task type baton-sdk does not handle (`event_feed`): the connector must finish it
    /// with an error.
    EventFeed,
}

fn user() -> String {
    "user".into()
}

impl TaskSpec {
    /// The task type's name, as the record shows it.
    pub fn kind(&self) -> &'static str {
        match self {
            TaskSpec::SyncFull { .. } => "sync_full",
            TaskSpec::Grant { .. } => "grant",
            TaskSpec::Revoke { .. } => "revoke",
            TaskSpec::CreateAccount { .. } => "create_account",
            TaskSpec::DeleteResource { .. } => "delete_resource",
            TaskSpec::Hello => "hello",
            TaskSpec::EventFeed => "event_feed",
        }
    }

    /// Whether the connector needs `-p` for it.
    pub fn is_provisioning(&self) -> bool {
        matches!(
            self,
            TaskSpec::Grant { .. }
                | TaskSpec::Revoke { .. }
                | TaskSpec::CreateAccount { .. }
                | TaskSpec::DeleteResource { .. }
        )
    }

    /// The `Task` message with id `id`.
    pub fn to_task(&self, id: &str) -> anyhow::Result<Task> {
        let (debug, task_type) = match self {
            TaskSpec::SyncFull { storage_engine, debug } => (
                *debug,
                TaskType::SyncFull(task::SyncFullTask {
                    storage_engine: storage_engine.clone(),
                    ..Default::default()
                }),
            ),
            TaskSpec::Grant {
                entitlement,
                principal,
                principal_type,
            } => (
                false,
                TaskType::Grant(task::GrantTask {
                    entitlement: Some(entitlement_from_id(entitlement)?),
                    principal: Some(resource(principal_type, principal)),
                    ..Default::default()
                }),
            ),
            TaskSpec::Revoke { grant } => (
                false,
                TaskType::Revoke(task::RevokeTask {
                    grant: Some(grant_from_id(grant)?),
                    annotations: Vec::new(),
                }),
            ),
            TaskSpec::CreateAccount {
                email,
                first_name,
                last_name,
            } => (
                false,
                TaskType::CreateAccount(task::CreateAccountTask {
                    account_info: Some(AccountInfo {
                        emails: vec![AccountEmail {
                            address: email.clone(),
                            is_primary: true,
                        }],
                        login: email.clone(),
                        login_aliases: Vec::new(),
                        profile: Some(profile(&[
                            ("email", email),
                            ("first_name", first_name),
                            ("last_name", last_name),
                        ])),
                    }),
                    credential_options: Some(CredentialOptions {
                        force_change_at_next_login: false,
                        options: Some(credential_options::Options::NoPassword(
                            credential_options::NoPassword {},
                        )),
                    }),
                    resource_type_id: "user".into(),
                }),
            ),
            TaskSpec::DeleteResource {
                resource_type,
                resource,
            } => (
                false,
                TaskType::DeleteResource(task::DeleteResourceTask {
                    resource_id: Some(resource_id(resource_type, resource)),
                    parent_resource_id: None,
                }),
            ),
            TaskSpec::Hello => (false, TaskType::Hello(task::HelloTask::default())),
            TaskSpec::EventFeed => (false, TaskType::EventFeed(task::EventFeedTask::default())),
        };
        Ok(Task {
            id: id.to_string(),
            status: task::STATUS_PENDING,
            debug,
            task_type: Some(task_type),
        })
    }
}

fn resource_id(resource_type: &str, resource: &str) -> ResourceId {
    ResourceId {
        resource_type: resource_type.to_string(),
        resource: resource.to_string(),
        baton_resource: false,
    }
}

fn resource(resource_type: &str, id: &str) -> Resource {
    Resource {
        id: Some(resource_id(resource_type, id)),
        parent_resource_id: None,
        display_name: String::new(),
        annotations: Vec::new(),
        description: String::new(),
        baton_resource: false,
        profile: None,
        status: None,
    }
}

/// `<type>:<id>:<slug>` as an entitlement on its resource.
fn entitlement_from_id(id: &str) -> anyhow::Result<Entitlement> {
    let (resource_type, rest) = id
        .split_once(':')
        .with_context(|| format!("entitlement {id:?} is not <type>:<id>:<slug>"))?;
    let (resource_id, slug) = rest
        .rsplit_once(':')
        .with_context(|| format!("entitlement {id:?} is not <type>:<id>:<slug>"))?;
    if resource_type.is_empty() || resource_id.is_empty() || slug.is_empty() {
        bail!("entitlement {id:?} is not <type>:<id>:<slug>");
    }
    Ok(Entitlement {
        resource: Some(resource(resource_type, resource_id)),
        id: id.to_string(),
        display_name: String::new(),
        description: String::new(),
        grantable_to: Vec::new(),
        annotations: Vec::new(),
        purpose: 1,
        slug: slug.to_string(),
    })
}

/// `<entitlement>:<principal type>:<principal id>` as a grant.
fn grant_from_id(id: &str) -> anyhow::Result<Grant> {
    let shape = || format!("grant {id:?} is not <type>:<id>:<slug>:<principal type>:<principal id>");
    let (rest, principal_id) = id.rsplit_once(':').with_context(shape)?;
    let (entitlement, principal_type) = rest.rsplit_once(':').with_context(shape)?;
    if principal_id.is_empty() || principal_type.is_empty() {
        bail!(shape());
    }
    Ok(Grant {
        entitlement: Some(entitlement_from_id(entitlement)?),
        principal: Some(resource(principal_type, principal_id)),
        id: id.to_string(),
        annotations: Vec::new(),
    })
}

fn profile(fields: &[(&str, &String)]) -> Struct {
    Struct {
        fields: fields
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| {
                (
                    (*k).to_string(),
                    Value {
                        kind: Some(Kind::StringValue((*v).clone())),
                    },
                )
            })
            .collect(),
    }
}

/// A fresh task id: 27 characters of `[0-9A-Za-z]`, the shape of a KSUID.
pub fn new_id() -> anyhow::Result<String> {
    use ring::rand::SecureRandom;
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut bytes = [0u8; 27];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("the system random source failed"))?;
    Ok(bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ids_follow_the_sdk_conventions() {
        let g = grant_from_id("group:7f3a-1:member:user:u-9").unwrap();
        let e = g.entitlement.unwrap();
        assert_eq!(e.id, "group:7f3a-1:member");
        assert_eq!(e.slug, "member");
        assert_eq!(e.resource.unwrap().id.unwrap().resource, "7f3a-1");
        assert_eq!(g.principal.unwrap().id.unwrap().resource, "u-9");
        assert!(entitlement_from_id("group-only").is_err());
        assert!(grant_from_id("role:owner:assigned").is_err());
        let id = new_id().unwrap();
        assert_eq!(id.len(), 27);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
