//! HTTP handlers, one file per API area.

pub mod delete;
pub mod meta;
pub mod ops;
pub mod push;
pub mod query;
pub mod volume;
