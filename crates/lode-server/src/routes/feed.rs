//! Target `write`: the feed readers follow (`docs/storage.md`, "Scalable
//! mode"). `GET /lode/internal/v1/feed?after=N&max_bytes=M` answers the
//! acknowledged WAL records after `N` the bucket does not hold yet, as
//! WAL frames back to back, or 410 when the bucket already holds them.

use crate::error::{ApiError, ApiResult};
use crate::state::SharedState;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use lode_storage::FeedPage;
use serde::Deserialize;

pub const WRITER_HEADER: &str = "Lode-Writer-Id";
pub const INCARNATION_HEADER: &str = "Lode-Incarnation";
pub const LAST_SEQ_HEADER: &str = "Lode-Last-Seq";
pub const APPLIED_HEADER: &str = "Lode-Applied-Seq";
pub const UPLOADED_HEADER: &str = "Lode-Uploaded-Seq";

/// The most one page carries (plus one record), whatever is asked.
const MAX_PAGE: usize = 64 << 20;

#[derive(Deserialize)]
pub struct FeedParams {
    after: u64,
    max_bytes: Option<usize>,
}

pub async fn feed(
    State(state): State<SharedState>,
    Query(p): Query<FeedParams>,
) -> ApiResult<Response> {
    let max = p.max_bytes.unwrap_or(8 << 20).clamp(1, MAX_PAGE);
    let store = state.store.clone();
    let page = tokio::task::spawn_blocking(move || store.feed_page(p.after, max))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    let (id, inc) = state.store.writer_identity();
    let mut r = match page {
        FeedPage::Records {
            frames,
            last_seq,
            applied,
        } => {
            let mut r = frames.into_response();
            let h = r.headers_mut();
            h.insert(LAST_SEQ_HEADER, HeaderValue::from(last_seq));
            h.insert(APPLIED_HEADER, HeaderValue::from(applied));
            r
        }
        FeedPage::Gone { uploaded } => {
            let mut r = StatusCode::GONE.into_response();
            r.headers_mut()
                .insert(UPLOADED_HEADER, HeaderValue::from(uploaded));
            r
        }
    };
    let h = r.headers_mut();
    for (name, v) in [(WRITER_HEADER, id), (INCARNATION_HEADER, inc)] {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(name, v);
        }
    }
    Ok(r)
}
