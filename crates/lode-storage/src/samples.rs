//! Sample extraction for metric queries: the storage side of the LogQL
//! engine's `SampleSource`.

use crate::format::block::{decode_meta_section, MetaSection};
use crate::index::compile_all;
use crate::prefilter::Prefilter;
use crate::query::select_sources_filtered;
use crate::sources::{Decoded, ScanStats, Source, StreamSources};
use crate::tenant::Tenant;
use lode_logql::ast::{Grouping, LogRange, RangeOp};
use lode_logql::engine::{BucketGrid, SampleSource, SeriesBuckets};
use lode_logql::pipeline::{SampleExtractor, StreamExtractor};
use lode_logql::value::{Point, SeriesSamples};
use lode_logql::{Error as QlError, LabelSet};
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::Arc;

mod buckets;

/// Samples of one tenant's data.
pub struct TenantSamples {
    pub(crate) tenant: Arc<RwLock<Tenant>>,
    /// Series a single range aggregation may produce before aggregation;
    /// bounds memory whatever the query.
    pub(crate) max_series: usize,
    pub(crate) stats: Mutex<ScanStats>,
}

impl TenantSamples {
    pub fn stats(&self) -> ScanStats {
        *self.stats.lock()
    }

    /// A source with no data (a store that holds nothing for the tenant).
    pub fn empty(max_series: usize) -> TenantSamples {
        TenantSamples {
            tenant: Arc::default(),
            max_series,
            stats: Mutex::new(ScanStats::default()),
        }
    }
}

fn src_err(e: crate::error::StorageError) -> QlError {
    match e {
        crate::error::StorageError::Logql(e) => e,
        e => QlError::Source(e.to_string()),
    }
}

/// What a sample is worth when the pipeline is empty and nothing is
/// unwrapped: the value never depends on the line text, so blocks are read
/// from their meta section and lines are never decompressed.
#[derive(Debug, Clone, Copy)]
enum MetaValue {
    One,
    LineLen,
}

fn meta_only(range: &LogRange, op: RangeOp) -> Option<MetaValue> {
    if !range.log.pipeline.is_empty() || range.unwrap.is_some() {
        return None;
    }
    match op {
        RangeOp::Rate | RangeOp::CountOverTime => Some(MetaValue::One),
        RangeOp::BytesRate | RangeOp::BytesOverTime => Some(MetaValue::LineLen),
        _ => None,
    }
}

type Series = HashMap<LabelSet, Vec<Point>>;

/// Adds a sample, refusing a new series past `max_series`.
fn push_point(
    series: &mut Series,
    max_series: usize,
    labels: LabelSet,
    ts: i64,
    value: f64,
) -> lode_logql::Result<()> {
    if let Some(v) = series.get_mut(&labels) {
        v.push(Point { ts, value });
        return Ok(());
    }
    if series.len() >= max_series {
        return Err(QlError::MaxSeries(max_series));
    }
    series.insert(labels, vec![Point { ts, value }]);
    Ok(())
}

/// Appends a run of samples to a series, refusing a new series past `max_series`.
fn merge_points(
    series: &mut Series,
    max_series: usize,
    labels: LabelSet,
    pts: Vec<Point>,
) -> lode_logql::Result<()> {
    if let Some(v) = series.get_mut(&labels) {
        v.extend(pts);
        return Ok(());
    }
    if series.len() >= max_series {
        return Err(QlError::MaxSeries(max_series));
    }
    series.insert(labels, pts);
    Ok(())
}

/// Timestamps, lengths and metadata of one source.
fn load_meta(src: &Source, stats: &mut ScanStats) -> crate::error::Result<MetaSection> {
    crate::cancel::check()?;
    Ok(match src {
        Source::Block(b) => {
            stats.blocks += 1;
            stats.compressed_bytes += b.compressed_len();
            decode_meta_section(&b.payload()?)?
        }
        Source::Head(v) => MetaSection {
            ts: v.iter().map(|e| e.ts).collect(),
            lens: v.iter().map(|e| e.line.len() as u32).collect(),
            metadata: v.iter().map(|e| e.structured_metadata.clone()).collect(),
        },
    })
}

/// Distinct metadata sets of a stream whose series labels are cached; past
/// this (e.g. a unique `trace_id` per entry) entries go the per-entry way.
const MAX_META_GROUPS: usize = 32;

