//! [`C1zWriter`]: one sync run, published atomically on `finish`.
//!
//! Invariant: the target file is only ever replaced by a complete file whose newest run is
//! finished. Until `finish` renames its temp file over the target, every byte lives in temp
//! files next to the target, which `Drop` removes.
//!
//! Two ways to the file:
//! - **A new file** (the target does not exist): rows go straight into a SQLite file built page
//!   by page ([`super::sqlite`]), whose pages stream into the zstd encoder of the c1z as they
//!   fill, so compression overlaps the sync. The file is `C1ZF\0`, a zstd frame holding page 1
//!   stored raw (it names each tree's root and is only known at the end, so it is written last
//!   into room left for it), a frame of the table pages (compressed on the writer thread as
//!   they fill) and a frame of the index pages (written at `finish`, compressed by worker
//!   threads). zstd readers decode concatenated frames as one stream (RFC 8878 section 3.1).
//! - **An existing file**: the new run is built the same way into a plain database file, then
//!   merged by SQLite into a copy of the existing file, old runs beyond the newest two full
//!   syncs deleted, and the whole compressed into the new c1z.

use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use prost::Message;
use rusqlite::Connection;

use super::schema::{self, DATA_TABLES, ENTITLEMENTS, GRANTS, RESOURCES, RESOURCE_TYPES, SYNC_RUNS};
use super::sqlite::{BuildError, ChunkMaker, DbBuilder, PageOutput, Schema, SpillConfig, Value, PAGE_SIZE};
use super::workfiles::{self, TargetLock};
use super::{ksuid, now_go_time, C1zError, FinishBreakdown, SyncSummary, C1Z_MAGIC, KEEP_FULL_SYNCS, ROWS_PER_BATCH};
use crate::proto::{Entitlement, Grant, Resource, ResourceId, ResourceType};

/// zstd level for the output. Level 1 compresses these databases as well as the default 3
/// (34.3 MiB against 34.8 MiB for the 100k-member bench org) in half the time.
const ZSTD_LEVEL: i32 = 1;

/// Bytes of index keys a sync keeps in memory before it sorts them into runs on disk (in the
/// run's private work folder), merged while the indexes are written: the one part of the
/// writer that would otherwise grow with the org. A 100,000-member org stays below it.
pub const KEY_MEMORY_BUDGET: usize = 48 << 20;

/// Upper bound on zstd worker threads (the encoder uses one per core up to this).
const ZSTD_MAX_WORKERS: usize = 4;

/// Bytes of the zstd frame that carries page 1 uncompressed: magic (4), frame header
/// descriptor (1), 2-byte content size, block header (3), the page.
const PAGE_ONE_FRAME_LEN: usize = 4 + 1 + 2 + 3 + PAGE_SIZE;

/// The scratch database of a merge is private and thrown away on any failure; the target is
/// only replaced by `finish`'s rename. So it needs no syncs, no rollback journal and no file
/// locking. Its tables have no indexes while the new run's rows go in (they are appended), so
/// a modest page cache serves; it also sizes the sorter's in-memory runs when the indexes are
/// built again.
const SCRATCH_PRAGMAS: &str = "pragma journal_mode = off; pragma synchronous = off; \
     pragma locking_mode = exclusive; pragma temp_store = file; pragma cache_size = -8192;";

/// The page cache (and so the sorter's in-memory runs) while indexes are built or a file is
/// compacted.
const INDEX_BUILD_CACHE: &str = "pragma cache_size = -8192;";

type Encoder = zstd::stream::write::Encoder<'static, BufWriter<File>>;

/// A zstd frame compressed in memory: a run of index leaves packed on a worker thread.
type ChunkEncoder = zstd::stream::write::Encoder<'static, ChunkBuffer>;

/// A worker's compressed chunk is kept in memory up to this size, then in a file.
const CHUNK_IN_MEMORY: usize = 4 << 20;

