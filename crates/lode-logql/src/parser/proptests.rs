//! Property tests: random syntax trees print to LogQL that parses back to
//! the same tree (plain and pretty layouts), and no input makes the parser
//! panic.
//!
//! The generator builds trees the parser can produce: user parentheses are
//! `Paren` nodes where precedence needs them, selectors have a matcher that
//! rejects the empty value, regexes are valid, the range-aggregation rules
//! hold.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::Union;

use super::lexer::KEYWORDS;
use super::parse;
use crate::ast::*;
use crate::print::pretty;

fn label() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,5}".prop_filter("keyword", |s| !KEYWORDS.contains(&s.as_str()))
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9 ]{0,6}",
        "\\PC{0,6}",
        "[\"\\\\\\n\\t\\x00-\\x1f{}]{0,4}",
    ]
}

/// A regex that compiles: an escaped literal, optionally with `.*`.
fn regex() -> impl Strategy<Value = String> {
    (text(), any::<bool>()).prop_map(|(t, wild)| {
        let lit = regex_syntax::escape(&t);
        if wild {
            format!("{lit}.*")
        } else {
            lit
        }
    })
}

fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![
        (-1000i32..1000).prop_map(f64::from),
        any::<f64>().prop_filter("finite", |v| v.is_finite()),
        (0u32..1000).prop_map(|v| f64::from(v) / 100.0),
    ]
}

fn matcher() -> impl Strategy<Value = Matcher> {
    prop_oneof![
        (label(), text()).prop_map(|(name, value)| Matcher {
            name,
            op: MatchOp::Eq,
            value
        }),
        (label(), text()).prop_map(|(name, value)| Matcher {
            name,
            op: MatchOp::Neq,
            value
        }),
        (label(), regex()).prop_map(|(name, value)| Matcher {
            name,
            op: MatchOp::Re,
            value
        }),
        (label(), regex()).prop_map(|(name, value)| Matcher {
            name,
            op: MatchOp::Nre,
            value
        }),
    ]
}

fn selector() -> impl Strategy<Value = Vec<Matcher>> {
    (label(), "[a-z]{1,5}", vec(matcher(), 0..3)).prop_map(|(name, value, rest)| {
        let mut out = vec![Matcher {
            name,
            op: MatchOp::Eq,
            value,
        }];
        out.extend(rest);
        out
    })
}

fn cmp() -> impl Strategy<Value = CmpOp> {
    prop_oneof![
        Just(CmpOp::Eq),
        Just(CmpOp::Neq),
        Just(CmpOp::Gt),
        Just(CmpOp::Ge),
        Just(CmpOp::Lt),
        Just(CmpOp::Le),
    ]
}

fn label_filter() -> impl Strategy<Value = LabelFilter> {
    let leaf = prop_oneof![
        matcher().prop_map(LabelFilter::String),
        (label(), cmp(), finite()).prop_map(|(name, op, value)| LabelFilter::Number {
            name,
            op,
            value
        }),
        (label(), cmp(), -(1i64 << 50)..(1i64 << 50))
            .prop_map(|(name, op, value)| { LabelFilter::Duration { name, op, value } }),
        (label(), cmp(), 0u64..(1u64 << 50)).prop_map(|(name, op, value)| LabelFilter::Bytes {
            name,
            op,
            value: value as f64
        }),
        (label(), any::<bool>(), "[0-9./:a-f]{1,12}").prop_map(|(name, negate, pattern)| {
            LabelFilter::Ip {
                name,
                negate,
                pattern,
            }
        }),
    ];
    leaf.prop_recursive(4, 16, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| LabelFilter::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| LabelFilter::Or(Box::new(a), Box::new(b))),
        ]
    })
}

fn line_filter() -> impl Strategy<Value = LineFilter> {
    let plain = prop_oneof![
        Just(LineFilterOp::Contains),
        Just(LineFilterOp::NotContains)
    ];
    let str_value = text().prop_map(LineFilterValue::Str);
    let any_value = prop_oneof![
        text().prop_map(LineFilterValue::Str),
        "[0-9./]{1,10}".prop_map(LineFilterValue::Ip),
    ];
    prop_oneof![
        (plain, vec(any_value, 1..3)).prop_map(|(op, values)| LineFilter { op, values }),
        (
            prop_oneof![Just(LineFilterOp::Match), Just(LineFilterOp::NotMatch)],
            vec(regex().prop_map(LineFilterValue::Str), 1..3)
        )
            .prop_map(|(op, values)| LineFilter { op, values }),
        (
            prop_oneof![Just(LineFilterOp::Pattern), Just(LineFilterOp::NotPattern)],
            vec(str_value, 1..3)
        )
            .prop_map(|(op, values)| LineFilter { op, values }),
    ]
}

