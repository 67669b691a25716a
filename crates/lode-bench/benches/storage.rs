//! Storage benches on generated homelab data: block encode/decode (MB/s of
//! line text), label-index lookups for `=`, `=~` and `!~`, and whole
//! queries against a flushed store (needle search, `count_over_time` by
//! namespace, `sum by (namespace) (rate(...))`).

mod common;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use lode_logql::ast::{MatchOp, Matcher};
use lode_logql::engine::{evaluate, EvalParams};
use lode_logql::pipeline::LogPipeline;
use lode_logql::{Expr, LabelSet};
use lode_storage::format::block::{decode_block, decode_meta, encode_block, Compression};
use lode_storage::format::filter;
use lode_storage::index::{compile_all, LabelIndex};
use lode_storage::{Direction, LogQuery, Store, StoreOptions};
use std::hint::black_box;

fn blocks(c: &mut Criterion) {
    let ds = common::dataset(200_000, 1_700_000_000_000_000_000);
    let streams = common::streams(&ds);
    // The busiest stream, cut into ~256 KiB blocks as the store does.
    let s = streams.iter().max_by_key(|s| s.entries.len()).unwrap();
    let mut block = Vec::new();
    let mut bytes = 0;
    for e in &s.entries {
        bytes += e.line.len();
        block.push(e.clone());
        if bytes >= 256 << 10 {
            break;
        }
    }
    let mut g = c.benchmark_group("block");
    g.throughput(Throughput::Bytes(bytes as u64));
    for (name, comp) in [
        ("zstd1", Compression::Zstd(1)),
        ("zstd3", Compression::Zstd(3)),
    ] {
        g.bench_function(format!("encode_{name}"), |b| {
            b.iter(|| encode_block(black_box(&block), comp).unwrap())
        });
        let enc = encode_block(&block, comp).unwrap();
        eprintln!(
            "block {name}: {} entries, {} B of lines -> {} B ({:.1} B/line)",
            block.len(),
            bytes,
            enc.len(),
            enc.len() as f64 / block.len() as f64
        );
        g.bench_function(format!("decode_{name}"), |b| {
            b.iter(|| decode_block(black_box(&enc)).unwrap())
        });
        g.bench_function(format!("decode_meta_{name}"), |b| {
            b.iter(|| decode_meta(black_box(&enc)).unwrap())
        });
    }
    // The content filter every sealed block gets (`format/filter.rs`).
    g.bench_function("filter_build", |b| {
        b.iter(|| filter::build(black_box(&block).iter().map(|e| e.line.as_bytes())))
    });
    g.finish();
}

fn label_index(c: &mut Criterion) {
    let ds = common::dataset(1, 1_700_000_000_000_000_000);
    let mut ix = LabelIndex::default();
    let sets: Vec<LabelSet> = ds
        .streams
        .iter()
        .map(|s| LabelSet::from_pairs(s.labels.iter().cloned()))
        .collect();
    for (i, l) in sets.iter().enumerate() {
        ix.add(i as u32, l.iter());
    }
    let m = |n: &str, op, v: &str| Matcher {
        name: n.into(),
        op,
        value: v.into(),
    };
    let mut g = c.benchmark_group("label_index");
    for (name, ms) in [
        ("eq", vec![m("app", MatchOp::Eq, "immich")]),
        ("re", vec![m("namespace", MatchOp::Re, "media|monitoring")]),
        (
            "nre",
            vec![
                m("namespace", MatchOp::Re, ".+"),
                m("app", MatchOp::Nre, "traefik|coredns"),
            ],
        ),
    ] {
        let compiled = compile_all(&ms).unwrap();
        g.bench_function(name, |b| {
            b.iter(|| {
                let ids = ix
                    .candidates(&compiled)
                    .unwrap_or_else(|| (0..sets.len() as u32).collect());
                ids.into_iter()
                    .filter(|&i| compiled.iter().all(|m| m.matches_labels(&sets[i as usize])))
                    .count()
            })
        });
    }
    g.finish();
}

fn store_queries(c: &mut Criterion) {
    let end = common::now_ns();
    let ds = common::dataset(300_000, end);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        StoreOptions {
            data_dir: dir.path().to_path_buf(),
            fsync: false,
            ..Default::default()
        },
        // The set-up pushes far faster than the default ingestion rate limit.
        lode_storage::Limits {
            ingestion_rate_bytes: 1e12,
            ingestion_burst_bytes: 1e12,
            ..Default::default()
        },
    )
    .unwrap();
    for chunk in common::streams(&ds).chunks(50) {
        store.push_sync("fake", chunk.to_vec()).unwrap();
    }
    store.flush().unwrap();
    let (start, end) = (end - 6 * common::HOUR_NS, end + 1);
    let mut g = c.benchmark_group("store");
    g.sample_size(10);
    g.throughput(Throughput::Elements(ds.lines));

    let needle = format!("{{namespace=~\".+\"}} |= \"{}\"", ds.needle);
    let Ok(Expr::Log(l)) = lode_logql::parse(&needle) else {
        panic!()
    };
    let p = LogPipeline::new(&l.pipeline).unwrap();
    g.bench_function("needle_search", |b| {
        b.iter(|| {
            let q = LogQuery {
                matchers: &l.selector,
                pipeline: &p,
                start,
                end,
                limit: 100,
                direction: Direction::Backward,
            };
            let (hits, _) = store.query_logs("fake", &q).unwrap();
            assert_eq!(hits.len(), 1);
        })
    });
    for (name, q) in [
        (
            "count_by_namespace_5m",
            "sum by (namespace) (count_over_time({namespace=~\".+\"}[5m]))",
        ),
        (
            "rate_by_namespace_5m",
            "sum by (namespace) (rate({namespace=~\".+\"}[5m]))",
        ),
        (
            "json_status_count_5m",
            "sum(count_over_time({app=\"immich\"} | json | status >= 500 [5m]))",
        ),
        (
            "regex_alt_count_6h",
            "sum(count_over_time({namespace=~\".+\"} |~ \"error|timeout\" [6h]))",
        ),
    ] {
        let Ok(Expr::Metric(m)) = lode_logql::parse(q) else {
            panic!()
        };
        let instant = q.contains("[6h]");
        let params = EvalParams {
            start: if instant { end } else { start },
            end,
            step: 300_000_000_000,
            instant,
            max_series: 500,
        };
        g.bench_function(name, |b| {
            b.iter_batched(
                || store.samples("fake", 500),
                |src| black_box(evaluate(&m, &params, &src).unwrap()),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
    store.shutdown().unwrap();
}

criterion_group!(benches, blocks, label_index, store_queries);
criterion_main!(benches);
