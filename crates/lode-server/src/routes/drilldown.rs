//! `GET /loki/api/v1/drilldown-limits`: the tenant limits Logs Drilldown
//! reads (time picker bounds, volume, patterns). Answered for the default
//! tenant when auth is off (Loki itself answers 401 there; Drilldown takes
//! both).

use crate::error::ApiResult;
use crate::routes::ops::LOKI_VERSION;
use crate::routes::query::json_response;
use crate::state::{tenant, SharedState};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{json, Map, Value};

/// Limits Loki exposes to Drilldown (YAML names).
const ALLOWED: [&str; 18] = [
    "discover_log_levels",
    "discover_service_name",
    "log_level_fields",
    "max_entries_limit_per_query",
    "max_line_size_truncate",
    "max_query_bytes_read",
    "max_query_length",
    "max_query_lookback",
    "max_query_range",
    "max_query_series",
    "metric_aggregation_enabled",
    "otlp_config",
    "pattern_persistence_enabled",
    "query_timeout",
    "retention_period",
    "retention_stream",
    "volume_enabled",
    "volume_max_series",
];

/// Values of limits Lode has no setting for: fixed behaviour, reported as
/// Loki's defaults describe it.
fn fixed() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("discover_log_levels".into(), json!(true));
    m.insert(
        "discover_service_name".into(),
        json!(lode_proto::enrich::SERVICE_NAME_SOURCES),
    );
    m.insert(
        "log_level_fields".into(),
        json!(lode_proto::enrich::LEVEL_FIELDS),
    );
    m.insert("max_query_bytes_read".into(), json!("0B"));
    m.insert("max_query_range".into(), json!("0s"));
    m.insert("metric_aggregation_enabled".into(), json!(false));
    m.insert(
        "otlp_config".into(),
        json!({"resource_attributes": {"attributes_config": [{
            "action": "index_label",
            "attributes": lode_proto::otlp::DEFAULT_INDEX_ATTRIBUTES,
        }]}}),
    );
    m.insert("pattern_persistence_enabled".into(), json!(false));
    m.insert("volume_enabled".into(), json!(true));
    m.insert("volume_max_series".into(), json!(1000));
    m
}

/// The filtered limits object.
pub fn limits_object(configured: &Value) -> Map<String, Value> {
    let mut out = fixed();
    if let Some(obj) = configured.as_object() {
        for (k, v) in obj {
            if ALLOWED.contains(&k.as_str()) {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out.retain(|k, _| ALLOWED.contains(&k.as_str()));
    out
}

pub async fn drilldown_limits(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    tenant(&state, &headers)?;
    let configured = serde_json::to_value(&state.config.limits_config).unwrap_or(Value::Null);
    let body = json!({
        "limits": limits_object(&configured),
        "pattern_ingester_enabled": true,
        "version": LOKI_VERSION,
    });
    Ok(json_response(format!("{body}\n")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_to_the_allow_list() {
        let cfg =
            json!({"max_query_length": "30d1h", "ingestion_rate_mb": 4, "retention_period": "0s"});
        let m = limits_object(&cfg);
        assert_eq!(m["max_query_length"], "30d1h");
        assert!(!m.contains_key("ingestion_rate_mb"));
        assert_eq!(m["volume_enabled"], true);
        assert!(m.keys().all(|k| ALLOWED.contains(&k.as_str())));
    }
}
