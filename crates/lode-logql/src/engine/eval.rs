//! Builds the evaluation tree for a metric expression, runs it over the
//! evaluation instants and assembles the query result.

use crate::ast::{MetricExpr, RangeOp, VectorOp};
use crate::error::{Error, Result};
use crate::labels::LabelSet;
use crate::value::{Point, QueryValue, Sample, Series};

use super::binary;
use super::buckets::{self, BucketAggNode};
use super::label_replace::LabelReplaceNode;
use super::node::{BoxNode, Elem, Node, Shape};
use super::range_agg::{RangeAggNode, RangeSpec};
use super::rewrite;
use super::steps::Steps;
use super::vector_agg::VectorAggNode;
use super::{EvalParams, SampleSource};

struct Builder<'a> {
    steps: Steps,
    max_series: usize,
    source: &'a dyn SampleSource,
}

impl Builder<'_> {
    /// `bounded`: every series this node emits is also in the query result,
    /// so the series limit can be enforced here already.
    fn build(&self, expr: &MetricExpr, bounded: bool) -> Result<BoxNode> {
        let limit = bounded.then_some(self.max_series);
        Ok(match expr {
            MetricExpr::RangeAgg {
                op,
                param,
                range,
                grouping,
            } => {
                if *op == RangeOp::AvgOverTime {
                    if let Some(rewritten) = rewrite::sharded_avg(*param, range, grouping.as_ref())
                    {
                        return self.build(&rewritten, bounded);
                    }
                }
                let spec = RangeSpec {
                    op: *op,
                    param: *param,
                    unwrap: range.unwrap.is_some(),
                    range: range.range,
                    offset: range.offset,
                };
                if let Some(plan) = buckets::plan(&spec, &self.steps) {
                    if let Some(series) =
                        self.source
                            .bucket_counts(range, *op, grouping.as_ref(), &plan.grid)?
                    {
                        return Ok(Box::new(BucketAggNode::new(spec, plan, series, limit)?));
                    }
                }
                let end = self.steps.last() - range.offset;
                let start = self.steps.start - range.offset - range.range;
                let series = self
                    .source
                    .samples(range, *op, grouping.as_ref(), start, end)?;
                Box::new(RangeAggNode::new(spec, series, &range.log.selector, limit)?)
            }
            MetricExpr::VectorAgg {
                op,
                param,
                grouping,
                expr,
            } => {
                let child = match rewrite::push_down_sum(*op, grouping.as_ref(), expr) {
                    Some(grouped) => self.build(&grouped, false)?,
                    None => self.build(expr, false)?,
                };
                // approx_topk, where it is allowed to run at all, is answered
                // exactly: a topk.
                let op = if *op == VectorOp::ApproxTopk {
                    VectorOp::Topk
                } else {
                    *op
                };
                Box::new(VectorAggNode::new(
                    op,
                    *param,
                    grouping.as_ref(),
                    child,
                    limit,
                )?)
            }
            MetricExpr::Binary {
                op,
                lhs,
                rhs,
                modifier,
            } => {
                // Only `or` passes all of its left operand through.
                let lhs_bounded = bounded && *op == crate::ast::BinOp::Or;
                let l = self.build(lhs, lhs_bounded)?;
                let r = self.build(rhs, false)?;
                binary::build(*op, modifier, l, r)?
            }
            MetricExpr::Literal(v) => Box::new(Literal(*v)),
            MetricExpr::Vector(v) => Box::new(ConstVector {
                out: [Elem { id: 0, value: *v }],
                labels: LabelSet::new(),
            }),
            MetricExpr::LabelReplace {
                expr,
                dst,
                replacement,
                src,
                regex,
            } => {
                let child = self.build(expr, false)?;
                Box::new(LabelReplaceNode::new(child, dst, replacement, src, regex)?)
            }
            MetricExpr::Paren(inner) => self.build(inner, bounded)?,
        })
    }
}

struct Literal(f64);

impl Node for Literal {
    fn shape(&self) -> Shape {
        Shape::Scalar
    }
    fn advance(&mut self, _ts: i64) -> Result<()> {
        Ok(())
    }
    fn scalar(&self) -> f64 {
        self.0
    }
    fn labels(&self, _id: u32) -> &LabelSet {
        unreachable!("a scalar has no series")
    }
}

/// `vector(n)`: one label-less series with a constant value.
struct ConstVector {
    out: [Elem; 1],
    labels: LabelSet,
}

