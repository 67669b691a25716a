//! Answers that must be Loki's exactly, family by family (issue 12): label
//! filters on values that are absent or do not convert, the order of series
//! in query results, and the timestamps of every endpoint that makes them.
//! Each expectation says which Loki behaviour it relies on.

mod common;

use common::{flatten, Entry, PushStream, Server};
use std::time::Duration;

const SEC: i64 = 1_000_000_000;

/// Lines of `{app="lf"}`, parsed with `| json`. Per converting label:
/// a value, absent (3, 7, 8), empty (4), unparsable (5); 7 is not JSON at
/// all (`JSONParserErr` before any label filter), 8 carries an address.
const LINES: [&str; 8] = [
    r#"{"id":1,"size":"2KB","lat":"1s","n":5}"#,
    r#"{"id":2,"size":"500B","lat":"3s","n":50}"#,
    r#"{"id":3}"#,
    r#"{"id":4,"size":"","lat":"","n":""}"#,
    r#"{"id":5,"size":"abc","lat":"abc","n":"abc"}"#,
    r#"{"id":6,"size":"1.5MB","lat":"250ms","n":-1}"#,
    "id=7 this line is not JSON",
    r#"{"id":8,"addr":"10.1.2.3"}"#,
];

fn label_filter_server() -> (Server, i64) {
    let s = Server::start();
    let base = common::base_ts(Duration::from_secs(600));
    let entries = LINES
        .iter()
        .enumerate()
        .map(|(i, l)| Entry::new(base + i as i64 * SEC, *l))
        .collect();
    let r = s.push_proto(None, &[PushStream::new(r#"{app="lf"}"#, entries)]);
    assert_eq!(r.status, 204, "{}", r.text());
    (s, base)
}

/// The ids of the lines a log query returns, in time order, and the ids
/// that came back with `__error__` set.
fn ids(s: &Server, base: i64, filter: &str) -> (Vec<u32>, Vec<u32>) {
    let q = format!(r#"{{app="lf"}} | json | {filter}"#);
    let v = s.query_logs(None, &q, base - SEC, base + 60 * SEC, 100, "forward");
    let mut hits = flatten(&v);
    hits.sort_by_key(|(_, ts, _)| *ts);
    let id = |ts: i64| ((ts - base) / SEC + 1) as u32;
    let all = hits.iter().map(|(_, ts, _)| id(*ts)).collect();
    let errors = hits
        .iter()
        .filter(|(labels, _, _)| labels.contains_key("__error__"))
        .map(|(_, ts, _)| id(*ts))
        .collect();
    (all, errors)
}

#[test]
fn label_filters_on_absent_empty_and_unparsable_values_match_loki() {
    let (s, base) = label_filter_server();
    // Loki 3's converting filters (pkg/logql/log/label_filter.go, since
    // grafana/loki#12378): a label the entry lacks drops it for every
    // operator; a value that does not convert (the empty string included:
    // humanize.ParseBytes, time.ParseDuration and strconv.ParseFloat all
    // refuse "") keeps it with __error__="LabelFilterErr"; an entry that
    // already has an error (line 7's JSONParserErr) is still compared, and
    // lacks the label. So 4 and 5 pass every comparison with an error, and
    // 3, 7 and 8 pass none.
    let cases: &[(&str, &[u32])] = &[
        // bytes: 2000, 500, -, "", abc, 1500000
        ("size == 1KB", &[4, 5]),
        ("size != 1KB", &[1, 2, 4, 5, 6]),
        ("size > 1KB", &[1, 4, 5, 6]),
        ("size >= 500B", &[1, 2, 4, 5, 6]),
        ("size < 1KB", &[2, 4, 5]),
        ("size <= 2KB", &[1, 2, 4, 5]),
        // durations: 1s, 3s, -, "", abc, 250ms
        ("lat == 1s", &[1, 4, 5]),
        ("lat != 1s", &[2, 4, 5, 6]),
        ("lat > 1s", &[2, 4, 5]),
        ("lat >= 1s", &[1, 2, 4, 5]),
        ("lat < 1s", &[4, 5, 6]),
        ("lat <= 250ms", &[4, 5, 6]),
        // numbers: 5, 50, -, "", abc, -1
        ("n == 5", &[1, 4, 5]),
        ("n != 5", &[2, 4, 5, 6]),
        ("n > 5", &[2, 4, 5]),
        ("n >= 5", &[1, 2, 4, 5]),
        ("n < 5", &[4, 5, 6]),
        ("n <= 0", &[4, 5, 6]),
        // BinaryLabelFilter: `and` (and `,`) evaluates both sides, `or`
        // stops at a passing left side; `and` binds tighter than `or`.
        ("size > 1KB and lat < 2s", &[1, 4, 5, 6]),
        ("size > 1KB or n > 10", &[1, 2, 4, 5, 6]),
        ("size > 1KB, n < 0", &[4, 5, 6]),
        ("n > 10 or lat > 2s and size < 1KB", &[2, 4, 5]),
        (r#"id="3" or n > 10"#, &[2, 3, 4, 5]),
        // A string filter compares a missing label as "" (and so can test
        // __error__); a converting one drops the entry.
        ("nope != 5", &[]),
        (r#"nope != "5""#, &[1, 2, 3, 4, 5, 6, 7, 8]),
        // ip() (pkg/logql/log/ip.go): an entry with an error passes, a
        // missing label drops, for = and != alike.
        (r#"addr = ip("10.0.0.0/8")"#, &[7, 8]),
        (r#"addr != ip("10.0.0.0/8")"#, &[7]),
    ];
    for (filter, want) in cases {
        let (got, errors) = ids(&s, base, filter);
        assert_eq!(&got, want, "| json | {filter}");
        // Conversion errors are marked (4 and 5, when the filter converts
        // size, lat or n); line 7 keeps its parser error.
        let converts = ["size", "lat", "n "].iter().any(|l| filter.contains(l));
        let marked = |i: &u32| *i == 7 || (converts && [4, 5].contains(i));
        let want_errors: Vec<u32> = want.iter().copied().filter(marked).collect();
        assert_eq!(
            errors, want_errors,
            "| json | {filter}: entries with __error__"
        );
        // A later `__error__=""` removes exactly the marked entries.
        let (clean, _) = ids(&s, base, &format!(r#"{filter} | __error__="""#));
        let want_clean: Vec<u32> = want.iter().copied().filter(|i| !marked(i)).collect();
        assert_eq!(clean, want_clean, r#"| json | {filter} | __error__="""#);
    }
    // The first error of an entry wins: line 5 fails `size` first, and its
    // details are go-humanize's.
    let v = s.query_logs(
        None,
        r#"{app="lf"} | json | size > 1KB | lat > 1s"#,
        base + 4 * SEC,
        base + 5 * SEC,
        10,
        "forward",
    );
    let hits = flatten(&v);
    assert_eq!(hits.len(), 1, "{v}");
    assert_eq!(hits[0].0["__error__"], "LabelFilterErr");
    let details = hits[0].0["__error_details__"].as_str().unwrap_or_default();
    // go-humanize reads no digits before "abc", so ParseFloat("") fails.
    assert_eq!(details, r#"strconv.ParseFloat: parsing "": invalid syntax"#);
}

const MIN: i64 = 60 * SEC;

/// `{app="o", pod=...}`: p1 has 3 lines, p2 1, p3 4, p4 2, so label order
/// and value order differ. Returns the server and a minute boundary `t0`
/// half an hour ago; line `i` of a pod is at `t0 + 10 s + i min`.
fn order_server() -> (Server, i64) {
    let s = Server::start();
    let t0 = common::base_ts(Duration::from_secs(1800));
    let t0 = t0 - t0 % MIN;
    let streams: Vec<PushStream> = [("p1", 3), ("p2", 1), ("p3", 4), ("p4", 2)]
        .iter()
        .map(|(pod, n)| {
            let entries = (0..*n)
                .map(|i| Entry::new(t0 + 10 * SEC + i * MIN, format!("pod={pod} line {i}")))
                .collect();
            PushStream::new(&format!(r#"{{app="o", pod="{pod}"}}"#), entries)
        })
        .collect();
    let r = s.push_proto(None, &streams);
    assert_eq!(r.status, 204, "{}", r.text());
    (s, t0)
}

fn pods_of(v: &serde_json::Value) -> Vec<String> {
    v["data"]["result"]
        .as_array()
        .unwrap_or_else(|| panic!("no result: {v}"))
        .iter()
        .map(|r| r["metric"]["pod"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn instant_and_range_results_come_in_lokis_series_order() {
    let (s, t0) = order_server();
    let at = (t0 + 5 * MIN).to_string();
    let c = r#"count_over_time({app="o"}[10m])"#;
    // Loki's engine sorts an instant vector by labels unless `sort` or
    // `sort_desc` appears in the expression (logql.Sortable in engine.go):
    // topk and bottomk keep their members but not their value order.
    let cases: Vec<(String, Vec<&str>)> = vec![
        (c.to_string(), vec!["p1", "p2", "p3", "p4"]),
        (format!("topk(2, {c})"), vec!["p1", "p3"]),
        (format!("bottomk(2, {c})"), vec!["p2", "p4"]),
        (format!("sum by (pod) ({c})"), vec!["p1", "p2", "p3", "p4"]),
        (format!("{c} * 2"), vec!["p1", "p2", "p3", "p4"]),
        (format!("{c} > 1"), vec!["p1", "p3", "p4"]),
        (format!("sort({c})"), vec!["p2", "p4", "p1", "p3"]),
        (format!("sort_desc({c})"), vec!["p3", "p1", "p4", "p2"]),
        (
            format!("sort_desc(sum by (pod) ({c}))"),
            vec!["p3", "p1", "p4", "p2"],
        ),
        // A sort below keeps the computed order: topk's, largest first.
        (format!("topk(3, sort_desc({c}))"), vec!["p3", "p1", "p4"]),
    ];
    for (q, want) in &cases {
        let v = s.get_json("/loki/api/v1/query", &[("query", q), ("time", &at)], &[]);
        assert_eq!(v["data"]["resultType"], "vector", "{q}: {v}");
        assert_eq!(&pods_of(&v), want, "{q}");
    }
    // Range results (matrices) are always sorted by labels, sorted or not.
    let (start, end) = ((t0 + MIN).to_string(), (t0 + 5 * MIN).to_string());
    for q in [
        c.to_string(),
        format!("sort_desc({c})"),
        format!("topk(2, {c})"),
    ] {
        let v = s.get_json(
            "/loki/api/v1/query_range",
            &[
                ("query", &q),
                ("start", &start),
                ("end", &end),
                ("step", "60"),
            ],
            &[],
        );
        assert_eq!(v["data"]["resultType"], "matrix", "{q}: {v}");
        let pods = pods_of(&v);
        let mut sorted = pods.clone();
        sorted.sort();
        assert_eq!(pods, sorted, "{q}");
        assert!(pods.len() >= 2, "{q}: {v}");
    }
}

fn sample_times(v: &serde_json::Value) -> Vec<Vec<f64>> {
    v["data"]["result"]
        .as_array()
        .unwrap_or_else(|| panic!("no result: {v}"))
        .iter()
        .map(|r| {
            r["values"]
                .as_array()
                .expect("values")
                .iter()
                .map(|p| p[0].as_f64().expect("ts"))
                .collect()
        })
        .collect()
}

#[test]
fn every_endpoint_puts_its_timestamps_where_loki_does() {
    let (s, t0) = order_server();
    let secs = |ns: i64| ns as f64 / 1e9;
    // volume_range: Loki's volume middleware cuts [start, end] with
    // util.ForInterval: boundaries at multiples of step since the epoch,
    // each bucket reported at its end (1 ms before the next boundary), the
    // last one exactly at `end`. Lines are at t0+10s, +70s, +130s, +190s.
    let (start, end) = (t0 + 5 * SEC, t0 + 150 * SEC);
    let v = s.get_json(
        "/loki/api/v1/index/volume_range",
        &[
            ("query", r#"{app="o"}"#),
            ("start", &start.to_string()),
            ("end", &end.to_string()),
            ("step", "60"),
        ],
        &[],
    );
    let times = sample_times(&v);
    assert_eq!(times.len(), 1, "one series ({{app=\"o\"}}): {v}");
    let want = [
        secs(t0 + MIN) - 0.001,
        secs(t0 + 2 * MIN) - 0.001,
        secs(end),
    ];
    assert_eq!(times[0].len(), 3, "{v}");
    for (got, want) in times[0].iter().zip(want) {
        assert!(
            (got - want).abs() < 1e-6,
            "volume_range point at {got}, Loki's at {want}: {v}"
        );
    }
    // Bytes per bucket: 4 lines at +10s, 3 at +70s, 2 at +130s.
    let line = |pod: &str, i: i64| format!("pod={pod} line {i}").len() as u64;
    let bucket_bytes = |i: i64| -> u64 {
        [("p1", 3), ("p2", 1), ("p3", 4), ("p4", 2)]
            .iter()
            .filter(|(_, n)| i < *n)
            .map(|(p, _)| line(p, i))
            .sum()
    };
    let values: Vec<u64> = v["data"]["result"][0]["values"]
        .as_array()
        .expect("values")
        .iter()
        .map(|p| p[1].as_str().expect("value").parse().expect("bytes"))
        .collect();
    assert_eq!(
        values,
        [bucket_bytes(0), bucket_bytes(1), bucket_bytes(2)],
        "{v}"
    );

    // query_range with a step: points at start + k * step (Prometheus'
    // evaluation instants; Loki does not align them unless told to).
    let start = t0 + 7 * SEC;
    let v = s.get_json(
        "/loki/api/v1/query_range",
        &[
            ("query", r#"sum(count_over_time({app="o"}[1m]))"#),
            ("start", &start.to_string()),
            ("end", &(start + 4 * MIN).to_string()),
            ("step", "60"),
        ],
        &[],
    );
    for t in &sample_times(&v)[0] {
        let k = (t - secs(start)) / 60.0;
        assert!(
            (k - k.round()).abs() < 1e-9,
            "point {t} off the grid from {start}: {v}"
        );
    }
    // ... and without one: Loki's default step, max(1 s, range / 250)
    // truncated to whole seconds (here 1000 s / 250 = 4 s).
    let v = s.get_json(
        "/loki/api/v1/query_range",
        &[
            ("query", r#"sum(count_over_time({app="o"}[1m]))"#),
            ("start", &start.to_string()),
            ("end", &(start + 1000 * SEC).to_string()),
        ],
        &[],
    );
    let ts = &sample_times(&v)[0];
    assert!(ts.len() > 2, "{v}");
    for w in ts.windows(2) {
        let d = w[1] - w[0];
        assert!(
            ((d / 4.0) - (d / 4.0).round()).abs() < 1e-9,
            "step {d} s, not a multiple of 4: {v}"
        );
    }
    for t in ts {
        let k = (t - secs(start)) / 4.0;
        assert!(
            (k - k.round()).abs() < 1e-9,
            "point {t} off the 4 s grid: {v}"
        );
    }

    // patterns: samples per step bucket, on multiples of the step since
    // the epoch, counting every line once.
    let v = s.get_json(
        "/loki/api/v1/patterns",
        &[
            ("query", r#"{app="o"}"#),
            ("start", &t0.to_string()),
            ("end", &(t0 + 10 * MIN).to_string()),
            ("step", "60s"),
        ],
        &[],
    );
    let mut total = 0.0;
    for p in v["data"].as_array().unwrap_or_else(|| panic!("{v}")) {
        for sample in p["samples"].as_array().expect("samples") {
            let t = sample[0].as_f64().expect("ts");
            assert!(
                (t / 60.0 - (t / 60.0).round()).abs() < 1e-9,
                "pattern sample at {t}: {v}"
            );
            total += sample[1].as_f64().expect("count");
        }
    }
    assert_eq!(total, 10.0, "{v}");
}

#[test]
fn variants_and_approx_topk_answer_as_a_default_loki() {
    let (s, t0) = order_server();
    let at = (t0 + 5 * MIN).to_string();
    let (start, end) = ((t0 + MIN).to_string(), (t0 + 5 * MIN).to_string());
    let variants = r#"variants(count_over_time({app="o"}[1m]), bytes_over_time({app="o"}[1m])) of ({app="o"}[1m])"#;
    // Loki 3.5+ parses it (format_query prints it back) but runs it only
    // with an experimental limit on: 400 on both query endpoints.
    let v = s.get_json("/loki/api/v1/format_query", &[("query", variants)], &[]);
    assert_eq!(v["status"], "success", "{v}");
    assert!(
        v["data"].as_str().unwrap_or("").starts_with("variants("),
        "{v}"
    );
    for (path, params) in [
        (
            "/loki/api/v1/query",
            vec![("query", variants), ("time", at.as_str())],
        ),
        (
            "/loki/api/v1/query_range",
            vec![
                ("query", variants),
                ("start", start.as_str()),
                ("end", end.as_str()),
            ],
        ),
    ] {
        let r = s.request(
            "GET",
            &format!("{path}?{}", common::form_encode(&params)),
            &[],
            b"",
        );
        assert_eq!(r.status, 400, "{path}: {}", r.text());
        assert_eq!(
            r.text().trim(),
            "multi variant queries are disabled for this instance"
        );
    }
    // approx_topk without `shard_aggregations: [approx_topk]`: Loki's
    // query sharding refuses it with a 500.
    let q = r#"approx_topk(2, count_over_time({app="o"}[10m]))"#;
    let r = s.request(
        "GET",
        &format!(
            "/loki/api/v1/query?{}",
            common::form_encode(&[("query", q), ("time", &at)])
        ),
        &[],
        b"",
    );
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(
        r.text().trim(),
        "approx_topk is not enabled. See -limits.shard_aggregations"
    );
    let v = s.get_json("/loki/api/v1/format_query", &[("query", q)], &[]);
    assert!(
        v["data"].as_str().unwrap_or("").starts_with("approx_topk("),
        "{v}"
    );
}

#[test]
fn approx_topk_runs_where_shard_aggregations_allow_it() {
    let s = Server::start_with_config(Some(
        "limits_config:\n  shard_aggregations: [approx_topk]\n",
    ));
    let t0 = common::base_ts(Duration::from_secs(1800));
    let streams: Vec<PushStream> = [("p1", 3), ("p2", 1), ("p3", 4)]
        .iter()
        .map(|(pod, n)| {
            let entries = (0..*n).map(|i| Entry::new(t0 + i * SEC, "x")).collect();
            PushStream::new(&format!(r#"{{app="o", pod="{pod}"}}"#), entries)
        })
        .collect();
    assert_eq!(s.push_proto(None, &streams).status, 204);
    let at = (t0 + MIN).to_string();
    let q = r#"approx_topk(2, count_over_time({app="o"}[10m]))"#;
    let v = s.get_json("/loki/api/v1/query", &[("query", q), ("time", &at)], &[]);
    assert_eq!(pods_of(&v), ["p1", "p3"], "{v}");
    // Count-min sketches are instant-only in Loki.
    let r = s.request(
        "GET",
        &format!(
            "/loki/api/v1/query_range?{}",
            common::form_encode(&[("query", q), ("start", &t0.to_string()), ("end", &at)])
        ),
        &[],
        b"",
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r
        .text()
        .contains("count min sketches are only supported on instant queries"));
}
