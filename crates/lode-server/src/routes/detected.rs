//! `detected_labels`, `detected_fields` and `detected_field/<name>/values`
//! (Logs Drilldown and Grafana's editor hints). Fields are computed from the
//! newest `line_limit` entries of the query: structured metadata
//! (`parsers: null`), labels the query's own parsers extracted, and, when it
//! has none, JSON or logfmt fields detected in the line.

use crate::encode::json_str;
use crate::error::{ApiError, ApiResult};
use crate::params::{time_range, Params};
use crate::routes::query::{json_response, selector_param};
use crate::state::{ApiRequest, SharedState};
use axum::extract::{Path, State};
use axum::response::Response;
use lode_logql::ast::{LogExpr, Parser, Stage};
use lode_logql::drilldown::fields::{json_fields, Fields};
use lode_logql::pipeline::LogPipeline;
use lode_logql::{Expr, LabelSet};
use lode_storage::{Direction, LogQuery};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// Labels kept by `detected_labels` whatever their values look like.
const STATIC_LABELS: [&str; 4] = ["cluster", "namespace", "instance", "pod"];

fn usize_param(p: &Params, names: &[&str], default: usize) -> ApiResult<usize> {
    for n in names {
        if let Some(v) = p.get(n) {
            return match v.parse::<usize>() {
                Ok(0) => Ok(default),
                Ok(x) => Ok(x),
                Err(_) => Err(ApiError::BadRequest(format!(
                    "cannot parse \"{v}\" to a valid limit"
                ))),
            };
        }
    }
    Ok(default)
}

fn log_query_param(p: &Params) -> ApiResult<LogExpr> {
    let q = p
        .get("query")
        .ok_or_else(|| ApiError::BadRequest("query parameter is required".into()))?;
    match lode_logql::parse(q)? {
        Expr::Log(l) => Ok(l),
        Expr::Metric(_) | Expr::Variants(_) => Err(ApiError::BadRequest(
            "only log queries are supported for detected fields".into(),
        )),
    }
}

fn parser_name(p: &Parser) -> &'static str {
    match p {
        Parser::Json { .. } => "json",
        Parser::Logfmt { .. } => "logfmt",
        Parser::Regexp(_) => "regexp",
        Parser::Pattern(_) => "pattern",
        Parser::Unpack => "unpack",
    }
}

/// Runs the query over its newest `line_limit` entries and collects fields.
fn collect_fields(
    state: &SharedState,
    tenant: &str,
    log: &LogExpr,
    start: i64,
    end: i64,
    line_limit: usize,
) -> ApiResult<Fields> {
    let pipeline = LogPipeline::new(&log.pipeline)?;
    let q = LogQuery {
        matchers: &log.selector,
        pipeline: &pipeline,
        start,
        end,
        limit: line_limit,
        direction: Direction::Backward,
    };
    let (hits, _) = state.store.query_logs(tenant, &q)?;
    let query_parsers: Vec<&'static str> = log
        .pipeline
        .iter()
        .filter_map(|s| match s {
            Stage::Parser(p) => Some(parser_name(p)),
            _ => None,
        })
        .collect();
    let logfmt = LogPipeline::new(&[Stage::Parser(Parser::Logfmt {
        strict: false,
        keep_empty: false,
        params: Vec::new(),
    })])?;
    let mut fields = Fields::default();
    for h in &hits {
        let e = &h.entry;
        for (k, v) in e.structured_metadata.iter() {
            fields.add(k, v, None, None);
        }
        if !e.parsed.is_empty() {
            for (k, v) in e.parsed.iter() {
                for p in &query_parsers {
                    fields.add(k, v, Some(p), None);
                }
                if query_parsers.is_empty() {
                    fields.add(k, v, Some("logfmt"), None);
                }
            }
            continue;
        }
        if let Some(json) = json_fields(&e.line) {
            for (name, value, path) in &json {
                if !e.stream.contains(name) {
                    fields.add(name, value, Some("json"), Some(path));
                }
            }
            continue;
        }
        // Logfmt through the real parser so names match what `| logfmt` yields.
        let mut sp = logfmt.for_stream(&e.stream);
        if let Some(out) = sp.process(h.ts, &e.line, &[]) {
            for (k, v) in out.parsed.iter() {
                fields.add(k, v, Some("logfmt"), None);
            }
        }
    }
    Ok(fields)
}

/// The shared start of `detected_fields` and `detected_field/<name>/values`:
/// the request's fields over its newest `line_limit` entries, and `limit`.
async fn fields_of_request(state: SharedState, req: ApiRequest) -> ApiResult<(Fields, usize)> {
    let ApiRequest {
        params: p, tenant, ..
    } = req;
    let (start, end) = time_range(&p)?;
    crate::read::check_length(&state, &tenant, start, end)?;
    let log = log_query_param(&p)?;
    // The lines read are bounded like a log query's entries: any number
    // a client sends would otherwise be read and held.
    let max_lines = state
        .store
        .limits_for(&tenant)
        .max_entries_limit_per_query
        .max(1);
    let line_limit = usize_param(&p, &["line_limit"], 1000)?.min(max_lines);
    let limit = usize_param(&p, &["limit", "field_limit"], 1000)?;
    let st = state.clone();
    let tn = tenant.clone();
    let fields = crate::read::run_read(&state, &tenant, move || {
        collect_fields(&st, &tn, &log, start, end, line_limit)
    })
    .await?;
    Ok((fields, limit))
}

