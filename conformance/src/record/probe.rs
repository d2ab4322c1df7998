//! The probe: a fixed sequence of requests that answers the open questions of
//! `docs/notion-scim.md`, sent through the recording proxy so that every exchange is
//! scrubbed and recorded like any client's.
//!
//! Read-only by default: discovery (`/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`,
//! `/Me`, `/Bulk`), a full walk of `/Users` and `/Groups` (which is also what `fidelity` seeds
//! the emulation from), paging edges (`startIndex` 0, past the end, `count` 0 and 150, no
//! `count`), every filter form Notion documents and several it does not, `attributes` and
//! `excludedAttributes`, unknown ids, a wrong and a missing token. With writes allowed and a
//! test domain, the write questions too, on one account (and one group) it creates on that
//! domain and removes afterwards, also when a step fails: a duplicate POST, the PATCH forms
//! clients send, a PUT that omits an attribute, DELETE then GET, `active: false` (as a boolean
//! and as Entra's string), re-adding a removed person, group membership added and removed in
//! both forms.

use std::io::Write;

use anyhow::bail;
use serde_json::{json, Value};

use super::proxy::{Proxy, Summary};
use super::RecordConfig;
use crate::scim::{urlencode, Answer, Scim};

/// What the probe may do.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// The upstream's SCIM token (never printed).
    pub token: String,
    /// Ask the write questions (needs `test_domain`).
    pub allow_writes: bool,
    pub test_domain: Option<String>,
}

/// A UUID no workspace holds, for the unknown-id questions.
const UNKNOWN_ID: &str = "0badc0de-0000-4000-8000-00000000c0de";
/// A token in Notion's shape that no workspace has.
const WRONG_TOKEN: &str = "secret_notionConformanceProbeWrongToken000000000";
const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const NOTION_EXT: &str = "urn:ietf:params:scim:schemas:extension:notion:2.0:User";

struct Probe<'a, W: Write> {
    scim: Scim,
    out: &'a mut W,
    n: usize,
}

impl<W: Write> Probe<'_, W> {
    /// One request; prints a line with its status.
    async fn send(&mut self, question: &str, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Answer> {
        self.send_as(&self.scim.clone(), question, method, path, body).await
    }

    async fn send_as(
        &mut self,
        scim: &Scim,
        question: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Answer> {
        let a = scim.request(method, path, body).await?;
        // Numbered from 0, as fidelity numbers the cassette's exchanges (a fresh cassette).
        let _ = writeln!(
            self.out,
            "  #{:<3} {:<6} {:<60} {}  ({question})",
            self.n,
            method,
            crate::scim::short(path),
            a.status
        );
        self.n += 1;
        Ok(a)
    }

    async fn get(&mut self, question: &str, path: &str) -> anyhow::Result<Answer> {
        self.send(question, "GET", path, None).await
    }

    /// Walks a list 100 at a time; every item, in order.
    async fn walk(&mut self, resource: &str) -> anyhow::Result<(Vec<Value>, u64)> {
        let mut all = Vec::new();
        let mut start = 1u64;
        let mut total = 0;
        for _ in 0..2000 {
            let a = self
                .get(
                    &format!("the whole {resource} list, 100 at a time"),
                    &format!("{resource}?startIndex={start}&count=100"),
                )
                .await?;
            if !a.is_success() {
                bail!("GET /{resource} answered {}: {}", a.status, crate::scim::short(&a.text));
            }
            total = a.body.get("totalResults").and_then(Value::as_u64).unwrap_or(0);
            let items = a
                .body
                .get("Resources")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if items.is_empty() {
                break;
            }
            start += items.len() as u64;
            all.extend(items);
            if start > total {
                break;
            }
        }
        Ok((all, total))
    }
}

fn patch(op: &str, path: Option<&str>, value: Value) -> Value {
    let mut operation = json!({ "op": op, "value": value });
    if let (Some(p), Some(o)) = (path, operation.as_object_mut()) {
        o.insert("path".into(), p.into());
    }
    json!({ "schemas": [PATCH_URN], "Operations": [operation] })
}

fn remove(path: &str) -> Value {
    json!({ "schemas": [PATCH_URN], "Operations": [{ "op": "remove", "path": path }] })
}

fn eq_filter(resource: &str, attr: &str, value: &str) -> String {
    format!("{resource}?filter={}", urlencode(&format!("{attr} eq \"{value}\"")))
}

fn filter(resource: &str, expr: &str) -> String {
    format!("{resource}?filter={}", urlencode(expr))
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn name_part<'a>(u: &'a Value, part: &str) -> Option<&'a str> {
    u.get("name").and_then(|n| n.get(part)).and_then(Value::as_str)
}

