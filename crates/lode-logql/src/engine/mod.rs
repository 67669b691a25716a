//! The metric engine: evaluates a `MetricExpr` step by step over samples
//! supplied by a `SampleSource` (the storage layer), with Loki's window
//! semantics.
//!
//! CONTRACT (used by lode-server; keep these signatures stable).

use crate::ast::{Grouping, LogRange, MetricExpr, RangeOp};
use crate::error::Result;
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
mod eval;
mod functions;
mod label_replace;
mod node;
mod range_agg;
mod rewrite;
mod vector_agg;

#[cfg(test)]
mod golden_tests;
#[cfg(test)]
mod tests;
