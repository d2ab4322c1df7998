//! B-tree pages built bottom-up, written once each, in the order they fill
//! (sqlite.org/fileformat2.html, "B-tree Pages" and "Cell Payload Overflow Pages").
//!
//! Rows arrive in key order (rowid order for tables, sorted keys for indexes), so each page is
//! packed full, written, and never touched again; only the list of finished pages of the level
//! below is kept to build the interior levels at the end. Every leaf of a tree ends up at the
//! same depth, and no interior page is left without a cell.

use std::io;

use super::record::{self, put_varint, put_varint_at, varint_len, Value};

/// Page size of the files this module writes (no reserved bytes per page).
pub const PAGE_SIZE: usize = 16384;
const USABLE: usize = PAGE_SIZE;

/// Largest payload a table leaf cell keeps on its page.
const TABLE_MAX_LOCAL: usize = USABLE - 35;
/// Largest payload an index cell (leaf or interior) keeps on its page.
pub const INDEX_MAX_LOCAL: usize = (USABLE - 12) * 64 / 255 - 23;
/// What a spilling cell keeps at least.
const MIN_LOCAL: usize = (USABLE - 12) * 32 / 255 - 23;

const TABLE_LEAF: u8 = 0x0d;
const TABLE_INTERIOR: u8 = 0x05;
const INDEX_LEAF: u8 = 0x0a;
const INDEX_INTERIOR: u8 = 0x02;

/// Where finished pages go. Pages are numbered in the order they are written.
pub trait PageSink {
    /// The number the next page written will get.
    fn next_page_no(&mut self) -> u32;
    /// Writes one page of [`PAGE_SIZE`] bytes and returns its page number.
    fn write_page(&mut self, page: &[u8]) -> io::Result<u32>;
}

/// Bytes of a payload of `len` bytes kept in the cell itself; the rest goes to overflow pages.
fn local_len(len: usize, max_local: usize) -> usize {
    if len <= max_local {
        return len;
    }
    let k = MIN_LOCAL + (len - MIN_LOCAL) % (USABLE - 4);
    if k <= max_local {
        k
    } else {
        MIN_LOCAL
    }
}

/// Appends `payload`'s cell body (`[rowid varint]`, the local part, and the first overflow page
/// when it spills) after its size varint, writing any overflow pages to `sink` first.
fn put_payload(
    sink: &mut dyn PageSink,
    out: &mut Vec<u8>,
    rowid: Option<i64>,
    payload: &[u8],
    max_local: usize,
) -> io::Result<()> {
    put_varint(out, payload.len() as u64);
    if let Some(rowid) = rowid {
        put_varint(out, rowid as u64);
    }
    let local = local_len(payload.len(), max_local);
    out.extend_from_slice(&payload[..local]);
    if local < payload.len() {
        let first = write_overflow(sink, &payload[local..])?;
        out.extend_from_slice(&first.to_be_bytes());
    }
    Ok(())
}

/// Writes `rest` as a chain of overflow pages (each: the next page's number, or 0, then up to
/// `USABLE - 4` bytes) and returns the first page's number.
fn write_overflow(sink: &mut dyn PageSink, rest: &[u8]) -> io::Result<u32> {
    let mut page = vec![0u8; PAGE_SIZE];
    let first = sink.next_page_no();
    let count = rest.len().div_ceil(USABLE - 4);
    for (i, chunk) in rest.chunks(USABLE - 4).enumerate() {
        page.fill(0);
        let next = if i + 1 == count { 0 } else { first + i as u32 + 1 };
        page[..4].copy_from_slice(&next.to_be_bytes());
        page[4..4 + chunk.len()].copy_from_slice(chunk);
        if sink.write_page(&page)? != first + i as u32 {
            return Err(io::Error::other("the page sink did not number pages consecutively"));
        }
    }
    Ok(first)
}

/// The cells of an interior page, laid out by [`layout_page`].
#[derive(Debug, Default)]
struct Cells {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Cells {
    fn push(&mut self, cell: &[u8]) {
        self.bytes.extend_from_slice(cell);
        self.ends.push(self.bytes.len());
    }

    fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let cell = &self.bytes[start..end];
            start = end;
            cell
        })
    }
}

