//! Printing an `Expr` back to LogQL (`format_query`, round-trip tests).
//!
//! `Display` writes canonical one-line LogQL that the parser reads back to
//! an equal tree: strings double-quoted with Go escapes, durations in
//! Prometheus units, parentheses only where precedence needs them (user
//! parentheses are `MetricExpr::Paren` and print as written). `pretty`
//! spreads long metric queries over several indented lines.

use std::fmt::{self, Display, Formatter, Write as _};

use crate::ast::{
    BinOp, CmpOp, Expr, GroupSide, Grouping, LabelFilter, LabelFmt, LabelSelectorItem, LineFilter,
    LineFilterOp, LineFilterValue, LogExpr, LogRange, MatchOp, Matcher, MetricExpr, Parser, Stage,
    Unwrap, UnwrapConv,
};
use lode_go::strconv::quote_into;
use lode_go::{duration, model};

/// Width under which `pretty` keeps a metric expression on one line.
const PRETTY_WIDTH: usize = 100;

/// A number as the lexer reads it back exactly (shortest round-trip form).
pub fn format_number(v: f64) -> String {
    if let Some(s) = lode_go::strconv::non_finite(v) {
        return s.into();
    }
    let a = v.abs();
    if a == 0.0 || (1e-4..1e21).contains(&a) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

/// Byte sizes in the largest unit that divides them exactly.
fn format_bytes(v: f64) -> String {
    const UNITS: [(&str, f64); 10] = [
        ("PiB", 1125899906842624.0),
        ("PB", 1e15),
        ("TiB", 1099511627776.0),
        ("TB", 1e12),
        ("GiB", 1073741824.0),
        ("GB", 1e9),
        ("MiB", 1048576.0),
        ("MB", 1e6),
        ("KiB", 1024.0),
        ("KB", 1e3),
    ];
    if v > 0.0 && v.fract() == 0.0 {
        for (unit, mult) in UNITS {
            let n = v / mult;
            if n >= 1.0 && n.fract() == 0.0 {
                return format!("{n}{unit}");
            }
        }
    }
    format!("{}B", format_number(v))
}

fn quoted(s: &str) -> String {
    lode_go::strconv::quote(s)
}

/// Prints a duration so that the lexer reads it back exactly: Prometheus
/// style (`5m`, `1h30m`, `2w`) for whole milliseconds, Go style (`1.5us`,
/// `1m0.0000001s`) below that. A negative duration is Go syntax (the only
/// one with a sign), which has no days.
pub(crate) fn format_duration(ns: i64) -> String {
    const MS: i64 = 1_000_000;
    if ns % MS != 0 {
        return duration::format_with_micro(ns, "us");
    }
    if ns >= 0 {
        return model::format_duration(ns);
    }
    let mut ms = ns.unsigned_abs() / MS as u64;
    let mut out = String::from("-");
    for (unit, mult) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
        if ms >= mult {
            out.push_str(&format!("{}{unit}", ms / mult));
            ms %= mult;
        }
    }
    out
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Log(l) => l.fmt(f),
            Expr::Metric(m) => m.fmt(f),
            Expr::Variants(v) => {
                f.write_str("variants(")?;
                for (i, m) in v.variants.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    m.fmt(f)?;
                }
                write!(f, ") of ({})", v.of)
            }
        }
    }
}

impl Display for MatchOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MatchOp::Eq => "=",
            MatchOp::Neq => "!=",
            MatchOp::Re => "=~",
            MatchOp::Nre => "!~",
        })
    }
}

impl Display for Matcher {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.name, self.op, quoted(&self.value))
    }
}

impl Display for LogExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_char('{')?;
        for (i, m) in self.selector.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            m.fmt(f)?;
        }
        f.write_char('}')?;
        for s in &self.pipeline {
            write!(f, " {s}")?;
        }
        Ok(())
    }
}

impl Display for LineFilter {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self.op {
            LineFilterOp::Contains => "|=",
            LineFilterOp::NotContains => "!=",
            LineFilterOp::Match => "|~",
            LineFilterOp::NotMatch => "!~",
            LineFilterOp::Pattern => "|>",
            LineFilterOp::NotPattern => "!>",
        })?;
        for (i, v) in self.values.iter().enumerate() {
            if i > 0 {
                f.write_str(" or")?;
            }
            match v {
                LineFilterValue::Str(s) => write!(f, " {}", quoted(s))?,
                LineFilterValue::Ip(s) => write!(f, " ip({})", quoted(s))?,
            }
        }
        Ok(())
    }
}

