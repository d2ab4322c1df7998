//! The command line, its environment twins and `.baton.yaml`, resolved into one [`Settings`].
//!
//! baton-sdk's rules: every flag `--some-name` has the environment twin `BATON_SOME_NAME`, and a
//! YAML file (`.baton.yaml` in the working directory, or the path in `BATON_CONFIG_PATH`) is the
//! third source, keyed by flag name. Precedence: flag, then environment, then file, then the
//! built-in default. clap handles flag-over-environment; the clap fields carry no defaults, so
//! "absent from both" is visible and the file and the default can fill in after.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand};

use crate::cli::baton_flags::{parse_go_bool, BatonFlags};
use crate::scim::client::{ClientConfig, RetryPolicy, DEFAULT_BASE_URL, DEFAULT_IN_FLIGHT, MAX_PAGE_SIZE};
use crate::secret::Secret;

/// The environment variable naming a config file to use instead of `./.baton.yaml`.
pub const CONFIG_PATH_ENV: &str = "BATON_CONFIG_PATH";
/// The config file looked for in the working directory.
pub const DEFAULT_CONFIG_FILE: &str = ".baton.yaml";

pub const DEFAULT_FILE: &str = "sync.c1z";
pub const DEFAULT_LOG_LEVEL: &str = "info";
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 600;
/// The most `--requests-per-minute` allows, from any source.
pub const MAX_REQUESTS_PER_MINUTE: u32 = 1_000_000;
pub const DEFAULT_HTTP_TIMEOUT_SECONDS: u64 = 300;
pub const MAX_HTTP_TIMEOUT_SECONDS: u64 = 1800;
/// Service mode's defaults, baton-sdk's.
pub const DEFAULT_TASK_CONCURRENCY: u32 = 3;
pub const DEFAULT_HEALTH_CHECK_PORT: u16 = 8081;
pub const DEFAULT_HEALTH_CHECK_BIND_ADDRESS: &str = "127.0.0.1";
/// The most `--max-list-walks` allows: each walk of a big org is many requests.
pub const MAX_LIST_WALKS: u32 = 20;
/// The most `--requests-in-flight` allows: more buys nothing against a server that answers a
/// page in a second and allows ten a second.
pub const MAX_REQUESTS_IN_FLIGHT: u32 = 64;

/// `baton-notion`: with no subcommand, a full sync into `--file`.
#[derive(Debug, Parser)]
#[command(
    name = "baton-notion",
    version,
    disable_version_flag = true,
    about = "Sync a Notion Enterprise workspace's users, groups and roles into a baton c1z file, over SCIM",
    long_about = None
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub flags: Flags,
    /// Print the version (-v, as baton connectors spell it; -V works too)
    #[arg(short = 'v', long = "version", short_alias = 'V', action = ArgAction::Version)]
    pub version: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Print the connector's capabilities as JSON
    Capabilities,
    /// Print the connector's configuration schema as JSON
    Config,
    /// Check the SCIM token with one cheap API call
    Validate,
    /// Refused: shell completion scripts are not built into this connector
    Completion {
        /// The shell baton-sdk would write a script for
        #[arg(num_args = 0.., trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Ask the health-check server of a connector in service mode (--health-check); exit 0 only
    /// on HTTP 200
    HealthCheck {
        /// The endpoint to ask: health (runs the connector's validation), ready or live
        #[arg(long, value_enum, default_value = "health")]
        endpoint: crate::service::health::Endpoint,
        /// How long to wait for the answer (a Go duration: 5s, 500ms, 1m)
        #[arg(long, default_value = "5s", value_parser = crate::service::health::parse_go_duration)]
        timeout: Duration,
    },
}

impl Command {
    /// Why a subcommand of baton-sdk's that this connector has no use for is refused; `None`
    /// for the ones it runs.
    pub fn refusal(&self) -> Option<&'static str> {
        match self {
            Command::Completion { .. } => {
                Some("the completion subcommand is not supported: shell completion scripts are not built into this connector")
            }
            Command::Capabilities | Command::Config | Command::Validate | Command::HealthCheck { .. } => None,
        }
    }
}