/// A leaf page filled in place, as SQLite lays one out: the header, the cell pointers after it,
/// cell contents packed downward from the end of the page in pointer order. Cells are written
/// straight into the page (no copy through a cell buffer).
#[derive(Debug)]
struct LeafPage {
    page: Vec<u8>,
    count: usize,
    /// Start of the cell content area.
    content: usize,
}

impl LeafPage {
    const HEADER: usize = 8;

    fn new() -> Self {
        Self {
            page: vec![0; PAGE_SIZE],
            count: 0,
            content: PAGE_SIZE,
        }
    }

    fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Whether a cell of `len` bytes (and its pointer) still fits.
    fn fits(&self, len: usize) -> bool {
        Self::HEADER + 2 * (self.count + 1) + len <= self.content
    }

    /// Takes room for a cell of `len` bytes and hands it to `fill`. The caller checked [`fits`].
    fn push_with(&mut self, len: usize, fill: impl FnOnce(&mut [u8])) {
        self.content -= len;
        let pointer = Self::HEADER + 2 * self.count;
        self.page[pointer..pointer + 2].copy_from_slice(&(self.content as u16).to_be_bytes());
        self.count += 1;
        fill(&mut self.page[self.content..self.content + len]);
    }

    fn push(&mut self, cell: &[u8]) {
        self.push_with(cell.len(), |room| room.copy_from_slice(cell));
    }

    /// Removes the last cell and returns its bytes.
    fn pop(&mut self) -> Option<Vec<u8>> {
        if self.count == 0 {
            return None;
        }
        let end = if self.count == 1 {
            PAGE_SIZE
        } else {
            let p = Self::HEADER + 2 * (self.count - 2);
            usize::from(u16::from_be_bytes([self.page[p], self.page[p + 1]]))
        };
        let cell = self.page[self.content..end].to_vec();
        self.count -= 1;
        self.content = end;
        Some(cell)
    }

    /// Writes the header, zeroes the gap between pointers and cells, and sends the page.
    fn write(&mut self, sink: &mut dyn PageSink, kind: u8) -> io::Result<u32> {
        let pointers_end = Self::HEADER + 2 * self.count;
        self.page[pointers_end..self.content].fill(0);
        self.page[0] = kind;
        self.page[1..3].copy_from_slice(&0u16.to_be_bytes());
        self.page[3..5].copy_from_slice(&(self.count as u16).to_be_bytes());
        self.page[5..7].copy_from_slice(&((self.content % 65536) as u16).to_be_bytes());
        self.page[7] = 0;
        let no = sink.write_page(&self.page)?;
        self.count = 0;
        self.content = PAGE_SIZE;
        Ok(no)
    }
}

/// Lays out one page: header at `offset` (100 on page 1, 0 elsewhere), the cell pointer array
/// after it, cell contents packed at the end in pointer order.
pub fn layout_page<'a>(
    page: &mut [u8],
    offset: usize,
    kind: u8,
    cells: impl Iterator<Item = &'a [u8]>,
    right_child: Option<u32>,
) {
    let header_len = if right_child.is_some() { 12 } else { 8 };
    let mut pointer = offset + header_len;
    let mut content = PAGE_SIZE;
    let mut count: u16 = 0;
    for cell in cells {
        content -= cell.len();
        page[content..content + cell.len()].copy_from_slice(cell);
        page[pointer..pointer + 2].copy_from_slice(&(content as u16).to_be_bytes());
        pointer += 2;
        count += 1;
    }
    page[offset] = kind;
    page[offset + 1..offset + 3].copy_from_slice(&0u16.to_be_bytes());
    page[offset + 3..offset + 5].copy_from_slice(&count.to_be_bytes());
    // 65536 is stored as 0; with 16 KiB pages it never arises, but the rule is SQLite's.
    page[offset + 5..offset + 7].copy_from_slice(&((content % 65536) as u16).to_be_bytes());
    page[offset + 7] = 0;
    if let Some(right) = right_child {
        page[offset + 8..offset + 12].copy_from_slice(&right.to_be_bytes());
    }
}

/// Room for cells (pointers included) on a page whose header starts at `offset`.
pub fn room(offset: usize, interior: bool) -> usize {
    PAGE_SIZE - offset - if interior { 12 } else { 8 }
}

