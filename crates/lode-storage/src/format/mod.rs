//! On-disk formats (all described in `docs/storage.md`): varints, blocks,
//! chunk files, the write-ahead log and the manifest.

pub mod block;
pub mod chunk_file;
pub mod manifest;
pub mod varint;
pub mod wal;

/// The storage format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
