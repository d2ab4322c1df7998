//! Grant, revoke, create-account and delete-resource tasks, carried out by the same code as the
//! one-shot flags ([`crate::provision::execute`]), with that code's idempotence: an operation
//! that found nothing to do answers with baton's no-op markers (`GrantAlreadyExists`,
//! `GrantAlreadyRevoked`, `CreateAccountResponse.already_exists`, `ResourceDoesNotExist`).
//!
//! As in baton-sdk, every failure of a provisioning task is final (`non_retryable`), and
//! without `--provisioning` each is refused with `FAILED_PRECONDITION`.

use prost_types::{value::Kind, Any, Struct};
use serde_json::{Map, Value};
use tonic::Code;

use super::pb::{self, create_account_response as car, CredentialOption, TaskType};
use super::tasks::{Finish, TaskFailure};
use crate::proto::{pack, Entitlement, Grant, Resource, ResourceId};
use crate::provision::{self, request, Effect, InvalidRequest, Operation, Outcome, ProvisionError};
use crate::scim::client::ScimClient;

/// The operation a provisioning task asks for, checked before anything is sent; `Err` when the
/// task is refused (provisioning off, or a malformed or unsupported request).
pub fn operation(task: &TaskType, provisioning: bool) -> Result<Operation, TaskFailure> {
    if !provisioning {
        return Err(TaskFailure::new(
            Code::FailedPrecondition,
            "provisioning is not enabled: start the connector with -p (--provisioning, BATON_PROVISIONING)",
            true,
        ));
    }
    let invalid = |e: InvalidRequest| TaskFailure::new(Code::InvalidArgument, e.0, true);
    let missing = |what: &str| TaskFailure::new(Code::InvalidArgument, format!("the task has no {what}"), true);
    match task {
        TaskType::Grant(g) => {
            let entitlement = g.entitlement.as_ref().ok_or_else(|| missing("entitlement"))?;
            let principal = g.principal.as_ref().ok_or_else(|| missing("principal"))?;
            let principal = principal.id.as_ref().ok_or_else(|| missing("principal id"))?;
            let target = request::parse_entitlement(&entitlement_id(entitlement)).map_err(invalid)?;
            let user_id = request::parse_principal(&principal.resource, &principal.resource_type).map_err(invalid)?;
            Ok(Operation::Grant { target, user_id })
        }
        TaskType::Revoke(r) => {
            let grant = r.grant.as_ref().ok_or_else(|| missing("grant"))?;
            let principal = grant.principal.as_ref().and_then(|p| p.id.as_ref());
            let (target, user_id) = match (&grant.entitlement, principal) {
                (Some(e), Some(p)) => (
                    request::parse_entitlement(&entitlement_id(e)).map_err(invalid)?,
                    request::parse_principal(&p.resource, &p.resource_type).map_err(invalid)?,
                ),
                _ if !grant.id.is_empty() => request::parse_grant(&grant.id).map_err(invalid)?,
                _ => return Err(missing("grant entitlement and principal")),
            };
            Ok(Operation::Revoke { target, user_id })
        }
        TaskType::CreateAccount(c) => {
            if !c.resource_type_id.is_empty() && c.resource_type_id != crate::model::USER {
                return Err(TaskFailure::new(
                    Code::InvalidArgument,
                    format!("accounts are users here, not {:?}", c.resource_type_id),
                    true,
                ));
            }
            match c.credential_options.as_ref().and_then(|o| o.options.as_ref()) {
                None | Some(CredentialOption::NoPassword(_)) => {}
                Some(_) => {
                    return Err(TaskFailure::new(
                        Code::InvalidArgument,
                        "Notion accounts sign in through Notion: only the no_password credential option is supported",
                        true,
                    ))
                }
            }
            let info = c.account_info.as_ref().ok_or_else(|| missing("account_info"))?;
            let profile = Value::Object(info.profile.as_ref().map(struct_to_json).unwrap_or_default());
            let email = info
                .emails
                .iter()
                .find(|e| e.is_primary)
                .or_else(|| info.emails.first())
                .map(|e| e.address.as_str())
                .filter(|e| !e.is_empty());
            let login = Some(info.login.as_str()).filter(|l| !l.is_empty());
            let account = request::parse_new_account(&profile.to_string(), login, email).map_err(invalid)?;
            Ok(Operation::CreateAccount(account))
        }
        TaskType::DeleteResource(d) => {
            let id = d.resource_id.as_ref().ok_or_else(|| missing("resource_id"))?;
            let user_id = request::parse_delete(&id.resource, &id.resource_type).map_err(invalid)?;
            Ok(Operation::DeleteUser { user_id })
        }
        other => Err(TaskFailure::new(
            Code::Unimplemented,
            format!("{} is not a provisioning task", other.name()),
            true,
        )),
    }
}