/// Where a worker's compressed index chunk waits for its turn to be appended (chunks are
/// appended in schema order, and the biggest indexes are packed first): in memory while small,
/// in an anonymous file in the run's private work folder past [`CHUNK_IN_MEMORY`]. At a million
/// members the chunks come to over a hundred MiB, which held in memory were the sync's peak.
#[derive(Debug)]
pub(crate) struct ChunkBuffer {
    memory: Vec<u8>,
    file: Option<BufWriter<File>>,
    dir: Arc<PathBuf>,
}

impl ChunkBuffer {
    fn new(dir: Arc<PathBuf>) -> Self {
        Self {
            memory: Vec::new(),
            file: None,
            dir,
        }
    }

    /// Writes the chunk's bytes to `out`.
    fn copy_into(self, out: &mut impl Write) -> io::Result<()> {
        match self.file {
            None => out.write_all(&self.memory),
            Some(file) => {
                let mut file = file.into_inner().map_err(io::IntoInnerError::into_error)?;
                file.seek(SeekFrom::Start(0))?;
                io::copy(&mut file, out).map(drop)
            }
        }
    }
}

impl Write for ChunkBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.file.is_none() && self.memory.len() + buf.len() > CHUNK_IN_MEMORY {
            let mut file = BufWriter::with_capacity(1 << 16, tempfile::tempfile_in(self.dir.as_path())?);
            file.write_all(&self.memory)?;
            self.memory = Vec::new();
            self.file = Some(file);
        }
        match &mut self.file {
            Some(file) => file.write(buf),
            None => {
                self.memory.extend_from_slice(buf);
                Ok(buf.len())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.file {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}

/// The c1z file being written: between frames, or inside one.
enum C1zStream {
    Between(BufWriter<File>),
    Frame(Encoder),
}

/// Where the built pages go.
enum Output {
    /// The c1z itself, magic and room for page 1's frame already written (`None` only after an
    /// error while one frame ended and the next began). Pages written in order go into a
    /// frame compressed on the writing thread, opened at the first page after a chunk.
    C1z(Option<C1zStream>, Arc<PathBuf>),
    /// A plain database (room for page 1, then the pages) to merge into an existing file.
    Db(BufWriter<File>),
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::C1z(..) => "Output::C1z",
            Self::Db(_) => "Output::Db",
        })
    }
}

fn encoder_gone() -> io::Error {
    io::Error::other("the zstd encoder is gone after an earlier error")
}

impl Output {
    fn target(&mut self) -> io::Result<&mut dyn Write> {
        match self {
            Self::C1z(slot, _) => {
                let encoder = match slot.take().ok_or_else(encoder_gone)? {
                    C1zStream::Frame(encoder) => encoder,
                    C1zStream::Between(file) => new_encoder(file, 0)?,
                };
                match slot.insert(C1zStream::Frame(encoder)) {
                    C1zStream::Frame(encoder) => Ok(encoder),
                    C1zStream::Between(file) => Ok(file),
                }
            }
            Self::Db(w) => Ok(w),
        }
    }

    /// Ends the open frame, if any, and returns the file.
    fn into_file(self) -> io::Result<BufWriter<File>> {
        match self {
            Self::C1z(Some(C1zStream::Frame(encoder)), _) => encoder.finish(),
            Self::C1z(Some(C1zStream::Between(file)), _) | Self::Db(file) => Ok(file),
            Self::C1z(None, _) => Err(encoder_gone()),
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.target()?.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.target()?.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.target()?.flush()
    }
}

/// In a c1z, each index's leaves are a zstd frame of their own, compressed by the worker that
/// packed them; a plain database takes every page in order.
impl PageOutput for Output {
    type Chunk = ChunkEncoder;

    fn chunks(&self) -> Option<ChunkMaker<Self::Chunk>> {
        match self {
            Self::C1z(_, dir) => {
                let dir = Arc::clone(dir);
                Some(Box::new(move || new_chunk_encoder(Arc::clone(&dir))))
            }
            Self::Db(_) => None,
        }
    }

