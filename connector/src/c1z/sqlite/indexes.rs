//! Every index of a finished database, built on worker threads.
//!
//! The work, in the order it is taken: each key column sorted (in the order the indexes need
//! them), then each index's leaves packed. Index leaves hold no page numbers, so a worker
//! packs an index's leaves into a chunk of its own, numbered from 0 (in a c1z, a zstd frame the
//! worker compresses); this thread appends the chunks in schema order and writes each index's
//! few interior pages, which name the leaves by their final numbers, right after them.
//!
//! An index whose records could spill into overflow pages (the records then hold page
//! numbers) is built on this thread instead, straight into the output, in its turn; so is
//! every index when the output takes no chunks. Sorting comes first; the biggest indexes are
//! packed first, so that the workers end together. A job only ever waits for jobs taken
//! before it, so workers never wait on each other in a cycle; any failure stops them all.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use super::btree::{IndexTree, Leaves, PageSink, INDEX_MAX_LOCAL};
use super::keys::{self, KeyColumn, SortedColumn};
use super::record::{varint_len, Value};
use super::spill::{self, TableRuns};
use super::{BuildError, IndexSpec, PageOutput, Schema, StreamSink, TableSpec};

/// Worker threads at most (one per core up to this).
const MAX_WORKERS: usize = 4;

/// A sorted key column: ranks by id, distinct values by rank.
type Sorted = (Vec<u32>, SortedColumn);

/// What a table leaves for its indexes.
#[derive(Debug)]
pub(super) struct TableKeys {
    /// Table columns any index uses, in column order (a column's position here is its key
    /// column's).
    pub indexed: Vec<usize>,
    /// The values each indexed column took.
    pub columns: Vec<KeyColumn>,
    /// Per row, the id of its value in each key column.
    pub row_keys: Vec<u32>,
    pub rows: u64,
    /// Keys spilled to disk; when there are any, every key of the table is there.
    pub runs: TableRuns,
}

/// The part of [`TableKeys`] every job reads.
struct Rows {
    indexed: Vec<usize>,
    row_keys: Vec<u32>,
    rows: u64,
}

enum Job {
    Sort {
        table: usize,
        position: usize,
        column: KeyColumn,
    },
    Pack {
        table: usize,
        index: usize,
    },
    /// An index whose keys were spilled: its runs merged into its leaves.
    Merge {
        table: usize,
        index: usize,
        runs: Vec<std::fs::File>,
    },
}

/// An index's leaves, packed into a chunk apart from the output.
struct Packed<C> {
    chunk: C,
    leaves: Leaves,
}

struct State<C> {
    jobs: std::vec::IntoIter<Job>,
    /// Sorted key columns (by table, then position), each held until its last user takes it.
    sorted: Vec<Vec<Option<Arc<Sorted>>>>,
    /// Indexes yet to take each key column.
    users: Vec<Vec<usize>>,
    packed: Vec<Vec<Option<Packed<C>>>>,
    stopped: bool,
    error: Option<BuildError>,
}

struct Shared<C> {
    state: Mutex<State<C>>,
    changed: Condvar,
}

impl<C> Shared<C> {
    fn lock(&self) -> MutexGuard<'_, State<C>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn next_job(&self) -> Option<Job> {
        let mut state = self.lock();
        if state.stopped {
            return None;
        }
        state.jobs.next()
    }

    /// Stops every side, keeping the first error for the caller.
    fn stop(&self, error: Option<BuildError>) {
        let mut state = self.lock();
        if state.error.is_none() {
            state.error = error;
        }
        state.stopped = true;
        self.changed.notify_all();
    }

    fn update(&self, change: impl FnOnce(&mut State<C>)) {
        change(&mut self.lock());
        self.changed.notify_all();
    }

    /// Waits until `ready` gives a value, or everything stopped.
    fn wait<T>(&self, mut ready: impl FnMut(&mut State<C>) -> Option<T>) -> Result<T, BuildError> {
        let mut state = self.lock();
        loop {
            if let Some(value) = ready(&mut state) {
                return Ok(value);
            }
            if state.stopped {
                return Err(state
                    .error
                    .take()
                    .unwrap_or_else(|| io::Error::other("an index worker stopped early").into()));
            }
            state = self.changed.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// The sorted columns of `index` of table `table`, in key order with their positions,
    /// once all are sorted. A column no other index needs leaves the shared state with them.
    fn take_columns(
        &self,
        table: usize,
        index: &IndexSpec,
        indexed: &[usize],
    ) -> Result<Vec<(usize, Arc<Sorted>)>, BuildError> {
        let positions: Vec<usize> = index.columns.iter().map(|&c| position(indexed, c)).collect();
        self.wait(|state| {
            if positions.iter().any(|&p| state.sorted[table][p].is_none()) {
                return None;
            }
            let mut columns = Vec::with_capacity(positions.len());
            for &p in &positions {
                let users = &mut state.users[table][p];
                *users = users.saturating_sub(1);
                let sorted = if *users == 0 {
                    state.sorted[table][p].take()
                } else {
                    state.sorted[table][p].clone()
                };
                columns.extend(sorted.map(|s| (p, s)));
            }
            Some(columns)
        })
    }
}

/// Stops everyone when dropped while its thread unwinds (or, for the calling thread, on any
/// way out), so nobody waits for a result that will never come.
struct StopGuard<'a, C> {
    shared: &'a Shared<C>,
    always: bool,
}

