//! The sync suite: a connector's c1z, decoded by the oracle, holds exactly the resources,
//! entitlements and grants the target's truth implies, field by field, for orgs of many shapes
//! and sizes, across paging edges, after changes (a second sync into the same file), in the
//! fewest reasonable requests.

use anyhow::{bail, Context};
use notion_scim_mock::{Quirks, SeedSpec};
use proptest::prelude::*;
use serde_json::{json, Value};

use super::{prop, sync_and_judge, Case, CaseResult, Ctx, Suite};
use crate::case;
use crate::oracle::{c1z::C1z, expect};
use crate::target::Skip;

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            Suite::Sync,
            "target-as-is",
            "the target as it is: the c1z equals its truth (read-only; any target)",
            target_as_is
        ),
        case!(
            Suite::Sync,
            "generated-orgs",
            "property: generated orgs of many shapes and sizes sync exactly",
            generated_orgs
        ),
        case!(
            Suite::Sync,
            "paging-edges",
            "1, 99, 100, 101, 199, 200, 201 users; 0 to 201 groups: nothing lost or doubled at page edges",
            paging_edges
        ),
        case!(
            Suite::Sync,
            "shape-variants",
            "formatted-only names, no role extension, secondary emails, inactive users, empty and large groups",
            shape_variants
        ),
        case!(
            Suite::Sync,
            "second-sync",
            "changes through SCIM, then a second sync into the same file: both runs readable and right",
            second_sync
        ),
        case!(
            Suite::Sync,
            "request-count",
            "a sync costs at most ceil(U/100) + ceil(G/100) list requests plus one read per group",
            request_count
        ),
    ]
}

async fn target_as_is(ctx: &'static Ctx) -> CaseResult {
    let env = ctx.lab.as_is().await?;
    let file = ctx.c1z_path("as-is");
    let j = sync_and_judge(ctx, &env, &file).await?;
    Ok(format!(
        "{} in {:.2}s",
        j.dataset.summary(),
        j.run.elapsed.as_secs_f64()
    ))
}

/// Orgs drawn from the seed: sizes from empty to a few pages, every ratio of odd records.
fn org_spec() -> impl Strategy<Value = SeedSpec> {
    (
        any::<u64>(),
        0usize..260,
        0usize..14,
        0.0f64..0.3,
        0.0f64..0.4,
        0.0f64..0.4,
        0.0f64..0.4,
        0.0f64..0.4,
    )
        .prop_map(
            |(seed, users, groups, inactive, formatted, no_role, secondary, empty)| SeedSpec {
                seed,
                users,
                groups,
                guests: Some(users / 10),
                inactive_ratio: inactive,
                formatted_name_only_ratio: formatted,
                no_role_extension_ratio: no_role,
                secondary_email_ratio: secondary,
                empty_group_ratio: empty,
                ..SeedSpec::default()
            },
        )
}

async fn generated_orgs(ctx: &'static Ctx) -> CaseResult {
    prop::check(ctx, "generated-orgs", org_spec, move |spec| async move {
        let env = ctx.lab.org(spec, Quirks::default()).await?;
        let file = ctx.c1z_path("generated");
        sync_and_judge(ctx, &env, &file).await.map(drop)
    })
    .await
}

async fn paging_edges(ctx: &'static Ctx) -> CaseResult {
    let sizes = [0usize, 1, 99, 100, 101, 199, 200, 201];
    let mut notes = Vec::new();
    for (i, size) in sizes.iter().enumerate() {
        // Group counts walk the same edges, shifted, so both lists meet every edge. A workspace
        // with a SCIM token has at least one member (the owner who made it), so users start at 1.
        let users = (*size).max(1);
        let groups = sizes[(i + 3) % sizes.len()];
        let spec = SeedSpec {
            seed: 100 + i as u64,
            users,
            groups,
            ..SeedSpec::default()
        };
        let env = ctx.lab.org(spec, Quirks::default()).await?;
        let file = ctx.c1z_path("edge");
        sync_and_judge(ctx, &env, &file)
            .await
            .with_context(|| format!("{users} users, {groups} groups"))?;
        notes.push(format!("{users}/{groups}"));
    }
    Ok(format!("users/groups {}", notes.join(", ")))
}