/// An entitlement's id, or `<type>:<id>:<slug>` built from its resource when the id is empty.
fn entitlement_id(e: &Entitlement) -> String {
    if !e.id.is_empty() {
        return e.id.clone();
    }
    match e.resource.as_ref().and_then(|r| r.id.as_ref()) {
        Some(id) => format!("{}:{}:{}", id.resource_type, id.resource, e.slug),
        None => String::new(),
    }
}

/// A `google.protobuf.Struct` as JSON.
pub fn struct_to_json(s: &Struct) -> Map<String, Value> {
    s.fields.iter().map(|(k, v)| (k.clone(), value_to_json(v))).collect()
}

fn value_to_json(v: &prost_types::Value) -> Value {
    match &v.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::NumberValue(n)) => serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
        Some(Kind::StringValue(s)) => Value::String(s.clone()),
        Some(Kind::BoolValue(b)) => Value::Bool(*b),
        Some(Kind::StructValue(s)) => Value::Object(struct_to_json(s)),
        Some(Kind::ListValue(l)) => Value::Array(l.values.iter().map(value_to_json).collect()),
    }
}

/// Runs the task's operation and says how to finish it.
pub async fn run(client: &ScimClient, task: &TaskType, provisioning: bool) -> Finish {
    let op = match operation(task, provisioning) {
        Ok(op) => op,
        Err(refused) => return Finish::Failure(refused),
    };
    match provision::execute(client, &op).await {
        Ok(outcome) => {
            tracing::info!(operation = outcome.operation, result = ?outcome.result, "{}", outcome.message);
            success(task, &outcome)
        }
        Err(e) => Finish::Failure(failure(&e)),
    }
}

fn failure(e: &ProvisionError) -> TaskFailure {
    let code = match e {
        ProvisionError::Invalid(_) => Code::InvalidArgument,
        ProvisionError::NotFound(_) => Code::NotFound,
        ProvisionError::Refused(_) => Code::FailedPrecondition,
        ProvisionError::Unconfirmed(_) => Code::Unknown,
        // A change that may revoke the daemon's own token: refused here as in one-shot mode
        // without `--confirm-owner-change`; it is made in Notion, by a person.
        ProvisionError::OwnerChangeUnconfirmed(_) => Code::FailedPrecondition,
        ProvisionError::Scim(s) if s.is_unreachable() => Code::Unavailable,
        ProvisionError::Scim(_) => Code::Unknown,
    };
    TaskFailure::new(code, e.to_string(), true)
}

