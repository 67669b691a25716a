//! End-to-end tests of `evaluate` over an in-memory sample source, with
//! hand-built syntax trees and hand-computed expectations.

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::ast::*;
use crate::error::{Error, Result};
use crate::labels::LabelSet;
use crate::value::{Point, QueryValue, Sample, Series, SeriesSamples};

use super::{evaluate, EvalParams, SampleSource};

const S: i64 = 1_000_000_000;

/// Streams with one sample per entry; the sample value stands for the
/// entry's byte size or unwrapped value. Applies selector matchers and the
/// range aggregation's grouping like the storage does.
#[derive(Default)]
pub(crate) struct MemSource {
    streams: Vec<(LabelSet, Vec<Point>)>,
    pub calls: RefCell<Vec<(i64, i64)>>,
}

impl MemSource {
    pub fn stream(mut self, labels: &[(&str, &str)], samples: &[(i64, f64)]) -> Self {
        self.streams.push((
            LabelSet::from_pairs(labels.iter().copied()),
            samples
                .iter()
                .map(|&(t, value)| Point { ts: t * S, value })
                .collect(),
        ));
        self
    }
}

fn matches(m: &Matcher, labels: &LabelSet) -> bool {
    let v = labels.get(&m.name).unwrap_or("");
    let re = || regex::Regex::new(&format!("^(?:{})$", m.value)).unwrap();
    match m.op {
        MatchOp::Eq => v == m.value,
        MatchOp::Neq => v != m.value,
        MatchOp::Re => re().is_match(v),
        MatchOp::Nre => !re().is_match(v),
    }
}

impl SampleSource for MemSource {
    fn samples(
        &self,
        range: &LogRange,
        _op: RangeOp,
        grouping: Option<&Grouping>,
        start: i64,
        end: i64,
    ) -> Result<Vec<SeriesSamples>> {
        self.calls.borrow_mut().push((start, end));
        let mut grouped: BTreeMap<LabelSet, Vec<Point>> = BTreeMap::new();
        for (labels, points) in &self.streams {
            if !range.log.selector.iter().all(|m| matches(m, labels)) {
                continue;
            }
            // Like the extractor, erroring series keep all their labels.
            let key = match grouping {
                Some(g) if !labels.contains("__error__") => labels.project(&g.labels, g.without),
                _ => labels.clone(),
            };
            grouped
                .entry(key)
                .or_default()
                .extend(points.iter().filter(|p| p.ts > start && p.ts <= end));
        }
        Ok(grouped
            .into_iter()
            .filter(|(_, p)| !p.is_empty())
            .map(|(labels, mut samples)| {
                samples.sort_by_key(|p| p.ts);
                SeriesSamples { labels, samples }
            })
            .collect())
    }
}

// ---- AST helpers -------------------------------------------------------

fn log_range(selector: &[(&str, &str)], range_s: i64) -> LogRange {
    LogRange {
        log: LogExpr {
            selector: selector
                .iter()
                .map(|&(n, v)| Matcher {
                    name: n.into(),
                    op: MatchOp::Eq,
                    value: v.into(),
                })
                .collect(),
            pipeline: vec![],
        },
        range: range_s * S,
        offset: 0,
        unwrap: None,
    }
}

fn ragg(op: RangeOp, selector: &[(&str, &str)], range_s: i64) -> MetricExpr {
    MetricExpr::RangeAgg {
        op,
        param: None,
        range: log_range(selector, range_s),
        grouping: None,
    }
}

fn count(selector: &[(&str, &str)], range_s: i64) -> MetricExpr {
    ragg(RangeOp::CountOverTime, selector, range_s)
}

fn by(labels: &[&str]) -> Option<Grouping> {
    Some(Grouping {
        without: false,
        labels: labels.iter().map(|s| s.to_string()).collect(),
    })
}

fn without(labels: &[&str]) -> Option<Grouping> {
    Some(Grouping {
        without: true,
        labels: labels.iter().map(|s| s.to_string()).collect(),
    })
}

fn vagg(op: VectorOp, grouping: Option<Grouping>, expr: MetricExpr) -> MetricExpr {
    MetricExpr::VectorAgg {
        op,
        param: None,
        grouping,
        expr: Box::new(expr),
    }
}

