//! In-memory state of one tenant: its streams, their head blocks and the
//! blocks (in memory or in chunk files) that hold their older entries.

use crate::error::Result;
use crate::format::block::{encode_parts, Compression};
use crate::format::chunk_file::ChunkFile;
use crate::head::Head;
use crate::index::LabelIndex;
use crate::sources::{BlockHandle, MemBlock};
use crate::stored_labels::{hash_pairs, StoredLabels};
use lode_logql::LabelSet;
use lode_proto::Entry;
use std::sync::Arc;

/// One stream.
#[derive(Debug)]
pub struct Stream {
    /// Shared with the footers of the chunk files holding the stream: one
    /// compact copy of a stream's labels in memory.
    pub labels: Arc<StoredLabels>,
    /// Entries not yet sealed, in arrival order.
    pub head: Head,
    /// Sealed blocks, oldest first by creation.
    pub blocks: Vec<BlockHandle>,
    /// Time range of everything in the stream.
    pub min_ts: i64,
    pub max_ts: i64,
    /// When (store clock, ns) the stream last received an entry; `i64::MIN`
    /// for a stream known only from chunk files.
    pub last_push: i64,
    /// Whether the stream counts against the stream limit: it received an
    /// entry within `chunk_idle_period` (see `Tenant::sweep_idle`).
    pub active: bool,
    /// The period last noted in `Tenant::periods` for this stream (a push
    /// within the same period costs no index update).
    pub noted_period: i32,
}

impl Stream {
    fn new(labels: Arc<StoredLabels>) -> Stream {
        Stream {
            labels,
            head: Head::default(),
            blocks: Vec::new(),
            min_ts: i64::MAX,
            max_ts: i64::MIN,
            last_push: i64::MIN,
            active: false,
            noted_period: i32::MIN,
        }
    }

    /// Whether nothing of the stream is left (every block expired or
    /// deleted, no head): it can leave the tenant.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty() && self.head.is_empty()
    }

    pub fn push(&mut self, e: &Entry) {
        self.min_ts = self.min_ts.min(e.ts);
        self.max_ts = self.max_ts.max(e.ts);
        self.head.push(e);
    }

    /// Seals the head into a compressed in-memory block.
    pub fn cut(&mut self, compression: Compression) -> Result<Option<Arc<MemBlock>>> {
        if self.head.is_empty() {
            return Ok(None);
        }
        // Stable: equal timestamps keep arrival order.
        let Some(parts) = self.head.take_block_parts() else {
            return Ok(None);
        };
        let filter = crate::format::filter::build(parts.lines()).unwrap_or_default();
        let (min_ts, max_ts) = (
            parts.ts.first().copied().unwrap_or(i64::MAX),
            parts.ts.last().copied().unwrap_or(i64::MIN),
        );
        let (entries, line_bytes) = (parts.ts.len() as u32, parts.lines.len() as u64);
        let payload = encode_parts(parts, compression)?;
        let b = Arc::new(MemBlock {
            payload,
            min_ts,
            max_ts,
            entries,
            line_bytes,
            filter,
        });
        self.blocks.push(BlockHandle::Mem(b.clone()));
        Ok(Some(b))
    }

    pub fn overlaps(&self, start: i64, end_incl: i64) -> bool {
        self.max_ts >= start && self.min_ts <= end_incl
    }

    /// Head entries in `[start, end_incl]`, sorted by time (stable).
    pub fn head_snapshot(&self, start: i64, end_incl: i64) -> Vec<Entry> {
        if self.head.is_empty() || self.head.max_ts() < start || self.head.min_ts() > end_incl {
            return Vec::new();
        }
        self.head.entries_in(start, end_incl)
    }
}

/// The length of a time period of the stream index: one UTC day, as
/// Loki's TSDB index periods.
pub const PERIOD_NS: i64 = 24 * 3600 * 1_000_000_000;

/// A block spanning more periods than this is indexed as `Tenant::wide`.
const WIDE_SPAN: i64 = 64;

/// The period a timestamp falls in.
pub fn period_of(ts: i64) -> i64 {
    ts.div_euclid(PERIOD_NS)
}