    fn append_chunk(&mut self, chunk: Self::Chunk) -> io::Result<()> {
        let Self::C1z(slot, _) = self else {
            return Err(io::Error::other("a plain database takes no chunks"));
        };
        let bytes = chunk.finish()?;
        let mut file = match slot.take().ok_or_else(encoder_gone)? {
            C1zStream::Frame(encoder) => encoder.finish()?,
            C1zStream::Between(file) => file,
        };
        let written = bytes.copy_into(&mut file);
        *slot = Some(C1zStream::Between(file));
        written
    }
}

/// Table handles in the builder's schema.
#[derive(Debug, Clone, Copy)]
struct Tables {
    resource_types: usize,
    resources: usize,
    entitlements: usize,
    grants: usize,
    sync_runs: usize,
}

/// Writes one full sync run into a c1z file. See the module docs for the crash-safety contract.
#[derive(Debug)]
pub struct C1zWriter {
    // Field order matters: the builder's file handles close before the temp files go.
    builder: DbBuilder<Output>,
    tables: Tables,
    target: PathBuf,
    /// The c1z being written (a new target), renamed over the target by `finish`.
    out_file: Option<tempfile::NamedTempFile>,
    /// The decompressed copy of an existing target and the new run's database, merged by
    /// `finish`.
    merge: Option<(PathBuf, PathBuf)>,
    /// The private work folder: the merge's databases, and index keys spilled to disk.
    workdir: tempfile::TempDir,
    /// Held until the writer is dropped: no other run writes this target meanwhile.
    _lock: TargetLock,
    sync_id: Option<String>,
    started_at: String,
    /// `discovered_at` of the rows of the current batch: one timestamp per
    /// [`ROWS_PER_BATCH`] rows, as the SDK's bulk puts stamp a whole batch with one `time.Now()`.
    discovered_at: String,
    rows_in_batch: usize,
    counts: Counts,
    /// Reused for each row's protobuf encoding.
    buf: Vec<u8>,
}

#[derive(Debug, Default)]
struct Counts {
    resource_types: u64,
    resources: u64,
    entitlements: u64,
    grants: u64,
}

/// baton's schema as SQLite stores it, read from a scratch in-memory database.
fn baton_schema() -> Result<Schema, C1zError> {
    let conn = Connection::open_in_memory()?;
    schema::ensure(&conn)?;
    Ok(Schema::read(&conn)?)
}

fn handle(schema: &Schema, name: &'static str) -> Result<usize, C1zError> {
    schema
        .table(name)
        .ok_or(C1zError::SyncState("the c1z schema lacks a table this writer needs"))
}

/// A zstd encoder at [`ZSTD_LEVEL`] with a checksum; `workers` > 0 compresses on that many
/// background threads, 0 on the writing thread itself.
fn new_encoder(out: BufWriter<File>, workers: u32) -> io::Result<Encoder> {
    let mut encoder = zstd::stream::write::Encoder::new(out, ZSTD_LEVEL)?;
    encoder.include_checksum(true)?;
    if workers > 0 {
        encoder.multithread(workers)?;
    }
    Ok(encoder)
}

/// A chunk: one zstd frame compressed in memory at [`ZSTD_LEVEL`], with a checksum.
fn new_chunk_encoder(dir: Arc<PathBuf>) -> io::Result<ChunkEncoder> {
    let mut encoder = zstd::stream::write::Encoder::new(ChunkBuffer::new(dir), ZSTD_LEVEL)?;
    encoder.include_checksum(true)?;
    Ok(encoder)
}

/// Workers for compressing a whole merged file: one per core, up to [`ZSTD_MAX_WORKERS`], none
/// on a single core.
fn tail_workers() -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 {
        0
    } else {
        cores.min(ZSTD_MAX_WORKERS) as u32
    }
}

