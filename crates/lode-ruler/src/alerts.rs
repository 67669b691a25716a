//! One alerting rule's alerts, with Prometheus' state machine: a result
//! element starts a *pending* alert, which *fires* once it has been there
//! for `for`; when it leaves the result the alert is *resolved* (after
//! `keep_firing_for`), and kept 15 minutes so the resolution is re-sent.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How long a resolved alert is kept (and re-sent), as Prometheus does.
pub const RESOLVED_RETENTION_NS: i64 = 15 * 60 * 1_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Inactive,
    Pending,
    Firing,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// Sorted label pairs (they include `alertname`).
pub type Labels = Vec<(String, String)>;

#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub labels: Labels,
    pub annotations: Labels,
    pub state: AlertState,
    pub value: f64,
    /// When it entered the result (ns). Kept across restarts.
    pub active_at: i64,
    pub fired_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub last_sent_at: Option<i64>,
    /// `endsAt` sent for a firing alert: it expires in Alertmanager unless
    /// re-sent before then.
    pub valid_until: i64,
    pub keep_firing_since: Option<i64>,
}

/// One result element of an evaluation, its labels and annotations
/// already expanded.
pub struct Element {
    pub labels: Labels,
    pub annotations: Labels,
    pub value: f64,
}

/// The alerts of one rule, by labels.
#[derive(Debug, Default, Clone)]
pub struct AlertSet {
    pub alerts: BTreeMap<Labels, Alert>,
}

impl AlertSet {
    /// Applies the evaluation at `ts`; `Ok(true)` when an alert appeared,
    /// left or changed state (what the saved state records). With
    /// `limit > 0` and more alerts than that, every alert is dropped and
    /// the rule fails, as in Prometheus.
    pub fn update(
        &mut self,
        ts: i64,
        for_ns: i64,
        keep_firing_for_ns: i64,
        limit: usize,
        elements: Vec<Element>,
    ) -> Result<bool, String> {
        let mut changed = false;
        let mut present = std::collections::HashSet::with_capacity(elements.len());
        for e in elements {
            present.insert(e.labels.clone());
            match self.alerts.get_mut(&e.labels) {
                Some(a) if a.state != AlertState::Inactive => {
                    a.value = e.value;
                    a.annotations = e.annotations;
                }
                _ => {
                    changed = true;
                    self.alerts.insert(
                        e.labels.clone(),
                        Alert {
                            labels: e.labels,
                            annotations: e.annotations,
                            state: AlertState::Pending,
                            value: e.value,
                            active_at: ts,
                            fired_at: None,
                            resolved_at: None,
                            last_sent_at: None,
                            valid_until: 0,
                            keep_firing_since: None,
                        },
                    );
                }
            }
        }
        let mut remove = Vec::new();
        for (k, a) in self.alerts.iter_mut() {
            if !present.contains(k) {
                if keep_firing_for_ns > 0 && a.state == AlertState::Firing {
                    let since = *a.keep_firing_since.get_or_insert(ts);
                    if ts.saturating_sub(since) < keep_firing_for_ns {
                        continue;
                    }
                }
                let expired = a
                    .resolved_at
                    .is_some_and(|r| ts.saturating_sub(r) > RESOLVED_RETENTION_NS);
                if a.state == AlertState::Pending || expired {
                    remove.push(k.clone());
                } else if a.state != AlertState::Inactive {
                    a.state = AlertState::Inactive;
                    a.resolved_at = Some(ts);
                    changed = true;
                }
                continue;
            }
            a.keep_firing_since = None;
            if a.state == AlertState::Pending && ts.saturating_sub(a.active_at) >= for_ns {
                a.state = AlertState::Firing;
                a.fired_at = Some(ts);
                changed = true;
            }
        }
        changed |= !remove.is_empty();
        for k in remove {
            self.alerts.remove(&k);
        }
        let active = self
            .alerts
            .values()
            .filter(|a| a.state != AlertState::Inactive)
            .count();
        if limit > 0 && active > limit {
            self.alerts.clear();
            return Err(format!("exceeded limit of {limit} with {active} alerts"));
        }
        Ok(changed)
    }

    /// The alerts to send to Alertmanager now, marked as sent: firing ones
    /// every `resend_delay`, a resolution once (and again until it is
    /// forgotten, if it was never sent).
    pub fn due(&mut self, ts: i64, resend_delay_ns: i64, interval_ns: i64) -> Vec<Alert> {
        let mut out = Vec::new();
        for a in self.alerts.values_mut() {
            let needs = match a.state {
                AlertState::Pending => false,
                _ if a
                    .resolved_at
                    .is_some_and(|r| a.last_sent_at.is_none_or(|s| r > s)) =>
                {
                    true
                }
                AlertState::Inactive => false,
                AlertState::Firing => a
                    .last_sent_at
                    .is_none_or(|s| s.saturating_add(resend_delay_ns) <= ts),
            };
            if !needs {
                continue;
            }
            a.last_sent_at = Some(ts);
            a.valid_until = ts.saturating_add(resend_delay_ns.max(interval_ns).saturating_mul(4));
            out.push(a.clone());
        }
        out
    }

    /// The rule's state: its most advanced alert's.
    pub fn state(&self) -> AlertState {
        self.alerts
            .values()
            .map(|a| a.state)
            .max()
            .unwrap_or(AlertState::Inactive)
    }
}

#[cfg(test)]
mod tests;
