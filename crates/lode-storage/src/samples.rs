//! Sample extraction for metric queries: the storage side of the LogQL
//! engine's `SampleSource`.

use crate::index::compile_all;
use crate::query::{select_sources, Decoded, ScanStats};
use crate::tenant::Tenant;
use lode_logql::ast::{Grouping, LogRange, RangeOp};
use lode_logql::engine::SampleSource;
use lode_logql::pipeline::SampleExtractor;
use lode_logql::value::{Point, SeriesSamples};
use lode_logql::{Error as QlError, LabelSet};
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::Arc;

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
}

fn src_err(e: crate::error::StorageError) -> QlError {
    match e {
        crate::error::StorageError::Logql(e) => e,
        e => QlError::Source(e.to_string()),
    }
}

fn hash_line(s: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
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
        let matchers = compile_all(&range.log.selector).map_err(src_err)?;
        let streams = select_sources(&self.tenant, &matchers, start.saturating_add(1), end);
        let mut stats = ScanStats::default();
        let mut series: HashMap<LabelSet, Vec<Point>> = HashMap::new();
        let mut push = |labels: LabelSet, ts: i64, value: f64| -> lode_logql::Result<()> {
            if let Some(v) = series.get_mut(&labels) {
                v.push(Point { ts, value });
                return Ok(());
            }
            if series.len() >= self.max_series {
                return Err(QlError::MaxSeries(self.max_series));
            }
            series.insert(labels, vec![Point { ts, value }]);
            Ok(())
        };
        for s in &streams {
            let mut ex = extractor.for_stream(&s.labels);
            let mut decoded = Vec::with_capacity(s.sources.len());
            let mut srcs: Vec<usize> = (0..s.sources.len()).collect();
            srcs.sort_by_key(|&i| (s.sources[i].1, i));
            for &i in &srcs {
                decoded.push(Decoded::load(&s.sources[i].0, &mut stats).map_err(src_err)?);
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
            idx.sort_by_key(|&(ts, di, i)| (ts, di, i));
            let mut run_ts = i64::MIN;
            let mut run_hashes: Vec<u64> = Vec::new();
            for (ts, di, i) in idx {
                let d = &decoded[di as usize];
                let line = d.line(i as usize);
                if ts != run_ts {
                    run_ts = ts;
                    run_hashes.clear();
                }
                let h = hash_line(line);
                if run_hashes.contains(&h) {
                    continue;
                }
                run_hashes.push(h);
                stats.lines += 1;
                stats.bytes += line.len() as u64;
                if let Some((v, labels)) = ex.process(ts, line, d.metadata(i as usize)) {
                    stats.post_filter_lines += 1;
                    push(labels, ts, v)?;
                }
            }
        }
        {
            let mut st = self.stats.lock();
            st.blocks += stats.blocks;
            st.lines += stats.lines;
            st.bytes += stats.bytes;
            st.compressed_bytes += stats.compressed_bytes;
            st.post_filter_lines += stats.post_filter_lines;
        }
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
}
