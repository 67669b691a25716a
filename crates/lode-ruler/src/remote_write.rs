//! Recording rules' samples to Prometheus by remote write 1.0: protobuf
//! `WriteRequest`, snappy block compression, batches of up to 2000
//! samples from a bounded queue, retried with backoff on 5xx, 429 and
//! network errors (a 4xx other than 429 drops the batch, counted).

use crate::metrics::RulerMetrics;
use crate::queue::{Queue, Retry, USER_AGENT};
use std::sync::Arc;
use std::time::Duration;

const BATCH: usize = 2000;
const ATTEMPTS: u32 = 5;

/// Prometheus' `prometheus.WriteRequest` (remote-write 1.0 protobuf).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// One remote-write endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    pub name: String,
    pub url: String,
    /// Sent with every request (auth already turned into a header).
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
}

/// A sample to write: its tenant, labels (with `__name__`) and point.
#[derive(Debug, Clone)]
pub struct Point {
    pub tenant: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
    pub ts_ms: i64,
}

pub struct RemoteWriter {
    inner: Arc<Shared>,
}

struct Shared {
    clients: Vec<Client>,
    queue: Queue<Point>,
    metrics: Arc<RulerMetrics>,
}

/// Encodes one request body: protobuf, then snappy.
pub fn encode(points: &[Point]) -> Vec<u8> {
    use prost::Message;
    let req = WriteRequest {
        timeseries: points
            .iter()
            .map(|p| {
                let mut labels: Vec<Label> = p
                    .labels
                    .iter()
                    .map(|(k, v)| Label {
                        name: k.clone(),
                        value: v.clone(),
                    })
                    .collect();
                labels.sort_by(|a, b| a.name.cmp(&b.name));
                TimeSeries {
                    labels,
                    samples: vec![Sample {
                        value: p.value,
                        timestamp: p.ts_ms,
                    }],
                }
            })
            .collect(),
    };
    let raw = req.encode_to_vec();
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .unwrap_or_default()
}

impl RemoteWriter {
    pub fn start(
        clients: Vec<Client>,
        capacity: usize,
        metrics: Arc<RulerMetrics>,
    ) -> (RemoteWriter, Option<std::thread::JoinHandle<()>>) {
        let inner = Arc::new(Shared {
            clients,
            queue: Queue::new(capacity),
            metrics,
        });
        let handle = if inner.clients.is_empty() {
            None
        } else {
            let s = inner.clone();
            std::thread::Builder::new()
                .name("lode-remote-write".into())
                .spawn(move || s.run())
                .ok()
        };
        (RemoteWriter { inner }, handle)
    }

    pub fn enabled(&self) -> bool {
        !self.inner.clients.is_empty()
    }

    pub fn write(&self, points: Vec<Point>) {
        if points.is_empty() || !self.enabled() {
            return;
        }
        let m = &self.inner.metrics;
        self.inner
            .queue
            .push(points, &m.samples_dropped, &m.remote_write_queue);
    }

    pub fn stop(&self) {
        self.inner.queue.stop();
    }
}

impl Shared {
    fn run(&self) {
        let agents: Vec<ureq::Agent> = self
            .clients
            .iter()
            .map(|c| {
                ureq::Agent::config_builder()
                    .timeout_global(Some(c.timeout))
                    .http_status_as_error(false)
                    .build()
                    .into()
            })
            .collect();
        loop {
            // Points of one tenant per request (the tenant header).
            let Some(batch) = self.queue.take(
                BATCH,
                |a, b| a.tenant == b.tenant,
                &self.metrics.remote_write_queue,
            ) else {
                return;
            };
            let body = encode(&batch);
            let tenant = batch.first().map(|p| p.tenant.as_str()).unwrap_or("");
            for (c, agent) in self.clients.iter().zip(&agents) {
                if self.post(agent, c, tenant, &body) {
                    RulerMetrics::add(&self.metrics.samples_written, batch.len() as u64);
                } else {
                    RulerMetrics::add(&self.metrics.remote_write_errors, batch.len() as u64);
                    tracing::warn!(client = %c.name, samples = batch.len(), "remote write failed; samples dropped");
                }
            }
        }
    }

    fn post(&self, agent: &ureq::Agent, c: &Client, tenant: &str, body: &[u8]) -> bool {
        let retry = Retry {
            attempts: ATTEMPTS,
            backoff: Duration::from_millis(200),
            retry_429: true,
        };
        retry.run(&c.url, &self.queue, || {
            let mut req = agent
                .post(&c.url)
                .header("Content-Encoding", "snappy")
                .header("Content-Type", "application/x-protobuf")
                .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                .header("User-Agent", USER_AGENT)
                .header("X-Scope-OrgID", tenant);
            for (k, v) in &c.headers {
                req = req.header(k.as_str(), v.as_str());
            }
            req.send(body)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn a_request_is_snappy_protobuf_with_sorted_labels() {
        let body = encode(&[Point {
            tenant: "fake".into(),
            labels: vec![
                ("namespace".into(), "media".into()),
                ("__name__".into(), "x:y".into()),
            ],
            value: 2.5,
            ts_ms: 1_700_000_000_123,
        }]);
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        let req = WriteRequest::decode(raw.as_slice()).unwrap();
        let ts = &req.timeseries[0];
        let names: Vec<&str> = ts.labels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["__name__", "namespace"]);
        assert_eq!(
            ts.samples,
            vec![Sample {
                value: 2.5,
                timestamp: 1_700_000_000_123
            }]
        );
    }
}
