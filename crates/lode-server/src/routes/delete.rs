//! Log deletion: `POST /loki/api/v1/delete` records a request (204),
//! `GET` lists the tenant's requests, `DELETE ?request_id=` cancels a
//! pending one (204). Deleted entries disappear from queries at once and
//! from disk when the compactor carries the request out (after
//! `compactor.delete_request_cancel_period`).

use crate::error::{ApiError, ApiResult};
use crate::params::{now_ns, parse_rfc3339};
use crate::routes::query::json_response;
use crate::state::{tenant, ApiRequest, SharedState};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use lode_storage::delete::CancelError;

/// Unix seconds (optionally fractional) or RFC 3339, as Loki's delete API takes.
fn delete_time(s: &str, which: &str) -> ApiResult<i64> {
    let bad = || {
        ApiError::BadRequest(format!(
            "invalid {which} time: require unix seconds or RFC3339 format"
        ))
    };
    if let Ok(f) = s.parse::<f64>() {
        if !f.is_finite() {
            return Err(bad());
        }
        return Ok(((f * 1000.0).round() as i64).saturating_mul(1_000_000));
    }
    parse_rfc3339(s).ok_or_else(bad)
}

/// Go's `model.Time` JSON: seconds with up to millisecond fraction.
fn model_time(ns: i64) -> String {
    let ms = ns.div_euclid(1_000_000);
    let (secs, frac) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    if frac == 0 {
        secs.to_string()
    } else {
        format!("{secs}.{frac:03}")
            .trim_end_matches('0')
            .to_string()
    }
}

pub async fn create(State(state): State<SharedState>, req: ApiRequest) -> ApiResult<StatusCode> {
    let ApiRequest {
        params: p, tenant, ..
    } = req;
    let query = p
        .get("query")
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| ApiError::BadRequest("query not set".into()))?
        .to_string();
    let start = match p.get("start") {
        Some(s) => delete_time(s, "start")?,
        None => return Err(ApiError::BadRequest("start time not set".into())),
    };
    let end = match p.get("end") {
        Some(s) => delete_time(s, "end")?,
        None => now_ns(),
    };
    let st = state.clone();
    tokio::task::spawn_blocking(move || st.store.add_delete(&tenant, &query, start, end))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list(State(state): State<SharedState>, headers: HeaderMap) -> ApiResult<Response> {
    let tenant = tenant(&state, &headers)?;
    let mut out = String::from("[");
    for (i, r) in state.store.list_deletes(&tenant).iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            "{{\"request_id\":{},\"start_time\":{},\"end_time\":{},\"query\":{},\"status\":\"{}\",\"created_at\":{}}}",
            serde_json::Value::from(r.request_id.as_str()),
            model_time(r.start),
            model_time(r.end),
            serde_json::Value::from(r.query.as_str()),
            r.status.as_str(),
            model_time(r.created_at),
        ));
    }
    out.push(']');
    Ok(json_response(out))
}

pub async fn cancel(State(state): State<SharedState>, req: ApiRequest) -> ApiResult<StatusCode> {
    let ApiRequest {
        params: p, tenant, ..
    } = req;
    let id = p
        .get("request_id")
        .ok_or_else(|| ApiError::BadRequest("request_id not set".into()))?
        .to_string();
    let st = state.clone();
    let r = tokio::task::spawn_blocking(move || st.store.cancel_delete(&tenant, &id))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    match r {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(CancelError::NotFound) => Err(ApiError::NotFound(
            "could not find delete request with given id".into(),
        )),
        Err(CancelError::AlreadyProcessed) => Err(ApiError::BadRequest(
            "deletion of request which is in process or already processed is not allowed".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_and_out() {
        assert_eq!(
            delete_time("1700000000", "start").unwrap(),
            1_700_000_000_000_000_000
        );
        assert_eq!(
            delete_time("1700000000.5", "start").unwrap(),
            1_700_000_000_500_000_000
        );
        assert_eq!(
            delete_time("2023-11-14T22:13:20Z", "end").unwrap(),
            1_700_000_000_000_000_000
        );
        let e = delete_time("yesterday", "start").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid start time: require unix seconds or RFC3339 format"
        );
        assert_eq!(model_time(1_700_000_000_000_000_000), "1700000000");
        assert_eq!(model_time(1_700_000_000_120_000_000), "1700000000.12");
    }
}
