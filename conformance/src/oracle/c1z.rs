//! The oracle's own c1z decoder: a connector's output file, read into [`Dataset`]s.
//!
//! A c1z (format v1, baton-sdk `pkg/dotc1z`) is the 5-byte magic `C1ZF\0` followed by a zstd
//! stream (one or more concatenated frames) whose content is a SQLite database. The database
//! holds one row per object and sync run, the object itself being the protobuf encoding of a
//! `c1.connector.v2` message (see [`super::proto`]) in the `data` column, next to columns that
//! repeat some of its fields for indexing.
//!
//! [`C1z::open`] decompresses into a private temporary file, opens it read-only, runs
//! `pragma integrity_check`, checks the tables and columns the oracle reads and lists the sync
//! runs. [`C1z::dataset`] decodes one sync run. It is stricter than baton's own readers on
//! purpose, since it judges files rather than consumes them: every row's indexing columns
//! must agree with its message (baton's readers trust the columns for lookups and the message
//! for content, so a disagreement makes a file answer differently depending on how it is
//! asked), and an external id may appear only once per sync run (baton's unique index forbids
//! it; a file written without that index could hold it, and merging would hide the bug).
//!
//! It shares no code with any connector (this repository's included): a misreading of the
//! format cannot hide in both the writer and its judge.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use prost::Message;
use prost_types::{value::Kind, Any, Struct, Value};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use super::data::{
    Dataset, EntitlementRow, ExclusionGroupRow, GrantRow, GroupTraitRow, LicenseProfileRow, ResourceRow,
    ResourceTypeRow, RoleTraitRow, SyncRun, UserTraitRow,
};
use super::proto::{self, entitlement::PurposeValue, resource_type::Trait, status::ResourceStatus, user_trait};

/// The first five bytes of every c1z.
pub const MAGIC: &[u8; 5] = b"C1ZF\0";

/// The first 16 bytes of every SQLite database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

const RESOURCE_TYPES: &str = "v1_resource_types";
const RESOURCES: &str = "v1_resources";
const ENTITLEMENTS: &str = "v1_entitlements";
const GRANTS: &str = "v1_grants";
const SYNC_RUNS: &str = "v1_sync_runs";

/// The columns the decoder reads, per table. Columns baton added later (`sync_type`,
/// `parent_sync_id`) are optional and looked up separately.
const REQUIRED_COLUMNS: [(&str, &[&str]); 5] = [
    (RESOURCE_TYPES, &["external_id", "data", "sync_id"]),
    (
        RESOURCES,
        &[
            "resource_type_id",
            "external_id",
            "parent_resource_type_id",
            "parent_resource_id",
            "data",
            "sync_id",
        ],
    ),
    (
        ENTITLEMENTS,
        &["resource_type_id", "resource_id", "external_id", "data", "sync_id"],
    ),
    (
        GRANTS,
        &[
            "resource_type_id",
            "resource_id",
            "entitlement_id",
            "principal_resource_type_id",
            "principal_resource_id",
            "external_id",
            "data",
            "sync_id",
        ],
    ),
    (SYNC_RUNS, &["sync_id", "started_at", "ended_at"]),
];

/// Why a file could not be decoded. Every message names the file; row-level ones also name
/// the table, the sync run and the row's `external_id`.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("{}: cannot read the file: {source}", .path.display())]
    Io { path: PathBuf, source: io::Error },

    #[error("{}: the file is empty (0 bytes); a c1z starts with the magic \"C1ZF\\0\"", .path.display())]
    Empty { path: PathBuf },

    #[error("{}: not a c1z: it starts with {found}, not with the magic \"C1ZF\\0\"", .path.display())]
    WrongMagic { path: PathBuf, found: String },

    #[error("{}: the file holds only the magic: no zstd stream follows it", .path.display())]
    NothingAfterMagic { path: PathBuf },

    #[error(
        "{}: the zstd stream after the magic is truncated or corrupt \
         ({decompressed} bytes decompressed before the failure): {source}",
        .path.display()
    )]
    Zstd {
        path: PathBuf,
        decompressed: u64,
        source: io::Error,
    },

    #[error("{}: cannot write the decompressed database to a temporary file: {source}", .path.display())]
    TempFile { path: PathBuf, source: io::Error },

    #[error(
        "{}: the decompressed content ({len} bytes) is not a SQLite database: it starts with {found}",
        .path.display()
    )]
    NotSqlite { path: PathBuf, len: u64, found: String },

    #[error("{}: SQLite, {what}: {source}", .path.display())]
    Sqlite {
        path: PathBuf,
        what: String,
        source: rusqlite::Error,
    },

    #[error("{}: the database is damaged: pragma integrity_check answers: {report}", .path.display())]
    Integrity { path: PathBuf, report: String },

    #[error("{}: table {table} is missing", .path.display())]
    MissingTable { path: PathBuf, table: &'static str },

    #[error("{}: table {table} has no column {column}", .path.display())]
    MissingColumn {
        path: PathBuf,
        table: &'static str,
        column: &'static str,
    },

    #[error("{}: {SYNC_RUNS}: {detail}", .path.display())]
    BadSyncRun { path: PathBuf, detail: String },

    #[error("{}: no sync run {sync_id:?} in {SYNC_RUNS}", .path.display())]
    UnknownSync { path: PathBuf, sync_id: String },

    #[error(
        "{}: no finished full sync run (a full sync with ended_at set); sync runs: {runs}",
        .path.display()
    )]
    NoFinishedFullSync { path: PathBuf, runs: String },

    #[error(
        "{}: {table}, sync {sync_id}, external_id {external_id:?} (row {row}): cannot decode {message}: {source}",
        .path.display()
    )]
    Protobuf {
        path: PathBuf,
        table: &'static str,
        sync_id: String,
        external_id: String,
        row: i64,
        message: &'static str,
        source: prost::DecodeError,
    },

    #[error(
        "{}: {table}, sync {sync_id}, external_id {external_id:?} (row {row}): {detail}",
        .path.display()
    )]
    Inconsistent {
        path: PathBuf,
        table: &'static str,
        sync_id: String,
        external_id: String,
        row: i64,
        detail: String,
    },

    #[error(
        "{}: {table}, sync {sync_id}: external_id {external_id:?} appears more than once (rows {first_row} and {second_row})",
        .path.display()
    )]
    Duplicate {
        path: PathBuf,
        table: &'static str,
        sync_id: String,
        external_id: String,
        first_row: i64,
        second_row: i64,
    },
}

/// One stored object of a sync run, undecoded (see [`C1z::raw_objects`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawObject {
    /// `v1_resource_types`, `v1_resources`, `v1_entitlements` or `v1_grants`.
    pub table: &'static str,
    pub external_id: String,
    /// The protobuf message (`ResourceType`, `Resource`, `Entitlement`, `Grant`).
    pub data: Vec<u8>,
}

/// An opened c1z: the decompressed database (a temporary file, deleted on drop) and its sync
/// runs.
#[derive(Debug)]
pub struct C1z {
    // Declared before `_db_file` so that the connection closes before the file is deleted.
    conn: Connection,
    _db_file: tempfile::NamedTempFile,
    path: PathBuf,
    runs: Vec<SyncRun>,
}

impl C1z {
    /// Decompresses and opens `path`, checks the database's integrity and shape, and reads its
    /// sync runs.
    pub fn open(path: &Path) -> Result<C1z, DecodeError> {
        let io_err = |source| DecodeError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = File::open(path).map_err(io_err)?;

        let mut magic = [0u8; MAGIC.len()];
        let n = read_up_to(&mut file, &mut magic).map_err(io_err)?;
        if n == 0 {
            return Err(DecodeError::Empty {
                path: path.to_path_buf(),
            });
        }
        if magic[..n] != MAGIC[..] {
            return Err(DecodeError::WrongMagic {
                path: path.to_path_buf(),
                found: escape_bytes(&magic[..n]),
            });
        }
        // The zstd decoder would call an empty stream an incomplete frame; say what it is.
        let mut probe = [0u8; 1];
        if read_up_to(&mut file, &mut probe).map_err(io_err)? == 0 {
            return Err(DecodeError::NothingAfterMagic {
                path: path.to_path_buf(),
            });
        }
        let mut input = io::Cursor::new(probe).chain(file);

        let mut db_file = tempfile::Builder::new()
            .prefix("oracle-c1z-")
            .suffix(".sqlite")
            .tempfile()
            .map_err(|source| DecodeError::TempFile {
                path: path.to_path_buf(),
                source,
            })?;
        let (len, head) = decompress(path, &mut input, db_file.as_file_mut())?;
        if head.as_slice() != SQLITE_HEADER {
            return Err(DecodeError::NotSqlite {
                path: path.to_path_buf(),
                len,
                found: if head.is_empty() {
                    "nothing".to_owned()
                } else {
                    escape_bytes(&head)
                },
            });
        }

        // Read-only: the oracle never changes what it judges, not even its private copy.
        let conn = Connection::open_with_flags(
            db_file.path(),
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| DecodeError::Sqlite {
            path: path.to_path_buf(),
            what: "opening the decompressed database".to_owned(),
            source,
        })?;
        integrity_check(&conn, path)?;
        let sync_columns = check_schema(&conn, path)?;
        let runs = read_sync_runs(&conn, path, &sync_columns)?;
        Ok(C1z {
            conn,
            _db_file: db_file,
            path: path.to_path_buf(),
            runs,
        })
    }

