//! Limits at the HTTP edge: every ingest and query limit answers with its
//! status code and Loki's message, per-tenant overrides come from the
//! runtime file and are reloaded without a restart, the deletion API hides
//! and restores entries, and `/metrics` shows disk use and compactor work.

mod common;

use common::{base_ts, form_encode, now_ns, Entry, PushStream, Server};
use std::time::{Duration, Instant};

const RUNTIME: &str = r#"
overrides:
  streams: {max_streams_per_user: 2, max_global_streams_per_user: 2}
  rate: {ingestion_rate_mb: 0.001, ingestion_burst_size_mb: 0.001}
  lines: {max_line_size: 10}
  trunc: {max_line_size: 10, max_line_size_truncate: true}
  lnames: {max_label_names_per_series: 2}
  lname: {max_label_name_length: 5}
  lvalue: {max_label_value_length: 4}
  query: {max_entries_limit_per_query: 10, max_query_length: 1h, max_query_series: 2, max_query_lookback: 1h}
  slow: {query_timeout: 1ms}
"#;

fn server() -> (Server, tempfile::TempDir) {
    let rt = tempfile::tempdir().unwrap();
    let file = rt.path().join("runtime.yaml");
    std::fs::write(&file, RUNTIME).unwrap();
    let cfg = format!(
        "auth_enabled: true\nruntime_config:\n  file: {}\n  period: 200ms\n",
        file.display()
    );
    (Server::start_with_config(Some(&cfg)), rt)
}

fn push(s: &Server, tenant: &str, streams: &[PushStream]) -> (u16, String) {
    let r = s.push_proto(Some(tenant), streams);
    (r.status, r.text())
}

fn one(labels: &str, ts: i64, line: &str) -> PushStream {
    PushStream::new(labels, vec![Entry::new(ts, line)])
}

fn query(s: &Server, tenant: &str, params: &[(&str, &str)]) -> (u16, String) {
    let url = format!("/loki/api/v1/query_range?{}", form_encode(params));
    let r = s.request("GET", &url, &[("X-Scope-OrgID", tenant)], b"");
    (r.status, r.text())
}

fn count(s: &Server, tenant: &str, sel: &str, start: i64, end: i64) -> usize {
    let v = s.query_logs(Some(tenant), sel, start, end, 1000, "forward");
    common::flatten(&v).len()
}

