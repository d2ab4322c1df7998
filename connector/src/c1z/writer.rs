//! [`C1zWriter`]: one sync run into a private SQLite copy, published atomically on `finish`.
//!
//! Invariant: the target file is only ever replaced by a complete file whose newest run is
//! finished. Until `finish` renames its temp file over the target, every byte lives in a
//! private temp directory next to the target, which `Drop` removes.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use prost::Message;
use rusqlite::{params, Connection};

use super::schema::{self, DATA_TABLES, SYNC_RUNS};
use super::{
    ksuid, now_go_time, C1zError, FinishBreakdown, SyncSummary, C1Z_MAGIC, KEEP_FULL_SYNCS, ROWS_PER_TRANSACTION,
};
use crate::proto::{Entitlement, Grant, Resource, ResourceId, ResourceType};

/// zstd level for the output. Level 1 compresses these databases as well as the default 3
/// (34.3 MiB against 34.8 MiB for the 100k-member bench org) in half the time.
const ZSTD_LEVEL: i32 = 1;

/// Upper bound on zstd worker threads (the encoder uses one per core up to this).
const ZSTD_MAX_WORKERS: usize = 4;

/// Page size for a new file: 16 KiB pages (SQLite's default is 4 KiB) mean a quarter of the
/// B-tree pages to balance, write and scan, and 6% less data (less per-page overhead). Any
/// SQLite reader handles any page size; an existing file keeps the size it has.
const NEW_FILE_PAGE_SIZE: &str = "pragma page_size = 16384;";

/// The scratch database is private and thrown away on any failure; the target is only replaced
/// by `finish`'s rename. So it needs no syncs, no rollback journal (a failed statement fails the
/// whole sync) and no file locking.
/// The page cache is raised from SQLite's 2 MiB so the unique indexes (random keys) mostly stay
/// in memory instead of spilling to pread/pwrite on every insert; it also sizes the sorter's
/// in-memory runs when `finish` builds the deferred indexes. 24 MiB: 40 MiB bought nothing more.
const SCRATCH_PRAGMAS: &str = "pragma journal_mode = off; pragma synchronous = off; \
     pragma locking_mode = exclusive; pragma temp_store = file; pragma cache_size = -24576;";

/// The page cache (and so the sorter's in-memory runs) while `finish` builds the indexes.
const INDEX_BUILD_CACHE: &str = "pragma cache_size = -8192;";

const PUT_RESOURCE_TYPE: &str = "insert into v1_resource_types (external_id, data, sync_id, discovered_at) \
     values (?1, ?2, ?3, ?4) on conflict (external_id, sync_id) do update set data = excluded.data, \
     discovered_at = excluded.discovered_at";

const PUT_RESOURCE: &str = "insert into v1_resources (resource_type_id, external_id, parent_resource_type_id, \
     parent_resource_id, data, sync_id, discovered_at) values (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
     on conflict (external_id, sync_id) do update set resource_type_id = excluded.resource_type_id, \
     parent_resource_type_id = excluded.parent_resource_type_id, parent_resource_id = excluded.parent_resource_id, \
     data = excluded.data, discovered_at = excluded.discovered_at";

const PUT_ENTITLEMENT: &str =
    "insert into v1_entitlements (resource_type_id, resource_id, external_id, data, sync_id, \
     discovered_at) values (?1, ?2, ?3, ?4, ?5, ?6) \
     on conflict (external_id, sync_id) do update set resource_type_id = excluded.resource_type_id, \
     resource_id = excluded.resource_id, data = excluded.data, discovered_at = excluded.discovered_at";

const PUT_GRANT: &str = "insert into v1_grants (resource_type_id, resource_id, entitlement_id, \
     principal_resource_type_id, principal_resource_id, external_id, expansion, needs_expansion, data, sync_id, \
     discovered_at) values (?1, ?2, ?3, ?4, ?5, ?6, null, 0, ?7, ?8, ?9) \
     on conflict (external_id, sync_id) do update set resource_type_id = excluded.resource_type_id, \
     resource_id = excluded.resource_id, entitlement_id = excluded.entitlement_id, \
     principal_resource_type_id = excluded.principal_resource_type_id, \
     principal_resource_id = excluded.principal_resource_id, data = excluded.data, \
     discovered_at = excluded.discovered_at";

