//! The crate's single error type. Display texts follow Loki's where Loki's
//! wording is known, because shippers log the first line of the body.

use lode_go::strconv::quote as go_quote;

/// Everything that can go wrong between raw request bytes and a validated
/// [`crate::PushRequest`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    #[error("Content-Encoding {} not supported", go_quote(.0))]
    UnsupportedEncoding(String),
    #[error("request body too large: decompressed size exceeds the limit of {limit} bytes")]
    TooLarge { limit: usize },
    /// Other pushes hold the decompression budget right now.
    #[error("server busy: pushes being decoded hold the decompression budget of {limit} bytes; retry later")]
    Busy { limit: usize },
    /// Text of Go's snappy package (`snappy: corrupt input`, ...).
    #[error("{0}")]
    Snappy(&'static str),
    #[error("{encoding}: {reason}")]
    Decompress {
        encoding: &'static str,
        reason: String,
    },
    #[error("proto: {0}")]
    Protobuf(String),
    #[error("{0}")]
    Json(String),
    #[error("error parsing labels '{labels}' with error: {reason}")]
    LabelParse { labels: String, reason: String },
    #[error("error at least one label pair is required per stream")]
    MissingLabels,
    #[error("stream '{stream}' has duplicate label name: '{name}'")]
    DuplicateLabel { stream: String, name: String },
    #[error("{0}")]
    Timestamp(String),
    #[error("no org id")]
    NoOrgId,
    #[error("tenant ID is too long: max 150 characters")]
    TenantTooLong,
    #[error("tenant ID is '.' or '..'")]
    TenantUnsafe,
    #[error("tenant ID '{tenant}' contains unsupported character '{ch}'")]
    TenantUnsupportedChar { tenant: String, ch: char },
}

impl ProtoError {
    /// HTTP status Loki answers with. Never 5xx: a malformed request is
    /// permanent, and 5xx would make Alloy retry it for minutes.
    pub fn status(&self) -> u16 {
        match self {
            Self::TooLarge { .. } => 413,
            Self::Busy { .. } => 503,
            Self::NoOrgId => 401,
            _ => 400,
        }
    }
}
