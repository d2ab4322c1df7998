//! The direct writer against SQLite itself: every file it builds must pass
//! `pragma integrity_check` (which also checks that each index holds exactly the table's rows,
//! in order) and read back exactly what was inserted.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use rusqlite::types::Value as Owned;
use rusqlite::Connection;

use super::*;

fn schema_of(ddl: &str) -> Result<Schema, BuildError> {
    let conn = Connection::open_in_memory()?;
    conn.execute_batch(ddl)?;
    Schema::read(&conn)
}

fn borrowed(v: &Owned) -> Value<'_> {
    match v {
        Owned::Null => Value::Null,
        Owned::Integer(i) => Value::Int(*i),
        Owned::Text(s) => Value::Text(s),
        Owned::Blob(b) => Value::Blob(b),
        Owned::Real(_) => Value::Null,
    }
}

/// A database in memory that takes no chunks: every page is written in order on the calling
/// thread, as for the plain database of a merge.
struct InOrder(Vec<u8>);

impl Write for InOrder {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl PageOutput for InOrder {
    type Chunk = Vec<u8>;

    fn chunks(&self) -> Option<super::ChunkMaker<Self::Chunk>> {
        None
    }

    fn append_chunk(&mut self, _: Self::Chunk) -> io::Result<()> {
        Err(io::Error::other("no chunks here"))
    }
}

/// Page 1 and the output of a database built from `rows` (table name, values) into `out`.
fn build_into<W: PageOutput>(out: W, ddl: &str, rows: &[(&str, Vec<Owned>)]) -> Result<(Vec<u8>, W), BuildError> {
    build_spilling(out, ddl, rows, None)
}

/// [`build_into`], with index keys spilled to disk past `spill`.
fn build_spilling<W: PageOutput>(
    out: W,
    ddl: &str,
    rows: &[(&str, Vec<Owned>)],
    spill: Option<SpillConfig>,
) -> Result<(Vec<u8>, W), BuildError> {
    let schema = schema_of(ddl)?;
    let mut builder = DbBuilder::new(schema, out);
    let tiny = spill.as_ref().is_some_and(|c| c.budget <= 1);
    if let Some(config) = spill {
        builder = builder.with_spill(config);
    }
    for (table, values) in rows {
        let t = builder.schema().table(table).expect("table in schema");
        let values: Vec<Value<'_>> = values.iter().map(borrowed).collect();
        builder.insert(t, &values)?;
    }
    if tiny && !rows.is_empty() {
        // The comparisons with the in-memory path mean something only if keys went to disk.
        assert!(builder.tables.iter().any(|t| t.runs.spilled > 0), "nothing was spilled");
    }
    let built = builder.finish()?;
    Ok((built.page1, built.out))
}

/// Builds a file from `rows` (table name, values) and returns its path in `dir`. Index leaves
/// are packed on worker threads (the c1z way); [`InOrder`] builds the same file on one thread.
fn build(dir: &Path, ddl: &str, rows: &[(&str, Vec<Owned>)]) -> Result<PathBuf, BuildError> {
    let (mut bytes, out) = build_into(Vec::new(), ddl, rows)?;
    bytes.extend_from_slice(&out);
    let path = dir.join("built.db");
    std::fs::write(&path, bytes)?;
    Ok(path)
}

/// The same rows built in order on one thread: the file, byte for byte.
fn build_in_order(ddl: &str, rows: &[(&str, Vec<Owned>)]) -> Result<Vec<u8>, BuildError> {
    let (mut bytes, out) = build_into(InOrder(Vec::new()), ddl, rows)?;
    bytes.extend_from_slice(&out.0);
    Ok(bytes)
}

/// The file built from `rows` into [`DDL`] with keys spilled past `budget` bytes, with leaves
/// packed apart (`in_order` false) or built in order.
fn spilled(rows: &[(&str, Vec<Owned>)], budget: usize, in_order: bool) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Some(SpillConfig {
        dir: dir.path().to_path_buf(),
        budget,
    });
    let bytes = if in_order {
        let (mut page1, out) = build_spilling(InOrder(Vec::new()), DDL, rows, config).expect("build");
        page1.extend_from_slice(&out.0);
        page1
    } else {
        let (mut page1, out) = build_spilling(Vec::new(), DDL, rows, config).expect("build");
        page1.extend_from_slice(&out);
        page1
    };
    // Run files are anonymous: nothing is left in the folder.
    assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 0);
    bytes
}

