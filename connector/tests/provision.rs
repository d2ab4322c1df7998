//! Provisioning against the in-process mock over real HTTP: each operation's effect checked in
//! the mock's ground truth and in a fresh sync, each "already" case, each refusal, and faults
//! injected in the middle of an operation without a duplicate or a lost change.

// Helpers outside #[test] fns are test code too: clippy.toml's in-tests allowances do not reach them.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use baton_notion::provision::{execute, Effect, NewAccount, Operation, ProvisionError, Target};
use baton_notion::scim::client::ScimClient;
use common::{client, client_with, run_binary, sync_into, tempdir, Snapshot};
use notion_scim_mock::{Fault, GroundTruth, MockServer, Role};

async fn mock() -> MockServer {
    MockServer::builder().seed(11).users(40).groups(6).start().await
}

fn account(first: &str, last: &str, email: &str, role: Option<&str>) -> Operation {
    Operation::CreateAccount(NewAccount {
        first_name: first.into(),
        last_name: last.into(),
        email: email.into(),
        workspace_role: role.map(str::to_owned),
    })
}

fn members_with_email(truth: &GroundTruth, email: &str) -> usize {
    truth.users.iter().filter(|u| u.user_name == email).count()
}

/// A member who is neither the token's creator nor an owner.
fn plain_member(mock: &MockServer) -> String {
    let truth = mock.truth();
    let creator = truth.tokens[0].creator.clone();
    truth
        .users
        .iter()
        .find(|u| u.id != creator && u.role == Some(Role::Member) && u.active)
        .map(|u| u.id.clone())
        .expect("a plain member")
}

fn writes(mock: &MockServer, method: &str) -> usize {
    mock.journal().iter().filter(|e| e.method == method).count()
}

async fn run(client: &ScimClient, op: &Operation) -> Effect {
    match execute(client, op).await {
        Ok(outcome) => outcome.result,
        Err(e) => panic!("operation failed: {e}"),
    }
}

