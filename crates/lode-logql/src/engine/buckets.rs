//! Counting range aggregations (`count_over_time`, `rate`,
//! `bytes_over_time`, `bytes_rate`, no `unwrap`) answered from per-bucket
//! counts instead of one sample per entry.
//!
//! When every evaluation window is a union of whole buckets of one grid,
//! the source can count entries per bucket while it scans (no per-entry
//! sample, no sort) and a window's value is a difference of prefix sums.
//! With steps `t_i = start + i * step` and windows
//! `(t_i - offset - range, t_i - offset]`, buckets of width
//! `g = gcd(range, step)` starting at `start - offset - range` make window
//! `i` the buckets `[i * step / g, i * step / g + range / g)`. Counts are
//! integers, so the values equal the sample path's bit for bit.

use crate::ast::RangeOp;
use crate::error::{Error, Result};
use crate::labels::LabelSet;

use super::functions;
use super::node::{Elem, Node, Shape};
use super::range_agg::{carries_error, RangeSpec, ERROR_LABEL};
use super::steps::Steps;
use super::{BucketGrid, SeriesBuckets};

/// Grids finer than this cost more per series than the samples they replace.
const MAX_BUCKETS: usize = 1 << 20;

/// How a leaf's windows map onto a bucket grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BucketPlan {
    pub grid: BucketGrid,
    /// Buckets per window.
    pub span: usize,
}

fn gcd(mut a: i64, mut b: i64) -> i64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The grid for a leaf, or `None` when its values cannot come from counts.
pub(crate) fn plan(spec: &RangeSpec, steps: &Steps) -> Option<BucketPlan> {
    let counting = matches!(
        spec.op,
        RangeOp::CountOverTime | RangeOp::Rate | RangeOp::BytesOverTime | RangeOp::BytesRate
    );
    if !counting || spec.unwrap || spec.range <= 0 || steps.count == 0 {
        return None;
    }
    let first = steps
        .start
        .checked_sub(spec.offset)?
        .checked_sub(spec.range)?;
    if steps.count == 1 {
        return Some(BucketPlan {
            grid: BucketGrid {
                first,
                width: spec.range,
                count: 1,
            },
            span: 1,
        });
    }
    let width = gcd(spec.range, steps.step);
    let span = (spec.range / width) as usize;
    let stride = (steps.step / width) as usize;
    let count = (steps.count - 1)
        .checked_mul(stride)?
        .checked_add(span)
        .filter(|&c| c <= MAX_BUCKETS)?;
    // `BucketGrid::end` must not overflow.
    first.checked_add(width.checked_mul(count as i64)?)?;
    Some(BucketPlan {
        grid: BucketGrid {
            first,
            width,
            count,
        },
        span,
    })
}

/// A counting range aggregation over bucketed counts.
pub(crate) struct BucketAggNode {
    op: RangeOp,
    offset: i64,
    range_seconds: f64,
    plan: BucketPlan,
    labels: Vec<LabelSet>,
    /// Running sums over buckets (`count + 1` long) of entries and bytes.
    counts: Vec<Vec<u64>>,
    bytes: Vec<Vec<u64>>,
    has_error: Vec<bool>,
    max_series: Option<usize>,
    out: Vec<Elem>,
}

fn prefix(v: &[u64]) -> Vec<u64> {
    let mut out = Vec::with_capacity(v.len() + 1);
    let mut acc = 0u64;
    out.push(0);
    for &x in v {
        acc = acc.saturating_add(x);
        out.push(acc);
    }
    out
}