fn topk(op: VectorOp, k: f64, grouping: Option<Grouping>, expr: MetricExpr) -> MetricExpr {
    MetricExpr::VectorAgg {
        op,
        param: Some(k),
        grouping,
        expr: Box::new(expr),
    }
}

fn bin(op: BinOp, lhs: MetricExpr, rhs: MetricExpr) -> MetricExpr {
    bin_mod(op, lhs, rhs, BinModifier::default())
}

fn bin_mod(op: BinOp, lhs: MetricExpr, rhs: MetricExpr, modifier: BinModifier) -> MetricExpr {
    MetricExpr::Binary {
        op,
        lhs: Box::new(lhs),
        rhs: Box::new(rhs),
        modifier,
    }
}

fn on(labels: &[&str], group: Option<GroupSide>) -> BinModifier {
    BinModifier {
        return_bool: false,
        matching: Some(VectorMatching {
            on: true,
            labels: labels.iter().map(|s| s.to_string()).collect(),
            group,
        }),
    }
}

fn lit(v: f64) -> MetricExpr {
    MetricExpr::Literal(v)
}

// ---- running -----------------------------------------------------------

fn range_params(start_s: i64, end_s: i64, step_s: i64) -> EvalParams {
    EvalParams {
        start: start_s * S,
        end: end_s * S,
        step: step_s * S,
        instant: false,
        max_series: 500,
    }
}

fn instant_params(t_s: i64) -> EvalParams {
    EvalParams {
        start: t_s * S,
        end: t_s * S,
        step: 0,
        instant: true,
        max_series: 500,
    }
}

/// Matrix as `(labels, [(ts_s, value)])`.
fn matrix(v: QueryValue) -> Vec<(String, Vec<(i64, f64)>)> {
    match v {
        QueryValue::Matrix(series) => series
            .into_iter()
            .map(|Series { labels, points }| {
                (
                    labels.to_string(),
                    points.iter().map(|p| (p.ts / S, p.value)).collect(),
                )
            })
            .collect(),
        other => panic!("expected a matrix, got {other:?}"),
    }
}

fn vector(v: QueryValue) -> Vec<(String, f64)> {
    match v {
        QueryValue::Vector(samples) => samples
            .into_iter()
            .map(|Sample { labels, value, .. }| (labels.to_string(), value))
            .collect(),
        other => panic!("expected a vector, got {other:?}"),
    }
}

fn run_range(src: &MemSource, e: &MetricExpr, start: i64, end: i64, step: i64) -> QueryValue {
    evaluate(e, &range_params(start, end, step), src).unwrap()
}

fn run_instant(src: &MemSource, e: &MetricExpr, t: i64) -> QueryValue {
    evaluate(e, &instant_params(t), src).unwrap()
}

/// Three streams of app "a" (two pods) and "b".
fn sample_source() -> MemSource {
    MemSource::default()
        .stream(
            &[("app", "a"), ("pod", "a-1")],
            &[(1, 10.0), (2, 20.0), (11, 30.0), (12, 40.0), (25, 50.0)],
        )
        .stream(&[("app", "a"), ("pod", "a-2")], &[(3, 5.0), (13, 5.0)])
        .stream(&[("app", "b"), ("pod", "b-1")], &[(4, 1.0), (24, 2.0)])
}

// ---- range aggregation through evaluate --------------------------------

#[test]
fn steps_are_start_plus_multiples_of_step_up_to_end() {
    let src = sample_source();
    let e = count(&[("app", "b")], 10);
    // Steps 0, 7, 14, 21, 28 (35 > end 30); samples at 4 and 24.
    let m = matrix(run_range(&src, &e, 0, 30, 7));
    assert_eq!(
        m,
        vec![(
            r#"{app="b", pod="b-1"}"#.to_string(),
            vec![(7, 1.0), (28, 1.0)]
        )]
    );
}

#[test]
fn source_called_once_per_leaf_with_widened_window() {
    let src = sample_source();
    let mut r = log_range(&[("app", "a")], 10);
    r.offset = 5 * S;
    let e = bin(
        BinOp::Add,
        vagg(
            VectorOp::Sum,
            None,
            MetricExpr::RangeAgg {
                op: RangeOp::CountOverTime,
                param: None,
                range: r,
                grouping: None,
            },
        ),
        vagg(VectorOp::Sum, None, count(&[("app", "b")], 20)),
    );
    run_range(&src, &e, 100, 195, 10);
    // Last step is 190: window (100-5-10, 190-5] and (100-20, 190].
    assert_eq!(
        *src.calls.borrow(),
        vec![(85 * S, 185 * S), (80 * S, 190 * S)]
    );
}

