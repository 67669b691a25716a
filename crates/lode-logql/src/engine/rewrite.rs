//! Rewrites Loki applies before evaluating, whose effects are visible in its
//! answers and which we therefore reproduce.
//!
//! `sum by (g) (rate(x))` (and `count_over_time`, `bytes_over_time`,
//! `bytes_rate`, `sum_over_time`) hands the outer grouping to the sample
//! extractor, so the range function runs over the merged group rather than
//! per series. The result is mathematically the same but rounds differently
//! (a total count divided once, not a sum of quotients), which decides
//! comparisons such as `> bool 0.05` at the boundary.
//!
//! Loki's query sharding evaluates a grouped `avg_over_time` over an unwrap
//! as `sum by (g) (sum_over_time(x)) / sum by (g) (count_over_time(x'))`
//! where `x'` is the log range with the `unwrap` (and the label filters
//! written after it) removed. Two consequences follow: every line that
//! passes the pipeline counts in the denominator, whether or not it carries
//! the unwrapped label, and a line whose parser failed surfaces as a
//! pipeline error even when it has no value to unwrap.

use crate::ast::{Grouping, LabelFmt, LogRange, MetricExpr, RangeOp, Stage, VectorOp};

/// The sum/count form of a grouped `avg_over_time`, or `None` when Loki
/// evaluates it as written.
pub(crate) fn sharded_avg(
    param: Option<f64>,
    range: &LogRange,
    grouping: Option<&Grouping>,
) -> Option<MetricExpr> {
    let unwrap = range.unwrap.as_ref()?;
    let noop = grouping.is_none_or(|g| g.without && g.labels.is_empty());
    if noop && !reduces_labels(range) {
        return None;
    }
    let grouping = grouping.cloned().unwrap_or(Grouping {
        without: true,
        labels: Vec::new(),
    });
    let sum = MetricExpr::VectorAgg {
        op: VectorOp::Sum,
        param: None,
        grouping: Some(grouping.clone()),
        expr: Box::new(MetricExpr::RangeAgg {
            op: RangeOp::SumOverTime,
            param,
            range: range.clone(),
            grouping: None,
        }),
    };
    // Without an explicit `by`, the unwrapped label is not part of the
    // numerator's series, so the denominator must drop it too.
    let mut count_grouping = grouping;
    if count_grouping.without {
        count_grouping.labels.push(unwrap.label.clone());
    }
    let count = MetricExpr::VectorAgg {
        op: VectorOp::Sum,
        param: None,
        grouping: Some(count_grouping),
        expr: Box::new(MetricExpr::RangeAgg {
            op: RangeOp::CountOverTime,
            param: None,
            range: LogRange {
                unwrap: None,
                ..range.clone()
            },
            grouping: None,
        }),
    };
    Some(MetricExpr::Binary {
        op: crate::ast::BinOp::Div,
        lhs: Box::new(sum),
        rhs: Box::new(count),
        modifier: Default::default(),
    })
}

/// The range aggregation under `sum`, grouped by the `sum`'s own grouping,
/// when Loki would let the extractor group the samples.
pub(crate) fn push_down_sum(
    op: VectorOp,
    grouping: Option<&Grouping>,
    inner: &MetricExpr,
) -> Option<MetricExpr> {
    if op != VectorOp::Sum {
        return None;
    }
    match inner {
        MetricExpr::Paren(e) => push_down_sum(op, grouping, e),
        MetricExpr::RangeAgg {
            op: range_op,
            param,
            range,
            grouping: None,
        } if matches!(
            range_op,
            RangeOp::BytesOverTime
                | RangeOp::BytesRate
                | RangeOp::SumOverTime
                | RangeOp::Rate
                | RangeOp::CountOverTime
        ) =>
        {
            Some(MetricExpr::RangeAgg {
                op: *range_op,
                param: *param,
                range: range.clone(),
                grouping: Some(grouping.cloned().unwrap_or(Grouping {
                    without: false,
                    labels: Vec::new(),
                })),
            })
        }
        _ => None,
    }
}

