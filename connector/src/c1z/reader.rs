//! [`C1zReader`]: a c1z file decompressed into a private temp copy and read with SQLite.

use std::path::Path;

use prost::Message;
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::schema::{self, ENTITLEMENTS, GRANTS, RESOURCES, RESOURCE_TYPES, SYNC_RUNS};
use super::{C1zError, SyncRun};
use crate::proto::{Entitlement, Grant, Resource, ResourceType};

/// Reads the runs and objects of a c1z file.
#[derive(Debug)]
pub struct C1zReader {
    // The connection closes before the directory holding its file is removed.
    conn: Connection,
    _workdir: tempfile::TempDir,
}

impl C1zReader {
    /// Opens `path`: checks the magic, decompresses into a temp directory, checks that the
    /// content is a SQLite database with baton's tables. Each failure has its own error
    /// ([`C1zError::BadMagic`], [`C1zError::Truncated`], [`C1zError::Decompress`],
    /// [`C1zError::NotSqlite`]).
    pub fn open(path: &Path) -> Result<Self, C1zError> {
        let workdir = tempfile::Builder::new()
            .prefix("c1z-read-")
            .tempdir()
            .map_err(|e| C1zError::io("create a temp directory for", path, e))?;
        let db_path = workdir.path().join("sync.db");
        super::decompress_c1z(path, &db_path)?;
        let conn = Connection::open_with_flags(&db_path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|e| {
            C1zError::NotSqlite {
                path: path.to_path_buf(),
                reason: e.to_string(),
            }
        })?;
        super::check_baton_tables(path, &conn)?;
        Ok(Self {
            conn,
            _workdir: workdir,
        })
    }

    /// Every sync run, oldest row first.
    pub fn sync_runs(&self) -> Result<Vec<SyncRun>, C1zError> {
        // Files from older SDKs may lack the newer columns; read them as their defaults.
        let sync_type = if schema::has_column(&self.conn, SYNC_RUNS, "sync_type")? {
            "sync_type"
        } else {
            "'full'"
        };
        let parent = if schema::has_column(&self.conn, SYNC_RUNS, "parent_sync_id")? {
            "parent_sync_id"
        } else {
            "''"
        };
        let mut stmt = self.conn.prepare(&format!(
            "select sync_id, cast(started_at as text), cast(ended_at as text), sync_token, {sync_type}, {parent} \
             from {SYNC_RUNS} order by id"
        ))?;
        let runs = stmt
            .query_map([], |row| {
                Ok(SyncRun {
                    sync_id: row.get(0)?,
                    started_at: row.get(1)?,
                    ended_at: row.get(2)?,
                    sync_token: row.get(3)?,
                    sync_type: row.get(4)?,
                    parent_sync_id: row.get(5)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(runs)
    }

    /// The newest full run with `ended_at` set (the one baton readers show), if any.
    pub fn latest_finished_full_sync(&self) -> Result<Option<SyncRun>, C1zError> {
        let mut runs: Vec<SyncRun> = self
            .sync_runs()?
            .into_iter()
            .filter(|r| r.ended_at.is_some() && r.sync_type == "full")
            .collect();
        runs.sort_by(|a, b| (&a.ended_at, &a.sync_id).cmp(&(&b.ended_at, &b.sync_id)));
        Ok(runs.pop())
    }

    /// Resource types of `sync_id`, or of the latest finished full sync when `None`.
    pub fn resource_types(&self, sync_id: Option<&str>) -> Result<Vec<ResourceType>, C1zError> {
        self.objects(RESOURCE_TYPES, sync_id)
    }

    /// Resources of `sync_id`, or of the latest finished full sync when `None`.
    pub fn resources(&self, sync_id: Option<&str>) -> Result<Vec<Resource>, C1zError> {
        self.objects(RESOURCES, sync_id)
    }

    /// Entitlements of `sync_id`, or of the latest finished full sync when `None`.
    pub fn entitlements(&self, sync_id: Option<&str>) -> Result<Vec<Entitlement>, C1zError> {
        self.objects(ENTITLEMENTS, sync_id)
    }

    /// Grants of `sync_id`, or of the latest finished full sync when `None`.
    pub fn grants(&self, sync_id: Option<&str>) -> Result<Vec<Grant>, C1zError> {
        self.objects(GRANTS, sync_id)
    }

    /// The stored `external_id`s of `table` (`v1_resources`, ...) for a sync, in row order;
    /// lets callers check the id columns the SDK's readers key on.
    pub fn external_ids(&self, table: &str, sync_id: Option<&str>) -> Result<Vec<String>, C1zError> {
        let sync_id = self.resolve(sync_id)?;
        let table = known_table(table).ok_or(C1zError::SyncState("unknown table"))?;
        let mut stmt = self.conn.prepare(&format!(
            "select external_id from {table} where sync_id = ?1 order by id"
        ))?;
        let ids = stmt
            .query_map([sync_id], |row| row.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(ids)
    }

    /// Runs a read-only query, for tests and diagnostics that inspect raw columns.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    fn resolve(&self, sync_id: Option<&str>) -> Result<String, C1zError> {
        match sync_id {
            Some(id) => {
                let found = self
                    .conn
                    .query_row(
                        &format!("select sync_id from {SYNC_RUNS} where sync_id = ?1"),
                        [id],
                        |row| row.get::<_, String>(0),
                    )
                    .optional()?;
                found.ok_or_else(|| C1zError::NoSync(Some(id.to_string())))
            }
            None => self
                .latest_finished_full_sync()?
                .map(|r| r.sync_id)
                .ok_or(C1zError::NoSync(None)),
        }
    }

    fn objects<M: Message + Default>(&self, table: &'static str, sync_id: Option<&str>) -> Result<Vec<M>, C1zError> {
        let sync_id = self.resolve(sync_id)?;
        let mut stmt = self
            .conn
            .prepare(&format!("select id, data from {table} where sync_id = ?1 order by id"))?;
        let mut rows = stmt.query([sync_id])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let row_id: i64 = row.get(0)?;
            let data: Vec<u8> = row.get(1)?;
            out.push(M::decode(data.as_slice()).map_err(|source| C1zError::Decode { table, row_id, source })?);
        }
        Ok(out)
    }
}

fn known_table(table: &str) -> Option<&'static str> {
    [RESOURCE_TYPES, RESOURCES, ENTITLEMENTS, GRANTS, schema::ASSETS]
        .into_iter()
        .find(|t| *t == table)
}