#[test]
fn matrix_sorted_by_labels_and_empty_series_omitted() {
    let src = sample_source();
    let e = count(&[], 5);
    let m = matrix(run_range(&src, &e, 5, 15, 5));
    assert_eq!(
        m,
        vec![
            (r#"{app="a", pod="a-1"}"#.into(), vec![(5, 2.0), (15, 2.0)]),
            (r#"{app="a", pod="a-2"}"#.into(), vec![(5, 1.0), (15, 1.0)]),
            (r#"{app="b", pod="b-1"}"#.into(), vec![(5, 1.0)]),
        ]
    );
}

#[test]
fn instant_query_looks_back_one_range() {
    let src = sample_source();
    let e = ragg(RangeOp::BytesOverTime, &[("app", "a")], 10);
    let v = vector(run_instant(&src, &e, 12));
    // (2, 12]: a-1 has 30 + 40, a-2 has 5.
    assert_eq!(
        v,
        vec![
            (r#"{app="a", pod="a-1"}"#.into(), 70.0),
            (r#"{app="a", pod="a-2"}"#.into(), 5.0),
        ]
    );
    assert_eq!(*src.calls.borrow(), vec![(2 * S, 12 * S)]);
}

#[test]
fn rate_divides_by_range_seconds() {
    let src = sample_source();
    let e = ragg(RangeOp::Rate, &[("app", "a")], 20);
    // (0, 20]: 4 samples of a-1, 2 of a-2.
    assert_eq!(
        vector(run_instant(&src, &e, 20)),
        vec![
            (r#"{app="a", pod="a-1"}"#.into(), 0.2),
            (r#"{app="a", pod="a-2"}"#.into(), 0.1)
        ]
    );
}

#[test]
fn sum_of_rate_is_computed_over_the_merged_group() {
    let src = sample_source();
    let e = vagg(
        VectorOp::Sum,
        None,
        ragg(RangeOp::Rate, &[("app", "a")], 20),
    );
    // One division of the total (6 / 20), as Loki does, not 0.2 + 0.1
    // (which rounds to 0.30000000000000004).
    assert_eq!(vector(run_instant(&src, &e, 20)), vec![("{}".into(), 0.3)]);
    assert_eq!(src.calls.borrow().len(), 1);
    // max is not linear: per-series rates, then the max.
    let e = vagg(
        VectorOp::Max,
        None,
        ragg(RangeOp::Rate, &[("app", "a")], 20),
    );
    assert_eq!(vector(run_instant(&src, &e, 20)), vec![("{}".into(), 0.2)]);
}

#[test]
fn grouping_inside_range_aggregation_is_the_source_s_job() {
    let src = sample_source();
    let e = MetricExpr::RangeAgg {
        op: RangeOp::CountOverTime,
        param: None,
        range: log_range(&[], 30),
        grouping: by(&["app"]),
    };
    assert_eq!(
        vector(run_instant(&src, &e, 30)),
        vec![(r#"{app="a"}"#.into(), 7.0), (r#"{app="b"}"#.into(), 2.0)]
    );
}

#[test]
fn offset_keeps_step_timestamps() {
    let src = sample_source();
    let mut r = log_range(&[("app", "b")], 5);
    r.offset = 20 * S;
    let e = MetricExpr::RangeAgg {
        op: RangeOp::CountOverTime,
        param: None,
        range: r,
        grouping: None,
    };
    let m = matrix(run_range(&src, &e, 20, 50, 5));
    // Sample at 4 seen at t=20,(−5,0]? no: window (t-25, t-20]:
    // t=20 -> (-5,0] none; t=25 -> (0,5] yes; t=45 -> (20,25] yes (24).
    assert_eq!(
        m,
        vec![(r#"{app="b", pod="b-1"}"#.into(), vec![(25, 1.0), (45, 1.0)])]
    );
}

#[test]
fn absent_over_time_range_and_instant() {
    let src = sample_source();
    let e = ragg(RangeOp::AbsentOverTime, &[("app", "b")], 5);
    let m = matrix(run_range(&src, &e, 0, 30, 5));
    // Samples at 4 and 24: present at t=5 and t=25.
    assert_eq!(
        m,
        vec![(
            r#"{app="b"}"#.into(),
            vec![(0, 1.0), (10, 1.0), (15, 1.0), (20, 1.0), (30, 1.0)]
        )]
    );
    assert_eq!(vector(run_instant(&src, &e, 5)), vec![]);
    let none = ragg(RangeOp::AbsentOverTime, &[("app", "zzz")], 5);
    assert_eq!(
        vector(run_instant(&src, &none, 5)),
        vec![(r#"{app="zzz"}"#.into(), 1.0)]
    );
}

#[test]
fn rate_counter_single_samples_are_zero() {
    let src = sample_source();
    let mut r = log_range(&[("app", "b")], 10);
    r.unwrap = Some(Unwrap {
        label: "x".into(),
        conv: UnwrapConv::None,
        post_filters: vec![],
    });
    let e = MetricExpr::RangeAgg {
        op: RangeOp::RateCounter,
        param: None,
        range: r,
        grouping: None,
    };
    assert_eq!(
        vector(run_instant(&src, &e, 10)),
        vec![(r#"{app="b", pod="b-1"}"#.into(), 0.0)]
    );
}

// ---- vector aggregation --------------------------------------------------

#[test]
fn vector_aggregations_by_app() {
    let src = sample_source();
    // Bytes over (0, 30]: a-1 = 150, a-2 = 10, b-1 = 3.
    let inner = || ragg(RangeOp::BytesOverTime, &[], 30);
    let run = |op| vector(run_instant(&src, &vagg(op, by(&["app"]), inner()), 30));
    assert_eq!(
        run(VectorOp::Sum),
        vec![(r#"{app="a"}"#.into(), 160.0), (r#"{app="b"}"#.into(), 3.0)]
    );
    assert_eq!(run(VectorOp::Avg)[0].1, 80.0);
    assert_eq!(run(VectorOp::Min)[0].1, 10.0);
    assert_eq!(run(VectorOp::Max)[0].1, 150.0);
    assert_eq!(run(VectorOp::Count)[0].1, 2.0);
    assert_eq!(run(VectorOp::Stdvar)[0].1, 4900.0);
    assert_eq!(run(VectorOp::Stddev)[0].1, 70.0);
    assert_eq!(run(VectorOp::Stddev)[1].1, 0.0);
}

#[test]
fn grouping_variants() {
    let src = sample_source();
    let inner = || count(&[], 30);
    let no_grouping = vector(run_instant(&src, &vagg(VectorOp::Sum, None, inner()), 30));
    assert_eq!(no_grouping, vec![("{}".into(), 9.0)]);
    let by_empty = vector(run_instant(
        &src,
        &vagg(VectorOp::Sum, by(&[]), inner()),
        30,
    ));
    assert_eq!(by_empty, vec![("{}".into(), 9.0)]);
    let without_pod = vector(run_instant(
        &src,
        &vagg(VectorOp::Sum, without(&["pod"]), inner()),
        30,
    ));
    assert_eq!(
        without_pod,
        vec![(r#"{app="a"}"#.into(), 7.0), (r#"{app="b"}"#.into(), 2.0)]
    );
    let without_nothing = vector(run_instant(
        &src,
        &vagg(VectorOp::Sum, without(&[]), inner()),
        30,
    ));
    assert_eq!(without_nothing.len(), 3);
    // A missing `by` label groups into the empty value.
    let by_missing = vector(run_instant(
        &src,
        &vagg(VectorOp::Count, by(&["nope"]), inner()),
        30,
    ));
    assert_eq!(by_missing, vec![("{}".into(), 3.0)]);
}

#[test]
fn topk_and_bottomk_per_step_and_group() {
    let src = MemSource::default()
        .stream(&[("g", "x"), ("s", "1")], &[(1, 5.0), (11, 1.0)])
        .stream(&[("g", "x"), ("s", "2")], &[(1, 3.0), (11, 7.0)])
        .stream(&[("g", "y"), ("s", "3")], &[(1, 1.0), (11, 2.0)]);
    let inner = || ragg(RangeOp::BytesOverTime, &[], 10);
    let e = topk(VectorOp::Topk, 1.0, None, inner());
    let m = matrix(run_range(&src, &e, 10, 20, 10));
    assert_eq!(
        m,
        vec![
            (r#"{g="x", s="1"}"#.into(), vec![(10, 5.0)]),
            (r#"{g="x", s="2"}"#.into(), vec![(20, 7.0)]),
        ]
    );
    let e = topk(VectorOp::Topk, 1.0, by(&["g"]), inner());
    assert_eq!(
        vector(run_instant(&src, &e, 10)),
        vec![
            (r#"{g="x", s="1"}"#.into(), 5.0),
            (r#"{g="y", s="3"}"#.into(), 1.0)
        ]
    );
    let e = topk(VectorOp::Bottomk, 2.0, None, inner());
    assert_eq!(
        vector(run_instant(&src, &e, 20)),
        vec![
            (r#"{g="x", s="1"}"#.into(), 1.0),
            (r#"{g="y", s="3"}"#.into(), 2.0)
        ]
    );
    let e = topk(VectorOp::Topk, 0.0, None, inner());
    assert_eq!(vector(run_instant(&src, &e, 20)), vec![]);
}

#[test]
fn instant_results_are_in_label_order_unless_sorted() {
    // Loki's engine (`logql.Sortable`) keeps the computed order only when a
    // `sort`/`sort_desc` is somewhere in the expression; topk and bottomk
    // come back sorted by labels like everything else.
    let src = MemSource::default()
        .stream(&[("s", "a")], &[(1, 2.0)])
        .stream(&[("s", "b")], &[(1, 9.0)])
        .stream(&[("s", "c")], &[(1, 5.0)]);
    let inner = || ragg(RangeOp::BytesOverTime, &[], 10);
    let values = |e: MetricExpr| -> Vec<f64> {
        vector(run_instant(&src, &e, 10))
            .into_iter()
            .map(|(_, v)| v)
            .collect()
    };
    assert_eq!(
        values(topk(VectorOp::Topk, 3.0, None, inner())),
        [2.0, 9.0, 5.0]
    );
    assert_eq!(
        values(topk(VectorOp::Bottomk, 2.0, None, inner())),
        [2.0, 5.0]
    );
    assert_eq!(values(vagg(VectorOp::Sort, None, inner())), [2.0, 5.0, 9.0]);
    assert_eq!(
        values(MetricExpr::Paren(Box::new(vagg(
            VectorOp::SortDesc,
            None,
            inner()
        )))),
        [9.0, 5.0, 2.0]
    );
    // A sort below topk still keeps the computed order.
    assert_eq!(
        values(topk(
            VectorOp::Topk,
            3.0,
            None,
            vagg(VectorOp::SortDesc, None, inner())
        )),
        [9.0, 5.0, 2.0]
    );
    assert_eq!(values(inner()), [2.0, 9.0, 5.0]);
}

// ---- binary operators ------------------------------------------------------

#[test]
fn scalar_expressions() {
    let src = MemSource::default();
    let e = bin(BinOp::Add, lit(1.0), bin(BinOp::Mul, lit(2.0), lit(3.0)));
    assert_eq!(
        evaluate(&e, &instant_params(100), &src).unwrap(),
        QueryValue::Scalar {
            ts: 100 * S,
            value: 7.0
        }
    );
    assert_eq!(
        matrix(run_range(&src, &e, 0, 20, 10)),
        vec![("{}".into(), vec![(0, 7.0), (10, 7.0), (20, 7.0)])]
    );
    // Comparisons of literals answer 0/1 even without `bool`.
    let cmp = bin(BinOp::Gt, lit(1.0), lit(2.0));
    assert_eq!(
        evaluate(&cmp, &instant_params(1), &src).unwrap(),
        QueryValue::Scalar { ts: S, value: 0.0 }
    );
    let div = bin(BinOp::Div, lit(1.0), lit(0.0));
    match evaluate(&div, &instant_params(1), &src).unwrap() {
        QueryValue::Scalar { value, .. } => assert!(value.is_nan()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn vector_literal() {
    let src = MemSource::default();
    let e = bin(BinOp::Add, MetricExpr::Vector(1.0), MetricExpr::Vector(2.0));
    assert_eq!(
        matrix(run_range(&src, &e, 0, 10, 5)),
        vec![("{}".into(), vec![(0, 3.0), (5, 3.0), (10, 3.0)])]
    );
    assert_eq!(
        vector(run_instant(&src, &MetricExpr::Vector(4.0), 3)),
        vec![("{}".into(), 4.0)]
    );
}

#[test]
fn vector_scalar_arithmetic_and_filters() {
    let src = sample_source();
    let sum_by_app = || vagg(VectorOp::Sum, by(&["app"]), count(&[], 30));
    // a = 7, b = 2
    let got = |e| vector(run_instant(&src, &e, 30));
    assert_eq!(
        got(bin(
            BinOp::Sub,
            bin(BinOp::Mul, sum_by_app(), lit(100.0)),
            lit(5.0)
        )),
        vec![
            (r#"{app="a"}"#.into(), 695.0),
            (r#"{app="b"}"#.into(), 195.0)
        ]
    );
    assert_eq!(
        got(bin(BinOp::Pow, lit(2.0), sum_by_app())),
        vec![(r#"{app="a"}"#.into(), 128.0), (r#"{app="b"}"#.into(), 4.0)]
    );
    assert_eq!(got(bin(BinOp::Mod, sum_by_app(), lit(4.0)))[0].1, 3.0);
    assert!(got(bin(BinOp::Div, sum_by_app(), lit(0.0)))[0].1.is_nan());
    // Filters keep the vector's value on either side.
    assert_eq!(
        got(bin(BinOp::Gt, sum_by_app(), lit(5.0))),
        vec![(r#"{app="a"}"#.into(), 7.0)]
    );
    assert_eq!(
        got(bin(BinOp::Gt, lit(5.0), sum_by_app())),
        vec![(r#"{app="b"}"#.into(), 2.0)]
    );
    let with_bool = BinModifier {
        return_bool: true,
        matching: None,
    };
    assert_eq!(
        got(bin_mod(BinOp::Ge, sum_by_app(), lit(7.0), with_bool)),
        vec![(r#"{app="a"}"#.into(), 1.0), (r#"{app="b"}"#.into(), 0.0)]
    );
}

fn node_source() -> MemSource {
    MemSource::default()
        .stream(&[("app", "m"), ("node", "n1")], &[(1, 1.0), (2, 1.0)])
        .stream(&[("app", "m"), ("node", "n2")], &[(1, 1.0)])
        .stream(
            &[("app", "i"), ("node", "n1")],
            &[(1, 1.0), (2, 1.0), (3, 1.0)],
        )
        .stream(&[("app", "i"), ("node", "n3")], &[(1, 1.0)])
}

fn sum_by(labels: &[&str], selector: &[(&str, &str)]) -> MetricExpr {
    vagg(VectorOp::Sum, by(labels), count(selector, 10))
}

#[test]
fn one_to_one_matching() {
    let src = node_source();
    let got = |e| vector(run_instant(&src, &e, 10));
    // on(node): only matching nodes, labels reduced to `node`.
    let e = bin_mod(
        BinOp::Add,
        sum_by(&["app", "node"], &[("app", "m")]),
        sum_by(&["app", "node"], &[("app", "i")]),
        on(&["node"], None),
    );
    assert_eq!(got(e), vec![(r#"{node="n1"}"#.into(), 5.0)]);
    // No modifier: all labels must match.
    let e = bin(
        BinOp::Div,
        sum_by(&["node"], &[("app", "m")]),
        sum_by(&["node"], &[("app", "i")]),
    );
    assert_eq!(got(e), vec![(r#"{node="n1"}"#.into(), 2.0 / 3.0)]);
    // ignoring(app) drops `app` from the result.
    let e = bin_mod(
        BinOp::Sub,
        sum_by(&["app", "node"], &[("app", "i")]),
        sum_by(&["app", "node"], &[("app", "m")]),
        BinModifier {
            return_bool: false,
            matching: Some(VectorMatching {
                on: false,
                labels: vec!["app".into()],
                group: None,
            }),
        },
    );
    assert_eq!(got(e), vec![(r#"{node="n1"}"#.into(), 1.0)]);
    // Comparison between vectors keeps the lhs value.
    let e = bin(
        BinOp::Lt,
        sum_by(&["node"], &[("app", "m")]),
        sum_by(&["node"], &[("app", "i")]),
    );
    assert_eq!(got(e), vec![(r#"{node="n1"}"#.into(), 2.0)]);
}

#[test]
fn group_left_and_group_right() {
    let src = node_source();
    let got = |e| vector(run_instant(&src, &e, 10));
    let e = bin_mod(
        BinOp::Div,
        sum_by(&["node", "app"], &[]),
        sum_by(&["node"], &[]),
        on(&["node"], Some(GroupSide::Left(vec![]))),
    );
    assert_eq!(
        got(e),
        vec![
            (r#"{app="i", node="n1"}"#.into(), 3.0 / 5.0),
            (r#"{app="i", node="n3"}"#.into(), 1.0),
            (r#"{app="m", node="n1"}"#.into(), 2.0 / 5.0),
            (r#"{app="m", node="n2"}"#.into(), 1.0),
        ]
    );
    // group_right: the rhs is the many side; include copies labels from the
    // one side.
    let one_side = label_replace(sum_by(&["node"], &[]), "zone", "z-$1", "node", "n(.*)");
    let e = bin_mod(
        BinOp::Mul,
        one_side,
        sum_by(&["node", "app"], &[]),
        on(&["node"], Some(GroupSide::Right(vec!["zone".into()]))),
    );
    assert_eq!(
        got(e),
        vec![
            (r#"{app="i", node="n1", zone="z-1"}"#.into(), 15.0),
            (r#"{app="i", node="n3", zone="z-3"}"#.into(), 1.0),
            (r#"{app="m", node="n1", zone="z-1"}"#.into(), 10.0),
            (r#"{app="m", node="n2", zone="z-2"}"#.into(), 1.0),
        ]
    );
}

#[test]
fn matching_errors() {
    let src = node_source();
    // Many series per node on both sides without group modifier.
    let e = bin_mod(
        BinOp::Add,
        sum_by(&["node", "app"], &[]),
        sum_by(&["node", "app"], &[]),
        on(&["node"], None),
    );
    assert!(matches!(
        evaluate(&e, &instant_params(10), &src),
        Err(Error::Source(_))
    ));
    // Many on the lhs, one on the rhs, but no group_left.
    let e = bin_mod(
        BinOp::Add,
        sum_by(&["node", "app"], &[]),
        sum_by(&["node"], &[]),
        on(&["node"], None),
    );
    let err = evaluate(&e, &instant_params(10), &src).unwrap_err();
    assert!(err.to_string().contains("many-to-one"), "{err}");
    // group_left with several series per node on the "one" side.
    let e = bin_mod(
        BinOp::Add,
        sum_by(&["node"], &[]),
        sum_by(&["node", "app"], &[]),
        on(&["node"], Some(GroupSide::Left(vec![]))),
    );
    let err = evaluate(&e, &instant_params(10), &src).unwrap_err();
    assert!(err.to_string().contains("duplicate series"), "{err}");
}

#[test]
fn set_operators() {
    let src = node_source();
    let got = |e| vector(run_instant(&src, &e, 10));
    let m = || sum_by(&["node"], &[("app", "m")]); // n1=2, n2=1
    let i = || sum_by(&["node"], &[("app", "i")]); // n1=3, n3=1
    assert_eq!(
        got(bin(BinOp::And, m(), i())),
        vec![(r#"{node="n1"}"#.into(), 2.0)]
    );
    assert_eq!(
        got(bin(BinOp::Unless, m(), i())),
        vec![(r#"{node="n2"}"#.into(), 1.0)]
    );
    assert_eq!(
        got(bin(BinOp::Or, m(), i())),
        vec![
            (r#"{node="n1"}"#.into(), 2.0),
            (r#"{node="n2"}"#.into(), 1.0),
            (r#"{node="n3"}"#.into(), 1.0),
        ]
    );
    // `or vector(0)` fills steps where the lhs is empty.
    let e = bin(BinOp::Or, m(), MetricExpr::Vector(0.0));
    let mtx = matrix(run_range(&src, &e, 10, 20, 10));
    assert_eq!(
        mtx,
        vec![
            ("{}".into(), vec![(10, 0.0), (20, 0.0)]),
            (r#"{node="n1"}"#.into(), vec![(10, 2.0)]),
            (r#"{node="n2"}"#.into(), vec![(10, 1.0)]),
        ]
    );
}

fn label_replace(e: MetricExpr, dst: &str, repl: &str, src: &str, re: &str) -> MetricExpr {
    MetricExpr::LabelReplace {
        expr: Box::new(e),
        dst: dst.into(),
        replacement: repl.into(),
        src: src.into(),
        regex: re.into(),
    }
}

#[test]
fn label_replace_end_to_end() {
    let src = node_source();
    let e = label_replace(sum_by(&["app"], &[]), "svc", "$1-svc", "app", "(.*)");
    assert_eq!(
        vector(run_instant(&src, &e, 10)),
        vec![
            (r#"{app="i", svc="i-svc"}"#.into(), 4.0),
            (r#"{app="m", svc="m-svc"}"#.into(), 3.0),
        ]
    );
    let bad = label_replace(sum_by(&["app"], &[]), "svc", "$1", "app", "(");
    assert!(matches!(
        evaluate(&bad, &instant_params(10), &src),
        Err(Error::Invalid(_))
    ));
}

// ---- limits and errors -----------------------------------------------------

fn many_series(n: usize) -> MemSource {
    let mut src = MemSource::default();
    for i in 0..n {
        let v = format!("{i:03}");
        src = src.stream(&[("app", "x"), ("id", v.as_str())], &[(1, 1.0), (15, 1.0)]);
    }
    src
}

#[test]
fn max_series_on_result_not_on_aggregated_input() {
    let src = many_series(5);
    let mut p = instant_params(10);
    p.max_series = 4;
    let e = count(&[("app", "x")], 10);
    assert_eq!(evaluate(&e, &p, &src), Err(Error::MaxSeries(4)));
    let summed = vagg(VectorOp::Sum, None, count(&[("app", "x")], 10));
    assert_eq!(
        vector(evaluate(&summed, &p, &src).unwrap()),
        vec![("{}".into(), 5.0)]
    );
    let top = topk(VectorOp::Topk, 2.0, None, count(&[("app", "x")], 10));
    assert_eq!(vector(evaluate(&top, &p, &src).unwrap()).len(), 2);
    let grouped = vagg(VectorOp::Sum, by(&["id"]), count(&[("app", "x")], 10));
    assert_eq!(evaluate(&grouped, &p, &src), Err(Error::MaxSeries(4)));
}

#[test]
fn max_series_counts_distinct_series_over_all_steps() {
    // Each step's top-1 is a different series: 3 steps, 3 series.
    let src = MemSource::default()
        .stream(&[("s", "a")], &[(1, 3.0)])
        .stream(&[("s", "b")], &[(11, 3.0)])
        .stream(&[("s", "c")], &[(21, 3.0)]);
    let e = topk(
        VectorOp::Topk,
        1.0,
        None,
        ragg(RangeOp::BytesOverTime, &[], 10),
    );
    let mut p = range_params(10, 30, 10);
    p.max_series = 2;
    assert_eq!(evaluate(&e, &p, &src), Err(Error::MaxSeries(2)));
    p.max_series = 3;
    assert_eq!(matrix(evaluate(&e, &p, &src).unwrap()).len(), 3);
}

#[test]
fn pipeline_errors_fail_the_query_even_when_aggregated() {
    let src = MemSource::default()
        .stream(&[("app", "x")], &[(1, 1.0)])
        .stream(
            &[("__error__", "LogfmtParserErr"), ("app", "x")],
            &[(2, 1.0)],
        );
    let e = vagg(VectorOp::Sum, None, count(&[("app", "x")], 10));
    match evaluate(&e, &instant_params(10), &src) {
        Err(Error::Pipeline { kind, series }) => {
            assert_eq!(kind, "LogfmtParserErr");
            assert_eq!(series, r#"{__error__="LogfmtParserErr", app="x"}"#);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_steps_are_rejected() {
    let src = MemSource::default();
    let mut p = range_params(0, 10, 1);
    p.step = 0;
    assert!(evaluate(&lit(1.0), &p, &src).is_err());
}