fn integrity(path: &Path) -> Vec<String> {
    let conn = Connection::open(path).expect("open");
    let mut stmt = conn.prepare("pragma integrity_check").expect("prepare");
    let lines = stmt
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    lines
}

fn all_rows(conn: &Connection, sql: &str) -> Vec<Vec<Owned>> {
    let mut stmt = conn.prepare(sql).expect("prepare");
    let n = stmt.column_count();
    stmt.query_map([], |r| (0..n).map(|i| r.get::<_, Owned>(i)).collect())
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

const DDL: &str = "
create table t (id integer primary key, a text, b integer, c blob, d text not null);
create index t_a on t (a);
create index t_b_a on t (b, a);
create unique index t_d on t (d, b);
create table plain (x text, y blob);
create index plain_x on plain (x);
";

fn text() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        3 => proptest::option::of("[ab]{0,3}"),
        2 => proptest::option::of("[a-z0-9:-]{0,60}"),
        // Longer than an index cell keeps on its page: spills into overflow pages.
        1 => "[xy]{4000,9000}".prop_map(Some),
    ]
}

fn blob() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => proptest::collection::vec(any::<u8>(), 0..300),
        // Larger than a table leaf keeps: one or more overflow pages.
        1 => proptest::collection::vec(any::<u8>(), 16_000..40_000),
    ]
}

fn row() -> impl Strategy<Value = (Option<String>, Option<i64>, Vec<u8>, bool)> {
    (
        text(),
        proptest::option::of(prop_oneof![-3i64..3, any::<i64>()]),
        blob(),
        any::<bool>(),
    )
}

fn opt_text(s: &Option<String>) -> Owned {
    s.clone().map_or(Owned::Null, Owned::Text)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_tables_pass_integrity_check_and_read_back(rows in proptest::collection::vec(row(), 0..400)) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut input = Vec::new();
        let mut expected = Vec::new();
        for (i, (a, b, c, long)) in rows.iter().enumerate() {
            // d is unique per row (the unique index needs it), sometimes long.
            let d = if *long { format!("{i}:{}", "d".repeat(5000)) } else { format!("d{i}") };
            let values = vec![Owned::Null, opt_text(a), b.map_or(Owned::Null, Owned::Integer), Owned::Blob(c.clone()), Owned::Text(d.clone())];
            input.push(("t", values.clone()));
            input.push(("plain", vec![opt_text(a), Owned::Blob(c.clone())]));
            let mut read = values;
            read[0] = Owned::Integer(i as i64 + 1);
            expected.push(read);
        }
        let path = build(dir.path(), DDL, &input).expect("build");
        prop_assert_eq!(integrity(&path), vec!["ok".to_string()]);
        // Leaves packed apart and appended make the very file built in order.
        let in_order = build_in_order(DDL, &input).expect("build in order");
        let built = std::fs::read(&path).expect("read");
        prop_assert!(built == in_order, "the two ways differ");
        // Keys spilled to disk (every few rows, so many runs are merged, and merged again) make
        // the very same file, both ways.
        for budget in [1, 3_000, 40_000] {
            prop_assert!(spilled(&input, budget, false) == built, "spilling past {} bytes differs", budget);
            prop_assert!(spilled(&input, budget, true) == built, "spilling past {} bytes in order differs", budget);
        }
        let conn = Connection::open(&path).expect("open");
        prop_assert_eq!(all_rows(&conn, "select * from t order by id"), expected.clone());
        // The index order is SQLite's: read through it and compare with a sort done here.
        let through_index: Vec<i64> = all_rows(&conn, "select id from t indexed by t_b_a where b is null or b is not null order by b, a, id")
            .into_iter().map(|r| match r[0] { Owned::Integer(i) => i, _ => -1 }).collect();
        let mut sorted = expected.clone();
        sorted.sort_by(|x, y| cmp_sqlite(&x[2], &y[2]).then_with(|| cmp_sqlite(&x[1], &y[1])).then_with(|| cmp_sqlite(&x[0], &y[0])));
        let ids: Vec<i64> = sorted.iter().map(|r| match r[0] { Owned::Integer(i) => i, _ => -1 }).collect();
        prop_assert_eq!(through_index, ids);
        let plain: i64 = conn.query_row("select count(*) from plain indexed by plain_x where x is null or x >= ''", [], |r| r.get(0)).expect("count");
        prop_assert_eq!(plain as usize, rows.len());
    }
}

