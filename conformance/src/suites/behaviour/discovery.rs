//! Discovery, authentication, error bodies and the endpoints Notion does not document.

use serde_json::{json, Value};

use super::{dialect, str_of, Findings, USER_URN};
use crate::scim::{short, urlencode, Answer};
use crate::suites::{CaseResult, Ctx};

/// A token no workspace has: long enough and in Notion's format, so that a server judging by
/// shape alone still has to look it up.
const WRONG_TOKEN: &str = "secret_conformanceWrongToken0000000000000000000";

fn flag(doc: &Value, name: &str) -> Option<bool> {
    doc.get(name).and_then(|f| f.get("supported")).and_then(Value::as_bool)
}

fn media_type(a: &Answer) -> String {
    a.content_type
        .as_deref()
        .and_then(|c| c.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

pub(super) async fn discovery(ctx: &'static Ctx) -> CaseResult {
    let env = ctx.lab.as_is().await?;
    let mut f = Findings::default();

    let spc = env.scim.with_token("").get("ServiceProviderConfig").await?;
    f.check(
        "[O]",
        "spc-without-token",
        "GET /ServiceProviderConfig answers 200 without a token",
        spc.status == 200,
        || format!("{} {}", spc.status, short(&spc.text)),
    );
    if spc.status == 200 {
        for (name, want) in [
            ("patch", true),
            ("filter", true),
            ("sort", false),
            ("bulk", false),
            ("etag", false),
        ] {
            let got = flag(&spc.body, name);
            let fact = format!(
                "ServiceProviderConfig declares {name} {}",
                if want { "supported" } else { "unsupported" }
            );
            f.check("[O]", &format!("spc-{name}"), &fact, got == Some(want), || {
                format!("{name}.supported is {got:?}")
            });
        }
    }

    let types = env.scim.get("ResourceTypes").await?;
    let entries: Vec<Value> = match &types.body {
        Value::Array(items) => items.clone(),
        body => body
            .get("Resources")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
    };
    let names_type = |want: &str| {
        entries.iter().any(|e| {
            str_of(e, "endpoint").is_some_and(|ep| ep.trim_start_matches('/') == format!("{want}s"))
                || str_of(e, "name") == Some(want)
        })
    };
    f.check(
        "[N]",
        "resource-types",
        "GET /ResourceTypes answers 200 and names User and Group",
        types.status == 200 && names_type("User") && names_type("Group"),
        || format!("{} {}", types.status, short(&types.text)),
    );

    // The media type of an ordinary authenticated answer, and of the public one: one switch
    // sets both.
    let users = env.scim.get("Users?count=1").await?;
    f.check(
        "[T]",
        "no-notion-version",
        "a valid token works without a Notion-Version header",
        users.is_success(),
        || format!("GET /Users?count=1 answered {} {}", users.status, short(&users.text)),
    );
    let seen: Vec<String> = [&users, &spc].iter().map(|a| media_type(a)).collect();
    match (seen[0].as_str(), seen.iter().all(|s| *s == seen[0])) {
        ("application/scim+json", true) => f.switch("--response-content-type", "scim-json", ""),
        ("application/json", true) => f.switch("--response-content-type", "json", ""),
        _ => f.unmatched(
            "the response Content-Type",
            format!("/Users {:?}, /ServiceProviderConfig {:?}", seen[0], seen[1]),
        ),
    }
    f.finish()
}

pub(super) async fn auth(ctx: &'static Ctx) -> CaseResult {
    let env = ctx.lab.as_is().await?;
    let mut f = Findings::default();
    let wrong = env.scim.with_token(WRONG_TOKEN).get("Users?count=1").await?;
    let missing = env.scim.with_token("").get("Users?count=1").await?;
    for (what, a) in [("a wrong token", &wrong), ("no token", &missing)] {
        f.check(
            "[N]",
            "bad-token-non-2xx",
            &format!("a request with {what} is refused (non-2xx)"),
            !a.is_success(),
            || format!("{} {}", a.status, short(&a.text)),
        );
        f.check(
            "[N]",
            "bad-token-no-data",
            &format!("a refusal of {what} carries no users"),
            a.body.get("Resources").is_none(),
            || short(&a.text),
        );
    }
    if !wrong.is_success() && !missing.is_success() {
        if wrong.status == missing.status {
            f.switch("--auth-failure-status", wrong.status, "wrong and missing token");
        } else {
            f.unmatched(
                "the status for a bad token",
                format!(
                    "a wrong token answered {}, a missing one {}; one switch sets both",
                    wrong.status, missing.status
                ),
            );
        }
    }
    let good = env.scim.get("Users?count=1").await?;
    f.check(
        "[N]",
        "good-token",
        "the workspace's token is accepted",
        good.is_success(),
        || format!("{} {}", good.status, short(&good.text)),
    );
    f.finish()
}

pub(super) async fn errors(ctx: &'static Ctx) -> CaseResult {
    let env = ctx.lab.as_is().await?;
    let mut f = Findings::default();
    let unknown = uuid::Uuid::new_v4();
    let user = env.scim.get(&format!("Users/{unknown}")).await?;
    let group = env.scim.get(&format!("Groups/{unknown}")).await?;
    for (what, a) in [("user", &user), ("group", &group)] {
        f.check(
            "[R]",
            "unknown-id-404",
            &format!("GET of an unknown {what} id answers 404"),
            a.status == 404,
            || format!("{} {}", a.status, short(&a.text)),
        );
    }
    // Half a filter: every server must refuse it, whatever it does with filters it dislikes.
    let broken = env
        .scim
        .get(&format!("Users?filter={}", urlencode("userName eq")))
        .await?;
    f.check(
        "[R]",
        "broken-filter-400",
        "a filter that does not parse answers 400",
        broken.status == 400,
        || format!("{} {}", broken.status, short(&broken.text)),
    );
    let refused = env.scim.with_token(WRONG_TOKEN).get("Users?count=1").await?;

    let mut dialects = Vec::new();
    for (what, a) in [
        ("404 user", &user),
        ("404 group", &group),
        ("400 filter", &broken),
        ("refused token", &refused),
    ] {
        if a.is_success() {
            continue;
        }
        match dialect(a) {
            Ok(d) => dialects.push((what, d)),
            Err(e) => f.unmatched(&format!("the error body ({what})"), e),
        }
    }
    if let Some((_, first)) = dialects.first() {
        if dialects.iter().all(|(_, d)| d == first) {
            let seen: Vec<&str> = dialects.iter().map(|(w, _)| *w).collect();
            f.switch("--error-dialect", first, &seen.join(", "));
        } else {
            let seen: Vec<String> = dialects.iter().map(|(w, d)| format!("{w}: {d}")).collect();
            f.unmatched("the error body dialect", format!("mixed ({})", seen.join(", ")));
        }
    }
    if broken.status == 400 && dialect(&broken) == Ok("rfc") {
        let t = str_of(&broken.body, "scimType");
        f.check(
            "[R]",
            "scim-type",
            "an RFC error for a broken filter has scimType invalidFilter",
            t == Some("invalidFilter"),
            || format!("scimType {t:?}"),
        );
    }
    f.finish()
}

pub(super) async fn undocumented(ctx: &'static Ctx) -> CaseResult {
    let env = ctx.lab.as_is().await?;
    let mut f = Findings::default();
    // GET for /Bulk: a server that offered Bulk would answer 405, never run anything.
    let search = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "count": 1
    });
    let probes = [
        ("GET /Me", env.scim.get("Me").await?),
        ("GET /Bulk", env.scim.get("Bulk").await?),
        (
            "POST /.search",
            env.scim.request("POST", ".search", Some(&search)).await?,
        ),
    ];
    let verdict = |a: &Answer| match a.status {
        501 => Some("not-implemented"),
        404 => Some("not-found"),
        _ => None,
    };
    let seen: Vec<String> = probes.iter().map(|(w, a)| format!("{w} {}", a.status)).collect();
    let values: Vec<Option<&str>> = probes.iter().map(|(_, a)| verdict(a)).collect();
    match values.first().copied().flatten() {
        Some(v) if values.iter().all(|x| *x == Some(v)) => {
            f.switch("--undocumented-endpoints", v, &seen.join(", "));
        }
        _ => f.unmatched("/Me, /Bulk and /.search", seen.join(", ")),
    }
    if let Some(bad) = probes.iter().find(|(_, a)| !a.is_success() && a.status != 405) {
        if let Err(e) = dialect(&bad.1) {
            f.unmatched(&format!("the error body of {}", bad.0), e);
        }
    }

    // Undocumented [?], yet the emulation has no switch for it: it always serves /Schemas.
    let schemas = env.scim.get("Schemas").await?;
    let listed: Vec<&str> = schemas
        .body
        .get("Resources")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(|s| str_of(s, "id")).collect())
        .unwrap_or_default();
    if schemas.status == 200 && listed.contains(&USER_URN) {
        f.note(format!("/Schemas served ({} schemas)", listed.len()));
        schema_facts(&mut f, &schemas.body);
    } else {
        f.unmatched(
            "/Schemas (the emulation always serves it, with the core User schema)",
            format!("{} {}", schemas.status, short(&schemas.text)),
        );
    }
    f.finish()
}

