//! Per-bucket counts for counting range aggregations (`count_over_time`,
//! `rate`, `bytes_over_time`, `bytes_rate`) whose pipeline is empty or made
//! of line filters only: the engine's `SampleSource::bucket_counts`.
//!
//! An entry's series then depends on its stream and structured metadata
//! only, so series labels are computed once per distinct metadata encoding
//! of a stream and each entry costs a timestamp, a bucket index and an
//! increment (plus the line filters when there are some). Blocks are walked
//! in place: metadata stays encoded and is compared as bytes.
//!
//! What stays as in `samples`: series identity, exact re-sends counted once
//! (same stream, time and line), retention and deletes (through
//! `select_sources`), `max_series`, cancellation per block and the split
//! over cores. A stream whose sources overlap in time goes through the
//! sample path's scan and its samples are bucketed afterwards.

use super::{add_stats, in_shares, scan_full, scan_meta, src_err, MetaValue, Series};
use super::{TenantSamples, MAX_META_GROUPS};
use crate::error::StorageError;
use crate::format::block::{raw_sections, read_ts_lens};
use crate::format::varint::{put_bytes, put_uvarint, Reader};
use crate::index::compile_all;
use crate::query::{select_sources, ScanStats, Source, StreamSources};
use lode_logql::ast::{Grouping, LogRange, RangeOp};
use lode_logql::engine::{BucketGrid, SeriesBuckets};
use lode_logql::pipeline::{SampleExtractor, StreamExtractor};
use lode_logql::{Error as QlError, LabelSet};
use lode_proto::Entry;
use std::collections::HashMap;

/// Cells (series × buckets) one query may hold; past this the engine is
/// told to use samples instead.
const MAX_CELLS: usize = 1 << 22;

/// Why a scan stopped.
enum Abort {
    /// Too many cells: not an error, the sample path answers instead.
    TooBig,
    Err(QlError),
}

impl From<QlError> for Abort {
    fn from(e: QlError) -> Self {
        Abort::Err(e)
    }
}

impl From<StorageError> for Abort {
    fn from(e: StorageError) -> Self {
        Abort::Err(src_err(e))
    }
}

type Res<T> = Result<T, Abort>;

/// Counts gathered by one scan share.
struct Acc {
    grid: BucketGrid,
    bytes_op: bool,
    max_series: usize,
    index: HashMap<LabelSet, u32>,
    series: Vec<SeriesBuckets>,
    stats: ScanStats,
}

impl Acc {
    fn new(grid: BucketGrid, bytes_op: bool, max_series: usize) -> Acc {
        Acc {
            grid,
            bytes_op,
            max_series,
            index: HashMap::new(),
            series: Vec::new(),
            stats: ScanStats::default(),
        }
    }

    /// The slot of a series, refusing a new one past `max_series`.
    fn slot(&mut self, labels: LabelSet) -> Res<u32> {
        if let Some(&i) = self.index.get(&labels) {
            return Ok(i);
        }
        if self.series.len() >= self.max_series {
            return Err(QlError::MaxSeries(self.max_series).into());
        }
        if (self.series.len() + 1).saturating_mul(self.grid.count) > MAX_CELLS {
            return Err(Abort::TooBig);
        }
        let n = self.grid.count;
        let i = self.series.len() as u32;
        self.series.push(SeriesBuckets {
            labels: labels.clone(),
            counts: vec![0; n],
            bytes: if self.bytes_op {
                vec![0; n]
            } else {
                Vec::new()
            },
        });
        self.index.insert(labels, i);
        Ok(i)
    }

    #[inline]
    fn add(&mut self, slot: u32, ts: i64, len: u64) {
        if let Some(k) = self.grid.index(ts) {
            let s = &mut self.series[slot as usize];
            s.counts[k] += 1;
            if self.bytes_op {
                s.bytes[k] += len;
            }
        }
    }