fn write_cells(
    sink: &mut dyn PageSink,
    page: &mut [u8],
    kind: u8,
    cells: &Cells,
    right: Option<u32>,
) -> io::Result<u32> {
    page.fill(0);
    layout_page(page, 0, kind, cells.iter(), right);
    sink.write_page(page)
}

/// A table (rowid) B-tree, fed rows in increasing rowid order.
#[derive(Debug)]
pub struct TableTree {
    leaf: LeafPage,
    /// Finished leaves: page number and largest rowid.
    leaves: Vec<(u32, i64)>,
    last_rowid: Option<i64>,
    /// For rows too big for one page: the record, then the cell.
    record: Vec<u8>,
    cell: Vec<u8>,
    page: Vec<u8>,
}

impl Default for TableTree {
    fn default() -> Self {
        Self {
            leaf: LeafPage::new(),
            leaves: Vec::new(),
            last_rowid: None,
            record: Vec::new(),
            cell: Vec::new(),
            page: vec![0; PAGE_SIZE],
        }
    }
}

impl TableTree {
    /// Adds a row, its record encoded from `values` (NULL stored for column `null_at`) right
    /// into the leaf; `rowid` must be larger than every rowid before it.
    pub fn insert(
        &mut self,
        sink: &mut dyn PageSink,
        rowid: i64,
        values: &[Value<'_>],
        null_at: Option<usize>,
    ) -> io::Result<()> {
        if self.last_rowid.is_some_and(|last| rowid <= last) {
            return Err(io::Error::other("table rows must arrive in increasing rowid order"));
        }
        let payload = record::record_len(values, null_at);
        if payload <= TABLE_MAX_LOCAL {
            let len = varint_len(payload as u64) + varint_len(rowid as u64) + payload;
            if !self.leaf.fits(len) {
                self.flush_leaf(sink)?;
            }
            self.leaf.push_with(len, |cell| {
                let mut at = put_varint_at(cell, payload as u64);
                at += put_varint_at(&mut cell[at..], rowid as u64);
                record::write_record(values, null_at, &mut cell[at..]);
            });
        } else {
            // Spills into overflow pages: build the cell apart.
            self.record.clear();
            record::encode_record_with_null(values, null_at, &mut self.record);
            self.cell.clear();
            put_payload(sink, &mut self.cell, Some(rowid), &self.record, TABLE_MAX_LOCAL)?;
            if !self.leaf.fits(self.cell.len()) {
                self.flush_leaf(sink)?;
            }
            self.leaf.push(&self.cell);
        }
        self.last_rowid = Some(rowid);
        Ok(())
    }

    fn flush_leaf(&mut self, sink: &mut dyn PageSink) -> io::Result<()> {
        let no = self.leaf.write(sink, TABLE_LEAF)?;
        self.leaves.push((no, self.last_rowid.unwrap_or(0)));
        Ok(())
    }

    /// Writes what is left and the interior levels; returns the root page number.
    pub fn finish(mut self, sink: &mut dyn PageSink) -> io::Result<u32> {
        if !self.leaf.is_empty() || self.leaves.is_empty() {
            self.flush_leaf(sink)?;
        }
        let mut level = std::mem::take(&mut self.leaves);
        let mut cell = Vec::with_capacity(16);
        while level.len() > 1 {
            let sizes: Vec<usize> = level
                .iter()
                .map(|&(_, rowid)| {
                    cell.clear();
                    put_varint(&mut cell, rowid as u64);
                    4 + cell.len() + 2
                })
                .collect();
            let mut next = Vec::new();
            for group in group_children(&sizes, room(0, true)) {
                let children = &level[group];
                let mut cells = Cells::default();
                for &(child, rowid) in &children[..children.len() - 1] {
                    cell.clear();
                    cell.extend_from_slice(&child.to_be_bytes());
                    put_varint(&mut cell, rowid as u64);
                    cells.push(&cell);
                }
                let (right, max_rowid) = children[children.len() - 1];
                let no = write_cells(sink, &mut self.page, TABLE_INTERIOR, &cells, Some(right))?;
                next.push((no, max_rowid));
            }
            level = next;
        }
        Ok(level[0].0)
    }
}

/// Splits children into consecutive groups, one interior page each: a group's cells are all
/// its children but the last (whose pointer is the page's right child), `cell_sizes[i]` being
/// the room child `i`'s cell takes. Greedy, then the last group is given a cell if it has none.
fn group_children(cell_sizes: &[usize], room: usize) -> Vec<std::ops::Range<usize>> {
    let n = cell_sizes.len();
    let mut groups = Vec::new();
    let mut start = 0;
    while start < n {
        let mut used = 0;
        let mut end = start;
        // Child `end` joins as the right child; it becomes a cell only if another follows.
        while end + 1 < n && used + cell_sizes[end] <= room {
            used += cell_sizes[end];
            end += 1;
        }
        groups.push(start..end + 1);
        start = end + 1;
    }
    balance_last(&mut groups);
    groups
}

/// Gives the last group a second member, taken from the group before, when it has only one.
fn balance_last(groups: &mut [std::ops::Range<usize>]) {
    let k = groups.len();
    if k >= 2 && groups[k - 1].len() == 1 && groups[k - 2].len() > 2 {
        groups[k - 2].end -= 1;
        groups[k - 1].start -= 1;
    }
}

/// An index B-tree, fed records in sorted order.
#[derive(Debug)]
pub struct IndexTree {
    leaf: LeafPage,
    /// A full leaf held back until another record shows that its divider (the record that did
    /// not fit, as a cell) is not the last one.
    closed: Option<(LeafPage, Vec<u8>)>,
    /// Finished leaves and the divider cell body that follows each.
    children: Vec<u32>,
    dividers: Vec<Vec<u8>>,
    /// A spare page for the next leaf while one is held back.
    spare: Option<LeafPage>,
    record: Vec<u8>,
    cell: Vec<u8>,
}

impl Default for IndexTree {
    fn default() -> Self {
        Self {
            leaf: LeafPage::new(),
            closed: None,
            children: Vec::new(),
            dividers: Vec::new(),
            spare: None,
            record: Vec::new(),
            cell: Vec::new(),
        }
    }
}

impl IndexTree {
    /// Adds the next record in sort order, encoded from `values`.
    pub fn insert(&mut self, sink: &mut dyn PageSink, values: &[Value<'_>]) -> io::Result<()> {
        if let Some((mut closed, divider)) = self.closed.take() {
            let no = closed.write(sink, INDEX_LEAF)?;
            self.children.push(no);
            self.dividers.push(divider);
            self.spare = Some(closed);
        }
        let payload = record::record_len(values, None);
        let len = varint_len(payload as u64) + payload;
        if payload <= INDEX_MAX_LOCAL && self.leaf.fits(len) {
            self.leaf.push_with(len, |cell| {
                let at = put_varint_at(cell, payload as u64);
                record::write_record(values, None, &mut cell[at..]);
            });
            return Ok(());
        }
        self.record.clear();
        record::encode_record(values, &mut self.record);
        self.cell.clear();
        put_payload(sink, &mut self.cell, None, &self.record, INDEX_MAX_LOCAL)?;
        if self.leaf.fits(self.cell.len()) {
            self.leaf.push(&self.cell);
        } else {
            // This record divides the full leaf from the next one.
            let next = self.spare.take().unwrap_or_else(LeafPage::new);
            let full = std::mem::replace(&mut self.leaf, next);
            self.closed = Some((full, self.cell.clone()));
        }
        Ok(())
    }

    /// Writes the last leaves and returns what the interior levels are made of. Index leaves
    /// hold no page numbers (as long as no record spilled into overflow pages), so leaves
    /// built apart, numbered from 0, can be placed anywhere in the file later.
    pub fn finish_leaves(mut self, sink: &mut dyn PageSink) -> io::Result<Leaves> {
        if let Some((mut closed, divider)) = self.closed.take() {
            // The divider was the last record: the closed leaf's own last record divides it
            // from a last leaf holding the divider, so no leaf is empty.
            let last = closed
                .pop()
                .ok_or_else(|| io::Error::other("an index leaf closed with no records"))?;
            let no = closed.write(sink, INDEX_LEAF)?;
            self.children.push(no);
            self.dividers.push(last);
            self.leaf.push(&divider);
        }
        let last_leaf = self.leaf.write(sink, INDEX_LEAF)?;
        let mut children = std::mem::take(&mut self.children);
        children.push(last_leaf);
        Ok(Leaves {
            children,
            dividers: std::mem::take(&mut self.dividers),
        })
    }
}

/// The leaves of an index B-tree, in key order, and the divider cell body between each two.
#[derive(Debug)]
pub struct Leaves {
    children: Vec<u32>,
    dividers: Vec<Vec<u8>>,
}

impl Leaves {
    /// Leaf pages.
    pub fn len(&self) -> usize {
        self.children.len()
    }

