//! End-to-end tests of whole pipelines on lines shaped like the compat
//! dataset.

use super::*;
use crate::ast::*;

fn stream() -> LabelSet {
    LabelSet::from_pairs([
        ("app", "immich"),
        ("container", "immich-server"),
        ("level", "x"),
        ("service_name", "immich"),
    ])
}

fn sm() -> Vec<(String, String)> {
    vec![("detected_level".to_string(), "error".to_string())]
}

const IMMICH: &str = r#"{"level":"error","msg":"request completed","request":{"method":"PUT","path":"/api/x","headers":{"user_agent":"curl/8.4.0"}},"response":{"status":500,"bytes":55068},"duration":"1.46s","pid":7}"#;

fn num(name: &str, op: CmpOp, value: f64) -> Stage {
    Stage::LabelFilter(LabelFilter::Number {
        name: name.into(),
        op,
        value,
    })
}

fn streq(name: &str, op: MatchOp, value: &str) -> Stage {
    Stage::LabelFilter(LabelFilter::String(Matcher {
        name: name.into(),
        op,
        value: value.into(),
    }))
}

fn contains(s: &str) -> Stage {
    Stage::LineFilter(LineFilter {
        op: LineFilterOp::Contains,
        values: vec![LineFilterValue::Str(s.into())],
    })
}

#[test]
fn line_filters_only_keep_labels_untouched() {
    let p = LogPipeline::new(&[contains("request"), contains("PUT")]).unwrap();
    assert_eq!(
        p.required_substrings(),
        vec![b"request".to_vec(), b"PUT".to_vec()]
    );
    let mut sp = p.for_stream(&stream());
    let e = sp.process(1, IMMICH, &sm()).unwrap();
    assert_eq!(e.line, IMMICH);
    assert_eq!(e.stream, stream());
    assert_eq!(e.structured_metadata.get("detected_level"), Some("error"));
    assert!(e.parsed.is_empty());
    assert_eq!(e.labels.len(), 5);
    assert!(sp.process(2, "GET only", &sm()).is_none());
}

#[test]
fn json_filter_and_categories() {
    let p = LogPipeline::new(&[
        Stage::Parser(Parser::Json { params: vec![] }),
        num("response_status", CmpOp::Ge, 500.0),
        streq("request_method", MatchOp::Eq, "PUT"),
    ])
    .unwrap();
    let mut sp = p.for_stream(&stream());
    let e = sp.process(1, IMMICH, &sm()).unwrap();
    assert_eq!(e.labels.get("level"), Some("x"));
    assert_eq!(e.labels.get("level_extracted"), Some("error"));
    assert_eq!(e.labels.get("response_bytes"), Some("55068"));
    assert_eq!(
        e.labels.get("request_headers_user_agent"),
        Some("curl/8.4.0")
    );
    assert_eq!(e.parsed.get("pid"), Some("7"));
    assert_eq!(e.stream.len(), 4);
    assert_eq!(e.structured_metadata.len(), 1);
    let ok_line = IMMICH.replace("500", "200");
    assert!(sp.process(2, &ok_line, &sm()).is_none());
    // Non-JSON: error labels, then the numeric filter lets it through and
    // the string filter on a missing label drops it.
    assert!(sp.process(3, "1:M 01 Jan 2024 redis", &sm()).is_none());
}

#[test]
fn json_error_is_reported_and_filterable() {
    let p = LogPipeline::new(&[
        Stage::Parser(Parser::Json { params: vec![] }),
        streq("__error__", MatchOp::Neq, ""),
    ])
    .unwrap();
    let mut sp = p.for_stream(&stream());
    let e = sp.process(1, "[2024-01-01] [WRN] x", &sm()).unwrap();
    assert_eq!(e.labels.get("__error__"), Some("JSONParserErr"));
    assert_eq!(
        e.labels.get("__error_details__"),
        Some("Value looks like object, but can't find closing '}' symbol")
    );
    assert!(sp.process(2, IMMICH, &sm()).is_none());
}

