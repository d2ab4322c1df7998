//! `/Users`: list, get, POST, PUT, PATCH, DELETE with Notion's semantics.
//!
//! - Lists page over the workspace's members (guests never show) and filter on `userName`,
//!   `email`, `given_name` and `family_name` with `eq` only.
//! - POST adds an existing Notion account with that email instead of making a new one.
//! - DELETE and `active: false` remove the member (404 afterwards); the account survives.
//! - The owner who created the calling token cannot be removed; removing another owner, or
//!   changing an owner's role, revokes the tokens that owner created.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use axum::Extension;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::list::{eq_filter, page, render, ListQuery};
use super::{json_response, parse_json, AppState, Caller};
use crate::error::ScimError;
use crate::faults::ListShaping;
use crate::model::{Account, Member, Org};
use crate::patch;
use crate::quirks::{PostExistingMember, Quirks};
use crate::resource::{UserView, USER_SCHEMA};
use crate::user_doc::{self, UserInput, CLEARABLE, USER_SCHEMA_DEF};

/// What a user filter can ask for in Notion's vocabulary.
#[derive(Debug, PartialEq)]
enum UserQuery {
    All,
    /// `userName eq` or `email eq`: lower-cased, matched against the primary email.
    Email(String),
    /// `given_name eq`: case-sensitive [N].
    GivenName(String),
    FamilyName(String),
}

fn user_query(filter: Option<&str>, quirks: &Quirks) -> Result<UserQuery, ScimError> {
    let attrs = ["userName", "email", "given_name", "family_name"];
    let vocabulary = "users with `eq` on userName, email, given_name or family_name";
    Ok(match eq_filter(filter, quirks, USER_SCHEMA, &attrs, vocabulary)? {
        None => UserQuery::All,
        Some(("given_name", v)) => UserQuery::GivenName(v),
        Some(("family_name", v)) => UserQuery::FamilyName(v),
        Some((_, v)) => UserQuery::Email(v.to_lowercase()),
    })
}

pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(shaping): Extension<ListShaping>,
    uri: Uri,
) -> Result<Response, ScimError> {
    let q = ListQuery::parse(uri.query())?;
    let body = {
        let quirks = state.quirks.read().clone();
        let query = user_query(q.filter.as_deref(), &quirks)?;
        let org = state.org.read();
        let ws = &org.workspaces[caller.workspace];
        let selected: Option<Vec<usize>> = match &query {
            UserQuery::All => None,
            UserQuery::Email(e) => Some(
                org.by_email
                    .get(e)
                    .and_then(|id| ws.members.get_index_of(id))
                    .into_iter()
                    .collect(),
            ),
            UserQuery::GivenName(n) | UserQuery::FamilyName(n) => Some(
                ws.members
                    .keys()
                    .enumerate()
                    .filter(|(_, id)| {
                        let name = &org.accounts[*id].name;
                        let part = if matches!(query, UserQuery::GivenName(_)) {
                            &name.given
                        } else {
                            &name.family
                        };
                        part.as_deref() == Some(n.as_str())
                    })
                    .map(|(i, _)| i)
                    .collect(),
            ),
        };
        let total = selected.as_ref().map_or(ws.members.len(), Vec::len);
        let p = page(&q, total, &quirks, shaping)?;
        render(&p, selected.as_deref(), |index| {
            let (id, member) = ws.members.get_index(index)?;
            Some(UserView {
                account: org.accounts.get(id)?,
                member,
            })
        })?
    };
    Ok(json_response(&state, StatusCode::OK, body))
}

fn parse_id(id: &str) -> Result<Uuid, ScimError> {
    Uuid::parse_str(id).map_err(|_| ScimError::NotFound(format!("no user {id}")))
}

fn member_of<'a>(org: &'a Org, caller: &Caller, id: Uuid) -> Result<(&'a Account, &'a Member), ScimError> {
    let member = org.workspaces[caller.workspace]
        .members
        .get(&id)
        .ok_or_else(|| ScimError::NotFound(format!("no user {id}")))?;
    let account = org
        .accounts
        .get(&id)
        .ok_or_else(|| ScimError::NotFound(format!("no user {id}")))?;
    Ok((account, member))
}

fn user_response(
    state: &AppState,
    status: StatusCode,
    org: &Org,
    caller: &Caller,
    id: Uuid,
) -> Result<Response, ScimError> {
    let (account, member) = member_of(org, caller, id)?;
    let body = serde_json::to_vec(&UserView { account, member }).map_err(|e| ScimError::InvalidValue(e.to_string()))?;
    Ok(json_response(state, status, body))
}

pub(crate) async fn get_one(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    let id = parse_id(&id)?;
    let org = state.org.read();
    user_response(&state, StatusCode::OK, &org, &caller, id)
}

