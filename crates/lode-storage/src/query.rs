//! Log queries: the newest (or oldest) `limit` entries across all matching
//! streams, read block by block in time order with an early stop, so memory
//! stays bounded by the limit plus one block whatever the time range.
//! Blocks whose content filter rules out a required literal of the line
//! filters are not read at all, and in the blocks read only the lines that
//! contain such a literal go through the pipeline (`prefilter.rs`).

use crate::error::Result;

use crate::format::chunk_file::ChunkFile;
use crate::index::{compile_all, CompiledMatcher};
use crate::prefilter::Prefilter;
use crate::sources::{BlockHandle, Decoded, ScanStats, Source, StreamSources};
use crate::stored_labels::StoredLabels;
use crate::tenant::Tenant;
use lode_logql::ast::Matcher;
use lode_logql::pipeline::{LogPipeline, ProcessedEntry, StreamPipeline};

use parking_lot::RwLock;
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Backward,
}

/// A log query over `[start, end)`.
pub struct LogQuery<'a> {
    pub matchers: &'a [Matcher],
    pub pipeline: &'a LogPipeline,
    pub start: i64,
    pub end: i64,
    pub limit: usize,
    pub direction: Direction,
}

/// One result entry.
#[derive(Debug, Clone)]
pub struct LogHit {
    pub ts: i64,
    pub entry: ProcessedEntry,
}

/// Resolves matchers to streams and snapshots their sources overlapping
/// `[start, end_incl]`. The tenant lock is held only for this.
pub(crate) fn select_sources(
    tenant: &RwLock<Tenant>,
    matchers: &[CompiledMatcher],
    start: i64,
    end_incl: i64,
) -> Vec<StreamSources> {
    select_sources_filtered(tenant, matchers, start, end_incl, None)
}

/// `select_sources`, leaving out the sealed blocks whose content filter
/// says no line of theirs can pass `prefilter` (heads are always kept).
/// Filters are read after the tenant lock is released.
pub(crate) fn select_sources_filtered(
    tenant: &RwLock<Tenant>,
    matchers: &[CompiledMatcher],
    start: i64,
    end_incl: i64,
    prefilter: Option<&Prefilter>,
) -> Vec<StreamSources> {
    let (mut found, view) = snapshot_sources(tenant, matchers, start, end_incl);
    // Before `restrict`, which decodes the blocks pending deletes touch.
    if let Some(p) = prefilter.filter(|p| p.can_skip()) {
        skip_blocks(&mut found, p);
    }
    // Label sets only for the streams left: a needle rules out nearly all.
    let mut out: Vec<StreamSources> = found
        .into_iter()
        .map(|(labels, sources)| StreamSources {
            labels: labels.to_label_set(),
            sources,
        })
        .collect();
    view.restrict(&mut out);
    out
}

/// A stream's stored labels and its sources overlapping the query.
type Found = (Arc<StoredLabels>, Vec<(Source, i64, i64)>);

fn snapshot_sources(
    tenant: &RwLock<Tenant>,
    matchers: &[CompiledMatcher],
    start: i64,
    end_incl: i64,
) -> (Vec<Found>, Arc<crate::visibility::ReadView>) {
    let t = tenant.read();
    let view = t.view.clone();
    let ids = t.candidates_in(matchers, start, end_incl);
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let s = &t.streams[id as usize];
        // Expired entries are invisible even before the compactor removes them.
        let start = start.max(view.visible_from(&s.labels));
        if !s.overlaps(start, end_incl) || !matchers.iter().all(|m| m.matches_labels(&s.labels)) {
            continue;
        }
        let mut sources = Vec::new();
        for b in &s.blocks {
            if b.overlaps(start, end_incl) && !b.is_damaged() {
                sources.push((Source::Block(b.clone()), b.min_ts(), b.max_ts()));
            }
        }
        let head = s.head_snapshot(start, end_incl);
        if let (Some(first), Some(last)) = (head.first(), head.last()) {
            let (a, b) = (first.ts, last.ts);
            sources.push((Source::Head(head), a, b));
        }
        if !sources.is_empty() {
            out.push((s.labels.clone(), sources));
        }
    }
    drop(t);
    (out, view)
}