/// Writes one full sync run into a c1z file. See the module docs for the crash-safety contract.
#[derive(Debug)]
pub struct C1zWriter {
    // Field order matters: the connection closes before the directory holding its file goes.
    conn: Connection,
    db_path: PathBuf,
    workdir: tempfile::TempDir,
    target: PathBuf,
    sync_id: Option<String>,
    /// `discovered_at` of the rows in the open transaction: one timestamp per batch of rows, as
    /// the SDK's bulk puts stamp a whole batch with one `time.Now()`.
    discovered_at: String,
    rows_in_transaction: usize,
    counts: Counts,
    /// Reused for each row's protobuf encoding.
    buf: Vec<u8>,
    /// The non-unique indexes of the data tables (`create index` statements, in schema order),
    /// dropped for the bulk load and built again by `finish`, once, from sorted keys.
    deferred_indexes: Vec<String>,
}

#[derive(Debug, Default)]
struct Counts {
    resource_types: u64,
    resources: u64,
    entitlements: u64,
    grants: u64,
}

impl C1zWriter {
    /// Prepares a sync into `target`. An existing target is decompressed into a private copy so
    /// its earlier sync runs are kept (and it must be a valid c1z: a corrupt file is an error,
    /// not silently replaced); otherwise the schema starts empty. Nothing touches `target`
    /// before [`C1zWriter::finish`].
    pub fn open(target: &Path) -> Result<Self, C1zError> {
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let workdir = tempfile::Builder::new()
            .prefix(".c1z-work-")
            .tempdir_in(&dir)
            .map_err(|e| C1zError::io("create a temp directory in", &dir, e))?;
        let db_path = workdir.path().join("sync.db");
        let existing = target.exists();
        if existing {
            super::decompress_c1z(target, &db_path)?;
        }
        let conn = Connection::open(&db_path)?;
        if existing {
            super::check_baton_tables(target, &conn)?;
        }
        // A private scratch copy: durability comes from the fsync of the finished c1z.
        if !existing {
            // Only takes effect before the first table exists; an existing file keeps its own.
            // Before the cache size: a cache given in KiB is turned into a page count with the
            // page size of the moment (setting 16 KiB pages afterwards quadrupled the cache).
            conn.execute_batch(NEW_FILE_PAGE_SIZE)?;
        }
        conn.execute_batch(SCRATCH_PRAGMAS)?;
        schema::ensure(&conn)?;
        let deferred_indexes = drop_secondary_indexes(&conn)?;
        Ok(Self {
            conn,
            db_path,
            workdir,
            target: target.to_path_buf(),
            sync_id: None,
            discovered_at: now_go_time(),
            rows_in_transaction: 0,
            counts: Counts::default(),
            buf: Vec::with_capacity(1024),
            deferred_indexes,
        })
    }

    /// Starts a `full` sync run and returns its id (a KSUID).
    pub fn start_sync(&mut self) -> Result<String, C1zError> {
        if self.sync_id.is_some() {
            return Err(C1zError::SyncState("a sync is already running in this writer"));
        }
        let sync_id = ksuid::new_ksuid();
        self.discovered_at = now_go_time();
        self.conn.execute_batch("begin")?;
        // grants_backfilled = 1: new runs store grant expansion columns directly, as the SDK's
        // own new runs do, so its backfill migration skips them.
        self.conn.execute(
            &format!(
                "insert into {SYNC_RUNS} (sync_id, started_at, sync_token, sync_type, parent_sync_id, \
                 linked_sync_id, supports_diff, grants_backfilled) values (?1, ?2, '', 'full', '', '', 0, 1)"
            ),
            params![sync_id, self.discovered_at],
        )?;
        self.rows_in_transaction = 1;
        self.sync_id = Some(sync_id.clone());
        Ok(sync_id)
    }

    /// The running sync's id, if [`C1zWriter::start_sync`] was called.
    pub fn sync_id(&self) -> Option<&str> {
        self.sync_id.as_deref()
    }

