//! Scalable mode inside one process: writers upload to an in-memory
//! bucket, readers follow it and the writers' feeds (called directly here;
//! the HTTP feed is tested end to end in `tests/scalable/`).

use super::*;
use crate::query::{Direction, LogQuery};
use lode_bucket::Bucket;
use lode_proto::{Entry, PushStream};

#[derive(Default)]
struct Direct {
    writers: Mutex<Vec<(String, Arc<Store>)>>,
}

impl std::fmt::Debug for Direct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Direct")
    }
}

impl FeedSource for Direct {
    fn writers(&self) -> Vec<String> {
        self.writers.lock().iter().map(|(u, _)| u.clone()).collect()
    }
    fn fetch(&self, url: &str, after: u64, max_bytes: usize) -> Result<FeedReply> {
        let w = self
            .writers
            .lock()
            .iter()
            .find(|(u, _)| u == url)
            .map(|(_, s)| s.clone());
        let w = w.ok_or_else(|| crate::StorageError::Unavailable(format!("{url} is down")))?;
        let (id, inc) = w.writer_identity();
        Ok(FeedReply {
            writer_id: id.to_string(),
            incarnation: inc.to_string(),
            page: w.feed_page(after, max_bytes)?,
        })
    }
}

fn writer(dir: &Path, bucket: &Arc<Bucket>) -> Arc<Store> {
    let opts = StoreOptions {
        data_dir: dir.to_path_buf(),
        fsync: false,
        delete_cancel_period: Duration::ZERO,
        remote: Some(Remote::Writer {
            bucket: bucket.clone(),
            evict_uploaded: true,
        }),
        ..Default::default()
    };
    Arc::new(Store::open(opts, Limits::default()).unwrap())
}

fn reader(dir: &Path, bucket: &Arc<Bucket>, feeds: &Arc<Direct>) -> Store {
    replica(dir, bucket, feeds, false)
}

fn replica(dir: &Path, bucket: &Arc<Bucket>, feeds: &Arc<Direct>, owns_deletes: bool) -> Store {
    let opts = StoreOptions {
        data_dir: dir.to_path_buf(),
        remote: Some(Remote::Reader {
            bucket: bucket.clone(),
            feeds: feeds.clone(),
            // The tests sync by hand.
            poll: Duration::from_secs(3600),
            owns_deletes,
        }),
        delete_cancel_period: Duration::ZERO,
        ..Default::default()
    };
    Store::open(opts, Limits::default()).unwrap()
}

fn push(store: &Store, n: usize, from: usize) {
    let now = store.clock().now_ns();
    let entries = (from..from + n)
        .map(|i| Entry {
            ts: now - 1_000_000_000 + i as i64,
            line: format!("line {i}"),
            structured_metadata: vec![],
        })
        .collect();
    store
        .push_sync(
            "t",
            vec![PushStream {
                labels: vec![("app".into(), "a".into())],
                entries,
            }],
        )
        .unwrap();
}

fn lines(store: &Store) -> Vec<String> {
    let p = lode_logql::pipeline::LogPipeline::new(&[]).unwrap();
    let m = match lode_logql::parse(r#"{app="a"}"#).unwrap() {
        lode_logql::Expr::Log(l) => l.selector,
        _ => unreachable!(),
    };
    let now = store.clock().now_ns();
    let q = LogQuery {
        matchers: &m,
        pipeline: &p,
        start: now - 3_600_000_000_000,
        end: now + 1,
        limit: 100_000,
        direction: Direction::Forward,
    };
    let mut v: Vec<String> = store
        .query_logs("t", &q)
        .unwrap()
        .0
        .into_iter()
        .map(|h| h.entry.line.to_string())
        .collect();
    v.sort();
    v
}

fn expected(n: usize) -> Vec<String> {
    let mut v: Vec<String> = (0..n).map(|i| format!("line {i}")).collect();
    v.sort();
    v
}

/// Every sample counted by a metric query too, not only log lines (which
/// collapse exact duplicates and so would hide a double count).
fn counted(store: &Store) -> u64 {
    store.stats();
    let t = store.tenant("t").unwrap();
    let t = t.read();
    t.streams
        .iter()
        .map(|s| s.blocks.iter().map(|b| u64::from(b.entries())).sum::<u64>() + s.head.len() as u64)
        .sum()
}

#[test]
fn a_reader_sees_every_entry_once_through_flushes_compactions_and_restarts() {
    let bucket = Arc::new(Bucket::in_memory(64 << 20).unwrap());
    let (wd, rd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let feeds = Arc::new(Direct::default());
    let w = writer(wd.path(), &bucket);
    feeds.writers.lock().push(("w".into(), w.clone()));
    let r = reader(rd.path(), &bucket, &feeds);

    push(&w, 10, 0);
    r.sync_replica();
    assert_eq!(
        lines(&r),
        expected(10),
        "acknowledged, not flushed: from the feed"
    );

    w.flush().unwrap();
    push(&w, 5, 10);
    r.sync_replica();
    assert_eq!(lines(&r), expected(15), "whether or not the upload ran yet");
    w.upload_now().unwrap();
    r.sync_replica();
    assert_eq!(lines(&r), expected(15));
    assert_eq!(counted(&r), 15, "nothing twice while the bucket holds part");
    assert_eq!(r.replica_status().writers[0].files, 1);

    // Uploaded files left the writer's disk; their footers stayed.
    let local = |ext: &str| {
        fs::read_dir(crate::layout::tenant_dir(wd.path(), "t"))
            .unwrap()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == ext))
            .count()
    };
    assert_eq!((local("chunk"), local("tail")), (0, 1));

    w.flush().unwrap();
    let report = w.compact().unwrap();
    assert_eq!(
        report.files_in, 2,
        "a remote input is compacted like a local one"
    );
    w.upload_now().unwrap();
    assert_eq!((local("chunk"), local("tail")), (0, 1));
    r.sync_replica();
    assert_eq!(lines(&r), expected(15));
    assert_eq!(counted(&r), 15, "compacted files replace their inputs");

    // A restart: the new process serves the same prefix; the reader keeps
    // every entry once across it (a kill is tested with real processes in
    // `tests/scalable/`).
    push(&w, 5, 15);
    r.sync_replica();
    feeds.writers.lock().clear();
    drop(w);
    let w = writer(wd.path(), &bucket);
    feeds.writers.lock().push(("w".into(), w.clone()));
    push(&w, 5, 20);
    r.sync_replica();
    assert_eq!(lines(&r), expected(25));
    assert_eq!(counted(&r), 25);
}

