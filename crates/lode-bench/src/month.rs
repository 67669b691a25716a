//! `lode-bench month`: a month of homelab churn against a real `lode`
//! binary in compressed time. Each simulated day's pods are new streams
//! (CronJob pods that live minutes, a few long-lived pods replaced at
//! rollouts); a day takes `day_secs` of real time and the server runs with a
//! `chunk_idle_period` shorter than that, so earlier days' streams go idle
//! as they would over a real month. Timestamps are the last `days` days
//! before now, so retention (720h) expires the first days as it would.
//!
//! Per simulated week it restarts the server and reports RSS, disk, chunk
//! files, start-up time to `/ready`, `/labels` over 1 h and a 12 h
//! `count_over_time` for one namespace; at the end it checks every day's
//! count and that nothing past retention is left on disk.

use crate::http::{encode, Conn, Target};
use crate::procfs;
use lode_proto::wire::google::protobuf::Timestamp;
use lode_proto::wire::logproto::{EntryAdapter, PushRequest, StreamAdapter};
use prost::Message;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const S: i64 = 1_000_000_000;
const H: i64 = 3600 * S;
const D: i64 = 24 * H;
const NAMESPACES: usize = 8;

/// What to replay.
#[derive(Debug, Clone)]
pub struct MonthPlan {
    pub lode: PathBuf,
    pub data_dir: PathBuf,
    pub port: u16,
    pub days: i64,
    /// Distinct streams over the whole replay.
    pub streams: u64,
    /// Lines over the whole replay.
    pub lines: u64,
    pub day_secs: f64,
    pub idle_secs: u64,
}

/// One row of the per-week table.
#[derive(Debug, Default, Clone)]
pub struct WeekRow {
    pub day: i64,
    pub streams_so_far: u64,
    pub lines_so_far: u64,
    pub rss_mib: f64,
    pub idle_rss_mib: f64,
    pub disk_mib: f64,
    pub chunk_files: usize,
    pub startup: Duration,
    pub labels_1h: Duration,
    pub count_12h: Duration,
}

