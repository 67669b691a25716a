//! Per-bucket counts for counting range aggregations (`count_over_time`,
//! `rate`, `bytes_over_time`, `bytes_rate`) whose pipeline is empty or made
//! of line filters only: the engine's `SampleSource::bucket_counts`.
//!
//! An entry's series then depends on its stream and structured metadata
//! only, so series labels are computed once per distinct metadata encoding
//! of a stream and each entry costs a timestamp, a bucket index and an
//! increment (plus the line filters when there are some). Blocks are walked
//! in place: a block stores its distinct metadata sets once with a set index
//! per entry, so a series slot is found once per set and block (never by
//! comparing an entry's metadata), and nothing is allocated per entry.
//!
//! What stays as in `samples`: series identity, exact re-sends counted once
//! (same stream, time and line; the first in time order, sources ordered by
//! their first timestamp, wins), retention and deletes (through
//! `select_sources`), `max_series`, cancellation per block and the split
//! over cores. Re-sends can only hide where timestamps are equal, so lines
//! are compared only within groups of sources whose time ranges touch and
//! which do hold equal timestamps.

use super::{add_stats, in_shares, src_err, MetaValue, TenantSamples, MAX_META_GROUPS};
use crate::error::StorageError;
use crate::format::block::{decode_set, BlockBufs, BlockView};
use crate::sources::{ScanStats, Source, StreamSources};
use lode_logql::ast::{Grouping, LogRange, RangeOp};
use lode_logql::engine::{BucketGrid, SeriesBuckets};
use lode_logql::pipeline::{SampleExtractor, StreamExtractor};
use lode_logql::{Error as QlError, LabelSet};
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
            self.add_at(slot, k, len);
        }
    }

    /// Entries of one series with ascending timestamps, all on the grid:
    /// one bucket index per bucket touched, then a binary search for the
    /// run of entries up to the bucket's edge.
    fn add_sorted(&mut self, slot: u32, ts: &[i64], lens: &[u32]) {
        let grid = self.grid;
        let s = &mut self.series[slot as usize];
        let mut i = 0;
        while i < ts.len() {
            let Some(k) = grid.index(ts[i]) else {
                i += 1;
                continue;
            };
            let edge = grid
                .first
                .saturating_add(grid.width.saturating_mul(k as i64 + 1));
            let j = i + ts[i..].partition_point(|&t| t <= edge);
            s.counts[k] += (j - i) as u64;
            if self.bytes_op {
                s.bytes[k] += lens[i..j].iter().map(|&l| u64::from(l)).sum::<u64>();
            }
            i = j;
        }
    }

    #[inline]
    fn add_at(&mut self, slot: u32, bucket: usize, len: u64) {
        let s = &mut self.series[slot as usize];
        s.counts[bucket] += 1;
        if self.bytes_op {
            s.bytes[bucket] += len;
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

/// Where a source's entries on the grid are and whether they need lines.
struct Span {
    /// `lo..hi` are on the grid when `sorted`.
    lo: usize,
    hi: usize,
    sorted: bool,
    /// Two entries on the grid share a timestamp.
    equal: bool,
}

fn span(v: &BlockView<'_>, first: i64, end: i64) -> Span {
    let n = v.len();
    let mut s = Span {
        lo: n,
        hi: n,
        sorted: true,
        equal: false,
    };
    let mut prev = i64::MIN;
    for i in 0..n {
        let t = v.ts(i);
        if t < prev {
            s.sorted = false;
            break;
        }
        if t > first && s.lo == n {
            s.lo = i;
        }
        if t > end {
            s.hi = i;
            break;
        }
        s.equal |= t == prev && t > first;
        prev = t;
    }
    s.lo = s.lo.min(s.hi);
    s
}

/// Whether sorted sources share a timestamp on the grid (a merge by time).
fn share_a_timestamp(views: &[BlockView<'_>], spans: &[Span]) -> bool {
    let mut cur: Vec<usize> = spans.iter().map(|s| s.lo).collect();
    let mut prev = None;
    loop {
        let mut next: Option<(i64, usize)> = None;
        for (k, v) in views.iter().enumerate() {
            if cur[k] < spans[k].hi {
                let t = v.ts(cur[k]);
                if next.is_none_or(|(nt, _)| t < nt) {
                    next = Some((t, k));
                }
            }
        }
        let Some((t, k)) = next else {
            return false;
        };
        if prev == Some(t) {
            return true;
        }
        prev = Some(t);
        cur[k] += 1;
    }
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
        let md = decode_set(key)?;
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

/// One stream's extractor and series slots.
struct StreamState<'e> {
    ex: StreamExtractor<'e>,
    groups: Groups,
}

/// Scans a share of the streams, reusing its buffers throughout.
struct Scan<'a> {
    extractor: &'a SampleExtractor,
    /// Empty pipeline: lines are only needed to tell re-sends apart.
    plain: bool,
    scratch: Vec<u8>,
    run: Vec<(usize, usize)>,
    order: Vec<(i64, u32, u32)>,
    pool: Vec<BlockBufs>,
    /// Per metadata set of the block being counted: its slot once found.
    set_slots: Vec<Option<Option<u32>>>,
}

impl<'a> Scan<'a> {
    fn view<'s>(
        &mut self,
        src: &'s Source,
        payload: Option<&[u8]>,
        with_lines: bool,
    ) -> Result<BlockView<'s>, StorageError> {
        Ok(match (src, payload) {
            (Source::Block(_), Some(p)) => {
                BlockView::block(p, with_lines, self.pool.pop().unwrap_or_default())?
            }
            (Source::Head(v), _) => BlockView::Head(v),
            (Source::Block(_), None) => return Err(StorageError::Corrupt("block not read".into())),
        })
    }

    /// Entries `lo..hi` of a sorted source without equal timestamps, from
    /// the meta section alone.
    fn count_meta(
        &mut self,
        v: &BlockView<'_>,
        lo: usize,
        hi: usize,
        st: &mut StreamState<'_>,
        acc: &mut Acc,
    ) -> Res<()> {
        if lo >= hi {
            return Ok(());
        }
        let mut bytes = 0u64;
        match v {
            BlockView::Block { b, dict, .. } => {
                let (ts, lens) = (&b.ts[lo..hi], &b.lens[lo..hi]);
                bytes = lens.iter().map(|&l| u64::from(l)).sum();
                if dict.len() == 1 {
                    // One metadata set (or none): one series for the run.
                    if let Some(slot) = st.groups.slot(dict.set(0), ts[0], "", &mut st.ex, acc)? {
                        acc.add_sorted(slot, ts, lens);
                    }
                } else {
                    // Each set's slot, found when an entry first uses it.
                    let cache = &mut self.set_slots;
                    cache.clear();
                    cache.resize(dict.len(), None);
                    // Timestamps ascend: the bucket changes only past its edge.
                    let mut bucket = 0usize;
                    let mut edge = i64::MIN;
                    for (k, (&ts, &len)) in ts.iter().zip(lens).enumerate() {
                        let set = b.sets[lo + k];
                        let slot = match cache[set as usize] {
                            Some(slot) => slot,
                            None => {
                                let key = dict.set(set);
                                let slot = st.groups.slot(key, ts, "", &mut st.ex, acc)?;
                                cache[set as usize] = Some(slot);
                                slot
                            }
                        };
                        if ts > edge {
                            // Entries `lo..hi` lie on the grid.
                            bucket = acc.grid.index(ts).unwrap_or_default();
                            edge = acc.grid.first + acc.grid.width * (bucket as i64 + 1);
                        }
                        if let Some(slot) = slot {
                            acc.add_at(slot, bucket, u64::from(len));
                        }
                    }
                }
            }
            BlockView::Head(entries) => {
                for i in lo..hi {
                    let (ts, len) = (entries[i].ts, entries[i].line.len() as u64);
                    bytes += len;
                    let key = v.md_key(i, &mut self.scratch);
                    if let Some(slot) = st.groups.slot(key, ts, "", &mut st.ex, acc)? {
                        acc.add(slot, ts, len);
                    }
                }
            }
        }
        let lines = (hi - lo) as u64;
        acc.stats.lines += lines;
        acc.stats.bytes += bytes;
        acc.stats.post_filter_lines += lines;
        Ok(())
    }

    /// Entries `(view, index)` in time order through the line filters,
    /// exact re-sends (an equal time and line earlier in the order)
    /// skipped. Needs lines on every view.
    fn count_lines(
        &mut self,
        views: &[BlockView<'_>],
        idx: impl Iterator<Item = (usize, usize)>,
        st: &mut StreamState<'_>,
        acc: &mut Acc,
    ) -> Res<()> {
        let mut run_ts = i64::MIN;
        self.run.clear();
        for (k, i) in idx {
            let v = &views[k];
            let ts = v.ts(i);
            let line = v.line(i);
            if ts != run_ts {
                run_ts = ts;
                self.run.clear();
            } else if self.run.iter().any(|&(vk, j)| views[vk].line(j) == line) {
                continue;
            }
            self.run.push((k, i));
            acc.stats.lines += 1;
            acc.stats.bytes += line.len() as u64;
            if !self.extractor.line_passes(line) {
                continue;
            }
            acc.stats.post_filter_lines += 1;
            let key = v.md_key(i, &mut self.scratch);
            if let Some(slot) = st.groups.slot(key, ts, line, &mut st.ex, acc)? {
                acc.add(slot, ts, line.len() as u64);
            }
        }
        Ok(())
    }

    /// Sources of a stream whose time ranges touch one another (often one).
    fn cluster(
        &mut self,
        s: &StreamSources,
        members: &[usize],
        st: &mut StreamState<'_>,
        acc: &mut Acc,
    ) -> Res<()> {
        let mut payloads = Vec::with_capacity(members.len());
        for &m in members {
            crate::cancel::check()?;
            payloads.push(match &s.sources[m].0 {
                Source::Block(b) => {
                    acc.stats.blocks += 1;
                    acc.stats.compressed_bytes += b.compressed_len();
                    Some(if self.plain {
                        b.payload_without_lines()?
                    } else {
                        b.payload()?
                    })
                }
                Source::Head(_) => None,
            });
        }
        let mut views = Vec::with_capacity(members.len());
        for (&m, p) in members.iter().zip(&payloads) {
            views.push(self.view(&s.sources[m].0, p.as_deref(), !self.plain)?);
        }
        let (first, end) = (acc.grid.first, acc.grid.end());
        let spans: Vec<Span> = views.iter().map(|v| span(v, first, end)).collect();
        let sorted = spans.iter().all(|s| s.sorted);
        let equal = spans.iter().any(|s| s.equal)
            || (sorted && views.len() > 1 && share_a_timestamp(&views, &spans));
        if sorted && !equal {
            for (v, sp) in views.iter_mut().zip(&spans) {
                if self.plain {
                    self.count_meta(v, sp.lo, sp.hi, st, acc)?;
                } else {
                    let one = std::slice::from_ref(v);
                    self.count_lines(one, (sp.lo..sp.hi).map(|i| (0, i)), st, acc)?;
                }
            }
        } else {
            // Possible re-sends (or a block out of order, which encoding
            // never produces): every entry in time order, with its line.
            for (k, v) in views.iter_mut().enumerate() {
                if !v.has_lines() {
                    let m = members[k];
                    if let Source::Block(b) = &s.sources[m].0 {
                        // Only the columns may have been read.
                        payloads[k] = Some(b.payload()?);
                    }
                    let fresh = self.view(&s.sources[m].0, payloads[k].as_deref(), true)?;
                    if let Some(b) = std::mem::replace(v, fresh).into_bufs() {
                        self.pool.push(b);
                    }
                }
            }
            let mut order = std::mem::take(&mut self.order);
            order.clear();
            for (k, v) in views.iter().enumerate() {
                for i in 0..v.len() {
                    let t = v.ts(i);
                    if t > first && t <= end {
                        order.push((t, k as u32, i as u32));
                    }
                }
            }
            order.sort_unstable();
            let r = self.count_lines(
                &views,
                order.iter().map(|&(_, k, i)| (k as usize, i as usize)),
                st,
                acc,
            );
            self.order = order;
            r?;
        }
        self.pool
            .extend(views.into_iter().filter_map(BlockView::into_bufs));
        Ok(())
    }

    fn stream(&mut self, s: &StreamSources, acc: &mut Acc) -> Res<()> {
        let mut st = StreamState {
            ex: self.extractor.for_stream(&s.labels),
            groups: Groups::default(),
        };
        let mut order: Vec<usize> = (0..s.sources.len()).collect();
        order.sort_by_key(|&i| (s.sources[i].1, i));
        let mut a = 0;
        while a < order.len() {
            let mut reach = s.sources[order[a]].2;
            let mut b = a + 1;
            while b < order.len() && s.sources[order[b]].1 <= reach {
                reach = reach.max(s.sources[order[b]].2);
                b += 1;
            }
            self.cluster(s, &order[a..b], &mut st, acc)?;
            a = b;
        }
        Ok(())
    }
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
    let streams = this.sources(range, &extractor, grid.first.saturating_add(1), grid.end())?;
    let max = this.max_series;
    let parts = in_shares(&streams, |share| {
        let mut acc = Acc::new(*grid, bytes_op, max);
        let mut scan = Scan {
            extractor: &extractor,
            plain: extractor.is_plain(),
            scratch: Vec::new(),
            run: Vec::new(),
            order: Vec::new(),
            pool: Vec::new(),
            set_slots: Vec::new(),
        };
        for s in share {
            match scan.stream(s, &mut acc) {
                Ok(()) => {}
                Err(Abort::TooBig) => return Ok(None),
                Err(Abort::Err(e)) => return Err(e),
            }
        }
        Ok(Some(acc))
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
    /// exact re-sends inside a push (streams 1 and 5) and across blocks
    /// (3, 5, 7), a few metadata sets per stream and one stream with a new
    /// trace id on every entry, spread over flushed blocks, in-memory
    /// blocks and heads, two streams written out of order.
    fn fill(store: &Store, seed: u64, base: i64) {
        let mut r = Rng(seed | 1);
        let round = |r: &mut Rng, from: i64, n: i64| -> Vec<PushStream> {
            (0..8)
                .map(|s| {
                    let mut entries: Vec<Entry> = Vec::new();
                    let mut ts = from + r.below(30) as i64 * S;
                    for i in 0..n {
                        if s % 4 != 1 || r.below(8) != 0 {
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
                        if s % 4 == 1 && r.below(10) == 0 {
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
        // Re-sent later, so that copies sit in other blocks than the
        // originals: some lines exact, some changed at an equal time.
        let mut again: Vec<PushStream> = first.iter().skip(3).step_by(2).cloned().collect();
        for s in &mut again {
            s.entries.retain(|_| r.below(3) == 0);
            for e in s.entries.iter_mut().step_by(4) {
                e.line.push('!');
            }
        }
        store.push_sync("t", first).unwrap();
        store.flush().unwrap();
        let second = round(&mut r, base + 3600 * S, 150);
        store.push_sync("t", second).unwrap();
        // Late entries for one stream, inside the first round's span.
        let mut late = round(&mut r, base + 600 * S, 40);
        late.truncate(2);
        store.push_sync("t", late).unwrap();
        store.push_sync("t", again).unwrap();
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