impl<C> Drop for StopGuard<'_, C> {
    fn drop(&mut self) {
        if self.always || std::thread::panicking() {
            self.shared.stop(None);
        }
    }
}

/// Numbers pages from 0 into a chunk.
struct ChunkSink<C> {
    out: C,
    next: u32,
    /// Set if a page number was asked for ahead of a write (overflow pages do that).
    numbered: bool,
}

impl<C: Write> PageSink for ChunkSink<C> {
    fn next_page_no(&mut self) -> u32 {
        self.numbered = true;
        self.next
    }

    fn write_page(&mut self, page: &[u8]) -> io::Result<u32> {
        self.out.write_all(page)?;
        self.next += 1;
        Ok(self.next - 1)
    }
}

/// Sorts every key column and writes every index, each after the pages written so far;
/// returns the root page of each index, by table.
pub(super) fn write_all<W: PageOutput>(
    sink: &mut StreamSink<W>,
    schema: &Schema,
    tables: Vec<TableKeys>,
) -> Result<Vec<Vec<u32>>, BuildError> {
    let chunk_maker = sink.out.chunks();
    let make_chunk = chunk_maker.as_deref();
    let mut jobs = Vec::new();
    let mut packs = Vec::new();
    let mut users = Vec::with_capacity(tables.len());
    let mut apart = Vec::with_capacity(tables.len());
    let mut merged_here = Vec::with_capacity(tables.len());
    let mut rows = Vec::with_capacity(tables.len());
    for (t, keys) in tables.into_iter().enumerate() {
        let spec = &schema.tables[t];
        let spilled = !keys.runs.is_empty();
        let max_lens: Vec<usize> = if spilled {
            keys.runs.max_lens.clone()
        } else {
            keys.columns.iter().map(KeyColumn::max_len).collect()
        };
        let mut columns: Vec<Option<KeyColumn>> = keys.columns.into_iter().map(Some).collect();
        let mut counts = vec![0; columns.len()];
        let mut table_apart = Vec::with_capacity(spec.indexes.len());
        let mut index_runs = keys.runs.runs.into_iter();
        let mut table_merged_here = Vec::with_capacity(spec.indexes.len());
        for (i, index) in spec.indexes.iter().enumerate() {
            let runs = index_runs.next();
            let packed_apart = make_chunk.is_some() && never_spills(index, &keys.indexed, &max_lens);
            if spilled {
                // Merged from its runs, by a worker into a chunk or by this thread in its turn.
                let runs = runs.unwrap_or_default();
                if packed_apart {
                    let cost = keys
                        .rows
                        .saturating_mul(index_record_len(index, &keys.indexed, &max_lens) + 8);
                    packs.push((
                        cost,
                        Job::Merge {
                            table: t,
                            index: i,
                            runs,
                        },
                    ));
                    table_merged_here.push(None);
                } else {
                    table_merged_here.push(Some(runs));
                }
                table_apart.push(packed_apart);
                continue;
            }
            table_merged_here.push(None);
            for &c in &index.columns {
                let p = position(&keys.indexed, c);
                counts[p] += 1;
                if let Some(column) = columns[p].take() {
                    jobs.push(Job::Sort {
                        table: t,
                        position: p,
                        column,
                    });
                }
            }
            if packed_apart {
                let cost = keys
                    .rows
                    .saturating_mul(index_record_len(index, &keys.indexed, &max_lens) + 8);
                packs.push((cost, Job::Pack { table: t, index: i }));
            }
            table_apart.push(packed_apart);
        }
        users.push(counts);
        apart.push(table_apart);
        merged_here.push(table_merged_here);
        rows.push(Rows {
            indexed: keys.indexed,
            row_keys: keys.row_keys,
            rows: keys.rows,
        });
    }
    // The biggest indexes first, so that the last job to end is a small one.
    packs.sort_by_key(|(cost, _)| std::cmp::Reverse(*cost));
    jobs.extend(packs.into_iter().map(|(_, job)| job));
    let shared = Shared {
        state: Mutex::new(State {
            sorted: users.iter().map(|u| u.iter().map(|_| None).collect()).collect(),
            packed: apart.iter().map(|a| a.iter().map(|_| None).collect()).collect(),
            users,
            jobs: jobs.into_iter(),
            stopped: false,
            error: None,
        }),
        changed: Condvar::new(),
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = cores.clamp(1, MAX_WORKERS);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| work(&shared, schema, &rows, make_chunk));
        }
        let _stop = StopGuard {
            shared: &shared,
            always: true,
        };
        assemble(sink, schema, &rows, &apart, merged_here, &shared)
    })
}

