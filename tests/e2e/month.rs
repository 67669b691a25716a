//! A month in a homelab, on the store's injectable clock: 35 days of K3s
//! churn replayed in order — DaemonSets on 3 nodes whose pods are replaced
//! at every rollout, Deployments rolling every few days, 10 CronJobs every
//! 15 minutes whose pods live a minute — with retention 720h and a stream
//! limit far below the number of distinct streams the month creates but
//! above what is ever active at once.
//!
//! It asserts what a user of a month-old Lode relies on: no push refused,
//! every day's count exact, nothing returned or kept on disk past
//! retention, `/series` and `/labels` right for windows, a bounded number
//! of chunk files, and all of it unchanged after a restart. The limit still
//! refuses a burst of new streams beyond it.

use lode_logql::ast::{Expr, Matcher};
use lode_logql::pipeline::LogPipeline;
use lode_proto::{Entry, PushStream};
use lode_storage::clock::{Clock, FakeClock};
use lode_storage::format::chunk_file::ChunkFile;
use lode_storage::retention::Retention;
use lode_storage::{Direction, Limits, LogQuery, StorageError, Store, StoreOptions};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const S: i64 = 1_000_000_000;
const M: i64 = 60 * S;
const H: i64 = 60 * M;
const D: i64 = 24 * H;
/// 2026-01-01T00:00:00Z: days of the replay are UTC days.
const T0: i64 = 1_767_225_600 * S;
const DAYS: i64 = 35;
const LIMIT: usize = 300;

/// One line the generator wrote: its stream and timestamp.
#[derive(Default)]
struct Truth {
    /// Per day: lines.
    per_day: BTreeMap<i64, u64>,
    /// Per stream (labels rendered): its entries' timestamps.
    streams: BTreeMap<Vec<(String, String)>, Vec<i64>>,
}

impl Truth {
    fn add(&mut self, labels: &[(String, String)], ts: i64) {
        *self.per_day.entry((ts - T0).div_euclid(D)).or_default() += 1;
        self.streams.entry(labels.to_vec()).or_default().push(ts);
    }

    /// Streams with an entry in `[start, end]`.
    fn series(&self, start: i64, end: i64) -> BTreeSet<Vec<(String, String)>> {
        self.streams
            .iter()
            .filter(|(_, ts)| ts.iter().any(|t| (start..=end).contains(t)))
            .map(|(l, _)| l.clone())
            .collect()
    }
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    v.sort();
    v
}

/// The pushes of one 15-minute slot starting at `t`: every workload's lines.
fn slot(t: i64, truth: &mut Truth) -> Vec<PushStream> {
    let day = (t - T0) / D;
    let mut out = Vec::new();
    let mut add = |l: Vec<(String, String)>, lines: &[(i64, String)], truth: &mut Truth| {
        for (ts, _) in lines {
            truth.add(&l, *ts);
        }
        out.push(PushStream {
            labels: l,
            entries: lines
                .iter()
                .map(|(ts, line)| Entry {
                    ts: *ts,
                    line: line.clone(),
                    structured_metadata: vec![],
                })
                .collect(),
        });
    };
    // DaemonSets: a pod per node, replaced every 5 days (rollout).
    for ds in ["alloy", "longhorn-manager", "node-exporter"] {
        for node in ["node-1", "node-2", "node-3"] {
            let pod = format!("{ds}-{node}-r{}", day / 5);
            let l = labels(&[
                ("namespace", "kube-system"),
                ("app", ds),
                ("node", node),
                ("pod", &pod),
            ]);
            let lines: Vec<(i64, String)> = (0..3)
                .map(|i| {
                    (
                        t + i * 5 * M + 7 * S,
                        format!("level=info msg=\"tick {i}\" pod={pod}"),
                    )
                })
                .collect();
            add(l, &lines, truth);
        }
    }
    // Deployments rolling every 3 days (staggered), one line every 5 minutes.
    for (i, app) in [
        "grafana",
        "homeassistant",
        "traefik",
        "cert-manager",
        "paperless",
    ]
    .iter()
    .enumerate()
    {
        let gen = (day + i as i64) / 3;
        let pod = format!("{app}-{gen:x}-abcde");
        let l = labels(&[("namespace", "apps"), ("app", app), ("pod", &pod)]);
        let lines: Vec<(i64, String)> = (0..3)
            .map(|k| (t + k * 5 * M + S, format!("GET /api/{k} 200 gen={gen}")))
            .collect();
        add(l, &lines, truth);
    }
    // CronJobs: a new pod every 15 minutes, alive for a minute, 3 lines.
    for c in 0..10 {
        let job = format!("backup-{c}");
        let pod = format!("{job}-{}", (t - T0) / (15 * M));
        let l = labels(&[("namespace", "cron"), ("app", &job), ("pod", &pod)]);
        let lines: Vec<(i64, String)> = (0..3)
            .map(|k| (t + 10 * S + k * 20 * S, format!("job {job} step {k} done")))
            .collect();
        add(l, &lines, truth);
    }
    out
}

