//! One budget, shared by every push being decoded at once, for the bytes
//! their decompression produces. Each request's own cap (`DecodeOptions`)
//! bounds one request; this bounds them together, so eight concurrent
//! decompression bombs cannot take eight times the cap. A request that
//! could never fit is too large (413); one that does not fit *now*, while
//! others hold the budget, is refused as busy (503, which shippers retry).

use crate::error::ProtoError;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes decompressed push bodies may hold at once, process-wide, unless
/// set otherwise; 0 disables the budget.
pub const DEFAULT_PUSH_BUDGET_BYTES: usize = 128 << 20;

/// A budget of bytes shared by the requests that reserve from it.
#[derive(Debug)]
pub struct PushBudget {
    limit: AtomicUsize,
    used: AtomicUsize,
}

impl PushBudget {
    pub const fn new(limit: usize) -> PushBudget {
        PushBudget {
            limit: AtomicUsize::new(limit),
            used: AtomicUsize::new(0),
        }
    }

    /// Bytes currently reserved.
    pub fn in_use(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    pub fn set_limit(&self, bytes: usize) {
        self.limit.store(bytes, Ordering::Relaxed);
    }

    /// An empty reservation against this budget.
    pub fn reservation(&'static self) -> Reservation {
        Reservation {
            budget: self,
            held: 0,
        }
    }
}

/// The process-wide budget every push decodes against.
pub static PUSH_BUDGET: PushBudget = PushBudget::new(DEFAULT_PUSH_BUDGET_BYTES);

/// Sets the process-wide budget (the server does, from its config).
pub fn set_push_budget(bytes: usize) {
    PUSH_BUDGET.set_limit(bytes);
}

/// Bytes one request holds of a budget; given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: &'static PushBudget,
    held: usize,
}

impl Default for Reservation {
    fn default() -> Self {
        PUSH_BUDGET.reservation()
    }
}

impl Reservation {
    /// The most one request can ever be granted (the budget's limit;
    /// `usize::MAX` when the budget is off).
    pub fn ceiling(&self) -> usize {
        match self.budget.limit.load(Ordering::Relaxed) {
            0 => usize::MAX,
            l => l,
        }
    }

    /// Reserves `more` bytes on top of what this request holds.
    pub fn grow(&mut self, more: usize) -> Result<(), ProtoError> {
        let b = self.budget;
        let limit = b.limit.load(Ordering::Relaxed);
        if limit == 0 {
            return Ok(());
        }
        let want = self.held.saturating_add(more);
        if want > limit {
            return Err(ProtoError::TooLarge { limit });
        }
        let mut used = b.used.load(Ordering::Relaxed);
        loop {
            if used.saturating_add(more) > limit {
                return Err(ProtoError::Busy { limit });
            }
            match b.used.compare_exchange_weak(
                used,
                used + more,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.held = want;
                    return Ok(());
                }
                Err(now) => used = now,
            }
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.held > 0 {
            self.budget.used.fetch_sub(self.held, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_share_one_budget() {
        let budget: &'static PushBudget = Box::leak(Box::new(PushBudget::new(1000)));
        let mut a = budget.reservation();
        a.grow(600).unwrap();
        let mut b = budget.reservation();
        assert_eq!(b.grow(500), Err(ProtoError::Busy { limit: 1000 }));
        b.grow(400).unwrap();
        assert_eq!(budget.in_use(), 1000);
        // Larger than the whole budget: can never fit.
        let mut c = budget.reservation();
        assert_eq!(c.grow(1001), Err(ProtoError::TooLarge { limit: 1000 }));
        drop(a);
        assert_eq!(budget.in_use(), 400);
        b.grow(600).unwrap();
        drop(b);
        drop(c);
        assert_eq!(budget.in_use(), 0);
        budget.set_limit(0);
        budget.reservation().grow(usize::MAX).unwrap();
        assert_eq!(budget.in_use(), 0);
    }
}
