//! The ruler's API, as Loki serves it: rule groups as YAML under
//! `/loki/api/v1/rules` (and `/api/prom/rules`), and the evaluated rules
//! and alerts in Prometheus' JSON under `/prometheus/api/v1/rules` and
//! `/prometheus/api/v1/alerts`. Every call is scoped to the tenant.

use crate::error::{ApiError, ApiResult};
use crate::routes::query::json_response;
use crate::state::{tenant, SharedState};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use lode_ruler::api::{namespaces_yaml, RuleFilter};
use lode_ruler::rules::{compile_group, RuleGroupDesc};
use lode_ruler::{Ruler, RulerError};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Largest rule group accepted by POST.
const MAX_GROUP_BYTES: usize = 1 << 20;

impl From<RulerError> for ApiError {
    fn from(e: RulerError) -> ApiError {
        match e {
            RulerError::Invalid(m) => ApiError::BadRequest(m),
            RulerError::NotFound(m) => ApiError::NotFound(m),
            e @ RulerError::Io { .. } => ApiError::Internal(e.to_string()),
        }
    }
}

fn ruler(state: &SharedState) -> ApiResult<Arc<Ruler>> {
    match &state.ruler {
        Some(r) if state.config.ruler.enable_api => Ok(r.clone()),
        _ => Err(ApiError::NotFound("404 page not found".into())),
    }
}

fn yaml(body: String) -> Response {
    let mut r = body.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/yaml"),
    );
    r
}

fn accepted() -> Response {
    let mut r = json_response(
        "{\"status\":\"success\",\"data\":null,\"errorType\":\"\",\"error\":\"\"}".to_string(),
    );
    *r.status_mut() = StatusCode::ACCEPTED;
    r
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// A change to the rules directory, then a reload so it applies at once.
async fn write(
    r: Arc<Ruler>,
    f: impl FnOnce(&lode_ruler::store::RuleStore) -> lode_ruler::Result<()> + Send + 'static,
) -> ApiResult<()> {
    blocking(move || {
        f(r.store())?;
        r.reload_now();
        Ok::<_, RulerError>(())
    })
    .await??;
    Ok(())
}

fn list_response(groups: BTreeMap<String, Vec<RuleGroupDesc>>) -> ApiResult<Response> {
    if groups.is_empty() {
        return Err(ApiError::NotFound("no rule groups found".into()));
    }
    Ok(yaml(namespaces_yaml(&groups)))
}

pub async fn list_all(State(state): State<SharedState>, headers: HeaderMap) -> ApiResult<Response> {
    let t = tenant(&state, &headers)?;
    let r = ruler(&state)?;
    list_response(blocking(move || r.store().list(&t, None)).await??)
}

pub async fn list_namespace(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(ns): Path<String>,
) -> ApiResult<Response> {
    let t = tenant(&state, &headers)?;
    let r = ruler(&state)?;
    list_response(blocking(move || r.store().list(&t, Some(&ns))).await??)
}

pub async fn get_group(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path((ns, group)): Path<(String, String)>,
) -> ApiResult<Response> {
    let t = tenant(&state, &headers)?;
    let r = ruler(&state)?;
    let groups = blocking(move || r.store().list(&t, Some(&ns))).await??;
    let g = groups
        .into_values()
        .flatten()
        .find(|g| g.name == group)
        .ok_or_else(|| ApiError::NotFound("group does not exist".into()))?;
    Ok(yaml(serde_yaml_ng::to_string(&g).unwrap_or_default()))
}

/// `POST /loki/api/v1/rules/{namespace}` with one group as YAML: validated
/// as a rule file's group would be, stored, and picked up at once.
pub async fn set_group(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(ns): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let t = tenant(&state, &headers)?;
    let r = ruler(&state)?;
    if body.len() > MAX_GROUP_BYTES {
        return Err(ApiError::TooLarge(format!(
            "rule group of {} bytes, more than the {MAX_GROUP_BYTES} accepted",
            body.len()
        )));
    }
    lode_ruler::store::validate_namespace(&ns)?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::BadRequest("unable to decoded rule group".into()))?;
    let desc: RuleGroupDesc = serde_yaml_ng::from_str(text)
        .map_err(|_| ApiError::BadRequest("unable to decoded rule group".into()))?;
    let interval =
        i64::try_from(state.config.ruler.evaluation_interval.0.as_nanos()).unwrap_or(i64::MAX);
    if let Err(errs) = compile_group(&format!("{t}/{ns}"), &t, &ns, desc.clone(), interval) {
        let msg: Vec<String> = errs.iter().map(ToString::to_string).collect();
        return Err(ApiError::BadRequest(msg.join(", ")));
    }
    write(r, move |s| s.set_group(&t, &ns, desc)).await?;
    Ok(accepted())
}

pub async fn delete_namespace(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(ns): Path<String>,
) -> ApiResult<Response> {
    let t = tenant(&state, &headers)?;
    let r = ruler(&state)?;
    write(r, move |s| s.delete_namespace(&t, &ns)).await?;
    Ok(accepted())
}

pub async fn delete_group(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path((ns, group)): Path<(String, String)>,
) -> ApiResult<Response> {
    let t = tenant(&state, &headers)?;
    let r = ruler(&state)?;
    write(r, move |s| s.delete_group(&t, &ns, &group)).await?;
    Ok(accepted())
}

fn filter(uri: &Uri) -> RuleFilter {
    let mut f = RuleFilter::default();
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(uri.query().unwrap_or("")).unwrap_or_default();
    for (k, v) in pairs {
        match k.as_str() {
            "type" => f.kind = Some(v),
            "rule_group[]" | "rule_group" => f.groups.push(v),
            "file[]" | "file" => f.files.push(v),
            "rule_name[]" | "rule_name" => f.names.push(v),
            _ => {}
        }
    }
    f
}

fn prom_success(data: serde_json::Value) -> Response {
    let mut body = serde_json::json!({"status": "success", "data": data}).to_string();
    body.push('\n');
    json_response(body)
}

/// `GET /prometheus/api/v1/rules`.
pub async fn prom_rules(
    State(state): State<SharedState>,
    headers: HeaderMap,
    uri: Uri,
) -> ApiResult<Response> {
    let t = tenant(&state, &headers)?;
    let r = ruler(&state)?;
    let f = filter(&uri);
    if let Some(k) = &f.kind {
        if k != "alert" && k != "record" {
            return Err(ApiError::BadRequest(format!(
                "unsupported rule type {k:?}: use alert or record"
            )));
        }
    }
    Ok(prom_success(r.rules_json(&t, &f)))
}

/// `GET /prometheus/api/v1/alerts`.
pub async fn prom_alerts(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let t = tenant(&state, &headers)?;
    let r = ruler(&state)?;
    Ok(prom_success(r.alerts_json(&t)))
}
