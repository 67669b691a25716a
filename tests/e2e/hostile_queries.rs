//! Queries built to make the server hold gigabytes: `line_format` repeating
//! each big line, `limit=5000` over big lines, a heavy metric query that
//! outlives its timeout. Each stops at the query context's bounds
//! (`max_query_response_bytes`, the process-wide share, `query_timeout`)
//! with Loki-style errors, and the server stays small and responsive.

mod common;

use common::{base_ts, form_encode, http, Entry, PushStream, Server};
use std::time::{Duration, Instant};

/// Room to push the big lines quickly; every query bound at its default.
const CONFIG: &str = "limits_config:\n  ingestion_rate_mb: 100\n  ingestion_burst_size_mb: 200\n";

/// 60 lines of 200 KB: 12 MB stored, more when a template repeats them.
fn push_big_lines(s: &Server) -> (i64, i64) {
    let t0 = base_ts(Duration::from_secs(600));
    let line: String = "x".repeat(200 << 10);
    for batch in 0..6 {
        let entries = (0..10)
            .map(|i| {
                Entry::new(
                    t0 + (batch * 10 + i) * 1_000_000_000,
                    format!("{batch}-{i} {line}"),
                )
            })
            .collect();
        let r = s.push_proto(None, &[PushStream::new(r#"{app="big"}"#, entries)]);
        assert_eq!(r.status, 204, "push: {}", r.text());
    }
    (t0, t0 + 61_000_000_000)
}

fn query_range(
    s: &Server,
    q: &str,
    start: i64,
    end: i64,
    extra: &[(&str, &str)],
) -> common::Response {
    let (st, en) = (start.to_string(), end.to_string());
    let mut p = vec![("query", q), ("start", st.as_str()), ("end", en.as_str())];
    p.extend_from_slice(extra);
    let url = format!("/loki/api/v1/query_range?{}", form_encode(&p));
    http(s.port, "GET", &url, &[], b"", Duration::from_secs(60)).expect("query")
}

/// Peak resident memory of the server so far, from the kernel.
fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kb >> 10
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("proc stat");
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    // utime and stime: fields 14 and 15 of the line, 12 and 13 after comm.
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[test]
fn a_template_repeating_big_lines_stops_at_the_query_byte_limit() {
    let s = Server::start_with_config(Some(CONFIG));
    let (start, end) = push_big_lines(&s);
    // Within bounds: the 12 MB of lines themselves.
    let ok = query_range(&s, r#"{app="big"}"#, start, end, &[("limit", "5000")]);
    assert_eq!(ok.status, 200, "{}", &ok.text()[..200.min(ok.text().len())]);
    // Each line repeated 4 times: 48 MB if it were all held (a template
    // may build at most 1 MiB, so this is as far as one can go per line).
    let bomb = query_range(
        &s,
        r#"{app="big"} | line_format "{{ repeat 4 __line__ }}""#,
        start,
        end,
        &[("limit", "5000")],
    );
    assert_eq!(
        bomb.status,
        400,
        "{}",
        &bomb.text()[..300.min(bomb.text().len())]
    );
    assert!(
        bomb.text().contains("max_query_response_bytes"),
        "{}",
        bomb.text()
    );
    assert!(
        peak_rss_mib(s.pid()) < 256,
        "peak RSS {} MiB after one template bomb",
        peak_rss_mib(s.pid())
    );
}

#[test]
fn concurrent_output_bombs_share_one_budget_and_ready_stays_fast() {
    let s = Server::start_with_config(Some(CONFIG));
    let (start, end) = push_big_lines(&s);
    let port = s.port;
    let workers: Vec<_> = (0..8)
        .map(|i| {
            std::thread::spawn(move || {
                let q = if i % 2 == 0 {
                    r#"{app="big"} | line_format "{{ repeat 4 __line__ }}""#
                } else {
                    r#"{app="big"} | line_format "{{ __line__ }}{{ __line__ }}{{ __line__ }}""#
                };
                let (st, en) = (start.to_string(), end.to_string());
                let p = [
                    ("query", q),
                    ("start", st.as_str()),
                    ("end", en.as_str()),
                    ("limit", "5000"),
                ];
                let url = format!("/loki/api/v1/query_range?{}", form_encode(&p));
                http(port, "GET", &url, &[], b"", Duration::from_secs(60))
                    .expect("query")
                    .status
            })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let t = Instant::now();
        let r = http(port, "GET", "/ready", &[], b"", Duration::from_secs(5)).expect("ready");
        assert_eq!(r.status, 200);
        slowest = slowest.max(t.elapsed());
        std::thread::sleep(Duration::from_millis(50));
    }
    let statuses: Vec<u16> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    // Each would hold more than its 32 MiB: refused on its own bytes (400)
    // or, while the others hold the shared 64 MiB, on theirs (503).
    for st in &statuses {
        assert!(
            [400, 503].contains(st),
            "an output bomb answered {st}: {statuses:?}"
        );
    }
    assert!(slowest < Duration::from_secs(1), "/ready took {slowest:?}");
    let peak = peak_rss_mib(s.pid());
    assert!(
        peak < 256,
        "peak RSS {peak} MiB under 8 concurrent output bombs"
    );
}

#[test]
fn a_metric_query_stops_computing_at_its_timeout() {
    let s = Server::start_with_config(Some(&format!("{CONFIG}  query_timeout: 1s\n")));
    let (start, end) = push_big_lines(&s);
    // Each 200 KB line becomes 800 KB, parsed as logfmt, then rewritten
    // three times over: seconds of work for 60 lines.
    let q = r#"sum(count_over_time({app="big"} | line_format "{{ repeat 4 __line__ }}" | logfmt | line_format `{{ __line__ | upper | lower | replace "x" "yz" | upper }}` [1m]))"#;
    let t = Instant::now();
    let r = query_range(&s, q, start, end, &[("step", "60")]);
    assert_eq!(r.status, 504, "{}", r.text());
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "504 after {:?}",
        t.elapsed()
    );
    // After the answer the work stops: the process is (nearly) idle.
    std::thread::sleep(Duration::from_millis(300));
    let before = cpu_ticks(s.pid());
    std::thread::sleep(Duration::from_secs(2));
    let spent = cpu_ticks(s.pid()) - before;
    assert!(
        spent < 50,
        "{spent} CPU ticks (1/100 s) spent in the 2 s after the 504: the query ran on"
    );
}
