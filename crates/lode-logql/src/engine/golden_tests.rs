//! Checks the engine against the answers real Loki gave on the compat
//! dataset (`../shared/compat` beside the repository), for queries whose
//! pipeline is at most a line filter and whose grouping hides Loki's
//! per-entry structured metadata (`detected_level`). The data set is dumped
//! by the corpus's own generator (`gen.py --dump`) unless `LODE_DATASET`
//! names one; the goldens are the corpus's (`LODE_GOLDENS` overrides).
//!
//! The syntax trees are built by hand (the parser is developed separately).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::ast::*;
use crate::error::Result;
use crate::labels::LabelSet;
use crate::pipeline::{LogPipeline, SampleExtractor};
use crate::value::{format_value, Point, QueryValue, SeriesSamples};

use super::{evaluate, EvalParams, SampleSource};

const S: i64 = 1_000_000_000;

type Entry = (i64, String, Vec<(String, String)>);

/// Streams of the dump: labels and (offset ns, line, metadata) entries.
/// Answers with a line-filter-only pipeline by itself, or through the real
/// `SampleExtractor` when `extract` is set.
struct Dataset {
    streams: Vec<(LabelSet, Vec<Entry>)>,
    extract: bool,
}

impl Dataset {
    fn load(path: &str) -> Dataset {
        let raw: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let streams = raw
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let labels = LabelSet::from_pairs(
                    s["labels"]
                        .as_object()
                        .unwrap()
                        .iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())),
                );
                let entries = s["entries"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| {
                        let sm = e[2]
                            .as_object()
                            .map(|o| {
                                o.iter()
                                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                                    .collect()
                            })
                            .unwrap_or_default();
                        (
                            e[0].as_i64().unwrap(),
                            e[1].as_str().unwrap().to_string(),
                            sm,
                        )
                    })
                    .collect();
                (labels, entries)
            })
            .collect();
        Dataset {
            streams,
            extract: false,
        }
    }
}

fn regex_full(re: &str) -> regex::Regex {
    regex::Regex::new(&format!("^(?:{re})$")).unwrap()
}

fn matcher_ok(m: &Matcher, labels: &LabelSet) -> bool {
    let v = labels.get(&m.name).unwrap_or("");
    match m.op {
        MatchOp::Eq => v == m.value,
        MatchOp::Neq => v != m.value,
        MatchOp::Re => regex_full(&m.value).is_match(v),
        MatchOp::Nre => !regex_full(&m.value).is_match(v),
    }
}

fn line_ok(stage: &Stage, line: &str) -> bool {
    let Stage::LineFilter(f) = stage else {
        panic!("only line filters are supported here")
    };
    let LineFilterValue::Str(v) = &f.values[0] else {
        panic!("ip filters unsupported")
    };
    match f.op {
        LineFilterOp::Contains => line.contains(v.as_str()),
        LineFilterOp::NotContains => !line.contains(v.as_str()),
        LineFilterOp::Match => regex::Regex::new(v).unwrap().is_match(line),
        LineFilterOp::NotMatch => !regex::Regex::new(v).unwrap().is_match(line),
        _ => panic!("unsupported line filter"),
    }
}

impl SampleSource for Dataset {
    fn samples(
        &self,
        range: &LogRange,
        _op: RangeOp,
        grouping: Option<&Grouping>,
        start: i64,
        end: i64,
    ) -> Result<Vec<SeriesSamples>> {
        let mut out: BTreeMap<LabelSet, Vec<Point>> = BTreeMap::new();
        let extractor = SampleExtractor::new(range, _op, grouping)?;
        let pre_unwrap = LogPipeline::new(&range.log.pipeline)?;
        for (labels, entries) in &self.streams {
            if !range.log.selector.iter().all(|m| matcher_ok(m, labels)) {
                continue;
            }
            if self.extract {
                let mut ex = extractor.for_stream(labels);
                let mut plain = pre_unwrap.for_stream(labels);
                for (ts, line, sm) in entries {
                    if *ts <= start || *ts > end {
                        continue;
                    }
                    // Loki yields no sample for an entry without the
                    // unwrapped label, error or not.
                    if let Some(u) = &range.unwrap {
                        let has_label = plain
                            .process(*ts, line, sm)
                            .is_some_and(|e| e.labels.get(&u.label).is_some_and(|v| !v.is_empty()));
                        if !has_label {
                            continue;
                        }
                    }
                    if let Some((value, series)) = ex.process(*ts, line, sm) {
                        out.entry(series)
                            .or_default()
                            .push(Point { ts: *ts, value });
                    }
                }
                continue;
            }
            let key = match grouping {
                Some(g) => labels.project(&g.labels, g.without),
                None => labels.clone(),
            };
            let points = out.entry(key).or_default();
            for (ts, line, _) in entries {
                if *ts > start
                    && *ts <= end
                    && range.log.pipeline.iter().all(|st| line_ok(st, line))
                {
                    points.push(Point {
                        ts: *ts,
                        value: line.len() as f64,
                    });
                }
            }
        }
        Ok(out
            .into_iter()
            .filter(|(_, p)| !p.is_empty())
            .map(|(labels, mut samples)| {
                samples.sort_by_key(|p| p.ts);
                SeriesSamples { labels, samples }
            })
            .collect())
    }
}