    /// Stores a resource type; `external_id` is its id.
    pub fn put_resource_type(&mut self, resource_type: &ResourceType) -> Result<(), C1zError> {
        let sync_id = running(&self.sync_id)?;
        self.buf.clear();
        resource_type.encode_raw(&mut self.buf);
        self.conn.prepare_cached(PUT_RESOURCE_TYPE)?.execute(params![
            resource_type.id,
            self.buf,
            sync_id,
            self.discovered_at
        ])?;
        self.counts.resource_types += 1;
        self.row_written()
    }

    /// Stores a resource; `external_id` is `<type>:<id>`.
    pub fn put_resource(&mut self, resource: &Resource) -> Result<(), C1zError> {
        let sync_id = running(&self.sync_id)?;
        let id = resource.id.as_ref().ok_or_else(|| C1zError::MissingField {
            object: "resource",
            id: resource.display_name.clone(),
            field: "id",
        })?;
        let parent = resource.parent_resource_id.as_ref();
        self.buf.clear();
        resource.encode_raw(&mut self.buf);
        self.conn.prepare_cached(PUT_RESOURCE)?.execute(params![
            id.resource_type,
            resource_external_id(id),
            parent.map(|p| p.resource_type.as_str()),
            parent.map(|p| p.resource.as_str()),
            self.buf,
            sync_id,
            self.discovered_at
        ])?;
        self.counts.resources += 1;
        self.row_written()
    }

    /// Stores an entitlement; `external_id` is its id, `resource_*` its resource.
    pub fn put_entitlement(&mut self, entitlement: &Entitlement) -> Result<(), C1zError> {
        let sync_id = running(&self.sync_id)?;
        let resource_id = entitlement
            .resource
            .as_ref()
            .and_then(|r| r.id.as_ref())
            .ok_or_else(|| C1zError::MissingField {
                object: "entitlement",
                id: entitlement.id.clone(),
                field: "resource.id",
            })?;
        self.buf.clear();
        entitlement.encode_raw(&mut self.buf);
        self.conn.prepare_cached(PUT_ENTITLEMENT)?.execute(params![
            resource_id.resource_type,
            resource_id.resource,
            entitlement.id,
            self.buf,
            sync_id,
            self.discovered_at
        ])?;
        self.counts.entitlements += 1;
        self.row_written()
    }

    /// Stores a grant; `external_id` is its id, `resource_*` the entitlement's resource and
    /// `principal_*` the principal. No grant here carries a `GrantExpandable` annotation, so
    /// `expansion` is NULL and `needs_expansion` 0, as the SDK stores such grants.
    pub fn put_grant(&mut self, grant: &Grant) -> Result<(), C1zError> {
        let sync_id = running(&self.sync_id)?;
        let missing = |field| C1zError::MissingField {
            object: "grant",
            id: grant.id.clone(),
            field,
        };
        let entitlement = grant.entitlement.as_ref().ok_or_else(|| missing("entitlement"))?;
        let resource_id = entitlement
            .resource
            .as_ref()
            .and_then(|r| r.id.as_ref())
            .ok_or_else(|| missing("entitlement.resource.id"))?;
        let principal_id = grant
            .principal
            .as_ref()
            .and_then(|p| p.id.as_ref())
            .ok_or_else(|| missing("principal.id"))?;
        self.buf.clear();
        grant.encode_raw(&mut self.buf);
        self.conn.prepare_cached(PUT_GRANT)?.execute(params![
            resource_id.resource_type,
            resource_id.resource,
            entitlement.id,
            principal_id.resource_type,
            principal_id.resource,
            grant.id,
            self.buf,
            sync_id,
            self.discovered_at
        ])?;
        self.counts.grants += 1;
        self.row_written()
    }

