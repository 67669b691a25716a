//! The manifest: the one file that says which chunk files are live and up
//! to which write-ahead-log record they hold data. It is replaced
//! atomically (write, fsync, rename, fsync directory), so every crash leaves
//! either the old or the new manifest. Chunk files not listed are leftovers
//! of an interrupted flush or compaction and are deleted at start-up.

use super::chunk_file::sync_dir;
use super::FORMAT_VERSION;
use crate::error::{Result, StorageError};
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

pub const MANIFEST: &str = "MANIFEST.json";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileEntry {
    pub tenant: String,
    pub id: u64,
    /// The zstd level its blocks were written at, when the compactor
    /// recompressed them (`docs/storage.md`, "Manifest"); absent: the
    /// level of the flush that wrote the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zstd_level: Option<i32>,
    /// Scalable mode: the file is only in the bucket (its local copy was
    /// removed once uploaded; `<id>.tail` keeps its footer), this many
    /// bytes long (`docs/storage.md`, "Manifest").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_size: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub version: u32,
    /// Every WAL record with a sequence number up to this one is in the
    /// chunk files listed here.
    pub checkpoint: u64,
    pub next_file_id: u64,
    pub files: Vec<FileEntry>,
}

impl Default for Manifest {
    fn default() -> Self {
        Manifest {
            version: FORMAT_VERSION,
            checkpoint: 0,
            next_file_id: 1,
            files: Vec::new(),
        }
    }
}

impl Manifest {
    pub fn load(dir: &Path) -> Result<Manifest> {
        let p = dir.join(MANIFEST);
        match fs::read(&p) {
            Ok(b) => {
                let mut m: Manifest = serde_json::from_slice(&b)
                    .map_err(|e| StorageError::Corrupt(format!("{}: {e}", p.display())))?;
                if !super::is_readable(m.version) {
                    return Err(StorageError::Version {
                        found: m.version,
                        supported: FORMAT_VERSION,
                    });
                }
                // An older readable manifest is written back as the current
                // version at the next store (it will list current files).
                m.version = FORMAT_VERSION;
                Ok(m)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
            Err(e) => Err(e.into()),
        }
    }

    pub fn store(&self, dir: &Path) -> Result<()> {
        let tmp: PathBuf = dir.join("MANIFEST.json.tmp");
        let io = |e| StorageError::from_io("writing manifest", e);
        let mut f = File::create(&tmp).map_err(io)?;
        let body =
            serde_json::to_vec_pretty(self).map_err(|e| StorageError::Corrupt(e.to_string()))?;
        f.write_all(&body).map_err(io)?;
        f.sync_all().map_err(io)?;
        drop(f);
        fs::rename(&tmp, dir.join(MANIFEST)).map_err(io)?;
        sync_dir(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_default() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(Manifest::load(d.path()).unwrap(), Manifest::default());
        let m = Manifest {
            checkpoint: 7,
            next_file_id: 3,
            files: vec![FileEntry {
                zstd_level: None,
                remote_size: None,
                tenant: "fake".into(),
                id: 2,
            }],
            ..Default::default()
        };
        m.store(d.path()).unwrap();
        assert_eq!(Manifest::load(d.path()).unwrap(), m);
    }
}
