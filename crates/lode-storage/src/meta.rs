//! Metadata queries: label names, label values and series, over streams
//! that have data in a time range.

use crate::error::Result;
use crate::index::compile_all;
use crate::store::Store;
use crate::stored_labels::StoredLabels;
use lode_logql::ast::Matcher;
use lode_logql::LabelSet;
use std::collections::BTreeSet;

impl Store {
    /// Calls `visit` with the labels of every stream matching any of
    /// `selectors` (all streams when `selectors` is empty) with data in
    /// `[start, end]`; a stream matching several selectors is visited once
    /// per match. Nothing is cloned: label and series endpoints run on
    /// every Grafana keystroke.
    fn visit_streams(
        &self,
        tenant: &str,
        selectors: &[Vec<Matcher>],
        start: i64,
        end: i64,
        mut visit: impl FnMut(&StoredLabels),
    ) -> Result<()> {
        let Some(t) = self.tenant(tenant) else {
            return Ok(());
        };
        let compiled = selectors
            .iter()
            .map(|s| compile_all(s))
            .collect::<Result<Vec<_>>>()?;
        let t = t.read();
        let mut consider = |id: u32| {
            let s = &t.streams[id as usize];
            if s.overlaps(start.max(t.view.visible_from(&s.labels)), end) {
                visit(&s.labels);
            }
        };
        if compiled.is_empty() {
            t.period_streams(start, end)
                .into_iter()
                .for_each(&mut consider);
        }
        for ms in &compiled {
            for id in t.candidates_in(ms, start, end) {
                if ms
                    .iter()
                    .all(|m| m.matches_labels(&t.streams[id as usize].labels))
                {
                    consider(id);
                }
            }
        }
        Ok(())
    }

    /// Streams (label sets) matching any of `selectors` (all streams when
    /// `selectors` is empty) with data in `[start, end]`.
    pub fn series(
        &self,
        tenant: &str,
        selectors: &[Vec<Matcher>],
        start: i64,
        end: i64,
    ) -> Result<Vec<LabelSet>> {
        let mut out = BTreeSet::new();
        self.visit_streams(tenant, selectors, start, end, |l| {
            out.insert(l.to_label_set());
        })?;
        Ok(out.into_iter().collect())
    }

    /// Label names of streams with data in `[start, end]`, optionally only
    /// of streams matching `selector`.
    pub fn label_names(
        &self,
        tenant: &str,
        selector: Option<&[Matcher]>,
        start: i64,
        end: i64,
    ) -> Result<Vec<String>> {
        let sel: Vec<Vec<Matcher>> = selector.map(|s| vec![s.to_vec()]).unwrap_or_default();
        let mut names = BTreeSet::new();
        self.visit_streams(tenant, &sel, start, end, |l| {
            for n in l.names() {
                if !names.contains(n) {
                    names.insert(n.to_string());
                }
            }
        })?;
        Ok(names.into_iter().collect())
    }

    /// Values of label `name` of streams with data in `[start, end]`.
    pub fn label_values(
        &self,
        tenant: &str,
        name: &str,
        selector: Option<&[Matcher]>,
        start: i64,
        end: i64,
    ) -> Result<Vec<String>> {
        let sel: Vec<Vec<Matcher>> = selector.map(|s| vec![s.to_vec()]).unwrap_or_default();
        let mut values = BTreeSet::new();
        self.visit_streams(tenant, &sel, start, end, |l| {
            if let Some(v) = l.get(name) {
                if !values.contains(v) {
                    values.insert(v.to_string());
                }
            }
        })?;
        Ok(values.into_iter().collect())
    }
}

/// How `index/volume` groups streams.
#[derive(Debug, Clone)]
pub enum VolumeGroup {
    /// One series per distinct value combination of these labels.
    Series(Vec<String>),
    /// One series per label name present (`{name=""}`).
    Labels(Vec<String>),
}

/// A stream's labels and its line bytes per step bucket.
type StreamVolume = (LabelSet, Vec<u64>);

/// Totals for `index/stats`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IndexStats {
    pub streams: u64,
    pub chunks: u64,
    pub entries: u64,
    pub bytes: u64,
}