/// A zstd frame holding `content` as one raw (stored) block: 4-byte magic, a frame header
/// descriptor saying "single segment, 2-byte content size, no checksum", the content size
/// minus 256 (little-endian), a 3-byte block header (last block, raw, size), the bytes.
fn raw_zstd_frame(content: &[u8]) -> Vec<u8> {
    debug_assert!((256..=65_791).contains(&content.len()));
    let mut frame = Vec::with_capacity(content.len() + 10);
    frame.extend_from_slice(&0xFD2F_B528u32.to_le_bytes());
    frame.push(0b0110_0000);
    frame.extend_from_slice(&((content.len() - 256) as u16).to_le_bytes());
    let block_header = ((content.len() as u32) << 3) | 1;
    frame.extend_from_slice(&block_header.to_le_bytes()[..3]);
    frame.extend_from_slice(content);
    frame
}

impl C1zWriter {
    /// Prepares a sync into `target`. An existing target is decompressed into a private copy so
    /// its earlier sync runs are kept (and it must be a valid c1z: a corrupt file is an error,
    /// not silently replaced). Nothing touches `target` before [`C1zWriter::finish`].
    pub fn open(target: &Path) -> Result<Self, C1zError> {
        Self::open_with_key_budget(target, KEY_MEMORY_BUDGET)
    }

    /// [`C1zWriter::open`] with index keys spilled to disk past `budget` bytes (the file
    /// written is the same whatever the budget).
    pub fn open_with_key_budget(target: &Path, budget: usize) -> Result<Self, C1zError> {
        let schema = baton_schema()?;
        let tables = Tables {
            resource_types: handle(&schema, RESOURCE_TYPES)?,
            resources: handle(&schema, RESOURCES)?,
            entitlements: handle(&schema, ENTITLEMENTS)?,
            grants: handle(&schema, GRANTS)?,
            sync_runs: handle(&schema, SYNC_RUNS)?,
        };
        // One run per target at a time; whatever a killed run left is ours to remove.
        let lock = workfiles::lock(target)?;
        workfiles::remove_leftovers(target);
        // The merge's databases and any index keys spilled past the budget live here.
        let workdir = workfiles::work_dir(target)?;
        let (output, out_file, merge) = if workfiles::has_previous(target) {
            let old = workdir.path().join("previous.db");
            super::decompress_c1z(target, &old)?;
            {
                let conn = Connection::open(&old)?;
                super::check_baton_tables(target, &conn)?;
            }
            let new = workdir.path().join("run.db");
            let file = workfiles::create_private(&new).map_err(|e| C1zError::io("create", &new, e))?;
            let mut out = BufWriter::with_capacity(1 << 20, file);
            out.write_all(&[0u8; PAGE_SIZE])
                .map_err(|e| C1zError::io("write", &new, e))?;
            (Output::Db(out), None, Some((old, new)))
        } else {
            let tmp = workfiles::out_file(target)?;
            let file = tmp
                .as_file()
                .try_clone()
                .map_err(|e| C1zError::io("open", tmp.path(), e))?;
            let mut out = BufWriter::with_capacity(1 << 20, file);
            out.write_all(C1Z_MAGIC)
                .and_then(|()| out.write_all(&[0u8; PAGE_ONE_FRAME_LEN]))
                .map_err(|e| C1zError::io("write", tmp.path(), e))?;
            let chunk_dir = Arc::new(workdir.path().to_path_buf());
            (Output::C1z(Some(C1zStream::Between(out)), chunk_dir), Some(tmp), None)
        };
        let spill = SpillConfig {
            dir: workdir.path().to_path_buf(),
            budget,
        };
        Ok(Self {
            builder: DbBuilder::new(schema, output).with_spill(spill),
            tables,
            target: target.to_path_buf(),
            out_file,
            merge,
            workdir,
            _lock: lock,
            sync_id: None,
            started_at: String::new(),
            discovered_at: now_go_time(),
            rows_in_batch: 0,
            counts: Counts::default(),
            buf: Vec::with_capacity(1024),
        })
    }

