//! Index keys, kept small while rows stream in and sorted once at the end.
//!
//! Each indexed column of a table is a [`KeyColumn`]: its values in one byte arena, a row
//! holding a `u32` id per indexed column. A value equal to the one before it shares its id (a
//! group's id repeats across its members' grants, the sync id across every row), so runs cost
//! nothing; other repeats are stored again, which is cheaper than hashing every value. At the
//! end each column is sorted once, giving every id its rank in SQLite's order (equal values
//! share a rank), and an index's rows sort by their ranks (a counting sort per column), never
//! comparing strings again. For a grant that is 7 ids (28 bytes) for all four of its indexes
//! instead of about 330 bytes of key text.

use std::cmp::Ordering;

use super::record::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    // SQLite's order between storage classes: NULL, numbers, TEXT, BLOB.
    Null,
    Int,
    Text,
    Blob,
}

impl Class {
    fn from_bits(bits: u32) -> Self {
        match bits {
            0 => Self::Null,
            1 => Self::Int,
            2 => Self::Text,
            _ => Self::Blob,
        }
    }
}

/// Where a value sits in the arena: its start, and its length with the class in the top two
/// bits (8 bytes an entry).
#[derive(Debug, Clone, Copy)]
struct Entry {
    start: u32,
    len_class: u32,
}

const LEN_BITS: u32 = 30;

impl Entry {
    fn class(self) -> Class {
        Class::from_bits(self.len_class >> LEN_BITS)
    }

    fn range(self) -> std::ops::Range<usize> {
        let start = self.start as usize;
        start..start + (self.len_class & ((1 << LEN_BITS) - 1)) as usize
    }
}

/// The values one indexed column took, row by row.
#[derive(Debug, Default)]
pub struct KeyColumn {
    bytes: Vec<u8>,
    entries: Vec<Entry>,
    /// Bytes of the longest value.
    max_len: usize,
}

fn parts<'a>(v: &Value<'a>) -> (Class, std::borrow::Cow<'a, [u8]>) {
    match v {
        Value::Null => (Class::Null, std::borrow::Cow::Borrowed(&[])),
        Value::Int(i) => (Class::Int, std::borrow::Cow::Owned(i.to_be_bytes().to_vec())),
        Value::Text(s) => (Class::Text, std::borrow::Cow::Borrowed(s.as_bytes())),
        Value::TextBytes(s) => (Class::Text, std::borrow::Cow::Borrowed(s)),
        Value::Blob(b) => (Class::Blob, std::borrow::Cow::Borrowed(b)),
    }
}

impl KeyColumn {
    fn bytes_of(&self, e: Entry) -> &[u8] {
        &self.bytes[e.range()]
    }

    /// The id of `v`: the last id again when `v` equals the last value, a new one otherwise.
    /// `None` when the column's values outgrow 4 GiB (or one value 1 GiB).
    pub fn intern(&mut self, v: &Value<'_>) -> Option<u32> {
        let (class, bytes) = parts(v);
        if let Some(&last) = self.entries.last() {
            if last.class() == class && self.bytes_of(last) == &*bytes {
                return Some(self.entries.len() as u32 - 1);
            }
        }
        let start = u32::try_from(self.bytes.len()).ok()?;
        let len = u32::try_from(bytes.len()).ok().filter(|&l| l < 1 << LEN_BITS)?;
        start.checked_add(len)?;
        let id = u32::try_from(self.entries.len()).ok()?;
        self.entries.push(Entry {
            start,
            len_class: len | ((class as u32) << LEN_BITS),
        });
        self.bytes.extend_from_slice(&bytes);
        self.max_len = self.max_len.max(bytes.len());
        Some(id)
    }

    /// Bytes this column holds on the heap (what it reserved).
    pub fn heap_bytes(&self) -> usize {
        self.bytes.capacity() + self.entries.capacity() * std::mem::size_of::<Entry>()
    }

    /// Bytes of the longest value so far (ints count 8).
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    fn compare(&self, a: u32, b: u32) -> Ordering {
        compare_entries(&self.bytes, self.entries[a as usize], self.entries[b as usize])
    }

    /// A number whose order agrees with [`KeyColumn::compare`] wherever two of them differ:
    /// the class in the top two bits, then for text and blobs [`window`] at 0, for ints the
    /// value (sign bit flipped, low two bits dropped).
    fn first_key(&self, id: u32) -> u64 {
        let e = self.entries[id as usize];
        let bytes = self.bytes_of(e);
        let body = match e.class() {
            Class::Int => {
                let mut b = [0u8; 8];
                b.copy_from_slice(bytes);
                (u64::from_be_bytes(b) ^ (1 << 63)) >> 2
            }
            Class::Text | Class::Blob => window(bytes, 0),
            Class::Null => 0,
        };
        ((e.class() as u64) << 62) | body
    }

