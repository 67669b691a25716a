//! Parser behaviour on real queries: tree shapes, precedence, Loki's
//! checks and error texts, hostile input.

use super::{parse, MAX_DEPTH};
use crate::ast::*;
use crate::error::Error;

fn log(q: &str) -> LogExpr {
    match parse(q) {
        Ok(Expr::Log(l)) => l,
        other => panic!("{q}: {other:?}"),
    }
}

fn metric(q: &str) -> MetricExpr {
    match parse(q) {
        Ok(Expr::Metric(m)) => m,
        other => panic!("{q}: {other:?}"),
    }
}

fn err(q: &str) -> String {
    match parse(q) {
        Err(e) => e.to_string(),
        Ok(e) => panic!("{q} parsed: {e:?}"),
    }
}

fn m(name: &str, op: MatchOp, value: &str) -> Matcher {
    Matcher {
        name: name.into(),
        op,
        value: value.into(),
    }
}

fn num(name: &str, op: CmpOp, value: f64) -> LabelFilter {
    LabelFilter::Number {
        name: name.into(),
        op,
        value,
    }
}

fn s(name: &str, value: &str) -> LabelFilter {
    LabelFilter::String(m(name, MatchOp::Eq, value))
}

fn and(a: LabelFilter, b: LabelFilter) -> LabelFilter {
    LabelFilter::And(Box::new(a), Box::new(b))
}

fn or(a: LabelFilter, b: LabelFilter) -> LabelFilter {
    LabelFilter::Or(Box::new(a), Box::new(b))
}

fn only_filter(q: &str) -> LabelFilter {
    match log(q).pipeline.as_slice() {
        [Stage::LabelFilter(f)] => f.clone(),
        other => panic!("{q}: {other:?}"),
    }
}

const MIN: i64 = 60_000_000_000;

