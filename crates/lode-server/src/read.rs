//! The one way a read endpoint runs its work: on a blocking thread, inside
//! a query context (`lode_logql::context`) built from the tenant's limits:
//! `query_timeout` as its deadline, `max_query_response_bytes` as its byte
//! limit, plus the process-wide share (`querier.max_inflight_response_bytes`).
//! The context is cancelled when the request ends for any reason, so work
//! whose answer nobody waits for stops at its next check. Range checks
//! every endpoint shares (`max_query_length`) live here too.

use crate::error::{ApiError, ApiResult};
use crate::params::span;
use crate::state::AppState;
use lode_logql::context::QueryContext;
use std::sync::Arc;
use std::time::Instant;

/// Cancels the query when the request ends (answered, timed out, or
/// dropped because the client went away).
struct CancelOnDrop(Arc<QueryContext>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Runs `f` for `tenant` under its query context; past the deadline the
/// answer is Loki's 504 whatever `f` was doing.
pub async fn run_read<T: Send + 'static>(
    state: &AppState,
    tenant: &str,
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    Ok(run_read_held(state, tenant, f).await?.0)
}

/// What a query still holds after `run_read_held` returned: its bytes stay
/// charged to the process-wide share until this is dropped.
pub struct Held {
    _ctx: Arc<QueryContext>,
}

/// [`run_read`] for an answer that is used after the work ended (a tail's
/// history, sent over a socket): its charge is kept until [`Held`] drops.
pub async fn run_read_held<T: Send + 'static>(
    state: &AppState,
    tenant: &str,
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<(T, Held)> {
    let limits = state.store.limits_for(tenant);
    let deadline = Instant::now() + limits.query_timeout;
    let ctx = QueryContext::new(Some(deadline), limits.max_query_response_bytes);
    let _cancel = CancelOnDrop(ctx.clone());
    let held = Held { _ctx: ctx.clone() };
    let work = tokio::task::spawn_blocking(move || {
        let _entered = lode_logql::context::enter(ctx);
        f()
    });
    match tokio::time::timeout(limits.query_timeout, work).await {
        Ok(Ok(Err(_))) if Instant::now() >= deadline => Err(ApiError::timeout()),
        Ok(Ok(r)) => r.map(|v| (v, held)),
        Ok(Err(e)) => Err(ApiError::Internal(e.to_string())),
        Err(_) => Err(ApiError::timeout()),
    }
}

/// Charges an answer about to be encoded from what the query holds, so the
/// encoded copy counts too; call inside `run_read`.
pub fn charge_encoding(estimate: u64) -> ApiResult<()> {
    lode_logql::context::charge(estimate).map_err(|e| lode_logql::Error::from(e).into())
}

/// Loki's `max_query_length` check, for every endpoint that reads a range.
pub fn check_length(state: &AppState, tenant: &str, start: i64, end: i64) -> ApiResult<()> {
    let max = crate::config::Dur(state.store.limits_for(tenant).max_query_length);
    let max_ns = max.as_nanos_i64();
    if max_ns > 0 && span(start, end) > max_ns {
        return Err(ApiError::BadRequest(format!(
            "the query time range exceeds the limit (query length: {}, limit: {})",
            // Loki measures the length between millisecond timestamps.
            lode_go::duration::format(span(start, end) / 1_000_000 * 1_000_000),
            max
        )));
    }
    Ok(())
}

/// For metadata endpoints (labels, label values, series), whose cost the
/// label index bounds: a range past `max_query_length` is narrowed to its
/// last `max_query_length` instead of refused, so a label browser over a
/// long dashboard range keeps working.
pub fn clamp_length(state: &AppState, tenant: &str, start: i64, end: i64) -> i64 {
    let max_ns = crate::config::Dur(state.store.limits_for(tenant).max_query_length).as_nanos_i64();
    if max_ns > 0 && span(start, end) > max_ns {
        end.saturating_sub(max_ns)
    } else {
        start
    }
}
