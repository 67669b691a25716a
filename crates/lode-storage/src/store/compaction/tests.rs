//! Store-level tests of retention, deletes, compaction, rate limits, disk
//! full and query cancellation, on an injected clock.

use crate::clock::FakeClock;
use crate::error::StorageError;
use crate::format::chunk_file::ChunkFile;
use crate::format::manifest::Manifest;
use crate::ingest::Limits;
use crate::layout::chunk_path;
use crate::query::{Direction, LogQuery};
use crate::retention::{Retention, RetentionRule};
use crate::store::{Store, StoreOptions};
use lode_logql::ast::Expr;
use lode_logql::pipeline::LogPipeline;
use lode_proto::{Entry, PushStream};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const S: i64 = 1_000_000_000;
const H: i64 = 3600 * S;
const D: i64 = 24 * H;
const T0: i64 = 1_700_000_000 * S;

fn open(dir: &std::path::Path, clock: Arc<FakeClock>, limits: Limits) -> Store {
    let opts = StoreOptions {
        data_dir: dir.to_path_buf(),
        fsync: false,
        flush_interval: Duration::from_secs(3600),
        compaction_interval: Duration::from_secs(3600),
        delete_cancel_period: Duration::ZERO,
        clock,
        ..Default::default()
    };
    Store::open(opts, limits).unwrap()
}

