//! One-shot provisioning: create and delete accounts, grant and revoke workspace roles and
//! group memberships, each idempotent from the caller's view.
//!
//! Every operation first reads the state it is about to change, so that a grant that already
//! holds, a revoke of what is already gone or an account that already exists answers
//! "already ..." without writing. Writes that are safe to repeat (`PATCH` setting a value,
//! `DELETE`) are retried by the client; a creation is not: when its fate is unknown (the answer
//! was lost), the account is looked up by email before anything is sent again, so a retried
//! create never makes a second account.
//!
//! # Layout
//! - [`request`]: parsing and checking what was asked, before any request.
//! - this file: the operations against Notion and their [`Outcome`].

pub mod request;

use std::time::Duration;

use reqwest::Method;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::model::{self, REVOKED_ROLE};
use crate::scim::client::{encode_path_segment, Reply, Resend, ScimClient, ScimError};
use crate::scim::types::{ListResponse, ScimGroup, ScimUser, NOTION_USER_EXTENSION};
pub use request::{InvalidRequest, NewAccount, Operation, Target};

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// How many times a creation whose answer was lost is looked up and tried again.
const CREATE_ATTEMPTS: u32 = 4;

/// What an operation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    Created,
    /// Notion added an existing Notion account with this email (it keeps its own profile).
    ReusedExistingAccount,
    AlreadyExists,
    Deleted,
    AlreadyDeleted,
    Granted,
    AlreadyGranted,
    Revoked,
    AlreadyRevoked,
}

/// The JSON printed on stdout for an operation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub operation: &'static str,
    pub result: Effect,
    pub message: String,
    #[serde(flatten)]
    pub details: Map<String, Value>,
}

impl Outcome {
    fn new(operation: &'static str, result: Effect, message: String, details: Value) -> Self {
        let details = match details {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        Outcome {
            operation,
            result,
            message,
            details,
        }
    }
}

/// Why an operation failed. Messages never hold the token.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("{0}")]
    Invalid(#[from] InvalidRequest),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Unconfirmed(String),
    /// A role change that would take an owner's role away, not confirmed ([`Safeguards`]).
    #[error("{0}")]
    OwnerChangeUnconfirmed(String),
    #[error(transparent)]
    Scim(#[from] ScimError),
}

/// The role whose holders can make SCIM tokens; demoting one may revoke the token in use.
pub const OWNER_ROLE: &str = "owner";

/// A role change that takes a workspace owner's `owner` role away. Notion revokes the SCIM
/// tokens an owner created when they stop being one, and SCIM cannot tell which owner created
/// the token in use: if it was this one, the connector is locked out until someone makes a new
/// token. Such a change is refused unless confirmed ([`Safeguards::confirm_owner_change`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OwnerChange {
    pub user_id: String,
    pub from_role: String,
    pub to_role: String,
}

impl OwnerChange {
    /// The warning given before the change (and, with `token_may_be_revoked`, in the result).
    pub fn warning(&self) -> String {
        format!(
            "user {} is a workspace owner: moving them to {} removes their owner role, and if they created the SCIM \
             token in use, Notion revokes it and this connector is locked out until a new token is made",
            self.user_id, self.to_role
        )
    }
}

/// Whether setting `user`'s role to `new_role` takes an owner's role away. Pure, so that any
/// front end (one-shot flags, service mode) can ask before it acts.
pub fn owner_change(user: &ScimUser, new_role: &str) -> Option<OwnerChange> {
    let current = model::workspace_role(user);
    (current == OWNER_ROLE && new_role != OWNER_ROLE).then(|| OwnerChange {
        user_id: user.id.clone(),
        from_role: current.to_owned(),
        to_role: new_role.to_owned(),
    })
}

/// The role an operation would give its user, for role grants and revokes; `None` otherwise.
fn new_role(op: &Operation) -> Option<(&str, String)> {
    match op {
        Operation::Grant {
            target: Target::Role(role),
            user_id,
        } => Some((user_id.as_str(), role.clone())),
        // A revoke moves the user to the lowest role, whichever it revokes.
        Operation::Revoke {
            target: Target::Role(_),
            user_id,
        } => Some((user_id.as_str(), REVOKED_ROLE.to_owned())),
        _ => None,
    }
}

/// Reads the user a role grant or revoke would change and says whether it would take an owner's
/// role away (one `GET`; no request for other operations). A revoke of a role the user does
/// not hold changes nothing and is no owner change.
pub async fn check_owner_change(client: &ScimClient, op: &Operation) -> Result<Option<OwnerChange>, ProvisionError> {
    let Some((user_id, role)) = new_role(op) else {
        return Ok(None);
    };
    let Some(user) = get_user(client, user_id).await? else {
        return Ok(None);
    };
    if let Operation::Revoke {
        target: Target::Role(revoked),
        ..
    } = op
    {
        if model::workspace_role(&user) != revoked {
            return Ok(None);
        }
    }
    Ok(owner_change(&user, &role))
}

/// What a caller has confirmed it accepts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Safeguards {
    /// Let a role grant or revoke take an owner's role away (see [`OwnerChange`]).
    pub confirm_owner_change: bool,
}

