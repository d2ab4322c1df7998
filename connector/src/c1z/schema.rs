//! The SQLite schema inside a c1z (format version 1), as baton-sdk's `pkg/dotc1z` creates it.
//!
//! Which SDK version this matches: the table and index definitions of the `dotc1z` package as of
//! its 2025 revisions, i.e.
//! - `v1_grants` with the `expansion blob` and `needs_expansion` columns (added for grant
//!   expansion and diff support);
//! - `v1_sync_runs` with `sync_type`, `parent_sync_id`, `linked_sync_id`, `supports_diff`,
//!   `grants_backfilled` and `stats`;
//! - `v1_resources` without the short-lived `resource_id` column (the SDK's own migration adds it
//!   when it wants it) and without the `ingest_invariant_*` sync-run columns some revisions
//!   carried and later dropped.
//!
//! Older SDK readers select named columns, so the extra columns do not disturb them; newer
//! readers run `ALTER TABLE ... ADD COLUMN` migrations for anything missing. The index names are
//! the SDK's (`idx_<table>_..._v1`), so its `create index if not exists` is a no-op on our files.
//! `v1_session_store`/`v1_connector_sessions` are not created: they hold connector session state,
//! which this connector has none of, and the SDK creates them on open.

use rusqlite::Connection;

/// Table names.
pub const RESOURCE_TYPES: &str = "v1_resource_types";
pub const RESOURCES: &str = "v1_resources";
pub const ENTITLEMENTS: &str = "v1_entitlements";
pub const GRANTS: &str = "v1_grants";
pub const SYNC_RUNS: &str = "v1_sync_runs";
pub const ASSETS: &str = "v1_assets";

/// The tables whose rows belong to a sync run (all but `v1_sync_runs`).
pub const DATA_TABLES: [&str; 5] = [RESOURCE_TYPES, RESOURCES, ENTITLEMENTS, GRANTS, ASSETS];

const DDL: &str = "
create table if not exists v1_resource_types (
    id integer primary key,
    external_id text not null,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
);
create unique index if not exists idx_resource_types_external_sync_v1 on v1_resource_types (external_id, sync_id);

create table if not exists v1_resources (
    id integer primary key,
    resource_type_id text not null,
    external_id text not null,
    parent_resource_type_id text,
    parent_resource_id text,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
);
create index if not exists idx_resources_resource_type_id_v1 on v1_resources (resource_type_id);
create index if not exists idx_resources_parent_resource_id_v1 on v1_resources (parent_resource_type_id, parent_resource_id);
create unique index if not exists idx_resources_external_sync_v1 on v1_resources (external_id, sync_id);

create table if not exists v1_entitlements (
    id integer primary key,
    resource_type_id text not null,
    resource_id text not null,
    external_id text not null,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
);
create index if not exists idx_entitlements_resource_id_v1 on v1_entitlements (resource_type_id, resource_id);
create unique index if not exists idx_entitlements_external_sync_v1 on v1_entitlements (external_id, sync_id);

create table if not exists v1_grants (
    id integer primary key,
    resource_type_id text not null,
    resource_id text not null,
    entitlement_id text not null,
    principal_resource_type_id text not null,
    principal_resource_id text not null,
    external_id text not null,
    expansion blob,
    needs_expansion integer not null default 0,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
);
create index if not exists idx_grants_resource_type_id_resource_id_v1 on v1_grants (resource_type_id, resource_id);
create index if not exists idx_grants_principal_id_v1 on v1_grants (principal_resource_type_id, principal_resource_id);
create index if not exists idx_grants_entitlement_id_principal_id_v1 on v1_grants (entitlement_id, principal_resource_type_id, principal_resource_id);
create unique index if not exists idx_grants_external_sync_v1 on v1_grants (external_id, sync_id);

create table if not exists v1_sync_runs (
    id integer primary key,
    sync_id text not null,
    started_at datetime not null,
    ended_at datetime,
    sync_token text not null,
    sync_type text not null default 'full',
    parent_sync_id text not null default '',
    linked_sync_id text not null default '',
    supports_diff integer not null default 0,
    grants_backfilled integer not null default 0,
    stats text
);
create unique index if not exists idx_sync_runs_sync_id_v1 on v1_sync_runs (sync_id);

create table if not exists v1_assets (
    id integer primary key,
    external_id text not null,
    content_type text not null,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
);
create unique index if not exists idx_assets_external_sync_v1 on v1_assets (external_id, sync_id);
";

/// Columns newer SDKs added to tables an older file may lack, with their definitions.
const ADDED_COLUMNS: [(&str, &str, &str); 8] = [
    (SYNC_RUNS, "sync_type", "text not null default 'full'"),
    (SYNC_RUNS, "parent_sync_id", "text not null default ''"),
    (SYNC_RUNS, "linked_sync_id", "text not null default ''"),
    (SYNC_RUNS, "supports_diff", "integer not null default 0"),
    (SYNC_RUNS, "grants_backfilled", "integer not null default 0"),
    (SYNC_RUNS, "stats", "text"),
    (GRANTS, "expansion", "blob"),
    (GRANTS, "needs_expansion", "integer not null default 0"),
];

/// Creates missing tables and indexes and adds the columns older files lack.
pub fn ensure(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(DDL)?;
    for (table, column, definition) in ADDED_COLUMNS {
        if !has_column(conn, table, column)? {
            conn.execute_batch(&format!("alter table {table} add column {column} {definition}"))?;
        }
    }
    Ok(())
}

/// True when `table` has a column named `column`.
pub fn has_column(conn: &Connection, table: &str, column: &str) -> rusqlite::Result<bool> {
    let count: i64 = conn.query_row(
        "select count(*) from pragma_table_info(?1) where name = ?2",
        (table, column),
        |row| row.get(0),
    )?;
    Ok(count > 0)
}

/// True when `table` exists.
pub fn has_table(conn: &Connection, table: &str) -> rusqlite::Result<bool> {
    let count: i64 = conn.query_row(
        "select count(*) from sqlite_master where type = 'table' and name = ?1",
        [table],
        |row| row.get(0),
    )?;
    Ok(count > 0)
}
