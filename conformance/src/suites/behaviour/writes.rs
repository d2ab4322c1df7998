//! Writes and what they mean, on one account the case creates (on the test domain of a remote
//! target) and removes again, whatever happens in between.

use anyhow::Context;
use serde_json::{json, Value};

use super::{dialect, id_of, str_of, Findings, NOTION_EXT, PATCH_URN, ROLES, USER_URN};
use crate::scim::{short, Answer, Scim};
use crate::suites::{CaseResult, Ctx};
use crate::target::Skip;

const TITLE: &str = "Conformance probe";

pub(super) async fn writes(ctx: &'static Ctx) -> CaseResult {
    if !ctx.lab.allow_writes {
        return Err(Skip("writes need --allow-writes".into()).into());
    }
    let env = ctx.lab.as_is().await?;
    // A fresh address each run: an earlier run's account may survive in the org (Notion keeps
    // removed accounts), and this case must start from nobody.
    let suffix: String = uuid::Uuid::new_v4().simple().to_string().chars().take(8).collect();
    let email = ctx.lab.new_account_email(&format!("behaviour-{suffix}"))?;
    let mut f = Findings::default();
    let outcome = probe(&mut f, &env.scim, &email).await;
    let cleaned = remove(&env.scim, &email).await;
    outcome?;
    cleaned?;
    f.finish()
}

/// Removes the account again if it is still a member.
async fn remove(scim: &Scim, email: &str) -> anyhow::Result<()> {
    if let Some(user) = scim.find_user_by_email(email).await? {
        let id = id_of(&user);
        let a = scim.request("DELETE", &format!("Users/{id}"), None).await?;
        if !a.is_success() && a.status != 404 {
            anyhow::bail!(
                "clean-up: DELETE /Users/{id} ({email}) answered {} {}",
                a.status,
                short(&a.text)
            );
        }
    }
    Ok(())
}

fn patch(op: &str, path: Option<&str>, value: Value) -> Value {
    let mut operation = json!({ "op": op, "value": value });
    if let (Some(p), Some(o)) = (path, operation.as_object_mut()) {
        o.insert("path".into(), p.into());
    }
    json!({ "schemas": [PATCH_URN], "Operations": [operation] })
}

fn role_of(user: &Value) -> Option<&str> {
    user.get(NOTION_EXT).and_then(|e| str_of(e, "role"))
}

/// A request whose body is sent as `application/json`, as many clients do [T].
async fn send_plain_json(scim: &Scim, method: &str, path: &str, body: &Value) -> anyhow::Result<Answer> {
    let url = format!("{}/{}", scim.base(), path);
    let method = reqwest::Method::from_bytes(method.as_bytes()).context("bad HTTP method")?;
    let resp = reqwest::Client::new()
        .request(method.clone(), &url)
        .bearer_auth(scim.token())
        .header("content-type", "application/json")
        .body(serde_json::to_vec(body)?)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{method} {path}: {}", scim.redact(&e.to_string())))?;
    let status = resp.status().as_u16();
    let header = |n: &str| resp.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
    let (content_type, retry_after, allow, location) = (
        header("content-type"),
        header("retry-after"),
        header("allow"),
        header("location"),
    );
    let text = scim.redact(&resp.text().await.unwrap_or_default());
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(Answer {
        status,
        content_type,
        retry_after,
        allow,
        location,
        text,
        body,
    })
}

/// GET by id must answer 404: the person was removed.
async fn gone(f: &mut Findings, scim: &Scim, id: &str, tag: &str, key: &str, fact: &str) -> anyhow::Result<()> {
    let a = scim.get(&format!("Users/{id}")).await?;
    f.check(tag, key, fact, a.status == 404, || {
        format!("GET /Users/{id} answered {} {}", a.status, short(&a.text))
    });
    Ok(())
}

/// POSTs the account (again); its id when the answer carries one.
async fn post(f: &mut Findings, scim: &Scim, doc: &Value, fact: &str) -> anyhow::Result<Option<String>> {
    let a = scim.request("POST", "Users", Some(doc)).await?;
    let id = str_of(&a.body, "id").map(str::to_string);
    f.check("[N]", "post-adds", fact, a.is_success() && id.is_some(), || {
        format!("{} {}", a.status, short(&a.text))
    });
    Ok(id.filter(|_| a.is_success()))
}

