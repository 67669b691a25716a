//! Operational endpoints: readiness, metrics, build info, config, flush,
//! and `format_query`.

use crate::encode::json_str;
use crate::error::{ApiError, ApiResult};
use crate::routes::query::json_response;
use crate::state::{params, SharedState};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use std::sync::atomic::Ordering;

/// The Loki version Lode answers as (Drilldown and tools expect ≥ 3.6).
pub const LOKI_VERSION: &str = "3.7.6";

pub async fn ready(State(state): State<SharedState>) -> Response {
    if !state.ready.load(Ordering::Acquire) {
        return (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response();
    }
    // A reader is ready once it has read the bucket; it then keeps
    // answering from what it holds while the bucket or a writer is away,
    // and says so here (a writer keeps taking pushes into its WAL).
    let s = state.store.scalable_status();
    if let Some(r) = &s.replica {
        if !r.synced {
            let why = if r.bucket_error.is_empty() {
                "not ready: the bucket has not been read yet\n".to_string()
            } else {
                format!("not ready: the bucket cannot be read: {}\n", r.bucket_error)
            };
            return (StatusCode::SERVICE_UNAVAILABLE, why).into_response();
        }
        let mut notes = String::new();
        if !r.bucket_error.is_empty() {
            notes.push_str(&format!(
                "bucket unreachable (answers use what was read before): {}\n",
                r.bucket_error
            ));
        }
        for (url, e) in &r.feed_errors {
            notes.push_str(&format!(
                "writer {url} unreachable (its newest entries are missing): {e}\n"
            ));
        }
        return (StatusCode::OK, format!("ready\n{notes}")).into_response();
    }
    (StatusCode::OK, "ready\n").into_response()
}

pub async fn metrics(State(state): State<SharedState>) -> Response {
    let body = state
        .metrics
        .render(state.store.as_ref(), state.ruler.as_deref());
    let mut r = body.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    r
}

pub async fn buildinfo() -> Response {
    json_response(format!(
        "{{\"version\":\"{LOKI_VERSION}\",\"revision\":\"lode-{}\",\"branch\":\"main\",\"buildUser\":\"lode\",\"buildDate\":\"\",\"goVersion\":\"\"}}\n",
        env!("CARGO_PKG_VERSION")
    ))
}

pub async fn config(State(state): State<SharedState>) -> Response {
    let mut r = state.config.to_yaml().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// `POST /flush`: persist everything in memory now (Loki's ingester flush).
pub async fn flush(State(state): State<SharedState>) -> ApiResult<StatusCode> {
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || store.flush())
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn format_query(
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let p = params(&method, &uri, &headers, &body)?;
    let q = p.get("query").unwrap_or("");
    match lode_logql::parse(q) {
        Ok(expr) => {
            let mut out = String::from("{\"status\":\"success\",\"data\":");
            json_str(&mut out, &lode_logql::print::pretty(&expr));
            out.push_str("}\n");
            Ok(json_response(out))
        }
        Err(e) => {
            let mut out = String::from("{\"status\":\"invalid-query\",\"error\":");
            json_str(&mut out, &e.to_string());
            out.push_str("}\n");
            let mut r = json_response(out);
            *r.status_mut() = StatusCode::BAD_REQUEST;
            Ok(r)
        }
    }
}
