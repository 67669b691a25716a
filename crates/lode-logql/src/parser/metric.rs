//! Metric expressions: binary operators by precedence climbing, range and
//! vector aggregations, literals, `vector()`, `label_replace()`.

use super::lexer::Tok;
use super::{invalid, Node, Parser};
use crate::ast::{
    BinModifier, BinOp, GroupSide, Grouping, LogRange, MetricExpr, RangeOp, VectorMatching,
    VectorOp,
};
use crate::error::Result;

pub(crate) fn range_op(lower: &str) -> Option<RangeOp> {
    Some(match lower {
        "rate" => RangeOp::Rate,
        "rate_counter" => RangeOp::RateCounter,
        "count_over_time" => RangeOp::CountOverTime,
        "bytes_rate" => RangeOp::BytesRate,
        "bytes_over_time" => RangeOp::BytesOverTime,
        "absent_over_time" => RangeOp::AbsentOverTime,
        "sum_over_time" => RangeOp::SumOverTime,
        "avg_over_time" => RangeOp::AvgOverTime,
        "min_over_time" => RangeOp::MinOverTime,
        "max_over_time" => RangeOp::MaxOverTime,
        "stddev_over_time" => RangeOp::StddevOverTime,
        "stdvar_over_time" => RangeOp::StdvarOverTime,
        "quantile_over_time" => RangeOp::QuantileOverTime,
        "first_over_time" => RangeOp::FirstOverTime,
        "last_over_time" => RangeOp::LastOverTime,
        _ => return None,
    })
}

pub(crate) fn vector_op(lower: &str) -> Option<VectorOp> {
    Some(match lower {
        "sum" => VectorOp::Sum,
        "avg" => VectorOp::Avg,
        "min" => VectorOp::Min,
        "max" => VectorOp::Max,
        "count" => VectorOp::Count,
        "stddev" => VectorOp::Stddev,
        "stdvar" => VectorOp::Stdvar,
        "topk" => VectorOp::Topk,
        "approx_topk" => VectorOp::ApproxTopk,
        "bottomk" => VectorOp::Bottomk,
        "sort" => VectorOp::Sort,
        "sort_desc" => VectorOp::SortDesc,
        _ => return None,
    })
}

/// Binding power, PromQL's order; `^` is right-associative.
fn precedence(op: BinOp) -> u8 {
    match op {
        BinOp::Or => 1,
        BinOp::And | BinOp::Unless => 2,
        BinOp::Eq | BinOp::Neq | BinOp::Gt | BinOp::Ge | BinOp::Lt | BinOp::Le => 3,
        BinOp::Add | BinOp::Sub => 4,
        BinOp::Mul | BinOp::Div | BinOp::Mod => 5,
        BinOp::Pow => 6,
    }
}

/// The binding power `ast::BinOp` has when printed (for the printer).
pub(crate) fn binop_precedence(op: BinOp) -> u8 {
    precedence(op)
}

/// Parses a number token's text as Go's `strconv.ParseFloat` would.
fn parse_number(text: &str) -> Result<f64> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(invalid(format!(
            "unable to parse literal as a float: strconv.ParseFloat: parsing {text:?}: value out of range"
        ))),
    }
}

impl Parser {
    fn peek_binop(&self) -> Option<BinOp> {
        Some(match self.peek() {
            Tok::Add => BinOp::Add,
            Tok::Sub => BinOp::Sub,
            Tok::Mul => BinOp::Mul,
            Tok::Div => BinOp::Div,
            Tok::Mod => BinOp::Mod,
            Tok::Pow => BinOp::Pow,
            Tok::EqEq => BinOp::Eq,
            Tok::Neq => BinOp::Neq,
            Tok::Gt => BinOp::Gt,
            Tok::Ge => BinOp::Ge,
            Tok::Lt => BinOp::Lt,
            Tok::Le => BinOp::Le,
            Tok::Ident(s) if s.eq_ignore_ascii_case("or") => BinOp::Or,
            Tok::Ident(s) if s.eq_ignore_ascii_case("and") => BinOp::And,
            Tok::Ident(s) if s.eq_ignore_ascii_case("unless") => BinOp::Unless,
            _ => return None,
        })
    }

