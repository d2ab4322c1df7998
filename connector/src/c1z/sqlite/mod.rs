//! A SQLite database file written directly, page by page, without going through SQLite.
//!
//! Why: a sync writes a few hundred thousand rows once and never updates them. Through SQLite
//! every row walks a B-tree, every page passes through the page cache and the file system
//! twice, and the finished file is read back again to be compressed. Written here, each table
//! page is packed once as its rows arrive and handed straight to the caller's writer (the zstd
//! encoder of the c1z), while the index keys wait, as small integer ids, to be sorted once at
//! the end. The file is a plain SQLite database (format 4, UTF-8, 16 KiB pages, no freelist):
//! SQLite reads it, `pragma integrity_check` passes, and any later write by SQLite is normal.
//!
//! What it supports is what baton's schema needs: rowid tables (with an `integer primary key`
//! alias or none) and indexes on plain columns in ascending BINARY order, unique or not. The
//! schema is read from a SQLite connection where it was created, so the stored `sql` text and
//! the column order are SQLite's own. Anything else (views, triggers, `WITHOUT ROWID`,
//! expression or partial indexes, collations) is refused when the builder is made.
//!
//! The caller gets every page but page 1 through its writer, in order from page 2; page 1
//! (the file header and the `sqlite_schema` table, which names each tree's root page) can only
//! be known at the end and is returned by [`DbBuilder::finish`] for the caller to put first.

mod btree;
mod indexes;
mod keys;
mod record;
mod spill;
#[cfg(test)]
mod tests;

use std::io::{self, Write};

use rusqlite::Connection;

pub use btree::PAGE_SIZE;
use btree::{PageSink, TableTree};
use keys::KeyColumn;
pub use record::Value;
pub use spill::SpillConfig;

/// Why a database could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("writing the database: {0}")]
    Io(#[from] io::Error),
    #[error("reading the schema: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the schema has {0}, which the direct writer does not support")]
    Unsupported(String),
    #[error("two rows of {table} have the same key for unique index {index}: ({key})")]
    Duplicate { table: String, index: String, key: String },
    #[error("a row for {table} has {got} values; the table has {want} columns")]
    Arity { table: String, got: usize, want: usize },
}

/// The tables and indexes of a database, in `sqlite_schema` order.
#[derive(Debug, Clone)]
pub struct Schema {
    entries: Vec<SchemaEntry>,
    tables: Vec<TableSpec>,
}

#[derive(Debug, Clone)]
struct SchemaEntry {
    kind: &'static str,
    name: String,
    table: String,
    sql: String,
    tree: Tree,
}

#[derive(Debug, Clone, Copy)]
enum Tree {
    Table(usize),
    Index(usize, usize),
}

#[derive(Debug, Clone)]
struct TableSpec {
    name: String,
    columns: Vec<String>,
    /// The `integer primary key` column, stored as NULL in the record (the rowid is its value).
    rowid_alias: Option<usize>,
    indexes: Vec<IndexSpec>,
}

#[derive(Debug, Clone)]
struct IndexSpec {
    name: String,
    /// Table columns, in key order.
    columns: Vec<usize>,
    unique: bool,
}

