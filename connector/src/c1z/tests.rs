//! Real SQLite, real zstd, real files in a tempdir.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};

use super::*;
use crate::proto::{self, entitlement, resource_type, Entitlement, Grant, Resource, ResourceId, ResourceType};

fn rt(id: &str) -> ResourceType {
    ResourceType {
        id: id.into(),
        display_name: id.to_uppercase(),
        traits: vec![resource_type::Trait::User as i32],
        ..Default::default()
    }
}

fn res(kind: &str, id: &str) -> Resource {
    Resource {
        id: Some(ResourceId::new(kind, id)),
        display_name: format!("{kind} {id}"),
        ..Default::default()
    }
}

fn ent(resource: &Resource, slug: &str) -> Entitlement {
    let rid = resource.id.clone().unwrap_or_default();
    Entitlement {
        resource: Some(resource.clone()),
        id: format!("{}:{}:{slug}", rid.resource_type, rid.resource),
        display_name: slug.into(),
        slug: slug.into(),
        purpose: entitlement::PurposeValue::Assignment as i32,
        ..Default::default()
    }
}

fn grant(e: &Entitlement, principal: &ResourceId) -> Grant {
    Grant {
        id: format!("{}:{}:{}", e.id, principal.resource_type, principal.resource),
        entitlement: Some(e.clone()),
        principal: Some(Resource {
            id: Some(principal.clone()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Writes one sync holding the given user ids (resource + group membership grant each).
fn write_sync(path: &Path, users: &[&str]) -> SyncSummary {
    let mut w = C1zWriter::open(path).expect("open writer");
    w.start_sync().expect("start");
    w.put_resource_type(&rt("user")).expect("rt");
    let group = res("group", "g1");
    w.put_resource(&group).expect("group");
    let member = ent(&group, "member");
    w.put_entitlement(&member).expect("ent");
    for u in users {
        w.put_resource(&res("user", u)).expect("user");
        w.put_grant(&grant(&member, &ResourceId::new("user", *u)))
            .expect("grant");
    }
    w.finish().expect("finish")
}

/// What a folder holds beside the target's lock file (an empty file kept on purpose: see
/// `workfiles`).
fn dir_entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| !p.to_string_lossy().ends_with(".lock"))
        .collect();
    v.sort();
    v
}

fn count(reader: &C1zReader, table: &str, sync_id: &str) -> i64 {
    reader
        .connection()
        .query_row(
            &format!("select count(*) from {table} where sync_id = ?1"),
            [sync_id],
            |r| r.get(0),
        )
        .expect("count")
}

#[test]
fn round_trip_equals_what_was_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sync.c1z");
    let mut w = C1zWriter::open(&path).expect("open");
    let sync_id = w.start_sync().expect("start");
    assert!(ksuid::is_ksuid(&sync_id));
    let types = vec![rt("user"), rt("group")];
    let mut user = res("user", "u1");
    user.annotations.push(proto::pack(&proto::UserTrait {
        login: "a@x.io".into(),
        ..Default::default()
    }));
    let group = res("group", "g1");
    let e = ent(&group, "member");
    let g = grant(&e, &ResourceId::new("user", "u1"));
    for t in &types {
        w.put_resource_type(t).expect("rt");
    }
    w.put_resource(&user).expect("user");
    w.put_resource(&group).expect("group");
    w.put_entitlement(&e).expect("ent");
    w.put_grant(&g).expect("grant");
    let summary = w.finish().expect("finish");
    assert_eq!(summary.sync_id, sync_id);
    assert_eq!(
        (
            summary.resource_types,
            summary.resources,
            summary.entitlements,
            summary.grants
        ),
        (2, 2, 1, 1)
    );
    assert!(summary.removed_sync_ids.is_empty());

    let bytes = std::fs::read(&path).expect("read");
    assert_eq!(&bytes[..5], b"C1ZF\0");
    assert_eq!(summary.bytes, bytes.len() as u64);
    // Only the c1z remains: no temp files or work directories.
    assert_eq!(dir_entries(dir.path()), vec![path.clone()]);

    let r = C1zReader::open(&path).expect("reader");
    let runs = r.sync_runs().expect("runs");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].sync_id, sync_id);
    assert_eq!(runs[0].sync_type, "full");
    assert!(runs[0].ended_at.is_some());
    assert_eq!(r.resource_types(None).expect("rts"), types);
    assert_eq!(r.resources(None).expect("res"), vec![user, group]);
    assert_eq!(r.entitlements(None).expect("ents"), vec![e]);
    assert_eq!(r.grants(Some(&sync_id)).expect("grants"), vec![g]);

    // The id columns readers key on.
    assert_eq!(
        r.external_ids("v1_resources", None).expect("ids"),
        vec!["user:u1", "group:g1"]
    );
    let row: (String, String, String, String, String, String, i64) = r
        .connection()
        .query_row(
            "select resource_type_id, resource_id, entitlement_id, principal_resource_type_id, \
             principal_resource_id, external_id, needs_expansion from v1_grants",
            [],
            |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                    row.get(6)?,
                ))
            },
        )
        .expect("grant row");
    assert_eq!(
        row,
        (
            "group".into(),
            "g1".into(),
            "group:g1:member".into(),
            "user".into(),
            "u1".into(),
            "group:g1:member:user:u1".into(),
            0
        )
    );
    let (supports_diff, backfilled): (i64, i64) = r
        .connection()
        .query_row("select supports_diff, grants_backfilled from v1_sync_runs", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .expect("flags");
    assert_eq!((supports_diff, backfilled), (1, 1));
}

