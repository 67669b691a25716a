//! `lode-bench hostile`: the memory and availability attacks of the
//! reliability issue, each sent by 8 concurrent clients to a release `lode`
//! this tool starts on a private data directory. For each kind it reports
//! the answers seen, the server's peak RSS while it ran and the slowest
//! `/ready` answer measured meanwhile. Blocking sockets and threads: the
//! attacks are about what the server does, not about client speed.

use crate::procfs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub struct HostilePlan {
    pub lode: PathBuf,
    pub data_dir: PathBuf,
    pub port: u16,
    pub clients: usize,
    /// How long each kind runs.
    pub secs: u64,
}

pub struct KindReport {
    pub kind: &'static str,
    pub requests: u64,
    pub statuses: Vec<(u16, u64)>,
    pub peak_rss_mib: f64,
    pub slowest_ready_ms: f64,
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// One request on a fresh connection; the status, or 0 when the server
/// closed or refused it without an answer.
fn request(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> u16 {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(90)));
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    if s.write_all(head.as_bytes())
        .and_then(|_| s.write_all(body))
        .is_err()
    {
        return 0;
    }
    // Only the status line is needed; the rest is read and dropped.
    let mut buf = [0u8; 64 << 10];
    let mut first = Vec::new();
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if first.len() < 16 {
                    first.extend_from_slice(&buf[..n.min(16)]);
                }
            }
        }
    }
    std::str::from_utf8(first.get(9..12).unwrap_or_default())
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn encode(s: &str) -> String {
    crate::http::encode(s)
}

/// A Loki protobuf push of `streams`, each `(labels, [(ts, line)])`.
fn proto_push(streams: &[(String, Vec<(i64, String)>)]) -> Vec<u8> {
    use lode_proto::wire::google::protobuf::Timestamp;
    use lode_proto::wire::logproto::{EntryAdapter, PushRequest, StreamAdapter};
    use prost::Message;
    let req = PushRequest {
        streams: streams
            .iter()
            .map(|(l, es)| StreamAdapter {
                labels: l.clone().into_bytes(),
                entries: es
                    .iter()
                    .map(|(ts, line)| EntryAdapter {
                        timestamp: Some(Timestamp {
                            seconds: ts / 1_000_000_000,
                            nanos: (ts % 1_000_000_000) as i32,
                        }),
                        line: line.clone().into_bytes(),
                        structured_metadata: vec![],
                        parsed: vec![],
                    })
                    .collect(),
                hash: 0,
            })
            .collect(),
        format: vec![],
    };
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .unwrap_or_default()
}

const PROTO: (&str, &str) = ("Content-Type", "application/x-protobuf");

struct Server {
    child: Child,
}

