//! End to end: `GET /loki/api/v1/tail` over a WebSocket (hand-written
//! minimal client: handshake, unmasked server frames, masked client
//! frames). A line pushed after the socket opened arrives within a second;
//! the history batch honours `limit`; bad parameters are 400s before the
//! upgrade.

mod common;

use common::{base_ts, form_encode, now_ns, Entry, PushStream, Server};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

struct Ws {
    s: TcpStream,
}

impl Ws {
    fn connect(port: u16, path: &str, headers: &[(&str, &str)]) -> Ws {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut req = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        );
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut b).expect("handshake response");
            head.push(b[0]);
        }
        let head = String::from_utf8_lossy(&head);
        assert!(head.starts_with("HTTP/1.1 101"), "no upgrade: {head}");
        // RFC 6455's example key has this accept value.
        assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
        Ws { s }
    }

    /// The next text message, answering pings; `None` on timeout.
    fn next_text(&mut self, deadline: Instant) -> Option<String> {
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            self.s
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            let mut h = [0u8; 2];
            if self.s.read_exact(&mut h).is_err() {
                return None;
            }
            let opcode = h[0] & 0x0f;
            assert_eq!(h[1] & 0x80, 0, "server frames must not be masked");
            let mut len = u64::from(h[1] & 0x7f);
            if len == 126 {
                let mut l = [0u8; 2];
                self.s.read_exact(&mut l).unwrap();
                len = u64::from(u16::from_be_bytes(l));
            } else if len == 127 {
                let mut l = [0u8; 8];
                self.s.read_exact(&mut l).unwrap();
                len = u64::from_be_bytes(l);
            }
            let mut payload = vec![0u8; len as usize];
            self.s.read_exact(&mut payload).unwrap();
            match opcode {
                1 => return Some(String::from_utf8(payload).expect("utf-8 text frame")),
                8 => panic!("closed by server: {:?}", String::from_utf8_lossy(&payload)),
                9 => self.send(10, &payload),
                _ => {}
            }
        }
    }

    fn send(&mut self, opcode: u8, payload: &[u8]) {
        let mask = [1u8, 2, 3, 4];
        let mut f = vec![0x80 | opcode];
        assert!(payload.len() < 126);
        f.push(0x80 | payload.len() as u8);
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        let _ = self.s.write_all(&f);
    }
}

impl Drop for Ws {
    fn drop(&mut self) {
        self.send(8, &[0x03, 0xe8]);
    }
}

fn lines(msg: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for s in msg["streams"].as_array().expect("streams array") {
        for v in s["values"].as_array().expect("values array") {
            assert!(
                v[0].as_str().unwrap().parse::<i64>().is_ok(),
                "ts is ns string: {v}"
            );
            out.push(v[1].as_str().unwrap().to_string());
        }
    }
    out
}