/// Every flag. No field has a clap default: see the module docs.
//
// The one-shot provisioning flags are baton-sdk's; with one of them a run provisions instead of
// syncing. They are not read from `.baton.yaml`: a file that made every run a grant would surprise.
#[derive(Debug, Clone, Default, Args)]
pub struct Flags {
    /// The workspace's SCIM API token (required; secret: never printed)
    #[arg(long, env = "BATON_SCIM_TOKEN", hide_env_values = true, global = true,
          value_parser = parse_secret, value_name = "TOKEN")]
    pub scim_token: Option<Secret>,

    /// Override the Notion SCIM API URL (for testing) [default: https://api.notion.com/scim/v2]
    #[arg(long, env = "BATON_BASE_URL", global = true, value_name = "URL")]
    pub base_url: Option<String>,

    /// Where the c1z is written (and where a grant or revoke looks things up) [default: sync.c1z]
    #[arg(short = 'f', long, env = "BATON_FILE", global = true, value_name = "PATH")]
    pub file: Option<PathBuf>,

    /// Least severe log events shown: trace, debug, info, warn or error [default: info]
    #[arg(long, env = "BATON_LOG_LEVEL", global = true, value_parser = parse_log_level, value_name = "LEVEL")]
    pub log_level: Option<String>,

    /// Log lines as json, or console for people [default: console on a terminal, else json]
    #[arg(long, env = "BATON_LOG_FORMAT", global = true, value_parser = parse_log_format, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,

    /// Items per SCIM list page, 1..=100 [default: 100]
    #[arg(long, env = "BATON_PAGE_SIZE", global = true,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_PAGE_SIZE)), value_name = "N")]
    pub page_size: Option<u32>,

    /// The client's own request ceiling per minute, requests evenly spaced [default: 600]
    #[arg(long, env = "BATON_REQUESTS_PER_MINUTE", global = true,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_REQUESTS_PER_MINUTE)), value_name = "N")]
    pub requests_per_minute: Option<u32>,

    /// SCIM requests on the wire at once at most, 1..=64: pages fetched ahead of the walk,
    /// both lists together, and reads by id [default: 8]
    #[arg(long, env = "BATON_REQUESTS_IN_FLIGHT", global = true,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_REQUESTS_IN_FLIGHT)), value_name = "N")]
    pub requests_in_flight: Option<u32>,

    /// Seconds before one HTTP request gives up, 1..=1800 [default: 300]
    #[arg(long, env = "BATON_HTTP_TIMEOUT_SECONDS", global = true,
          value_parser = clap::value_parser!(u64).range(1..=MAX_HTTP_TIMEOUT_SECONDS), value_name = "SECONDS")]
    pub http_timeout_seconds: Option<u64>,

    /// Walks of each SCIM list a sync may make while the org changes under it before it fails,
    /// 1..=20 [default: 4]
    #[arg(long, env = "BATON_MAX_LIST_WALKS", global = true,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_LIST_WALKS)), value_name = "N")]
    pub max_list_walks: Option<u32>,

    /// Sync only these resource types, a comma list of user, group, role [default: all three]
    #[arg(long, env = "BATON_SYNC_RESOURCE_TYPES", global = true, value_delimiter = ',',
          value_parser = parse_resource_type, value_name = "TYPES")]
    pub sync_resource_types: Option<Vec<ResourceTypeId>>,

    /// Allow provisioning; the one-shot flags below allow it by themselves, as in baton-sdk
    #[arg(short = 'p', long, env = "BATON_PROVISIONING", global = true, num_args = 0..=1,
          require_equals = true, default_missing_value = "true", value_parser = parse_go_bool, value_name = "BOOL")]
    pub provisioning: Option<bool>,

    /// Let a role grant or revoke take a workspace owner's role away (refused otherwise: if
    /// that owner created the SCIM token, Notion revokes it). Not read from .baton.yaml
    #[arg(long, env = "BATON_CONFIRM_OWNER_CHANGE", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse_go_bool, value_name = "BOOL")]
    pub confirm_owner_change: Option<bool>,

    /// baton-sdk's other flags: supported, or refused by name.
    #[command(flatten)]
    pub baton: BatonFlags,

    /// The entitlement to grant to the principal: role:<role>:assigned or group:<group id>:member
    #[arg(long, env = "BATON_GRANT_ENTITLEMENT", value_name = "ID",
          requires_all = ["grant_principal", "grant_principal_type"],
          conflicts_with_all = ["revoke_grant", "create_account_profile", "delete_resource"])]
    pub grant_entitlement: Option<String>,

    /// The id of the principal to grant the entitlement to
    #[arg(
        long,
        env = "BATON_GRANT_PRINCIPAL",
        value_name = "ID",
        requires = "grant_entitlement"
    )]
    pub grant_principal: Option<String>,

    /// The resource type of the principal to grant the entitlement to (user)
    #[arg(
        long,
        env = "BATON_GRANT_PRINCIPAL_TYPE",
        value_name = "TYPE",
        requires = "grant_entitlement"
    )]
    pub grant_principal_type: Option<String>,

    /// The grant to revoke: <entitlement id>:user:<user id>
    #[arg(long, env = "BATON_REVOKE_GRANT", value_name = "ID",
          conflicts_with_all = ["create_account_profile", "delete_resource"])]
    pub revoke_grant: Option<String>,

    /// JSON profile of the account to create: {"first_name","last_name","email"[,"workspace_role"]}
    #[arg(
        long,
        env = "BATON_CREATE_ACCOUNT_PROFILE",
        value_name = "JSON",
        conflicts_with = "delete_resource"
    )]
    pub create_account_profile: Option<String>,

    /// The login of the account to create (its email)
    #[arg(
        long,
        env = "BATON_CREATE_ACCOUNT_LOGIN",
        value_name = "LOGIN",
        requires = "create_account_profile"
    )]
    pub create_account_login: Option<String>,

    /// The email of the account to create
    #[arg(
        long,
        env = "BATON_CREATE_ACCOUNT_EMAIL",
        value_name = "EMAIL",
        requires = "create_account_profile"
    )]
    pub create_account_email: Option<String>,

    /// The id of the resource to delete
    #[arg(
        long,
        env = "BATON_DELETE_RESOURCE",
        value_name = "ID",
        requires = "delete_resource_type"
    )]
    pub delete_resource: Option<String>,

    /// The resource type of the resource to delete (user)
    #[arg(
        long,
        env = "BATON_DELETE_RESOURCE_TYPE",
        value_name = "TYPE",
        requires = "delete_resource"
    )]
    pub delete_resource_type: Option<String>,
}

