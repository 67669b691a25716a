//! The rule-group file: Prometheus' `groups:` YAML with LogQL expressions,
//! as Loki reads it. `RuleGroupDesc` is the file as written (and as the
//! API returns it); `Group` is a validated group ready to evaluate.

use lode_go::template::Template;
use lode_logql::ast::MetricExpr;
use lode_logql::Expr;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// A rule file: `groups: [...]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    pub groups: Vec<RuleGroupDesc>,
}

/// One group as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleGroupDesc {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limit: usize,
    #[serde(default)]
    pub rules: Vec<RuleDesc>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// One rule as written: `alert` or `record`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDesc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    pub expr: String,
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_firing_for: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A rule file or group that does not validate, with where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub file: String,
    pub group: Option<String>,
    /// The rule's name, or `#N` (1-based) when it has none.
    pub rule: Option<String>,
    pub msg: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(g) = &self.group {
            write!(f, ": group {g:?}")?;
        }
        if let Some(r) = &self.rule {
            write!(f, ": rule {r}")?;
        }
        write!(f, ": {}", self.msg)
    }
}

/// What a rule does with its result.
#[derive(Debug, Clone)]
pub enum RuleKind {
    Alert {
        name: String,
        for_ns: i64,
        keep_firing_for_ns: i64,
        annotations: Vec<(String, Template)>,
    },
    Record {
        name: String,
    },
}

/// A rule's label value: alerting rules' are templates, recording rules'
/// are taken as written.
#[derive(Debug, Clone)]
pub enum LabelValue {
    Plain(String),
    Template(Template),
}

/// A validated rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub kind: RuleKind,
    pub expr_src: String,
    pub expr: MetricExpr,
    pub labels: Vec<(String, LabelValue)>,
    pub desc: RuleDesc,
}

impl Rule {
    pub fn name(&self) -> &str {
        match &self.kind {
            RuleKind::Alert { name, .. } | RuleKind::Record { name } => name,
        }
    }
}

/// A validated group of one tenant's namespace.
#[derive(Debug, Clone)]
pub struct Group {
    pub tenant: String,
    pub namespace: String,
    pub name: String,
    pub interval_ns: i64,
    pub limit: usize,
    pub rules: Vec<Arc<Rule>>,
    pub desc: RuleGroupDesc,
}

impl Group {
    /// Identifies the group across reloads.
    pub fn key(&self) -> (String, String, String) {
        (
            self.tenant.clone(),
            self.namespace.clone(),
            self.name.clone(),
        )
    }
}