#[test]
fn three_syncs_leave_the_newest_two() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sync.c1z");
    let first = write_sync(&path, &["a"]);
    let second = write_sync(&path, &["a", "b"]);
    let third = write_sync(&path, &["b", "c", "d"]);
    assert!(second.removed_sync_ids.is_empty());
    assert_eq!(third.removed_sync_ids, vec![first.sync_id.clone()]);

    let r = C1zReader::open(&path).expect("reader");
    let ids: Vec<String> = r.sync_runs().expect("runs").into_iter().map(|s| s.sync_id).collect();
    assert_eq!(ids, vec![second.sync_id.clone(), third.sync_id.clone()]);
    for table in ["v1_resource_types", "v1_resources", "v1_entitlements", "v1_grants"] {
        assert_eq!(
            count(&r, table, &first.sync_id),
            0,
            "{table} still holds the oldest run"
        );
    }
    // The default view is the newest run; the previous one is still readable for `baton diff`.
    assert_eq!(
        r.latest_finished_full_sync().expect("latest").map(|s| s.sync_id),
        Some(third.sync_id.clone())
    );
    assert_eq!(r.grants(None).expect("grants").len(), 3);
    assert_eq!(r.grants(Some(&second.sync_id)).expect("grants").len(), 2);
    assert!(matches!(r.grants(Some(&first.sync_id)), Err(C1zError::NoSync(Some(_)))));
    assert_eq!(dir_entries(dir.path()), vec![path.clone()]);
}

#[test]
fn dropped_writer_leaves_the_previous_file_byte_identical() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sync.c1z");
    write_sync(&path, &["a", "b"]);
    let before = std::fs::read(&path).expect("read");

    {
        let mut w = C1zWriter::open(&path).expect("open");
        w.start_sync().expect("start");
        w.put_resource(&res("user", "zzz")).expect("user");
        assert!(
            dir_entries(dir.path()).len() > 1,
            "work files live beside the target while syncing"
        );
        // Dropped here without finish, as on an error or a panic mid-sync.
    }
    assert_eq!(std::fs::read(&path).expect("read"), before);
    assert_eq!(dir_entries(dir.path()), vec![path.clone()]);

    // A writer dropped before any file existed leaves nothing behind.
    let fresh = dir.path().join("fresh.c1z");
    {
        let mut w = C1zWriter::open(&fresh).expect("open");
        w.start_sync().expect("start");
    }
    assert!(!fresh.exists());
    assert_eq!(dir_entries(dir.path()), vec![path]);
}

