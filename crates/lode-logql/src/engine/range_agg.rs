//! The leaves of the evaluation tree: range aggregations
//! (`rate({..}[5m])`, `quantile_over_time(..)`, `absent_over_time(..)`).
//!
//! All samples of the query window arrive at once, grouped by series and
//! sorted by time. Each step slides a `(t - offset - range, t - offset]`
//! window over every series with two monotonic cursors, so the whole query
//! costs O(samples + series × steps) plus the per-window aggregation.

use crate::ast::{MatchOp, Matcher, RangeOp};
use crate::error::{Error, Result};
use crate::labels::LabelSet;
use crate::value::{Point, SeriesSamples};

use super::functions;
use super::node::{Elem, Node, Shape};

/// The label Loki sets when a pipeline stage failed on an entry.
pub(crate) const ERROR_LABEL: &str = "__error__";
/// Set to "true" by a query that asks to keep erroring samples.
const PRESERVE_ERROR_LABEL: &str = "__preserve_error__";

/// What the leaf computes per window.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RangeSpec {
    pub op: RangeOp,
    /// The quantile of `quantile_over_time`.
    pub param: Option<f64>,
    /// Whether the range has an `unwrap` (changes what `rate` means).
    pub unwrap: bool,
    pub range: i64,
    pub offset: i64,
}

pub(crate) struct RangeAggNode {
    spec: RangeSpec,
    range_seconds: f64,
    series: Vec<SeriesSamples>,
    /// `[lo, hi)` sample indexes of the current window, per series.
    cursors: Vec<(usize, usize)>,
    /// Prefix sums for series whose values are all integers small enough
    /// that every partial sum is exact in f64: then `prefix[hi] - prefix[lo]`
    /// equals in-order summation bit for bit, and saves rescanning windows.
    prefix: Vec<Option<Vec<f64>>>,
    has_error: Vec<bool>,
    /// Labels of the single `absent_over_time` output series.
    absent_labels: Option<LabelSet>,
    /// `max_query_series` when this leaf's output is the query's output.
    max_series: Option<usize>,
    out: Vec<Elem>,
    scratch: Vec<f64>,
}

impl RangeAggNode {
    pub fn new(
        spec: RangeSpec,
        series: Vec<SeriesSamples>,
        selector: &[Matcher],
        max_series: Option<usize>,
    ) -> Result<Self> {
        if spec.op == RangeOp::QuantileOverTime && spec.param.is_none() {
            return Err(Error::Invalid(
                "quantile_over_time requires a quantile parameter".into(),
            ));
        }
        let sums_values = matches!(
            spec.op,
            RangeOp::SumOverTime | RangeOp::BytesOverTime | RangeOp::BytesRate
        ) || (spec.op == RangeOp::Rate && spec.unwrap);
        let prefix = series
            .iter()
            .map(|s| sums_values.then(|| exact_prefix_sums(&s.samples)).flatten())
            .collect();
        let has_error = series.iter().map(|s| carries_error(&s.labels)).collect();
        let absent_labels = (spec.op == RangeOp::AbsentOverTime).then(|| absent_labels(selector));
        Ok(RangeAggNode {
            range_seconds: functions::seconds(spec.range),
            cursors: vec![(0, 0); series.len()],
            spec,
            series,
            prefix,
            has_error,
            absent_labels,
            max_series,
            out: Vec::new(),
            scratch: Vec::new(),
        })
    }

    fn window_value(&mut self, i: usize, lo: usize, hi: usize) -> f64 {
        let points = &self.series[i].samples[lo..hi];
        let n = (hi - lo) as f64;
        let window_sum = |prefix: &Option<Vec<f64>>| match prefix {
            Some(p) => p[hi] - p[lo],
            None => functions::sum(points),
        };
        match self.spec.op {
            RangeOp::CountOverTime => n,
            RangeOp::Rate if !self.spec.unwrap => n / self.range_seconds,
            RangeOp::Rate | RangeOp::BytesRate => window_sum(&self.prefix[i]) / self.range_seconds,
            RangeOp::BytesOverTime | RangeOp::SumOverTime => window_sum(&self.prefix[i]),
            RangeOp::AvgOverTime => functions::avg(points),
            RangeOp::MinOverTime => functions::min(points),
            RangeOp::MaxOverTime => functions::max(points),
            RangeOp::StddevOverTime => functions::stddev(points),
            RangeOp::StdvarOverTime => functions::stdvar(points),
            RangeOp::QuantileOverTime => functions::quantile(
                self.spec.param.unwrap_or(f64::NAN),
                points,
                &mut self.scratch,
            ),
            RangeOp::FirstOverTime => points[0].value,
            RangeOp::LastOverTime => points[points.len() - 1].value,
            RangeOp::RateCounter => functions::rate_counter(points, self.spec.range),
            RangeOp::AbsentOverTime => 1.0,
        }
    }
}