    fn merge(&mut self, other: Acc) -> Res<()> {
        add_stats(&mut self.stats, &other.stats);
        for s in other.series {
            let slot = self.slot(s.labels)? as usize;
            let mine = &mut self.series[slot];
            for (a, b) in mine.counts.iter_mut().zip(&s.counts) {
                *a += b;
            }
            for (a, b) in mine.bytes.iter_mut().zip(&s.bytes) {
                *a += b;
            }
        }
        Ok(())
    }
}

/// The entries of one source, read in place.
enum View<'a> {
    Block {
        ts: Vec<i64>,
        lens: Vec<u32>,
        /// The meta section; entry `i`'s metadata is `meta[md[i]..md[i + 1]]`.
        meta: Vec<u8>,
        md: Vec<u32>,
        /// Empty unless the lines were asked for; then `line_at` has
        /// `len + 1` offsets into `lines`.
        lines: String,
        line_at: Vec<u32>,
    },
    Head(&'a [Entry]),
}

impl View<'_> {
    fn block(payload: &[u8], with_lines: bool) -> Result<View<'static>, StorageError> {
        let (meta, lines) = raw_sections(payload, with_lines)?;
        let mut r = Reader::new(&meta);
        let (ts, lens) = read_ts_lens(&mut r)?;
        let mut md = Vec::with_capacity(ts.len() + 1);
        for _ in 0..ts.len() {
            md.push(r.position() as u32);
            for _ in 0..r.uvarint()? {
                r.len_prefixed()?;
                r.len_prefixed()?;
            }
        }
        md.push(r.position() as u32);
        let mut line_at = Vec::new();
        if with_lines {
            line_at.reserve(ts.len() + 1);
            let mut off = 0u64;
            line_at.push(0);
            for &l in &lens {
                off += u64::from(l);
                line_at.push(
                    u32::try_from(off)
                        .map_err(|_| StorageError::Corrupt("block too large".into()))?,
                );
            }
            if off != lines.len() as u64 {
                return Err(StorageError::Corrupt("line lengths do not add up".into()));
            }
        }
        let lines = String::from_utf8(lines)
            .map_err(|_| StorageError::Corrupt("line text is not UTF-8".into()))?;
        Ok(View::Block {
            ts,
            lens,
            meta,
            md,
            lines,
            line_at,
        })
    }

    fn len(&self) -> usize {
        match self {
            View::Block { ts, .. } => ts.len(),
            View::Head(v) => v.len(),
        }
    }

    #[inline]
    fn ts(&self, i: usize) -> i64 {
        match self {
            View::Block { ts, .. } => ts[i],
            View::Head(v) => v[i].ts,
        }
    }

    #[inline]
    fn line_len(&self, i: usize) -> u64 {
        match self {
            View::Block { lens, .. } => u64::from(lens[i]),
            View::Head(v) => v[i].line.len() as u64,
        }
    }

    /// Needs the lines (`View::block(.., true)` or a head).
    #[inline]
    fn line(&self, i: usize) -> &str {
        match self {
            View::Block { lines, line_at, .. } => lines
                .get(line_at[i] as usize..line_at[i + 1] as usize)
                .unwrap_or_default(),
            View::Head(v) => &v[i].line,
        }
    }

    fn has_lines(&self) -> bool {
        match self {
            View::Block { line_at, .. } => !line_at.is_empty(),
            View::Head(_) => true,
        }
    }

    /// Entry `i`'s structured metadata in its block encoding (encoded into
    /// `scratch` for head entries).
    #[inline]
    fn md_key<'b>(&'b self, i: usize, scratch: &'b mut Vec<u8>) -> &'b [u8] {
        match self {
            View::Block { meta, md, .. } => &meta[md[i] as usize..md[i + 1] as usize],
            View::Head(v) => {
                scratch.clear();
                let sm = &v[i].structured_metadata;
                put_uvarint(scratch, sm.len() as u64);
                for (k, v) in sm {
                    put_bytes(scratch, k.as_bytes());
                    put_bytes(scratch, v.as_bytes());
                }
                scratch
            }
        }
    }
}