/// About the bytes of an index's records: the longest values.
fn index_record_len(index: &IndexSpec, indexed: &[usize], max_lens: &[usize]) -> u64 {
    index
        .columns
        .iter()
        .map(|&c| max_lens[position(indexed, c)] as u64)
        .sum()
}

/// A worker: takes jobs until none are left or everything stopped.
fn work<C: Write + Send>(
    shared: &Shared<C>,
    schema: &Schema,
    rows: &[Rows],
    make_chunk: Option<&(dyn Fn() -> io::Result<C> + Send + Sync)>,
) {
    let _stop = StopGuard { shared, always: false };
    while let Some(job) = shared.next_job() {
        match job {
            Job::Sort {
                table,
                position,
                column,
            } => {
                let sorted = Arc::new(column.sort());
                shared.update(|state| state.sorted[table][position] = Some(sorted));
            }
            Job::Pack { table, index } => {
                let spec = &schema.tables[table];
                let index_spec = &spec.indexes[index];
                let Ok(columns) = shared.take_columns(table, index_spec, &rows[table].indexed) else {
                    return;
                };
                let packed = make_chunk
                    .ok_or_else(|| io::Error::other("this output takes no chunks").into())
                    .and_then(|make| pack(make, spec, index_spec, &columns, &rows[table]));
                drop(columns);
                match packed {
                    Ok(packed) => shared.update(|state| state.packed[table][index] = Some(packed)),
                    Err(e) => {
                        shared.stop(Some(e));
                        return;
                    }
                }
            }
            Job::Merge { table, index, runs } => {
                let spec = &schema.tables[table];
                let packed = make_chunk
                    .ok_or_else(|| io::Error::other("this output takes no chunks").into())
                    .and_then(|make| {
                        pack_with(make, &spec.indexes[index], |sink| {
                            spill::write_merged_leaves(sink, spec, &spec.indexes[index], runs)
                        })
                    });
                match packed {
                    Ok(packed) => shared.update(|state| state.packed[table][index] = Some(packed)),
                    Err(e) => {
                        shared.stop(Some(e));
                        return;
                    }
                }
            }
        }
    }
}

/// Packs one index's leaves into a new chunk.
fn pack<C: Write>(
    make_chunk: &(dyn Fn() -> io::Result<C> + Send + Sync),
    spec: &TableSpec,
    index: &IndexSpec,
    columns: &[(usize, Arc<Sorted>)],
    rows: &Rows,
) -> Result<Packed<C>, BuildError> {
    pack_with(make_chunk, index, |sink| write_leaves(sink, spec, index, columns, rows))
}

/// Packs the leaves `write` writes into a new chunk.
fn pack_with<C: Write>(
    make_chunk: &(dyn Fn() -> io::Result<C> + Send + Sync),
    index: &IndexSpec,
    write: impl FnOnce(&mut dyn PageSink) -> Result<Leaves, BuildError>,
) -> Result<Packed<C>, BuildError> {
    let mut sink = ChunkSink {
        out: make_chunk()?,
        next: 0,
        numbered: false,
    };
    let leaves = write(&mut sink)?;
    if sink.numbered {
        return Err(io::Error::other(format!(
            "index {} spilled into overflow pages while built apart",
            index.name
        ))
        .into());
    }
    Ok(Packed {
        chunk: sink.out,
        leaves,
    })
}