fn params() -> impl Strategy<Value = Vec<(String, String)>> {
    vec(
        (label(), prop_oneof![text(), Just(String::new())]).prop_map(|(l, p)| {
            // An empty path stands for "same as the label".
            if p.is_empty() {
                (l.clone(), l)
            } else {
                (l, p)
            }
        }),
        0..3,
    )
}

/// Templates kept to a shape any template engine accepts.
fn template() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z =]{0,6}",
        label().prop_map(|l| format!("{{{{.{l}}}}}"))
    ]
}

fn selector_item() -> impl Strategy<Value = LabelSelectorItem> {
    prop_oneof![
        label().prop_map(LabelSelectorItem::Name),
        matcher().prop_map(LabelSelectorItem::Matcher),
    ]
}

fn stage() -> impl Strategy<Value = Stage> {
    prop_oneof![
        line_filter().prop_map(Stage::LineFilter),
        params().prop_map(|params| Stage::Parser(Parser::Json { params })),
        (any::<bool>(), any::<bool>(), params()).prop_map(|(strict, keep_empty, params)| {
            Stage::Parser(Parser::Logfmt {
                strict,
                keep_empty,
                params,
            })
        }),
        (label(), regex())
            .prop_map(|(n, r)| Stage::Parser(Parser::Regexp(format!("(?P<{n}>{r})")))),
        text().prop_map(|p| Stage::Parser(Parser::Pattern(p))),
        Just(Stage::Parser(Parser::Unpack)),
        label_filter().prop_map(Stage::LabelFilter),
        template().prop_map(Stage::LineFormat),
        vec(
            prop_oneof![
                (label(), label()).prop_map(|(dst, src)| LabelFmt::Rename { dst, src }),
                (label(), template())
                    .prop_map(|(dst, template)| LabelFmt::Template { dst, template }),
            ],
            1..3
        )
        .prop_map(|fmts| {
            // Loki rejects a label formatted twice in one stage.
            let mut seen = Vec::new();
            let fmts: Vec<LabelFmt> = fmts
                .into_iter()
                .filter(|f| {
                    let dst = match f {
                        LabelFmt::Rename { dst, .. } | LabelFmt::Template { dst, .. } => {
                            dst.clone()
                        }
                    };
                    let fresh = !seen.contains(&dst);
                    seen.push(dst);
                    fresh
                })
                .collect();
            Stage::LabelFormat(fmts)
        }),
        vec(selector_item(), 1..3).prop_map(Stage::Drop),
        vec(selector_item(), 1..3).prop_map(Stage::Keep),
        Just(Stage::Decolorize),
    ]
}

/// `| drop a != "x"` reads as a drop matcher (in Loki too), so a pipeline
/// where a bare name ends `drop`/`keep` and `!=`/`!~` follows is not one
/// the parser can produce.
fn producible(pipeline: &[Stage]) -> bool {
    pipeline.windows(2).all(|w| {
        let ends_with_name = match &w[0] {
            Stage::Drop(items) | Stage::Keep(items) => {
                matches!(items.last(), Some(LabelSelectorItem::Name(_)))
            }
            _ => false,
        };
        let negated = matches!(
            &w[1],
            Stage::LineFilter(LineFilter {
                op: LineFilterOp::NotContains | LineFilterOp::NotMatch,
                ..
            })
        );
        !(ends_with_name && negated)
    })
}

fn log_expr() -> impl Strategy<Value = LogExpr> {
    (
        selector(),
        vec(stage(), 0..4).prop_filter("ambiguous", |p| producible(p)),
    )
        .prop_map(|(selector, pipeline)| LogExpr { selector, pipeline })
}

fn unwrap() -> impl Strategy<Value = Unwrap> {
    (
        label(),
        prop_oneof![
            Just(UnwrapConv::None),
            Just(UnwrapConv::Bytes),
            Just(UnwrapConv::Duration),
            Just(UnwrapConv::DurationSeconds)
        ],
        vec(label_filter(), 0..2),
    )
        .prop_map(|(label, conv, post_filters)| Unwrap {
            label,
            conv,
            post_filters,
        })
}

