//! Replays the requests Grafana's Loki datasource and Logs Drilldown make
//! (parameters, headers, time formats as documented in the shared HTTP
//! reference §1–§4) and asserts the response shapes their parsers need.

mod common;

use common::{base_ts, form_encode, keys_at_depth, Entry, PushStream, Server};
use serde_json::{json, Value};
use std::time::Duration;

const SEC: i64 = 1_000_000_000;

/// A server with a few streams: logfmt and JSON lines, structured metadata.
fn seeded() -> (Server, i64) {
    let srv = Server::start();
    let t0 = base_ts(Duration::from_secs(600));
    let mut api = Vec::new();
    for i in 0..20 {
        let status = if i % 5 == 0 { 500 } else { 200 };
        let level = if status == 500 { "error" } else { "info" };
        api.push(
            Entry::new(
                t0 + i * SEC,
                format!(
                    "level={level} msg=request path=/api/v{} status={status} duration={}ms",
                    i % 3,
                    10 + i
                ),
            )
            .with_metadata("trace_id", &format!("t{i}")),
        );
    }
    let web: Vec<Entry> = (0..10)
        .map(|i| {
            Entry::new(
                t0 + i * SEC,
                format!(r#"{{"level":"warn","user":{{"id":{i}}},"msg":"slow page"}}"#),
            )
        })
        .collect();
    let r = srv.push_proto(
        None,
        &[
            PushStream::new(r#"{app="api", env="prod", cluster="eu"}"#, api),
            PushStream::new(r#"{app="web", env="dev", cluster="eu"}"#, web),
        ],
    );
    assert_eq!(r.status, 204, "{}", r.text());
    (srv, t0)
}

fn ns(t: i64) -> String {
    t.to_string()
}

/// What Grafana's backend sends with every data query.
const GRAFANA: [(&str, &str); 2] = [
    ("X-Loki-Response-Encoding-Flags", "categorize-labels"),
    ("User-Agent", "Grafana/12.3.0"),
];

#[test]
fn health_check() {
    let srv = Server::start();
    let v = srv.get_json(
        "/loki/api/v1/query",
        &[
            ("query", "vector(1)+vector(1)"),
            ("time", "4000000000"),
            ("direction", "backward"),
        ],
        &GRAFANA,
    );
    assert_eq!(v["status"], "success");
    assert_eq!(v["data"]["resultType"], "vector");
    assert_eq!(
        v["data"]["result"],
        json!([{"metric": {}, "value": [4000000000u64, "2"]}])
    );
}

#[test]
fn explore_log_query_categorized() {
    let (srv, t0) = seeded();
    let params = [
        ("query", r#"{app="api"} | logfmt | status >= 500"#),
        ("direction", "backward"),
        ("limit", "1000"),
        ("start", &ns(t0 - SEC)),
        ("end", &ns(t0 + 60 * SEC)),
        ("step", "200ms"),
    ];
    let url = format!("/loki/api/v1/query_range?{}", form_encode(&params));
    let r = srv.request(
        "GET",
        &url,
        &[
            GRAFANA[0],
            GRAFANA[1],
            ("X-Query-Tags", "Source=infinitescroll"),
        ],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    // Grafana's streaming reader: encodingFlags before result, stats after.
    let keys = keys_at_depth(&text, 2);
    let pos = |k: &str| {
        keys.iter()
            .position(|x| x == k)
            .unwrap_or_else(|| panic!("{k} missing: {keys:?}"))
    };
    assert!(
        pos("resultType") < pos("result")
            && pos("encodingFlags") < pos("result")
            && pos("result") < pos("stats"),
        "{keys:?}"
    );
    let v = r.json();
    assert_eq!(v["data"]["encodingFlags"], json!(["categorize-labels"]));
    let res = v["data"]["result"].as_array().unwrap();
    assert_eq!(res.len(), 1, "grouped by indexed labels: {v}");
    assert_eq!(
        res[0]["stream"],
        json!({"app": "api", "cluster": "eu", "env": "prod", "service_name": "api"})
    );
    let values = res[0]["values"].as_array().unwrap();
    assert_eq!(values.len(), 4);
    for e in values {
        assert_eq!(e.as_array().unwrap().len(), 3, "{e}");
        assert_eq!(e[2]["parsed"]["status"], "500");
        assert!(e[2]["structuredMetadata"]["trace_id"].is_string());
        assert_eq!(e[2]["structuredMetadata"]["detected_level"], "error");
    }
    // Newest first (backward).
    let ts: Vec<i64> = values
        .iter()
        .map(|e| e[0].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(ts.windows(2).all(|w| w[0] >= w[1]));
    assert!(
        v["data"]["stats"]["summary"]["totalLinesProcessed"]
            .as_u64()
            .unwrap()
            >= 4
    );

    // Older Grafana sent no flag: 2-element entries, merged labels.
    let v = srv.get_json("/loki/api/v1/query_range", &params, &[]);
    assert!(v["data"].get("encodingFlags").is_none());
    let e = &v["data"]["result"][0];
    assert_eq!(e["values"][0].as_array().unwrap().len(), 2);
    assert_eq!(e["stream"]["status"], "500");
}

#[test]
fn log_volume_histogram_and_sample() {
    let (srv, t0) = seeded();
    let params = [
        (
            "query",
            r#"sum by (level, detected_level) (count_over_time({app=~"api|web"} | drop __error__[10s]))"#,
        ),
        ("start", &ns(t0 - 10 * SEC)),
        ("end", &ns(t0 + 60 * SEC)),
        ("step", "10000ms"),
    ];
    let url = format!("/loki/api/v1/query_range?{}", form_encode(&params));
    let r = srv.request(
        "GET",
        &url,
        &[GRAFANA[0], ("X-Query-Tags", "Source=logvolhist")],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["data"]["resultType"], "matrix");
    assert!(
        v["data"].get("encodingFlags").is_none(),
        "metric results carry no flags"
    );
    let mut total = 0.0;
    let mut levels = Vec::new();
    for s in v["data"]["result"].as_array().unwrap() {
        levels.push(s["metric"]["detected_level"].as_str().unwrap().to_string());
        for p in s["values"].as_array().unwrap() {
            assert!(p[0].is_number(), "sample ts is a number: {p}");
            total += p[1]
                .as_str()
                .expect("sample value is a string")
                .parse::<f64>()
                .unwrap();
        }
    }
    levels.sort();
    assert_eq!(levels, vec!["error", "info", "warn"]);
    assert_eq!(total, 30.0);
}

#[test]
fn label_browser_and_variables() {
    let (srv, t0) = seeded();
    let range = [("start", ns(t0 - SEC)), ("end", ns(t0 + 60 * SEC))];
    let rp: Vec<(&str, &str)> = range.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let labels = srv.get_json("/loki/api/v1/labels", &rp, &[]);
    assert_eq!(labels["status"], "success");
    assert_eq!(
        labels["data"],
        json!(["app", "cluster", "env", "service_name"])
    );
    let mut p = rp.clone();
    p.push(("query", r#"{env="prod"}"#));
    let vals = srv.get_json("/loki/api/v1/label/app/values", &p, &[]);
    assert_eq!(vals["data"], json!(["api"]));
    // Shard splitting probe: no shards → empty list, not an error.
    let shards = srv.get_json("/loki/api/v1/label/__stream_shard__/values", &rp, &[]);
    assert_eq!(shards["data"].as_array().map(Vec::len).unwrap_or(0), 0);
    let mut p = rp.clone();
    p.push(("match[]", r#"{cluster="eu"}"#));
    let series = srv.get_json("/loki/api/v1/series", &p, &[]);
    assert_eq!(series["data"].as_array().unwrap().len(), 2);
    assert!(series["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["cluster"] == "eu"));
    // Query size estimate: a bare object.
    let mut p = rp.clone();
    p.push(("query", r#"{app="api"}"#));
    let st = srv.get_json("/loki/api/v1/index/stats", &p, &[]);
    assert_eq!(st["streams"], 1);
    assert_eq!(st["entries"], 20);
    assert!(
        st["bytes"].as_u64().unwrap() > 0 && st["chunks"].is_number(),
        "{st}"
    );
    // Formatter button.
    let f = srv.get_json(
        "/loki/api/v1/format_query",
        &[("query", r#"{app="api"}|="x""#)],
        &[],
    );
    assert_eq!(f["status"], "success");
    assert!(f["data"].as_str().unwrap().contains(r#"|= "x""#));
    let b = srv.get_json("/loki/api/v1/status/buildinfo", &[], &[]);
    assert!(b["version"].as_str().unwrap().starts_with('3'));
}

#[test]
fn drilldown_service_list_and_tabs() {
    let (srv, t0) = seeded();
    let iso = |t: i64| {
        // Drilldown sends RFC3339 with milliseconds; build it from the epoch.
        let secs = t / SEC;
        let (days, rem) = (secs / 86_400, secs % 86_400);
        let (y, m, d) = civil(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.000Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    };
    let (start, end) = (iso(t0 - 60 * SEC), iso(t0 + 120 * SEC));
    let tags = [
        ("X-Query-Tags", "Source=grafana-lokiexplore-app"),
        ("X-Grafana-Cache", "private, max-age=86400"),
    ];
    let v = srv.get_json(
        "/loki/api/v1/index/volume",
        &[
            ("query", r#"{service_name=~".+"}"#),
            ("limit", "5000"),
            ("start", &start),
            ("end", &end),
        ],
        &tags,
    );
    assert_eq!(v["data"]["resultType"], "vector");
    let services: Vec<&str> = v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["metric"]["service_name"].as_str().unwrap())
        .collect();
    assert_eq!(services.len(), 2, "{v}");
    assert!(v["data"]["result"][0]["value"][1].is_string());

    let lim = srv.get_json("/loki/api/v1/drilldown-limits", &[], &tags);
    assert_eq!(lim["pattern_ingester_enabled"], true);
    assert!(
        lim["limits"]["max_query_length"].is_string()
            && lim["limits"]["retention_period"].is_string(),
        "{lim}"
    );
    assert!(lim["version"].is_string());

    let q = r#"{service_name="api"}"#;
    let dl = srv.get_json(
        "/loki/api/v1/detected_labels",
        &[
            ("query", r#"{cluster="eu"}"#),
            ("start", &start),
            ("end", &end),
        ],
        &tags,
    );
    let dl = dl["detectedLabels"].as_array().unwrap();
    assert!(
        dl.contains(&json!({"label": "app", "cardinality": 2})),
        "{dl:?}"
    );
    assert!(
        dl.contains(&json!({"label": "cluster", "cardinality": 1})),
        "static labels stay: {dl:?}"
    );

    let df = srv.get_json(
        "/loki/api/v1/detected_fields",
        &[
            ("query", q),
            ("start", &start),
            ("end", &end),
            ("line_limit", "1000"),
        ],
        &tags,
    );
    assert_eq!(df["limit"], 1000);
    let fields = df["fields"].as_array().unwrap();
    let field = |n: &str| {
        fields
            .iter()
            .find(|f| f["label"] == n)
            .unwrap_or_else(|| panic!("{n} missing: {df}"))
            .clone()
    };
    assert_eq!(field("status")["type"], "int");
    assert_eq!(field("status")["cardinality"], 2);
    assert_eq!(field("status")["parsers"], json!(["logfmt"]));
    assert_eq!(field("duration")["type"], "duration");
    assert_eq!(field("trace_id")["parsers"], Value::Null);
    assert_eq!(field("trace_id")["cardinality"], 20);
    assert!(
        fields.iter().all(|f| f["label"] != "app"),
        "stream labels are not fields"
    );

    let dj = srv.get_json(
        "/loki/api/v1/detected_fields",
        &[
            ("query", r#"{app="web"}"#),
            ("start", &start),
            ("end", &end),
        ],
        &[],
    );
    let uid = dj["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["label"] == "user_id")
        .expect("user_id")
        .clone();
    assert_eq!(uid["jsonPath"], json!(["user", "id"]));
    assert_eq!(uid["parsers"], json!(["json"]));
    assert_eq!(uid["cardinality"], 10);

    let dv = srv.get_json(
        "/loki/api/v1/detected_field/status/values",
        &[("query", q), ("start", &start), ("end", &end)],
        &tags,
    );
    assert_eq!(dv["values"], json!(["200", "500"]));
    assert!(dv["limit"].is_number());

    let pat = srv.get_json(
        "/loki/api/v1/patterns",
        &[
            ("query", q),
            ("start", &start),
            ("end", &end),
            ("step", "10s"),
        ],
        &tags,
    );
    assert_eq!(pat["status"], "success");
    let pats = pat["data"].as_array().unwrap();
    assert!(!pats.is_empty());
    let mut total = 0;
    for p in pats {
        assert!(p["pattern"].as_str().unwrap().contains("<_>"), "{p}");
        assert!(p["level"].is_string());
        for s in p["samples"].as_array().unwrap() {
            assert!(
                s[0].is_i64() && s[1].is_i64(),
                "samples are [int seconds, int count]: {s}"
            );
            total += s[1].as_i64().unwrap();
        }
    }
    assert_eq!(total, 20);
    // Each pattern is a usable `|>` filter over the same lines.
    for p in pats {
        let q = format!(
            r#"{{service_name="api"}} |> "{}""#,
            p["pattern"].as_str().unwrap().replace('"', "\\\"")
        );
        let v = srv.query_logs(None, &q, t0 - SEC, t0 + 60 * SEC, 1000, "forward");
        let n: i64 = p["samples"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s[1].as_i64().unwrap())
            .sum();
        assert_eq!(common::flatten(&v).len() as i64, n, "{q}");
    }
}

fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `detected_fields` reads at most `max_entries_limit_per_query` lines,
/// whatever `line_limit` a client sends (the cardinality of a per-line
/// unique field shows how many were read).
#[test]
fn detected_fields_line_limit_is_bounded() {
    let srv = Server::start_with_config(Some("limits_config:\n  max_entries_limit_per_query: 5\n"));
    let t0 = base_ts(Duration::from_secs(600));
    let lines: Vec<Entry> = (0..20)
        .map(|i| Entry::new(t0 + i * SEC, format!("level=info req=r{i}")))
        .collect();
    let r = srv.push_proto(None, &[PushStream::new(r#"{app="many"}"#, lines)]);
    assert_eq!(r.status, 204, "{}", r.text());
    let (start, end) = (ns(t0 - SEC), ns(t0 + 30 * SEC));
    let cardinality = |line_limit: &str| {
        let df = srv.get_json(
            "/loki/api/v1/detected_fields",
            &[
                ("query", r#"{app="many"}"#),
                ("start", &start),
                ("end", &end),
                ("line_limit", line_limit),
            ],
            &[],
        );
        df["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["label"] == "req")
            .unwrap_or_else(|| panic!("req missing: {df}"))["cardinality"]
            .clone()
    };
    assert_eq!(cardinality("3"), 3);
    assert_eq!(cardinality("1000000000"), 5);
}