    /// Parses operators binding at least as tightly as `min_prec`. Returns
    /// the operand and the depth of the tree built.
    pub(crate) fn binary(&mut self, min_prec: u8) -> Result<(Node, usize)> {
        let (mut lhs, mut depth) = self.unary()?;
        while let Some(op) = self.peek_binop() {
            let prec = precedence(op);
            if prec < min_prec {
                break;
            }
            self.bump();
            let modifier = self.bin_modifier()?;
            let next_min = if op == BinOp::Pow { prec } else { prec + 1 };
            self.enter()?;
            let (rhs, rdepth) = self.binary(next_min)?;
            self.leave();
            depth = depth.max(rdepth) + 1;
            self.check_depth(depth)?;
            lhs = Node::Metric(combine(op, lhs, rhs, modifier)?);
        }
        Ok((lhs, depth))
    }

    /// `bool`, `on(...)`/`ignoring(...)`, `group_left(...)`/`group_right(...)`.
    fn bin_modifier(&mut self) -> Result<BinModifier> {
        let mut m = BinModifier::default();
        if self.at_kw("bool") {
            self.bump();
            m.return_bool = true;
        }
        let on = if self.at_kw("on") {
            true
        } else if self.at_kw("ignoring") {
            false
        } else {
            return Ok(m);
        };
        self.bump();
        let labels = self.label_list()?;
        let group = if self.at_kw("group_left") || self.at_kw("group_right") {
            let left = self.at_kw("group_left");
            self.bump();
            let extra = if self.at_label_list() {
                self.label_list()?
            } else {
                Vec::new()
            };
            Some(if left {
                GroupSide::Left(extra)
            } else {
                GroupSide::Right(extra)
            })
        } else {
            None
        };
        m.matching = Some(VectorMatching { on, labels, group });
        Ok(m)
    }

    /// Whether a `(` here opens a label list rather than an expression.
    fn at_label_list(&self) -> bool {
        self.peek() == &Tok::LParen
            && match self.peek_at(1) {
                Tok::RParen => true,
                Tok::Ident(_) => matches!(self.peek_at(2), Tok::Comma | Tok::RParen),
                _ => false,
            }
    }

    /// `( a, b )` or `()`.
    pub(crate) fn label_list(&mut self) -> Result<Vec<String>> {
        self.expect(&Tok::LParen, &["("])?;
        let mut labels = Vec::new();
        if self.eat(&Tok::RParen) {
            return Ok(labels);
        }
        loop {
            labels.push(self.ident(&["IDENTIFIER"])?);
            if self.eat(&Tok::Comma) {
                continue;
            }
            self.expect(&Tok::RParen, &[")", ","])?;
            return Ok(labels);
        }
    }

    fn grouping(&mut self) -> Result<Option<Grouping>> {
        let without = if self.at_kw("by") {
            false
        } else if self.at_kw("without") {
            true
        } else {
            return Ok(None);
        };
        self.bump();
        let labels = self.label_list()?;
        Ok(Some(Grouping { without, labels }))
    }

    /// One operand. A dispatcher only: each form has its own function so
    /// that the frames on the recursive path stay small in debug builds.
    fn unary(&mut self) -> Result<(Node, usize)> {
        match self.peek() {
            Tok::Number(_) => self.literal(false),
            Tok::Add | Tok::Sub if matches!(self.peek_at(1), Tok::Number(_)) => {
                let neg = self.bump() == Tok::Sub;
                self.literal(neg)
            }
            Tok::LBrace => self.log_operand(),
            Tok::LParen => self.paren(),
            Tok::Ident(_) => self.call(),
            _ => Err(self.unexpected(&[])),
        }
    }

    #[inline(never)]
    fn literal(&mut self, neg: bool) -> Result<(Node, usize)> {
        let Tok::Number(text) = self.bump() else {
            return Err(self.unexpected(&["NUMBER"]));
        };
        let v = parse_number(&text)?;
        Ok((
            Node::Metric(MetricExpr::Literal(if neg { -v } else { v })),
            1,
        ))
    }

    #[inline(never)]
    fn log_operand(&mut self) -> Result<(Node, usize)> {
        Ok((Node::Log(self.log_expr()?), 1))
    }

