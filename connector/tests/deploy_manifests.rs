//! The Kubernetes manifests and the image's Containerfile (`deploy/`), validated without a
//! cluster or downloaded schemas: what a platform engineer relies on when applying them. Each
//! rule is also shown to fire on a manifest broken the way it guards against.
//!
//! Rules: the Secret holds ConductorOne's documented keys as strings and no real secret; the
//! Deployment's selector matches its pod labels, which carry `baton: "true"` and
//! `baton-app: notion` as strings; `BATON_HOST_ID` is set and the secrets come only from the
//! Secret; liveness and readiness probes reach the health check (the binary's own `health-check`
//! client on the endpoints it serves, or an HTTP GET on its port and paths, which then must
//! listen beyond loopback); the pod runs as the image's non-root user with a read-only root
//! filesystem, no privilege escalation and no capabilities; the working directory is a
//! writable emptyDir; and no field is misspelt (known fields only, where a typo would silently
//! drop a setting).

// Helpers outside #[test] fns are test code too: clippy.toml's in-tests allowances do not reach them.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

/// Where the health-check server listens unless told otherwise (baton-sdk's defaults).
const DEFAULT_HEALTH_PORT: i64 = 8081;
const DEFAULT_HEALTH_BIND: &str = "127.0.0.1";
/// The endpoints baton's health-check server answers.
const HEALTH_ENDPOINTS: [&str; 3] = ["health", "ready", "live"];
/// The keys ConductorOne's documented Secret for baton-notion holds.
const SECRET_KEYS: [&str; 3] = ["BATON_CLIENT_ID", "BATON_CLIENT_SECRET", "BATON_SCIM_TOKEN"];
/// Values that must never be written into the Deployment itself.
const SECRET_ENV: [&str; 3] = ["BATON_CLIENT_SECRET", "BATON_SCIM_TOKEN", "BATON_CLIENT_ID"];

/// Fields of a Kubernetes `Container` (core/v1), so that a misspelt one is caught: `kubectl`
/// would only warn, and the setting would be lost.
const CONTAINER_FIELDS: [&str; 22] = [
    "name",
    "image",
    "command",
    "args",
    "workingDir",
    "ports",
    "envFrom",
    "env",
    "resources",
    "resizePolicy",
    "restartPolicy",
    "volumeMounts",
    "volumeDevices",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
    "terminationMessagePath",
    "terminationMessagePolicy",
    "imagePullPolicy",
    "securityContext",
    "stdin",
];
/// Fields of a `PodSpec` this project may use.
const POD_FIELDS: [&str; 16] = [
    "containers",
    "initContainers",
    "volumes",
    "securityContext",
    "serviceAccountName",
    "automountServiceAccountToken",
    "nodeSelector",
    "affinity",
    "tolerations",
    "imagePullSecrets",
    "terminationGracePeriodSeconds",
    "restartPolicy",
    "priorityClassName",
    "topologySpreadConstraints",
    "dnsPolicy",
    "enableServiceLinks",
];
const PROBE_FIELDS: [&str; 9] = [
    "exec",
    "httpGet",
    "tcpSocket",
    "grpc",
    "initialDelaySeconds",
    "periodSeconds",
    "timeoutSeconds",
    "successThreshold",
    "failureThreshold",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn load(rel: &str) -> Value {
    let path = repo().join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{rel} does not parse: {e}"))
}

/// What the image's Containerfile says: the entrypoint and the user.
#[derive(Debug, Clone)]
struct Image {
    entrypoint: Vec<String>,
    user: String,
}

fn image() -> Image {
    let path = repo().join("deploy/baton-notion.Containerfile");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_containerfile(&text)
}

fn parse_containerfile(text: &str) -> Image {
    let mut entrypoint = None;
    let mut user = None;
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("ENTRYPOINT ") {
            entrypoint = Some(serde_json::from_str::<Vec<String>>(rest).expect("ENTRYPOINT in exec (JSON) form"));
        } else if let Some(rest) = line.strip_prefix("USER ") {
            user = Some(rest.trim().to_string());
        }
    }
    Image {
        entrypoint: entrypoint.expect("the Containerfile has an ENTRYPOINT"),
        user: user.expect("the Containerfile has a USER"),
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(v, path).and_then(Value::as_str)
}

fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(*k))
}