    /// Starts a `full` sync run and returns its id (a KSUID).
    pub fn start_sync(&mut self) -> Result<String, C1zError> {
        if self.sync_id.is_some() {
            return Err(C1zError::SyncState("a sync is already running in this writer"));
        }
        let sync_id = ksuid::new_ksuid();
        self.started_at = now_go_time();
        self.discovered_at = self.started_at.clone();
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
        self.builder.insert(
            self.tables.resource_types,
            &[
                Value::Null,
                Value::Text(&resource_type.id),
                Value::Blob(&self.buf),
                Value::Text(sync_id),
                Value::Text(&self.discovered_at),
            ],
        )?;
        self.counts.resource_types += 1;
        self.row_written();
        Ok(())
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
        let external_id = resource_external_id(id);
        self.builder.insert(
            self.tables.resources,
            &[
                Value::Null,
                Value::Text(&id.resource_type),
                Value::Text(&external_id),
                parent.map_or(Value::Null, |p| Value::Text(&p.resource_type)),
                parent.map_or(Value::Null, |p| Value::Text(&p.resource)),
                Value::Blob(&self.buf),
                Value::Text(sync_id),
                Value::Text(&self.discovered_at),
            ],
        )?;
        self.counts.resources += 1;
        self.row_written();
        Ok(())
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
        self.builder.insert(
            self.tables.entitlements,
            &[
                Value::Null,
                Value::Text(&resource_id.resource_type),
                Value::Text(&resource_id.resource),
                Value::Text(&entitlement.id),
                Value::Blob(&self.buf),
                Value::Text(sync_id),
                Value::Text(&self.discovered_at),
            ],
        )?;
        self.counts.entitlements += 1;
        self.row_written();
        Ok(())
    }

    /// Stores a grant; `external_id` is its id, `resource_*` the entitlement's resource and
    /// `principal_*` the principal. No grant here carries a `GrantExpandable` annotation, so
    /// `expansion` is NULL and `needs_expansion` 0, as the SDK stores such grants.
    pub fn put_grant(&mut self, grant: &Grant) -> Result<(), C1zError> {
        running(&self.sync_id)?;
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
        self.insert_grant_row(resource_id, &entitlement.id, principal_id, &grant.id)
    }

