//! The log pipeline: line filters, parsers, label filters and formatters,
//! compiled once per query and run per entry; plus sample extraction for
//! metric queries.
//!
//! CONTRACT (used by lode-storage; keep these signatures stable):
//! - `LogPipeline::new(&[Stage])` compiles; errors are `Error::Invalid`/`Parse`.
//! - `LogPipeline::for_stream(&LabelSet)` gives a per-stream runner; call
//!   `process(ts, line, structured_metadata)` for each entry in order.
//! - `SampleExtractor` does the same for a range aggregation and yields
//!   `(value, series labels)`; the labels already have the range
//!   aggregation's `by`/`without` grouping applied.

use crate::ast::{Grouping, LogRange, RangeOp, Stage};
use crate::error::Result;
use crate::labels::LabelSet;

/// A log line after the pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessedEntry {
    /// The (possibly reformatted) line.
    pub line: String,
    /// All labels of the entry after the pipeline: stream labels, structured
    /// metadata and parsed labels merged (`stream` of the default encoding).
    pub labels: LabelSet,
    /// The subsets for `categorize-labels`: indexed stream labels,
    /// structured metadata and parsed labels, each after the pipeline.
    pub stream: LabelSet,
    pub structured_metadata: LabelSet,
    pub parsed: LabelSet,
}

/// A compiled log pipeline.
#[derive(Debug)]
pub struct LogPipeline {
    stages: Vec<Stage>,
}

impl LogPipeline {
    pub fn new(stages: &[Stage]) -> Result<Self> {
        Ok(LogPipeline {
            stages: stages.to_vec(),
        })
    }

    /// True when the pipeline changes nothing and filters nothing.
    pub fn is_noop(&self) -> bool {
        self.stages.is_empty()
    }

    /// Byte strings every passing line must contain (from `|=` filters
    /// before any formatting stage), for block skipping. Empty when unknown.
    pub fn required_substrings(&self) -> Vec<Vec<u8>> {
        Vec::new()
    }

    pub fn for_stream(&self, stream: &LabelSet) -> StreamPipeline<'_> {
        StreamPipeline {
            pipeline: self,
            stream: stream.clone(),
        }
    }
}

/// Runs a pipeline for the entries of one stream.
pub struct StreamPipeline<'p> {
    pipeline: &'p LogPipeline,
    stream: LabelSet,
}

impl StreamPipeline<'_> {
    /// Runs one entry; `None` when a stage filtered it out.
    pub fn process(
        &mut self,
        _ts: i64,
        line: &str,
        structured_metadata: &[(String, String)],
    ) -> Option<ProcessedEntry> {
        let _ = &self.pipeline;
        let sm = LabelSet::from_pairs(structured_metadata.iter().cloned());
        let mut labels = self.stream.clone();
        for (k, v) in sm.iter() {
            labels.insert(k.to_string(), v.to_string());
        }
        Some(ProcessedEntry {
            line: line.to_string(),
            labels,
            stream: self.stream.clone(),
            structured_metadata: sm,
            parsed: LabelSet::new(),
        })
    }
}

/// Extracts samples for one range aggregation.
#[derive(Debug)]
pub struct SampleExtractor {
    pipeline: LogPipeline,
    op: RangeOp,
    grouping: Option<Grouping>,
}

impl SampleExtractor {
    /// `grouping` is the range aggregation's own `by`/`without`
    /// (e.g. `avg_over_time(... [5m]) by (x)`), not an outer vector aggregation's.
    pub fn new(range: &LogRange, op: RangeOp, grouping: Option<&Grouping>) -> Result<Self> {
        Ok(SampleExtractor {
            pipeline: LogPipeline::new(&range.log.pipeline)?,
            op,
            grouping: grouping.cloned(),
        })
    }

    pub fn for_stream(&self, stream: &LabelSet) -> StreamExtractor<'_> {
        StreamExtractor {
            inner: self.pipeline.for_stream(stream),
            extractor: self,
        }
    }
}

/// Runs sample extraction for the entries of one stream.
pub struct StreamExtractor<'p> {
    inner: StreamPipeline<'p>,
    extractor: &'p SampleExtractor,
}

impl StreamExtractor<'_> {
    /// `Some((value, series labels))` for an entry that yields a sample. The
    /// labels include `__error__` / `__error__details__` when extraction
    /// failed and no filter removed them; the engine turns those into a
    /// pipeline error.
    pub fn process(
        &mut self,
        ts: i64,
        line: &str,
        structured_metadata: &[(String, String)],
    ) -> Option<(f64, LabelSet)> {
        let e = self.inner.process(ts, line, structured_metadata)?;
        let v = match self.extractor.op {
            RangeOp::BytesOverTime | RangeOp::BytesRate => line.len() as f64,
            _ => 1.0,
        };
        let labels = match &self.extractor.grouping {
            Some(g) => e.labels.project(&g.labels, g.without),
            None => e.labels,
        };
        Some((v, labels))
    }
}
