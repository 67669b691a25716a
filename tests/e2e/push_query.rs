//! End to end: entries pushed as protobuf+snappy and as gzipped JSON come
//! back from `query_range`, `labels`, `label/<name>/values` and `series`
//! with Loki's response shapes, and survive restarts.

mod common;

use common::{flatten, form_encode, keys_at_depth, Entry, PushStream, Server};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;

const SEC: i64 = 1_000_000_000;

/// One entry as a query must return it by default: the full label set is
/// the stream labels, `service_name`, structured metadata and
/// `detected_level` merged.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Expected {
    ts: i64,
    line: String,
    indexed: BTreeMap<String, String>,
    metadata: BTreeMap<String, String>,
}

impl Expected {
    fn merged(&self) -> BTreeMap<String, String> {
        let mut m = self.indexed.clone();
        m.extend(self.metadata.clone());
        m
    }
}

struct Fixture {
    base: i64,
    proto: PushStream,
    json: PushStream,
    expected: Vec<Expected>,
}

/// `{app="api",env="prod"}` by protobuf at even seconds, `{app="web",env="dev"}`
/// by JSON at odd seconds, so the two streams interleave in time. Two entries
/// carry the word `needle`, some carry structured metadata.
fn fixture() -> Fixture {
    let base = common::base_ts(Duration::from_secs(30 * 60));
    let mut proto = PushStream::new(r#"{app="api", env="prod"}"#, Vec::new());
    let mut json = PushStream::new(r#"{env="dev",app="web"}"#, Vec::new());
    let mut expected = Vec::new();
    for i in 0..6i64 {
        let (level, line) = if i == 3 {
            (
                "error",
                format!("level=error msg=\"api failed needle {i}\""),
            )
        } else {
            ("info", format!("level=info msg=\"api request {i}\""))
        };
        let mut e = Entry::new(base + 2 * i * SEC, line);
        if i == 1 || i == 4 {
            e = e.with_metadata("trace_id", &format!("t{i}"));
        }
        expected.push(expect(
            &e,
            &[("app", "api"), ("env", "prod"), ("service_name", "api")],
            level,
        ));
        proto.entries.push(e);

        let mut e = Entry::new(
            base + (2 * i + 1) * SEC,
            format!(
                "level=warn msg=\"web hit {i}{}\"",
                if i == 2 { " needle" } else { "" }
            ),
        );
        if i == 2 {
            e = e.with_metadata("user", "u2");
        }
        expected.push(expect(
            &e,
            &[("app", "web"), ("env", "dev"), ("service_name", "web")],
            "warn",
        ));
        json.entries.push(e);
    }
    expected.sort();
    Fixture {
        base,
        proto,
        json,
        expected,
    }
}

fn expect(e: &Entry, indexed: &[(&str, &str)], level: &str) -> Expected {
    let mut metadata: BTreeMap<String, String> = e.metadata.iter().cloned().collect();
    metadata.insert("detected_level".into(), level.into());
    Expected {
        ts: e.ts,
        line: e.line.clone(),
        indexed: indexed
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
        metadata,
    }
}

fn push_fixture(s: &Server, f: &Fixture) {
    let r = s.push_proto(None, std::slice::from_ref(&f.proto));
    assert_eq!(r.status, 204, "protobuf push: {}", r.text());
    let r = s.push_json_gzip(None, std::slice::from_ref(&f.json));
    assert_eq!(r.status, 204, "gzipped JSON push: {}", r.text());
}

fn to_map(m: &Map<String, Value>) -> BTreeMap<String, String> {
    m.iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str()
                    .unwrap_or_else(|| panic!("label {k} is not a string: {v}"))
                    .to_string(),
            )
        })
        .collect()
}

/// `(merged labels, ts, line)` of every returned entry, in answer order.
fn got_default(v: &Value) -> Vec<(BTreeMap<String, String>, i64, String)> {
    flatten(v)
        .into_iter()
        .map(|(l, ts, line)| (to_map(&l), ts, line))
        .collect()
}

fn want_default(e: &[&Expected]) -> Vec<(BTreeMap<String, String>, i64, String)> {
    e.iter()
        .map(|e| (e.merged(), e.ts, e.line.clone()))
        .collect()
}

