//! The query mix of issue 7, timed cold (first run) and warm (repeats).

use crate::gen::{Dataset, JSON_APP};
use crate::http::{encode, Conn, Target};
use std::time::{Duration, Instant};

/// One query of the mix.
pub struct Query {
    pub name: String,
    pub path: String,
    /// A string the answer must contain (checks the server did real work).
    pub expect: Option<String>,
}

/// Timings of one query.
pub struct Timing {
    pub name: String,
    pub cold: Duration,
    pub warm: Vec<Duration>,
    pub bytes: usize,
    pub error: Option<String>,
    /// Server CPU-seconds per warm run (steadier than wall time on a busy machine).
    pub cpu_per_run: Option<f64>,
}

impl Timing {
    pub fn pct(&self, p: f64) -> Duration {
        percentile(&self.warm, p)
    }
}

pub fn percentile(xs: &[Duration], p: f64) -> Duration {
    if xs.is_empty() {
        return Duration::ZERO;
    }
    let mut v = xs.to_vec();
    v.sort();
    let rank = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
    v[rank.min(v.len() - 1)]
}

/// The mix over `[end - 6h, end)` (ns).
pub fn mix(ds: &Dataset, end_ns: i64) -> Vec<Query> {
    let start = end_ns - 6 * 3600 * 1_000_000_000;
    let range = |q: &str, extra: &str| {
        format!(
            "/loki/api/v1/query_range?query={}&start={start}&end={end_ns}{extra}",
            encode(q)
        )
    };
    let mut out = vec![
        Query {
            name: "`{namespace=~\".+\"} |= \"<trace id>\"` (needle, limit 100)".to_string(),
            path: range(&format!("{{namespace=~\".+\"}} |= \"{}\"", ds.needle), "&limit=100"),
            expect: Some(ds.needle.clone()),
        },
        Query {
            name: "`sum by (namespace) (count_over_time({namespace=~\".+\"}[5m]))`, step 5m".into(),
            path: range("sum by (namespace) (count_over_time({namespace=~\".+\"}[5m]))", "&step=300"),
            expect: Some("\"namespace\"".into()),
        },
        Query {
            name: format!("`sum(count_over_time({{app=\"{JSON_APP}\"}} | json | status >= 500 [5m]))`, step 5m"),
            path: range(&format!("sum(count_over_time({{app=\"{JSON_APP}\"}} | json | status >= 500 [5m]))"), "&step=300"),
            expect: Some("\"values\"".into()),
        },
    ];
    if let Some(s) = ds.stream_of("home-assistant") {
        let pod = s
            .labels
            .iter()
            .find(|(k, _)| k == "pod")
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        out.push(Query {
            name: "latest 100 lines of one stream".into(),
            path: range(
                &format!("{{app=\"home-assistant\", pod=\"{pod}\"}}"),
                "&limit=100&direction=backward",
            ),
            expect: Some("\"values\"".into()),
        });
    }
    out.push(Query {
        name: "`sum(count_over_time({namespace=~\".+\"} |~ \"error|timeout\" [6h]))` (instant)"
            .into(),
        path: format!(
            "/loki/api/v1/query?query={}&time={end_ns}",
            encode("sum(count_over_time({namespace=~\".+\"} |~ \"error|timeout\" [6h]))")
        ),
        expect: Some("\"value\"".into()),
    });
    out.push(Query {
        name: "labels over 6h".into(),
        path: format!("/loki/api/v1/labels?start={start}&end={end_ns}"),
        expect: Some("namespace".into()),
    });
    out.push(Query {
        name: "label values (`app`) over 6h".into(),
        path: format!("/loki/api/v1/label/app/values?start={start}&end={end_ns}"),
        expect: Some(JSON_APP.into()),
    });
    out
}

/// Queries whose peak server memory issue 7 bounds (< 256 MiB each): a log
/// query over the whole window at the 5000-entry limit, and metric queries
/// at and past the 500-series limit (the last one must be refused, having
/// kept its memory bounded while it counted series).
pub fn memory_checks(end_ns: i64) -> Vec<Query> {
    let start = end_ns - 6 * 3600 * 1_000_000_000;
    let range = |q: &str, extra: &str| {
        format!(
            "/loki/api/v1/query_range?query={}&start={start}&end={end_ns}{extra}",
            encode(q)
        )
    };
    vec![
        Query {
            name: "`{namespace=~\".+\"}`, 6h, limit 5000".into(),
            path: range("{namespace=~\".+\"}", "&limit=5000"),
            expect: Some("\"values\"".into()),
        },
        Query {
            name: "`sum by (pod) (count_over_time({node=\"k3s-master-01\"}[1m]))`, 6h, step 1m (333 series)".into(),
            path: range("sum by (pod) (count_over_time({node=\"k3s-master-01\"}[1m]))", "&step=60"),
            expect: Some("\"values\"".into()),
        },
        Query {
            name: "`sum by (pod) (count_over_time({namespace=~\".+\"}[1m]))`, 6h, step 1m (999 series: over the 500 limit)".into(),
            path: range("sum by (pod) (count_over_time({namespace=~\".+\"}[1m]))", "&step=60"),
            expect: None,
        },
    ]
}

/// Runs each query once cold, then `warm` more times.
pub async fn run(
    target: &Target,
    tenant: Option<&str>,
    queries: &[Query],
    warm: usize,
    pid: Option<u32>,
) -> Vec<Timing> {
    let mut conn = Conn::new(target.clone());
    let mut headers = vec![];
    if let Some(t) = tenant {
        headers.push(("X-Scope-OrgID", t));
    }
    let mut out = Vec::new();
    for q in queries {
        let mut t = Timing {
            name: q.name.clone(),
            cold: Duration::ZERO,
            warm: Vec::new(),
            bytes: 0,
            error: None,
            cpu_per_run: None,
        };
        let mut cpu0 = None;
        for i in 0..=warm {
            if i == 1 {
                cpu0 = pid.and_then(crate::procfs::cpu_seconds);
            }
            let t0 = Instant::now();
            let r = conn.request("GET", &q.path, &headers, b"").await;
            let d = t0.elapsed();
            match r {
                Ok(r) if r.status == 200 => {
                    t.bytes = r.body.len();
                    if let Some(e) = &q.expect {
                        if !String::from_utf8_lossy(&r.body).contains(e.as_str())
                            && t.error.is_none()
                        {
                            t.error = Some(format!("answer lacks {e:?}"));
                        }
                    }
                }
                Ok(r) => {
                    t.error = Some(format!(
                        "{} {}",
                        r.status,
                        String::from_utf8_lossy(&r.body[..r.body.len().min(200)])
                    ));
                }
                Err(e) => t.error = Some(e.to_string()),
            }
            if i == 0 {
                t.cold = d;
            } else {
                t.warm.push(d);
            }
        }
        if warm > 0 {
            t.cpu_per_run = pid
                .and_then(crate::procfs::cpu_seconds)
                .zip(cpu0)
                .map(|(b, a)| (b - a) / warm as f64);
        }
        out.push(t);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let xs: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&xs, 50.0), Duration::from_millis(51));
        assert_eq!(percentile(&xs, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }

    #[test]
    fn mix_has_the_issue_queries() {
        let ds = Dataset::new(1, 1000, 1_700_000_000_000_000_000, 3_600_000_000_000, 999);
        let m = mix(&ds, 1_700_000_000_000_000_000);
        assert_eq!(m.len(), 7);
        assert!(m[0].path.contains(&ds.needle));
        assert!(m.iter().all(|q| q.path.starts_with("/loki/api/v1/")));
    }
}