fn keys(m: &Value) -> Vec<String> {
    m.as_mapping()
        .map(|m| m.keys().filter_map(|k| k.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

fn unknown_fields(problems: &mut Vec<String>, what: &str, v: &Value, known: &[&str]) {
    for k in keys(v) {
        if !known.contains(&k.as_str()) {
            problems.push(format!("{what}: unknown field {k:?}"));
        }
    }
}

/// Go's boolean spellings, as baton-sdk reads environment variables.
fn go_true(s: &str) -> bool {
    matches!(s, "1" | "t" | "T" | "TRUE" | "true" | "True")
}

fn check_secret(secret: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if str_at(secret, &["apiVersion"]) != Some("v1") || str_at(secret, &["kind"]) != Some("Secret") {
        problems.push("secret: not a v1 Secret".to_string());
    }
    if str_at(secret, &["metadata", "name"]).is_none() {
        problems.push("secret: no metadata.name".to_string());
    }
    if str_at(secret, &["type"]) != Some("Opaque") {
        problems.push("secret: type is not Opaque".to_string());
    }
    let Some(data) = secret.get("stringData").and_then(Value::as_mapping) else {
        problems.push("secret: no stringData".to_string());
        return problems;
    };
    for key in SECRET_KEYS {
        if data.get(key).is_none() {
            problems.push(format!("secret: no key {key}"));
        }
    }
    for (k, v) in data {
        let k = k.as_str().unwrap_or("?");
        match v.as_str() {
            None => problems.push(format!("secret: {k} is not a string (Kubernetes refuses it; quote it)")),
            // A committed manifest holds placeholders only.
            Some(s) if SECRET_ENV.contains(&k) && !(s.starts_with('<') && s.ends_with('>')) => {
                problems.push(format!("secret: {k} holds a value, not a <placeholder>"));
            }
            Some(_) => {}
        }
    }
    problems
}

/// The value of an environment variable set literally in the container, if any.
fn env_value<'a>(container: &'a Value, name: &str) -> Option<&'a str> {
    container
        .get("env")?
        .as_sequence()?
        .iter()
        .find(|e| str_at(e, &["name"]) == Some(name))
        .and_then(|e| str_at(e, &["value"]))
}

fn check_probe(problems: &mut Vec<String>, kind: &str, probe: Option<&Value>, want: &[&str], ctx: &ProbeCtx) {
    let Some(probe) = probe else {
        problems.push(format!("deployment: no {kind}"));
        return;
    };
    unknown_fields(problems, &format!("deployment: {kind}"), probe, &PROBE_FIELDS);
    if let Some(exec) = probe.get("exec") {
        let command: Vec<&str> = exec
            .get("command")
            .and_then(Value::as_sequence)
            .map(|s| s.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let (entry, rest) = command.split_at(ctx.entrypoint.len().min(command.len()));
        if entry != ctx.entrypoint.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            problems.push(format!(
                "deployment: {kind} runs {command:?}, not the image's entrypoint {:?}",
                ctx.entrypoint
            ));
            return;
        }
        let endpoint = match rest {
            ["health-check"] => Some("health"),
            ["health-check", flag] => flag.strip_prefix("--endpoint="),
            ["health-check", "--endpoint", e] => Some(*e),
            _ => None,
        };
        match endpoint {
            None => problems.push(format!(
                "deployment: {kind} is not `health-check [--endpoint=E]`: {rest:?}"
            )),
            Some(e) if !HEALTH_ENDPOINTS.contains(&e) => {
                problems.push(format!(
                    "deployment: {kind} asks for endpoint {e:?}, not one of {HEALTH_ENDPOINTS:?}"
                ));
            }
            Some(e) if !want.contains(&e) => {
                problems.push(format!("deployment: {kind} checks {e:?}; expected one of {want:?}"));
            }
            Some(_) => {}
        }
    } else if let Some(get) = probe.get("httpGet") {
        let path = str_at(get, &["path"]).unwrap_or("/");
        if !want.iter().any(|w| path == format!("/{w}")) {
            problems.push(format!(
                "deployment: {kind} GETs {path}; expected one of {want:?} as a path"
            ));
        }
        let port = get.get("port").and_then(Value::as_i64);
        if port != Some(ctx.port) {
            problems.push(format!(
                "deployment: {kind} GETs port {port:?}, the health check listens on {}",
                ctx.port
            ));
        }
        if ctx.bind.starts_with("127.") || ctx.bind == "localhost" || ctx.bind == "::1" {
            problems.push(format!(
                "deployment: {kind} is an HTTP GET from the kubelet, but the health check listens on {} only",
                ctx.bind
            ));
        }
    } else {
        problems.push(format!(
            "deployment: {kind} neither runs `health-check` nor GETs the health check"
        ));
    }
}

#[derive(Debug)]
struct ProbeCtx {
    entrypoint: Vec<String>,
    port: i64,
    bind: String,
}

fn check_deployment(deploy: &Value, secret_name: &str, image: &Image) -> Vec<String> {
    let mut problems = Vec::new();
    if str_at(deploy, &["apiVersion"]) != Some("apps/v1") || str_at(deploy, &["kind"]) != Some("Deployment") {
        problems.push("deployment: not an apps/v1 Deployment".to_string());
    }
    let Some(template) = at(deploy, &["spec", "template"]) else {
        problems.push("deployment: no spec.template".to_string());
        return problems;
    };
    // Labels: strings, the selector matching, baton's two.
    let labels = template.get("metadata").and_then(|m| m.get("labels"));
    let label = |k: &str| labels.and_then(|l| l.get(k));
    for (k, v) in labels.and_then(Value::as_mapping).into_iter().flatten() {
        if !v.is_string() {
            problems.push(format!(
                "deployment: pod label {} is not a string (quote it)",
                k.as_str().unwrap_or("?")
            ));
        }
    }
    match at(deploy, &["spec", "selector", "matchLabels"]).and_then(Value::as_mapping) {
        None => problems.push("deployment: no spec.selector.matchLabels".to_string()),
        Some(sel) if sel.is_empty() => problems.push("deployment: an empty selector".to_string()),
        Some(sel) => {
            for (k, v) in sel {
                if label(k.as_str().unwrap_or("")) != Some(v) {
                    problems.push(format!(
                        "deployment: selector {}={v:?} does not match the pod's labels",
                        k.as_str().unwrap_or("?")
                    ));
                }
            }
        }
    }
    if label("baton").and_then(Value::as_str) != Some("true") {
        problems.push("deployment: pod label baton is not \"true\"".to_string());
    }
    if label("baton-app").and_then(Value::as_str) != Some("notion") {
        problems.push("deployment: pod label baton-app is not \"notion\"".to_string());
    }

    let Some(pod) = template.get("spec") else {
        problems.push("deployment: no pod spec".to_string());
        return problems;
    };
    unknown_fields(&mut problems, "deployment: pod spec", pod, &POD_FIELDS);
    let containers = pod
        .get("containers")
        .and_then(Value::as_sequence)
        .cloned()
        .unwrap_or_default();
    let [container] = containers.as_slice() else {
        problems.push(format!("deployment: {} containers, expected one", containers.len()));
        return problems;
    };
    unknown_fields(&mut problems, "deployment: container", container, &CONTAINER_FIELDS);
    let image_ref = str_at(container, &["image"]).unwrap_or("");
    let repository = image_ref.rsplit_once(':').map_or(image_ref, |(r, _)| r);
    if !repository.ends_with("/baton-notion") && repository != "baton-notion" {
        problems.push(format!("deployment: image {image_ref:?} is not baton-notion"));
    }
    if container.get("command").is_some() {
        problems.push("deployment: `command` replaces the image's entrypoint".to_string());
    }

    // Environment: the host id, the secrets from the Secret and nowhere else, the health check.
    if env_value(container, "BATON_HOST_ID").is_none_or(str::is_empty) {
        problems.push("deployment: BATON_HOST_ID is not set".to_string());
    }
    for e in container.get("env").and_then(Value::as_sequence).into_iter().flatten() {
        let name = str_at(e, &["name"]).unwrap_or("");
        if SECRET_ENV.contains(&name) && e.get("value").is_some() {
            problems.push(format!(
                "deployment: {name} is written into the Deployment; it belongs in the Secret"
            ));
        }
    }
    let from_secret = container
        .get("envFrom")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .any(|e| str_at(e, &["secretRef", "name"]) == Some(secret_name));
    if !from_secret {
        problems.push(format!("deployment: envFrom does not name the Secret {secret_name}"));
    }
    if !env_value(container, "BATON_HEALTH_CHECK").is_some_and(go_true) {
        problems.push("deployment: BATON_HEALTH_CHECK is not true: the probes would find no server".to_string());
    }
    let port = match env_value(container, "BATON_HEALTH_CHECK_PORT") {
        None => Some(DEFAULT_HEALTH_PORT),
        Some(p) => p.parse::<i64>().ok().filter(|p| (1..=65535).contains(p)),
    };
    let Some(port) = port else {
        problems.push("deployment: BATON_HEALTH_CHECK_PORT is not a port number".to_string());
        return problems;
    };
    let ctx = ProbeCtx {
        entrypoint: image.entrypoint.clone(),
        port,
        bind: env_value(container, "BATON_HEALTH_CHECK_BIND_ADDRESS")
            .unwrap_or(DEFAULT_HEALTH_BIND)
            .to_string(),
    };
    check_probe(
        &mut problems,
        "livenessProbe",
        container.get("livenessProbe"),
        &["live"],
        &ctx,
    );
    check_probe(
        &mut problems,
        "readinessProbe",
        container.get("readinessProbe"),
        &["ready", "health"],
        &ctx,
    );
    if let Some(startup) = container.get("startupProbe") {
        check_probe(&mut problems, "startupProbe", Some(startup), &["live"], &ctx);
    }

    // Security: non-root (the image's user), read-only root, nothing to escalate.
    let sc = |k: &str| at(container, &["securityContext", k]).or_else(|| at(pod, &["securityContext", k]));
    if sc("runAsNonRoot").and_then(Value::as_bool) != Some(true) {
        problems.push("deployment: runAsNonRoot is not true".to_string());
    }
    let image_uid = image.user.split(':').next().and_then(|u| u.parse::<i64>().ok());
    match (sc("runAsUser").and_then(Value::as_i64), image_uid) {
        (Some(0), _) => problems.push("deployment: runAsUser is 0".to_string()),
        (Some(uid), Some(img)) if uid != img => {
            problems.push(format!("deployment: runAsUser {uid}, the image's user is {img}"));
        }
        (None, None) => problems.push("deployment: no numeric user in the pod or the image".to_string()),
        _ => {}
    }
    let csc = |k: &str| at(container, &["securityContext", k]);
    if csc("readOnlyRootFilesystem").and_then(Value::as_bool) != Some(true) {
        problems.push("deployment: readOnlyRootFilesystem is not true".to_string());
    }
    if csc("allowPrivilegeEscalation").and_then(Value::as_bool) != Some(false) {
        problems.push("deployment: allowPrivilegeEscalation is not false".to_string());
    }
    if csc("privileged").and_then(Value::as_bool) == Some(true) {
        problems.push("deployment: privileged".to_string());
    }
    let drops_all = at(container, &["securityContext", "capabilities", "drop"])
        .and_then(Value::as_sequence)
        .is_some_and(|d| d.iter().any(|c| c.as_str() == Some("ALL")));
    if !drops_all {
        problems.push("deployment: capabilities are not all dropped".to_string());
    }

    // The working directory (sync.c1z and work files) and /tmp: an emptyDir.
    let workdir = str_at(container, &["workingDir"]).unwrap_or("/");
    let empty_dirs: Vec<&str> = pod
        .get("volumes")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter(|v| v.get("emptyDir").is_some())
        .filter_map(|v| str_at(v, &["name"]))
        .collect();
    let writable: Vec<&str> = container
        .get("volumeMounts")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter(|m| str_at(m, &["name"]).is_some_and(|n| empty_dirs.contains(&n)))
        .filter(|m| at(m, &["readOnly"]).and_then(Value::as_bool) != Some(true))
        .filter_map(|m| str_at(m, &["mountPath"]))
        .collect();
    let inside = |dir: &str| {
        writable
            .iter()
            .any(|m| dir == *m || dir.starts_with(&format!("{}/", m.trim_end_matches('/'))))
    };
    if !inside("/tmp") {
        problems.push("deployment: /tmp is not a writable emptyDir".to_string());
    }
    if !inside(workdir) {
        problems.push(format!(
            "deployment: the working directory {workdir} is not on a writable emptyDir"
        ));
    }
    problems
}

fn check_kustomization(k: &Value, deploy: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for r in k.get("resources").and_then(Value::as_sequence).into_iter().flatten() {
        let r = r.as_str().unwrap_or("");
        if !repo().join("deploy/kubernetes").join(r).is_file() {
            problems.push(format!("kustomization: resource {r} is not a file beside it"));
        }
    }
    let image = at(deploy, &["spec", "template", "spec", "containers"])
        .and_then(|c| c.get(0))
        .and_then(|c| str_at(c, &["image"]))
        .unwrap_or("");
    let repository = image.rsplit_once(':').map_or(image, |(r, _)| r);
    for i in k.get("images").and_then(Value::as_sequence).into_iter().flatten() {
        if str_at(i, &["name"]) != Some(repository) {
            problems.push(format!(
                "kustomization: image {:?} is not the Deployment's {repository:?}",
                str_at(i, &["name"])
            ));
        }
    }
    problems
}

fn manifests() -> (Value, Value, Value) {
    (
        load("deploy/kubernetes/secret.yaml"),
        load("deploy/kubernetes/deployment.yaml"),
        load("deploy/kubernetes/kustomization.yaml"),
    )
}

fn secret_name(secret: &Value) -> String {
    str_at(secret, &["metadata", "name"]).unwrap_or_default().to_string()
}

#[test]
fn the_repository_manifests_are_valid() {
    let (secret, deploy, kust) = manifests();
    let mut problems = check_secret(&secret);
    problems.extend(check_deployment(&deploy, &secret_name(&secret), &image()));
    problems.extend(check_kustomization(&kust, &deploy));
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(secret_name(&secret), "baton-notion-secrets");
    assert_eq!(image().entrypoint, ["/baton-notion"]);
}

fn container_mut(deploy: &mut Value) -> &mut Mapping {
    deploy["spec"]["template"]["spec"]["containers"][0]
        .as_mapping_mut()
        .expect("a container")
}

/// Breaks the Deployment with `f` and checks the validator names the problem.
fn deployment_broken(f: impl FnOnce(&mut Value), expect: &str) {
    let (secret, mut deploy, _) = manifests();
    f(&mut deploy);
    let problems = check_deployment(&deploy, &secret_name(&secret), &image());
    assert!(
        problems.iter().any(|p| p.contains(expect)),
        "expected a problem containing {expect:?}, got {problems:#?}"
    );
}

#[test]
fn a_writable_root_filesystem_is_caught() {
    deployment_broken(
        |d| {
            container_mut(d)["securityContext"]
                .as_mapping_mut()
                .unwrap()
                .remove("readOnlyRootFilesystem");
        },
        "readOnlyRootFilesystem is not true",
    );
    deployment_broken(
        |d| container_mut(d)["securityContext"]["allowPrivilegeEscalation"] = Value::Bool(true),
        "allowPrivilegeEscalation is not false",
    );
}

#[test]
fn root_is_caught() {
    deployment_broken(
        |d| d["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] = Value::Bool(false),
        "runAsNonRoot is not true",
    );
    deployment_broken(
        |d| d["spec"]["template"]["spec"]["securityContext"]["runAsUser"] = Value::from(1000),
        "runAsUser 1000, the image's user is 65532",
    );
}

#[test]
fn boolean_labels_and_a_stray_selector_are_caught() {
    deployment_broken(
        |d| d["spec"]["template"]["metadata"]["labels"]["baton"] = Value::Bool(true),
        "pod label baton is not a string",
    );
    deployment_broken(
        |d| d["spec"]["selector"]["matchLabels"]["app"] = Value::from("notion"),
        "does not match the pod's labels",
    );
    deployment_broken(
        |d| {
            d["spec"]["template"]["metadata"]["labels"]
                .as_mapping_mut()
                .unwrap()
                .remove("baton-app");
        },
        "baton-app",
    );
}

#[test]
fn probes_that_miss_the_health_check_are_caught() {
    deployment_broken(
        |d| {
            container_mut(d)["livenessProbe"]["exec"]["command"] =
                serde_yaml::from_str(r#"["/baton-notion", "health-check", "--endpoint=alive"]"#).unwrap();
        },
        "endpoint \"alive\"",
    );
    deployment_broken(
        |d| {
            container_mut(d)["readinessProbe"]["exec"]["command"] =
                serde_yaml::from_str(r#"["/bin/baton-notion", "health-check", "--endpoint=ready"]"#).unwrap();
        },
        "not the image's entrypoint",
    );
    deployment_broken(
        |d| {
            container_mut(d).remove("readinessProbe");
        },
        "no readinessProbe",
    );
    // An HTTP probe: the path and port must be the health check's, and it must listen beyond
    // loopback for the kubelet to reach it.
    deployment_broken(
        |d| {
            container_mut(d)["livenessProbe"] = serde_yaml::from_str("{httpGet: {path: /live, port: 8080}}").unwrap();
        },
        "port Some(8080)",
    );
    deployment_broken(
        |d| {
            container_mut(d)["livenessProbe"] = serde_yaml::from_str("{httpGet: {path: /live, port: 8081}}").unwrap();
        },
        "listens on 127.0.0.1 only",
    );
    deployment_broken(
        |d| {
            let env = container_mut(d)["env"].as_sequence_mut().unwrap();
            env.retain(|e| e["name"] != "BATON_HEALTH_CHECK");
        },
        "BATON_HEALTH_CHECK is not true",
    );
}

#[test]
fn an_http_probe_on_the_right_port_and_address_passes() {
    let (secret, mut deploy, _) = manifests();
    let c = container_mut(&mut deploy);
    c["livenessProbe"] = serde_yaml::from_str("{httpGet: {path: /live, port: 8081}}").unwrap();
    c["env"]
        .as_sequence_mut()
        .unwrap()
        .push(serde_yaml::from_str("{name: BATON_HEALTH_CHECK_BIND_ADDRESS, value: 0.0.0.0}").unwrap());
    let problems = check_deployment(&deploy, &secret_name(&secret), &image());
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn secrets_outside_the_secret_and_a_missing_host_id_are_caught() {
    deployment_broken(
        |d| {
            container_mut(d)["env"]
                .as_sequence_mut()
                .unwrap()
                .push(serde_yaml::from_str("{name: BATON_SCIM_TOKEN, value: secret_abc}").unwrap());
        },
        "BATON_SCIM_TOKEN is written into the Deployment",
    );
    deployment_broken(
        |d| container_mut(d)["envFrom"][0]["secretRef"]["name"] = Value::from("other"),
        "envFrom does not name the Secret baton-notion-secrets",
    );
    deployment_broken(
        |d| {
            container_mut(d)["env"]
                .as_sequence_mut()
                .unwrap()
                .retain(|e| e["name"] != "BATON_HOST_ID");
        },
        "BATON_HOST_ID is not set",
    );
}

#[test]
fn no_writable_working_directory_is_caught() {
    deployment_broken(
        |d| {
            container_mut(d).remove("volumeMounts");
        },
        "/tmp is not a writable emptyDir",
    );
    deployment_broken(
        |d| container_mut(d)["workingDir"] = Value::from("/data"),
        "the working directory /data is not on a writable emptyDir",
    );
}

#[test]
fn a_misspelt_field_is_caught() {
    deployment_broken(
        |d| {
            let c = container_mut(d);
            let probe = c.remove("readinessProbe").unwrap();
            c.insert(Value::from("readinesProbe"), probe);
        },
        "unknown field \"readinesProbe\"",
    );
}

#[test]
fn a_broken_secret_is_caught() {
    let (secret, _, _) = manifests();
    let broken = |f: &dyn Fn(&mut Mapping), expect: &str| {
        let mut s = secret.clone();
        f(s["stringData"].as_mapping_mut().unwrap());
        let problems = check_secret(&s);
        assert!(
            problems.iter().any(|p| p.contains(expect)),
            "{expect:?} not in {problems:#?}"
        );
    };
    broken(
        &|m| {
            m.remove("BATON_SCIM_TOKEN");
        },
        "no key BATON_SCIM_TOKEN",
    );
    broken(
        &|m| {
            m.insert(Value::from("BATON_PROVISIONING"), Value::Bool(true));
        },
        "BATON_PROVISIONING is not a string",
    );
    broken(
        &|m| {
            m.insert(Value::from("BATON_CLIENT_SECRET"), Value::from("real-looking-secret"));
        },
        "BATON_CLIENT_SECRET holds a value",
    );
}

#[test]
fn the_containerfile_is_read_as_docker_reads_it() {
    let img = parse_containerfile("FROM scratch\nUSER 65532:65532\nENTRYPOINT [\"/x\", \"y\"]\n");
    assert_eq!(img.entrypoint, ["/x", "y"]);
    assert_eq!(img.user, "65532:65532");
    let (secret, deploy, _) = manifests();
    // Another entrypoint in the image: the probes no longer run the binary.
    let moved = Image {
        entrypoint: vec!["/bin/baton-notion".to_string()],
        user: "65532:65532".to_string(),
    };
    let problems = check_deployment(&deploy, &secret_name(&secret), &moved);
    assert!(
        problems.iter().any(|p| p.contains("not the image's entrypoint")),
        "{problems:#?}"
    );
}

#[test]
fn a_kustomization_naming_another_image_is_caught() {
    let (_, deploy, mut kust) = manifests();
    kust["images"][0]["name"] = Value::from("baton-notion");
    let problems = check_kustomization(&kust, &deploy);
    assert!(
        problems.iter().any(|p| p.contains("is not the Deployment's")),
        "{problems:#?}"
    );
    kust["resources"][0] = Value::from("missing.yaml");
    let problems = check_kustomization(&kust, &deploy);
    assert!(problems.iter().any(|p| p.contains("missing.yaml")), "{problems:#?}");
}
