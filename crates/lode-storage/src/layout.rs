//! Where things live in a data directory (`docs/storage.md`, "Layout"):
//! tenant directories, chunk files, the quarantine and temporary files.
//! Every path is derived here and nowhere else.

use std::fs;
use std::path::{Path, PathBuf};

/// A tenant's directory: `tenants/t-<hex of the tenant id>`.
pub fn tenant_dir(data: &Path, tenant: &str) -> PathBuf {
    // Tenant IDs never appear raw in a path: hex is safe whatever they hold.
    let mut hex = String::with_capacity(tenant.len() * 2 + 2);
    hex.push_str("t-");
    for b in tenant.bytes() {
        hex.push_str(&format!("{b:02x}"));
    }
    data.join("tenants").join(hex)
}

/// Chunk file `id` of a tenant: `<tenant dir>/<id as 16 hex digits>.chunk`.
pub fn chunk_path(data: &Path, tenant: &str, id: u64) -> PathBuf {
    tenant_dir(data, tenant).join(format!("{id:016x}.chunk"))
}

/// The footer kept of chunk file `id` once only the bucket holds it.
pub fn chunk_tail_path(data: &Path, tenant: &str, id: u64) -> PathBuf {
    tenant_dir(data, tenant).join(format!("{id:016x}.tail"))
}

/// Where what is set aside from the chunk file at `chunk` goes:
/// `quarantine/<its tenant dir>/` (the startup and the compactor share it).
pub fn quarantine_dir(data: &Path, chunk: &Path) -> PathBuf {
    let tenant_dir = chunk
        .parent()
        .and_then(|p| p.file_name())
        .unwrap_or_default();
    data.join("quarantine").join(tenant_dir)
}

/// Removes leftover `.tmp` files (an interrupted write) from directories.
pub fn remove_tmp_files(dirs: &[PathBuf]) {
    for d in dirs {
        let Ok(rd) = fs::read_dir(d) else { continue };
        for f in rd.flatten() {
            let p = f.path();
            if p.extension().and_then(|e| e.to_str()) == Some("tmp") {
                let _ = fs::remove_file(&p);
            }
        }
    }
}

/// Where a writer's things live in the bucket (`docs/storage.md`, "Bucket
/// layout"): everything of writer `w` is under `writers/<w>/`.
pub const WRITERS_PREFIX: &str = "writers/";

/// The delete requests of every tenant, published by the active backend.
pub const DELETES_KEY: &str = "deletes/requests.json";

/// The writer's manifest object.
pub fn bucket_manifest_key(writer: &str) -> String {
    format!("{WRITERS_PREFIX}{writer}/MANIFEST.json")
}

/// Chunk file `id` of a tenant, uploaded by `writer`: the same relative
/// path as in a data directory, under the writer's prefix.
pub fn bucket_chunk_key(writer: &str, tenant: &str, id: u64) -> String {
    let dir = tenant_dir(Path::new(""), tenant);
    format!("{WRITERS_PREFIX}{writer}/{}/{id:016x}.chunk", dir.display())
}

/// The writer named by a manifest key (`writers/<w>/MANIFEST.json`).
pub fn writer_of_manifest_key(key: &str) -> Option<&str> {
    key.strip_prefix(WRITERS_PREFIX)?
        .strip_suffix("/MANIFEST.json")
        .filter(|w| valid_writer_id(w))
}

/// Writer ids name a bucket prefix: letters, digits, `-`, `_` and `.` only,
/// at most 128 bytes, and not `.` or `..`.
pub fn valid_writer_id(w: &str) -> bool {
    !w.is_empty()
        && w.len() <= 128
        && w != "."
        && w != ".."
        && w.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_keys_hex_the_tenant_and_round_trip_the_writer() {
        assert_eq!(
            bucket_chunk_key("w-0", "fake", 0x1f),
            "writers/w-0/tenants/t-66616b65/000000000000001f.chunk"
        );
        let m = bucket_manifest_key("w-0");
        assert_eq!(writer_of_manifest_key(&m), Some("w-0"));
        assert_eq!(writer_of_manifest_key("writers/../MANIFEST.json"), None);
        assert_eq!(writer_of_manifest_key("writers/a/b/MANIFEST.json"), None);
        assert!(!valid_writer_id("a/b"));
    }
}