    /// Stores grants of one entitlement, each `{entitlement, principal: {id}, id}` (the shape of
    /// baton-sdk's `grant.NewGrant`, with `entitlement` as given): the same rows, byte for byte,
    /// as [`C1zWriter::put_grant`] would store for each, but the entitlement (with its whole
    /// resource) is encoded once for all of them. prost writes a message's fields in declaration
    /// order, `entitlement` first, so its bytes are a prefix every grant's encoding shares.
    pub fn put_grants<'g>(
        &mut self,
        entitlement: &Entitlement,
        grants: impl IntoIterator<Item = (&'g str, &'g ResourceId)>,
    ) -> Result<(), C1zError> {
        running(&self.sync_id)?;
        let resource_id = entitlement
            .resource
            .as_ref()
            .and_then(|r| r.id.as_ref())
            .ok_or_else(|| C1zError::MissingField {
                object: "grant",
                id: entitlement.id.clone(),
                field: "entitlement.resource.id",
            })?;
        let mut prefix = Vec::with_capacity(entitlement.encoded_len() + 8);
        prost::encoding::message::encode(1, entitlement, &mut prefix);
        let mut principal = Vec::with_capacity(64);
        for (id, principal_id) in grants {
            self.buf.clear();
            self.buf.extend_from_slice(&prefix);
            // principal (2): a Resource whose only field is its id (1).
            principal.clear();
            prost::encoding::message::encode(1, principal_id, &mut principal);
            prost::encoding::encode_key(2, prost::encoding::WireType::LengthDelimited, &mut self.buf);
            prost::encoding::encode_varint(principal.len() as u64, &mut self.buf);
            self.buf.extend_from_slice(&principal);
            // id (3), omitted when empty as for any proto3 string.
            if !id.is_empty() {
                prost::encoding::encode_key(3, prost::encoding::WireType::LengthDelimited, &mut self.buf);
                prost::encoding::encode_varint(id.len() as u64, &mut self.buf);
                self.buf.extend_from_slice(id.as_bytes());
            }
            self.insert_grant_row(resource_id, &entitlement.id, principal_id, id)?;
        }
        Ok(())
    }

    /// Inserts one grant row whose encoded message is in `self.buf`.
    fn insert_grant_row(
        &mut self,
        resource_id: &ResourceId,
        entitlement_id: &str,
        principal_id: &ResourceId,
        grant_id: &str,
    ) -> Result<(), C1zError> {
        let sync_id = running(&self.sync_id)?;
        self.builder.insert(
            self.tables.grants,
            &[
                Value::Null,
                Value::Text(&resource_id.resource_type),
                Value::Text(&resource_id.resource),
                Value::Text(entitlement_id),
                Value::Text(&principal_id.resource_type),
                Value::Text(&principal_id.resource),
                Value::Text(grant_id),
                Value::Null,
                Value::Int(0),
                Value::Blob(&self.buf),
                Value::Text(sync_id),
                Value::Text(&self.discovered_at),
            ],
        )?;
        self.counts.grants += 1;
        self.row_written();
        Ok(())
    }

    /// Ends the run, keeps the newest [`KEEP_FULL_SYNCS`] finished full syncs, and atomically
    /// replaces the target with the new c1z (temp file in the same directory, fsync, rename,
    /// fsync of the directory).
    pub fn finish(mut self) -> Result<SyncSummary, C1zError> {
        let sync_id = running(&self.sync_id)?.to_owned();
        let ended_at = now_go_time();
        // supports_diff = 1: the grant rows carry correct expansion columns (see put_grant),
        // which is what the SDK's flag promises to `baton diff`. grants_backfilled = 1: new runs
        // store grant expansion columns directly, as the SDK's own new runs do, so its backfill
        // migration skips them.
        let run = [
            ("sync_id", Value::Text(&sync_id)),
            ("started_at", Value::Text(&self.started_at)),
            ("ended_at", Value::Text(&ended_at)),
            ("sync_token", Value::Text("")),
            ("sync_type", Value::Text("full")),
            ("parent_sync_id", Value::Text("")),
            ("linked_sync_id", Value::Text("")),
            ("supports_diff", Value::Int(1)),
            ("grants_backfilled", Value::Int(1)),
        ];
        let row: Vec<Value<'_>> = self
            .builder
            .schema()
            .columns(self.tables.sync_runs)
            .iter()
            .map(|c| run.iter().find(|(name, _)| name == c).map_or(Value::Null, |(_, v)| *v))
            .collect();
        self.builder.insert(self.tables.sync_runs, &row)?;

        let Self {
            builder,
            target,
            out_file,
            merge,
            workdir,
            counts,
            ..
        } = self;
        let mut breakdown = FinishBreakdown::default();
        let started = Instant::now();
        let built = builder.finish()?;
        breakdown.index = started.elapsed();
        breakdown.db_bytes = u64::from(built.pages) * PAGE_SIZE as u64;
        let started = Instant::now();
        let (bytes, removed_sync_ids) = match (built.out, out_file, merge) {
            (out @ Output::C1z(..), Some(tmp), _) => {
                let out = out
                    .into_file()
                    .map_err(|e| C1zError::io("compress into", tmp.path(), e))?;
                let mut file = out
                    .into_inner()
                    .map_err(|e| C1zError::io("write", tmp.path(), e.into_error()))?;
                file.seek(SeekFrom::Start(C1Z_MAGIC.len() as u64))
                    .and_then(|_| file.write_all(&raw_zstd_frame(&built.page1)))
                    .map_err(|e| C1zError::io("write", tmp.path(), e))?;
                let bytes = persist(tmp, &target)?;
                breakdown.publish = started.elapsed();
                (bytes, Vec::new())
            }
            (Output::Db(out), _, Some((old, new))) => {
                let mut file = out
                    .into_inner()
                    .map_err(|e| C1zError::io("write", &new, e.into_error()))?;
                file.seek(SeekFrom::Start(0))
                    .and_then(|_| file.write_all(&built.page1))
                    .map_err(|e| C1zError::io("write", &new, e))?;
                drop(file);
                merge_runs(&old, &new, &target, &mut breakdown)?
            }
            _ => return Err(C1zError::SyncState("the writer lost its output")),
        };
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

    /// Starts a new `discovered_at` batch every [`ROWS_PER_BATCH`] rows.
    fn row_written(&mut self) {
        self.rows_in_batch += 1;
        if self.rows_in_batch >= ROWS_PER_BATCH {
            self.rows_in_batch = 0;
            self.discovered_at = now_go_time();
        }
    }
}

