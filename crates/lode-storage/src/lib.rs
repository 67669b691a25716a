//! Lode's storage layer: a write-ahead log with group commit, per-stream
//! head blocks sealed into compressed blocks, chunk files with a footer
//! index, a manifest, an in-memory label index, and query execution that
//! feeds entries through the LogQL pipeline. The on-disk format is
//! described in `docs/storage.md`.
// Input flows through every path of this crate: a failed unwrap is a
// panic a client can trigger. Tests may unwrap.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod api;
pub mod cancel;
pub mod clock;

pub mod delete;
pub mod error;
pub mod format;
mod hash;
mod head;
pub mod index;
pub mod ingest;
pub mod layout;
pub mod meta;
pub mod prefilter;
pub mod query;
pub mod rate;
pub mod retention;
pub mod samples;
pub mod sources;
pub mod store;
pub mod stored_labels;
pub mod subscribe;
pub mod tenant;
pub mod visibility;

pub use api::LogStore;
pub use error::{Result, StorageError};
pub use hash::{instance_id, random_hex};
pub use ingest::Limits;
pub use lode_bucket::{Bucket, BucketConfig, BucketError};
pub use query::{Direction, LogHit, LogQuery};
pub use sources::ScanStats;
pub use store::{
    FeedPage, FeedReply, FeedSource, Remote, ScalableStatus, Store, StoreOptions, StoreStats,
};
