//! Index keys spilled to disk once they pass a memory budget, and merged back while the index
//! leaves are written.
//!
//! Why: index keys are the one part of a sync that waits for the end (an index is written in
//! key order, known only once every row is in), so without a bound they grow with the org. With
//! a budget, a table whose keys pass it is sorted there and then, each of its indexes into a
//! sorted run in a file of its own, and its keys start again from empty; at the end each index
//! of that table merges its runs (a k-way merge, one small buffer a run) straight into its
//! leaves. Table pages still stream as before; only the index build changes.
//!
//! A run's records are keys in an order-preserving encoding: byte-wise comparison of two
//! encoded keys is SQLite's order of the index records they stand for (see [`encode_key`]), the
//! rowid last, so a merge never decodes a value to compare and rows with equal keys stay in
//! rowid order. Each record is stored front-coded against the one before it in its run
//! (`shared` bytes kept, then the rest), since sorted keys share long prefixes (a group's id in
//! each of its members' grant ids). The leaves written from a merge are the very bytes the
//! in-memory path writes: the same records in the same order go into the same [`IndexTree`].
//!
//! Run files are anonymous (`O_TMPFILE` where the system has it) in the caller's private work
//! folder: nothing is left behind whatever stops the process, and nobody else can open them.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::btree::{IndexTree, Leaves, PageSink};
use super::keys::{self, KeyColumn, SortedColumn};
use super::record::Value;
use super::{BuildError, IndexSpec, TableSpec};

/// Bytes of each run's read buffer during a merge, and of the write buffer while a run is made.
const RUN_BUFFER: usize = 64 << 10;

/// Runs of one index at most before they are merged into one (which keeps the open files and
/// the merge's buffers bounded however big the org).
pub const MAX_RUNS: usize = 16;

/// Where spilled keys go and when: a private folder, and the bytes index keys may take in
/// memory (over all tables) before the biggest table's are spilled.
#[derive(Debug, Clone)]
pub struct SpillConfig {
    pub dir: PathBuf,
    pub budget: usize,
}

/// Class tags of the encoding, in SQLite's order between storage classes.
const TAG_NULL: u8 = 0;
const TAG_INT: u8 = 1;
const TAG_TEXT: u8 = 2;
const TAG_BLOB: u8 = 3;

