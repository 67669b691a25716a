//! Binary operators between scalars and instant vectors.
//!
//! Value semantics follow Loki rather than Prometheus where they differ:
//! division or modulo by zero gives NaN, scalar-scalar comparisons give 0/1
//! without `bool`, and a filtering comparison keeps the vector's value
//! whichever side the scalar is on.
//!
//! Ambiguous vector matches are execution errors, not client errors, in
//! Loki (it answers 500), hence `Error::Source` for them.

use std::collections::HashMap;

use crate::ast::{BinModifier, BinOp, GroupSide};
use crate::error::{Error, Result};
use crate::labels::LabelSet;

use super::node::{BoxNode, Elem, IdCache, Interner, Node, Shape, StepMap};

/// Arithmetic on two values, Loki style.
pub(crate) fn arithmetic(op: BinOp, l: f64, r: f64) -> f64 {
    match op {
        BinOp::Add => l + r,
        BinOp::Sub => l - r,
        BinOp::Mul => l * r,
        BinOp::Div if r == 0.0 => f64::NAN,
        BinOp::Div => l / r,
        BinOp::Mod if r == 0.0 => f64::NAN,
        BinOp::Mod => l % r,
        BinOp::Pow => l.powf(r),
        _ => f64::NAN,
    }
}

pub(crate) fn compare(op: BinOp, l: f64, r: f64) -> bool {
    match op {
        BinOp::Eq => l == r,
        BinOp::Neq => l != r,
        BinOp::Gt => l > r,
        BinOp::Ge => l >= r,
        BinOp::Lt => l < r,
        BinOp::Le => l <= r,
        _ => false,
    }
}

