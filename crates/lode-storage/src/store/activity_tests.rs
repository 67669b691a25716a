//! Active streams (`chunk_idle_period`) and the WAL a flush leaves behind.

use super::*;
use crate::clock::FakeClock;
use crate::error::StorageError;
use crate::format::wal;
use lode_proto::Entry;
use lode_proto::PushStream;
use std::sync::atomic::AtomicBool;

const S: i64 = 1_000_000_000;
const T0: i64 = 1_767_225_600 * S;

fn open(dir: &Path, clock: Arc<FakeClock>, limit: usize) -> Store {
    let opts = StoreOptions {
        data_dir: dir.to_path_buf(),
        fsync: false,
        flush_interval: Duration::from_secs(3600),
        compaction_interval: Duration::from_secs(3600),
        chunk_idle_period: Duration::from_secs(30 * 60),
        clock,
        ..Default::default()
    };
    let limits = Limits {
        reject_old_samples: false,
        max_streams_per_user: limit,
        ..Default::default()
    };
    Store::open(opts, limits).unwrap()
}

fn streams(prefix: &str, n: usize, ts: i64) -> Vec<PushStream> {
    (0..n)
        .map(|i| PushStream {
            labels: vec![("pod".into(), format!("{prefix}-{i}"))],
            entries: vec![Entry {
                ts,
                line: format!("line of {prefix}-{i}"),
                structured_metadata: vec![],
            }],
        })
        .collect()
}

fn refused(r: Result<()>) -> bool {
    match r {
        Err(StorageError::RateLimited(m)) => {
            assert!(m.starts_with("maximum active stream limit exceeded"), "{m}");
            true
        }
        Ok(()) => false,
        Err(e) => panic!("unexpected error {e}"),
    }
}

/// An idle stream stops counting against the limit, also after a restart
/// that replays it from the WAL (no flush in between) and after one that
/// reads it from chunk files; active ones keep counting across restarts.
#[test]
fn idle_streams_stop_counting_also_after_restart() {
    let d = tempfile::tempdir().unwrap();
    let clock = FakeClock::new(T0);
    let store = open(d.path(), clock.clone(), 5);
    store.push_sync("t", streams("a", 5, T0)).unwrap();
    assert!(refused(store.push_sync("t", streams("b", 1, T0))));
    // A known active stream is not new.
    store.push_sync("t", streams("a", 1, T0 + 1)).unwrap();

    // 31 minutes later `a-*` are idle; restart from the WAL alone.
    clock.set(T0 + 31 * 60 * S);
    drop(store_without_flush(store));
    let store = open(d.path(), clock.clone(), 5);
    assert_eq!(store.stats().active_streams, 0);
    store
        .push_sync("t", streams("b", 5, T0 + 31 * 60 * S))
        .unwrap();
    assert!(refused(
        store.push_sync("t", streams("c", 1, T0 + 31 * 60 * S))
    ));
    // An idle stream pushed again is created anew: it counts again.
    assert!(refused(
        store.push_sync("t", streams("a", 1, T0 + 31 * 60 * S))
    ));

    // Restart 10 minutes later: `b-*` are still active (from the WAL).
    clock.set(T0 + 41 * 60 * S);
    drop(store_without_flush(store));
    let store = open(d.path(), clock.clone(), 5);
    assert_eq!(store.stats().active_streams, 5);
    assert!(refused(
        store.push_sync("t", streams("c", 1, T0 + 41 * 60 * S))
    ));

    // After a flush the data is in chunk files; an hour on, nothing counts.
    store.flush().unwrap();
    clock.set(T0 + 2 * 3600 * S);
    drop(store);
    let store = open(d.path(), clock.clone(), 5);
    assert_eq!(store.stats().active_streams, 0);
    store
        .push_sync("t", streams("c", 5, T0 + 2 * 3600 * S))
        .unwrap();
    // Without a restart, the sweep retires idle streams as time passes.
    clock.set(T0 + 3 * 3600 * S);
    store
        .push_sync("t", streams("d", 5, T0 + 3 * 3600 * S))
        .unwrap();
    assert_eq!(store.stats().active_streams, 5);
    assert_eq!(store.stats().streams, 20, "all streams' data is kept");
}