// ---- AST shorthands ----------------------------------------------------

fn m(name: &str, op: MatchOp, value: &str) -> Matcher {
    Matcher {
        name: name.into(),
        op,
        value: value.into(),
    }
}

fn eq(name: &str, value: &str) -> Matcher {
    m(name, MatchOp::Eq, value)
}

fn re(name: &str, value: &str) -> Matcher {
    m(name, MatchOp::Re, value)
}

fn lr(sel: Vec<Matcher>, filters: Vec<(LineFilterOp, &str)>, range_s: i64) -> LogRange {
    LogRange {
        log: LogExpr {
            selector: sel,
            pipeline: filters
                .into_iter()
                .map(|(op, v)| {
                    Stage::LineFilter(LineFilter {
                        op,
                        values: vec![LineFilterValue::Str(v.into())],
                    })
                })
                .collect(),
        },
        range: range_s * S,
        offset: 0,
        unwrap: None,
    }
}

fn ra(op: RangeOp, range: LogRange) -> MetricExpr {
    MetricExpr::RangeAgg {
        op,
        param: None,
        range,
        grouping: None,
    }
}

fn cnt(sel: Vec<Matcher>, range_s: i64) -> MetricExpr {
    ra(RangeOp::CountOverTime, lr(sel, vec![], range_s))
}

fn agg(op: VectorOp, by: Option<&[&str]>, e: MetricExpr) -> MetricExpr {
    MetricExpr::VectorAgg {
        op,
        param: None,
        grouping: by.map(|b| Grouping {
            without: false,
            labels: b.iter().map(|s| s.to_string()).collect(),
        }),
        expr: Box::new(e),
    }
}

fn k_agg(op: VectorOp, k: f64, e: MetricExpr) -> MetricExpr {
    MetricExpr::VectorAgg {
        op,
        param: Some(k),
        grouping: None,
        expr: Box::new(e),
    }
}

fn b(op: BinOp, l: MetricExpr, r: MetricExpr) -> MetricExpr {
    bm(op, l, r, BinModifier::default())
}

