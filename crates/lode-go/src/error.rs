//! Errors of the Go runtime. Each prints the message Go (or the Go library
//! Loki calls) prints, because Loki puts those messages in its answers.

pub use crate::bytes::BytesError;
pub use crate::duration::DurationError;
pub use crate::strconv::UnquoteError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Duration(#[from] DurationError),
    #[error(transparent)]
    Bytes(#[from] BytesError),
    #[error(transparent)]
    Unquote(#[from] UnquoteError),
    /// `regexp.Compile`'s error (`error parsing regexp: ...`).
    #[error("{0}")]
    Regex(String),
    /// A `text/template` parse error (`template: line:1: ...`).
    #[error("{0}")]
    Template(String),
}
