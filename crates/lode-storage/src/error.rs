//! Storage errors. The HTTP layer maps them to status codes in one place.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// The disk is full: the write was not acknowledged; retry later (5xx).
    #[error("disk full: {0}")]
    DiskFull(String),
    /// A file on disk is damaged.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// A client error from validation (400), e.g. bad labels.
    #[error("{0}")]
    Invalid(String),
    /// Some of a push was refused (400); the rest was stored.
    #[error("{0}")]
    PartialReject(String),
    /// A rate or stream limit (429).
    #[error("{0}")]
    RateLimited(String),
    /// A query limit (400).
    #[error("{0}")]
    QueryLimit(String),
    /// A LogQL error (400 unless noted by the variant).
    #[error(transparent)]
    Logql(#[from] lode_logql::Error),
    /// The store is shutting down or its writer died (503).
    #[error("storage is unavailable: {0}")]
    Unavailable(String),
    /// The query ran past its deadline or was abandoned by its caller.
    #[error("query cancelled: it ran past query_timeout or its client went away")]
    Cancelled,
    /// Another process holds the data directory's lock.
    #[error("data directory {dir} is in use by another lode process (it holds the lock on {dir}/LOCK): stop that process, or give this one another storage.data_dir / --data-dir")]
    Locked { dir: String },
    /// Start-up found something it will not guess about; nothing was changed.
    #[error("{0}")]
    Refused(String),
    /// The object store failed (unreachable, refusing, or the object is gone).
    #[error(transparent)]
    Bucket(#[from] lode_bucket::BucketError),
    /// An unsupported on-disk format version.
    #[error("unsupported on-disk format version {found} (this build reads {supported})")]
    Version { found: u32, supported: u32 },
}

impl StorageError {
    /// Wraps an I/O error, telling ENOSPC apart so callers answer 5xx and
    /// clients retry.
    pub fn from_io(context: &str, e: io::Error) -> StorageError {
        if e.raw_os_error() == Some(28) || e.kind() == io::ErrorKind::StorageFull {
            StorageError::DiskFull(format!("{context}: {e}"))
        } else {
            StorageError::Io(io::Error::new(e.kind(), format!("{context}: {e}")))
        }
    }
}

impl From<lode_logql::context::Interrupt> for StorageError {
    fn from(i: lode_logql::context::Interrupt) -> StorageError {
        use lode_logql::context::Interrupt;
        match i {
            Interrupt::Cancelled => StorageError::Cancelled,
            Interrupt::TooLarge { .. } => StorageError::QueryLimit(i.to_string()),
            Interrupt::Busy { .. } => StorageError::Unavailable(i.to_string()),
        }
    }
}

impl StorageError {
    /// Names the damaged file in a `Corrupt` error found while parsing it.
    pub fn at(self, path: &std::path::Path) -> StorageError {
        match self {
            StorageError::Corrupt(m) => StorageError::Corrupt(format!("{}: {m}", path.display())),
            e => e,
        }
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;