fn bm(op: BinOp, l: MetricExpr, r: MetricExpr, modifier: BinModifier) -> MetricExpr {
    MetricExpr::Binary {
        op,
        lhs: Box::new(l),
        rhs: Box::new(r),
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

fn with_bool() -> BinModifier {
    BinModifier {
        return_bool: true,
        matching: None,
    }
}

fn lit(v: f64) -> MetricExpr {
    MetricExpr::Literal(v)
}

fn label_replace(e: MetricExpr, dst: &str, repl: &str, src: &str, regex: &str) -> MetricExpr {
    MetricExpr::LabelReplace {
        expr: Box::new(e),
        dst: dst.into(),
        replacement: repl.into(),
        src: src.into(),
        regex: regex.into(),
    }
}

fn cases() -> Vec<(&'static str, MetricExpr)> {
    use BinOp::*;
    use RangeOp::*;
    use VectorOp::*;
    let ns = |v| vec![eq("namespace", v)];
    let app = |v| vec![eq("app", v)];
    let any_job = || vec![re("job", ".+")];
    let sum_by = |by: &'static [&'static str], e| agg(Sum, Some(by), e);
    vec![
        ("step-01", agg(Sum, None, cnt(ns("kube-system"), 60))),
        ("step-02", agg(Sum, None, cnt(ns("kube-system"), 600))),
        (
            "step-05",
            agg(Sum, None, ra(Rate, lr(app("coredns"), vec![], 90))),
        ),
        ("agg-sum-01", sum_by(&["app"], cnt(ns("media"), 600))),
        (
            "bytes-02",
            sum_by(&["app"], ra(BytesRate, lr(ns("monitoring"), vec![], 300))),
        ),
        (
            "agg-topk-01",
            k_agg(
                Topk,
                3.0,
                sum_by(&["app"], ra(BytesOverTime, lr(any_job(), vec![], 3600))),
            ),
        ),
        (
            "agg-bottomk-01",
            k_agg(
                Bottomk,
                2.0,
                sum_by(&["app"], ra(BytesOverTime, lr(ns("media"), vec![], 3600))),
            ),
        ),
        (
            "agg-nested-01",
            agg(
                Max,
                None,
                sum_by(
                    &["app", "node"],
                    ra(Rate, lr(ns("longhorn-system"), vec![], 300)),
                ),
            ),
        ),
        (
            "agg-byempty-01",
            agg(Sum, Some(&[]), cnt(app("traefik"), 300)),
        ),
        (
            "bin-arith-01",
            b(
                Div,
                agg(
                    Sum,
                    None,
                    ra(
                        Rate,
                        lr(app("traefik"), vec![(LineFilterOp::Contains, "\" 50")], 300),
                    ),
                ),
                agg(Sum, None, ra(Rate, lr(app("traefik"), vec![], 300))),
            ),
        ),
        (
            "bin-arith-02",
            b(
                Sub,
                b(Mul, agg(Sum, None, cnt(app("coredns"), 600)), lit(100.0)),
                lit(5.0),
            ),
        ),
        (
            "bin-arith-04",
            b(
                Pow,
                lit(2.0),
                agg(Sum, None, cnt(app("svclb-traefik"), 1800)),
            ),
        ),
        (
            "bin-arith-05",
            bm(
                Add,
                sum_by(&["node"], cnt(app("longhorn-manager"), 600)),
                sum_by(&["node"], cnt(app("instance-manager"), 600)),
                on(&["node"], None),
            ),
        ),
        (
            "bin-gl-01",
            bm(
                Div,
                sum_by(&["node", "app"], cnt(ns("longhorn-system"), 1800)),
                sum_by(&["node"], cnt(ns("longhorn-system"), 1800)),
                on(&["node"], Some(GroupSide::Left(vec![]))),
            ),
        ),
        (
            "bin-gr-01",
            bm(
                Mul,
                sum_by(&["node"], cnt(app("k3s"), 3600)),
                sum_by(&["node", "level"], cnt(app("k3s"), 3600)),
                on(&["node"], Some(GroupSide::Right(vec![]))),
            ),
        ),
        (
            "bin-cmp-02",
            bm(
                Gt,
                sum_by(&["app"], cnt(ns("media"), 600)),
                lit(50.0),
                with_bool(),
            ),
        ),
        (
            "bin-cmp-04",
            bm(
                Lt,
                sum_by(&["app"], ra(Rate, lr(ns("monitoring"), vec![], 300))),
                lit(0.05),
                with_bool(),
            ),
        ),
        (
            "bin-cmp-06",
            b(
                Neq,
                sum_by(&["app"], cnt(ns("monitoring"), 1800)),
                lit(167.0),
            ),
        ),
        (
            "bin-set-01",
            b(
                And,
                sum_by(&["app"], cnt(ns("media"), 600)),
                sum_by(
                    &["app"],
                    ra(
                        CountOverTime,
                        lr(ns("media"), vec![(LineFilterOp::Contains, "Error")], 600),
                    ),
                ),
            ),
        ),
        (
            "bin-set-03",
            b(
                Unless,
                sum_by(&["app"], cnt(ns("media"), 600)),
                sum_by(&["app"], cnt(vec![re("app", "immich|jellyfin")], 600)),
            ),
        ),
        (
            "bin-set-04",
            b(
                Or,
                sum_by(&["app"], cnt(app("bazarr"), 600)),
                MetricExpr::Vector(0.0),
            ),
        ),
        (
            "bin-vec-02",
            b(Add, MetricExpr::Vector(1.0), MetricExpr::Vector(2.0)),
        ),
        ("bin-scalar-01", lit(7.0)),
        (
            "bin-lr-01",
            label_replace(
                sum_by(&["app"], ra(Rate, lr(ns("kube-system"), vec![], 300))),
                "svc",
                "$1-svc",
                "app",
                "(.*)",
            ),
        ),
        (
            "bin-lr-02",
            label_replace(
                sum_by(&["pod"], cnt(app("coredns"), 1800)),
                "replica",
                "$1",
                "pod",
                "coredns-[a-z0-9]+-(.*)",
            ),
        ),
        ("inst-01", sum_by(&["namespace"], cnt(any_job(), 21600))),
        (
            "inst-02",
            sum_by(&["app"], ra(Rate, lr(ns("media"), vec![], 300))),
        ),
        (
            "inst-04",
            agg(
                SortDesc,
                None,
                sum_by(
                    &["app"],
                    ra(BytesOverTime, lr(ns("home-automation"), vec![], 21600)),
                ),
            ),
        ),
        (
            "inst-05",
            agg(
                Sort,
                None,
                sum_by(
                    &["app"],
                    ra(BytesOverTime, lr(ns("longhorn-system"), vec![], 21600)),
                ),
            ),
        ),
        (
            "inst-08",
            agg(Count, None, sum_by(&["pod"], cnt(any_job(), 21600))),
        ),
        ("inst-11", agg(Sum, None, cnt(app("longhorn-backup"), 600))),
        ("inst-12", b(Add, lit(1.0), lit(1.0))),
        ("inst-14", {
            let mut shifted = lr(ns("media"), vec![], 3600);
            shifted.offset = 7200 * S;
            b(
                Div,
                sum_by(&["app"], ra(CountOverTime, shifted)),
                sum_by(&["app"], cnt(ns("media"), 3600)),
            )
        }),
        (
            "inst-20",
            agg(
                Sum,
                None,
                ra(
                    BytesOverTime,
                    lr(
                        app("zigbee2mqtt"),
                        vec![(LineFilterOp::NotMatch, ".+")],
                        21600,
                    ),
                ),
            ),
        ),
        (
            "absent-01",
            ra(AbsentOverTime, lr(app("longhorn-backup"), vec![], 300)),
        ),
        (
            "absent-02",
            ra(AbsentOverTime, lr(app("does-not-exist"), vec![], 300)),
        ),
        (
            "inst-10",
            ra(AbsentOverTime, lr(app("longhorn-backup"), vec![], 1800)),
        ),
    ]
}

fn json() -> Stage {
    Stage::Parser(Parser::Json { params: vec![] })
}

fn logfmt() -> Stage {
    Stage::Parser(Parser::Logfmt {
        strict: false,
        keep_empty: false,
        params: vec![],
    })
}

/// `{sel} | stages | unwrap conv(label) | post [range]`
fn unwrapped(
    sel: Vec<Matcher>,
    stages: Vec<Stage>,
    label: &str,
    conv: UnwrapConv,
    post_filters: Vec<LabelFilter>,
    range_s: i64,
) -> LogRange {
    LogRange {
        log: LogExpr {
            selector: sel,
            pipeline: stages,
        },
        range: range_s * S,
        offset: 0,
        unwrap: Some(Unwrap {
            label: label.into(),
            conv,
            post_filters,
        }),
    }
}

fn ra_by(op: RangeOp, param: Option<f64>, range: LogRange, by: &[&str]) -> MetricExpr {
    MetricExpr::RangeAgg {
        op,
        param,
        range,
        grouping: Some(Grouping {
            without: false,
            labels: by.iter().map(|s| s.to_string()).collect(),
        }),
    }
}

/// Cases that need the real log pipeline (parsers, unwrap).
fn extracted_cases() -> Vec<(&'static str, MetricExpr)> {
    use RangeOp::*;
    use UnwrapConv::None as Plain;
    use VectorOp::*;
    let immich = || vec![eq("app", "immich"), eq("container", "immich-server")];
    let grafana = || vec![eq("app", "grafana"), eq("container", "grafana")];
    let zigbee = || vec![eq("app", "zigbee2mqtt")];
    let tdarr = || vec![eq("app", "tdarr")];
    let sum_by = |by: &'static [&'static str], e| agg(Sum, Some(by), e);
    vec![
        (
            "unwrap-sum-01",
            sum_by(
                &["request_method"],
                ra(
                    SumOverTime,
                    unwrapped(immich(), vec![json()], "response_bytes", Plain, vec![], 600),
                ),
            ),
        ),
        (
            "unwrap-avg-01",
            ra_by(
                AvgOverTime,
                None,
                unwrapped(grafana(), vec![logfmt()], "time_ms", Plain, vec![], 900),
                &["method"],
            ),
        ),
        (
            "unwrap-min-01",
            ra_by(
                MinOverTime,
                None,
                unwrapped(
                    zigbee(),
                    vec![json()],
                    "payload_temperature",
                    Plain,
                    vec![],
                    1800,
                ),
                &["device_model"],
            ),
        ),
        (
            "unwrap-max-01",
            ra_by(
                MaxOverTime,
                None,
                unwrapped(
                    zigbee(),
                    vec![json()],
                    "payload_temperature",
                    Plain,
                    vec![],
                    1800,
                ),
                &["device_model"],
            ),
        ),
        (
            "unwrap-stdvar-01",
            ra_by(
                StdvarOverTime,
                None,
                unwrapped(tdarr(), vec![json()], "stats_fps", Plain, vec![], 3600),
                &["node"],
            ),
        ),
        (
            "unwrap-quantile-01",
            ra_by(
                QuantileOverTime,
                Some(0.99),
                unwrapped(
                    immich(),
                    vec![json()],
                    "duration",
                    UnwrapConv::Duration,
                    vec![],
                    900,
                ),
                &["request_method"],
            ),
        ),
        (
            "unwrap-first-01",
            ra_by(
                FirstOverTime,
                None,
                unwrapped(
                    zigbee(),
                    vec![json()],
                    "payload_battery",
                    Plain,
                    vec![],
                    3600,
                ),
                &["device_friendly_name"],
            ),
        ),
        (
            "unwrap-last-01",
            ra_by(
                LastOverTime,
                None,
                unwrapped(
                    zigbee(),
                    vec![json()],
                    "payload_humidity",
                    Plain,
                    vec![],
                    1200,
                ),
                &["device_friendly_name"],
            ),
        ),
        (
            "unwrap-rc-01",
            sum_by(
                &["node"],
                ra(
                    RateCounter,
                    unwrapped(
                        vec![eq("app", "promtail")],
                        vec![logfmt()],
                        "bytes",
                        Plain,
                        vec![],
                        300,
                    ),
                ),
            ),
        ),
        (
            "unwrap-err-02",
            sum_by(
                &["method"],
                ra(
                    SumOverTime,
                    unwrapped(
                        vec![eq("app", "grafana")],
                        vec![logfmt()],
                        "status",
                        Plain,
                        vec![LabelFilter::String(eq("__error__", ""))],
                        600,
                    ),
                ),
            ),
        ),
        (
            "inst-07",
            ra_by(
                QuantileOverTime,
                Some(0.95),
                unwrapped(
                    immich(),
                    vec![json()],
                    "response_bytes",
                    Plain,
                    vec![],
                    21600,
                ),
                &["request_method"],
            ),
        ),
        (
            "inst-17",
            agg(
                Max,
                Some(&["node"]),
                ra(
                    MaxOverTime,
                    unwrapped(
                        vec![eq("app", "longhorn-manager")],
                        vec![logfmt()],
                        "bytes",
                        Plain,
                        vec![],
                        21600,
                    ),
                ),
            ),
        ),
        (
            "inst-24",
            ra_by(
                LastOverTime,
                None,
                unwrapped(tdarr(), vec![json()], "stats_ratio", Plain, vec![], 21600),
                &["node"],
            ),
        ),
        (
            "inst-25",
            ra_by(
                FirstOverTime,
                None,
                unwrapped(tdarr(), vec![json()], "stats_ratio", Plain, vec![], 21600),
                &["node"],
            ),
        ),
        (
            "agg-lf-04",
            sum_by(
                &["method"],
                ra(
                    Rate,
                    LogRange {
                        log: LogExpr {
                            selector: grafana(),
                            pipeline: vec![
                                logfmt(),
                                Stage::LabelFilter(LabelFilter::Number {
                                    name: "status".into(),
                                    op: CmpOp::Ge,
                                    value: 400.0,
                                }),
                            ],
                        },
                        range: 600 * S,
                        offset: 0,
                        unwrap: None,
                    },
                ),
            ),
        ),
        (
            "unwrap-lbl-01",
            ra_by(
                AvgOverTime,
                None,
                unwrapped(
                    vec![eq("app", "immich"), eq("container", "immich-microservices")],
                    vec![json()],
                    "job_attempt",
                    Plain,
                    vec![LabelFilter::String(eq("job_name", "faces"))],
                    1800,
                ),
                &["job_name"],
            ),
        ),
        (
            "inst-15",
            ra_by(
                AvgOverTime,
                None,
                unwrapped(
                    zigbee(),
                    vec![
                        json(),
                        Stage::LabelFilter(LabelFilter::String(eq("__error__", ""))),
                    ],
                    "payload_battery",
                    Plain,
                    vec![],
                    21600,
                ),
                &["device_vendor"],
            ),
        ),
        (
            "unwrap-dur-01",
            ra_by(
                AvgOverTime,
                None,
                unwrapped(
                    vec![eq("app", "traefik")],
                    vec![Stage::Parser(Parser::Pattern(
                        r#"<ip> - - [<_>] "<method> <path> <_>" <status> <size> "<_>" "<agent>" <_> "<router>" "<upstream>" <latency>"#.into(),
                    ))],
                    "latency",
                    UnwrapConv::Duration,
                    vec![],
                    600,
                ),
                &["method"],
            ),
        ),
        (
            "unwrap-bytes-02",
            ra_by(
                AvgOverTime,
                None,
                unwrapped(
                    vec![eq("app", "longhorn-manager")],
                    vec![logfmt()],
                    "size",
                    UnwrapConv::Bytes,
                    vec![],
                    3600,
                ),
                &["node"],
            ),
        ),
        (
            "err-pipeline-01",
            ra(
                AvgOverTime,
                unwrapped(zigbee(), vec![json()], "payload_battery", Plain, vec![], 21600),
            ),
        ),
        (
            "err-pipeline-02",
            ra_by(
                AvgOverTime,
                None,
                unwrapped(
                    zigbee(),
                    vec![json()],
                    "payload_battery",
                    Plain,
                    vec![],
                    21600,
                ),
                &["device_vendor"],
            ),
        ),
    ]
}

