//! Prefilter plans and candidate search, and store-level tests of block
//! skipping: needle queries read only the blocks holding the needle, answers
//! are the same with and without skipping, version-1 data keeps working and
//! compaction keeps (or adds) filters.

use super::*;
use crate::clock::FakeClock;
use crate::format::block::{encode_block, Compression};
use crate::format::chunk_file::{tests::write_v1, ChunkFile};
use crate::format::manifest::Manifest;
use crate::ingest::Limits;
use crate::layout::{chunk_path, tenant_dir};
use crate::query::{Direction, LogQuery};
use crate::sources::ScanStats;
use crate::store::{Store, StoreOptions};
use lode_logql::ast::Expr;
use lode_proto::{Entry, PushStream};
use proptest::prelude::*;
use std::fs;
use std::path::Path;
use std::time::Duration;

const S: i64 = 1_000_000_000;
const T0: i64 = 1_700_000_000 * S;
const NEEDLE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn pipeline(stages: &str) -> LogPipeline {
    let Expr::Log(l) = lode_logql::parse(&format!("{{a=\"b\"}} {stages}")).unwrap() else {
        panic!("not a log query")
    };
    LogPipeline::new(&l.pipeline).unwrap()
}

fn plan(stages: &str) -> Option<Prefilter> {
    Prefilter::from_pipeline(&pipeline(stages))
}

fn marks(p: &Prefilter, lines: &[&str]) -> Option<Vec<bool>> {
    let text: String = lines.concat();
    let mut offsets = vec![0u32];
    for l in lines {
        offsets.push(offsets.last().unwrap() + l.len() as u32);
    }
    let mut m = Vec::new();
    p.mark_candidates(text.as_bytes(), &offsets, &mut m)
        .then_some(m)
}

#[test]
fn plans_from_pipelines() {
    assert!(plan(&format!("|= \"{NEEDLE}\"")).unwrap().can_skip());
    assert!(plan("|~ \"error|timeout\"").unwrap().can_skip());
    assert!(plan("|= \"error\" or \"timeout\" | json | status >= 500")
        .unwrap()
        .can_skip());
    // Filters after a parser see the same line.
    assert!(plan("| logfmt |= \"timeout\"").unwrap().can_skip());
    // Nothing usable: negations, rewritten lines, unknown regexes, ip().
    for s in [
        "!= \"timeout\"",
        "!~ \"timeout\"",
        "| line_format \"{{.a}}\" |= \"timeout\"",
        "| decolorize |= \"timeout\"",
        "|~ \"[a-z]+\"",
        "|= ip(\"10.0.0.0/8\")",
        "|= \"\"",
        "| json",
    ] {
        assert!(plan(s).is_none(), "{s}");
    }
    // Too short to skip, still worth a search.
    let p = plan("|= \"ab\"").unwrap();
    assert!(!p.can_skip());
    assert_eq!(
        marks(&p, &["xab", "a", "by"]),
        Some(vec![true, false, false])
    );
    // Case-insensitive: a bounded set of case variants of a part, too many
    // to search for, and never ruling out a block holding another casing.
    let p = plan("|~ \"(?i)timeout\"").unwrap();
    assert_eq!(marks(&p, &["timeout"]), None);
    let f = crate::format::filter::build([b"TiMeOuT".as_slice()]).unwrap();
    assert!(p.block_may_match(&f));
}

#[test]
fn candidates_never_span_lines() {
    let p = plan("|= \"needle\" or \"pin\"").unwrap();
    let got = marks(
        &p,
        &[
            "a needle",
            "",
            "nee",
            "dle x",
            "pin",
            "pi",
            "n",
            "needleneedle",
        ],
    );
    assert_eq!(
        got,
        Some(vec![true, false, false, false, true, false, false, true])
    );
    // The clause with the longest shortest literal is searched.
    let p = plan("|= \"ab\" |= \"longer one\"").unwrap();
    assert_eq!(marks(&p, &["ab", "a longer one"]), Some(vec![false, true]));
}