#[test]
fn duplicate_external_ids_within_a_sync_fail_it_and_keep_the_previous_file() {
    // A run stores each object once (the sync de-duplicates pages and members); a second row
    // with the same id is a bug upstream, refused rather than written into a unique index.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sync.c1z");
    write_sync(&path, &["u0"]);
    let before = std::fs::read(&path).expect("read");
    for twice in ["resource", "entitlement", "grant"] {
        let mut w = C1zWriter::open(&path).expect("open");
        w.start_sync().expect("start");
        let user = res("user", "u1");
        let e = ent(&res("group", "g"), "member");
        let g = grant(&e, &ResourceId::new("user", "u1"));
        w.put_resource(&user).expect("resource");
        w.put_entitlement(&e).expect("ent");
        w.put_grant(&g).expect("grant");
        match twice {
            "resource" => w.put_resource(&user).expect("second resource"),
            "entitlement" => w.put_entitlement(&e).expect("second ent"),
            _ => w.put_grant(&g).expect("second grant"),
        }
        let err = w.finish().unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("same key") && message.contains("external_sync"),
            "{message}"
        );
        assert_eq!(std::fs::read(&path).expect("read"), before, "{twice}");
        assert_eq!(dir_entries(dir.path()), vec![path.clone()]);
    }
    // Into a new file the same: no file at all.
    let fresh = dir.path().join("fresh.c1z");
    let mut w = C1zWriter::open(&fresh).expect("open");
    w.start_sync().expect("start");
    w.put_resource(&res("user", "u1")).expect("first");
    w.put_resource(&res("user", "u1")).expect("second");
    assert!(matches!(w.finish(), Err(C1zError::Build(_))));
    assert!(!fresh.exists());
    assert_eq!(dir_entries(dir.path()), vec![path]);
}

#[test]
fn many_rows_span_several_discovered_at_batches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sync.c1z");
    let mut w = C1zWriter::open(&path).expect("open");
    w.start_sync().expect("start");
    let e = ent(&res("group", "g"), "member");
    let n = ROWS_PER_BATCH * 2 + 17;
    for i in 0..n {
        w.put_grant(&grant(&e, &ResourceId::new("user", format!("u{i}"))))
            .expect("grant");
    }
    let summary = w.finish().expect("finish");
    assert_eq!(summary.grants, n as u64);
    let r = C1zReader::open(&path).expect("reader");
    assert_eq!(count(&r, "v1_grants", &summary.sync_id), n as i64);
}

#[test]
fn misuse_and_missing_fields_are_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sync.c1z");
    let mut w = C1zWriter::open(&path).expect("open");
    assert!(matches!(w.put_resource(&res("user", "u")), Err(C1zError::SyncState(_))));
    let member = ent(&res("group", "g"), "member");
    let user = ResourceId::new("user", "u");
    assert!(matches!(
        w.put_grants(&member, [("group:g:member:user:u", &user)]),
        Err(C1zError::SyncState(_))
    ));
    w.start_sync().expect("start");
    assert!(matches!(
        w.put_grants(&Entitlement::default(), [("x", &user)]),
        Err(C1zError::MissingField {
            field: "entitlement.resource.id",
            ..
        })
    ));
    assert!(matches!(w.start_sync(), Err(C1zError::SyncState(_))));
    assert!(matches!(
        w.put_resource(&Resource::default()),
        Err(C1zError::MissingField { .. })
    ));
    let no_principal = Grant {
        id: "x".into(),
        entitlement: Some(ent(&res("g", "1"), "m")),
        ..Default::default()
    };
    assert!(matches!(
        w.put_grant(&no_principal),
        Err(C1zError::MissingField {
            field: "principal.id",
            ..
        })
    ));
    assert!(matches!(
        w.put_entitlement(&Entitlement::default()),
        Err(C1zError::MissingField { .. })
    ));
    let unstarted = C1zWriter::open(&dir.path().join("other.c1z")).expect("open");
    assert!(matches!(unstarted.finish(), Err(C1zError::SyncState(_))));
    assert!(!dir.path().join("other.c1z").exists());
}

#[test]
fn empty_file_has_no_finished_sync() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sync.c1z");
    let w = C1zWriter::open(&path).expect("open");
    drop(w);
    write_sync(&path, &[]);
    let r = C1zReader::open(&path).expect("reader");
    assert!(r.grants(None).expect("grants").is_empty());
    assert!(matches!(r.grants(Some("nope")), Err(C1zError::NoSync(Some(_)))));
}