/// Refuses an unconfirmed owner change; logs the warning of a confirmed one before it is made.
fn guard(change: Option<OwnerChange>, safeguards: Safeguards) -> Result<Option<OwnerChange>, ProvisionError> {
    match change {
        Some(c) if !safeguards.confirm_owner_change => Err(ProvisionError::OwnerChangeUnconfirmed(format!(
            "refused: {}; nothing was changed. To go ahead, pass --confirm-owner-change (or set \
             BATON_CONFIRM_OWNER_CHANGE=true)",
            c.warning()
        ))),
        Some(c) => {
            tracing::warn!(user_id = %c.user_id, to_role = %c.to_role, "{}", c.warning());
            Ok(Some(c))
        }
        None => Ok(None),
    }
}

/// Adds to a role change's result that an owner lost the role and the token may be revoked.
fn note_owner_change(mut outcome: Outcome, change: Option<OwnerChange>) -> Outcome {
    if let (Some(c), Effect::Granted | Effect::Revoked) = (change, outcome.result) {
        outcome
            .details
            .insert("token_may_be_revoked".to_owned(), Value::Bool(true));
        outcome.details.insert("warning".to_owned(), Value::String(c.warning()));
    }
    outcome
}

/// The name an operation goes by in its output.
pub fn operation_name(op: &Operation) -> &'static str {
    match op {
        Operation::CreateAccount(_) => "create_account",
        Operation::DeleteUser { .. } => "delete_resource",
        Operation::Grant { .. } => "grant",
        Operation::Revoke { .. } => "revoke",
    }
}

/// Carries out one operation, refusing any change that takes an owner's role away.
pub async fn execute(client: &ScimClient, op: &Operation) -> Result<Outcome, ProvisionError> {
    execute_with(client, op, Safeguards::default()).await
}

/// Carries out one operation, with what the caller has confirmed.
pub async fn execute_with(
    client: &ScimClient,
    op: &Operation,
    safeguards: Safeguards,
) -> Result<Outcome, ProvisionError> {
    match op {
        Operation::CreateAccount(account) => create_account(client, account).await,
        Operation::DeleteUser { user_id } => delete_user(client, user_id).await,
        Operation::Grant {
            target: Target::Role(role),
            user_id,
        } => grant_role(client, user_id, role, safeguards).await,
        Operation::Revoke {
            target: Target::Role(role),
            user_id,
        } => revoke_role(client, user_id, role, safeguards).await,
        Operation::Grant {
            target: Target::GroupMember(group),
            user_id,
        } => grant_group(client, group, user_id).await,
        Operation::Revoke {
            target: Target::GroupMember(group),
            user_id,
        } => revoke_group(client, group, user_id).await,
    }
}

