//! The subcommands beside the sync (`capabilities`, `config` and `validate`), and baton-sdk's
//! standard flags beyond this connector's own (`baton_flags`: supported, or refused by name);
//! `unknown_keys`: warnings for `.baton.yaml` keys that name no flag.

pub mod baton_flags;
mod capabilities;
mod schema;
pub mod unknown_keys;
mod validate;

pub use capabilities::capabilities_json;
pub use schema::config_schema_json;
pub use validate::{validate, Validation};