/// Appends `items` as a JSON array of strings.
fn json_str_array<S: AsRef<str>>(out: &mut String, items: impl IntoIterator<Item = S>) {
    out.push('[');
    for (i, it) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_str(out, it.as_ref());
    }
    out.push(']');
}

pub async fn detected_fields(
    State(state): State<SharedState>,
    req: ApiRequest,
) -> ApiResult<Response> {
    let (fields, limit) = fields_of_request(state, req).await?;
    let mut out = String::from("{\"fields\":[");
    for (i, (name, f)) in fields.0.iter().take(limit).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"label\":");
        json_str(&mut out, name);
        let _ = write!(
            out,
            ",\"type\":\"{}\",\"cardinality\":{},\"parsers\":",
            f.ty.unwrap_or("string"),
            f.values.len()
        );
        match &f.parsers {
            None => out.push_str("null"),
            Some(ps) => json_str_array(&mut out, ps),
        }
        if let Some(path) = &f.json_path {
            out.push_str(",\"jsonPath\":");
            json_str_array(&mut out, path);
        }
        out.push('}');
    }
    let _ = writeln!(out, "],\"limit\":{limit}}}");
    Ok(json_response(out))
}

pub async fn detected_field_values(
    State(state): State<SharedState>,
    Path(name): Path<String>,
    req: ApiRequest,
) -> ApiResult<Response> {
    let (fields, limit) = fields_of_request(state, req).await?;
    let mut out = String::from("{\"values\":[");
    if let Some(f) = fields.0.get(&name) {
        for (i, v) in f.values.iter().take(limit).enumerate() {
            if i > 0 {
                out.push(',');
            }
            json_str(&mut out, v);
        }
    }
    let _ = writeln!(out, "],\"limit\":{limit}}}");
    Ok(json_response(out))
}

/// UUIDs and numbers (other than the 0/1 of booleans) identify rather than
/// describe: a label whose values are all such is no useful dimension.
fn looks_like_id(v: &str) -> bool {
    let b = v.as_bytes();
    let uuid = b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        });
    let number = !v.is_empty() && v != "0" && v != "1" && v.parse::<f64>().is_ok();
    uuid || number
}

/// Label names and cardinalities Drilldown offers as tabs, sorted by name.
pub fn detect_labels(series: &[LabelSet]) -> Vec<(String, usize)> {
    let mut values: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for s in series {
        for (k, v) in s.iter() {
            if k.starts_with("__") {
                continue;
            }
            values.entry(k).or_default().insert(v);
        }
    }
    values
        .into_iter()
        .filter(|(k, vs)| {
            STATIC_LABELS.contains(k) || (vs.len() > 1 && !vs.iter().all(|v| looks_like_id(v)))
        })
        .map(|(k, vs)| (k.to_string(), vs.len()))
        .collect()
}

pub async fn detected_labels(
    State(state): State<SharedState>,
    req: ApiRequest,
) -> ApiResult<Response> {
    let ApiRequest {
        params: p,
        tenant,
        headers: _,
    } = req;
    let (start, end) = time_range(&p)?;
    crate::read::check_length(&state, &tenant, start, end)?;
    let sel = selector_param(&p, "query")?;
    let selectors: Vec<_> = sel.into_iter().collect();
    let st = state.clone();
    let tn = tenant.clone();
    let series = crate::read::run_read(&state, &tenant, move || {
        Ok(st.store.series(&tn, &selectors, start, end)?)
    })
    .await?;
    let mut out = String::from("{\"detectedLabels\":[");
    for (i, (name, card)) in detect_labels(&series).iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"label\":");
        json_str(&mut out, name);
        let _ = write!(out, ",\"cardinality\":{card}}}");
    }
    out.push_str("]}\n");
    Ok(json_response(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(pairs: &[(&str, &str)]) -> LabelSet {
        LabelSet::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn detected_labels_rules() {
        let series = vec![
            ls(&[
                ("app", "a"),
                ("env", "prod"),
                ("pod", "p1"),
                ("req", "12"),
                ("uid", "123e4567-e89b-12d3-a456-426614174000"),
            ]),
            ls(&[
                ("app", "b"),
                ("env", "prod"),
                ("pod", "p1"),
                ("req", "13"),
                ("uid", "223e4567-e89b-12d3-a456-426614174000"),
                ("__stream_shard__", "1"),
            ]),
            ls(&[("app", "c"), ("env", "prod"), ("pod", "p1"), ("req", "14")]),
        ];
        let got = detect_labels(&series);
        // env has one value, req and uid are IDs; pod is always kept.
        assert_eq!(got, vec![("app".to_string(), 3), ("pod".to_string(), 1)]);
    }

    #[test]
    fn ids() {
        assert!(looks_like_id("42"));
        assert!(!looks_like_id("1"));
        assert!(!looks_like_id("api"));
        assert!(looks_like_id("123e4567-e89b-12d3-a456-426614174000"));
    }
}
