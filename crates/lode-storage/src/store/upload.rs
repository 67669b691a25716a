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
use crate::format::chunk_file::sync_dir;
use crate::format::wal;
use crate::layout::{
    bucket_chunk_key, bucket_manifest_key, chunk_path, chunk_tail_path, tenant_dir,
};
use crate::sources::BlockHandle;
use lode_bucket::{Bucket, BucketError};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;
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
    /// The delete requests the uploaded manifest reports carried out.
    processed_deletes: Vec<(String, String)>,
    /// Objects to delete once their time comes.
    pending_deletes: Vec<(String, Instant)>,
}

impl Inner {
    pub(crate) fn writer_id(&self) -> &str {
        &self.writer_id
    }

    fn upload_bucket(&self) -> Option<&Arc<Bucket>> {
        match &self.opts.remote {
            Some(super::Remote::Writer { bucket, .. }) => Some(bucket),
            _ => None,
        }
    }

    fn evicts_uploaded(&self) -> bool {
        matches!(
            self.opts.remote,
            Some(super::Remote::Writer {
                evict_uploaded: true,
                ..
            })
        )
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
                    st.processed_deletes = m.processed_deletes;
                }
                Err(BucketError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
            st.loaded = true;
        }
        // The backend's delete requests, for this writer's compactor.
        self.pull_deletes()?;
        let processed = self.deletes.processed_ids();
        let manifest = self.manifest.lock().clone();
        let data = &self.opts.data_dir;
        let mut changed = manifest.checkpoint != st.checkpoint || processed != st.processed_deletes;
        for f in &manifest.files {
            let k = (f.tenant.clone(), f.id);
            if st.files.contains_key(&k) {
                continue;
            }
            if let Some(size) = f.remote_size {
                // Only in the bucket already, but its manifest forgot it
                // (a bucket restored from an older backup): list it again.
                tracing::warn!(tenant = %f.tenant, id = f.id, "a chunk file only the bucket holds was missing from the bucket manifest; listed again");
                st.files.insert(k, size);
                changed = true;
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
                processed_deletes: processed.clone(),
            };
            bucket.put(&bucket_manifest_key(&me), body.to_bytes().into())?;
            st.checkpoint = manifest.checkpoint;
            st.processed_deletes = processed;
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
        if self.evicts_uploaded() {
            self.evict_uploaded(bucket, &st.files)?;
        }
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

    /// Chunk files the bucket holds leave the disk: each keeps its footer as
    /// `<id>.tail` (written first), the manifest marks it remote (the
    /// commit point: a crash before leaves the local copy in use, after it
    /// the copy is an orphan the next start removes), queries move to the
    /// object, then the local file goes.
    fn evict_uploaded(
        &self,
        bucket: &Arc<Bucket>,
        uploaded: &HashMap<(String, u64), u64>,
    ) -> Result<()> {
        let _f = self.flush_lock.lock();
        let mut m = self.manifest.lock().clone();
        let data = &self.opts.data_dir;
        let mut moved = Vec::new();
        for f in m.files.iter_mut() {
            if f.remote_size.is_some() {
                continue;
            }
            let Some(&size) = uploaded.get(&(f.tenant.clone(), f.id)) else {
                continue;
            };
            let Some(t) = self.tenant(&f.tenant) else {
                continue;
            };
            let local = t.read().streams.iter().find_map(|s| {
                s.blocks.iter().find_map(|b| match b {
                    BlockHandle::File(c, _) if c.id == f.id && !c.is_remote() => Some(c.clone()),
                    _ => None,
                })
            });
            let Some(local) = local else {
                continue;
            };
            let tail = chunk_tail_path(data, &f.tenant, f.id);
            let tmp = tail.with_extension("tail.tmp");
            let bytes = local.tail_bytes()?;
            std::fs::write(&tmp, &bytes)
                .and_then(|_| std::fs::File::open(&tmp)?.sync_all())
                .and_then(|_| std::fs::rename(&tmp, &tail))
                .map_err(|e| StorageError::from_io("writing a chunk file's tail", e))?;
            let remote = local.as_remote(
                bucket.clone(),
                &bucket_chunk_key(&self.writer_id, &f.tenant, f.id),
            );
            f.remote_size = Some(size);
            moved.push((f.tenant.clone(), local, remote));
        }
        if moved.is_empty() {
            return Ok(());
        }
        for (tenant, _, _) in &moved {
            sync_dir(&tenant_dir(data, tenant))?;
        }
        m.store(data)?;
        *self.manifest.lock() = m;
        for (tenant, local, remote) in moved {
            let remote = Arc::new(remote);
            if let Some(t) = self.tenant(&tenant) {
                let mut t = t.write();
                for s in t.streams.iter_mut() {
                    for b in s.blocks.iter_mut() {
                        if let BlockHandle::File(c, i) = b {
                            if Arc::ptr_eq(c, &local) {
                                *b = BlockHandle::File(remote.clone(), *i);
                            }
                        }
                    }
                }
            }
            // Queries still reading it hold it open.
            if let Err(e) = std::fs::remove_file(&local.path) {
                tracing::warn!(file = %local.path.display(), error = %e, "removing an uploaded chunk file failed; it goes at the next start");
            }
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

impl Inner {
    /// Opens a chunk file only the bucket holds, from its `<id>.tail` (no
    /// request: a writer starts while the bucket is away), else from the
    /// bucket.
    pub(crate) fn open_uploaded(
        &self,
        tenant: &str,
        id: u64,
        size: u64,
    ) -> Result<crate::format::chunk_file::ChunkFile> {
        use crate::format::chunk_file::ChunkFile;
        let bucket = self.upload_bucket().ok_or_else(|| {
            StorageError::Refused(format!(
                "chunk file {id:016x} of tenant {tenant:?} is only in the bucket, and no bucket is configured (common.storage.s3)"
            ))
        })?;
        let key = bucket_chunk_key(&self.writer_id, tenant, id);
        match std::fs::read(chunk_tail_path(&self.opts.data_dir, tenant, id)) {
            Ok(tail) => ChunkFile::remote_from_tail(bucket.clone(), &key, size, id, None, &tail),
            Err(_) => ChunkFile::open_remote(bucket.clone(), &key, size, id),
        }
    }
}