/// Text of any script (multi-byte UTF-8 included), often repeated so that non-unique index keys
/// collide.
fn unicode_text() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        3 => proptest::option::of(prop_oneof![Just("é".to_string()), Just("名前".to_string()), Just("a".to_string())]),
        3 => proptest::option::of("\\PC{0,24}"),
        1 => "\\PC{1500,3000}".prop_map(Some),
    ]
}

/// Every index of `t` read in its own order, row ids only, and the whole table.
fn index_answers(conn: &Connection) -> Vec<Vec<Vec<Owned>>> {
    [
        "select * from t order by id",
        "select id from t indexed by t_a where a is null or a is not null order by a, id",
        "select id from t indexed by t_b_a where b is null or b is not null order by b, a, id",
        "select id from t indexed by t_d where d is not null order by d, b, id",
        "select x, y from plain indexed by plain_x where x is null or x is not null order by x, rowid",
    ]
    .iter()
    .map(|sql| all_rows(conn, sql))
    .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// Differential: the same rows written by the direct writer and inserted through SQLite
    /// itself answer every index and the table scan the same, and both files pass SQLite's
    /// integrity check.
    #[test]
    fn the_direct_writer_answers_like_sqlite_itself(
        rows in proptest::collection::vec((unicode_text(), proptest::option::of(-2i64..2), blob()), 0..300)
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut input = Vec::new();
        for (i, (a, b, c)) in rows.iter().enumerate() {
            let d = format!("{i}-{}", a.clone().unwrap_or_default());
            input.push(("t", vec![Owned::Null, opt_text(a), b.map_or(Owned::Null, Owned::Integer), Owned::Blob(c.clone()), Owned::Text(d)]));
            input.push(("plain", vec![opt_text(a), Owned::Blob(c.clone())]));
        }
        let ours = build(dir.path(), DDL, &input).expect("build");
        prop_assert_eq!(integrity(&ours), vec!["ok".to_string()]);

        let theirs_path = dir.path().join("sqlite.db");
        let theirs = Connection::open(&theirs_path).expect("open");
        theirs.execute_batch(DDL).expect("ddl");
        for (table, values) in &input {
            let marks = vec!["?"; values.len()].join(", ");
            let sql = format!("insert into {table} values ({marks})");
            let params: Vec<rusqlite::types::Value> = values.iter().map(|v| match v {
                Owned::Null => rusqlite::types::Value::Null,
                Owned::Integer(i) => rusqlite::types::Value::Integer(*i),
                Owned::Real(r) => rusqlite::types::Value::Real(*r),
                Owned::Text(t) => rusqlite::types::Value::Text(t.clone()),
                Owned::Blob(b) => rusqlite::types::Value::Blob(b.clone()),
            }).collect();
            theirs.execute(&sql, rusqlite::params_from_iter(params)).expect("insert");
        }
        prop_assert_eq!(integrity(&theirs_path), vec!["ok".to_string()]);
        let ours_conn = Connection::open(&ours).expect("open");
        prop_assert!(index_answers(&ours_conn) == index_answers(&theirs), "the direct writer and SQLite disagree");
    }
}