impl BucketAggNode {
    pub fn new(
        spec: RangeSpec,
        plan: BucketPlan,
        series: Vec<SeriesBuckets>,
        max_series: Option<usize>,
    ) -> Result<Self> {
        let n = plan.grid.count;
        let bytes_op = matches!(spec.op, RangeOp::BytesOverTime | RangeOp::BytesRate);
        let mut labels = Vec::with_capacity(series.len());
        let mut counts = Vec::with_capacity(series.len());
        let mut bytes = Vec::with_capacity(series.len());
        for s in series {
            if s.counts.len() != n || (bytes_op && s.bytes.len() != n) {
                return Err(Error::Source(format!(
                    "bucket counts of {} do not fit the grid",
                    s.labels
                )));
            }
            counts.push(prefix(&s.counts));
            bytes.push(if bytes_op {
                prefix(&s.bytes)
            } else {
                Vec::new()
            });
            labels.push(s.labels);
        }
        Ok(BucketAggNode {
            op: spec.op,
            offset: spec.offset,
            range_seconds: functions::seconds(spec.range),
            plan,
            has_error: labels.iter().map(carries_error).collect(),
            labels,
            counts,
            bytes,
            max_series,
            out: Vec::new(),
        })
    }

    /// The `[lo, hi)` buckets of the window ending at `end`.
    fn window(&self, end: i64) -> Result<(usize, usize)> {
        let g = &self.plan.grid;
        let d = end - g.first;
        if d <= 0 || d % g.width != 0 {
            return Err(Error::Source("evaluation step off the bucket grid".into()));
        }
        let hi = (d / g.width) as usize;
        if hi > g.count || hi < self.plan.span {
            return Err(Error::Source("evaluation step off the bucket grid".into()));
        }
        Ok((hi - self.plan.span, hi))
    }
}

impl Node for BucketAggNode {
    fn shape(&self) -> Shape {
        Shape::Vector
    }

    fn advance(&mut self, ts: i64) -> Result<()> {
        let (lo, hi) = self.window(ts - self.offset)?;
        self.out.clear();
        for (i, c) in self.counts.iter().enumerate() {
            let n = c[hi] - c[lo];
            // A window without entries has no point, not a zero.
            if n == 0 {
                continue;
            }
            let window_bytes = || {
                let b = &self.bytes[i];
                (b[hi] - b[lo]) as f64
            };
            let value = match self.op {
                RangeOp::CountOverTime => n as f64,
                RangeOp::Rate => n as f64 / self.range_seconds,
                RangeOp::BytesOverTime => window_bytes(),
                RangeOp::BytesRate => window_bytes() / self.range_seconds,
                _ => unreachable!("planned for counting operations only"),
            };
            self.out.push(Elem {
                id: i as u32,
                value,
            });
        }
        if let Some(max) = self.max_series {
            if self.out.len() > max {
                return Err(Error::MaxSeries(max));
            }
        }
        if let Some(e) = self.out.iter().find(|e| self.has_error[e.id as usize]) {
            let labels = &self.labels[e.id as usize];
            return Err(Error::Pipeline {
                kind: labels.get(ERROR_LABEL).unwrap_or_default().to_string(),
                series: labels.to_string(),
            });
        }
        Ok(())
    }

    fn vector(&self) -> &[Elem] {
        &self.out
    }