fn bool_value(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// Builds the node for `lhs op rhs` given the already built operands.
pub(crate) fn build(
    op: BinOp,
    modifier: &BinModifier,
    lhs: BoxNode,
    rhs: BoxNode,
) -> Result<BoxNode> {
    match (lhs.shape(), rhs.shape()) {
        (Shape::Scalar, Shape::Scalar) => {
            if op.is_set() {
                return Err(set_op_on_scalar(op));
            }
            Ok(Box::new(ScalarBinary {
                op,
                lhs,
                rhs,
                value: f64::NAN,
            }))
        }
        (Shape::Vector, Shape::Scalar) | (Shape::Scalar, Shape::Vector) => {
            if op.is_set() {
                return Err(set_op_on_scalar(op));
            }
            let scalar_left = lhs.shape() == Shape::Scalar;
            let (vector, scalar) = if scalar_left { (rhs, lhs) } else { (lhs, rhs) };
            Ok(Box::new(ScalarVectorBinary {
                op,
                return_bool: modifier.return_bool,
                scalar_left,
                vector,
                scalar,
                out: Vec::new(),
            }))
        }
        (Shape::Vector, Shape::Vector) => Ok(Box::new(VectorBinary::new(op, modifier, lhs, rhs))),
    }
}

fn set_op_on_scalar(op: BinOp) -> Error {
    Error::Invalid(format!(
        "set operator \"{}\" not allowed in binary scalar expression",
        op.symbol()
    ))
}

struct ScalarBinary {
    op: BinOp,
    lhs: BoxNode,
    rhs: BoxNode,
    value: f64,
}

impl Node for ScalarBinary {
    fn shape(&self) -> Shape {
        Shape::Scalar
    }

    fn advance(&mut self, ts: i64) -> Result<()> {
        self.lhs.advance(ts)?;
        self.rhs.advance(ts)?;
        let (l, r) = (self.lhs.scalar(), self.rhs.scalar());
        self.value = if self.op.is_comparison() {
            bool_value(compare(self.op, l, r))
        } else {
            arithmetic(self.op, l, r)
        };
        Ok(())
    }

    fn scalar(&self) -> f64 {
        self.value
    }

    fn labels(&self, _id: u32) -> &LabelSet {
        unreachable!("a scalar has no series")
    }
}

/// `vector op scalar` / `scalar op vector`: series keep their labels (and
/// ids); the scalar side only changes values.
struct ScalarVectorBinary {
    op: BinOp,
    return_bool: bool,
    scalar_left: bool,
    vector: BoxNode,
    scalar: BoxNode,
    out: Vec<Elem>,
}

impl Node for ScalarVectorBinary {
    fn shape(&self) -> Shape {
        Shape::Vector
    }

    fn advance(&mut self, ts: i64) -> Result<()> {
        self.vector.advance(ts)?;
        self.scalar.advance(ts)?;
        let s = self.scalar.scalar();
        self.out.clear();
        for e in self.vector.vector() {
            let (l, r) = if self.scalar_left {
                (s, e.value)
            } else {
                (e.value, s)
            };
            if self.op.is_comparison() {
                let holds = compare(self.op, l, r);
                if self.return_bool {
                    self.out.push(Elem {
                        id: e.id,
                        value: bool_value(holds),
                    });
                } else if holds {
                    self.out.push(*e);
                }
            } else {
                self.out.push(Elem {
                    id: e.id,
                    value: arithmetic(self.op, l, r),
                });
            }
        }
        Ok(())
    }

    fn vector(&self) -> &[Elem] {
        &self.out
    }

    fn labels(&self, id: u32) -> &LabelSet {
        self.vector.labels(id)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Card {
    OneToOne,
    /// `group_left`: the lhs is the "many" side.
    ManyToOne,
    /// `group_right`: the rhs is the "many" side.
    OneToMany,
}

/// Two instant vectors: set operators, or arithmetic/comparison with label
/// matching (`on`/`ignoring`, `group_left`/`group_right`).
struct VectorBinary {
    op: BinOp,
    return_bool: bool,
    card: Card,
    /// `on(...)` when true, `ignoring(...)` otherwise.
    on: bool,
    match_labels: Vec<String>,
    include: Vec<String>,
    lhs: BoxNode,
    rhs: BoxNode,
    signatures: Interner,
    lhs_sig: IdCache,
    rhs_sig: IdCache,
    outputs: Interner,
    lhs_out: IdCache,
    rhs_out: IdCache,
    pair_out: HashMap<(u32, u32), u32>,
    /// Per step: signature -> index into the "one" side's vector (+1 once
    /// a duplicate was seen, see `advance`).
    one_side: StepMap<u32>,
    /// Per step: signatures already matched by a one-to-one lhs element.
    matched: StepMap<u32>,
    /// Per step: output ids already produced (duplicates are an error).
    produced: StepMap<u32>,
    out: Vec<Elem>,
}

impl VectorBinary {
    fn new(op: BinOp, modifier: &BinModifier, lhs: BoxNode, rhs: BoxNode) -> Self {
        let (on, match_labels, card, include) = match &modifier.matching {
            None => (false, Vec::new(), Card::OneToOne, Vec::new()),
            Some(m) => {
                let (card, include) = match &m.group {
                    None => (Card::OneToOne, Vec::new()),
                    Some(GroupSide::Left(inc)) => (Card::ManyToOne, inc.clone()),
                    Some(GroupSide::Right(inc)) => (Card::OneToMany, inc.clone()),
                };
                (m.on, m.labels.clone(), card, include)
            }
        };
        VectorBinary {
            op,
            return_bool: modifier.return_bool,
            // Set operators are always many-to-many.
            card: if op.is_set() { Card::OneToOne } else { card },
            on,
            match_labels,
            include,
            lhs,
            rhs,
            signatures: Interner::default(),
            lhs_sig: IdCache::default(),
            rhs_sig: IdCache::default(),
            outputs: Interner::default(),
            lhs_out: IdCache::default(),
            rhs_out: IdCache::default(),
            pair_out: HashMap::new(),
            one_side: StepMap::default(),
            matched: StepMap::default(),
            produced: StepMap::default(),
            out: Vec::new(),
        }
    }

    fn set_operation(&mut self) {
        let Self {
            op,
            on,
            match_labels,
            lhs,
            rhs,
            signatures,
            lhs_sig,
            rhs_sig,
            outputs,
            lhs_out,
            rhs_out,
            one_side,
            out,
            ..
        } = self;
        let sig = |cache: &mut IdCache, sigs: &mut Interner, node: &BoxNode, id: u32| {
            cache.get_or(id, || {
                sigs.intern(signature(node.labels(id), match_labels, *on))
            })
        };
        one_side.clear();
        let (lv, rv) = (lhs.vector(), rhs.vector());
        match op {
            BinOp::And | BinOp::Unless => {
                for e in rv {
                    let s = sig(rhs_sig, signatures, rhs, e.id);
                    one_side.insert(s, 0);
                }
                let keep_matched = *op == BinOp::And;
                for e in lv {
                    let s = sig(lhs_sig, signatures, lhs, e.id);
                    if one_side.get(s).is_some() == keep_matched {
                        let id = lhs_out.get_or(e.id, || outputs.intern(lhs.labels(e.id).clone()));
                        out.push(Elem { id, value: e.value });
                    }
                }
            }
            _ => {
                for e in lv {
                    let s = sig(lhs_sig, signatures, lhs, e.id);
                    one_side.insert(s, 0);
                    let id = lhs_out.get_or(e.id, || outputs.intern(lhs.labels(e.id).clone()));
                    out.push(Elem { id, value: e.value });
                }
                for e in rv {
                    let s = sig(rhs_sig, signatures, rhs, e.id);
                    if one_side.get(s).is_none() {
                        let id = rhs_out.get_or(e.id, || outputs.intern(rhs.labels(e.id).clone()));
                        out.push(Elem { id, value: e.value });
                    }
                }
            }
        }
    }

    fn matched_operation(&mut self) -> Result<()> {
        let Self {
            op,
            return_bool,
            card,
            on,
            match_labels,
            include,
            lhs,
            rhs,
            signatures,
            lhs_sig,
            rhs_sig,
            outputs,
            lhs_out,
            rhs_out,
            pair_out,
            one_side,
            matched,
            produced,
            out,
        } = self;
        one_side.clear();
        matched.clear();
        produced.clear();
        // The "many" side drives the loop; the other side is looked up.
        let many_is_lhs = *card != Card::OneToMany;
        let (many, one, many_sig, one_sig) = if many_is_lhs {
            (&*lhs, &*rhs, lhs_sig, rhs_sig)
        } else {
            (&*rhs, &*lhs, rhs_sig, lhs_sig)
        };
        let (many_v, one_v) = (many.vector(), one.vector());
        for (i, e) in one_v.iter().enumerate() {
            let s = one_sig.get_or(e.id, || {
                signatures.intern(signature(one.labels(e.id), match_labels, *on))
            });
            if let Some(j) = one_side.get(s) {
                return Err(duplicate_on_one_side(
                    signatures.get(s),
                    one.labels(one_v[j as usize].id),
                    one.labels(e.id),
                    many_is_lhs,
                ));
            }
            one_side.insert(s, i as u32);
        }
        for e in many_v {
            let s = many_sig.get_or(e.id, || {
                signatures.intern(signature(many.labels(e.id), match_labels, *on))
            });
            let Some(j) = one_side.get(s) else { continue };
            let other = one_v[j as usize];
            if *card == Card::OneToOne {
                if matched.get(s).is_some() {
                    return Err(Error::Source(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
                            .into(),
                    ));
                }
                matched.insert(s, 0);
            }
            let (l, r) = if many_is_lhs {
                (e.value, other.value)
            } else {
                (other.value, e.value)
            };
            let value = if op.is_comparison() {
                let holds = compare(*op, l, r);
                if *return_bool {
                    bool_value(holds)
                } else if holds {
                    l
                } else {
                    continue;
                }
            } else {
                arithmetic(*op, l, r)
            };
            let id = match card {
                Card::OneToOne => lhs_out.get_or(e.id, || {
                    outputs.intern(one_to_one_labels(many.labels(e.id), match_labels, *on))
                }),
                _ if include.is_empty() => {
                    let cache = if many_is_lhs {
                        &mut *lhs_out
                    } else {
                        &mut *rhs_out
                    };
                    cache.get_or(e.id, || outputs.intern(many.labels(e.id).clone()))
                }
                _ => *pair_out.entry((e.id, other.id)).or_insert_with(|| {
                    outputs.intern(grouped_labels(
                        many.labels(e.id),
                        one.labels(other.id),
                        include,
                    ))
                }),
            };
            if produced.get(id).is_some() {
                return Err(Error::Source(
                    "multiple matches for labels: grouping labels must ensure unique matches"
                        .into(),
                ));
            }
            produced.insert(id, 0);
            out.push(Elem { id, value });
        }
        Ok(())
    }
}

impl Node for VectorBinary {
    fn shape(&self) -> Shape {
        Shape::Vector
    }

    fn advance(&mut self, ts: i64) -> Result<()> {
        self.lhs.advance(ts)?;
        self.rhs.advance(ts)?;
        self.out.clear();
        if self.op.is_set() {
            self.set_operation();
            Ok(())
        } else {
            self.matched_operation()
        }
    }

    fn vector(&self) -> &[Elem] {
        &self.out
    }

    fn labels(&self, id: u32) -> &LabelSet {
        self.outputs.get(id)
    }
}

/// The labels two series are matched on.
fn signature(labels: &LabelSet, match_labels: &[String], on: bool) -> LabelSet {
    let mut sig = labels.project(match_labels, !on);
    sig.remove("__name__");
    sig
}

/// One-to-one results keep the `on` labels only, or drop the ignored ones.
fn one_to_one_labels(labels: &LabelSet, match_labels: &[String], on: bool) -> LabelSet {
    labels.project(match_labels, !on)
}

/// group_left/right results: the many side's labels plus the `include`d
/// labels copied from the one side (removed when the one side lacks them).
fn grouped_labels(many: &LabelSet, one: &LabelSet, include: &[String]) -> LabelSet {
    let mut out = many.clone();
    for name in include {
        match one.get(name) {
            Some(v) if !v.is_empty() => out.insert(name.clone(), v.to_string()),
            _ => {
                out.remove(name);
            }
        }
    }
    out
}

fn duplicate_on_one_side(sig: &LabelSet, a: &LabelSet, b: &LabelSet, one_is_rhs: bool) -> Error {
    let side = if one_is_rhs { "right" } else { "left" };
    Error::Source(format!(
        "found duplicate series for the match group {sig} on the {side} hand-side of the operation: [{a}, {b}];many-to-many matching not allowed: matching labels must be unique on one side"
    ))
}