#[test]
fn history_then_live_within_a_second() {
    let srv = Server::start();
    let t0 = base_ts(Duration::from_secs(60));
    let old: Vec<Entry> = (0..5)
        .map(|i| Entry::new(t0 + i, format!("old {i}")))
        .collect();
    assert_eq!(
        srv.push_proto(None, &[PushStream::new(r#"{app="tail"}"#, old)])
            .status,
        204
    );
    let q = form_encode(&[
        ("query", r#"{app="tail"} |= "o""#),
        ("limit", "3"),
        ("start", &(t0 - 1).to_string()),
    ]);
    let mut ws = Ws::connect(srv.port, &format!("/loki/api/v1/tail?{q}"), &[]);
    let first: Value = serde_json::from_str(
        &ws.next_text(Instant::now() + Duration::from_secs(5))
            .expect("history"),
    )
    .unwrap();
    // The newest `limit` entries, oldest first.
    assert_eq!(lines(&first), vec!["old 2", "old 3", "old 4"]);
    assert_eq!(first["streams"][0]["stream"]["app"], "tail");

    let pushed = Instant::now();
    let live = vec![
        Entry::new(now_ns(), "new one"),
        Entry::new(now_ns(), "filtered away"),
    ];
    assert_eq!(
        srv.push_proto(None, &[PushStream::new(r#"{app="tail"}"#, live)])
            .status,
        204
    );
    let msg = ws
        .next_text(pushed + Duration::from_secs(1))
        .expect("live line within a second");
    assert!(pushed.elapsed() < Duration::from_secs(1));
    let v: Value = serde_json::from_str(&msg).unwrap();
    assert_eq!(lines(&v), vec!["new one"]);
    assert!(v.get("dropped_entries").is_none());

    // Other streams do not leak into the tail.
    srv.push_proto(
        None,
        &[PushStream::new(
            r#"{app="other"}"#,
            vec![Entry::new(now_ns(), "other one")],
        )],
    );
    assert!(ws
        .next_text(Instant::now() + Duration::from_millis(500))
        .is_none());
}

#[test]
fn categorized_live_entries_and_delay() {
    let srv = Server::start();
    let q = form_encode(&[("query", r#"{app="cat"} | logfmt"#), ("delay_for", "1")]);
    let mut ws = Ws::connect(
        srv.port,
        &format!("/loki/api/v1/tail?{q}"),
        &[("X-Loki-Response-Encoding-Flags", "categorize-labels")],
    );
    let e = Entry::new(now_ns(), "level=warn msg=x").with_metadata("trace_id", "t1");
    let pushed = Instant::now();
    srv.push_proto(None, &[PushStream::new(r#"{app="cat"}"#, vec![e])]);
    let v: Value =
        serde_json::from_str(&ws.next_text(pushed + Duration::from_secs(4)).expect("live"))
            .unwrap();
    assert!(
        pushed.elapsed() >= Duration::from_millis(900),
        "delay_for holds entries back"
    );
    assert_eq!(v["encodingFlags"][0], "categorize-labels");
    let entry = &v["streams"][0]["values"][0];
    assert_eq!(entry[2]["structuredMetadata"]["trace_id"], "t1");
    assert_eq!(entry[2]["parsed"]["msg"], "x");
    assert!(
        v["streams"][0]["stream"].get("msg").is_none(),
        "stream holds indexed labels only"
    );
}

#[test]
fn bad_requests_are_400() {
    let srv = Server::start();
    for (params, text) in [
        (
            vec![("query", r#"{app="a"}"#), ("delay_for", "6")],
            "delay_for can't be greater than 5",
        ),
        (
            vec![("query", r#"count_over_time({app="a"}[1m])"#)],
            "log queries",
        ),
        (vec![("query", "{app=")], "parse error"),
    ] {
        let path = format!("/loki/api/v1/tail?{}", form_encode(&params));
        let upgrade = [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13"),
        ];
        let r = srv.request("GET", &path, &upgrade, b"");
        assert_eq!(r.status, 400, "{params:?}: {}", r.text());
        assert!(r.text().contains(text), "{}", r.text());
    }
}

/// `querier.max_concurrent_tail_requests` (Loki's key, default 10): a tail
/// beyond it is refused with Loki's 400 before the upgrade; a closed tail
/// frees its place.
#[test]
fn concurrent_tails_are_limited() {
    let s = Server::start_with_config(Some("querier:\n  max_concurrent_tail_requests: 2\n"));
    let path = format!(
        "/loki/api/v1/tail?{}",
        form_encode(&[("query", r#"{app="tail"}"#)])
    );
    let a = Ws::connect(s.port, &path, &[]);
    let b = Ws::connect(s.port, &path, &[]);
    let upgrade = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
    ];
    let r = s.request("GET", &path, &upgrade, b"");
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        r.text().trim(),
        "max concurrent tail requests limit exceeded, count > limit (3 > 2)"
    );
    drop(a);
    // The server notices the close on its next read.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut ws_ok = None;
        if let Ok(mut st) = TcpStream::connect(("127.0.0.1", s.port)) {
            let req = format!(
                "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            );
            st.write_all(req.as_bytes()).unwrap();
            let mut buf = [0u8; 12];
            if st.read_exact(&mut buf).is_ok() {
                ws_ok = Some(buf.starts_with(b"HTTP/1.1 101"));
            }
        }
        if ws_ok == Some(true) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the closed tail's place was not freed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(b);
}

#[test]
fn a_big_history_arrives_whole_in_several_messages() {
    // 30 lines of 200 KB: 6 MB of history, more than one socket may hold
    // unsent, so it must go out in parts a reading client gets in full.
    let srv = Server::start_with_config(Some(
        "limits_config:\n  ingestion_rate_mb: 100\n  ingestion_burst_size_mb: 100\n",
    ));
    let t0 = base_ts(Duration::from_secs(60));
    let big = "h".repeat(200 << 10);
    let old: Vec<Entry> = (0..30)
        .map(|i| Entry::new(t0 + i, format!("{i:02} {big}")))
        .collect();
    let r = srv.push_proto(None, &[PushStream::new(r#"{app="big"}"#, old)]);
    assert_eq!(r.status, 204, "{}", r.text());
    let q = form_encode(&[
        ("query", r#"{app="big"}"#),
        ("limit", "100"),
        ("start", &(t0 - 1).to_string()),
    ]);
    let mut ws = Ws::connect(srv.port, &format!("/loki/api/v1/tail?{q}"), &[]);
    let mut got = Vec::new();
    let mut messages = 0;
    while got.len() < 30 {
        let Some(m) = ws.next_text(Instant::now() + Duration::from_secs(10)) else {
            panic!(
                "history stopped after {} lines in {messages} messages",
                got.len()
            );
        };
        messages += 1;
        let v: Value = serde_json::from_str(&m).unwrap();
        got.extend(lines(&v).into_iter().map(|l| l[..2].to_string()));
    }
    let want: Vec<String> = (0..30).map(|i| format!("{i:02}")).collect();
    assert_eq!(got, want, "oldest first, none lost or repeated");
    assert!(messages > 1, "6 MB of history in one message");
}

#[test]
fn a_browser_names_its_tenant_with_org_id_and_the_header_wins() {
    let srv = Server::start_with_config(Some("auth_enabled: true\n"));
    let t0 = base_ts(Duration::from_secs(60));
    for tenant in ["alpha", "beta"] {
        let s = PushStream::new(
            r#"{app="t"}"#,
            vec![Entry::new(t0, format!("{tenant} line"))],
        );
        assert_eq!(srv.push_proto(Some(tenant), &[s]).status, 204);
    }
    let q = form_encode(&[("query", r#"{app="t"}"#), ("start", &(t0 - 1).to_string())]);
    let history = |path: String, headers: &[(&str, &str)]| {
        let mut ws = Ws::connect(srv.port, &path, headers);
        let msg = ws
            .next_text(Instant::now() + Duration::from_secs(5))
            .expect("history");
        lines(&serde_json::from_str(&msg).unwrap())
    };
    // A WebSocket opened by a browser cannot carry X-Scope-OrgID.
    assert_eq!(
        history(format!("/loki/api/v1/tail?{q}&orgId=beta"), &[]),
        vec!["beta line"]
    );
    // A proxy that sets the header decides, whatever the link says.
    assert_eq!(
        history(
            format!("/loki/api/v1/tail?{q}&orgId=beta"),
            &[("X-Scope-OrgID", "alpha")]
        ),
        vec!["alpha line"]
    );
    let r = srv.get(&format!("/loki/api/v1/tail?{q}"));
    assert_eq!(r.status, 401, "{}", r.text());
}