fn write_params(f: &mut Formatter<'_>, params: &[(String, String)]) -> fmt::Result {
    for (i, (label, path)) in params.iter().enumerate() {
        f.write_str(if i == 0 { " " } else { ", " })?;
        if label == path {
            f.write_str(label)?;
        } else {
            write!(f, "{label}={}", quoted(path))?;
        }
    }
    Ok(())
}

fn write_items(f: &mut Formatter<'_>, items: &[LabelSelectorItem]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        f.write_str(if i == 0 { " " } else { ", " })?;
        match item {
            LabelSelectorItem::Name(n) => f.write_str(n)?,
            LabelSelectorItem::Matcher(m) => m.fmt(f)?,
        }
    }
    Ok(())
}

impl Display for Stage {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Stage::LineFilter(lf) => lf.fmt(f),
            Stage::Parser(Parser::Json { params }) => {
                f.write_str("| json")?;
                write_params(f, params)
            }
            Stage::Parser(Parser::Logfmt {
                strict,
                keep_empty,
                params,
            }) => {
                f.write_str("| logfmt")?;
                if *strict {
                    f.write_str(" --strict")?;
                }
                if *keep_empty {
                    f.write_str(" --keep-empty")?;
                }
                write_params(f, params)
            }
            Stage::Parser(Parser::Regexp(re)) => write!(f, "| regexp {}", quoted(re)),
            Stage::Parser(Parser::Pattern(p)) => write!(f, "| pattern {}", quoted(p)),
            Stage::Parser(Parser::Unpack) => f.write_str("| unpack"),
            Stage::LabelFilter(lf) => write!(f, "| {lf}"),
            Stage::LineFormat(t) => write!(f, "| line_format {}", quoted(t)),
            Stage::LabelFormat(fmts) => {
                f.write_str("| label_format")?;
                for (i, lf) in fmts.iter().enumerate() {
                    f.write_str(if i == 0 { " " } else { ", " })?;
                    match lf {
                        LabelFmt::Rename { dst, src } => write!(f, "{dst}={src}")?,
                        LabelFmt::Template { dst, template } => {
                            write!(f, "{dst}={}", quoted(template))?
                        }
                    }
                }
                Ok(())
            }
            Stage::Drop(items) => {
                f.write_str("| drop")?;
                write_items(f, items)
            }
            Stage::Keep(items) => {
                f.write_str("| keep")?;
                write_items(f, items)
            }
            Stage::Decolorize => f.write_str("| decolorize"),
        }
    }
}

impl Display for CmpOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CmpOp::Eq => "==",
            CmpOp::Neq => "!=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
        })
    }
}

/// `or` binds loosest, then `and`; single filters bind tightest.
fn filter_precedence(lf: &LabelFilter) -> u8 {
    match lf {
        LabelFilter::Or(..) => 1,
        LabelFilter::And(..) => 2,
        _ => 3,
    }
}

fn write_filter_operand(f: &mut Formatter<'_>, lf: &LabelFilter, parens: bool) -> fmt::Result {
    if parens {
        write!(f, "({lf})")
    } else {
        lf.fmt(f)
    }
}

impl Display for LabelFilter {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            LabelFilter::And(l, r) | LabelFilter::Or(l, r) => {
                let p = filter_precedence(self);
                // Both operators are left-associative.
                write_filter_operand(f, l, filter_precedence(l) < p)?;
                f.write_str(if p == 2 { " and " } else { " or " })?;
                write_filter_operand(f, r, filter_precedence(r) <= p)
            }
            LabelFilter::String(m) => m.fmt(f),
            LabelFilter::Number { name, op, value } => {
                write!(f, "{name}{op}{}", format_number(*value))
            }
            LabelFilter::Duration { name, op, value } => {
                write!(f, "{name}{op}{}", format_duration(*value))
            }
            LabelFilter::Bytes { name, op, value } => {
                write!(f, "{name}{op}{}", format_bytes(*value))
            }
            LabelFilter::Ip {
                name,
                negate,
                pattern,
            } => {
                let op = if *negate { "!=" } else { "=" };
                write!(f, "{name}{op}ip({})", quoted(pattern))
            }
        }
    }
}

impl Display for Unwrap {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.conv {
            UnwrapConv::None => write!(f, "| unwrap {}", self.label)?,
            UnwrapConv::Bytes => write!(f, "| unwrap bytes({})", self.label)?,
            UnwrapConv::Duration => write!(f, "| unwrap duration({})", self.label)?,
            UnwrapConv::DurationSeconds => write!(f, "| unwrap duration_seconds({})", self.label)?,
        }
        for pf in &self.post_filters {
            write!(f, " | {pf}")?;
        }
        Ok(())
    }
}