fn open(dir: &Path, clock: Arc<FakeClock>) -> Store {
    let opts = StoreOptions {
        data_dir: dir.to_path_buf(),
        fsync: false,
        // Flushes and compactions are driven by the test, on its clock.
        flush_interval: Duration::from_secs(24 * 3600),
        compaction_interval: Duration::from_secs(24 * 3600),
        chunk_idle_period: Duration::from_secs(30 * 60),
        clock,
        ..Default::default()
    };
    let limits = Limits {
        reject_old_samples: false,
        max_streams_per_user: LIMIT,
        retention: Arc::new(Retention {
            period: 720 * H,
            rules: vec![],
        }),
        ..Default::default()
    };
    Store::open(opts, limits).expect("open the store")
}

fn all() -> Vec<Matcher> {
    selector(r#"{namespace=~".+"}"#)
}

fn selector(q: &str) -> Vec<Matcher> {
    match lode_logql::parse(q).expect("selector parses") {
        Expr::Log(l) => l.selector,
        _ => panic!("not a log query"),
    }
}

fn count(store: &Store, start: i64, end: i64) -> u64 {
    store
        .index_stats("fake", &all(), start, end)
        .expect("index stats")
        .entries
}

fn lines_of(store: &Store, q: &str, start: i64, end: i64) -> usize {
    let p = LogPipeline::new(&[]).expect("pipeline");
    let m = selector(q);
    let q = LogQuery {
        matchers: &m,
        pipeline: &p,
        start,
        end,
        limit: 1_000_000,
        direction: Direction::Forward,
    };
    store.query_logs("fake", &q).expect("log query").0.len()
}

/// Every block in the live chunk files: (min_ts, max_ts, entries).
fn blocks_on_disk(dir: &Path) -> (usize, Vec<(i64, i64, u32)>) {
    let m = lode_storage::format::manifest::Manifest::load(dir).expect("manifest");
    let mut files = 0;
    let mut out = Vec::new();
    for t in std::fs::read_dir(dir.join("tenants"))
        .expect("tenants dir")
        .flatten()
    {
        for f in std::fs::read_dir(t.path()).expect("tenant dir").flatten() {
            let p = f.path();
            if p.extension().and_then(|e| e.to_str()) != Some("chunk") {
                continue;
            }
            files += 1;
            let cf = ChunkFile::open(&p, 0).expect("chunk file opens");
            out.extend(cf.blocks.iter().map(|b| (b.min_ts, b.max_ts, b.entries)));
        }
    }
    assert_eq!(files, m.files.len(), "every chunk file on disk is live");
    (files, out)
}

fn check_windows(store: &Store, truth: &Truth, now: i64) {
    let cutoff = now - 720 * H;
    for day in 0..DAYS {
        let (start, end) = (T0 + day * D, T0 + (day + 1) * D - 1);
        let got = count(store, start, end);
        if end < cutoff {
            assert_eq!(got, 0, "day {day} is past retention");
        } else if start >= cutoff {
            assert_eq!(got, truth.per_day[&day], "day {day}");
        }
    }
    // A 12 h window in the middle of the month: exact series and labels.
    let (start, end) = (T0 + 20 * D + 6 * H, T0 + 20 * D + 18 * H);
    let want = truth.series(start, end);
    let got: BTreeSet<Vec<(String, String)>> = store
        .series("fake", &[], start, end)
        .expect("series")
        .into_iter()
        .map(|l| {
            l.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect();
    assert_eq!(got.len(), want.len(), "series in a 12 h window");
    assert_eq!(got, want);
    let pods = store
        .label_values("fake", "pod", None, start, end)
        .expect("label values");
    assert_eq!(pods.len(), want.len(), "one pod per stream");
    assert_eq!(
        store.label_names("fake", None, start, end).expect("labels"),
        ["app", "namespace", "node", "pod"]
    );
    // One hour of one CronJob: 4 pods of 3 lines.
    let (h0, h1) = (T0 + 21 * D + 3 * H, T0 + 21 * D + 4 * H - 1);
    assert_eq!(lines_of(store, r#"{app="backup-3"}"#, h0, h1), 12);
    assert_eq!(
        store
            .series("fake", &[selector(r#"{app="backup-3"}"#)], h0, h1)
            .expect("series")
            .len(),
        4
    );
}

#[test]
fn a_month_of_churn_keeps_every_pods_logs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = FakeClock::new(T0);
    let mut store = open(dir.path(), clock.clone());
    let mut truth = Truth::default();
    let mut max_active = 0;
    for day in 0..DAYS {
        for q in 0..96 {
            let t = T0 + day * D + q * 15 * M;
            // Pushes arrive as the lines are written (Alloy's batching).
            clock.set(t + 15 * M - S);
            let streams = slot(t, &mut truth);
            store
                .push_sync("fake", streams)
                .unwrap_or_else(|e| panic!("day {day} slot {q}: push refused: {e}"));
            max_active = max_active.max(store.stats().active_streams);
            if q % 4 == 3 {
                store.flush().expect("flush");
            }
        }
        store.compact().expect("compaction");
    }
    let distinct = truth.streams.len();
    assert!(distinct > 10 * LIMIT, "{distinct} distinct streams");
    assert!(max_active < LIMIT as u64, "at most {max_active} active");

    let now = clock.now_ns();
    check_windows(&store, &truth, now);

    // Nothing past retention is kept on disk, and files stay few.
    let cutoff = now - 720 * H;
    let (files, blocks) = blocks_on_disk(dir.path());
    assert!(
        blocks.iter().all(|(_, max, _)| *max >= cutoff),
        "no expired block left after compaction"
    );
    assert!(
        files <= 2 * 31,
        "{files} chunk files for 31 days in retention"
    );
    let kept: u64 = blocks.iter().map(|b| u64::from(b.2)).sum();
    let retained: u64 = truth
        .streams
        .values()
        .flatten()
        .filter(|t| **t >= cutoff - D)
        .count() as u64;
    assert!(
        kept <= retained,
        "{kept} entries on disk, {retained} within a day of retention"
    );
    // Hourly flushes cut a block per stream per hour; compaction merges a
    // stream's small blocks of a day.
    let stream_days: usize = truth
        .streams
        .values()
        .map(|ts| {
            ts.iter()
                .filter(|t| **t >= cutoff - D)
                .map(|t| (t - T0).div_euclid(D))
                .collect::<BTreeSet<_>>()
                .len()
        })
        .sum();
    assert!(
        blocks.len() <= 2 * stream_days,
        "{} blocks for {stream_days} stream-days",
        blocks.len()
    );
    let stored = store.stats().streams as usize;
    assert!(
        stored < distinct,
        "streams past retention are forgotten: {stored} of {distinct}"
    );

    // Restart: the same answers, and old streams still do not count.
    drop(store);
    let started = std::time::Instant::now();
    store = open(dir.path(), clock.clone());
    assert!(started.elapsed() < Duration::from_secs(5));
    check_windows(&store, &truth, now);

    // The limit still protects: a burst of new streams stops at the limit.
    clock.set(now + H);
    let active = store.stats().active_streams as usize;
    assert_eq!(active, 0, "every stream went idle an hour ago");
    let burst: Vec<PushStream> = (0..LIMIT + 20)
        .map(|i| PushStream {
            labels: labels(&[("namespace", "burst"), ("pod", &format!("p{i}"))]),
            entries: vec![Entry {
                ts: now + H,
                line: "x".into(),
                structured_metadata: vec![],
            }],
        })
        .collect();
    match store.push_sync("fake", burst) {
        Err(StorageError::RateLimited(msg)) => {
            assert!(
                msg.starts_with("maximum active stream limit exceeded"),
                "{msg}"
            );
        }
        other => panic!("expected the stream limit, got {other:?}"),
    }
    assert_eq!(store.stats().active_streams as usize, LIMIT);
}