/// What a schema-driven client needs of a /Schemas it is served (RFC 7643 §7): every complex
/// attribute declares its sub-attributes, and `userName`, unique per server (§4.1.1), says so.
/// Without them such a client rejects every resource that carries a sub-attribute.
fn schema_facts(f: &mut Findings, body: &Value) {
    let schemas: Vec<&Value> = body
        .get("Resources")
        .and_then(Value::as_array)
        .map(|r| r.iter().collect())
        .unwrap_or_default();
    let mut bare = Vec::new();
    for s in &schemas {
        let id = str_of(s, "id").unwrap_or("?");
        for a in s.get("attributes").and_then(Value::as_array).into_iter().flatten() {
            let complex = str_of(a, "type") == Some("complex");
            let subs = a
                .get("subAttributes")
                .and_then(Value::as_array)
                .is_some_and(|v| !v.is_empty());
            if complex && !subs {
                bare.push(format!("{id}:{}", str_of(a, "name").unwrap_or("?")));
            }
        }
    }
    f.check(
        "[R]",
        "schemas-sub-attributes",
        "every complex attribute /Schemas declares has its subAttributes",
        bare.is_empty(),
        || format!("without subAttributes: {}", bare.join(", ")),
    );
    let user_name = schemas
        .iter()
        .filter(|s| str_of(s, "id") == Some(USER_URN))
        .flat_map(|s| s.get("attributes").and_then(Value::as_array).into_iter().flatten())
        .find(|a| str_of(a, "name").is_some_and(|n| n.eq_ignore_ascii_case("userName")));
    if let Some(a) = user_name {
        let uniqueness = str_of(a, "uniqueness");
        f.check(
            "[R]",
            "schemas-username-unique",
            "/Schemas declares userName unique (uniqueness server)",
            uniqueness == Some("server"),
            || format!("userName uniqueness {uniqueness:?}"),
        );
    }
}