impl Flags {
    /// The one-shot provisioning operation these flags ask for, checked before any request;
    /// `None` for a sync.
    pub fn operation(&self) -> Result<Option<crate::provision::Operation>, crate::provision::InvalidRequest> {
        use crate::provision::{request, Operation};
        if let (Some(entitlement), Some(principal), Some(kind)) = (
            &self.grant_entitlement,
            &self.grant_principal,
            &self.grant_principal_type,
        ) {
            let target = request::parse_entitlement(entitlement)?;
            let user_id = request::parse_principal(principal, kind)?;
            return Ok(Some(Operation::Grant { target, user_id }));
        }
        if let Some(grant) = &self.revoke_grant {
            let (target, user_id) = request::parse_grant(grant)?;
            return Ok(Some(Operation::Revoke { target, user_id }));
        }
        if let Some(profile) = &self.create_account_profile {
            let account = request::parse_new_account(
                profile,
                self.create_account_login.as_deref(),
                self.create_account_email.as_deref(),
            )?;
            return Ok(Some(Operation::CreateAccount(account)));
        }
        if let (Some(id), Some(kind)) = (&self.delete_resource, &self.delete_resource_type) {
            return Ok(Some(Operation::DeleteUser {
                user_id: request::parse_delete(id, kind)?,
            }));
        }
        Ok(None)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Console,
}

/// The three resource types this connector publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceTypeId {
    User,
    Group,
    Role,
}

impl ResourceTypeId {
    pub const ALL: [ResourceTypeId; 3] = [ResourceTypeId::User, ResourceTypeId::Group, ResourceTypeId::Role];

    pub fn as_str(self) -> &'static str {
        match self {
            ResourceTypeId::User => "user",
            ResourceTypeId::Group => "group",
            ResourceTypeId::Role => "role",
        }
    }
}

fn parse_secret(s: &str) -> Result<Secret, String> {
    if s.trim().is_empty() {
        return Err("the SCIM token is empty".to_owned());
    }
    Ok(Secret::new(s.trim()))
}

fn parse_log_level(s: &str) -> Result<String, String> {
    let level = s.trim().to_ascii_lowercase();
    match level.as_str() {
        "trace" | "debug" | "info" | "warn" | "error" => Ok(level),
        _ => Err(format!("{s:?} is not one of trace, debug, info, warn, error")),
    }
}

fn parse_log_format(s: &str) -> Result<LogFormat, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "json" => Ok(LogFormat::Json),
        "console" => Ok(LogFormat::Console),
        _ => Err(format!("{s:?} is not one of json, console")),
    }
}

fn parse_resource_type(s: &str) -> Result<ResourceTypeId, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "user" => Ok(ResourceTypeId::User),
        "group" => Ok(ResourceTypeId::Group),
        "role" => Ok(ResourceTypeId::Role),
        _ => Err(format!("{s:?} is not one of user, group, role")),
    }
}

/// A configuration problem, phrased for the person at the terminal.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {detail}")]
    File { path: PathBuf, detail: String },
    #[error("config file {path}: {key}: {detail}")]
    Value { path: PathBuf, key: String, detail: String },
    #[error("the SCIM token is missing: pass --scim-token, set BATON_SCIM_TOKEN, or put scim-token in .baton.yaml")]
    MissingToken,
    /// A baton flag this connector cannot honour (see `cli::baton_flags`).
    #[error("{what} is refused: {why}")]
    Refused { what: String, why: String },
}

/// Everything a run needs, from all three sources.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub scim_token: Option<Secret>,
    pub base_url: String,
    pub file: PathBuf,
    pub log_level: String,
    /// `None`: not chosen anywhere; [`Settings::log_format_or_default`] picks by terminal.
    pub log_format: Option<LogFormat>,
    pub page_size: u32,
    pub requests_per_minute: u32,
    pub requests_in_flight: u32,
    pub http_timeout_seconds: u64,
    pub max_list_walks: u32,
    pub sync_resource_types: Vec<ResourceTypeId>,
    pub provisioning: bool,
    /// `--skip-full-sync`: without a one-shot provisioning flag, do nothing.
    pub skip_full_sync: bool,
    /// Service mode: on when a client id is given (see [`crate::service`]).
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub task_concurrency: u32,
    pub health_check: bool,
    pub health_check_port: u16,
    pub health_check_bind_address: String,
    /// Service-mode settings given explicitly, by flag name: a run that is not in service mode
    /// refuses them rather than ignore them.
    pub service_only: Vec<&'static str>,
}

