//! Label and annotation templates of alerting rules, with Prometheus'
//! data: `.Labels` (`$labels`), `.Value` (`$value`), `.ExternalLabels`
//! (`$externalLabels`) and `.ExternalURL` (`$externalURL`).

use lode_go::template::{Field, Template};

/// What a template of one alert sees.
pub struct AlertData<'a> {
    pub labels: &'a [(String, String)],
    pub value: f64,
    pub external_labels: &'a [(String, String)],
    pub external_url: &'a str,
}

/// Renders `t`. A template that fails renders as Prometheus shows it, the
/// error in place of the value, so the alert still goes out.
pub fn expand(t: &Template, d: &AlertData<'_>) -> String {
    let mut out = String::new();
    let fields = [
        ("Labels", Field::Map(d.labels)),
        ("ExternalLabels", Field::Map(d.external_labels)),
        ("ExternalURL", Field::Str(d.external_url)),
        ("Value", Field::Float(d.value)),
    ];
    match t.render_fields(&fields, &mut out) {
        Ok(()) => out,
        Err(e) => format!("<error expanding template: {e}>"),
    }
}
