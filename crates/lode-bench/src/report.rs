//! The markdown report: the table rows plus the details behind them.

use crate::queries::Timing;
use std::fmt::Write;
use std::time::Duration;

#[derive(Default)]
pub struct Report {
    pub label: String,
    pub lines: u64,
    pub raw_bytes: u64,
    pub streams: usize,
    pub connections: usize,
    pub pushed_lines: u64,
    pub push_failures: usize,
    pub push_secs: f64,
    pub push_p50: Duration,
    pub push_p99: Duration,
    /// Server CPU-seconds spent while pushing.
    pub ingest_cpu: Option<f64>,
    pub flush_secs: f64,
    pub flush_cpu: Option<f64>,
    pub query_cpu: Option<f64>,
    pub idle_rss: Option<u64>,
    pub peak_rss: Option<u64>,
    pub after_rss: Option<(u64, u64)>,
    /// (total bytes, bytes under `wal/`) after the flush.
    pub disk: Option<(u64, u64)>,
    pub queries: Vec<Timing>,
    pub memory: Vec<MemoryCheck>,
}

/// Peak server RSS of one query, measured alone.
pub struct MemoryCheck {
    pub name: String,
    pub status: u16,
    pub bytes: usize,
    pub elapsed: Duration,
    /// `VmHWM` after the query, reset just before it.
    pub peak_rss: Option<u64>,
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
}

fn ms(d: Duration) -> String {
    let m = d.as_secs_f64() * 1000.0;
    if m < 10.0 {
        format!("{m:.2} ms")
    } else {
        format!("{m:.0} ms")
    }
}

fn or_na<T>(v: Option<T>, f: impl Fn(T) -> String) -> String {
    v.map_or_else(|| "n/a".to_string(), f)
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let m_lines = self.pushed_lines as f64 / 1e6;
        let w = &mut s;
        let _ = writeln!(
            w,
            "{} lines ({:.0} MB of text, {:.0} B/line), {} streams, {} connections\n",
            self.lines,
            self.raw_bytes as f64 / 1e6,
            self.raw_bytes as f64 / self.lines.max(1) as f64,
            self.streams,
            self.connections
        );
        let _ = writeln!(w, "| measure | {} | target |", self.label);
        let _ = writeln!(w, "|---|---|---|");
        let _ = writeln!(
            w,
            "| ingest: server CPU-seconds per million lines | {} | ≤ 1.0 |",
            or_na(self.ingest_cpu.filter(|_| m_lines > 0.0), |c| format!(
                "{:.2}",
                c / m_lines
            ))
        );
        let _ = writeln!(
            w,
            "| ingest: lines/s (client on the same cores) | {:.0} k | ≥ 1 M |",
            self.pushed_lines as f64 / self.push_secs.max(1e-9) / 1e3
        );
        let _ = writeln!(
            w,
            "| memory: idle RSS | {} | ≤ 11 MiB |",
            or_na(self.idle_rss, mib)
        );
        let _ = writeln!(
            w,
            "| memory: peak RSS while ingesting | {} | ≤ 128 MiB |",
            or_na(self.peak_rss, mib)
        );
        let _ = writeln!(
            w,
            "| disk after flush, bytes per line (WAL excluded) | {} | ≤ 22 |",
            or_na(self.disk, |(t, wal)| format!(
                "{:.1}",
                (t - wal) as f64 / self.pushed_lines.max(1) as f64
            ))
        );
        let targets = [
            "≤ 7 ms",
            "≤ 50 ms",
            "≤ 200 ms",
            "≤ 2.5 ms",
            "≤ 300 ms",
            "≤ 1 ms",
            "≤ 1 ms",
        ];
        for (i, q) in self.queries.iter().enumerate() {
            let _ = writeln!(
                w,
                "| {} (warm median) | {}{} | {} |",
                q.name.replace('|', "\\|"),
                ms(q.pct(50.0)),
                q.error.as_ref().map_or(String::new(), |e| format!(
                    " (ERROR: {})",
                    e.replace('|', "\\|")
                )),
                targets.get(i).unwrap_or(&"")
            );
        }
        let _ = writeln!(w, "\nDetails:\n");
        let _ = writeln!(
            w,
            "- push: {} lines in {:.2} s, {} failed requests, request latency p50 {} p99 {}",
            self.pushed_lines,
            self.push_secs,
            self.push_failures,
            ms(self.push_p50),
            ms(self.push_p99)
        );
        let _ = writeln!(
            w,
            "- server CPU: ingest {} s, flush {} s ({:.2} s wall), query mix {} s",
            or_na(self.ingest_cpu, |c| format!("{c:.2}")),
            or_na(self.flush_cpu, |c| format!("{c:.2}")),
            self.flush_secs,
            or_na(self.query_cpu, |c| format!("{c:.2}"))
        );
        if let Some((t, wal)) = self.disk {
            let _ = writeln!(
                w,
                "- data dir after flush: {} total, {} of it WAL",
                mib(t),
                mib(wal)
            );
        }
        if let Some((rss, hwm)) = self.after_rss {
            let _ = writeln!(
                w,
                "- after the queries: RSS {}, lifetime peak (VmHWM) {}",
                mib(rss),
                mib(hwm)
            );
        }
        let _ = writeln!(
            w,
            "\n| query | cold | p50 | p90 | p99 | server CPU per run | answer bytes |\n|---|---|---|---|---|---|---|"
        );
        for q in &self.queries {
            let _ = writeln!(
                w,
                "| {} | {} | {} | {} | {} | {} | {} |",
                q.name.replace('|', "\\|"),
                ms(q.cold),
                ms(q.pct(50.0)),
                ms(q.pct(90.0)),
                ms(q.pct(99.0)),
                or_na(q.cpu_per_run, |c| ms(Duration::from_secs_f64(c))),
                q.bytes
            );
        }
        if !self.memory.is_empty() {
            let _ = writeln!(
                w,
                "\nPeak server RSS of single queries (VmHWM reset before each; bound: 256 MiB):\n\n| query | status | time | answer bytes | peak RSS |\n|---|---|---|---|---|"
            );
            for m in &self.memory {
                let _ = writeln!(
                    w,
                    "| {} | {} | {} | {} | {} |",
                    m.name.replace('|', "\\|"),
                    m.status,
                    ms(m.elapsed),
                    m.bytes,
                    or_na(m.peak_rss, mib)
                );
            }
        }
        s
    }
}