/// Loki's metric notation as the goldens store it: `{a="x",b="y"}`.
fn metric_string(labels: &LabelSet) -> String {
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", serde_json::to_string(v).unwrap()))
        .collect();
    format!("{{{}}}", inner.join(","))
}

fn close(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()),
        _ => false,
    }
}

/// `(metric, [(ts seconds, value)])` from our answer.
fn ours(v: QueryValue) -> Vec<(String, Vec<(String, String)>)> {
    let fmt = |ts: i64, value: f64| ((ts / S).to_string(), format_value(value));
    match v {
        QueryValue::Matrix(series) => series
            .iter()
            .map(|s| {
                (
                    metric_string(&s.labels),
                    s.points.iter().map(|p| fmt(p.ts, p.value)).collect(),
                )
            })
            .collect(),
        QueryValue::Vector(samples) => samples
            .iter()
            .map(|s| (metric_string(&s.labels), vec![fmt(s.ts, s.value)]))
            .collect(),
        QueryValue::Scalar { ts, value } => vec![(String::new(), vec![fmt(ts, value)])],
    }
}

fn theirs(golden: &Value) -> Vec<(String, Vec<(String, String)>)> {
    let pair = |p: &Value| {
        (
            p[0].as_str().unwrap().to_string(),
            p[1].as_str().unwrap().to_string(),
        )
    };
    let result = golden["result"].as_array().unwrap();
    if golden["resultType"] == "scalar" {
        return vec![(String::new(), vec![pair(&golden["result"])])];
    }
    result
        .iter()
        .map(|s| {
            let metric = s["metric"].as_str().unwrap().to_string();
            let points = match s.get("values") {
                Some(vs) => vs.as_array().unwrap().iter().map(pair).collect(),
                None => vec![pair(&s["value"])],
            };
            (metric, points)
        })
        .collect()
}