fn decode_md(key: &[u8]) -> Result<Vec<(String, String)>, StorageError> {
    let mut r = Reader::new(key);
    let n = r.uvarint()?;
    let mut out = Vec::with_capacity(n.min(64) as usize);
    for _ in 0..n {
        let k = r.str()?.to_string();
        let v = r.str()?.to_string();
        out.push((k, v));
    }
    Ok(out)
}

/// Series slots of a stream by metadata encoding. Two encodings of equal
/// metadata would only cost a second entry here: the slot comes from the
/// labels.
#[derive(Default)]
struct Groups {
    keys: Vec<Vec<u8>>,
    slots: Vec<Option<u32>>,
    last: usize,
}

impl Groups {
    /// The slot of a passing entry; `None` when the extractor yields no
    /// sample for it.
    fn slot(
        &mut self,
        key: &[u8],
        ts: i64,
        line: &str,
        ex: &mut StreamExtractor<'_>,
        acc: &mut Acc,
    ) -> Res<Option<u32>> {
        if self.keys.get(self.last).is_some_and(|k| k == key) {
            return Ok(self.slots[self.last]);
        }
        if let Some(p) = self.keys.iter().position(|k| k == key) {
            self.last = p;
            return Ok(self.slots[p]);
        }
        let md = decode_md(key)?;
        let slot = match ex.process(ts, line, &md) {
            Some((_, labels)) => Some(acc.slot(labels)?),
            None => None,
        };
        // Past the cap (e.g. a unique trace id per entry) every entry
        // resolves its series anew, as the sample path does.
        if self.keys.len() < MAX_META_GROUPS {
            self.keys.push(key.to_vec());
            self.slots.push(slot);
            self.last = self.keys.len() - 1;
        }
        Ok(slot)
    }
}

/// What the scan of one stream shares.
struct Scan<'a, 'e> {
    extractor: &'a SampleExtractor,
    ex: StreamExtractor<'e>,
    /// Empty pipeline: lines are only needed to tell re-sends apart.
    plain: bool,
    groups: Groups,
    scratch: Vec<u8>,
    run: Vec<usize>,
}

impl Scan<'_, '_> {
    /// Entries `lo..hi` of a sorted source without equal timestamps, from
    /// the meta section only.
    fn count_meta(&mut self, v: &View<'_>, lo: usize, hi: usize, acc: &mut Acc) -> Res<()> {
        let mut lines = 0u64;
        let mut bytes = 0u64;
        for i in lo..hi {
            let (ts, len) = (v.ts(i), v.line_len(i));
            lines += 1;
            bytes += len;
            let key = v.md_key(i, &mut self.scratch);
            if let Some(slot) = self.groups.slot(key, ts, "", &mut self.ex, acc)? {
                acc.add(slot, ts, len);
            }
        }
        acc.stats.lines += lines;
        acc.stats.bytes += bytes;
        acc.stats.post_filter_lines += lines;
        Ok(())
    }

    /// Entries in time order through the line filters, exact re-sends
    /// (an equal time and line earlier in the source) skipped.
    fn count_lines(
        &mut self,
        v: &View<'_>,
        idx: impl Iterator<Item = usize>,
        acc: &mut Acc,
    ) -> Res<()> {
        let mut run_ts = i64::MIN;
        self.run.clear();
        for i in idx {
            let ts = v.ts(i);
            let line = v.line(i);
            if ts != run_ts {
                run_ts = ts;
                self.run.clear();
            } else if self.run.iter().any(|&j| v.line(j) == line) {
                continue;
            }
            self.run.push(i);
            acc.stats.lines += 1;
            acc.stats.bytes += line.len() as u64;
            if !self.extractor.line_passes(line) {
                continue;
            }
            acc.stats.post_filter_lines += 1;
            let key = v.md_key(i, &mut self.scratch);
            if let Some(slot) = self.groups.slot(key, ts, line, &mut self.ex, acc)? {
                acc.add(slot, ts, line.len() as u64);
            }
        }
        Ok(())
    }

