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