fn user_path(id: &str) -> String {
    format!("/Users/{}", encode_path_segment(id))
}

fn group_path(id: &str) -> String {
    format!("/Groups/{}", encode_path_segment(id))
}

/// `GET /Users/{id}`; `None` when Notion answers 404.
async fn get_user(client: &ScimClient, id: &str) -> Result<Option<ScimUser>, ProvisionError> {
    Ok(client.get_optional(&user_path(id), &[]).await?)
}

async fn get_group(client: &ScimClient, id: &str) -> Result<Option<ScimGroup>, ProvisionError> {
    Ok(client.get_optional(&group_path(id), &[]).await?)
}

/// The member with this email, found with `userName eq` (the filter Okta uses before creating).
async fn find_by_email(client: &ScimClient, email: &str) -> Result<Option<ScimUser>, ProvisionError> {
    let filter = format!("userName eq {}", Value::String(email.to_owned()));
    let page: Option<ListResponse<ScimUser>> = client.get_optional("/Users", &[("filter", filter)]).await?;
    Ok(page
        .into_iter()
        .flat_map(|p| p.resources)
        .find(|u| u.user_name.eq_ignore_ascii_case(email)))
}

/// A 4xx answer to a write: Notion said no, with its reason.
fn refused(what: &str, reply: &Reply) -> ProvisionError {
    let kind = reply.scim_type().map(|t| format!(" ({t})")).unwrap_or_default();
    ProvisionError::Refused(format!(
        "Notion refused to {what}: HTTP {}{kind}: {}",
        reply.status,
        reply.detail()
    ))
}

fn user_summary(user: &ScimUser) -> Value {
    json!({
        "id": user.id,
        "email": user.user_name,
        "display_name": user.name.as_ref().and_then(|n| n.formatted.clone()).or(user.display_name.clone()),
        "workspace_role": model::workspace_role(user),
        "active": user.active,
    })
}

async fn create_account(client: &ScimClient, account: &NewAccount) -> Result<Outcome, ProvisionError> {
    const OP: &str = "create_account";
    if let Some(existing) = find_by_email(client, &account.email).await? {
        return Ok(Outcome::new(
            OP,
            Effect::AlreadyExists,
            format!(
                "{} is already a member of the workspace; nothing was created",
                account.email
            ),
            json!({ "user": user_summary(&existing) }),
        ));
    }
    let mut body = json!({
        "schemas": [USER_SCHEMA],
        "userName": account.email,
        "name": {
            "givenName": account.first_name,
            "familyName": account.last_name,
            "formatted": format!("{} {}", account.first_name, account.last_name),
        },
        "emails": [{ "value": account.email, "primary": true }],
        "active": true,
    });
    if let (Some(role), Value::Object(fields)) = (&account.workspace_role, &mut body) {
        fields.insert(NOTION_USER_EXTENSION.to_owned(), json!({ "role": role }));
        if let Some(Value::Array(schemas)) = fields.get_mut("schemas") {
            schemas.push(Value::String(NOTION_USER_EXTENSION.to_owned()));
        }
    }
    let mut sent = false;
    for attempt in 0..CREATE_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            // The last attempt's answer was lost: did it land?
            if let Some(user) = find_by_email(client, &account.email).await? {
                let result = creation_effect(&user, account);
                return finish_create(client, account, user, result).await;
            }
        }
        match client
            .send(Method::POST, "/Users", Some(&body), Resend::OnlyUnprocessed)
            .await
        {
            Ok(reply) if reply.is_success() => match reply.json::<ScimUser>("POST /Users") {
                Ok(user) => {
                    let result = creation_effect(&user, account);
                    return finish_create(client, account, user, result).await;
                }
                // Carried out, but the answer can't be read: the lookup above tells the rest.
                Err(e) => {
                    tracing::warn!(error = %e, "POST /Users: unreadable answer; looking the account up");
                    sent = true;
                }
            },
            Ok(reply) if reply.status == 409 => {
                // Someone (or a lost attempt of ours) added the person meanwhile.
                return match find_by_email(client, &account.email).await? {
                    Some(user) if sent => {
                        let result = creation_effect(&user, account);
                        finish_create(client, account, user, result).await
                    }
                    Some(user) => Ok(Outcome::new(
                        OP,
                        Effect::AlreadyExists,
                        format!(
                            "{} is already a member of the workspace (Notion answered 409)",
                            account.email
                        ),
                        json!({ "user": user_summary(&user) }),
                    )),
                    None => Err(refused(&format!("add {}", account.email), &reply)),
                };
            }
            Ok(reply) => return Err(refused(&format!("add {}", account.email), &reply)),
            Err(ScimError::Indeterminate { last, .. }) => {
                tracing::warn!(failure = %last, "POST /Users: no answer; looking the account up before trying again");
                sent = true;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ProvisionError::Unconfirmed(format!(
        "could not add {} after {CREATE_ATTEMPTS} attempts whose answers were lost, and the account is not in the workspace",
        account.email
    )))
}

