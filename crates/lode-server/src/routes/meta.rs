//! `labels`, `label/<name>/values` and `series`.

use crate::encode::{json_str, labels_obj};
use crate::error::{ApiError, ApiResult};
use crate::params::time_range;
use crate::read::{clamp_length, run_read};
use crate::routes::query::{json_response, selector_param};
use crate::state::{ApiRequest, SharedState};
use axum::extract::{Path, State};
use axum::response::Response;

fn string_list(values: &[String]) -> String {
    let mut out = String::from("{\"status\":\"success\",\"data\":[");
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_str(&mut out, v);
    }
    out.push_str("]}\n");
    out
}

pub async fn labels(State(state): State<SharedState>, req: ApiRequest) -> ApiResult<Response> {
    let ApiRequest {
        params: p,
        tenant,
        headers: _,
    } = req;
    let (start, end) = time_range(&p)?;
    let start = clamp_length(&state, &tenant, start, end);
    let sel = selector_param(&p, "query")?;
    let st = state.clone();
    let tn = tenant.clone();
    let body = run_read(&state, &tenant, move || {
        let names = st.store.label_names(&tn, sel.as_deref(), start, end)?;
        Ok(string_list(&names))
    })
    .await?;
    Ok(json_response(body))
}

pub async fn label_values(
    State(state): State<SharedState>,
    Path(name): Path<String>,
    req: ApiRequest,
) -> ApiResult<Response> {
    let ApiRequest {
        params: p,
        tenant,
        headers: _,
    } = req;
    let (start, end) = time_range(&p)?;
    let start = clamp_length(&state, &tenant, start, end);
    let sel = selector_param(&p, "query")?;
    let st = state.clone();
    let tn = tenant.clone();
    let body = run_read(&state, &tenant, move || {
        let values = st
            .store
            .label_values(&tn, &name, sel.as_deref(), start, end)?;
        Ok(string_list(&values))
    })
    .await?;
    Ok(json_response(body))
}

pub async fn series(State(state): State<SharedState>, req: ApiRequest) -> ApiResult<Response> {
    let ApiRequest {
        params: p,
        tenant,
        headers: _,
    } = req;
    let (start, end) = time_range(&p)?;
    let start = clamp_length(&state, &tenant, start, end);
    let mut selectors = Vec::new();
    let mut all = false;
    for m in p.all("match[]").chain(p.all("match")) {
        if m.chars().filter(|c| !c.is_whitespace()).collect::<String>() == "{}" {
            all = true;
            continue;
        }
        match lode_logql::parse(m)? {
            lode_logql::Expr::Log(l) => selectors.push(l.selector),
            lode_logql::Expr::Metric(_) | lode_logql::Expr::Variants(_) => {
                return Err(ApiError::BadRequest(
                    "only label matchers are supported".into(),
                ))
            }
        }
    }
    if all {
        selectors.clear();
    } else if selectors.is_empty() {
        return Err(ApiError::BadRequest(
            "at least one match[] argument must be provided".into(),
        ));
    }
    let st = state.clone();
    let tn = tenant.clone();
    let out = run_read(&state, &tenant, move || {
        let series = st.store.series(&tn, &selectors, start, end)?;
        let mut out = String::from("{\"status\":\"success\",\"data\":[");
        for (i, s) in series.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            labels_obj(&mut out, s);
        }
        out.push_str("]}\n");
        Ok(out)
    })
    .await?;
    Ok(json_response(out))
}
