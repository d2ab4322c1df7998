//! The JSON shapes of users [O] and groups ([T], with the unknowns as switches).

use serde_json::Value;

use super::{check_meta, id_of, is_lower_uuid, str_of, Findings, GROUP_URN, NOTION_EXT, ROLES, USER_URN};
use crate::scim::{short, Scim};
use crate::suites::{CaseResult, Ctx};

async fn page(f: &mut Findings, scim: &Scim, request: &str) -> anyhow::Result<Vec<Value>> {
    let a = scim.get(request).await?;
    if !a.is_success() {
        f.fact(
            "[N]",
            "list-answers",
            &format!("GET {request} answers a list"),
            Err(format!("{} {}", a.status, short(&a.text))),
        );
    }
    Ok(a.body
        .get("Resources")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default())
}

fn only_urn(item: &Value, urn: &str) -> Result<(), String> {
    let s = item.get("schemas").and_then(Value::as_array);
    if s.is_some_and(|s| s.len() == 1 && s[0].as_str() == Some(urn)) {
        Ok(())
    } else {
        Err(format!("schemas {:?}", item.get("schemas")))
    }
}

fn user_facts(f: &mut Findings, users: &[Value]) {
    f.each(
        "[O]",
        "schemas-core-only",
        "a user's schemas lists only the core User URN, even with the Notion extension",
        users,
        |u| only_urn(u, USER_URN),
    );
    f.each(
        "[N][T]",
        "id-lowercase-uuid",
        "a user id is a lowercase hyphenated UUID",
        users,
        |u| {
            str_of(u, "id")
                .filter(|i| is_lower_uuid(i))
                .map(drop)
                .ok_or_else(|| format!("id {:?}", u.get("id")))
        },
    );
    f.each("[N]", "userName-email", "userName is the email", users, |u| {
        str_of(u, "userName")
            .filter(|n| n.contains('@'))
            .map(drop)
            .ok_or_else(|| format!("userName {:?}", u.get("userName")))
    });
    f.each("[O]", "displayName", "displayName is present", users, |u| {
        str_of(u, "displayName")
            .map(drop)
            .ok_or_else(|| format!("displayName {:?}", u.get("displayName")))
    });
    f.each(
        "[O]",
        "name-parts",
        "name, when present, holds only string formatted/givenName/familyName",
        users,
        |u| match u.get("name") {
            None => Ok(()),
            Some(Value::Object(n)) => match n
                .iter()
                .find(|(k, v)| !["formatted", "givenName", "familyName"].contains(&k.as_str()) || !v.is_string())
            {
                Some((k, v)) => Err(format!("name.{k} = {v}")),
                None => Ok(()),
            },
            Some(other) => Err(format!("name {other}")),
        },
    );
    f.each(
        "[O]",
        "emails-without-type",
        "emails are [{value, primary}] without type",
        users,
        |u| {
            let emails = u.get("emails").and_then(Value::as_array).ok_or("no emails array")?;
            for e in emails {
                if !e.get("value").is_some_and(Value::is_string) || !e.get("primary").is_some_and(Value::is_boolean) {
                    return Err(format!("email {e}"));
                }
                if e.get("type").is_some() {
                    return Err(format!("email with a type: {e}"));
                }
            }
            Ok(())
        },
    );
    f.each("[O]", "active-boolean", "active is a boolean", users, |u| {
        u.get("active")
            .filter(|a| a.is_boolean())
            .map(drop)
            .ok_or_else(|| format!("active {:?}", u.get("active")))
    });
    f.each(
        "[O]",
        "photos-array",
        "photos, when present, is an array",
        users,
        |u| match u.get("photos") {
            None | Some(Value::Array(_)) => Ok(()),
            Some(other) => Err(format!("photos {other}")),
        },
    );
    f.each(
        "[O]",
        "meta",
        "meta: resourceType User, epoch-ms strings, location on https://app.notion.com/scim/v2/Users/{id}, no version",
        users,
        |u| check_meta(u, "User", "Users"),
    );
    f.each(
        "[N]",
        "role-values",
        "the Notion extension's role is owner, membership_admin, member or restricted_member",
        users,
        |u| match u.get(NOTION_EXT) {
            None => Ok(()),
            Some(ext) => match str_of(ext, "role") {
                Some(r) if ROLES.contains(&r) => Ok(()),
                _ => Err(format!("{NOTION_EXT} = {ext}")),
            },
        },
    );
}

pub(super) async fn user_shape(ctx: &'static Ctx) -> CaseResult {
    let env = ctx.lab.as_is().await?;
    let mut f = Findings::default();
    let users = page(&mut f, &env.scim, "Users?count=100").await?;
    let Some(first) = users.first() else {
        f.note("no users: shapes unproven");
        return f.finish();
    };
    user_facts(&mut f, &users);
    let id = id_of(first);
    let one = env.scim.get(&format!("Users/{id}")).await?;
    f.check(
        "[N]",
        "get-by-id",
        "GET /Users/{id} answers that user",
        one.status == 200 && id_of(&one.body) == id,
        || format!("GET /Users/{id}: {} {}", one.status, short(&one.text)),
    );
    if one.status == 200 {
        f.context(&format!("GET /Users/{id}"));
        user_facts(&mut f, std::slice::from_ref(&one.body));
        f.context("");
    }
    let count = |p: &dyn Fn(&Value) -> bool| users.iter().filter(|u| p(u)).count();
    f.note(format!(
        "{} users: {} inactive, {} without the role extension, {} with a name but no givenName, {} with a second email",
        users.len(),
        count(&|u| u.get("active").and_then(Value::as_bool) == Some(false)),
        count(&|u| u.get(NOTION_EXT).is_none()),
        count(&|u| u.get("name").is_some_and(|n| n.get("givenName").is_none())),
        count(&|u| u.get("emails").and_then(Value::as_array).is_some_and(|e| e.len() > 1)),
    ));
    f.finish()
}