/// What a creation did, judged from the account it produced, whether that came in the POST's
/// answer or from a lookup after the answer was lost: the outcome must not depend on which.
fn creation_effect(user: &ScimUser, account: &NewAccount) -> Effect {
    if user_was_reused(user, account) {
        Effect::ReusedExistingAccount
    } else {
        Effect::Created
    }
}

/// Notion adds an existing Notion account instead of creating one: the answer then carries
/// that account's own name rather than the one asked for.
fn user_was_reused(user: &ScimUser, account: &NewAccount) -> bool {
    let name = user.name.clone().unwrap_or_default();
    let asked = format!("{} {}", account.first_name, account.last_name);
    let same_parts = name.given_name.as_deref() == Some(account.first_name.as_str())
        && name.family_name.as_deref() == Some(account.last_name.as_str());
    !(same_parts || name.formatted.as_deref() == Some(asked.as_str()))
}

/// Makes sure the role asked for holds (a reused account may come back with another), then
/// reports.
async fn finish_create(
    client: &ScimClient,
    account: &NewAccount,
    mut user: ScimUser,
    result: Effect,
) -> Result<Outcome, ProvisionError> {
    if let Some(role) = &account.workspace_role {
        if model::workspace_role(&user) != role {
            user = set_role(client, &user.id, role).await?;
        }
    }
    let message = match result {
        Effect::ReusedExistingAccount => format!(
            "Notion added the existing Notion account of {} to the workspace (id {}); it keeps its own name",
            account.email, user.id
        ),
        _ => format!(
            "added {} to the workspace as {} (id {})",
            account.email,
            model::workspace_role(&user),
            user.id
        ),
    };
    Ok(Outcome::new(
        "create_account",
        result,
        message,
        json!({ "user": user_summary(&user) }),
    ))
}

async fn set_role(client: &ScimClient, user_id: &str, role: &str) -> Result<ScimUser, ProvisionError> {
    let body = json!({
        "schemas": [PATCH_SCHEMA],
        "Operations": [{ "op": "replace", "value": { NOTION_USER_EXTENSION: { "role": role } } }],
    });
    let path = user_path(user_id);
    let reply = client.send(Method::PATCH, &path, Some(&body), Resend::Always).await?;
    match reply.status {
        200..=299 => match reply.json::<ScimUser>(&format!("PATCH {path}")) {
            Ok(user) => Ok(user),
            // Some servers answer 204: read the user back.
            Err(_) => get_user(client, user_id)
                .await?
                .ok_or_else(|| ProvisionError::NotFound(format!("user {user_id} vanished while its role was set"))),
        },
        404 => Err(ProvisionError::NotFound(format!("no user {user_id} in the workspace"))),
        _ => Err(refused(&format!("set the role of {user_id} to {role}"), &reply)),
    }
}