#[test]
fn blocks_are_ruled_out_by_their_filters() {
    let lines = [
        "level=info msg=\"request done\"",
        "level=error msg=\"upstream timeout\"",
    ];
    let f = crate::format::filter::build(lines.iter().map(|l| l.as_bytes())).unwrap();
    assert!(plan("|= \"timeout\"").unwrap().block_may_match(&f));
    assert!(plan("|~ \"nothing|timeout\"").unwrap().block_may_match(&f));
    assert!(!plan(&format!("|= \"{NEEDLE}\""))
        .unwrap()
        .block_may_match(&f));
    // Every clause must be satisfiable.
    assert!(!plan(&format!("|= \"timeout\" |= \"{NEEDLE}\""))
        .unwrap()
        .block_may_match(&f));
}

proptest! {
    /// The search marks exactly the lines that contain a literal.
    #[test]
    fn prop_candidates_are_the_lines_containing_a_literal(
        lines in proptest::collection::vec("[ab✓é]{0,8}", 0..30),
        lits in proptest::collection::vec("[ab✓é]{1,3}", 1..4),
    ) {
        let sets = vec![lits.iter().map(|l| l.as_bytes().to_vec()).collect::<Vec<_>>()];
        let p = Prefilter::new(&sets).unwrap();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let got = marks(&p, &refs).unwrap();
        let want: Vec<bool> = lines.iter().map(|l| lits.iter().any(|x| l.contains(x.as_str()))).collect();
        prop_assert_eq!(got, want);
    }
}

// ---- store level ----

fn open(dir: &Path) -> Store {
    let opts = StoreOptions {
        data_dir: dir.to_path_buf(),
        fsync: false,
        flush_interval: Duration::from_secs(3600),
        compaction_interval: Duration::from_secs(3600),
        delete_cancel_period: Duration::ZERO,
        clock: FakeClock::new(T0),
        ..Default::default()
    };
    let limits = Limits {
        reject_old_samples: false,
        out_of_order_window: 0,
        ..Default::default()
    };
    Store::open(opts, limits).unwrap()
}

/// A deterministic homelab-ish line; line `i` of stream `s`.
fn line(s: usize, i: usize) -> String {
    let x = (s as u64 * 1_000_003 + i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    match i % 4 {
        0 => format!(
            "level=info msg=\"request done\" path=/api/{} took={}ms",
            x % 97,
            x % 3000
        ),
        1 => format!("level=error msg=\"upstream timeout\" id={:016x}", x),
        2 => format!(
            "{{\"level\":\"warn\",\"room\":\"kitchen\",\"n\":{}}}",
            x % 1000
        ),
        _ => format!(
            "12:{:02}:{:02} GET /metrics 200 {}",
            x % 60,
            (x >> 8) % 60,
            x % 5000
        ),
    }
}

/// Pushes `blocks` batches (a flush after each) of `per` lines to each of
/// `streams` streams; line (stream 3, batch 5, 7) carries the needle.
fn fill(store: &Store, streams: usize, blocks: usize, per: usize) {
    for b in 0..blocks {
        let batch: Vec<PushStream> = (0..streams)
            .map(|s| PushStream {
                labels: vec![("app".into(), format!("app{s}"))],
                entries: (0..per)
                    .map(|i| {
                        let n = b * per + i;
                        let mut l = line(s, n);
                        if (s, b, i) == (3, 5, 7) {
                            l.push_str(" trace_id=");
                            l.push_str(NEEDLE);
                        }
                        Entry {
                            ts: T0 + (n as i64) * S + s as i64,
                            line: l,
                            structured_metadata: vec![],
                        }
                    })
                    .collect(),
            })
            .collect();
        store.push_sync("fake", batch).unwrap();
        store.flush().unwrap();
    }
}

fn query(store: &Store, q: &str, limit: usize, dir: Direction) -> (Vec<(i64, String)>, ScanStats) {
    let Expr::Log(l) = lode_logql::parse(q).unwrap() else {
        panic!("not a log query")
    };
    let p = LogPipeline::new(&l.pipeline).unwrap();
    let q = LogQuery {
        matchers: &l.selector,
        pipeline: &p,
        start: 0,
        end: i64::MAX,
        limit,
        direction: dir,
    };
    let (hits, stats) = store.query_logs("fake", &q).unwrap();
    (
        hits.into_iter()
            .map(|h| (h.ts, h.entry.line.to_string()))
            .collect(),
        stats,
    )
}

/// The same query with the line filters behind a stage that keeps the line
/// but hides them from the plan: nothing skipped, nothing searched.
fn unplanned(q: &str) -> String {
    let i = q.find('}').unwrap() + 1;
    format!("{} | decolorize{}", &q[..i], &q[i..])
}

#[test]
fn needle_query_reads_only_the_block_holding_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    fill(&store, 12, 10, 40);
    let q = format!("{{app=~\"app.*\"}} |= \"{NEEDLE}\"");
    let (hits, stats) = query(&store, &q, 100, Direction::Backward);
    assert_eq!(hits.len(), 1);
    assert!(hits[0].1.contains(NEEDLE));
    assert_eq!(stats.blocks, 1, "{stats:?}");
    let (all, full) = query(&store, &unplanned(&q), 100, Direction::Backward);
    assert_eq!(all, hits);
    assert_eq!(full.blocks, 120);
    // After a restart the filters come from the chunk files.
    store.shutdown().unwrap();
    drop(store);
    let store = open(dir.path());
    let (again, stats) = query(&store, &q, 100, Direction::Backward);
    assert_eq!((again, stats.blocks), (hits, 1));
}