    /// Sorts the column once: `ranks[id]` is the position of value `id` among the distinct
    /// values in SQLite's order (BINARY collation; equal values share a rank), and the returned
    /// column reads those distinct values by rank, from an arena of their own in that order.
    ///
    /// Text and blobs sort most significant bytes first, [`WINDOW`] bytes a round: entries
    /// equal so far are sorted again on their next bytes, after skipping the bytes they all
    /// share (ids share long prefixes, such as a group's id in each of its members' grant ids).
    /// Each round reads each value once, in place, instead of comparing whole values.
    pub fn sort(self) -> (Vec<u32>, SortedColumn) {
        let n = self.entries.len();
        let mut order: Vec<(u64, u32)> = (0..n as u32).map(|id| (self.first_key(id), id)).collect();
        // Every value of the column: a stable radix sort by key, so equal keys stay in id
        // order, as sorting the pairs would leave them. Later rounds sort short runs.
        radsort::sort_by_key(&mut order, |&(key, _)| key);
        // same[i]: entry i of `order` holds the same value as entry i - 1.
        let mut same = vec![false; n];
        let mut pending = Vec::new();
        self.settle_runs(&mut order, 0, WINDOW, &mut same, &mut pending, true);
        while let Some((start, end, depth)) = pending.pop() {
            let run = &mut order[start..end];
            let depth = depth + self.shared_prefix(run, depth);
            if run
                .iter()
                .all(|&(_, id)| self.entries[id as usize].range().len() == depth)
            {
                // Every value ends where they stop differing: they are one value (a user's id
                // in each of their grants, say), and need no further round.
                same[start + 1..end].fill(true);
                continue;
            }
            for item in run.iter_mut() {
                item.0 = window(self.bytes_of(self.entries[item.1 as usize]), depth);
            }
            run.sort_unstable();
            self.settle_runs(run, start, depth + WINDOW, &mut same, &mut pending, false);
        }
        // The distinct values are copied out in order, so that the indexes read them front to
        // back (read in place, in key order, nearly every value missed the cache).
        let mut ranks = vec![0u32; n];
        let distinct = same.iter().filter(|&&s| !s).count();
        let mut entries = Vec::with_capacity(distinct);
        let mut bytes = Vec::with_capacity(
            order
                .iter()
                .zip(&same)
                .filter(|(_, &s)| !s)
                .map(|(&(_, id), _)| self.entries[id as usize].range().len())
                .sum(),
        );
        for (i, &(_, id)) in order.iter().enumerate() {
            if !same[i] {
                let e = self.entries[id as usize];
                entries.push(Entry {
                    start: bytes.len() as u32,
                    len_class: e.len_class,
                });
                bytes.extend_from_slice(&self.bytes[e.range()]);
            }
            ranks[id as usize] = entries.len() as u32 - 1;
        }
        drop(order);
        let sorted = SortedColumn { bytes, entries };
        (ranks, sorted)
    }

    /// Looks at the runs of equal keys in `sorted` (entries `offset..` of the whole order):
    /// a run of text or blobs whose window was full continues at `next_depth` (into
    /// `pending`); any other run is of equal values (a short window holds a value's last
    /// bytes), but for ints, whose keys drop bits, which are compared whole.
    fn settle_runs(
        &self,
        sorted: &mut [(u64, u32)],
        offset: usize,
        next_depth: usize,
        same: &mut [bool],
        pending: &mut Vec<(usize, usize, usize)>,
        first_round: bool,
    ) {
        let mut start = 0;
        while start < sorted.len() {
            let key = sorted[start].0;
            let mut end = start + 1;
            while end < sorted.len() && sorted[end].0 == key {
                end += 1;
            }
            if end - start > 1 {
                let e = self.entries[sorted[start].1 as usize];
                let class = if first_round { e.class() } else { Class::Text };
                match class {
                    Class::Text | Class::Blob if key & WINDOW_LEN_MASK == WINDOW as u64 => {
                        pending.push((offset + start, offset + end, next_depth));
                    }
                    Class::Int => {
                        let run = &mut sorted[start..end];
                        run.sort_unstable_by(|x, y| self.compare(x.1, y.1));
                        for i in 1..run.len() {
                            same[offset + start + i] = self.compare(run[i - 1].1, run[i].1) == Ordering::Equal;
                        }
                    }
                    _ => same[offset + start + 1..offset + end].fill(true),
                }
            }
            start = end;
        }
    }

