//! The homelab data set: ~999 streams (namespaces × apps × pods × nodes)
//! writing JSON, logfmt, access-log, klog and plain lines of ~190 bytes on
//! average, with levels, a small share of structured metadata and one rare
//! trace id (the needle). Same shape as `/work/shared/compat/gen.py`, but
//! generated line by line from `(seed, index)` so any size is cheap and
//! deterministic.

use crate::rng::Rng;
use std::fmt::Write;

/// Line shapes, one per kind of homelab app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Flat JSON with a top-level `status` (the query mix's "json app").
    JsonRequest,
    /// Nested JSON (zigbee2mqtt-like).
    JsonDevice,
    /// Grafana-style logfmt request log.
    LogfmtRequest,
    /// Prometheus/go-kit logfmt.
    LogfmtKit,
    /// Traefik/nginx combined access log.
    Access,
    /// Home Assistant-style plain text.
    Plain,
    /// .NET (Jellyfin) bracketed text.
    Dotnet,
    /// Kubernetes klog.
    Klog,
    /// CoreDNS query log.
    Dns,
    /// *arr pipe-separated text.
    Pipe,
}

struct Template {
    namespace: &'static str,
    app: &'static str,
    format: Format,
    weight: f64,
}

const TEMPLATES: &[Template] = &[
    Template {
        namespace: "home-automation",
        app: "home-assistant",
        format: Format::Plain,
        weight: 6.0,
    },
    Template {
        namespace: "home-automation",
        app: "zigbee2mqtt",
        format: Format::JsonDevice,
        weight: 8.0,
    },
    Template {
        namespace: "home-automation",
        app: "node-red",
        format: Format::JsonRequest,
        weight: 2.0,
    },
    Template {
        namespace: "media",
        app: "jellyfin",
        format: Format::Dotnet,
        weight: 4.0,
    },
    Template {
        namespace: "media",
        app: "sonarr",
        format: Format::Pipe,
        weight: 2.0,
    },
    Template {
        namespace: "media",
        app: "radarr",
        format: Format::Pipe,
        weight: 2.0,
    },
    Template {
        namespace: "media",
        app: "immich",
        format: Format::JsonRequest,
        weight: 5.0,
    },
    Template {
        namespace: "monitoring",
        app: "grafana",
        format: Format::LogfmtRequest,
        weight: 5.0,
    },
    Template {
        namespace: "monitoring",
        app: "prometheus",
        format: Format::LogfmtKit,
        weight: 3.0,
    },
    Template {
        namespace: "monitoring",
        app: "alertmanager",
        format: Format::LogfmtKit,
        weight: 1.2,
    },
    Template {
        namespace: "kube-system",
        app: "coredns",
        format: Format::Dns,
        weight: 7.0,
    },
    Template {
        namespace: "kube-system",
        app: "traefik",
        format: Format::Access,
        weight: 18.0,
    },
    Template {
        namespace: "kube-system",
        app: "metrics-server",
        format: Format::Klog,
        weight: 1.0,
    },
    Template {
        namespace: "longhorn-system",
        app: "longhorn-manager",
        format: Format::LogfmtKit,
        weight: 3.0,
    },
    Template {
        namespace: "longhorn-system",
        app: "longhorn-ui",
        format: Format::Access,
        weight: 1.0,
    },
    Template {
        namespace: "longhorn-system",
        app: "csi-attacher",
        format: Format::Klog,
        weight: 0.8,
    },
];

/// The app whose lines are flat JSON with a `status` field.
pub const JSON_APP: &str = "immich";

