//! The store: ties the write-ahead log, the in-memory heads, the chunk
//! files and the manifest together. This file is the facade (`Store`, its
//! options, counters and shared state); each job has its own file:
//!
//! - `writer.rs`: `push` validates on the caller's thread, then hands the
//!   accepted streams to one writer thread, which appends them to the WAL
//!   in batches (group commit: one fsync for every push waiting), applies
//!   them to memory and only then acknowledges.
//! - `flush.rs`: a flusher thread periodically seals all heads into one
//!   chunk file per tenant, records the WAL position they cover in the
//!   manifest, and deletes the WAL segments no longer needed.
//! - `open.rs`: opening (and recovering) a data directory.
//! - `compaction.rs`: merging a day's files, retention and deletes.

use crate::clock::SharedClock;
use crate::delete::{CancelError, DeleteRegistry, DeleteRequest};
use crate::error::Result;
use crate::format::block::Compression;
use crate::format::manifest::Manifest;
use crate::ingest::Limits;
use crate::query::{query_logs, LogHit, LogQuery};
use crate::samples::TenantSamples;
use crate::sources::ScanStats;
use crate::tenant::Tenant;
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::layout::chunk_path;

pub mod compaction;
mod deletes;
mod feed;
mod replica;
mod status;
mod upload;
pub use feed::FeedPage;
pub use replica::{FeedReply, FeedSource, ReplicaStatus, WriterStatus};
pub use status::{CompactorSchedule, TenantStatus};
mod flush;
mod open;
mod writer;

use writer::WriterMsg;

/// Store settings (the server maps its config onto these).
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub data_dir: PathBuf,
    /// fsync the WAL before acknowledging a push.
    pub fsync: bool,
    /// Uncompressed bytes after which a stream's head is sealed into a block.
    pub block_target_bytes: usize,
    /// How often heads are persisted into chunk files.
    pub flush_interval: Duration,
    /// Memory held in heads and unflushed blocks that forces a flush.
    pub max_unflushed_bytes: usize,
    pub compression: Compression,
    /// "Now" for retention, rate limits and sample age checks.
    pub clock: SharedClock,
    /// How often the compactor merges files and applies retention and deletes.
    pub compaction_interval: Duration,
    /// Whether retention hides and removes expired entries.
    pub retention_enabled: bool,
    /// How long a delete request can be cancelled before it is carried out.
    pub delete_cancel_period: Duration,
    /// Test hook: while set, WAL appends fail with ENOSPC.
    pub inject_disk_full: Arc<AtomicBool>,
    /// Test hook: while set, WAL appends are written but their fsync fails
    /// with EIO.
    pub inject_fsync_failure: Arc<AtomicBool>,
    /// `ingester.chunk_idle_period`: a stream that received no entry for
    /// this long is idle and no longer counts against the stream limit.
    pub chunk_idle_period: Duration,
    /// Blocks whose newest entry is older than this are rewritten by the
    /// compactor at `recompress_level` (`None`: never).
    pub recompress_after: Option<Duration>,
    /// The zstd level of that rewrite.
    pub recompress_level: i32,
    /// Scalable mode: this store's part with a bucket (`None`: a store on
    /// its data directory alone, target `all`).
    pub remote: Option<Remote>,
}

