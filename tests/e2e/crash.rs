//! Crash safety: pushes run while the server is killed with SIGKILL at
//! seeded random moments, some of them during a `POST /flush`. After every
//! restart each acknowledged (204) entry must be returned exactly once and
//! in order; unacknowledged entries may be there or not, never twice.

mod common;

use common::{http, Entry, PushStream, Rng, Server};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const ROUNDS: usize = 30;
const PUSHERS: usize = 2;
const STREAMS_PER_PUSHER: usize = 2;
const STREAMS: usize = PUSHERS * STREAMS_PER_PUSHER;
/// Entry `id` of a stream is at `base + id * STEP_NS`: unique and increasing.
const STEP_NS: i64 = 1_000_000;
const PAGE: usize = 5000;

fn selector(stream: usize) -> String {
    format!(r#"{{job="crash", shard="s{stream}"}}"#)
}

/// What one pusher thread learned in one round.
struct RoundLog {
    /// Per owned stream: ids acknowledged with 204.
    acked: Vec<Vec<u64>>,
    /// Non-204 HTTP answers (a bug: the server never refuses these pushes).
    refusals: Vec<String>,
}

/// Pushes small batches to `streams` until `stop`; `next` holds each
/// stream's next id and is advanced for every attempt, acknowledged or not,
/// so an id is never reused.
fn pusher(
    port: u16,
    base: i64,
    streams: Vec<usize>,
    next: &mut [u64],
    seed: u64,
    stop: &AtomicBool,
) -> RoundLog {
    let mut rng = Rng::new(seed);
    let mut log = RoundLog {
        acked: vec![Vec::new(); streams.len()],
        refusals: Vec::new(),
    };
    while !stop.load(Ordering::Relaxed) {
        let mut batch = Vec::new();
        let mut ids: Vec<(usize, Vec<u64>)> = Vec::new();
        for (k, &s) in streams.iter().enumerate() {
            if !batch.is_empty() && rng.range(0, 2) == 0 {
                continue;
            }
            let n = rng.range(1, 6);
            let mut entries = Vec::new();
            let mut these = Vec::new();
            for _ in 0..n {
                let id = next[k];
                next[k] += 1;
                entries.push(Entry::new(
                    base + id as i64 * STEP_NS,
                    format!(
                        "shard=s{s} id={id:09} payload={}",
                        "x".repeat(rng.range(0, 60) as usize)
                    ),
                ));
                these.push(id);
            }
            batch.push(PushStream::new(&selector(s), entries));
            ids.push((k, these));
        }
        let body = common::proto_body(&batch);
        match http(
            port,
            "POST",
            "/loki/api/v1/push",
            &[("Content-Type", "application/x-protobuf")],
            &body,
            Duration::from_secs(20),
        ) {
            Ok(r) if r.status == 204 => {
                for (k, these) in ids {
                    log.acked[k].extend(these);
                }
            }
            Ok(r) => log.refusals.push(format!("{}: {}", r.status, r.text())),
            // Killed mid-request, or not listening any more: unacknowledged.
            Err(_) => thread::sleep(Duration::from_millis(2)),
        }
    }
    log
}

/// Every id the server returns for `stream`, paging forward by time.
fn query_ids(s: &Server, base: i64, stream: usize, end: i64) -> Vec<u64> {
    let mut ids = Vec::new();
    let mut start = base;
    loop {
        let v = s.query_logs(None, &selector(stream), start, end, PAGE, "forward");
        let got = common::flatten(&v);
        for (_, ts, line) in &got {
            let id: u64 = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix("id="))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("unexpected line {line:?}"));
            assert_eq!(
                *ts,
                base + id as i64 * STEP_NS,
                "entry {line:?} came back with the wrong timestamp"
            );
            ids.push(id);
        }
        if got.len() < PAGE {
            return ids;
        }
        start = got.iter().map(|g| g.1).max().expect("non-empty page") + 1;
    }
}