/// Stops the store's threads without the flush `shutdown` does, like a
/// crash: what it holds survives only in the WAL.
fn store_without_flush(store: Store) -> Store {
    store.inner.writer_tx.lock().take();
    store.inner.flush_tx.lock().take();
    store.inner.compact_tx.lock().take();
    let threads: Vec<_> = store.threads.lock().drain(..).collect();
    for t in threads {
        t.join().unwrap();
    }
    store
}

/// A flush deletes the WAL segment it covers at once, not at the next push.
#[test]
fn flush_removes_the_covered_wal_segment() {
    let d = tempfile::tempdir().unwrap();
    let clock = FakeClock::new(T0);
    let store = open(d.path(), clock.clone(), 100);
    for i in 0..3 {
        store.push_sync("t", streams("a", 10, T0 + i)).unwrap();
    }
    let wal_bytes = || dir_size(&d.path().join("wal"));
    assert!(wal_bytes() > 0);
    store.flush().unwrap();
    assert_eq!(wal_bytes(), 0, "no WAL left behind after a flush");
    store.push_sync("t", streams("a", 10, T0 + 10)).unwrap();
    assert!(wal_bytes() > 0);
    drop(store_without_flush(store));
    let store = open(d.path(), clock, 100);
    assert_eq!(
        store.index_stats("t", &[], T0, T0 + 100).unwrap().entries,
        40,
        "nothing lost, nothing doubled"
    );
}

/// After a failed fsync the push is refused, nothing more is written to
/// that segment, the next push goes to a new one, and what was
/// acknowledged survives a crash.
#[test]
fn a_failed_fsync_refuses_the_push_and_moves_to_a_new_segment() {
    let d = tempfile::tempdir().unwrap();
    let clock = FakeClock::new(T0);
    let fail = Arc::new(AtomicBool::new(false));
    let opts = StoreOptions {
        data_dir: d.path().to_path_buf(),
        fsync: true,
        flush_interval: Duration::from_secs(3600),
        clock: clock.clone(),
        inject_fsync_failure: fail.clone(),
        ..Default::default()
    };
    let store = Store::open(opts.clone(), Limits::default()).unwrap();
    store.push_sync("t", streams("a", 1, T0)).unwrap();
    let segments = || wal::list_segments(&d.path().join("wal")).unwrap().len();
    assert_eq!(segments(), 1);
    fail.store(true, Ordering::SeqCst);
    assert!(store.push_sync("t", streams("b", 1, T0 + 1)).is_err());
    fail.store(false, Ordering::SeqCst);
    store.push_sync("t", streams("c", 1, T0 + 2)).unwrap();
    assert_eq!(segments(), 2, "the next push went to a new segment");
    assert_eq!(
        store.counters().wal_write_failures.load(Ordering::Relaxed),
        1
    );
    drop(store_without_flush(store));
    let store = Store::open(opts, Limits::default()).unwrap();
    let pods = store
        .label_values("t", "pod", None, T0 - 1, T0 + 10)
        .unwrap();
    assert_eq!(pods, ["a-0", "c-0"], "acknowledged pushes only");
}

#[test]
fn a_refused_push_lists_at_most_ten_refusals() {
    let d = tempfile::tempdir().unwrap();
    let store = open(d.path(), FakeClock::new(T0), 5);
    let err = store.push_sync("fake", streams("p", 2000, T0)).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StorageError::RateLimited(_)), "{msg}");
    assert_eq!(
        msg.lines().filter(|l| l.contains("stream limit")).count(),
        10,
        "{msg}"
    );
    assert!(msg.ends_with("(and 1985 more errors)"), "{msg}");
    assert!(msg.len() < 4096, "{} bytes", msg.len());
}

#[test]
fn one_push_may_create_100k_streams() {
    // Validation used `Vec::contains` per new stream: 100k streams took a
    // minute. Now a set: this runs in about a second even in a debug build.
    let d = tempfile::tempdir().unwrap();
    let store = open(d.path(), FakeClock::new(T0), 200_000);
    store.push_sync("fake", streams("p", 100_000, T0)).unwrap();
    assert_eq!(store.stats().streams, 100_000);
}
