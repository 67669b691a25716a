//! Shared helpers for the end-to-end tests: a `lode` child process on a
//! private data directory, a tiny blocking HTTP/1.1 client, push-body
//! encoders and small JSON utilities.
//!
//! Each test binary compiles this module on its own and uses a different
//! part of it.
#![allow(dead_code)]

use lode_proto::wire::google::protobuf::Timestamp;
use lode_proto::wire::logproto::{EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter};
use prost::Message;
use serde_json::Value;
use std::fs::OpenOptions;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Ports handed to servers: the range reserved for this suite first, the
/// kernel's choice when none of those is free.
const PORT_RANGE: std::ops::Range<u16> = 3300..3400;
static NEXT_PORT: AtomicU16 = AtomicU16::new(0);

fn free_port() -> u16 {
    let span = PORT_RANGE.end - PORT_RANGE.start;
    // Spread concurrently running test binaries over the range.
    let _ = NEXT_PORT.compare_exchange(
        0,
        (std::process::id() % u32::from(span)) as u16 + 1,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..span {
        let off = NEXT_PORT.fetch_add(1, Ordering::SeqCst) % span;
        let port = PORT_RANGE.start + off;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos() as i64
}

/// A timestamp safely inside the default ingest window (not too old, not in
/// the future), rounded to the second so tests can reason about it.
pub fn base_ts(ago: Duration) -> i64 {
    let t = now_ns() - ago.as_nanos() as i64;
    t - t % 1_000_000_000
}

/// A `lode` server on a fresh temporary directory. The data directory is
/// nested a few levels deep so that a path-traversal bug writing to
/// `data/../../x` still lands inside `root`, where tests can see it.
pub struct Server {
    pub root: tempfile::TempDir,
    pub data_dir: PathBuf,
    pub config: Option<PathBuf>,
    pub port: u16,
    log: PathBuf,
    child: Option<Child>,
}

impl Server {
    pub fn start() -> Server {
        Server::start_with_config(None)
    }

    /// Starts with `yaml` written to a config file passed as `--config`.
    pub fn start_with_config(yaml: Option<&str>) -> Server {
        Server::start_on_copy(yaml, None)
    }

    /// Like `start_with_config`, with a copy of the data directory `seed`
    /// (a committed fixture) as its data directory.
    pub fn start_on_copy(yaml: Option<&str>, seed: Option<&Path>) -> Server {
        let root = tempfile::Builder::new()
            .prefix("lode-e2e-")
            .tempdir()
            .expect("tempdir");
        let data_dir = root.path().join("n1").join("n2").join("data");
        let config = yaml.map(|y| {
            let p = root.path().join("lode.yaml");
            std::fs::write(&p, y).expect("write config");
            p
        });
        if let Some(seed) = seed {
            copy_dir(seed, &data_dir);
        }
        let log = root.path().join("lode.log");
        let mut s = Server {
            root,
            data_dir,
            config,
            port: 0,
            log,
            child: None,
        };
        s.spawn();
        s
    }

    /// Starts the binary again on the same data directory (after `stop` or
    /// `kill`), on a new port, and waits until it is ready.
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "server already running");
        // Another process may take the port between our probe and lode's
        // bind: try a few ports before giving up.
        for _ in 0..5 {
            let log_len = std::fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0);
            let port = free_port();
            self.child = Some(self.command(port).spawn().expect("spawn lode"));
            self.port = port;
            match self.wait_ready() {
                Ok(()) => return,
                Err(st) => {
                    let text = std::fs::read(&self.log).unwrap_or_default();
                    let new = String::from_utf8_lossy(&text[(log_len as usize).min(text.len())..])
                        .into_owned();
                    if !new.contains("Address already in use") {
                        panic!(
                            "lode exited before it was ready ({st}); log:\n{}",
                            self.log_tail()
                        );
                    }
                }
            }
        }
        panic!("lode could not bind a port; log:\n{}", self.log_tail());
    }

    fn command(&self, port: u16) -> Command {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lode"));
        if let Some(c) = &self.config {
            cmd.arg("--config").arg(c);
        }
        cmd.arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(&self.data_dir)
            .env_remove("LODE_CONFIG")
            .env_remove("LODE_LISTEN")
            .env_remove("LODE_DATA_DIR")
            .env("RUST_LOG", "warn")
            .current_dir(self.root.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log"))
            .stderr(log);
        cmd
    }

    /// Polls `/ready`; `Err` with the exit status if lode exited first.
    fn wait_ready(&mut self) -> Result<(), std::process::ExitStatus> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = self.try_request("GET", "/ready", &[], b"") {
                if r.status == 200 {
                    return Ok(());
                }
            }
            if let Some(st) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(st);
            }
            assert!(
                Instant::now() < deadline,
                "lode not ready after 60s; log:\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(&mut self) {
        let mut child = self.child.take().expect("server running");
        let st = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .expect("run kill");
        assert!(st.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(st) = child.try_wait().expect("wait lode") {
                assert!(
                    st.success(),
                    "lode exited with {st} after SIGTERM; log:\n{}",
                    self.log_tail()
                );
                return;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "lode did not exit within 30s of SIGTERM; log:\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGKILL: no chance to flush or sync anything.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("server running");
        child.kill().expect("SIGKILL lode");
        child.wait().expect("reap lode");
    }

    pub fn restart_clean(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Response> {
        http(
            self.port,
            method,
            path,
            headers,
            body,
            Duration::from_secs(60),
        )
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        self.try_request(method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}; log:\n{}", self.log_tail()))
    }

    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], b"")
    }

    /// `GET path?params` expecting 200 and a JSON body.
    pub fn get_json(&self, path: &str, params: &[(&str, &str)], headers: &[(&str, &str)]) -> Value {
        let url = format!("{path}?{}", form_encode(params));
        let r = self.request("GET", &url, headers, b"");
        assert_eq!(r.status, 200, "GET {url}: {}", r.text());
        r.json()
    }

    pub fn push_proto(&self, tenant: Option<&str>, streams: &[PushStream]) -> Response {
        self.push_raw(tenant, "application/x-protobuf", None, &proto_body(streams))
    }

    pub fn push_json_gzip(&self, tenant: Option<&str>, streams: &[PushStream]) -> Response {
        self.push_raw(
            tenant,
            "application/json",
            Some("gzip"),
            &gzip(json_body(streams).as_bytes()),
        )
    }

    pub fn push_raw(
        &self,
        tenant: Option<&str>,
        content_type: &str,
        encoding: Option<&str>,
        body: &[u8],
    ) -> Response {
        let mut h = vec![("Content-Type", content_type)];
        if let Some(e) = encoding {
            h.push(("Content-Encoding", e));
        }
        if let Some(t) = tenant {
            h.push(("X-Scope-OrgID", t));
        }
        self.request("POST", "/loki/api/v1/push", &h, body)
    }

    pub fn flush(&self) {
        let r = self.request("POST", "/flush", &[], b"");
        assert_eq!(r.status, 204, "POST /flush: {}", r.text());
    }

    /// A log `query_range` for the whole window `[start, end)`; returns the
    /// decoded body after checking it is a successful `streams` answer.
    pub fn query_logs(
        &self,
        tenant: Option<&str>,
        query: &str,
        start: i64,
        end: i64,
        limit: usize,
        direction: &str,
    ) -> Value {
        let (s, e, l) = (start.to_string(), end.to_string(), limit.to_string());
        let params = [
            ("query", query),
            ("start", &s),
            ("end", &e),
            ("limit", &l),
            ("direction", direction),
        ];
        let h: Vec<(&str, &str)> = tenant.map(|t| ("X-Scope-OrgID", t)).into_iter().collect();
        let v = self.get_json("/loki/api/v1/query_range", &params, &h);
        assert_eq!(v["status"], "success", "{v}");
        assert_eq!(v["data"]["resultType"], "streams", "{v}");
        v
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One HTTP response, body already de-chunked.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("response is not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A minimal HTTP/1.1 exchange: one request per connection.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> io::Result<Response> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut req = head.into_bytes();
    req.extend_from_slice(body);
    s.write_all(&req)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    parse_response(&raw)
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn parse_response(raw: &[u8]) -> io::Result<Response> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad(format!("incomplete response ({} bytes)", raw.len())))?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| bad("non-UTF-8 response head"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("bad status line {status_line:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body)?;
    } else if let Some((_, len)) = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
    {
        let len: usize = len.parse().map_err(|_| bad("bad content-length"))?;
        if body.len() < len {
            return Err(bad(format!(
                "truncated body: {} of {len} bytes",
                body.len()
            )));
        }
        body.truncate(len);
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| bad("truncated chunk size"))?;
        let size_text = std::str::from_utf8(&b[..eol]).map_err(|_| bad("bad chunk size"))?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| bad(format!("bad chunk size {size_text:?}")))?;
        b = &b[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if b.len() < size + 2 {
            return Err(bad("truncated chunk"));
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

/// `application/x-www-form-urlencoded` (also used for query strings).
pub fn form_encode(params: &[(&str, &str)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One pushed log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub ts: i64,
    pub line: String,
    pub metadata: Vec<(String, String)>,
}

impl Entry {
    pub fn new(ts: i64, line: impl Into<String>) -> Entry {
        Entry {
            ts,
            line: line.into(),
            metadata: Vec::new(),
        }
    }

    pub fn with_metadata(mut self, name: &str, value: &str) -> Entry {
        self.metadata.push((name.into(), value.into()));
        self
    }
}

/// A stream to push: its label string in Prometheus text form and entries.
#[derive(Debug, Clone)]
pub struct PushStream {
    pub labels: String,
    pub entries: Vec<Entry>,
}

impl PushStream {
    pub fn new(labels: &str, entries: Vec<Entry>) -> PushStream {
        PushStream {
            labels: labels.into(),
            entries,
        }
    }
}

/// Protobuf `PushRequest`, snappy block-compressed (what Alloy sends).
pub fn proto_body(streams: &[PushStream]) -> Vec<u8> {
    let req = PushRequest {
        streams: streams
            .iter()
            .map(|s| StreamAdapter {
                labels: s.labels.clone().into_bytes(),
                entries: s
                    .entries
                    .iter()
                    .map(|e| EntryAdapter {
                        timestamp: Some(Timestamp {
                            seconds: e.ts.div_euclid(1_000_000_000),
                            nanos: e.ts.rem_euclid(1_000_000_000) as i32,
                        }),
                        line: e.line.clone().into_bytes(),
                        structured_metadata: e
                            .metadata
                            .iter()
                            .map(|(n, v)| LabelPairAdapter {
                                name: n.clone().into_bytes(),
                                value: v.clone().into_bytes(),
                            })
                            .collect(),
                        parsed: Vec::new(),
                    })
                    .collect(),
                hash: 0,
            })
            .collect(),
        format: Vec::new(),
    };
    snappy(&req.encode_to_vec())
}

pub fn snappy(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(raw)
        .expect("snappy compress")
}

/// Loki v1 JSON push body. Labels are given in Prometheus text form, so this
/// parses the simple `{a="b", c="d"}` strings the tests use (no escapes).
pub fn json_body(streams: &[PushStream]) -> String {
    let streams: Vec<Value> = streams
        .iter()
        .map(|s| {
            let mut labels = serde_json::Map::new();
            for (n, v) in parse_simple_labels(&s.labels) {
                labels.insert(n, Value::String(v));
            }
            let values: Vec<Value> = s
                .entries
                .iter()
                .map(|e| {
                    let mut v = vec![
                        Value::String(e.ts.to_string()),
                        Value::String(e.line.clone()),
                    ];
                    if !e.metadata.is_empty() {
                        let m: serde_json::Map<String, Value> = e
                            .metadata
                            .iter()
                            .map(|(n, v)| (n.clone(), Value::String(v.clone())))
                            .collect();
                        v.push(Value::Object(m));
                    }
                    Value::Array(v)
                })
                .collect();
            serde_json::json!({"stream": labels, "values": values})
        })
        .collect();
    serde_json::json!({ "streams": streams }).to_string()
}

/// `{a="b", c="d"}` → pairs; enough for test label strings without escapes.
pub fn parse_simple_labels(s: &str) -> Vec<(String, String)> {
    let inner = s.trim().trim_start_matches('{').trim_end_matches('}');
    inner
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (n, v) = p.split_once('=').expect("label pair");
            (n.trim().to_string(), v.trim().trim_matches('"').to_string())
        })
        .collect()
}

pub fn gzip(raw: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(raw).expect("gzip");
    e.finish().expect("gzip finish")
}

/// Every `(stream labels, ts, line)` of a `streams` result, in answer order.
pub fn flatten(v: &Value) -> Vec<(serde_json::Map<String, Value>, i64, String)> {
    let mut out = Vec::new();
    for s in v["data"]["result"]
        .as_array()
        .unwrap_or_else(|| panic!("no data.result array: {v}"))
    {
        let labels = s["stream"]
            .as_object()
            .unwrap_or_else(|| panic!("stream is not an object: {s}"))
            .clone();
        for e in s["values"]
            .as_array()
            .unwrap_or_else(|| panic!("values is not an array: {s}"))
        {
            let ts = e[0]
                .as_str()
                .unwrap_or_else(|| panic!("timestamp must be a string of ns: {e}"))
                .parse::<i64>()
                .unwrap_or_else(|_| panic!("timestamp is not integer ns: {e}"));
            let line = e[1]
                .as_str()
                .unwrap_or_else(|| panic!("line must be a string: {e}"))
                .to_string();
            out.push((labels.clone(), ts, line));
        }
    }
    out
}

/// Keys of the objects at nesting depth `depth` of a JSON text, in the
/// order they are written (serde_json's `Value` does not keep key order,
/// and Grafana's streaming reader depends on it).
pub fn keys_at_depth(text: &str, depth: usize) -> Vec<String> {
    let b = text.as_bytes();
    let (mut i, mut d, mut keys) = (0, 0usize, Vec::new());
    while i < b.len() {
        match b[i] {
            b'{' | b'[' => d += 1,
            b'}' | b']' => d = d.saturating_sub(1),
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                let s = &text[start..i.min(b.len())];
                let mut j = i + 1;
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                if d == depth && j < b.len() && b[j] == b':' {
                    keys.push(s.to_string());
                }
            }
            _ => {}
        }
        i += 1;
    }
    keys
}

/// Every file and directory below `dir`, depth first.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            out.push(p.clone());
            if p.is_dir() {
                out.extend(walk(&p));
            }
        }
    }
    out
}

/// A small seeded PRNG (splitmix64): reproducible "random" kill moments.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo).max(1)
    }
}

/// Copies a directory tree (files and directories only).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read fixture dir").flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy fixture file");
        }
    }
}
