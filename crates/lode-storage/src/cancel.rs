//! Query cancellation. The server runs each query on a blocking thread and
//! gives up waiting after `query_timeout`; this makes the thread give up too.
//! The deadline and a cancel flag live in a thread-local set for the length
//! of one query, and storage scans check it before each block, so a
//! timed-out or abandoned query stops reading data instead of running on.

use crate::error::{Result, StorageError};
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

struct Scope {
    deadline: Option<Instant>,
    flag: Arc<AtomicBool>,
}

thread_local! {
    static CURRENT: RefCell<Option<Scope>> = const { RefCell::new(None) };
}

/// Clears the thread's query scope when dropped.
pub struct CancelGuard {
    _private: (),
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        CURRENT.with(|c| c.borrow_mut().take());
    }
}

/// Runs the rest of this thread's work (until the guard drops) under a
/// deadline and a cancel flag (set it to stop the work from elsewhere).
pub fn enter(deadline: Option<Instant>, flag: Arc<AtomicBool>) -> CancelGuard {
    CURRENT.with(|c| *c.borrow_mut() = Some(Scope { deadline, flag }));
    CancelGuard { _private: () }
}

/// The current thread's deadline and cancel flag, so that worker threads of
/// a query can `enter` the same scope.
pub fn current() -> Option<(Option<Instant>, Arc<AtomicBool>)> {
    CURRENT.with(|c| c.borrow().as_ref().map(|s| (s.deadline, s.flag.clone())))
}

/// Fails once the current query's deadline has passed or it was cancelled.
pub fn check() -> Result<()> {
    CURRENT.with(|c| match &*c.borrow() {
        Some(s)
            if s.flag.load(Ordering::Relaxed)
                || s.deadline.is_some_and(|d| Instant::now() >= d) =>
        {
            Err(StorageError::Cancelled)
        }
        _ => Ok(()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn deadline_and_flag_stop_work_only_inside_the_scope() {
        assert!(check().is_ok());
        let flag = Arc::new(AtomicBool::new(false));
        {
            let _g = enter(Some(Instant::now() + Duration::from_secs(60)), flag.clone());
            assert!(check().is_ok());
            flag.store(true, Ordering::Relaxed);
            assert!(matches!(check(), Err(StorageError::Cancelled)));
        }
        assert!(check().is_ok());
        let _g = enter(Some(Instant::now()), Arc::new(AtomicBool::new(false)));
        assert!(check().is_err());
    }
}