fn params_of(c: &Value) -> EvalParams {
    if c["kind"] == "query" {
        let t = c["time"].as_i64().unwrap() * S;
        EvalParams {
            start: t,
            end: t,
            step: 0,
            instant: true,
            max_series: 500,
        }
    } else {
        EvalParams {
            start: c["start"].as_i64().unwrap() * S,
            end: c["end"].as_i64().unwrap() * S,
            step: c["step"].as_i64().unwrap() * S,
            instant: false,
            max_series: 500,
        }
    }
}

/// Compares our answer for one case with Loki's; `None` when they agree.
fn compare(id: &str, got: Result<QueryValue>, g: &Value) -> Option<String> {
    let status = g["status"].as_i64().unwrap();
    let got = match got {
        Ok(v) if status == 200 => v,
        Err(e) if status == 400 => {
            return matches!(
                e,
                crate::Error::Pipeline { .. } | crate::Error::MaxSeries(_)
            )
            .then_some(())
            .map_or_else(
                || Some(format!("{id}: unexpected error kind {e}")),
                |_| None,
            );
        }
        Ok(_) => return Some(format!("{id}: succeeded, Loki answered {status}")),
        Err(e) => return Some(format!("{id}: failed with {e}, Loki answered {status}")),
    };
    let mut mine = ours(got);
    let want = theirs(g);
    if let Some(order) = g.get("value_order") {
        let my_order: Vec<String> = mine.iter().map(|(_, p)| p[0].1.clone()).collect();
        let want_order: Vec<String> = order
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        if my_order != want_order {
            return Some(format!("{id}: order {my_order:?} != {want_order:?}"));
        }
    }
    mine.sort();
    if g["resultType"] == "scalar" {
        return (!close(&mine[0].1[0].1, &want[0].1[0].1))
            .then(|| format!("{id}: scalar {mine:?} != {want:?}"));
    }
    if mine.len() != want.len() {
        return Some(format!("{id}: {} series, want {}", mine.len(), want.len()));
    }
    for ((ml, mp), (wl, wp)) in mine.iter().zip(&want) {
        let same = ml == wl
            && mp.len() == wp.len()
            && mp
                .iter()
                .zip(wp)
                .all(|(a, b)| a.0 == b.0 && close(&a.1, &b.1));
        if !same {
            let diff = mp
                .iter()
                .zip(wp)
                .find(|(a, b)| !(a.0 == b.0 && close(&a.1, &b.1)));
            return Some(format!(
                "{id}: {ml} ({} pts) vs {wl} ({} pts), first diff {diff:?}",
                mp.len(),
                wp.len()
            ));
        }
    }
    None
}

