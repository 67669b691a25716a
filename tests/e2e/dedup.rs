//! Re-sent batches (Alloy re-reads a log after losing its position) do not
//! duplicate entries: not in log query results, not in metric results, not
//! after a flush and restart.

mod common;

use common::{Entry, PushStream, Server};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

const SEC: i64 = 1_000_000_000;
const ALL: &str = r#"{app="dup"}"#;

/// Two streams. Stream `a` has entries sharing a timestamp with different
/// lines (distinct entries, both kept); stream `b` repeats one of `a`'s
/// timestamp+line pairs (a different stream, so also distinct).
fn batch(base: i64) -> Vec<PushStream> {
    let a = vec![
        Entry::new(base, "first"),
        Entry::new(base + SEC, "same second, line one"),
        Entry::new(base + SEC, "same second, line two"),
        Entry::new(base + 2 * SEC, "with metadata").with_metadata("trace_id", "abc"),
        Entry::new(base + 3 * SEC, "shared line"),
        Entry::new(base + 4 * SEC, "last"),
    ];
    let b = vec![
        Entry::new(base + 3 * SEC, "shared line"),
        Entry::new(base + 5 * SEC, "b one"),
        Entry::new(base + 6 * SEC, "b two"),
        Entry::new(base + 6 * SEC, "b three"),
    ];
    vec![
        PushStream::new(r#"{app="dup", pod="a"}"#, a),
        PushStream::new(r#"{app="dup", pod="b"}"#, b),
    ]
}

/// `(pod, ts, line)` the batch holds, sorted.
fn expected(batch: &[PushStream]) -> Vec<(String, i64, String)> {
    let mut out: Vec<_> = batch
        .iter()
        .flat_map(|s| {
            let pod = common::parse_simple_labels(&s.labels)
                .into_iter()
                .find(|(n, _)| n == "pod")
                .expect("pod label")
                .1;
            s.entries
                .iter()
                .map(move |e| (pod.clone(), e.ts, e.line.clone()))
        })
        .collect();
    out.sort();
    out
}

fn returned(v: &Value) -> Vec<(String, i64, String)> {
    let mut out: Vec<_> = common::flatten(v)
        .into_iter()
        .map(|(l, ts, line)| (l["pod"].as_str().expect("pod label").to_string(), ts, line))
        .collect();
    out.sort();
    out
}

/// Instant `sum by (pod) (count_over_time(...))` → pod → count.
fn counts(s: &Server, at: i64) -> BTreeMap<String, String> {
    let t = at.to_string();
    let v = s.get_json(
        "/loki/api/v1/query",
        &[
            (
                "query",
                &format!("sum by (pod) (count_over_time({ALL}[1h]))"),
            ),
            ("time", &t),
        ],
        &[],
    );
    assert_eq!(v["data"]["resultType"], "vector", "{v}");
    v["data"]["result"]
        .as_array()
        .expect("vector result")
        .iter()
        .map(|r| {
            (
                r["metric"]["pod"].as_str().expect("pod").to_string(),
                r["value"][1].as_str().expect("string value").to_string(),
            )
        })
        .collect()
}

fn assert_no_duplicates(s: &Server, base: i64, want: &[(String, i64, String)], when: &str) {
    let (start, end) = (base - SEC, base + 600 * SEC);
    for dir in ["forward", "backward"] {
        let v = s.query_logs(None, ALL, start, end, 1000, dir);
        assert_eq!(
            returned(&v),
            want,
            "{when}: {dir} query returned duplicates or lost entries: {v}"
        );
    }
    // Duplicates must not use up the limit either.
    let v = s.query_logs(None, ALL, start, end, want.len(), "forward");
    assert_eq!(
        returned(&v),
        want,
        "{when}: limit = number of distinct entries"
    );
    let v = s.query_logs(None, r#"{app="dup", pod="a"}"#, start, end, 2, "forward");
    let got: Vec<String> = returned(&v).into_iter().map(|e| e.2).collect();
    assert_eq!(
        got,
        ["first", "same second, line one"],
        "{when}: forward limit 2 on stream a: {v}"
    );

    let per_pod = |pod: &str| want.iter().filter(|e| e.0 == pod).count().to_string();
    let want_counts = BTreeMap::from([
        ("a".to_string(), per_pod("a")),
        ("b".to_string(), per_pod("b")),
    ]);
    assert_eq!(
        counts(s, base + 60 * SEC),
        want_counts,
        "{when}: count_over_time counts duplicates"
    );

    // A range metric query: one point per minute, summed over the window.
    let (st, en) = (
        (base + 60 * SEC).to_string(),
        (base + 120 * SEC).to_string(),
    );
    let v = s.get_json(
        "/loki/api/v1/query_range",
        &[
            ("query", &format!("sum(count_over_time({ALL}[5m]))")),
            ("start", &st),
            ("end", &en),
            ("step", "60"),
        ],
        &[],
    );
    assert_eq!(v["data"]["resultType"], "matrix", "{v}");
    let values = &v["data"]["result"][0]["values"];
    let total = want.len().to_string();
    assert_eq!(
        values.as_array().map(Vec::len),
        Some(2),
        "{when}: two steps: {v}"
    );
    for p in values.as_array().unwrap() {
        assert_eq!(p[1], json!(total), "{when}: matrix count_over_time: {v}");
    }
}

#[test]
fn re_pushed_batches_are_not_duplicated() {
    let mut s = Server::start();
    let base = common::base_ts(Duration::from_secs(40 * 60));
    let b = batch(base);
    let want = expected(&b);

    for (i, how) in ["protobuf", "protobuf again", "gzipped JSON"]
        .iter()
        .enumerate()
    {
        let r = if i < 2 {
            s.push_proto(None, &b)
        } else {
            s.push_json_gzip(None, &b)
        };
        assert_eq!(r.status, 204, "push {how}: {}", r.text());
    }
    assert_no_duplicates(&s, base, &want, "three pushes of one batch");

    // Once in chunk files, once more in the head after a restart.
    s.flush();
    s.restart_clean();
    let r = s.push_proto(None, &b);
    assert_eq!(r.status, 204, "push after restart: {}", r.text());
    assert_no_duplicates(&s, base, &want, "pushed again after flush and restart");

    // Both copies flushed into different chunk files.
    s.flush();
    s.kill();
    s.spawn();
    assert_no_duplicates(
        &s,
        base,
        &want,
        "both copies flushed, then SIGKILL and restart",
    );
}