/// Entries of one stream sharing a structured-metadata set, and so a series.
struct MetaGroup {
    metadata: Vec<(String, String)>,
    /// `None` when the extractor yields no sample for this metadata.
    labels: Option<LabelSet>,
    points: Vec<Point>,
}

/// Samples of one stream from meta sections only. `Ok(false)` when the
/// stream holds entries with equal timestamps: telling exact re-sends apart
/// then needs the lines, and the caller takes the full path.
fn scan_meta(
    s: &StreamSources,
    ex: &mut StreamExtractor<'_>,
    kind: MetaValue,
    (start, end): (i64, i64),
    series: &mut Series,
    max_series: usize,
    stats: &mut ScanStats,
) -> lode_logql::Result<bool> {
    let mut local = ScanStats::default();
    let mut metas = Vec::with_capacity(s.sources.len());
    for (src, _, _) in &s.sources {
        metas.push(load_meta(src, &mut local).map_err(src_err)?);
    }
    let mut idx: Vec<(i64, u32, u32)> = Vec::new();
    for (di, m) in metas.iter().enumerate() {
        for (i, &ts) in m.ts.iter().enumerate() {
            if ts > start && ts <= end {
                idx.push((ts, di as u32, i as u32));
            }
        }
    }
    // Keys are unique, so the unstable sort gives the stable order.
    idx.sort_unstable();
    if idx.windows(2).any(|w| w[0].0 == w[1].0) {
        return Ok(false);
    }
    // With no pipeline, an entry's series depends only on its structured
    // metadata: compute the labels once per distinct metadata set of the
    // stream (most streams have a handful: `detected_level` values) instead
    // of building and hashing a label set per entry.
    let mut groups: Vec<MetaGroup> = Vec::new();
    for (ts, di, i) in idx {
        let m = &metas[di as usize];
        let len = m.lens[i as usize];
        local.lines += 1;
        local.bytes += u64::from(len);
        local.post_filter_lines += 1;
        let value = match kind {
            MetaValue::One => 1.0,
            MetaValue::LineLen => f64::from(len),
        };
        let md = &m.metadata[i as usize];
        let slot = match groups.iter().position(|g| g.metadata == *md) {
            Some(p) => Some(p),
            None if groups.len() < MAX_META_GROUPS => {
                groups.push(MetaGroup {
                    metadata: md.clone(),
                    labels: ex.process(ts, "", md).map(|(_, l)| l),
                    points: Vec::new(),
                });
                Some(groups.len() - 1)
            }
            None => None,
        };
        match slot {
            Some(p) if groups[p].labels.is_some() => groups[p].points.push(Point { ts, value }),
            Some(_) => {}
            None => {
                if let Some((_, labels)) = ex.process(ts, "", md) {
                    push_point(series, max_series, labels, ts, value)?;
                }
            }
        }
    }
    for g in groups {
        if let (Some(labels), false) = (g.labels, g.points.is_empty()) {
            merge_points(series, max_series, labels, g.points)?;
        }
    }
    add_stats(stats, &local);
    Ok(true)
}

fn add_stats(a: &mut ScanStats, b: &ScanStats) {
    a.blocks += b.blocks;
    a.lines += b.lines;
    a.bytes += b.bytes;
    a.compressed_bytes += b.compressed_bytes;
    a.post_filter_lines += b.post_filter_lines;
}