impl Schema {
    /// Reads the schema of `conn`'s main database.
    pub fn read(conn: &Connection) -> Result<Self, BuildError> {
        let rows: Vec<(String, String, String, Option<String>)> = conn
            .prepare("select type, name, tbl_name, sql from sqlite_master order by rowid")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<Result<_, _>>()?;
        let mut entries = Vec::new();
        let mut tables: Vec<TableSpec> = Vec::new();
        for (kind, name, table, sql) in rows {
            let sql = sql.ok_or_else(|| BuildError::Unsupported(format!("an automatic index ({name})")))?;
            match kind.as_str() {
                "table" => {
                    if sql.to_ascii_lowercase().contains("without rowid") {
                        return Err(BuildError::Unsupported(format!("a WITHOUT ROWID table ({name})")));
                    }
                    let columns: Vec<(String, String, i64)> = conn
                        .prepare("select name, type, pk from pragma_table_info(?1) order by cid")?
                        .query_map([&name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                        .collect::<Result<_, _>>()?;
                    let pk: Vec<usize> = (0..columns.len()).filter(|&i| columns[i].2 > 0).collect();
                    let rowid_alias = match pk.as_slice() {
                        [only] if columns[*only].1.eq_ignore_ascii_case("integer") => Some(*only),
                        [] => None,
                        _ => {
                            return Err(BuildError::Unsupported(format!(
                                "a primary key that is not a rowid ({name})"
                            )))
                        }
                    };
                    entries.push(SchemaEntry {
                        kind: "table",
                        name: name.clone(),
                        table,
                        sql,
                        tree: Tree::Table(tables.len()),
                    });
                    tables.push(TableSpec {
                        name,
                        columns: columns.into_iter().map(|c| c.0).collect(),
                        rowid_alias,
                        indexes: Vec::new(),
                    });
                }
                "index" => {
                    let t = tables
                        .iter()
                        .position(|s| s.name == table)
                        .ok_or_else(|| BuildError::Unsupported(format!("an index before its table ({name})")))?;
                    let spec = read_index(conn, &name, &table, &tables[t])?;
                    entries.push(SchemaEntry {
                        kind: "index",
                        name,
                        table,
                        sql,
                        tree: Tree::Index(t, tables[t].indexes.len()),
                    });
                    tables[t].indexes.push(spec);
                }
                other => return Err(BuildError::Unsupported(format!("a {other} ({name})"))),
            }
        }
        Ok(Self { entries, tables })
    }

    /// The handle of table `name`.
    pub fn table(&self, name: &str) -> Option<usize> {
        self.tables.iter().position(|t| t.name == name)
    }

    /// Column names of table `table`, in record order.
    pub fn columns(&self, table: usize) -> &[String] {
        &self.tables[table].columns
    }
}

fn read_index(conn: &Connection, name: &str, table: &str, spec: &TableSpec) -> Result<IndexSpec, BuildError> {
    let (unique, partial): (bool, bool) = conn.query_row(
        "select \"unique\", partial from pragma_index_list(?1) where name = ?2",
        [table, name],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if partial {
        return Err(BuildError::Unsupported(format!("a partial index ({name})")));
    }
    let keys: Vec<(i64, bool, Option<String>)> = conn
        .prepare("select cid, desc, coll from pragma_index_xinfo(?1) where key = 1 order by seqno")?
        .query_map([name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let mut columns = Vec::with_capacity(keys.len());
    for (cid, desc, coll) in keys {
        let plain = cid >= 0 && Some(cid as usize) != spec.rowid_alias;
        if !plain || desc || !coll.as_deref().unwrap_or("BINARY").eq_ignore_ascii_case("BINARY") {
            return Err(BuildError::Unsupported(format!(
                "an index on an expression, the rowid, descending or with a collation ({name})"
            )));
        }
        columns.push(cid as usize);
    }
    Ok(IndexSpec {
        name: name.to_owned(),
        columns,
        unique,
    })
}

/// Makes an empty chunk; called on worker threads.
pub type ChunkMaker<C> = Box<dyn Fn() -> io::Result<C> + Send + Sync>;

/// Where a builder's pages go: a writer taking them in order from page 2, which may also take
/// runs of pages built apart on worker threads ("chunks").
pub trait PageOutput: Write {
    /// What a worker writes pages built apart into.
    type Chunk: Write + Send;

    /// How to make an empty chunk, or `None` when this output takes no chunks (every page is
    /// then written in order on the calling thread).
    fn chunks(&self) -> Option<ChunkMaker<Self::Chunk>>;

    /// Appends a finished chunk: its pages follow the pages written so far.
    fn append_chunk(&mut self, chunk: Self::Chunk) -> io::Result<()>;
}

/// A plain database in memory; chunks are pages in memory too.
impl PageOutput for Vec<u8> {
    type Chunk = Vec<u8>;

    fn chunks(&self) -> Option<ChunkMaker<Self::Chunk>> {
        Some(Box::new(|| Ok(Vec::new())))
    }

    fn append_chunk(&mut self, chunk: Self::Chunk) -> io::Result<()> {
        self.extend_from_slice(&chunk);
        Ok(())
    }
}

/// Numbers pages from 2 and writes them to `out`.
#[derive(Debug)]
struct StreamSink<W> {
    out: W,
    next: u32,
}

impl<W: PageOutput> StreamSink<W> {
    /// Appends a chunk of `pages` pages.
    fn append(&mut self, chunk: W::Chunk, pages: usize) -> io::Result<()> {
        let next = u32::try_from(pages)
            .ok()
            .and_then(|p| self.next.checked_add(p))
            .ok_or_else(|| io::Error::other("more pages than a SQLite file can number"))?;
        self.out.append_chunk(chunk)?;
        self.next = next;
        Ok(())
    }
}

impl<W: Write> PageSink for StreamSink<W> {
    fn next_page_no(&mut self) -> u32 {
        self.next
    }

    fn write_page(&mut self, page: &[u8]) -> io::Result<u32> {
        self.out.write_all(page)?;
        self.next += 1;
        Ok(self.next - 1)
    }
}

#[derive(Debug)]
struct TableState {
    tree: TableTree,
    rows: u64,
    /// Columns any index uses, and the values each took, row by row.
    indexed: Vec<usize>,
    key_values: Vec<KeyColumn>,
    /// Per row, the id of its value in each of `key_values` (rows since the last spill).
    row_keys: Vec<u32>,
    /// Bytes `key_values` and `row_keys` hold (their capacity), as last counted.
    key_bytes: usize,
    /// Keys spilled to disk: sorted runs for each index.
    runs: spill::TableRuns,
}

impl TableState {
    fn count_key_bytes(&self) -> usize {
        self.key_values.iter().map(KeyColumn::heap_bytes).sum::<usize>() + self.row_keys.capacity() * 4
    }
}

/// Builds one database file from rows, streaming its pages (from page 2) into a writer.
#[derive(Debug)]
pub struct DbBuilder<W: PageOutput> {
    schema: Schema,
    sink: StreamSink<W>,
    tables: Vec<TableState>,
    /// Where and when index keys go to disk; `None` keeps them all in memory.
    spill: Option<SpillConfig>,
    /// Bytes of index keys in memory, over all tables.
    key_bytes: usize,
}

/// A built database: the writer (every page from 2 on written to it), page 1, and the size.
#[derive(Debug)]
pub struct Built<W> {
    pub out: W,
    pub page1: Vec<u8>,
    pub pages: u32,
}

impl<W: PageOutput> DbBuilder<W> {
    /// A builder for a database with `schema`, writing pages to `out`.
    pub fn new(schema: Schema, out: W) -> Self {
        let tables = schema
            .tables
            .iter()
            .map(|t| {
                let mut indexed: Vec<usize> = t.indexes.iter().flat_map(|i| i.columns.iter().copied()).collect();
                indexed.sort_unstable();
                indexed.dedup();
                TableState {
                    tree: TableTree::default(),
                    rows: 0,
                    key_values: indexed.iter().map(|_| KeyColumn::default()).collect(),
                    indexed,
                    row_keys: Vec::new(),
                    key_bytes: 0,
                    runs: spill::TableRuns::default(),
                }
            })
            .collect();
        Self {
            schema,
            sink: StreamSink { out, next: 2 },
            tables,
            spill: None,
            key_bytes: 0,
        }
    }

    /// Keeps index keys in memory up to `config.budget` bytes (over all tables); past it, the
    /// biggest table's keys are sorted into runs in files in `config.dir` and merged at the
    /// end (see [`spill`]). The file built is the same, byte for byte.
    pub fn with_spill(mut self, config: SpillConfig) -> Self {
        self.spill = Some(config);
        self
    }

    /// The schema this builder writes.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Appends a row to `table` (a handle from [`Schema::table`]) with one value per column, in
    /// column order; returns its rowid. The rowid alias column's value is ignored.
    pub fn insert(&mut self, table: usize, values: &[Value<'_>]) -> Result<i64, BuildError> {
        let spec = &self.schema.tables[table];
        if values.len() != spec.columns.len() {
            return Err(BuildError::Arity {
                table: spec.name.clone(),
                got: values.len(),
                want: spec.columns.len(),
            });
        }
        let state = &mut self.tables[table];
        state.rows += 1;
        let rowid = state.rows as i64;
        state.tree.insert(&mut self.sink, rowid, values, spec.rowid_alias)?;
        for (k, &column) in state.indexed.iter().enumerate() {
            let id = state.key_values[k]
                .intern(&values[column])
                .ok_or_else(|| BuildError::Unsupported(format!("more than 4 GiB of index keys in {}", spec.name)))?;
            state.row_keys.push(id);
        }
        if let Some(config) = &self.spill {
            let counted = state.count_key_bytes();
            self.key_bytes = self.key_bytes - state.key_bytes + counted;
            state.key_bytes = counted;
            if self.key_bytes > config.budget {
                self.spill_biggest()?;
            }
        }
        Ok(rowid)
    }

    /// Spills the keys of the table holding the most, then of the next, until the keys in
    /// memory are within half the budget (so that spills come in batches worth sorting).
    fn spill_biggest(&mut self) -> Result<(), BuildError> {
        let Some(config) = self.spill.clone() else {
            return Ok(());
        };
        while self.key_bytes > config.budget / 2 {
            let Some(t) = (0..self.tables.len()).max_by_key(|&t| self.tables[t].key_bytes) else {
                break;
            };
            if self.tables[t].key_bytes == 0 {
                break;
            }
            self.spill_table(&config.dir, t)?;
        }
        Ok(())
    }

    /// Sorts table `t`'s keys in memory into one more run for each of its indexes.
    fn spill_table(&mut self, dir: &std::path::Path, t: usize) -> Result<(), BuildError> {
        let spec = &self.schema.tables[t];
        let state = &mut self.tables[t];
        let columns = std::mem::replace(
            &mut state.key_values,
            state.indexed.iter().map(|_| KeyColumn::default()).collect(),
        );
        let row_keys = std::mem::take(&mut state.row_keys);
        let rows = (state.rows - state.runs.spilled) as usize;
        self.key_bytes -= state.key_bytes;
        state.key_bytes = 0;
        if spec.indexes.is_empty() {
            return Ok(());
        }
        tracing::debug!(table = %spec.name, rows, "index keys spilled to disk");
        spill::spill_batch(dir, spec, &state.indexed, columns, &row_keys, rows, &mut state.runs)
    }

    /// Writes the rest of the tables and every index, and returns page 1 for the caller to put
    /// at the start of the file.
    pub fn finish(mut self) -> Result<Built<W>, BuildError> {
        // A table with keys on disk puts the rest there too: its indexes are all merged.
        if let Some(config) = self.spill.clone() {
            for t in 0..self.tables.len() {
                let state = &self.tables[t];
                if !state.runs.is_empty() && state.rows > state.runs.spilled {
                    self.spill_table(&config.dir, t)?;
                }
            }
        }
        let Self {
            schema,
            mut sink,
            tables,
            ..
        } = self;
        let mut table_roots = Vec::with_capacity(tables.len());
        let mut keys = Vec::with_capacity(tables.len());
        for state in tables {
            table_roots.push(state.tree.finish(&mut sink)?);
            keys.push(indexes::TableKeys {
                indexed: state.indexed,
                columns: state.key_values,
                row_keys: state.row_keys,
                rows: state.rows,
                runs: state.runs,
            });
        }
        let index_roots = indexes::write_all(&mut sink, &schema, keys)?;
        let pages = sink.next - 1;
        let page1 = page_one(&schema, &table_roots, &index_roots, pages)?;
        Ok(Built {
            out: sink.out,
            page1,
            pages,
        })
    }
}

/// Page 1: the 100-byte file header, then the `sqlite_schema` table as one leaf.
fn page_one(schema: &Schema, table_roots: &[u32], index_roots: &[Vec<u32>], pages: u32) -> Result<Vec<u8>, BuildError> {
    let mut cells = Vec::with_capacity(schema.entries.len());
    let mut record = Vec::new();
    let mut used = 0;
    for (i, entry) in schema.entries.iter().enumerate() {
        let root = match entry.tree {
            Tree::Table(t) => table_roots[t],
            Tree::Index(t, j) => index_roots[t][j],
        };
        record.clear();
        record::encode_record(
            &[
                Value::Text(entry.kind),
                Value::Text(&entry.name),
                Value::Text(&entry.table),
                Value::Int(i64::from(root)),
                Value::Text(&entry.sql),
            ],
            &mut record,
        );
        let cell = btree::small_table_cell(i as i64 + 1, &record)
            .ok_or_else(|| BuildError::Unsupported("a schema entry larger than a page".into()))?;
        used += cell.len() + 2;
        cells.push(cell);
    }
    if used > btree::room(100, false) {
        return Err(BuildError::Unsupported("a schema larger than one page".into()));
    }
    let mut page = vec![0u8; PAGE_SIZE];
    page[..16].copy_from_slice(b"SQLite format 3\0");
    page[16..18].copy_from_slice(&(PAGE_SIZE as u16).to_be_bytes());
    page[18] = 1; // write version: rollback journal
    page[19] = 1; // read version
    page[20] = 0; // reserved bytes per page
    page[21] = 64; // payload fractions, fixed by the format
    page[22] = 32;
    page[23] = 32;
    page[24..28].copy_from_slice(&1u32.to_be_bytes()); // file change counter
    page[28..32].copy_from_slice(&pages.to_be_bytes()); // size in pages
                                                        // 32..40: no freelist.
    page[40..44].copy_from_slice(&1u32.to_be_bytes()); // schema cookie
    page[44..48].copy_from_slice(&4u32.to_be_bytes()); // schema format 4
    page[56..60].copy_from_slice(&1u32.to_be_bytes()); // text encoding: UTF-8
    page[92..96].copy_from_slice(&1u32.to_be_bytes()); // version-valid-for = change counter
    page[96..100].copy_from_slice(&(rusqlite::version_number() as u32).to_be_bytes());
    btree::layout_page(
        &mut page,
        100,
        btree::TABLE_LEAF_KIND,
        cells.iter().map(Vec::as_slice),
        None,
    );
    Ok(page)
}