impl From<BuildError> for C1zError {
    fn from(e: BuildError) -> Self {
        Self::Build(e.to_string())
    }
}

/// The running sync's id, or the misuse error.
fn running(sync_id: &Option<String>) -> Result<&str, C1zError> {
    sync_id
        .as_deref()
        .ok_or(C1zError::SyncState("no sync started; call start_sync first"))
}

/// Adds the run in `new` (a database in baton's schema holding one run) to `old` (a copy of the
/// existing file), removes runs beyond the newest [`KEEP_FULL_SYNCS`] full syncs, compacts when
/// it removed any, and publishes the result over `target`. Returns the c1z size and the
/// removed run ids.
fn merge_runs(
    old: &Path,
    new: &Path,
    target: &Path,
    breakdown: &mut FinishBreakdown,
) -> Result<(u64, Vec<String>), C1zError> {
    let conn = Connection::open(old)?;
    conn.execute_batch(SCRATCH_PRAGMAS)?;
    schema::ensure(&conn)?;
    let deferred_indexes = drop_indexes(&conn)?;
    let new_str = new
        .to_str()
        .ok_or(C1zError::SyncState("the temp directory's path is not UTF-8"))?;
    let started = Instant::now();
    conn.execute("attach database ?1 as fresh", [new_str])?;
    conn.execute_batch("begin")?;
    for table in std::iter::once(SYNC_RUNS).chain(DATA_TABLES) {
        let columns: Vec<String> = conn
            .prepare("select name from pragma_table_info(?1, 'fresh') where pk = 0 order by cid")?
            .query_map([table], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let list = columns
            .iter()
            .map(|c| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join(", ");
        conn.execute_batch(&format!(
            "insert into main.{table} ({list}) select {list} from fresh.{table} order by id"
        ))?;
    }
    let removed = remove_old_syncs(&conn)?;
    conn.execute_batch("commit")?;
    conn.execute_batch("detach database fresh")?;
    breakdown.merge = started.elapsed();
    // Deleted runs leave free pages full of stale rows behind: copy the live ones into a
    // compact file (before the deferred indexes exist, so they are built only once, there).
    let started = Instant::now();
    let (conn, db_path) = match (removed.is_empty(), old.with_file_name("compact.db")) {
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
            (conn, old.to_path_buf())
        }
        (true, _) => (conn, old.to_path_buf()),
    };
    breakdown.compact = started.elapsed();
    let started = Instant::now();
    build_indexes(&conn, &deferred_indexes)?;
    breakdown.index += started.elapsed();
    conn.close().map_err(|(_, e)| C1zError::Sqlite(e))?;
    breakdown.db_bytes = std::fs::metadata(&db_path)
        .map_err(|e| C1zError::io("stat", &db_path, e))?
        .len();
    let started = Instant::now();
    let bytes = publish(&db_path, target)?;
    breakdown.publish = started.elapsed();
    Ok((bytes, removed))
}

/// Drops the indexes of the data tables and returns their `create index` statements in schema
/// order. The merge appends a whole run (a new sync id, so no unique key can clash); inserting
/// its rows into B-trees keyed on random ids costs far more than sorting the keys once at the
/// end. Which indexes a file has is unchanged, as [`build_indexes`] creates them again
/// (whatever their definition: the SDK's, or any a newer SDK added to an existing file).
fn drop_indexes(conn: &Connection) -> Result<Vec<String>, C1zError> {
    let tables = DATA_TABLES.map(|t| format!("'{t}'")).join(", ");
    let indexes: Vec<(String, String)> = conn
        .prepare(&format!(
            "select name, sql from sqlite_master where type = 'index' and sql is not null \
             and tbl_name in ({tables}) order by rowid"
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

/// Builds the indexes [`drop_indexes`] dropped, in one transaction.
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

/// Writes magic + zstd(db) to a temp file beside `target` and publishes it there. Returns the
/// file size.
fn publish(db_path: &Path, target: &Path) -> Result<u64, C1zError> {
    let tmp = workfiles::out_file(target)?;
    let mut db = File::open(db_path).map_err(|e| C1zError::io("open", db_path, e))?;
    let file = tmp
        .as_file()
        .try_clone()
        .map_err(|e| C1zError::io("open", tmp.path(), e))?;
    let mut out = BufWriter::new(file);
    out.write_all(C1Z_MAGIC)
        .map_err(|e| C1zError::io("write", tmp.path(), e))?;
    let mut encoder = new_encoder(out, tail_workers()).map_err(|e| C1zError::io("compress into", tmp.path(), e))?;
    io::copy(&mut db, &mut encoder).map_err(|e| C1zError::io("compress into", tmp.path(), e))?;
    let out = encoder
        .finish()
        .map_err(|e| C1zError::io("compress into", tmp.path(), e))?;
    out.into_inner()
        .map_err(|e| C1zError::io("write", tmp.path(), e.into_error()))?;
    persist(tmp, target)
}

/// fsyncs the finished temp file, renames it over `target` and fsyncs the directory. Returns
/// the file size.
fn persist(tmp: tempfile::NamedTempFile, target: &Path) -> Result<u64, C1zError> {
    let file = tmp.as_file();
    file.sync_all().map_err(|e| C1zError::io("sync", tmp.path(), e))?;
    let bytes = file.metadata().map_err(|e| C1zError::io("stat", tmp.path(), e))?.len();
    tmp.persist(target)
        .map_err(|e| C1zError::io("rename over", target, e.error))?;
    // Best effort: makes the rename itself durable where directories can be opened (Unix).
    if let Ok(d) = File::open(workfiles::target_dir(target)) {
        let _ = d.sync_all();
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes that do not repeat, so that a lost or misplaced piece shows.
    fn pattern(len: usize) -> Vec<u8> {
        let mut x: u32 = 0x9e37_79b9;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x.to_le_bytes()[0]
            })
            .collect()
    }

    fn through_buffer(data: &[u8], piece: usize) -> (Vec<u8>, bool) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut buffer = ChunkBuffer::new(Arc::new(dir.path().to_path_buf()));
        for part in data.chunks(piece) {
            buffer.write_all(part).expect("write");
        }
        buffer.flush().expect("flush");
        let spilled = buffer.file.is_some();
        let mut out = Vec::new();
        buffer.copy_into(&mut out).expect("copy");
        // Anonymous: nothing is left in the folder, whether it spilled or not.
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 0);
        (out, spilled)
    }

    #[test]
    fn a_small_chunk_stays_in_memory() {
        let data = pattern(100_000);
        let (out, spilled) = through_buffer(&data, 4_096);
        assert!(!spilled);
        assert_eq!(out, data);
    }

    #[test]
    fn a_big_chunk_goes_to_a_file_and_comes_back_whole() {
        for piece in [1, 4_095, 65_536, CHUNK_IN_MEMORY + 1] {
            let data = pattern(CHUNK_IN_MEMORY + 3 * 65_536 + 7);
            let (out, spilled) = through_buffer(&data, piece.min(data.len()));
            assert!(spilled, "piece {piece}");
            assert_eq!(out.len(), data.len(), "piece {piece}");
            assert!(out == data, "piece {piece}: the bytes differ");
        }
    }
}