/// Samples of one stream through the full pipeline.
fn scan_full(
    s: &StreamSources,
    ex: &mut StreamExtractor<'_>,
    (start, end): (i64, i64),
    series: &mut Series,
    max_series: usize,
    stats: &mut ScanStats,
) -> lode_logql::Result<()> {
    let mut decoded = Vec::with_capacity(s.sources.len());
    let mut srcs: Vec<usize> = (0..s.sources.len()).collect();
    srcs.sort_by_key(|&i| (s.sources[i].1, i));
    for &i in &srcs {
        decoded.push(Decoded::load(&s.sources[i].0, stats).map_err(src_err)?);
    }
    // Entries of the stream in time order (stable across sources),
    // with exact re-sends (same time and line) counted once.
    let mut idx: Vec<(i64, u32, u32)> = Vec::new();
    for (di, d) in decoded.iter().enumerate() {
        for i in 0..d.len() {
            let ts = d.ts(i);
            if ts > start && ts <= end {
                idx.push((ts, di as u32, i as u32));
            }
        }
    }
    idx.sort_unstable();
    // Lines seen at the current timestamp: re-sends can only repeat one of
    // them, so only equal timestamps ever compare text.
    let mut run_ts = i64::MIN;
    let mut run_lines: Vec<&str> = Vec::new();
    for (ts, di, i) in idx {
        let d = &decoded[di as usize];
        let line = d.line(i as usize);
        if ts != run_ts {
            run_ts = ts;
            run_lines.clear();
        } else if run_lines.contains(&line) {
            continue;
        }
        run_lines.push(line);
        stats.lines += 1;
        // A block of big lines through a heavy pipeline takes seconds: the
        // deadline is checked within blocks too, not only between them.
        if stats.lines.is_multiple_of(256) || line.len() > 64 << 10 {
            crate::cancel::check().map_err(src_err)?;
        }
        stats.bytes += line.len() as u64;
        if let Some((v, labels)) = ex.process(ts, line, d.metadata(i as usize)) {
            stats.post_filter_lines += 1;
            push_point(series, max_series, labels, ts, v)?;
        }
    }
    Ok(())
}

/// Scans a share of the selected streams.
fn scan_streams(
    streams: &[StreamSources],
    extractor: &SampleExtractor,
    kind: Option<MetaValue>,
    window: (i64, i64),
    max_series: usize,
) -> lode_logql::Result<(Series, ScanStats)> {
    let mut stats = ScanStats::default();
    let mut series = Series::new();
    for s in streams {
        let mut ex = extractor.for_stream(&s.labels);
        if let Some(kind) = kind {
            if scan_meta(
                s,
                &mut ex,
                kind,
                window,
                &mut series,
                max_series,
                &mut stats,
            )? {
                continue;
            }
        }
        scan_full(s, &mut ex, window, &mut series, max_series, &mut stats)?;
    }
    Ok((series, stats))
}

/// Streams are scanned on this many threads when there is enough work.
fn scan_threads(streams: &[StreamSources]) -> usize {
    let work: usize = streams.iter().map(|s| s.sources.len()).sum();
    if work < 8 {
        return 1;
    }
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4)
}

