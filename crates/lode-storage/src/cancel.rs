//! Query cancellation and byte accounting for storage scans: the query
//! context (`lode_logql::context`) seen from the storage side, with its
//! interrupts as storage errors. Scans check it before each block, so a
//! timed-out or abandoned query stops reading data instead of running on.

use crate::error::Result;
pub use lode_logql::context::{current, enter, Entered, QueryContext};

/// Fails once the current query's deadline has passed or it was cancelled.
pub fn check() -> Result<()> {
    Ok(lode_logql::context::check()?)
}

/// Charges bytes the current query will hold (see `QueryContext::charge`).
pub fn charge(bytes: u64) -> Result<()> {
    Ok(lode_logql::context::charge(bytes)?)
}

/// Gives back bytes the current query no longer holds.
pub fn release(bytes: u64) {
    lode_logql::context::release(bytes)
}