    #[inline(never)]
    fn paren(&mut self) -> Result<(Node, usize)> {
        self.bump();
        self.enter()?;
        let (inner, depth) = self.binary(0)?;
        self.expect(&Tok::RParen, &[")"])?;
        self.leave();
        Ok(match inner {
            // Loki drops parentheses around a log query.
            Node::Log(l) => (Node::Log(l), depth),
            Node::Metric(m) => (Node::Metric(MetricExpr::Paren(Box::new(m))), depth + 1),
        })
    }

    /// A function-like form: range or vector aggregation, `vector`,
    /// `label_replace`.
    #[inline(never)]
    fn call(&mut self) -> Result<(Node, usize)> {
        let lower = match self.peek() {
            Tok::Ident(w) => w.to_ascii_lowercase(),
            _ => return Err(self.unexpected(&[])),
        };
        let call = self.peek_at(1) == &Tok::LParen;
        if call {
            if let Some(op) = range_op(&lower) {
                return Ok((Node::Metric(self.range_agg(op)?), 1));
            }
        }
        let grouped_call =
            (self.kw_at(1, "by") || self.kw_at(1, "without")) && self.peek_at(2) == &Tok::LParen;
        if let Some(op) = vector_op(&lower).filter(|_| call || grouped_call) {
            self.bump();
            self.enter()?;
            let (agg, depth) = self.vector_agg(op, &lower)?;
            self.leave();
            return Ok((Node::Metric(agg), depth + 1));
        }
        if call && lower == "vector" {
            return Ok((Node::Metric(self.vector()?), 1));
        }
        if call && lower == "label_replace" {
            self.bump();
            self.enter()?;
            let (e, depth) = self.label_replace()?;
            self.leave();
            return Ok((Node::Metric(e), depth + 1));
        }
        Err(self.unexpected(&[]))
    }

    /// `variants(<metric>, ...) of (<log range>)`.
    pub(crate) fn variants(&mut self) -> Result<crate::ast::Variants> {
        self.bump();
        self.expect(&Tok::LParen, &["("])?;
        self.enter()?;
        let mut variants = Vec::new();
        loop {
            let (body, _) = self.binary(0)?;
            let Node::Metric(m) = body else {
                return Err(self.unexpected(&[]));
            };
            variants.push(m);
            if !self.eat(&Tok::Comma) {
                break;
            }
        }
        self.expect(&Tok::RParen, &[")"])?;
        if !self.at_kw("of") {
            return Err(self.unexpected(&["of"]));
        }
        self.bump();
        self.expect(&Tok::LParen, &["("])?;
        let of = self.log_range()?;
        self.expect(&Tok::RParen, &[")"])?;
        self.leave();
        Ok(crate::ast::Variants { variants, of })
    }

    fn vector(&mut self) -> Result<MetricExpr> {
        self.bump();
        self.expect(&Tok::LParen, &["("])?;
        let neg = match self.peek() {
            Tok::Sub => {
                self.bump();
                true
            }
            Tok::Add => {
                self.bump();
                false
            }
            _ => false,
        };
        let v = match self.peek().clone() {
            Tok::Number(text) => {
                self.bump();
                parse_number(&text)?
            }
            _ => return Err(self.unexpected(&["NUMBER"])),
        };
        self.expect(&Tok::RParen, &[")"])?;
        Ok(MetricExpr::Vector(if neg { -v } else { v }))
    }

    fn range_agg(&mut self, op: RangeOp) -> Result<MetricExpr> {
        self.bump();
        self.expect(&Tok::LParen, &["("])?;
        let param = match (self.peek().clone(), self.peek_at(1)) {
            (Tok::Number(text), Tok::Comma) => {
                self.bump();
                self.bump();
                Some(text)
            }
            _ => None,
        };
        let range = self.log_range()?;
        self.expect(&Tok::RParen, &[")"])?;
        let grouping = self.grouping()?;
        let param = match (param, op) {
            (Some(text), RangeOp::QuantileOverTime) => Some(parse_number(&text)?),
            (Some(text), _) => {
                return Err(invalid(format!(
                    "parameter {text} not supported for operation {}",
                    op.name()
                )))
            }
            (None, RangeOp::QuantileOverTime) => {
                return Err(invalid(format!(
                    "parameter required for operation {}",
                    op.name()
                )))
            }
            (None, _) => None,
        };
        validate_range_agg(op, &grouping, &range)?;
        Ok(MetricExpr::RangeAgg {
            op,
            param,
            range,
            grouping,
        })
    }