#[tokio::test]
async fn create_account_adds_a_member_that_a_fresh_sync_finds() {
    let mock = mock().await;
    let c = client(&mock);
    let op = account("Ada", "Lovelace", "ada.lovelace@example.com", Some("membership_admin"));
    let outcome = execute(&c, &op).await.expect("created");
    assert_eq!(outcome.result, Effect::Created);
    let truth = mock.truth();
    let user = truth
        .user_by_email("ada.lovelace@example.com")
        .expect("in the workspace");
    assert_eq!(user.formatted_name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(user.role, Some(Role::MembershipAdmin));
    assert_eq!(outcome.details["user"]["id"], user.id.as_str());

    let dir = tempdir();
    let path = dir.path().join("after.c1z");
    sync_into(&c, &path).await.expect("sync");
    let snapshot = Snapshot::from_c1z(&path);
    assert_eq!(
        snapshot.users.get(&user.id).map(|u| u.login.as_str()),
        Some("ada.lovelace@example.com")
    );
    assert_eq!(
        snapshot.role_grants.get(&user.id).map(String::as_str),
        Some("membership_admin")
    );
}

#[tokio::test]
async fn create_account_without_a_role_gets_member() {
    let mock = mock().await;
    let c = client(&mock);
    run(&c, &account("Bo", "Diddley", "bo@example.com", None)).await;
    assert_eq!(
        mock.truth().user_by_email("bo@example.com").and_then(|u| u.role),
        Some(Role::Member)
    );
}

#[tokio::test]
async fn creating_an_existing_member_says_already_and_posts_nothing() {
    let mock = mock().await;
    let c = client(&mock);
    let existing = mock.truth().users[3].clone();
    let op = account("Some", "One", &existing.user_name, None);
    assert_eq!(run(&c, &op).await, Effect::AlreadyExists);
    assert_eq!(writes(&mock, "POST"), 0);
    assert_eq!(members_with_email(&mock.truth(), &existing.user_name), 1);
}

#[tokio::test]
async fn re_adding_a_removed_person_reports_the_reused_account() {
    let mock = mock().await;
    let c = client(&mock);
    let id = plain_member(&mock);
    let person = mock.truth().user(&id).cloned().expect("member");
    run(&c, &Operation::DeleteUser { user_id: id.clone() }).await;
    // Notion adds the existing account, which keeps its own name.
    let outcome = execute(&c, &account("Totally", "Different", &person.user_name, None))
        .await
        .expect("re-added");
    assert_eq!(outcome.result, Effect::ReusedExistingAccount);
    assert_eq!(outcome.details["user"]["id"], id.as_str());
    assert_eq!(
        mock.truth().user(&id).map(|u| u.user_name.clone()),
        Some(person.user_name)
    );
}

#[tokio::test]
async fn a_create_whose_answer_is_lost_is_not_repeated() {
    let mock = mock().await;
    let c = client(&mock);
    // The lookup passes, the POST is carried out and its answer lost.
    mock.faults().script([Fault::None, Fault::LostResponse]);
    let outcome = execute(&c, &account("Cy", "Lost", "cy.lost@example.com", None))
        .await
        .expect("created");
    assert_eq!(outcome.result, Effect::Created);
    assert_eq!(members_with_email(&mock.truth(), "cy.lost@example.com"), 1);
    assert_eq!(writes(&mock, "POST"), 1, "{:#?}", mock.journal());
}

/// The outcome of re-adding a removed person must not depend on whether the POST's answer
/// arrived: with it lost, the lookup finds the same reused account.
#[tokio::test]
async fn a_readded_person_whose_answer_is_lost_is_still_reported_reused() {
    let mock = mock().await;
    let c = client(&mock);
    let id = plain_member(&mock);
    let person = mock.truth().user(&id).cloned().expect("member");
    run(&c, &Operation::DeleteUser { user_id: id.clone() }).await;
    mock.faults().script([Fault::None, Fault::LostResponse]);
    let outcome = execute(&c, &account("Totally", "Different", &person.user_name, None))
        .await
        .expect("re-added");
    assert_eq!(outcome.result, Effect::ReusedExistingAccount);
    assert_eq!(outcome.details["user"]["id"], id.as_str());
    assert_eq!(writes(&mock, "POST"), 1, "{:#?}", mock.journal());
}

/// Every read is retried alike: a malformed or cut-off 200 to the lookups of create, grant and
/// delete is read again, as the sync's pages are.
#[tokio::test]
async fn lookups_with_broken_answers_are_retried() {
    for fault in [Fault::Malformed, Fault::Truncate] {
        let mock = mock().await;
        let c = client(&mock);
        mock.faults().script([fault]);
        let outcome = execute(&c, &account("Bo", "Retry", "bo.retry@example.com", None))
            .await
            .unwrap_or_else(|e| panic!("{fault}: the create's lookup was not retried: {e}"));
        assert_eq!(outcome.result, Effect::Created, "{fault}");

        let id = plain_member(&mock);
        mock.faults().script([fault]);
        let granted = execute(
            &c,
            &Operation::Grant {
                target: Target::Role("membership_admin".into()),
                user_id: id.clone(),
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{fault}: the grant's read was not retried: {e}"));
        assert_eq!(granted.result, Effect::Granted, "{fault}");

        mock.faults().script([fault]);
        let deleted = execute(&c, &Operation::DeleteUser { user_id: id })
            .await
            .unwrap_or_else(|e| panic!("{fault}: the delete's read was not retried: {e}"));
        assert_eq!(deleted.result, Effect::Deleted, "{fault}");
    }
}

#[tokio::test]
async fn a_create_that_never_arrived_is_sent_again_once() {
    for fault in [
        Fault::Reset,
        Fault::Status(503),
        Fault::Status(500),
        Fault::Status(502),
        Fault::Status(529),
    ] {
        let mock = mock().await;
        let c = client(&mock);
        mock.faults().script([Fault::None, fault]);
        let outcome = execute(&c, &account("Di", "Retry", "di.retry@example.com", None))
            .await
            .expect("created");
        assert_eq!(outcome.result, Effect::Created, "{fault}");
        assert_eq!(members_with_email(&mock.truth(), "di.retry@example.com"), 1, "{fault}");
        assert_eq!(writes(&mock, "POST"), 2, "{fault}: one refused, one carried out");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_that_times_out_makes_one_account() {
    let mock = mock().await;
    // The POST is held past the client's timeout; the server still carries it out later.
    let c = client_with(&mock, |cfg| cfg.http_timeout = std::time::Duration::from_millis(300));
    mock.faults()
        .script([Fault::None, Fault::Latency(std::time::Duration::from_millis(700))]);
    let outcome = execute(&c, &account("Gus", "Slow", "gus.slow@example.com", None))
        .await
        .expect("created");
    assert_eq!(outcome.result, Effect::Created);
    // Let the held request finish, then count.
    tokio::time::sleep(std::time::Duration::from_millis(900)).await;
    assert_eq!(
        members_with_email(&mock.truth(), "gus.slow@example.com"),
        1,
        "{:#?}",
        mock.journal()
    );
}

#[tokio::test]
async fn a_rate_limited_create_waits_and_succeeds() {
    let mock = mock().await;
    let c = client(&mock);
    mock.faults()
        .script([Fault::None, Fault::RateLimited { retry_after_secs: 1 }]);
    assert_eq!(
        run(&c, &account("Ed", "Wait", "ed.wait@example.com", None)).await,
        Effect::Created
    );
    assert_eq!(members_with_email(&mock.truth(), "ed.wait@example.com"), 1);
}

#[tokio::test]
async fn a_truncated_or_malformed_create_answer_is_resolved_by_lookup() {
    for fault in [Fault::Truncate, Fault::Malformed] {
        let mock = mock().await;
        let c = client(&mock);
        mock.faults().script([Fault::None, fault]);
        let outcome = execute(&c, &account("Flo", "Broken", "flo@example.com", None)).await;
        assert_eq!(outcome.map(|o| o.result).ok(), Some(Effect::Created), "{fault}");
        assert_eq!(members_with_email(&mock.truth(), "flo@example.com"), 1, "{fault}");
        assert_eq!(
            writes(&mock, "POST"),
            1,
            "{fault}: the answer was lost, not the creation"
        );
    }
}

#[tokio::test]
async fn delete_removes_confirms_and_is_idempotent() {
    let mock = mock().await;
    let c = client(&mock);
    let id = plain_member(&mock);
    let op = Operation::DeleteUser { user_id: id.clone() };
    assert_eq!(run(&c, &op).await, Effect::Deleted);
    assert!(mock.truth().user(&id).is_none());
    // The confirmation read answered 404.
    let last = mock.journal().last().cloned().expect("requests");
    assert_eq!((last.method.as_str(), last.status), ("GET", 404));
    assert_eq!(run(&c, &op).await, Effect::AlreadyDeleted);
    assert_eq!(writes(&mock, "DELETE"), 1);
}

#[tokio::test]
async fn delete_with_a_lost_answer_still_ends_deleted() {
    let mock = mock().await;
    let c = client(&mock);
    let id = plain_member(&mock);
    mock.faults().script([Fault::None, Fault::LostResponse]);
    assert_eq!(
        run(&c, &Operation::DeleteUser { user_id: id.clone() }).await,
        Effect::Deleted
    );
    assert!(mock.truth().user(&id).is_none());
}

#[tokio::test]
async fn deleting_the_token_creator_is_refused_clearly() {
    let mock = mock().await;
    let c = client(&mock);
    let creator = mock.truth().tokens[0].creator.clone();
    let err = execute(
        &c,
        &Operation::DeleteUser {
            user_id: creator.clone(),
        },
    )
    .await
    .expect_err("refused");
    assert!(matches!(err, ProvisionError::Refused(_)), "{err:?}");
    assert!(err.to_string().contains("created the token"), "{err}");
    assert!(mock.truth().user(&creator).is_some());
}

#[tokio::test]
async fn granting_a_role_replaces_the_previous_one() {
    let mock = mock().await;
    let c = client(&mock);
    let id = plain_member(&mock);
    let op = Operation::Grant {
        target: Target::Role("membership_admin".into()),
        user_id: id.clone(),
    };
    let outcome = execute(&c, &op).await.expect("granted");
    assert_eq!(outcome.result, Effect::Granted);
    assert_eq!(outcome.details["previous_role"], "member");
    assert_eq!(mock.truth().user(&id).and_then(|u| u.role), Some(Role::MembershipAdmin));
    assert_eq!(run(&c, &op).await, Effect::AlreadyGranted);
    assert_eq!(writes(&mock, "PATCH"), 1);

    let dir = tempdir();
    let path = dir.path().join("roles.c1z");
    sync_into(&c, &path).await.expect("sync");
    assert_eq!(
        Snapshot::from_c1z(&path).role_grants.get(&id).map(String::as_str),
        Some("membership_admin")
    );
}

#[tokio::test]
async fn revoking_a_role_moves_the_user_to_restricted_member() {
    let mock = mock().await;
    let c = client(&mock);
    let id = plain_member(&mock);
    let revoke = Operation::Revoke {
        target: Target::Role("member".into()),
        user_id: id.clone(),
    };
    assert_eq!(run(&c, &revoke).await, Effect::Revoked);
    assert_eq!(
        mock.truth().user(&id).and_then(|u| u.role),
        Some(Role::RestrictedMember)
    );
    assert_eq!(run(&c, &revoke).await, Effect::AlreadyRevoked);
    let floor = Operation::Revoke {
        target: Target::Role("restricted_member".into()),
        user_id: id.clone(),
    };
    assert!(matches!(execute(&c, &floor).await, Err(ProvisionError::Refused(_))));
    let gone = Operation::Revoke {
        target: Target::Role("owner".into()),
        user_id: uuid::Uuid::new_v4().to_string(),
    };
    assert_eq!(run(&c, &gone).await, Effect::AlreadyRevoked);
}

#[tokio::test]
async fn role_changes_survive_lost_answers_and_server_errors() {
    for fault in [
        Fault::LostResponse,
        Fault::Status(503),
        Fault::Reset,
        Fault::Truncate,
        Fault::Malformed,
    ] {
        let mock = mock().await;
        let c = client(&mock);
        let id = plain_member(&mock);
        mock.faults().script([Fault::None, fault]);
        let op = Operation::Grant {
            target: Target::Role("owner".into()),
            user_id: id.clone(),
        };
        let outcome = execute(&c, &op).await.unwrap_or_else(|e| panic!("{fault}: {e}"));
        assert_eq!(outcome.result, Effect::Granted, "{fault}");
        assert_eq!(
            mock.truth().user(&id).and_then(|u| u.role),
            Some(Role::Owner),
            "{fault}"
        );
    }
}

fn group_without(mock: &MockServer, user: &str) -> String {
    mock.truth()
        .groups
        .iter()
        .find(|g| !g.members.iter().any(|m| m == user))
        .map(|g| g.id.clone())
        .expect("a group")
}

#[tokio::test]
async fn group_membership_is_granted_and_revoked() {
    let mock = mock().await;
    let c = client(&mock);
    let user = plain_member(&mock);
    let group = group_without(&mock, &user);
    let grant = Operation::Grant {
        target: Target::GroupMember(group.clone()),
        user_id: user.clone(),
    };
    assert_eq!(run(&c, &grant).await, Effect::Granted);
    assert!(mock.truth().group(&group).expect("group").members.contains(&user));
    assert_eq!(run(&c, &grant).await, Effect::AlreadyGranted);

    let dir = tempdir();
    let path = dir.path().join("groups.c1z");
    sync_into(&c, &path).await.expect("sync");
    assert!(Snapshot::from_c1z(&path)
        .memberships
        .contains(&(group.clone(), user.clone())));

    let revoke = Operation::Revoke {
        target: Target::GroupMember(group.clone()),
        user_id: user.clone(),
    };
    assert_eq!(run(&c, &revoke).await, Effect::Revoked);
    assert!(!mock.truth().group(&group).expect("group").members.contains(&user));
    assert_eq!(run(&c, &revoke).await, Effect::AlreadyRevoked);
    assert_eq!(writes(&mock, "PATCH"), 2);
}

#[tokio::test]
async fn group_changes_survive_faults_without_duplicates() {
    for fault in [
        Fault::LostResponse,
        Fault::Status(500),
        Fault::Reset,
        Fault::RateLimited { retry_after_secs: 1 },
    ] {
        let mock = mock().await;
        let c = client(&mock);
        let user = plain_member(&mock);
        let group = group_without(&mock, &user);
        // grant: GET group, GET user, PATCH <- fault
        mock.faults().script([Fault::None, Fault::None, fault]);
        let grant = Operation::Grant {
            target: Target::GroupMember(group.clone()),
            user_id: user.clone(),
        };
        assert_eq!(run(&c, &grant).await, Effect::Granted, "{fault}");
        let members = mock.truth().group(&group).expect("group").members.clone();
        assert_eq!(members.iter().filter(|m| **m == user).count(), 1, "{fault}");
        // revoke: GET group, PATCH <- fault (a lost answer makes the retry meet noTarget)
        mock.faults().script([Fault::None, fault]);
        let revoke = Operation::Revoke {
            target: Target::GroupMember(group.clone()),
            user_id: user.clone(),
        };
        assert_eq!(run(&c, &revoke).await, Effect::Revoked, "{fault}");
        assert!(
            !mock.truth().group(&group).expect("group").members.contains(&user),
            "{fault}"
        );
    }
}

#[tokio::test]
async fn group_grants_to_unknown_groups_or_users_fail_clearly() {
    let mock = mock().await;
    let c = client(&mock);
    let user = plain_member(&mock);
    let nowhere = uuid::Uuid::new_v4().to_string();
    let no_group = Operation::Grant {
        target: Target::GroupMember(nowhere.clone()),
        user_id: user.clone(),
    };
    assert!(matches!(execute(&c, &no_group).await, Err(ProvisionError::NotFound(_))));
    let group = group_without(&mock, &user);
    let no_user = Operation::Grant {
        target: Target::GroupMember(group.clone()),
        user_id: nowhere.clone(),
    };
    assert!(matches!(execute(&c, &no_user).await, Err(ProvisionError::NotFound(_))));
    // A guest is no member: Notion refuses them in groups.
    let guest = mock.truth().guests[0].id.clone();
    let for_guest = Operation::Grant {
        target: Target::GroupMember(group),
        user_id: guest,
    };
    assert!(execute(&c, &for_guest).await.is_err());
    assert_eq!(writes(&mock, "PATCH"), 0);
}

#[tokio::test]
async fn the_binary_prints_json_and_checks_before_sending() {
    let mock = mock().await;
    let dir = tempdir();
    let base = mock.base_url();
    let token = mock.token().to_owned();
    let env = [("BATON_SCIM_TOKEN", token.as_str()), ("BATON_BASE_URL", base.as_str())];
    let user = plain_member(&mock);
    let group = group_without(&mock, &user);

    let ent = format!("group:{group}:member");
    let out = run_binary(
        dir.path(),
        &[
            "-p",
            "--grant-entitlement",
            &ent,
            "--grant-principal",
            &user,
            "--grant-principal-type",
            "user",
        ],
        &env,
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(json["result"], "granted");
    assert!(mock.truth().group(&group).expect("group").members.contains(&user));

    let grant_id = format!("{ent}:user:{user}");
    let out = run_binary(dir.path(), &["-p", "--revoke-grant", &grant_id], &env).await;
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["result"], "revoked");

    let profile = r#"{"first_name":"Gil","last_name":"Cli","email":"gil.cli@example.com","workspace_role":"member"}"#;
    let out = run_binary(dir.path(), &["-p", "--create-account-profile", profile], &env).await;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["result"], "created", "{out:?}");
    let new_id = json["user"]["id"].as_str().expect("id").to_owned();

    let out = run_binary(
        dir.path(),
        &["-p", "--delete-resource", &new_id, "--delete-resource-type", "user"],
        &env,
    )
    .await;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["result"], "deleted");

    let creator = mock.truth().tokens[0].creator.clone();
    let out = run_binary(
        dir.path(),
        &["-p", "--delete-resource", &creator, "--delete-resource-type", "user"],
        &env,
    )
    .await;
    assert!(!out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["result"], "failed");

    // Refused before any request: the journal does not grow.
    let before = mock.journal().len();
    for args in [
        vec![
            "-p",
            "--grant-entitlement",
            "role:boss:assigned",
            "--grant-principal",
            &user,
            "--grant-principal-type",
            "user",
        ],
        vec![
            "-p",
            "--grant-entitlement",
            "role:owner:assigned",
            "--grant-principal",
            "not-an-id",
            "--grant-principal-type",
            "user",
        ],
        vec![
            "-p",
            "--grant-entitlement",
            "role:owner:assigned",
            "--grant-principal",
            &user,
            "--grant-principal-type",
            "group",
        ],
        vec!["-p", "--revoke-grant", "role:owner:assigned"],
        vec!["-p", "--create-account-profile", "{\"first_name\":\"x\"}"],
        vec!["-p", "--delete-resource", &group, "--delete-resource-type", "group"],
    ] {
        let out = run_binary(dir.path(), &args, &env).await;
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("error:"), "{args:?}: {stderr}");
        assert!(!stderr.contains(&token) && !String::from_utf8_lossy(&out.stdout).contains(&token));
    }
    assert_eq!(mock.journal().len(), before, "no request for a refused command line");

    // As in baton-sdk, a one-shot flag enables provisioning by itself: no -p needed.
    let out = run_binary(
        dir.path(),
        &[
            "--grant-entitlement",
            "role:restricted_member:assigned",
            "--grant-principal",
            &user,
            "--grant-principal-type",
            "user",
        ],
        &env,
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["result"], "granted");
}

#[tokio::test]
async fn capabilities_report_what_is_provisionable() {
    let dir = tempdir();
    let out = run_binary(dir.path(), &["capabilities"], &[]).await;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let caps = |id: &str| -> Vec<String> {
        json["resourceTypeCapabilities"]
            .as_array()
            .and_then(|a| a.iter().find(|r| r["resourceType"]["id"] == id))
            .and_then(|r| r["capabilities"].as_array())
            .map(|c| c.iter().filter_map(|v| v.as_str().map(String::from)).collect())
            .unwrap_or_default()
    };
    assert_eq!(
        caps("user"),
        [
            "CAPABILITY_SYNC",
            "CAPABILITY_ACCOUNT_PROVISIONING",
            "CAPABILITY_RESOURCE_DELETE"
        ]
    );
    assert_eq!(caps("group"), ["CAPABILITY_SYNC", "CAPABILITY_PROVISION"]);
    assert_eq!(caps("role"), ["CAPABILITY_SYNC", "CAPABILITY_PROVISION"]);
}

/// The owner who created the mock's token: demoting them is what locks a connector out.
fn token_creator(mock: &MockServer) -> String {
    let truth = mock.truth();
    let creator = truth.tokens[0].creator.clone();
    assert_eq!(
        truth.user(&creator).and_then(|u| u.role),
        Some(Role::Owner),
        "the token's creator is an owner"
    );
    creator
}

#[tokio::test]
async fn demoting_an_owner_needs_confirmation_and_says_the_token_may_be_revoked() {
    let mock = mock().await;
    let dir = tempdir();
    let base = mock.base_url();
    let token = mock.token().to_owned();
    let env = [("BATON_SCIM_TOKEN", token.as_str()), ("BATON_BASE_URL", base.as_str())];
    let owner = token_creator(&mock);
    let grant = [
        "--grant-entitlement",
        "role:member:assigned",
        "--grant-principal",
        owner.as_str(),
        "--grant-principal-type",
        "user",
    ];
    let revoke_id = format!("role:owner:assigned:user:{owner}");
    let revoke = ["--revoke-grant", revoke_id.as_str()];

    // Unconfirmed, by grant and by revoke: refused, nothing written, the owner still an owner.
    let declined: Vec<&str> = [&grant[..], &["--confirm-owner-change=false"]].concat();
    for args in [&grant[..], &revoke[..], &declined[..]] {
        let out = run_binary(dir.path(), args, &env).await;
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(json["result"], "failed");
        let error = json["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("owner") && error.contains("--confirm-owner-change") && error.contains("revokes"),
            "{error}"
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("--confirm-owner-change"));
    }
    assert_eq!(writes(&mock, "PATCH"), 0, "an unconfirmed owner change sent a write");
    assert_eq!(mock.truth().user(&owner).and_then(|u| u.role), Some(Role::Owner));

    // Confirmed (the environment twin, with a Go boolean): done, a warning logged before, and
    // the result says the token may now be revoked, which it is (this owner created it).
    let confirmed = [env[0], env[1], ("BATON_CONFIRM_OWNER_CHANGE", "T")];
    let out = run_binary(dir.path(), &grant, &confirmed).await;
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["result"], "granted");
    assert_eq!(json["token_may_be_revoked"], true, "{json}");
    assert!(json["warning"].as_str().unwrap_or_default().contains("locked out"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("WARN") && stderr.contains("workspace owner"),
        "{stderr}"
    );
    assert_eq!(mock.truth().user(&owner).and_then(|u| u.role), Some(Role::Member));
    assert!(
        mock.truth().tokens[0].revoked,
        "the emulation revokes the demoted creator's token"
    );
}

#[tokio::test]
async fn the_owner_check_is_a_function_of_its_own() {
    use baton_notion::provision::{check_owner_change, execute_with, Safeguards};
    let mock = mock().await;
    let c = client(&mock);
    let owner = token_creator(&mock);
    let member = plain_member(&mock);
    let grant = |user: &str, role: &str| Operation::Grant {
        target: Target::Role(role.into()),
        user_id: user.into(),
    };
    let revoke = |user: &str, role: &str| Operation::Revoke {
        target: Target::Role(role.into()),
        user_id: user.into(),
    };
    let change = check_owner_change(&c, &grant(&owner, "membership_admin"))
        .await
        .expect("read");
    assert_eq!(change.as_ref().map(|c| c.to_role.as_str()), Some("membership_admin"));
    let change = check_owner_change(&c, &revoke(&owner, "owner")).await.expect("read");
    assert_eq!(change.as_ref().map(|c| c.to_role.as_str()), Some("restricted_member"));
    // Not a demotion: an owner granted owner, a role the owner does not hold revoked, a member.
    for op in [
        grant(&owner, "owner"),
        revoke(&owner, "member"),
        grant(&member, "owner"),
        revoke(&member, "member"),
    ] {
        assert_eq!(check_owner_change(&c, &op).await.expect("read"), None, "{op:?}");
    }
    // The library refuses too unless told otherwise; promoting is no owner change.
    assert!(matches!(
        execute(&c, &grant(&owner, "member")).await,
        Err(ProvisionError::OwnerChangeUnconfirmed(_))
    ));
    let promoted = execute_with(&c, &grant(&member, "owner"), Safeguards::default())
        .await
        .expect("a promotion needs no confirmation");
    assert_eq!(promoted.result, Effect::Granted);
    assert!(!promoted.details.contains_key("token_may_be_revoked"));
    assert_eq!(mock.truth().user(&owner).and_then(|u| u.role), Some(Role::Owner));
}