const RANGE_OPS: [RangeOp; 15] = [
    RangeOp::Rate,
    RangeOp::RateCounter,
    RangeOp::CountOverTime,
    RangeOp::BytesRate,
    RangeOp::BytesOverTime,
    RangeOp::AbsentOverTime,
    RangeOp::SumOverTime,
    RangeOp::AvgOverTime,
    RangeOp::MinOverTime,
    RangeOp::MaxOverTime,
    RangeOp::StddevOverTime,
    RangeOp::StdvarOverTime,
    RangeOp::QuantileOverTime,
    RangeOp::FirstOverTime,
    RangeOp::LastOverTime,
];

fn grouping() -> impl Strategy<Value = Grouping> {
    (any::<bool>(), vec(label(), 0..3)).prop_map(|(without, labels)| Grouping { without, labels })
}

fn range_agg() -> impl Strategy<Value = MetricExpr> {
    (
        0..RANGE_OPS.len(),
        log_expr(),
        1i64..1_000_000_000,
        prop_oneof![Just(0i64), -(1i64 << 50)..(1i64 << 50)],
        unwrap(),
        proptest::option::of(grouping()),
        0u32..=100,
    )
        .prop_map(|(i, log, range_ms, offset, unwrap, grouping, q)| {
            let op = RANGE_OPS[i];
            let unwrap = match op {
                RangeOp::CountOverTime | RangeOp::BytesRate | RangeOp::BytesOverTime => None,
                RangeOp::Rate | RangeOp::AbsentOverTime if q % 2 == 0 => None,
                _ => Some(unwrap),
            };
            let grouping = if op.requires_unwrap()
                && !matches!(op, RangeOp::SumOverTime | RangeOp::RateCounter)
            {
                grouping
            } else {
                None
            };
            let param = (op == RangeOp::QuantileOverTime).then_some(f64::from(q) / 100.0);
            let range = LogRange {
                log,
                range: range_ms * 1_000_000,
                offset,
                unwrap,
            };
            MetricExpr::RangeAgg {
                op,
                param,
                range,
                grouping,
            }
        })
}

fn precedence(m: &MetricExpr) -> u8 {
    match m {
        MetricExpr::Binary { op, .. } => super::binop_precedence(*op),
        _ => u8::MAX,
    }
}

fn is_literal(m: &MetricExpr) -> bool {
    match m {
        MetricExpr::Literal(_) => true,
        MetricExpr::Paren(inner) => is_literal(inner),
        _ => false,
    }
}

const BIN_OPS: [BinOp; 15] = [
    BinOp::Add,
    BinOp::Sub,
    BinOp::Mul,
    BinOp::Div,
    BinOp::Mod,
    BinOp::Pow,
    BinOp::Eq,
    BinOp::Neq,
    BinOp::Gt,
    BinOp::Ge,
    BinOp::Lt,
    BinOp::Le,
    BinOp::And,
    BinOp::Or,
    BinOp::Unless,
];

/// A binary node as the parser builds it: operands wrapped in `Paren`
/// where precedence requires, set operations without literal legs.
fn binary(op: BinOp, lhs: MetricExpr, rhs: MetricExpr, modifier: BinModifier) -> MetricExpr {
    let p = super::binop_precedence(op);
    let wrap = |e: MetricExpr, needs: bool| {
        if needs {
            MetricExpr::Paren(Box::new(e))
        } else {
            e
        }
    };
    let fix = |e: MetricExpr| {
        if op.is_set() && is_literal(&e) {
            MetricExpr::Vector(1.0)
        } else {
            e
        }
    };
    let (lhs, rhs) = (fix(lhs), fix(rhs));
    let (lp, rp) = (precedence(&lhs), precedence(&rhs));
    let (lneeds, rneeds) = if op == BinOp::Pow {
        (lp <= p, rp < p)
    } else {
        (lp < p, rp <= p)
    };
    MetricExpr::Binary {
        op,
        lhs: Box::new(wrap(lhs, lneeds)),
        rhs: Box::new(wrap(rhs, rneeds)),
        modifier,
    }
}

fn modifier() -> impl Strategy<Value = BinModifier> {
    let side = prop_oneof![
        Just(None),
        vec(label(), 0..2).prop_map(|l| Some(GroupSide::Left(l))),
        vec(label(), 0..2).prop_map(|l| Some(GroupSide::Right(l))),
    ];
    (
        any::<bool>(),
        proptest::option::of((any::<bool>(), vec(label(), 0..3), side)),
    )
        .prop_map(|(return_bool, matching)| BinModifier {
            return_bool,
            matching: matching.map(|(on, labels, group)| VectorMatching { on, labels, group }),
        })
}

