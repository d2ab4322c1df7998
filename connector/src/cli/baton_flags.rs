//! baton-sdk's standard flags, as ConductorOne's Go `baton-notion` accepts them, beyond the ones
//! [`crate::config::Flags`] implements for this connector's own needs.
//!
//! Every flag of the Go connector's `--help` is accepted here with the same meaning, or, when it
//! cannot have one in this connector (OpenTelemetry, other storage
//! engines, targeted syncs), parsed and then refused with an error that names it: a baton user's
//! script never has a flag silently ignored. The refused flags are listed under their own heading
//! in `--help`. A boolean refused flag is refused only when it asks for something (`true`): its
//! `false` asks for what this connector does anyway. The same holds for their `BATON_*`
//! environment twins and their `.baton.yaml` keys.
//!
//! Booleans read the way Go's `strconv.ParseBool` (and so baton-sdk, through viper and pflag)
//! reads them: `1 t T TRUE true True` and `0 f F FALSE false False`, as a flag value
//! (`--flag=T`; a bare `--flag` is `true`), an environment value or a YAML string.

use clap::Args;

use crate::config::{ConfigError, ConfigFile};
use crate::secret::Secret;

/// The `--help` heading of the flags this connector refuses.
const REFUSED: &str = "Baton flags this connector refuses (they name features it does not have)";

/// Go's `strconv.ParseBool`: exactly these twelve spellings.
pub fn parse_go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!(
            "{s:?} is not a boolean (1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False)"
        )),
    }
}

/// Takes any text: a secret is checked later, by an error that never quotes it (clap's own
/// errors print the value).
fn parse_client_secret(s: &str) -> Result<Secret, String> {
    Ok(Secret::new(s.trim()))
}

/// The storage engines baton-sdk names; this connector writes only SQLite c1z files, so
/// `pebble` is refused (by name, in [`BatonFlags::resolve`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageEngine {
    Sqlite,
    Pebble,
}

fn parse_storage_engine(s: &str) -> Result<StorageEngine, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "sqlite" => Ok(StorageEngine::Sqlite),
        "pebble" => Ok(StorageEngine::Pebble),
        _ => Err(format!("{s:?} is not a storage engine (sqlite or pebble)")),
    }
}

const PEBBLE: &str = "this connector writes SQLite c1z files only (sqlite)";

/// An RFC 3339 moment (`2026-12-01T18:00:00Z`, `2026-12-01T19:00:00.5+01:00`) as Unix seconds.
pub fn parse_rfc3339(s: &str) -> Result<i64, String> {
    let bad = || format!("{s:?} is not an RFC 3339 time such as 2026-12-01T18:00:00Z");
    let b = s.trim().as_bytes();
    let num = |r: std::ops::Range<usize>| -> Result<i64, String> {
        let part = b.get(r).ok_or_else(bad)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return Err(bad());
        }
        std::str::from_utf8(part).map_err(|_| bad())?.parse().map_err(|_| bad())
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad());
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return Err(bad());
    }
    let mut rest = &b[19..];
    if let Some(frac) = rest.strip_prefix(b".") {
        let digits = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return Err(bad());
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return Err(bad());
            }
            let v = |x: u8, y: u8| i64::from(x - b'0') * 10 + i64::from(y - b'0');
            let minutes = v(*h1, *h2) * 60 + v(*m1, *m2);
            if *sign == b'+' {
                minutes * 60
            } else {
                -minutes * 60
            }
        }
        _ => return Err(bad()),
    };
    // Days from 1970-01-01 to the date (Howard Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