async fn delete_user(client: &ScimClient, user_id: &str) -> Result<Outcome, ProvisionError> {
    const OP: &str = "delete_resource";
    let details = json!({ "resource_type": "user", "resource_id": user_id });
    if get_user(client, user_id).await?.is_none() {
        return Ok(Outcome::new(
            OP,
            Effect::AlreadyDeleted,
            format!("user {user_id} is not in the workspace"),
            details,
        ));
    }
    let path = user_path(user_id);
    match client.send(Method::DELETE, &path, None, Resend::Always).await {
        // 404: an earlier attempt whose answer was lost already removed them.
        Ok(reply) if reply.is_success() || reply.status == 404 => {}
        Ok(reply) => return Err(refused(&format!("remove user {user_id}"), &reply)),
        Err(ScimError::Refused { detail, .. }) => {
            return Err(ProvisionError::Refused(format!(
                "Notion refused to remove user {user_id} (HTTP 403): {detail}. Notion never lets SCIM remove \
                 the owner who created the token in use"
            )))
        }
        Err(e) => return Err(e.into()),
    }
    // baton-notion's rule: a deletion counts only once the user reads back as 404.
    match get_user(client, user_id).await? {
        None => Ok(Outcome::new(
            OP,
            Effect::Deleted,
            format!("removed user {user_id} from the workspace"),
            details,
        )),
        Some(_) => Err(ProvisionError::Unconfirmed(format!(
            "DELETE of user {user_id} was answered, but the user still reads back"
        ))),
    }
}

async fn user_or_not_found(client: &ScimClient, user_id: &str) -> Result<ScimUser, ProvisionError> {
    get_user(client, user_id)
        .await?
        .ok_or_else(|| ProvisionError::NotFound(format!("no user {user_id} in the workspace")))
}

async fn grant_role(
    client: &ScimClient,
    user_id: &str,
    role: &str,
    safeguards: Safeguards,
) -> Result<Outcome, ProvisionError> {
    let entitlement = Target::Role(role.to_owned()).entitlement_id();
    let user = user_or_not_found(client, user_id).await?;
    let previous = model::workspace_role(&user).to_owned();
    let details =
        json!({ "entitlement": entitlement, "principal": format!("user:{user_id}"), "previous_role": previous });
    if previous == role {
        return Ok(Outcome::new(
            "grant",
            Effect::AlreadyGranted,
            format!("{user_id} already has the role {role}"),
            details,
        ));
    }
    let change = guard(owner_change(&user, role), safeguards)?;
    set_role(client, user_id, role).await?;
    Ok(note_owner_change(
        Outcome::new(
            "grant",
            Effect::Granted,
            format!("{user_id} now has the role {role}, replacing {previous}"),
            details,
        ),
        change,
    ))
}

async fn revoke_role(
    client: &ScimClient,
    user_id: &str,
    role: &str,
    safeguards: Safeguards,
) -> Result<Outcome, ProvisionError> {
    let grant = format!("{}:user:{user_id}", Target::Role(role.to_owned()).entitlement_id());
    let details = json!({ "grant": grant });
    let Some(user) = get_user(client, user_id).await? else {
        return Ok(Outcome::new(
            "revoke",
            Effect::AlreadyRevoked,
            format!("user {user_id} is not in the workspace"),
            details,
        ));
    };
    let current = model::workspace_role(&user).to_owned();
    if current != role {
        return Ok(Outcome::new(
            "revoke",
            Effect::AlreadyRevoked,
            format!("{user_id} does not have the role {role} (their role is {current})"),
            details,
        ));
    }
    if role == REVOKED_ROLE {
        return Err(ProvisionError::Refused(format!(
            "{REVOKED_ROLE} is the role a revoke moves people to: it cannot be revoked; grant another role instead"
        )));
    }
    let change = guard(owner_change(&user, REVOKED_ROLE), safeguards)?;
    set_role(client, user_id, REVOKED_ROLE).await?;
    Ok(note_owner_change(
        Outcome::new(
            "revoke",
            Effect::Revoked,
            format!("{user_id} no longer has the role {role}; their role is now {REVOKED_ROLE}"),
            details,
        ),
        change,
    ))
}

