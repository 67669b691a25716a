//! `GET /loki/api/v1/patterns` (Drilldown's Patterns tab): patterns mined
//! at query time from the newest entries of the query (see
//! `pattern_miner`), with per-step counts and the entries' detected level.

use crate::encode::json_str;
use crate::error::{ApiError, ApiResult};
use crate::params::{parse_step, time_range};
use crate::routes::query::json_response;
use crate::state::{ApiRequest, SharedState};
use axum::extract::State;
use axum::response::Response;
use lode_logql::drilldown::patterns::Miner;
use lode_logql::pipeline::LogPipeline;
use lode_logql::Expr;
use lode_storage::{Direction, LogQuery};
use std::fmt::Write;

/// Entries mined per request: bounds memory and time on wide ranges (the
/// newest ones are kept).
const MAX_LINES: usize = 50_000;

pub async fn patterns(State(state): State<SharedState>, req: ApiRequest) -> ApiResult<Response> {
    let ApiRequest {
        params: p,
        tenant,
        headers: _,
    } = req;
    let (start, end) = time_range(&p)?;
    let q = p
        .get("query")
        .ok_or_else(|| ApiError::BadRequest("query parameter is required".into()))?;
    let log = match lode_logql::parse(q)? {
        Expr::Log(l) => l,
        Expr::Metric(_) | Expr::Variants(_) => {
            return Err(ApiError::BadRequest(
                "only log queries are supported for patterns".into(),
            ))
        }
    };
    let step = match p.get("step") {
        Some(s) => parse_step(s)?,
        None => crate::params::default_step(start, end),
    };
    crate::params::check_step(start, end, step)?;
    crate::read::check_length(&state, &tenant, start, end)?;
    let st = state.clone();
    let tn = tenant.clone();
    let mined = crate::read::run_read(&state, &tn, move || {
        let pipeline = LogPipeline::new(&log.pipeline)?;
        let q = LogQuery {
            matchers: &log.selector,
            pipeline: &pipeline,
            start,
            end,
            limit: MAX_LINES,
            direction: Direction::Backward,
        };
        let (hits, _) = st.store.query_logs(&tenant, &q)?;
        let mut miner = Miner::new(step);
        // Oldest first, so clusters form in time order whatever the layout.
        for h in hits.iter().rev() {
            let level = h
                .entry
                .structured_metadata
                .get(lode_proto::enrich::DETECTED_LEVEL)
                .or_else(|| h.entry.labels.get(lode_proto::enrich::DETECTED_LEVEL))
                .unwrap_or("unknown");
            miner.add(h.ts, &h.entry.line, level);
        }
        Ok(miner.finish())
    })
    .await?;
    let mut out = String::from("{\"status\":\"success\",\"data\":[");
    for (i, m) in mined.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"pattern\":");
        json_str(&mut out, &m.pattern);
        out.push_str(",\"level\":");
        json_str(&mut out, &m.level);
        out.push_str(",\"samples\":[");
        for (j, (t, n)) in m.samples.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            let _ = write!(out, "[{},{n}]", t.div_euclid(1_000_000_000));
        }
        out.push_str("]}");
    }
    out.push_str("]}\n");
    Ok(json_response(out))
}