/// SQLite's order of values of the kinds these tests use.
fn cmp_sqlite(a: &Owned, b: &Owned) -> std::cmp::Ordering {
    let class = |v: &Owned| match v {
        Owned::Null => 0,
        Owned::Integer(_) | Owned::Real(_) => 1,
        Owned::Text(_) => 2,
        Owned::Blob(_) => 3,
    };
    class(a).cmp(&class(b)).then_with(|| match (a, b) {
        (Owned::Integer(x), Owned::Integer(y)) => x.cmp(y),
        (Owned::Text(x), Owned::Text(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Owned::Blob(x), Owned::Blob(y)) => x.cmp(y),
        _ => std::cmp::Ordering::Equal,
    })
}

#[test]
fn many_rows_make_deep_trees_that_sqlite_accepts() {
    // Enough rows for three levels in the table and its indexes.
    let dir = tempfile::tempdir().expect("tempdir");
    let ddl = "create table g (id integer primary key, ext text not null, who text not null, data blob not null, sync text not null);
               create unique index g_ext on g (ext, sync);
               create index g_who on g (who);";
    let n = 300_000;
    let rows: Vec<(&str, Vec<Owned>)> = (0..n)
        .map(|i| {
            let who = format!("user:{:08x}", (i * 7919) % 50_000);
            (
                "g",
                vec![
                    Owned::Null,
                    Owned::Text(format!("group:{:05}:member:{who}", i % 977)),
                    Owned::Text(who),
                    Owned::Blob(vec![(i % 251) as u8; 40 + i % 200]),
                    Owned::Text("2Ab3".into()),
                ],
            )
        })
        .filter({
            let mut seen = std::collections::HashSet::new();
            move |(_, v)| seen.insert(format!("{:?}", v[1]))
        })
        .collect();
    let path = build(dir.path(), ddl, &rows).expect("build");
    assert_eq!(integrity(&path), vec!["ok".to_string()]);
    let conn = Connection::open(&path).expect("open");
    let count: i64 = conn
        .query_row("select count(*) from g", [], |r| r.get(0))
        .expect("count");
    assert_eq!(count as usize, rows.len());
    // Root of `g`, then its right-most child: both interior table pages means three levels.
    let root: i64 = conn
        .query_row("select rootpage from sqlite_master where name = 'g'", [], |r| r.get(0))
        .expect("root");
    let bytes = std::fs::read(&path).expect("read");
    let page = |no: i64| &bytes[(no as usize - 1) * PAGE_SIZE..no as usize * PAGE_SIZE];
    assert_eq!(
        page(root)[0],
        0x05,
        "the root of {} rows is an interior page",
        rows.len()
    );
    let right = u32::from_be_bytes([page(root)[8], page(root)[9], page(root)[10], page(root)[11]]);
    assert_eq!(page(i64::from(right))[0], 0x05, "and so is its right child");
    let found: i64 = conn
        .query_row(
            "select id from g where ext = ?1 and sync = '2Ab3'",
            [&"group:00005:member:user:00009ab3"],
            |r| r.get(0),
        )
        .unwrap_or(-1);
    let expected = rows
        .iter()
        .position(|(_, v)| v[1] == Owned::Text("group:00005:member:user:00009ab3".into()));
    assert_eq!(expected.map(|p| p as i64 + 1).unwrap_or(-1), found);
}

#[test]
fn empty_tables_make_a_valid_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = build(dir.path(), DDL, &[]).expect("build");
    assert_eq!(integrity(&path), vec!["ok".to_string()]);
    let conn = Connection::open(&path).expect("open");
    let n: i64 = conn
        .query_row("select count(*) from t", [], |r| r.get(0))
        .expect("count");
    assert_eq!(n, 0);
    // SQLite can go on writing to it normally.
    conn.execute("insert into t (a, d) values ('x', 'y')", [])
        .expect("insert");
    assert_eq!(integrity(&path), vec!["ok".to_string()]);
}