#[test]
fn bad_inputs_give_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.c1z");
    write_sync(&good, &["a", "b", "c"]);
    let bytes = std::fs::read(&good).expect("read");

    let write = |name: &str, data: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, data).expect("write");
        p
    };

    let bad_magic = write("magic.c1z", &[b"PK\x03\x04\0".as_slice(), &bytes[5..]].concat());
    let err = C1zReader::open(&bad_magic).expect_err("bad magic");
    assert!(matches!(err, C1zError::BadMagic { .. }), "{err}");
    assert!(err.to_string().contains("not a c1z file"), "{err}");

    let empty = write("empty.c1z", b"");
    assert!(matches!(C1zReader::open(&empty), Err(C1zError::BadMagic { .. })));

    let truncated = write("truncated.c1z", &bytes[..bytes.len() / 2]);
    let err = C1zReader::open(&truncated).expect_err("truncated");
    assert!(matches!(err, C1zError::Truncated { .. }), "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");

    let garbage = write(
        "garbage.c1z",
        &[C1Z_MAGIC.as_slice(), b"this is not zstd at all, just text"].concat(),
    );
    let err = C1zReader::open(&garbage).expect_err("garbage");
    assert!(matches!(err, C1zError::Decompress { .. }), "{err}");

    let text = zstd::encode_all(&b"hello, not a database"[..], 3).expect("zstd");
    let not_sqlite = write("text.c1z", &[C1Z_MAGIC.as_slice(), &text].concat());
    let err = C1zReader::open(&not_sqlite).expect_err("not sqlite");
    assert!(matches!(err, C1zError::NotSqlite { .. }), "{err}");

    // A writer refuses to build on a corrupt target and leaves it as it was.
    let err = C1zWriter::open(&truncated).expect_err("writer on truncated");
    assert!(matches!(err, C1zError::Truncated { .. }), "{err}");
    assert_eq!(std::fs::read(&truncated).expect("read"), &bytes[..bytes.len() / 2]);

    let missing = C1zReader::open(&dir.path().join("missing.c1z")).expect_err("missing");
    assert!(matches!(missing, C1zError::Io { .. }), "{missing}");
}

#[test]
fn older_schema_files_are_migrated_on_write() {
    // A file as an older SDK wrote it: sync_runs without the newer columns, grants without
    // the expansion columns.
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("old.db");
    let conn = rusqlite::Connection::open(&db).expect("open");
    conn.execute_batch(
        "create table v1_sync_runs (id integer primary key, sync_id text not null, started_at datetime not null, \
         ended_at datetime, sync_token text not null);
         insert into v1_sync_runs (sync_id, started_at, ended_at, sync_token) values \
         ('2ZZZZZZZZZZZZZZZZZZZZZZZZZZ', '2024-01-01 00:00:00', '2024-01-01 00:01:00', '');
         create table v1_grants (id integer primary key, resource_type_id text not null, resource_id text not null, \
         entitlement_id text not null, principal_resource_type_id text not null, principal_resource_id text not null, \
         external_id text not null, data blob not null, sync_id text not null, discovered_at datetime not null);",
    )
    .expect("ddl");
    drop(conn);
    let path = dir.path().join("old.c1z");
    let compressed = zstd::encode_all(std::fs::File::open(&db).expect("db"), 3).expect("zstd");
    std::fs::write(&path, [C1Z_MAGIC.as_slice(), &compressed].concat()).expect("write");

    let old = C1zReader::open(&path).expect("reader on old file");
    assert_eq!(old.sync_runs().expect("runs")[0].sync_type, "full");
    drop(old);

    let summary = write_sync(&path, &["a"]);
    let r = C1zReader::open(&path).expect("reader");
    let ids: Vec<String> = r.sync_runs().expect("runs").into_iter().map(|s| s.sync_id).collect();
    assert_eq!(ids, vec!["2ZZZZZZZZZZZZZZZZZZZZZZZZZZ".to_string(), summary.sync_id]);
    assert_eq!(r.grants(None).expect("grants").len(), 1);
}

#[test]
fn go_time_layout() {
    use time::macros::datetime;
    assert_eq!(
        format_go_time(datetime!(2006-01-02 15:04:05 UTC)),
        "2006-01-02 15:04:05"
    );
    assert_eq!(
        format_go_time(datetime!(2006-01-02 15:04:05.5 UTC)),
        "2006-01-02 15:04:05.5"
    );
    assert_eq!(
        format_go_time(datetime!(2006-01-02 15:04:05.000000123 UTC)),
        "2006-01-02 15:04:05.000000123"
    );
    assert_eq!(
        format_go_time(datetime!(2006-01-02 17:04:05.25 +2)),
        "2006-01-02 15:04:05.25"
    );
}

fn index_names(reader: &C1zReader) -> Vec<String> {
    let mut names: Vec<String> = reader
        .connection()
        .prepare("select name from sqlite_master where type = 'index' and sql is not null")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("names");
    names.sort();
    names
}

