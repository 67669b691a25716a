//! Upgrading in place: today's build opens a data directory written by the
//! format-1 release (`tests/fixtures/v1-data-dir`, see its README) and
//! returns every entry of it, the flushed ones and those only in its WAL,
//! with their labels and structured metadata; then it writes format 2
//! beside the old file and keeps everything across a restart.

mod common;

use common::{flatten, now_ns, Entry, PushStream, Server};
use serde_json::Value;
use std::path::Path;

/// 2026-12-02T00:00:00Z, the first entry of the fixture.
const BASE: i64 = 1_796_169_600_000_000_000;
const SEC: i64 = 1_000_000_000;
const ENTRIES: i64 = 330;
/// Entries 0..300 were flushed into the chunk file; 300..330 are only in
/// the WAL of the killed process.
const FLUSHED: i64 = 300;

/// The data was written on 2026-12-02: retention must not take it away
/// from a test run later than 30 days after that.
const CONFIG: &str = "limits_config:\n  retention_period: 0s\n";

fn fixture() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/v1-data-dir"
    ))
}

/// The line the fixture generator wrote for entry `i`, and its stream.
fn expected(i: i64) -> (&'static str, String) {
    match i % 3 {
        0 => (
            "api",
            format!(
                "level=info msg=\"request handled\" path=/v1/items/{i} status={} duration={}ms",
                if i % 7 != 0 { 200 } else { 500 },
                i % 50
            ),
        ),
        1 => (
            "db",
            format!(
                "{{\"level\": \"{}\", \"query\": \"SELECT {i}\", \"rows\": {}}}",
                if i % 5 == 0 { "warn" } else { "debug" },
                i % 13
            ),
        ),
        _ => (
            "web",
            format!(
                "10.0.0.{} - - \"GET /page/{i} HTTP/1.1\" {} {}",
                i % 250,
                if i % 11 == 0 { 404 } else { 200 },
                i * 7
            ),
        ),
    }
}

fn all_entries(s: &Server) -> Vec<(serde_json::Map<String, Value>, i64, String)> {
    let v = s.query_logs(
        None,
        r#"{app=~".+"}"#,
        BASE,
        BASE + 3600 * SEC,
        5000,
        "forward",
    );
    let mut got = flatten(&v);
    got.sort_by_key(|(_, ts, _)| *ts);
    got
}

fn check_fixture_entries(s: &Server) {
    let got = all_entries(s);
    assert_eq!(got.len() as i64, ENTRIES, "every entry of the v1 directory");
    for (i, (labels, ts, line)) in got.iter().enumerate() {
        let i = i as i64;
        let (app, want) = expected(i);
        assert_eq!(*ts, BASE + i * SEC, "entry {i}");
        assert_eq!(line, &want, "entry {i}");
        assert_eq!(labels["app"], app, "entry {i}");
    }
    // Structured metadata survives both the v1 chunk file and the v1 WAL.
    for i in [3, FLUSHED] {
        let q = format!(r#"{{app="api"}} | trace_id="t{i:05}""#);
        let v = s.query_logs(None, &q, BASE, BASE + 3600 * SEC, 100, "forward");
        let hits = flatten(&v);
        assert_eq!(hits.len(), 1, "{q}: {v}");
        assert_eq!(hits[0].1, BASE + i * SEC, "{q}");
    }
    let v = s.get_json(
        "/loki/api/v1/query",
        &[
            (
                "query",
                r#"sum by (app) (count_over_time({app=~".+"}[1h]))"#,
            ),
            ("time", &(BASE + 3599 * SEC).to_string()),
        ],
        &[],
    );
    let mut counts: Vec<(String, String)> = v["data"]["result"]
        .as_array()
        .expect("vector")
        .iter()
        .map(|r| {
            (
                r["metric"]["app"].as_str().unwrap_or("").to_string(),
                r["value"][1].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    counts.sort();
    let want: Vec<(String, String)> = ["api", "db", "web"]
        .iter()
        .map(|a| (a.to_string(), "110".to_string()))
        .collect();
    assert_eq!(counts, want, "{v}");
    let v = s.get_json(
        "/loki/api/v1/label/pod/values",
        &[
            ("start", &BASE.to_string()),
            ("end", &(BASE + 3600 * SEC).to_string()),
        ],
        &[],
    );
    assert_eq!(v["data"], serde_json::json!(["web-1"]), "{v}");
}

#[test]
fn a_v1_data_dir_from_the_v1_release_opens_upgrades_and_keeps_everything() {
    // The fixture is what the old release left, bytes and all.
    let version = std::fs::read_to_string(fixture().join("VERSION")).expect("fixture VERSION");
    assert_eq!(
        version.trim(),
        "1",
        "the fixture must stay a version-1 directory"
    );

    let mut s = Server::start_on_copy(Some(CONFIG), Some(fixture()));
    check_fixture_entries(&s);

    // New data is written as format 2 beside the old file.
    let now = now_ns();
    let r = s.push_proto(
        None,
        &[PushStream::new(
            r#"{app="api", env="prod"}"#,
            vec![Entry::new(now, "after the upgrade")],
        )],
    );
    assert_eq!(r.status, 204, "{}", r.text());
    s.flush();
    let version = std::fs::read_to_string(s.data_dir.join("VERSION")).expect("VERSION");
    assert_eq!(version.trim(), "2");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(s.data_dir.join("MANIFEST.json")).expect("manifest"))
            .expect("manifest json");
    assert_eq!(manifest["version"], 2, "{manifest}");

    // And all of it is still there after a restart.
    s.stop();
    s.spawn();
    check_fixture_entries(&s);
    let v = s.query_logs(
        None,
        r#"{app="api"} |= "after the upgrade""#,
        now - SEC,
        now + SEC,
        10,
        "forward",
    );
    assert_eq!(flatten(&v).len(), 1, "{v}");
}