impl Display for LogRange {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.log.fmt(f)?;
        if let Some(u) = &self.unwrap {
            write!(f, " {u}")?;
        }
        write!(f, " [{}]", format_duration(self.range))?;
        if self.offset != 0 {
            write!(f, " offset {}", format_duration(self.offset))?;
        }
        Ok(())
    }
}

impl Display for Grouping {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(if self.without { "without (" } else { "by (" })?;
        f.write_str(&self.labels.join(", "))?;
        f.write_char(')')
    }
}

fn metric_precedence(m: &MetricExpr) -> u8 {
    match m {
        MetricExpr::Binary { op, .. } => crate::parser::binop_precedence(*op),
        _ => u8::MAX,
    }
}

/// Whether the operands of `op` need parentheses to parse back as written.
fn operand_parens(op: BinOp, lhs: &MetricExpr, rhs: &MetricExpr) -> (bool, bool) {
    let p = crate::parser::binop_precedence(op);
    let (lp, rp) = (metric_precedence(lhs), metric_precedence(rhs));
    if op == BinOp::Pow {
        (lp <= p, rp < p)
    } else {
        (lp < p, rp <= p)
    }
}

fn write_operator(out: &mut String, op: BinOp, modifier: &crate::ast::BinModifier) {
    out.push_str(op.symbol());
    if modifier.return_bool {
        out.push_str(" bool");
    }
    if let Some(vm) = &modifier.matching {
        out.push_str(if vm.on { " on (" } else { " ignoring (" });
        out.push_str(&vm.labels.join(", "));
        out.push(')');
        match &vm.group {
            None => {}
            Some(GroupSide::Left(extra)) | Some(GroupSide::Right(extra)) => {
                let left = matches!(vm.group, Some(GroupSide::Left(_)));
                out.push_str(if left { " group_left" } else { " group_right" });
                if !extra.is_empty() {
                    out.push_str(" (");
                    out.push_str(&extra.join(", "));
                    out.push(')');
                }
            }
        }
    }
}

impl Display for MetricExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            MetricExpr::RangeAgg {
                op,
                param,
                range,
                grouping,
            } => {
                write!(f, "{}(", op.name())?;
                if let Some(p) = param {
                    write!(f, "{}, ", format_number(*p))?;
                }
                write!(f, "{range})")?;
                if let Some(g) = grouping {
                    write!(f, " {g}")?;
                }
                Ok(())
            }
            MetricExpr::VectorAgg {
                op,
                param,
                grouping,
                expr,
            } => {
                f.write_str(op.name())?;
                if let Some(g) = grouping {
                    write!(f, " {g} ")?;
                }
                f.write_char('(')?;
                if let Some(p) = param {
                    write!(f, "{}, ", format_number(*p))?;
                }
                write!(f, "{expr})")
            }
            MetricExpr::Binary {
                op,
                lhs,
                rhs,
                modifier,
            } => {
                let (lparen, rparen) = operand_parens(*op, lhs, rhs);
                if lparen {
                    write!(f, "({lhs})")?;
                } else {
                    lhs.fmt(f)?;
                }
                let mut o = String::new();
                write_operator(&mut o, *op, modifier);
                write!(f, " {o} ")?;
                if rparen {
                    write!(f, "({rhs})")
                } else {
                    rhs.fmt(f)
                }
            }
            MetricExpr::Literal(v) => f.write_str(&format_number(*v)),
            MetricExpr::Vector(v) => write!(f, "vector({})", format_number(*v)),
            MetricExpr::LabelReplace {
                expr,
                dst,
                replacement,
                src,
                regex,
            } => write!(
                f,
                "label_replace({expr}, {}, {}, {}, {})",
                quoted(dst),
                quoted(replacement),
                quoted(src),
                quoted(regex)
            ),
            MetricExpr::Paren(inner) => write!(f, "({inner})"),
        }
    }
}

/// A readable layout for `/loki/api/v1/format_query`: short queries stay
/// on one line, long metric queries put each nested part on its own
/// indented line. The output parses to the same tree as `Display`'s.
pub fn pretty(expr: &Expr) -> String {
    match expr {
        Expr::Log(l) => l.to_string(),
        Expr::Metric(m) => {
            let mut out = String::new();
            pretty_metric(&mut out, m, 0);
            out
        }
        Expr::Variants(_) => expr.to_string(),
    }
}

fn indent(out: &mut String, level: usize) {
    for _ in 0..level {
        out.push_str("  ");
    }
}

/// Collects at most `room` bytes, then fails: measuring whether a subtree
/// fits on a line costs O(width), not O(subtree), at each level.
struct Bounded {
    buf: String,
    room: usize,
}

