//! Bucket errors: what went wrong talking to the object store, in the two
//! kinds callers act on differently.

#[derive(Debug, thiserror::Error)]
pub enum BucketError {
    /// The object does not exist.
    #[error("object {0} not found in the bucket")]
    NotFound(String),
    /// A conditional write lost: someone else changed the object first.
    #[error("object {0} was changed by another writer")]
    Conflict(String),
    /// The store could not be reached, timed out or refused the request
    /// (retrying later may succeed).
    #[error("object storage unavailable: {0}")]
    Unavailable(String),
    /// The configuration cannot work (a missing bucket name, a bad URL).
    #[error("object storage configuration: {0}")]
    Config(String),
    /// Reading a local file to upload failed.
    #[error("reading {path}: {source}")]
    Local {
        path: String,
        source: std::io::Error,
    },
}

impl BucketError {
    pub(crate) fn from_store(key: &str, e: object_store::Error) -> BucketError {
        match e {
            object_store::Error::NotFound { .. } => BucketError::NotFound(key.to_string()),
            object_store::Error::Precondition { .. }
            | object_store::Error::AlreadyExists { .. } => BucketError::Conflict(key.to_string()),
            e => BucketError::Unavailable(format!("{key}: {e}")),
        }
    }
}

pub type Result<T, E = BucketError> = std::result::Result<T, E>;
