//! The metric engine: evaluates a `MetricExpr` step by step over samples
//! supplied by a `SampleSource` (the storage layer), with Loki's window
//! semantics.
//!
//! CONTRACT (used by lode-server; keep these signatures stable).

use crate::ast::{Grouping, LogRange, MetricExpr, RangeOp};
use crate::error::Result;
use crate::labels::LabelSet;
use crate::value::{QueryValue, SeriesSamples};

/// Where samples come from. Implemented by the storage layer.
pub trait SampleSource {
    /// All samples of one range aggregation leaf whose timestamps lie in
    /// `(start, end]` (nanoseconds; the engine already widened the window by
    /// the range and shifted it by the offset). Series are keyed by the
    /// labels `SampleExtractor` yields; samples sorted by time.
    fn samples(
        &self,
        range: &LogRange,
        op: RangeOp,
        grouping: Option<&Grouping>,
        start: i64,
        end: i64,
    ) -> Result<Vec<SeriesSamples>>;

    /// Per-bucket entry counts (and line-byte sums for `bytes_*`) of one
    /// `count_over_time`, `rate`, `bytes_over_time` or `bytes_rate` leaf
    /// without `unwrap`, on `grid`. Series are keyed as in `samples`; only
    /// series with at least one entry on the grid are listed, sorted by
    /// labels. `Ok(None)` when the source cannot do it for this query: the
    /// engine then asks `samples`.
    fn bucket_counts(
        &self,
        _range: &LogRange,
        _op: RangeOp,
        _grouping: Option<&Grouping>,
        _grid: &BucketGrid,
    ) -> Result<Option<Vec<SeriesBuckets>>> {
        Ok(None)
    }
}

/// Consecutive equal-width time buckets: bucket `k` holds the entries with
/// timestamps in `(first + k * width, first + (k + 1) * width]`, the same
/// left-open, right-closed rule as range windows, so a window that is a
/// union of whole buckets counts exactly what its buckets hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketGrid {
    pub first: i64,
    /// Nanoseconds, > 0.
    pub width: i64,
    pub count: usize,
}

impl BucketGrid {
    /// The right edge of the last bucket.
    pub fn end(&self) -> i64 {
        self.first + self.width * self.count as i64
    }

    /// The bucket of a timestamp, `None` off the grid.
    #[inline]
    pub fn index(&self, ts: i64) -> Option<usize> {
        if ts <= self.first || ts > self.end() {
            return None;
        }
        Some(((ts - self.first - 1) / self.width) as usize)
    }
}

/// Bucketed counts of one series.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SeriesBuckets {
    pub labels: LabelSet,
    /// Entries per bucket (`grid.count` long).
    pub counts: Vec<u64>,
    /// Line bytes per bucket for `bytes_over_time` / `bytes_rate`; empty
    /// for the other operations.
    pub bytes: Vec<u64>,
}

/// Parameters of one evaluation.
#[derive(Debug, Clone, Copy)]
pub struct EvalParams {
    /// Nanoseconds. For an instant query `start == end` and `instant` is set.
    pub start: i64,
    pub end: i64,
    /// Nanoseconds; ignored for instant queries.
    pub step: i64,
    pub instant: bool,
    /// `max_query_series`.
    pub max_series: usize,
}

/// Evaluates a metric expression.
pub fn evaluate(
    expr: &MetricExpr,
    params: &EvalParams,
    source: &dyn SampleSource,
) -> Result<QueryValue> {
    eval::run(expr, params, source)
}

mod binary;
mod buckets;
mod eval;
mod functions;
mod label_replace;
mod node;
mod range_agg;
mod rewrite;
mod steps;
mod vector_agg;

#[cfg(test)]
mod golden_tests;
#[cfg(test)]
mod tests;
