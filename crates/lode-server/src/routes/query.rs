//! `query_range` and `query`: log queries through the storage, metric
//! queries through the LogQL engine, answers in Loki's shapes.

use crate::encode::{metric_response, streams_response};
use crate::error::{ApiError, ApiResult};
use crate::params::{check_step, default_step, now_ns, parse_step, parse_time, time_range, Params};
use crate::read::{charge_encoding, check_length, run_read};
use crate::state::{categorize, params, tenant, ApiRequest, AppState, SharedState};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use lode_logql::ast::{Expr, LogExpr, MetricExpr};
use lode_logql::engine::{evaluate, EvalParams};
use lode_logql::pipeline::LogPipeline;
use lode_storage::{Direction, LogQuery};
use std::sync::Arc;
use std::time::Instant;

/// Series one range aggregation may hold before aggregation, whatever
/// `max_query_series` is: bounds memory of queries like `count_over_time({..} | json [5m])`.
const MAX_SOURCE_SERIES: usize = 100_000;

pub fn json_response(body: String) -> Response {
    let mut r = body.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    r
}

fn limit(p: &Params, state: &AppState, tenant: &str) -> ApiResult<usize> {
    let limit = match p.get("limit") {
        Some(s) => s
            .parse::<i64>()
            .map_err(|_| ApiError::BadRequest(format!("cannot parse \"{s}\" to a valid limit")))?,
        None => 100,
    };
    if limit <= 0 {
        return Err(ApiError::BadRequest(
            "limit must be a positive value".into(),
        ));
    }
    let max = state.store.limits_for(tenant).max_entries_limit_per_query;
    if limit as usize > max {
        return Err(ApiError::BadRequest(format!(
            "max entries limit per query exceeded, limit > max_entries_limit_per_query ({limit} > {max})"
        )));
    }
    Ok(limit as usize)
}

fn direction(p: &Params) -> ApiResult<Direction> {
    match p.get("direction") {
        None => Ok(Direction::Backward),
        Some(d) if d.eq_ignore_ascii_case("backward") => Ok(Direction::Backward),
        Some(d) if d.eq_ignore_ascii_case("forward") => Ok(Direction::Forward),
        Some(d) => Err(ApiError::BadRequest(format!("invalid direction '{d}'"))),
    }
}

fn parse_query(p: &Params) -> ApiResult<Expr> {
    let q = p.get("query").unwrap_or("");
    Ok(lode_logql::parse(q)?)
}

/// Compiles every log pipeline of the query so template and regex errors
/// are 400s before any data is read.
fn validate_pipelines(expr: &Expr) -> ApiResult<()> {
    for l in expr.log_exprs() {
        LogPipeline::new(&l.pipeline)?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)] // one call site; a struct would only rename the arguments
async fn log_query(
    state: SharedState,
    tenant: String,
    log: LogExpr,
    start: i64,
    end: i64,
    limit: usize,
    dir: Direction,
    categorize: bool,
) -> ApiResult<Response> {
    let started = Instant::now();
    let st = state.clone();
    let tn = tenant.clone();
    let body = run_read(&state, &tn, move || {
        let pipeline = LogPipeline::new(&log.pipeline)?;
        let q = LogQuery {
            matchers: &log.selector,
            pipeline: &pipeline,
            start,
            end,
            limit,
            direction: dir,
        };
        let (hits, stats) = st.store.query_logs(&tenant, &q)?;
        charge_encoding(lode_logql::context::current().map_or(0, |c| c.used()))?;
        let secs = started.elapsed().as_secs_f64();
        Ok(streams_response(&hits, categorize, &stats, secs))
    })
    .await?;
    Ok(json_response(body))
}

async fn metric_query(
    state: SharedState,
    tenant: String,
    expr: MetricExpr,
    params: EvalParams,
) -> ApiResult<Response> {
    let started = Instant::now();
    let st = state.clone();
    let tn = tenant.clone();
    let body = run_read(&state, &tn, move || {
        let source = st.store.samples(&tenant, MAX_SOURCE_SERIES);
        let v = evaluate(&expr, &params, &source)?;
        // Points were charged as the engine made them; their text costs
        // a few times as much.
        charge_encoding(lode_logql::context::current().map_or(0, |c| c.used()) * 2)?;
        let secs = started.elapsed().as_secs_f64();
        Ok(metric_response(&v, &source.stats(), secs))
    })
    .await?;
    Ok(json_response(body))
}