#[test]
fn acknowledged_pushes_survive_sigkill() {
    let started = Instant::now();
    let seed = std::env::var("LODE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x10DE_C0DE);
    let mut rng = Rng::new(seed);
    let base = common::base_ts(Duration::from_secs(2 * 3600));
    // Small blocks, so heads are cut mid-round and queries merge many
    // sealed blocks, chunk files and the head.
    let mut s = Server::start_with_config(Some("storage:\n  block_target_bytes: 2KiB\n"));
    let mut next = [0u64; STREAMS];
    let mut acked: Vec<BTreeSet<u64>> = vec![BTreeSet::new(); STREAMS];
    // Entries a query has returned once must stay, acknowledged or not.
    let mut seen: Vec<BTreeSet<u64>> = vec![BTreeSet::new(); STREAMS];
    let mut flush_kills = 0;
    let mut mid_flushes = 0;

    for round in 0..ROUNDS {
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..PUSHERS)
            .map(|p| {
                let owned: Vec<usize> = (0..STREAMS_PER_PUSHER)
                    .map(|k| p * STREAMS_PER_PUSHER + k)
                    .collect();
                let mut ids: Vec<u64> = owned.iter().map(|&st| next[st]).collect();
                let (port, stop, seed) = (s.port, stop.clone(), rng.next_u64());
                thread::spawn(move || {
                    let log = pusher(port, base, owned.clone(), &mut ids, seed, &stop);
                    (owned, ids, log)
                })
            })
            .collect();

        thread::sleep(Duration::from_millis(rng.range(20, 250)));
        // Half the rounds flush under load and go on pushing, so the kill
        // finds chunk files, a raised checkpoint and WAL records after it.
        if rng.range(0, 2) == 0 {
            mid_flushes += 1;
            s.flush();
            thread::sleep(Duration::from_millis(rng.range(5, 120)));
        }
        // Every third round or so, kill while a flush is (probably) running.
        let flusher = (rng.range(0, 3) == 0).then(|| {
            flush_kills += 1;
            let port = s.port;
            let h = thread::spawn(move || {
                http(port, "POST", "/flush", &[], b"", Duration::from_secs(20)).map(|r| r.status)
            });
            thread::sleep(Duration::from_millis(rng.range(0, 15)));
            h
        });
        s.kill();
        stop.store(true, Ordering::Relaxed);
        if let Some(h) = flusher {
            if let Ok(Ok(status)) = h.join() {
                assert_eq!(status, 204, "POST /flush answered {status}");
            }
        }
        let mut refusals = Vec::new();
        for w in workers {
            let (owned, ids, log) = w.join().expect("pusher thread");
            for (k, &st) in owned.iter().enumerate() {
                next[st] = ids[k];
                acked[st].extend(log.acked[k].iter().copied());
            }
            refusals.extend(log.refusals);
        }
        assert!(
            refusals.is_empty(),
            "round {round}: pushes refused: {refusals:?}"
        );

        s.spawn();
        let end = base + (next.iter().max().copied().unwrap_or(0) as i64 + 1) * STEP_NS;
        for st in 0..STREAMS {
            let ids = query_ids(&s, base, st, end);
            if let Some(w) = ids.windows(2).find(|w| w[0] >= w[1]) {
                panic!("round {round} (seed {seed}), stream s{st}: id {} followed by {} (duplicate or out of order)", w[0], w[1]);
            }
            let got: BTreeSet<u64> = ids.iter().copied().collect();
            let lost: Vec<u64> = acked[st].difference(&got).copied().collect();
            assert!(
                lost.is_empty(),
                "round {round} (seed {seed}), stream s{st}: {} acknowledged entries missing after SIGKILL, first {:?}; {} acked, {} returned",
                lost.len(),
                &lost[..lost.len().min(10)],
                acked[st].len(),
                got.len()
            );
            let vanished: Vec<u64> = seen[st].difference(&got).copied().collect();
            assert!(
                vanished.is_empty(),
                "round {round} (seed {seed}), stream s{st}: entries returned before are gone: {:?}",
                &vanished[..vanished.len().min(10)]
            );
            assert!(
                got.iter().all(|&id| id < next[st]),
                "stream s{st}: an id that was never pushed came back"
            );
            seen[st] = got;
        }
    }

    let total: usize = acked.iter().map(BTreeSet::len).sum();
    assert!(
        total > ROUNDS * 10,
        "the load acknowledged only {total} entries over {ROUNDS} rounds; the test proves little"
    );
    assert!(flush_kills > 0, "no kill landed near a flush");
    eprintln!("crash test: {ROUNDS} rounds, {total} acknowledged entries, {flush_kills} kills during a flush, {mid_flushes} flushes under load, {:?}", started.elapsed());
}