    /// The file this was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every sync run, in start order (`started_at`, then row order), oldest first.
    pub fn sync_runs(&self) -> &[SyncRun] {
        &self.runs
    }

    /// The run baton's readers show by default: the finished (`ended_at` set) full sync that
    /// ended last, ties broken by the greater sync id (KSUIDs sort by time), as baton-sdk's
    /// `getFinishedSync` orders them. An empty `sync_type` counts as full, as in files written
    /// before the column existed.
    pub fn latest_full_run(&self) -> Option<&SyncRun> {
        self.runs
            .iter()
            .filter(|run| run.ended_at.is_some() && (run.sync_type == "full" || run.sync_type.is_empty()))
            // Text comparison, as SQLite's `order by ended_at` on baton's text timestamps.
            .max_by(|a, b| (&a.ended_at, &a.sync_id).cmp(&(&b.ended_at, &b.sync_id)))
    }

    /// Decodes every object of sync run `sync_id`, checking each row against its message.
    pub fn dataset(&self, sync_id: &str) -> Result<Dataset, DecodeError> {
        if !self.runs.iter().any(|run| run.sync_id == sync_id) {
            return Err(DecodeError::UnknownSync {
                path: self.path.clone(),
                sync_id: sync_id.to_owned(),
            });
        }
        let mut dataset = Dataset::default();

        for raw in self.rows(RESOURCE_TYPES, sync_id, &[])? {
            let at = self.at(RESOURCE_TYPES, sync_id, &raw);
            let msg: proto::ResourceType = at.decode(&raw.data, "c1.connector.v2.ResourceType")?;
            at.expect_eq("the external_id", &raw.external_id, "the message's id", &msg.id)?;
            let row = ResourceTypeRow {
                id: msg.id.clone(),
                display_name: msg.display_name,
                traits: msg.traits.iter().map(|&v| enum_name(v, Trait::short_name)).collect(),
                annotations: type_urls(&msg.annotations),
            };
            dataset.resource_types.insert(msg.id, row);
        }

        for raw in self.rows(
            RESOURCES,
            sync_id,
            &["resource_type_id", "parent_resource_type_id", "parent_resource_id"],
        )? {
            let at = self.at(RESOURCES, sync_id, &raw);
            let msg: proto::Resource = at.decode(&raw.data, "c1.connector.v2.Resource")?;
            let id = at.require(msg.id.as_ref(), "the message has no id")?;
            let key = resource_key(id);
            at.expect_eq("the external_id", &raw.external_id, "<type>:<id> of the message", &key)?;
            at.expect_column(&raw.columns[0], "resource_type_id", &id.resource_type)?;
            let parent = msg.parent_resource_id.as_ref();
            at.expect_column(
                &raw.columns[1],
                "parent_resource_type_id",
                parent.map_or("", |p| p.resource_type.as_str()),
            )?;
            at.expect_column(
                &raw.columns[2],
                "parent_resource_id",
                parent.map_or("", |p| p.resource.as_str()),
            )?;

            let user = at
                .find_annotation::<proto::UserTrait>(&msg.annotations, proto::names::USER_TRAIT)?
                .map(user_row);
            let group = at
                .find_annotation::<proto::GroupTrait>(&msg.annotations, proto::names::GROUP_TRAIT)?
                .map(|t| GroupTraitRow {
                    profile: profile_map(t.profile.as_ref()),
                });
            let role = at
                .find_annotation::<proto::RoleTrait>(&msg.annotations, proto::names::ROLE_TRAIT)?
                .map(|t| RoleTraitRow {
                    profile: profile_map(t.profile.as_ref()),
                });
            let license_profile = at
                .find_annotation::<proto::LicenseProfileTrait>(&msg.annotations, proto::names::LICENSE_PROFILE_TRAIT)?
                .map(|t| LicenseProfileRow {
                    license_name: t.license_name,
                    entitlement_ids: t.entitlement_ids,
                    purchased_seats: t.purchased_seats,
                    consumed_seats: t.consumed_seats,
                    cost_per_unit_in_cents: t.cost_per_unit_in_cents,
                    currency: t.currency,
                });
            let row = ResourceRow {
                resource_type: id.resource_type.clone(),
                id: id.resource.clone(),
                display_name: msg.display_name,
                description: msg.description,
                parent: parent.map(resource_key),
                user,
                group,
                role,
                profile: profile_map(msg.profile.as_ref()),
                status: msg
                    .status
                    .as_ref()
                    .map(|s| enum_name(s.status, ResourceStatus::short_name)),
                annotations: type_urls(&msg.annotations),
                license_profile,
            };
            dataset.resources.insert(key, row);
        }

        for raw in self.rows(ENTITLEMENTS, sync_id, &["resource_type_id", "resource_id"])? {
            let at = self.at(ENTITLEMENTS, sync_id, &raw);
            let msg: proto::Entitlement = at.decode(&raw.data, "c1.connector.v2.Entitlement")?;
            at.expect_eq("the external_id", &raw.external_id, "the message's id", &msg.id)?;
            let resource_id = at.require(
                msg.resource.as_ref().and_then(|r| r.id.as_ref()),
                "the message has no resource id",
            )?;
            at.expect_column(&raw.columns[0], "resource_type_id", &resource_id.resource_type)?;
            at.expect_column(&raw.columns[1], "resource_id", &resource_id.resource)?;
            let exclusion_group = at
                .find_annotation::<proto::EntitlementExclusionGroup>(
                    &msg.annotations,
                    proto::names::ENTITLEMENT_EXCLUSION_GROUP,
                )?
                .map(|g| ExclusionGroupRow {
                    exclusion_group_id: g.exclusion_group_id,
                    order: g.order,
                    is_default: g.is_default,
                });
            let row = EntitlementRow {
                id: msg.id.clone(),
                resource: resource_key(resource_id),
                display_name: msg.display_name,
                description: msg.description,
                slug: msg.slug,
                purpose: enum_name(msg.purpose, PurposeValue::short_name),
                grantable_to: msg.grantable_to.into_iter().map(|rt| rt.id).collect(),
                annotations: type_urls(&msg.annotations),
                exclusion_group,
            };
            dataset.entitlements.insert(msg.id, row);
        }

        for raw in self.rows(
            GRANTS,
            sync_id,
            &[
                "entitlement_id",
                "resource_type_id",
                "resource_id",
                "principal_resource_type_id",
                "principal_resource_id",
            ],
        )? {
            let at = self.at(GRANTS, sync_id, &raw);
            let msg: proto::Grant = at.decode(&raw.data, "c1.connector.v2.Grant")?;
            at.expect_eq("the external_id", &raw.external_id, "the message's id", &msg.id)?;
            let entitlement = at.require(msg.entitlement.as_ref(), "the message has no entitlement")?;
            let entitlement_resource = at.require(
                entitlement.resource.as_ref().and_then(|r| r.id.as_ref()),
                "the message's entitlement has no resource id",
            )?;
            let principal = at.require(
                msg.principal.as_ref().and_then(|r| r.id.as_ref()),
                "the message has no principal id",
            )?;
            at.expect_column(&raw.columns[0], "entitlement_id", &entitlement.id)?;
            at.expect_column(&raw.columns[1], "resource_type_id", &entitlement_resource.resource_type)?;
            at.expect_column(&raw.columns[2], "resource_id", &entitlement_resource.resource)?;
            at.expect_column(&raw.columns[3], "principal_resource_type_id", &principal.resource_type)?;
            at.expect_column(&raw.columns[4], "principal_resource_id", &principal.resource)?;
            let row = GrantRow {
                id: msg.id.clone(),
                entitlement_id: entitlement.id.clone(),
                entitlement_resource: resource_key(entitlement_resource),
                principal: resource_key(principal),
                annotations: type_urls(&msg.annotations),
            };
            dataset.grants.insert(msg.id, row);
        }

        Ok(dataset)
    }

    /// Every object of sync run `sync_id` as stored, for comparisons that reach below the
    /// fields [`C1z::dataset`] reads: tables in the order resource types, resources,
    /// entitlements, grants, rows in row order.
    pub fn raw_objects(&self, sync_id: &str) -> Result<Vec<RawObject>, DecodeError> {
        let mut out = Vec::new();
        for table in [RESOURCE_TYPES, RESOURCES, ENTITLEMENTS, GRANTS] {
            for raw in self.rows(table, sync_id, &[])? {
                out.push(RawObject {
                    table,
                    external_id: raw.external_id,
                    data: raw.data,
                });
            }
        }
        Ok(out)
    }

