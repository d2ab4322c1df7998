//! The c1z file: a baton sync run, written atomically, and read back.
//!
//! # Layout
//! - [`ksuid`]: sync ids (27-character KSUIDs).
//! - `schema`: the SQLite tables and indexes of baton-sdk's `pkg/dotc1z`, and the migrations
//!   an older file needs.
//! - `sqlite`: a SQLite database file written page by page without SQLite, streaming.
//! - `writer`: [`C1zWriter`], one sync run built with `sqlite` and streamed through zstd into
//!   a temp file renamed over the target (merged by SQLite into a copy of an existing file).
//! - `reader`: [`C1zReader`], the newest finished full sync (or a named one) decoded into
//!   [`crate::proto`] messages.
//!
//! # Format (version 1)
//! The 5 bytes `C1ZF\0`, then one zstd stream whose content is a SQLite database file (ours are
//! several concatenated frames, which the zstd format reads as one stream: see `writer`). Object
//! rows carry the protobuf encoding of the message in `data`, an `external_id` (the type id for
//! resource types, `<type>:<id>` for resources, the entitlement or grant id otherwise), the
//! `sync_id` and `discovered_at`. Timestamps are text in Go's `2006-01-02 15:04:05.999999999`
//! layout; we write UTC (the SDK writes local time without a zone, which its readers accept the
//! same way).

pub mod ksuid;
mod reader;
mod schema;
mod sqlite;
mod workfiles;
mod writer;

use std::io;
use std::path::{Path, PathBuf};

pub use reader::C1zReader;
pub use workfiles::remove_leftovers;
pub use writer::C1zWriter;

/// The 5-byte header of a c1z file, format version 1.
pub const C1Z_MAGIC: &[u8; 5] = b"C1ZF\0";

/// How many full finished syncs a file keeps (the SDK's default `BATON_KEEP_SYNC_COUNT`).
pub const KEEP_FULL_SYNCS: usize = 2;

/// Rows stamped with one `discovered_at` (the SDK stamps each bulk put with one time).
pub const ROWS_PER_BATCH: usize = 10_000;

