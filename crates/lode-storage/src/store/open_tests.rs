//! Start-up refusals that keep data safe: a second process on the data
//! directory, and chunk files without a manifest.

use super::*;
use crate::error::StorageError;
use lode_proto::PushStream;
use std::sync::atomic::Ordering;

fn opts(dir: &Path) -> StoreOptions {
    StoreOptions {
        data_dir: dir.to_path_buf(),
        fsync: false,
        ..Default::default()
    }
}

fn push_one(store: &Store) {
    let now = store.clock().now_ns();
    store
        .push_sync(
            "t",
            vec![PushStream {
                labels: vec![("app".into(), "a".into())],
                entries: vec![lode_proto::Entry {
                    ts: now,
                    line: "kept".into(),
                    structured_metadata: vec![],
                }],
            }],
        )
        .unwrap();
}

#[test]
fn a_second_store_on_the_same_directory_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let first = Store::open(opts(d.path()), Limits::default()).unwrap();
    match Store::open(opts(d.path()), Limits::default()) {
        Err(StorageError::Locked { dir }) => assert_eq!(dir, d.path().display().to_string()),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a second store opened the same directory"),
    }
    push_one(&first);
    drop(first);
    // Released with the first store.
    let again = Store::open(opts(d.path()), Limits::default()).unwrap();
    assert_eq!(again.stats().streams, 1);
}

#[test]
fn chunk_files_without_a_manifest_are_never_deleted() {
    let d = tempfile::tempdir().unwrap();
    let store = Store::open(opts(d.path()), Limits::default()).unwrap();
    push_one(&store);
    store.flush().unwrap();
    drop(store);
    let manifest = d.path().join(crate::format::manifest::MANIFEST);
    let saved = fs::read(&manifest).unwrap();
    fs::remove_file(&manifest).unwrap();
    let chunks = || {
        fs::read_dir(d.path().join("tenants"))
            .unwrap()
            .flatten()
            .flat_map(|t| fs::read_dir(t.path()).unwrap().flatten())
            .count()
    };
    assert_eq!(chunks(), 1);
    match Store::open(opts(d.path()), Limits::default()) {
        Err(StorageError::Refused(m)) => {
            assert!(
                m.contains("MANIFEST.json is missing but 1 chunk files exist"),
                "{m}"
            );
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("opened without a manifest"),
    }
    assert_eq!(chunks(), 1, "nothing deleted");
    // With the manifest back, everything is there.
    fs::write(&manifest, saved).unwrap();
    let store = Store::open(opts(d.path()), Limits::default()).unwrap();
    assert_eq!(store.stats().streams, 1);
}

/// A flipped byte in one block of a chunk file: queries of that stream
/// answer without it (not a 500 forever), the other streams are whole, the
/// compactor still runs for the tenant (retention and deletes keep
/// reaching disk) and keeps the damaged bytes under `quarantine/`.
#[test]
fn a_damaged_block_is_quarantined_not_fatal() {
    use crate::query::{Direction, LogQuery};
    let d = tempfile::tempdir().unwrap();
    let store = Store::open(opts(d.path()), Limits::default()).unwrap();
    let now = store.clock().now_ns();
    let batch = |app: &str, n: i64| PushStream {
        labels: vec![("app".into(), app.into())],
        entries: (0..n)
            .map(|i| lode_proto::Entry {
                ts: now - 1000 + i,
                line: format!("{app} line {i}"),
                structured_metadata: vec![],
            })
            .collect(),
    };
    store
        .push_sync("t", vec![batch("bad", 5), batch("good", 7)])
        .unwrap();
    store.flush().unwrap();
    drop(store);
    // Damage the first block's payload (the "bad" stream's: written first).
    let tdir = fs::read_dir(d.path().join("tenants"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let chunk = fs::read_dir(&tdir).unwrap().next().unwrap().unwrap().path();
    let file = crate::format::chunk_file::ChunkFile::open(&chunk, 0).unwrap();
    let victim = file
        .blocks
        .iter()
        .position(|b| file.streams[b.stream as usize].get("app") == Some("bad"))
        .unwrap();
    let at = file.blocks[victim].offset as usize + 3;
    drop(file);
    let mut bytes = fs::read(&chunk).unwrap();
    bytes[at] ^= 0xff;
    fs::write(&chunk, bytes).unwrap();

    let store = Store::open(opts(d.path()), Limits::default()).unwrap();
    let count = |store: &Store, sel: &str| {
        let p = lode_logql::pipeline::LogPipeline::new(&[]).unwrap();
        let m = match lode_logql::parse(sel).unwrap() {
            lode_logql::Expr::Log(l) => l.selector,
            _ => unreachable!(),
        };
        let q = LogQuery {
            matchers: &m,
            pipeline: &p,
            start: now - 10_000,
            end: now + 1,
            limit: 1000,
            direction: Direction::Forward,
        };
        store.query_logs("t", &q).map(|r| r.0.len())
    };
    for _ in 0..2 {
        assert_eq!(
            count(&store, r#"{app="bad"}"#).unwrap(),
            0,
            "the damaged block is left out"
        );
        assert_eq!(count(&store, r#"{app="good"}"#).unwrap(), 7);
    }
    assert!(crate::format::chunk_file::DAMAGED_BLOCKS.load(Ordering::Relaxed) >= 1);
    // Compaction of the tenant still runs (the one file alone is merged
    // only when it must be: force it with a second file).
    store.push_sync("t", vec![batch("good", 7)]).unwrap();
    store.flush().unwrap();
    let r = store.compact().unwrap();
    assert_eq!(r.files_in, 2, "{r:?}");
    let q = d.path().join("quarantine");
    let kept: Vec<_> = fs::read_dir(q.join(tdir.file_name().unwrap()))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(kept.len(), 1, "the damaged bytes are kept");
    assert_eq!(
        count(&store, r#"{app="good"}"#).unwrap(),
        7,
        "exact duplicates collapse"
    );
    drop(store);
    let store = Store::open(opts(d.path()), Limits::default()).unwrap();
    assert_eq!(count(&store, r#"{app="good"}"#).unwrap(), 7);
    assert_eq!(count(&store, r#"{app="bad"}"#).unwrap(), 0);
}
