//! Shared server state and the helpers every handler uses.

use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use crate::metrics::Metrics;
use crate::params::Params;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, Method, Uri};
use bytes::Bytes;
use lode_storage::LogStore;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

pub struct AppState {
    pub store: Arc<dyn LogStore>,
    pub config: Arc<Config>,
    pub metrics: Metrics,
    pub ready: AtomicBool,
    /// The ruler (absent in tests that do not start one).
    pub ruler: Option<Arc<lode_ruler::Ruler>>,
}

pub type SharedState = Arc<AppState>;

/// The tenant of a request: `fake` unless `auth_enabled`, then the
/// validated `X-Scope-OrgID`.
pub fn tenant(state: &AppState, headers: &HeaderMap) -> ApiResult<String> {
    tenant_or(state, headers, None)
}

/// Like `tenant`, with `fallback` used when the request has no
/// `X-Scope-OrgID` header. Only the live tail passes one (its `orgId`
/// parameter): a browser cannot set headers on a WebSocket. A proxy that
/// sets the header still decides, since the header wins.
pub fn tenant_or(
    state: &AppState,
    headers: &HeaderMap,
    fallback: Option<&str>,
) -> ApiResult<String> {
    if !state.config.auth_enabled {
        return Ok("fake".to_string());
    }
    let id = headers
        .get("x-scope-orgid")
        .and_then(|v| v.to_str().ok())
        .or(fallback)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::Unauthorized("no org id".into()))?;
    if id.contains('|') {
        return Err(ApiError::BadRequest(
            "multi-tenant queries are not supported".into(),
        ));
    }
    lode_proto::validate_tenant(id)?;
    Ok(id.to_string())
}

/// Query-string plus form-body parameters (GET and POST alike).
pub fn params(method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> ApiResult<Params> {
    let form = method == Method::POST
        && headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    Params::parse(uri.query(), form.then_some(body.as_ref()))
}

/// Whether the client asked for Grafana's categorised label encoding.
pub fn categorize(headers: &HeaderMap) -> bool {
    headers
        .get_all("x-loki-response-encoding-flags")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|f| f == "categorize-labels"))
}

/// Form bodies of read endpoints are small; a larger one is refused.
const MAX_FORM_BODY: usize = 8 << 20;

/// What every read endpoint starts from: the merged query-string and form
/// parameters, the tenant, and the headers.
pub struct ApiRequest {
    pub params: Params,
    pub tenant: String,
    pub headers: HeaderMap,
}

impl FromRequest<SharedState> for ApiRequest {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &SharedState) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(body, MAX_FORM_BODY)
            .await
            .map_err(|e| ApiError::BadRequest(format!("cannot read request body: {e}")))?;
        let params = params(&parts.method, &parts.uri, &parts.headers, &body)?;
        let tenant = tenant(state, &parts.headers)?;
        Ok(ApiRequest {
            params,
            tenant,
            headers: parts.headers,
        })
    }
}