#[test]
fn ingest_limits_answer_with_their_status_and_message() {
    let (s, _rt) = server();
    let now = base_ts(Duration::from_secs(60));

    // Active streams: the accepted streams are kept, the rest refused (429).
    let (st, msg) = push(
        &s,
        "streams",
        &[
            one(r#"{app="a"}"#, now, "1"),
            one(r#"{app="b"}"#, now, "2"),
            one(r#"{app="c"}"#, now, "3"),
        ],
    );
    assert_eq!(st, 429, "{msg}");
    assert!(
        msg.starts_with(
            "maximum active stream limit exceeded when trying to create stream {app=\"c\""
        ),
        "{msg}"
    );
    assert!(msg.contains("user: 'streams'"), "{msg}");
    assert_eq!(
        count(
            &s,
            "streams",
            r#"{app=~"a|b|c"}"#,
            now - 1_000_000_000,
            now + 1_000_000_000
        ),
        2
    );

    // Ingestion rate (1048 bytes/s here): the whole push is refused (429).
    let (st, msg) = push(&s, "rate", &[one(r#"{app="r"}"#, now, &"x".repeat(2000))]);
    assert_eq!(st, 429, "{msg}");
    assert!(
        // Lines plus structured metadata (ingestion adds `detected_level`).
        msg.starts_with("ingestion rate limit exceeded for user rate (limit: 1048 bytes/sec) while attempting to ingest '1' lines totaling '20")
            && msg.contains("' bytes, reduce log volume or contact your Loki administrator"),
        "{msg}"
    );

    // Line size: refused, or truncated with max_line_size_truncate.
    let (st, msg) = push(
        &s,
        "lines",
        &[PushStream::new(
            r#"{app="l"}"#,
            vec![
                Entry::new(now, "short"),
                Entry::new(now + 1, "much too long"),
            ],
        )],
    );
    assert_eq!(st, 400, "{msg}");
    assert_eq!(msg.trim(), "max entry size '10' bytes exceeded for stream '{app=\"l\", service_name=\"l\"}' while adding an entry with length '13' bytes");
    assert_eq!(
        count(&s, "lines", r#"{app="l"}"#, now - 1, now + 10),
        1,
        "the good entry of a partly bad push is kept"
    );
    let (st, msg) = push(&s, "trunc", &[one(r#"{app="t"}"#, now, "much too long")]);
    assert_eq!(st, 204, "{msg}");
    let v = s.query_logs(
        Some("trunc"),
        r#"{app="t"}"#,
        now - 1,
        now + 1,
        10,
        "forward",
    );
    assert_eq!(common::flatten(&v)[0].2, "much too l");

    // Labels: count, name length, value length.
    let (st, msg) = push(&s, "lnames", &[one(r#"{app="a", b="1"}"#, now, "x")]);
    assert_eq!(st, 400, "{msg}");
    assert!(msg.contains("has 3 label names; limit 2"), "{msg}");
    let (st, msg) = push(&s, "lname", &[one(r#"{app="a", toolong="1"}"#, now, "x")]);
    assert_eq!(st, 400, "{msg}");
    assert!(
        msg.contains("has label name too long: 'service_name'")
            || msg.contains("has label name too long: 'toolong'"),
        "{msg}"
    );
    let (st, msg) = push(&s, "lvalue", &[one(r#"{app="abcdef"}"#, now, "x")]);
    assert_eq!(st, 400, "{msg}");
    assert!(msg.contains("has label value too long: 'abcdef'"), "{msg}");

    // Sample age: reject_old_samples_max_age (7d) and creation_grace_period (10m).
    let week = 8 * 24 * 3600 * 1_000_000_000i64;
    let (st, msg) = push(&s, "fake", &[one(r#"{app="age"}"#, now_ns() - week, "old")]);
    assert_eq!(st, 400, "{msg}");
    assert!(
        msg.contains("has timestamp too old:") && msg.contains("oldest acceptable timestamp is:"),
        "{msg}"
    );
    let (st, msg) = push(
        &s,
        "fake",
        &[one(
            r#"{app="age"}"#,
            now_ns() + 3600 * 1_000_000_000,
            "new",
        )],
    );
    assert_eq!(st, 400, "{msg}");
    assert!(msg.contains("has timestamp too new:"), "{msg}");

    // Out-of-order window (1h): too far behind the stream's newest entry.
    let (st, _) = push(&s, "fake", &[one(r#"{app="ooo"}"#, now, "newest")]);
    assert_eq!(st, 204);
    let two_h = 2 * 3600 * 1_000_000_000i64;
    let (st, msg) = push(
        &s,
        "fake",
        &[PushStream::new(
            r#"{app="ooo"}"#,
            vec![
                Entry::new(now - two_h, "behind"),
                Entry::new(now - 1, "close"),
            ],
        )],
    );
    assert_eq!(st, 400, "{msg}");
    assert!(
        msg.contains("reason: 'entry too far behind, entry timestamp is: "),
        "{msg}"
    );
    assert!(
        msg.contains("user 'fake', total ignored: 1 out of 2 for stream: {app=\"ooo\""),
        "{msg}"
    );
    assert_eq!(
        count(&s, "fake", r#"{app="ooo"}"#, now - two_h - 1, now + 1),
        2
    );
}

#[test]
fn query_limits_answer_with_their_status_and_message() {
    let (s, _rt) = server();
    let now = base_ts(Duration::from_secs(60));
    let h = 3600 * 1_000_000_000i64;
    let streams: Vec<PushStream> = (0..3)
        .map(|i| one(&format!("{{job=\"q\", n=\"{i}\"}}"), now - 2 * h + i, "old"))
        .collect();
    assert_eq!(push(&s, "query", &streams).0, 204);
    let recent: Vec<PushStream> = (0..3)
        .map(|i| {
            one(
                &format!("{{job=\"q\", n=\"{i}\"}}"),
                now - 60_000_000_000 + i,
                "recent",
            )
        })
        .collect();
    assert_eq!(push(&s, "query", &recent).0, 204);
    let (a, b) = ((now - h + 1).to_string(), (now + 1).to_string());

    let (st, msg) = query(
        &s,
        "query",
        &[
            ("query", r#"{job="q"}"#),
            ("start", &a),
            ("end", &b),
            ("limit", "11"),
        ],
    );
    assert_eq!(st, 400);
    assert_eq!(
        msg.trim(),
        "max entries limit per query exceeded, limit > max_entries_limit_per_query (11 > 10)"
    );

    let long = (now - 2 * h).to_string();
    let (st, msg) = query(
        &s,
        "query",
        &[
            ("query", r#"{job="q"}"#),
            ("start", &long),
            ("end", &b),
            ("limit", "10"),
        ],
    );
    assert_eq!(st, 400);
    assert_eq!(
        msg.trim(),
        "the query time range exceeds the limit (query length: 2h0m0s, limit: 1h)"
    );

    let (st, msg) = query(
        &s,
        "query",
        &[
            ("query", r#"sum by (n) (count_over_time({job="q"}[5m]))"#),
            ("start", &a),
            ("end", &b),
            ("step", "60"),
            ("limit", "10"),
        ],
    );
    assert_eq!(st, 400);
    assert!(
        msg.starts_with("maximum number of series (2) reached for a single query"),
        "{msg}"
    );

    // max_query_lookback (1h): older data is invisible, like a clamped start.
    let (old_a, old_b) = (
        (now - 150 * 60 * 1_000_000_000).to_string(),
        (now - 90 * 60 * 1_000_000_000).to_string(),
    );
    let (st, body) = query(
        &s,
        "query",
        &[
            ("query", r#"{job="q"}"#),
            ("start", &old_a),
            ("end", &old_b),
            ("limit", "10"),
        ],
    );
    assert_eq!(st, 200, "{body}");
    assert!(body.contains(r#""result":[]"#), "{body}");
    let v = s.query_logs(
        Some("query"),
        r#"{job="q"}"#,
        now - h + 1,
        now + 1,
        10,
        "forward",
    );
    assert_eq!(common::flatten(&v).len(), 3);

    // query_timeout (1ms for this tenant): 504 with Loki's text.
    let many: Vec<Entry> = (0..20_000)
        .map(|i| {
            Entry::new(
                now - 1_000_000_000 * 50 + i * 1000,
                format!("line {i} with some text to scan"),
            )
        })
        .collect();
    assert_eq!(
        push(&s, "slow", &[PushStream::new(r#"{job="slow"}"#, many)]).0,
        204
    );
    s.flush();
    let (st, msg) = query(
        &s,
        "slow",
        &[
            (
                "query",
                r#"sum(count_over_time({job="slow"} |~ "t.*x.*t" [1h]))"#,
            ),
            ("start", &a),
            ("end", &b),
            ("step", "60"),
        ],
    );
    assert_eq!(st, 504, "{msg}");
    assert!(msg.starts_with("request timed out"), "{msg}");
}

#[test]
fn runtime_overrides_reload_without_restart() {
    let (s, rt) = server();
    let now = base_ts(Duration::from_secs(60));
    let (st, _) = push(&s, "lines", &[one(r#"{app="l"}"#, now, "longer than ten")]);
    assert_eq!(st, 400);
    std::fs::write(
        rt.path().join("runtime.yaml"),
        "overrides:\n  lines: {max_line_size: 1000}\n",
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (st, msg) = push(&s, "lines", &[one(r#"{app="l"}"#, now, "longer than ten")]);
        if st == 204 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "override not reloaded: {st} {msg}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn delete_api_hides_lists_and_cancels() {
    let (s, _rt) = server();
    let now = base_ts(Duration::from_secs(120));
    let entries: Vec<Entry> = (0..6)
        .map(|i| {
            Entry::new(
                now + i * 1_000_000_000,
                if i % 2 == 0 {
                    format!("secret {i}")
                } else {
                    format!("public {i}")
                },
            )
        })
        .collect();
    assert_eq!(
        push(&s, "del", &[PushStream::new(r#"{app="d"}"#, entries)]).0,
        204
    );
    s.flush();
    let h = [("X-Scope-OrgID", "del")];
    let (a, b) = (
        (now / 1_000_000_000).to_string(),
        (now / 1_000_000_000 + 3).to_string(),
    );
    let q = form_encode(&[
        ("query", r#"{app="d"} |= "secret""#),
        ("start", &a),
        ("end", &b),
    ]);
    let r = s.request("POST", &format!("/loki/api/v1/delete?{q}"), &h, b"");
    assert_eq!(r.status, 204, "{}", r.text());
    // Entries 0 and 2 are in [start, end]; "secret 4" is after it.
    assert_eq!(
        count(&s, "del", r#"{app="d"}"#, now - 1, now + 10_000_000_000),
        4
    );
    let list = s.request("GET", "/loki/api/v1/delete", &h, b"").json();
    let req = &list[0];
    assert_eq!(req["query"], r#"{app="d"} |= "secret""#);
    assert_eq!(req["status"], "received");
    assert_eq!(req["start_time"].as_i64(), Some(now / 1_000_000_000));
    assert!(req["created_at"].as_f64().is_some());
    let id = req["request_id"].as_str().unwrap().to_string();
    let r = s.request(
        "DELETE",
        &format!("/loki/api/v1/delete?request_id={id}"),
        &h,
        b"",
    );
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(
        count(&s, "del", r#"{app="d"}"#, now - 1, now + 10_000_000_000),
        6
    );
    let r = s.request(
        "DELETE",
        &format!("/loki/api/v1/delete?request_id={id}"),
        &h,
        b"",
    );
    assert_eq!(r.status, 404);
    assert_eq!(
        r.text().trim(),
        "could not find delete request with given id"
    );
    let r = s.request(
        "POST",
        "/loki/api/v1/delete?query=%7Bapp%3D%22d%22%7D&start=yesterday",
        &h,
        b"",
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text().trim(),
        "invalid start time: require unix seconds or RFC3339 format"
    );

    let m = s.get("/metrics").text();
    assert!(m.contains("lode_disk_bytes"), "{m}");
    assert!(
        m.contains(r#"lode_compactor_total{what="retention_removed_entries"}"#),
        "{m}"
    );
}
