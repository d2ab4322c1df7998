//! Lists: paging and filters.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{id_of, str_of, Findings, LIST_URN};
use crate::scim::{short, urlencode, Answer, Scim};
use crate::suites::{CaseResult, Ctx};

/// Checks a list answer's shape [O] and returns its items (`None` when it is not a list).
/// `start` is the `startIndex` asked for.
fn list_items(f: &mut Findings, request: &str, a: &Answer, start: u64) -> Option<Vec<Value>> {
    if !a.is_success() {
        f.fact(
            "[N]",
            "list-answers",
            &format!("GET {request} answers a list"),
            Err(format!("{} {}", a.status, short(&a.text))),
        );
        return None;
    }
    let b = &a.body;
    let items = b.get("Resources").and_then(Value::as_array).cloned();
    let per_page = b.get("itemsPerPage").and_then(Value::as_u64);
    let total = b.get("totalResults").and_then(Value::as_u64);
    let shape = (|| {
        let schemas = b.get("schemas").and_then(Value::as_array);
        if schemas.is_none_or(|s| s.len() != 1 || s[0].as_str() != Some(LIST_URN)) {
            return Err(format!("schemas {:?}", b.get("schemas")));
        }
        if total.is_none() {
            return Err(format!("totalResults {:?}", b.get("totalResults")));
        }
        let echoed = b.get("startIndex").and_then(Value::as_u64);
        if echoed != Some(start) {
            return Err(format!("startIndex {echoed:?} for a request of {start}"));
        }
        // RFC 7644 lets an empty page leave Resources out.
        let n = match &items {
            Some(i) => i.len() as u64,
            None if per_page == Some(0) || total == Some(0) => 0,
            None => return Err("no Resources".into()),
        };
        if per_page != Some(n) {
            return Err(format!("itemsPerPage {per_page:?} for {n} items on the page"));
        }
        Ok(())
    })();
    f.fact(
        "[O]",
        "list-shape",
        &format!("GET {request}: a ListResponse (schemas, totalResults, startIndex echoed, itemsPerPage = items on the page, Resources)"),
        shape,
    );
    Some(items.unwrap_or_default())
}

fn total_of(a: &Answer) -> Option<u64> {
    a.body.get("totalResults").and_then(Value::as_u64)
}

async fn list(
    f: &mut Findings,
    scim: &Scim,
    request: &str,
    start: u64,
) -> anyhow::Result<(Answer, Option<Vec<Value>>)> {
    let a = scim.get(request).await?;
    let items = list_items(f, request, &a, start);
    Ok((a, items))
}

/// 1-based `startIndex`, proven without trusting any order: the item at `startIndex = T` is
/// the last one, and there is none after it.
async fn one_based(f: &mut Findings, scim: &Scim, resource: &str) -> anyhow::Result<Option<u64>> {
    let (first, _) = list(f, scim, &format!("{resource}?startIndex=1&count=1"), 1).await?;
    let Some(total) = total_of(&first) else {
        return Ok(None);
    };
    if total == 0 {
        f.note(format!("no {resource}: 1-based startIndex unproven"));
        return Ok(Some(0));
    }
    let (_, last) = list(f, scim, &format!("{resource}?startIndex={total}&count=5"), total).await?;
    let (_, past) = list(
        f,
        scim,
        &format!("{resource}?startIndex={}&count=5", total + 1),
        total + 1,
    )
    .await?;
    if let (Some(last), Some(past)) = (last, past) {
        f.check(
            "[N]",
            "start-index-1-based",
            &format!("startIndex is 1-based ({resource})"),
            last.len() == 1 && past.is_empty(),
            || {
                format!(
                    "with totalResults {total}, startIndex={total} showed {} item(s) (1-based: exactly the last one) and startIndex={} showed {} (1-based: none)",
                    last.len(),
                    total + 1,
                    past.len()
                )
            },
        );
    }
    Ok(Some(total))
}

/// Walks a list 100 at a time: `totalResults` must be exact [O]. Order is not promised stable
/// [O], so an id seen twice (and one missed) is noted, not failed.
async fn walk(f: &mut Findings, scim: &Scim, resource: &str, total: u64) -> anyhow::Result<()> {
    let mut seen = BTreeSet::new();
    let mut twice = 0usize;
    let mut start = 1u64;
    for _ in 0..total / 100 + 3 {
        let (_, items) = list(f, scim, &format!("{resource}?startIndex={start}&count=100"), start).await?;
        let Some(items) = items.filter(|i| !i.is_empty()) else {
            break;
        };
        for item in &items {
            if !seen.insert(id_of(item).to_string()) {
                twice += 1;
            }
        }
        start += items.len() as u64;
        if start > total {
            break;
        }
    }
    let distinct = seen.len() as u64;
    if twice > 0 && distinct < total {
        f.note(format!(
            "{resource}: {twice} id(s) on two pages (unstable order), {distinct} of {total} seen"
        ));
        return Ok(());
    }
    f.check(
        "[O]",
        "total-results-exact",
        &format!("totalResults is exact ({resource})"),
        distinct == total,
        || format!("totalResults {total}, a walk of every page found {distinct} distinct ids"),
    );
    Ok(())
}