/// This thread's side: every index in schema order, its leaves appended from a worker's chunk
/// or written here, then its interior pages.
fn assemble<W: PageOutput>(
    sink: &mut StreamSink<W>,
    schema: &Schema,
    rows: &[Rows],
    apart: &[Vec<bool>],
    mut merged_here: Vec<Vec<Option<Vec<std::fs::File>>>>,
    shared: &Shared<W::Chunk>,
) -> Result<Vec<Vec<u32>>, BuildError> {
    let mut roots = Vec::with_capacity(schema.tables.len());
    for (t, spec) in schema.tables.iter().enumerate() {
        let mut table_roots = Vec::with_capacity(spec.indexes.len());
        for (i, index) in spec.indexes.iter().enumerate() {
            let root = if apart[t][i] {
                let packed = shared.wait(|state| state.packed[t][i].take())?;
                let first = sink.next;
                sink.append(packed.chunk, packed.leaves.len())?;
                packed.leaves.write_interior(sink, first)?
            } else if let Some(runs) = merged_here[t][i].take() {
                spill::write_merged_leaves(sink, spec, index, runs)?.write_interior(sink, 0)?
            } else {
                let columns = shared.take_columns(t, index, &rows[t].indexed)?;
                let leaves = write_leaves(sink, spec, index, &columns, &rows[t])?;
                drop(columns);
                leaves.write_interior(sink, 0)?
            };
            table_roots.push(root);
        }
        roots.push(table_roots);
    }
    Ok(roots)
}

/// Whether no record of `index` can spill into overflow pages, bounded by the longest value
/// of each column: the header's size, each column's serial type and bytes, the rowid's.
fn never_spills(index: &IndexSpec, indexed: &[usize], max_lens: &[usize]) -> bool {
    let columns: usize = index
        .columns
        .iter()
        .map(|&c| {
            let longest = max_lens[position(indexed, c)];
            varint_len(2 * longest as u64 + 13) + longest
        })
        .sum();
    9 + columns + 1 + 8 <= INDEX_MAX_LOCAL
}

/// Where table column `column` is among a table's indexed columns.
pub(super) fn position(indexed: &[usize], column: usize) -> usize {
    indexed.iter().position(|&k| k == column).unwrap_or_default()
}

/// Sorts one index's entries and writes its leaves to `sink`. `columns` are the index's
/// sorted columns in key order, with their positions among the table's indexed columns.
fn write_leaves(
    sink: &mut dyn PageSink,
    spec: &TableSpec,
    index: &IndexSpec,
    columns: &[(usize, Arc<Sorted>)],
    rows: &Rows,
) -> Result<Leaves, BuildError> {
    let width = rows.indexed.len();
    let count = u32::try_from(rows.rows)
        .map_err(|_| BuildError::Unsupported(format!("more than 2^32 rows in {}", spec.name)))?
        as usize;
    // Each row's rank in each index column, in row order.
    let ranks: Vec<Vec<u32>> = columns
        .iter()
        .map(|(p, sorted)| {
            (0..count)
                .map(|row| sorted.0[rows.row_keys[row * width + p] as usize])
                .collect()
        })
        .collect();
    let distinct: Vec<usize> = columns.iter().map(|(_, s)| s.1.len()).collect();
    let order = keys::rows_in_key_order(&ranks, &distinct, count);
    // Each column's ranks in key order, gathered in one tight loop per column: the loop below
    // then reads them front to back instead of missing the cache on every row.
    let ordered: Vec<Vec<u32>> = ranks
        .iter()
        .map(|column| order.iter().map(|&row| column[row as usize]).collect())
        .collect();
    drop(ranks);
    let mut tree = IndexTree::default();
    let mut values: Vec<Value<'_>> = Vec::with_capacity(columns.len() + 1);
    for (k, &row) in order.iter().enumerate() {
        values.clear();
        values.extend(columns.iter().zip(&ordered).map(|((_, s), ranks)| s.1.value(ranks[k])));
        let same_key = k > 0 && ordered.iter().all(|column| column[k - 1] == column[k]);
        if index.unique && same_key && !values.contains(&Value::Null) {
            let key = values.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            return Err(BuildError::Duplicate {
                table: spec.name.clone(),
                index: index.name.clone(),
                key,
            });
        }
        values.push(Value::Int(i64::from(row) + 1));
        tree.insert(sink, &values)?;
    }
    Ok(tree.finish_leaves(sink)?)
}