/// All streams of one tenant.
#[derive(Debug, Default)]
pub struct Tenant {
    pub streams: Vec<Stream>,
    /// Stream ids by the hash of their labels (`stored_labels::hash_pairs`):
    /// the labels themselves live once, in `streams`. foldhash, not SipHash:
    /// every stream of every push is looked up here (twice: validation,
    /// then apply); its seed is random per process.
    by_labels: hashbrown::HashTable<u32>,
    hasher: foldhash::fast::RandomState,
    pub index: LabelIndex,
    /// Retention and pending deletes applied to reads (`visibility.rs`).
    pub view: Arc<crate::visibility::ReadView>,
    /// Time-partitioned stream index: period (`period_of`) → sorted ids of
    /// the streams with an entry in it. A query for a window looks only at
    /// the streams of its periods, so a 12 h query or `/labels` costs the
    /// same on day 30 as on day 1 however many streams came and went.
    pub periods: std::collections::BTreeMap<i64, Vec<u32>>,
    /// Sorted ids of streams with a block spanning more than `WIDE_SPAN`
    /// periods (a push mixing 1970 and today): candidates for every window
    /// rather than entries in thousands of periods.
    pub wide: Vec<u32>,
    /// Streams with `active` set.
    pub active_streams: usize,
    /// When `sweep_idle` last ran (store clock, ns).
    pub last_sweep: i64,
    /// Lines and line bytes acknowledged since start (the status page's
    /// per-tenant ingestion rate).
    pub ingested_lines: std::sync::atomic::AtomicU64,
    pub ingested_bytes: std::sync::atomic::AtomicU64,
}

impl Tenant {
    pub fn stream_id(&mut self, labels: &LabelSet) -> u32 {
        if let Some(id) = self.lookup(labels) {
            return id;
        }
        self.add_stream(Arc::new(StoredLabels::from_set(labels)))
    }

    /// The id of the stream with these labels, created if new.
    pub fn stream_id_stored(&mut self, labels: &Arc<StoredLabels>) -> u32 {
        if let Some(id) = self.lookup_stored(labels) {
            return id;
        }
        self.add_stream(labels.clone())
    }

    fn add_stream(&mut self, labels: Arc<StoredLabels>) -> u32 {
        let id = self.streams.len() as u32;
        self.index.add(id, labels.iter());
        self.streams.push(Stream::new(labels));
        self.insert_id(id);
        id
    }

    fn insert_id(&mut self, id: u32) {
        let (streams, hasher) = (&self.streams, &self.hasher);
        let hash = hash_pairs(hasher, streams[id as usize].labels.iter());
        self.by_labels.insert_unique(hash, id, |&i| {
            hash_pairs(hasher, streams[i as usize].labels.iter())
        });
    }

    /// Points a chunk file's stream labels at the tenant's copies, so that
    /// a month of files does not hold every label set once more.
    pub fn share_labels(&self, f: &mut ChunkFile) {
        for l in f.streams.iter_mut() {
            if let Some(id) = self.lookup_stored(l) {
                *l = self.streams[id as usize].labels.clone();
            }
        }
    }

    /// Makes every block of an opened chunk file part of its streams
    /// (created when new), sharing the file's labels with the tenant's.
    pub fn attach_file(&mut self, mut file: ChunkFile) -> Arc<ChunkFile> {
        let ids: Vec<u32> = file
            .streams
            .iter()
            .map(|l| self.stream_id_stored(l))
            .collect();
        self.share_labels(&mut file);
        let file = Arc::new(file);
        for (i, b) in file.blocks.iter().enumerate() {
            let id = ids[b.stream as usize];
            self.note_span(id, b.min_ts, b.max_ts);
            let s = &mut self.streams[id as usize];
            s.min_ts = s.min_ts.min(b.min_ts);
            s.max_ts = s.max_ts.max(b.max_ts);
            s.blocks.push(BlockHandle::File(file.clone(), i as u32));
        }
        file
    }

    /// Takes the blocks of these files out of every stream.
    pub fn detach_files(&mut self, files: &[Arc<ChunkFile>]) {
        if files.is_empty() {
            return;
        }
        for s in self.streams.iter_mut() {
            s.blocks.retain(|b| {
                !matches!(b, BlockHandle::File(f, _) if files.iter().any(|g| Arc::ptr_eq(f, g)))
            });
        }
    }

    pub fn lookup(&self, labels: &LabelSet) -> Option<u32> {
        let hash = hash_pairs(&self.hasher, labels.iter());
        self.by_labels
            .find(hash, |&i| self.streams[i as usize].labels.eq_set(labels))
            .copied()
    }

    pub fn lookup_stored(&self, labels: &StoredLabels) -> Option<u32> {
        let hash = hash_pairs(&self.hasher, labels.iter());
        self.by_labels
            .find(hash, |&i| *self.streams[i as usize].labels == *labels)
            .copied()
    }

    /// Notes that stream `id` has data in the period of `ts`.
    pub fn note_period(&mut self, id: u32, ts: i64) {
        let p = period_of(ts);
        // Days since 1970 fit an i32 for ±5 million years; beyond, no cache.
        let small = i32::try_from(p).unwrap_or(i32::MIN);
        if small != i32::MIN && self.streams[id as usize].noted_period == small {
            return;
        }
        self.streams[id as usize].noted_period = small;
        let ids = self.periods.entry(p).or_default();
        // Streams mostly arrive in id order within a period: check the end first.
        match ids.last() {
            Some(&last) if last == id => {}
            Some(&last) if last < id => ids.push(id),
            None => ids.push(id),
            Some(_) => {
                if let Err(at) = ids.binary_search(&id) {
                    ids.insert(at, id);
                }
            }
        }
    }

