//! The rules and alerts in Prometheus' HTTP API shapes
//! (`/prometheus/api/v1/rules`, `/prometheus/api/v1/alerts`), which
//! Grafana's alert list reads, and Loki's YAML rule listings.

use crate::alerts::AlertState;
use crate::manager::{rfc3339, Ruler};
use crate::rules::{RuleGroupDesc, RuleKind};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Which rules `/rules` lists (`type=alert|record`, `rule_group[]`,
/// `file[]`, `rule_name[]`).
#[derive(Debug, Default, Clone)]
pub struct RuleFilter {
    pub kind: Option<String>,
    pub groups: Vec<String>,
    pub files: Vec<String>,
    pub names: Vec<String>,
}

use lode_go::strconv::format_float_e as value_str;

fn pairs(p: &[(String, String)]) -> Value {
    Value::Object(
        p.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

fn alert_json(a: &crate::alerts::Alert) -> Value {
    json!({
        "labels": pairs(&a.labels),
        "annotations": pairs(&a.annotations),
        "state": a.state.as_str(),
        "activeAt": rfc3339(a.active_at),
        "value": value_str(a.value),
    })
}

impl Ruler {
    /// `data` of `/prometheus/api/v1/rules` for a tenant.
    pub fn rules_json(&self, tenant: &str, f: &RuleFilter) -> Value {
        let groups = self.inner.group_list();
        let mut out = Vec::new();
        for g in groups {
            let g = g.lock();
            let gr = &g.group;
            if gr.tenant != tenant
                || (!f.groups.is_empty() && !f.groups.contains(&gr.name))
                || (!f.files.is_empty() && !f.files.contains(&gr.namespace))
            {
                continue;
            }
            let mut rules = Vec::new();
            for r in &g.rules {
                if !f.names.is_empty() && !f.names.iter().any(|n| n == r.rule.name()) {
                    continue;
                }
                let desc = &r.rule.desc;
                let health = match (&r.health.last_evaluation, &r.health.last_error) {
                    (None, _) => "unknown",
                    (Some(_), Some(_)) => "err",
                    (Some(_), None) => "ok",
                };
                let last_eval = r
                    .health
                    .last_evaluation
                    .map_or_else(|| "0001-01-01T00:00:00Z".to_string(), rfc3339);
                let mut o = Map::new();
                match &r.rule.kind {
                    RuleKind::Alert {
                        name,
                        for_ns,
                        keep_firing_for_ns,
                        ..
                    } => {
                        if f.kind.as_deref() == Some("record") {
                            continue;
                        }
                        let alerts: Vec<Value> = r
                            .alerts
                            .alerts
                            .values()
                            .filter(|a| a.state != AlertState::Inactive)
                            .map(alert_json)
                            .collect();
                        o.insert("state".into(), json!(r.alerts.state().as_str()));
                        o.insert("name".into(), json!(name));
                        o.insert("query".into(), json!(r.rule.expr_src));
                        o.insert("duration".into(), json!(*for_ns as f64 / 1e9));
                        o.insert(
                            "keepFiringFor".into(),
                            json!(*keep_firing_for_ns as f64 / 1e9),
                        );
                        o.insert("labels".into(), json!(desc.labels));
                        o.insert("annotations".into(), json!(desc.annotations));
                        o.insert("alerts".into(), Value::Array(alerts));
                        o.insert("type".into(), json!("alerting"));
                    }
                    RuleKind::Record { name } => {
                        if f.kind.as_deref() == Some("alert") {
                            continue;
                        }
                        o.insert("name".into(), json!(name));
                        o.insert("query".into(), json!(r.rule.expr_src));
                        o.insert("labels".into(), json!(desc.labels));
                        o.insert("type".into(), json!("recording"));
                    }
                }
                o.insert("health".into(), json!(health));
                o.insert(
                    "lastError".into(),
                    json!(r.health.last_error.clone().unwrap_or_default()),
                );
                o.insert("evaluationTime".into(), json!(r.health.evaluation_seconds));
                o.insert("lastEvaluation".into(), json!(last_eval));
                rules.push(Value::Object(o));
            }
            if rules.is_empty() && (!f.names.is_empty() || f.kind.is_some()) {
                continue;
            }
            out.push(json!({
                "name": gr.name,
                "file": gr.namespace,
                "rules": rules,
                "interval": gr.interval_ns as f64 / 1e9,
                "limit": gr.limit,
                "evaluationTime": g.evaluation_seconds,
                "lastEvaluation": g.last_evaluation.map_or_else(|| "0001-01-01T00:00:00Z".to_string(), rfc3339),
            }));
        }
        json!({ "groups": out })
    }

    /// `data` of `/prometheus/api/v1/alerts`: every pending or firing alert.
    pub fn alerts_json(&self, tenant: &str) -> Value {
        let groups = self.inner.group_list();
        let mut alerts = Vec::new();
        for g in groups {
            let g = g.lock();
            if g.group.tenant != tenant {
                continue;
            }
            for r in &g.rules {
                alerts.extend(
                    r.alerts
                        .alerts
                        .values()
                        .filter(|a| a.state != AlertState::Inactive)
                        .map(alert_json),
                );
            }
        }
        json!({ "alerts": alerts })
    }
}

/// Loki's YAML listing: namespace → groups.
pub fn namespaces_yaml(m: &BTreeMap<String, Vec<RuleGroupDesc>>) -> String {
    serde_yaml_ng::to_string(m).unwrap_or_default()
}