#[test]
fn deferred_indexes_are_all_in_the_published_file() {
    // The writer drops the non-unique indexes for the bulk load and builds them in `finish`:
    // every sync, first, second and compacting third, must publish the full set.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sync.c1z");
    let fresh = tempfile::tempdir().expect("tempdir");
    let reference = rusqlite::Connection::open(fresh.path().join("ref.db")).expect("open");
    schema::ensure(&reference).expect("schema");
    let mut expected: Vec<String> = reference
        .prepare("select name from sqlite_master where type = 'index' and sql is not null")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("names");
    expected.sort();
    assert!(expected.iter().any(|n| n == "idx_grants_principal_id_v1"));
    for users in [&["a"][..], &["a", "b"], &["b", "c"]] {
        write_sync(&path, users);
        let r = C1zReader::open(&path).expect("reader");
        assert_eq!(index_names(&r), expected);
        // The rebuilt indexes are consistent with the rows.
        let check: String = r
            .connection()
            .query_row("pragma integrity_check", [], |row| row.get(0))
            .expect("integrity");
        assert_eq!(check, "ok");
    }
}

/// Every column of every grant row but the run-specific ones, in id order.
fn grant_rows(path: &Path) -> Vec<Vec<rusqlite::types::Value>> {
    let r = C1zReader::open(path).expect("reader");
    let mut stmt = r
        .connection()
        .prepare(
            "select resource_type_id, resource_id, entitlement_id, principal_resource_type_id, \
             principal_resource_id, external_id, expansion, needs_expansion, data from v1_grants order by id",
        )
        .expect("prepare");
    let rows = stmt
        .query_map([], |row| (0..9).map(|i| row.get(i)).collect())
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    rows
}

#[test]
fn put_grants_stores_what_put_grant_would() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut group = res("group", "g1");
    // A resource with annotations and a profile: the part encoded once for all grants.
    group.annotations = vec![proto::pack(&proto::GroupTrait {
        icon: None,
        profile: None,
    })];
    group.description = "the group".into();
    let full = ent(&group, "member");
    let shared = Entitlement {
        id: full.id.clone(),
        resource: full.resource.clone(),
        ..Default::default()
    };
    let principals: Vec<ResourceId> = ["u1", "u2", "üñí", ""]
        .iter()
        .map(|u| ResourceId::new("user", *u))
        .collect();
    let grants: Vec<Grant> = principals.iter().map(|p| grant(&shared, p)).collect();

    let one_by_one = dir.path().join("one.c1z");
    let mut w = C1zWriter::open(&one_by_one).expect("open");
    w.start_sync().expect("start");
    for g in &grants {
        w.put_grant(g).expect("grant");
    }
    w.finish().expect("finish");

    let batched = dir.path().join("batch.c1z");
    let mut w = C1zWriter::open(&batched).expect("open");
    w.start_sync().expect("start");
    w.put_grants(&shared, grants.iter().map(|g| g.id.as_str()).zip(&principals))
        .expect("grants");
    // An empty grant id is left out of the encoding, as prost leaves out any empty string.
    w.put_grants(&shared, [("", &principals[0])]).expect("empty id");
    let summary = w.finish().expect("finish");
    assert_eq!(summary.grants, 5);

    let expected = grant_rows(&one_by_one);
    let got = grant_rows(&batched);
    assert_eq!(got[..4], expected[..]);
    for (row, g) in expected.iter().zip(&grants) {
        assert_eq!(row[8], rusqlite::types::Value::Blob(prost::Message::encode_to_vec(g)));
    }
    let no_id = Grant {
        id: String::new(),
        ..grants[0].clone()
    };
    assert_eq!(
        got[4][8],
        rusqlite::types::Value::Blob(prost::Message::encode_to_vec(&no_id))
    );
}