    /// The rows of `table` in sync run `sync_id`, in row order, with the `extra` columns (as
    /// text) after the fixed ones. Fails on an external id seen twice.
    fn rows(&self, table: &'static str, sync_id: &str, extra: &[&str]) -> Result<Vec<RawRow>, DecodeError> {
        let sql_err = |source| DecodeError::Sqlite {
            path: self.path.clone(),
            what: format!("reading {table}"),
            source,
        };
        let mut columns = String::new();
        for column in extra {
            columns.push_str(", ");
            columns.push_str(column);
        }
        let query = format!("select rowid, external_id, data{columns} from {table} where sync_id = ?1 order by rowid");
        let mut stmt = self.conn.prepare(&query).map_err(sql_err)?;
        let mut rows = stmt.query([sync_id]).map_err(sql_err)?;

        let mut out = Vec::new();
        let mut seen: BTreeMap<String, i64> = BTreeMap::new();
        while let Some(row) = rows.next().map_err(sql_err)? {
            let rowid: i64 = row.get(0).map_err(sql_err)?;
            let bad = |detail: String| DecodeError::Inconsistent {
                path: self.path.clone(),
                table,
                sync_id: sync_id.to_owned(),
                external_id: String::new(),
                row: rowid,
                detail,
            };
            let external_id = text_column(row.get_ref(1).map_err(sql_err)?)
                .map_err(|e| bad(format!("external_id: {e}")))?
                .ok_or_else(|| bad("external_id is NULL".to_owned()))?;
            let data = match row.get_ref(2).map_err(sql_err)? {
                ValueRef::Blob(bytes) | ValueRef::Text(bytes) => bytes.to_vec(),
                other => {
                    return Err(DecodeError::Inconsistent {
                        path: self.path.clone(),
                        table,
                        sync_id: sync_id.to_owned(),
                        external_id,
                        row: rowid,
                        detail: format!("data is {}, not a blob", type_name(other)),
                    })
                }
            };
            let mut extras = Vec::with_capacity(extra.len());
            for (i, name) in extra.iter().enumerate() {
                let value =
                    text_column(row.get_ref(3 + i).map_err(sql_err)?).map_err(|e| DecodeError::Inconsistent {
                        path: self.path.clone(),
                        table,
                        sync_id: sync_id.to_owned(),
                        external_id: external_id.clone(),
                        row: rowid,
                        detail: format!("{name}: {e}"),
                    })?;
                extras.push(value);
            }
            if let Some(&first_row) = seen.get(&external_id) {
                return Err(DecodeError::Duplicate {
                    path: self.path.clone(),
                    table,
                    sync_id: sync_id.to_owned(),
                    external_id,
                    first_row,
                    second_row: rowid,
                });
            }
            seen.insert(external_id.clone(), rowid);
            out.push(RawRow {
                rowid,
                external_id,
                data,
                columns: extras,
            });
        }
        Ok(out)
    }

    fn at<'a>(&'a self, table: &'static str, sync_id: &'a str, raw: &'a RawRow) -> RowAt<'a> {
        RowAt {
            path: &self.path,
            table,
            sync_id,
            external_id: &raw.external_id,
            row: raw.rowid,
        }
    }
}

/// Opens `path` and decodes the run baton's readers would show ([`C1z::latest_full_run`]).
pub fn read_latest(path: &Path) -> Result<(SyncRun, Dataset), DecodeError> {
    let c1z = C1z::open(path)?;
    let Some(run) = c1z.latest_full_run().cloned() else {
        let runs = if c1z.runs.is_empty() {
            "none".to_owned()
        } else {
            c1z.runs
                .iter()
                .map(|run| {
                    format!(
                        "{} (type {:?}, {})",
                        run.sync_id,
                        run.sync_type,
                        if run.ended_at.is_some() {
                            "finished"
                        } else {
                            "unfinished"
                        }
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(DecodeError::NoFinishedFullSync {
            path: path.to_path_buf(),
            runs,
        });
    };
    let dataset = c1z.dataset(&run.sync_id)?;
    Ok((run, dataset))
}

/// A row as read, before its message is decoded.
struct RawRow {
    rowid: i64,
    external_id: String,
    data: Vec<u8>,
    /// The extra columns asked for, as text (`None` for NULL).
    columns: Vec<Option<String>>,
}

/// Where a row is, for error messages, and the checks made on it.
struct RowAt<'a> {
    path: &'a Path,
    table: &'static str,
    sync_id: &'a str,
    external_id: &'a str,
    row: i64,
}

impl RowAt<'_> {
    fn inconsistent(&self, detail: String) -> DecodeError {
        DecodeError::Inconsistent {
            path: self.path.to_path_buf(),
            table: self.table,
            sync_id: self.sync_id.to_owned(),
            external_id: self.external_id.to_owned(),
            row: self.row,
            detail,
        }
    }

    fn decode<M: Message + Default>(&self, bytes: &[u8], message: &'static str) -> Result<M, DecodeError> {
        M::decode(bytes).map_err(|source| DecodeError::Protobuf {
            path: self.path.to_path_buf(),
            table: self.table,
            sync_id: self.sync_id.to_owned(),
            external_id: self.external_id.to_owned(),
            row: self.row,
            message,
            source,
        })
    }

    fn require<'v, T>(&self, value: Option<&'v T>, detail: &str) -> Result<&'v T, DecodeError> {
        value.ok_or_else(|| self.inconsistent(detail.to_owned()))
    }

    fn expect_eq(&self, what: &str, got: &str, source: &str, want: &str) -> Result<(), DecodeError> {
        if got == want {
            Ok(())
        } else {
            Err(self.inconsistent(format!("{what} is {got:?} but {source} is {want:?}")))
        }
    }

    /// A column that repeats a field of the message must hold the same value. NULL and the
    /// empty string are the same here: baton leaves the parent columns NULL when there is no
    /// parent, and the message's absent field reads as "".
    fn expect_column(&self, got: &Option<String>, column: &str, want: &str) -> Result<(), DecodeError> {
        let got_text = got.as_deref().unwrap_or("");
        if got_text == want {
            Ok(())
        } else {
            let shown = got.as_ref().map_or("NULL".to_owned(), |g| format!("{g:?}"));
            Err(self.inconsistent(format!("column {column} is {shown} but the message says {want:?}")))
        }
    }

    /// The annotation of message `name`, decoded; `None` if there is none. Two of the same kind
    /// make the row ambiguous (baton's `Pick` would silently take the first).
    fn find_annotation<M: Message + Default>(
        &self,
        annotations: &[Any],
        name: &'static str,
    ) -> Result<Option<M>, DecodeError> {
        let mut found = annotations.iter().filter(|any| message_name(&any.type_url) == name);
        let Some(first) = found.next() else {
            return Ok(None);
        };
        if found.next().is_some() {
            return Err(self.inconsistent(format!("more than one {name} annotation")));
        }
        self.decode(&first.value, name).map(Some)
    }
}

/// `<type>:<id>`, as baton keys resources.
fn resource_key(id: &proto::ResourceId) -> String {
    format!("{}:{}", id.resource_type, id.resource)
}

/// The message name an `Any` type URL names: what follows its last `/`, as Go's
/// `anypb.Any.MessageName` reads it (the host part is not checked; `annotations` keeps it).
fn message_name(type_url: &str) -> &str {
    type_url.rsplit_once('/').map_or(type_url, |(_, name)| name)
}

fn type_urls(annotations: &[Any]) -> Vec<String> {
    annotations.iter().map(|any| any.type_url.clone()).collect()
}

/// An enum value's short name, or `UNKNOWN(n)` for a value the proto does not define.
fn enum_name<E: TryFrom<i32>>(value: i32, name: fn(E) -> &'static str) -> String {
    match E::try_from(value) {
        Ok(e) => name(e).to_owned(),
        Err(_) => format!("UNKNOWN({value})"),
    }
}

fn user_row(t: proto::UserTrait) -> UserTraitRow {
    UserTraitRow {
        emails: t.emails.into_iter().map(|e| (e.address, e.is_primary)).collect(),
        // An absent status message reads as UNSPECIFIED, as Go's getters read it.
        status: enum_name(t.status.map_or(0, |s| s.status), user_trait::status::Status::short_name),
        login: t.login,
        account_type: enum_name(t.account_type, user_trait::AccountType::short_name),
        profile: profile_map(t.profile.as_ref()),
    }
}

fn profile_map(profile: Option<&Struct>) -> BTreeMap<String, serde_json::Value> {
    profile.map(struct_to_map).unwrap_or_default()
}

/// A `google.protobuf.Struct` as JSON object members.
pub fn struct_to_map(s: &Struct) -> BTreeMap<String, serde_json::Value> {
    s.fields.iter().map(|(k, v)| (k.clone(), value_to_json(v))).collect()
}

