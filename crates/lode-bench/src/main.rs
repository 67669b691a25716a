//! `lode-bench`: a load tool for Lode and any Loki-compatible server.
//!
//! ```text
//! lode-bench load --url http://127.0.0.1:3100 [--lines 1000000] [--connections 4]
//!     [--batch-bytes 1048576] [--seed 42] [--streams 999] [--pid N] [--data-dir DIR]
//!     [--tenant T] [--warm 20] [--label Lode] [--no-flush] [--no-memory]
//! lode-bench month --lode PATH --data-dir DIR [--port 3199] [--days 35] [--streams 34000]
//!     [--lines 1400000] [--day-secs 3] [--idle-secs 2]   a month of churn in compressed time
//! lode-bench hostile --lode PATH --data-dir DIR [--port 3198] [--clients 8] [--secs 5]
//!     the reliability issue's memory and availability attacks, peak RSS per kind
//! lode-bench gen [--lines N]            data-set statistics and sample lines
//! lode-bench sizes --data-dir DIR       where the chunk files' bytes go, per line
//! lode-bench pipeline [--bytes 1G] [--query Q]...   LogQL pipeline throughput per core
//! ```
//! `load` pushes the data set placed in the last ~6.5 hours (so a 7-day
//! `reject_old_samples` accepts it and a 6-hour window covers it), flushes,
//! runs the query mix and prints a markdown table.

use lode_bench::{gen, http, pipeline, procfs, push, queries, report};

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const HOUR_NS: i64 = 3600 * 1_000_000_000;

struct Args {
    cmd: String,
    flags: HashMap<String, Vec<String>>,
}

impl Args {
    fn parse() -> Result<Args, String> {
        let mut it = std::env::args().skip(1);
        let cmd = it.next().unwrap_or_else(|| "help".into());
        let mut flags: HashMap<String, Vec<String>> = HashMap::new();
        let rest: Vec<String> = it.collect();
        let mut i = 0;
        while i < rest.len() {
            let k = rest[i]
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument {}", rest[i]))?;
            if k.starts_with("no-") {
                flags.entry(k.to_string()).or_default().push(String::new());
                i += 1;
                continue;
            }
            let v = rest
                .get(i + 1)
                .ok_or_else(|| format!("--{k} needs a value"))?;
            flags.entry(k.to_string()).or_default().push(v.clone());
            i += 2;
        }
        Ok(Args { cmd, flags })
    }

    fn get(&self, k: &str) -> Option<&str> {
        self.flags.get(k).and_then(|v| v.last()).map(String::as_str)
    }

    fn num(&self, k: &str, default: u64) -> Result<u64, String> {
        match self.get(k) {
            None => Ok(default),
            Some(v) => parse_size(v).ok_or_else(|| format!("--{k}: not a number: {v}")),
        }
    }

    fn has(&self, k: &str) -> bool {
        self.flags.contains_key(k)
    }
}