const NODES: &[&str] = &["k3s-master-01", "k3s-worker-01", "k3s-worker-02"];
const IPS: &[&str] = &[
    "10.42.0.12",
    "10.42.0.23",
    "10.42.0.31",
    "10.42.1.7",
    "10.42.1.19",
    "10.42.1.28",
    "192.168.1.10",
    "192.168.1.42",
    "192.168.1.101",
];
const PATHS: &[&str] = &[
    "/api/states",
    "/api/websocket",
    "/auth/token",
    "/api/history/period",
    "/Items/Latest",
    "/Videos/stream.mkv",
    "/api/v1/query",
    "/api/health",
    "/metrics",
    "/login",
    "/api/asset/thumbnail",
    "/api/search",
];
const UAS: &[&str] = &[
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0",
    "Home Assistant/2024.1.0 (iOS 17.2.1)",
    "Jellyfin-Android/2.6.0",
    "curl/8.4.0",
    "Prometheus/2.48.1",
    "Grafana/10.2.3",
];
const ROOMS: &[&str] = &[
    "living_room",
    "kitchen",
    "bedroom",
    "office",
    "garage",
    "garden",
];
const TITLES: &[&str] = &[
    "The Matrix (1999)",
    "Amélie (2001)",
    "千と千尋の神隠し (2001)",
    "Das Boot (1981)",
    "Blade Runner 2049",
];
const MONTHS: &[&str] = &[
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// One stream of the data set.
#[derive(Debug, Clone)]
pub struct StreamDef {
    /// Sorted by name.
    pub labels: Vec<(String, String)>,
    /// `{a="b", ...}` as pushed.
    pub selector: String,
    pub format: Format,
}

/// The data set: which stream writes line `i`, when, and what.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub seed: u64,
    pub lines: u64,
    pub streams: Vec<StreamDef>,
    cumulative: Vec<f64>,
    /// First timestamp (Unix ns) and the span the lines cover.
    pub start_ns: i64,
    pub span_ns: i64,
    pub needle: String,
    pub needle_index: u64,
}

#[derive(Clone, Copy)]
enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    fn lower(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
    fn upper(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARNING",
            Level::Error => "ERROR",
        }
    }
}

fn level(r: &mut Rng) -> Level {
    r.weighted(&[
        (Level::Info, 72),
        (Level::Debug, 10),
        (Level::Warn, 11),
        (Level::Error, 7),
    ])
}

fn hex(r: &mut Rng, n: usize, out: &mut String) {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut x = r.next_u64();
    for i in 0..n {
        if i % 16 == 15 {
            x = r.next_u64();
        }
        out.push(H[(x & 15) as usize] as char);
        x >>= 4;
    }
}

use lode_go::time::civil_from_days as civil;

struct Tm {
    y: i64,
    mo: u32,
    d: u32,
    h: i64,
    mi: i64,
    s: i64,
    ms: i64,
}

