//! The pieces of the `lode-bench` load tool, also used by the criterion
//! benches in `benches/`: the deterministic homelab data set, a minimal
//! HTTP client, `/proc` readers, the push and query drivers and the report.

pub mod gen;
pub mod hostile;
pub mod http;
pub mod month;
pub mod pipeline;
pub mod procfs;
pub mod push;
pub mod queries;
pub mod report;
pub mod rng;
pub mod sizes;
