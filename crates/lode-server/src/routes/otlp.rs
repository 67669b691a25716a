//! `POST /otlp/v1/logs`: OTLP/HTTP logs (protobuf or JSON, optionally
//! gzip), mapped onto streams by `lode_proto::otlp`, then stored like any
//! push. Errors carry a `google.rpc.Status` body as OTLP clients expect,
//! and server-side failures answer 503 so collectors retry.

use crate::error::ApiError;
use crate::params::now_ns;
use crate::state::{tenant, SharedState};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::sync::oneshot;

use super::push::MAX_DECOMPRESSED;

fn otlp_error(status: StatusCode, msg: &str, json: bool) -> Response {
    // gRPC codes: INVALID_ARGUMENT 3, RESOURCE_EXHAUSTED 8, UNAVAILABLE 14.
    let code = match status.as_u16() {
        400 | 413 | 415 => 3,
        429 => 8,
        _ => 14,
    };
    let mut r = if json {
        let body = serde_json::json!({"code": code, "message": msg}).to_string();
        (status, body).into_response()
    } else {
        (status, lode_proto::otlp::status_body(code, msg)).into_response()
    };
    let ct = if json {
        "application/json"
    } else {
        "application/x-protobuf"
    };
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    r
}

fn from_api(e: &ApiError, json: bool) -> Response {
    let status = match e.status() {
        // OTLP clients retry 503 but not 500.
        StatusCode::INTERNAL_SERVER_ERROR => StatusCode::SERVICE_UNAVAILABLE,
        s => s,
    };
    otlp_error(status, &e.to_string(), json)
}

pub async fn otlp_logs(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let json = ct.starts_with("application/json");
    if !json && !ct.starts_with("application/x-protobuf") && !ct.starts_with("application/protobuf")
    {
        return otlp_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!("unsupported content type: {ct}, supported: [application/json, application/x-protobuf]"),
            false,
        );
    }
    let tenant = match tenant(&state, &headers) {
        Ok(t) => t,
        Err(e) => return from_api(&e, json),
    };
    let ce = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let decoded = tokio::task::spawn_blocking(move || {
        let (raw, _held) =
            lode_proto::decompress(lode_proto::Protocol::Otlp, &ce, &body, MAX_DECOMPRESSED)?;
        let req = if json {
            lode_proto::otlp::decode_json_request(&raw)
        } else {
            lode_proto::otlp::decode_protobuf_request(&raw)
        }
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let mut streams = lode_proto::otlp::to_push_request(req, now_ns()).streams;
        for s in &mut streams {
            lode_proto::enrich(s);
        }
        Ok::<_, ApiError>(streams)
    })
    .await;
    let streams = match decoded {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return from_api(&e, json),
        Err(e) => return from_api(&ApiError::Internal(e.to_string()), json),
    };
    if streams.is_empty() {
        return StatusCode::NO_CONTENT.into_response();
    }
    let (tx, rx) = oneshot::channel();
    state.store.push(
        &tenant,
        streams,
        Box::new(move |r| {
            let _ = tx.send(r);
        }),
    );
    match rx.await {
        Ok(Ok(())) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err(e)) => from_api(&ApiError::from(e), json),
        Err(_) => from_api(
            &ApiError::Unavailable("storage writer stopped".into()),
            json,
        ),
    }
}