/// A store's part in scalable mode (`docs/storage.md`, "Scalable mode").
#[derive(Clone)]
pub enum Remote {
    /// Target `write`: a data directory as usual, whose chunk files and
    /// manifest are uploaded to the bucket and whose acknowledged records
    /// are served to readers until the bucket holds them. With
    /// `evict_uploaded`, a chunk file the bucket holds leaves the disk (its
    /// footer stays, as `<id>.tail`): the volume holds the WAL and what is
    /// not uploaded yet, not the retention period.
    Writer {
        bucket: Arc<lode_bucket::Bucket>,
        evict_uploaded: bool,
    },
    /// Targets `read` and `backend`: no data of its own; the bucket plus
    /// the writers' feeds, polled every `poll`.
    Reader {
        bucket: Arc<lode_bucket::Bucket>,
        feeds: Arc<dyn FeedSource>,
        poll: Duration,
        /// The active backend: its delete requests are the ones in the
        /// bucket (`deletes/requests.json`), which the others follow.
        owns_deletes: bool,
    },
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Remote::Writer {
                bucket,
                evict_uploaded,
            } => f
                .debug_struct("Writer")
                .field("bucket", bucket)
                .field("evict_uploaded", evict_uploaded)
                .finish(),
            Remote::Reader {
                bucket,
                feeds,
                poll,
                ..
            } => f
                .debug_struct("Reader")
                .field("bucket", bucket)
                .field("feeds", feeds)
                .field("poll", poll)
                .finish(),
        }
    }
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            data_dir: PathBuf::from("./data"),
            fsync: true,
            block_target_bytes: 256 * 1024,
            flush_interval: Duration::from_secs(60),
            max_unflushed_bytes: 48 << 20,
            compression: Compression::Zstd(1),
            clock: crate::clock::system(),
            compaction_interval: Duration::from_secs(600),
            retention_enabled: true,
            delete_cancel_period: Duration::from_secs(24 * 3600),
            inject_disk_full: Arc::new(AtomicBool::new(false)),
            inject_fsync_failure: Arc::new(AtomicBool::new(false)),
            chunk_idle_period: Duration::from_secs(30 * 60),
            recompress_after: None,
            recompress_level: 9,
            remote: None,
        }
    }
}

impl StoreOptions {
    /// The zstd level flushes write (0 when uncompressed).
    pub(crate) fn flush_level(&self) -> i32 {
        match self.compression {
            Compression::Zstd(l) => l,
            Compression::None => 0,
        }
    }

    fn idle_ns(&self) -> i64 {
        i64::try_from(self.chunk_idle_period.as_nanos()).unwrap_or(i64::MAX)
    }

    /// How often idle streams are swept out of the active set: often enough
    /// that a stream stops counting soon after it went idle.
    fn sweep_every_ns(&self) -> i64 {
        (self.idle_ns() / 8).clamp(50_000_000, 10_000_000_000)
    }
}

/// Counters exported on `/metrics`.
#[derive(Debug, Default)]
pub struct StoreCounters {
    pub lines: AtomicU64,
    pub bytes: AtomicU64,
    pub wal_syncs: AtomicU64,
    pub wal_bytes: AtomicU64,
    pub flushes: AtomicU64,
    pub rejected_lines: AtomicU64,
    /// Compactor passes that changed files, and passes that failed.
    pub compactions: AtomicU64,
    pub compaction_failures: AtomicU64,
    /// Chunk files replaced by the compactor.
    pub compacted_files: AtomicU64,
    /// Blocks the compactor rewrote at `recompress_level`.
    pub recompressed_blocks: AtomicU64,
    /// Entries removed from disk because they expired.
    pub retention_removed_entries: AtomicU64,
    /// Entries removed from disk by delete requests.
    pub deleted_entries: AtomicU64,
    /// Pushes refused because the disk was full.
    pub disk_full_errors: AtomicU64,
    /// Damaged WAL records skipped at start-up.
    pub wal_corrupt_records: AtomicU64,
    /// WAL appends or fsyncs that failed.
    pub wal_write_failures: AtomicU64,
    /// Manifests uploaded to the bucket, and upload passes that failed.
    pub uploads: AtomicU64,
    pub upload_failures: AtomicU64,
}

/// A snapshot for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreStats {
    pub streams: u64,
    /// Streams that received an entry within `chunk_idle_period`.
    pub active_streams: u64,
    pub tenants: u64,
    pub chunk_files: u64,
    pub chunk_bytes: u64,
    pub wal_bytes: u64,
    /// Chunk files and WAL.
    pub disk_bytes: u64,
    pub unflushed_bytes: u64,
}

/// A store's part in scalable mode and how it stands.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ScalableStatus {
    /// "" (no bucket), "writer" or "reader".
    pub role: &'static str,
    /// Writers: their id, the local manifest's checkpoint and the part of
    /// it the bucket holds.
    pub writer_id: String,
    pub local_checkpoint: u64,
    pub uploaded_checkpoint: u64,
    /// Readers: writers, bucket and feed errors.
    pub replica: Option<ReplicaStatus>,
}

/// Refusals listed in one push's error answer.
const MAX_RETURNED_ERRORS: usize = 10;