    /// Writes the interior levels over these leaves, their page numbers moved up by `offset`;
    /// returns the root page number.
    pub fn write_interior(self, sink: &mut dyn PageSink, offset: u32) -> io::Result<u32> {
        let Self {
            mut children,
            mut dividers,
        } = self;
        for child in &mut children {
            *child = child
                .checked_add(offset)
                .ok_or_else(|| io::Error::other("more pages than a SQLite file can number"))?;
        }
        let mut page = vec![0; PAGE_SIZE];
        let mut cell = Vec::new();
        while children.len() > 1 {
            // Child i's cell is (child i, divider i); the last child has none.
            let sizes: Vec<usize> = dividers.iter().map(|d| 4 + d.len() + 2).chain([0]).collect();
            let groups = group_children(&sizes, room(0, true));
            let mut next_children = Vec::with_capacity(groups.len());
            let mut next_dividers = Vec::with_capacity(groups.len());
            for group in groups {
                let mut cells = Cells::default();
                let last = group.end - 1;
                for i in group.start..last {
                    cell.clear();
                    cell.extend_from_slice(&children[i].to_be_bytes());
                    cell.extend_from_slice(&dividers[i]);
                    cells.push(&cell);
                }
                let no = write_cells(sink, &mut page, INDEX_INTERIOR, &cells, Some(children[last]))?;
                next_children.push(no);
                if last < dividers.len() {
                    next_dividers.push(std::mem::take(&mut dividers[last]));
                }
            }
            children = next_children;
            dividers = next_dividers;
        }
        Ok(children[0])
    }
}

/// The kind byte of a table leaf page (page 1's `sqlite_schema` is one).
pub const TABLE_LEAF_KIND: u8 = TABLE_LEAF;

/// The cell body of a table leaf row kept whole on its page, or `None` if it would spill.
pub fn small_table_cell(rowid: i64, record: &[u8]) -> Option<Vec<u8>> {
    if record.len() > TABLE_MAX_LOCAL {
        return None;
    }
    let mut out = Vec::with_capacity(record.len() + 12);
    put_varint(&mut out, record.len() as u64);
    put_varint(&mut out, rowid as u64);
    out.extend_from_slice(record);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn children_are_grouped_into_pages_that_each_have_a_cell(
            sizes in proptest::collection::vec(6usize..5000, 1..3000),
        ) {
            let room = room(0, true);
            let groups = group_children(&sizes, room);
            // Contiguous, in order, covering every child once.
            let mut next = 0;
            for g in &groups {
                prop_assert_eq!(g.start, next);
                prop_assert!(g.end > g.start);
                next = g.end;
                // The cells (all members but the last, the right child) fit one page.
                let used: usize = sizes[g.start..g.end - 1].iter().sum();
                prop_assert!(used <= room, "{used} > {room}");
            }
            prop_assert_eq!(next, sizes.len());
            // No interior page is left with only a right child.
            if sizes.len() >= 2 {
                for g in &groups {
                    prop_assert!(g.len() >= 2, "{:?} of {:?}", g, groups);
                }
            }
        }
    }

    #[test]
    fn a_leaf_page_gives_back_its_last_cell() {
        let mut page = LeafPage::new();
        assert!(page.pop().is_none());
        page.push(b"first");
        page.push(b"second!");
        assert!(page.fits(PAGE_SIZE - LeafPage::HEADER - 2 * 3 - 12));
        assert!(!page.fits(PAGE_SIZE - LeafPage::HEADER - 2 * 3 - 11));
        assert_eq!(page.pop().as_deref(), Some(&b"second!"[..]));
        assert_eq!(page.pop().as_deref(), Some(&b"first"[..]));
        assert!(page.is_empty());
        assert_eq!(page.content, PAGE_SIZE);
    }
}