/// baton-sdk's flags beyond [`crate::config::Flags`]. No field has a clap default, so that
/// "not given" is visible and `.baton.yaml` can fill in.
#[derive(Debug, Clone, Default, Args)]
pub struct BatonFlags {
    /// After this moment (RFC 3339, e.g. 2026-12-01T18:00:00Z), a debug or trace --log-level
    /// falls back to info
    #[arg(long, env = "BATON_LOG_LEVEL_DEBUG_EXPIRES_AT", global = true, value_parser = parse_rfc3339,
          value_name = "TIME")]
    pub log_level_debug_expires_at: Option<i64>,

    /// Run no sync: without a one-shot provisioning flag the run does nothing and writes no file
    #[arg(long, env = "BATON_SKIP_FULL_SYNC", global = true, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse_go_bool, value_name = "BOOL")]
    pub skip_full_sync: Option<bool>,

    /// The c1z's storage engine: sqlite, the only one this connector writes (pebble is refused)
    #[arg(long, env = "BATON_STORAGE_ENGINE", global = true, value_parser = parse_storage_engine,
          value_name = "ENGINE")]
    pub storage_engine: Option<StorageEngine>,

    /// Sync in parallel (baton-sdk's older name for --workers): true is what this connector
    /// always does (users and groups are fetched side by side); false is refused
    #[arg(long, env = "BATON_PARALLEL_SYNC", global = true, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse_go_bool, value_name = "BOOL")]
    pub parallel_sync: Option<bool>,

    /// Sync workers: -1 (sized automatically) is what this connector does; a fixed number is
    /// refused
    #[arg(
        long,
        env = "BATON_WORKERS",
        global = true,
        allow_negative_numbers = true,
        value_name = "N"
    )]
    pub workers: Option<i64>,

    /// Refused: authentication to ConductorOne (service mode)
    #[arg(long, env = "BATON_AUTH_METHOD", global = true, help_heading = REFUSED, value_name = "METHOD")]
    pub auth_method: Option<String>,

    /// ConductorOne client id (<name>@<host>/<suffix>): with it the connector runs in service
    /// mode, taking its tasks from ConductorOne
    #[arg(long, env = "BATON_CLIENT_ID", global = true, value_name = "ID")]
    pub client_id: Option<String>,

    /// ConductorOne client secret of --client-id (secret: never printed)
    #[arg(long, env = "BATON_CLIENT_SECRET", global = true, hide_env_values = true,
          value_parser = parse_client_secret, value_name = "SECRET")]
    pub client_secret: Option<Secret>,

    /// Refused: merging resources from another connector's c1z
    #[arg(long, env = "BATON_EXTERNAL_RESOURCE_C1Z", global = true, help_heading = REFUSED, value_name = "PATH")]
    pub external_resource_c1z: Option<String>,

    /// Refused: the entitlement filter of --external-resource-c1z
    #[arg(long, env = "BATON_EXTERNAL_RESOURCE_ENTITLEMENT_ID_FILTER", global = true, help_heading = REFUSED,
          value_name = "ID")]
    pub external_resource_entitlement_id_filter: Option<String>,

    /// In service mode, serve /health, /ready and /live over HTTP
    #[arg(long, env = "BATON_HEALTH_CHECK", global = true, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse_go_bool, value_name = "BOOL")]
    pub health_check: Option<bool>,

    /// The port of --health-check (and of the health-check subcommand) [default: 8081]
    #[arg(long, env = "BATON_HEALTH_CHECK_PORT", global = true,
          value_parser = clap::value_parser!(u16).range(1..), value_name = "PORT")]
    pub health_check_port: Option<u16>,

    /// Refused when true: keeping the previous c1z for service mode's ETag replay (a sync into
    /// an existing file keeps the previous sync inside it anyway)
    #[arg(long, env = "BATON_KEEP_PREVIOUS_SYNC_C1Z", global = true, help_heading = REFUSED, num_args = 0..=1,
          require_equals = true, default_missing_value = "true", value_parser = parse_go_bool, value_name = "BOOL")]
    pub keep_previous_sync_c1z: Option<bool>,

    /// Refused: log files (logs go to stderr; redirect it)
    #[arg(long, env = "BATON_LOG_PATH", global = true, help_heading = REFUSED, value_delimiter = ',',
          value_name = "PATHS")]
    pub log_path: Option<Vec<String>>,

    /// Refused: exporting traces and logs to OpenTelemetry
    #[arg(long, env = "BATON_OTEL_COLLECTOR_ENDPOINT", global = true, help_heading = REFUSED, value_name = "URL")]
    pub otel_collector_endpoint: Option<String>,

    /// Refused when true: a sync of resources only
    #[arg(long, env = "BATON_SKIP_ENTITLEMENTS_AND_GRANTS", global = true, help_heading = REFUSED,
          num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool,
          value_name = "BOOL")]
    pub skip_entitlements_and_grants: Option<bool>,

    /// Refused: a sync of chosen resources only (--sync-resource-types chooses whole types)
    #[arg(long, env = "BATON_SYNC_RESOURCES", global = true, help_heading = REFUSED, value_delimiter = ',',
          value_name = "IDS")]
    pub sync_resources: Option<Vec<String>>,

    /// In service mode, how many tasks run at once, 1..=100 [default: 3]
    #[arg(long, env = "BATON_TASK_CONCURRENCY", global = true,
          value_parser = clap::value_parser!(u32).range(1..=100), value_name = "N")]
    pub task_concurrency: Option<u32>,

    /// Refused when true: ticketing
    #[arg(long, env = "BATON_TICKETING", global = true, help_heading = REFUSED, num_args = 0..=1,
          require_equals = true, default_missing_value = "true", value_parser = parse_go_bool, value_name = "BOOL")]
    pub ticketing: Option<bool>,

    // baton-sdk's operational settings that its `--help` hides but its `config` lists: the
    // same treatment, hidden here too.
    #[arg(
        long,
        env = "BATON_OTEL_COLLECTOR_ENDPOINT_TLS_CERT_PATH",
        global = true,
        hide = true
    )]
    pub otel_collector_endpoint_tls_cert_path: Option<String>,
    #[arg(
        long,
        env = "BATON_OTEL_COLLECTOR_ENDPOINT_TLS_CERT",
        global = true,
        hide = true,
        hide_env_values = true
    )]
    pub otel_collector_endpoint_tls_cert: Option<String>,
    #[arg(long, env = "BATON_OTEL_COLLECTOR_ENDPOINT_TLS_INSECURE", global = true, hide = true, num_args = 0..=1,
          require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    pub otel_collector_endpoint_tls_insecure: Option<bool>,
    /// Accepted either way: this connector exports no traces.
    #[arg(long, env = "BATON_OTEL_TRACING_DISABLED", global = true, hide = true, num_args = 0..=1,
          require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    pub otel_tracing_disabled: Option<bool>,
    /// Accepted either way: this connector exports no logs.
    #[arg(long, env = "BATON_OTEL_LOGGING_DISABLED", global = true, hide = true, num_args = 0..=1,
          require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    pub otel_logging_disabled: Option<bool>,
    #[arg(long, env = "BATON_SESSION_STORE_MAXIMUM_SIZE", global = true, hide = true)]
    pub session_store_maximum_size: Option<String>,
    /// The address --health-check binds (and the health-check subcommand asks) [default:
    /// 127.0.0.1]
    #[arg(
        long,
        env = "BATON_HEALTH_CHECK_BIND_ADDRESS",
        global = true,
        hide = true,
        value_name = "ADDRESS"
    )]
    pub health_check_bind_address: Option<String>,
}