impl Settings {
    /// Fills what `flags` (flag or environment) left unset from `file`, then from the defaults.
    pub fn resolve(flags: Flags, file: Option<&ConfigFile>) -> Result<Self, ConfigError> {
        let empty = ConfigFile::default();
        let file = file.unwrap_or(&empty);
        let baton = flags.baton.resolve(file)?;
        let scim_token = match flags.scim_token {
            Some(t) => Some(t),
            None => file
                .string("scim-token")?
                .filter(|s| !s.trim().is_empty())
                .map(|s| Secret::new(s.trim())),
        };
        let base_url = match flags.base_url {
            Some(u) => u,
            None => file.string("base-url")?.unwrap_or_else(|| DEFAULT_BASE_URL.to_owned()),
        };
        let path = match flags.file {
            Some(p) => p,
            None => file
                .string("file")?
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_FILE)),
        };
        let mut log_level = match flags.log_level {
            Some(l) => l,
            None => match file.string("log-level")? {
                Some(l) => parse_log_level(&l).map_err(|d| file.bad("log-level", d))?,
                None => DEFAULT_LOG_LEVEL.to_owned(),
            },
        };
        // `--log-level-debug-expires-at`: debug (and trace) logging ends at that moment.
        if let Some(expires) = baton.log_level_debug_expires_at {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
            if now >= expires && matches!(log_level.as_str(), "debug" | "trace") {
                log_level = DEFAULT_LOG_LEVEL.to_owned();
            }
        }
        let log_format = match flags.log_format {
            Some(f) => Some(f),
            None => match file.string("log-format")? {
                Some(f) => Some(parse_log_format(&f).map_err(|d| file.bad("log-format", d))?),
                None => None,
            },
        };
        let page_size = match flags.page_size {
            Some(n) => n,
            None => file.bounded("page-size", 1..=MAX_PAGE_SIZE)?.unwrap_or(MAX_PAGE_SIZE),
        };
        let requests_per_minute = match flags.requests_per_minute {
            Some(n) => n,
            None => file
                .bounded("requests-per-minute", 1..=MAX_REQUESTS_PER_MINUTE)?
                .unwrap_or(DEFAULT_REQUESTS_PER_MINUTE),
        };
        let requests_in_flight = match flags.requests_in_flight {
            Some(n) => n,
            None => file
                .bounded("requests-in-flight", 1..=MAX_REQUESTS_IN_FLIGHT)?
                .unwrap_or(DEFAULT_IN_FLIGHT as u32),
        };
        let http_timeout_seconds = match flags.http_timeout_seconds {
            Some(n) => n,
            None => file
                .bounded("http-timeout-seconds", 1..=MAX_HTTP_TIMEOUT_SECONDS)?
                .unwrap_or(DEFAULT_HTTP_TIMEOUT_SECONDS),
        };
        let max_list_walks = match flags.max_list_walks {
            Some(n) => n,
            None => file
                .bounded("max-list-walks", 1..=MAX_LIST_WALKS)?
                .unwrap_or(crate::scim::client::pager::DEFAULT_MAX_WALKS),
        };
        let mut sync_resource_types = match flags.sync_resource_types {
            Some(v) => v,
            None => match file.list("sync-resource-types")? {
                Some(items) => items
                    .iter()
                    .map(|s| parse_resource_type(s).map_err(|d| file.bad("sync-resource-types", d)))
                    .collect::<Result<Vec<_>, _>>()?,
                None => Vec::new(),
            },
        };
        if sync_resource_types.is_empty() {
            sync_resource_types = ResourceTypeId::ALL.to_vec();
        }
        sync_resource_types.sort();
        sync_resource_types.dedup();
        let provisioning = match flags.provisioning {
            Some(p) => p,
            None => file.go_boolean("provisioning")?.unwrap_or(false),
        };
        Ok(Self {
            scim_token,
            base_url,
            file: path,
            log_level,
            log_format,
            page_size,
            requests_per_minute,
            requests_in_flight,
            http_timeout_seconds,
            max_list_walks,
            sync_resource_types,
            provisioning,
            skip_full_sync: baton.skip_full_sync,
            service_only: [
                ("client-secret", baton.client_secret.is_some()),
                ("health-check", baton.health_check == Some(true)),
                ("health-check-port", baton.health_check_port.is_some()),
                ("health-check-bind-address", baton.health_check_bind_address.is_some()),
                ("task-concurrency", baton.task_concurrency.is_some()),
            ]
            .into_iter()
            .filter_map(|(name, given)| given.then_some(name))
            .collect(),
            client_id: baton.client_id,
            client_secret: baton.client_secret,
            task_concurrency: baton.task_concurrency.unwrap_or(DEFAULT_TASK_CONCURRENCY),
            health_check: baton.health_check.unwrap_or(false),
            health_check_port: baton.health_check_port.unwrap_or(DEFAULT_HEALTH_CHECK_PORT),
            health_check_bind_address: baton
                .health_check_bind_address
                .filter(|a| !a.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_HEALTH_CHECK_BIND_ADDRESS.to_owned()),
        })
    }

    /// Whether this run is a service-mode daemon (a client id was given).
    pub fn is_service(&self) -> bool {
        self.client_id.is_some()
    }

    /// For a run that is not in service mode: the first service-mode setting given anyway,
    /// refused by name (the health check's address and port are the `health-check`
    /// subcommand's too, so that one does not call this).
    pub fn refuse_service_only(&self) -> Result<(), ConfigError> {
        match self.service_only.first() {
            Some(flag) if !self.is_service() => Err(ConfigError::Refused {
                what: format!("--{flag} (BATON_{})", flag.replace('-', "_").to_ascii_uppercase()),
                why: "it is a setting of service mode, which --client-id (BATON_CLIENT_ID) turns on".to_owned(),
            }),
            _ => Ok(()),
        }
    }

    pub fn log_format_or_default(&self) -> LogFormat {
        use std::io::IsTerminal;
        // baton-sdk's rule: console on a terminal, JSON otherwise.
        self.log_format.unwrap_or(if std::io::stdout().is_terminal() {
            LogFormat::Console
        } else {
            LogFormat::Json
        })
    }

    /// The SCIM client's configuration; fails when no token was given anywhere.
    pub fn client_config(&self) -> Result<ClientConfig, ConfigError> {
        let token = self.scim_token.clone().ok_or(ConfigError::MissingToken)?;
        let mut c = ClientConfig::new(self.base_url.clone(), token);
        c.page_size = self.page_size;
        c.requests_per_minute = self.requests_per_minute;
        c.max_in_flight = self.requests_in_flight as usize;
        c.http_timeout = Duration::from_secs(self.http_timeout_seconds);
        c.retry = RetryPolicy::default();
        Ok(c)
    }
}