impl Server {
    fn start(p: &HostilePlan) -> Result<Server, String> {
        let _ = std::fs::remove_dir_all(&p.data_dir);
        std::fs::create_dir_all(&p.data_dir).map_err(|e| e.to_string())?;
        let config = p.data_dir.join("hostile.yaml");
        std::fs::write(
            &config,
            format!(
                "server:\n  http_listen_address: 127.0.0.1\n  http_listen_port: {}\n  log_level: error\n\
storage:\n  data_dir: {}\n\
limits_config:\n  ingestion_rate_mb: 1000\n  ingestion_burst_size_mb: 1000\n",
                p.port,
                p.data_dir.join("data").display()
            ),
        )
        .map_err(|e| e.to_string())?;
        let child = Command::new(&p.lode)
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", p.lode.display()))?;
        for _ in 0..3000 {
            if request(p.port, "GET", "/ready", &[], b"") == 200 {
                return Ok(Server { child });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err("lode did not become ready".into())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type Attack = Arc<dyn Fn(u16, usize) -> u16 + Send + Sync>;

/// The attacks, by name; each closure sends one hostile request.
fn attacks(start: i64, end: i64, gzip_bomb: Arc<Vec<u8>>) -> Vec<(&'static str, Attack)> {
    let range = format!("start={start}&end={end}");
    let r1 = range.clone();
    let r2 = range.clone();
    let r3 = range.clone();
    vec![
        (
            "protobuf push whose snappy header claims 512 MiB",
            Arc::new(|port, _| {
                // varint 512 MiB, then a literal of 4 bytes.
                let body = [0x80, 0x80, 0x80, 0x80, 0x02, 0x0c, b'a', b'b', b'c', b'd'];
                request(port, "POST", "/loki/api/v1/push", &[PROTO], &body)
            }),
        ),
        (
            "gzip JSON push inflating to 500 MB",
            Arc::new(move |port, _| {
                request(
                    port,
                    "POST",
                    "/loki/api/v1/push",
                    &[
                        ("Content-Type", "application/json"),
                        ("Content-Encoding", "gzip"),
                    ],
                    &gzip_bomb,
                )
            }),
        ),
        (
            "index/volume_range with a 1 ms step over 1 h",
            Arc::new(move |port, _| {
                let q = encode(r#"{app="big"}"#);
                request(
                    port,
                    "GET",
                    &format!("/loki/api/v1/index/volume_range?query={q}&{r1}&step=1ms"),
                    &[],
                    b"",
                )
            }),
        ),
        (
            "line_format repeating 200 KB lines 4 times, limit 5000",
            Arc::new(move |port, _| {
                let q = encode(r#"{app="big"} | line_format "{{ repeat 4 __line__ }}""#);
                request(
                    port,
                    "GET",
                    &format!("/loki/api/v1/query_range?query={q}&{r2}&limit=5000"),
                    &[],
                    b"",
                )
            }),
        ),
        (
            "limit=5000 over 200 KB lines",
            Arc::new(move |port, _| {
                let q = encode(r#"{app="big"}"#);
                request(
                    port,
                    "GET",
                    &format!("/loki/api/v1/query_range?query={q}&{r3}&limit=5000"),
                    &[],
                    b"",
                )
            }),
        ),
        (
            "push of 200k streams, every one refused",
            Arc::new(|port, _| {
                let streams: Vec<(String, Vec<(i64, String)>)> = (0..200_000)
                    .map(|i| {
                        (
                            format!("{{bad-name{i}=\"x\"}}"),
                            vec![(now_ns(), "x".to_string())],
                        )
                    })
                    .collect();
                request(
                    port,
                    "POST",
                    "/loki/api/v1/push",
                    &[PROTO],
                    &proto_push(&streams),
                )
            }),
        ),
        (
            "delete request with a 1 MB selector",
            Arc::new(|port, _| {
                let q = encode(&format!(r#"{{app="{}"}}"#, "a".repeat(1 << 20)));
                request(
                    port,
                    "POST",
                    "/loki/api/v1/delete",
                    &[("Content-Type", "application/x-www-form-urlencoded")],
                    format!("query={q}&start=1").as_bytes(),
                )
            }),
        ),
        (
            "WebSocket tails that never read, under 1 MB/s of 200 KB lines",
            Arc::new(|port, i| {
                // Client 0 pushes; the others hold a tail open and never read.
                if i == 0 {
                    let line = "t".repeat(200 << 10);
                    let body = proto_push(&[(
                        r#"{app="tail"}"#.to_string(),
                        (0..5).map(|k| (now_ns() + k, line.clone())).collect(),
                    )]);
                    std::thread::sleep(Duration::from_millis(200));
                    return request(port, "POST", "/loki/api/v1/push", &[PROTO], &body);
                }
                let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
                    return 0;
                };
                let q = encode(r#"{app="tail"}"#);
                let req = format!(
                    "GET /loki/api/v1/tail?query={q} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
                );
                let _ = s.write_all(req.as_bytes());
                std::thread::sleep(Duration::from_secs(4));
                101
            }),
        ),
        (
            "slowloris: 100 connections trickling header bytes",
            Arc::new(|port, _| {
                let mut conns: Vec<TcpStream> = (0..100)
                    .filter_map(|_| TcpStream::connect(("127.0.0.1", port)).ok())
                    .collect();
                for c in conns.iter_mut() {
                    let _ = c.write_all(b"GET /ready HTTP/1.1\r\nX-Slow: ");
                }
                for _ in 0..8 {
                    std::thread::sleep(Duration::from_millis(500));
                    for c in conns.iter_mut() {
                        let _ = c.write_all(b"a");
                    }
                }
                0
            }),
        ),
    ]
}

fn gzip_bomb() -> Vec<u8> {
    use flate2::write::GzEncoder;
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![b' '; 1 << 20];
    let _ = e.write_all(b"{\"streams\":[");
    for _ in 0..500 {
        let _ = e.write_all(&zeros);
    }
    e.finish().unwrap_or_default()
}

/// 60 lines of 200 KB for the query attacks.
fn setup(port: u16, t0: i64) -> Result<(), String> {
    let line = "x".repeat(200 << 10);
    for b in 0..6 {
        let entries = (0..10)
            .map(|i| (t0 + (b * 10 + i) * 1_000_000_000, format!("{b}-{i} {line}")))
            .collect();
        let body = proto_push(&[(r#"{app="big"}"#.into(), entries)]);
        let st = request(port, "POST", "/loki/api/v1/push", &[PROTO], &body);
        if st != 204 {
            return Err(format!("setup push answered {st}"));
        }
    }
    Ok(())
}

/// Runs every kind in turn, each against a fresh server.
pub fn run(p: &HostilePlan) -> Result<Vec<KindReport>, String> {
    let bomb = Arc::new(gzip_bomb());
    let t0 = now_ns() - 600_000_000_000;
    let (start, end) = (t0 - 1, t0 + 3_600_000_000_000);
    let mut out = Vec::new();
    for (kind, attack) in attacks(start, end, bomb) {
        // A fresh server per kind: what one kind leaves allocated is not
        // charged to the next.
        let server = Server::start(p)?;
        let pid = server.child.id();
        let port = p.port;
        setup(port, t0)?;
        procfs::reset_peak(pid);
        let stop = Arc::new(AtomicBool::new(false));
        let seen: Arc<Mutex<Vec<u16>>> = Default::default();
        let deadline = Instant::now() + Duration::from_secs(p.secs);
        let workers: Vec<_> = (0..p.clients)
            .map(|i| {
                let (attack, stop, seen) = (attack.clone(), stop.clone(), seen.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let st = attack(port, i);
                        seen.lock().map(|mut v| v.push(st)).ok();
                        if Instant::now() >= deadline {
                            break;
                        }
                    }
                })
            })
            .collect();
        let mut slowest = Duration::ZERO;
        let mut peak = 0u64;
        while Instant::now() < deadline {
            let t = Instant::now();
            let st = request(port, "GET", "/ready", &[], b"");
            let took = t.elapsed();
            slowest = slowest.max(if st == 200 {
                took
            } else {
                Duration::from_secs(99)
            });
            if let Some((rss, hwm)) = procfs::rss(pid) {
                peak = peak.max(rss).max(hwm);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            let _ = w.join();
        }
        if let Some((rss, hwm)) = procfs::rss(pid) {
            peak = peak.max(rss).max(hwm);
        }
        let mut statuses: Vec<(u16, u64)> = Vec::new();
        for st in seen.lock().map(|v| v.clone()).unwrap_or_default() {
            match statuses.iter_mut().find(|(s, _)| *s == st) {
                Some(e) => e.1 += 1,
                None => statuses.push((st, 1)),
            }
        }
        statuses.sort();
        out.push(KindReport {
            kind,
            requests: statuses.iter().map(|s| s.1).sum(),
            statuses,
            peak_rss_mib: peak as f64 / (1 << 20) as f64,
            slowest_ready_ms: slowest.as_secs_f64() * 1000.0,
        });
        drop(server);
    }
    Ok(out)
}

pub fn markdown(rows: &[KindReport], clients: usize) -> String {
    let mut s = format!(
        "| attack ({clients} concurrent clients) | requests | answers (status × count; 0 = closed) | peak RSS | slowest /ready |\n|---|---|---|---|---|\n"
    );
    for r in rows {
        let answers: Vec<String> = r.statuses.iter().map(|(c, n)| format!("{c}×{n}")).collect();
        s.push_str(&format!(
            "| {} | {} | {} | {:.1} MiB | {:.1} ms |\n",
            r.kind,
            r.requests,
            answers.join(" "),
            r.peak_rss_mib,
            r.slowest_ready_ms
        ));
    }
    s
}