/// What [`BatonFlags`] resolve to, once flags, environment and `.baton.yaml` are read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatonSettings {
    /// Unix seconds after which debug logging falls back to info.
    pub log_level_debug_expires_at: Option<i64>,
    pub skip_full_sync: bool,
    /// Service mode's settings, as given (defaults are filled in by [`crate::config::Settings`]).
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub health_check: Option<bool>,
    pub health_check_port: Option<u16>,
    pub health_check_bind_address: Option<String>,
    pub task_concurrency: Option<u32>,
}

/// Why each refused flag is refused, by flag name.
const WHY: [(&str, &str); 13] = [
    (
        "auth-method",
        "service mode authenticates with --client-id and --client-secret only",
    ),
    (
        "external-resource-c1z",
        "merging external resources is not supported by this connector",
    ),
    (
        "external-resource-entitlement-id-filter",
        "merging external resources is not supported by this connector",
    ),
    (
        "keep-previous-sync-c1z",
        "service mode's ETag replay is not supported (a sync into an existing file keeps the previous sync inside it)",
    ),
    ("log-path", "logs go to stderr only: redirect it to a file"),
    (
        "otel-collector-endpoint",
        "OpenTelemetry export is not supported by this connector",
    ),
    (
        "otel-collector-endpoint-tls-cert-path",
        "OpenTelemetry export is not supported by this connector",
    ),
    (
        "otel-collector-endpoint-tls-cert",
        "OpenTelemetry export is not supported by this connector",
    ),
    (
        "otel-collector-endpoint-tls-insecure",
        "OpenTelemetry export is not supported by this connector",
    ),
    ("session-store-maximum-size", "this connector keeps no session store"),
    (
        "skip-entitlements-and-grants",
        "a sync always writes entitlements and grants (choose types with --sync-resource-types)",
    ),
    (
        "sync-resources",
        "a sync covers whole resource types (choose them with --sync-resource-types)",
    ),
    ("ticketing", "ticketing is not supported by this connector"),
];