#[test]
fn answers_are_the_same_with_and_without_skipping() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    fill(&store, 6, 4, 30);
    // Unflushed data too: in-memory blocks and heads.
    let more: Vec<PushStream> = (0..6)
        .map(|s| PushStream {
            labels: vec![("app".into(), format!("app{s}"))],
            entries: (200..230)
                .map(|n| Entry {
                    ts: T0 + n * S + s,
                    line: line(s as usize, n as usize),
                    structured_metadata: vec![],
                })
                .collect(),
        })
        .collect();
    store.push_sync("fake", more).unwrap();
    let queries = [
        format!("{{app=~\".+\"}} |= \"{NEEDLE}\""),
        "{app=~\".+\"} |= \"timeout\"".to_string(),
        "{app=~\".+\"} |~ \"kitchen|/api/4\"".to_string(),
        "{app=\"app2\"} |= \"error\" or \"GET\" |= \"0\"".to_string(),
        "{app=~\".+\"} |= \"timeout\" | logfmt | level=\"error\"".to_string(),
        "{app=~\".+\"} |= \"absent-words-here\"".to_string(),
        "{app=~\".+\"} |~ \"up(stream)? t\"".to_string(),
    ];
    for q in &queries {
        for dir in [Direction::Forward, Direction::Backward] {
            for limit in [1, 7, 1000] {
                let (a, sa) = query(&store, q, limit, dir);
                let (b, sb) = query(&store, &unplanned(q), limit, dir);
                assert_eq!(a, b, "{q} {dir:?} {limit}");
                assert!(sa.blocks <= sb.blocks);
            }
        }
    }
    let (none, stats) = query(&store, &queries[5], 100, Direction::Forward);
    assert!(none.is_empty());
    assert_eq!(stats.blocks, 0, "no block holds those words");
}

fn block_files(data: &Path) -> Vec<ChunkFile> {
    let mut out = Vec::new();
    for e in fs::read_dir(tenant_dir(data, "fake")).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "chunk") {
            out.push(ChunkFile::open(&p, 0).unwrap());
        }
    }
    out
}