/// A `google.protobuf.Value` as JSON. Struct numbers are doubles; an integral one within
/// ±2^53 becomes a JSON integer, so that `3` written by a connector compares equal to `3`
/// expected (and prints as `3`, as Go's protojson prints it). NaN and infinities, which JSON
/// cannot hold, become strings (`"NaN"`, `"inf"`, `"-inf"`). A value with no kind is null.
pub fn value_to_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match &v.kind {
        None | Some(Kind::NullValue(_)) => J::Null,
        Some(Kind::NumberValue(f)) => number_to_json(*f),
        Some(Kind::StringValue(s)) => J::String(s.clone()),
        Some(Kind::BoolValue(b)) => J::Bool(*b),
        Some(Kind::StructValue(s)) => J::Object(s.fields.iter().map(|(k, v)| (k.clone(), value_to_json(v))).collect()),
        Some(Kind::ListValue(list)) => J::Array(list.values.iter().map(value_to_json).collect()),
    }
}

fn number_to_json(f: f64) -> serde_json::Value {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if f.fract() == 0.0 && f.abs() <= EXACT {
        // Exact: integral and within the range where every integer is a double.
        return serde_json::Value::from(f as i64);
    }
    serde_json::Number::from_f64(f).map_or_else(|| serde_json::Value::String(f.to_string()), serde_json::Value::Number)
}

/// Fills `buf` from `reader` as far as it goes; returns how many bytes were read.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Decompresses the rest of `input` (every frame) into `out`. Returns the decompressed length
/// and its first 16 bytes.
fn decompress(path: &Path, input: &mut impl Read, out: &mut File) -> Result<(u64, Vec<u8>), DecodeError> {
    let zstd_err = |decompressed: u64| {
        move |source| DecodeError::Zstd {
            path: path.to_path_buf(),
            decompressed,
            source,
        }
    };
    let write_err = |source| DecodeError::TempFile {
        path: path.to_path_buf(),
        source,
    };
    // `Decoder` reads concatenated frames until the input ends, and fails on input that ends
    // inside a frame.
    let mut decoder = zstd::stream::read::Decoder::new(input).map_err(zstd_err(0))?;
    let mut buf = vec![0u8; 1 << 16];
    let mut head = Vec::with_capacity(SQLITE_HEADER.len());
    let mut len: u64 = 0;
    loop {
        let n = match decoder.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(zstd_err(len)(e)),
        };
        if head.len() < SQLITE_HEADER.len() {
            let take = (SQLITE_HEADER.len() - head.len()).min(n);
            head.extend_from_slice(&buf[..take]);
        }
        out.write_all(&buf[..n]).map_err(write_err)?;
        len += n as u64;
    }
    out.flush().map_err(write_err)?;
    Ok((len, head))
}

fn integrity_check(conn: &Connection, path: &Path) -> Result<(), DecodeError> {
    let sql_err = |source| DecodeError::Sqlite {
        path: path.to_path_buf(),
        what: "running pragma integrity_check".to_owned(),
        source,
    };
    let mut stmt = conn.prepare("pragma integrity_check").map_err(sql_err)?;
    let lines = stmt
        .query_map([], |row| row.get::<_, String>(0))
        .map_err(sql_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql_err)?;
    if lines.len() == 1 && lines[0] == "ok" {
        return Ok(());
    }
    const SHOWN: usize = 10;
    let mut report = lines.iter().take(SHOWN).cloned().collect::<Vec<_>>().join("; ");
    if lines.len() > SHOWN {
        report.push_str(&format!("; and {} more", lines.len() - SHOWN));
    }
    Err(DecodeError::Integrity {
        path: path.to_path_buf(),
        report,
    })
}

/// Which optional columns `v1_sync_runs` has.
struct SyncRunColumns {
    sync_type: bool,
    parent_sync_id: bool,
    /// Older baton-sdk files mark partial syncs with `is_partial` instead of `sync_type`.
    is_partial: bool,
}

/// Checks that every table and column the decoder reads exists.
fn check_schema(conn: &Connection, path: &Path) -> Result<SyncRunColumns, DecodeError> {
    let mut sync_columns = None;
    for (table, required) in REQUIRED_COLUMNS {
        let sql_err = |source| DecodeError::Sqlite {
            path: path.to_path_buf(),
            what: format!("reading the columns of {table}"),
            source,
        };
        let mut stmt = conn.prepare(&format!("pragma table_info({table})")).map_err(sql_err)?;
        let columns = stmt
            .query_map([], |row| row.get::<_, String>(1))
            .map_err(sql_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(sql_err)?;
        if columns.is_empty() {
            return Err(DecodeError::MissingTable {
                path: path.to_path_buf(),
                table,
            });
        }
        let has = |name: &str| columns.iter().any(|c| c.eq_ignore_ascii_case(name));
        if let Some(column) = required.iter().find(|c| !has(c)) {
            return Err(DecodeError::MissingColumn {
                path: path.to_path_buf(),
                table,
                column,
            });
        }
        if table == SYNC_RUNS {
            sync_columns = Some(SyncRunColumns {
                sync_type: has("sync_type"),
                parent_sync_id: has("parent_sync_id"),
                is_partial: has("is_partial"),
            });
        }
    }
    Ok(sync_columns.unwrap_or(SyncRunColumns {
        sync_type: false,
        parent_sync_id: false,
        is_partial: false,
    }))
}

fn read_sync_runs(conn: &Connection, path: &Path, columns: &SyncRunColumns) -> Result<Vec<SyncRun>, DecodeError> {
    let sql_err = |source| DecodeError::Sqlite {
        path: path.to_path_buf(),
        what: format!("reading {SYNC_RUNS}"),
        source,
    };
    let bad = |detail: String| DecodeError::BadSyncRun {
        path: path.to_path_buf(),
        detail,
    };
    // Missing columns take the defaults baton's migrations give them.
    let sync_type = if columns.sync_type {
        "sync_type"
    } else if columns.is_partial {
        "case when is_partial then 'partial' else 'full' end"
    } else {
        "'full'"
    };
    let parent = if columns.parent_sync_id { "parent_sync_id" } else { "''" };
    let query = format!(
        "select rowid, sync_id, started_at, ended_at, {sync_type}, {parent} \
         from {SYNC_RUNS} order by started_at, rowid"
    );
    let mut stmt = conn.prepare(&query).map_err(sql_err)?;
    let mut rows = stmt.query([]).map_err(sql_err)?;
    let mut runs: Vec<SyncRun> = Vec::new();
    while let Some(row) = rows.next().map_err(sql_err)? {
        let rowid: i64 = row.get(0).map_err(sql_err)?;
        let text = |i: usize, name: &str| -> Result<Option<String>, DecodeError> {
            text_column(row.get_ref(i).map_err(sql_err)?).map_err(|e| bad(format!("row {rowid}: {name}: {e}")))
        };
        let sync_id = text(1, "sync_id")?.ok_or_else(|| bad(format!("row {rowid}: sync_id is NULL")))?;
        let run = SyncRun {
            started_at: text(2, "started_at")?,
            ended_at: text(3, "ended_at")?,
            sync_type: text(4, "sync_type")?.unwrap_or_default(),
            parent_sync_id: text(5, "parent_sync_id")?.unwrap_or_default(),
            sync_id,
        };
        if runs.iter().any(|r| r.sync_id == run.sync_id) {
            return Err(bad(format!("sync_id {:?} appears more than once", run.sync_id)));
        }
        runs.push(run);
    }
    Ok(runs)
}

/// A column read as text: SQLite's dynamic typing lets a writer store a number or a blob where
/// text is meant; numbers are rendered, blobs must be UTF-8.
fn text_column(value: ValueRef<'_>) -> Result<Option<String>, String> {
    match value {
        ValueRef::Null => Ok(None),
        ValueRef::Integer(i) => Ok(Some(i.to_string())),
        ValueRef::Real(f) => Ok(Some(f.to_string())),
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|_| format!("not UTF-8: {}", escape_bytes(bytes))),
    }
}

