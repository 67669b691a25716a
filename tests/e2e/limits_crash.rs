//! Crash safety of compaction and retention: with a flush and a compaction
//! pass every second, the server is killed with SIGKILL at seeded random
//! moments (so kills land before, during and after compactor passes).
//! After every restart each acknowledged, unexpired entry is returned
//! exactly once, and expired entries never come back.
//!
//! `LODE_LIMITS_SOAK=1` runs 100 rounds instead of 20.

mod common;

use common::{base_ts, http, Entry, PushStream, Rng, Server};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

const CONFIG: &str = "storage:\n  block_target_bytes: 2KiB\n  flush_interval: 1s\ncompactor:\n  compaction_interval: 1s\nlimits_config:\n  reject_old_samples: false\n  out_of_order_time_window: 0s\n  retention_period: 24h\n  max_query_length: 0s\n  ingestion_rate_mb: 0\n";
const STEP: i64 = 1_000_000;
const PAGE: usize = 5000;

/// Pushes until `stop`: each push holds new ids of the live stream and an
/// already expired entry. Returns the acknowledged live ids.
fn pusher(
    port: u16,
    live_base: i64,
    old_base: i64,
    mut next: u64,
    seed: u64,
    stop: &AtomicBool,
) -> (u64, Vec<u64>, Vec<String>) {
    let mut rng = Rng::new(seed);
    let (mut acked, mut refused) = (Vec::new(), Vec::new());
    while !stop.load(Ordering::Relaxed) {
        let n = rng.range(1, 20);
        let ids: Vec<u64> = (next..next + n).collect();
        next += n;
        let live: Vec<Entry> = ids
            .iter()
            .map(|id| {
                Entry::new(
                    live_base + *id as i64 * STEP,
                    format!("id={id} {}", "y".repeat(rng.range(0, 80) as usize)),
                )
            })
            .collect();
        let old = vec![Entry::new(
            old_base + ids[0] as i64 * STEP,
            format!("expired id={}", ids[0]),
        )];
        let body = common::proto_body(&[
            PushStream::new(r#"{job="live"}"#, live),
            PushStream::new(r#"{job="old"}"#, old),
        ]);
        match http(
            port,
            "POST",
            "/loki/api/v1/push",
            &[("Content-Type", "application/x-protobuf")],
            &body,
            Duration::from_secs(20),
        ) {
            Ok(r) if r.status == 204 => acked.extend(ids),
            Ok(r) => refused.push(format!("{}: {}", r.status, r.text())),
            Err(_) => thread::sleep(Duration::from_millis(2)),
        }
    }
    (next, acked, refused)
}

/// Every live id the server returns, with how often, paging forward.
fn returned(s: &Server, sel: &str, start: i64, end: i64) -> BTreeMap<u64, usize> {
    let mut out = BTreeMap::new();
    let mut from = start;
    loop {
        let v = s.query_logs(None, sel, from, end, PAGE, "forward");
        let got = common::flatten(&v);
        for (_, _, line) in &got {
            let id: u64 = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix("id="))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("unexpected line {line:?}"));
            *out.entry(id).or_default() += 1;
        }
        if got.len() < PAGE {
            return out;
        }
        from = got.iter().map(|g| g.1).max().unwrap() + 1;
    }
}

#[test]
fn sigkill_during_compaction_and_retention_loses_and_duplicates_nothing() {
    let rounds = if std::env::var("LODE_LIMITS_SOAK").is_ok() {
        100
    } else {
        20
    };
    let mut rng = Rng::new(0x5EED_0004);
    let live_base = base_ts(Duration::from_secs(3600));
    let old_base = base_ts(Duration::from_secs(25 * 3600));
    let mut s = Server::start_with_config(Some(CONFIG));
    let mut next = 0u64;
    let mut acked: Vec<u64> = Vec::new();
    let mut passes_seen = 0u64;
    for round in 0..rounds {
        let stop = Arc::new(AtomicBool::new(false));
        let (port, st, seed) = (s.port, stop.clone(), rng.next_u64());
        let w = thread::spawn(move || pusher(port, live_base, old_base, next, seed, &st));
        thread::sleep(Duration::from_millis(rng.range(200, 2200)));
        if let Ok(r) = http(s.port, "GET", "/metrics", &[], b"", Duration::from_secs(5)) {
            let m = r.text();
            let passes = m
                .lines()
                .find(|l| l.starts_with(r#"lode_compactor_total{what="passes"}"#))
                .and_then(|l| l.split_whitespace().last()?.parse::<u64>().ok())
                .unwrap_or(0);
            passes_seen += passes;
        }
        s.kill();
        stop.store(true, Ordering::Relaxed);
        let (n, ids, refused) = w.join().unwrap();
        assert!(
            refused.is_empty(),
            "round {round}: refused pushes {refused:?}"
        );
        next = n;
        acked.extend(ids);
        s.spawn();
        let end = live_base + (next as i64 + 1) * STEP;
        let got = returned(&s, r#"{job="live"}"#, live_base, end);
        for id in &acked {
            match got.get(id) {
                Some(1) => {}
                Some(k) => panic!("round {round}: id {id} returned {k} times"),
                None => panic!(
                    "round {round}: acknowledged id {id} lost; log:\n{}",
                    s.log_tail()
                ),
            }
        }
        assert!(got.values().all(|c| *c == 1), "round {round}: duplicates");
        let old = returned(
            &s,
            r#"{job="old"}"#,
            old_base,
            old_base + (next as i64 + 1) * STEP,
        );
        assert!(
            old.is_empty(),
            "round {round}: expired entries returned: {}",
            old.len()
        );
    }
    assert!(
        acked.len() > 100,
        "too few pushes acknowledged: {}",
        acked.len()
    );
    assert!(passes_seen > 0, "no compaction pass ran before a kill");
    // The figures docs/reliability.md quotes.
    eprintln!(
        "crash loop: {rounds} SIGKILL rounds, {} acknowledged entries, 0 lost, 0 duplicated, 0 expired returned, {passes_seen} compactor passes counted before kills",
        acked.len()
    );
}