/// Parses a rule file; `file` names it in errors. Every group must
/// validate, or the file is refused as a whole (Prometheus' rule: a typo
/// must not silently drop the file's other alerts; the last good version
/// keeps evaluating).
pub fn parse_file(
    file: &str,
    tenant: &str,
    namespace: &str,
    text: &str,
    default_interval_ns: i64,
) -> Result<Vec<Group>, Vec<RuleError>> {
    let parsed: RuleFile = serde_yaml_ng::from_str(text).map_err(|e| {
        vec![RuleError {
            file: file.to_string(),
            group: None,
            rule: None,
            msg: format!("invalid YAML: {e}"),
        }]
    })?;
    let mut errors = Vec::new();
    let mut groups = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for g in parsed.groups {
        if !seen.insert(g.name.clone()) {
            errors.push(RuleError {
                file: file.to_string(),
                group: Some(g.name.clone()),
                rule: None,
                msg: "repeated in the same file: group names must be unique".into(),
            });
            continue;
        }
        match compile_group(file, tenant, namespace, g, default_interval_ns) {
            Ok(g) => groups.push(g),
            Err(mut e) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(groups)
    } else {
        Err(errors)
    }
}

fn duration(s: &Option<String>, what: &str) -> Result<i64, String> {
    match s {
        None => Ok(0),
        Some(s) => lode_go::model::parse_duration(s)
            .ok_or_else(|| format!("invalid {what} {s:?}: not a duration such as 1m or 1h30m"))
            .and_then(|ns| {
                if ns < 0 {
                    Err(format!("{what} must not be negative"))
                } else {
                    Ok(ns)
                }
            }),
    }
}

fn valid_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Validates one group.
pub fn compile_group(
    file: &str,
    tenant: &str,
    namespace: &str,
    g: RuleGroupDesc,
    default_interval_ns: i64,
) -> Result<Group, Vec<RuleError>> {
    let mut errors = Vec::new();
    let err = |rule: Option<String>, msg: String| RuleError {
        file: file.to_string(),
        group: Some(g.name.clone()),
        rule,
        msg,
    };
    if g.name.trim().is_empty() {
        errors.push(RuleError {
            file: file.to_string(),
            group: None,
            rule: None,
            msg: "a group needs a name".into(),
        });
    }
    let interval_ns = match duration(&g.interval, "interval") {
        Ok(0) => default_interval_ns,
        Ok(ns) if ns < 1_000_000_000 => {
            errors.push(err(None, "interval must be at least 1s".into()));
            default_interval_ns
        }
        Ok(ns) => ns,
        Err(e) => {
            errors.push(err(None, e));
            default_interval_ns
        }
    };
    if g.rules.is_empty() {
        errors.push(err(None, "a group needs at least one rule".into()));
    }
    let mut rules = Vec::new();
    for (i, r) in g.rules.iter().enumerate() {
        let id = r
            .alert
            .clone()
            .or_else(|| r.record.clone())
            .filter(|n| !n.is_empty())
            .map_or_else(|| format!("#{}", i + 1), |n| format!("{n:?}"));
        match compile_rule(r) {
            Ok(rule) => rules.push(Arc::new(rule)),
            Err(msgs) => errors.extend(msgs.into_iter().map(|m| err(Some(id.clone()), m))),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Group {
        tenant: tenant.to_string(),
        namespace: namespace.to_string(),
        name: g.name.clone(),
        interval_ns,
        limit: g.limit,
        rules,
        desc: g,
    })
}

fn compile_rule(r: &RuleDesc) -> Result<Rule, Vec<String>> {
    let mut errs = Vec::new();
    let expr = match lode_logql::parse(&r.expr) {
        Ok(Expr::Metric(m)) => Some(m),
        Ok(Expr::Log(_)) => {
            errs.push(
                "expr is a log query; a rule needs a metric query, such as count_over_time({...}[5m]) > 0"
                    .to_string(),
            );
            None
        }
        Ok(Expr::Variants(_)) => {
            errs.push("expr: variants queries cannot be rules".to_string());
            None
        }
        Err(e) => {
            errs.push(format!("could not parse expression: {e}"));
            None
        }
    };
    let for_ns = duration(&r.for_, "for").unwrap_or_else(|e| {
        errs.push(e);
        0
    });
    let keep_ns = duration(&r.keep_firing_for, "keep_firing_for").unwrap_or_else(|e| {
        errs.push(e);
        0
    });
    for k in r.labels.keys().chain(r.annotations.keys()) {
        if !lode_go::model::is_valid_label_name(k) {
            errs.push(format!("invalid label name {k:?}"));
        }
    }
    let template = |src: &str, name: &'static str, errs: &mut Vec<String>| {
        Template::parse(src, name)
            .map_err(|e| errs.push(format!("invalid template {src:?}: {e}")))
            .ok()
    };
    let kind = match (&r.alert, &r.record) {
        (Some(_), Some(_)) => {
            errs.push("a rule is either alert or record, not both".into());
            None
        }
        (None, None) => {
            errs.push("a rule needs alert or record".into());
            None
        }
        (Some(name), None) => {
            if name.trim().is_empty() {
                errs.push("alert name must not be empty".into());
            }
            let mut annotations = Vec::new();
            for (k, v) in &r.annotations {
                if let Some(t) = template(&prefixed(v), "__alert_annotation", &mut errs) {
                    annotations.push((k.clone(), t));
                }
            }
            Some(RuleKind::Alert {
                name: name.clone(),
                for_ns,
                keep_firing_for_ns: keep_ns,
                annotations,
            })
        }
        (None, Some(name)) => {
            if !valid_metric_name(name) {
                errs.push(format!(
                    "invalid recording rule name {name:?}: not a metric name"
                ));
            }
            if r.for_.is_some() || r.keep_firing_for.is_some() {
                errs.push("for and keep_firing_for are for alerting rules".into());
            }
            if !r.annotations.is_empty() {
                errs.push("annotations are for alerting rules".into());
            }
            Some(RuleKind::Record { name: name.clone() })
        }
    };
    let mut labels = Vec::new();
    for (k, v) in &r.labels {
        if k == "__name__" || k == "alertname" {
            errs.push(format!("label {k:?} cannot be set by a rule"));
        }
        if r.alert.is_some() {
            if let Some(t) = template(&prefixed(v), "__alert_label", &mut errs) {
                labels.push((k.clone(), LabelValue::Template(t)));
            }
        } else {
            labels.push((k.clone(), LabelValue::Plain(v.clone())));
        }
    }
    match (kind, expr) {
        (Some(kind), Some(expr)) if errs.is_empty() => Ok(Rule {
            kind,
            expr_src: r.expr.clone(),
            expr,
            labels,
            desc: r.clone(),
        }),
        _ => Err(errs),
    }
}

/// Prometheus' alert-template preamble: the variables every label and
/// annotation template can use.
pub(crate) const PREAMBLE: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

fn prefixed(src: &str) -> String {
    format!("{PREAMBLE}{src}")
}

#[cfg(test)]
mod tests;