    fn vector_agg(&mut self, op: VectorOp, name: &str) -> Result<(MetricExpr, usize)> {
        let before = self.grouping()?;
        self.expect(&Tok::LParen, &["("])?;
        let param = match (self.peek().clone(), self.peek_at(1)) {
            (Tok::Number(text), Tok::Comma) => {
                self.bump();
                self.bump();
                Some(text)
            }
            _ => None,
        };
        let (body, depth) = self.binary(0)?;
        let expr = match body {
            Node::Metric(m) => m,
            // Loki's grammar has no rule for a log query here and stops at
            // the next token.
            Node::Log(_) => return Err(self.unexpected(&[])),
        };
        self.expect(&Tok::RParen, &[")"])?;
        let grouping = match before {
            Some(g) => Some(g),
            None => self.grouping()?,
        };
        let param = match op {
            VectorOp::Topk | VectorOp::Bottomk | VectorOp::ApproxTopk => {
                let Some(text) = param else {
                    return Err(invalid(format!(
                        "parameter required for operation {}",
                        op.name()
                    )));
                };
                // Go's Atoi: an integer, nothing else.
                let k: i64 = text
                    .parse()
                    .map_err(|_| invalid(format!("invalid parameter {name}({text},")))?;
                if k <= 0 {
                    return Err(invalid(format!(
                        "invalid parameter (must be greater than 0) {name}({text}"
                    )));
                }
                Some(k as f64)
            }
            _ => {
                if let Some(text) = param {
                    return Err(invalid(format!(
                        "unsupported parameter for operation {name}({text},"
                    )));
                }
                None
            }
        };
        // Loki checks k first, then refuses any grouping (ast.go).
        if op == VectorOp::ApproxTopk && grouping.is_some() {
            return Err(invalid("grouping not allowed for approx_topk aggregation"));
        }
        Ok((
            MetricExpr::VectorAgg {
                op,
                param,
                grouping,
                expr: Box::new(expr),
            },
            depth,
        ))
    }

    fn label_replace(&mut self) -> Result<(MetricExpr, usize)> {
        self.expect(&Tok::LParen, &["("])?;
        let (body, depth) = self.binary(0)?;
        let Node::Metric(expr) = body else {
            return Err(self.unexpected(&[]));
        };
        let mut args = Vec::with_capacity(4);
        for _ in 0..4 {
            self.expect(&Tok::Comma, &[","])?;
            args.push(self.string(&["STRING"])?);
        }
        self.expect(&Tok::RParen, &[")"])?;
        let regex = args.pop().unwrap_or_default();
        let src = args.pop().unwrap_or_default();
        let replacement = args.pop().unwrap_or_default();
        let dst = args.pop().unwrap_or_default();
        if let Err(e) = lode_go::regex::compile_anchored(&regex) {
            return Err(invalid(format!("invalid regex in label_replace: {e}")));
        }
        if !lode_go::model::is_valid_label_name(&dst) {
            return Err(invalid(format!(
                "invalid destination label name in label_replace: {dst}"
            )));
        }
        Ok((
            MetricExpr::LabelReplace {
                expr: Box::new(expr),
                dst,
                replacement,
                src,
                regex,
            },
            depth,
        ))
    }

    /// `{sel} | pipeline [| unwrap ...] [range] [offset]`, in every order
    /// Loki accepts, optionally parenthesised.
    pub(crate) fn log_range(&mut self) -> Result<LogRange> {
        if self.peek() == &Tok::LParen {
            self.bump();
            self.enter()?;
            let inner = self.log_range_body(true)?;
            self.expect(&Tok::RParen, &[")"])?;
            self.leave();
            let (log, unwrap, range, offset) = inner;
            if let Some(range) = range {
                return Ok(LogRange {
                    log,
                    range,
                    offset,
                    unwrap,
                });
            }
            let range = self.range_token()?;
            let offset = self.offset()?;
            return Ok(LogRange {
                log,
                range,
                offset,
                unwrap,
            });
        }
        let (log, unwrap, range, offset) = self.log_range_body(false)?;
        #[allow(clippy::expect_used)] // an invariant of log_range_body, not input
        Ok(LogRange {
            log,
            range: range.expect("log_range_body(false) always reads a range"),
            offset,
            unwrap,
        })
    }