/// The answer to a POST that added (or found) `id`.
fn created(state: &AppState, org: &Org, caller: &Caller, id: Uuid) -> Result<Response, ScimError> {
    super::created(state, "Users", id, |status| {
        user_response(state, status, org, caller, id)
    })
}

pub(crate) async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ScimError> {
    let doc = match parse_json(&body)? {
        Value::Object(m) => m,
        _ => return Err(ScimError::InvalidSyntax("a user is a JSON object".into())),
    };
    let input = user_doc::read(&doc, None)?;
    let quirks = state.quirks.read().clone();
    let mut org = state.org.write();
    let now = org.tick();
    let id = match org.account_by_email(&input.email).map(|a| a.id) {
        Some(existing) if org.workspaces[caller.workspace].members.contains_key(&existing) => {
            return match quirks.post_existing_member {
                PostExistingMember::Conflict => Err(ScimError::Uniqueness(format!(
                    "{} is already a member of this workspace",
                    input.email
                ))),
                PostExistingMember::ReturnExisting => created(&state, &org, &caller, existing),
            };
        }
        // A Notion account with this email exists: it joins the workspace instead of a new one.
        Some(existing) => {
            // Only a removed person may come back under a new id: someone still a member or a
            // guest anywhere is the same account, with the same id.
            let still_present = org
                .workspaces
                .iter()
                .any(|w| w.members.contains_key(&existing) || w.guests.contains(&existing));
            if quirks.readd_keeps_id || still_present {
                existing
            } else {
                rekey_account(&mut org, existing)
            }
        }
        None => {
            let id = Uuid::new_v4();
            org.insert_account(Account {
                id,
                email: input.email.clone(),
                secondary_email: input.secondary_email.clone(),
                name: input.name.clone(),
                photo: input.photo.clone(),
                attributes: input.attributes.clone(),
            });
            id
        }
    };
    let ws = &mut org.workspaces[caller.workspace];
    ws.guests.shift_remove(&id);
    let role = Some(input.role.unwrap_or(quirks.default_role));
    ws.members.insert(
        id,
        Member {
            role,
            active: true,
            created_ms: now,
            modified_ms: now,
        },
    );
    created(&state, &org, &caller, id)
}

/// Gives an account a fresh id (the `readd_keeps_id = false` world).
fn rekey_account(org: &mut Org, old: Uuid) -> Uuid {
    let new = Uuid::new_v4();
    if let Some(mut account) = org.accounts.shift_remove(&old) {
        account.id = new;
        org.insert_account(account);
    }
    for ws in &mut org.workspaces {
        ws.guests.shift_remove(&old);
    }
    new
}