#[test]
fn selectors() {
    let l = log(r#"{namespace="media", app!="x", job=~".+", pod!~"a|b"}"#);
    assert_eq!(
        l.selector,
        vec![
            m("namespace", MatchOp::Eq, "media"),
            m("app", MatchOp::Neq, "x"),
            m("job", MatchOp::Re, ".+"),
            m("pod", MatchOp::Nre, "a|b"),
        ]
    );
    assert!(l.pipeline.is_empty());
    // Parentheses around a log query vanish, as in Loki.
    assert_eq!(
        log(r#"({app="a"})"#).selector,
        vec![m("app", MatchOp::Eq, "a")]
    );
    // Keywords are case-insensitive, comments are skipped.
    assert!(matches!(
        metric("SUM BY (a) (COUNT_OVER_TIME({a=\"b\"}[1m])) # total\n"),
        MetricExpr::VectorAgg {
            op: VectorOp::Sum,
            ..
        }
    ));
}

#[test]
fn empty_compatible_selectors_are_rejected() {
    let msg = "parse error : queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will";
    for q in [
        "{}",
        r#"{app!="x"}"#,
        r#"{app=~".*"}"#,
        r#"{app=""}"#,
        r#"{app!~".+"}"#,
        r#"count_over_time({app=~".*"}[5m])"#,
    ] {
        assert_eq!(err(q), msg, "{q}");
    }
    for q in [r#"{app!=""}"#, r#"{app=~".+", b=~".*"}"#, r#"{app!~".*"}"#] {
        log(q);
    }
}

#[test]
fn line_filters() {
    let l = log(
        r#"{a="b"} |= "x" != "y" |~ `\d+` !~ "z" |> "<_> foo" !> "bar" |= "p" or "q" or ip("10.0.0.0/8")"#,
    );
    let ops: Vec<_> = l
        .pipeline
        .iter()
        .map(|s| match s {
            Stage::LineFilter(f) => f.op,
            other => panic!("{other:?}"),
        })
        .collect();
    use LineFilterOp::*;
    assert_eq!(
        ops,
        vec![
            Contains,
            NotContains,
            Match,
            NotMatch,
            Pattern,
            NotPattern,
            Contains
        ]
    );
    assert_eq!(
        l.pipeline[6],
        Stage::LineFilter(LineFilter {
            op: Contains,
            values: vec![
                LineFilterValue::Str("p".into()),
                LineFilterValue::Str("q".into()),
                LineFilterValue::Ip("10.0.0.0/8".into()),
            ],
        })
    );
    assert_eq!(
        log(r#"{a="b"} |= "\u001b[0;35m" |= "\x41\101""#).pipeline[0],
        Stage::LineFilter(LineFilter {
            op: Contains,
            values: vec![LineFilterValue::Str("\u{1b}[0;35m".into())]
        })
    );
}

#[test]
fn parsers() {
    let l = log(
        r#"{a="b"} | json | json x="a.b", y | logfmt --strict --keep-empty k="v", w | regexp "(?P<x>.)" | pattern "<x> <_>" | unpack"#,
    );
    assert_eq!(
        l.pipeline,
        vec![
            Stage::Parser(Parser::Json { params: vec![] }),
            Stage::Parser(Parser::Json {
                params: vec![("x".into(), "a.b".into()), ("y".into(), "y".into())]
            }),
            Stage::Parser(Parser::Logfmt {
                strict: true,
                keep_empty: true,
                params: vec![("k".into(), "v".into()), ("w".into(), "w".into())]
            }),
            Stage::Parser(Parser::Regexp("(?P<x>.)".into())),
            Stage::Parser(Parser::Pattern("<x> <_>".into())),
            Stage::Parser(Parser::Unpack),
        ]
    );
    assert_eq!(
        log(r#"{a="b"} | logfmt --keep-empty"#).pipeline,
        vec![Stage::Parser(Parser::Logfmt {
            strict: false,
            keep_empty: true,
            params: vec![]
        })]
    );
}

#[test]
fn label_filter_values() {
    assert_eq!(
        only_filter(r#"{a="b"} | status >= 500"#),
        num("status", CmpOp::Ge, 500.0)
    );
    assert_eq!(
        only_filter(r#"{a="b"} | x == -1.5e3"#),
        num("x", CmpOp::Eq, -1500.0)
    );
    assert_eq!(only_filter(r#"{a="b"} | x = 2"#), num("x", CmpOp::Eq, 2.0));
    assert_eq!(
        only_filter(r#"{a="b"} | x != 2"#),
        num("x", CmpOp::Neq, 2.0)
    );
    assert_eq!(
        only_filter(r#"{a="b"} | d > 1m30s"#),
        LabelFilter::Duration {
            name: "d".into(),
            op: CmpOp::Gt,
            value: 90_000_000_000
        }
    );
    assert_eq!(
        only_filter(r#"{a="b"} | d <= 300ms"#),
        LabelFilter::Duration {
            name: "d".into(),
            op: CmpOp::Le,
            value: 300_000_000
        }
    );
    assert_eq!(
        only_filter(r#"{a="b"} | d < 1.5h"#),
        LabelFilter::Duration {
            name: "d".into(),
            op: CmpOp::Lt,
            value: 90 * MIN
        }
    );
    assert_eq!(
        only_filter(r#"{a="b"} | size > 20MB"#),
        LabelFilter::Bytes {
            name: "size".into(),
            op: CmpOp::Gt,
            value: 20e6
        }
    );
    assert_eq!(
        only_filter(r#"{a="b"} | size < 1.5KiB"#),
        LabelFilter::Bytes {
            name: "size".into(),
            op: CmpOp::Lt,
            value: 1536.0
        }
    );
    assert_eq!(
        only_filter(r#"{a="b"} | ip = ip("10.42.1.0/24")"#),
        LabelFilter::Ip {
            name: "ip".into(),
            negate: false,
            pattern: "10.42.1.0/24".into()
        }
    );
    assert_eq!(
        only_filter(r#"{a="b"} | addr != ip("::1")"#),
        LabelFilter::Ip {
            name: "addr".into(),
            negate: true,
            pattern: "::1".into()
        }
    );
    assert_eq!(
        only_filter(r#"{a="b"} | x =~ "a.*""#),
        LabelFilter::String(m("x", MatchOp::Re, "a.*"))
    );
    // Words that are functions only before `(` are label names.
    assert_eq!(
        only_filter(r#"{a="b"} | bytes > 99KB"#).to_string(),
        "bytes>99KB"
    );
    assert_eq!(
        only_filter(r#"{a="b"} | duration > 25s"#).to_string(),
        "duration>25s"
    );
}

#[test]
fn label_filter_precedence() {
    let (a, b, c, d) = (s("a", "1"), s("b", "2"), s("c", "3"), s("d", "4"));
    assert_eq!(
        only_filter(r#"{x="y"} | a="1" or b="2" and c="3""#),
        or(a.clone(), and(b.clone(), c.clone()))
    );
    assert_eq!(
        only_filter(r#"{x="y"} | a="1" and b="2" or c="3""#),
        or(and(a.clone(), b.clone()), c.clone())
    );
    assert_eq!(
        only_filter(r#"{x="y"} | (a="1" or b="2") and c="3""#),
        and(or(a.clone(), b.clone()), c.clone())
    );
    // A comma or plain juxtaposition joins with everything to its right.
    assert_eq!(
        only_filter(r#"{x="y"} | a="1", b="2" or c="3""#),
        and(a.clone(), or(b.clone(), c.clone()))
    );
    assert_eq!(
        only_filter(r#"{x="y"} | a="1" b="2" or c="3""#),
        and(a.clone(), or(b.clone(), c.clone()))
    );
    assert_eq!(
        only_filter(r#"{x="y"} | a="1" or b="2", c="3" or d="4""#),
        or(a.clone(), and(b.clone(), or(c.clone(), d.clone())))
    );
    assert_eq!(
        only_filter(r#"{x="y"} | a="1" and b="2" and c="3""#),
        and(and(a.clone(), b.clone()), c.clone())
    );
    // Each `|` is a stage of its own.
    assert_eq!(log(r#"{x="y"} | a="1" | b="2""#).pipeline.len(), 2);
}

#[test]
fn formatting_stages() {
    let l = log(
        r#"{a="b"} | line_format "{{.x}}" | label_format a=b, c="{{.d}}" | drop x, y="z", w=~"v.*" | keep k | decolorize"#,
    );
    assert_eq!(
        l.pipeline,
        vec![
            Stage::LineFormat("{{.x}}".into()),
            Stage::LabelFormat(vec![
                LabelFmt::Rename {
                    dst: "a".into(),
                    src: "b".into()
                },
                LabelFmt::Template {
                    dst: "c".into(),
                    template: "{{.d}}".into()
                },
            ]),
            Stage::Drop(vec![
                LabelSelectorItem::Name("x".into()),
                LabelSelectorItem::Matcher(m("y", MatchOp::Eq, "z")),
                LabelSelectorItem::Matcher(m("w", MatchOp::Re, "v.*")),
            ]),
            Stage::Keep(vec![LabelSelectorItem::Name("k".into())]),
            Stage::Decolorize,
        ]
    );
}

fn range_of(q: &str) -> (RangeOp, LogRange, Option<Grouping>, Option<f64>) {
    match metric(q) {
        MetricExpr::RangeAgg {
            op,
            range,
            grouping,
            param,
        } => (op, range, grouping, param),
        other => panic!("{q}: {other:?}"),
    }
}

#[test]
fn range_aggregations() {
    let (op, r, g, p) = range_of(r#"rate({a="b"} |= "x" [5m])"#);
    assert_eq!(
        (op, r.range, r.offset, g, p),
        (RangeOp::Rate, 5 * MIN, 0, None, None)
    );
    assert_eq!(r.log.pipeline.len(), 1);
    // The range may come right after the selector, before the pipeline.
    let (_, r2, _, _) = range_of(r#"rate({a="b"}[5m] |= "x")"#);
    assert_eq!(r, r2);
    let (_, r3, _, _) = range_of(r#"rate(({a="b"} |= "x")[5m])"#);
    assert_eq!(r, r3);
    let (_, r4, _, _) = range_of(r#"rate(({a="b"} |= "x" [5m]))"#);
    assert_eq!(r, r4);
    let (_, r, _, _) = range_of(r#"count_over_time({a="b"}[1h] offset 30m)"#);
    assert_eq!((r.range, r.offset), (60 * MIN, 30 * MIN));
    let (_, r, _, _) = range_of(r#"count_over_time({a="b"}[1h] offset -5m)"#);
    assert_eq!(r.offset, -5 * MIN);
    let (op, r, g, p) = range_of(
        r#"quantile_over_time(0.99, {a="b"} | json | unwrap duration(d) | __error__="" [15m]) by (m)"#,
    );
    assert_eq!(op, RangeOp::QuantileOverTime);
    assert_eq!(p, Some(0.99));
    assert_eq!(
        g,
        Some(Grouping {
            without: false,
            labels: vec!["m".into()]
        })
    );
    assert_eq!(
        r.unwrap,
        Some(Unwrap {
            label: "d".into(),
            conv: UnwrapConv::Duration,
            post_filters: vec![s("__error__", "")],
        })
    );
    for (q, conv) in [
        ("unwrap x", UnwrapConv::None),
        ("unwrap bytes(x)", UnwrapConv::Bytes),
        ("unwrap duration_seconds(x)", UnwrapConv::DurationSeconds),
        ("unwrap bytes", UnwrapConv::None),
    ] {
        let (_, r, _, _) = range_of(&format!(r#"sum_over_time({{a="b"}} | logfmt | {q} [1m])"#));
        assert_eq!(r.unwrap.unwrap().conv, conv, "{q}");
    }
    let (_, r, _, _) = range_of(r#"avg_over_time({a="b"} | unwrap x [1m]) without (y)"#);
    assert!(r.log.pipeline.is_empty());
    let (_, r, _, _) = range_of(r#"avg_over_time({a="b"} [1m] | unwrap x)"#);
    assert_eq!(r.unwrap.unwrap().label, "x");
}

#[test]
fn range_aggregation_rules() {
    assert_eq!(
        err(r#"sum_over_time({a="b"}[5m])"#),
        "parse error : invalid aggregation sum_over_time without unwrap"
    );
    assert_eq!(
        err(r#"count_over_time({a="b"} | unwrap x [5m])"#),
        "parse error : invalid aggregation count_over_time with unwrap"
    );
    assert_eq!(
        err(r#"rate({a="b"}[5m]) by (x)"#),
        "parse error : grouping not allowed for rate aggregation"
    );
    assert_eq!(
        err(r#"sum_over_time({a="b"} | unwrap x [5m]) by (x)"#),
        "parse error : grouping not allowed for sum_over_time aggregation"
    );
    assert_eq!(
        err(r#"quantile_over_time({a="b"} | unwrap x [5m])"#),
        "parse error : parameter required for operation quantile_over_time"
    );
    assert_eq!(
        err(r#"rate(1, {a="b"}[5m])"#),
        "parse error : parameter 1 not supported for operation rate"
    );
    // rate and absent_over_time take an unwrap; the others need one.
    range_of(r#"rate({a="b"} | unwrap x [5m])"#);
    range_of(r#"absent_over_time({a="b"} | unwrap x [5m])"#);
    range_of(r#"rate_counter({a="b"} | unwrap x [5m])"#);
    assert!(err(r#"rate_counter({a="b"}[5m])"#).contains("without unwrap"));
}

#[test]
fn vector_aggregations() {
    let agg = |q: &str| match metric(q) {
        MetricExpr::VectorAgg {
            op,
            param,
            grouping,
            ..
        } => (op, param, grouping),
        other => panic!("{other:?}"),
    };
    let by = |l: &[&str]| {
        Some(Grouping {
            without: false,
            labels: l.iter().map(|s| s.to_string()).collect(),
        })
    };
    let inner = r#"count_over_time({a="b"}[1m])"#;
    assert_eq!(
        agg(&format!("sum by (x, y) ({inner})")),
        (VectorOp::Sum, None, by(&["x", "y"]))
    );
    assert_eq!(
        agg(&format!("sum({inner}) by (x)")),
        (VectorOp::Sum, None, by(&["x"]))
    );
    assert_eq!(
        agg(&format!("sum by () ({inner})")),
        (VectorOp::Sum, None, by(&[]))
    );
    assert_eq!(agg(&format!("sum({inner})")), (VectorOp::Sum, None, None));
    assert_eq!(
        agg(&format!("avg without (x) ({inner})")).2,
        Some(Grouping {
            without: true,
            labels: vec!["x".into()]
        })
    );
    assert_eq!(
        agg(&format!("topk(3, {inner})")),
        (VectorOp::Topk, Some(3.0), None)
    );
    assert_eq!(
        agg(&format!("approx_topk(3, {inner})")),
        (VectorOp::ApproxTopk, Some(3.0), None)
    );
    // Loki checks k before it refuses a grouping on approx_topk.
    for q in [
        format!("approx_topk by (x) (3, {inner})"),
        format!("approx_topk(3, {inner}) by (x)"),
    ] {
        let e = parse(&q).unwrap_err().to_string();
        assert!(
            e.contains("grouping not allowed for approx_topk aggregation"),
            "{q}: {e}"
        );
    }
    let e = parse(&format!("approx_topk by (x) (0, {inner})"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("must be greater than 0"), "{e}");
    assert_eq!(
        agg(&format!("bottomk by (x) (2, {inner})")),
        (VectorOp::Bottomk, Some(2.0), by(&["x"]))
    );
    assert_eq!(agg(&format!("sort_desc({inner})")).0, VectorOp::SortDesc);
    for op in ["min", "max", "count", "stddev", "stdvar", "sort"] {
        agg(&format!("{op}({inner})"));
    }
    assert_eq!(
        err(&format!("topk({inner})")),
        "parse error : parameter required for operation topk"
    );
    assert_eq!(
        err(&format!("topk(1.5, {inner})")),
        "parse error : invalid parameter topk(1.5,"
    );
    assert_eq!(
        err(&format!("topk(0, {inner})")),
        "parse error : invalid parameter (must be greater than 0) topk(0"
    );
    assert_eq!(
        err(&format!("sum(2, {inner})")),
        "parse error : unsupported parameter for operation sum(2,"
    );
    assert_eq!(
        err(r#"sum by (app) ({app="x"})"#),
        // Loki stops at the `)` right after the log query.
        "parse error at line 1, col 24: syntax error: unexpected )"
    );
    assert!(err(r#"sum({app="x"})"#).contains("unexpected )"));
}

#[test]
fn binary_precedence() {
    let bin = |e: &MetricExpr| match e {
        MetricExpr::Binary { op, lhs, rhs, .. } => (*op, (**lhs).clone(), (**rhs).clone()),
        other => panic!("{other:?}"),
    };
    let lit = MetricExpr::Literal;
    // 1 + (2 * 3)
    let (op, l, r) = bin(&metric("1 + 2 * 3"));
    assert_eq!((op, l), (BinOp::Add, lit(1.0)));
    assert_eq!(bin(&r).0, BinOp::Mul);
    // (1 - 2) - 3: left-associative
    let (op, l, r) = bin(&metric("1 - 2 - 3"));
    assert_eq!((op, bin(&l).0, r), (BinOp::Sub, BinOp::Sub, lit(3.0)));
    // 2 ^ (3 ^ 2): right-associative
    let (op, l, r) = bin(&metric("2 ^ 3 ^ 2"));
    assert_eq!((op, l, bin(&r).0), (BinOp::Pow, lit(2.0), BinOp::Pow));
    // comparisons below arithmetic, and/unless below comparisons, or lowest
    let v = r#"count_over_time({a="b"}[1m])"#;
    let (op, _, r) = bin(&metric(&format!("{v} > 1 + 1")));
    assert_eq!((op, bin(&r).0), (BinOp::Gt, BinOp::Add));
    let (op, l, r) = bin(&metric(&format!("{v} or {v} and {v} > 1")));
    assert_eq!(op, BinOp::Or);
    assert!(matches!(l, MetricExpr::RangeAgg { .. }));
    let (op, _, r2) = bin(&r);
    assert_eq!((op, bin(&r2).0), (BinOp::And, BinOp::Gt));
    let (op, l, _) = bin(&metric(&format!("{v} unless {v} or {v}")));
    assert_eq!((op, bin(&l).0), (BinOp::Or, BinOp::Unless));
    // parentheses are kept
    let (op, l, _) = bin(&metric("(1 + 2) * 3"));
    assert_eq!(op, BinOp::Mul);
    assert!(matches!(l, MetricExpr::Paren(_)));
    // negative literals and scientific notation
    assert_eq!(bin(&metric("1 - -2.5e1")).2, lit(-25.0));
    assert_eq!(metric("-1"), lit(-1.0));
    assert_eq!(metric("vector(1)"), MetricExpr::Vector(1.0));
}

#[test]
fn binary_modifiers() {
    let v = r#"sum by (a) (count_over_time({a="b"}[1m]))"#;
    let modifier = |q: &str| match metric(q) {
        MetricExpr::Binary { modifier, .. } => modifier,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        modifier(&format!("{v} > bool 5")),
        BinModifier {
            return_bool: true,
            matching: None
        }
    );
    assert_eq!(
        modifier(&format!("{v} / on (a) group_left (b, c) {v}")).matching,
        Some(VectorMatching {
            on: true,
            labels: vec!["a".into()],
            group: Some(GroupSide::Left(vec!["b".into(), "c".into()])),
        })
    );
    assert_eq!(
        modifier(&format!("{v} * ignoring () group_right {v}")).matching,
        Some(VectorMatching {
            on: false,
            labels: vec![],
            group: Some(GroupSide::Right(vec![]))
        })
    );
    // A parenthesised right-hand side after group_left is not a label list.
    let m = modifier(&format!("{v} / on (a) group_left ({v})"));
    assert_eq!(m.matching.unwrap().group, Some(GroupSide::Left(vec![])));
    assert_eq!(
        modifier(&format!("{v} == bool on (a) {v}")),
        BinModifier {
            return_bool: true,
            matching: Some(VectorMatching {
                on: true,
                labels: vec!["a".into()],
                group: None
            }),
        }
    );
}

#[test]
fn binary_checks() {
    let v = r#"count_over_time({a="b"}[1m])"#;
    assert_eq!(
        err(&format!("{v} or 1")),
        "parse error : unexpected literal for right leg of logical/set binary operation (or): 1.000000"
    );
    assert!(err(&format!("(1) and {v}")).contains("left leg of logical/set binary operation (and)"));
    assert!(err(r#"{a="b"} + 1"#).contains("left leg of binary operation (+)"));
    assert!(err(r#"1 + {a="b"}"#).contains("right leg of binary operation (+)"));
}

#[test]
fn label_replace() {
    match metric(r#"label_replace(vector(1), "dst", "$1", "src", "(.*)")"#) {
        MetricExpr::LabelReplace {
            dst,
            replacement,
            src,
            regex,
            ..
        } => {
            assert_eq!((dst.as_str(), replacement.as_str()), ("dst", "$1"));
            assert_eq!((src.as_str(), regex.as_str()), ("src", "(.*)"));
        }
        other => panic!("{other:?}"),
    }
    assert!(err(r#"label_replace(vector(1), "d", "", "s", "(")"#)
        .starts_with("parse error : invalid regex in label_replace: error parsing regexp"));
    assert!(err(r#"label_replace(vector(1), "1d", "", "s", "x")"#).contains("destination label"));
}

#[test]
fn syntax_errors_have_loki_positions() {
    assert_eq!(
        err(r#"{app="traefik""#),
        "parse error at line 1, col 15: syntax error: unexpected $end, expecting } or ,"
    );
    assert_eq!(
        err(r#"{app="traefik"} |= "#),
        "parse error at line 1, col 20: syntax error: unexpected $end, expecting STRING or ip"
    );
    assert_eq!(
        err(r#"foo_over_time({app="traefik"}[5m])"#),
        "parse error at line 1, col 1: syntax error: unexpected IDENTIFIER"
    );
    assert_eq!(
        err(r#"{app="traefik"} | json | 1abc="x""#),
        "parse error at line 1, col 26: syntax error: unexpected NUMBER"
    );
    assert_eq!(
        err("sum(rate({app=\"x\"}\n | logfmt | unwrap [5m]))"),
        "parse error at line 2, col 20: syntax error: unexpected RANGE, expecting IDENTIFIER or BYTES_CONV or DURATION_CONV or DURATION_SECONDS_CONV"
    );
    assert!(err(r#"rate({a="b"}[5x])"#).contains("not a valid duration string"));
    assert!(err(r#"{a="b"} | json | unwrap x"#).contains("syntax error"));
    assert!(err(r#"count_over_time({a="b"})"#).contains("expecting RANGE"));
    assert!(err(r#"count_over_time({a="b"} |= "x" [5m] | json)"#).contains("syntax error"));
    assert!(err(r#"{a="b"} | x == "y""#).contains("unexpected STRING"));
    assert!(err(r#"{a="b"} | x > "y""#).contains("unexpected STRING"));
    assert!(err(r#"{a="b"} | x =~ 5"#).contains("expecting STRING"));
    assert!(err(r#"{a="b"} | json | x > 1 |"#).contains("unexpected $end"));
    assert!(err(r#"{a="b",}"#).contains("syntax error"));
    assert!(err("rate").contains("unexpected IDENTIFIER"));
    assert!(err("").contains("unexpected $end"));
    assert!(err(r#"{a="b"} {c="d"}"#).contains("unexpected {"));
    assert!(err(r#"{a="b"} | logfmt --bogus"#).contains("syntax error"));
}

#[test]
fn invalid_regexes() {
    assert_eq!(
        err(r#"{app="traefik"} |~ "(unclosed""#),
        "parse error : stage '|~ \"(unclosed\"' : error parsing regexp: missing closing ): `(unclosed`"
    );
    assert!(err(r#"{app=~"("}"#).starts_with("parse error : error parsing regexp"));
    assert!(err(r#"{a="b"} | x=~"[""#).contains("missing closing ]"));
    assert!(err(r#"{a="b"} | regexp "(""#).contains("stage '| regexp"));
    assert!(err(r#"{a="b"} | drop x=~"*""#).contains("missing argument"));
    assert_eq!(
        err(r#"{a="b"} | regexp "(a)""#),
        "parse error : stage '| regexp \"(a)\"' : at least one named capture must be supplied"
    );
    // Go syntax the regex crate spells differently still parses.
    log(r#"{a="b"} |~ `(?P<x>\d+)\Q.*\E{x}` | regexp `(?<y>[[:alpha:]]+)`"#);
}

#[test]
fn invalid_stages() {
    assert!(err(r#"{a="b"} |~ ip("1.2.3.4")"#).contains("ip filter"));
    assert!(err(r#"{a="b"} | label_format x=y, x="z""#).contains("multiple label name 'x'"));
    assert!(
        err(r#"{a="b"} | line_format "{{.foo""#).starts_with("parse error : stage '| line_format")
    );
    assert!(err(r#"{a="b"} | label_format x="{{.foo""#).starts_with("parse error : stage"));
    assert!(err(r#"{a="b"} | and="x""#).contains("syntax error"));
}

#[test]
fn strings_and_numbers() {
    assert!(err("\"abc").contains("literal not terminated"));
    assert!(err(r#"{a="\q"}"#).contains("invalid syntax"));
    assert!(err("1e999").contains("unable to parse literal as a float"));
    assert_eq!(metric(".5"), MetricExpr::Literal(0.5));
    assert_eq!(metric("1.5e-3"), MetricExpr::Literal(0.0015));
    assert_eq!(log("{a=`x\\y`}").selector[0].value, "x\\y");
}

#[test]
fn nesting_is_capped() {
    let deep = format!(
        "{}1{}",
        "(".repeat(MAX_DEPTH + 5),
        ")".repeat(MAX_DEPTH + 5)
    );
    assert!(err(&deep).contains("nested deeper"));
    let ok = format!(
        "{}1{}",
        "(".repeat(MAX_DEPTH - 2),
        ")".repeat(MAX_DEPTH - 2)
    );
    metric(&ok);
    let sums = format!(
        "{}vector(1){}",
        "sum(".repeat(MAX_DEPTH + 1),
        ")".repeat(MAX_DEPTH + 1)
    );
    assert!(err(&sums).contains("nested deeper"));
    let chain = vec!["1"; 10_000].join(" + ");
    assert!(err(&chain).contains("nested deeper"));
    let pow = vec!["2"; 10_000].join(" ^ ");
    assert!(err(&pow).contains("nested deeper"));
    let filters = format!(r#"{{a="b"}} | {}"#, vec![r#"x="1""#; 10_000].join(" and "));
    assert!(err(&filters).contains("nested deeper"));
    let commas = format!(r#"{{a="b"}} | {}"#, vec![r#"x="1""#; 10_000].join(", "));
    assert!(err(&commas).contains("nested deeper"));
    let lf = format!(
        r#"{{a="b"}} | {}x="1"{}"#,
        "(".repeat(10_000),
        ")".repeat(10_000)
    );
    assert!(err(&lf).contains("nested deeper"));
    // Long flat pipelines are fine.
    let stages = format!(r#"{{a="b"}}{}"#, r#" |= "x""#.repeat(10_000));
    assert_eq!(log(&stages).pipeline.len(), 10_000);
}

/// The deepest accepted query parses, prints and drops on a default-sized
/// (2 MiB) thread stack.
#[test]
fn deepest_query_fits_a_small_stack() {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let n = MAX_DEPTH - 1;
            let q = format!(
                "{}count_over_time({{a=\"b\"}}[1m]){}",
                "sum(".repeat(n),
                ")".repeat(n)
            );
            let e = parse(&q).unwrap();
            assert_eq!(parse(&e.to_string()).unwrap(), e);
            let q = format!("{}1{}", "(".repeat(n), ")".repeat(n));
            parse(&q).unwrap();
            let q = format!(r#"{{a="b"}} | {}x="1"{}"#, "(".repeat(n), ")".repeat(n));
            parse(&q).unwrap();
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn hostile_inputs_do_not_panic() {
    for q in [
        "{",
        "}",
        "(",
        ")",
        "[",
        "]",
        "|",
        "\"",
        "`",
        "#",
        "-",
        "--",
        "--strict",
        "{a",
        "{a=",
        "{a=\"",
        "sum by",
        "sum by (",
        "topk(",
        "rate(",
        "rate({a=\"b\"}",
        "rate({a=\"b\"}[",
        "1 +",
        "1 + bool",
        "1 + on(",
        "1 + on(a) group_left(",
        "vector(",
        "label_replace(",
        "{a=\"b\"} |",
        "{a=\"b\"} | json a=",
        "{a=\"b\"} | unwrap",
        "\u{0}",
        "é",
        "{é=\"x\"}",
        "{a=\"b\"} |= \"\\xff\"",
        "[5m]",
        "offset 5m",
        "{a=\"b\"} offset 5m",
        "1 offset 5m",
        "{a=\"b\"} | x > 5m5",
        "{a=\"b\"} | x > -",
        "quantile_over_time(1,",
    ] {
        let _ = parse(q);
    }
}

#[test]
fn error_variants() {
    assert!(matches!(parse("{"), Err(Error::Parse { .. })));
    assert!(matches!(parse("{}"), Err(Error::Invalid(_))));
}
