//! Lode's web UI: static files compiled into the binary (`crates/lode-server/ui/`)
//! served under `/ui/`, and the one JSON document only the UI needs,
//! `/ui/api/status`. Everything else the UI shows comes from the Loki API
//! it calls like any client, with the same tenant header and limits.

use crate::error::ApiResult;
use crate::routes::ops::LOKI_VERSION;
use crate::routes::query::json_response;
use crate::state::{tenant, SharedState};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::json;
use std::sync::atomic::Ordering;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../ui/app.js"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../ui/app.css"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../ui/favicon.svg"),
    },
];

const INDEX: &[u8] = include_bytes!("../../ui/index.html");

/// Nothing but Lode itself: no CDN, font or analytics host can be reached
/// from the page even if a line of logs tried to inject one.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'";

fn with_headers(body: &'static [u8], content_type: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

/// `/` and `/ui` lead to the UI. Relative (from either, `ui/` is
/// `/ui/`), so a path prefix in front of Lode (an ingress path) is kept.
pub async fn to_ui() -> Redirect {
    Redirect::temporary("ui/")
}

pub async fn index() -> Response {
    with_headers(INDEX, "text/html; charset=utf-8")
}

pub async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(a) => with_headers(a.body, a.content_type),
        None => (StatusCode::NOT_FOUND, "404 page not found\n").into_response(),
    }
}

fn rfc3339(ns: Option<i64>) -> serde_json::Value {
    ns.map_or(serde_json::Value::Null, |ns| {
        json!(lode_go::time::format_rfc3339_nanos(ns))
    })
}

/// What the status view shows. Scoped to the caller's tenant; the figures
/// of the whole store (which sum every tenant) only when there is a single
/// one, with `auth_enabled: false`.
pub async fn status(State(state): State<SharedState>, headers: HeaderMap) -> ApiResult<Response> {
    let tenant = tenant(&state, &headers)?;
    let st = state.clone();
    let t = tenant.clone();
    // Store-wide figures stat every chunk file: only when they are shown.
    let whole = !state.config.auth_enabled;
    let (ts, schedule, stats) = tokio::task::spawn_blocking(move || {
        (
            st.store.tenant_status(&t),
            st.store.compactor_schedule(),
            whole.then(|| st.store.stats()),
        )
    })
    .await
    .map_err(|e| crate::error::ApiError::Internal(e.to_string()))?;
    let limits = state.store.limits_for(&tenant);
    let cfg = &state.config;
    let dur = |d: std::time::Duration| {
        lode_go::model::format_duration(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    };
    let retention = lode_go::model::format_duration(limits.retention.period);
    let mut doc = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "loki_version": LOKI_VERSION,
        "auth_enabled": cfg.auth_enabled,
        "target": cfg.target.name(),
        "tenant": tenant,
        "tenant_status": {
            "streams": ts.streams,
            "active_streams": ts.active_streams,
            "chunk_files": ts.chunk_files,
            "chunk_bytes": ts.chunk_bytes,
            "oldest": rfc3339(ts.oldest_ns),
            "newest": rfc3339(ts.newest_ns),
            "lines_ingested": ts.ingested_lines,
            "bytes_ingested": ts.ingested_bytes,
        },
        "limits": {
            "retention_period": retention,
            "retention_enabled": cfg.compactor.retention_enabled,
            "max_query_length": dur(limits.max_query_length),
            "max_global_streams_per_user": limits.max_streams_per_user,
            "max_entries_limit_per_query": limits.max_entries_limit_per_query,
            "ingestion_rate_bytes": limits.ingestion_rate_bytes,
        },
        "compactor": {
            "compaction_interval": dur(cfg.compactor.compaction_interval.0),
            "last_run": rfc3339(schedule.last_ns),
            "next_run": rfc3339(Some(schedule.next_ns)),
            "delete_request_cancel_period": dur(cfg.compactor.delete_request_cancel_period.0),
        },
    });
    if let Some(stats) = stats {
        let sc = state.store.scalable_status();
        if !sc.role.is_empty() {
            doc["scalable"] = serde_json::to_value(&sc).unwrap_or_default();
        }
        let c = state.store.counters();
        doc["store"] = json!({
            "tenants": stats.tenants,
            "streams": stats.streams,
            "active_streams": stats.active_streams,
            "chunk_files": stats.chunk_files,
            "chunk_bytes": stats.chunk_bytes,
            "wal_bytes": stats.wal_bytes,
            "unflushed_bytes": stats.unflushed_bytes,
            "lines_ingested": c.lines.load(Ordering::Relaxed),
            "bytes_ingested": c.bytes.load(Ordering::Relaxed),
        });
    }
    let mut body = doc.to_string();
    body.push('\n');
    Ok(json_response(body))
}
