//! Bad input is refused with a 4xx and a message saying what is wrong, and
//! leaves the stored data and the file system as they were.

mod common;

use common::{gzip, json_body, proto_body, snappy, Entry, PushStream, Server};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const SEC: i64 = 1_000_000_000;
const TENANT: &str = "team-a";
const QUERY: &str = r#"{app="keep"}"#;

struct Case {
    name: &'static str,
    tenant: Option<&'static str>,
    content_type: &'static str,
    encoding: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    message: &'static str,
}

fn case(
    name: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    message: &'static str,
) -> Case {
    Case {
        name,
        tenant: Some(TENANT),
        content_type,
        encoding: None,
        body,
        status: 400,
        message,
    }
}

const PROTO: &str = "application/x-protobuf";
const JSON: &str = "application/json";

fn bad_cases(ts: i64) -> Vec<Case> {
    let good = [PushStream::new(
        r#"{app="keep"}"#,
        vec![Entry::new(ts, "must never be stored")],
    )];
    let proto = proto_body(&good);
    let json = json_body(&good);
    let labels = |l: &str| {
        proto_body(&[PushStream::new(
            l,
            vec![Entry::new(ts, "must never be stored")],
        )])
    };
    vec![
        case("truncated snappy", PROTO, proto[..proto.len() / 2].to_vec(), "snappy: corrupt input"),
        // Declares 16 bytes, then copies from before the start of the output.
        case("corrupt snappy", PROTO, vec![0x10, 0xE1, 0xFF, 0x00, 0x00], "snappy: corrupt input"),
        case("protobuf that is not a PushRequest", PROTO, snappy(b"\xff\xff\xff\xff this is not protobuf"), "proto:"),
        case("invalid JSON", JSON, json.as_bytes()[..json.len() - 3].to_vec(), "EOF while parsing"),
        case(
            "JSON timestamp as a number",
            JSON,
            format!(r#"{{"streams":[{{"stream":{{"app":"keep"}},"values":[[{ts},"must never be stored"]]}}]}}"#).into_bytes(),
            "not a number",
        ),
        case(
            "invalid label name in JSON",
            JSON,
            format!(r#"{{"streams":[{{"stream":{{"1abc":"x"}},"values":[["{ts}","must never be stored"]]}}]}}"#).into_bytes(),
            "invalid label name",
        ),
        case("invalid label name in protobuf", PROTO, labels(r#"{1abc="x"}"#), "error parsing labels '{1abc=\"x\"}'"),
        case("label string that does not parse", PROTO, labels(r#"{app="keep""#), "error parsing labels"),
        case("label value without quotes", PROTO, labels("{app=keep}"), "error parsing labels"),
        Case {
            encoding: Some("gzip"),
            ..case("gzip header on a plain body", JSON, json.clone().into_bytes(), "gzip")
        },
        Case {
            tenant: Some("../../etc"),
            ..case("path-traversal tenant", PROTO, proto.clone(), "tenant ID '../../etc' contains unsupported character '/'")
        },
        Case {
            tenant: Some(".."),
            ..case("tenant '..'", PROTO, proto.clone(), "tenant ID is '.' or '..'")
        },
        Case {
            tenant: None,
            status: 401,
            ..case("missing tenant", PROTO, proto.clone(), "no org id")
        },
        Case {
            tenant: Some("../../etc"),
            ..case("path-traversal tenant, JSON", JSON, gzip(json.as_bytes()), "unsupported character")
        },
    ]
}

/// The stored data as a query sees it (stats, which hold timings, left out).
fn snapshot(s: &Server, start: i64, end: i64) -> Value {
    let v = s.query_logs(Some(TENANT), QUERY, start, end, 1000, "forward");
    v["data"]["result"].clone()
}

/// Only the config, the log and the data directory exist below the root,
/// and the tenant directories are the hex-named ones of real tenants.
fn assert_contained(s: &Server) {
    let root = s.root.path();
    let allowed = |p: &Path| {
        p == root.join("lode.yaml")
            || p == root.join("lode.log")
            || s.data_dir.starts_with(p)
            || p.starts_with(&s.data_dir)
    };
    for p in common::walk(root) {
        assert!(
            allowed(&p),
            "{} was created outside the data directory",
            p.display()
        );
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        assert!(
            name != "etc" && !name.contains(".."),
            "suspicious path {}",
            p.display()
        );
    }
    let tenants = s.data_dir.join("tenants");
    for p in common::walk(&tenants)
        .into_iter()
        .filter(|p| p.parent() == Some(tenants.as_path()))
    {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let want = format!(
            "t-{}",
            TENANT
                .bytes()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        assert_eq!(name, want, "unexpected tenant directory {}", p.display());
    }
}

#[test]
fn bad_pushes_are_refused_and_change_nothing() {
    let mut s = Server::start_with_config(Some("auth_enabled: true\n"));
    let base = common::base_ts(Duration::from_secs(20 * 60));
    let keep = PushStream::new(
        r#"{app="keep", env="test"}"#,
        (0..5)
            .map(|i| Entry::new(base + i * SEC, format!("kept line {i}")).with_metadata("k", "v"))
            .collect(),
    );
    let r = s.push_proto(Some(TENANT), std::slice::from_ref(&keep));
    assert_eq!(r.status, 204, "{}", r.text());
    let (start, end) = (base - SEC, base + 3600 * SEC);
    let before = snapshot(&s, start, end);
    assert_eq!(
        common::flatten(&serde_json::json!({"data": {"result": before.clone()}})).len(),
        5,
        "baseline stored: {before}"
    );

    for c in bad_cases(base + 10 * SEC) {
        let r = s.push_raw(c.tenant, c.content_type, c.encoding, &c.body);
        let text = r.text();
        assert_eq!(
            r.status, c.status,
            "{}: expected {} got {} ({text})",
            c.name, c.status, r.status
        );
        assert!(
            text.contains(c.message),
            "{}: message {text:?} should contain {:?}",
            c.name,
            c.message
        );
        assert!(
            text.trim().len() >= 6 && !text.contains("panicked"),
            "{}: unclear message {text:?}",
            c.name
        );
        assert_eq!(
            snapshot(&s, start, end),
            before,
            "{}: stored data changed",
            c.name
        );
    }

    // Queries check the tenant the same way.
    let q = format!(
        "/loki/api/v1/query_range?{}",
        common::form_encode(&[
            ("query", QUERY),
            ("start", &start.to_string()),
            ("end", &end.to_string())
        ])
    );
    let r = s.request("GET", &q, &[("X-Scope-OrgID", "../../etc")], b"");
    assert_eq!(
        r.status,
        400,
        "query with a path-traversal tenant: {}",
        r.text()
    );
    assert!(r.text().contains("unsupported character"), "{}", r.text());
    let r = s.request("GET", &q, &[], b"");
    assert_eq!(r.status, 401, "query without a tenant: {}", r.text());
    assert!(r.text().contains("no org id"), "{}", r.text());
    // Another tenant sees nothing of team-a's data.
    let other = s.query_logs(Some("team-b"), QUERY, start, end, 1000, "forward");
    assert_eq!(
        other["data"]["result"],
        serde_json::json!([]),
        "tenants are isolated"
    );

    // The refused pushes left nothing in the WAL or the chunk files either.
    s.flush();
    s.restart_clean();
    assert_eq!(
        snapshot(&s, start, end),
        before,
        "stored data after flush and restart"
    );
    assert_contained(&s);
}

/// Timestamps at the ends of i64, and steps that would allocate one counter
/// per nanosecond: every query endpoint answers a 400 with Loki's text (or
/// an empty success), never a panic, a wrapped range or an allocation sized
/// by the request. Loki's texts: `the query time range exceeds the limit
/// (query length: …, limit: …)` and `exceeded maximum resolution of 11,000
/// points per time series` (Loki's `query_range` validation).
#[test]
fn extreme_ranges_and_steps_are_refused_not_wrapped() {
    let s = Server::start();
    let ts = common::base_ts(Duration::from_secs(600));
    let r = s.push_proto(None, &[PushStream::new(QUERY, vec![Entry::new(ts, "x")])]);
    assert_eq!(r.status, 204);
    let (min, max) = (i64::MIN.to_string(), i64::MAX.to_string());
    let extreme = [("start", min.as_str()), ("end", max.as_str())];
    for q in [QUERY, "1+1", r#"sum(count_over_time({app="keep"}[5m]))"#] {
        let mut p = vec![("query", q)];
        p.extend_from_slice(&extreme);
        let url = format!("/loki/api/v1/query_range?{}", common::form_encode(&p));
        let r = s.get(&url);
        assert_eq!(r.status, 400, "{q}: {}", r.text());
        assert!(
            r.text().contains("the query time range exceeds the limit"),
            "{q}: {}",
            r.text()
        );
    }
    let (a, b) = ((ts - 3600 * SEC).to_string(), ts.to_string());
    for (path, q) in [
        ("/loki/api/v1/index/volume_range", QUERY),
        (
            "/loki/api/v1/query_range",
            r#"count_over_time({app="keep"}[1m])"#,
        ),
        ("/loki/api/v1/patterns", QUERY),
    ] {
        let p = [("query", q), ("start", &a), ("end", &b), ("step", "1ms")];
        let url = format!("{path}?{}", common::form_encode(&p));
        let r = s.get(&url);
        assert_eq!(r.status, 400, "{path}: {}", r.text());
        assert!(
            r.text()
                .contains("exceeded maximum resolution of 11,000 points per time series"),
            "{path}: {}",
            r.text()
        );
    }
    // The server is still fine.
    let v = s.query_logs(None, QUERY, ts - SEC, ts + SEC, 10, "forward");
    assert_eq!(common::flatten(&v).len(), 1);
}

/// Eight concurrent decompression bombs (gzip bodies of ~0.5 MB that
/// inflate to 500 MB each): every one is refused — 413 once it passes the
/// per-request cap or the shared budget (`distributor.max_inflight_push_bytes`),
/// 503 while others hold the budget — the server keeps answering `/ready`,
/// and an ordinary push afterwards is stored. Loki's limit is on the
/// decompressed size (413 `request body too large`).
#[test]
fn concurrent_decompression_bombs_are_refused_within_a_shared_budget() {
    use std::io::Write;
    let s = Server::start_with_config(Some("distributor:\n  max_inflight_push_bytes: 64MiB\n"));
    let bomb = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..500 {
            e.write_all(&zeros).unwrap();
        }
        e.finish().unwrap()
    };
    assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
    let bomb = std::sync::Arc::new(bomb);
    let statuses: Vec<u16> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..8)
            .map(|_| {
                let (s, bomb) = (&s, bomb.clone());
                sc.spawn(move || {
                    s.push_raw(None, "application/json", Some("gzip"), &bomb)
                        .status
                })
            })
            .collect();
        // Meanwhile the server answers.
        let r = s.get("/ready");
        assert_eq!(r.status, 200);
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(
        statuses.iter().all(|st| *st == 413 || *st == 503),
        "{statuses:?}"
    );
    assert!(statuses.contains(&413), "{statuses:?}");
    let ts = common::base_ts(Duration::from_secs(60));
    let r = s.push_json_gzip(
        None,
        &[PushStream::new(QUERY, vec![Entry::new(ts, "after")])],
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let v = s.query_logs(None, QUERY, ts - SEC, ts + SEC, 10, "forward");
    assert_eq!(common::flatten(&v).len(), 1);
}