    fn source(&mut self, src: &Source, acc: &mut Acc) -> Res<()> {
        crate::cancel::check()?;
        let payload = match src {
            Source::Block(b) => {
                acc.stats.blocks += 1;
                acc.stats.compressed_bytes += b.compressed_len();
                Some(b.payload()?)
            }
            Source::Head(_) => None,
        };
        let mut view = match (src, &payload) {
            (Source::Head(v), _) => View::Head(v),
            (_, Some(p)) => View::block(p, !self.plain)?,
            (Source::Block(_), None) => unreachable!("read above"),
        };
        let (first, end) = (acc.grid.first, acc.grid.end());
        // One pass: the entries on the grid (`lo..hi` when sorted) and
        // whether two of them share a timestamp.
        let (mut lo, mut hi) = (view.len(), view.len());
        let mut sorted = true;
        let mut equal = false;
        let mut prev = i64::MIN;
        for i in 0..view.len() {
            let t = view.ts(i);
            if t < prev {
                sorted = false;
                break;
            }
            if t > first && lo == view.len() {
                lo = i;
            }
            if t > end && hi == view.len() {
                hi = i;
            }
            equal |= t == prev && t > first && t <= end;
            prev = t;
        }
        if sorted && !equal && self.plain {
            return self.count_meta(&view, lo.min(hi), hi, acc);
        }
        if let (false, Some(p)) = (view.has_lines(), &payload) {
            view = View::block(p, true)?;
        }
        if sorted {
            return self.count_lines(&view, lo.min(hi)..hi, acc);
        }
        // Blocks are written sorted; should one not be, count it in time order.
        let mut order: Vec<usize> = (0..view.len())
            .filter(|&i| {
                let t = view.ts(i);
                t > first && t <= end
            })
            .collect();
        order.sort_by_key(|&i| (view.ts(i), i));
        self.count_lines(&view, order.into_iter(), acc)
    }
}

/// A stream whose sources overlap in time, through the sample path's scan
/// (which merges them in time order to tell re-sends apart), bucketed.
fn stream_via_samples(
    s: &StreamSources,
    scan: &mut Scan<'_, '_>,
    kind: MetaValue,
    acc: &mut Acc,
) -> Res<()> {
    let window = (acc.grid.first, acc.grid.end());
    let mut local = Series::new();
    let mut st = ScanStats::default();
    let max = acc.max_series;
    let done = scan.plain && scan_meta(s, &mut scan.ex, kind, window, &mut local, max, &mut st)?;
    if !done {
        scan_full(s, &mut scan.ex, window, &mut local, max, &mut st)?;
    }
    add_stats(&mut acc.stats, &st);
    for (labels, points) in local {
        let slot = acc.slot(labels)?;
        for p in points {
            acc.add(slot, p.ts, p.value as u64);
        }
    }
    Ok(())
}

fn scan_share(
    streams: &[StreamSources],
    extractor: &SampleExtractor,
    kind: MetaValue,
    acc: &mut Acc,
) -> Res<()> {
    let plain = extractor.is_plain();
    let mut order = Vec::new();
    for s in streams {
        let mut scan = Scan {
            extractor,
            ex: extractor.for_stream(&s.labels),
            plain,
            groups: Groups::default(),
            scratch: Vec::new(),
            run: Vec::new(),
        };
        order.clear();
        order.extend(0..s.sources.len());
        order.sort_by_key(|&i| (s.sources[i].1, i));
        // Re-sends can only straddle sources whose time ranges touch.
        if order
            .windows(2)
            .any(|w| s.sources[w[0]].2 >= s.sources[w[1]].1)
        {
            stream_via_samples(s, &mut scan, kind, acc)?;
            continue;
        }
        for &i in &order {
            scan.source(&s.sources[i].0, acc)?;
        }
    }
    Ok(())
}