    fn labels(&self, id: u32) -> &LabelSet {
        &self.labels[id as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::{Grouping, LogRange, MetricExpr};
    use crate::engine::tests::MemSource;
    use crate::engine::{evaluate, EvalParams, SampleSource};
    use crate::value::{QueryValue, SeriesSamples};
    use std::cell::Cell;

    const S: i64 = 1_000_000_000;

    /// `MemSource` that also answers `bucket_counts`, by bucketing its own
    /// samples (a sample's value stands for the entry's line length).
    struct Bucketed {
        inner: MemSource,
        answered: Cell<usize>,
    }

    impl SampleSource for Bucketed {
        fn samples(
            &self,
            range: &LogRange,
            op: RangeOp,
            grouping: Option<&Grouping>,
            start: i64,
            end: i64,
        ) -> Result<Vec<SeriesSamples>> {
            self.inner.samples(range, op, grouping, start, end)
        }

        fn bucket_counts(
            &self,
            range: &LogRange,
            op: RangeOp,
            grouping: Option<&Grouping>,
            grid: &BucketGrid,
        ) -> Result<Option<Vec<SeriesBuckets>>> {
            self.answered.set(self.answered.get() + 1);
            let bytes_op = matches!(op, RangeOp::BytesOverTime | RangeOp::BytesRate);
            let series = self
                .inner
                .samples(range, op, grouping, grid.first, grid.end())?;
            Ok(Some(
                series
                    .into_iter()
                    .map(|s| {
                        let mut b = SeriesBuckets {
                            labels: s.labels,
                            counts: vec![0; grid.count],
                            bytes: vec![0; if bytes_op { grid.count } else { 0 }],
                        };
                        for p in s.samples {
                            let k = grid.index(p.ts).expect("samples lie on the grid");
                            b.counts[k] += 1;
                            if bytes_op {
                                b.bytes[k] += p.value as u64;
                            }
                        }
                        b
                    })
                    .collect(),
            ))
        }
    }

    fn source(points: &[(i64, f64)]) -> MemSource {
        let (a, b): (Vec<_>, Vec<_>) = points.iter().partition(|p| p.1 < 10.0);
        MemSource::default()
            .stream(&[("app", "a"), ("pod", "1")], &a)
            .stream(&[("app", "a"), ("pod", "2")], &b)
            .stream(&[("app", "b"), ("pod", "3")], points)
    }

    fn metric(q: &str) -> MetricExpr {
        match crate::parse(q).unwrap() {
            crate::ast::Expr::Metric(m) => m,
            e => panic!("{e:?}"),
        }
    }

    fn both(q: &str, points: &[(i64, f64)], params: EvalParams) -> (QueryValue, QueryValue, usize) {
        let expr = metric(q);
        let plain = evaluate(&expr, &params, &source(points)).unwrap();
        let b = Bucketed {
            inner: source(points),
            answered: Cell::new(0),
        };
        let bucketed = evaluate(&expr, &params, &b).unwrap();
        (plain, bucketed, b.answered.get())
    }

    fn range_params(start_s: i64, end_s: i64, step_s: i64) -> EvalParams {
        EvalParams {
            start: start_s * S,
            end: end_s * S,
            step: step_s * S,
            instant: false,
            max_series: 100,
        }
    }

    fn spec(range_s: i64, offset_s: i64) -> RangeSpec {
        RangeSpec {
            op: RangeOp::CountOverTime,
            param: None,
            unwrap: false,
            range: range_s * S,
            offset: offset_s * S,
        }
    }

    #[test]
    fn plans_whole_bucket_windows() {
        let steps = |start, step, count| Steps { start, step, count };
        // range = 3 steps: width = step, 3 buckets per window.
        let p = plan(&spec(30, 0), &steps(100 * S, 10 * S, 5)).unwrap();
        assert_eq!(p.grid.first, 70 * S);
        assert_eq!((p.grid.width, p.grid.count, p.span), (10 * S, 7, 3));
        // The last window ends where the grid ends.
        assert_eq!(p.grid.end(), 140 * S);
        // Offset shifts the grid; step not dividing range: gcd buckets.
        let p = plan(&spec(10, 5), &steps(100 * S, 4 * S, 3)).unwrap();
        assert_eq!(p.grid.first, 85 * S);
        assert_eq!((p.grid.width, p.grid.count, p.span), (2 * S, 9, 5));
        assert_eq!(p.grid.end(), 103 * S);
        // One step (instant): one bucket as wide as the range.
        let p = plan(&spec(60, 0), &steps(100 * S, 1, 1)).unwrap();
        assert_eq!(
            (p.grid.first, p.grid.width, p.grid.count),
            (40 * S, 60 * S, 1)
        );
        // Not counting, unwrapped, or a grid too fine: samples.
        let mut avg = spec(30, 0);
        avg.op = RangeOp::AvgOverTime;
        assert!(plan(&avg, &steps(0, S, 5)).is_none());
        let mut unwrapped = spec(30, 0);
        unwrapped.unwrap = true;
        assert!(plan(&unwrapped, &steps(0, S, 5)).is_none());
        let mut fine = spec(30, 0);
        fine.range = 30 * S + 1;
        assert!(plan(&fine, &steps(0, S, 5)).is_none());
    }

    #[test]
    fn bucket_edges_are_left_open_right_closed() {
        let g = BucketGrid {
            first: 10,
            width: 5,
            count: 3,
        };
        assert_eq!(g.index(10), None);
        assert_eq!(g.index(11), Some(0));
        assert_eq!(g.index(15), Some(0));
        assert_eq!(g.index(16), Some(1));
        assert_eq!(g.index(25), Some(2));
        assert_eq!(g.index(26), None);
    }

    #[test]
    fn samples_on_window_edges() {
        // Entries exactly on step instants, one nanosecond either side, and
        // on the offset-shifted edges.
        let mut pts = Vec::new();
        for t in [60, 120, 180, 240, 300] {
            pts.push((t, 1.0));
        }
        let mut src = source(&pts);
        src = src.stream(
            &[("app", "c")],
            &[(59, 3.0), (61, 4.0), (119, 5.0), (121, 6.0)],
        );
        let b = Bucketed {
            inner: src,
            answered: Cell::new(0),
        };
        for q in [
            "count_over_time({app=~\".+\"}[1m])",
            "sum by (app) (rate({app=~\".+\"}[2m]))",
            "bytes_over_time({app=~\".+\"}[3m] offset 1m)",
            "bytes_rate({app=\"c\"}[1m])",
        ] {
            let expr = metric(q);
            for params in [range_params(60, 300, 60), range_params(0, 360, 30)] {
                let want = evaluate(&expr, &params, &b.inner).unwrap();
                let got = evaluate(&expr, &params, &b).unwrap();
                assert_eq!(got, want, "{q}");
            }
            let instant = EvalParams {
                start: 120 * S,
                end: 120 * S,
                step: 0,
                instant: true,
                max_series: 100,
            };
            let want = evaluate(&expr, &instant, &b.inner).unwrap();
            assert_eq!(evaluate(&expr, &instant, &b).unwrap(), want, "{q}");
        }
        assert!(b.answered.get() >= 12);
    }

    #[test]
    fn empty_windows_yield_no_point() {
        let (plain, bucketed, answered) = both(
            "count_over_time({app=\"b\"}[10s])",
            &[(5, 1.0), (50, 1.0)],
            range_params(0, 60, 10),
        );
        assert_eq!(answered, 1);
        assert_eq!(plain, bucketed);
        let QueryValue::Matrix(m) = bucketed else {
            panic!()
        };
        let ts: Vec<i64> = m[0].points.iter().map(|p| p.ts / S).collect();
        assert_eq!(ts, vec![10, 50]);
    }

    #[test]
    fn other_operations_never_ask_for_buckets() {
        let (plain, bucketed, answered) = both(
            "sum_over_time({app=\"b\"} | unwrap x [10s])",
            &[(5, 1.0)],
            range_params(0, 20, 10),
        );
        assert_eq!(plain, bucketed);
        assert_eq!(answered, 0);
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Bucketed counts give exactly what sliding windows over
            /// samples give, for any range, step, offset and query kind.
            #[test]
            fn buckets_match_samples(
                ts in proptest::collection::vec(0i64..400, 0..60),
                lens in proptest::collection::vec(0u32..40, 60),
                range in 1i64..90,
                step in 1i64..60,
                offset in 0i64..30,
                start in 0i64..200,
                op in 0usize..4,
                instant in any::<bool>(),
            ) {
                let mut pts: Vec<(i64, f64)> = ts.iter().zip(&lens).map(|(&t, &l)| (t, f64::from(l))).collect();
                pts.sort_by_key(|p| p.0);
                let f = ["count_over_time", "rate", "bytes_over_time", "bytes_rate"][op];
                let q = format!("sum by (app) ({f}({{app=~\".+\"}}[{range}s] offset {offset}s))");
                let params = if instant {
                    EvalParams { start: start * S, end: start * S, step: 0, instant: true, max_series: 100 }
                } else {
                    range_params(start, start + 200, step)
                };
                let (plain, bucketed, answered) = both(&q, &pts, params);
                prop_assert_eq!(answered, 1);
                prop_assert_eq!(plain, bucketed);
            }
        }
    }
}
