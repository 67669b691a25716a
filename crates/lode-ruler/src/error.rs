use thiserror::Error;

/// What the ruler's operations can fail with. The HTTP layer maps these to
/// Loki's status codes.
#[derive(Debug, Error)]
pub enum RulerError {
    /// A rule group or file that does not validate (400).
    #[error("{0}")]
    Invalid(String),
    /// A namespace or group that is not there (404).
    #[error("{0}")]
    NotFound(String),
    /// The rules directory could not be read or written (500).
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl RulerError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> RulerError {
        let context = context.into();
        move |source| RulerError::Io { context, source }
    }
}

pub type Result<T> = std::result::Result<T, RulerError>;