fn type_name(value: ValueRef<'_>) -> &'static str {
    match value {
        ValueRef::Null => "NULL",
        ValueRef::Integer(_) => "an integer",
        ValueRef::Real(_) => "a real",
        ValueRef::Text(_) => "text",
        ValueRef::Blob(_) => "a blob",
    }
}

/// Bytes as a quoted, escaped string (at most 32 of them), for error messages.
fn escape_bytes(bytes: &[u8]) -> String {
    const SHOWN: usize = 32;
    let mut out = String::from("\"");
    for &b in bytes.iter().take(SHOWN) {
        out.extend(std::ascii::escape_default(b).map(char::from));
    }
    out.push('"');
    if bytes.len() > SHOWN {
        out.push_str(&format!(" (and {} more bytes)", bytes.len() - SHOWN));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::path::PathBuf;

    use prost_types::ListValue;
    use serde_json::json;
    use tempfile::NamedTempFile;

    use super::*;
    use crate::oracle::proto::names;

    // ---- small c1z files, built here from the format's facts (never by a connector) ----

    /// baton's tables, without the unique indexes, so that tests can write what they forbid.
    const DDL: &str = "
        create table v1_resource_types (id integer primary key, external_id text not null,
            data blob not null, sync_id text not null, discovered_at datetime not null default '');
        create table v1_resources (id integer primary key, resource_type_id text not null,
            external_id text not null, parent_resource_type_id text, parent_resource_id text,
            data blob not null, sync_id text not null, discovered_at datetime not null default '');
        create table v1_entitlements (id integer primary key, resource_type_id text not null,
            resource_id text not null, external_id text not null, data blob not null,
            sync_id text not null, discovered_at datetime not null default '');
        create table v1_grants (id integer primary key, resource_type_id text not null,
            resource_id text not null, entitlement_id text not null,
            principal_resource_type_id text not null, principal_resource_id text not null,
            external_id text not null, data blob not null, sync_id text not null,
            discovered_at datetime not null default '');
        create table v1_sync_runs (id integer primary key, sync_id text not null,
            started_at datetime not null, ended_at datetime, sync_token text not null default '',
            sync_type text not null default 'full', parent_sync_id text not null default '');
    ";

    const S1: &str = "2B0vYxAqxTCJFYbTZz4nUZdHxBP";

    struct Db {
        file: NamedTempFile,
        conn: Connection,
    }

    impl Db {
        fn new() -> Db {
            Db::with_ddl(DDL)
        }

        fn with_ddl(ddl: &str) -> Db {
            let file = NamedTempFile::new().unwrap();
            let conn = Connection::open(file.path()).unwrap();
            conn.execute_batch(ddl).unwrap();
            Db { file, conn }
        }

        fn sync(&self, sync_id: &str, started: &str, ended: Option<&str>, sync_type: &str) -> &Db {
            self.conn
                .execute(
                    "insert into v1_sync_runs (sync_id, started_at, ended_at, sync_type) values (?1, ?2, ?3, ?4)",
                    rusqlite::params![sync_id, started, ended, sync_type],
                )
                .unwrap();
            self
        }

        fn resource_type(&self, sync_id: &str, rt: &proto::ResourceType) -> &Db {
            self.conn
                .execute(
                    "insert into v1_resource_types (external_id, data, sync_id) values (?1, ?2, ?3)",
                    rusqlite::params![rt.id, rt.encode_to_vec(), sync_id],
                )
                .unwrap();
            self
        }

        fn resource(&self, sync_id: &str, r: &proto::Resource) -> &Db {
            let id = r.id.clone().unwrap();
            let parent = r.parent_resource_id.clone();
            self.conn
                .execute(
                    "insert into v1_resources (resource_type_id, external_id, parent_resource_type_id,
                        parent_resource_id, data, sync_id) values (?1, ?2, ?3, ?4, ?5, ?6)",
                    rusqlite::params![
                        id.resource_type,
                        resource_key(&id),
                        parent.as_ref().map(|p| p.resource_type.clone()),
                        parent.as_ref().map(|p| p.resource.clone()),
                        r.encode_to_vec(),
                        sync_id
                    ],
                )
                .unwrap();
            self
        }

        fn entitlement(&self, sync_id: &str, e: &proto::Entitlement) -> &Db {
            let rid = e.resource.clone().unwrap().id.unwrap();
            self.conn
                .execute(
                    "insert into v1_entitlements (resource_type_id, resource_id, external_id, data, sync_id)
                        values (?1, ?2, ?3, ?4, ?5)",
                    rusqlite::params![rid.resource_type, rid.resource, e.id, e.encode_to_vec(), sync_id],
                )
                .unwrap();
            self
        }

        fn grant(&self, sync_id: &str, g: &proto::Grant) -> &Db {
            let ent = g.entitlement.clone().unwrap();
            let rid = ent.resource.clone().unwrap().id.unwrap();
            let pid = g.principal.clone().unwrap().id.unwrap();
            self.conn
                .execute(
                    "insert into v1_grants (resource_type_id, resource_id, entitlement_id,
                        principal_resource_type_id, principal_resource_id, external_id, data, sync_id)
                        values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    rusqlite::params![
                        rid.resource_type,
                        rid.resource,
                        ent.id,
                        pid.resource_type,
                        pid.resource,
                        g.id,
                        g.encode_to_vec(),
                        sync_id
                    ],
                )
                .unwrap();
            self
        }

        fn exec(&self, sql: &str) -> &Db {
            self.conn.execute_batch(sql).unwrap();
            self
        }

        /// The database file's bytes.
        fn bytes(self) -> Vec<u8> {
            let Db { file, conn } = self;
            conn.close().unwrap();
            std::fs::read(file.path()).unwrap()
        }

        /// A c1z of this database: the magic, then `frames` concatenated zstd frames.
        fn c1z(self, frames: usize) -> NamedTempFile {
            c1z_of(&self.bytes(), frames)
        }
    }

    fn c1z_of(content: &[u8], frames: usize) -> NamedTempFile {
        let mut bytes = MAGIC.to_vec();
        let chunk = content.len().div_ceil(frames).max(1);
        for part in content.chunks(chunk) {
            bytes.extend(zstd::stream::encode_all(part, 3).unwrap());
        }
        if content.is_empty() {
            // A valid frame of nothing.
            bytes.extend(zstd::stream::encode_all(&b""[..], 3).unwrap());
        }
        file_of(&bytes)
    }

    fn file_of(bytes: &[u8]) -> NamedTempFile {
        let mut file = NamedTempFile::new().unwrap();
        file.write_all(bytes).unwrap();
        file.flush().unwrap();
        file
    }

    fn rid(resource_type: &str, resource: &str) -> proto::ResourceId {
        proto::ResourceId {
            resource_type: resource_type.into(),
            resource: resource.into(),
            baton_resource: false,
        }
    }

    fn any<M: Message>(name: &str, message: &M) -> Any {
        Any {
            type_url: format!("{}{name}", names::TYPE_URL_PREFIX),
            value: message.encode_to_vec(),
        }
    }

    fn rtype(id: &str, t: Trait) -> proto::ResourceType {
        proto::ResourceType {
            id: id.into(),
            display_name: id.to_uppercase(),
            traits: vec![t as i32],
            ..Default::default()
        }
    }

    fn string_value(s: &str) -> Value {
        Value {
            kind: Some(Kind::StringValue(s.into())),
        }
    }

    fn user(id: &str) -> proto::Resource {
        let email = format!("{id}@example.com");
        let profile = Struct {
            fields: [
                ("email".to_owned(), string_value(&email)),
                (
                    "seats".to_owned(),
                    Value {
                        kind: Some(Kind::NumberValue(3.0)),
                    },
                ),
            ]
            .into_iter()
            .collect(),
        };
        let trait_ = proto::UserTrait {
            emails: vec![user_trait::Email {
                address: email.clone(),
                is_primary: true,
            }],
            status: Some(user_trait::Status {
                status: user_trait::status::Status::Enabled as i32,
                details: String::new(),
            }),
            profile: Some(profile),
            account_type: user_trait::AccountType::Human as i32,
            login: email,
            ..Default::default()
        };
        proto::Resource {
            id: Some(rid("user", id)),
            display_name: format!("User {id}"),
            annotations: vec![any(names::USER_TRAIT, &trait_)],
            status: Some(proto::Status {
                status: ResourceStatus::Disabled as i32,
                details: String::new(),
            }),
            ..Default::default()
        }
    }

    fn group(id: &str) -> proto::Resource {
        proto::Resource {
            id: Some(rid("group", id)),
            display_name: format!("Group {id}"),
            annotations: vec![any(names::GROUP_TRAIT, &proto::GroupTrait { profile: None })],
            ..Default::default()
        }
    }

    fn member_of(group: &proto::Resource) -> proto::Entitlement {
        let gid = group.id.clone().unwrap();
        proto::Entitlement {
            resource: Some(group.clone()),
            id: format!("{}:member", resource_key(&gid)),
            display_name: "member".into(),
            grantable_to: vec![rtype("user", Trait::User)],
            purpose: PurposeValue::Assignment as i32,
            slug: "member".into(),
            ..Default::default()
        }
    }

    fn grant(entitlement: &proto::Entitlement, principal: &proto::Resource) -> proto::Grant {
        let pid = principal.id.clone().unwrap();
        proto::Grant {
            entitlement: Some(entitlement.clone()),
            principal: Some(principal.clone()),
            id: format!("{}:{}", entitlement.id, resource_key(&pid)),
            annotations: Vec::new(),
        }
    }

    /// One finished full sync: two users, one group with one member.
    fn small_org() -> Db {
        let db = Db::new();
        let (u1, u2, g1) = (user("u1"), user("u2"), group("g1"));
        let member = member_of(&g1);
        db.sync(S1, "2026-01-01 10:00:00.1", Some("2026-01-01 10:00:01.2"), "full")
            .resource_type(S1, &rtype("user", Trait::User))
            .resource_type(S1, &rtype("group", Trait::Group))
            .resource(S1, &u1)
            .resource(S1, &u2)
            .resource(S1, &g1)
            .entitlement(S1, &member)
            .grant(S1, &grant(&member, &u1));
        db
    }

    fn open_err(file: &NamedTempFile) -> DecodeError {
        match C1z::open(file.path()) {
            Ok(_) => panic!("{} decoded, but should not have", file.path().display()),
            Err(e) => e,
        }
    }

    fn latest_err(file: &NamedTempFile) -> DecodeError {
        match read_latest(file.path()) {
            Ok(_) => panic!("{} decoded, but should not have", file.path().display()),
            Err(e) => e,
        }
    }

    // ---- files built here ----

    #[test]
    fn a_small_file_in_several_frames_decodes_whole() {
        let file = small_org().c1z(3);
        let (run, ds) = read_latest(file.path()).unwrap();
        assert_eq!(run.sync_id, S1);
        assert_eq!(run.sync_type, "full");
        assert_eq!(ds.summary(), "2 resource types, 3 resources, 1 entitlements, 1 grants");

        assert_eq!(ds.resource_types["user"].traits, ["USER"]);
        let u1 = &ds.resources["user:u1"];
        assert_eq!((u1.resource_type.as_str(), u1.id.as_str()), ("user", "u1"));
        assert_eq!(u1.display_name, "User u1");
        assert_eq!(u1.status.as_deref(), Some("DISABLED"));
        assert_eq!(u1.annotations, ["type.googleapis.com/c1.connector.v2.UserTrait"]);
        let trait_ = u1.user.as_ref().unwrap();
        assert_eq!(trait_.emails, [("u1@example.com".to_owned(), true)]);
        assert_eq!(trait_.status, "ENABLED");
        assert_eq!(trait_.account_type, "HUMAN");
        assert_eq!(trait_.login, "u1@example.com");
        assert_eq!(trait_.profile["seats"], json!(3));
        assert!(u1.group.is_none() && u1.role.is_none() && u1.parent.is_none());

        let g1 = &ds.resources["group:g1"];
        assert_eq!(g1.group.as_ref().unwrap().profile.len(), 0);
        assert_eq!(g1.status, None);

        let member = &ds.entitlements["group:g1:member"];
        assert_eq!(member.resource, "group:g1");
        assert_eq!(
            (member.slug.as_str(), member.purpose.as_str()),
            ("member", "ASSIGNMENT")
        );
        assert_eq!(member.grantable_to, ["user"]);

        let g = &ds.grants["group:g1:member:user:u1"];
        assert_eq!(g.entitlement_id, "group:g1:member");
        assert_eq!(g.entitlement_resource, "group:g1");
        assert_eq!(g.principal, "user:u1");
    }

    #[test]
    fn a_parent_is_read_and_checked_against_its_columns() {
        let db = Db::new();
        let mut child = group("g2");
        child.parent_resource_id = Some(rid("group", "g1"));
        db.sync(S1, "2026-01-01 10:00:00", Some("2026-01-01 10:00:01"), "full")
            .resource(S1, &group("g1"))
            .resource(S1, &child);
        let ds = read_latest(db.c1z(1).path()).unwrap().1;
        assert_eq!(ds.resources["group:g2"].parent.as_deref(), Some("group:g1"));

        let db = Db::new();
        db.sync(S1, "2026-01-01 10:00:00", Some("2026-01-01 10:00:01"), "full")
            .resource(S1, &child)
            .exec("update v1_resources set parent_resource_id = 'g9'");
        let err = latest_err(&db.c1z(1)).to_string();
        assert!(
            err.contains("column parent_resource_id is \"g9\" but the message says \"g1\""),
            "{err}"
        );
    }

    #[test]
    fn the_latest_full_run_is_the_finished_full_one_that_ended_last() {
        let db = Db::new();
        // Started first, ended last: chosen by its end, as baton orders.
        db.sync("A", "2026-01-01 10:00:00.5", Some("2026-01-01 10:09:00"), "full")
            .sync("B", "2026-01-01 10:01:00", Some("2026-01-01 10:02:00"), "full")
            .sync("C", "2026-01-01 10:03:00", Some("2026-01-01 10:10:00"), "partial")
            .sync("D", "2026-01-01 10:04:00", None, "full")
            .sync("E", "2026-01-01 10:00:00.25", Some("2026-01-01 10:05:00"), "");
        let file = db.c1z(1);
        let c1z = C1z::open(file.path()).unwrap();
        let order: Vec<_> = c1z.sync_runs().iter().map(|r| r.sync_id.as_str()).collect();
        assert_eq!(order, ["E", "A", "B", "C", "D"]);
        assert_eq!(c1z.latest_full_run().unwrap().sync_id, "A");
        assert!(c1z.dataset("B").unwrap().resources.is_empty());
        let err = c1z.dataset("Z").unwrap_err().to_string();
        assert!(err.contains("no sync run \"Z\""), "{err}");
    }

    #[test]
    fn older_sync_run_tables_read_with_baton_defaults() {
        let ddl = DDL.replace(
            "sync_type text not null default 'full', parent_sync_id text not null default ''",
            "is_partial boolean not null default false",
        );
        let db = Db::with_ddl(&ddl);
        db.exec(
            "insert into v1_sync_runs (sync_id, started_at, ended_at) values ('A', '1', '2');
             insert into v1_sync_runs (sync_id, started_at, ended_at, is_partial) values ('B', '3', '4', 1);",
        );
        let file = db.c1z(1);
        let c1z = C1z::open(file.path()).unwrap();
        let runs: Vec<_> = c1z
            .sync_runs()
            .iter()
            .map(|r| (r.sync_id.as_str(), r.sync_type.as_str(), r.parent_sync_id.as_str()))
            .collect();
        assert_eq!(runs, [("A", "full", ""), ("B", "partial", "")]);
        assert_eq!(c1z.latest_full_run().unwrap().sync_id, "A");
    }

    #[test]
    fn no_finished_full_run_is_a_clear_error() {
        let db = Db::new();
        db.sync("A", "1", None, "full").sync("B", "2", Some("3"), "partial");
        let err = latest_err(&db.c1z(1));
        assert!(matches!(err, DecodeError::NoFinishedFullSync { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("A (type \"full\", unfinished), B (type \"partial\", finished)"),
            "{text}"
        );
    }

    #[test]
    fn the_temporary_database_is_deleted_on_drop() {
        let file = small_org().c1z(1);
        let c1z = C1z::open(file.path()).unwrap();
        let temp = c1z._db_file.path().to_path_buf();
        assert!(temp.exists());
        drop(c1z);
        assert!(!temp.exists());
    }

    // ---- broken files ----

    #[test]
    fn an_empty_file_is_named_empty() {
        let err = open_err(&file_of(b""));
        assert!(matches!(err, DecodeError::Empty { .. }), "{err}");
        assert!(err.to_string().contains("empty (0 bytes)"), "{err}");
    }

    #[test]
    fn a_wrong_magic_shows_what_the_file_starts_with() {
        // A bare SQLite database, as a writer that forgot the magic would leave.
        let err = open_err(&file_of(&small_org().bytes()));
        assert!(matches!(err, DecodeError::WrongMagic { .. }), "{err}");
        assert!(err.to_string().contains("starts with \"SQLit\""), "{err}");

        let err = open_err(&file_of(b"C1Z"));
        assert!(err.to_string().contains("starts with \"C1Z\""), "{err}");
    }

    #[test]
    fn a_truncated_stream_is_named_truncated() {
        let whole = std::fs::read(small_org().c1z(1).path()).unwrap();
        let err = open_err(&file_of(&whole[..whole.len() / 2]));
        assert!(matches!(err, DecodeError::Zstd { .. }), "{err}");
        assert!(err.to_string().contains("truncated or corrupt"), "{err}");
    }

    #[test]
    fn garbage_after_the_magic_is_named_corrupt_zstd() {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(b"this is not zstd at all");
        let err = open_err(&file_of(&bytes));
        assert!(matches!(err, DecodeError::Zstd { .. }), "{err}");
    }

    #[test]
    fn content_that_is_not_sqlite_is_named() {
        let err = open_err(&c1z_of(b"{\"resources\": []} is JSON, not SQLite", 1));
        assert!(matches!(err, DecodeError::NotSqlite { .. }), "{err}");
        assert!(
            err.to_string().contains("starts with \"{\\\"resources\\\": []\""),
            "{err}"
        );

        let err = open_err(&c1z_of(b"", 1));
        assert!(
            err.to_string()
                .contains("(0 bytes) is not a SQLite database: it starts with nothing"),
            "{err}"
        );

        let err = open_err(&file_of(MAGIC));
        assert!(matches!(err, DecodeError::NothingAfterMagic { .. }), "{err}");
    }

    #[test]
    fn a_damaged_database_fails_the_integrity_check() {
        // An index dropped from the schema but not from the file: its pages are orphans.
        let db = small_org();
        db.exec(
            "create index idx_test on v1_resources (external_id);
             pragma writable_schema = on;
             delete from sqlite_master where name = 'idx_test';
             pragma writable_schema = off;",
        );
        let err = open_err(&db.c1z(1));
        assert!(matches!(err, DecodeError::Integrity { .. }), "{err}");
        assert!(err.to_string().contains("never used"), "{err}");
    }

    #[test]
    fn a_missing_table_or_column_is_named() {
        let db = small_org();
        db.exec("drop table v1_grants");
        let err = open_err(&db.c1z(1));
        assert!(err.to_string().ends_with("table v1_grants is missing"), "{err}");

        let db = small_org();
        db.exec("alter table v1_entitlements drop column resource_id");
        let err = open_err(&db.c1z(1));
        assert!(
            err.to_string()
                .ends_with("table v1_entitlements has no column resource_id"),
            "{err}"
        );
    }

    #[test]
    fn an_external_id_that_disagrees_with_its_message_is_named() {
        let db = small_org();
        db.exec("update v1_resources set external_id = 'user:someone-else' where external_id = 'user:u2'");
        let err = latest_err(&db.c1z(1)).to_string();
        assert!(
            err.contains(&format!(
                "v1_resources, sync {S1}, external_id \"user:someone-else\" (row 2): \
                 the external_id is \"user:someone-else\" but <type>:<id> of the message is \"user:u2\""
            )),
            "{err}"
        );

        let db = small_org();
        db.exec("update v1_resource_types set external_id = 'person' where external_id = 'user'");
        let err = latest_err(&db.c1z(1)).to_string();
        assert!(err.contains("but the message's id is \"user\""), "{err}");

        let db = small_org();
        db.exec("update v1_grants set external_id = 'g'");
        let err = latest_err(&db.c1z(1)).to_string();
        assert!(err.contains("v1_grants, sync"), "{err}");
        assert!(
            err.contains("but the message's id is \"group:g1:member:user:u1\""),
            "{err}"
        );
    }

    #[test]
    fn indexing_columns_that_disagree_with_the_message_are_named() {
        let cases = [
            (
                "update v1_resources set resource_type_id = 'group' where external_id = 'user:u1'",
                "v1_resources",
                "column resource_type_id is \"group\" but the message says \"user\"",
            ),
            (
                "update v1_entitlements set resource_id = 'g2'",
                "v1_entitlements",
                "column resource_id is \"g2\" but the message says \"g1\"",
            ),
            (
                "update v1_grants set entitlement_id = 'group:g2:member'",
                "v1_grants",
                "column entitlement_id is \"group:g2:member\" but the message says \"group:g1:member\"",
            ),
            (
                "update v1_grants set resource_type_id = 'role'",
                "v1_grants",
                "column resource_type_id is \"role\" but the message says \"group\"",
            ),
            (
                "update v1_grants set resource_id = 'g2'",
                "v1_grants",
                "column resource_id is \"g2\" but the message says \"g1\"",
            ),
            (
                "update v1_grants set principal_resource_type_id = 'group'",
                "v1_grants",
                "column principal_resource_type_id is \"group\" but the message says \"user\"",
            ),
            (
                "update v1_grants set principal_resource_id = 'u2'",
                "v1_grants",
                "column principal_resource_id is \"u2\" but the message says \"u1\"",
            ),
        ];
        for (sql, table, detail) in cases {
            let db = small_org();
            db.exec(sql);
            let err = latest_err(&db.c1z(1));
            assert!(matches!(err, DecodeError::Inconsistent { .. }), "{sql}: {err}");
            let text = err.to_string();
            assert!(
                text.contains(&format!("{table}, sync {S1}, external_id")),
                "{sql}: {text}"
            );
            assert!(text.ends_with(detail), "{sql}: {text}");
        }
    }

    #[test]
    fn the_same_external_id_twice_in_one_sync_is_an_error() {
        let db = small_org();
        db.resource(S1, &user("u1"));
        let err = latest_err(&db.c1z(1));
        assert!(matches!(err, DecodeError::Duplicate { .. }), "{err}");
        assert!(
            err.to_string().ends_with(&format!(
                "v1_resources, sync {S1}: external_id \"user:u1\" appears more than once (rows 1 and 4)"
            )),
            "{err}"
        );

        // In two different syncs it is what a file keeping two runs holds.
        let db = small_org();
        db.sync("S2", "2026-01-02 00:00:00", Some("2026-01-02 00:00:01"), "full")
            .resource("S2", &user("u1"));
        let (run, ds) = read_latest(db.c1z(1).path()).unwrap();
        assert_eq!(run.sync_id, "S2");
        assert_eq!(ds.resources.len(), 1);
    }

    #[test]
    fn an_undecodable_message_names_its_row() {
        let db = small_org();
        db.exec("update v1_entitlements set data = x'0aff'");
        let err = latest_err(&db.c1z(1));
        assert!(matches!(err, DecodeError::Protobuf { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains(&format!(
                "v1_entitlements, sync {S1}, external_id \"group:g1:member\" (row 1): cannot decode c1.connector.v2.Entitlement"
            )),
            "{text}"
        );

        // An annotation is decoded too, when the oracle reads it.
        let mut broken = user("u3");
        broken.annotations[0].value = vec![0x0a, 0xff];
        let db = small_org();
        db.resource(S1, &broken);
        let text = latest_err(&db.c1z(1)).to_string();
        assert!(text.contains("external_id \"user:u3\""), "{text}");
        assert!(text.contains("cannot decode c1.connector.v2.UserTrait"), "{text}");
    }

    #[test]
    fn two_traits_of_one_kind_make_a_row_ambiguous() {
        let mut twice = user("u3");
        twice.annotations.push(twice.annotations[0].clone());
        let db = small_org();
        db.resource(S1, &twice);
        let text = latest_err(&db.c1z(1)).to_string();
        assert!(
            text.ends_with("more than one c1.connector.v2.UserTrait annotation"),
            "{text}"
        );
    }

    #[test]
    fn null_or_mistyped_cells_are_named() {
        let db = small_org();
        db.exec("update v1_resources set data = 7 where external_id = 'user:u2'");
        let text = latest_err(&db.c1z(1)).to_string();
        assert!(
            text.ends_with("external_id \"user:u2\" (row 2): data is an integer, not a blob"),
            "{text}"
        );
    }

    // ---- normalisation ----

    #[test]
    fn struct_values_become_json() {
        let list = Value {
            kind: Some(Kind::ListValue(ListValue {
                values: vec![
                    Value {
                        kind: Some(Kind::BoolValue(true)),
                    },
                    Value {
                        kind: Some(Kind::NullValue(0)),
                    },
                    Value { kind: None },
                    Value {
                        kind: Some(Kind::NumberValue(2.5)),
                    },
                    Value {
                        kind: Some(Kind::NumberValue(-7.0)),
                    },
                    Value {
                        kind: Some(Kind::NumberValue(1e300)),
                    },
                    Value {
                        kind: Some(Kind::NumberValue(f64::NAN)),
                    },
                    Value {
                        kind: Some(Kind::NumberValue(f64::NEG_INFINITY)),
                    },
                ],
            })),
        };
        let nested = Struct {
            fields: [("list".to_owned(), list), ("s".to_owned(), string_value("x"))]
                .into_iter()
                .collect(),
        };
        let outer = Struct {
            fields: [(
                "inner".to_owned(),
                Value {
                    kind: Some(Kind::StructValue(nested)),
                },
            )]
            .into_iter()
            .collect(),
        };
        let got = serde_json::to_value(struct_to_map(&outer)).unwrap();
        assert_eq!(
            got,
            json!({"inner": {"list": [true, null, null, 2.5, -7, 1e300, "NaN", "-inf"], "s": "x"}})
        );
    }

    #[test]
    fn enum_values_the_proto_does_not_define_are_unknown() {
        assert_eq!(enum_name(12, Trait::short_name), "MANAGED_DEVICE");
        assert_eq!(enum_name(99, Trait::short_name), "UNKNOWN(99)");
        assert_eq!(enum_name(-1, PurposeValue::short_name), "UNKNOWN(-1)");
        assert_eq!(enum_name(3, user_trait::AccountType::short_name), "SYSTEM");
    }

    // ---- files written by ConductorOne's Go baton-notion ----

    /// The folder of recorded Go outputs, from `NOTION_LAB_GO_REFERENCE` (relative to the
    /// repository root); `None`, with a note, when it is unset.
    fn go_reference() -> Option<PathBuf> {
        let Some(dir) = std::env::var_os("NOTION_LAB_GO_REFERENCE") else {
            eprintln!(
                "NOT RUN: NOTION_LAB_GO_REFERENCE is unset; set it to the folder of the Go \
                 connector's recorded outputs (see the README's Status section)"
            );
            return None;
        };
        let dir = PathBuf::from(dir);
        let dir = if dir.is_relative() {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir)
        } else {
            dir
        };
        assert!(
            dir.is_dir(),
            "NOTION_LAB_GO_REFERENCE names {}, which is not a folder",
            dir.display()
        );
        Some(dir)
    }

    fn truth(dir: &Path, name: &str) -> serde_json::Value {
        let text = std::fs::read_to_string(dir.join(format!("{name}.truth.json"))).unwrap();
        let truth: serde_json::Value = serde_json::from_str(&text).unwrap();
        truth["workspaces"][0].clone()
    }

    fn of_type<'a>(ds: &'a Dataset, t: &'a str) -> impl Iterator<Item = &'a ResourceRow> + 'a {
        ds.resources.values().filter(move |r| r.resource_type == t)
    }

    /// Decodes a Go file and checks what both recorded orgs share.
    fn check_go_file(dir: &Path, name: &str) -> (C1z, Dataset, serde_json::Value) {
        let c1z = C1z::open(&dir.join(format!("{name}.go.c1z"))).unwrap();
        assert_eq!(c1z.sync_runs().len(), 1, "one sync run");
        let run = c1z.latest_full_run().expect("a finished full sync").clone();
        assert_eq!(run.sync_type, "full");
        assert_eq!(run.sync_id.len(), 27, "a KSUID");
        let ds = c1z.dataset(&run.sync_id).unwrap();
        let truth = truth(dir, name);
        let users = truth["users"].as_array().unwrap();
        let groups = truth["groups"].as_array().unwrap();

        // Resource types and counts, against the org the file came from.
        let traits: BTreeMap<_, _> = ds
            .resource_types
            .values()
            .map(|rt| (rt.id.as_str(), rt.traits.clone()))
            .collect();
        assert_eq!(
            traits,
            BTreeMap::from([
                ("group", vec!["GROUP".to_owned()]),
                ("role", vec!["ROLE".to_owned(), "LICENSE_PROFILE".to_owned()]),
                ("user", vec!["USER".to_owned()]),
            ])
        );
        assert_eq!(of_type(&ds, "user").count(), users.len());
        assert_eq!(of_type(&ds, "group").count(), groups.len());
        let roles: Vec<_> = of_type(&ds, "role").map(|r| r.id.as_str()).collect();
        assert_eq!(roles, ["member", "membership_admin", "owner", "restricted_member"]);
        assert_eq!(ds.resources.len(), users.len() + groups.len() + 4);

        // Users: the login is the SCIM userName and the one email, primary.
        for u in users {
            let key = format!("user:{}", u["id"].as_str().unwrap());
            let row = &ds.resources[&key];
            let t = row.user.as_ref().unwrap();
            assert_eq!(t.login, u["user_name"].as_str().unwrap(), "{key}");
            assert_eq!(t.emails, [(t.login.clone(), true)], "{key}");
            assert_eq!(t.account_type, "HUMAN", "{key}");
            assert_eq!(row.annotations, [format!("type.googleapis.com/{}", names::USER_TRAIT)]);
        }

        // Entitlements: a member one per group, an assigned one per role.
        assert_eq!(ds.entitlements.len(), groups.len() + 4);
        for g in groups {
            let id = format!("group:{}:member", g["id"].as_str().unwrap());
            let e = &ds.entitlements[&id];
            assert_eq!((e.slug.as_str(), e.purpose.as_str()), ("member", "ASSIGNMENT"));
            assert_eq!(e.grantable_to, ["user"]);
        }

        // Grants: `<entitlement id>:<principal type>:<principal id>`, one per membership and
        // one per user with a role.
        for (id, g) in &ds.grants {
            assert_eq!(id, &format!("{}:{}", g.entitlement_id, g.principal));
        }
        let memberships: usize = groups.iter().map(|g| g["members"].as_array().unwrap().len()).sum();
        for g in groups {
            let gid = g["id"].as_str().unwrap();
            for m in g["members"].as_array().unwrap() {
                let id = format!("group:{gid}:member:user:{}", m.as_str().unwrap());
                assert!(ds.grants.contains_key(&id), "missing grant {id}");
            }
        }
        let with_role: Vec<_> = users.iter().filter(|u| !u["role"].is_null()).collect();
        for u in &with_role {
            let id = format!(
                "role:{}:assigned:user:{}",
                u["role"].as_str().unwrap(),
                u["id"].as_str().unwrap()
            );
            assert!(ds.grants.contains_key(&id), "missing grant {id}");
        }
        assert_eq!(ds.grants.len(), memberships + with_role.len());
        (c1z, ds, truth)
    }

    /// The raw message of a row of the latest run, for fields `Dataset` does not keep.
    fn raw<M: Message + Default>(c1z: &C1z, table: &str, external_id: &str) -> M {
        let data: Vec<u8> = c1z
            .conn
            .query_row(
                &format!("select data from {table} where external_id = ?1"),
                [external_id],
                |row| row.get(0),
            )
            .unwrap();
        M::decode(data.as_slice()).unwrap()
    }

    fn annotation<M: Message + Default>(annotations: &[Any], name: &str) -> M {
        let any = annotations
            .iter()
            .find(|a| message_name(&a.type_url) == name)
            .unwrap_or_else(|| panic!("no {name} annotation"));
        M::decode(any.value.as_slice()).unwrap()
    }

    #[test]
    fn the_go_connectors_shapes_file_decodes() {
        let Some(dir) = go_reference() else { return };
        let (c1z, ds, truth) = check_go_file(&dir, "shapes");
        assert_eq!(
            ds.summary(),
            "3 resource types, 66 resources, 9 entitlements, 70 grants"
        );

        // The Go connector annotates the resource types.
        assert_eq!(
            ds.resource_types["user"].annotations,
            ["type.googleapis.com/c1.connector.v2.SkipEntitlements"]
        );
        assert_eq!(
            ds.resource_types["role"].annotations,
            ["type.googleapis.com/c1.connector.v2.SkipGrants"]
        );

        // Users: the trait's status is always ENABLED and its profile empty; the resource's own
        // status and profile carry the SCIM `active` flag and the names.
        for u in truth["users"].as_array().unwrap() {
            let row = &ds.resources[&format!("user:{}", u["id"].as_str().unwrap())];
            let t = row.user.as_ref().unwrap();
            assert_eq!(t.status, "ENABLED");
            assert!(t.profile.is_empty());
            let active = u["active"].as_bool().unwrap();
            assert_eq!(row.status.as_deref(), Some(if active { "ENABLED" } else { "DISABLED" }));
            assert_eq!(row.profile["email"], json!(t.login));
            assert_eq!(
                row.profile.get("workspace_role"),
                u["role"].as_str().map(|r| json!(r)).as_ref()
            );
        }

        // Roles: a LicenseProfileTrait naming the role and its `assigned` entitlement, which
        // carries the exclusion group of the four roles.
        let orders = [
            ("owner", 4),
            ("membership_admin", 3),
            ("member", 2),
            ("restricted_member", 1),
        ];
        for (role, order) in orders {
            let key = format!("role:{role}");
            let row = &ds.resources[&key];
            assert_eq!(
                row.annotations,
                [
                    format!("type.googleapis.com/{}", names::LICENSE_PROFILE_TRAIT),
                    format!("type.googleapis.com/{}", names::ROLE_TRAIT),
                ]
            );
            assert_eq!(row.role.as_ref().unwrap().profile["role_id"], json!(role));
            let resource: proto::Resource = raw(&c1z, RESOURCES, &key);
            let license: proto::LicenseProfileTrait = annotation(&resource.annotations, names::LICENSE_PROFILE_TRAIT);
            assert_eq!(license.license_name, row.display_name);
            assert_eq!(license.entitlement_ids, [format!("{key}:assigned")]);
            assert_eq!((license.purchased_seats, license.consumed_seats), (0, 0));

            let ent_id = format!("{key}:assigned");
            assert_eq!(
                ds.entitlements[&ent_id].annotations,
                [format!("type.googleapis.com/{}", names::ENTITLEMENT_EXCLUSION_GROUP)]
            );
            let ent: proto::Entitlement = raw(&c1z, ENTITLEMENTS, &ent_id);
            let group: proto::EntitlementExclusionGroup =
                annotation(&ent.annotations, names::ENTITLEMENT_EXCLUSION_GROUP);
            assert_eq!(group.exclusion_group_id, "notion-workspace-role");
            assert_eq!(group.order, order, "{role}");
            assert_eq!(group.is_default, role == "restricted_member", "{role}");
        }

        // Groups: the trait and the resource carry the same profile.
        for g in of_type(&ds, "group") {
            let profile = &g.group.as_ref().unwrap().profile;
            assert_eq!(profile, &g.profile);
            assert_eq!(profile["group_id"], json!(g.id));
            assert_eq!(profile["group_name"], json!(g.display_name));
        }
    }

    #[test]
    fn the_go_connectors_seed17_file_decodes() {
        let Some(dir) = go_reference() else { return };
        let (_, ds, truth) = check_go_file(&dir, "seed17");
        assert_eq!(truth["users"].as_array().unwrap().len(), 1234);
        assert_eq!(ds.resources.len(), 1234 + 37 + 4);
    }

    #[test]
    fn a_go_file_cut_short_is_named_truncated() {
        let Some(dir) = go_reference() else { return };
        let whole = std::fs::read(dir.join("seed17.go.c1z")).unwrap();
        let err = open_err(&file_of(&whole[..whole.len() * 2 / 3]));
        assert!(matches!(err, DecodeError::Zstd { .. }), "{err}");
    }
}