    /// Bytes past `depth` that every value of `run` shares with its first.
    fn shared_prefix(&self, run: &[(u64, u32)], depth: usize) -> usize {
        let first = self.bytes_of(self.entries[run[0].1 as usize]);
        let first = first.get(depth..).unwrap_or_default();
        let mut shared = first.len();
        for &(_, id) in &run[1..] {
            let other = self.bytes_of(self.entries[id as usize]);
            shared = shared.min(common_prefix(first, other.get(depth..).unwrap_or_default()));
            if shared == 0 {
                break;
            }
        }
        shared
    }
}

/// Bytes of a text or blob value each sorting round looks at.
const WINDOW: usize = 7;
/// The low bits of a window key: how many bytes of the window the value had.
const WINDOW_LEN_MASK: u64 = 0b111;

/// Bytes `depth..depth + WINDOW` of `bytes` (zero-padded) above their count: ordered as the
/// values are wherever two differ in those bytes, or one ends among them (the shorter first).
/// Fits 62 bits, below a class.
fn window(bytes: &[u8], depth: usize) -> u64 {
    let rest = bytes.get(depth..).unwrap_or_default();
    let n = rest.len().min(WINDOW);
    let mut b = [0u8; 8];
    b[1..1 + n].copy_from_slice(&rest[..n]);
    (u64::from_be_bytes(b) << 3) | n as u64
}

/// Length of the common prefix of `a` and `b`.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + 8 <= n {
        let x = u64::from_le_bytes(a[i..i + 8].try_into().unwrap_or_default());
        let y = u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or_default());
        if x != y {
            return i + ((x ^ y).trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + a[i..n].iter().zip(&b[i..n]).take_while(|(x, y)| x == y).count()
}

/// The distinct values of a [`KeyColumn`], in order: rank `r` is the `r`-th smallest.
#[derive(Debug)]
pub struct SortedColumn {
    bytes: Vec<u8>,
    entries: Vec<Entry>,
}

impl SortedColumn {
    /// Distinct values.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The value of rank `rank`.
    pub fn value(&self, rank: u32) -> Value<'_> {
        entry_value(&self.bytes, self.entries[rank as usize])
    }
}

fn entry_value(arena: &[u8], e: Entry) -> Value<'_> {
    let bytes = &arena[e.range()];
    match e.class() {
        Class::Null => Value::Null,
        Class::Int => {
            let mut b = [0u8; 8];
            b.copy_from_slice(bytes);
            Value::Int(i64::from_be_bytes(b))
        }
        Class::Text => Value::TextBytes(bytes),
        Class::Blob => Value::Blob(bytes),
    }
}

fn compare_entries(arena: &[u8], a: Entry, b: Entry) -> Ordering {
    a.class()
        .cmp(&b.class())
        .then_with(|| match (entry_value(arena, a), entry_value(arena, b)) {
            // Ints are stored as big-endian two's complement: compare them as numbers.
            (Value::Int(x), Value::Int(y)) => x.cmp(&y),
            // BINARY collation: memcmp, shorter first on a common prefix.
            _ => arena[a.range()].cmp(&arena[b.range()]),
        })
}