fn swap_case(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_uppercase() {
                c.to_lowercase().collect::<String>()
            } else {
                c.to_uppercase().collect()
            }
        })
        .collect()
}

/// Runs the probe through a proxy started for it; returns the proxy's summary.
pub async fn run<W: Write>(config: RecordConfig, options: ProbeOptions, out: &mut W) -> anyhow::Result<Summary> {
    if options.allow_writes && options.test_domain.is_none() {
        bail!("the probe's writes need --test-domain: it creates accounts only on a domain you name");
    }
    if matches!(config.mode, super::RecordMode::Once | super::RecordMode::None) && config.cassette.exists() {
        bail!(
            "{} exists, and record mode {} would only play it back: the probe asks a live server (pass --record-mode all to record it afresh)",
            config.cassette.display(),
            config.mode
        );
    }
    let mut config = config;
    config.secrets.push(options.token.clone());
    config.secrets.push(WRONG_TOKEN.to_string());
    config.allow_writes = options.allow_writes;
    let proxy = Proxy::start(config, "127.0.0.1:0").await?;
    let _ = writeln!(out, "probe: {}", proxy.describe());
    let scim = Scim::new(&proxy.base_url(), &options.token)?;
    let mut p = Probe { scim, out, n: 0 };
    let reads = reads(&mut p).await;
    let writes = match (&reads, options.allow_writes, &options.test_domain) {
        (Ok(()), true, Some(domain)) => writes(&mut p, domain).await,
        _ => Ok(()),
    };
    let summary = proxy.stop().await?;
    reads?;
    writes?;
    Ok(summary)
}