#[test]
fn a_new_file_is_page_one_stored_then_compressed_frames() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sync.c1z");
    write_sync(&path, &["a", "b"]);
    let bytes = std::fs::read(&path).expect("read");
    assert_eq!(&bytes[..5], C1Z_MAGIC);
    // Frame 1: zstd magic, single-segment header with a 2-byte size, one raw block of a page.
    assert_eq!(&bytes[5..9], &[0x28, 0xb5, 0x2f, 0xfd]);
    assert_eq!(bytes[9], 0x60);
    let page = 16384usize;
    assert_eq!(u16::from_le_bytes([bytes[10], bytes[11]]) as usize + 256, page);
    let block = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], 0]);
    assert_eq!((block & 1, (block >> 1) & 3, block >> 3), (1, 0, page as u32));
    let page_one = &bytes[15..15 + page];
    assert_eq!(&page_one[..16], b"SQLite format 3\0");
    // The whole stream (every frame) decodes to a database that starts with that page.
    let db = zstd::stream::decode_all(&bytes[5..]).expect("decode");
    assert_eq!(&db[..page], page_one);
    assert_eq!(db.len() % page, 0);
    let pages_in_header = u32::from_be_bytes([db[28], db[29], db[30], db[31]]) as usize;
    assert_eq!(pages_in_header * page, db.len());
    // And frame 1 alone is a complete zstd frame holding exactly page 1.
    let first = zstd::stream::decode_all(&bytes[5..15 + page]).expect("frame 1");
    assert_eq!(first, page_one);
}

/// A table's rows, column values in order.
type TableRows = Vec<Vec<rusqlite::types::Value>>;

/// Every row of every table of the c1z at `path`, in rowid order, with the columns that differ
/// between two runs of the same content (ids and times of the run) masked; and SQLite's
/// integrity check, which also proves each index holds exactly its table's rows in order.
fn contents(path: &Path) -> (Vec<String>, Vec<(String, TableRows)>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("plain.db");
    decompress_c1z(path, &db).expect("decompress");
    let conn = rusqlite::Connection::open(&db).expect("open");
    let check: Vec<String> = conn
        .prepare("pragma integrity_check")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let masked = ["sync_id", "discovered_at", "started_at", "ended_at"];
    let mut tables = Vec::new();
    for table in std::iter::once(schema::SYNC_RUNS).chain(schema::DATA_TABLES) {
        let mut stmt = conn
            .prepare(&format!("select * from {table} order by id"))
            .expect("select");
        let names: Vec<String> = stmt.column_names().iter().map(|n| n.to_string()).collect();
        let rows = stmt
            .query_map([], |r| {
                (0..names.len())
                    .map(|i| {
                        let v: rusqlite::types::Value = r.get(i)?;
                        Ok(if masked.contains(&names[i].as_str()) {
                            rusqlite::types::Value::Null
                        } else {
                            v
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .expect("query")
            .collect::<Result<Vec<_>, _>>()
            .expect("rows");
        tables.push((table.to_string(), rows));
    }
    (check, tables)
}

#[test]
fn index_keys_spilled_to_disk_make_the_same_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let users: Vec<String> = (0..1_200).map(|i| format!("u{:05}", (i * 7_919) % 1_200)).collect();
    let users: Vec<&str> = users.iter().map(String::as_str).collect();
    let mut seen = Vec::new();
    for budget in [usize::MAX, 1 << 14, 1] {
        let path = dir.path().join(format!("budget-{budget}.c1z"));
        for round in 0..2 {
            // A new file, then a second sync merged into it (its run built the same way).
            let mut w = C1zWriter::open_with_key_budget(&path, budget).expect("open writer");
            w.start_sync().expect("start");
            w.put_resource_type(&rt("user")).expect("rt");
            let group = res("group", "g1");
            w.put_resource(&group).expect("group");
            let member = ent(&group, "member");
            w.put_entitlement(&member).expect("ent");
            for u in &users[round * 300..] {
                w.put_resource(&res("user", u)).expect("user");
                w.put_grant(&grant(&member, &ResourceId::new("user", *u)))
                    .expect("grant");
            }
            w.finish().expect("finish");
            assert_eq!(
                dir_entries(dir.path())
                    .iter()
                    .filter(|p| p.to_string_lossy().contains(".work-"))
                    .count(),
                0
            );
        }
        let (check, tables) = contents(&path);
        assert_eq!(check, vec!["ok".to_string()], "budget {budget}");
        let grants = tables
            .iter()
            .find(|(t, _)| t == schema::GRANTS)
            .map_or(0, |(_, rows)| rows.len());
        assert_eq!(grants, 1_200 + 900, "budget {budget}");
        seen.push(tables);
    }
    assert!(seen[1] == seen[0], "a 16 KiB budget changed the file");
    assert!(seen[2] == seen[0], "spilling every row changed the file");
}