#[test]
fn the_stored_schema_is_sqlites_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = build(dir.path(), DDL, &[]).expect("build");
    let reference = Connection::open_in_memory().expect("memory");
    reference.execute_batch(DDL).expect("ddl");
    let q = "select type, name, tbl_name, sql from sqlite_master order by rowid";
    let conn = Connection::open(&path).expect("open");
    assert_eq!(all_rows(&conn, q), all_rows(&reference, q));
    let page_size: i64 = conn.query_row("pragma page_size", [], |r| r.get(0)).expect("page size");
    assert_eq!(page_size, PAGE_SIZE as i64);
}

#[test]
fn duplicate_unique_keys_are_refused_but_nulls_are_not_duplicates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let row = |d: &str, b: Option<i64>| {
        (
            "t",
            vec![
                Owned::Null,
                Owned::Null,
                b.map_or(Owned::Null, Owned::Integer),
                Owned::Blob(vec![]),
                Owned::Text(d.into()),
            ],
        )
    };
    let rows = [row("same", Some(1)), row("other", Some(1)), row("same", Some(1))];
    let err = build(dir.path(), DDL, &rows).unwrap_err();
    assert!(
        matches!(&err, BuildError::Duplicate { index, .. } if index == "t_d"),
        "{err}"
    );
    assert!(err.to_string().contains("same"), "{err}");
    // The same when the two rows went to different runs on disk: the same error, word for word.
    let spill = tempfile::tempdir().expect("tempdir");
    let config = SpillConfig {
        dir: spill.path().to_path_buf(),
        budget: 1,
    };
    let spilled = build_spilling(Vec::new(), DDL, &rows, Some(config)).unwrap_err();
    assert_eq!(spilled.to_string(), err.to_string());
    let path = build(dir.path(), DDL, &[row("same", None), row("same", None)]).expect("nulls are distinct");
    assert_eq!(integrity(&path), vec!["ok".to_string()]);
}

#[test]
fn unsupported_schemas_are_refused_up_front() {
    for ddl in [
        "create table w (a text primary key, b) without rowid",
        "create table e (a text); create index e1 on e (lower(a))",
        "create table e (a text); create index e1 on e (a desc)",
        "create table e (a text); create index e1 on e (a collate nocase)",
        "create table e (a text); create index e1 on e (a) where a is not null",
        "create table e (a text); create view v as select a from e",
        "create table e (a text unique)",
    ] {
        match schema_of(ddl) {
            Err(BuildError::Unsupported(what)) => assert!(!what.is_empty()),
            other => panic!("{ddl}: expected Unsupported, got {other:?}"),
        }
    }
}

#[test]
fn rows_with_the_wrong_number_of_values_are_refused() {
    let schema = schema_of(DDL).expect("schema");
    let mut builder = DbBuilder::new(schema, Vec::new());
    let t = builder.schema().table("t").expect("t");
    let err = builder.insert(t, &[Value::Null]).unwrap_err();
    assert!(matches!(err, BuildError::Arity { got: 1, want: 5, .. }), "{err}");
}

#[test]
fn every_count_of_rows_around_leaf_boundaries_makes_a_valid_index() {
    // Keys of one size fill index leaves evenly, so some counts end with the last key dividing
    // a full leaf from an empty one: the builder must move a key down instead.
    let dir = tempfile::tempdir().expect("tempdir");
    let ddl = "create table k (id integer primary key, key text not null); create index k_key on k (key);";
    for n in (0..=260).chain([1_000, 1_001, 1_002]) {
        let rows: Vec<(&str, Vec<Owned>)> = (0..n)
            .map(|i| ("k", vec![Owned::Null, Owned::Text(format!("{i:0>200}"))]))
            .collect();
        let path = build(dir.path(), ddl, &rows).expect("build");
        assert_eq!(integrity(&path), vec!["ok".to_string()], "{n} rows");
        let conn = Connection::open(&path).expect("open");
        let through_index: i64 = conn
            .query_row("select count(*) from k indexed by k_key where key >= ''", [], |r| {
                r.get(0)
            })
            .expect("count");
        assert_eq!(through_index, n as i64);
    }
}