/// The success answer for `outcome`: annotations and the connector response, as baton-sdk's
/// handlers put them in `FinishTask`.
pub fn success(task: &TaskType, outcome: &Outcome) -> Finish {
    let annotations: Vec<Any> = match outcome.result {
        Effect::AlreadyGranted => vec![pack(&pb::GrantAlreadyExists {})],
        Effect::AlreadyRevoked => vec![pack(&pb::GrantAlreadyRevoked {})],
        Effect::AlreadyDeleted => vec![pack(&pb::ResourceDoesNotExist {})],
        _ => Vec::new(),
    };
    let response = match task {
        TaskType::Grant(g) => {
            let grant = match (&g.entitlement, &g.principal) {
                (Some(e), Some(p)) => {
                    let pid = p.id.clone().unwrap_or_default();
                    vec![Grant {
                        id: format!("{}:{}:{}", entitlement_id(e), pid.resource_type, pid.resource),
                        entitlement: Some(e.clone()),
                        principal: Some(p.clone()),
                        ..Default::default()
                    }]
                }
                _ => Vec::new(),
            };
            Some(pack(&pb::GrantManagerServiceGrantResponse {
                annotations: annotations.clone(),
                grants: grant,
            }))
        }
        TaskType::Revoke(_) => Some(pack(&pb::GrantManagerServiceRevokeResponse {
            annotations: annotations.clone(),
        })),
        TaskType::CreateAccount(_) => {
            let user = &outcome.details["user"];
            let resource = Resource {
                id: Some(ResourceId::new(
                    crate::model::USER,
                    user["id"].as_str().unwrap_or_default(),
                )),
                display_name: user["display_name"]
                    .as_str()
                    .or_else(|| user["email"].as_str())
                    .unwrap_or_default()
                    .to_owned(),
                ..Default::default()
            };
            let result = match outcome.result {
                Effect::AlreadyExists => car::Result::AlreadyExists(car::AlreadyExistsResult {
                    resource: Some(resource),
                    is_create_account_result: true,
                }),
                _ => car::Result::Success(car::SuccessResult {
                    resource: Some(resource),
                    is_create_account_result: true,
                }),
            };
            Some(pack(&pb::CreateAccountResponse {
                result: Some(result),
                ..Default::default()
            }))
        }
        TaskType::DeleteResource(_) => Some(pack(&pb::DeleteResourceResponse {
            annotations: annotations.clone(),
        })),
        _ => None,
    };
    Finish::Success { annotations, response }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::unpack;
    use crate::provision::Target;

    const UID: &str = "2f1f2a34-8d6b-4e55-9b1a-0c2c7f0f5a01";

    fn grant_task(entitlement: &str, principal_type: &str) -> TaskType {
        TaskType::Grant(pb::GrantTask {
            entitlement: Some(Entitlement {
                id: entitlement.into(),
                ..Default::default()
            }),
            principal: Some(Resource {
                id: Some(ResourceId::new(principal_type, UID)),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    #[test]
    fn provisioning_tasks_are_refused_without_p() {
        let tasks = [
            grant_task("role:owner:assigned", "user"),
            TaskType::Revoke(pb::RevokeTask::default()),
            TaskType::CreateAccount(pb::CreateAccountTask::default()),
            TaskType::DeleteResource(pb::DeleteResourceTask::default()),
        ];
        for task in &tasks {
            let refused = operation(task, false).err();
            assert_eq!(
                refused.as_ref().map(|f| f.code),
                Some(Code::FailedPrecondition),
                "{}",
                task.name()
            );
            assert_eq!(refused.as_ref().map(|f| f.non_retryable), Some(true));
            assert!(refused.is_some_and(|f| f.message.contains("provisioning is not enabled")));
        }
        assert_eq!(
            operation(&tasks[0], true).ok(),
            Some(Operation::Grant {
                target: Target::Role("owner".into()),
                user_id: UID.into()
            })
        );
    }

    #[test]
    fn tasks_map_to_the_one_shot_operations() {
        let revoke = TaskType::Revoke(pb::RevokeTask {
            grant: Some(Grant {
                id: format!("group:{UID}:member:user:{UID}"),
                ..Default::default()
            }),
            ..Default::default()
        });
        assert_eq!(
            operation(&revoke, true).ok(),
            Some(Operation::Revoke {
                target: Target::GroupMember(UID.into()),
                user_id: UID.into()
            })
        );
        let delete = TaskType::DeleteResource(pb::DeleteResourceTask {
            resource_id: Some(ResourceId::new("user", UID)),
            parent_resource_id: None,
        });
        assert_eq!(
            operation(&delete, true).ok(),
            Some(Operation::DeleteUser { user_id: UID.into() })
        );
        let mut profile = Struct::default();
        for (k, v) in [("first_name", "Ann"), ("last_name", "Lee")] {
            profile.fields.insert(
                k.into(),
                prost_types::Value {
                    kind: Some(Kind::StringValue(v.into())),
                },
            );
        }
        let create = TaskType::CreateAccount(pb::CreateAccountTask {
            account_info: Some(pb::AccountInfo {
                emails: vec![pb::account_info::Email {
                    address: "Ann@Example.com".into(),
                    is_primary: true,
                }],
                profile: Some(profile),
                ..Default::default()
            }),
            ..Default::default()
        });
        let Ok(Operation::CreateAccount(account)) = operation(&create, true) else {
            unreachable!("create_account must map")
        };
        assert_eq!(account.email, "ann@example.com");
        assert_eq!(account.first_name, "Ann");
        // Wrong principal types, unknown entitlements and passwords are refused, finally.
        for bad in [
            grant_task("role:owner:assigned", "group"),
            grant_task("role:king:assigned", "user"),
        ] {
            let f = operation(&bad, true).err();
            assert_eq!(
                f.map(|f| (f.code, f.non_retryable)),
                Some((Code::InvalidArgument, true))
            );
        }
        let password = TaskType::CreateAccount(pb::CreateAccountTask {
            credential_options: Some(pb::CredentialOptions {
                force_change_at_next_login: false,
                options: Some(CredentialOption::RandomPassword(pb::Opaque {})),
            }),
            ..Default::default()
        });
        assert_eq!(
            operation(&password, true).err().map(|f| f.code),
            Some(Code::InvalidArgument)
        );
    }

    fn outcome(result: Effect) -> Outcome {
        Outcome {
            operation: "x",
            result,
            message: String::new(),
            details: serde_json::json!({ "user": { "id": UID, "email": "a@b.co", "display_name": "A B" } })
                .as_object()
                .cloned()
                .unwrap_or_default(),
        }
    }

    #[test]
    fn no_ops_carry_baton_markers() {
        let grant = grant_task("role:owner:assigned", "user");
        let Finish::Success { annotations, response } = success(&grant, &outcome(Effect::AlreadyGranted)) else {
            unreachable!("success")
        };
        assert_eq!(annotations, vec![pack(&pb::GrantAlreadyExists {})]);
        let response = response
            .as_ref()
            .and_then(|r| unpack::<pb::GrantManagerServiceGrantResponse>(r).ok().flatten())
            .unwrap_or_default();
        assert_eq!(response.annotations, annotations);
        assert_eq!(
            response.grants.first().map(|g| g.id.as_str()),
            Some(&*format!("role:owner:assigned:user:{UID}"))
        );
        let Finish::Success { annotations, .. } = success(&grant, &outcome(Effect::Granted)) else {
            unreachable!("success")
        };
        assert!(annotations.is_empty());

        let revoke = TaskType::Revoke(pb::RevokeTask::default());
        let Finish::Success { annotations, .. } = success(&revoke, &outcome(Effect::AlreadyRevoked)) else {
            unreachable!("success")
        };
        assert_eq!(annotations, vec![pack(&pb::GrantAlreadyRevoked {})]);

        let create = TaskType::CreateAccount(pb::CreateAccountTask::default());
        for (effect, exists) in [(Effect::AlreadyExists, true), (Effect::Created, false)] {
            let Finish::Success { response, .. } = success(&create, &outcome(effect)) else {
                unreachable!("success")
            };
            let r = response
                .as_ref()
                .and_then(|r| unpack::<pb::CreateAccountResponse>(r).ok().flatten())
                .and_then(|r| r.result);
            match r {
                Some(car::Result::AlreadyExists(a)) if exists => {
                    assert_eq!(a.resource.and_then(|r| r.id).map(|i| i.resource), Some(UID.into()));
                }
                Some(car::Result::Success(s)) if !exists => assert!(s.is_create_account_result),
                other => unreachable!("{effect:?}: {other:?}"),
            }
        }
    }
}