    /// Ends the run, keeps the newest [`KEEP_FULL_SYNCS`] finished full syncs, and atomically
    /// replaces the target with the new c1z (temp file in the same directory, fsync, rename,
    /// fsync of the directory).
    pub fn finish(mut self) -> Result<SyncSummary, C1zError> {
        let sync_id = running(&self.sync_id)?.to_owned();
        // supports_diff = 1: the grant rows carry correct expansion columns (see put_grant),
        // which is what the SDK's flag promises to `baton diff`.
        self.conn.execute(
            &format!("update {SYNC_RUNS} set ended_at = ?1, supports_diff = 1 where sync_id = ?2"),
            params![now_go_time(), sync_id],
        )?;
        let removed_sync_ids = remove_old_syncs(&self.conn)?;
        self.conn.execute_batch("commit")?;
        self.rows_in_transaction = 0;
        let Self {
            conn,
            db_path,
            workdir,
            target,
            counts,
            deferred_indexes,
            ..
        } = self;
        let mut breakdown = FinishBreakdown::default();
        // Deleted runs leave free pages full of stale rows behind: copy the live ones into a
        // compact file (before the deferred indexes exist, so they are built only once, there).
        let started = Instant::now();
        let (conn, db_path) = match (removed_sync_ids.is_empty(), workdir.path().join("compact.db")) {
            (false, compact) if compact.to_str().is_some() => {
                // The copy is read once, in order: a small cache serves it as well and keeps the
                // peak of a compacting sync down.
                conn.execute_batch(INDEX_BUILD_CACHE)?;
                conn.execute("vacuum into ?1", [compact.to_str()])?;
                conn.close().map_err(|(_, e)| C1zError::Sqlite(e))?;
                let conn = Connection::open(&compact)?;
                conn.execute_batch(SCRATCH_PRAGMAS)?;
                (conn, compact)
            }
            (false, _) => {
                conn.execute_batch("vacuum")?;
                (conn, db_path)
            }
            (true, _) => (conn, db_path),
        };
        breakdown.compact = started.elapsed();
        let started = Instant::now();
        build_indexes(&conn, &deferred_indexes)?;
        breakdown.index = started.elapsed();
        conn.close().map_err(|(_, e)| C1zError::Sqlite(e))?;
        breakdown.db_bytes = std::fs::metadata(&db_path)
            .map_err(|e| C1zError::io("stat", &db_path, e))?
            .len();
        let started = Instant::now();
        let bytes = publish(&db_path, &target)?;
        breakdown.publish = started.elapsed();
        tracing::debug!(
            compact_ms = breakdown.compact.as_millis() as u64,
            index_ms = breakdown.index.as_millis() as u64,
            publish_ms = breakdown.publish.as_millis() as u64,
            db_bytes = breakdown.db_bytes,
            "c1z finish breakdown"
        );
        drop(workdir);
        Ok(SyncSummary {
            sync_id,
            resource_types: counts.resource_types,
            resources: counts.resources,
            entitlements: counts.entitlements,
            grants: counts.grants,
            removed_sync_ids,
            bytes,
            finish: breakdown,
        })
    }

    /// Commits every [`ROWS_PER_TRANSACTION`] rows so the journal stays small.
    fn row_written(&mut self) -> Result<(), C1zError> {
        self.rows_in_transaction += 1;
        if self.rows_in_transaction >= ROWS_PER_TRANSACTION {
            self.conn.execute_batch("commit; begin")?;
            self.rows_in_transaction = 0;
            self.discovered_at = now_go_time();
        }
        Ok(())
    }
}

/// The running sync's id, or the misuse error.
fn running(sync_id: &Option<String>) -> Result<&str, C1zError> {
    sync_id
        .as_deref()
        .ok_or(C1zError::SyncState("no sync started; call start_sync first"))
}

/// Drops the non-unique indexes of the data tables and returns their `create index` statements
/// in schema order. The unique `(external_id, sync_id)` indexes stay: the upserts need them.
/// Inserting 240k rows into three more B-trees keyed on random ids costs far more than sorting
/// the keys once at the end; which indexes a file has is unchanged, as `finish` builds them again
/// (whatever their definition: the SDK's, or any a newer SDK added to an existing file).
fn drop_secondary_indexes(conn: &Connection) -> Result<Vec<String>, C1zError> {
    let tables = DATA_TABLES.map(|t| format!("'{t}'")).join(", ");
    let indexes: Vec<(String, String)> = conn
        .prepare(&format!(
            "select m.name, m.sql from sqlite_master m where m.type = 'index' and m.sql is not null \
             and m.tbl_name in ({tables}) and exists (select 1 from pragma_index_list(m.tbl_name) l \
             where l.name = m.name and l.\"unique\" = 0) order by m.rowid"
        ))?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut statements = Vec::with_capacity(indexes.len());
    for (name, sql) in indexes {
        conn.execute_batch(&format!("drop index \"{}\"", name.replace('"', "\"\"")))?;
        statements.push(sql);
    }
    Ok(statements)
}