pub(crate) async fn replace(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ScimError> {
    let id = parse_id(&id)?;
    let Value::Object(body) = parse_json(&body)? else {
        return Err(ScimError::InvalidSyntax("a user is a JSON object".into()));
    };
    if patch::get_ci(&body, "userName").is_none() {
        return Err(ScimError::InvalidValue(
            "PUT replaces the user: userName is required".into(),
        ));
    }
    let clears = state.quirks.read().put_clears_omitted;
    write_user(&state, &caller, id, |before| {
        let mut doc = before.clone();
        if clears {
            for key in CLEARABLE {
                doc.remove(*key);
            }
        }
        for (k, v) in body {
            if !matches!(k.as_str(), "schemas" | "id" | "meta") {
                doc.retain(|old, _| !old.eq_ignore_ascii_case(&k));
                doc.insert(k, v);
            }
        }
        Ok(doc)
    })
}

pub(crate) async fn patch(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ScimError> {
    let id = parse_id(&id)?;
    let ops = patch::parse_request(&parse_json(&body)?)?;
    write_user(&state, &caller, id, |before| {
        let mut doc = before.clone();
        patch::apply(&mut doc, &ops, &USER_SCHEMA_DEF)?;
        Ok(doc)
    })
}

/// Applies a change to a member's document, validates the result, and commits it whole.
fn write_user(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    change: impl FnOnce(&Map<String, Value>) -> Result<Map<String, Value>, ScimError>,
) -> Result<Response, ScimError> {
    let quirks = state.quirks.read().clone();
    let mut org = state.org.write();
    let (account, member) = member_of(&org, caller, id)?;
    let before = user_doc::to_doc(account, member);
    let after = change(&before)?;
    let input = user_doc::read(&after, Some(&before))?;
    let (account, member) = (account.clone(), member.clone());
    check_profile_change(&org, &quirks, &account, &input)?;
    // Deactivating is removal [N]. A record already listed inactive stays as it is: a write that
    // leaves it inactive (a role change, say) is not a deactivation.
    if !input.active && member.active {
        remove(&mut org, &quirks, caller, id)?;
        // Answer with the record as it was at removal; afterwards it is gone (404).
        let mut gone = member;
        gone.active = false;
        let mut account = account;
        apply_input(&mut account, &mut gone, input, 0);
        let body = serde_json::to_vec(&UserView {
            account: &account,
            member: &gone,
        })
        .map_err(|e| ScimError::InvalidValue(e.to_string()))?;
        return Ok(json_response(state, StatusCode::OK, body));
    }
    let now = org.tick();
    let role_changed = input.role.is_some() && input.role != member.role;
    let (mut account, mut member) = (account, member);
    let new_email = (input.email != account.email).then(|| input.email.clone());
    apply_input(&mut account, &mut member, input, now);
    if let Some(email) = new_email {
        org.set_email(id, email);
    }
    account.email = org.accounts[&id].email.clone();
    org.accounts.insert(id, account);
    org.workspaces[caller.workspace].members.insert(id, member);
    if role_changed {
        // Notion revokes a token when the owner who created it has their role changed.
        org.revoke_tokens_of(caller.workspace, id);
    }
    user_response(state, StatusCode::OK, &org, caller, id)
}

fn apply_input(account: &mut Account, member: &mut Member, input: UserInput, now: u64) {
    account.email = input.email;
    account.name = input.name;
    account.secondary_email = input.secondary_email;
    account.attributes = input.attributes;
    if input.role.is_some() {
        member.role = input.role;
    }
    if now > 0 {
        member.modified_ms = now;
    }
}

/// Name and email changes need the email's domain to be verified [N]; the email must be free.
fn check_profile_change(org: &Org, quirks: &Quirks, account: &Account, input: &UserInput) -> Result<(), ScimError> {
    let email_changed = input.email != account.email;
    if email_changed && org.by_email.contains_key(&input.email) {
        return Err(ScimError::Uniqueness(format!(
            "{} belongs to another Notion account",
            input.email
        )));
    }
    if quirks.unverified_domain_status != 0
        && (email_changed || input.name != account.name)
        && !org.is_verified_email(&input.email)
    {
        return Err(ScimError::Forbidden {
            status: quirks.unverified_domain_status,
            detail: format!(
                "changing a user's name or email requires a verified domain; {} is not verified",
                input.email.rsplit_once('@').map_or("", |(_, d)| d)
            ),
        });
    }
    Ok(())
}

/// Removes a member from the caller's workspace, refusing the token's own creator.
fn remove(org: &mut Org, quirks: &Quirks, caller: &Caller, id: Uuid) -> Result<(), ScimError> {
    if id == caller.creator {
        return Err(ScimError::Forbidden {
            status: quirks.token_creator_removal_status,
            detail: "the owner who created this SCIM token cannot be removed through SCIM".into(),
        });
    }
    if !org.remove_member(caller.workspace, id) {
        return Err(ScimError::NotFound(format!("no user {id}")));
    }
    Ok(())
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ScimError> {
    let id = parse_id(&id)?;
    let quirks = state.quirks.read().clone();
    let mut org = state.org.write();
    member_of(&org, &caller, id)?;
    remove(&mut org, &quirks, &caller, id)?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quirks::UnsupportedFilter;

    #[test]
    fn filters_map_to_notion_vocabulary() {
        let q = Quirks::default();
        assert_eq!(
            user_query(Some(r#"userName eq "A@B.com""#), &q),
            Ok(UserQuery::Email("a@b.com".into()))
        );
        assert_eq!(
            user_query(Some(r#"EMAIL Eq "x@y.com""#), &q),
            Ok(UserQuery::Email("x@y.com".into()))
        );
        assert_eq!(
            user_query(Some(r#"given_name eq "Ann""#), &q),
            Ok(UserQuery::GivenName("Ann".into()))
        );
        assert_eq!(
            user_query(Some(r#"family_name eq "Lee""#), &q),
            Ok(UserQuery::FamilyName("Lee".into()))
        );
        assert_eq!(user_query(None, &q), Ok(UserQuery::All));
        for unsupported in [
            r#"userName co "a""#,
            r#"userName eq "a" and active eq true"#,
            r#"externalId eq "1""#,
            r#"emails[value eq "a"]"#,
        ] {
            assert!(
                matches!(user_query(Some(unsupported), &q), Err(ScimError::InvalidFilter(_))),
                "{unsupported}"
            );
        }
        assert!(matches!(
            user_query(Some("userName eq"), &q),
            Err(ScimError::InvalidFilter(_))
        ));
        let lenient = Quirks {
            unsupported_filter: UnsupportedFilter::Ignore,
            ..Quirks::default()
        };
        assert_eq!(user_query(Some(r#"userName co "a""#), &lenient), Ok(UserQuery::All));
    }
}