impl Node for RangeAggNode {
    fn shape(&self) -> Shape {
        Shape::Vector
    }

    fn advance(&mut self, ts: i64) -> Result<()> {
        let end = ts - self.spec.offset;
        let start = end - self.spec.range;
        self.out.clear();
        for i in 0..self.series.len() {
            // A step over 100k source series is long enough to miss a
            // deadline by seconds if only checked per step.
            if i % 4096 == 4095 {
                crate::context::check()?;
            }
            let samples = &self.series[i].samples;
            let (mut lo, mut hi) = self.cursors[i];
            while hi < samples.len() && samples[hi].ts <= end {
                hi += 1;
            }
            while lo < hi && samples[lo].ts <= start {
                lo += 1;
            }
            self.cursors[i] = (lo, hi);
            if lo < hi {
                let value = self.window_value(i, lo, hi);
                self.out.push(Elem {
                    id: i as u32,
                    value,
                });
            }
        }
        if let Some(max) = self.max_series {
            if self.absent_labels.is_none() && self.out.len() > max {
                return Err(Error::MaxSeries(max));
            }
        }
        if let Some(e) = self.out.iter().find(|e| self.has_error[e.id as usize]) {
            let labels = &self.series[e.id as usize].labels;
            return Err(Error::Pipeline {
                kind: labels.get(ERROR_LABEL).unwrap_or_default().to_string(),
                series: labels.to_string(),
            });
        }
        if self.absent_labels.is_some() {
            let absent = self.out.is_empty();
            self.out.clear();
            if absent {
                self.out.push(Elem { id: 0, value: 1.0 });
            }
        }
        Ok(())
    }

    fn vector(&self) -> &[Elem] {
        &self.out
    }

    fn labels(&self, id: u32) -> &LabelSet {
        match &self.absent_labels {
            Some(l) => l,
            None => &self.series[id as usize].labels,
        }
    }
}

pub(crate) fn carries_error(labels: &LabelSet) -> bool {
    matches!(labels.get(ERROR_LABEL), Some(v) if !v.is_empty())
        && labels.get(PRESERVE_ERROR_LABEL) != Some("true")
}

/// Running sums when they are exact (integral values, total below 2^53).
fn exact_prefix_sums(samples: &[Point]) -> Option<Vec<f64>> {
    const EXACT_LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53
    let mut abs_total = 0.0f64;
    for p in samples {
        if p.value.fract() != 0.0 || !p.value.is_finite() {
            return None;
        }
        abs_total += p.value.abs();
        if abs_total >= EXACT_LIMIT {
            return None;
        }
    }
    let mut prefix = Vec::with_capacity(samples.len() + 1);
    let mut acc = 0.0;
    prefix.push(acc);
    for p in samples {
        acc += p.value;
        prefix.push(acc);
    }
    Some(prefix)
}