async fn reads<W: Write>(p: &mut Probe<'_, W>) -> anyhow::Result<()> {
    let anonymous = p.scim.with_token("");
    p.send_as(
        &anonymous,
        "ServiceProviderConfig without a token",
        "GET",
        "ServiceProviderConfig",
        None,
    )
    .await?;
    p.get("ResourceTypes", "ResourceTypes").await?;
    p.get("one resource type", "ResourceTypes/User").await?;
    p.get("/Schemas (undocumented)", "Schemas").await?;
    p.get("one schema", &format!("Schemas/{USER_URN}")).await?;
    p.get("/Me (undocumented)", "Me").await?;
    p.get("/Bulk (undocumented)", "Bulk").await?;

    let (users, user_total) = p.walk("Users").await?;
    let (groups, group_total) = p.walk("Groups").await?;

    p.get("1-based startIndex: the first item", "Users?startIndex=1&count=1")
        .await?;
    if user_total > 0 {
        p.get(
            "1-based startIndex: the last item",
            &format!("Users?startIndex={user_total}&count=5"),
        )
        .await?;
    }
    p.get(
        "startIndex past the end",
        &format!("Users?startIndex={}&count=5", user_total + 1),
    )
    .await?;
    p.get("startIndex 0 (RFC: read as 1)", "Users?startIndex=0&count=1")
        .await?;
    p.get("count 0 (RFC: only totalResults)", "Users?count=0").await?;
    p.get("count over 100", "Users?count=150").await?;
    p.get("default count", "Users").await?;
    p.get("Groups without paging parameters", "Groups").await?;
    if group_total > 1 {
        p.get("Groups paging", "Groups?startIndex=2&count=1").await?;
    }

    let sample = users.iter().find(|u| {
        u.get("active").and_then(Value::as_bool) != Some(false)
            && name_part(u, "givenName").is_some_and(|g| swap_case(g) != g)
            && name_part(u, "familyName").is_some()
    });
    let any_user = users.first();
    if let Some(u) = any_user {
        let email = str_of(u, "userName").unwrap_or_default().to_string();
        p.get("userName eq", &eq_filter("Users", "userName", &email)).await?;
        p.get(
            "email eq, in capitals",
            &eq_filter("Users", "email", &email.to_uppercase()),
        )
        .await?;
        p.get(
            "filter attribute and operator in other case",
            &filter("Users", &format!("USERNAME EQ \"{email}\"")),
        )
        .await?;
        let prefix: String = email.chars().take(3).collect();
        p.get(
            "unsupported: co",
            &filter("Users", &format!("userName co \"{prefix}\"")),
        )
        .await?;
        p.get(
            "unsupported: sw",
            &filter("Users", &format!("userName sw \"{prefix}\"")),
        )
        .await?;
        p.get(
            "unsupported: and",
            &filter("Users", &format!("userName eq \"{email}\" and active eq true")),
        )
        .await?;
        p.get(
            "unsupported: value path",
            &filter("Users", &format!("emails[value eq \"{email}\"]")),
        )
        .await?;
        let id = str_of(u, "id").unwrap_or_default().to_string();
        p.get("a user by id", &format!("Users/{id}")).await?;
        p.get(
            "attributes on a read by id",
            &format!("Users/{id}?attributes=displayName"),
        )
        .await?;
    }
    if let Some(u) = sample {
        let given = name_part(u, "givenName").unwrap_or_default().to_string();
        let family = name_part(u, "familyName").unwrap_or_default().to_string();
        p.get("given_name eq", &eq_filter("Users", "given_name", &given))
            .await?;
        p.get(
            "given_name is case-sensitive",
            &eq_filter("Users", "given_name", &swap_case(&given)),
        )
        .await?;
        p.get("family_name eq", &eq_filter("Users", "family_name", &family))
            .await?;
    }
    p.get(
        "unsupported: externalId",
        &filter("Users", "externalId eq \"notion-conformance-probe\""),
    )
    .await?;
    p.get("a filter that does not parse", &filter("Users", "userName eq"))
        .await?;
    p.get("attributes=userName", "Users?count=2&attributes=userName")
        .await?;
    p.get("excludedAttributes=emails", "Users?count=2&excludedAttributes=emails")
        .await?;
    p.get(
        "excludedAttributes=members (Entra)",
        "Groups?count=5&excludedAttributes=members",
    )
    .await?;

    let named: Vec<&Value> = groups.iter().filter(|g| str_of(g, "displayName").is_some()).collect();
    if let Some(g) = named
        .iter()
        .find(|g| !str_of(g, "displayName").unwrap_or("\"").contains('"'))
    {
        let name = str_of(g, "displayName").unwrap_or_default();
        p.get("displayName eq, quoted", &eq_filter("Groups", "displayName", name))
            .await?;
        let id = str_of(g, "id").unwrap_or_default();
        p.get("a group by id", &format!("Groups/{id}")).await?;
    }
    if let Some(g) = named
        .iter()
        .find(|g| str_of(g, "displayName").is_some_and(|n| !n.contains(char::is_whitespace) && !n.contains('"')))
    {
        let name = str_of(g, "displayName").unwrap_or_default();
        p.get(
            "displayName eq, unquoted (Notion's example)",
            &filter("Groups", &format!("displayName eq {name}")),
        )
        .await?;
    }
    p.get(
        "unsupported group filter: co",
        &filter("Groups", "displayName co \"a\""),
    )
    .await?;

    p.get("an unknown user id", &format!("Users/{UNKNOWN_ID}")).await?;
    p.get("an unknown group id", &format!("Groups/{UNKNOWN_ID}")).await?;
    p.get("an id that is not a UUID", "Users/not-a-uuid").await?;
    let wrong = p.scim.with_token(WRONG_TOKEN);
    p.send_as(&wrong, "a wrong token", "GET", "Users?count=1", None).await?;
    p.send_as(&anonymous, "no token", "GET", "Users?count=1", None).await?;
    Ok(())
}

/// The write questions, on one account on `domain`; removed afterwards whatever happened.
async fn writes<W: Write>(p: &mut Probe<'_, W>, domain: &str) -> anyhow::Result<()> {
    let suffix: String = uuid::Uuid::new_v4().simple().to_string().chars().take(8).collect();
    let email = format!("notion-conformance-probe-{suffix}@{domain}").to_lowercase();
    let group_name = format!("notion-conformance probe {suffix}");
    let outcome = write_steps(p, &email, &group_name).await;
    let cleaned = clean_up(p, &email, &group_name).await;
    outcome?;
    cleaned
}

async fn clean_up<W: Write>(p: &mut Probe<'_, W>, email: &str, group_name: &str) -> anyhow::Result<()> {
    let found = p
        .get(
            "clean-up: is the probe account still there?",
            &eq_filter("Users", "userName", email),
        )
        .await?;
    for u in found
        .body
        .get("Resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(id) = str_of(u, "id") {
            p.send(
                "clean-up: remove the probe account",
                "DELETE",
                &format!("Users/{id}"),
                None,
            )
            .await?;
        }
    }
    let groups = p
        .get(
            "clean-up: is the probe group still there?",
            &eq_filter("Groups", "displayName", group_name),
        )
        .await?;
    for g in groups
        .body
        .get("Resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(id) = str_of(g, "id") {
            p.send(
                "clean-up: remove the probe group",
                "DELETE",
                &format!("Groups/{id}"),
                None,
            )
            .await?;
        }
    }
    Ok(())
}

