//! Live subscribers to newly applied entries (what `tail` streams).
//!
//! The writer thread calls [`Subscribers::notify`] with every durable batch
//! just before applying it to memory. Callbacks run on the writer thread, so
//! they must be cheap and never block: the server's tail hook only matches
//! the stream labels and hands clones to a bounded channel.

use lode_logql::LabelSet;
use lode_proto::PushStream;
use parking_lot::RwLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// Called with a tenant and the streams about to be applied for it.
pub type Subscriber = Arc<dyn Fn(&str, &[(LabelSet, PushStream)]) + Send + Sync>;

/// Registered subscribers; empty (and nearly free) when nobody tails.
#[derive(Default)]
pub struct Subscribers {
    list: RwLock<Vec<(u64, Subscriber)>>,
    count: AtomicUsize,
    next_id: AtomicU64,
}

impl Subscribers {
    /// Registers `f`; the returned id unregisters it.
    pub fn add(&self, f: Subscriber) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut l = self.list.write();
        l.push((id, f));
        self.count.store(l.len(), Ordering::Release);
        id
    }

    pub fn remove(&self, id: u64) {
        let mut l = self.list.write();
        l.retain(|(i, _)| *i != id);
        self.count.store(l.len(), Ordering::Release);
    }

    pub fn len(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn notify(&self, tenant: &str, streams: &[(LabelSet, PushStream)]) {
        if self.is_empty() {
            return;
        }
        for (_, f) in self.list.read().iter() {
            f(tenant, streams);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn add_notify_remove() {
        let s = Subscribers::default();
        let seen = Arc::new(AtomicUsize::new(0));
        let c = seen.clone();
        let id = s.add(Arc::new(move |t, st| {
            assert_eq!(t, "fake");
            c.fetch_add(st.len(), Ordering::Relaxed);
        }));
        let batch = vec![(LabelSet::from_pairs([("a", "b")]), PushStream::default())];
        s.notify("fake", &batch);
        assert_eq!(seen.load(Ordering::Relaxed), 1);
        s.remove(id);
        assert!(s.is_empty());
        s.notify("fake", &batch);
        assert_eq!(seen.load(Ordering::Relaxed), 1);
    }
}