fn tm(ns: i64) -> Tm {
    let secs = ns.div_euclid(1_000_000_000);
    let (y, mo, d) = civil(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    Tm {
        y,
        mo,
        d,
        h: rem / 3600,
        mi: rem % 3600 / 60,
        s: rem % 60,
        ms: ns.rem_euclid(1_000_000_000) / 1_000_000,
    }
}

impl Dataset {
    /// `lines` lines spread evenly over `[end_ns - span_ns, end_ns)`.
    pub fn new(seed: u64, lines: u64, end_ns: i64, span_ns: i64, stream_count: usize) -> Dataset {
        let mut r = Rng::new(seed);
        let mut streams = Vec::with_capacity(stream_count);
        let mut weights = Vec::with_capacity(stream_count);
        for i in 0..stream_count {
            let t = &TEMPLATES[i % TEMPLATES.len()];
            let replica = i / TEMPLATES.len();
            let node = NODES[replica % NODES.len()];
            let mut pod = format!("{}-", t.app);
            hex(&mut r, 8, &mut pod);
            write!(pod, "-{replica}").expect("string write");
            let mut labels = vec![
                ("app".to_string(), t.app.to_string()),
                ("container".to_string(), t.app.to_string()),
                ("job".to_string(), format!("{}/{}", t.namespace, t.app)),
                ("namespace".to_string(), t.namespace.to_string()),
                ("node".to_string(), node.to_string()),
                ("pod".to_string(), pod),
            ];
            labels.sort();
            let selector = format!(
                "{{{}}}",
                labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{v}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            // A few replicas are busy, most are quiet, as on a real node.
            let skew = 0.25 + 1.5 * r.unit() * r.unit();
            weights.push(t.weight * skew);
            streams.push(StreamDef {
                labels,
                selector,
                format: t.format,
            });
        }
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let cumulative = weights
            .iter()
            .map(|w| {
                acc += w / total;
                acc
            })
            .collect();
        let mut needle = String::new();
        hex(&mut r, 32, &mut needle);
        Dataset {
            seed,
            lines,
            streams,
            cumulative,
            start_ns: end_ns - span_ns,
            span_ns,
            needle,
            needle_index: lines * 37 / 100,
        }
    }

    pub fn ts(&self, i: u64) -> i64 {
        self.start_ns
            + (i128::from(i) * i128::from(self.span_ns) / i128::from(self.lines.max(1))) as i64
    }

    /// The first stream of an app (for "latest lines of one stream").
    pub fn stream_of(&self, app: &str) -> Option<&StreamDef> {
        self.streams
            .iter()
            .find(|s| s.labels.iter().any(|(k, v)| k == "app" && v == app))
    }

    /// Writes line `i` into `line` (cleared first) and its structured
    /// metadata into `meta`; returns the stream index and the timestamp.
    pub fn line(
        &self,
        i: u64,
        line: &mut String,
        meta: &mut Vec<(&'static str, String)>,
    ) -> (usize, i64) {
        line.clear();
        meta.clear();
        let mut r = Rng::for_item(self.seed, i);
        let u = r.unit();
        let si = self
            .cumulative
            .partition_point(|c| *c < u)
            .min(self.streams.len() - 1);
        let ts = self.ts(i);
        let t = tm(ts);
        let lv = level(&mut r);
        write_line(self.streams[si].format, &mut r, &t, lv, line, meta);
        if i == self.needle_index {
            line.push_str(" trace_id=");
            line.push_str(&self.needle);
        }
        (si, ts)
    }
}

fn write_line(
    f: Format,
    r: &mut Rng,
    t: &Tm,
    lv: Level,
    out: &mut String,
    meta: &mut Vec<(&'static str, String)>,
) {
    let iso = |out: &mut String| {
        write!(
            out,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.y, t.mo, t.d, t.h, t.mi, t.s, t.ms
        )
    };
    let space = |out: &mut String| {
        write!(
            out,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
            t.y, t.mo, t.d, t.h, t.mi, t.s, t.ms
        )
    };
    let res = match f {
        Format::JsonRequest => {
            let status = r.weighted(&[(200u32, 80), (201, 5), (304, 5), (401, 3), (404, 4), (500, 2), (502, 1)]);
            let lvl = if status >= 500 { "error" } else if status >= 400 { "warn" } else { "info" };
            let msg = if status >= 500 { r.pick(&["upstream timeout", "request failed"]) } else { "request completed" };
            write!(
                out,
                "{{\"level\":\"{lvl}\",\"msg\":\"{msg}\",\"method\":\"{}\",\"path\":\"{}\",\"remote\":\"{}\",\"status\":{status},\"bytes\":{},\"duration\":\"{}ms\",\"user_agent\":\"{}\",\"time\":\"",
                r.pick(&["GET", "GET", "POST", "PUT"]),
                r.pick(PATHS),
                r.pick(IPS),
                r.below(200_000),
                r.below(2500),
                r.pick(UAS)
            )
            .and_then(|_| iso(out))
            .map(|_| out.push_str("\"}"))
            .map(|_| {
                if r.below(100) < 3 {
                    let mut id = String::with_capacity(32);
                    hex(r, 32, &mut id);
                    meta.push(("trace_id", id));
                }
            })
        }
        Format::JsonDevice => {
            let room = r.pick(ROOMS);
            write!(out, "{{\"level\":\"{}\",\"time\":\"", lv.lower())
                .and_then(|_| iso(out))
                .and_then(|_| {
                    write!(
                        out,
                        "\",\"msg\":\"MQTT publish\",\"topic\":\"zigbee2mqtt/{room}_sensor\",\"device\":{{\"ieee\":\"0x00158d0001{:06x}\",\"model\":\"{}\"}},\"payload\":{{\"temperature\":{:.1},\"humidity\":{},\"battery\":{},\"linkquality\":{}}},\"vendor\":\"{}\",\"state\":\"{}\"}}",
                        r.below(1 << 24),
                        r.pick(&["WSDCGQ11LM", "RTCGQ11LM", "TS0601"]),
                        15.0 + r.unit() * 13.0,
                        30 + r.below(40),
                        5 + r.below(96),
                        r.below(256),
                        r.pick(&["Aqara", "IKEA", "TuYa"]),
                        r.pick(&["ON", "OFF"])
                    )
                })
        }
        Format::LogfmtRequest => write!(out, "logger=context userId={} orgId=1 uname={} t=", r.below(3), r.pick(&["admin", "viewer"]))
            .and_then(|_| iso(out))
            .and_then(|_| {
                let st = r.weighted(&[(200u32, 85), (302, 3), (401, 4), (404, 4), (500, 4)]);
                write!(
                    out,
                    " level={} msg=\"Request Completed\" method=GET path={} status={st} remote_addr={} time_ms={} duration={:.3}ms size={} referer=",
                    lv.lower(),
                    r.pick(PATHS),
                    r.pick(IPS),
                    r.below(3000),
                    r.unit() * 3000.0,
                    r.below(100_000)
                )
            }),
        Format::LogfmtKit => write!(out, "ts=").and_then(|_| iso(out)).and_then(|_| {
            let msg = match lv {
                Level::Error => r.pick(&["\"Notify for alerts failed\" err=\"context deadline exceeded (timeout)\"", "\"WAL segment error\" err=\"read: connection reset\""]),
                Level::Warn => "\"Compaction slow\" blocks=3",
                _ => r.pick(&["\"Head GC completed\"", "\"WAL checkpoint complete\"", "\"Reload triggered\""]),
            };
            write!(out, " caller=head.go:{} level={} component=tsdb msg={msg} duration={:.3}ms node={} series={}", 600 + r.below(800), lv.lower(), r.unit() * 500.0, r.pick(NODES), r.below(200_000))
        }),
        Format::Access => {
            let st = r.weighted(&[(200u32, 75), (204, 3), (301, 2), (304, 5), (401, 3), (404, 5), (499, 1), (500, 2), (502, 1)]);
            write!(
                out,
                "{} - - [{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000] \"{} {} HTTP/1.1\" {st} {} \"https://home.lan/{}\" \"{}\" {} \"websecure-{}@kubernetescrd\" \"http://10.42.{}.{}:{}\" {}ms",
                r.pick(IPS),
                t.d,
                MONTHS[(t.mo - 1) as usize],
                t.y,
                t.h,
                t.mi,
                t.s,
                r.pick(&["GET", "GET", "GET", "POST", "PUT"]),
                r.pick(PATHS),
                r.below(50_000),
                r.pick(&["", "dashboard", "lovelace/0", "web/index.html"]),
                r.pick(UAS),
                r.below(99_999),
                r.pick(&["ha", "jellyfin", "grafana", "immich"]),
                r.below(2),
                2 + r.below(58),
                r.pick(&[8123, 8096, 3000, 2283]),
                r.below(3000)
            )
        }
        Format::Plain => space(out).and_then(|_| {
            let room = r.pick(ROOMS);
            let msg = match lv {
                Level::Error => "Error fetching met data: Server disconnected (timeout)",
                Level::Warn => "Update of sensor is taking over 10 seconds",
                _ => "State changed: light ceiling to on",
            };
            write!(out, " {} (MainThread) [homeassistant.components.{}] {msg}, entity=sensor.{room}_{}, context=01HM{:08X}, took {:.3} seconds", lv.upper(), r.pick(&["mqtt", "zha", "recorder", "hue"]), r.below(100), r.below(1 << 32), r.unit() * 2.0)
        }),
        Format::Dotnet => write!(out, "[")
            .and_then(|_| space(out))
            .and_then(|_| {
                let (tag, msg) = match lv {
                    Level::Error => ("ERR", "Error processing request: the operation has timed out"),
                    Level::Warn => ("WRN", "Slow HTTP Response with Status Code 200"),
                    Level::Debug => ("DBG", "Transcoding at 8000 kbps"),
                    Level::Info => ("INF", "Playback stopped reported by app Jellyfin Web"),
                };
                write!(out, " +00:00] [{tag}] [{}] Emby.Server.Implementations.HttpServer: {msg} \"{}\" after {} ms", r.below(80), r.pick(TITLES), r.below(10_000_000))
            }),
        Format::Klog => {
            let c = match lv {
                Level::Error => 'E',
                Level::Warn => 'W',
                _ => 'I',
            };
            write!(
                out,
                "{c}{:02}{:02} {:02}:{:02}:{:02}.{:06}       1 reflector.go:{}] {}",
                t.mo,
                t.d,
                t.h,
                t.mi,
                t.s,
                t.ms * 1000 + r.below(1000) as i64,
                r.below(900),
                match lv {
                    Level::Error => "\"Failed to scrape node\" err=\"Get https://k3s-worker-01:10250/metrics: context deadline exceeded\"",
                    _ => "Starting reflector *v1.Pod (10m0s) from k8s.io/client-go/informers/factory.go:150",
                }
            )
        }
        Format::Dns => {
            let rc = r.weighted(&[("NOERROR", 85), ("NXDOMAIN", 12), ("SERVFAIL", 3)]);
            write!(
                out,
                "[INFO] {}:{} - {} \"A IN {} udp {} false 512\" {rc} qr,aa,rd {} {:.6}s",
                r.pick(IPS),
                30_000 + r.below(30_000),
                r.below(65_535),
                r.pick(&["home-assistant.home-automation.svc.cluster.local.", "jellyfin.media.svc.cluster.local.", "api.github.com.", "registry-1.docker.io."]),
                30 + r.below(60),
                60 + r.below(340),
                r.unit() * 0.2
            )
        }
        Format::Pipe => space(out).and_then(|_| {
            let (lvl, msg) = match lv {
                Level::Error => ("Error", "HTTP Error - Res: [GET] https://indexer.example/api: 429.TooManyRequests"),
                Level::Warn => ("Warn", "Indexer has been disabled till next hour due to failures"),
                _ => ("Info", "RSS Sync Completed. Reports found"),
            };
            write!(out, "|{lvl}|{}|{msg}: {} for {} (indexer {}, {} releases processed)", r.pick(&["RssSyncService", "DownloadDecisionMaker", "ImportApprovedEpisodes"]), r.below(300), r.pick(TITLES), r.pick(&["nyaa", "1337x", "torznab"]), r.below(100))
        }),
    };
    res.expect("writing to a String cannot fail");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds(lines: u64) -> Dataset {
        Dataset::new(
            42,
            lines,
            1_700_000_000_000_000_000,
            6 * 3600 * 1_000_000_000,
            999,
        )
    }

    #[test]
    fn deterministic_shape() {
        let d = ds(20_000);
        assert_eq!(d.streams.len(), 999);
        let mut line = String::new();
        let mut meta = Vec::new();
        let mut total = 0usize;
        let mut used = vec![false; d.streams.len()];
        let mut needles = 0;
        let mut prev_ts = i64::MIN;
        for i in 0..d.lines {
            let (s, ts) = d.line(i, &mut line, &mut meta);
            assert!(ts >= prev_ts);
            prev_ts = ts;
            used[s] = true;
            total += line.len();
            needles += usize::from(line.contains(&d.needle));
        }
        assert_eq!(needles, 1, "the needle is rare: exactly one line");
        let avg = total as f64 / d.lines as f64;
        assert!((150.0..240.0).contains(&avg), "average line {avg} B");
        assert!(used.iter().filter(|u| **u).count() > 900);
        let (s1, _) = d.line(5, &mut line, &mut meta);
        let l1 = line.clone();
        let (s2, _) = ds(20_000).line(5, &mut line, &mut meta);
        assert_eq!((s1, l1), (s2, line));
    }

    #[test]
    fn json_app_lines_carry_status() {
        let d = ds(5000);
        let mut line = String::new();
        let mut meta = Vec::new();
        let mut seen = 0;
        for i in 0..d.lines {
            let (s, _) = d.line(i, &mut line, &mut meta);
            if d.streams[s].format == Format::JsonRequest {
                assert!(line.starts_with("{\"level\":"), "{line}");
                assert!(line.contains("\"status\":"));
                seen += 1;
            }
        }
        assert!(seen > 50);
        assert!(d.stream_of(JSON_APP).is_some());
    }
}
