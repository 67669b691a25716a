//! Heads past their memory budget are cut into blocks, largest first.

use super::*;
use crate::query::Direction;
use lode_logql::pipeline::LogPipeline;
use lode_logql::LabelSet;
use lode_proto::Entry;
use lode_proto::PushStream;

/// Heads past half of `max_unflushed_bytes` are compressed largest
/// first without a flush; every entry stays readable exactly once, also
/// after a restart that replays the WAL over those blocks.
#[test]
fn heads_are_cut_largest_first_without_flushing() {
    let dir = tempfile::tempdir().unwrap();
    let opts = StoreOptions {
        data_dir: dir.path().to_path_buf(),
        fsync: false,
        block_target_bytes: 1 << 20,
        max_unflushed_bytes: 256 << 10,
        flush_interval: std::time::Duration::from_secs(3600),
        ..Default::default()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let base = now - 3_600_000_000_000;
    let store = Store::open(opts.clone(), Limits::default()).unwrap();
    // Stream 0 is busy, the other 19 are quiet.
    for round in 0..40i64 {
        let streams: Vec<PushStream> = (0..20)
            .map(|s| PushStream {
                labels: vec![("app".into(), format!("a{s}"))],
                entries: (0..if s == 0 { 40 } else { 2 })
                    .map(|i| Entry {
                        ts: base + (round * 100 + i) * 1_000_000,
                        line: format!("round {round} entry {i} of stream {s} {}", "x".repeat(90)),
                        structured_metadata: vec![],
                    })
                    .collect(),
            })
            .collect();
        store.push_sync("t", streams).unwrap();
        let heads = store.inner.head_raw.load(Ordering::Relaxed);
        assert!(
            heads <= 128 << 10,
            "round {round}: heads hold {heads} bytes"
        );
    }
    assert_eq!(store.inner.counters.flushes.load(Ordering::Relaxed), 0);
    let busy_blocks = {
        let t = store.inner.tenant("t").unwrap();
        let t = t.read();
        let id = t.lookup(&LabelSet::from_pairs([("app", "a0")])).unwrap();
        t.streams[id as usize].blocks.len()
    };
    assert!(
        busy_blocks >= 2,
        "the busy stream was cut {busy_blocks} times"
    );
    let count = |store: &Store| {
        let p = LogPipeline::new(&[]).unwrap();
        let q = LogQuery {
            matchers: &lode_logql::parse("{app=~\".+\"}")
                .map(|e| match e {
                    lode_logql::Expr::Log(l) => l.selector,
                    _ => unreachable!(),
                })
                .unwrap(),
            pipeline: &p,
            start: base - 1,
            end: now,
            limit: 100_000,
            direction: Direction::Forward,
        };
        store.query_logs("t", &q).unwrap().0.len()
    };
    let expected = 40 * (40 + 19 * 2);
    assert_eq!(count(&store), expected);
    drop(store);
    let store = Store::open(opts, Limits::default()).unwrap();
    assert_eq!(count(&store), expected);
}