/// The rows of one index in key order: `ranks[c][row]` is row `row`'s rank in index column
/// `c`, of `distinct[c]` ranks. A stable counting sort per column, last column first, so rows
/// with equal keys stay in rowid order (as SQLite's index records, which end with the rowid,
/// are ordered). Linear in the rows for each column with more than one value.
pub fn rows_in_key_order(ranks: &[Vec<u32>], distinct: &[usize], rows: usize) -> Vec<u32> {
    let mut order: Vec<u32> = (0..rows as u32).collect();
    let mut next = vec![0u32; rows];
    for (column, &count) in ranks.iter().zip(distinct).rev() {
        if count <= 1 {
            continue;
        }
        // starts[r]: where the rows of rank r begin in the next order.
        let mut starts = vec![0u32; count + 1];
        for &r in column {
            starts[r as usize + 1] += 1;
        }
        for r in 1..starts.len() {
            starts[r] += starts[r - 1];
        }
        for &row in &order {
            let r = column[row as usize] as usize;
            next[starts[r] as usize] = row;
            starts[r] += 1;
        }
        std::mem::swap(&mut order, &mut next);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ranks_follow_sqlite_order() {
        let mut d = KeyColumn::default();
        let values = [
            Value::Text("b"),
            Value::Int(5),
            Value::Null,
            Value::Blob(b"a"),
            Value::Text("a"),
            Value::Int(-3),
            Value::Text("ab"),
        ];
        let ids: Vec<u32> = values.iter().map(|v| d.intern(v).expect("room")).collect();
        assert_eq!(ids, (0..values.len() as u32).collect::<Vec<_>>());
        let (ranks, sorted) = d.sort();
        assert_eq!(ranks, vec![5, 2, 0, 6, 3, 1, 4]);
        let ordered: Vec<Value<'_>> = (0..sorted.len() as u32).map(|r| sorted.value(r)).collect();
        assert_eq!(
            ordered,
            vec![
                Value::Null,
                Value::Int(-3),
                Value::Int(5),
                Value::TextBytes(b"a"),
                Value::TextBytes(b"ab"),
                Value::TextBytes(b"b"),
                Value::Blob(b"a"),
            ]
        );
    }

    #[test]
    fn runs_share_an_id_and_equal_values_share_a_rank() {
        let mut d = KeyColumn::default();
        let long = "p".repeat(40);
        let ids: Vec<u32> = [long.as_str(), "b", long.as_str(), "a", "a", "b"]
            .iter()
            .map(|s| d.intern(&Value::Text(s)).expect("room"))
            .collect();
        assert_eq!(ids, vec![0, 1, 2, 3, 3, 4]);
        // Same bytes, another class: not the same value.
        assert_eq!(d.intern(&Value::Blob(b"b")), Some(5));
        let (ranks, sorted) = d.sort();
        assert_eq!(ranks, vec![2, 1, 2, 0, 1, 3]);
        assert_eq!(sorted.len(), 4);
        assert_eq!(sorted.value(2), Value::TextBytes(long.as_bytes()));
        let mut ints = KeyColumn::default();
        for i in [5, -7, i64::MIN, i64::MAX, 0] {
            ints.intern(&Value::Int(i)).expect("room");
        }
        assert_eq!(ints.sort().0, vec![3, 1, 0, 4, 2]);
    }

    /// Values built from few distinct pieces, so they share long prefixes, end inside each
    /// other, and repeat.
    fn value() -> impl Strategy<Value = (u8, Vec<u8>, i64)> {
        let piece = prop_oneof![
            Just(&b"group:"[..]),
            Just(&b"0123456789abcdef"[..]),
            Just(&b"\0"[..]),
            Just(&b"z"[..])
        ];
        (0u8..4, proptest::collection::vec(piece, 0..6), -3i64..3).prop_map(|(class, pieces, int)| {
            let mut bytes = pieces.concat();
            if class == 3 && !bytes.is_empty() {
                // Cut somewhere inside a piece as well.
                bytes.truncate(int.unsigned_abs() as usize % bytes.len() + 1);
            }
            (class, bytes, int << 61)
        })
    }

    proptest! {
        #[test]
        fn ranks_agree_with_comparing_whole_values(values in proptest::collection::vec(value(), 0..300)) {
            let values: Vec<Value<'_>> = values
                .iter()
                .map(|(class, bytes, int)| match class {
                    0 => Value::Null,
                    1 => Value::Int(*int),
                    2 => Value::Blob(bytes),
                    _ => Value::TextBytes(bytes),
                })
                .collect();
            let mut column = KeyColumn::default();
            let ids: Vec<u32> = values.iter().map(|v| column.intern(v).expect("room")).collect();
            let (ranks, sorted) = column.sort();
            let mut distinct = values.clone();
            distinct.sort_by(reference_order);
            distinct.dedup_by(|a, b| reference_order(a, b) == Ordering::Equal);
            prop_assert_eq!(sorted.len(), distinct.len());
            for (v, id) in values.iter().zip(&ids) {
                let rank = ranks[*id as usize];
                prop_assert_eq!(reference_order(&sorted.value(rank), v), Ordering::Equal);
                prop_assert_eq!(reference_order(&distinct[rank as usize], v), Ordering::Equal);
            }
        }
    }

    /// SQLite's order, spelled out: NULL, numbers, text, blobs; bytes compared as memcmp.
    fn reference_order(a: &Value<'_>, b: &Value<'_>) -> Ordering {
        fn class<'a>(v: &Value<'a>) -> (u8, i64, &'a [u8]) {
            match v {
                Value::Null => (0, 0, &[]),
                Value::Int(i) => (1, *i, &[]),
                Value::Text(s) => (2, 0, s.as_bytes()),
                Value::TextBytes(b) => (2, 0, b),
                Value::Blob(b) => (3, 0, b),
            }
        }
        class(a).cmp(&class(b))
    }

    proptest! {
        #[test]
        fn rows_sort_by_their_ranks_then_rowid(keys in proptest::collection::vec((0u32..4, 0u32..1, 0u32..50), 0..300)) {
            let ranks = vec![
                keys.iter().map(|k| k.0).collect::<Vec<_>>(),
                keys.iter().map(|k| k.1).collect(),
                keys.iter().map(|k| k.2).collect(),
            ];
            let order = rows_in_key_order(&ranks, &[4, 1, 50], keys.len());
            let mut expected: Vec<u32> = (0..keys.len() as u32).collect();
            expected.sort_by_key(|&row| (keys[row as usize], row));
            prop_assert_eq!(order, expected);
        }
    }
}