/// `SampleSource::bucket_counts` for one tenant.
pub(super) fn bucket_counts(
    this: &TenantSamples,
    range: &LogRange,
    op: RangeOp,
    grouping: Option<&Grouping>,
    grid: &BucketGrid,
) -> lode_logql::Result<Option<Vec<SeriesBuckets>>> {
    let kind = match op {
        RangeOp::CountOverTime | RangeOp::Rate => MetaValue::One,
        RangeOp::BytesOverTime | RangeOp::BytesRate => MetaValue::LineLen,
        _ => return Ok(None),
    };
    if grid.count == 0 || grid.count > MAX_CELLS || grid.width <= 0 {
        return Ok(None);
    }
    let extractor = SampleExtractor::new(range, op, grouping)?;
    if !extractor.line_filters_only() {
        return Ok(None);
    }
    let bytes_op = matches!(kind, MetaValue::LineLen);
    let matchers = compile_all(&range.log.selector).map_err(src_err)?;
    let streams = select_sources(
        &this.tenant,
        &matchers,
        grid.first.saturating_add(1),
        grid.end(),
    );
    let max = this.max_series;
    let parts = in_shares(&streams, |share| {
        let mut acc = Acc::new(*grid, bytes_op, max);
        match scan_share(share, &extractor, kind, &mut acc) {
            Ok(()) => Ok(Some(acc)),
            Err(Abort::TooBig) => Ok(None),
            Err(Abort::Err(e)) => Err(e),
        }
    });
    let mut total = Acc::new(*grid, bytes_op, max);
    for p in parts {
        let Some(part) = p? else {
            return Ok(None);
        };
        match total.merge(part) {
            Ok(()) => {}
            Err(Abort::TooBig) => return Ok(None),
            Err(Abort::Err(e)) => return Err(e),
        }
    }
    add_stats(&mut this.stats.lock(), &total.stats);
    let mut out = total.series;
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use crate::samples::TenantSamples;
    use crate::{Limits, Store, StoreOptions};
    use lode_logql::ast::{Grouping, LogRange, MetricExpr, RangeOp};
    use lode_logql::engine::{evaluate, BucketGrid, EvalParams, SampleSource, SeriesBuckets};
    use lode_logql::value::{QueryValue, SeriesSamples};
    use lode_proto::{Entry, PushStream};
    use std::cell::Cell;

    const S: i64 = 1_000_000_000;

    /// The store without its bucket path: what the engine computed before.
    struct SamplesOnly<'a>(&'a TenantSamples);

    impl SampleSource for SamplesOnly<'_> {
        fn samples(
            &self,
            range: &LogRange,
            op: RangeOp,
            grouping: Option<&Grouping>,
            start: i64,
            end: i64,
        ) -> lode_logql::Result<Vec<SeriesSamples>> {
            self.0.samples(range, op, grouping, start, end)
        }
    }

    /// The store as the server uses it, counting bucket answers.
    struct Counting<'a> {
        inner: &'a TenantSamples,
        answered: Cell<usize>,
    }

    impl SampleSource for Counting<'_> {
        fn samples(
            &self,
            range: &LogRange,
            op: RangeOp,
            grouping: Option<&Grouping>,
            start: i64,
            end: i64,
        ) -> lode_logql::Result<Vec<SeriesSamples>> {
            self.inner.samples(range, op, grouping, start, end)
        }

        fn bucket_counts(
            &self,
            range: &LogRange,
            op: RangeOp,
            grouping: Option<&Grouping>,
            grid: &BucketGrid,
        ) -> lode_logql::Result<Option<Vec<SeriesBuckets>>> {
            let r = self.inner.bucket_counts(range, op, grouping, grid)?;
            if r.is_some() {
                self.answered.set(self.answered.get() + 1);
            }
            Ok(r)
        }
    }

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i64
    }

    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    const WORDS: [&str; 6] = ["ok", "error", "timeout", "GET /", "caf\u{e9}", "x"];

    /// Random streams over two hours from `base`: equal timestamps and
    /// exact re-sends, a few metadata sets per stream and one stream with a
    /// new trace id on every entry, spread over flushed blocks, in-memory
    /// blocks and heads, one stream written out of order.
    fn fill(store: &Store, seed: u64, base: i64) {
        let mut r = Rng(seed | 1);
        let round = |r: &mut Rng, from: i64, n: i64| -> Vec<PushStream> {
            (0..8)
                .map(|s| {
                    let mut entries: Vec<Entry> = Vec::new();
                    let mut ts = from + r.below(30) as i64 * S;
                    for i in 0..n {
                        if r.below(8) != 0 {
                            ts += (r.below(60) as i64 + 1) * S / 4;
                        }
                        let line = format!(
                            "{} {} {}",
                            WORDS[r.below(6) as usize],
                            WORDS[r.below(6) as usize],
                            r.below(4)
                        );
                        let structured_metadata = match (s, r.below(4)) {
                            (0, _) => vec![("trace_id".into(), format!("t{i}"))],
                            (_, 0) => vec![],
                            (_, k) => vec![("detected_level".into(), format!("l{k}"))],
                        };
                        let e = Entry {
                            ts,
                            line,
                            structured_metadata,
                        };
                        if r.below(10) == 0 {
                            entries.push(e.clone());
                        }
                        entries.push(e);
                    }
                    PushStream {
                        labels: vec![
                            ("app".into(), format!("a{}", s % 3)),
                            ("pod".into(), format!("p{s}")),
                        ],
                        entries,
                    }
                })
                .collect()
        };
        let first = round(&mut r, base, 150);
        store.push_sync("t", first).unwrap();
        store.flush().unwrap();
        let second = round(&mut r, base + 3600 * S, 150);
        store.push_sync("t", second).unwrap();
        // Late entries for one stream, inside the first round's span.
        let mut late = round(&mut r, base + 600 * S, 40);
        late.truncate(2);
        store.push_sync("t", late).unwrap();
    }

    fn metric(q: &str) -> MetricExpr {
        match lode_logql::parse(q).unwrap() {
            lode_logql::Expr::Metric(m) => m,
            e => panic!("{e:?}"),
        }
    }

    const QUERIES: [&str; 10] = [
        "count_over_time({app=~\".+\"}[5m])",
        "sum by (app) (count_over_time({app=~\".+\"}[10m]))",
        "rate({app=\"a1\"}[1m])",
        "bytes_over_time({pod=~\"p[0-4]\"}[5m])",
        "sum(bytes_rate({app=~\".+\"} != \"x\" [5m]))",
        "sum by (app) (count_over_time({app=~\".+\"} |~ \"error|timeout\" [5m]))",
        "count_over_time({app=~\".+\"} |= \"error\" or \"GET\" [15m] offset 7m)",
        "sum without (pod) (rate({app=~\".+\"} !~ \"o.\" |= \"caf\u{e9}\" [5m]))",
        "bytes_over_time({app=\"a0\"} |= \"\" [2m])",
        "sum by (detected_level) (count_over_time({app=~\".+\"}[5m]))",
    ];

    /// The bucket path answers exactly what the sample path answers.
    #[test]
    fn bucket_counts_match_the_sample_path() {
        for seed in [7u64, 1234, 99_991] {
            let dir = tempfile::tempdir().unwrap();
            let opts = StoreOptions {
                data_dir: dir.path().to_path_buf(),
                fsync: false,
                block_target_bytes: 1024,
                ..Default::default()
            };
            let limits = Limits {
                out_of_order_window: 0,
                ..Limits::default()
            };
            let store = Store::open(opts, limits).unwrap();
            let base = now() - 3 * 3600 * S;
            fill(&store, seed, base);
            let src = store.samples("t", 1000);
            let start = base - 60 * S;
            let params = [
                (start, start + 7200 * S, 60 * S, false),
                // A step that does not divide the range: finer buckets.
                (start + 13 * S, start + 7200 * S, 7 * S, false),
                // A step longer than the range.
                (start, start + 7200 * S, 1200 * S, false),
                (start + 5000 * S, start + 5000 * S, 0, true),
                (start + 3700 * S, start + 3700 * S, 0, true),
            ];
            for q in QUERIES {
                let expr = metric(q);
                for &(start, end, step, instant) in &params {
                    let p = EvalParams {
                        start,
                        end,
                        step,
                        instant,
                        max_series: 1000,
                    };
                    let want = evaluate(&expr, &p, &SamplesOnly(&src)).unwrap();
                    let fast = Counting {
                        inner: &src,
                        answered: Cell::new(0),
                    };
                    let got = evaluate(&expr, &p, &fast).unwrap();
                    assert_eq!(fast.answered.get(), 1, "{q}");
                    let non_empty = match &want {
                        QueryValue::Matrix(m) => !m.is_empty(),
                        QueryValue::Vector(v) => !v.is_empty(),
                        QueryValue::Scalar { .. } => true,
                    };
                    // Sparse steps and instants may well find nothing.
                    assert!(non_empty || step != 60 * S, "{q} seed {seed}");
                    assert_eq!(got, want, "{q} seed {seed} step {step}");
                }
            }
            store.shutdown().unwrap();
        }
    }

    fn leaf(q: &str) -> (LogRange, RangeOp, Option<Grouping>) {
        match metric(q) {
            MetricExpr::RangeAgg {
                op,
                range,
                grouping,
                ..
            } => (range, op, grouping),
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn other_pipelines_and_huge_grids_take_the_sample_path() {
        let dir = tempfile::tempdir().unwrap();
        let opts = StoreOptions {
            data_dir: dir.path().to_path_buf(),
            fsync: false,
            ..Default::default()
        };
        let store = Store::open(opts, Limits::default()).unwrap();
        let base = now() - 3600 * S;
        let streams = (0..5)
            .map(|s| PushStream {
                labels: vec![("pod".into(), format!("p{s}"))],
                entries: vec![Entry {
                    ts: base + s,
                    line: "{\"status\": 500}".into(),
                    structured_metadata: vec![],
                }],
            })
            .collect();
        store.push_sync("t", streams).unwrap();
        let src = store.samples("t", 1000);
        let grid = BucketGrid {
            first: base - S,
            width: S,
            count: 10,
        };
        let ask = |q: &str, grid: &BucketGrid| {
            let (range, op, g) = leaf(q);
            src.bucket_counts(&range, op, g.as_ref(), grid).unwrap()
        };
        let counts = ask("count_over_time({pod=~\".+\"} |= \"500\" [1s])", &grid).unwrap();
        assert_eq!(counts.len(), 5);
        assert!(counts.iter().all(|s| s.counts.iter().sum::<u64>() == 1));
        assert!(ask("count_over_time({pod=~\".+\"} | json [1s])", &grid).is_none());
        assert!(ask("count_over_time({pod=~\".+\"} | status=\"1\" [1s])", &grid).is_none());
        assert!(ask(
            "sum_over_time({pod=~\".+\"} | json | unwrap status [1s])",
            &grid
        )
        .is_none());
        assert!(ask(
            "max_over_time({pod=~\".+\"} | json | unwrap status [1s])",
            &grid
        )
        .is_none());
        // Five series of a million buckets each: more cells than allowed.
        let fine = BucketGrid {
            first: base - 1,
            width: 1,
            count: 1 << 20,
        };
        assert!(ask("count_over_time({pod=~\".+\"}[1s])", &fine).is_none());
        // The series limit holds on both paths.
        let few = store.samples("t", 3);
        let (range, op, g) = leaf("count_over_time({pod=~\".+\"}[1s])");
        assert!(matches!(
            few.bucket_counts(&range, op, g.as_ref(), &grid),
            Err(lode_logql::Error::MaxSeries(3))
        ));
        assert!(matches!(
            few.samples(&range, op, g.as_ref(), grid.first, grid.end()),
            Err(lode_logql::Error::MaxSeries(3))
        ));
        store.shutdown().unwrap();
    }
}