fn observe(state: &AppState, endpoint: &str, started: Instant) {
    state
        .metrics
        .query_duration
        .get_or_create(&crate::metrics::EndpointLabel {
            endpoint: endpoint.to_string(),
        })
        .observe(started.elapsed().as_secs_f64());
}

pub async fn query_range(State(state): State<SharedState>, req: ApiRequest) -> ApiResult<Response> {
    let started = Instant::now();
    let ApiRequest {
        params: p,
        tenant,
        headers,
    } = req;
    let (start, end) = time_range(&p)?;
    if end < start {
        return Err(ApiError::BadRequest(
            "end timestamp must not be before or equal to start time".into(),
        ));
    }
    let limit = limit(&p, &state, &tenant)?;
    let dir = direction(&p)?;
    let expr = parse_query(&p)?;
    validate_pipelines(&expr)?;
    let r = match expr {
        Expr::Log(log) => {
            check_length(&state, &tenant, start, end)?;
            log_query(
                state.clone(),
                tenant,
                log,
                start,
                end,
                limit,
                dir,
                categorize(&headers),
            )
            .await
        }
        Expr::Metric(m) => {
            let step = match p.get("step") {
                Some(s) => parse_step(s)?,
                None => default_step(start, end),
            };
            check_step(start, end, step)?;
            check_length(&state, &tenant, start, end)?;
            check_approx_topk(&state, &m, false)?;
            let params = EvalParams {
                start,
                end,
                step,
                instant: false,
                max_series: state.store.limits_for(&tenant).max_query_series,
            };
            metric_query(state.clone(), tenant, m, params).await
        }
        Expr::Variants(_) => Err(variants_disabled()),
    };
    observe(&state, "query_range", started);
    r
}

/// Loki 3.5+ parses `variants(...) of (...)`; running one is an
/// experimental feature that is off unless enabled, and Lode has none.
fn variants_disabled() -> ApiError {
    ApiError::BadRequest("multi variant queries are disabled for this instance".into())
}

/// `approx_topk` runs only where `limits_config.shard_aggregations` lists
/// it, and then only as an instant query, as in Loki (whose refusal comes
/// out of its query sharding as a 500).
fn check_approx_topk(
    state: &AppState,
    m: &lode_logql::ast::MetricExpr,
    instant: bool,
) -> ApiResult<()> {
    if !m.uses_vector_op(lode_logql::ast::VectorOp::ApproxTopk) {
        return Ok(());
    }
    let enabled = state
        .config
        .limits_config
        .shard_aggregations
        .iter()
        .any(|a| a == "approx_topk");
    if !enabled {
        return Err(ApiError::Internal(
            "approx_topk is not enabled. See -limits.shard_aggregations".into(),
        ));
    }
    if !instant {
        return Err(ApiError::BadRequest(
            "approx_topk error: count min sketches are only supported on instant queries".into(),
        ));
    }
    Ok(())
}

pub async fn query(
    State(state): State<SharedState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let started = Instant::now();
    let p = params(&method, &uri, &headers, &body)?;
    let tenant = tenant(&state, &headers)?;
    let time = match p.get("time") {
        Some(t) => parse_time(t)?,
        None => now_ns(),
    };
    limit(&p, &state, &tenant)?;
    direction(&p)?;
    let expr = parse_query(&p)?;
    validate_pipelines(&expr)?;
    let r = match expr {
        Expr::Log(_) => Err(ApiError::BadRequest(
            "log queries are not supported as an instant query type, please change your query to a range query type".into(),
        )),
        Expr::Variants(_) => Err(variants_disabled()),
        Expr::Metric(m) => {
            check_approx_topk(&state, &m, true)?;
            let params = EvalParams {
                start: time,
                end: time,
                step: 0,
                instant: true,
                max_series: state.store.limits_for(&tenant).max_query_series,
            };
            metric_query(state.clone(), tenant, m, params).await
        }
    };
    observe(&state, "query", started);
    r
}

/// The selector of a `query` parameter on metadata endpoints.
pub fn selector_param(p: &Params, name: &str) -> ApiResult<Option<Vec<lode_logql::ast::Matcher>>> {
    match p.get(name) {
        None => Ok(None),
        Some(q) if q.trim() == "{}" => Ok(None),
        Some(q) => match lode_logql::parse(q)? {
            Expr::Log(l) => Ok(Some(l.selector)),
            Expr::Metric(_) | Expr::Variants(_) => Err(ApiError::BadRequest(
                "only label matchers are supported".into(),
            )),
        },
    }
}

pub type Shared = Arc<AppState>;