impl Node for ConstVector {
    fn shape(&self) -> Shape {
        Shape::Vector
    }
    fn advance(&mut self, _ts: i64) -> Result<()> {
        Ok(())
    }
    fn vector(&self) -> &[Elem] {
        &self.out
    }
    fn labels(&self, _id: u32) -> &LabelSet {
        &self.labels
    }
}

/// Whether an instant result keeps the order the expression computed.
/// Loki (`logql.Sortable`, engine.go) keeps it when a `sort` or
/// `sort_desc` appears anywhere in the expression and otherwise sorts the
/// vector by labels: `topk`/`bottomk` results come back in label order.
fn keeps_order(expr: &MetricExpr) -> bool {
    match expr {
        MetricExpr::VectorAgg { op, expr, .. } => {
            matches!(op, VectorOp::Sort | VectorOp::SortDesc) || keeps_order(expr)
        }
        MetricExpr::Binary { lhs, rhs, .. } => keeps_order(lhs) || keeps_order(rhs),
        MetricExpr::Paren(inner) | MetricExpr::LabelReplace { expr: inner, .. } => {
            keeps_order(inner)
        }
        MetricExpr::RangeAgg { .. } | MetricExpr::Literal(_) | MetricExpr::Vector(_) => false,
    }
}

pub(crate) fn run(
    expr: &MetricExpr,
    params: &EvalParams,
    source: &dyn SampleSource,
) -> Result<QueryValue> {
    let steps = Steps::new(params)?;
    let builder = Builder {
        steps,
        max_series: params.max_series,
        source,
    };
    let mut root = builder.build(expr, true)?;
    if params.instant {
        let ts = steps.start;
        root.advance(ts)?;
        return Ok(match root.shape() {
            Shape::Scalar => QueryValue::Scalar {
                ts,
                value: root.scalar(),
            },
            Shape::Vector => {
                let v = root.vector();
                if v.len() > params.max_series {
                    return Err(Error::MaxSeries(params.max_series));
                }
                let mut samples: Vec<Sample> = v
                    .iter()
                    .map(|e| Sample {
                        labels: root.labels(e.id).clone(),
                        ts,
                        value: e.value,
                    })
                    .collect();
                if !keeps_order(expr) {
                    samples.sort_by(|a, b| a.labels.cmp(&b.labels));
                }
                QueryValue::Vector(samples)
            }
        });
    }
    Ok(QueryValue::Matrix(collect_matrix(
        root.as_mut(),
        &steps,
        params.max_series,
    )?))
}

/// What one point of a result costs to hold (and about as much again to
/// encode), charged to the query context.
const POINT_BYTES: usize = std::mem::size_of::<Point>();

/// Runs every step and gathers the points per output series.
fn collect_matrix(root: &mut dyn Node, steps: &Steps, max_series: usize) -> Result<Vec<Series>> {
    if root.shape() == Shape::Scalar {
        crate::context::charge((steps.count * POINT_BYTES) as u64)?;
        let mut points = Vec::with_capacity(steps.count);
        for ts in steps.iter() {
            crate::context::check()?;
            root.advance(ts)?;
            points.push(Point {
                ts,
                value: root.scalar(),
            });
        }
        return Ok(vec![Series {
            labels: LabelSet::new(),
            points,
        }]);
    }
    // Indexed by the root's series id; ids are dense.
    let mut points: Vec<Vec<Point>> = Vec::new();
    let mut live = 0usize;
    for ts in steps.iter() {
        crate::context::check()?;
        root.advance(ts)?;
        let mut added = 0usize;
        for e in root.vector() {
            let i = e.id as usize;
            if i >= points.len() {
                points.resize_with(i + 1, Vec::new);
            }
            match points[i].last() {
                // A series emitted twice in one step (label_replace can
                // merge series): the first value stands.
                Some(last) if last.ts == ts => continue,
                Some(_) => {}
                None => {
                    live += 1;
                    if live > max_series {
                        return Err(Error::MaxSeries(max_series));
                    }
                }
            }
            points[i].push(Point { ts, value: e.value });
            added += 1;
        }
        crate::context::charge((added * POINT_BYTES) as u64)?;
    }
    let mut series: Vec<Series> = points
        .into_iter()
        .enumerate()
        .filter(|(_, p)| !p.is_empty())
        .map(|(id, points)| Series {
            labels: root.labels(id as u32).clone(),
            points,
        })
        .collect();
    series.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(series)
}