/// Called once a push is durable (or failed).
pub type PushCallback = Box<dyn FnOnce(Result<()>) + Send>;

pub(crate) struct Inner {
    pub(crate) opts: StoreOptions,
    pub(crate) limits: RwLock<Limits>,
    pub(crate) tenants: RwLock<HashMap<String, Arc<RwLock<Tenant>>>>,
    /// Held while applying WAL batches to memory and while a flush takes its
    /// snapshot, so a snapshot is exactly "every record up to `applied_seq`".
    pub(crate) apply_lock: Mutex<()>,
    pub(crate) applied_seq: AtomicU64,
    pub(crate) flush_lock: Mutex<()>,
    pub(crate) manifest: Mutex<Manifest>,
    pub(crate) unflushed: AtomicU64,
    /// Uncompressed bytes in heads (part of `unflushed`).
    pub(crate) head_raw: AtomicU64,
    pub(crate) counters: StoreCounters,
    pub(crate) flush_tx: Mutex<Option<mpsc::Sender<()>>>,
    /// Per-tenant limits from the runtime overrides file.
    pub(crate) overrides: RwLock<HashMap<String, Limits>>,
    pub(crate) deletes: DeleteRegistry,
    pub(crate) rate: crate::rate::RateLimiter,
    pub(crate) compact_tx: Mutex<Option<mpsc::Sender<()>>>,
    /// Held by a compaction pass (flushes may run alongside until its swap).
    pub(crate) compact_lock: Mutex<()>,
    /// Live `tail` hooks, told about every durable batch.
    pub(crate) subscribers: crate::subscribe::Subscribers,
    writer_tx: Mutex<Option<mpsc::Sender<WriterMsg>>>,
    /// The data directory's `LOCK` file, locked for as long as the store
    /// lives: two processes on one directory would overwrite each other's
    /// chunk files, WAL and manifest.
    _lock: fs::File,
    /// When the store opened, and when the last compaction pass ended
    /// (store clock, ns; `i64::MIN` before the first).
    pub(crate) started_ns: i64,
    pub(crate) last_compaction_ns: std::sync::atomic::AtomicI64,
    /// Scalable mode. The writer's id (its bucket prefix), and a value new
    /// with every start (readers tell a restart by it).
    pub(crate) writer_id: String,
    pub(crate) incarnation: String,
    /// Target `write`: where acknowledged records lie, for readers.
    pub(crate) feed: Option<Mutex<feed::FeedIndex>>,
    /// The checkpoint of the manifest last uploaded (`u64::MAX` without a
    /// bucket: the WAL is the only copy to keep).
    pub(crate) uploaded: AtomicU64,
    pub(crate) upload_tx: Mutex<Option<mpsc::Sender<()>>>,
    pub(crate) upload_lock: Mutex<()>,
    pub(crate) upload_state: Mutex<upload::UploadState>,
    /// Targets `read` and `backend`: the writers and manifests held.
    pub(crate) replica: Mutex<replica::ReplicaState>,
    pub(crate) replica_tx: Mutex<Option<mpsc::Sender<()>>>,
}

/// The log store.
pub struct Store {
    inner: Arc<Inner>,
    threads: Mutex<Vec<thread::JoinHandle<()>>>,
}

impl Inner {
    /// The limits of a tenant: its override, else the defaults.
    pub(crate) fn limits_for(&self, tenant: &str) -> Limits {
        if let Some(l) = self.overrides.read().get(tenant) {
            return l.clone();
        }
        self.limits.read().clone()
    }

    /// Rebuilds a tenant's read view from its limits and pending deletes.
    pub(crate) fn refresh_view(&self, name: &str, t: &mut Tenant) {
        let limits = self.limits_for(name);
        t.view = Arc::new(crate::visibility::ReadView {
            clock: Some(self.opts.clock.clone()),
            retention: self.opts.retention_enabled.then_some(limits.retention),
            deletes: self.deletes.pending_filters(name),
            lookback: i64::try_from(limits.max_query_lookback.as_nanos()).unwrap_or(i64::MAX),
        });
    }