/// Two writers on one in-memory bucket, their feeds, and two spare
/// directories for readers.
struct TwoWriters {
    bucket: Arc<Bucket>,
    feeds: Arc<Direct>,
    w1: Arc<Store>,
    w2: Arc<Store>,
    dirs: Vec<tempfile::TempDir>,
}

impl TwoWriters {
    fn new() -> TwoWriters {
        let bucket = Arc::new(Bucket::in_memory(64 << 20).unwrap());
        let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
        let feeds = Arc::new(Direct::default());
        let w1 = writer(dirs[2].path(), &bucket);
        let w2 = writer(dirs[3].path(), &bucket);
        feeds.writers.lock().push(("w1".into(), w1.clone()));
        feeds.writers.lock().push(("w2".into(), w2.clone()));
        TwoWriters {
            bucket,
            feeds,
            w1,
            w2,
            dirs,
        }
    }
}

#[test]
fn two_writers_are_read_as_one_store() {
    let c = TwoWriters::new();
    let (w1, w2) = (&c.w1, &c.w2);
    let r = reader(c.dirs[0].path(), &c.bucket, &c.feeds);
    for i in 0..20 {
        push(if i % 2 == 0 { w1 } else { w2 }, 1, i);
        if i == 7 {
            w1.flush().unwrap();
        }
        if i == 12 {
            w2.flush().unwrap();
            w2.upload_now().unwrap();
            r.sync_replica();
        }
    }
    r.sync_replica();
    assert_eq!(lines(&r), expected(20));
    assert_eq!(counted(&r), 20);
    assert_eq!(r.replica_status().writers.len(), 2);
}

#[test]
fn wal_is_kept_until_the_bucket_holds_it() {
    let bucket = Arc::new(Bucket::in_memory(0).unwrap());
    let wd = tempfile::tempdir().unwrap();
    let w = writer(wd.path(), &bucket);
    push(&w, 3, 0);
    // Flush locally before the uploader ever reached the bucket: the
    // records stay in the WAL and the feed.
    *w.inner.upload_tx.lock() = None;
    w.inner.flush().unwrap();
    match w.feed_page(0, 1 << 20).unwrap() {
        FeedPage::Records { last_seq, .. } => assert_eq!(last_seq, 1),
        p => panic!("{p:?}"),
    }
    w.upload_now().unwrap();
    assert_eq!(
        w.feed_page(0, 1 << 20).unwrap(),
        FeedPage::Gone { uploaded: 1 }
    );
    match w.feed_page(1, 1 << 20).unwrap() {
        FeedPage::Records { frames, .. } => assert!(frames.is_empty()),
        p => panic!("{p:?}"),
    }
}

#[test]
fn the_backends_delete_requests_hide_entries_on_readers_and_writers_carry_them_out() {
    let c = TwoWriters::new();
    let (w1, w2) = (&c.w1, &c.w2);
    let r = reader(c.dirs[0].path(), &c.bucket, &c.feeds);
    let backend = replica(c.dirs[1].path(), &c.bucket, &c.feeds, true);
    push(w1, 10, 0);
    push(w2, 10, 10);
    for w in [w1, w2] {
        w.flush().unwrap();
        w.upload_now().unwrap();
    }
    r.sync_replica();
    backend.sync_replica();
    assert_eq!(lines(&r).len(), 20);
    assert!(
        r.add_delete("t", r#"{app="a"} |= "line 1""#, 0, i64::MAX)
            .is_err(),
        "readers send deletes to the backend"
    );
    let now = backend.clock().now_ns();
    let req = backend
        .add_delete(
            "t",
            r#"{app="a"} |= "line 1""#,
            now - 3_600_000_000_000,
            now,
        )
        .unwrap();
    // "line 1" and "line 10".."line 19": 11 entries, on both writers.
    r.sync_replica();
    assert_eq!(lines(&r).len(), 9, "hidden on a reader at once");
    for w in [w1, w2] {
        w.upload_now().unwrap();
        let rep = w.compact().unwrap();
        assert!(rep.deleted_entries > 0, "{rep:?}");
        w.upload_now().unwrap();
    }
    backend.sync_replica();
    let listed = backend.list_deletes("t");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].request_id, req.request_id);
    assert_eq!(
        listed[0].status,
        crate::delete::DeleteStatus::Processed,
        "every writer did it"
    );
    r.sync_replica();
    assert_eq!(lines(&r).len(), 9, "gone from the files, not only hidden");
    assert_eq!(counted(&r), 9);
}