/// Builds the indexes [`drop_secondary_indexes`] dropped, in one transaction.
fn build_indexes(conn: &Connection, statements: &[String]) -> Result<(), C1zError> {
    if statements.is_empty() {
        return Ok(());
    }
    // The sorter keeps runs as large as the page cache in memory; the load is over, so a small
    // cache bounds the memory of sorting two or three runs' worth of keys (and builds as fast).
    conn.execute_batch(INDEX_BUILD_CACHE)?;
    conn.execute_batch("begin")?;
    for sql in statements {
        conn.execute_batch(sql)?;
    }
    conn.execute_batch("commit")?;
    Ok(())
}

/// `<type>:<id>`, the resource row's `external_id`.
pub(super) fn resource_external_id(id: &ResourceId) -> String {
    format!("{}:{}", id.resource_type, id.resource)
}

/// Deletes all but the newest [`KEEP_FULL_SYNCS`] finished full runs and their rows; returns
/// the deleted ids. Runs of other types and unfinished runs are left alone.
fn remove_old_syncs(conn: &Connection) -> Result<Vec<String>, C1zError> {
    let finished: Vec<String> = conn
        .prepare(&format!(
            "select sync_id from {SYNC_RUNS} where ended_at is not null and sync_type = 'full' \
             order by ended_at desc, sync_id desc"
        ))?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let doomed: Vec<String> = finished.into_iter().skip(KEEP_FULL_SYNCS).collect();
    for sync_id in &doomed {
        for table in DATA_TABLES {
            conn.execute(&format!("delete from {table} where sync_id = ?1"), [sync_id])?;
        }
        conn.execute(&format!("delete from {SYNC_RUNS} where sync_id = ?1"), [sync_id])?;
    }
    Ok(doomed)
}

/// Writes magic + zstd(db) to a temp file beside `target`, fsyncs it, renames it over `target`
/// and fsyncs the directory. Returns the file size.
fn publish(db_path: &Path, target: &Path) -> Result<u64, C1zError> {
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".c1z-out-")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(|e| C1zError::io("create a temp file in", &dir, e))?;
    let mut db = File::open(db_path).map_err(|e| C1zError::io("open", db_path, e))?;
    let mut out = BufWriter::new(tmp.as_file());
    out.write_all(C1Z_MAGIC)
        .map_err(|e| C1zError::io("write", tmp.path(), e))?;
    let mut encoder =
        zstd::stream::write::Encoder::new(out, ZSTD_LEVEL).map_err(|e| C1zError::io("compress", tmp.path(), e))?;
    encoder
        .include_checksum(true)
        .map_err(|e| C1zError::io("compress", tmp.path(), e))?;
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(ZSTD_MAX_WORKERS);
    if workers > 1 {
        // Still one zstd frame, as any decoder reads it; only the encoder is parallel.
        encoder
            .multithread(workers as u32)
            .map_err(|e| C1zError::io("compress", tmp.path(), e))?;
    }
    io::copy(&mut db, &mut encoder).map_err(|e| C1zError::io("compress into", tmp.path(), e))?;
    let out = encoder
        .finish()
        .map_err(|e| C1zError::io("compress into", tmp.path(), e))?;
    out.into_inner()
        .map_err(|e| C1zError::io("write", tmp.path(), e.into_error()))?;
    let file = tmp.as_file();
    file.sync_all().map_err(|e| C1zError::io("sync", tmp.path(), e))?;
    let bytes = file.metadata().map_err(|e| C1zError::io("stat", tmp.path(), e))?.len();
    tmp.persist(target)
        .map_err(|e| C1zError::io("rename over", target, e.error))?;
    // Best effort: makes the rename itself durable where directories can be opened (Unix).
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(bytes)
}
