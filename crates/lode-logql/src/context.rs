//! The query context: what bounds one read request, whichever endpoint it
//! came through. A deadline (`query_timeout`), a cancel flag (set when the
//! client goes away), and a budget of bytes the query may hold in memory
//! (`max_query_response_bytes` for the query, and a process-wide share so
//! that many large queries at once cannot add up past it).
//!
//! The context is entered on the thread that runs the query and read back
//! from a thread-local, so storage scans, the log pipeline and the metric
//! engine can check it in their loops without every signature carrying it.
//! Worker threads of one query enter the same context (`current`).

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Why a query must stop.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Interrupt {
    /// Past its deadline, or its client went away.
    #[error("query cancelled: it ran past query_timeout or its client went away")]
    Cancelled,
    /// It would hold more than its own byte limit (HTTP 400).
    #[error("the query would return too many bytes (more than {limit}); lower its limit, add more specific stream selectors or reduce the time range (limits_config.max_query_response_bytes)")]
    TooLarge { limit: String },
    /// Queries in flight already hold the process-wide share (HTTP 503:
    /// retry).
    #[error("too many large queries in flight (they hold more than {limit}); retry shortly (querier.max_inflight_response_bytes)")]
    Busy { limit: String },
}

/// Bytes held by the queries sharing one budget, and the budget.
#[derive(Debug)]
pub struct Share {
    held: AtomicU64,
    limit: AtomicU64,
}

impl Share {
    pub const fn new(limit: u64) -> Share {
        Share {
            held: AtomicU64::new(0),
            limit: AtomicU64::new(limit),
        }
    }
}

/// Bytes held by every query in flight, against [`set_inflight_limit`].
static GLOBAL: Share = Share::new(DEFAULT_INFLIGHT_LIMIT);

/// Default process-wide budget of bytes held by queries in flight.
pub const DEFAULT_INFLIGHT_LIMIT: u64 = 128 << 20;

/// Sets the process-wide budget (`querier.max_inflight_response_bytes`).
pub fn set_inflight_limit(bytes: u64) {
    GLOBAL.limit.store(bytes.max(1), Ordering::Relaxed);
}

/// Bytes held by queries in flight now (for `/metrics`).
pub fn inflight_bytes() -> u64 {
    GLOBAL.held.load(Ordering::Relaxed)
}

/// One query's bounds and what it holds.
#[derive(Debug)]
pub struct QueryContext {
    deadline: Option<Instant>,
    cancelled: AtomicBool,
    max_bytes: u64,
    used: AtomicU64,
    share: &'static Share,
}

impl QueryContext {
    /// A context with a deadline and a per-query byte limit (0: none).
    pub fn new(deadline: Option<Instant>, max_bytes: u64) -> Arc<QueryContext> {
        QueryContext::sharing(deadline, max_bytes, &GLOBAL)
    }

    /// A context charging `share` instead of the process-wide budget.
    pub fn sharing(
        deadline: Option<Instant>,
        max_bytes: u64,
        share: &'static Share,
    ) -> Arc<QueryContext> {
        Arc::new(QueryContext {
            deadline,
            cancelled: AtomicBool::new(false),
            max_bytes,
            used: AtomicU64::new(0),
            share,
        })
    }

    /// Stops the query at its next check (from any thread).
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Bytes this query holds now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    pub fn check(&self) -> Result<(), Interrupt> {
        if self.is_cancelled() || self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Interrupt::Cancelled);
        }
        Ok(())
    }

    /// Counts `bytes` more held by this query, or refuses them.
    pub fn charge(&self, bytes: u64) -> Result<(), Interrupt> {
        let used = self
            .used
            .fetch_add(bytes, Ordering::Relaxed)
            .saturating_add(bytes);
        if self.max_bytes > 0 && used > self.max_bytes {
            self.used.fetch_sub(bytes, Ordering::Relaxed);
            return Err(Interrupt::TooLarge {
                limit: human_bytes(self.max_bytes),
            });
        }
        let limit = self.share.limit.load(Ordering::Relaxed);
        let all = self
            .share
            .held
            .fetch_add(bytes, Ordering::Relaxed)
            .saturating_add(bytes);
        if all > limit {
            self.share.held.fetch_sub(bytes, Ordering::Relaxed);
            self.used.fetch_sub(bytes, Ordering::Relaxed);
            return Err(Interrupt::Busy {
                limit: human_bytes(limit),
            });
        }
        Ok(())
    }

    /// Gives back bytes the query no longer holds.
    pub fn release(&self, bytes: u64) {
        let prev = self.used.fetch_sub(bytes, Ordering::Relaxed);
        debug_assert!(prev >= bytes, "released more than charged");
        self.share
            .held
            .fetch_sub(bytes.min(prev), Ordering::Relaxed);
    }
}

