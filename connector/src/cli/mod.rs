//! The subcommands beside the sync: `capabilities`, `config` and `validate`.

mod capabilities;
mod schema;
mod validate;

pub use capabilities::capabilities_json;
pub use schema::config_schema_json;
pub use validate::{validate, Validation};
