//! `baton-notion config`: the configuration schema, in the JSON shape baton-sdk prints
//! (`fields` with `name`, `description`, flags such as `isSecret`, and one typed field).

use serde_json::{json, Map, Value};

use crate::config::{
    DEFAULT_HTTP_TIMEOUT_SECONDS, DEFAULT_LOG_LEVEL, DEFAULT_REQUESTS_PER_MINUTE, MAX_HTTP_TIMEOUT_SECONDS,
    MAX_LIST_WALKS, MAX_REQUESTS_IN_FLIGHT, MAX_REQUESTS_PER_MINUTE,
};
use crate::scim::client::pager::DEFAULT_MAX_WALKS;
use crate::scim::client::{DEFAULT_IN_FLIGHT, MAX_PAGE_SIZE};

enum Kind {
    Bool,
    String { default: Option<&'static str> },
    Int { default: i64, gte: i64, lte: i64 },
}

struct Field {
    name: &'static str,
    display_name: Option<&'static str>,
    description: &'static str,
    required: bool,
    secret: bool,
    ops: bool,
    kind: Kind,
}

/// Connector fields and the operational fields a deployment may set. CLI-only flags (`--file`,
/// `--base-url`, `--log-format`, `--sync-resource-types`, `-p`) are left out, as baton-sdk does,
/// and so are the operational fields of baton-sdk's that this connector refuses (OpenTelemetry,
/// the session store). Of service mode's health check, the switch and the bind address are
/// listed; the port is a flag only (`--health-check-port`, 8081), because baton-sdk's field
/// states no bounds and every integer field here states its bounds. The shape is baton-sdk's, as ConductorOne's
/// baton-notion prints it (compared by `conformance/tests/parity_cli.rs`).
fn fields() -> Vec<Field> {
    vec![
        Field {
            name: "log-level",
            display_name: None,
            description: "Least severe log events shown: trace, debug, info, warn or error",
            required: false,
            secret: false,
            ops: true,
            kind: Kind::String {
                default: Some(DEFAULT_LOG_LEVEL),
            },
        },
        Field {
            name: "log-level-debug-expires-at",
            display_name: None,
            description: "After this moment (RFC 3339), a debug or trace log level falls back to info",
            required: false,
            secret: false,
            ops: true,
            kind: Kind::String { default: None },
        },
        Field {
            name: "health-check",
            display_name: None,
            description: "In service mode, serve /health, /ready and /live for probes",
            required: false,
            secret: false,
            ops: true,
            kind: Kind::Bool,
        },
        Field {
            name: "health-check-bind-address",
            display_name: None,
            description: "The address the service-mode health server listens on",
            required: false,
            secret: false,
            ops: true,
            kind: Kind::String {
                default: Some(crate::config::DEFAULT_HEALTH_CHECK_BIND_ADDRESS),
            },
        },
        Field {
            name: "http-timeout-seconds",
            display_name: None,
            description: "Seconds before one HTTP request gives up (at most 1800)",
            required: false,
            secret: false,
            ops: true,
            kind: Kind::Int {
                default: DEFAULT_HTTP_TIMEOUT_SECONDS as i64,
                gte: 1,
                lte: MAX_HTTP_TIMEOUT_SECONDS as i64,
            },
        },
        Field {
            name: "page-size",
            display_name: Some("SCIM page size"),
            description: "Items per SCIM list page (Notion allows at most 100)",
            required: false,
            secret: false,
            ops: true,
            kind: Kind::Int {
                default: i64::from(MAX_PAGE_SIZE),
                gte: 1,
                lte: i64::from(MAX_PAGE_SIZE),
            },
        },
        Field {
            name: "requests-per-minute",
            display_name: Some("Requests per minute"),
            description: "The connector's own ceiling on SCIM requests per minute, evenly spaced",
            required: false,
            secret: false,
            ops: true,
            kind: Kind::Int {
                default: i64::from(DEFAULT_REQUESTS_PER_MINUTE),
                gte: 1,
                lte: i64::from(MAX_REQUESTS_PER_MINUTE),
            },
        },
        Field {
            name: "requests-in-flight",
            display_name: Some("Requests in flight"),
            description: "SCIM requests on the wire at once at most: list pages fetched ahead, both lists together",
            required: false,
            secret: false,
            ops: true,
            kind: Kind::Int {
                default: DEFAULT_IN_FLIGHT as i64,
                gte: 1,
                lte: i64::from(MAX_REQUESTS_IN_FLIGHT),
            },
        },
        Field {
            name: "max-list-walks",
            display_name: Some("List walks"),
            description: "Walks of each SCIM list a sync may make while the org changes under it before it fails",
            required: false,
            secret: false,
            ops: true,
            kind: Kind::Int {
                default: i64::from(DEFAULT_MAX_WALKS),
                gte: 1,
                lte: i64::from(MAX_LIST_WALKS),
            },
        },
        Field {
            name: "scim-token",
            display_name: Some("Notion SCIM token"),
            description: "The workspace's SCIM API token, made by a workspace owner (secret).",
            required: true,
            secret: true,
            ops: false,
            kind: Kind::String { default: None },
        },
    ]
}

pub fn config_schema_json() -> Value {
    let fields: Vec<Value> = fields()
        .into_iter()
        .map(|f| {
            let mut m = Map::new();
            m.insert("name".into(), json!(f.name));
            if let Some(d) = f.display_name {
                m.insert("displayName".into(), json!(d));
            }
            m.insert("description".into(), json!(f.description));
            if f.ops {
                m.insert("isOps".into(), json!(true));
            }
            if f.required {
                m.insert("isRequired".into(), json!(true));
            }
            if f.secret {
                m.insert("isSecret".into(), json!(true));
            }
            match f.kind {
                Kind::Bool => {
                    m.insert("boolField".into(), json!({}));
                }
                Kind::String { default } => {
                    let mut s = Map::new();
                    if let Some(d) = default {
                        s.insert("defaultValue".into(), json!(d));
                    }
                    if f.required {
                        s.insert("rules".into(), json!({ "isRequired": true }));
                    }
                    m.insert("stringField".into(), Value::Object(s));
                }
                // protojson prints int64 as strings.
                Kind::Int { default, gte, lte } => {
                    m.insert(
                        "intField".into(),
                        json!({
                            "defaultValue": default.to_string(),
                            "rules": { "gte": gte.to_string(), "lte": lte.to_string() }
                        }),
                    );
                }
            }
            Value::Object(m)
        })
        .collect();
    json!({
        "fields": fields,
        "displayName": "Notion",
        "helpUrl": "/docs/baton/notion",
        "iconUrl": "/static/app-icons/notion.svg"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_required_and_secret() {
        let schema = config_schema_json();
        let token = schema["fields"]
            .as_array()
            .and_then(|f| f.iter().find(|f| f["name"] == "scim-token"))
            .cloned()
            .unwrap_or_default();
        assert_eq!(token["isSecret"], true);
        assert_eq!(token["isRequired"], true);
        assert_eq!(schema["displayName"], "Notion");
        let field = |name: &str| {
            schema["fields"]
                .as_array()
                .and_then(|f| f.iter().find(|f| f["name"] == name))
                .cloned()
                .unwrap_or_default()
        };
        assert_eq!(field("health-check")["boolField"], json!({}));
        assert_eq!(
            field("health-check-bind-address")["stringField"]["defaultValue"],
            "127.0.0.1"
        );
    }

    /// Every number the schema offers is one `.baton.yaml` takes under that name, its default
    /// is the one a run uses, and its bounds are the ones a run enforces.
    #[test]
    fn each_number_field_matches_what_a_run_reads() {
        use crate::config::{ConfigFile, Flags, Settings};

        let defaults = Settings::resolve(Flags::default(), None).ok();
        let default_of = |name: &str| -> Option<i64> {
            let s = defaults.as_ref()?;
            Some(match name {
                "http-timeout-seconds" => s.http_timeout_seconds as i64,
                "page-size" => i64::from(s.page_size),
                "requests-per-minute" => i64::from(s.requests_per_minute),
                "requests-in-flight" => i64::from(s.requests_in_flight),
                "max-list-walks" => i64::from(s.max_list_walks),
                _ => return None,
            })
        };
        let resolves = |name: &str, value: i64| {
            let text = format!("{name}: {value}\n");
            ConfigFile::parse(std::path::Path::new(".baton.yaml"), &text)
                .ok()
                .is_some_and(|file| Settings::resolve(Flags::default(), Some(&file)).is_ok())
        };
        let mut numbers = Vec::new();
        for f in fields() {
            let Kind::Int { default, gte, lte } = f.kind else {
                continue;
            };
            numbers.push(f.name);
            assert_eq!(default_of(f.name), Some(default), "{}: default", f.name);
            assert!(resolves(f.name, gte) && resolves(f.name, lte), "{}: bounds", f.name);
            assert!(!resolves(f.name, gte - 1), "{}: below {gte} taken", f.name);
            assert!(!resolves(f.name, lte + 1), "{}: above {lte} taken", f.name);
        }
        numbers.sort_unstable();
        assert_eq!(
            numbers,
            [
                "http-timeout-seconds",
                "max-list-walks",
                "page-size",
                "requests-in-flight",
                "requests-per-minute"
            ]
        );
    }
}