/// Runs `scan` over contiguous shares of the streams of about equal work,
/// on several threads when there is enough work, each under the caller's
/// cancellation scope. Results come back in stream order, so merging them
/// in order gives what one sequential scan gives.
fn in_shares<X: Send>(
    streams: &[StreamSources],
    scan: impl Fn(&[StreamSources]) -> lode_logql::Result<X> + Sync,
) -> Vec<lode_logql::Result<X>> {
    let threads = scan_threads(streams);
    if threads <= 1 {
        return vec![scan(streams)];
    }
    let cancel = crate::cancel::current();
    let total: usize = streams.iter().map(|s| s.sources.len()).sum();
    let mut bounds = vec![0usize];
    let mut acc = 0;
    for (i, s) in streams.iter().enumerate() {
        acc += s.sources.len();
        if acc * threads >= total * bounds.len() && bounds.len() < threads {
            bounds.push(i + 1);
        }
    }
    bounds.push(streams.len());
    bounds.dedup();
    let scan = &scan;
    std::thread::scope(|sc| {
        let hs: Vec<_> = bounds
            .windows(2)
            .map(|w| {
                let (a, b) = (w[0], w[1]);
                let cancel = cancel.clone();
                sc.spawn(move || {
                    let _g = cancel.map(crate::cancel::enter);
                    scan(&streams[a..b])
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(QlError::Source("scan thread panicked".into())))
            })
            .collect()
    })
}

impl TenantSamples {
    /// The sources a range aggregation reads in `[start, end_incl]`: the
    /// selector's streams, without the blocks whose content filter rules
    /// out a literal every line passing the leading line filters holds
    /// (such a block yields no sample and adds to no bucket).
    fn sources(
        &self,
        range: &LogRange,
        extractor: &SampleExtractor,
        start: i64,
        end_incl: i64,
    ) -> lode_logql::Result<Vec<StreamSources>> {
        let matchers = compile_all(&range.log.selector).map_err(src_err)?;
        let prefilter = Prefilter::new(&extractor.required_literal_sets());
        let streams =
            select_sources_filtered(&self.tenant, &matchers, start, end_incl, prefilter.as_ref());
        // A metric query reads every block it selected: from a bucket,
        // fetch them together rather than one request per block.
        crate::sources::prefetch(
            streams
                .iter()
                .flat_map(|s| s.sources.iter().map(|(src, _, _)| src)),
        );
        Ok(streams)
    }
}

impl SampleSource for TenantSamples {
    fn samples(
        &self,
        range: &LogRange,
        op: RangeOp,
        grouping: Option<&Grouping>,
        start: i64,
        end: i64,
    ) -> lode_logql::Result<Vec<SeriesSamples>> {
        let extractor = SampleExtractor::new(range, op, grouping)?;
        let streams = self.sources(range, &extractor, start.saturating_add(1), end)?;
        let kind = meta_only(range, op);
        let window = (start, end);
        let max = self.max_series;
        let parts = in_shares(&streams, |share| {
            scan_streams(share, &extractor, kind, window, max)
        });
        let mut stats = ScanStats::default();
        let mut series = Series::new();
        for p in parts {
            let (part, st) = p?;
            add_stats(&mut stats, &st);
            for (labels, pts) in part {
                merge_points(&mut series, self.max_series, labels, pts)?;
            }
        }
        add_stats(&mut self.stats.lock(), &stats);
        let mut out: Vec<SeriesSamples> = series
            .into_iter()
            .map(|(labels, mut samples)| {
                samples.sort_by_key(|p| p.ts);
                SeriesSamples { labels, samples }
            })
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }

    fn bucket_counts(
        &self,
        range: &LogRange,
        op: RangeOp,
        grouping: Option<&Grouping>,
        grid: &BucketGrid,
    ) -> lode_logql::Result<Option<Vec<SeriesBuckets>>> {
        buckets::bucket_counts(self, range, op, grouping, grid)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Limits, Store, StoreOptions};
    use lode_logql::ast::MetricExpr;
    use lode_logql::engine::SampleSource;
    use lode_logql::value::SeriesSamples;
    use lode_proto::{Entry, PushStream};

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i64
    }

    fn run(store: &Store, q: &str, start: i64, end: i64) -> Vec<SeriesSamples> {
        let Ok(lode_logql::Expr::Metric(MetricExpr::RangeAgg {
            op,
            range,
            grouping,
            ..
        })) = lode_logql::parse(q)
        else {
            panic!("{q}")
        };
        store
            .samples("t", 1000)
            .samples(&range, op, grouping.as_ref(), start, end)
            .unwrap()
    }

    /// The meta-only path (empty pipeline) must give exactly what the full
    /// path gives (forced by a filter every line passes), across flushed
    /// blocks, in-memory blocks, the head, structured metadata, exact
    /// re-sends and equal timestamps, on one or several threads.
    #[test]
    fn meta_only_counts_match_the_full_pipeline() {
        let dir = tempfile::tempdir().unwrap();
        let opts = StoreOptions {
            data_dir: dir.path().to_path_buf(),
            fsync: false,
            block_target_bytes: 2048,
            ..Default::default()
        };
        let store = Store::open(opts, Limits::default()).unwrap();
        let base = now() - 3_600_000_000_000;
        let push = |round: i64| {
            let streams: Vec<PushStream> = (0..12)
                .map(|s| PushStream {
                    labels: vec![
                        ("app".into(), format!("a{}", s % 4)),
                        ("pod".into(), format!("p{s}")),
                    ],
                    entries: (0..300)
                        .map(|i| Entry {
                            // Stream 3 repeats timestamps (and sometimes lines).
                            ts: base
                                + round * 1_000_000_000_000
                                + if s == 3 { i / 2 } else { i } * 1_000_000_000,
                            line: format!("line {} of {s} {}", i / 3, "x".repeat((i % 7) as usize)),
                            structured_metadata: if i % 10 == 0 && s % 2 == 0 {
                                vec![("trace_id".into(), format!("t{}", i % 3))]
                            } else {
                                vec![]
                            },
                        })
                        .collect(),
                })
                .collect();
            store.push_sync("t", streams).unwrap();
        };
        push(0);
        store.flush().unwrap();
        push(1);
        let (start, end) = (base - 1, base + 3_000_000_000_000);
        for (fast, full) in [
            (
                "count_over_time({app=~\".+\"}[5m])",
                "count_over_time({app=~\".+\"} |= \"\" [5m])",
            ),
            (
                "rate({app=~\"a1|a2\"}[1m])",
                "rate({app=~\"a1|a2\"} |= \"\" [1m])",
            ),
            (
                "bytes_over_time({pod=\"p3\"}[5m])",
                "bytes_over_time({pod=\"p3\"} |= \"\" [5m])",
            ),
            (
                "bytes_rate({app=\"a0\"}[5m])",
                "bytes_rate({app=\"a0\"} |= \"\" [5m])",
            ),
        ] {
            let a = run(&store, fast, start, end);
            let b = run(&store, full, start, end);
            assert!(!a.is_empty(), "{fast}");
            assert_eq!(a.len(), b.len(), "{fast}");
            for (x, y) in a.iter().zip(&b) {
                assert_eq!(x.labels, y.labels, "{fast}");
                assert_eq!(x.samples, y.samples, "{fast} {}", x.labels);
            }
        }
        store.shutdown().unwrap();
    }
}