#[test]
fn compaction_keeps_filters_and_re_encoded_blocks_get_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    fill(&store, 4, 6, 20);
    assert_eq!(block_files(dir.path()).len(), 6);
    let q = format!("{{app=~\".+\"}} |= \"{NEEDLE}\"");
    store.compact().unwrap();
    let files = block_files(dir.path());
    assert_eq!(files.len(), 1);
    assert!(files[0].blocks.iter().all(|b| b.filter_len > 0));
    let (hits, stats) = query(&store, &q, 100, Direction::Forward);
    assert_eq!((hits.len(), stats.blocks), (1, 1));
    // A delete rewrites the blocks it touches: they get filters of what is left.
    store
        .add_delete("fake", "{app=\"app3\"} |= \"kitchen\"", 0, T0 + 1000 * S)
        .unwrap();
    store.compact().unwrap();
    let files = block_files(dir.path());
    assert!(files[0].blocks.iter().all(|b| b.filter_len > 0));
    let (hits, stats) = query(&store, &q, 100, Direction::Forward);
    assert_eq!((hits.len(), stats.blocks), (1, 1));
    let (k, _) = query(
        &store,
        "{app=\"app3\"} |= \"kitchen\"",
        100,
        Direction::Forward,
    );
    assert!(k.is_empty());
}

#[test]
fn version_1_data_dir_opens_and_upgrades() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    // A data directory as the previous release left it.
    fs::create_dir_all(tenant_dir(data, "fake")).unwrap();
    fs::create_dir_all(data.join("wal")).unwrap();
    fs::write(data.join("VERSION"), "1\n").unwrap();
    let streams: Vec<Vec<(String, String)>> = (0..3)
        .map(|s| vec![("app".to_string(), format!("app{s}"))])
        .collect();
    let mut blocks = Vec::new();
    for s in 0..3usize {
        let entries: Vec<Entry> = (0..50)
            .map(|i| Entry {
                ts: T0 + i as i64 * S,
                line: if (s, i) == (1, 9) {
                    format!("{} trace_id={NEEDLE}", line(s, i))
                } else {
                    line(s, i)
                },
                structured_metadata: vec![],
            })
            .collect();
        let payload = encode_block(&entries, Compression::Zstd(3)).unwrap();
        let bytes = entries.iter().map(|e| e.line.len() as u64).sum();
        blocks.push((s as u32, payload, T0, T0 + 49 * S, 50, bytes));
    }
    write_v1(&chunk_path(data, "fake", 1), &streams, &blocks);
    let manifest = serde_json::json!({"version": 1, "checkpoint": 0, "next_file_id": 2,
        "files": [{"tenant": "fake", "id": 1}]});
    fs::write(data.join("MANIFEST.json"), manifest.to_string()).unwrap();

    let store = open(data);
    assert_eq!(fs::read_to_string(data.join("VERSION")).unwrap(), "2\n");
    let q = format!("{{app=~\".+\"}} |= \"{NEEDLE}\"");
    let (hits, stats) = query(&store, &q, 100, Direction::Forward);
    assert_eq!(hits.len(), 1);
    assert_eq!(stats.blocks, 3, "version-1 blocks have no filter: all read");
    let (all, _) = query(&store, "{app=~\".+\"}", 1000, Direction::Forward);
    assert_eq!(all.len(), 150);
    // New data goes into a version-2 file next to the old one; the manifest
    // is written as version 2.
    fill(&store, 1, 1, 5);
    assert_eq!(Manifest::load(data).unwrap().version, 2);
    let m: serde_json::Value =
        serde_json::from_slice(&fs::read(data.join("MANIFEST.json")).unwrap()).unwrap();
    assert_eq!(m["version"], 2);
    assert!(m["files"].as_array().unwrap().iter().any(|f| f["id"] == 1));
    // Compaction merges the old file and gives its blocks filters.
    store.compact().unwrap();
    let files = block_files(data);
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].version, 2);
    assert!(files[0].blocks.iter().all(|b| b.filter_len > 0));
    let (again, stats) = query(&store, &q, 100, Direction::Forward);
    assert_eq!((again, stats.blocks), (hits, 1));
}
