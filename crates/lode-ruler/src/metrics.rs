//! The ruler's counters, exported on Lode's `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct RulerMetrics {
    pub evaluations: AtomicU64,
    pub evaluation_failures: AtomicU64,
    /// Group evaluations skipped because the previous one ran late.
    pub missed_iterations: AtomicU64,
    /// Total evaluation time, microseconds.
    pub evaluation_micros: AtomicU64,
    pub rule_groups: AtomicU64,
    /// Rule files refused at the last load.
    pub rule_file_errors: AtomicU64,
    pub notifications_sent: AtomicU64,
    pub notification_errors: AtomicU64,
    pub notifications_dropped: AtomicU64,
    pub notification_queue: AtomicU64,
    pub samples_written: AtomicU64,
    pub remote_write_errors: AtomicU64,
    pub samples_dropped: AtomicU64,
    pub remote_write_queue: AtomicU64,
}

impl RulerMetrics {
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }

    pub(crate) fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}
