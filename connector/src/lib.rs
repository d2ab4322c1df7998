//! A baton connector for Notion Enterprise, speaking Notion's SCIM API.
//!
//! # Layout
//! - [`scim`]: the SCIM wire types and the HTTP client (paging, retries, rate limits).
//! - [`proto`]: the baton protobuf messages (`c1.connector.v2`), written with `prost` derives.
//! - [`model`]: how Notion's users, groups and roles become baton resources, entitlements and grants.
//! - [`c1z`]: the c1z file: writing a sync run atomically, and reading one back.
//! - [`sync`]: one full sync, streaming pages from [`scim`] through [`model`] into [`c1z`].
//! - [`provision`]: one-shot provisioning (accounts, roles, group memberships), idempotent.
//! - [`config`]: the command line, environment and `.baton.yaml` configuration.
//! - [`cli`]: the `capabilities`, `config` and `validate` subcommands.
//! - [`service`]: service (daemon) mode: tasks from ConductorOne over gRPC, and the health check.
//! - [`secret`]: the token type that never prints; [`logging`] and [`progress`]: stderr output.
//! - [`procstat`]: CPU time and peak memory from `/proc`, for reports and benchmarks.

pub mod c1z;
pub mod cli;
pub mod config;
pub mod logging;
pub mod model;
pub mod procstat;
pub mod progress;
pub mod proto;
pub mod provision;
pub mod scim;
pub mod secret;
pub mod service;
pub mod sync;