fn limits() -> Limits {
    Limits {
        reject_old_samples: false,
        out_of_order_window: 0,
        retention: Arc::new(Retention {
            period: 720 * H,
            rules: vec![RetentionRule::new(r#"{app="short"}"#, 1, 24 * H).unwrap()],
        }),
        ..Default::default()
    }
}

fn stream(app: &str, entries: &[(i64, &str)]) -> PushStream {
    PushStream {
        labels: vec![("app".into(), app.into())],
        entries: entries
            .iter()
            .map(|(ts, l)| Entry {
                ts: *ts,
                line: l.to_string(),
                structured_metadata: vec![],
            })
            .collect(),
    }
}

/// Lines a query returns over all time, oldest first.
fn lines(store: &Store, query: &str) -> Vec<String> {
    let Expr::Log(l) = lode_logql::parse(query).unwrap() else {
        panic!("not a log query")
    };
    let p = LogPipeline::new(&l.pipeline).unwrap();
    let q = LogQuery {
        matchers: &l.selector,
        pipeline: &p,
        start: 0,
        end: i64::MAX,
        limit: 100_000,
        direction: Direction::Forward,
    };
    let (hits, _) = store.query_logs("fake", &q).unwrap();
    hits.into_iter().map(|h| h.entry.line.to_string()).collect()
}

/// Entries per stream label value of `app` in the live chunk files on disk.
fn on_disk(dir: &std::path::Path) -> HashMap<String, u32> {
    let m = Manifest::load(dir).unwrap();
    let mut out = HashMap::new();
    for f in &m.files {
        let cf = ChunkFile::open(&chunk_path(dir, &f.tenant, f.id), f.id).unwrap();
        for b in &cf.blocks {
            let app = cf.streams[b.stream as usize]
                .get("app")
                .unwrap_or_default()
                .to_string();
            *out.entry(app).or_default() += b.entries;
        }
    }
    out
}

fn chunk_files(dir: &std::path::Path) -> usize {
    crate::format::manifest::Manifest::load(dir)
        .unwrap()
        .files
        .len()
}

#[test]
fn retention_hides_at_once_and_the_compactor_removes_from_disk() {
    let d = tempfile::tempdir().unwrap();
    let clock = FakeClock::new(T0);
    let store = open(d.path(), clock.clone(), limits());
    store
        .push_sync(
            "fake",
            vec![
                stream(
                    "short",
                    &[(T0 - 10 * 60 * S, "s1"), (T0 - 5 * 60 * S, "s2")],
                ),
                stream("long", &[(T0 - 10 * 60 * S, "l1")]),
            ],
        )
        .unwrap();
    store.flush().unwrap();
    assert_eq!(lines(&store, r#"{app="short"}"#), ["s1", "s2"]);

    // Two days later the 24h rule has expired `short`, the 720h default not `long`.
    clock.set(T0 + 2 * D);
    store
        .push_sync("fake", vec![stream("short", &[(T0 + 2 * D - S, "s3")])])
        .unwrap();
    assert_eq!(lines(&store, r#"{app="short"}"#), ["s3"]);
    assert_eq!(lines(&store, r#"{app="long"}"#), ["l1"]);
    assert_eq!(
        store.series("fake", &[], 0, i64::MAX).unwrap().len(),
        2,
        "both streams still have visible data"
    );
    assert_eq!(
        on_disk(d.path())["short"],
        2,
        "not removed before compaction"
    );

    let r = store.compact().unwrap();
    assert_eq!(r.expired_entries, 2);
    assert_eq!(on_disk(d.path()).get("short").copied().unwrap_or(0), 0);
    assert_eq!(on_disk(d.path())["long"], 1);
    assert_eq!(lines(&store, r#"{app="short"}"#), ["s3"]);
    assert_eq!(lines(&store, r#"{app="long"}"#), ["l1"]);

    // Past 30 days everything pushed at T0 is gone from answers and labels.
    clock.set(T0 + 31 * D);
    assert!(lines(&store, r#"{app="long"}"#).is_empty());
    assert!(store
        .label_values("fake", "app", None, 0, i64::MAX)
        .unwrap()
        .is_empty());
    store.compact().unwrap();
    assert!(on_disk(d.path()).values().all(|n| *n == 0));

    // After a restart the same holds.
    drop(store);
    let store = open(d.path(), clock.clone(), limits());
    assert!(lines(&store, r#"{app="long"}"#).is_empty());
    assert!(lines(&store, r#"{app="short"}"#).is_empty());
}

#[test]
fn deletes_hide_at_once_cancel_restores_and_compaction_removes() {
    let d = tempfile::tempdir().unwrap();
    let clock = FakeClock::new(T0);
    let mut l = limits();
    l.retention = Arc::new(Retention::forever());
    let opts = StoreOptions {
        data_dir: d.path().to_path_buf(),
        fsync: false,
        flush_interval: Duration::from_secs(3600),
        compaction_interval: Duration::from_secs(3600),
        delete_cancel_period: Duration::from_secs(3600),
        clock: clock.clone(),
        ..Default::default()
    };
    let store = Store::open(opts, l).unwrap();
    let entries: Vec<(i64, String)> = (0..10)
        .map(|i| {
            (
                T0 - 100 * S + i * S,
                format!("line {i} {}", if i % 2 == 0 { "secret" } else { "public" }),
            )
        })
        .collect();
    let refs: Vec<(i64, &str)> = entries.iter().map(|(t, l)| (*t, l.as_str())).collect();
    store
        .push_sync("fake", vec![stream("a", &refs), stream("b", &refs[..2])])
        .unwrap();
    store.flush().unwrap();
    // Memory-only entries are hidden too.
    store
        .push_sync("fake", vec![stream("a", &[(T0 - S / 2, "late secret")])])
        .unwrap();
    let req = store
        .add_delete("fake", r#"{app="a"} |= "secret""#, T0 - 99 * S, T0)
        .unwrap();
    let a = lines(&store, r#"{app="a"}"#);
    assert_eq!(a.len(), 6, "{a:?}");
    // "line 0 secret" is before the request's range; the others in it go.
    let secrets: Vec<&String> = a.iter().filter(|l| l.contains("secret")).collect();
    assert_eq!(secrets, ["line 0 secret"]);
    assert_eq!(lines(&store, r#"{app="b"}"#).len(), 2);
    assert_eq!(
        store.cancel_delete("fake", &req.request_id).unwrap(),
        Ok(())
    );
    assert_eq!(lines(&store, r#"{app="a"}"#).len(), 11);

    let req = store
        .add_delete("fake", r#"{app="a"} |= "secret""#, T0 - 99 * S, T0)
        .unwrap();
    assert_eq!(lines(&store, r#"{app="a"}"#).len(), 6);
    // Within the cancel period the compactor leaves it alone.
    let r = store.compact().unwrap();
    assert_eq!(r.processed_requests, 0);
    clock.advance(2 * H);
    let r = store.compact().unwrap();
    assert_eq!(r.processed_requests, 1);
    assert_eq!(
        r.deleted_entries, 5,
        "4 flushed before, 1 flushed by the pass"
    );
    assert_eq!(on_disk(d.path())["a"], 6);
    assert_eq!(lines(&store, r#"{app="a"}"#).len(), 6);
    let listed = store.list_deletes("fake");
    assert_eq!(listed[0].status, crate::delete::DeleteStatus::Processed);
    assert_eq!(
        store.cancel_delete("fake", &req.request_id).unwrap(),
        Err(crate::delete::CancelError::AlreadyProcessed)
    );
}

#[test]
fn compaction_merges_small_files_while_queries_run() {
    let d = tempfile::tempdir().unwrap();
    let clock = FakeClock::new(T0);
    let store = Arc::new(open(d.path(), clock, limits()));
    let mut n = 0;
    for round in 0..6 {
        let es: Vec<(i64, String)> = (0..50)
            .map(|i| (T0 - H + (round * 50 + i) * S, format!("r{round} e{i}")))
            .collect();
        let refs: Vec<(i64, &str)> = es.iter().map(|(t, l)| (*t, l.as_str())).collect();
        store
            .push_sync(
                "fake",
                vec![stream("long", &refs), stream("other", &refs[..5])],
            )
            .unwrap();
        n += 50;
        store.flush().unwrap();
    }
    assert_eq!(chunk_files(d.path()), 6);
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut runs = 0;
            while !stop.load(Ordering::Relaxed) || runs == 0 {
                assert_eq!(lines(&store, r#"{app="long"}"#).len(), n);
                runs += 1;
            }
            runs
        })
    };
    let r = store.compact().unwrap();
    stop.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    assert_eq!(r.files_in, 6);
    assert_eq!(r.files_out, 1);
    assert_eq!(chunk_files(d.path()), 1);
    let tenant_dir = crate::layout::tenant_dir(d.path(), "fake");
    assert_eq!(
        std::fs::read_dir(&tenant_dir).unwrap().count(),
        1,
        "old files deleted"
    );
    let all = lines(&store, r#"{app="long"}"#);
    assert_eq!(all.len(), n);
    assert_eq!(all[0], "r0 e0");
    // Nothing more to do: a second pass changes nothing.
    assert_eq!(store.compact().unwrap().files_in, 0);
    drop(store);
    let store = open(d.path(), FakeClock::new(T0), limits());
    assert_eq!(lines(&store, r#"{app="long"}"#).len(), n);
    assert_eq!(lines(&store, r#"{app="other"}"#).len(), 30);
}

#[test]
fn ingestion_rate_limit_refuses_whole_pushes_until_tokens_return() {
    let d = tempfile::tempdir().unwrap();
    let clock = FakeClock::new(T0);
    let l = Limits {
        ingestion_rate_bytes: 100.0,
        ingestion_burst_bytes: 200.0,
        ..limits()
    };
    let store = open(d.path(), clock.clone(), l);
    let line = "x".repeat(150);
    store
        .push_sync("fake", vec![stream("a", &[(T0, &line)])])
        .unwrap();
    let e = store
        .push_sync("fake", vec![stream("a", &[(T0 + 1, &line)])])
        .unwrap_err();
    let StorageError::RateLimited(msg) = e else {
        panic!("{e:?}")
    };
    assert_eq!(msg, "ingestion rate limit exceeded for user fake (limit: 100 bytes/sec) while attempting to ingest '1' lines totaling '150' bytes, reduce log volume or contact your Loki administrator to see if the limit can be increased");
    assert_eq!(lines(&store, r#"{app="a"}"#).len(), 1);
    clock.advance(2 * S);
    store
        .push_sync("fake", vec![stream("a", &[(T0 + 2, &line)])])
        .unwrap();
    assert_eq!(lines(&store, r#"{app="a"}"#).len(), 2);
}

#[test]
fn disk_full_refuses_pushes_and_recovers_without_losing_data() {
    let d = tempfile::tempdir().unwrap();
    let clock = FakeClock::new(T0);
    let full = Arc::new(AtomicBool::new(false));
    let opts = StoreOptions {
        data_dir: d.path().to_path_buf(),
        fsync: true,
        inject_disk_full: full.clone(),
        clock: clock.clone(),
        ..Default::default()
    };
    let store = Store::open(opts.clone(), limits()).unwrap();
    store
        .push_sync("fake", vec![stream("a", &[(T0, "before")])])
        .unwrap();
    full.store(true, Ordering::SeqCst);
    for i in 0..3 {
        let e = store
            .push_sync("fake", vec![stream("a", &[(T0 + i + 1, "during")])])
            .unwrap_err();
        assert!(matches!(e, StorageError::DiskFull(_)), "{e:?}");
    }
    assert_eq!(store.counters().disk_full_errors.load(Ordering::Relaxed), 3);
    full.store(false, Ordering::SeqCst);
    store
        .push_sync("fake", vec![stream("a", &[(T0 + 10, "after")])])
        .unwrap();
    assert_eq!(lines(&store, r#"{app="a"}"#), ["before", "after"]);
    drop(store);
    let store = Store::open(opts, limits()).unwrap();
    assert_eq!(lines(&store, r#"{app="a"}"#), ["before", "after"]);
}

#[test]
fn cancelled_queries_stop_reading() {
    let d = tempfile::tempdir().unwrap();
    let store = open(d.path(), FakeClock::new(T0), limits());
    store
        .push_sync("fake", vec![stream("a", &[(T0, "x")])])
        .unwrap();
    store.flush().unwrap();
    let ctx = crate::cancel::QueryContext::new(None, 0);
    ctx.cancel();
    let _g = crate::cancel::enter(ctx);
    let Expr::Log(l) = lode_logql::parse(r#"{app="a"}"#).unwrap() else {
        unreachable!()
    };
    let p = LogPipeline::new(&[]).unwrap();
    let q = LogQuery {
        matchers: &l.selector,
        pipeline: &p,
        start: 0,
        end: i64::MAX,
        limit: 10,
        direction: Direction::Backward,
    };
    assert!(matches!(
        store.query_logs("fake", &q),
        Err(StorageError::Cancelled)
    ));
}

#[test]
fn query_lookback_hides_older_data() {
    let d = tempfile::tempdir().unwrap();
    let l = Limits {
        max_query_lookback: Duration::from_secs(3600),
        ..limits()
    };
    let store = open(d.path(), FakeClock::new(T0), l);
    store
        .push_sync(
            "fake",
            vec![stream("a", &[(T0 - 2 * H, "old"), (T0 - 60 * S, "new")])],
        )
        .unwrap();
    assert_eq!(lines(&store, r#"{app="a"}"#), ["new"]);
}

fn tenant_chunk_bytes(dir: &std::path::Path) -> u64 {
    crate::layout::tenant_dir(dir, "fake")
        .read_dir()
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "chunk"))
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

#[test]
fn cold_blocks_are_recompressed_once_and_read_the_same() {
    let d = tempfile::tempdir().unwrap();
    let clock = FakeClock::new(T0);
    let opts = StoreOptions {
        data_dir: d.path().to_path_buf(),
        fsync: false,
        flush_interval: Duration::from_secs(3600),
        compaction_interval: Duration::from_secs(3600),
        block_target_bytes: 16 * 1024,
        recompress_after: Some(Duration::from_secs(48 * 3600)),
        recompress_level: 12,
        clock: clock.clone(),
        ..Default::default()
    };
    let store = Store::open(opts.clone(), limits()).unwrap();
    // Lines of a homelab shape: repetitive, with varying numbers.
    let lines_in: Vec<String> = (0..20_000)
        .map(|i| {
            format!(
                "level=info ts=2023-11-14T22:13:{:02}Z caller=proxy.go:{} msg=\"request done\" path=/api/v1/items/{} status={} took={}ms",
                i % 60,
                100 + i % 7,
                i * 7919 % 100_000,
                if i % 13 == 0 { 500 } else { 200 },
                i % 250
            )
        })
        .collect();
    let entries: Vec<(i64, &str)> = lines_in
        .iter()
        .enumerate()
        .map(|(i, l)| (T0 + i as i64 * 1_000_000, l.as_str()))
        .collect();
    store
        .push_sync("fake", vec![stream("api", &entries)])
        .unwrap();
    store.flush().unwrap();
    let fresh = tenant_chunk_bytes(d.path());
    // Younger than recompress_after: nothing to do.
    clock.set(T0 + D);
    assert_eq!(store.compact().unwrap().recompressed_blocks, 0);
    assert_eq!(tenant_chunk_bytes(d.path()), fresh);
    // Past it: every block rewritten at level 12, once.
    clock.set(T0 + 3 * D);
    let r = store.compact().unwrap();
    assert!(r.recompressed_blocks > 1, "{r:?}");
    let cold = tenant_chunk_bytes(d.path());
    assert!(cold < fresh, "recompressed {cold} B, fresh {fresh} B");
    // After a flush and a compaction the directory is its chunk files and
    // little else: no WAL left behind, no leftover inputs.
    let all: u64 = walk_bytes(d.path());
    assert!(
        all * 10 <= cold * 11,
        "data dir {all} B for {cold} B of chunk files"
    );
    let m = Manifest::load(d.path()).unwrap();
    assert!(m.files.iter().all(|f| f.zstd_level == Some(12)), "{m:?}");
    assert_eq!(lines(&store, r#"{app="api"}"#), lines_in);
    assert_eq!(
        lines(&store, r#"{app="api"} |= "status=500""#).len(),
        20_000 / 13 + 1
    );
    // A second pass leaves them alone, and so does a restart.
    assert_eq!(store.compact().unwrap(), Default::default());
    drop(store);
    let store = Store::open(opts, limits()).unwrap();
    assert_eq!(store.compact().unwrap(), Default::default());
    assert_eq!(lines(&store, r#"{app="api"}"#).len(), 20_000);
}

fn walk_bytes(p: &std::path::Path) -> u64 {
    let mut n = 0;
    for e in std::fs::read_dir(p).unwrap().flatten() {
        let m = e.metadata().unwrap();
        n += if m.is_dir() {
            walk_bytes(&e.path())
        } else {
            m.len()
        };
    }
    n
}