async fn probe(f: &mut Findings, scim: &Scim, email: &str) -> anyhow::Result<()> {
    let doc = json!({
        "schemas": [USER_URN],
        "userName": email,
        "name": { "givenName": "Behaviour", "familyName": "Probe", "formatted": "Behaviour Probe" },
        "emails": [{ "value": email, "primary": true }],
        "active": true
    });
    let created = scim.request("POST", "Users", Some(&doc)).await?;
    let Some(id) = str_of(&created.body, "id")
        .filter(|_| created.is_success())
        .map(str::to_string)
    else {
        f.fact(
            "[N]",
            "post-adds",
            "POST /Users adds a person",
            Err(format!("{} {}", created.status, short(&created.text))),
        );
        return Ok(());
    };
    let user_name = str_of(&created.body, "userName").unwrap_or_default();
    f.check(
        "[N]",
        "post-adds",
        "POST /Users adds a person and answers the user",
        user_name.eq_ignore_ascii_case(email),
        || format!("userName {user_name:?} for {email}"),
    );
    let suffix = format!("/Users/{id}");
    match (created.status, created.location.as_deref()) {
        (201, Some(loc)) if loc.ends_with(&suffix) => f.switch("--created-with-location", true, "201 + Location"),
        (200, None) => f.switch("--created-with-location", false, "200 without Location"),
        (status, loc) => f.unmatched("the answer to a creation", format!("{status} with Location {loc:?}")),
    }
    let default_role = role_of(&created.body).map(str::to_string);
    match default_role.as_deref() {
        Some(r) if ROLES.contains(&r) => f.switch("--default-role", r, "POST without a role"),
        other => f.unmatched("the role of a user created without one", format!("role {other:?}")),
    }
    let read = scim.get(&format!("Users/{id}")).await?;
    f.check(
        "[N]",
        "get-created",
        "the new user can be read by id",
        read.status == 200,
        || format!("{}", read.status),
    );

    let again = scim.request("POST", "Users", Some(&doc)).await?;
    let scim_type = str_of(&again.body, "scimType");
    match again.status {
        409 if dialect(&again) != Ok("rfc") || scim_type == Some("uniqueness") => {
            f.switch("--post-existing-member", "conflict", "409")
        }
        200 | 201 if id_of(&again.body) == id => f.switch("--post-existing-member", "return-existing", "same id"),
        s => f.unmatched(
            "POST /Users for a current member",
            format!("{s} {}", short(&again.text)),
        ),
    }

    // The role, set the way Entra does: a no-path value naming the extension [T].
    let role = if default_role.as_deref() == Some("restricted_member") {
        "member"
    } else {
        "restricted_member"
    };
    let a = scim
        .request(
            "PATCH",
            &format!("Users/{id}"),
            Some(&patch("replace", None, json!({ NOTION_EXT: { "role": role } }))),
        )
        .await?;
    f.check(
        "[N]",
        "patch-returns-user",
        "PATCH /Users/{id} answers 200 with the updated user",
        a.status == 200 && id_of(&a.body) == id,
        || format!("{} {}", a.status, short(&a.text)),
    );
    let after = scim.get(&format!("Users/{id}")).await?;
    f.check(
        "[T]",
        "patch-role-no-path",
        "a no-path PATCH value sets the role",
        role_of(&a.body) == Some(role) && role_of(&after.body) == Some(role),
        || {
            format!(
                "asked {role}; the answer says {:?}, a read {:?}",
                role_of(&a.body),
                role_of(&after.body)
            )
        },
    );

    // A capitalised op in a body sent as application/json: what Entra and others send.
    let a = send_plain_json(
        scim,
        "PATCH",
        &format!("Users/{id}"),
        &patch("Replace", Some("title"), json!(TITLE)),
    )
    .await?;
    let titled = a.status == 200 && str_of(&a.body, "title") == Some(TITLE);
    f.check(
        "[R][T]",
        "patch-op-case-json",
        "PATCH accepts op \"Replace\" in a body sent as application/json",
        titled,
        || format!("title patch answered {} {}", a.status, short(&a.text)),
    );

    // PUT without the title: cleared or kept [?].
    let a = scim.request("PUT", &format!("Users/{id}"), Some(&doc)).await?;
    f.check(
        "[N]",
        "put-returns-user",
        "PUT /Users/{id} answers the updated user",
        a.is_success() && id_of(&a.body) == id,
        || format!("{} {}", a.status, short(&a.text)),
    );
    if a.is_success() && titled {
        match str_of(&a.body, "title") {
            None => f.switch("--put-clears-omitted", true, "title cleared"),
            Some(TITLE) => f.switch("--put-clears-omitted", false, "title kept"),
            Some(other) => f.unmatched("PUT without an attribute", format!("title became {other:?}")),
        }
        f.note(format!("role after a PUT without one: {:?}", role_of(&a.body)));
    } else if !titled {
        f.note("PUT clearing unproven: no title was set");
    }

    let del = scim.request("DELETE", &format!("Users/{id}"), None).await?;
    f.check(
        "[N]",
        "delete",
        "DELETE /Users/{id} removes the person",
        del.is_success(),
        || format!("{} {}", del.status, short(&del.text)),
    );
    f.note(format!("DELETE answered {}", del.status));
    gone(
        f,
        scim,
        &id,
        "[T]",
        "get-after-delete-404",
        "GET by id after DELETE answers 404",
    )
    .await?;
    let listed = scim.find_user_by_email(email).await?;
    f.check(
        "[N]",
        "removed-not-listed",
        "a removed person is no longer listed",
        listed.is_none(),
        || format!("userName eq {email} still finds {}", listed.as_ref().map_or("?", id_of)),
    );

    let Some(back) = post(
        f,
        scim,
        &doc,
        "POST /Users re-adds a removed person (the account survives)",
    )
    .await?
    else {
        return Ok(());
    };
    if back == id {
        f.switch("--readd-keeps-id", true, "");
    } else {
        f.switch("--readd-keeps-id", false, "a new id");
    }

    let a = scim
        .request(
            "PATCH",
            &format!("Users/{back}"),
            Some(&patch("replace", Some("active"), json!(false))),
        )
        .await?;
    f.check(
        "[N]",
        "active-false",
        "PATCH active:false is accepted",
        a.is_success(),
        || format!("{} {}", a.status, short(&a.text)),
    );
    gone(
        f,
        scim,
        &back,
        "[N][T]",
        "active-false-removes",
        "active:false removes the person (GET by id answers 404)",
    )
    .await?;

    let Some(third) = post(f, scim, &doc, "POST /Users re-adds a person removed with active:false").await? else {
        return Ok(());
    };
    let a = scim
        .request(
            "PATCH",
            &format!("Users/{third}"),
            Some(&patch("Replace", Some("active"), json!("False"))),
        )
        .await?;
    f.check(
        "[T]",
        "active-string-false",
        "active as the string \"False\" (Entra) is accepted",
        a.is_success(),
        || format!("{} {}", a.status, short(&a.text)),
    );
    gone(
        f,
        scim,
        &third,
        "[T]",
        "active-string-removes",
        "active \"False\" removes the person",
    )
    .await?;
    Ok(())
}