/// Drops the block sources whose filter rules the query out. A filter that
/// cannot be read or checked keeps its block: skipping is only a shortcut.
fn skip_blocks(streams: &mut Vec<Found>, p: &Prefilter) {
    let mut keep: Vec<Vec<bool>> = streams.iter().map(|(_, s)| vec![true; s.len()]).collect();
    // File blocks grouped by file: their filters are read together.
    type Wanted = (Arc<ChunkFile>, Vec<(u32, usize, usize)>);
    let mut by_file: HashMap<*const ChunkFile, Wanted> = HashMap::new();
    for (si, (_, sources)) in streams.iter().enumerate() {
        for (xi, (src, _, _)) in sources.iter().enumerate() {
            match src {
                Source::Block(BlockHandle::Mem(m)) if !m.filter.is_empty() => {
                    keep[si][xi] = p.block_may_match(&m.filter);
                }
                Source::Block(BlockHandle::File(f, i)) if f.blocks[*i as usize].filter_len > 0 => {
                    by_file
                        .entry(Arc::as_ptr(f))
                        .or_insert_with(|| (f.clone(), Vec::new()))
                        .1
                        .push((*i, si, xi));
                }
                _ => {}
            }
        }
    }
    for (f, mut wanted) in by_file.into_values() {
        wanted.sort_unstable();
        let idx: Vec<u32> = wanted.iter().map(|w| w.0).collect();
        let mut k = 0;
        let read = f.for_each_filter(&idx, &mut |_, filter| {
            let (_, si, xi) = wanted[k];
            k += 1;
            if let Some(filter) = filter {
                keep[si][xi] = p.block_may_match(filter);
            }
        });
        if let Err(e) = read {
            tracing::warn!(file = %f.path.display(), error = %e, "reading block filters failed; the blocks are read instead");
            for &(_, si, xi) in &wanted {
                keep[si][xi] = true;
            }
        }
    }
    for ((_, sources), keep) in streams.iter_mut().zip(&keep) {
        let mut k = keep.iter();
        sources.retain(|_| k.next().copied().unwrap_or(true));
    }
    streams.retain(|(_, s)| !s.is_empty());
}

/// Heap entry; `key` orders entries so that "better" (closer to the
/// direction's start) compares greater.
/// Bytes one kept hit is charged to the query context: its line, its
/// labels and a fixed overhead for the rest.
fn hit_bytes(e: &lode_logql::pipeline::ProcessedEntry) -> u64 {
    let labels =
        |l: &lode_logql::LabelSet| -> usize { l.iter().map(|(k, v)| k.len() + v.len() + 8).sum() };
    (e.line.len() + labels(&e.labels) + labels(&e.structured_metadata) + labels(&e.parsed) + 128)
        as u64
}

struct Candidate {
    key: (i64, u32, u32, u32),
    dedup: (u32, i64, u64),
    hit: LogHit,
}