impl fmt::Write for Bounded {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.buf.len() + s.len() > self.room {
            return Err(fmt::Error);
        }
        self.buf.push_str(s);
        Ok(())
    }
}

/// The one-line form of `m` if it fits in `room` bytes.
fn one_line(m: &MetricExpr, room: usize) -> Option<String> {
    let mut w = Bounded {
        buf: String::new(),
        room,
    };
    write!(w, "{m}").ok().map(|_| w.buf)
}

fn pretty_metric(out: &mut String, m: &MetricExpr, level: usize) {
    if let Some(flat) = one_line(m, PRETTY_WIDTH.saturating_sub(level * 2)) {
        indent(out, level);
        out.push_str(&flat);
        return;
    }
    match m {
        MetricExpr::RangeAgg {
            op,
            param,
            range,
            grouping,
        } => {
            indent(out, level);
            out.push_str(op.name());
            out.push_str("(\n");
            if let Some(p) = param {
                indent(out, level + 1);
                out.push_str(&format_number(*p));
                out.push_str(",\n");
            }
            indent(out, level + 1);
            let _ = write!(out, "{range}");
            out.push('\n');
            indent(out, level);
            out.push(')');
            if let Some(g) = grouping {
                let _ = write!(out, " {g}");
            }
        }
        MetricExpr::VectorAgg {
            op,
            param,
            grouping,
            expr,
        } => {
            indent(out, level);
            out.push_str(op.name());
            if let Some(g) = grouping {
                let _ = write!(out, " {g} ");
            }
            out.push_str("(\n");
            if let Some(p) = param {
                indent(out, level + 1);
                out.push_str(&format_number(*p));
                out.push_str(",\n");
            }
            pretty_metric(out, expr, level + 1);
            out.push('\n');
            indent(out, level);
            out.push(')');
        }
        MetricExpr::Binary {
            op,
            lhs,
            rhs,
            modifier,
        } => {
            let (lparen, rparen) = operand_parens(*op, lhs, rhs);
            // Operands one level in, the operator on its own line.
            pretty_operand(out, lhs, lparen, level + 1);
            out.push('\n');
            indent(out, level);
            write_operator(out, *op, modifier);
            out.push('\n');
            pretty_operand(out, rhs, rparen, level + 1);
        }
        MetricExpr::LabelReplace {
            expr,
            dst,
            replacement,
            src,
            regex,
        } => {
            indent(out, level);
            out.push_str("label_replace(\n");
            pretty_metric(out, expr, level + 1);
            for s in [dst, replacement, src, regex] {
                out.push_str(",\n");
                indent(out, level + 1);
                quote_into(out, s);
            }
            out.push('\n');
            indent(out, level);
            out.push(')');
        }
        MetricExpr::Paren(inner) => pretty_operand(out, inner, true, level),
        MetricExpr::Literal(_) | MetricExpr::Vector(_) => {
            indent(out, level);
            let _ = write!(out, "{m}");
        }
    }
}

