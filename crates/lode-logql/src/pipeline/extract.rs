//! Sample extraction for range aggregations: one value per entry (1, the
//! line length, or an unwrapped label converted to a number) and the
//! series labels it belongs to.

use super::builder::LabelBuf;
use super::convert::{parse_bytes, parse_duration_ns, parse_float};
use super::{LogPipeline, StreamPipeline};
use crate::ast::{Grouping, LogRange, RangeOp, UnwrapConv};
use crate::error::Result;
use crate::labels::LabelSet;

const SAMPLE_ERR: &str = "SampleExtractionErr";

#[derive(Debug)]
struct CompiledUnwrap {
    label: String,
    conv: UnwrapConv,
}

/// Extracts samples for one range aggregation.
#[derive(Debug)]
pub struct SampleExtractor {
    /// The log pipeline proper.
    pipeline: LogPipeline,
    /// The label filters written after `unwrap`.
    post: LogPipeline,
    unwrap: Option<CompiledUnwrap>,
    op: RangeOp,
    grouping: Option<Grouping>,
}

impl SampleExtractor {
    /// `grouping` is the range aggregation's own `by`/`without`
    /// (e.g. `avg_over_time(... [5m]) by (x)`), not an outer vector aggregation's.
    pub fn new(range: &LogRange, op: RangeOp, grouping: Option<&Grouping>) -> Result<Self> {
        let post = match &range.unwrap {
            Some(u) => LogPipeline::with_filters(&[], &u.post_filters)?,
            None => LogPipeline::new(&[])?,
        };
        Ok(SampleExtractor {
            pipeline: LogPipeline::new(&range.log.pipeline)?,
            post,
            unwrap: range.unwrap.as_ref().map(|u| CompiledUnwrap {
                label: u.label.clone(),
                conv: u.conv,
            }),
            op,
            grouping: grouping.cloned(),
        })
    }

    /// Literal sets for block skipping, as `LogPipeline::required_literal_sets`.
    pub fn required_literal_sets(&self) -> Vec<Vec<Vec<u8>>> {
        self.pipeline.required_literal_sets()
    }

    /// Literal needles for block skipping, as `LogPipeline::required_substrings`.
    pub fn required_substrings(&self) -> Vec<Vec<u8>> {
        self.pipeline.required_substrings()
    }

    /// True when nothing is unwrapped and the pipeline is empty or holds
    /// only line filters: an entry's series then depends on its stream and
    /// structured metadata alone, and whether it counts on `line_passes`.
    pub fn line_filters_only(&self) -> bool {
        self.unwrap.is_none()
            && self
                .pipeline
                .steps
                .iter()
                .all(|s| matches!(s, super::Step::Line(_)))
    }

    /// True when the pipeline is empty and nothing is unwrapped.
    pub fn is_plain(&self) -> bool {
        self.unwrap.is_none() && self.pipeline.is_noop()
    }

    /// Whether a line passes every line filter of the pipeline (its other
    /// stages are not run: meant for `line_filters_only` extractors).
    #[inline]
    pub fn line_passes(&self, line: &str) -> bool {
        self.pipeline.steps.iter().all(|s| match s {
            super::Step::Line(f) => f.passes(line),
            _ => true,
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

fn convert(conv: UnwrapConv, v: &str) -> std::result::Result<f64, String> {
    match conv {
        UnwrapConv::None => parse_float(v),
        UnwrapConv::Bytes => parse_bytes(v),
        UnwrapConv::Duration | UnwrapConv::DurationSeconds => {
            parse_duration_ns(v).map(|ns| ns / 1e9)
        }
    }
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
        let ex = self.extractor;
        let p = &mut self.inner;
        if !p.run(ts, line, structured_metadata) {
            return None;
        }
        p.ensure_labels(structured_metadata);
        let value = match &ex.unwrap {
            None => match ex.op {
                RangeOp::BytesOverTime | RangeOp::BytesRate => p.current_line(line).len() as f64,
                _ => 1.0,
            },
            Some(u) => {
                let labels = &mut p.labels;
                let v = match labels.get(&u.label) {
                    // An entry without the label yields no sample, even when
                    // an earlier stage failed (Loki skips it the same way).
                    None => return None,
                    Some(raw) => match convert(u.conv, raw) {
                        Ok(v) => v,
                        Err(details) => {
                            labels.set_err(SAMPLE_ERR, &details);
                            0.0
                        }
                    },
                };
                if !run_post(&ex.post, labels) {
                    return None;
                }
                labels.remove(&u.label);
                v
            }
        };
        Some((value, series_labels(&p.labels, ex.grouping.as_ref())))
    }
}

fn run_post(post: &LogPipeline, labels: &mut LabelBuf) -> bool {
    post.steps.iter().all(|s| match s {
        super::Step::LabelFilter(f) => f.eval(labels),
        _ => true,
    })
}

/// The series of a sample: the entry's labels with the range aggregation's
/// grouping applied. An entry with an error keeps all its labels so the
/// engine can report which series failed.
fn series_labels(labels: &LabelBuf, grouping: Option<&Grouping>) -> LabelSet {
    let all = labels.to_label_set();
    match grouping {
        Some(g) if !labels.has_err() => all.project(&g.labels, g.without),
        _ => all,
    }
}