/// `5000000`, `5M`, `1G`, `512k`, `1_000_000`: go-humanize's sizes (K, M, G
/// powers of 1000; Ki, Mi, Gi powers of 1024), for counts and bytes alike.
fn parse_size(s: &str) -> Option<u64> {
    lode_go::bytes::parse(&s.trim().replace('_', "")).ok()
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

fn main() {
    let res = Args::parse().and_then(|a| match a.cmd.as_str() {
        "load" => load(&a),
        "month" => month_cmd(&a),
        "hostile" => hostile_cmd(&a),
        "gen" => gen_stats(&a),
        "sizes" => sizes_cmd(&a),
        "pipeline" => pipeline_cmd(&a),
        _ => {
            println!("{}", USAGE);
            Ok(())
        }
    });
    if let Err(e) = res {
        eprintln!("lode-bench: {e}");
        std::process::exit(1);
    }
}

const USAGE: &str = "usage: lode-bench load --url URL [--query-url READER_URL [--query-pid PID]] [--lines N] [--connections N] [--batch-bytes N] [--seed N] \
[--streams N] [--pid N] [--data-dir DIR] [--tenant T] [--warm N] [--label NAME] [--no-flush] [--no-memory]\n       \
lode-bench month --lode PATH --data-dir DIR [--port N] [--days N] [--streams N] [--lines N] [--day-secs S] [--idle-secs S]\n       \
lode-bench gen [--lines N] [--seed N]\n       lode-bench sizes --data-dir DIR\n       lode-bench pipeline [--bytes 1G] [--query Q]...";

fn dataset(a: &Args, default_lines: u64, end_ns: i64) -> Result<gen::Dataset, String> {
    let lines = a.num("lines", default_lines)?;
    let seed = a.num("seed", 42)?;
    let streams = a.num("streams", 999)? as usize;
    // Lines cover the 6.5 hours before `end_ns`.
    Ok(gen::Dataset::new(
        seed,
        lines.max(1),
        end_ns,
        6 * HOUR_NS + HOUR_NS / 2,
        streams.max(1),
    ))
}

fn month_cmd(a: &Args) -> Result<(), String> {
    let plan = lode_bench::month::MonthPlan {
        lode: PathBuf::from(
            a.get("lode")
                .ok_or("--lode PATH (the lode binary) is required")?,
        ),
        data_dir: PathBuf::from(a.get("data-dir").ok_or("--data-dir DIR is required")?),
        port: a.num("port", 3199)? as u16,
        days: a.num("days", 35)?.max(1) as i64,
        streams: a.num("streams", 34_000)?.max(1),
        lines: a.num("lines", 1_400_000)?.max(1),
        day_secs: a.get("day-secs").map_or(Ok(3.0), |v| {
            v.parse::<f64>().map_err(|_| "--day-secs: not a number")
        })?,
        idle_secs: a.num("idle-secs", 2)?.max(1),
    };
    let report = lode_bench::month::run(&plan)?;
    println!("{}", report.markdown());
    if report.refused_pushes > 0 || !report.mismatches.is_empty() {
        return Err("the replay found refusals or wrong counts (above)".into());
    }
    Ok(())
}

fn hostile_cmd(a: &Args) -> Result<(), String> {
    let plan = lode_bench::hostile::HostilePlan {
        lode: PathBuf::from(
            a.get("lode")
                .ok_or("--lode PATH (the lode binary) is required")?,
        ),
        data_dir: PathBuf::from(a.get("data-dir").ok_or("--data-dir DIR is required")?),
        port: a.num("port", 3198)? as u16,
        clients: a.num("clients", 8)?.max(1) as usize,
        secs: a.num("secs", 5)?.max(1),
    };
    let rows = lode_bench::hostile::run(&plan)?;
    println!("{}", lode_bench::hostile::markdown(&rows, plan.clients));
    Ok(())
}

fn gen_stats(a: &Args) -> Result<(), String> {
    let ds = dataset(a, 100_000, now_ns())?;
    let (mut line, mut meta) = (String::new(), Vec::new());
    let (mut bytes, mut with_meta) = (0u64, 0u64);
    let mut per_stream = vec![0u64; ds.streams.len()];
    for i in 0..ds.lines {
        let (s, _) = ds.line(i, &mut line, &mut meta);
        bytes += line.len() as u64;
        with_meta += u64::from(!meta.is_empty());
        per_stream[s] += 1;
        if i < 12 {
            println!("{} {}", ds.streams[s].selector, line);
        }
    }
    println!(
        "lines {} bytes {} avg {:.1} B/line, streams used {}/{}, with structured metadata {}, needle {} at line {}",
        ds.lines,
        bytes,
        bytes as f64 / ds.lines as f64,
        per_stream.iter().filter(|n| **n > 0).count(),
        ds.streams.len(),
        with_meta,
        ds.needle,
        ds.needle_index
    );
    Ok(())
}

fn sizes_cmd(a: &Args) -> Result<(), String> {
    let dir = a.get("data-dir").ok_or("sizes needs --data-dir DIR")?;
    let s = lode_bench::sizes::measure(std::path::Path::new(dir))?;
    print!("{}", lode_bench::sizes::table(&s));
    Ok(())
}

fn pipeline_cmd(a: &Args) -> Result<(), String> {
    let bytes = a.num("bytes", 1_000_000_000)?;
    // ~192 B per line: size the line count from the byte target.
    let probe = dataset(a, 20_000, now_ns())?;
    let (mut line, mut meta) = (String::new(), Vec::new());
    let avg = (0..probe.lines)
        .map(|i| {
            probe.line(i, &mut line, &mut meta);
            line.len() as u64
        })
        .sum::<u64>()
        / probe.lines;
    let lines = bytes / avg.max(1);
    let ds = gen::Dataset::new(
        probe.seed,
        lines,
        now_ns(),
        6 * HOUR_NS,
        probe.streams.len(),
    );
    let queries: Vec<String> = match a.flags.get("query") {
        Some(q) => q.clone(),
        None => vec![
            format!("{{namespace=~\".+\"}} |= \"{}\"", ds.needle),
            "{namespace=~\".+\"} |~ \"error|timeout\"".into(),
            format!("{{app=\"{}\"}} | json | status >= 500", gen::JSON_APP),
            "sum by (namespace) (rate({namespace=~\".+\"}[5m]))".into(),
        ],
    };
    let gen_time = pipeline::generation_only(&ds);
    println!(
        "generating {} lines alone: {:.2} s (subtracted below)\n",
        ds.lines,
        gen_time.as_secs_f64()
    );
    println!("| query | lines | GB | matched | lines/s per core | MB/s per core |");
    println!("|---|---|---|---|---|---|");
    for q in &queries {
        let r = pipeline::run(&ds, q)?;
        let secs = r.elapsed.saturating_sub(gen_time).as_secs_f64().max(1e-9);
        println!(
            "| `{}` | {} | {:.2} | {} | {:.2} M | {:.0} |",
            r.query.replace('|', "\\|"),
            r.lines,
            r.bytes as f64 / 1e9,
            r.matched,
            r.lines as f64 / secs / 1e6,
            r.bytes as f64 / secs / 1e6
        );
        let _ = r.cells;
    }
    Ok(())
}

fn load(a: &Args) -> Result<(), String> {
    let url = a.get("url").ok_or("--url is required")?;
    let target = http::Target::parse(url)?;
    let tenant = a.get("tenant");
    let end_ns = now_ns() - 60 * 1_000_000_000;
    let ds = dataset(a, 1_000_000, end_ns)?;
    let connections = a.num("connections", 4)? as usize;
    let batch_bytes = a.num("batch-bytes", 1 << 20)? as usize;
    let warm = a.num("warm", 20)? as usize;
    let pid = match a.get("pid") {
        Some(p) => Some(p.parse::<u32>().map_err(|_| "--pid: not a number")?),
        None => procfs::pid_listening_on(target.port),
    };
    let data_dir = a.get("data-dir").map(PathBuf::from);
    let label = a.get("label").unwrap_or("server").to_string();

    eprintln!(
        "building {} lines into ~{} KiB batches...",
        ds.lines,
        batch_bytes >> 10
    );
    let t0 = Instant::now();
    let batches = Arc::new(push::build_batches(&ds, batch_bytes));
    let raw: u64 = batches.iter().map(|b| b.raw_bytes).sum();
    let wire: u64 = batches.iter().map(|b| b.body.len() as u64).sum();
    eprintln!(
        "{} batches, {:.1} MB of lines, {:.1} MB on the wire, built in {:.1} s",
        batches.len(),
        raw as f64 / 1e6,
        wire as f64 / 1e6,
        t0.elapsed().as_secs_f64()
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut r = report::Report {
        label,
        lines: ds.lines,
        raw_bytes: raw,
        streams: ds.streams.len(),
        connections,
        ..Default::default()
    };
    r.idle_rss = pid.and_then(procfs::rss).map(|x| x.0);
    let cpu0 = pid.and_then(procfs::cpu_seconds);

    // Peak RSS: sample VmRSS while pushing (VmHWM also covers what the
    // sampler misses between ticks, if the server started fresh).
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = pid.map(|p| {
        let (stop, peak) = (stop.clone(), peak.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Some((rss, _)) = procfs::rss(p) {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    });
    eprintln!("pushing over {connections} connections...");
    let outcome = rt.block_on(push::push_all(
        &target,
        tenant,
        batches.clone(),
        connections,
    ));
    let cpu1 = pid.and_then(procfs::cpu_seconds);
    drop(batches);
    r.push_secs = outcome.elapsed.as_secs_f64();
    r.pushed_lines = outcome.lines;
    r.push_p50 = queries::percentile(&outcome.latencies, 50.0);
    r.push_p99 = queries::percentile(&outcome.latencies, 99.0);
    if let (Some(a0), Some(a1)) = (cpu0, cpu1) {
        r.ingest_cpu = Some(a1 - a0);
    }
    for f in outcome.failures.iter().take(5) {
        eprintln!("push failure: {f}");
    }
    r.push_failures = outcome.failures.len();

    if !a.has("no-flush") {
        let t = Instant::now();
        let res = rt.block_on(async {
            let mut c = http::Conn::new(target.clone());
            c.request("POST", "/flush", &[], b"").await
        });
        r.flush_secs = t.elapsed().as_secs_f64();
        match res {
            Ok(resp) if resp.status / 100 == 2 => {}
            Ok(resp) => eprintln!("flush answered {}", resp.status),
            Err(e) => eprintln!("flush failed: {e}"),
        }
        r.flush_cpu = pid
            .and_then(procfs::cpu_seconds)
            .zip(cpu1)
            .map(|(b, a)| b - a);
    }
    stop.store(true, Ordering::Relaxed);
    if let Some(s) = sampler {
        let _ = s.join();
    }
    let hwm = pid.and_then(procfs::rss).map(|x| x.1);
    r.peak_rss = Some(peak.load(Ordering::Relaxed).max(hwm.unwrap_or(0))).filter(|p| *p > 0);
    r.disk = data_dir.as_deref().map(procfs::dir_bytes);

    // Scalable mode: queries go to a reader, once the writer's bucket holds
    // everything pushed (and the reader had time to read its manifest).
    let (target, pid) = match a.get("query-url") {
        Some(q) => {
            let qt = http::Target::parse(q)?;
            rt.block_on(wait_uploaded(&target));
            let qpid = match a.get("query-pid") {
                Some(p) => Some(p.parse::<u32>().map_err(|_| "--query-pid: not a number")?),
                None => procfs::pid_listening_on(qt.port),
            };
            r.label = format!("{} (queries on {q})", r.label);
            (qt, qpid)
        }
        None => (target, pid),
    };
    eprintln!("running the query mix ({warm} warm runs each)...");
    let mix = queries::mix(&ds, end_ns + 60 * 1_000_000_000);
    let q0 = pid.and_then(procfs::cpu_seconds);
    r.queries = rt.block_on(queries::run(&target, tenant, &mix, warm, pid));
    r.query_cpu = pid
        .and_then(procfs::cpu_seconds)
        .zip(q0)
        .map(|(b, a)| b - a);
    r.after_rss = pid.and_then(procfs::rss);
    if !a.has("no-memory") {
        eprintln!("measuring the peak memory of single queries...");
        r.memory = rt.block_on(memory_checks(
            &target,
            tenant,
            end_ns + 60 * 1_000_000_000,
            pid,
        ));
    }
    println!("{}", r.markdown());
    Ok(())
}

/// Waits until a scalable-mode writer's bucket holds every record it took
/// (`lode_scalable_state{what="records_not_uploaded"} 0`), then for a
/// reader's next manifest read.
async fn wait_uploaded(writer: &http::Target) {
    let mut conn = http::Conn::new(writer.clone());
    let deadline = Instant::now() + Duration::from_secs(300);
    while Instant::now() < deadline {
        if let Ok(r) = conn.request("GET", "/metrics", &[], b"").await {
            let text = String::from_utf8_lossy(&r.body);
            if text
                .lines()
                .any(|l| l.starts_with("lode_scalable_state{what=\"records_not_uploaded\"} 0"))
            {
                tokio::time::sleep(Duration::from_secs(3)).await;
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!("the writer's uploads did not catch up within 300 s; querying anyway");
}

/// Runs each memory-check query alone, with the server's peak RSS reset
/// before it (when the server's pid is known and /proc allows it).
async fn memory_checks(
    target: &http::Target,
    tenant: Option<&str>,
    end_ns: i64,
    pid: Option<u32>,
) -> Vec<report::MemoryCheck> {
    let mut conn = http::Conn::new(target.clone());
    let headers: Vec<(&str, &str)> = tenant.map(|t| ("X-Scope-OrgID", t)).into_iter().collect();
    let mut out = Vec::new();
    for q in queries::memory_checks(end_ns) {
        let reset = pid.is_some_and(procfs::reset_peak);
        let t0 = Instant::now();
        let (status, bytes) = match conn.request("GET", &q.path, &headers, b"").await {
            Ok(resp) => (resp.status, resp.body.len()),
            Err(e) => {
                eprintln!("{}: {e}", q.name);
                (0, 0)
            }
        };
        let elapsed = t0.elapsed();
        let peak_rss = if reset {
            pid.and_then(procfs::rss).map(|x| x.1)
        } else {
            None
        };
        out.push(report::MemoryCheck {
            name: q.name,
            status,
            bytes,
            elapsed,
            peak_rss,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("5M"), Some(5_000_000));
        assert_eq!(parse_size("1Gi"), Some(1 << 30));
        assert_eq!(parse_size("1_000"), Some(1000));
        assert_eq!(parse_size("x"), None);
    }
}