/// The header SQLite puts at the start of every database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Everything that can go wrong reading or writing a c1z file.
#[derive(Debug, thiserror::Error)]
pub enum C1zError {
    /// A file could not be read, written, synced or renamed.
    #[error("c1z: {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Another run holds the target's lock.
    #[error(
        "c1z: another sync into {} is running (it holds the lock beside the file); wait for it, or sync into another file",
        target.display()
    )]
    Busy { target: PathBuf },
    /// The file does not start with `C1ZF\0`.
    #[error("c1z: {} is not a c1z file (bad magic; expected the bytes C1ZF\\0)", path.display())]
    BadMagic { path: PathBuf },
    /// The file ends before its zstd stream does.
    #[error("c1z: {} is truncated: {source}", path.display())]
    Truncated {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The bytes after the magic are not a valid zstd stream.
    #[error("c1z: {} has a corrupt zstd stream: {source}", path.display())]
    Decompress {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The zstd stream decompressed, but not to a SQLite database with baton's tables.
    #[error("c1z: {} does not contain a baton SQLite database: {reason}", path.display())]
    NotSqlite { path: PathBuf, reason: String },
    /// SQLite failed.
    #[error("c1z: sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored `data` blob did not decode as the expected protobuf message.
    #[error("c1z: row {row_id} of {table} does not decode: {source}")]
    Decode {
        table: &'static str,
        row_id: i64,
        #[source]
        source: prost::DecodeError,
    },
    /// An object lacks a field its row needs (e.g. a grant without a principal id).
    #[error("c1z: {object} {id:?} has no {field}")]
    MissingField {
        object: &'static str,
        id: String,
        field: &'static str,
    },
    /// The database could not be built (e.g. two rows of one run with the same id).
    #[error("c1z: {0}")]
    Build(String),
    /// `put_*` or `finish` before `start_sync`, or `start_sync` twice.
    #[error("c1z: {0}")]
    SyncState(&'static str),
    /// The file holds no finished full sync (or not the one asked for).
    #[error("c1z: no finished full sync{}", .0.as_deref().map(|id| format!(" with id {id}")).unwrap_or_default())]
    NoSync(Option<String>),
}

impl C1zError {
    fn io(action: &'static str, path: &Path, source: io::Error) -> Self {
        Self::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// One row of `v1_sync_runs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRun {
    pub sync_id: String,
    pub started_at: String,
    /// `None` while the run is unfinished.
    pub ended_at: Option<String>,
    pub sync_token: String,
    /// `full`, `partial`, `resources_only`, ...
    pub sync_type: String,
    pub parent_sync_id: String,
}

/// What [`C1zWriter::finish`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSummary {
    pub sync_id: String,
    pub resource_types: u64,
    pub resources: u64,
    pub entitlements: u64,
    pub grants: u64,
    /// Older sync runs deleted to keep the newest [`KEEP_FULL_SYNCS`] full syncs.
    pub removed_sync_ids: Vec<String>,
    /// Size of the c1z file written.
    pub bytes: u64,
    /// Where `finish` spent its time.
    pub finish: FinishBreakdown,
}

/// What [`C1zWriter::finish`] did after the last row, and how long each step took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FinishBreakdown {
    /// Writing the last table pages and sorting and writing every index of the new run.
    pub index: std::time::Duration,
    /// Into an existing file only: copying the new run's rows into it with SQLite.
    pub merge: std::time::Duration,
    /// Into an existing file only: copying the live rows into a compact file after old runs
    /// were removed (zero otherwise), and building the secondary indexes again.
    pub compact: std::time::Duration,
    /// Finishing the zstd stream (the whole database, after a merge), fsync, rename.
    pub publish: std::time::Duration,
    /// Size of the SQLite database inside the c1z.
    pub db_bytes: u64,
}

/// `t` in Go's `2006-01-02 15:04:05.999999999` layout: the fraction without trailing zeros, and
/// no dot at all when it is zero.
pub fn format_go_time(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let mut out = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let nanos = t.nanosecond();
    if nanos > 0 {
        let fraction = format!("{nanos:09}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    out
}

/// Now, in [`format_go_time`]'s layout.
pub fn now_go_time() -> String {
    format_go_time(time::OffsetDateTime::now_utc())
}

/// Checks the magic of `path` and decompresses the rest into `dest` (a new file), streaming.
fn decompress_c1z(path: &Path, dest: &Path) -> Result<(), C1zError> {
    use std::io::Read;

    let mut file = std::fs::File::open(path).map_err(|e| C1zError::io("open", path, e))?;
    let mut magic = [0u8; 5];
    let mut filled = 0;
    while filled < magic.len() {
        match file.read(&mut magic[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(C1zError::io("read", path, e)),
        }
    }
    if filled < magic.len() || &magic != C1Z_MAGIC {
        return Err(C1zError::BadMagic {
            path: path.to_path_buf(),
        });
    }
    let mut out = workfiles::create_private(dest).map_err(|e| C1zError::io("create", dest, e))?;
    let mut decoder = zstd::stream::read::Decoder::new(io::BufReader::new(file))
        .map_err(|e| C1zError::io("start decompressing", path, e))?;
    // Copy by hand so a read error (the zstd side) and a write error (our temp file) stay apart.
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match decoder.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(C1zError::Truncated {
                    path: path.to_path_buf(),
                    source: e,
                })
            }
            Err(e) => {
                return Err(C1zError::Decompress {
                    path: path.to_path_buf(),
                    source: e,
                })
            }
        };
        io::Write::write_all(&mut out, &buf[..n]).map_err(|e| C1zError::io("write", dest, e))?;
    }
    out.sync_all().map_err(|e| C1zError::io("sync", dest, e))?;
    check_sqlite_header(path, dest)
}

fn check_sqlite_header(c1z: &Path, db: &Path) -> Result<(), C1zError> {
    use std::io::Read;
    let mut header = [0u8; 16];
    let mut file = std::fs::File::open(db).map_err(|e| C1zError::io("open", db, e))?;
    let read = file.read(&mut header).map_err(|e| C1zError::io("read", db, e))?;
    if read < header.len() || &header != SQLITE_HEADER {
        return Err(C1zError::NotSqlite {
            path: c1z.to_path_buf(),
            reason: "the decompressed content has no SQLite header".into(),
        });
    }
    Ok(())
}

/// Checks that an opened database carries baton's sync-run table.
fn check_baton_tables(c1z: &Path, conn: &rusqlite::Connection) -> Result<(), C1zError> {
    match schema::has_table(conn, schema::SYNC_RUNS) {
        Ok(true) => Ok(()),
        Ok(false) => Err(C1zError::NotSqlite {
            path: c1z.to_path_buf(),
            reason: format!("no {} table", schema::SYNC_RUNS),
        }),
        Err(e) => Err(C1zError::NotSqlite {
            path: c1z.to_path_buf(),
            reason: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests;