pub(super) async fn paging(ctx: &'static Ctx) -> CaseResult {
    let env = ctx.lab.as_is().await?;
    let scim = &env.scim;
    let mut f = Findings::default();

    let users = one_based(&mut f, scim, "Users").await?;
    let groups = one_based(&mut f, scim, "Groups").await?;

    if let Some(total) = users {
        let over = scim.get("Users?count=150").await?;
        if over.status == 400 {
            f.switch("--count-over-max", "reject", "count=150 answered 400");
        } else if let Some(items) = list_items(&mut f, "Users?count=150", &over, 1) {
            let n = items.len() as u64;
            f.check(
                "[N]",
                "count-max-100",
                "a page holds at most 100 items",
                n <= 100,
                || format!("count=150 served {n} users"),
            );
            if n == 100 {
                f.switch("--count-over-max", "clamp", "count=150 served 100");
            } else if n == total && n < 100 {
                f.switch("--count-over-max", "clamp", &format!("unproven: only {total} users"));
            } else if n < 100 {
                f.unmatched("count above 100", format!("count=150 served {n} of {total} users"));
            }
        }

        let (_, plain) = list(&mut f, scim, "Users", 1).await?;
        if let Some(items) = plain {
            let n = items.len() as u64;
            if n < total {
                f.switch("--default-count", n, "a list without count");
            } else {
                f.switch(
                    "--default-count",
                    n.max(100),
                    &format!("or any value >= {total}: all {total} users served"),
                );
            }
        }
        walk(&mut f, scim, "Users", total).await?;
    }
    if let Some(total) = groups {
        let (_, plain) = list(&mut f, scim, "Groups", 1).await?;
        if let Some(items) = plain {
            f.check(
                "[N]",
                "groups-default-max-100",
                "Groups without paging parameters returns at most 100 groups",
                items.len() <= 100,
                || format!("{} groups", items.len()),
            );
        }
        walk(&mut f, scim, "Groups", total).await?;
    }
    f.finish()
}

/// `attr eq "value"` as a query.
fn eq(resource: &str, attr: &str, value: &str) -> String {
    format!(
        "{resource}?count=100&filter={}",
        urlencode(&format!("{attr} eq \"{value}\""))
    )
}

fn ids(items: &[Value]) -> Vec<&str> {
    items.iter().map(id_of).collect()
}

fn name_part<'a>(user: &'a Value, part: &str) -> Option<&'a str> {
    user.get("name").and_then(|n| n.get(part)).and_then(Value::as_str)
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

pub(super) async fn filters(ctx: &'static Ctx) -> CaseResult {
    let env = ctx.lab.as_is().await?;
    let scim = &env.scim;
    let mut f = Findings::default();
    let (page, items) = list(&mut f, scim, "Users?count=100", 1).await?;
    let all = total_of(&page).unwrap_or(0);
    let users = items.unwrap_or_default();
    let sample = users.iter().find(|u| {
        u.get("active").and_then(Value::as_bool) != Some(false)
            && str_of(u, "userName").is_some()
            && name_part(u, "givenName").is_some_and(|g| swap_case(g) != g)
            && name_part(u, "familyName").is_some_and(|g| swap_case(g) != g)
    });
    match sample {
        None => f.note("no active user with a given and a family name: user filters unproven"),
        Some(u) => user_filters(&mut f, scim, u).await?,
    }
    group_filters(&mut f, scim).await?;
    unsupported(&mut f, scim, users.first(), all).await?;
    f.finish()
}

async fn user_filters(f: &mut Findings, scim: &Scim, user: &Value) -> anyhow::Result<()> {
    let id = id_of(user);
    let email = str_of(user, "userName").unwrap_or_default();
    for (tag, attr, value, fact) in [
        (
            "[T]",
            "userName",
            email.to_string(),
            "userName eq finds exactly that user",
        ),
        (
            "[N]",
            "email",
            email.to_uppercase(),
            "email eq finds exactly that user, whatever the case of the address",
        ),
    ] {
        let q = eq("Users", attr, &value);
        if let (_, Some(found)) = list(f, scim, &q, 1).await? {
            f.check(tag, &format!("filter-{attr}"), fact, ids(&found) == [id], || {
                format!("{q} for {id} answered {:?}", ids(&found))
            });
        }
    }
    for (attr, part) in [("given_name", "givenName"), ("family_name", "familyName")] {
        let value = name_part(user, part).unwrap_or_default();
        let q = eq("Users", attr, value);
        let (a, found) = list(f, scim, &q, 1).await?;
        if let Some(found) = found {
            let complete = total_of(&a).is_some_and(|t| t <= 100);
            let matches = found.iter().all(|u| name_part(u, part) == Some(value));
            f.check(
                "[N]",
                &format!("filter-{attr}"),
                &format!("{attr} eq finds the users with that {part}"),
                matches && (!complete || ids(&found).contains(&id)),
                || format!("{q} for {id} answered {:?}", ids(&found)),
            );
        }
        let other = swap_case(value);
        let q = eq("Users", attr, &other);
        if let (_, Some(found)) = list(f, scim, &q, 1).await? {
            f.check(
                "[N]",
                &format!("filter-{attr}-case-sensitive"),
                &format!("{attr} matches case-sensitively"),
                found.iter().all(|u| name_part(u, part) == Some(other.as_str())),
                || format!("{q} answered {:?}, whose {part} is not {other:?}", ids(&found)),
            );
        }
    }
    Ok(())
}