    /// Notes that stream `id` has data in `[lo, hi]` (a block's span).
    pub fn note_span(&mut self, id: u32, lo: i64, hi: i64) {
        let (a, b) = (period_of(lo), period_of(hi));
        if b.saturating_sub(a) > WIDE_SPAN {
            if let Err(at) = self.wide.binary_search(&id) {
                self.wide.insert(at, id);
            }
            return;
        }
        for p in a..=b {
            self.note_period(id, p.saturating_mul(PERIOD_NS));
        }
    }

    /// Notes that stream `id` received an entry at `now` (store clock).
    pub fn mark_active(&mut self, id: u32, now: i64) {
        let s = &mut self.streams[id as usize];
        s.last_push = s.last_push.max(now);
        if !s.active {
            s.active = true;
            self.active_streams += 1;
        }
    }

    /// Streams whose last entry arrived before `now - idle` stop counting
    /// against the stream limit. Runs at most every `every` ns.
    pub fn sweep_idle(&mut self, now: i64, idle: i64, every: i64) {
        if !self.sweep_due(now, every) {
            return;
        }
        self.last_sweep = now;
        let cutoff = now.saturating_sub(idle);
        let mut gone = 0;
        for s in self.streams.iter_mut().filter(|s| s.active) {
            if s.last_push < cutoff {
                s.active = false;
                gone += 1;
            }
        }
        self.active_streams -= gone;
    }

    /// Whether a sweep is due (checked under the read lock first).
    pub fn sweep_due(&self, now: i64, every: i64) -> bool {
        self.last_sweep == 0 || now.saturating_sub(self.last_sweep) >= every
    }

    /// Candidate stream ids with data in `[start, end_incl]` for compiled
    /// matchers: the label index narrowed to the periods of the window.
    /// Sorted, without duplicates; matchers still have to be checked.
    pub fn candidates_in(
        &self,
        matchers: &[crate::index::CompiledMatcher],
        start: i64,
        end_incl: i64,
    ) -> Vec<u32> {
        let in_window = self.period_streams(start, end_incl);
        match self.index.candidates(matchers) {
            Some(ids) => intersect_sorted(&ids, &in_window),
            None => in_window,
        }
    }

    /// Sorted ids of the streams with data in the periods of the window.
    pub fn period_streams(&self, start: i64, end_incl: i64) -> Vec<u32> {
        if start > end_incl {
            return Vec::new();
        }
        let lists = self
            .periods
            .range(period_of(start)..=period_of(end_incl))
            .map(|(_, ids)| ids.as_slice());
        let mut out = self.wide.clone();
        for l in lists {
            out = if out.is_empty() {
                l.to_vec()
            } else {
                union_sorted(&out, l)
            };
        }
        out
    }

    /// Removes the streams nothing is left of (all their blocks expired or
    /// deleted), renumbering the rest, and rebuilds the label index; the
    /// caller rebuilds the periods (`rebuild_periods`) after it. Returns how
    /// many went. Callers hold the flush lock, so no flush holds stream ids
    /// across this.
    pub fn remove_empty_streams(&mut self) -> usize {
        let before = self.streams.len();
        self.streams.retain(|s| s.active || !s.is_empty());
        if self.streams.len() == before {
            return 0;
        }
        self.by_labels.clear();
        self.index = LabelIndex::default();
        for i in 0..self.streams.len() {
            self.index.add(i as u32, self.streams[i].labels.iter());
            self.insert_id(i as u32);
        }
        // Only inactive streams went: `active_streams` is unchanged.
        before - self.streams.len()
    }

    /// Recomputes the periods from the streams' blocks and heads (after
    /// compaction or retention removed data).
    pub fn rebuild_periods(&mut self) {
        self.periods.clear();
        self.wide.clear();
        for i in 0..self.streams.len() {
            let s = &mut self.streams[i];
            s.noted_period = i32::MIN;
            let spans: Vec<(i64, i64)> = s
                .blocks
                .iter()
                .map(|b| (b.min_ts(), b.max_ts()))
                .chain(s.head.timestamps().iter().map(|&t| (t, t)))
                .collect();
            for (lo, hi) in spans {
                self.note_span(i as u32, lo, hi);
            }
        }
    }
}

fn intersect_sorted(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(a.len().min(b.len()));
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

fn union_sorted(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(a.len() + b.len());
    while i < a.len() || j < b.len() {
        let next = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) if x == y => {
                i += 1;
                j += 1;
                x
            }
            (Some(&x), Some(&y)) if x < y => {
                i += 1;
                x
            }
            (Some(_), Some(&y)) => {
                j += 1;
                y
            }
            (Some(&x), None) => {
                i += 1;
                x
            }
            (None, Some(&y)) => {
                j += 1;
                y
            }
            (None, None) => break,
        };
        out.push(next);
    }
    out
}