fn pretty_operand(out: &mut String, m: &MetricExpr, parens: bool, level: usize) {
    if !parens {
        pretty_metric(out, m, level);
        return;
    }
    indent(out, level);
    out.push_str("(\n");
    pretty_metric(out, m, level + 1);
    out.push('\n');
    indent(out, level);
    out.push(')');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse;

    fn canon(q: &str) -> String {
        parse(q).unwrap().to_string()
    }

    #[test]
    fn numbers() {
        assert_eq!(format_number(5.0), "5");
        assert_eq!(format_number(-0.5), "-0.5");
        assert_eq!(format_number(0.99), "0.99");
        assert_eq!(format_number(1e-7), "1e-7");
        assert_eq!(format_number(1.5e300), "1.5e300");
        assert_eq!(format_number(0.0), "0");
    }

    #[test]
    fn bytes_units() {
        assert_eq!(format_bytes(20e6), "20MB");
        assert_eq!(format_bytes(1536.0), "1536B");
        assert_eq!(format_bytes(2048.0), "2KiB");
        assert_eq!(format_bytes(190_000.0), "190KB");
        assert_eq!(format_bytes(100.0), "100B");
        assert_eq!(format_bytes(0.0), "0B");
    }

    #[test]
    fn canonical_log_queries() {
        assert_eq!(canon(r#"{app="a",b=~"x"}"#), r#"{app="a", b=~"x"}"#);
        assert_eq!(
            canon(r#"{app="a"} |= "x" or `y` != ip("1.2.3.4") | json a="b.c", d"#),
            r#"{app="a"} |= "x" or "y" != ip("1.2.3.4") | json a="b.c", d"#
        );
        assert_eq!(
            canon(r#"{app="a"} | logfmt --strict | x > 5 and y = 300ms or z < 1.5KiB"#),
            r#"{app="a"} | logfmt --strict | x>5 and y==300ms or z<1536B"#
        );
        assert_eq!(
            canon(r#"{app="a"} | x="1", y="2" or z="3""#),
            r#"{app="a"} | x="1" and (y="2" or z="3")"#
        );
        assert_eq!(
            canon(r#"{app="a"} | label_format a=b, c="{{.d}}" | drop x, y="z" | decolorize"#),
            r#"{app="a"} | label_format a=b, c="{{.d}}" | drop x, y="z" | decolorize"#
        );
    }

    #[test]
    fn canonical_metric_queries() {
        assert_eq!(
            canon(r#"count_over_time({a="b"}[5m] |= "x")"#),
            r#"count_over_time({a="b"} |= "x" [5m])"#
        );
        assert_eq!(
            canon(r#"sum(rate({a="b"}[90s] offset 1h)) by (x)"#),
            r#"sum by (x) (rate({a="b"} [1m30s] offset 1h))"#
        );
        assert_eq!(
            canon(
                r#"quantile_over_time(0.99,{a="b"}|json|unwrap duration(d)|__error__=""[5m]) by (m)"#
            ),
            r#"quantile_over_time(0.99, {a="b"} | json | unwrap duration(d) | __error__="" [5m]) by (m)"#
        );
        assert_eq!(canon("1 + 2 * 3"), "1 + 2 * 3");
        assert_eq!(canon("(1 + 2) * 3"), "(1 + 2) * 3");
        assert_eq!(
            canon(
                r#"sum(rate({a="b"}[1m])) / on(x) group_left(y) sum(rate({a="b"}[1m])) > bool 0"#
            ),
            r#"sum(rate({a="b"} [1m])) / on (x) group_left (y) sum(rate({a="b"} [1m])) > bool 0"#
        );
        assert_eq!(canon("topk(3, vector(1))"), "topk(3, vector(1))");
        assert_eq!(canon("sum by () (vector(1))"), "sum by () (vector(1))");
    }

    #[test]
    fn parens_added_for_hand_built_trees() {
        let one = || Box::new(MetricExpr::Literal(1.0));
        let add = MetricExpr::Binary {
            op: BinOp::Add,
            lhs: one(),
            rhs: one(),
            modifier: Default::default(),
        };
        let mul = MetricExpr::Binary {
            op: BinOp::Mul,
            lhs: Box::new(add.clone()),
            rhs: Box::new(add),
            modifier: Default::default(),
        };
        assert_eq!(mul.to_string(), "(1 + 1) * (1 + 1)");
        let nested_and = LabelFilter::And(
            Box::new(LabelFilter::Number {
                name: "a".into(),
                op: CmpOp::Gt,
                value: 1.0,
            }),
            Box::new(LabelFilter::And(
                Box::new(LabelFilter::Number {
                    name: "b".into(),
                    op: CmpOp::Gt,
                    value: 1.0,
                }),
                Box::new(LabelFilter::Number {
                    name: "c".into(),
                    op: CmpOp::Gt,
                    value: 1.0,
                }),
            )),
        );
        assert_eq!(nested_and.to_string(), "a>1 and (b>1 and c>1)");
    }

    #[test]
    fn pretty_layout() {
        let q = r#"sum by (app) (rate({namespace="monitoring", app="some-long-application-name"} |= "error" [5m])) / sum by (app) (rate({namespace="monitoring"}[5m]))"#;
        let e = parse(q).unwrap();
        let p = pretty(&e);
        assert_eq!(
            p,
            "  sum by (app) (rate({namespace=\"monitoring\", app=\"some-long-application-name\"} |= \"error\" [5m]))\n\
             /\n\
             \x20 sum by (app) (rate({namespace=\"monitoring\"} [5m]))"
        );
        assert_eq!(parse(&p).unwrap(), e);
        let nested = format!("sum by (app) ({})", q.replace(" / ", " /\n "));
        let e = parse(&nested).unwrap();
        let p = pretty(&e);
        assert!(p.starts_with("sum by (app) (\n    sum by (app)"), "{p}");
        assert_eq!(parse(&p).unwrap(), e);
        assert_eq!(pretty(&parse("1 + 1").unwrap()), "1 + 1");
        let short = parse(r#"{a="b"} |= "x""#).unwrap();
        assert_eq!(pretty(&short), r#"{a="b"} |= "x""#);
    }
}
