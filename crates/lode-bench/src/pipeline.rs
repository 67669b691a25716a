//! `lode-bench pipeline`: streams generated lines through the LogQL
//! pipeline on one thread (so figures are per core) without holding the
//! data in memory: each line is generated, processed and dropped.

use crate::gen::Dataset;
use lode_logql::ast::{Expr, MetricExpr};
use lode_logql::pipeline::{LogPipeline, SampleExtractor, StreamExtractor, StreamPipeline};
use lode_logql::LabelSet;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Result of one pipeline run.
pub struct PipelineRun {
    pub query: String,
    pub lines: u64,
    pub bytes: u64,
    /// Lines that passed (log query) or produced a sample (metric query).
    pub matched: u64,
    /// Series × steps held by the metric aggregation.
    pub cells: usize,
    pub elapsed: Duration,
}

/// The innermost range aggregation of a metric expression.
fn range_agg(e: &MetricExpr) -> Option<&MetricExpr> {
    match e {
        MetricExpr::RangeAgg { .. } => Some(e),
        MetricExpr::VectorAgg { expr, .. }
        | MetricExpr::Paren(expr)
        | MetricExpr::LabelReplace { expr, .. } => range_agg(expr),
        MetricExpr::Binary { lhs, .. } => range_agg(lhs),
        _ => None,
    }
}

enum Runner<'a> {
    Log(Vec<Option<StreamPipeline<'a>>>),
    Metric(Vec<Option<StreamExtractor<'a>>>, i64),
}

/// Runs `query` over the generated lines `0..ds.lines`. The stream
/// selector is ignored: every stream's lines go through the pipeline, which
/// is the worst case a scan can meet.
pub fn run(ds: &Dataset, query: &str) -> Result<PipelineRun, String> {
    let expr = lode_logql::parse(query).map_err(|e| e.to_string())?;
    let labels: Vec<LabelSet> = ds
        .streams
        .iter()
        .map(|s| LabelSet::from_pairs(s.labels.iter().cloned()))
        .collect();
    let mut step = 1i64;
    let (log_p, sample_p) = match &expr {
        Expr::Log(l) => (
            Some(LogPipeline::new(&l.pipeline).map_err(|e| e.to_string())?),
            None,
        ),
        Expr::Variants(_) => return Err("variants queries are not benchmarked".into()),
        Expr::Metric(m) => {
            let Some(MetricExpr::RangeAgg {
                op,
                range,
                grouping,
                ..
            }) = range_agg(m)
            else {
                return Err("no range aggregation in the query".into());
            };
            step = range.range.max(1);
            (
                None,
                Some(
                    SampleExtractor::new(range, *op, grouping.as_ref())
                        .map_err(|e| e.to_string())?,
                ),
            )
        }
    };
    let mut runner = match (&log_p, &sample_p) {
        (Some(_), _) => Runner::Log((0..labels.len()).map(|_| None).collect()),
        _ => Runner::Metric((0..labels.len()).map(|_| None).collect(), step),
    };
    let mut cells: HashMap<(LabelSet, i64), f64> = HashMap::new();
    let (mut line, mut meta) = (String::new(), Vec::new());
    let mut sm: Vec<(String, String)> = Vec::new();
    let (mut bytes, mut matched) = (0u64, 0u64);
    let t0 = Instant::now();
    for i in 0..ds.lines {
        let (si, ts) = ds.line(i, &mut line, &mut meta);
        bytes += line.len() as u64;
        sm.clear();
        sm.extend(meta.iter().map(|(k, v)| (k.to_string(), v.clone())));
        match &mut runner {
            Runner::Log(ps) => {
                let p = ps[si].get_or_insert_with(|| {
                    log_p.as_ref().expect("log query").for_stream(&labels[si])
                });
                if p.process(ts, &line, &sm).is_some() {
                    matched += 1;
                }
            }
            Runner::Metric(xs, step) => {
                let x = xs[si].get_or_insert_with(|| {
                    sample_p
                        .as_ref()
                        .expect("metric query")
                        .for_stream(&labels[si])
                });
                if let Some((v, l)) = x.process(ts, &line, &sm) {
                    matched += 1;
                    *cells.entry((l, ts.div_euclid(*step))).or_default() += v;
                }
            }
        }
    }
    Ok(PipelineRun {
        query: query.to_string(),
        lines: ds.lines,
        bytes,
        matched,
        cells: cells.len(),
        elapsed: t0.elapsed(),
    })
}

/// Time spent generating the lines alone, to subtract from a run.
pub fn generation_only(ds: &Dataset) -> Duration {
    let (mut line, mut meta) = (String::new(), Vec::new());
    let t0 = Instant::now();
    let mut n = 0usize;
    for i in 0..ds.lines {
        ds.line(i, &mut line, &mut meta);
        n = n.wrapping_add(line.len());
    }
    std::hint::black_box(n);
    t0.elapsed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_and_metrics_count_real_matches() {
        let ds = Dataset::new(9, 4000, 1_700_000_000_000_000_000, 3_600_000_000_000, 999);
        let all = run(&ds, "{app=~\".+\"}").unwrap();
        assert_eq!(all.matched, 4000);
        let needle = run(&ds, &format!("{{app=~\".+\"}} |= \"{}\"", ds.needle)).unwrap();
        assert_eq!(needle.matched, 1);
        let m = run(&ds, "sum by (namespace) (rate({app=~\".+\"}[5m]))").unwrap();
        assert_eq!(m.matched, 4000);
        assert!(m.cells >= 5, "namespaces × 5m steps");
        assert!(run(&ds, "{app=~").is_err());
    }
}
