//! The requests `logcli` makes (shared HTTP reference §8), replayed with its
//! parameter spellings and headers, decoded the way logcli's Go types need:
//! `query` with batched pagination, `instant-query`, `labels`, `series`
//! (`match`, not `match[]`), `stats`, `volume`, `volume_range` and
//! `detected-fields`. (logcli itself ships in no registry this project can
//! install from; its `query --tail` request is covered by the tail tests.)

mod common;

use common::{base_ts, Entry, PushStream, Server};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;

const SEC: i64 = 1_000_000_000;
const LOGCLI: [(&str, &str); 3] = [
    ("User-Agent", "loki-logcli/3.7.6"),
    ("X-Query-Tags", "source=logcli"),
    ("Cache-Control", "no-cache"),
];

fn seeded() -> (Server, i64) {
    let srv = Server::start();
    let t0 = base_ts(Duration::from_secs(1200));
    let a: Vec<Entry> = (0..25)
        .map(|i| Entry::new(t0 + i * SEC, format!("a line {i}")))
        .collect();
    let b: Vec<Entry> = (0..15)
        .map(|i| Entry::new(t0 + i * SEC + SEC / 2, format!("b line {i}")))
        .collect();
    let r = srv.push_proto(
        None,
        &[
            PushStream::new(r#"{job="a", team="x"}"#, a),
            PushStream::new(r#"{job="b", team="x"}"#, b),
        ],
    );
    assert_eq!(r.status, 204);
    (srv, t0)
}

fn get(srv: &Server, path: &str, params: &[(&str, String)]) -> Value {
    let p: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    srv.get_json(path, &p, &LOGCLI)
}

/// logcli's batching: pages of `batch` until `limit`, moving `end` (or
/// `start`) to the last entry and dropping the overlap it has seen.
fn paginate(
    srv: &Server,
    query: &str,
    start: i64,
    end: i64,
    limit: usize,
    batch: usize,
    forward: bool,
) -> Vec<(i64, String)> {
    let (mut start, mut end) = (start, end);
    let mut out: Vec<(i64, String)> = Vec::new();
    let mut seen: HashSet<(i64, String)> = HashSet::new();
    while out.len() < limit {
        let v = get(
            srv,
            "/loki/api/v1/query_range",
            &[
                ("query", query.to_string()),
                (
                    "limit",
                    batch.min(limit - out.len() + seen.len()).max(1).to_string(),
                ),
                ("start", start.to_string()),
                ("end", end.to_string()),
                (
                    "direction",
                    if forward { "FORWARD" } else { "BACKWARD" }.to_string(),
                ),
            ],
        );
        let mut page: Vec<(i64, String)> = common::flatten(&v)
            .into_iter()
            .map(|(_, t, l)| (t, l))
            .collect();
        page.sort();
        if !forward {
            page.reverse();
        }
        let fresh: Vec<_> = page.iter().filter(|e| !seen.contains(e)).cloned().collect();
        if fresh.is_empty() {
            break;
        }
        let last = page.last().unwrap().0;
        seen = page.iter().filter(|e| e.0 == last).cloned().collect();
        out.extend(fresh.into_iter().take(limit - out.len()));
        if forward {
            start = last;
        } else {
            end = last + 1;
        }
    }
    out
}

#[test]
fn query_paginates_both_directions() {
    let (srv, t0) = seeded();
    let q = r#"{team="x"}"#;
    let all = paginate(&srv, q, t0, t0 + 100 * SEC, 1000, 7, false);
    assert_eq!(all.len(), 40);
    assert!(
        all.windows(2).all(|w| w[0].0 > w[1].0),
        "newest first, no duplicates"
    );
    let fwd = paginate(&srv, q, t0, t0 + 100 * SEC, 30, 4, true);
    assert_eq!(fwd.len(), 30);
    assert!(fwd.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(fwd[0].1, "a line 0");
    // End is exclusive, start inclusive.
    let v = get(
        &srv,
        "/loki/api/v1/query_range",
        &[
            ("query", r#"{job="a"}"#.into()),
            ("start", t0.to_string()),
            ("end", (t0 + 2 * SEC).to_string()),
            ("direction", "FORWARD".into()),
        ],
    );
    let lines: Vec<String> = common::flatten(&v).into_iter().map(|e| e.2).collect();
    assert_eq!(lines, vec!["a line 0", "a line 1"]);
}

#[test]
fn instant_query_labels_series() {
    let (srv, t0) = seeded();
    let now = (t0 + 30 * SEC).to_string();
    let v = get(
        &srv,
        "/loki/api/v1/query",
        &[
            (
                "query",
                r#"sum by (job) (count_over_time({team="x"}[1h]))"#.into(),
            ),
            ("limit", "30".into()),
            ("time", now.clone()),
            ("direction", "BACKWARD".into()),
        ],
    );
    assert_eq!(v["data"]["resultType"], "vector");
    let mut got: Vec<(String, String)> = v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["metric"]["job"].as_str().unwrap().to_string(),
                s["value"][1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![("a".into(), "25".into()), ("b".into(), "15".into())]
    );
    let range = [("start", (t0 - SEC).to_string()), ("end", now.clone())];
    let l = get(&srv, "/loki/api/v1/labels", &range);
    assert_eq!(l["data"], json!(["job", "service_name", "team"]));
    let lv = get(&srv, "/loki/api/v1/label/job/values", &range);
    assert_eq!(lv["data"], json!(["a", "b"]));
    let mut p = range.to_vec();
    p.push(("match", r#"{job="b"}"#.into()));
    let s = get(&srv, "/loki/api/v1/series", &p);
    assert_eq!(
        s["data"],
        json!([{"job": "b", "service_name": "b", "team": "x"}])
    );
}

#[test]
fn stats_volume_detected_fields() {
    let (srv, t0) = seeded();
    let range = [
        ("start", (t0 - SEC).to_string()),
        ("end", (t0 + 60 * SEC).to_string()),
    ];
    let mut p = range.to_vec();
    p.push(("query", r#"{team="x"}"#.into()));
    let st = get(&srv, "/loki/api/v1/index/stats", &p);
    for k in ["streams", "chunks", "entries", "bytes"] {
        assert!(st[k].is_u64(), "{k}: {st}");
    }
    assert_eq!(st["streams"], 2);
    assert_eq!(st["entries"], 40);

    let mut p = range.to_vec();
    p.extend([
        ("query", r#"{team="x"}"#.to_string()),
        ("limit", "30".into()),
    ]);
    let v = get(&srv, "/loki/api/v1/index/volume", &p);
    assert_eq!(v["data"]["resultType"], "vector");
    assert_eq!(
        v["data"]["result"].as_array().unwrap().len(),
        1,
        "grouped by the selector's labels: {v}"
    );
    assert_eq!(v["data"]["result"][0]["metric"], json!({"team": "x"}));

    let mut p = range.to_vec();
    p.extend([
        ("query", r#"{team="x"}"#.to_string()),
        ("limit", "30".into()),
        ("step", "3600".into()),
        ("targetLabels", "job".into()),
        ("aggregateBy", "labels".into()),
    ]);
    let v = get(&srv, "/loki/api/v1/index/volume_range", &p);
    assert_eq!(v["data"]["resultType"], "matrix");
    assert_eq!(v["data"]["result"][0]["metric"], json!({"job": ""}));
    let pts = v["data"]["result"][0]["values"].as_array().unwrap();
    assert!(!pts.is_empty() && pts[0][0].is_number() && pts[0][1].is_string());

    let mut p = range.to_vec();
    p.extend([
        ("query", r#"{job="a"}"#.to_string()),
        ("limit", "10".into()),
        ("line_limit", "100".into()),
        ("step", "10s".into()),
    ]);
    let f = get(&srv, "/loki/api/v1/detected_fields", &p);
    assert_eq!(f["limit"], 10);
    assert!(f["fields"].is_array());
}