impl Drop for QueryContext {
    fn drop(&mut self) {
        self.share
            .held
            .fetch_sub(*self.used.get_mut(), Ordering::Relaxed);
    }
}

fn human_bytes(b: u64) -> String {
    match b {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{}GiB", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{}MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{}KiB", b >> 10),
        b => format!("{b}B"),
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<QueryContext>>> = const { RefCell::new(None) };
}

/// Leaves the thread's query context when dropped.
pub struct Entered {
    previous: Option<Arc<QueryContext>>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

/// Runs the rest of this thread's work (until the guard drops) in `ctx`.
pub fn enter(ctx: Arc<QueryContext>) -> Entered {
    let previous = CURRENT.with(|c| c.borrow_mut().replace(ctx));
    Entered { previous }
}

/// The thread's context, for worker threads of the same query to enter.
pub fn current() -> Option<Arc<QueryContext>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Fails once the current query is past its deadline or cancelled; free
/// outside a query.
pub fn check() -> Result<(), Interrupt> {
    CURRENT.with(|c| c.borrow().as_ref().map_or(Ok(()), |q| q.check()))
}

/// Charges the current query (see [`QueryContext::charge`]); free outside
/// a query.
pub fn charge(bytes: u64) -> Result<(), Interrupt> {
    CURRENT.with(|c| c.borrow().as_ref().map_or(Ok(()), |q| q.charge(bytes)))
}

/// Releases bytes of the current query.
pub fn release(bytes: u64) {
    CURRENT.with(|c| {
        if let Some(q) = c.borrow().as_ref() {
            q.release(bytes);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn deadline_and_flag_stop_work_only_inside_the_context() {
        assert!(check().is_ok());
        let q = QueryContext::new(Some(Instant::now() + Duration::from_secs(60)), 0);
        {
            let _g = enter(q.clone());
            assert!(check().is_ok());
            q.cancel();
            assert_eq!(check(), Err(Interrupt::Cancelled));
        }
        assert!(check().is_ok());
        let _g = enter(QueryContext::new(Some(Instant::now()), 0));
        assert!(check().is_err());
    }

    #[test]
    fn a_query_is_held_to_its_bytes_and_gives_them_back() {
        let q = QueryContext::new(None, 1000);
        let _g = enter(q.clone());
        assert!(charge(600).is_ok());
        assert!(matches!(charge(600), Err(Interrupt::TooLarge { .. })));
        assert_eq!(q.used(), 600);
        release(500);
        assert!(charge(600).is_ok());
        assert_eq!(q.used(), 700);
    }

    #[test]
    fn the_shared_budget_is_released_when_a_query_ends() {
        // A share of its own: tests running alongside charge the global one.
        static SHARE: Share = Share::new(10_000);
        let a = QueryContext::sharing(None, 0, &SHARE);
        let b = QueryContext::sharing(None, 0, &SHARE);
        a.charge(8_000).unwrap();
        assert!(matches!(b.charge(3_000), Err(Interrupt::Busy { .. })));
        drop(a);
        assert!(b.charge(3_000).is_ok());
        b.release(1_000);
        assert_eq!(SHARE.held.load(Ordering::Relaxed), 2_000);
        drop(b);
        assert_eq!(SHARE.held.load(Ordering::Relaxed), 0);
    }
}
