//! Lode's push protocol: Loki-compatible request decoding (protobuf+snappy,
//! v1 JSON, legacy JSON), stream label parsing and validation, tenant ids,
//! and Loki 3's ingest-time enrichment (`service_name`, `detected_level`).
//!
//! Pure and synchronous: no I/O; of Lode's crates it uses only `lode-go`.
// Input flows through every path of this crate: a failed unwrap is a
// panic a client can trigger. Tests may unwrap.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod decode;
pub mod enrich;
mod error;
mod labels;
mod model;
pub mod otlp;
mod tenant;
pub mod wire;

pub use decode::budget::{
    set_push_budget, PushBudget, Reservation, DEFAULT_PUSH_BUDGET_BYTES, PUSH_BUDGET,
};
pub use decode::{
    decode_body, decode_body_with, decode_json, decode_legacy_json, decode_protobuf,
    decode_protobuf_with, decompress, inflate, DecodeOptions, Inflate, Protocol,
    DEFAULT_MAX_DECOMPRESSED_BYTES,
};
pub use enrich::{detect_level, enrich};
pub use error::ProtoError;
pub use labels::{canonicalize, is_valid_label_name, parse_labels, render_labels};
pub use model::{Entry, PushRequest, PushStream};
pub use tenant::{validate_tenant, MAX_TENANT_LEN};