impl PartialEq for Candidate {
    fn eq(&self, o: &Self) -> bool {
        self.key == o.key
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Candidate {
    fn cmp(&self, o: &Self) -> Ordering {
        self.key.cmp(&o.key)
    }
}

/// Runs a log query on one tenant.
pub fn query_logs(tenant: &RwLock<Tenant>, q: &LogQuery<'_>) -> Result<(Vec<LogHit>, ScanStats)> {
    let mut stats = ScanStats::default();
    if q.limit == 0 || q.end <= q.start {
        return Ok((Vec::new(), stats));
    }
    let matchers = compile_all(q.matchers)?;
    let end_incl = q.end - 1;
    let prefilter = Prefilter::from_pipeline(q.pipeline);
    let streams = select_sources_filtered(tenant, &matchers, q.start, end_incl, prefilter.as_ref());
    let backward = q.direction == Direction::Backward;

    // Every (stream, source) in the order the direction wants them read.
    let mut order: Vec<(usize, usize)> = Vec::new();
    for (si, s) in streams.iter().enumerate() {
        for xi in 0..s.sources.len() {
            order.push((si, xi));
        }
    }
    order.sort_by_key(|&(si, xi)| {
        let (_, min, max) = &streams[si].sources[xi];
        if backward {
            (Reverse(*max), si, xi)
        } else {
            (Reverse(-*min), si, xi)
        }
    });

    let mut pipelines: Vec<Option<StreamPipeline<'_>>> = (0..streams.len()).map(|_| None).collect();
    // Min-heap of the best `limit` entries: the top is the worst kept one.
    let mut heap: BinaryHeap<Reverse<Candidate>> = BinaryHeap::with_capacity(q.limit + 1);
    let mut kept: HashSet<(u32, i64, u64)> = HashSet::new();
    // Per block read: which lines can pass the line filters at all.
    let mut marks: Vec<bool> = Vec::new();

    /// Sources fetched ahead from a bucket at once (a query that stops
    /// early wastes at most this many fetches).
    const READ_AHEAD: usize = 16;
    for (k, &(si, xi)) in order.iter().enumerate() {
        if k % READ_AHEAD == 0 {
            let next = &order[k..(k + READ_AHEAD).min(order.len())];
            crate::sources::prefetch(next.iter().map(|&(si, xi)| &streams[si].sources[xi].0));
        }
        let (src, min, max) = &streams[si].sources[xi];
        if heap.len() >= q.limit {
            let worst = heap.peek().map(|c| c.0.key.0).unwrap_or(0);
            let worst_ts = if backward { worst } else { -worst };
            // Sources are sorted by their best timestamp: nothing further can beat the worst kept.
            if (backward && *max < worst_ts) || (!backward && *min > worst_ts) {
                break;
            }
        }
        let d = Decoded::load(src, &mut stats)?;
        let p = pipelines[si].get_or_insert_with(|| q.pipeline.for_stream(&streams[si].labels));
        let searched = match (&d, &prefilter) {
            (Decoded::Block(b), Some(pf)) => {
                pf.mark_candidates(b.text().as_bytes(), b.offsets(), &mut marks)
            }
            _ => false,
        };
        for i in 0..d.len() {
            let ts = d.ts(i);
            if ts < q.start || ts > end_incl {
                continue;
            }
            let line = d.line(i);
            stats.lines += 1;
            if stats.lines.is_multiple_of(256) || line.len() > 64 << 10 {
                crate::cancel::check()?;
            }
            stats.bytes += line.len() as u64;
            if searched && marks.get(i) == Some(&false) {
                continue;
            }
            let tkey = if backward { ts } else { -ts };
            let (sx, ix) = (xi as u32, i as u32);
            let key = if backward {
                (tkey, sx, ix, u32::MAX - si as u32)
            } else {
                (tkey, u32::MAX - sx, u32::MAX - ix, u32::MAX - si as u32)
            };
            if heap.len() >= q.limit {
                if let Some(w) = heap.peek() {
                    if key <= w.0.key {
                        continue;
                    }
                }
            }
            // The pipeline first: hashing every scanned line for the
            // re-send check costs more than filtering it.
            let Some(entry) = p.process(ts, line, d.metadata(i)) else {
                continue;
            };
            let dedup = (si as u32, ts, crate::hash::fnv1a(line.bytes()));
            if kept.contains(&dedup) {
                continue;
            }
            stats.post_filter_lines += 1;
            // What the hit holds (and about what it adds to the response):
            // a line_format over `limit` big lines must stop at the query's
            // byte budget, not at the machine's memory.
            crate::cancel::charge(hit_bytes(&entry))?;
            kept.insert(dedup);
            heap.push(Reverse(Candidate {
                key,
                dedup,
                hit: LogHit { ts, entry },
            }));
            if heap.len() > q.limit {
                if let Some(Reverse(c)) = heap.pop() {
                    kept.remove(&c.dedup);
                    crate::cancel::release(hit_bytes(&c.hit.entry));
                }
            }
        }
    }
    let mut out: Vec<Candidate> = heap.into_iter().map(|r| r.0).collect();
    out.sort_by_key(|c| Reverse(c.key));
    Ok((out.into_iter().map(|c| c.hit).collect(), stats))
}
