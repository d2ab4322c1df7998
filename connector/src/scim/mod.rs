//! Notion's SCIM API as the connector sees it: wire types and the client.

pub mod client;
pub(crate) mod ids;
pub mod types;
