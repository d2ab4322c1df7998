//! What a one-shot provisioning run asks for, parsed and checked before any request is sent:
//! ids that do not parse, unknown entitlements and principals of the wrong type are refused here.

use serde_json::Value;

use crate::model::{self, GROUP, MEMBER_SLUG, ROLE, USER};

/// One provisioning operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    CreateAccount(NewAccount),
    DeleteUser { user_id: String },
    Grant { target: Target, user_id: String },
    Revoke { target: Target, user_id: String },
}

/// The person to add, from `--create-account-profile` (and the login/email flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    pub first_name: String,
    pub last_name: String,
    /// Lower-cased.
    pub email: String,
    /// One of the four Notion roles, when given.
    pub workspace_role: Option<String>,
}

/// What an entitlement gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `role:<role>:assigned`
    Role(String),
    /// `group:<group id>:member`
    GroupMember(String),
}

impl Target {
    /// The entitlement id, `<type>:<id>:<slug>`.
    pub fn entitlement_id(&self) -> String {
        match self {
            Target::Role(r) => format!("{ROLE}:{r}:{}", model::ASSIGNED_SLUG),
            Target::GroupMember(g) => format!("{GROUP}:{g}:{MEMBER_SLUG}"),
        }
    }
}

/// A request refused before anything was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidRequest(pub String);

fn invalid(message: impl Into<String>) -> InvalidRequest {
    InvalidRequest(message.into())
}

/// Notion's ids are lowercase hyphenated UUIDs.
fn parse_uuid(what: &str, id: &str) -> Result<String, InvalidRequest> {
    uuid::Uuid::parse_str(id)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| {
            invalid(format!(
                "{what} {id:?} is not a Notion id (a UUID such as 3f2b9c1e-...)"
            ))
        })
}

/// Parses an entitlement id: `role:<role>:assigned` or `group:<group id>:member`.
pub fn parse_entitlement(id: &str) -> Result<Target, InvalidRequest> {
    let parts: Vec<&str> = id.split(':').collect();
    match parts.as_slice() {
        [ROLE, role, slug] if *slug == model::ASSIGNED_SLUG => match model::role(role) {
            Some(r) => Ok(Target::Role(r.id.to_owned())),
            None => Err(invalid(format!(
                "unknown role {role:?} in {id:?}: expected one of {}",
                model::ROLES.iter().map(|r| r.id).collect::<Vec<_>>().join(", ")
            ))),
        },
        [GROUP, group, slug] if *slug == MEMBER_SLUG => Ok(Target::GroupMember(parse_uuid("group id", group)?)),
        _ => Err(invalid(format!(
            "unknown entitlement {id:?}: expected role:<role>:assigned or group:<group id>:member"
        ))),
    }
}

/// Parses a grant id: `<entitlement id>:user:<user id>`.
pub fn parse_grant(id: &str) -> Result<(Target, String), InvalidRequest> {
    let bad = || invalid(format!("grant {id:?} is not <entitlement id>:user:<user id>"));
    let (entitlement, principal) = id.rsplit_once(':').ok_or_else(bad)?;
    let (entitlement, principal_type) = entitlement.rsplit_once(':').ok_or_else(bad)?;
    if principal_type != USER {
        return Err(invalid(format!(
            "grant {id:?}: only users hold Notion entitlements, not {principal_type:?}"
        )));
    }
    Ok((parse_entitlement(entitlement)?, parse_uuid("user id", principal)?))
}

/// Checks the principal of a grant: a user, by id.
pub fn parse_principal(principal: &str, principal_type: &str) -> Result<String, InvalidRequest> {
    if principal_type != USER {
        return Err(invalid(format!(
            "--grant-principal-type {principal_type:?}: only users hold Notion entitlements (use \"user\")"
        )));
    }
    parse_uuid("user id", principal)
}

/// Checks a `--delete-resource` request: only users can be deleted.
pub fn parse_delete(id: &str, resource_type: &str) -> Result<String, InvalidRequest> {
    if resource_type != USER {
        return Err(invalid(format!(
            "--delete-resource-type {resource_type:?}: this connector deletes users only (use \"user\")"
        )));
    }
    parse_uuid("user id", id)
}

fn valid_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.contains('@')
                && !email.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// Reads `--create-account-profile` (a JSON object with `first_name`, `last_name`, `email`
