//! Alerts to Alertmanager's v2 API (`POST /api/v2/alerts`): a bounded
//! queue (the oldest alerts are dropped, and counted, when it is full), a
//! sender thread posting batches of 64 to every Alertmanager, retried
//! three times. Re-sending firing alerts every minute is the manager's
//! part (`AlertSet::due`); an alert that never reaches Alertmanager is
//! sent again at the next resend.

use crate::metrics::RulerMetrics;
use crate::queue::{Queue, Retry, USER_AGENT};
use std::sync::Arc;
use std::time::Duration;

const BATCH: usize = 64;
const ATTEMPTS: u32 = 3;

pub struct Notifier {
    inner: Arc<Shared>,
}

struct Shared {
    urls: Vec<String>,
    queue: Queue<serde_json::Value>,
    metrics: Arc<RulerMetrics>,
    timeout: Duration,
}

/// `…/api/v2/alerts` of an Alertmanager URL (which may carry a path prefix).
pub fn alerts_endpoint(base: &str) -> String {
    format!("{}/api/v2/alerts", base.trim_end_matches('/'))
}

impl Notifier {
    pub fn start(
        urls: Vec<String>,
        capacity: usize,
        timeout: Duration,
        metrics: Arc<RulerMetrics>,
    ) -> (Notifier, Option<std::thread::JoinHandle<()>>) {
        let inner = Arc::new(Shared {
            urls: urls.iter().map(|u| alerts_endpoint(u)).collect(),
            queue: Queue::new(capacity),
            metrics,
            timeout,
        });
        let handle = if inner.urls.is_empty() {
            None
        } else {
            let s = inner.clone();
            std::thread::Builder::new()
                .name("lode-notifier".into())
                .spawn(move || s.run())
                .ok()
        };
        (Notifier { inner }, handle)
    }

    pub fn enabled(&self) -> bool {
        !self.inner.urls.is_empty()
    }

    pub fn send(&self, alerts: Vec<serde_json::Value>) {
        if alerts.is_empty() || !self.enabled() {
            return;
        }
        let m = &self.inner.metrics;
        self.inner
            .queue
            .push(alerts, &m.notifications_dropped, &m.notification_queue);
    }

    pub fn stop(&self) {
        self.inner.queue.stop();
    }
}

impl Shared {
    fn run(&self) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(self.timeout))
            .http_status_as_error(false)
            .build()
            .into();
        loop {
            let Some(batch) = self
                .queue
                .take(BATCH, |_, _| true, &self.metrics.notification_queue)
            else {
                return;
            };
            let n = batch.len() as u64;
            let body = serde_json::Value::Array(batch).to_string();
            let mut delivered = false;
            for url in &self.urls {
                if post(&agent, url, &body, &self.queue) {
                    delivered = true;
                } else {
                    tracing::warn!(alertmanager = %url, "alerts not delivered; they are sent again at the next resend");
                }
            }
            if delivered {
                RulerMetrics::add(&self.metrics.notifications_sent, n);
            } else {
                RulerMetrics::add(&self.metrics.notification_errors, n);
            }
        }
    }
}

fn post(agent: &ureq::Agent, url: &str, body: &str, queue: &Queue<serde_json::Value>) -> bool {
    let retry = Retry {
        attempts: ATTEMPTS,
        backoff: Duration::from_millis(250),
        retry_429: false,
    };
    retry.run(url, queue, || {
        agent
            .post(url)
            .header("Content-Type", "application/json")
            .header("User-Agent", USER_AGENT)
            .send(body)
    })
}
