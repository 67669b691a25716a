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