fn env_name(flag: &str) -> String {
    format!("BATON_{}", flag.replace('-', "_").to_ascii_uppercase())
}

fn refused(flag: &str) -> ConfigError {
    let why = WHY.iter().find(|(f, _)| *f == flag).map_or("not supported", |(_, w)| w);
    ConfigError::Refused {
        what: format!("--{flag} ({})", env_name(flag)),
        why: why.to_owned(),
    }
}

impl BatonFlags {
    /// Refuses what this connector cannot do, from the flags (or their environment twins) first,
    /// then from `file`; resolves the rest, flag or environment before file.
    pub fn resolve(self, file: &ConfigFile) -> Result<BatonSettings, ConfigError> {
        let given = |present: bool, flag: &'static str| if present { Err(refused(flag)) } else { Ok(()) };
        given(self.auth_method.is_some(), "auth-method")?;
        given(self.external_resource_c1z.is_some(), "external-resource-c1z")?;
        given(
            self.external_resource_entitlement_id_filter.is_some(),
            "external-resource-entitlement-id-filter",
        )?;
        given(self.keep_previous_sync_c1z == Some(true), "keep-previous-sync-c1z")?;
        given(self.log_path.is_some(), "log-path")?;
        given(self.otel_collector_endpoint.is_some(), "otel-collector-endpoint")?;
        given(
            self.skip_entitlements_and_grants == Some(true),
            "skip-entitlements-and-grants",
        )?;
        given(self.sync_resources.is_some(), "sync-resources")?;
        given(self.ticketing == Some(true), "ticketing")?;
        given(
            self.otel_collector_endpoint_tls_cert_path.is_some(),
            "otel-collector-endpoint-tls-cert-path",
        )?;
        given(
            self.otel_collector_endpoint_tls_cert.is_some(),
            "otel-collector-endpoint-tls-cert",
        )?;
        given(
            self.otel_collector_endpoint_tls_insecure == Some(true),
            "otel-collector-endpoint-tls-insecure",
        )?;
        given(self.session_store_maximum_size.is_some(), "session-store-maximum-size")?;
        if self.storage_engine == Some(StorageEngine::Pebble) {
            return Err(ConfigError::Refused {
                what: format!("--storage-engine pebble ({}=pebble)", env_name("storage-engine")),
                why: PEBBLE.into(),
            });
        }
        if self.parallel_sync == Some(false) {
            return Err(ConfigError::Refused {
                what: format!("--parallel-sync=false ({}=false)", env_name("parallel-sync")),
                why: "this connector always fetches users and groups side by side".into(),
            });
        }
        if let Some(n) = self.workers.filter(|n| *n != -1) {
            return Err(ConfigError::Refused {
                what: format!("--workers {n} ({})", env_name("workers")),
                why: "this connector sizes its own concurrency; only -1 (automatic) is accepted".into(),
            });
        }

        // The same, from the file: a key that asks for something refused names itself there.
        for (flag, _) in WHY {
            let asks = match flag {
                "keep-previous-sync-c1z"
                | "skip-entitlements-and-grants"
                | "ticketing"
                | "otel-collector-endpoint-tls-insecure" => file.go_boolean(flag)?.unwrap_or(false),
                _ => file.has(flag),
            };
            if asks {
                let why = WHY.iter().find(|(f, _)| *f == flag).map_or("", |(_, w)| w);
                return Err(file.bad(flag, format!("refused: {why}")));
            }
        }
        if file.go_boolean("parallel-sync")? == Some(false) {
            return Err(file.bad(
                "parallel-sync",
                "refused: this connector always fetches users and groups side by side".into(),
            ));
        }
        if let Some(n) = file.integer("workers")?.filter(|n| *n != -1) {
            return Err(file.bad(
                "workers",
                format!("refused: {n}: this connector sizes its own concurrency; only -1 (automatic) is accepted"),
            ));
        }
        for flag in ["otel-tracing-disabled", "otel-logging-disabled"] {
            file.go_boolean(flag)?;
        }
        if let Some(engine) = file.string("storage-engine")? {
            if parse_storage_engine(&engine).map_err(|d| file.bad("storage-engine", d))? == StorageEngine::Pebble {
                return Err(file.bad("storage-engine", format!("refused: pebble: {PEBBLE}")));
            }
        }

        let log_level_debug_expires_at = match self.log_level_debug_expires_at {
            Some(t) => Some(t),
            None => match file.string("log-level-debug-expires-at")? {
                Some(s) => Some(parse_rfc3339(&s).map_err(|d| file.bad("log-level-debug-expires-at", d))?),
                None => None,
            },
        };
        let skip_full_sync = match self.skip_full_sync {
            Some(b) => b,
            None => file.go_boolean("skip-full-sync")?.unwrap_or(false),
        };
        let client_id = match self.client_id {
            Some(id) => Some(id),
            None => file.string("client-id")?,
        }
        .filter(|id| !id.trim().is_empty());
        let client_secret = match self.client_secret {
            Some(s) => Some(s),
            // The file's value is never quoted back: a type error names the key only.
            None => file
                .string("client-secret")
                .map_err(|_| file.bad("client-secret", "expected a string".to_owned()))?
                .map(Secret::new),
        }
        .filter(|s| !s.is_empty());
        let health_check = match self.health_check {
            Some(b) => Some(b),
            None => file.go_boolean("health-check")?,
        };
        let health_check_port = match self.health_check_port {
            Some(p) => Some(p),
            None => file.bounded("health-check-port", 1..=u16::MAX)?,
        };
        let health_check_bind_address = match self.health_check_bind_address {
            Some(a) => Some(a),
            None => file.string("health-check-bind-address")?,
        };
        let task_concurrency = match self.task_concurrency {
            Some(n) => Some(n),
            None => file.bounded("task-concurrency", 1..=100)?,
        };
        Ok(BatonSettings {
            log_level_debug_expires_at,
            skip_full_sync,
            client_id,
            client_secret,
            health_check,
            health_check_port,
            health_check_bind_address,
            task_concurrency,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_booleans_are_exactly_strconv_parse_bool() {
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_go_bool(t), Ok(true), "{t}");
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_go_bool(f), Ok(false), "{f}");
        }
        for bad in ["yes", "on", "tRUE", "2", "", " true"] {
            assert!(parse_go_bool(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rfc3339_times_parse_to_unix_seconds() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_rfc3339("2026-12-01T18:00:00Z"), Ok(1_796_148_000));
        assert_eq!(parse_rfc3339("2026-12-01T19:30:00.25+01:30"), Ok(1_796_148_000));
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59-00:00"), Ok(-1));
        assert_eq!(parse_rfc3339("2000-03-01T00:00:00Z"), Ok(951_868_800));
        for bad in [
            "2026-12-01",
            "2026-13-01T00:00:00Z",
            "2026-12-01T00:00:00",
            "tomorrow",
            "2026-12-01T00:00:00+1",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
    }
}