const VECTOR_OPS: [VectorOp; 11] = [
    VectorOp::Sum,
    VectorOp::Avg,
    VectorOp::Min,
    VectorOp::Max,
    VectorOp::Count,
    VectorOp::Stddev,
    VectorOp::Stdvar,
    VectorOp::Topk,
    VectorOp::Bottomk,
    VectorOp::Sort,
    VectorOp::SortDesc,
];

fn metric_expr() -> impl Strategy<Value = MetricExpr> {
    let leaf = prop_oneof![
        3 => range_agg(),
        1 => finite().prop_map(MetricExpr::Literal),
        1 => finite().prop_map(MetricExpr::Vector),
    ];
    leaf.prop_recursive(4, 12, 2, |inner| {
        Union::new(vec![
            (0..BIN_OPS.len(), inner.clone(), inner.clone(), modifier())
                .prop_map(|(i, l, r, m)| binary(BIN_OPS[i], l, r, m))
                .boxed(),
            (
                0..VECTOR_OPS.len(),
                inner.clone(),
                proptest::option::of(grouping()),
                1u32..100,
            )
                .prop_map(|(i, e, grouping, k)| {
                    let op = VECTOR_OPS[i];
                    let param =
                        matches!(op, VectorOp::Topk | VectorOp::Bottomk).then_some(f64::from(k));
                    MetricExpr::VectorAgg {
                        op,
                        param,
                        grouping,
                        expr: Box::new(e),
                    }
                })
                .boxed(),
            (inner.clone(), label(), text(), text(), regex())
                .prop_map(
                    |(e, dst, replacement, src, regex)| MetricExpr::LabelReplace {
                        expr: Box::new(e),
                        dst,
                        replacement,
                        src,
                        regex,
                    },
                )
                .boxed(),
            inner.prop_map(|e| MetricExpr::Paren(Box::new(e))).boxed(),
        ])
    })
}

fn expr() -> impl Strategy<Value = Expr> {
    prop_oneof![
        log_expr().prop_map(Expr::Log),
        metric_expr().prop_map(Expr::Metric)
    ]
}

/// Tokens to build query-shaped garbage from.
fn token_soup() -> impl Strategy<Value = String> {
    let tok = prop_oneof![
        Just("{"),
        Just("}"),
        Just("("),
        Just(")"),
        Just("["),
        Just("]"),
        Just(","),
        Just("|"),
        Just("|="),
        Just("!="),
        Just("|~"),
        Just("!~"),
        Just("|>"),
        Just("="),
        Just("=="),
        Just(">"),
        Just("<="),
        Just("+"),
        Just("-"),
        Just("^"),
        Just("or"),
        Just("and"),
        Just("by"),
        Just("sum"),
        Just("rate"),
        Just("topk"),
        Just("json"),
        Just("unwrap"),
        Just("offset"),
        Just("bool"),
        Just("on"),
        Just("group_left"),
        Just("ip"),
        Just("a"),
        Just("\"x\""),
        Just("`y`"),
        Just("5m"),
        Just("[5m]"),
        Just("1"),
        Just("-1.5e3"),
        Just("20MB"),
        Just("--strict"),
        Just("label_replace"),
        Just("vector"),
        Just("#"),
    ];
    vec(tok, 0..40).prop_map(|t| t.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn print_parse_round_trip(e in expr()) {
        let printed = e.to_string();
        let parsed = parse(&printed);
        prop_assert!(parsed.is_ok(), "{printed}\n{:?}", parsed);
        prop_assert_eq!(parsed.unwrap(), e.clone(), "{}", printed);
        let pretty = pretty(&e);
        prop_assert_eq!(parse(&pretty).ok(), Some(e), "{}", pretty);
    }

    #[test]
    fn never_panics_on_text(s in "\\PC{0,64}") {
        let _ = parse(&s);
    }

    /// Whatever parses also prints back to the same tree.
    #[test]
    fn token_soup_round_trips(s in token_soup()) {
        if let Ok(e) = parse(&s) {
            let printed = e.to_string();
            prop_assert_eq!(parse(&printed).ok(), Some(e), "{} -> {}", s, printed);
        }
    }

    #[test]
    fn never_panics_on_mangled_queries(e in expr(), cut in 0usize..400, junk in "\\PC{0,4}") {
        let mut q = e.to_string();
        let mut at = cut.min(q.len());
        while !q.is_char_boundary(at) {
            at -= 1;
        }
        q.insert_str(at, &junk);
        for q in [q.clone(), q[..at].to_string()] {
            if let Ok(e) = parse(&q) {
                let printed = e.to_string();
                prop_assert_eq!(parse(&printed).ok(), Some(e), "{} -> {}", q, printed);
            }
        }
    }
}