/// Checks Loki's grouping rules: one result element per distinct label
/// set, entries inside each in `direction` order.
fn assert_grouping(v: &Value, forward: bool) {
    let result = v["data"]["result"].as_array().expect("result array");
    let mut seen = Vec::new();
    for s in result {
        let labels = s["stream"].clone();
        assert!(
            !seen.contains(&labels),
            "label set {labels} appears in two result elements: {v}"
        );
        seen.push(labels);
        let ts: Vec<i64> = s["values"]
            .as_array()
            .expect("values")
            .iter()
            .map(|e| e[0].as_str().expect("ns string").parse().expect("ns"))
            .collect();
        let mut sorted = ts.clone();
        sorted.sort_unstable();
        if !forward {
            sorted.reverse();
        }
        assert_eq!(
            ts,
            sorted,
            "entries of {} not in {} order",
            s["stream"],
            if forward { "forward" } else { "backward" }
        );
    }
}

/// Entries sorted like a query in `direction` would take them.
fn sorted_by_ts(
    mut got: Vec<(BTreeMap<String, String>, i64, String)>,
) -> Vec<(BTreeMap<String, String>, i64, String)> {
    got.sort_by(|a, b| (a.1, &a.2).cmp(&(b.1, &b.2)));
    got
}

const ALL: &str = r#"{env=~"prod|dev"}"#;