impl Store {
    /// Per-stream line bytes and entry counts in `[start, end]`, in buckets
    /// of `step` ns (one bucket when `step` is 0). Whole blocks inside the
    /// range are counted from their footers; partial ones from their small
    /// timestamp section.
    fn stream_volumes(
        &self,
        tenant: &str,
        matchers: &[Matcher],
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<(Vec<StreamVolume>, IndexStats)> {
        let Some(t) = self.tenant(tenant) else {
            return Ok((Vec::new(), IndexStats::default()));
        };
        let ms = compile_all(matchers)?;
        let streams = crate::query::select_sources(&t, &ms, start, end);
        // Loki's grid (`util.ForInterval`, which its volume middleware
        // splits by): buckets start at multiples of `step` since the epoch,
        // the first one at `start`, the last one ends at `end`. Callers bound
        // the points (11,000 per series); this only keeps a bad caller from
        // wrapping the arithmetic or allocating unbounded.
        let grid = VolumeGrid::new(start, end, step)?;
        let buckets = grid.buckets;
        let bucket = |ts: i64| grid.bucket(ts);
        let mut stats = IndexStats::default();
        let mut out = Vec::with_capacity(streams.len());
        for s in streams {
            let mut v = vec![0u64; buckets];
            stats.streams += 1;
            for (src, min, max) in &s.sources {
                stats.chunks += 1;
                match src {
                    crate::sources::Source::Block(b)
                        if *min >= start && *max <= end && bucket(*min) == bucket(*max) =>
                    {
                        v[bucket(*min)] += b.line_bytes();
                        stats.entries += u64::from(b.entries());
                        stats.bytes += b.line_bytes();
                    }
                    crate::sources::Source::Block(b) => {
                        let (ts, lens) = crate::format::block::decode_meta(&b.payload()?)?;
                        for (t, l) in ts.iter().zip(lens) {
                            if *t >= start && *t <= end {
                                v[bucket(*t)] += u64::from(l);
                                stats.entries += 1;
                                stats.bytes += u64::from(l);
                            }
                        }
                    }
                    crate::sources::Source::Head(entries) => {
                        for e in entries.iter().filter(|e| e.ts >= start && e.ts <= end) {
                            v[bucket(e.ts)] += e.line.len() as u64;
                            stats.entries += 1;
                            stats.bytes += e.line.len() as u64;
                        }
                    }
                }
            }
            out.push((s.labels, v));
        }
        Ok((out, stats))
    }

    /// `index/stats`: streams, blocks, entries and bytes a selector covers.
    pub fn index_stats(
        &self,
        tenant: &str,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<IndexStats> {
        Ok(self.stream_volumes(tenant, matchers, start, end, 0)?.1)
    }

    /// `index/volume` and `index/volume_range`: bytes per group, per step
    /// bucket. Groups are returned largest first.
    pub fn volume(
        &self,
        tenant: &str,
        matchers: &[Matcher],
        start: i64,
        end: i64,
        step: i64,
        group: &VolumeGroup,
    ) -> Result<Vec<(LabelSet, Vec<u64>)>> {
        let (streams, _) = self.stream_volumes(tenant, matchers, start, end, step)?;
        let mut groups: std::collections::HashMap<LabelSet, Vec<u64>> =
            std::collections::HashMap::new();
        let mut add = |key: LabelSet, v: &[u64]| {
            let e = groups.entry(key).or_insert_with(|| vec![0; v.len()]);
            for (a, b) in e.iter_mut().zip(v) {
                *a += b;
            }
        };
        for (labels, v) in &streams {
            match group {
                VolumeGroup::Series(names) => {
                    let key = labels.project(names, false);
                    if !key.is_empty() {
                        add(key, v);
                    }
                }
                VolumeGroup::Labels(names) => {
                    for n in names {
                        if labels.contains(n) {
                            add(LabelSet::from_pairs([(n.clone(), String::new())]), v);
                        }
                    }
                }
            }
        }
        // Loki's order (`toPrometheusData`): by the series' first sample,
        // largest first, then by its name.
        let mut out: Vec<(LabelSet, Vec<u64>, String)> = groups
            .into_iter()
            .map(|(l, v)| {
                let name = match group {
                    VolumeGroup::Labels(_) => l
                        .iter()
                        .next()
                        .map(|(k, _)| k.to_string())
                        .unwrap_or_default(),
                    VolumeGroup::Series(_) => l.to_string(),
                };
                (l, v, name)
            })
            .collect();
        let first = |v: &[u64]| v.iter().copied().find(|&x| x > 0).unwrap_or(0);
        out.sort_by(|a, b| first(&b.1).cmp(&first(&a.1)).then_with(|| a.2.cmp(&b.2)));
        Ok(out.into_iter().map(|(l, v, _)| (l, v)).collect())
    }
}

/// The buckets of a volume range query, as Loki's `util.ForInterval` cuts
/// `[start, end]` by `step`: boundaries at multiples of `step` since the
/// epoch, the first bucket from `start`, the last to `end`. A `step` of 0 is
/// one bucket.
#[derive(Debug, Clone, Copy)]
pub struct VolumeGrid {
    /// The first boundary at or before `start`.
    aligned: i64,
    step: i64,
    end: i64,
    pub buckets: usize,
}

impl VolumeGrid {
    pub fn new(start: i64, end: i64, step: i64) -> Result<VolumeGrid> {
        if step <= 0 || end <= start {
            return Ok(VolumeGrid {
                aligned: start,
                step: 0,
                end,
                buckets: 1,
            });
        }
        // Client timestamps may be anything an i64 holds.
        let aligned = start.saturating_sub(start.rem_euclid(step));
        let n = end.saturating_sub(aligned).saturating_sub(1) / step + 1;
        if n > 11_001 {
            return Err(crate::StorageError::QueryLimit(
                "exceeded maximum resolution of 11,000 points per time series. Try increasing the value of the step parameter".into(),
            ));
        }
        Ok(VolumeGrid {
            aligned,
            step,
            end,
            buckets: n.max(1) as usize,
        })
    }

    /// The bucket of an instant in `[start, end]`.
    pub fn bucket(&self, ts: i64) -> usize {
        if self.step == 0 {
            return 0;
        }
        ((ts.saturating_sub(self.aligned).max(0) / self.step) as usize).min(self.buckets - 1)
    }

    /// The timestamp Loki gives bucket `b`: the end of its split, 1 ms
    /// before the next boundary, except the last, which ends at `end`.
    pub fn timestamp(&self, b: usize) -> i64 {
        if self.step == 0 || b + 1 >= self.buckets {
            return self.end;
        }
        self.aligned
            .saturating_add((b as i64 + 1).saturating_mul(self.step))
            .saturating_sub(1_000_000)
    }
}

#[cfg(test)]
mod grid_tests {
    use super::VolumeGrid;

    const S: i64 = 1_000_000_000;

    #[test]
    fn buckets_follow_lokis_for_interval() {
        // start 10:00:30, end 13:00:00, step 1h: [10:00:30, 10:59:59.999],
        // [11:00, 11:59:59.999], [12:00, 13:00].
        let h = 3600 * S;
        let (start, end) = (10 * h + 30 * S, 13 * h);
        let g = VolumeGrid::new(start, end, h).unwrap();
        assert_eq!(g.buckets, 3);
        assert_eq!(g.bucket(start), 0);
        assert_eq!(g.bucket(11 * h - 1), 0);
        assert_eq!(g.bucket(11 * h), 1);
        assert_eq!(g.bucket(13 * h), 2);
        assert_eq!(g.timestamp(0), 11 * h - 1_000_000);
        assert_eq!(g.timestamp(1), 12 * h - 1_000_000);
        assert_eq!(g.timestamp(2), end);
        // An end off the grid: the last bucket ends there.
        let g = VolumeGrid::new(10 * h, 12 * h + 5 * S, h).unwrap();
        assert_eq!(g.buckets, 3);
        assert_eq!(g.timestamp(2), 12 * h + 5 * S);
        assert_eq!(VolumeGrid::new(start, end, 0).unwrap().timestamp(0), end);
        // Hostile timestamps do not wrap.
        let g = VolumeGrid::new(i64::MIN, i64::MIN + 10 * S, 3 * S).unwrap();
        assert_eq!(g.bucket(i64::MIN + 9 * S), g.buckets - 1);
        assert_eq!(g.timestamp(g.buckets - 1), i64::MIN + 10 * S);
        assert!(VolumeGrid::new(i64::MIN, i64::MAX, 1).is_err());
    }
}
