//! Target `write`: the uploader copies the data directory's chunk files and
//! manifest to the bucket (`docs/storage.md`, "Scalable mode").
//!
//! Order is what keeps readers exact: every object a manifest lists is
//! uploaded before that manifest replaces the previous one; WAL records are
//! deleted (and leave the feed) only once an uploaded manifest covers them;
//! objects a manifest no longer lists are deleted after a grace period, so
//! a reader still holding the previous manifest finishes its queries. An
//! unreachable bucket stops none of this being safe: pushes keep being
//! acknowledged into the WAL and local chunk files, and uploads retry with
//! backoff until the bucket answers.

use super::Inner;
use crate::error::{Result, StorageError};
use crate::format::bucket_manifest::{BucketFile, BucketManifest};
use crate::format::wal;
use crate::layout::{bucket_chunk_key, bucket_manifest_key, chunk_path};
use lode_bucket::{Bucket, BucketError};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Objects dropped from the manifest stay this long before they are deleted.
const DELETE_GRACE: Duration = Duration::from_secs(300);
/// How often the uploader looks even without being told (pending deletes).
const IDLE_CHECK: Duration = Duration::from_secs(30);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What the bucket holds, as far as this writer knows.
#[derive(Debug, Default)]
pub(crate) struct UploadState {
    loaded: bool,
    /// Uploaded objects: (tenant, id) → size.
    files: HashMap<(String, u64), u64>,
    checkpoint: u64,
    /// Objects to delete once their time comes.
    pending_deletes: Vec<(String, Instant)>,
}

impl Inner {
    pub(crate) fn writer_id(&self) -> &str {
        &self.writer_id
    }

    fn upload_bucket(&self) -> Option<&Bucket> {
        match &self.opts.remote {
            Some(super::Remote::Writer { bucket }) => Some(bucket),
            _ => None,
        }
    }

    /// Tells the uploader the manifest changed.
    pub(crate) fn notify_upload(&self) {
        if let Some(tx) = self.upload_tx.lock().as_ref() {
            let _ = tx.send(());
        }
    }

    pub(crate) fn upload_loop(&self, rx: mpsc::Receiver<()>) {
        let mut backoff = Duration::from_secs(1);
        let mut wait = Duration::ZERO;
        loop {
            match rx.recv_timeout(wait) {
                Ok(()) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
            match self.upload_once() {
                Ok(()) => {
                    if backoff > Duration::from_secs(1) {
                        tracing::info!("bucket reachable again; uploads caught up");
                    }
                    backoff = Duration::from_secs(1);
                    wait = IDLE_CHECK;
                }
                Err(e) => {
                    self.counters
                        .upload_failures
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "upload to the bucket failed; pushes go on into the WAL and are uploaded when it answers");
                    wait = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// One pass: upload what the manifest lists and the bucket lacks, then
    /// the manifest, then release the WAL it covers.
    pub(crate) fn upload_once(&self) -> Result<()> {
        let Some(bucket) = self.upload_bucket() else {
            return Ok(());
        };
        let _one = self.upload_lock.lock();
        let mut st = self.upload_state.lock();
        let me = self.writer_id.clone();
        if !st.loaded {
            match bucket.get(&bucket_manifest_key(&me)) {
                Ok(b) => {
                    let m = BucketManifest::parse(&b)?;
                    st.files = m
                        .files
                        .into_iter()
                        .map(|f| ((f.tenant, f.id), f.size))
                        .collect();
                    st.checkpoint = m.checkpoint;
                }
                Err(BucketError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
            st.loaded = true;
        }
        let manifest = self.manifest.lock().clone();
        let data = &self.opts.data_dir;
        let mut changed = manifest.checkpoint != st.checkpoint;
        for f in &manifest.files {
            let k = (f.tenant.clone(), f.id);
            if st.files.contains_key(&k) {
                continue;
            }
            let path = chunk_path(data, &f.tenant, f.id);
            let size = bucket
                .put_file(&bucket_chunk_key(&me, &f.tenant, f.id), &path)
                .map_err(|e| match e {
                    // Compacted away since the manifest was read: the next
                    // pass uploads the manifest that replaced it.
                    BucketError::Local { .. } => StorageError::Unavailable(e.to_string()),
                    e => e.into(),
                })?;
            st.files.insert(k, size);
            changed = true;
        }
        let live: std::collections::HashSet<(String, u64)> = manifest
            .files
            .iter()
            .map(|f| (f.tenant.clone(), f.id))
            .collect();
        if changed || st.files.len() != live.len() {
            let body = BucketManifest {
                version: crate::format::FORMAT_VERSION,
                writer: me.clone(),
                checkpoint: manifest.checkpoint,
                files: manifest
                    .files
                    .iter()
                    .map(|f| BucketFile {
                        tenant: f.tenant.clone(),
                        id: f.id,
                        size: st.files[&(f.tenant.clone(), f.id)],
                        zstd_level: f.zstd_level,
                    })
                    .collect(),
            };
            bucket.put(&bucket_manifest_key(&me), body.to_bytes().into())?;
            st.checkpoint = manifest.checkpoint;
            let gone: Vec<(String, u64)> = st
                .files
                .keys()
                .filter(|k| !live.contains(*k))
                .cloned()
                .collect();
            for k in gone {
                st.files.remove(&k);
                st.pending_deletes
                    .push((bucket_chunk_key(&me, &k.0, k.1), Instant::now()));
            }
            self.counters.uploads.fetch_add(1, Ordering::Relaxed);
        }
        self.release_uploaded(manifest.checkpoint)?;
        let due: Vec<String> = st
            .pending_deletes
            .iter()
            .filter(|(_, at)| at.elapsed() >= DELETE_GRACE)
            .map(|(k, _)| k.clone())
            .collect();
        for k in due {
            bucket.delete(&k)?;
            st.pending_deletes.retain(|(p, _)| *p != k);
        }
        Ok(())
    }

    /// The bucket's manifest covers every record up to `checkpoint`: they
    /// leave the feed and the WAL.
    fn release_uploaded(&self, checkpoint: u64) -> Result<()> {
        self.uploaded.fetch_max(checkpoint, Ordering::AcqRel);
        if let Some(f) = &self.feed {
            f.lock().prune(checkpoint);
        }
        wal::remove_covered(&self.opts.data_dir.join("wal"), checkpoint)?;
        Ok(())
    }

    /// Up to which record the WAL may be deleted after a local flush: all
    /// of it without a bucket, else only what the bucket already holds.
    pub(crate) fn wal_releasable(&self, checkpoint: u64) -> u64 {
        checkpoint.min(self.uploaded.load(Ordering::Acquire))
    }

    /// Objects waiting for their delete, and whether the bucket has caught
    /// up with the local manifest (`/ready`, the status page).
    pub(crate) fn upload_lag(&self) -> (u64, u64) {
        let local = self.manifest.lock().checkpoint;
        let up = self.uploaded.load(Ordering::Acquire);
        (local, up.min(local))
    }
}
