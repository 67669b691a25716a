//! Batches the data set into Loki protobuf+snappy push bodies and pushes
//! them over N keep-alive connections.

use crate::gen::Dataset;
use crate::http::{Conn, Target};
use lode_proto::wire::google::protobuf::Timestamp;
use lode_proto::wire::logproto::{EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter};
use prost::Message;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One ready-to-send push body.
pub struct Batch {
    pub body: Vec<u8>,
    pub lines: u64,
    pub raw_bytes: u64,
}

fn encode(ds: &Dataset, per_stream: &mut [Vec<EntryAdapter>]) -> Vec<u8> {
    let streams = per_stream
        .iter_mut()
        .enumerate()
        .filter(|(_, v)| !v.is_empty())
        .map(|(si, v)| StreamAdapter {
            labels: ds.streams[si].selector.clone().into_bytes(),
            entries: std::mem::take(v),
            hash: 0,
        })
        .collect();
    let req = PushRequest {
        streams,
        format: vec![],
    };
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .expect("snappy compression of a Vec cannot fail")
}

/// Builds batches of about `batch_bytes` of protobuf for lines `[from, to)`.
fn build_range(ds: &Dataset, from: u64, to: u64, batch_bytes: usize) -> Vec<Batch> {
    let mut out = Vec::new();
    let mut per_stream: Vec<Vec<EntryAdapter>> = vec![Vec::new(); ds.streams.len()];
    let (mut line, mut meta) = (String::new(), Vec::new());
    let (mut size, mut lines, mut raw) = (0usize, 0u64, 0u64);
    for i in from..to {
        let (si, ts) = ds.line(i, &mut line, &mut meta);
        if per_stream[si].is_empty() {
            size += ds.streams[si].selector.len() + 8;
        }
        size += line.len()
            + 16
            + meta
                .iter()
                .map(|(k, v)| k.len() + v.len() + 6)
                .sum::<usize>();
        raw += line.len() as u64;
        lines += 1;
        per_stream[si].push(EntryAdapter {
            timestamp: Some(Timestamp {
                seconds: ts.div_euclid(1_000_000_000),
                nanos: ts.rem_euclid(1_000_000_000) as i32,
            }),
            line: line.as_bytes().to_vec(),
            structured_metadata: meta
                .iter()
                .map(|(k, v)| LabelPairAdapter {
                    name: k.as_bytes().to_vec(),
                    value: v.as_bytes().to_vec(),
                })
                .collect(),
            parsed: vec![],
        });
        if size >= batch_bytes {
            out.push(Batch {
                body: encode(ds, &mut per_stream),
                lines,
                raw_bytes: raw,
            });
            (size, lines, raw) = (0, 0, 0);
        }
    }
    if lines > 0 {
        out.push(Batch {
            body: encode(ds, &mut per_stream),
            lines,
            raw_bytes: raw,
        });
    }
    out
}

/// Builds every batch, in time order, on all cores.
pub fn build_batches(ds: &Dataset, batch_bytes: usize) -> Vec<Batch> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let per = ds.lines.div_ceil(threads);
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let (a, b) = ((t * per).min(ds.lines), ((t + 1) * per).min(ds.lines));
                s.spawn(move || build_range(ds, a, b, batch_bytes))
            })
            .collect();
        hs.into_iter()
            .flat_map(|h| h.join().expect("batch builder panicked"))
            .collect()
    })
}

/// Outcome of a push run.
pub struct PushOutcome {
    pub elapsed: Duration,
    pub lines: u64,
    pub failures: Vec<String>,
    /// Per-request latencies.
    pub latencies: Vec<Duration>,
}

/// Pushes every batch over `connections` connections.
pub async fn push_all(
    target: &Target,
    tenant: Option<&str>,
    batches: Arc<Vec<Batch>>,
    connections: usize,
) -> PushOutcome {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections.max(1) {
        let (next, batches, target) = (next.clone(), batches.clone(), target.clone());
        let tenant = tenant.map(str::to_string);
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::new(target);
            let mut headers = vec![("Content-Type", "application/x-protobuf")];
            if let Some(t) = tenant.as_deref() {
                headers.push(("X-Scope-OrgID", t));
            }
            let (mut lines, mut failures, mut lat) = (0u64, Vec::new(), Vec::new());
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(b) = batches.get(i) else { break };
                let t0 = Instant::now();
                match conn
                    .request("POST", "/loki/api/v1/push", &headers, &b.body)
                    .await
                {
                    Ok(r) if r.status / 100 == 2 => lines += b.lines,
                    Ok(r) => failures.push(format!(
                        "batch {i}: {} {}",
                        r.status,
                        String::from_utf8_lossy(&r.body[..r.body.len().min(300)])
                    )),
                    Err(e) => failures.push(format!("batch {i}: {e}")),
                }
                lat.push(t0.elapsed());
            }
            (lines, failures, lat)
        }));
    }
    let mut out = PushOutcome {
        elapsed: Duration::ZERO,
        lines: 0,
        failures: Vec::new(),
        latencies: Vec::new(),
    };
    for t in tasks {
        match t.await {
            Ok((l, f, lat)) => {
                out.lines += l;
                out.failures.extend(f);
                out.latencies.extend(lat);
            }
            Err(e) => out.failures.push(format!("push task: {e}")),
        }
    }
    out.elapsed = started.elapsed();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_hold_every_line_once_and_decode() {
        let ds = Dataset::new(1, 3000, 1_700_000_000_000_000_000, 3_600_000_000_000, 50);
        let batches = build_batches(&ds, 64 << 10);
        assert!(batches.len() > 3);
        assert_eq!(batches.iter().map(|b| b.lines).sum::<u64>(), 3000);
        let mut n = 0;
        for b in &batches {
            let req = lode_proto::decode_protobuf(&b.body).unwrap();
            n += req.entry_count();
        }
        assert_eq!(n, 3000);
    }
}
