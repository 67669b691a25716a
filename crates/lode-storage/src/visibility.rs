//! What queries may see: retention and pending delete requests applied at
//! read time, so expired or deleted entries vanish from answers at once,
//! before the compactor has removed them from disk.
//!
//! Each tenant holds a `ReadView`. Selection clamps every stream's start to
//! its retention cutoff; afterwards `restrict` rewrites only the sources
//! that straddle the cutoff or overlap a pending delete into filtered
//! in-memory entries. Every other block is read as usual, so the cost is
//! paid only where data is partly hidden.

use crate::clock::SharedClock;
use crate::delete::DeleteFilter;
use crate::retention::Retention;
use crate::sources::{Decoded, ScanStats, Source, StreamSources};
use crate::stored_labels::LabelLookup;
use lode_proto::Entry;
use std::sync::Arc;

#[derive(Debug, Default)]
pub struct ReadView {
    pub clock: Option<SharedClock>,
    /// `None` when retention is disabled.
    pub retention: Option<Arc<Retention>>,
    /// Pending delete requests of the tenant.
    pub deletes: Vec<Arc<DeleteFilter>>,
    /// `max_query_lookback` (ns, 0 = off): nothing older than now minus
    /// this is visible, as if the query's start were clamped.
    pub lookback: i64,
}

impl ReadView {
    /// The oldest visible timestamp of a stream.
    pub fn visible_from<L: LabelLookup + ?Sized>(&self, labels: &L) -> i64 {
        let Some(c) = &self.clock else {
            return i64::MIN;
        };
        let now = c.now_ns();
        let kept = self
            .retention
            .as_ref()
            .map_or(i64::MIN, |r| r.cutoff(labels, now));
        if self.lookback > 0 {
            kept.max(now.saturating_sub(self.lookback))
        } else {
            kept
        }
    }

    fn is_noop(&self) -> bool {
        self.deletes.is_empty()
            && self.lookback == 0
            && self.retention.as_ref().is_none_or(|r| r.keeps_everything())
    }

    /// Removes expired and deleted entries from selected sources.
    pub(crate) fn restrict(&self, streams: &mut Vec<StreamSources>) {
        if self.is_noop() {
            return;
        }
        for s in streams.iter_mut() {
            let from = self.visible_from(&s.labels);
            let dels: Vec<&DeleteFilter> = self
                .deletes
                .iter()
                .filter(|d| d.applies_to(&s.labels))
                .map(|d| d.as_ref())
                .collect();
            let sources = std::mem::take(&mut s.sources);
            for (src, min, max) in sources {
                let hit: Vec<&DeleteFilter> = dels
                    .iter()
                    .copied()
                    .filter(|d| d.overlaps(min, max))
                    .collect();
                if min >= from && hit.is_empty() {
                    s.sources.push((src, min, max));
                    continue;
                }
                if max < from
                    || hit
                        .iter()
                        .any(|d| d.is_whole_range() && d.req.start <= min && d.req.end >= max)
                {
                    continue;
                }
                let d = match Decoded::load(&src, &mut ScanStats::default()) {
                    Ok(d) => d,
                    Err(_) => {
                        // The consumer reads it again and reports the error.
                        s.sources.push((src, min, max));
                        continue;
                    }
                };
                let mut matchers: Vec<_> = hit.iter().map(|f| f.for_stream(&s.labels)).collect();
                let mut kept = Vec::new();
                for i in 0..d.len() {
                    let (ts, line, md) = (d.ts(i), d.line(i), d.metadata(i));
                    if ts < from || matchers.iter_mut().any(|m| m.covers(ts, line, md)) {
                        continue;
                    }
                    kept.push(Entry {
                        ts,
                        line: line.to_string(),
                        structured_metadata: md.to_vec(),
                    });
                }
                if let (Some(a), Some(b)) = (kept.first(), kept.last()) {
                    let (a, b) = (a.ts, b.ts);
                    s.sources.push((Source::Head(kept), a, b));
                }
            }
        }
        streams.retain(|s| !s.sources.is_empty());
    }
}