async fn group_filters(f: &mut Findings, scim: &Scim) -> anyhow::Result<()> {
    let (_, items) = list(f, scim, "Groups?count=100", 1).await?;
    let groups = items.unwrap_or_default();
    let named: Vec<(&str, &str)> = groups
        .iter()
        .filter_map(|g| str_of(g, "displayName").map(|n| (id_of(g), n)))
        .collect();
    // A name with a double quote would need escaping in the filter, which is not under test.
    let Some((id, name)) = named.iter().find(|(_, n)| !n.contains('"')).copied() else {
        f.note("no groups: displayName filters unproven");
        return Ok(());
    };
    let q = eq("Groups", "displayName", name);
    if let (_, Some(found)) = list(f, scim, &q, 1).await? {
        let same = found
            .iter()
            .all(|g| str_of(g, "displayName").is_some_and(|n| n.eq_ignore_ascii_case(name)));
        f.check(
            "[N][T]",
            "filter-displayName-quoted",
            "displayName eq \"name\" finds that group",
            same && ids(&found).contains(&id),
            || format!("{q} for {id} answered {:?}", ids(&found)),
        );
    }
    // Notion's own example is unquoted: a one-word name proves matching; without one, a word
    // no group is named proves at least that the form is understood (no error, no match).
    let single = named
        .iter()
        .find(|(_, n)| !n.contains(char::is_whitespace) && !n.contains('"'));
    let (word, expect_id) = match single {
        Some((id, n)) => (n.to_string(), Some(*id)),
        None => {
            let word = name.split_whitespace().next().unwrap_or("Nobody").to_string();
            if named.iter().any(|(_, n)| n.eq_ignore_ascii_case(&word)) {
                return Ok(());
            }
            (word, None)
        }
    };
    let q = format!(
        "Groups?count=100&filter={}",
        urlencode(&format!("displayName eq {word}"))
    );
    if let (_, Some(found)) = list(f, scim, &q, 1).await? {
        let same = found
            .iter()
            .all(|g| str_of(g, "displayName").is_some_and(|n| n.eq_ignore_ascii_case(&word)));
        let has = expect_id.is_none_or(|id| ids(&found).contains(&id));
        f.check(
            "[N]",
            "filter-displayName-unquoted",
            "displayName eq Name (unquoted) finds that group",
            same && has,
            || format!("{q} answered {:?}", ids(&found)),
        );
        if expect_id.is_none() {
            f.note("unquoted displayName accepted (matching unproven: no one-word group name)");
        }
    }
    Ok(())
}

/// Filters outside Notion's vocabulary [?]: 400 (`--unsupported-filter reject`) or the whole
/// list (`ignore`).
async fn unsupported(f: &mut Findings, scim: &Scim, user: Option<&Value>, all: u64) -> anyhow::Result<()> {
    let email = user.and_then(|u| str_of(u, "userName")).unwrap_or("nobody@example.com");
    let prefix: String = email.chars().take(3).collect();
    let filters = [
        format!("userName co \"{prefix}\""),
        format!("userName eq \"{email}\" and active eq true"),
        "externalId eq \"conformance-probe\"".to_string(),
    ];
    let mut verdicts = Vec::new();
    for filter in &filters {
        let a = scim
            .get(&format!("Users?count=100&filter={}", urlencode(filter)))
            .await?;
        let scim_type = str_of(&a.body, "scimType");
        let verdict = match a.status {
            400 if scim_type.is_none_or(|t| t == "invalidFilter") => Ok("reject"),
            200 if total_of(&a) == Some(all) => Ok("ignore"),
            200 => Err(format!(
                "{filter:?} answered {} of {all} users: the filter is honoured",
                total_of(&a).unwrap_or(0)
            )),
            _ => Err(format!("{filter:?} answered {} {}", a.status, short(&a.text))),
        };
        verdicts.push((filter, verdict));
    }
    let values: Vec<&str> = verdicts.iter().filter_map(|(_, v)| v.as_ref().ok().copied()).collect();
    if values.len() == verdicts.len() && values.iter().all(|v| *v == values[0]) {
        let how = if values[0] == "reject" { "400" } else { "whole list" };
        f.switch(
            "--unsupported-filter",
            values[0],
            &format!("co, and, externalId: {how}"),
        );
    } else {
        let seen: Vec<String> = verdicts
            .iter()
            .map(|(q, v)| match v {
                Ok(v) => format!("{q:?} -> {v}"),
                Err(e) => e.clone(),
            })
            .collect();
        f.unmatched("filters outside Notion's vocabulary", seen.join(", "));
    }
    Ok(())
}