#[test]
fn pattern_then_line_filter_sees_original_line() {
    let p = LogPipeline::new(&[
        Stage::Parser(Parser::Pattern(
            r#"<ip> - - [<_>] "<method> <path> <_>" <status> <size>"#.into(),
        )),
        Stage::LabelFilter(LabelFilter::Ip {
            name: "ip".into(),
            negate: false,
            pattern: "10.42.1.0/24".into(),
        }),
        contains("404"),
    ])
    .unwrap();
    let mut sp = p.for_stream(&LabelSet::from_pairs([("app", "traefik")]));
    let line = r#"10.42.1.20 - - [01/Jan/2024:01:12:04 +0000] "GET /login HTTP/2.0" 404 9023 "-""#;
    let e = sp.process(1, line, &[]).unwrap();
    assert_eq!(e.labels.get("method"), Some("GET"));
    assert_eq!(e.labels.get("size"), Some("9023 \"-\""));
    assert!(sp
        .process(2, &line.replace("10.42.1.20", "10.42.0.20"), &[])
        .is_none());
}

#[test]
fn logfmt_keep_and_drop() {
    let p = LogPipeline::new(&[
        Stage::Parser(Parser::Logfmt {
            strict: false,
            keep_empty: false,
            params: vec![],
        }),
        Stage::Keep(vec![
            LabelSelectorItem::Name("app".into()),
            LabelSelectorItem::Matcher(Matcher {
                name: "status".into(),
                op: MatchOp::Re,
                value: "5..".into(),
            }),
        ]),
    ])
    .unwrap();
    let st = LabelSet::from_pairs([("app", "grafana"), ("pod", "g-1")]);
    let mut sp = p.for_stream(&st);
    let e = sp
        .process(1, "logger=context status=503 method=GET", &sm())
        .unwrap();
    assert_eq!(e.labels.to_string(), r#"{app="grafana", status="503"}"#);
    let e = sp.process(2, "status=200", &sm()).unwrap();
    assert_eq!(e.labels.to_string(), r#"{app="grafana"}"#);

    let p = LogPipeline::new(&[
        Stage::Parser(Parser::Logfmt {
            strict: false,
            keep_empty: false,
            params: vec![],
        }),
        Stage::Drop(vec![
            LabelSelectorItem::Name("pod".into()),
            LabelSelectorItem::Name("detected_level".into()),
        ]),
    ])
    .unwrap();
    let mut sp = p.for_stream(&st);
    let e = sp.process(1, "a=1", &sm()).unwrap();
    assert_eq!(e.labels.to_string(), r#"{a="1", app="grafana"}"#);
    assert!(e.structured_metadata.is_empty());
}

#[test]
fn regexp_after_decolorize() {
    let p = LogPipeline::new(&[
        Stage::Decolorize,
        Stage::Parser(Parser::Regexp(r"\[(?P<lvl>[DIWE])\]\[(?P<kind>\w+)".into())),
        streq("lvl", MatchOp::Eq, "E"),
    ])
    .unwrap();
    let mut sp = p.for_stream(&LabelSet::from_pairs([("app", "esphome")]));
    let e = sp
        .process(1, "\x1b[0;33m[E][wifi:20]: 'x' Sending\x1b[0m", &[])
        .unwrap();
    assert_eq!(e.line, "[E][wifi:20]: 'x' Sending");
    assert_eq!(e.labels.get("kind"), Some("wifi"));
    assert!(sp
        .process(2, "\x1b[0;33m[D][wifi:20]\x1b[0m", &[])
        .is_none());
    // Buffers are reused: a following unformatted line is intact.
    let e = sp.process(3, "[E][api:1]", &[]).unwrap();
    assert_eq!(e.line, "[E][api:1]");
}

fn range(pipeline: Vec<Stage>, unwrap: Option<Unwrap>) -> LogRange {
    LogRange {
        log: LogExpr {
            selector: vec![],
            pipeline,
        },
        range: 60_000_000_000,
        offset: 0,
        unwrap,
    }
}

#[test]
fn count_and_bytes_samples_keep_metadata_in_series() {
    let r = range(vec![contains("PUT")], None);
    let ex = SampleExtractor::new(&r, RangeOp::CountOverTime, None).unwrap();
    let mut s = ex.for_stream(&stream());
    let (v, l) = s.process(1, IMMICH, &sm()).unwrap();
    assert_eq!(v, 1.0);
    assert_eq!(l.get("detected_level"), Some("error"));
    let g = Grouping {
        without: false,
        labels: vec!["detected_level".into()],
    };
    let ex = SampleExtractor::new(&r, RangeOp::BytesOverTime, Some(&g)).unwrap();
    let mut s = ex.for_stream(&stream());
    let (v, l) = s.process(1, IMMICH, &sm()).unwrap();
    assert_eq!(v, IMMICH.len() as f64);
    assert_eq!(l.to_string(), r#"{detected_level="error"}"#);
}

#[test]
fn unwrap_converts_and_removes_label() {
    let json = Stage::Parser(Parser::Json { params: vec![] });
    let r = range(
        vec![json.clone()],
        Some(Unwrap {
            label: "duration".into(),
            conv: UnwrapConv::Duration,
            post_filters: vec![],
        }),
    );
    let g = Grouping {
        without: false,
        labels: vec!["request_method".into(), "duration".into()],
    };
    let ex = SampleExtractor::new(&r, RangeOp::QuantileOverTime, Some(&g)).unwrap();
    let mut s = ex.for_stream(&stream());
    let (v, l) = s.process(1, IMMICH, &sm()).unwrap();
    assert!((v - 1.46).abs() < 1e-12);
    assert_eq!(l.to_string(), r#"{request_method="PUT"}"#);
    // Missing label and no error: no sample.
    assert!(s.process(2, r#"{"msg":"x"}"#, &sm()).is_none());
    // Parser error and no label to unwrap: no sample either (Loki skips it;
    // the compat goldens for min/max/first/last_over_time depend on it).
    assert!(s.process(3, "", &sm()).is_none());
}

#[test]
fn unwrap_conversion_error_and_post_filter() {
    let json = Stage::Parser(Parser::Json { params: vec![] });
    let mk = |post: Vec<LabelFilter>| {
        range(
            vec![json.clone()],
            Some(Unwrap {
                label: "msg".into(),
                conv: UnwrapConv::None,
                post_filters: post,
            }),
        )
    };
    let ex = SampleExtractor::new(&mk(vec![]), RangeOp::SumOverTime, None).unwrap();
    let mut s = ex.for_stream(&stream());
    let (_, l) = s.process(1, IMMICH, &sm()).unwrap();
    assert_eq!(l.get("__error__"), Some("SampleExtractionErr"));
    assert_eq!(
        l.get("__error_details__"),
        Some("strconv.ParseFloat: parsing \"request completed\": invalid syntax")
    );
    let no_err = LabelFilter::String(Matcher {
        name: "__error__".into(),
        op: MatchOp::Eq,
        value: String::new(),
    });
    let ex = SampleExtractor::new(&mk(vec![no_err]), RangeOp::SumOverTime, None).unwrap();
    let mut s = ex.for_stream(&stream());
    assert!(s.process(1, IMMICH, &sm()).is_none());
    let (v, l) = s.process(2, r#"{"msg":"2.5"}"#, &sm()).unwrap();
    assert_eq!(v, 2.5);
    assert_eq!(l.get("msg"), None);
}

#[test]
fn invalid_stages_fail_to_compile() {
    assert!(LogPipeline::new(&[Stage::Parser(Parser::Regexp("(a)".into()))]).is_err());
    assert!(LogPipeline::new(&[Stage::Parser(Parser::Pattern("<_>".into()))]).is_err());
    assert!(LogPipeline::new(&[Stage::LineFilter(LineFilter {
        op: LineFilterOp::Contains,
        values: vec![LineFilterValue::Ip("x".into())],
    })])
    .is_err());
}
