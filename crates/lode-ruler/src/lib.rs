//! Lode's ruler: Prometheus-style rule groups whose expressions are LogQL
//! metric queries.
//!
//! - `rules.rs`: the rule-group file format, validated into `Group`s.
//! - `store.rs`: the rules directory (`<dir>/<tenant>/<namespace>`), read
//!   by the poller and written by the API.
//! - `alerts.rs`: one alerting rule's alerts: pending → firing → resolved.
//! - `templates.rs`: `$labels`, `$value`, `$externalLabels` in labels and
//!   annotations.
//! - `manager.rs`: the schedule: every group at its interval, evaluated at
//!   its evaluation timestamp through an `Evaluator` the server provides.
//! - `state.rs`: alert state kept across restarts.
//! - `notifier.rs`: Alertmanager's v2 API; `remote_write.rs`: Prometheus
//!   remote write 1.0.
//! - `api.rs`: the Prometheus-shaped JSON of `/prometheus/api/v1/rules` and
//!   `/alerts`.
// Rule files and API bodies are input: no unwrap outside tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod alerts;
pub mod api;
mod error;
pub mod manager;
pub mod metrics;
pub mod notifier;
mod queue;
pub mod remote_write;
pub mod rules;
pub mod state;
pub mod store;
pub mod templates;

pub use error::{Result, RulerError};
pub use manager::{Evaluator, Ruler, RulerOptions};
pub use rules::{Group, RuleError};