#[cfg(test)]
mod skip_tests {
    use crate::{Limits, Store, StoreOptions};
    use lode_logql::ast::MetricExpr;
    use lode_logql::engine::{evaluate, EvalParams};
    use lode_logql::value::QueryValue;
    use lode_proto::{Entry, PushStream};

    /// Metric queries with a needle skip the blocks whose content filter
    /// rules it out, on both the bucket and the sample path, and still count
    /// exactly the lines holding it.
    #[test]
    fn needle_counts_skip_blocks_and_stay_exact() {
        let dir = tempfile::tempdir().unwrap();
        let opts = StoreOptions {
            data_dir: dir.path().to_path_buf(),
            fsync: false,
            block_target_bytes: 4096,
            ..Default::default()
        };
        let store = Store::open(opts, Limits::default()).unwrap();
        let base = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i64
            - 3_600_000_000_000;
        let needle = "7f3ac9d2e1b84f60a5c3";
        let mut expected = 0.0;
        let streams: Vec<PushStream> = (0..6)
            .map(|s| PushStream {
                labels: vec![("app".into(), format!("a{s}"))],
                entries: (0..2000)
                    .map(|i| {
                        let hit = s == 4 && i == 1234;
                        if hit {
                            expected += 1.0;
                        }
                        Entry {
                            ts: base + i * 1_000_000_000,
                            line: if hit {
                                format!("GET /api status=200 trace={needle}")
                            } else {
                                format!("GET /api/items/{i} status=200 user=alice{}", i % 13)
                            },
                            structured_metadata: vec![],
                        }
                    })
                    .collect(),
            })
            .collect();
        store.push_sync("t", streams).unwrap();
        store.flush().unwrap();
        let end = base + 2_000_000_000_000;
        for q in [
            // Instant over one bucket: the bucket path.
            format!("sum(count_over_time({{app=~\".+\"}} |= \"{needle}\" [1h]))"),
            // A parser after the filter: the sample path.
            format!("sum(count_over_time({{app=~\".+\"}} |= \"{needle}\" | logfmt [1h]))"),
        ] {
            let Ok(lode_logql::Expr::Metric(expr)) = lode_logql::parse(&q) else {
                panic!("{q}")
            };
            assert!(matches!(expr, MetricExpr::VectorAgg { .. }), "{q}");
            let src = store.samples("t", 1000);
            let params = EvalParams {
                start: end,
                end,
                step: 0,
                instant: true,
                max_series: 500,
            };
            let v = evaluate(&expr, &params, &src).unwrap();
            let QueryValue::Vector(samples) = v else {
                panic!("{q}: not a vector")
            };
            assert_eq!(samples.len(), 1, "{q}");
            assert_eq!(samples[0].value, expected, "{q}");
            let read = src.stats().blocks;
            // A 3-byte needle never skips: every block is read.
            let all = store.samples("t", 1000);
            let Ok(lode_logql::Expr::Metric(every)) =
                lode_logql::parse("sum(count_over_time({app=~\".+\"} |= \"GET\" [1h]))")
            else {
                panic!()
            };
            evaluate(&every, &params, &all).unwrap();
            let total = all.stats().blocks;
            assert!(total >= 20, "only {total} blocks: the test needs more");
            assert!(
                read >= 1 && read * 4 < total,
                "{q}: read {read} of {total} blocks"
            );
        }
    }
}