#[test]
fn pushed_entries_come_back_from_query_range() {
    let s = Server::start();
    let f = fixture();
    push_fixture(&s, &f);
    let (start, end) = (f.base - SEC, f.base + 3600 * SEC);
    let all: Vec<&Expected> = f.expected.iter().collect();

    // Forward and backward, everything.
    for dir in ["forward", "backward"] {
        let v = s.query_logs(None, ALL, start, end, 100, dir);
        assert_grouping(&v, dir == "forward");
        assert_eq!(
            sorted_by_ts(got_default(&v)),
            want_default(&all),
            "{dir} query of everything: {v}"
        );
    }

    // `limit` takes the first N in direction order across both streams.
    let v = s.query_logs(None, ALL, start, end, 3, "backward");
    assert_eq!(
        sorted_by_ts(got_default(&v)),
        want_default(&all[all.len() - 3..]),
        "backward limit 3 must be the newest 3: {v}"
    );
    let v = s.query_logs(None, ALL, start, end, 3, "forward");
    assert_eq!(
        sorted_by_ts(got_default(&v)),
        want_default(&all[..3]),
        "forward limit 3 must be the oldest 3: {v}"
    );

    // Line filter; `start` inclusive, `end` exclusive.
    let needles: Vec<&Expected> = all
        .iter()
        .copied()
        .filter(|e| e.line.contains("needle"))
        .collect();
    assert_eq!(needles.len(), 2);
    let v = s.query_logs(
        None,
        &format!("{ALL} |= \"needle\""),
        start,
        end,
        100,
        "forward",
    );
    assert_eq!(
        sorted_by_ts(got_default(&v)),
        want_default(&needles),
        "line filter |= needle: {v}"
    );
    let v = s.query_logs(
        None,
        r#"{app="api"} != "needle""#,
        all[2].ts,
        all[6].ts,
        100,
        "forward",
    );
    let want: Vec<&Expected> = all[2..6]
        .iter()
        .copied()
        .filter(|e| e.indexed["app"] == "api" && !e.line.contains("needle"))
        .collect();
    assert_eq!(
        sorted_by_ts(got_default(&v)),
        want_default(&want),
        "start inclusive, end exclusive, != filter: {v}"
    );

    // Default response shape and key order.
    let url = format!(
        "/loki/api/v1/query_range?{}",
        form_encode(&[
            ("query", ALL),
            ("start", &start.to_string()),
            ("end", &end.to_string()),
            ("direction", "forward")
        ])
    );
    let r = s.get(&url);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "content-type: {:?}",
        r.header("content-type")
    );
    let text = r.text();
    assert!(text.ends_with('\n'), "Loki ends JSON bodies with a newline");
    assert_eq!(
        keys_at_depth(&text, 1),
        ["status", "data"],
        "top-level keys: {text}"
    );
    let data_keys = keys_at_depth(&text, 2);
    assert_eq!(
        data_keys.first().map(String::as_str),
        Some("resultType"),
        "resultType comes first: {text}"
    );
    assert!(
        !data_keys.iter().any(|k| k == "encodingFlags"),
        "no encodingFlags without the header: {text}"
    );
    let pos = |k: &str| {
        data_keys
            .iter()
            .position(|x| x == k)
            .unwrap_or_else(|| panic!("data.{k} missing: {text}"))
    };
    assert!(
        pos("result") < pos("stats"),
        "stats must come after result: {data_keys:?}"
    );
    let v = r.json();
    assert!(
        v["data"]["stats"]["summary"].is_object(),
        "data.stats.summary missing: {v}"
    );
    for s in v["data"]["result"].as_array().unwrap() {
        for e in s["values"].as_array().unwrap() {
            assert_eq!(
                e.as_array().unwrap().len(),
                2,
                "default encoding has [ts, line] pairs: {e}"
            );
        }
    }

    // Grafana's categorized encoding: indexed labels in `stream`, metadata
    // in a third element, `encodingFlags` before `result`.
    let r = s.request(
        "GET",
        &url,
        &[("X-Loki-Response-Encoding-Flags", "categorize-labels")],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    let data_keys = keys_at_depth(&text, 2);
    let pos = |k: &str| {
        data_keys
            .iter()
            .position(|x| x == k)
            .unwrap_or_else(|| panic!("data.{k} missing: {text}"))
    };
    assert!(
        pos("resultType") < pos("result")
            && pos("encodingFlags") < pos("result")
            && pos("result") < pos("stats"),
        "key order {data_keys:?}"
    );
    let v = r.json();
    assert_eq!(v["data"]["encodingFlags"], json!(["categorize-labels"]));
    let mut got = Vec::new();
    for st in v["data"]["result"].as_array().unwrap() {
        let indexed = to_map(st["stream"].as_object().expect("stream object"));
        for e in st["values"].as_array().unwrap() {
            let e = e.as_array().unwrap();
            assert_eq!(
                e.len(),
                3,
                "categorized entries are [ts, line, {{...}}]: {e:?}"
            );
            let meta = e[2]
                .as_object()
                .unwrap_or_else(|| panic!("third element must be an object: {e:?}"));
            assert!(
                meta.get("parsed").is_none(),
                "no parsed labels without a parser: {e:?}"
            );
            let sm = meta
                .get("structuredMetadata")
                .map(|m| to_map(m.as_object().expect("structuredMetadata object")))
                .unwrap_or_default();
            got.push(Expected {
                ts: e[0].as_str().unwrap().parse().unwrap(),
                line: e[1].as_str().unwrap().to_string(),
                indexed: indexed.clone(),
                metadata: sm,
            });
        }
    }
    got.sort();
    assert_eq!(got, f.expected, "categorized answer");

    // Form-encoded POST answers the same as GET.
    let form = form_encode(&[
        ("query", ALL),
        ("start", &start.to_string()),
        ("end", &end.to_string()),
        ("limit", "4"),
        ("direction", "forward"),
    ]);
    let r = s.request(
        "POST",
        "/loki/api/v1/query_range",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    );
    assert_eq!(r.status, 200, "form POST: {}", r.text());
    assert_eq!(
        sorted_by_ts(got_default(&r.json())),
        want_default(&all[..4]),
        "form POST with limit 4 forward: {}",
        r.text()
    );
}

