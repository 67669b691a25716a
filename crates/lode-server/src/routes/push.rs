//! `POST /loki/api/v1/push` and the legacy `/api/prom/push`.

use crate::error::{ApiError, ApiResult};
use crate::state::{tenant, SharedState};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use bytes::Bytes;
use std::time::Instant;
use tokio::sync::oneshot;

/// Decompressed push bodies (Loki push and OTLP) above this are refused
/// with 413.
pub(crate) const MAX_DECOMPRESSED: usize = 512 << 20;

fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

async fn ingest(
    state: SharedState,
    headers: HeaderMap,
    body: Bytes,
    legacy: bool,
) -> ApiResult<StatusCode> {
    let started = Instant::now();
    let tenant = tenant(&state, &headers)?;
    let ct = header_str(&headers, header::CONTENT_TYPE).map(str::to_owned);
    let ce = header_str(&headers, header::CONTENT_ENCODING).map(str::to_owned);
    let (tx, rx) = oneshot::channel();
    let st = state.clone();
    // Decoding and validation are CPU work sized by the request (a push of
    // 100k streams): off the async workers, so /ready and queries answer.
    tokio::task::spawn_blocking(move || {
        let req = if legacy
            && ct
                .as_deref()
                .is_some_and(|c| c.starts_with("application/json"))
        {
            lode_proto::decode_legacy_json(&body)
        } else {
            let opts = lode_proto::DecodeOptions {
                max_decompressed_bytes: MAX_DECOMPRESSED,
            };
            lode_proto::decode_body_with(opts, ct.as_deref(), ce.as_deref(), &body)
        }?;
        let mut streams = req.streams;
        for s in &mut streams {
            lode_proto::enrich(s);
        }
        st.store.push(
            &tenant,
            streams,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        Ok::<_, lode_proto::ProtoError>(())
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    let res = rx
        .await
        .map_err(|_| ApiError::Unavailable("storage writer stopped".into()))?;
    state
        .metrics
        .query_duration
        .get_or_create(&crate::metrics::EndpointLabel {
            endpoint: "push".into(),
        })
        .observe(started.elapsed().as_secs_f64());
    res?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn push(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    ingest(state, headers, body, false).await
}

pub async fn push_legacy(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    ingest(state, headers, body, true).await
}