/// Appends the order-preserving encoding of an index record: each value as its class tag, then
/// for an integer its 8 bytes big-endian with the sign bit flipped (so that bytes compare as
/// numbers do), for text and blobs their bytes with each 0x00 written 0x00 0xFF and ended by
/// 0x00 0x00 (so that a value that is a prefix of another sorts first, and no value's end can
/// be mistaken for another's bytes); then the rowid, 8 bytes big-endian.
pub fn encode_key(values: &[Value<'_>], rowid: u64, out: &mut Vec<u8>) {
    for value in values {
        match value {
            Value::Null => out.push(TAG_NULL),
            Value::Int(i) => {
                out.push(TAG_INT);
                out.extend_from_slice(&((*i as u64) ^ (1 << 63)).to_be_bytes());
            }
            Value::Text(s) => push_escaped(out, TAG_TEXT, s.as_bytes()),
            Value::TextBytes(b) => push_escaped(out, TAG_TEXT, b),
            Value::Blob(b) => push_escaped(out, TAG_BLOB, b),
        }
    }
    out.extend_from_slice(&rowid.to_be_bytes());
}

fn push_escaped(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    out.push(tag);
    let mut rest = bytes;
    while let Some(zero) = rest.iter().position(|&b| b == 0) {
        out.extend_from_slice(&rest[..=zero]);
        out.push(0xFF);
        rest = &rest[zero + 1..];
    }
    out.extend_from_slice(rest);
    out.extend_from_slice(&[0, 0]);
}

/// One value of a decoded key: its class and, for text and blobs, where its bytes are in the
/// decoder's scratch.
#[derive(Debug, Clone, Copy)]
enum Span {
    Null,
    Int(i64),
    Text(usize, usize),
    Blob(usize, usize),
}

/// Turns encoded keys back into values, reusing its buffers.
#[derive(Debug, Default)]
struct Decoder {
    scratch: Vec<u8>,
    spans: Vec<Span>,
}

impl Decoder {
    /// Decodes the `columns` values of `key` (the rowid is the last 8 bytes; see
    /// [`encode_key`]) and returns them with the rowid.
    fn decode(&mut self, key: &[u8], columns: usize) -> io::Result<(Vec<Value<'_>>, u64)> {
        let corrupt = || io::Error::other("a spilled index key does not decode");
        self.scratch.clear();
        self.spans.clear();
        let mut at = 0;
        for _ in 0..columns {
            let tag = *key.get(at).ok_or_else(corrupt)?;
            at += 1;
            let span = match tag {
                TAG_NULL => Span::Null,
                TAG_INT => {
                    let bytes: [u8; 8] = key
                        .get(at..at + 8)
                        .ok_or_else(corrupt)?
                        .try_into()
                        .map_err(|_| corrupt())?;
                    at += 8;
                    Span::Int((u64::from_be_bytes(bytes) ^ (1 << 63)) as i64)
                }
                TAG_TEXT | TAG_BLOB => {
                    let start = self.scratch.len();
                    loop {
                        let rest = key.get(at..).ok_or_else(corrupt)?;
                        let zero = rest.iter().position(|&b| b == 0).ok_or_else(corrupt)?;
                        self.scratch.extend_from_slice(&rest[..zero]);
                        match rest.get(zero + 1) {
                            Some(0) => {
                                at += zero + 2;
                                break;
                            }
                            Some(0xFF) => {
                                self.scratch.push(0);
                                at += zero + 2;
                            }
                            _ => return Err(corrupt()),
                        }
                    }
                    if tag == TAG_TEXT {
                        Span::Text(start, self.scratch.len())
                    } else {
                        Span::Blob(start, self.scratch.len())
                    }
                }
                _ => return Err(corrupt()),
            };
            self.spans.push(span);
        }
        let rowid: [u8; 8] = key.get(at..).and_then(|b| b.try_into().ok()).ok_or_else(corrupt)?;
        let scratch = &self.scratch;
        let values = self
            .spans
            .iter()
            .map(|span| match *span {
                Span::Null => Value::Null,
                Span::Int(i) => Value::Int(i),
                Span::Text(a, b) => Value::TextBytes(&scratch[a..b]),
                Span::Blob(a, b) => Value::Blob(&scratch[a..b]),
            })
            .collect();
        Ok((values, u64::from_be_bytes(rowid)))
    }
}

/// Appends `v` as LEB128 (7 bits a byte, least significant first).
fn put_leb(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Writes one sorted run: each key front-coded against the one before.
struct RunWriter {
    out: BufWriter<File>,
    last: Vec<u8>,
    head: Vec<u8>,
}

impl RunWriter {
    fn new(dir: &Path) -> io::Result<Self> {
        Ok(Self {
            out: BufWriter::with_capacity(RUN_BUFFER, tempfile::tempfile_in(dir)?),
            last: Vec::new(),
            head: Vec::with_capacity(20),
        })
    }

    /// Appends `key`, which must not sort before the key written last.
    fn push(&mut self, key: &[u8]) -> io::Result<()> {
        let shared = common_prefix(&self.last, key);
        self.head.clear();
        put_leb(&mut self.head, shared as u64);
        put_leb(&mut self.head, (key.len() - shared) as u64);
        self.out.write_all(&self.head)?;
        self.out.write_all(&key[shared..])?;
        self.last.truncate(shared);
        self.last.extend_from_slice(&key[shared..]);
        Ok(())
    }

    /// The finished run, rewound for reading.
    fn finish(self) -> io::Result<File> {
        let mut file = self.out.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.seek(SeekFrom::Start(0))?;
        Ok(file)
    }
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Reads a run back, key by key.
struct RunReader {
    file: File,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    /// The key read last (the next one is front-coded against it).
    key: Vec<u8>,
}

impl RunReader {
    fn new(file: File) -> Self {
        Self {
            file,
            buf: vec![0; RUN_BUFFER],
            pos: 0,
            len: 0,
            key: Vec::new(),
        }
    }

    /// Refills the buffer; false at the end of the file.
    fn fill(&mut self) -> io::Result<bool> {
        if self.pos < self.len {
            return Ok(true);
        }
        self.len = self.file.read(&mut self.buf)?;
        self.pos = 0;
        Ok(self.len > 0)
    }

    fn byte(&mut self) -> io::Result<Option<u8>> {
        if !self.fill()? {
            return Ok(None);
        }
        self.pos += 1;
        Ok(Some(self.buf[self.pos - 1]))
    }

    fn leb(&mut self, first: u8) -> io::Result<u64> {
        let mut v = u64::from(first & 0x7f);
        let mut b = first;
        let mut shift = 7;
        while b & 0x80 != 0 {
            b = self.byte()?.ok_or_else(cut_short)?;
            if shift > 63 {
                return Err(cut_short());
            }
            v |= u64::from(b & 0x7f) << shift;
            shift += 7;
        }
        Ok(v)
    }

    /// Reads the next key into `self.key`; false at the end of the run.
    fn advance(&mut self) -> io::Result<bool> {
        let Some(first) = self.byte()? else {
            return Ok(false);
        };
        let shared = self.leb(first)? as usize;
        let b = self.byte()?.ok_or_else(cut_short)?;
        let mut rest = self.leb(b)? as usize;
        if shared > self.key.len() {
            return Err(cut_short());
        }
        self.key.truncate(shared);
        while rest > 0 {
            if !self.fill()? {
                return Err(cut_short());
            }
            let n = rest.min(self.len - self.pos);
            self.key.extend_from_slice(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
            rest -= n;
        }
        Ok(true)
    }
}

fn cut_short() -> io::Error {
    io::Error::other("a spilled index run ends in the middle of a key")
}

/// The keys of several runs in one sorted stream.
struct Merge {
    readers: Vec<RunReader>,
    /// Each reader's current key (a copy), smallest first.
    heap: BinaryHeap<Reverse<(Vec<u8>, usize)>>,
}

impl Merge {
    fn new(runs: Vec<File>) -> io::Result<Self> {
        let mut readers: Vec<RunReader> = runs.into_iter().map(RunReader::new).collect();
        let mut heap = BinaryHeap::with_capacity(readers.len());
        for (i, reader) in readers.iter_mut().enumerate() {
            if reader.advance()? {
                heap.push(Reverse((reader.key.clone(), i)));
            }
        }
        Ok(Self { readers, heap })
    }

    /// Puts the next key into `out` (whose old buffer is reused); false when every run is done.
    fn next_into(&mut self, out: &mut Vec<u8>) -> io::Result<bool> {
        let Some(Reverse((key, i))) = self.heap.pop() else {
            return Ok(false);
        };
        let mut spare = std::mem::replace(out, key);
        let reader = &mut self.readers[i];
        if reader.advance()? {
            spare.clear();
            spare.extend_from_slice(&reader.key);
            self.heap.push(Reverse((spare, i)));
        }
        Ok(true)
    }
}

/// Merges `runs` into one run.
fn merge_runs(dir: &Path, runs: Vec<File>) -> io::Result<File> {
    let mut merge = Merge::new(runs)?;
    let mut out = RunWriter::new(dir)?;
    let mut key = Vec::new();
    while merge.next_into(&mut key)? {
        out.push(&key)?;
    }
    out.finish()
}

/// The sorted runs of one table's indexes, one list a index, and what the spilled keys were
/// like.
#[derive(Debug, Default)]
pub struct TableRuns {
    /// Per index, its runs, oldest first.
    pub runs: Vec<Vec<File>>,
    /// Rows spilled so far: the rowid of a spilled batch's row `r` is `spilled + r + 1`.
    pub spilled: u64,
    /// Bytes of the longest value of each key column, over everything spilled.
    pub max_lens: Vec<usize>,
}

impl TableRuns {
    pub fn is_empty(&self) -> bool {
        self.runs.iter().all(Vec::is_empty)
    }
}

/// Sorts one batch of a table's keys (`rows` rows from rowid `runs.spilled + 1`: `columns`
/// with `row_keys`, as in [`super::indexes::TableKeys`]) into a new run for each index, in
/// files in `dir`.
pub fn spill_batch(
    dir: &Path,
    spec: &TableSpec,
    indexed: &[usize],
    columns: Vec<KeyColumn>,
    row_keys: &[u32],
    rows: usize,
    runs: &mut TableRuns,
) -> Result<(), BuildError> {
    if runs.runs.is_empty() {
        runs.runs = spec.indexes.iter().map(|_| Vec::new()).collect();
        runs.max_lens = vec![0; indexed.len()];
    }
    for (max, column) in runs.max_lens.iter_mut().zip(&columns) {
        *max = (*max).max(column.max_len());
    }
    let sorted: Vec<(Vec<u32>, SortedColumn)> = columns.into_iter().map(KeyColumn::sort).collect();
    let width = indexed.len();
    let mut key = Vec::new();
    for (i, index) in spec.indexes.iter().enumerate() {
        let positions: Vec<usize> = index
            .columns
            .iter()
            .map(|&c| super::indexes::position(indexed, c))
            .collect();
        let ranks: Vec<Vec<u32>> = positions
            .iter()
            .map(|&p| {
                (0..rows)
                    .map(|row| sorted[p].0[row_keys[row * width + p] as usize])
                    .collect()
            })
            .collect();
        let distinct: Vec<usize> = positions.iter().map(|&p| sorted[p].1.len()).collect();
        let order = keys::rows_in_key_order(&ranks, &distinct, rows);
        let mut out = RunWriter::new(dir)?;
        let mut values = Vec::with_capacity(positions.len());
        for &row in &order {
            values.clear();
            values.extend(
                positions
                    .iter()
                    .zip(&ranks)
                    .map(|(&p, ranks)| sorted[p].1.value(ranks[row as usize])),
            );
            key.clear();
            encode_key(&values, runs.spilled + u64::from(row) + 1, &mut key);
            out.push(&key)?;
        }
        let index_runs = &mut runs.runs[i];
        index_runs.push(out.finish()?);
        if index_runs.len() >= MAX_RUNS {
            let merged = merge_runs(dir, std::mem::take(index_runs))?;
            index_runs.push(merged);
        }
    }
    runs.spilled += rows as u64;
    Ok(())
}

/// Merges `runs` of `index` and writes its leaves to `sink`, refusing a repeated unique key as
/// the in-memory path does.
pub fn write_merged_leaves(
    sink: &mut dyn PageSink,
    spec: &TableSpec,
    index: &IndexSpec,
    runs: Vec<File>,
) -> Result<Leaves, BuildError> {
    let columns = index.columns.len();
    let mut merge = Merge::new(runs)?;
    let mut decoder = Decoder::default();
    let mut key = Vec::new();
    let mut previous: Vec<u8> = Vec::new();
    let mut first = true;
    let mut tree = IndexTree::default();
    while merge.next_into(&mut key)? {
        // The key without its rowid: equal bytes are equal values (the encoding is one-to-one).
        let values_part = &key[..key.len().saturating_sub(8)];
        let same_key = !first && previous == values_part;
        first = false;
        let (mut values, rowid) = decoder.decode(&key, columns)?;
        if index.unique && same_key && !values.contains(&Value::Null) {
            let key = values.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            return Err(BuildError::Duplicate {
                table: spec.name.clone(),
                index: index.name.clone(),
                key,
            });
        }
        let rowid = i64::try_from(rowid).map_err(|_| io::Error::other("a spilled rowid out of range"))?;
        values.push(Value::Int(rowid));
        tree.insert(sink, &values)?;
        previous.clear();
        previous.extend_from_slice(values_part);
    }
    Ok(tree.finish_leaves(sink)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::cmp::Ordering;

    fn value() -> impl Strategy<Value = (u8, Vec<u8>, i64)> {
        let piece = prop_oneof![
            Just(&b"group:"[..]),
            Just(&b"0123"[..]),
            Just(&b"\0"[..]),
            Just(&b"\xff"[..]),
            Just(&b"z"[..])
        ];
        (0u8..4, proptest::collection::vec(piece, 0..5), any::<i64>())
            .prop_map(|(class, pieces, int)| (class, pieces.concat(), int))
    }

    fn as_value((class, bytes, int): &(u8, Vec<u8>, i64)) -> Value<'_> {
        match class {
            0 => Value::Null,
            1 => Value::Int(*int),
            2 => Value::TextBytes(bytes),
            _ => Value::Blob(bytes),
        }
    }

    /// SQLite's order of two values, spelled out.
    fn sqlite_order(a: &Value<'_>, b: &Value<'_>) -> Ordering {
        fn parts<'a>(v: &Value<'a>) -> (u8, i64, &'a [u8]) {
            match v {
                Value::Null => (0, 0, &[]),
                Value::Int(i) => (1, *i, &[]),
                Value::Text(s) => (2, 0, s.as_bytes()),
                Value::TextBytes(b) => (2, 0, b),
                Value::Blob(b) => (3, 0, b),
            }
        }
        parts(a).cmp(&parts(b))
    }

    proptest! {
        /// Bytes of two encoded records compare as SQLite compares the records, and decode to
        /// what was encoded.
        #[test]
        fn encoded_keys_sort_as_sqlite_records_and_decode_back(
            a in proptest::collection::vec(value(), 2),
            b in proptest::collection::vec(value(), 2),
            rowids in (0u64..4, 0u64..4),
        ) {
            let (va, vb): (Vec<Value<'_>>, Vec<Value<'_>>) = (a.iter().map(as_value).collect(), b.iter().map(as_value).collect());
            let (mut ka, mut kb) = (Vec::new(), Vec::new());
            encode_key(&va, rowids.0, &mut ka);
            encode_key(&vb, rowids.1, &mut kb);
            let expected = sqlite_order(&va[0], &vb[0])
                .then_with(|| sqlite_order(&va[1], &vb[1]))
                .then(rowids.0.cmp(&rowids.1));
            prop_assert_eq!(ka.cmp(&kb), expected);
            let mut decoder = Decoder::default();
            let (back, rowid) = decoder.decode(&ka, 2).expect("decodes");
            prop_assert_eq!(rowid, rowids.0);
            for (x, y) in back.iter().zip(&va) {
                prop_assert_eq!(sqlite_order(x, y), Ordering::Equal);
            }
        }

        /// Runs written front-coded and merged give back every key, in order.
        #[test]
        fn runs_merge_into_one_sorted_stream(mut runs in proptest::collection::vec(proptest::collection::vec(proptest::collection::vec(0u8..3, 0..12), 0..40), 0..6)) {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut files = Vec::new();
            let mut all = Vec::new();
            for (r, run) in runs.iter_mut().enumerate() {
                // Distinct keys across runs, as rowids make them.
                for key in run.iter_mut() {
                    key.push(r as u8);
                }
                run.sort();
                let mut w = RunWriter::new(dir.path()).expect("run");
                for key in run.iter() {
                    w.push(key).expect("push");
                    all.push(key.clone());
                }
                files.push(w.finish().expect("finish"));
            }
            all.sort();
            let mut merged = Vec::new();
            let mut merge = Merge::new(files).expect("merge");
            let mut key = Vec::new();
            while merge.next_into(&mut key).expect("next") {
                merged.push(key.clone());
            }
            prop_assert_eq!(merged, all);
        }
    }

    #[test]
    fn a_cut_run_is_an_error_not_a_shorter_index() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut w = RunWriter::new(dir.path()).expect("run");
        w.push(b"abcdef").expect("push");
        w.push(b"abcxyz").expect("push");
        let mut file = w.finish().expect("finish");
        let len = file.metadata().expect("len").len();
        file.set_len(len - 1).expect("cut");
        file.seek(SeekFrom::Start(0)).expect("rewind");
        let mut merge = Merge::new(vec![file]).expect("first key");
        let mut key = Vec::new();
        assert!(merge.next_into(&mut key).is_err());
    }
}
