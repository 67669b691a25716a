//! A writer's manifest in the bucket (`docs/storage.md`, "Bucket layout"):
//! which of its chunk objects are live and up to which WAL record they
//! hold data. The writer uploads every object it lists before it replaces
//! this one, so a reader that reads it finds every object it names.

use super::FORMAT_VERSION;
use crate::error::{Result, StorageError};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BucketFile {
    pub tenant: String,
    pub id: u64,
    /// The object's length: readers open it with ranged reads and no HEAD.
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zstd_level: Option<i32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct BucketManifest {
    pub version: u32,
    /// The writer that owns `writers/<writer>/`.
    pub writer: String,
    /// Every WAL record of that writer up to this sequence number is in the
    /// objects listed.
    pub checkpoint: u64,
    pub files: Vec<BucketFile>,
    /// Delete requests (tenant, request id) this writer carried out on its
    /// files; the backend marks a request processed once every writer has.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub processed_deletes: Vec<(String, String)>,
}

impl BucketManifest {
    pub fn parse(bytes: &[u8]) -> Result<BucketManifest> {
        let m: BucketManifest = serde_json::from_slice(bytes)
            .map_err(|e| StorageError::Corrupt(format!("bucket manifest: {e}")))?;
        if !super::is_readable(m.version) {
            return Err(StorageError::Version {
                found: m.version,
                supported: FORMAT_VERSION,
            });
        }
        Ok(m)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}
