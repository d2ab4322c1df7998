//! The binary itself: flags, environment and `.baton.yaml`, subcommands, exit codes, and the
//! token kept out of every byte it prints.

// Helpers outside #[test] fns are test code too: clippy.toml's in-tests allowances do not reach them.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Output;

use common::{assert_same, tempdir, Snapshot};
use notion_scim_mock::MockServer;

/// Runs the binary in `cwd` with only `envs` in its environment (see [`common::run_binary`]).
async fn run(cwd: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    common::run_binary(cwd, args, envs).await
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

async fn org() -> MockServer {
    MockServer::builder().seed(41).users(120).groups(7).start().await
}

/// The `count=` the mock saw on its first user list.
fn first_count(mock: &MockServer, after: usize) -> String {
    mock.journal()
        .iter()
        .skip(after)
        .find(|e| e.path.ends_with("/Users"))
        .and_then(|e| e.query.clone())
        .and_then(|q| q.split('&').find(|p| p.starts_with("count=")).map(str::to_owned))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncs_with_flags_and_never_prints_the_token() {
    let mock = org().await;
    let dir = tempdir();
    let out = run(
        dir.path(),
        &[
            "--scim-token",
            mock.token(),
            "--base-url",
            &mock.base_url(),
            "-f",
            "out.c1z",
            "--log-level",
            "trace",
            "--log-format",
            "console",
        ],
        &[],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stdout.contains(mock.token()) && !stderr.contains(mock.token()),
        "the token leaked"
    );
    assert!(stderr.contains("sync finished"), "{stderr}");
    assert_same(
        &Snapshot::from_c1z(&dir.path().join("out.c1z")),
        &Snapshot::from_truth(&mock.truth()),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncs_from_the_environment_with_json_logs() {
    let mock = org().await;
    let dir = tempdir();
    let base = mock.base_url();
    let out = run(
        dir.path(),
        &[],
        &[
            ("BATON_SCIM_TOKEN", mock.token()),
            ("BATON_BASE_URL", &base),
            ("BATON_LOG_LEVEL", "trace"),
            ("BATON_LOG_FORMAT", "json"),
        ],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(!stdout.contains(mock.token()) && !stderr.contains(mock.token()));
    for line in stderr.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}"));
    }
    // The default file name, in the working directory.
    assert_same(
        &Snapshot::from_c1z(&dir.path().join("sync.c1z")),
        &Snapshot::from_truth(&mock.truth()),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flag_beats_environment_beats_file() {
    let mock = org().await;
    let dir = tempdir();
    let yaml = format!(
        "scim-token: {}\nbase-url: {}\npage-size: 10\nfile: from-file.c1z\n",
        mock.token(),
        mock.base_url()
    );
    std::fs::write(dir.path().join(".baton.yaml"), yaml).expect("write yaml");

    let out = run(dir.path(), &[], &[]).await;
    assert!(out.status.success(), "{}", text(&out).1);
    assert_eq!(first_count(&mock, 0), "count=10", "the file alone");
    assert!(dir.path().join("from-file.c1z").exists());

    let mark = mock.journal().len();
    let out = run(dir.path(), &[], &[("BATON_PAGE_SIZE", "20")]).await;
    assert!(out.status.success());
    assert_eq!(first_count(&mock, mark), "count=20", "environment over file");

    let mark = mock.journal().len();
    let out = run(dir.path(), &["--page-size", "30"], &[("BATON_PAGE_SIZE", "20")]).await;
    assert!(out.status.success());
    assert_eq!(first_count(&mock, mark), "count=30", "flag over environment");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baton_config_path_names_the_file() {
    let mock = org().await;
    let dir = tempdir();
    let cfg = dir.path().join("elsewhere.yaml");
    std::fs::write(
        &cfg,
        format!("scim_token: {}\nbase_url: {}\n", mock.token(), mock.base_url()),
    )
    .expect("write");
    let out = run(
        dir.path(),
        &["-f", "x.c1z"],
        &[("BATON_CONFIG_PATH", cfg.to_str().expect("utf-8"))],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(dir.path().join("x.c1z").exists());

    let out = run(dir.path(), &[], &[("BATON_CONFIG_PATH", "/nonexistent/baton.yaml")]).await;
    assert!(!out.status.success());
    assert!(text(&out).1.contains("/nonexistent/baton.yaml"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_reports_valid_and_revoked() {
    let mock = org().await;
    let dir = tempdir();
    let base = mock.base_url();
    let token = mock.token().to_owned();
    let out = run(
        dir.path(),
        &[
            "validate",
            "--scim-token",
            &token,
            "--base-url",
            &base,
            "--log-level",
            "trace",
        ],
        &[],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.starts_with("valid"), "{stdout}");
    assert!(!stdout.contains(&token) && !stderr.contains(&token));
    assert_eq!(mock.journal().len(), 1, "one request");

    mock.revoke_token();
    let out = run(
        dir.path(),
        &["validate"],
        &[("BATON_SCIM_TOKEN", &token), ("BATON_BASE_URL", &base)],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stdout.contains("revoked"), "{stdout}");
    assert!(!stdout.contains(&token) && !stderr.contains(&token));

    let out = run(
        dir.path(),
        &[
            "validate",
            "--scim-token",
            "t",
            "--base-url",
            "http://127.0.0.1:1/scim/v2",
        ],
        &[],
    )
    .await;
    assert!(!out.status.success());
    assert!(text(&out).0.starts_with("unreachable"), "{}", text(&out).0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_fails_the_sync_in_one_line_and_keeps_the_file() {
    let mock = org().await;
    let dir = tempdir();
    let base = mock.base_url();
    let token = mock.token().to_owned();
    let args = [
        "--scim-token",
        token.as_str(),
        "--base-url",
        base.as_str(),
        "--log-level",
        "trace",
    ];
    assert!(run(dir.path(), &args, &[]).await.status.success());
    let before = std::fs::read(dir.path().join("sync.c1z")).expect("read");

    mock.revoke_token();
    let out = run(dir.path(), &args, &[]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: ") && last.contains("revoked"), "{stderr}");
    // Said once: the cause is not repeated after the message that already holds it.
    assert_eq!(last.matches("was rejected").count(), 1, "{last}");
    assert!(!stdout.contains(&token) && !stderr.contains(&token));
    assert_eq!(std::fs::read(dir.path().join("sync.c1z")).expect("read"), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capabilities_and_config_print_json() {
    let dir = tempdir();
    let out = run(dir.path(), &["capabilities"], &[]).await;
    assert!(out.status.success());
    let caps: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let types = caps["resourceTypeCapabilities"].as_array().expect("array");
    let mut ids: Vec<&str> = types.iter().filter_map(|t| t["resourceType"]["id"].as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["group", "role", "user"]);
    for t in types {
        // Every type syncs; what each provisions is checked in tests/provision.rs.
        assert_eq!(t["capabilities"][0], "CAPABILITY_SYNC");
    }

    let out = run(dir.path(), &["config"], &[]).await;
    assert!(out.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let token = schema["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .find(|f| f["name"] == "scim-token")
        .expect("scim-token");
    assert_eq!(token["isSecret"], true);
    assert_eq!(token["isRequired"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_flags_fail_clearly() {
    let dir = tempdir();
    for bad in ["0", "101"] {
        let out = run(dir.path(), &["--scim-token", "secret_tok_123", "--page-size", bad], &[]).await;
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2));
        // The first line names the flag, the value and the rule.
        let first = stderr.lines().next().unwrap_or_default();
        assert!(first.contains("--page-size") && first.contains("1..=100"), "{stderr}");
        assert!(!stderr.contains("secret_tok_123"));
    }
    let out = run(dir.path(), &[], &[("BATON_PAGE_SIZE", "500")]).await;
    assert!(!out.status.success());
    assert!(text(&out).1.contains("page-size"));

    let out = run(dir.path(), &[], &[]).await;
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("SCIM token is missing"), "{stderr}");

    let out = run(
        dir.path(),
        &["--sync-resource-types", "user,widget", "--scim-token", "t"],
        &[],
    )
    .await;
    assert!(!out.status.success());
    assert!(text(&out).1.contains("widget"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_line_errors_are_shown_whole() {
    let dir = tempdir();
    // The missing arguments are named (on clap's later lines, once cut off).
    let out = run(dir.path(), &["--grant-entitlement", "role:member:assigned"], &[]).await;
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("required arguments were not provided")
            && stderr.contains("--grant-principal <ID>")
            && stderr.contains("--grant-principal-type <TYPE>"),
        "{stderr}"
    );
    // clap's tip about a similar flag survives.
    let out = run(dir.path(), &["--page-sise", "5"], &[]).await;
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("similar argument") && stderr.contains("--page-size"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_config_keys_are_named_with_the_nearest_known_one() {
    let mock = org().await;
    let dir = tempdir();
    std::fs::write(
        dir.path().join(".baton.yaml"),
        format!(
            "scim_tokn: {}\nbase-url: {}\npage_sise: 10\nlog-level: warn\n",
            mock.token(),
            mock.base_url()
        ),
    )
    .expect("write");
    // The misspelt token is why the run fails: the warning says so before the error.
    let out = run(dir.path(), &["--log-format", "console"], &[]).await;
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("unknown key \"scim_tokn\"") && stderr.contains("\"scim-token\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("unknown key \"page_sise\"") && stderr.contains("\"page-size\""),
        "{stderr}"
    );
    let warning = stderr.find("scim_tokn").unwrap_or(usize::MAX);
    let error = stderr.find("SCIM token is missing").unwrap_or(0);
    assert!(warning < error, "the warning comes first: {stderr}");
    assert!(!stderr.contains(mock.token()), "the token leaked");
    // Spelt right, no warning, and the sync runs.
    std::fs::write(
        dir.path().join(".baton.yaml"),
        format!(
            "scim_token: {}\nbase-url: {}\nlog-level: warn\n",
            mock.token(),
            mock.base_url()
        ),
    )
    .expect("write");
    let out = run(dir.path(), &["--log-format", "console"], &[]).await;
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("unknown key"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_base_url_without_scim_v2_is_explained() {
    let mock = org().await;
    let dir = tempdir();
    let bare = mock.base_url().trim_end_matches("/scim/v2").to_owned();
    assert_ne!(bare, mock.base_url());
    let user = mock.truth().users[0].id.clone();
    let env = [("BATON_SCIM_TOKEN", mock.token())];
    let revoke = format!("group:{}:member:user:{user}", mock.truth().groups[0].id);
    for args in [
        vec!["--base-url", bare.as_str()],
        vec!["validate", "--base-url", bare.as_str()],
        vec![
            "--base-url",
            bare.as_str(),
            "--delete-resource",
            user.as_str(),
            "--delete-resource-type",
            "user",
        ],
        vec!["--base-url", bare.as_str(), "--revoke-grant", revoke.as_str()],
    ] {
        let out = run(dir.path(), &args, &env).await;
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stdout} {stderr}");
        let said = format!("{stdout}{stderr}");
        assert!(
            said.contains("404") && said.contains("lacks /scim/v2") && said.contains("https://api.notion.com/scim/v2"),
            "{args:?}: {said}"
        );
    }
    assert!(!dir.path().join("sync.c1z").exists());
    assert!(mock.truth().user(&user).is_some(), "nothing was deleted");
    // With /scim/v2 a 404 still means "not there".
    let gone = uuid::Uuid::new_v4().to_string();
    let out = run(
        dir.path(),
        &[
            "--base-url",
            &mock.base_url(),
            "--delete-resource",
            &gone,
            "--delete-resource-type",
            "user",
        ],
        &env,
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    assert!(text(&out).0.contains("already_deleted"));
}