/// Stages that can merge series: `drop`, `keep`, renaming `label_format`.
fn reduces_labels(range: &LogRange) -> bool {
    range.log.pipeline.iter().any(|s| match s {
        Stage::Drop(_) | Stage::Keep(_) => true,
        Stage::LabelFormat(fmts) => fmts.iter().any(|f| matches!(f, LabelFmt::Rename { .. })),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::{LabelFilter, LogExpr, MatchOp, Matcher, Unwrap, UnwrapConv};

    fn range(stages: Vec<Stage>) -> LogRange {
        LogRange {
            log: LogExpr {
                selector: vec![],
                pipeline: stages,
            },
            range: 60,
            offset: 0,
            unwrap: Some(Unwrap {
                label: "v".into(),
                conv: UnwrapConv::None,
                post_filters: vec![LabelFilter::String(Matcher {
                    name: "__error__".into(),
                    op: MatchOp::Eq,
                    value: String::new(),
                })],
            }),
        }
    }

    fn by(labels: &[&str], without: bool) -> Grouping {
        Grouping {
            without,
            labels: labels.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn sum_pushes_its_grouping_into_linear_range_functions() {
        let leaf = |op| MetricExpr::RangeAgg {
            op,
            param: None,
            range: range(vec![]),
            grouping: None,
        };
        let pushed = push_down_sum(
            VectorOp::Sum,
            Some(&by(&["a"], false)),
            &leaf(RangeOp::Rate),
        );
        assert!(matches!(
            pushed,
            Some(MetricExpr::RangeAgg { grouping: Some(ref g), .. }) if *g == by(&["a"], false)
        ));
        let ungrouped = push_down_sum(VectorOp::Sum, None, &leaf(RangeOp::CountOverTime));
        assert!(matches!(
            ungrouped,
            Some(MetricExpr::RangeAgg { grouping: Some(ref g), .. }) if *g == by(&[], false)
        ));
        // Not linear, or not a sum: evaluated per series.
        assert!(push_down_sum(VectorOp::Sum, None, &leaf(RangeOp::MaxOverTime)).is_none());
        assert!(push_down_sum(VectorOp::Max, None, &leaf(RangeOp::Rate)).is_none());
    }

    #[test]
    fn ungrouped_avg_is_left_alone() {
        assert!(sharded_avg(None, &range(vec![]), None).is_none());
        assert!(sharded_avg(None, &range(vec![]), Some(&by(&[], true))).is_none());
        let mut no_unwrap = range(vec![]);
        no_unwrap.unwrap = None;
        assert!(sharded_avg(None, &no_unwrap, Some(&by(&["a"], false))).is_none());
    }

    #[test]
    fn grouped_avg_becomes_sum_over_count_without_unwrap() {
        let r = range(vec![]);
        let Some(MetricExpr::Binary { lhs, rhs, .. }) =
            sharded_avg(None, &r, Some(&by(&["a"], false)))
        else {
            panic!("expected a division")
        };
        let MetricExpr::VectorAgg { grouping, expr, .. } = *lhs else {
            panic!()
        };
        assert_eq!(grouping, Some(by(&["a"], false)));
        assert!(
            matches!(*expr, MetricExpr::RangeAgg { op: RangeOp::SumOverTime, ref range, .. } if range.unwrap.is_some())
        );
        let MetricExpr::VectorAgg { grouping, expr, .. } = *rhs else {
            panic!()
        };
        assert_eq!(grouping, Some(by(&["a"], false)));
        assert!(
            matches!(*expr, MetricExpr::RangeAgg { op: RangeOp::CountOverTime, ref range, .. } if range.unwrap.is_none())
        );
    }

    #[test]
    fn label_reducing_pipeline_forces_rewrite_without_unwrapped_label() {
        let r = range(vec![Stage::Keep(vec![])]);
        let Some(MetricExpr::Binary { rhs, .. }) = sharded_avg(None, &r, None) else {
            panic!("expected a division")
        };
        let MetricExpr::VectorAgg { grouping, .. } = *rhs else {
            panic!()
        };
        assert_eq!(grouping, Some(by(&["v"], true)));
    }
}
