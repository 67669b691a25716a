//! Where the bucket is and how to sign for it. The server fills this from
//! Loki's keys (`common.storage.s3.*`, `storage_config.aws.*`); anything
//! left empty comes from the standard AWS environment variables.

use std::time::Duration;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BucketConfig {
    /// `host:port` or a URL; empty: AWS S3 for the region.
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Path-style requests (`endpoint/bucket/key`): what Garage, MinIO and
    /// Ceph RGW expect unless DNS names every bucket.
    pub force_path_style: bool,
    /// Plain HTTP instead of HTTPS.
    pub insecure: bool,
    /// Applied to every request (connect, headers and body).
    pub request_timeout: Duration,
}

impl BucketConfig {
    /// The endpoint as a URL object_store accepts.
    pub(crate) fn endpoint_url(&self) -> Option<String> {
        let e = self.endpoint.trim();
        if e.is_empty() {
            return None;
        }
        if e.starts_with("http://") || e.starts_with("https://") {
            return Some(e.to_string());
        }
        let scheme = if self.insecure { "http" } else { "https" };
        Some(format!("{scheme}://{e}"))
    }
}