/// `schemas` and `meta` on a group [?]: both (`--group-meta true`), neither (`false`), or
/// something no switch describes.
fn group_meta(g: &Value) -> Result<bool, String> {
    match (g.get("schemas"), g.get("meta")) {
        (None, None) => Ok(false),
        (Some(_), Some(_)) => {
            only_urn(g, GROUP_URN)?;
            check_meta(g, "Group", "Groups")?;
            Ok(true)
        }
        (s, m) => Err(format!("schemas {s:?} with meta {m:?}")),
    }
}

pub(super) async fn group_shape(ctx: &'static Ctx) -> CaseResult {
    let env = ctx.lab.as_is().await?;
    let scim = &env.scim;
    let mut f = Findings::default();
    let groups = page(&mut f, scim, "Groups?count=100").await?;
    if groups.is_empty() {
        f.note("no groups: shapes unproven");
        return f.finish();
    }
    f.each("[N]", "group-id-uuid", "a group id is a UUID", &groups, |g| {
        str_of(g, "id")
            .filter(|i| uuid::Uuid::parse_str(i).is_ok())
            .map(drop)
            .ok_or_else(|| format!("id {:?}", g.get("id")))
    });
    f.each("[T]", "group-displayName", "a group has a displayName", &groups, |g| {
        str_of(g, "displayName")
            .map(drop)
            .ok_or_else(|| format!("displayName {:?}", g.get("displayName")))
    });
    f.each(
        "[T]",
        "members-values",
        "members, when present, are [{value: user id, ...}]",
        &groups,
        |g| match g.get("members") {
            None => Ok(()),
            Some(Value::Array(ms)) => match ms.iter().find(|m| !str_of(m, "value").is_some_and(is_lower_uuid)) {
                Some(m) => Err(format!("member {m}")),
                None => Ok(()),
            },
            Some(other) => Err(format!("members {other}")),
        },
    );

    let metas: Vec<Result<bool, String>> = groups.iter().map(group_meta).collect();
    match metas.iter().find_map(|m| m.as_ref().err()) {
        Some(e) => f.unmatched(
            "a group's schemas and meta (the emulation: core Group URN and a user-style meta, or neither)",
            e,
        ),
        None if metas.iter().all(|m| *m == Ok(true)) => f.switch("--group-meta", true, ""),
        None if metas.iter().all(|m| *m == Ok(false)) => f.switch("--group-meta", false, ""),
        None => f.unmatched("a group's schemas and meta", "some groups carry them and some do not"),
    }
    let with = groups.iter().filter(|g| g.get("members").is_some()).count();
    if with == groups.len() {
        f.switch("--list-groups-with-members", true, "");
    } else if with == 0 {
        f.switch("--list-groups-with-members", false, "");
    } else {
        f.unmatched(
            "members in group lists",
            format!("{with} of {} list entries carry members", groups.len()),
        );
    }

    // The largest group by its list entry (or the first, when lists carry no members): read
    // by id it shows its members, and a member's value is a user's id.
    let size = |g: &Value| g.get("members").and_then(Value::as_array).map_or(0, Vec::len);
    let target = groups.iter().max_by_key(|g| size(g)).unwrap_or(&groups[0]);
    let id = id_of(target);
    let one = scim.get(&format!("Groups/{id}")).await?;
    f.check(
        "[N]",
        "group-get-by-id",
        "GET /Groups/{id} answers that group",
        one.status == 200 && id_of(&one.body) == id,
        || format!("GET /Groups/{id}: {} {}", one.status, short(&one.text)),
    );
    let listed = size(target);
    let read = size(&one.body);
    if listed > 0 {
        f.check(
            "[T]",
            "group-members-by-id",
            "a group read by id carries its members",
            read == listed,
            || format!("group {id}: {listed} members in the list, {read} read by id"),
        );
    }
    let member = one
        .body
        .get("members")
        .and_then(Value::as_array)
        .and_then(|m| m.first())
        .and_then(|m| str_of(m, "value"));
    match member {
        Some(user) => {
            let u = scim.get(&format!("Users/{user}")).await?;
            f.check(
                "[T]",
                "member-is-user",
                "members[].value is a user id",
                u.status == 200,
                || format!("group {id} member {user}: GET /Users/{user} answered {}", u.status),
            );
            let has_ref = one.body["members"][0].get("$ref").is_some();
            let has_type = one.body["members"][0].get("type").is_some();
            f.note(format!("members carry $ref: {has_ref}, type: {has_type}"));
        }
        None => f.note("no group with members: member ids unproven"),
    }

    let excluded = scim.get("Groups?count=100&excludedAttributes=members").await?;
    f.check(
        "[T]",
        "excluded-members",
        "Groups?excludedAttributes=members (Entra) answers 200",
        excluded.status == 200,
        || format!("{} {}", excluded.status, short(&excluded.text)),
    );
    let still = excluded
        .body
        .get("Resources")
        .and_then(Value::as_array)
        .is_some_and(|r| r.iter().any(|g| g.get("members").is_some()));
    f.note(format!(
        "excludedAttributes=members {}",
        if still { "ignored" } else { "honoured" }
    ));
    f.finish()
}
