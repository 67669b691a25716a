//! Vector aggregations: `sum by (..)`, `avg`, `min`, `max`, `count`,
//! `stddev`, `stdvar` (one output series per group), `topk`/`bottomk` (the
//! k extreme input series per group) and `sort`/`sort_desc` (the input
//! vector reordered).

use std::cmp::Ordering;

use crate::ast::{Grouping, VectorOp};
use crate::error::{Error, Result};
use crate::labels::LabelSet;

use super::node::{BoxNode, Elem, IdCache, Interner, Node, Shape};

#[derive(Debug, Clone, Copy, Default)]
struct Acc {
    value: f64,
    mean: f64,
    count: u64,
    /// topk/bottomk: index of the group's member list this step.
    slot: usize,
}

pub(crate) struct VectorAggNode {
    op: VectorOp,
    /// `k` of topk/bottomk (0 yields nothing).
    k: usize,
    by: Vec<String>,
    without: bool,
    grouped: bool,
    child: BoxNode,
    groups: Interner,
    group_of: IdCache,
    accs: Vec<Acc>,
    /// Groups seen this step, in first-appearance order.
    touched: Vec<u32>,
    /// topk/bottomk: candidate members per touched group (same order).
    members: Vec<Vec<Elem>>,
    /// `max_query_series` when this node's output is the query's output.
    max_series: Option<usize>,
    out: Vec<Elem>,
}

impl VectorAggNode {
    pub fn new(
        op: VectorOp,
        param: Option<f64>,
        grouping: Option<&Grouping>,
        child: BoxNode,
        max_series: Option<usize>,
    ) -> Result<Self> {
        if child.shape() != Shape::Vector {
            return Err(Error::Invalid(format!(
                "unexpected scalar argument of {}: expected an instant vector",
                op.name()
            )));
        }
        let k = match op {
            VectorOp::Topk | VectorOp::Bottomk => {
                let p = param.ok_or_else(|| {
                    Error::Invalid(format!("parameter required for {}", op.name()))
                })?;
                if p.is_nan() || p < 1.0 {
                    0
                } else {
                    p.min(usize::MAX as f64) as usize
                }
            }
            _ => 0,
        };
        let (by, without, grouped) = match grouping {
            Some(g) => (g.labels.clone(), g.without, true),
            None => (Vec::new(), false, false),
        };
        Ok(VectorAggNode {
            op,
            k,
            by,
            without,
            grouped,
            child,
            groups: Interner::default(),
            group_of: IdCache::default(),
            accs: Vec::new(),
            touched: Vec::new(),
            members: Vec::new(),
            max_series,
            out: Vec::new(),
        })
    }

    fn keeps_input_series(&self) -> bool {
        matches!(
            self.op,
            VectorOp::Topk | VectorOp::Bottomk | VectorOp::Sort | VectorOp::SortDesc
        )
    }

    fn aggregate(&mut self) {
        let VectorAggNode {
            op,
            by,
            without,
            grouped,
            child,
            groups,
            group_of,
            accs,
            touched,
            out,
            ..
        } = self;
        for e in child.vector() {
            let g = group_of.get_or(e.id, || {
                groups.intern(group_labels(child.labels(e.id), by, *without, *grouped))
            });
            let gi = g as usize;
            if gi >= accs.len() {
                accs.resize(gi + 1, Acc::default());
            }
            let acc = &mut accs[gi];
            let v = e.value;
            if acc.count == 0 {
                touched.push(g);
                *acc = Acc {
                    value: if matches!(op, VectorOp::Stddev | VectorOp::Stdvar) {
                        0.0
                    } else {
                        v
                    },
                    mean: v,
                    count: 1,
                    slot: 0,
                };
                continue;
            }
            acc.count += 1;
            match op {
                VectorOp::Sum => acc.value += v,
                VectorOp::Avg => acc.mean += (v - acc.mean) / acc.count as f64,
                // NaN is replaced by any later value.
                VectorOp::Max if acc.value < v || acc.value.is_nan() => acc.value = v,
                VectorOp::Min if acc.value > v || acc.value.is_nan() => acc.value = v,
                VectorOp::Stddev | VectorOp::Stdvar => {
                    let delta = v - acc.mean;
                    acc.mean += delta / acc.count as f64;
                    acc.value += delta * (v - acc.mean);
                }
                _ => {}
            }
        }
        for &g in touched.iter() {
            let acc = &accs[g as usize];
            let n = acc.count as f64;
            let value = match op {
                VectorOp::Avg => acc.mean,
                VectorOp::Count => n,
                VectorOp::Stddev => (acc.value / n).sqrt(),
                VectorOp::Stdvar => acc.value / n,
                _ => acc.value,
            };
            out.push(Elem { id: g, value });
        }
    }

    /// topk / bottomk: per group, the k largest (smallest) values; NaN
    /// ranks last either way and ties keep input order.
    fn select_k(&mut self) {
        let VectorAggNode {
            op,
            k,
            by,
            without,
            grouped,
            child,
            groups,
            group_of,
            accs,
            touched,
            members,
            out,
            ..
        } = self;
        if *k == 0 {
            return;
        }
        for e in child.vector() {
            let g = group_of.get_or(e.id, || {
                groups.intern(group_labels(child.labels(e.id), by, *without, *grouped))
            });
            let gi = g as usize;
            if gi >= accs.len() {
                accs.resize(gi + 1, Acc::default());
            }
            let acc = &mut accs[gi];
            if acc.count == 0 {
                acc.slot = touched.len();
                touched.push(g);
                if members.len() < touched.len() {
                    members.push(Vec::new());
                }
                members[touched.len() - 1].clear();
            }
            acc.count += 1;
            members[acc.slot].push(*e);
        }
        let descending = *op == VectorOp::Topk;
        for group in members.iter_mut().take(touched.len()) {
            group.sort_by(|a, b| order_by_value(a.value, b.value, descending));
            group.truncate(*k);
            out.extend_from_slice(group);
        }
    }
}

/// Orders values ascending or descending with NaN always last.
pub(crate) fn order_by_value(a: f64, b: f64, descending: bool) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ if descending => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

fn group_labels(labels: &LabelSet, by: &[String], without: bool, grouped: bool) -> LabelSet {
    if !grouped {
        return LabelSet::new();
    }
    let mut g = labels.project(by, without);
    if without {
        g.remove("__name__");
    }
    g
}

impl Node for VectorAggNode {
    fn shape(&self) -> Shape {
        Shape::Vector
    }

    fn advance(&mut self, ts: i64) -> Result<()> {
        self.child.advance(ts)?;
        for &g in &self.touched {
            self.accs[g as usize].count = 0;
        }
        self.touched.clear();
        self.out.clear();
        match self.op {
            VectorOp::Sort | VectorOp::SortDesc => {
                let descending = self.op == VectorOp::SortDesc;
                self.out.extend_from_slice(self.child.vector());
                self.out
                    .sort_by(|a, b| order_by_value(a.value, b.value, descending));
            }
            VectorOp::Topk | VectorOp::Bottomk => self.select_k(),
            _ => self.aggregate(),
        }
        if let Some(max) = self.max_series {
            if self.out.len() > max {
                return Err(Error::MaxSeries(max));
            }
        }
        Ok(())
    }

    fn vector(&self) -> &[Elem] {
        &self.out
    }

    fn labels(&self, id: u32) -> &LabelSet {
        if self.keeps_input_series() {
            self.child.labels(id)
        } else {
            self.groups.get(id)
        }
    }
}
