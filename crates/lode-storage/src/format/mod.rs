//! On-disk formats (all described in `docs/storage.md`): varints, blocks,
//! block filters, chunk files, the write-ahead log and the manifest.

pub mod block;
pub mod bucket_manifest;
pub mod chunk_file;
pub mod filter;
pub mod manifest;
pub mod varint;
pub mod wal;

use crate::error::{Result, StorageError};
use std::fs;
use std::path::Path;

/// The storage format version this build writes.
pub const FORMAT_VERSION: u32 = 2;
/// The oldest version this build still reads (version 1 chunk files have no
/// block filters; their blocks are never skipped).
pub const MIN_FORMAT_VERSION: u32 = 1;

/// Whether this build reads data written in format `v`.
pub fn is_readable(v: u32) -> bool {
    (MIN_FORMAT_VERSION..=FORMAT_VERSION).contains(&v)
}

/// Checks the data directory's `VERSION` file: creates it in a new
/// directory, refuses a version this build cannot read, and raises an older
/// readable one to `FORMAT_VERSION` (new chunk files will be written there:
/// an older build must refuse the directory rather than skip those files).
pub fn check_version_file(data: &Path) -> Result<()> {
    let vfile = data.join("VERSION");
    // Errors name the file: "writing VERSION" alone does not say where.
    let io = |what: &str| {
        let ctx = format!("{what} {}", vfile.display());
        move |e| StorageError::from_io(&ctx, e)
    };
    let found = match fs::read_to_string(&vfile) {
        Ok(v) => Some(v.trim().parse().unwrap_or(0)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io("reading")(e)),
    };
    match found {
        Some(v) if v == FORMAT_VERSION => return Ok(()),
        Some(v) if !is_readable(v) => {
            return Err(StorageError::Version {
                found: v,
                supported: FORMAT_VERSION,
            })
        }
        _ => {}
    }
    let tmp = data.join("VERSION.tmp");
    fs::write(&tmp, format!("{FORMAT_VERSION}\n")).map_err(io("writing"))?;
    fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(io("writing"))?;
    fs::rename(&tmp, &vfile).map_err(io("writing"))?;
    chunk_file::sync_dir(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_file_created_raised_or_refused() {
        let d = tempfile::tempdir().unwrap();
        let v = d.path().join("VERSION");
        check_version_file(d.path()).unwrap();
        assert_eq!(
            fs::read_to_string(&v).unwrap(),
            format!("{FORMAT_VERSION}\n")
        );
        fs::write(&v, "1\n").unwrap();
        check_version_file(d.path()).unwrap();
        assert_eq!(fs::read_to_string(&v).unwrap(), "2\n");
        for bad in ["3\n", "0\n", "x"] {
            fs::write(&v, bad).unwrap();
            assert!(matches!(
                check_version_file(d.path()),
                Err(StorageError::Version { .. })
            ));
            assert_eq!(fs::read_to_string(&v).unwrap(), bad, "left untouched");
        }
    }
}