    #[allow(clippy::type_complexity)]
    fn log_range_body(
        &mut self,
        range_optional: bool,
    ) -> Result<(
        crate::ast::LogExpr,
        Option<crate::ast::Unwrap>,
        Option<i64>,
        i64,
    )> {
        if self.peek() == &Tok::LParen {
            let r = self.log_range()?;
            return Ok((r.log, r.unwrap, Some(r.range), r.offset));
        }
        let selector = self.selector()?;
        let mut pipeline = self.pipeline()?;
        let mut unwrap = self.unwrap()?;
        let mut range = None;
        let mut offset = 0;
        if matches!(self.peek(), Tok::Range(_)) {
            range = Some(self.range_token()?);
            offset = self.offset()?;
            if pipeline.is_empty() && unwrap.is_none() {
                pipeline = self.pipeline()?;
                unwrap = self.unwrap()?;
            }
        } else if !range_optional {
            return Err(self.unexpected(&["RANGE"]));
        }
        Ok((
            crate::ast::LogExpr { selector, pipeline },
            unwrap,
            range,
            offset,
        ))
    }

    fn range_token(&mut self) -> Result<i64> {
        match self.peek() {
            &Tok::Range(d) => {
                self.bump();
                Ok(d)
            }
            _ => Err(self.unexpected(&["RANGE"])),
        }
    }

    fn offset(&mut self) -> Result<i64> {
        if !self.at_kw("offset") {
            return Ok(0);
        }
        self.bump();
        match self.peek() {
            &Tok::Duration(d) => {
                self.bump();
                Ok(d)
            }
            _ => Err(self.unexpected(&["DURATION"])),
        }
    }
}

/// Loki's rules on which range operations take `unwrap` and `by`.
fn validate_range_agg(op: RangeOp, grouping: &Option<Grouping>, range: &LogRange) -> Result<()> {
    use RangeOp::*;
    if grouping.is_some()
        && !matches!(
            op,
            AvgOverTime
                | StddevOverTime
                | StdvarOverTime
                | QuantileOverTime
                | MaxOverTime
                | MinOverTime
                | FirstOverTime
                | LastOverTime
        )
    {
        return Err(invalid(format!(
            "grouping not allowed for {} aggregation",
            op.name()
        )));
    }
    let with_unwrap_ok = matches!(
        op,
        AvgOverTime
            | SumOverTime
            | MaxOverTime
            | MinOverTime
            | StddevOverTime
            | StdvarOverTime
            | QuantileOverTime
            | Rate
            | RateCounter
            | AbsentOverTime
            | FirstOverTime
            | LastOverTime
    );
    match (&range.unwrap, with_unwrap_ok, op.requires_unwrap()) {
        (Some(_), false, _) => Err(invalid(format!(
            "invalid aggregation {} with unwrap",
            op.name()
        ))),
        (None, _, true) => Err(invalid(format!(
            "invalid aggregation {} without unwrap",
            op.name()
        ))),
        _ => Ok(()),
    }
}

/// Builds a binary node, with Loki's checks on its legs.
fn combine(op: BinOp, lhs: Node, rhs: Node, modifier: BinModifier) -> Result<MetricExpr> {
    let sym = op.symbol();
    let lhs = match lhs {
        Node::Metric(m) => m,
        Node::Log(_) => {
            return Err(invalid(format!(
                "unexpected type for left leg of binary operation ({sym}): log query"
            )))
        }
    };
    let rhs = match rhs {
        Node::Metric(m) => m,
        Node::Log(_) => {
            return Err(invalid(format!(
                "unexpected type for right leg of binary operation ({sym}): log query"
            )))
        }
    };
    if op.is_set() {
        for (side, leg) in [("left", &lhs), ("right", &rhs)] {
            if let Some(v) = literal_value(leg) {
                return Err(invalid(format!(
                    "unexpected literal for {side} leg of logical/set binary operation ({sym}): {v:.6}"
                )));
            }
        }
    }
    Ok(MetricExpr::Binary {
        op,
        lhs: Box::new(lhs),
        rhs: Box::new(rhs),
        modifier,
    })
}

/// The value of a literal, looking through parentheses as Loki does.
fn literal_value(e: &MetricExpr) -> Option<f64> {
    let mut e = e;
    loop {
        match e {
            MetricExpr::Literal(v) => return Some(*v),
            MetricExpr::Paren(inner) => e = inner,
            _ => return None,
        }
    }
}