async fn shape_variants(ctx: &'static Ctx) -> CaseResult {
    let spec = SeedSpec {
        seed: 77,
        // The largest seeded group holds about a quarter of the active members: over 100 here.
        users: 900,
        groups: 12,
        inactive_ratio: 0.2,
        formatted_name_only_ratio: 0.3,
        no_role_extension_ratio: 0.3,
        secondary_email_ratio: 0.3,
        empty_group_ratio: 0.2,
        ..SeedSpec::default()
    };
    let env = ctx.lab.org(spec, Quirks::default()).await?;
    let truth = env.truth().await?;
    // The org must really hold every variant, or this case proves nothing.
    let count = |f: &dyn Fn(&crate::truth::TruthUser) -> bool| truth.users.iter().filter(|u| f(u)).count();
    let variants = [
        ("inactive", count(&|u| !u.active)),
        (
            "formatted-only",
            count(&|u| u.given_name.is_none() && u.formatted_name.is_some()),
        ),
        ("no role extension", count(&|u| u.role.is_none())),
        (
            "empty groups",
            truth.groups.iter().filter(|g| g.members.is_empty()).count(),
        ),
        (
            "groups over 100 members",
            truth.groups.iter().filter(|g| g.members.len() > 100).count(),
        ),
    ];
    if let Some((name, _)) = variants.iter().find(|(_, n)| *n == 0) {
        bail!("the generated org has no {name} record; the case cannot judge it");
    }
    let file = ctx.c1z_path("variants");
    let j = sync_and_judge(ctx, &env, &file).await?;
    let listed: Vec<String> = variants.iter().map(|(n, c)| format!("{c} {n}")).collect();
    Ok(format!("{}; {}", j.dataset.summary(), listed.join(", ")))
}

async fn second_sync(ctx: &'static Ctx) -> CaseResult {
    let spec = SeedSpec {
        seed: 42,
        users: 150,
        groups: 6,
        empty_group_ratio: 0.0,
        ..SeedSpec::default()
    };
    let env = ctx.lab.org(spec, Quirks::default()).await?;
    let file = ctx.c1z_path("second");
    let first = sync_and_judge(ctx, &env, &file).await.context("first sync")?;

    // Changes a provisioning tool or an admin would make, straight through SCIM.
    let scim = &env.scim;
    let before = &first.truth;
    let removed = before
        .users
        .iter()
        .find(|u| u.effective_role() != "owner")
        .context("no removable user")?;
    scim.ok("DELETE", &format!("Users/{}", removed.id), None).await?;
    let promoted = before
        .users
        .iter()
        .find(|u| u.id != removed.id && u.effective_role() == "member")
        .context("no member to promote")?;
    let ext = crate::truth::NOTION_USER_EXT;
    scim.ok(
        "PATCH",
        &format!("Users/{}", promoted.id),
        Some(&json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {ext: {"role": "membership_admin"}}}]
        })),
    )
    .await?;
    let created = scim
        .ok(
            "POST",
            "Users",
            Some(&json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "second.sync@conformance.example.com",
                "name": {"givenName": "Second", "familyName": "Sync", "formatted": "Second Sync"},
                "emails": [{"value": "second.sync@conformance.example.com", "primary": true}],
                "active": true
            })),
        )
        .await?;
    let new_id = created
        .get("id")
        .and_then(Value::as_str)
        .context("POST /Users answered no id")?;
    let group = before.groups.first().context("no group")?;
    scim.ok(
        "PATCH",
        &format!("Groups/{}", group.id),
        Some(&json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": new_id}]}]
        })),
    )
    .await?;

    let second = sync_and_judge(ctx, &env, &file).await.context("second sync")?;
    // Both runs must be in the file, the older still equal to the first truth.
    let c1z = C1z::open(&file)?;
    let finished: Vec<_> = c1z.sync_runs().iter().filter(|r| r.ended_at.is_some()).collect();
    if finished.len() < 2 {
        bail!(
            "after a second sync the file holds {} finished run(s); baton diff needs the newest two",
            finished.len()
        );
    }
    let older = finished[finished.len() - 2];
    let old_data = c1z.dataset(&older.sync_id)?;
    let diffs = expect::compare(&expect::derive(&first.truth), &old_data);
    if !diffs.is_empty() {
        bail!(
            "the first run changed after the second sync: {}",
            expect::render(&diffs, &old_data, &expect::derive(&first.truth))
        );
    }
    if first.dataset == second.dataset {
        bail!("the second run equals the first although the org changed");
    }
    Ok(format!(
        "runs {} -> {}",
        first.dataset.summary(),
        second.dataset.summary()
    ))
}

async fn request_count(ctx: &'static Ctx) -> CaseResult {
    let spec = SeedSpec {
        seed: 9,
        users: 450,
        groups: 30,
        ..SeedSpec::default()
    };
    let env = ctx.lab.org(spec, Quirks::default()).await?;
    let admin = env.admin().map_err(|s| Skip(format!("counting requests {}", s.0)))?;
    admin.clear_journal().await?;
    let file = ctx.c1z_path("count");
    let j = sync_and_judge(ctx, &env, &file).await?;
    let journal = admin.journal().await?;
    let requests = journal
        .iter()
        .filter(|e| {
            e.get("path")
                .and_then(Value::as_str)
                .is_some_and(|p| p.starts_with("/scim/v2/"))
        })
        .count();
    let (u, g) = (j.truth.users.len(), j.truth.groups.len());
    let minimum = u.div_ceil(100) + g.div_ceil(100);
    let ceiling = minimum + g;
    if requests > ceiling {
        bail!(
            "{requests} requests for {u} users and {g} groups: the minimum is {minimum} (pages of 100), \
             and reading every group once more allows {ceiling}"
        );
    }
    Ok(format!("{requests} requests; minimum {minimum}"))
}
