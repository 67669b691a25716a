//! Checks whole pipelines against Loki's answers on the compat dataset.
//! Opt-in: set `LODE_PIPELINE_GOLDEN` to a JSON file made from the compat
//! goldens (per case: candidate entries and the expected entries); the
//! pipelines are built by hand here until the parser is available.

use std::collections::BTreeMap;

use serde_json::Value;

use super::*;
use crate::ast::*;

fn s(name: &str, op: MatchOp, v: &str) -> LabelFilter {
    LabelFilter::String(Matcher {
        name: name.into(),
        op,
        value: v.into(),
    })
}
fn n(name: &str, op: CmpOp, value: f64) -> LabelFilter {
    LabelFilter::Number {
        name: name.into(),
        op,
        value,
    }
}
fn lf(f: LabelFilter) -> Stage {
    Stage::LabelFilter(f)
}
fn line(op: LineFilterOp, vals: &[&str]) -> Stage {
    Stage::LineFilter(LineFilter {
        op,
        values: vals
            .iter()
            .map(|v| LineFilterValue::Str(v.to_string()))
            .collect(),
    })
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
fn or(a: LabelFilter, b: LabelFilter) -> LabelFilter {
    LabelFilter::Or(Box::new(a), Box::new(b))
}
fn dur(name: &str, op: CmpOp, secs: i64) -> LabelFilter {
    LabelFilter::Duration {
        name: name.into(),
        op,
        value: secs * 1_000_000_000,
    }
}

const TRAEFIK: &str = r#"<ip> - - [<_>] "<method> <path> <_>" <status> <size> "<_>" "<agent>" <_> "<router>" "<upstream>" <latency>"#;

fn pipeline_for(case: &str) -> Option<Vec<Stage>> {
    use CmpOp as C;
    use MatchOp as M;
    Some(match case {
        "json-01" => vec![json()],
        "json-10" => vec![json(), lf(s("__error__", M::Neq, ""))],
        "json-12" => vec![json(), lf(s("__error__", M::Eq, "JSONParserErr"))],
        "json-17" => vec![
            json(),
            lf(or(
                n("payload_temperature", C::Ge, 27.9),
                n("payload_humidity", C::Eq, 31.0),
            )),
        ],
        "logfmt-01" => vec![logfmt()],
        "logfmt-11" => vec![logfmt(), lf(s("msg", M::Re, "Slow SQL.*"))],
        "logfmt-12" => vec![
            Stage::Parser(Parser::Logfmt {
                strict: true,
                keep_empty: false,
                params: vec![],
            }),
            lf(s("__error__", M::Neq, "")),
        ],
        "regexp-01" => vec![Stage::Parser(Parser::Regexp(
            r#"^(?P<ip>\S+) - - \[[^\]]+\] "(?P<method>\S+) (?P<path>\S+) HTTP/(?P<proto>[0-9.]+)" (?P<status>\d{3}) (?P<size>\d+)"#.into(),
        ))],
        "pattern-05" => vec![Stage::Parser(Parser::Pattern(
            "<_>: Client <client> <what> its connection.".into(),
        ))],
        "unpack-01" => vec![Stage::Parser(Parser::Unpack)],
        "drop-02" => vec![
            json(),
            Stage::Drop(vec![LabelSelectorItem::Matcher(Matcher {
                name: "level".into(),
                op: M::Eq,
                value: "info".into(),
            })]),
        ],
        "keep-02" => vec![
            logfmt(),
            Stage::Keep(vec![
                LabelSelectorItem::Name("app".into()),
                LabelSelectorItem::Matcher(Matcher {
                    name: "level".into(),
                    op: M::Eq,
                    value: "error".into(),
                }),
            ]),
        ],
        "lbl-05" => vec![
            Stage::Parser(Parser::Pattern(TRAEFIK.into())),
            lf(LabelFilter::Ip {
                name: "ip".into(),
                negate: false,
                pattern: "10.42.1.0/24".into(),
            }),
            lf(s("status", M::Eq, "404")),
        ],
        "fmt-15" => vec![
            Stage::Decolorize,
            Stage::Parser(Parser::Regexp(r"\[(?P<lvl>[DIWE])\]\[(?P<kind>\w+)".into())),
            lf(s("lvl", M::Eq, "E")),
        ],
        "lf-ip-01" => vec![Stage::LineFilter(LineFilter {
            op: LineFilterOp::Contains,
            values: vec![LineFilterValue::Ip("192.168.1.0/24".into())],
        })],
        "lf-re-01" => vec![line(LineFilterOp::Match, &[r#"" (5\d\d) "#])],
        "lf-icase-02" => vec![line(LineFilterOp::Match, &["(?i)node is now ASLEEP"])],
        "lf-multiline-02" => vec![line(LineFilterOp::Match, &["(?s)ERR.*IOException"])],
        "lf-empty-01" => vec![line(LineFilterOp::NotMatch, &[".+"])],
        "lf-or-02" => vec![line(LineFilterOp::Match, &[r"status=5\d\d", "level=error"])],
        "logfmt-14" => vec![
            Stage::Parser(Parser::Logfmt {
                strict: false,
                keep_empty: false,
                params: vec![
                    ("path".into(), "path".into()),
                    ("st".into(), "status".into()),
                ],
            }),
            lf(s("st", M::Eq, "404")),
        ],
        "logfmt-16" => vec![
            logfmt(),
            lf(LabelFilter::Bytes {
                name: "bytes".into(),
                op: C::Gt,
                value: 99_000.0,
            }),
        ],
        "json-15" => vec![
            json(),
            lf(LabelFilter::Bytes {
                name: "response_bytes".into(),
                op: C::Gt,
                value: 190_000.0,
            }),
        ],
        "json-14" => vec![json(), lf(dur("duration", C::Gt, 2))],
        "lbl-01" => vec![lf(or(
            s("level", M::Eq, "error"),
            s("node", M::Eq, "k3s-worker-02"),
        ))],
        "sm-01" => vec![lf(s("trace_id", M::Neq, ""))],
        "json-04" => vec![
            Stage::Parser(Parser::Json {
                params: vec![("ua".into(), "request.headers.user_agent".into())],
            }),
            lf(s("ua", M::Re, ".*iPhone.*")),
        ],
        "pattern-02" => vec![
            Stage::Parser(Parser::Pattern(TRAEFIK.into())),
            lf(dur("latency", C::Gt, 10)),
        ],
        "logfmt-15" => vec![
            logfmt(),
            lf(or(s("progress", M::Eq, "13%"), s("level", M::Eq, "error"))),
        ],
        "json-08" => vec![
            json(),
            lf(LabelFilter::And(
                Box::new(s("flow_node_type", M::Eq, "http request")),
                Box::new(n("status", C::Ge, 500.0)),
            )),
        ],
        _ => return None,
    })
}

fn obj(v: &Value) -> Vec<(String, String)> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

type Row = (i64, String, String);

#[test]
fn compat_goldens() {
    let Ok(path) = std::env::var("LODE_PIPELINE_GOLDEN") else {
        return;
    };
    let data: BTreeMap<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut failed = Vec::new();
    for (case, c) in &data {
        let Some(stages) = pipeline_for(case) else {
            continue;
        };
        let p = LogPipeline::new(&stages).unwrap();
        let limit = c["limit"].as_u64().unwrap() as usize;
        let mut got: Vec<Row> = Vec::new();
        let mut runners: BTreeMap<String, StreamPipeline<'_>> = BTreeMap::new();
        for e in c["entries"].as_array().unwrap() {
            let stream = LabelSet::from_pairs(obj(&e[1]));
            let sm = obj(&e[3]);
            let r = runners
                .entry(stream.to_string())
                .or_insert_with(|| p.for_stream(&stream));
            if let Some(out) = r.process(e[0].as_i64().unwrap(), e[2].as_str().unwrap(), &sm) {
                got.push((
                    e[0].as_i64().unwrap(),
                    out.labels.to_string(),
                    out.line.clone(),
                ));
            }
        }
        got.sort_by(|a, b| b.0.cmp(&a.0));
        got.truncate(limit);
        let mut want: Vec<Row> = c["expected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e[0].as_i64().unwrap(),
                    LabelSet::from_pairs(obj(&e[1])).to_string(),
                    e[2].as_str().unwrap().to_string(),
                )
            })
            .collect();
        want.sort_by(|a, b| b.0.cmp(&a.0));
        if got != want {
            let diff: Vec<String> = want
                .iter()
                .filter(|w| !got.contains(w))
                .take(2)
                .map(|w| format!("  want {w:?}"))
                .chain(
                    got.iter()
                        .filter(|g| !want.contains(g))
                        .take(2)
                        .map(|g| format!("  got  {g:?}")),
                )
                .collect();
            failed.push(format!(
                "{case}: got {} want {}\n{}",
                got.len(),
                want.len(),
                diff.join("\n")
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
