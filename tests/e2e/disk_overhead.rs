//! After `POST /flush` and a compaction round, the data directory holds
//! little beyond its chunk files: no WAL left behind, no stray temporary
//! files, bookkeeping within 10 % of the chunks (issue 18, item 4).

mod common;

use common::{base_ts, Entry, PushStream, Server};
use std::path::Path;
use std::time::{Duration, Instant};

fn sizes(dir: &Path, chunks: &mut u64, other: &mut u64, others: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            sizes(&p, chunks, other, others);
            continue;
        }
        let len = e.metadata().map(|m| m.len()).unwrap_or(0);
        if p.extension().is_some_and(|x| x == "chunk") {
            *chunks += len;
        } else {
            *other += len;
            others.push(format!("{} ({len} B)", p.display()));
        }
    }
}

#[test]
fn after_a_flush_and_a_compaction_the_chunks_are_nearly_everything() {
    let srv = Server::start_with_config(Some("compactor:\n  compaction_interval: 1s\n"));
    let t0 = base_ts(Duration::from_secs(1800));
    // 40 pushes of 50 streams × 40 lines: many small flush-sized files.
    for p in 0..40i64 {
        let streams: Vec<PushStream> = (0..50)
            .map(|s| {
                let entries = (0..40)
                    .map(|i| {
                        Entry::new(
                            t0 + p * 1_000_000_000 + i * 1_000,
                            format!("level=info msg=\"request served\" stream={s} push={p} i={i} path=/api/v1/items/{}", p * i),
                        )
                    })
                    .collect();
                PushStream::new(&format!(r#"{{app="disk", pod="pod-{s}"}}"#), entries)
            })
            .collect();
        assert_eq!(srv.push_proto(None, &streams).status, 204);
        if p % 10 == 9 {
            srv.flush();
        }
    }
    srv.flush();
    // Wait for a compaction pass that merged the flushes' files.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let m = srv.get("/metrics").text();
        let passes = m
            .lines()
            .find(|l| l.starts_with("lode_compactor_total{what=\"passes\"}"))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        if passes >= 1.0 {
            break;
        }
        assert!(Instant::now() < deadline, "no compaction pass: {m}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (mut chunks, mut other, mut others) = (0, 0, Vec::new());
    sizes(&srv.data_dir, &mut chunks, &mut other, &mut others);
    assert!(chunks > 0);
    assert!(
        other * 10 <= chunks,
        "{other} B beside {chunks} B of chunks: {others:#?}"
    );
    assert!(!others.iter().any(|o| o.contains(".tmp")), "{others:#?}");
    eprintln!("chunks {chunks} B, everything else {other} B: {others:#?}");
    let wal: u64 = std::fs::read_dir(srv.data_dir.join("wal"))
        .expect("wal dir")
        .flatten()
        .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
        .sum();
    assert_eq!(wal, 0, "no WAL left behind: {others:#?}");
}