/// The conformance corpus beside the repository (`../shared/compat`), or
/// the directory in `LODE_COMPAT_DIR`.
fn compat_dir() -> std::path::PathBuf {
    std::env::var_os("LODE_COMPAT_DIR").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/compat"),
        Into::into,
    )
}

/// `LODE_DATASET`, or the corpus's data set dumped by its own generator
/// into a temporary file. A missing corpus fails the test: it must not
/// pass by checking nothing.
fn dataset_and_goldens() -> (String, String, Option<tempfile::TempDir>) {
    let dir = compat_dir();
    let goldens = std::env::var("LODE_GOLDENS")
        .unwrap_or_else(|_| dir.join("goldens-public.json").display().to_string());
    assert!(
        std::path::Path::new(&goldens).exists(),
        "conformance goldens not found at {goldens}: set LODE_COMPAT_DIR"
    );
    if let Ok(d) = std::env::var("LODE_DATASET") {
        return (d, goldens, None);
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("dataset.json");
    let st = std::process::Command::new("python3")
        .arg(dir.join("gen.py"))
        .arg("--dump")
        .arg(&out)
        .status()
        .expect("python3 runs the corpus generator");
    assert!(st.success(), "gen.py --dump failed");
    (out.display().to_string(), goldens, Some(tmp))
}

#[test]
fn golden_answers_match_loki() {
    let (dataset, goldens, _tmp) = dataset_and_goldens();
    let mut data = Dataset::load(&dataset);
    let goldens: Value = serde_json::from_str(&std::fs::read_to_string(goldens).unwrap()).unwrap();
    let mut failures = Vec::new();
    let mut checked = 0;
    for (extract, cases) in [(false, cases()), (true, extracted_cases())] {
        data.extract = extract;
        for (id, expr) in cases {
            let case = &goldens["cases"][id];
            let got = evaluate(&expr, &params_of(&case["case"]), &data);
            failures.extend(compare(id, got, &case["golden"]));
            checked += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