    /// Every tenant, taken out of the map so its lock is not held.
    pub(crate) fn tenant_list(&self) -> Vec<(String, Arc<RwLock<Tenant>>)> {
        self.tenants
            .read()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    pub(crate) fn refresh_all_views(&self) {
        let tenants = self.tenant_list();
        for (name, t) in tenants {
            self.refresh_view(&name, &mut t.write());
        }
    }

    pub(crate) fn tenant(&self, name: &str) -> Option<Arc<RwLock<Tenant>>> {
        self.tenants.read().get(name).cloned()
    }
}

impl Store {
    pub fn limits(&self) -> Limits {
        self.inner.limits.read().clone()
    }

    pub fn set_limits(&self, l: Limits) {
        *self.inner.limits.write() = l;
        self.inner.refresh_all_views();
    }

    /// The limits that apply to `tenant` (its runtime override or the defaults).
    pub fn limits_for(&self, tenant: &str) -> Limits {
        self.inner.limits_for(tenant)
    }

    /// Replaces every per-tenant override (runtime configuration reload).
    pub fn set_tenant_limits(&self, overrides: HashMap<String, Limits>) {
        *self.inner.overrides.write() = overrides;
        self.inner.refresh_all_views();
    }

    /// The store's clock.
    pub fn clock(&self) -> &SharedClock {
        &self.inner.opts.clock
    }

    /// Records a delete request; its entries are hidden from queries at once.
    pub fn add_delete(
        &self,
        tenant: &str,
        query: &str,
        start: i64,
        end: i64,
    ) -> Result<DeleteRequest> {
        self.inner.refuse_deletes_here()?;
        let now = self.inner.opts.clock.now_ns();
        let r = self.inner.deletes.add(tenant, query, start, end, now)?;
        if let Some(t) = self.inner.tenant(tenant) {
            self.inner.refresh_view(tenant, &mut t.write());
        }
        self.inner.publish_deletes()?;
        Ok(r)
    }

    pub fn list_deletes(&self, tenant: &str) -> Vec<DeleteRequest> {
        self.inner.deletes.list(tenant)
    }