async fn write_steps<W: Write>(p: &mut Probe<'_, W>, email: &str, group_name: &str) -> anyhow::Result<()> {
    let doc = json!({
        "schemas": [USER_URN],
        "userName": email,
        "name": { "givenName": "Probe", "familyName": "Account", "formatted": "Probe Account" },
        "emails": [{ "value": email, "primary": true }],
        "active": true
    });
    let created = p
        .send(
            "POST /Users: status, Location, default role",
            "POST",
            "Users",
            Some(&doc),
        )
        .await?;
    let Some(id) = str_of(&created.body, "id")
        .filter(|_| created.is_success())
        .map(str::to_string)
    else {
        bail!(
            "POST /Users answered {}: {}",
            created.status,
            crate::scim::short(&created.text)
        );
    };
    let user = format!("Users/{id}");
    p.send("POST /Users again: a duplicate", "POST", "Users", Some(&doc))
        .await?;
    p.get("the new user by id", &user).await?;
    p.send(
        "PATCH role, no-path value (Entra)",
        "PATCH",
        &user,
        Some(&patch(
            "replace",
            None,
            json!({ NOTION_EXT: { "role": "restricted_member" } }),
        )),
    )
    .await?;
    p.send(
        "PATCH op \"Replace\" with a path",
        "PATCH",
        &user,
        Some(&patch("Replace", Some("title"), json!("Conformance probe"))),
    )
    .await?;
    p.send(
        "PATCH name.formatted",
        "PATCH",
        &user,
        Some(&patch("replace", Some("name.formatted"), json!("Renamed Probe"))),
    )
    .await?;
    p.get(
        "does the old given name still match?",
        &eq_filter("Users", "given_name", "Probe"),
    )
    .await?;
    p.send(
        "PATCH displayName",
        "PATCH",
        &user,
        Some(&patch("replace", Some("displayName"), json!("Probe Account"))),
    )
    .await?;
    p.send("PUT without title: cleared or kept?", "PUT", &user, Some(&doc))
        .await?;

    let group = json!({ "schemas": [GROUP_URN], "displayName": group_name, "members": [{ "value": id }] });
    let g = p
        .send("POST /Groups with a member", "POST", "Groups", Some(&group))
        .await?;
    if let Some(gid) = str_of(&g.body, "id").filter(|_| g.is_success()).map(str::to_string) {
        let path = format!("Groups/{gid}");
        p.get("the new group by id", &path).await?;
        p.send(
            "remove a member: members[value eq ...]",
            "PATCH",
            &path,
            Some(&remove(&format!("members[value eq \"{id}\"]"))),
        )
        .await?;
        p.send(
            "add a member: op \"Add\", path members",
            "PATCH",
            &path,
            Some(&patch("Add", Some("members"), json!([{ "value": id }]))),
        )
        .await?;
        p.send(
            "remove a member: path members with a value array",
            "PATCH",
            &path,
            Some(&json!({ "schemas": [PATCH_URN], "Operations": [{ "op": "Remove", "path": "members", "value": [{ "value": id }] }] })),
        )
        .await?;
        p.send(
            "rename a group with PUT",
            "PUT",
            &path,
            Some(&json!({ "schemas": [GROUP_URN], "displayName": group_name })),
        )
        .await?;
        p.send("DELETE a group", "DELETE", &path, None).await?;
        p.get("the group after DELETE", &path).await?;
    }

    p.send(
        "PATCH active:false",
        "PATCH",
        &user,
        Some(&patch("replace", Some("active"), json!(false))),
    )
    .await?;
    p.get("the user after active:false", &user).await?;
    let back = p
        .send("re-add a removed person: same id?", "POST", "Users", Some(&doc))
        .await?;
    let Some(back) = str_of(&back.body, "id")
        .filter(|_| back.is_success())
        .map(str::to_string)
    else {
        return Ok(());
    };
    let user = format!("Users/{back}");
    p.send(
        "active \"False\" as Entra sends it",
        "PATCH",
        &user,
        Some(&patch("Replace", Some("active"), json!("False"))),
    )
    .await?;
    p.get("the user after active \"False\"", &user).await?;
    let third = p.send("re-add once more", "POST", "Users", Some(&doc)).await?;
    if let Some(third) = str_of(&third.body, "id").filter(|_| third.is_success()) {
        let user = format!("Users/{third}");
        p.send("DELETE a user", "DELETE", &user, None).await?;
        p.get("the user after DELETE", &user).await?;
        p.send("DELETE again", "DELETE", &user, None).await?;
    }
    Ok(())
}