#[test]
fn labels_values_and_series() {
    let s = Server::start();
    let f = fixture();
    push_fixture(&s, &f);
    let (start, end) = (
        (f.base - SEC).to_string(),
        (f.base + 3600 * SEC).to_string(),
    );
    let window = [("start", start.as_str()), ("end", end.as_str())];
    let with = |extra: &[(&'static str, &'static str)]| -> Vec<(&str, &str)> {
        window
            .iter()
            .copied()
            .chain(extra.iter().copied())
            .collect()
    };

    let v = s.get_json("/loki/api/v1/labels", &window, &[]);
    assert_eq!(
        v,
        json!({"status": "success", "data": ["app", "env", "service_name"]}),
        "labels (structured metadata is not indexed)"
    );
    let v = s.get_json(
        "/loki/api/v1/labels",
        &with(&[("query", r#"{app="web"}"#)]),
        &[],
    );
    assert_eq!(v["data"], json!(["app", "env", "service_name"]));

    let v = s.get_json("/loki/api/v1/label/app/values", &window, &[]);
    assert_eq!(
        v,
        json!({"status": "success", "data": ["api", "web"]}),
        "label/app/values"
    );
    let v = s.get_json(
        "/loki/api/v1/label/env/values",
        &with(&[("query", r#"{app="api"}"#)]),
        &[],
    );
    assert_eq!(
        v["data"],
        json!(["prod"]),
        "label/env/values restricted by query"
    );
    let v = s.get_json("/loki/api/v1/label/service_name/values", &window, &[]);
    assert_eq!(
        v["data"],
        json!(["api", "web"]),
        "service_name derived from app"
    );

    let v = s.get_json(
        "/loki/api/v1/series",
        &with(&[("match[]", r#"{app="api"}"#)]),
        &[],
    );
    assert_eq!(
        v,
        json!({"status": "success", "data": [{"app": "api", "env": "prod", "service_name": "api"}]}),
        "series for one selector"
    );
    let v = s.get_json(
        "/loki/api/v1/series",
        &with(&[("match[]", r#"{app="api"}"#), ("match[]", r#"{env="dev"}"#)]),
        &[],
    );
    let mut series: Vec<String> = v["data"]
        .as_array()
        .expect("series array")
        .iter()
        .map(Value::to_string)
        .collect();
    series.sort();
    assert_eq!(
        series,
        [
            json!({"app": "api", "env": "prod", "service_name": "api"}).to_string(),
            json!({"app": "web", "env": "dev", "service_name": "web"}).to_string()
        ],
        "two match[] selectors are unioned: {v}"
    );
    let form = form_encode(&with(&[("match[]", r#"{env="dev"}"#)]));
    let r = s.request(
        "POST",
        "/loki/api/v1/series",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["data"],
        json!([{"app": "web", "env": "dev", "service_name": "web"}]),
        "series by form POST"
    );
}

#[test]
fn data_survives_clean_restart_and_flush() {
    let mut s = Server::start();
    let f = fixture();
    push_fixture(&s, &f);
    let (start, end) = (f.base - SEC, f.base + 3600 * SEC);
    let all: Vec<&Expected> = f.expected.iter().collect();
    let check = |s: &Server, want: &[&Expected], when: &str| {
        let v = s.query_logs(None, ALL, start, end, 1000, "forward");
        assert_grouping(&v, true);
        assert_eq!(sorted_by_ts(got_default(&v)), want_default(want), "{when}");
        let v = s.get_json(
            "/loki/api/v1/label/app/values",
            &[("start", &start.to_string()), ("end", &end.to_string())],
            &[],
        );
        assert_eq!(v["data"], json!(["api", "web"]), "label values {when}");
    };
    check(&s, &all, "before any restart");

    s.restart_clean();
    check(&s, &all, "after SIGTERM and restart");

    // More data, persisted by an explicit flush, then a hard kill: nothing
    // may rely on the shutdown path.
    let extra = PushStream::new(
        r#"{app="api", env="prod"}"#,
        vec![Entry::new(
            f.base + 100 * SEC,
            "level=info msg=\"after restart\"",
        )],
    );
    let r = s.push_proto(None, std::slice::from_ref(&extra));
    assert_eq!(r.status, 204, "{}", r.text());
    s.flush();
    s.kill();
    s.spawn();
    let mut more = f.expected.clone();
    more.push(expect(
        &extra.entries[0],
        &[("app", "api"), ("env", "prod"), ("service_name", "api")],
        "info",
    ));
    more.sort();
    let more: Vec<&Expected> = more.iter().collect();
    check(&s, &more, "after POST /flush, SIGKILL and restart");

    s.restart_clean();
    check(&s, &more, "after a second clean restart");
}

/// The server runs with mimalloc returning freed memory after 100 ms (it
/// re-executes itself with `MIMALLOC_PURGE_DELAY=100`, keeping its PID).
#[test]
fn the_server_returns_freed_memory_soon() {
    let srv = common::Server::start();
    let env = std::fs::read(format!("/proc/{}/environ", srv.pid())).expect("environ");
    let vars: Vec<&[u8]> = env.split(|&b| b == 0).collect();
    assert!(
        vars.contains(&&b"MIMALLOC_PURGE_DELAY=100"[..]),
        "{:?}",
        String::from_utf8_lossy(&env)
    );
    assert_eq!(srv.get("/ready").status, 200);
}
