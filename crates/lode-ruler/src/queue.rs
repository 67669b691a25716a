//! The bounded queue between the evaluation thread and a sender thread
//! (Alertmanager, remote write): when it is full the oldest items are
//! dropped and counted, so a dead receiver costs bounded memory.

use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub(crate) struct Queue<T> {
    items: Mutex<VecDeque<T>>,
    cv: Condvar,
    capacity: usize,
    stop: AtomicBool,
}

impl<T> Queue<T> {
    pub fn new(capacity: usize) -> Queue<T> {
        Queue {
            items: Mutex::new(VecDeque::new()),
            cv: Condvar::new(),
            capacity: capacity.max(1),
            stop: AtomicBool::new(false),
        }
    }

    /// Appends `items`, dropping the oldest past capacity (added to
    /// `dropped`); `length` is set to what waits.
    pub fn push(
        &self,
        items: impl IntoIterator<Item = T>,
        dropped: &AtomicU64,
        length: &AtomicU64,
    ) {
        let mut q = self.items.lock();
        for it in items {
            if q.len() >= self.capacity {
                q.pop_front();
                dropped.fetch_add(1, Ordering::Relaxed);
            }
            q.push_back(it);
        }
        length.store(q.len() as u64, Ordering::Relaxed);
        self.cv.notify_one();
    }

    /// Waits for items and takes up to `max` of them from the front, as
    /// long as `together(first, next)` holds; `None` once stopped and empty.
    pub fn take(
        &self,
        max: usize,
        together: impl Fn(&T, &T) -> bool,
        length: &AtomicU64,
    ) -> Option<Vec<T>> {
        let mut q = self.items.lock();
        while q.is_empty() && !self.stopped() {
            self.cv.wait(&mut q);
        }
        let first = q.pop_front()?;
        let mut out = Vec::with_capacity(max.min(q.len() + 1));
        while out.len() + 1 < max && q.front().is_some_and(|n| together(&first, n)) {
            if let Some(n) = q.pop_front() {
                out.push(n);
            }
        }
        out.insert(0, first);
        length.store(q.len() as u64, Ordering::Relaxed);
        Some(out)
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.cv.notify_all();
    }

    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}

/// Sent with every request the ruler makes.
pub(crate) const USER_AGENT: &str = concat!("lode-ruler/", env!("CARGO_PKG_VERSION"));

/// How a sender retries one batch.
pub(crate) struct Retry {
    pub attempts: u32,
    /// The first pause; each later one doubles.
    pub backoff: std::time::Duration,
    /// Whether 429 is retried (remote write's rule) or final like any 4xx.
    pub retry_429: bool,
}

impl Retry {
    /// Runs `send` until it answers 2xx (`true`), a final 4xx, the attempts
    /// run out, or the queue stops (`false`). `target` names the receiver
    /// in logs.
    pub fn run<T>(
        &self,
        target: &str,
        queue: &Queue<T>,
        send: impl Fn() -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> bool {
        for attempt in 0..self.attempts {
            match send() {
                Ok(r) if r.status().is_success() => return true,
                // A 4xx will not get better by retrying.
                Ok(r)
                    if r.status().is_client_error()
                        && !(self.retry_429 && r.status().as_u16() == 429) =>
                {
                    tracing::warn!(target_url = %target, status = %r.status(), "refused by the receiver");
                    return false;
                }
                Ok(r) => tracing::debug!(target_url = %target, status = %r.status(), "retrying"),
                Err(e) => tracing::debug!(target_url = %target, error = %e, "retrying"),
            }
            if queue.stopped() {
                return false;
            }
            std::thread::sleep(self.backoff * (1 << attempt));
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_queues_drop_the_oldest_and_batches_keep_together() {
        let q = Queue::new(3);
        let (dropped, len) = (AtomicU64::new(0), AtomicU64::new(0));
        q.push([1, 2, 3, 4, 5], &dropped, &len);
        assert_eq!(
            (dropped.load(Ordering::Relaxed), len.load(Ordering::Relaxed)),
            (2, 3)
        );
        assert_eq!(q.take(10, |a, b| a % 2 == b % 2, &len), Some(vec![3]));
        assert_eq!(q.take(10, |_, _| true, &len), Some(vec![4, 5]));
        q.stop();
        assert_eq!(q.take(10, |_, _| true, &len), None);
    }
}
