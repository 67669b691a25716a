//! Alerts to Alertmanager's v2 API (`POST /api/v2/alerts`): a bounded
//! queue (the oldest alerts are dropped, and counted, when it is full), a
//! sender thread posting batches of 64 to every Alertmanager, retried
//! three times. Re-sending firing alerts every minute is the manager's
//! part (`AlertSet::due`); an alert that never reaches Alertmanager is
//! sent again at the next resend.

use crate::metrics::RulerMetrics;
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const BATCH: usize = 64;
const ATTEMPTS: u32 = 3;

pub struct Notifier {
    inner: Arc<Shared>,
}

struct Shared {
    urls: Vec<String>,
    queue: Mutex<VecDeque<serde_json::Value>>,
    cv: Condvar,
    capacity: usize,
    stop: AtomicBool,
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
            queue: Mutex::new(VecDeque::new()),
            cv: Condvar::new(),
            capacity: capacity.max(1),
            stop: AtomicBool::new(false),
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
        let mut q = self.inner.queue.lock();
        for a in alerts {
            if q.len() >= self.inner.capacity {
                q.pop_front();
                RulerMetrics::add(&self.inner.metrics.notifications_dropped, 1);
            }
            q.push_back(a);
        }
        self.inner
            .metrics
            .notification_queue
            .store(q.len() as u64, Ordering::Relaxed);
        self.inner.cv.notify_one();
    }

    pub fn stop(&self) {
        self.inner.stop.store(true, Ordering::Release);
        self.inner.cv.notify_all();
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
            let batch: Vec<serde_json::Value> = {
                let mut q = self.queue.lock();
                while q.is_empty() && !self.stop.load(Ordering::Acquire) {
                    self.cv.wait(&mut q);
                }
                if q.is_empty() {
                    return;
                }
                let n = q.len().min(BATCH);
                let b = q.drain(..n).collect();
                self.metrics
                    .notification_queue
                    .store(q.len() as u64, Ordering::Relaxed);
                b
            };
            let body = serde_json::Value::Array(batch).to_string();
            let n = body_len(&body);
            let mut delivered = false;
            for url in &self.urls {
                if post(&agent, url, &body, &self.stop) {
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

fn body_len(body: &str) -> u64 {
    serde_json::from_str::<Vec<serde_json::Value>>(body).map_or(0, |v| v.len() as u64)
}

fn post(agent: &ureq::Agent, url: &str, body: &str, stop: &AtomicBool) -> bool {
    for attempt in 0..ATTEMPTS {
        match agent
            .post(url)
            .header("Content-Type", "application/json")
            .header(
                "User-Agent",
                concat!("lode-ruler/", env!("CARGO_PKG_VERSION")),
            )
            .send(body)
        {
            Ok(r) if r.status().is_success() => return true,
            // A 4xx will not get better by retrying.
            Ok(r) if r.status().is_client_error() => {
                tracing::warn!(alertmanager = %url, status = %r.status(), "Alertmanager refused the alerts");
                return false;
            }
            Ok(r) => tracing::debug!(alertmanager = %url, status = %r.status(), "retrying"),
            Err(e) => tracing::debug!(alertmanager = %url, error = %e, "retrying"),
        }
        if stop.load(Ordering::Acquire) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(250 << attempt));
    }
    false
}