/// and optionally `workspace_role`), with `--create-account-login` / `--create-account-email`
/// standing in for a missing `email` (they must agree with it when both are given).
pub fn parse_new_account(
    profile: &str,
    login: Option<&str>,
    email_flag: Option<&str>,
) -> Result<NewAccount, InvalidRequest> {
    let value: Value =
        serde_json::from_str(profile).map_err(|e| invalid(format!("--create-account-profile is not JSON: {e}")))?;
    let Value::Object(fields) = value else {
        return Err(invalid("--create-account-profile must be a JSON object"));
    };
    let text = |key: &str| -> Result<Option<String>, InvalidRequest> {
        match fields.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
            Some(other) => Err(invalid(format!("profile field {key} must be a string, got {other}"))),
        }
    };
    let first_name = text("first_name")?.ok_or_else(|| invalid("the profile needs first_name"))?;
    let last_name = text("last_name")?.ok_or_else(|| invalid("the profile needs last_name"))?;
    let mut emails: Vec<String> = [text("email")?, email_flag.map(str::to_owned), login.map(str::to_owned)]
        .into_iter()
        .flatten()
        .map(|e| e.trim().to_lowercase())
        .filter(|e| !e.is_empty())
        .collect();
    emails.dedup();
    let email = match emails.as_slice() {
        [] => return Err(invalid("the profile needs email (or --create-account-email)")),
        [one] => one.clone(),
        many => {
            return Err(invalid(format!(
                "the email is given differently in several places: {}",
                many.join(", ")
            )))
        }
    };
    if !valid_email(&email) {
        return Err(invalid(format!("{email:?} is not an email address")));
    }
    let workspace_role = match text("workspace_role")? {
        None => None,
        Some(r) => match model::role(&r) {
            Some(role) => Some(role.id.to_owned()),
            None => return Err(invalid(format!("unknown workspace_role {r:?}"))),
        },
    };
    Ok(NewAccount {
        first_name,
        last_name,
        email,
        workspace_role,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "2f1f2a34-8d6b-4e55-9b1a-0c2c7f0f5a01";

    #[test]
    fn entitlements_parse_or_say_why_not() {
        assert_eq!(
            parse_entitlement("role:owner:assigned"),
            Ok(Target::Role("owner".into()))
        );
        assert_eq!(
            parse_entitlement(&format!("group:{UID}:member")),
            Ok(Target::GroupMember(UID.into()))
        );
        for bad in [
            "role:admin:assigned",
            "role:owner:member",
            "group:nope:member",
            "team:x:member",
            "role:owner",
        ] {
            assert!(parse_entitlement(bad).is_err(), "{bad}");
        }
        let upper = UID.to_uppercase();
        assert_eq!(
            parse_entitlement(&format!("group:{upper}:member")),
            Ok(Target::GroupMember(UID.into()))
        );
    }

    #[test]
    fn grants_parse_with_their_principal() {
        assert_eq!(
            parse_grant(&format!("role:member:assigned:user:{UID}")),
            Ok((Target::Role("member".into()), UID.into()))
        );
        assert_eq!(
            parse_grant(&format!("group:{UID}:member:user:{UID}")),
            Ok((Target::GroupMember(UID.into()), UID.into()))
        );
        assert!(parse_grant(&format!("role:member:assigned:group:{UID}")).is_err());
        assert!(parse_grant("role:member:assigned:user:bob").is_err());
        assert!(parse_grant("garbage").is_err());
        assert!(parse_principal(UID, "group").is_err());
        assert!(parse_delete(UID, "group").is_err());
        assert_eq!(parse_delete(UID, "user"), Ok(UID.into()));
    }

    #[test]
    fn profiles_need_names_and_one_email() {
        let ok = parse_new_account(
            r#"{"first_name":"Ann","last_name":"Lee","email":"Ann@X.com"}"#,
            None,
            None,
        );
        assert_eq!(
            ok,
            Ok(NewAccount {
                first_name: "Ann".into(),
                last_name: "Lee".into(),
                email: "ann@x.com".into(),
                workspace_role: None
            })
        );
        let with_role = parse_new_account(
            r#"{"first_name":"A","last_name":"B","workspace_role":"membership_admin"}"#,
            None,
            Some("a@b.co"),
        );
        assert_eq!(
            with_role.map(|a| (a.email, a.workspace_role)),
            Ok(("a@b.co".into(), Some("membership_admin".into())))
        );
        assert!(parse_new_account(r#"{"first_name":"A","last_name":"B"}"#, None, None).is_err());
        assert!(parse_new_account(r#"{"first_name":"A","email":"a@b.co"}"#, None, None).is_err());
        assert!(parse_new_account(r#"{"first_name":"A","last_name":"B","email":"x"}"#, None, None).is_err());
        assert!(parse_new_account(
            r#"{"first_name":"A","last_name":"B","email":"a@b.co"}"#,
            Some("c@d.co"),
            None
        )
        .is_err());
        assert!(parse_new_account(
            r#"{"first_name":"A","last_name":"B","email":"a@b.co","workspace_role":"boss"}"#,
            None,
            None
        )
        .is_err());
        assert!(parse_new_account("[1]", None, None).is_err());
        assert!(parse_new_account("{", None, None).is_err());
    }
}
