//! Start-up refusals that keep data safe: a second process on the data
//! directory, and chunk files without a manifest.

use super::*;

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
