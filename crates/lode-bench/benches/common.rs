//! Shared set-up for the criterion benches: generated homelab data.
// Each bench uses a different part of this module.
#![allow(dead_code)]

use lode_bench::gen::Dataset;
use lode_proto::{Entry, PushStream};

pub const HOUR_NS: i64 = 3_600_000_000_000;

/// A fixed data set ending at `end_ns` and spanning 6 hours.
pub fn dataset(lines: u64, end_ns: i64) -> Dataset {
    Dataset::new(42, lines, end_ns, 6 * HOUR_NS, 999)
}

/// The data set as push streams (one per generated stream).
pub fn streams(ds: &Dataset) -> Vec<PushStream> {
    let mut out: Vec<PushStream> = ds
        .streams
        .iter()
        .map(|s| PushStream {
            labels: s.labels.clone(),
            entries: Vec::new(),
        })
        .collect();
    let (mut line, mut meta) = (String::new(), Vec::new());
    for i in 0..ds.lines {
        let (si, ts) = ds.line(i, &mut line, &mut meta);
        out[si].entries.push(Entry {
            ts,
            line: line.clone(),
            structured_metadata: meta
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        });
    }
    out.retain(|s| !s.entries.is_empty());
    out
}

pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}
