//! LogQL pipeline throughput on generated homelab lines (lines/s): a line
//! filter, a `json` parser with a label filter, and a metric extractor
//! aggregated per step as `sum by (namespace) (rate(...))` does.

mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lode_bench::gen::{Format, JSON_APP};
use lode_logql::ast::{Expr, MetricExpr};
use lode_logql::pipeline::{LogPipeline, SampleExtractor};
use lode_logql::LabelSet;
use std::collections::HashMap;
use std::hint::black_box;

struct Line {
    stream: usize,
    ts: i64,
    line: String,
    meta: Vec<(String, String)>,
}

fn lines(n: u64) -> (Vec<LabelSet>, Vec<Line>, Vec<usize>) {
    let ds = common::dataset(n, 1_700_000_000_000_000_000);
    let labels = ds
        .streams
        .iter()
        .map(|s| LabelSet::from_pairs(s.labels.iter().cloned()))
        .collect();
    let (mut line, mut meta) = (String::new(), Vec::new());
    let mut out = Vec::new();
    let mut json = Vec::new();
    for i in 0..ds.lines {
        let (stream, ts) = ds.line(i, &mut line, &mut meta);
        if ds.streams[stream].format == Format::JsonRequest
            && ds.streams[stream].labels.iter().any(|(_, v)| v == JSON_APP)
        {
            json.push(out.len());
        }
        out.push(Line {
            stream,
            ts,
            line: line.clone(),
            meta: meta
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        });
    }
    (labels, out, json)
}

fn log_pipeline(query: &str) -> LogPipeline {
    let Ok(Expr::Log(l)) = lode_logql::parse(query) else {
        panic!("not a log query: {query}")
    };
    LogPipeline::new(&l.pipeline).unwrap()
}

fn bench(c: &mut Criterion) {
    let (labels, data, json) = lines(50_000);
    let bytes: u64 = data.iter().map(|l| l.line.len() as u64).sum();
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(data.len() as u64));
    g.sample_size(20);

    for (name, q) in [
        ("line_filter_contains", "{a=\"b\"} |= \"timeout\""),
        ("line_filter_regex_alt", "{a=\"b\"} |~ \"error|timeout\""),
    ] {
        let p = log_pipeline(q);
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut runners: Vec<_> = labels.iter().map(|l| p.for_stream(l)).collect();
                let mut n = 0;
                for l in &data {
                    n += usize::from(runners[l.stream].process(l.ts, &l.line, &l.meta).is_some());
                }
                black_box(n)
            })
        });
    }

    let p = log_pipeline("{a=\"b\"} | json | status >= 500");
    g.throughput(Throughput::Elements(json.len() as u64));
    g.bench_function("json_status_filter", |b| {
        b.iter(|| {
            let mut runners: Vec<_> = labels.iter().map(|l| p.for_stream(l)).collect();
            let mut n = 0;
            for &i in &json {
                let l = &data[i];
                n += usize::from(runners[l.stream].process(l.ts, &l.line, &l.meta).is_some());
            }
            black_box(n)
        })
    });

    let Ok(Expr::Metric(MetricExpr::VectorAgg { expr, .. })) =
        lode_logql::parse("sum by (namespace) (rate({namespace=~\".+\"}[5m]))")
    else {
        panic!("parse")
    };
    let MetricExpr::RangeAgg {
        op,
        range,
        grouping,
        ..
    } = *expr
    else {
        panic!("range agg")
    };
    let ex = SampleExtractor::new(&range, op, grouping.as_ref()).unwrap();
    g.throughput(Throughput::Elements(data.len() as u64));
    g.bench_function("sum_by_rate_extract", |b| {
        b.iter(|| {
            let mut runners: Vec<_> = labels.iter().map(|l| ex.for_stream(l)).collect();
            let mut cells: HashMap<(String, i64), f64> = HashMap::new();
            for l in &data {
                if let Some((v, s)) = runners[l.stream].process(l.ts, &l.line, &l.meta) {
                    let ns = s.get("namespace").unwrap_or("").to_string();
                    *cells.entry((ns, l.ts / range.range)).or_default() += v;
                }
            }
            black_box(cells.len())
        })
    });
    g.finish();
    eprintln!(
        "pipeline data: {} lines, {} bytes, {} json-app lines",
        data.len(),
        bytes,
        json.len()
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