fn holds(group: &ScimGroup, user_id: &str) -> Option<bool> {
    group
        .members
        .as_ref()
        .map(|m| m.iter().any(|x| x.value.eq_ignore_ascii_case(user_id)))
}

async fn patch_members(client: &ScimClient, group_id: &str, operation: Value) -> Result<Reply, ProvisionError> {
    let body = json!({ "schemas": [PATCH_SCHEMA], "Operations": [operation] });
    Ok(client
        .send(Method::PATCH, &group_path(group_id), Some(&body), Resend::Always)
        .await?)
}

async fn grant_group(client: &ScimClient, group_id: &str, user_id: &str) -> Result<Outcome, ProvisionError> {
    let entitlement = Target::GroupMember(group_id.to_owned()).entitlement_id();
    let details = json!({ "entitlement": entitlement, "principal": format!("user:{user_id}") });
    let group = get_group(client, group_id)
        .await?
        .ok_or_else(|| ProvisionError::NotFound(format!("no group {group_id} in the workspace")))?;
    if holds(&group, user_id) == Some(true) {
        return Ok(Outcome::new(
            "grant",
            Effect::AlreadyGranted,
            format!("{user_id} is already a member of {:?}", group.display_name),
            details,
        ));
    }
    user_or_not_found(client, user_id).await?;
    let reply = patch_members(
        client,
        group_id,
        json!({ "op": "add", "path": "members", "value": [{ "value": user_id }] }),
    )
    .await?;
    match reply.status {
        200..=299 => Ok(Outcome::new(
            "grant",
            Effect::Granted,
            format!("{user_id} is now a member of {:?}", group.display_name),
            details,
        )),
        404 => Err(ProvisionError::NotFound(format!(
            "no group {group_id} in the workspace"
        ))),
        _ => Err(refused(&format!("add {user_id} to group {group_id}"), &reply)),
    }
}

async fn revoke_group(client: &ScimClient, group_id: &str, user_id: &str) -> Result<Outcome, ProvisionError> {
    let grant = format!(
        "{}:user:{user_id}",
        Target::GroupMember(group_id.to_owned()).entitlement_id()
    );
    let details = json!({ "grant": grant });
    let Some(group) = get_group(client, group_id).await? else {
        return Ok(Outcome::new(
            "revoke",
            Effect::AlreadyRevoked,
            format!("no group {group_id}: nothing to revoke"),
            details,
        ));
    };
    if holds(&group, user_id) == Some(false) {
        return Ok(Outcome::new(
            "revoke",
            Effect::AlreadyRevoked,
            format!("{user_id} is not a member of {:?}", group.display_name),
            details,
        ));
    }
    let path = format!("members[value eq {}]", Value::String(user_id.to_owned()));
    let reply = patch_members(client, group_id, json!({ "op": "remove", "path": path })).await?;
    // noTarget: the member was already gone by the time the PATCH arrived (an earlier attempt
    // whose answer was lost, or someone else).
    let gone = reply.status == 400 && reply.scim_type().as_deref() == Some("noTarget");
    match reply.status {
        200..=299 => {}
        _ if gone => {}
        404 => {
            return Ok(Outcome::new(
                "revoke",
                Effect::AlreadyRevoked,
                format!("group {group_id} is gone"),
                details,
            ))
        }
        _ => return Err(refused(&format!("remove {user_id} from group {group_id}"), &reply)),
    }
    Ok(Outcome::new(
        "revoke",
        Effect::Revoked,
        format!("{user_id} is no longer a member of {:?}", group.display_name),
        details,
    ))
}