/// The parsed `.baton.yaml`: a flat mapping from flag names to values. Keys may use `-` or `_`.
#[derive(Debug, Clone, Default)]
pub struct ConfigFile {
    path: PathBuf,
    values: serde_yaml::Mapping,
}

impl ConfigFile {
    /// `BATON_CONFIG_PATH` if given (it must exist), else `./.baton.yaml` if it exists.
    pub fn discover(config_path_env: Option<PathBuf>, cwd: &Path) -> Result<Option<Self>, ConfigError> {
        match config_path_env {
            Some(p) => Self::load(&p).map(Some),
            None => {
                let p = cwd.join(DEFAULT_CONFIG_FILE);
                if p.is_file() {
                    Self::load(&p).map(Some)
                } else {
                    Ok(None)
                }
            }
        }
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
            path: path.to_owned(),
            detail: e.to_string(),
        })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let value: serde_yaml::Value = serde_yaml::from_str(text)
            // serde_yaml's message quotes no values, only positions, so a token cannot leak here.
            .map_err(|e| ConfigError::File {
                path: path.to_owned(),
                detail: e.to_string(),
            })?;
        let values = match value {
            serde_yaml::Value::Mapping(m) => m,
            serde_yaml::Value::Null => serde_yaml::Mapping::new(),
            _ => {
                return Err(ConfigError::File {
                    path: path.to_owned(),
                    detail: "expected a mapping of flag names to values".to_owned(),
                })
            }
        };
        Ok(Self {
            path: path.to_owned(),
            values,
        })
    }

    fn get(&self, key: &str) -> Option<&serde_yaml::Value> {
        self.values
            .get(key)
            .or_else(|| self.values.get(key.replace('-', "_").as_str()))
            .filter(|v| !v.is_null())
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every top-level key as written (non-string keys rendered as YAML).
    pub fn keys(&self) -> Vec<String> {
        self.values
            .keys()
            .map(|k| match k {
                serde_yaml::Value::String(s) => s.clone(),
                other => serde_yaml::to_string(other).unwrap_or_default().trim().to_owned(),
            })
            .collect()
    }

    /// Whether the file sets `key` (to anything but null).
    pub(crate) fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub(crate) fn bad(&self, key: &str, detail: String) -> ConfigError {
        ConfigError::Value {
            path: self.path.clone(),
            key: key.to_owned(),
            detail,
        }
    }

    pub(crate) fn string(&self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(serde_yaml::Value::String(s)) => Ok(Some(s.clone())),
            Some(serde_yaml::Value::Number(n)) => Ok(Some(n.to_string())),
            Some(serde_yaml::Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(_) => Err(self.bad(key, "expected a string".to_owned())),
        }
    }

    pub(crate) fn integer(&self, key: &str) -> Result<Option<i64>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(serde_yaml::Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.bad(key, "expected a whole number".to_owned())),
            Some(serde_yaml::Value::String(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| self.bad(key, format!("{s:?} is not a whole number"))),
            Some(_) => Err(self.bad(key, "expected a whole number".to_owned())),
        }
    }

    /// A whole number that must lie in `range`.
    pub(crate) fn bounded<T>(&self, key: &str, range: std::ops::RangeInclusive<T>) -> Result<Option<T>, ConfigError>
    where
        T: TryFrom<i64> + PartialOrd + std::fmt::Display,
    {
        let Some(n) = self.integer(key)? else {
            return Ok(None);
        };
        match T::try_from(n) {
            Ok(v) if range.contains(&v) => Ok(Some(v)),
            _ => Err(self.bad(key, format!("{n} is not in {}..={}", range.start(), range.end()))),
        }
    }

    /// A boolean as baton-sdk reads one from its file: a YAML boolean, one of Go's
    /// `strconv.ParseBool` spellings as a string, or the number 0 or 1.
    pub(crate) fn go_boolean(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(serde_yaml::Value::Bool(b)) => Ok(Some(*b)),
            Some(serde_yaml::Value::String(s)) => parse_go_bool(s).map(Some).map_err(|d| self.bad(key, d)),
            Some(serde_yaml::Value::Number(n)) => match n.as_i64() {
                Some(1) => Ok(Some(true)),
                Some(0) => Ok(Some(false)),
                _ => Err(self.bad(key, format!("{n} is not a boolean (0 or 1)"))),
            },
            Some(_) => Err(self.bad(key, "expected a boolean".to_owned())),
        }
    }

    /// A YAML list, or one comma-separated string.
    fn list(&self, key: &str) -> Result<Option<Vec<String>>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(serde_yaml::Value::String(s)) => Ok(Some(
                s.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            )),
            Some(serde_yaml::Value::Sequence(items)) => items
                .iter()
                .map(|v| match v {
                    serde_yaml::Value::String(s) => Ok(s.clone()),
                    _ => Err(self.bad(key, "expected a list of strings".to_owned())),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(self.bad(key, "expected a list or a comma-separated string".to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> ConfigFile {
        match ConfigFile::parse(Path::new(".baton.yaml"), text) {
            Ok(f) => f,
            Err(e) => unreachable!("test yaml must parse: {e}"),
        }
    }

    fn flags(args: &[&str]) -> Flags {
        let mut all = vec!["baton-notion"];
        all.extend_from_slice(args);
        match Cli::try_parse_from(all) {
            Ok(cli) => cli.flags,
            Err(e) => unreachable!("test args must parse: {e}"),
        }
    }

    #[test]
    fn defaults_when_nothing_is_given() {
        let s = Settings::resolve(Flags::default(), None).ok();
        let s = s.as_ref();
        assert_eq!(s.map(|s| s.base_url.as_str()), Some(DEFAULT_BASE_URL));
        assert_eq!(s.map(|s| s.file.clone()), Some(PathBuf::from("sync.c1z")));
        assert_eq!(s.map(|s| s.page_size), Some(100));
        assert_eq!(s.map(|s| s.requests_per_minute), Some(600));
        assert_eq!(s.map(|s| s.http_timeout_seconds), Some(300));
        assert_eq!(s.map(|s| s.log_level.as_str()), Some("info"));
        assert_eq!(
            s.map(|s| s.sync_resource_types.clone()),
            Some(ResourceTypeId::ALL.to_vec())
        );
        assert_eq!(s.map(|s| s.provisioning), Some(false));
        assert!(matches!(
            Settings::resolve(Flags::default(), None).and_then(|s| s.client_config()),
            Err(ConfigError::MissingToken)
        ));
    }

    #[test]
    fn the_file_fills_in_and_flags_win() {
        let f = file(
            "scim-token: from-file\nbase-url: http://file/scim/v2\nfile: f.c1z\npage_size: 50\n\
             sync-resource-types: [user, role]\nprovisioning: true\nlog-level: debug\n",
        );
        let s = Settings::resolve(Flags::default(), Some(&f)).ok();
        assert_eq!(
            s.as_ref().and_then(|s| s.scim_token.as_ref()).map(Secret::expose),
            Some("from-file")
        );
        assert_eq!(s.as_ref().map(|s| s.page_size), Some(50));
        assert_eq!(s.as_ref().map(|s| s.file.clone()), Some(PathBuf::from("f.c1z")));
        assert_eq!(
            s.as_ref().map(|s| s.sync_resource_types.clone()),
            Some(vec![ResourceTypeId::User, ResourceTypeId::Role])
        );
        assert_eq!(s.as_ref().map(|s| s.provisioning), Some(true));
        assert_eq!(s.as_ref().map(|s| s.log_level.as_str()), Some("debug"));

        let s = Settings::resolve(
            flags(&["--scim-token", "from-flag", "--page-size", "7", "-f", "x.c1z"]),
            Some(&f),
        )
        .ok();
        assert_eq!(
            s.as_ref().and_then(|s| s.scim_token.as_ref()).map(Secret::expose),
            Some("from-flag")
        );
        assert_eq!(s.as_ref().map(|s| s.page_size), Some(7));
        assert_eq!(s.as_ref().map(|s| s.file.clone()), Some(PathBuf::from("x.c1z")));
        assert_eq!(s.as_ref().map(|s| s.base_url.as_str()), Some("http://file/scim/v2"));
    }

    #[test]
    fn out_of_range_values_are_refused_everywhere() {
        for bad in ["0", "101", "-3", "x"] {
            let err = Cli::try_parse_from(["baton-notion", "--page-size", bad]);
            assert!(err.is_err(), "--page-size {bad} should be refused");
        }
        let f = file("page-size: 500\n");
        let err = Settings::resolve(Flags::default(), Some(&f))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("config file .baton.yaml: page-size: 500 is not in 1..=100")
        );
        for bad in [
            "sync-resource-types: user,widget\n",
            "http-timeout-seconds: 0\n",
            "http-timeout-seconds: 99999\n",
            "requests-per-minute: -1\n",
            "page-size: lots\n",
        ] {
            assert!(Settings::resolve(Flags::default(), Some(&file(bad))).is_err(), "{bad}");
        }
        assert!(Cli::try_parse_from(["baton-notion", "--sync-resource-types", "user,widget"]).is_err());
        assert!(Cli::try_parse_from(["baton-notion", "--log-format", "xml"]).is_err());
        assert!(Cli::try_parse_from(["baton-notion", "--http-timeout-seconds", "0"]).is_err());
    }

    #[test]
    fn comma_lists_and_subcommands_parse() {
        let f = flags(&["--sync-resource-types", "group,user", "-p"]);
        let s = Settings::resolve(f, None).ok();
        assert_eq!(
            s.as_ref().map(|s| s.sync_resource_types.clone()),
            Some(vec![ResourceTypeId::User, ResourceTypeId::Group])
        );
        assert_eq!(s.as_ref().map(|s| s.provisioning), Some(true));
        // Global flags may follow the subcommand.
        let cli = Cli::try_parse_from(["baton-notion", "validate", "--scim-token", "t"]).ok();
        assert_eq!(cli.as_ref().and_then(|c| c.command.clone()), Some(Command::Validate));
        assert_eq!(
            cli.as_ref()
                .and_then(|c| c.flags.scim_token.as_ref())
                .map(Secret::expose),
            Some("t")
        );
    }

    #[test]
    fn max_list_walks_from_flag_file_or_default() {
        let walks = |f: Flags, file: Option<&ConfigFile>| Settings::resolve(f, file).ok().map(|s| s.max_list_walks);
        assert_eq!(walks(Flags::default(), None), Some(4));
        assert_eq!(walks(Flags::default(), Some(&file("max-list-walks: 9\n"))), Some(9));
        assert_eq!(
            walks(flags(&["--max-list-walks", "2"]), Some(&file("max-list-walks: 9\n"))),
            Some(2)
        );
        for bad in ["0", "21", "x"] {
            assert!(
                Cli::try_parse_from(["baton-notion", "--max-list-walks", bad]).is_err(),
                "{bad}"
            );
        }
        assert!(Settings::resolve(Flags::default(), Some(&file("max-list-walks: 0\n"))).is_err());
    }

    #[test]
    fn requests_in_flight_from_flag_file_or_default() {
        let in_flight = |f: Flags, file: Option<&ConfigFile>| {
            Settings::resolve(f, file)
                .and_then(|s| s.client_config().map(|c| (s.requests_in_flight, c.max_in_flight)))
                .ok()
        };
        let token = || flags(&["--scim-token", "t"]);
        assert_eq!(in_flight(token(), None), Some((8, 8)));
        assert_eq!(in_flight(token(), Some(&file("requests-in-flight: 3\n"))), Some((3, 3)));
        assert_eq!(
            in_flight(
                flags(&["--scim-token", "t", "--requests-in-flight", "1"]),
                Some(&file("requests-in-flight: 3\n"))
            ),
            Some((1, 1))
        );
        for bad in ["0", "65", "x"] {
            assert!(
                Cli::try_parse_from(["baton-notion", "--requests-in-flight", bad]).is_err(),
                "{bad}"
            );
        }
        assert!(Settings::resolve(Flags::default(), Some(&file("requests-in-flight: 0\n"))).is_err());
    }

    #[test]
    fn booleans_read_every_go_spelling_from_flags_and_the_file() {
        let spellings = [
            ("1", true),
            ("t", true),
            ("T", true),
            ("TRUE", true),
            ("true", true),
            ("True", true),
            ("0", false),
            ("f", false),
            ("F", false),
            ("FALSE", false),
            ("false", false),
            ("False", false),
        ];
        for (text, want) in spellings {
            let s = Settings::resolve(flags(&[&format!("--provisioning={text}")]), None).ok();
            assert_eq!(s.map(|s| s.provisioning), Some(want), "--provisioning={text}");
            let s = Settings::resolve(Flags::default(), Some(&file(&format!("provisioning: \"{text}\"\n")))).ok();
            assert_eq!(s.map(|s| s.provisioning), Some(want), "provisioning: \"{text}\"");
            let s = Settings::resolve(Flags::default(), Some(&file(&format!("skip-full-sync: {text}\n")))).ok();
            assert_eq!(s.map(|s| s.skip_full_sync), Some(want), "skip-full-sync: {text}");
        }
        // A bare flag is true; a flag beats the file.
        let s = Settings::resolve(flags(&["-p"]), Some(&file("provisioning: false\n"))).ok();
        assert_eq!(s.map(|s| s.provisioning), Some(true));
        let s = Settings::resolve(flags(&["--provisioning=F"]), Some(&file("provisioning: T\n"))).ok();
        assert_eq!(s.map(|s| s.provisioning), Some(false));
        for bad in ["yes", "on", "2"] {
            assert!(Cli::try_parse_from(["baton-notion", &format!("--provisioning={bad}")]).is_err());
            assert!(Settings::resolve(Flags::default(), Some(&file(&format!("provisioning: {bad}\n")))).is_err());
        }
    }

    #[test]
    fn refused_baton_flags_name_themselves_from_every_source() {
        let err = |f: Flags, file: Option<&ConfigFile>| Settings::resolve(f, file).err().map(|e| e.to_string());
        let e = err(flags(&["--auth-method", "x"]), None).unwrap_or_default();
        assert!(e.contains("--auth-method") && e.contains("BATON_AUTH_METHOD"), "{e}");
        // Service mode's settings resolve; without a client id they are refused by name.
        let s = Settings::resolve(flags(&["--client-id", "a@h/x", "--task-concurrency", "5"]), None).ok();
        assert_eq!(
            s.as_ref().map(|s| (s.is_service(), s.task_concurrency)),
            Some((true, 5))
        );
        assert!(s.is_some_and(|s| s.refuse_service_only().is_ok()));
        let s = Settings::resolve(Flags::default(), Some(&file("health-check: T\nclient-secret: abc\n"))).ok();
        assert_eq!(
            s.as_ref().map(|s| (s.health_check, s.health_check_port)),
            Some((true, 8081))
        );
        let e = s
            .and_then(|s| s.refuse_service_only().err())
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("--client-secret (BATON_CLIENT_SECRET)") && !e.contains("abc"),
            "{e}"
        );
        let e = err(Flags::default(), Some(&file("otel-collector-endpoint: http://x\n"))).unwrap_or_default();
        assert!(e.contains("otel-collector-endpoint") && e.contains("refused"), "{e}");
        // A refused boolean refuses only when it asks for something.
        assert!(err(flags(&["--ticketing=false", "--health-check=0"]), None).is_none());
        assert!(err(Flags::default(), Some(&file("ticketing: F\nhealth-check: false\n"))).is_none());
        let e = err(Flags::default(), Some(&file("ticketing: T\n"))).unwrap_or_default();
        assert!(e.contains("ticketing"), "{e}");
        let e = err(flags(&["--skip-entitlements-and-grants"]), None).unwrap_or_default();
        assert!(e.contains("--skip-entitlements-and-grants"), "{e}");
        // Accepted with their meaning.
        assert!(err(
            flags(&["--workers", "-1", "--parallel-sync", "--storage-engine", "sqlite"]),
            None
        )
        .is_none());
        assert!(err(flags(&["--workers", "2"]), None)
            .unwrap_or_default()
            .contains("--workers 2"));
        assert!(err(flags(&["--parallel-sync=false"]), None).is_some());
        assert!(err(flags(&["--storage-engine", "pebble"]), None).is_some());
        assert!(err(Flags::default(), Some(&file("storage-engine: pebble\n"))).is_some());
    }

    #[test]
    fn debug_logging_expires() {
        let level = |args: &[&str]| Settings::resolve(flags(args), None).ok().map(|s| s.log_level);
        let past = [
            "--log-level",
            "debug",
            "--log-level-debug-expires-at",
            "2001-01-01T00:00:00Z",
        ];
        assert_eq!(level(&past).as_deref(), Some("info"));
        let future = [
            "--log-level",
            "debug",
            "--log-level-debug-expires-at",
            "2999-01-01T00:00:00Z",
        ];
        assert_eq!(level(&future).as_deref(), Some("debug"));
        // Only debug (and trace) expire.
        let warn = [
            "--log-level",
            "warn",
            "--log-level-debug-expires-at",
            "2001-01-01T00:00:00Z",
        ];
        assert_eq!(level(&warn).as_deref(), Some("warn"));
        assert!(Cli::try_parse_from(["baton-notion", "--log-level-debug-expires-at", "soon"]).is_err());
    }

    #[test]
    fn settings_debug_hides_the_token() {
        let s = Settings::resolve(flags(&["--scim-token", "tok_VERY_SECRET"]), None).ok();
        let text = format!("{s:?}");
        assert!(!text.contains("VERY_SECRET"), "{text}");
        assert!(text.contains("redacted"));
    }

    #[test]
    fn a_named_config_file_must_exist() {
        let dir = std::env::temp_dir();
        let missing = dir.join("baton-notion-no-such-config.yaml");
        assert!(ConfigFile::discover(Some(missing), &dir).is_err());
    }
}
