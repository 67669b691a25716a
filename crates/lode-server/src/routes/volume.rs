//! `index/stats`, `index/volume` and `index/volume_range`.

use crate::encode::{labels_obj, sample_ts};
use crate::error::{ApiError, ApiResult};
use crate::params::{check_step, parse_step, time_range, Params};
use crate::read::{check_length, run_read};
use crate::routes::query::{json_response, selector_param};
use crate::state::{ApiRequest, SharedState};
use axum::extract::State;
use axum::response::Response;
use lode_logql::ast::Matcher;
use lode_storage::meta::VolumeGroup;
use std::fmt::Write;

fn selector(p: &Params) -> ApiResult<Vec<Matcher>> {
    selector_param(p, "query")?
        .ok_or_else(|| ApiError::BadRequest("query parameter is required".into()))
}

pub async fn index_stats(State(state): State<SharedState>, req: ApiRequest) -> ApiResult<Response> {
    let ApiRequest {
        params: p,
        tenant,
        headers: _,
    } = req;
    let (start, end) = time_range(&p)?;
    check_length(&state, &tenant, start, end)?;
    let sel = selector_param(&p, "query")?.unwrap_or_default();
    let st = state.clone();
    let tn = tenant.clone();
    let s = run_read(&state, &tenant, move || {
        Ok(st.store.index_stats(&tn, &sel, start, end)?)
    })
    .await?;
    Ok(json_response(format!(
        "{{\"streams\":{},\"chunks\":{},\"entries\":{},\"bytes\":{}}}\n",
        s.streams, s.chunks, s.entries, s.bytes
    )))
}

fn group(p: &Params, sel: &[Matcher]) -> VolumeGroup {
    let targets: Vec<String> = p
        .get("targetLabels")
        .map(|t| {
            t.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let mut names = if targets.is_empty() {
        let mut n: Vec<String> = sel.iter().map(|m| m.name.clone()).collect();
        n.sort();
        n.dedup();
        n
    } else {
        targets
    };
    if p.get("aggregateBy") == Some("labels") {
        names.sort();
        VolumeGroup::Labels(names)
    } else {
        VolumeGroup::Series(names)
    }
}

fn limit(p: &Params) -> ApiResult<usize> {
    match p.get("limit") {
        None => Ok(100),
        Some(s) => match s.parse::<usize>() {
            Ok(0) => Ok(100),
            Ok(n) => Ok(n.min(1000)),
            Err(_) => Err(ApiError::BadRequest(format!(
                "cannot parse \"{s}\" to a valid limit"
            ))),
        },
    }
}

async fn volume_common(state: SharedState, req: ApiRequest, range: bool) -> ApiResult<Response> {
    let ApiRequest {
        params: p, tenant, ..
    } = req;
    let (start, end) = time_range(&p)?;
    check_length(&state, &tenant, start, end)?;
    let sel = selector(&p)?;
    let limit = limit(&p)?;
    let step = if range {
        match p.get("step") {
            Some(s) => parse_step(s)?,
            None => 3600 * 1_000_000_000,
        }
    } else {
        0
    };
    if range {
        // One counter per step per stream is allocated below: bounded first.
        check_step(start, end, step)?;
    }
    let g = group(&p, &sel);
    let st = state.clone();
    let tn = tenant.clone();
    let groups = run_read(&state, &tenant, move || {
        Ok(st.store.volume(&tn, &sel, start, end, step, &g)?)
    })
    .await?;
    // The storage counted on this grid; its timestamps are Loki's.
    let grid = lode_storage::meta::VolumeGrid::new(start, end, step)?;
    let mut out = String::from("{\"status\":\"success\",\"data\":{\"resultType\":\"");
    out.push_str(if range { "matrix" } else { "vector" });
    out.push_str("\",\"result\":[");
    for (i, (labels, v)) in groups.iter().take(limit).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"metric\":");
        labels_obj(&mut out, labels);
        if range {
            out.push_str(",\"values\":[");
            let mut first = true;
            for (b, bytes) in v.iter().enumerate() {
                if *bytes == 0 {
                    continue;
                }
                if !first {
                    out.push(',');
                }
                first = false;
                out.push('[');
                let t = grid.timestamp(b);
                sample_ts(&mut out, t);
                let _ = write!(out, ",\"{bytes}\"]");
            }
            out.push_str("]}");
        } else {
            out.push_str(",\"value\":[");
            sample_ts(&mut out, end);
            let _ = write!(out, ",\"{}\"]}}", v.iter().sum::<u64>());
        }
    }
    out.push_str("]}}\n");
    Ok(json_response(out))
}

pub async fn volume(State(state): State<SharedState>, req: ApiRequest) -> ApiResult<Response> {
    volume_common(state, req, false).await
}

pub async fn volume_range(
    State(state): State<SharedState>,
    req: ApiRequest,
) -> ApiResult<Response> {
    volume_common(state, req, true).await
}
