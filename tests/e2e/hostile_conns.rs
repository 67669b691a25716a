//! Connections that never finish: slowloris headers, trickled bodies and
//! idle keep-alives are closed by Loki's server timeouts, and a flood of
//! them past `server.http_listen_conn_limit` cannot lock out `/ready`.

mod common;

use common::{http, Server};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const CONFIG: &str = "server:
  http_server_read_timeout: 1s
  http_server_idle_timeout: 1s
  http_server_write_timeout: 1s
  http_listen_conn_limit: 8
";

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Reads until the server closes; the time it took.
fn time_to_close(mut s: TcpStream) -> Duration {
    let t = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return t.elapsed(),
            Ok(_) => {}
        }
    }
}

#[test]
fn a_flood_of_slowloris_connections_cannot_lock_out_ready() {
    let s = Server::start_with_config(Some(CONFIG));
    // Four times the limit, each sending half a request line and then a
    // byte now and again, never finishing its headers.
    let mut held: Vec<TcpStream> = (0..32)
        .map(|_| {
            let mut c = connect(s.port);
            c.write_all(b"GET /ready HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .unwrap();
            c
        })
        .collect();
    for round in 0..5 {
        for c in held.iter_mut() {
            let _ = c.write_all(b"a");
        }
        let t = Instant::now();
        let r = http(s.port, "GET", "/ready", &[], b"", Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("round {round}: /ready unreachable: {e}"));
        assert_eq!(r.status, 200, "round {round}");
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "round {round}: /ready took {:?} under a slowloris flood",
            t.elapsed()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn headers_never_finished_are_cut_at_the_read_timeout() {
    let s = Server::start_with_config(Some(CONFIG));
    let mut c = connect(s.port);
    c.write_all(b"GET /ready HTTP/1.1\r\nHost: x\r\n").unwrap();
    let took = time_to_close(c);
    assert!(
        took < Duration::from_secs(5),
        "an unfinished header was held for {took:?}"
    );
}

#[test]
fn a_trickled_body_is_refused_at_the_read_timeout() {
    let s = Server::start_with_config(Some(CONFIG));
    let mut c = connect(s.port);
    c.write_all(
        b"POST /loki/api/v1/push HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"streams\":",
    )
    .unwrap();
    let t = Instant::now();
    let mut raw = Vec::new();
    // A byte a quarter second: never done within the 1 s read timeout.
    for _ in 0..40 {
        if c.write_all(b" ").is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
        c.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 4096];
        if let Ok(n) = c.read(&mut buf) {
            raw.extend_from_slice(&buf[..n]);
            if n == 0 || raw.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        c.set_nonblocking(false).unwrap();
    }
    let text = String::from_utf8_lossy(&raw);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "a trickled body was read for {:?}",
        t.elapsed()
    );
    assert!(text.starts_with("HTTP/1.1 400"), "answer: {text}");
    // The server still serves.
    assert_eq!(s.get("/ready").status, 200);
}

#[test]
fn idle_keep_alive_connections_are_closed_at_the_idle_timeout() {
    let s = Server::start_with_config(Some(CONFIG));
    let mut c = connect(s.port);
    c.write_all(b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = c.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let took = time_to_close(c);
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(5),
        "idle keep-alive closed after {took:?}"
    );
}

#[test]
fn busy_connections_are_not_evicted_and_new_ones_wait_for_a_slot() {
    let s = Server::start_with_config(Some(CONFIG));
    // Eight idle connections: the ninth evicts the idlest, not a busy one.
    let idle: Vec<TcpStream> = (0..8).map(|_| connect(s.port)).collect();
    std::thread::sleep(Duration::from_millis(100));
    let r = http(s.port, "GET", "/ready", &[], b"", Duration::from_secs(5)).expect("ready");
    assert_eq!(r.status, 200);
    let closed = idle
        .into_iter()
        .filter(|c| {
            c.set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            let mut b = [0u8; 1];
            matches!((&*c).read(&mut b), Ok(0))
        })
        .count();
    assert!(closed >= 1, "no idle connection made room");
}