    /// Cancels a pending delete request; its entries become visible again.
    pub fn cancel_delete(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<std::result::Result<(), CancelError>> {
        self.inner.refuse_deletes_here()?;
        let r = self.inner.deletes.cancel(tenant, id)?;
        if let Some(t) = self.inner.tenant(tenant) {
            self.inner.refresh_view(tenant, &mut t.write());
        }
        self.inner.publish_deletes()?;
        Ok(r)
    }

    /// Runs one compaction pass now (flush, merge, retention, deletes).
    pub fn compact(&self) -> Result<crate::store::compaction::CompactionReport> {
        self.inner.compact()
    }

    /// Persists everything in memory now.
    pub fn flush(&self) -> Result<()> {
        self.inner.flush()
    }

    pub fn query_logs(&self, tenant: &str, q: &LogQuery<'_>) -> Result<(Vec<LogHit>, ScanStats)> {
        match self.inner.tenant(tenant) {
            Some(t) => query_logs(&t, q),
            None => Ok((Vec::new(), ScanStats::default())),
        }
    }

    /// A sample source over one tenant for the metric engine.
    pub fn samples(&self, tenant: &str, max_series: usize) -> TenantSamples {
        TenantSamples {
            tenant: self.inner.tenant(tenant).unwrap_or_default(),
            max_series,
            stats: Mutex::new(ScanStats::default()),
        }
    }

    pub(crate) fn tenant(&self, tenant: &str) -> Option<Arc<RwLock<Tenant>>> {
        self.inner.tenant(tenant)
    }

    pub fn counters(&self) -> &StoreCounters {
        &self.inner.counters
    }

    /// Hooks told about every durable batch (live tail).
    pub fn subscribers(&self) -> &crate::subscribe::Subscribers {
        &self.inner.subscribers
    }

    /// One tenant's streams, time range and chunk files (the status page).
    pub fn tenant_status(&self, tenant: &str) -> TenantStatus {
        self.inner.tenant_status(tenant)
    }

    /// When the compactor ran and runs next.
    pub fn compactor_schedule(&self) -> CompactorSchedule {
        self.inner.compactor_schedule()
    }

    pub fn stats(&self) -> StoreStats {
        self.inner.sweep_all();
        let tenants: Vec<Arc<RwLock<Tenant>>> =
            self.inner.tenants.read().values().cloned().collect();
        let streams = tenants.iter().map(|t| t.read().streams.len() as u64).sum();
        let active_streams = tenants.iter().map(|t| t.read().active_streams as u64).sum();
        let (chunk_files, chunk_bytes) = self.inner.chunk_sizes(|_| true);
        let wal_bytes = dir_size(&self.inner.opts.data_dir.join("wal"));
        StoreStats {
            streams,
            active_streams,
            tenants: tenants.len() as u64,
            chunk_files,
            chunk_bytes,
            wal_bytes,
            disk_bytes: chunk_bytes + wal_bytes,
            unflushed_bytes: self.inner.unflushed.load(Ordering::Relaxed),
        }
    }

    /// Scalable mode, target `write`: the acknowledged records after
    /// `after` that the bucket does not hold yet.
    pub fn feed_page(&self, after: u64, max_bytes: usize) -> Result<FeedPage> {
        self.inner.feed_page(after, max_bytes)
    }

    /// This store's writer id and incarnation (scalable mode).
    pub fn writer_identity(&self) -> (&str, &str) {
        (self.inner.writer_id(), &self.inner.incarnation)
    }

    /// Target `write`: the local manifest's checkpoint and how much of it
    /// the bucket holds.
    pub fn upload_lag(&self) -> (u64, u64) {
        self.inner.upload_lag()
    }

    /// Uploads to the bucket now what it lacks (target `write`).
    pub fn upload_now(&self) -> Result<()> {
        self.inner.upload_once()
    }

    /// Targets `read` and `backend`: reads the bucket and the feeds now.
    pub fn sync_replica(&self) {
        self.inner.replica_sync_once(true)
    }

    /// Targets `read` and `backend`: writers, bucket and feed errors.
    pub fn replica_status(&self) -> ReplicaStatus {
        self.inner.replica_status()
    }

    /// The bucket of scalable mode, if any.
    pub fn bucket(&self) -> Option<&Arc<lode_bucket::Bucket>> {
        match &self.inner.opts.remote {
            Some(Remote::Writer { bucket, .. }) | Some(Remote::Reader { bucket, .. }) => {
                Some(bucket)
            }
            None => None,
        }
    }

    /// This store's part in scalable mode and how it stands (`/ready`,
    /// `/metrics`, the status page).
    pub fn scalable_status(&self) -> ScalableStatus {
        match &self.inner.opts.remote {
            None => ScalableStatus::default(),
            Some(Remote::Writer { .. }) => {
                let (local, up) = self.upload_lag();
                ScalableStatus {
                    role: "writer",
                    writer_id: self.inner.writer_id.clone(),
                    local_checkpoint: local,
                    uploaded_checkpoint: up,
                    replica: None,
                }
            }
            Some(Remote::Reader { .. }) => ScalableStatus {
                role: "reader",
                replica: Some(self.replica_status()),
                ..Default::default()
            },
        }
    }

    /// Whether this store reads the bucket instead of a data directory.
    pub fn is_replica(&self) -> bool {
        matches!(self.inner.opts.remote, Some(Remote::Reader { .. }))
    }

    /// Stops accepting writes, drains the writer, flushes and joins threads.
    pub fn shutdown(&self) -> Result<()> {
        self.inner.writer_tx.lock().take();
        self.inner.flush_tx.lock().take();
        self.inner.compact_tx.lock().take();
        self.inner.upload_tx.lock().take();
        self.inner.replica_tx.lock().take();
        let threads: Vec<_> = self.threads.lock().drain(..).collect();
        for t in threads {
            let _ = t.join();
        }
        if self.is_replica() {
            return Ok(());
        }
        self.inner.flush()?;
        if let Err(e) = self.inner.upload_once() {
            tracing::warn!(error = %e, "upload at shutdown failed; the next start uploads it");
        }
        Ok(())
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if !self.threads.lock().is_empty() {
            if let Err(e) = self.shutdown() {
                tracing::error!(error = %e, "flush at shutdown failed; data stays in the WAL");
            }
        }
    }
}

fn dir_size(p: &Path) -> u64 {
    fs::read_dir(p)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod head_budget_tests;

#[cfg(test)]
mod activity_tests;

#[cfg(test)]
mod open_tests;

#[cfg(test)]
mod replica_tests;