/// The labels `absent_over_time` reports: the selector's equality matchers,
/// minus any name that is also matched some other way or more than once.
pub(crate) fn absent_labels(selector: &[Matcher]) -> LabelSet {
    let mut out = LabelSet::new();
    let mut ambiguous: Vec<&str> = Vec::new();
    for m in selector {
        if m.name == "__name__" {
            continue;
        }
        if m.op == MatchOp::Eq && !out.contains(&m.name) {
            out.insert(m.name.clone(), m.value.clone());
        } else {
            ambiguous.push(&m.name);
        }
    }
    for name in ambiguous {
        out.remove(name);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn series(labels: &[(&str, &str)], points: &[(i64, f64)]) -> SeriesSamples {
        SeriesSamples {
            labels: LabelSet::from_pairs(labels.iter().copied()),
            samples: points
                .iter()
                .map(|&(t, value)| Point { ts: t * S, value })
                .collect(),
        }
    }

    fn spec(op: RangeOp, range_s: i64) -> RangeSpec {
        RangeSpec {
            op,
            param: None,
            unwrap: false,
            range: range_s * S,
            offset: 0,
        }
    }

    fn run(node: &mut RangeAggNode, ts_s: i64) -> Vec<(u32, f64)> {
        node.advance(ts_s * S).unwrap();
        node.vector().iter().map(|e| (e.id, e.value)).collect()
    }

    #[test]
    fn window_is_left_open_right_closed() {
        let s = series(&[("a", "1")], &[(10, 1.0), (20, 1.0), (30, 1.0)]);
        let mut n =
            RangeAggNode::new(spec(RangeOp::CountOverTime, 10), vec![s], &[], None).unwrap();
        assert_eq!(run(&mut n, 10), vec![(0, 1.0)]);
        // (10, 20]: the sample at 10 is out, the one at 20 in.
        assert_eq!(run(&mut n, 20), vec![(0, 1.0)]);
        assert_eq!(run(&mut n, 25), vec![(0, 1.0)]);
        assert_eq!(run(&mut n, 39), vec![(0, 1.0)]);
        // (30, 40] is empty: no point at all, not a zero.
        assert_eq!(run(&mut n, 40), vec![]);
    }

    #[test]
    fn rates_and_bytes() {
        let mk = |op| {
            let s = series(&[("a", "1")], &[(1, 100.0), (2, 50.0), (3, 10.0)]);
            RangeAggNode::new(spec(op, 10), vec![s], &[], None).unwrap()
        };
        assert_eq!(run(&mut mk(RangeOp::Rate), 5), vec![(0, 0.3)]);
        assert_eq!(run(&mut mk(RangeOp::BytesOverTime), 5), vec![(0, 160.0)]);
        assert_eq!(run(&mut mk(RangeOp::BytesRate), 5), vec![(0, 16.0)]);
        let mut unwrapped = spec(RangeOp::Rate, 10);
        unwrapped.unwrap = true;
        let s = series(&[("a", "1")], &[(1, 100.0), (2, 50.0), (3, 10.0)]);
        let mut n = RangeAggNode::new(unwrapped, vec![s], &[], None).unwrap();
        assert_eq!(run(&mut n, 5), vec![(0, 16.0)]);
    }

    #[test]
    fn unwrapped_ops_over_sliding_windows() {
        let pts = [(1, 3.0), (2, 1.0), (3, 4.0), (4, 1.5), (5, 9.0)];
        let mk = |op, param| {
            let mut sp = spec(op, 3);
            sp.param = param;
            sp.unwrap = true;
            RangeAggNode::new(sp, vec![series(&[], &pts)], &[], None).unwrap()
        };
        // Windows at t=3: (0,3] -> 3,1,4; t=5: (2,5] -> 4,1.5,9.
        let check = |op, param, at3: f64, at5: f64| {
            let mut n = mk(op, param);
            assert_eq!(run(&mut n, 3), vec![(0, at3)], "{op:?} at 3");
            assert_eq!(run(&mut n, 5), vec![(0, at5)], "{op:?} at 5");
        };
        check(RangeOp::SumOverTime, None, 8.0, 14.5);
        check(RangeOp::MinOverTime, None, 1.0, 1.5);
        check(RangeOp::MaxOverTime, None, 4.0, 9.0);
        check(RangeOp::FirstOverTime, None, 3.0, 4.0);
        check(RangeOp::LastOverTime, None, 4.0, 9.0);
        check(RangeOp::QuantileOverTime, Some(0.5), 3.0, 4.0);
        let mut avg = mk(RangeOp::AvgOverTime, None);
        assert!((run(&mut avg, 3)[0].1 - 8.0 / 3.0).abs() < 1e-12);
        assert!((run(&mut avg, 5)[0].1 - 14.5 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn offset_shifts_the_window_not_the_timestamp() {
        let s = series(&[], &[(5, 1.0), (15, 1.0), (16, 1.0)]);
        let mut sp = spec(RangeOp::CountOverTime, 10);
        sp.offset = 10 * S;
        let mut n = RangeAggNode::new(sp, vec![s], &[], None).unwrap();
        // At t=20 the window is (0, 10].
        assert_eq!(run(&mut n, 20), vec![(0, 1.0)]);
        assert_eq!(run(&mut n, 30), vec![(0, 2.0)]);
    }

    #[test]
    fn prefix_sums_match_direct_summation() {
        let pts: Vec<(i64, f64)> = (1..50).map(|i| (i, (i * 37 % 11) as f64)).collect();
        let s = series(&[], &pts);
        assert!(exact_prefix_sums(&s.samples).is_some());
        let mut n =
            RangeAggNode::new(spec(RangeOp::SumOverTime, 7), vec![s.clone()], &[], None).unwrap();
        for t in 1..60 {
            let direct: f64 = s
                .samples
                .iter()
                .filter(|p| p.ts > (t - 7) * S && p.ts <= t * S)
                .map(|p| p.value)
                .sum();
            let got = run(&mut n, t);
            if got.is_empty() {
                assert_eq!(direct, 0.0);
            } else {
                assert_eq!(got[0].1, direct);
            }
        }
        assert!(exact_prefix_sums(&series(&[], &[(1, 0.5)]).samples).is_none());
    }

    #[test]
    fn pipeline_error_only_when_erroring_series_is_in_window() {
        let ok = series(&[("a", "1")], &[(1, 1.0), (30, 1.0)]);
        let bad = series(&[("__error__", "JSONParserErr"), ("a", "1")], &[(30, 1.0)]);
        let mut n =
            RangeAggNode::new(spec(RangeOp::CountOverTime, 10), vec![ok, bad], &[], None).unwrap();
        assert_eq!(run(&mut n, 5), vec![(0, 1.0)]);
        let err = n.advance(30 * S).unwrap_err();
        assert_eq!(
            err,
            Error::Pipeline {
                kind: "JSONParserErr".into(),
                series: r#"{__error__="JSONParserErr", a="1"}"#.into()
            }
        );
    }

    #[test]
    fn preserved_errors_are_allowed() {
        let s = series(
            &[("__error__", "X"), ("__preserve_error__", "true")],
            &[(1, 1.0)],
        );
        let mut n =
            RangeAggNode::new(spec(RangeOp::CountOverTime, 10), vec![s], &[], None).unwrap();
        assert_eq!(run(&mut n, 5), vec![(0, 1.0)]);
    }

    #[test]
    fn max_series_checked_per_step_before_pipeline_errors() {
        let a = series(&[("a", "1")], &[(1, 1.0)]);
        let b = series(&[("__error__", "E"), ("a", "2")], &[(1, 1.0)]);
        let mut n =
            RangeAggNode::new(spec(RangeOp::CountOverTime, 10), vec![a, b], &[], Some(1)).unwrap();
        assert_eq!(n.advance(5 * S).unwrap_err(), Error::MaxSeries(1));
    }

    #[test]
    fn absent_reports_steps_without_samples() {
        let sel = vec![
            Matcher {
                name: "app".into(),
                op: MatchOp::Eq,
                value: "x".into(),
            },
            Matcher {
                name: "env".into(),
                op: MatchOp::Re,
                value: "p.*".into(),
            },
            Matcher {
                name: "ns".into(),
                op: MatchOp::Eq,
                value: "a".into(),
            },
            Matcher {
                name: "ns".into(),
                op: MatchOp::Eq,
                value: "b".into(),
            },
        ];
        let s = series(&[("app", "x")], &[(10, 1.0)]);
        let mut n =
            RangeAggNode::new(spec(RangeOp::AbsentOverTime, 5), vec![s], &sel, None).unwrap();
        assert_eq!(run(&mut n, 5), vec![(0, 1.0)]);
        assert_eq!(n.labels(0), &LabelSet::from_pairs([("app", "x")]));
        assert_eq!(run(&mut n, 12), vec![]);
        assert_eq!(run(&mut n, 20), vec![(0, 1.0)]);
        // No series at all: absent everywhere.
        let mut empty =
            RangeAggNode::new(spec(RangeOp::AbsentOverTime, 5), vec![], &sel, None).unwrap();
        assert_eq!(run(&mut empty, 5), vec![(0, 1.0)]);
    }

    #[test]
    fn quantile_needs_param() {
        assert!(RangeAggNode::new(spec(RangeOp::QuantileOverTime, 5), vec![], &[], None).is_err());
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        fn naive(op: RangeOp, points: &[Point], start: i64, end: i64) -> Option<f64> {
            let w: Vec<Point> = points
                .iter()
                .copied()
                .filter(|p| p.ts > start && p.ts <= end)
                .collect();
            if w.is_empty() {
                return None;
            }
            Some(match op {
                RangeOp::CountOverTime => w.len() as f64,
                RangeOp::SumOverTime => functions::sum(&w),
                RangeOp::MaxOverTime => functions::max(&w),
                RangeOp::FirstOverTime => w[0].value,
                _ => w[w.len() - 1].value,
            })
        }

        proptest! {
            /// The sliding two-pointer windows agree with filtering every
            /// window from scratch, for any steps, range and offset.
            #[test]
            fn sliding_windows_match_naive(
                mut ts in proptest::collection::vec(0i64..200, 0..40),
                values in proptest::collection::vec(-50i32..50, 40),
                halves in any::<bool>(),
                range in 1i64..60,
                step in 1i64..30,
                offset in 0i64..20,
                start in 0i64..100,
                op_index in 0usize..5,
            ) {
                ts.sort();
                let points: Vec<Point> = ts
                    .iter()
                    .zip(&values)
                    .map(|(&t, &v)| Point {
                        ts: t,
                        value: if halves { v as f64 + 0.5 } else { v as f64 },
                    })
                    .collect();
                let op = [
                    RangeOp::CountOverTime,
                    RangeOp::SumOverTime,
                    RangeOp::MaxOverTime,
                    RangeOp::FirstOverTime,
                    RangeOp::LastOverTime,
                ][op_index];
                let sp = RangeSpec { op, param: None, unwrap: true, range, offset };
                let series = SeriesSamples { labels: LabelSet::new(), samples: points.clone() };
                let mut node = RangeAggNode::new(sp, vec![series], &[], None).unwrap();
                let mut t = start;
                while t <= start + 150 {
                    node.advance(t).unwrap();
                    let got = node.vector().first().map(|e| e.value);
                    prop_assert_eq!(got, naive(op, &points, t - offset - range, t - offset), "t={}", t);
                    t += step;
                }
            }
        }
    }
}
