//! HTTP handlers, one file per API area.

pub mod delete;
pub mod detected;
pub mod drilldown;
pub mod field_detect;
pub mod meta;
pub mod ops;
pub mod otlp;
pub mod pattern_miner;
pub mod patterns;
pub mod push;
pub mod query;
pub mod tail;
pub mod volume;
