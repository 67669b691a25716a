//! HTTP handlers, one file per API area.

pub mod delete;
pub mod detected;
pub mod drilldown;
pub mod feed;
pub mod meta;
pub mod ops;
pub mod otlp;
pub mod patterns;
pub mod push;
pub mod query;
pub mod rules;
pub mod tail;
pub mod ui;
pub mod volume;