/// The outcome.
#[derive(Debug, Default)]
pub struct MonthReport {
    pub weeks: Vec<WeekRow>,
    pub pushes: u64,
    pub refused_pushes: u64,
    pub peak_rss_mib: f64,
    pub days_exact: usize,
    pub days_checked: usize,
    pub expired_days_empty: bool,
    pub expired_blocks_on_disk: usize,
    pub mismatches: Vec<String>,
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

struct Server {
    child: Child,
    plan: MonthPlan,
}

impl Server {
    fn start(plan: &MonthPlan) -> Result<(Server, Duration), String> {
        let config = plan.data_dir.with_extension("yaml");
        std::fs::write(&config, config_yaml(plan)).map_err(|e| e.to_string())?;
        let t0 = Instant::now();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(plan.data_dir.with_extension("log"))
            .map_err(|e| e.to_string())?;
        let child = Command::new(&plan.lode)
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", plan.lode.display()))?;
        let s = Server {
            child,
            plan: plan.clone(),
        };
        let target = s.target();
        let rt = runtime()?;
        let ready = rt.block_on(async {
            let mut c = Conn::new(target);
            for _ in 0..6000 {
                if let Ok(r) = c.request("GET", "/ready", &[], b"").await {
                    if r.status == 200 {
                        return true;
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            false
        });
        if !ready {
            return Err("lode did not become ready in 30 s".into());
        }
        Ok((s, t0.elapsed()))
    }

    fn target(&self) -> Target {
        Target {
            host: "127.0.0.1".into(),
            port: self.plan.port,
            prefix: String::new(),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(mut self) -> Result<(), String> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
        self.child.wait().map_err(|e| e.to_string())?;
        Ok(())
    }
}

fn config_yaml(p: &MonthPlan) -> String {
    format!(
        "server:\n  http_listen_address: 127.0.0.1\n  http_listen_port: {}\n  log_level: warn\n\
storage:\n  data_dir: {}\n  wal_fsync: never\n  flush_interval: 2s\n\
ingester:\n  chunk_idle_period: {}s\n\
compactor:\n  compaction_interval: 5s\n\
limits_config:\n  reject_old_samples: false\n  retention_period: 720h\n  max_streams_per_user: 10000\n  max_global_streams_per_user: 10000\n  ingestion_rate_mb: 1000\n  ingestion_burst_size_mb: 1000\n  max_query_series: 100000\n",
        p.port,
        p.data_dir.display(),
        p.idle_secs
    )
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

/// One simulated day: its push bodies and how many lines they hold.
struct Day {
    bodies: Vec<Vec<u8>>,
    lines: u64,
}

/// Builds day `d`'s push bodies (about 1 MiB of protobuf each, time order
/// within each stream). Stream `i` of the day lives in a 15-minute slot
/// (9 in 10: CronJob pods) or over the whole day (rolled-out pods).
fn build_day(p: &MonthPlan, d: i64, day_start: i64) -> Day {
    let per_day = p.streams / p.days as u64;
    let lines_per_stream = (p.lines / p.streams).max(1);
    let mut bodies = Vec::new();
    let mut streams: Vec<StreamAdapter> = Vec::new();
    let mut size = 0usize;
    let mut lines = 0;
    for i in 0..per_day {
        let ns = i as usize % NAMESPACES;
        let app = i % 40;
        let long = i % 10 == 0;
        let (from, span) = if long {
            (day_start + S, D - 2 * S)
        } else {
            (day_start + ((i * 97) % 96) as i64 * 15 * 60 * S + S, 60 * S)
        };
        let step = span / lines_per_stream as i64;
        let labels =
            format!("{{namespace=\"ns-{ns}\", app=\"app-{app}\", pod=\"app-{app}-d{d}-{i:05}\"}}");
        let entries: Vec<EntryAdapter> = (0..lines_per_stream as i64)
            .map(|k| {
                let ts = from + k * step;
                EntryAdapter {
                    timestamp: Some(Timestamp {
                        seconds: ts.div_euclid(S),
                        nanos: ts.rem_euclid(S) as i32,
                    }),
                    line: format!(
                        "ts={ts} level=info msg=\"step {k} of app-{app}\" pod=d{d}-{i} duration={}ms",
                        k % 700
                    )
                    .into_bytes(),
                    structured_metadata: vec![],
                    parsed: vec![],
                }
            })
            .collect();
        size += entries.iter().map(|e| e.line.len() + 16).sum::<usize>() + labels.len();
        lines += entries.len() as u64;
        streams.push(StreamAdapter {
            labels: labels.into_bytes(),
            entries,
            hash: 0,
        });
        if size >= 1 << 20 {
            bodies.push(encode_push(std::mem::take(&mut streams)));
            size = 0;
        }
    }
    if !streams.is_empty() {
        bodies.push(encode_push(streams));
    }
    Day { bodies, lines }
}

fn encode_push(streams: Vec<StreamAdapter>) -> Vec<u8> {
    let req = PushRequest {
        streams,
        format: vec![],
    };
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .unwrap_or_default()
}

async fn get(c: &mut Conn, path: &str) -> Result<(u16, Vec<u8>), String> {
    c.request("GET", path, &[], b"")
        .await
        .map(|r| (r.status, r.body))
        .map_err(|e| e.to_string())
}

/// Median latency of `n` runs of `path`.
async fn timed(c: &mut Conn, path: &str, n: usize) -> Result<Duration, String> {
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let (status, body) = get(c, path).await?;
        if status != 200 {
            return Err(format!(
                "{path}: {status} {}",
                String::from_utf8_lossy(&body)
            ));
        }
        v.push(t.elapsed());
    }
    v.sort();
    Ok(v[n / 2])
}

/// The count of lines in `(end - 12h, end]` by an instant metric query.
async fn count_12h(c: &mut Conn, selector: &str, end: i64) -> Result<u64, String> {
    let q = format!("sum(count_over_time({selector}[12h]))");
    let (status, body) = get(
        c,
        &format!("/loki/api/v1/query?query={}&time={end}", encode(&q)),
    )
    .await?;
    if status != 200 {
        return Err(format!("{q}: {status}"));
    }
    // `"value":[<ts>,"<n>"]`, or an empty vector.
    let text = String::from_utf8_lossy(&body);
    Ok(text
        .split("\"value\":[")
        .nth(1)
        .and_then(|v| v.split('"').nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0))
}

fn chunk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(ts) = std::fs::read_dir(dir.join("tenants")) {
        for t in ts.flatten() {
            if let Ok(fs) = std::fs::read_dir(t.path()) {
                out.extend(
                    fs.flatten()
                        .map(|f| f.path())
                        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("chunk")),
                );
            }
        }
    }
    out
}

/// Replays the month and measures it.
pub fn run(p: &MonthPlan) -> Result<MonthReport, String> {
    if p.data_dir.exists() {
        return Err(format!(
            "{} exists: the replay needs a fresh data directory",
            p.data_dir.display()
        ));
    }
    let rt = runtime()?;
    // The replay's last day ends two hours ago (not at midnight): the first
    // day then lies wholly inside 720 h when `days` is 30, so its queries
    // compare with later days' on the same amount of data.
    let end = now_ns() - 2 * H;
    let first_day = end - p.days * D;
    let mut report = MonthReport::default();
    let (mut server, _) = Server::start(p)?;
    let peak = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let pid_now = Arc::new(AtomicU64::new(u64::from(server.pid())));
    let sampler = {
        let (peak, stop, pid_now) = (peak.clone(), stop.clone(), pid_now.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Some((rss, _)) = procfs::rss(pid_now.load(Ordering::Relaxed) as u32) {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let mut per_day_lines = Vec::new();
    let (mut streams_so_far, mut lines_so_far) = (0u64, 0u64);
    for d in 0..p.days {
        let day_start = first_day + d * D;
        let started = Instant::now();
        let day = build_day(p, d, day_start);
        let target = server.target();
        let (pushes, refused) = rt.block_on(async {
            let mut c = Conn::new(target);
            let (mut n, mut bad) = (0u64, 0u64);
            for b in &day.bodies {
                n += 1;
                let r = c
                    .request(
                        "POST",
                        "/loki/api/v1/push",
                        &[("Content-Type", "application/x-protobuf")],
                        b,
                    )
                    .await;
                match r {
                    Ok(r) if r.status == 204 => {}
                    Ok(r) => {
                        bad += 1;
                        if bad <= 3 {
                            eprintln!(
                                "day {d}: push answered {}: {}",
                                r.status,
                                String::from_utf8_lossy(&r.body)
                                    .lines()
                                    .next()
                                    .unwrap_or("")
                            );
                        }
                    }
                    Err(e) => {
                        bad += 1;
                        eprintln!("day {d}: push failed: {e}");
                    }
                }
            }
            (n, bad)
        });
        report.pushes += pushes;
        report.refused_pushes += refused;
        per_day_lines.push(day.lines);
        streams_so_far += p.streams / p.days as u64;
        lines_so_far += day.lines;
        let left = Duration::from_secs_f64(p.day_secs).saturating_sub(started.elapsed());
        std::thread::sleep(left);
        let last = d + 1 == p.days;
        if (d + 1) % 7 == 0 || d == 0 || last {
            let mut row = WeekRow {
                day: d + 1,
                streams_so_far,
                lines_so_far,
                ..Default::default()
            };
            row.rss_mib = procfs::rss(server.pid()).map_or(0.0, |r| r.0 as f64 / 1048576.0);
            server.stop()?;
            let (s, startup) = Server::start(p)?;
            server = s;
            pid_now.store(u64::from(server.pid()), Ordering::Relaxed);
            row.startup = startup;
            // Let the first flush and compaction pass after start-up go by.
            std::thread::sleep(Duration::from_millis(1500));
            row.idle_rss_mib = procfs::rss(server.pid()).map_or(0.0, |r| r.0 as f64 / 1048576.0);
            let (disk, _) = procfs::dir_bytes(&p.data_dir);
            row.disk_mib = disk as f64 / 1048576.0;
            row.chunk_files = chunk_files(&p.data_dir).len();
            let q_end = day_start + D;
            let target = server.target();
            let (labels, count) = rt.block_on(async {
                let mut c = Conn::new(target);
                let labels = timed(
                    &mut c,
                    &format!("/loki/api/v1/labels?start={}&end={}", q_end - H, q_end),
                    21,
                )
                .await?;
                let q = "sum(count_over_time({namespace=\"ns-3\"}[12h]))";
                let count = timed(
                    &mut c,
                    &format!("/loki/api/v1/query?query={}&time={q_end}", encode(q)),
                    11,
                )
                .await?;
                Ok::<_, String>((labels, count))
            })?;
            row.labels_1h = labels;
            row.count_12h = count;
            eprintln!("{row:?}");
            report.weeks.push(row);
        }
    }
    // Counts per day, in 12 h halves (a query may span at most 12 h).
    let cutoff = now_ns() - 720 * H;
    let target = server.target();
    let sel = "{namespace=~\"ns-.*\"}";
    rt.block_on(async {
        let mut c = Conn::new(target);
        report.expired_days_empty = true;
        for d in 0..p.days {
            let ds = first_day + d * D;
            let a = count_12h(&mut c, sel, ds + 12 * H).await?;
            let b = count_12h(&mut c, sel, ds + D).await?;
            if ds + D < cutoff {
                if a + b != 0 {
                    report.expired_days_empty = false;
                    report
                        .mismatches
                        .push(format!("day {d} is past retention but has {} lines", a + b));
                }
            } else if ds >= cutoff {
                report.days_checked += 1;
                if a + b == per_day_lines[d as usize] {
                    report.days_exact += 1;
                } else {
                    report.mismatches.push(format!(
                        "day {d}: {} lines, {} pushed",
                        a + b,
                        per_day_lines[d as usize]
                    ));
                }
            }
        }
        Ok::<_, String>(())
    })?;
    // A compaction round (5 s) after the last restart removes expired days.
    std::thread::sleep(Duration::from_secs(8));
    for f in chunk_files(&p.data_dir) {
        if let Ok(cf) = lode_storage::format::chunk_file::ChunkFile::open(&f, 0) {
            report.expired_blocks_on_disk += cf.blocks.iter().filter(|b| b.max_ts < cutoff).count();
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    report.peak_rss_mib = peak.load(Ordering::Relaxed) as f64 / 1048576.0;
    server.stop()?;
    Ok(report)
}

impl MonthReport {
    pub fn markdown(&self) -> String {
        let mut s = String::from(
            "| day | streams so far | lines so far | RSS before restart | idle RSS after | disk | chunk files | restart to /ready | `/labels` 1 h | 12 h `count_over_time` one namespace |\n|---|---|---|---|---|---|---|---|---|---|\n",
        );
        for w in &self.weeks {
            s.push_str(&format!(
                "| {} | {} | {} | {:.1} MiB | {:.1} MiB | {:.1} MiB | {} | {} ms | {:.2} ms | {:.2} ms |\n",
                w.day,
                w.streams_so_far,
                w.lines_so_far,
                w.rss_mib,
                w.idle_rss_mib,
                w.disk_mib,
                w.chunk_files,
                w.startup.as_millis(),
                w.labels_1h.as_secs_f64() * 1e3,
                w.count_12h.as_secs_f64() * 1e3
            ));
        }
        s.push_str(&format!(
            "\npushes {} (refused {}), peak RSS {:.1} MiB, days inside retention exact {}/{}, days past retention empty: {}, expired blocks left on disk: {}\n",
            self.pushes,
            self.refused_pushes,
            self.peak_rss_mib,
            self.days_exact,
            self.days_checked,
            self.expired_days_empty,
            self.expired_blocks_on_disk
        ));
        for m in &self.mismatches {
            s.push_str(&format!("mismatch: {m}\n"));
        }
        s
    }
}
