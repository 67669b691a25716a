//! The store: ties the write-ahead log, the in-memory heads, the chunk
//! files and the manifest together.
//!
//! Write path: `push` validates on the caller's thread, then hands the
//! accepted streams to one writer thread, which appends them to the WAL in
//! batches (group commit: one fsync for every push waiting), applies them to
//! memory and only then acknowledges. A flusher thread periodically seals
//! all heads into one chunk file per tenant, records the WAL position they
//! cover in the manifest, and deletes the WAL segments no longer needed.

use crate::clock::SharedClock;
use crate::delete::{CancelError, DeleteRegistry, DeleteRequest};
use crate::error::{Result, StorageError};
use crate::format::block::Compression;
use crate::format::chunk_file::{sync_dir, ChunkFile, ChunkWriter};
use crate::format::manifest::{FileEntry, Manifest};
use crate::format::wal::{self, WalWriter};
use crate::ingest::{validate, Limits};
use crate::query::{query_logs, LogHit, LogQuery, ScanStats};
use crate::samples::TenantSamples;
use crate::tenant::{BlockHandle, MemBlock, Tenant};
use lode_logql::LabelSet;
use lode_proto::PushStream;
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

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
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            data_dir: PathBuf::from("./data"),
            fsync: true,
            block_target_bytes: 256 * 1024,
            flush_interval: Duration::from_secs(60),
            max_unflushed_bytes: 64 << 20,
            compression: Compression::Zstd(1),
            clock: crate::clock::system(),
            compaction_interval: Duration::from_secs(600),
            retention_enabled: true,
            delete_cancel_period: Duration::from_secs(24 * 3600),
            inject_disk_full: Arc::new(AtomicBool::new(false)),
            inject_fsync_failure: Arc::new(AtomicBool::new(false)),
            chunk_idle_period: Duration::from_secs(30 * 60),
        }
    }
}

impl StoreOptions {
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
}

/// A snapshot for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreStats {
    pub streams: u64,
    /// Streams that received an entry within `chunk_idle_period`.
    pub active_streams: u64,
    pub tenants: u64,
    pub chunk_files: u64,
    pub disk_bytes: u64,
    pub unflushed_bytes: u64,
}

/// Refusals listed in one push's error answer.
const MAX_RETURNED_ERRORS: usize = 10;

/// Called once a push is durable (or failed).
pub type PushCallback = Box<dyn FnOnce(Result<()>) + Send>;

struct WriteOp {
    tenant: String,
    streams: Vec<(LabelSet, PushStream)>,
    done: PushCallback,
}

/// What the WAL writer thread is asked to do.
enum WriterMsg {
    Push(WriteOp),
    /// Close the current segment (when it holds anything) and start a new
    /// one; answered once done. A flush asks for this so that the segment
    /// its checkpoint covers can be deleted at once.
    Rotate(mpsc::SyncSender<()>),
}

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
}

/// The log store.
pub struct Store {
    inner: Arc<Inner>,
    threads: Mutex<Vec<thread::JoinHandle<()>>>,
}

pub(crate) fn tenant_dir(data: &Path, tenant: &str) -> PathBuf {
    // Tenant IDs never appear raw in a path: hex is safe whatever they hold.
    let mut hex = String::with_capacity(tenant.len() * 2 + 2);
    hex.push_str("t-");
    for b in tenant.bytes() {
        hex.push_str(&format!("{b:02x}"));
    }
    data.join("tenants").join(hex)
}

pub(crate) fn chunk_path(data: &Path, tenant: &str, id: u64) -> PathBuf {
    tenant_dir(data, tenant).join(format!("{id:016x}.chunk"))
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

    pub(crate) fn refresh_all_views(&self) {
        let tenants: Vec<(String, Arc<RwLock<Tenant>>)> = self
            .tenants
            .read()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (name, t) in tenants {
            self.refresh_view(&name, &mut t.write());
        }
    }

    pub(crate) fn tenant(&self, name: &str) -> Option<Arc<RwLock<Tenant>>> {
        self.tenants.read().get(name).cloned()
    }

    fn tenant_or_create(&self, name: &str) -> Arc<RwLock<Tenant>> {
        if let Some(t) = self.tenant(name) {
            return t;
        }
        let mut fresh = Tenant::default();
        self.refresh_view(name, &mut fresh);
        self.tenants
            .write()
            .entry(name.to_string())
            .or_insert_with(|| Arc::new(RwLock::new(fresh)))
            .clone()
    }

    /// Applies one WAL record, pushed at `pushed_at` (store clock), to
    /// memory. Called with `apply_lock` held.
    fn apply(
        &self,
        tenant: &str,
        streams: Vec<(LabelSet, PushStream)>,
        pushed_at: i64,
    ) -> Result<()> {
        let t = self.tenant_or_create(tenant);
        let mut t = t.write();
        t.sweep_idle(pushed_at, self.opts.idle_ns(), self.opts.sweep_every_ns());
        for (labels, s) in streams {
            let id = t.stream_id(&labels);
            t.mark_active(id, pushed_at);
            for e in &s.entries {
                t.note_period(id, e.ts);
            }
            let st = &mut t.streams[id as usize];
            for e in &s.entries {
                let before = st.head.bytes();
                st.push(e);
                let grown = (st.head.bytes() - before) as u64;
                self.unflushed.fetch_add(grown, Ordering::Relaxed);
                self.head_raw.fetch_add(grown, Ordering::Relaxed);
                if st.head.bytes() >= self.opts.block_target_bytes {
                    self.cut_head(st)?;
                }
            }
        }
        let budget = (self.opts.max_unflushed_bytes / 2) as u64;
        if self.head_raw.load(Ordering::Relaxed) > budget {
            self.cut_largest_heads(&mut t, budget - budget / 4)?;
        }
        Ok(())
    }

    /// Seals a stream's head into an in-memory block, keeping the memory
    /// counters in step.
    fn cut_head(&self, st: &mut crate::tenant::Stream) -> Result<()> {
        let raw = st.head.bytes() as u64;
        if let Some(b) = st.cut(self.opts.compression)? {
            self.unflushed
                .fetch_add(b.payload.len() as u64, Ordering::Relaxed);
        }
        self.unflushed.fetch_sub(raw, Ordering::Relaxed);
        self.head_raw.fetch_sub(raw, Ordering::Relaxed);
        Ok(())
    }

    /// Uncompressed heads are the bulk of ingest memory: with many quiet
    /// streams most never reach `block_target_bytes` before a flush. Past
    /// half of `max_unflushed_bytes` the largest heads are compressed into
    /// in-memory blocks (still covered by the WAL until the next flush)
    /// until heads hold `target` bytes. Compared with flushing, this keeps
    /// blocks large (a flush seals every head, however small) and flushes
    /// rare. Heads under `MIN_CUT` stay: other tenants may hold the rest.
    fn cut_largest_heads(&self, t: &mut Tenant, target: u64) -> Result<()> {
        const MIN_CUT: usize = 4096;
        let mut sizes: Vec<(usize, u32)> = t
            .streams
            .iter()
            .enumerate()
            .filter(|(_, s)| s.head.bytes() >= MIN_CUT)
            .map(|(i, s)| (s.head.bytes(), i as u32))
            .collect();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        for (_, id) in sizes {
            if self.head_raw.load(Ordering::Relaxed) <= target {
                break;
            }
            self.cut_head(&mut t.streams[id as usize])?;
        }
        Ok(())
    }

    fn writer_loop(
        self: Arc<Self>,
        rx: mpsc::Receiver<WriterMsg>,
        mut wal: WalWriter,
        mut next_seq: u64,
    ) {
        let mut buf = Vec::with_capacity(1 << 20);
        let mut poisoned = false;
        while let Ok(first) = rx.recv() {
            let mut batch = Vec::new();
            let mut rotated = Vec::new();
            let mut push_or_rotate = |m: WriterMsg, batch: &mut Vec<WriteOp>| match m {
                WriterMsg::Push(op) => batch.push(op),
                WriterMsg::Rotate(done) => rotated.push(done),
            };
            push_or_rotate(first, &mut batch);
            while batch.len() < 1024 {
                match rx.try_recv() {
                    Ok(m) => push_or_rotate(m, &mut batch),
                    Err(_) => break,
                }
            }
            if !rotated.is_empty() && !wal.is_empty() {
                if let Err(e) = wal.rotate(next_seq) {
                    tracing::error!(error = %e, "rotating the write-ahead log failed");
                }
            }
            for done in rotated {
                let _ = done.send(());
            }
            if batch.is_empty() {
                continue;
            }
            buf.clear();
            let first_seq = next_seq;
            let pushed_at = self.opts.clock.now_ns();
            for op in &batch {
                wal::encode_record(
                    &mut buf,
                    next_seq,
                    &op.tenant,
                    pushed_at,
                    op.streams
                        .iter()
                        .map(|(l, s)| (l.as_slice(), s.entries.as_slice())),
                );
                next_seq += 1;
            }
            // After a failed write or fsync nothing more goes to that
            // segment: what the kernel reported lost is not known, and a
            // later fsync of the same file can succeed without the lost
            // pages (fjall and PostgreSQL treat it the same way). Pushes are
            // refused until a fresh segment is open.
            if poisoned {
                match wal.restart_at(next_seq) {
                    Ok(()) => {
                        poisoned = false;
                        tracing::warn!(
                            segment_first_seq = next_seq,
                            "write-ahead log continues in a new segment after a write failure"
                        );
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "write-ahead log still unavailable; pushes refused");
                        let msg = format!("write-ahead log unavailable after a write failure: {e}");
                        next_seq = first_seq;
                        for op in batch {
                            (op.done)(Err(StorageError::Unavailable(msg.clone())));
                        }
                        continue;
                    }
                }
            }
            let appended = if self.opts.inject_disk_full.load(Ordering::Relaxed) {
                Err(StorageError::from_io(
                    "writing wal",
                    std::io::Error::from_raw_os_error(28),
                ))
            } else if self.opts.inject_fsync_failure.load(Ordering::Relaxed) {
                wal.append_with_failing_sync(&buf)
            } else {
                wal.append(&buf, self.opts.fsync)
            };
            if let Err(e) = appended {
                tracing::error!(error = %e, "write-ahead log append failed; pushes refused");
                poisoned = true;
                self.counters
                    .wal_write_failures
                    .fetch_add(1, Ordering::Relaxed);
                next_seq = first_seq;
                let msg = e.to_string();
                let disk_full = matches!(e, StorageError::DiskFull(_));
                if disk_full {
                    self.counters
                        .disk_full_errors
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                }
                for op in batch {
                    (op.done)(Err(if disk_full {
                        StorageError::DiskFull(msg.clone())
                    } else {
                        StorageError::Io(std::io::Error::other(msg.clone()))
                    }));
                }
                continue;
            }
            if self.opts.fsync {
                self.counters.wal_syncs.fetch_add(1, Ordering::Relaxed);
            }
            self.counters
                .wal_bytes
                .fetch_add(buf.len() as u64, Ordering::Relaxed);
            let mut results = Vec::with_capacity(batch.len());
            {
                let _g = self.apply_lock.lock();
                for (i, op) in batch.iter_mut().enumerate() {
                    let streams = std::mem::take(&mut op.streams);
                    self.subscribers.notify(&op.tenant, &streams);
                    results.push(self.apply(&op.tenant, streams, pushed_at));
                    self.applied_seq
                        .store(first_seq + i as u64, Ordering::Release);
                }
            }
            for (op, r) in batch.into_iter().zip(results) {
                (op.done)(r);
            }
            if self.unflushed.load(Ordering::Relaxed) > self.opts.max_unflushed_bytes as u64 {
                if let Some(tx) = self.flush_tx.lock().as_ref() {
                    let _ = tx.send(());
                }
            }
        }
        if let Err(e) = wal.sync() {
            tracing::error!(error = %e, "final write-ahead log sync failed");
        }
    }

    /// Seals every head and persists all in-memory blocks into chunk files.
    pub(crate) fn flush(&self) -> Result<()> {
        let _f = self.flush_lock.lock();
        type Work = Vec<(
            u32,
            Arc<crate::stored_labels::StoredLabels>,
            Vec<Arc<MemBlock>>,
        )>;
        let (checkpoint, work): (u64, Vec<(String, Work)>) = {
            let _a = self.apply_lock.lock();
            let checkpoint = self.applied_seq.load(Ordering::Acquire);
            let tenants: Vec<(String, Arc<RwLock<Tenant>>)> = self
                .tenants
                .read()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let mut work = Vec::new();
            for (name, t) in tenants {
                let mut t = t.write();
                let mut tw: Work = Vec::new();
                for (id, s) in t.streams.iter_mut().enumerate() {
                    self.cut_head(s)?;
                    let mems: Vec<Arc<MemBlock>> = s
                        .blocks
                        .iter()
                        .filter_map(|b| match b {
                            BlockHandle::Mem(m) => Some(m.clone()),
                            BlockHandle::File(..) => None,
                        })
                        .collect();
                    if !mems.is_empty() {
                        tw.push((id as u32, s.labels.clone(), mems));
                    }
                }
                if !tw.is_empty() {
                    work.push((name, tw));
                }
            }
            (checkpoint, work)
        };
        let mut manifest = self.manifest.lock().clone();
        if work.is_empty() && checkpoint <= manifest.checkpoint {
            return Ok(());
        }
        let data = &self.opts.data_dir;
        let mut written = Vec::new();
        let dirs: Vec<PathBuf> = work.iter().map(|(t, _)| tenant_dir(data, t)).collect();
        let write_files = || -> Result<()> {
            for (tenant, tw) in work {
                let dir = tenant_dir(data, &tenant);
                fs::create_dir_all(&dir)
                    .map_err(|e| StorageError::from_io("creating tenant dir", e))?;
                let id = manifest.next_file_id;
                manifest.next_file_id += 1;
                let path = chunk_path(data, &tenant, id);
                let mut w = ChunkWriter::create(&path)?;
                let mut placed = Vec::new();
                for (sid, labels, mems) in &tw {
                    let fs_id = w.stream(labels);
                    for m in mems {
                        w.add_block(
                            fs_id,
                            &m.payload,
                            m.min_ts,
                            m.max_ts,
                            m.entries,
                            m.line_bytes,
                        )?;
                        w.set_filter(&m.filter);
                        placed.push((*sid, m.clone(), (w.block_count() - 1) as u32));
                    }
                }
                w.finish()?;
                sync_dir(&dir)?;
                manifest.files.push(FileEntry {
                    tenant: tenant.clone(),
                    id,
                });
                written.push((tenant, id, path, placed));
            }
            Ok(())
        };
        if let Err(e) = write_files() {
            // Nothing refers to these files yet: free the space now (a full
            // disk must not fill up further with every retry).
            for (_, _, path, _) in &written {
                let _ = fs::remove_file(path);
            }
            crate::compaction::remove_tmp_files(&dirs);
            return Err(e);
        }
        manifest.checkpoint = manifest.checkpoint.max(checkpoint);
        manifest.store(data)?;
        *self.manifest.lock() = manifest;
        for (tenant, id, path, placed) in written {
            let mut file = ChunkFile::open(&path, id)?;
            let t = self.tenant_or_create(&tenant);
            let mut t = t.write();
            t.share_labels(&mut file);
            let file = Arc::new(file);
            for (sid, mem, idx) in placed {
                let s = &mut t.streams[sid as usize];
                for b in s.blocks.iter_mut() {
                    if let BlockHandle::Mem(m) = b {
                        if Arc::ptr_eq(m, &mem) {
                            self.unflushed
                                .fetch_sub(mem.payload.len() as u64, Ordering::Relaxed);
                            *b = BlockHandle::File(file.clone(), idx);
                            break;
                        }
                    }
                }
            }
        }
        // The segment being written holds records up to the checkpoint:
        // close it now (instead of at the next push) so it goes at once.
        self.rotate_wal_now();
        wal::remove_covered(&data.join("wal"), checkpoint)?;
        self.counters.flushes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Asks the writer to start a new WAL segment and waits for it (not at
    /// all once the writer has stopped).
    fn rotate_wal_now(&self) {
        let tx = self.writer_tx.lock().clone();
        if let Some(tx) = tx {
            let (done, wait) = mpsc::sync_channel(1);
            if tx.send(WriterMsg::Rotate(done)).is_ok() {
                let _ = wait.recv_timeout(Duration::from_secs(30));
            }
        }
    }

    /// Sweeps idle streams out of a tenant's active set when a sweep is due.
    fn sweep_if_due(&self, t: &RwLock<Tenant>, now: i64) {
        let every = self.opts.sweep_every_ns();
        if t.read().sweep_due(now, every) {
            t.write().sweep_idle(now, self.opts.idle_ns(), every);
        }
    }

    pub(crate) fn sweep_all(&self) {
        let now = self.opts.clock.now_ns();
        let tenants: Vec<Arc<RwLock<Tenant>>> = self.tenants.read().values().cloned().collect();
        for t in tenants {
            self.sweep_if_due(&t, now);
        }
    }
}

impl Store {
    /// Opens (or creates) a store: loads the manifest and chunk footers,
    /// replays the WAL, and starts the writer and flusher threads.
    pub fn open(opts: StoreOptions, limits: Limits) -> Result<Store> {
        let data = opts.data_dir.clone();
        let io = |ctx: &'static str| move |e| StorageError::from_io(ctx, e);
        let named = |what: &str, p: &Path| {
            let ctx = format!("{what} {}", p.display());
            move |e| StorageError::from_io(&ctx, e)
        };
        fs::create_dir_all(&data).map_err(named("creating data directory", &data))?;
        let lock = lock_data_dir(&data)?;
        for sub in ["wal", "tenants"] {
            let p = data.join(sub);
            fs::create_dir_all(&p).map_err(named("creating", &p))?;
        }
        crate::format::check_version_file(&data)?;
        refuse_without_manifest(&data)?;
        let manifest = Manifest::load(&data)?;
        let inner = Arc::new(Inner {
            opts: opts.clone(),
            limits: RwLock::new(limits),
            tenants: RwLock::new(HashMap::new()),
            apply_lock: Mutex::new(()),
            applied_seq: AtomicU64::new(manifest.checkpoint),
            flush_lock: Mutex::new(()),
            manifest: Mutex::new(manifest.clone()),
            unflushed: AtomicU64::new(0),
            head_raw: AtomicU64::new(0),
            counters: StoreCounters::default(),
            flush_tx: Mutex::new(None),
            subscribers: Default::default(),
            overrides: RwLock::new(HashMap::new()),
            deletes: DeleteRegistry::load(&data)?,
            rate: crate::rate::RateLimiter::default(),
            compact_tx: Mutex::new(None),
            compact_lock: Mutex::new(()),
            writer_tx: Mutex::new(None),
            _lock: lock,
        });
        let started = Instant::now();
        let mut live = std::collections::HashSet::new();
        let mut unreadable = Vec::new();
        for f in &manifest.files {
            let path = chunk_path(&data, &f.tenant, f.id);
            live.insert(path.clone());
            let mut file = match ChunkFile::open(&path, f.id) {
                Ok(file) => file,
                Err(e @ StorageError::Corrupt(_)) => {
                    // Truncated or damaged beyond its footer: what it held
                    // cannot be located any more. Kept aside, not deleted;
                    // every other file keeps serving.
                    let kept = quarantine_file(&data, &path)?;
                    tracing::error!(file = %path.display(), error = %e, kept = %kept.display(), "chunk file unreadable: moved to quarantine, the other files keep serving");
                    crate::format::chunk_file::UNREADABLE_FILES.fetch_add(1, Ordering::Relaxed);
                    live.remove(&path);
                    unreadable.push((f.tenant.clone(), f.id));
                    continue;
                }
                Err(e) => {
                    tracing::error!(file = %path.display(), error = %e, "chunk file unreadable; its data is skipped");
                    continue;
                }
            };
            let t = inner.tenant_or_create(&f.tenant);
            let mut t = t.write();
            let ids: Vec<u32> = file.streams.iter().map(|l| t.stream_id_stored(l)).collect();
            t.share_labels(&mut file);
            let file = Arc::new(file);
            for (i, b) in file.blocks.iter().enumerate() {
                let id = ids[b.stream as usize];
                t.note_span(id, b.min_ts, b.max_ts);
                let s = &mut t.streams[id as usize];
                s.min_ts = s.min_ts.min(b.min_ts);
                s.max_ts = s.max_ts.max(b.max_ts);
                s.blocks.push(BlockHandle::File(file.clone(), i as u32));
            }
        }
        if !unreadable.is_empty() {
            let mut m = inner.manifest.lock();
            m.files
                .retain(|f| !unreadable.contains(&(f.tenant.clone(), f.id)));
            m.store(&data)?;
        }
        remove_orphans(&data.join("tenants"), &live)?;
        let stats = {
            let _g = inner.apply_lock.lock();
            let now = opts.clock.now_ns();
            wal::replay(&data.join("wal"), manifest.checkpoint, |rec| {
                let streams = rec
                    .streams
                    .into_iter()
                    .map(|s| (LabelSet::from_pairs(s.labels.iter().cloned()), s))
                    .collect();
                // The active set after a restart is what the WAL says was
                // pushed when (records of older builds: as of now).
                inner.apply(&rec.tenant, streams, rec.pushed_at.unwrap_or(now))?;
                inner.applied_seq.store(rec.seq, Ordering::Release);
                Ok(())
            })?
        };
        inner
            .counters
            .wal_corrupt_records
            .store(stats.corrupt_records, Ordering::Relaxed);
        if stats.corrupt_records > 0 {
            tracing::error!(
                records = stats.corrupt_records,
                "damaged write-ahead log records were skipped at start-up; their pushes are lost (see lode_wal_corrupt_records_total)"
            );
        }
        tracing::info!(
            files = manifest.files.len(),
            wal_records = stats.applied,
            torn_bytes = stats.truncated_bytes,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "store opened"
        );
        let next_seq = stats.max_seq.max(manifest.checkpoint) + 1;
        let wal = WalWriter::create(&data.join("wal"), next_seq)?;
        let (wtx, wrx) = mpsc::channel();
        *inner.writer_tx.lock() = Some(wtx);
        let (ftx, frx) = mpsc::channel::<()>();
        *inner.flush_tx.lock() = Some(ftx);
        let mut threads = Vec::new();
        let w = inner.clone();
        threads.push(
            thread::Builder::new()
                .name("lode-wal".into())
                .spawn(move || w.writer_loop(wrx, wal, next_seq))
                .map_err(io("spawning writer"))?,
        );
        let f = inner.clone();
        threads.push(
            thread::Builder::new()
                .name("lode-flush".into())
                .spawn(move || {
                    while let Ok(()) | Err(mpsc::RecvTimeoutError::Timeout) =
                        frx.recv_timeout(f.opts.flush_interval)
                    {
                        if let Err(e) = f.flush() {
                            tracing::error!(error = %e, "flush failed; data stays in the WAL");
                        }
                        f.sweep_all();
                    }
                })
                .map_err(io("spawning flusher"))?,
        );
        let (ctx, crx) = mpsc::channel::<()>();
        *inner.compact_tx.lock() = Some(ctx);
        let c = inner.clone();
        threads.push(
            thread::Builder::new()
                .name("lode-compact".into())
                .spawn(move || c.compactor_loop(crx))
                .map_err(io("spawning compactor"))?,
        );
        Ok(Store {
            inner,
            threads: Mutex::new(threads),
        })
    }

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
        let now = self.inner.opts.clock.now_ns();
        let r = self.inner.deletes.add(tenant, query, start, end, now)?;
        if let Some(t) = self.inner.tenant(tenant) {
            self.inner.refresh_view(tenant, &mut t.write());
        }
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
        let r = self.inner.deletes.cancel(tenant, id)?;
        if let Some(t) = self.inner.tenant(tenant) {
            self.inner.refresh_view(tenant, &mut t.write());
        }
        Ok(r)
    }

    /// Runs one compaction pass now (flush, merge, retention, deletes).
    pub fn compact(&self) -> Result<crate::compaction::CompactionReport> {
        self.inner.compact()
    }

    /// Validates and stores a push. `done` is called once the accepted part
    /// is durable, with an error describing refused entries if any (they are
    /// refused, the rest is kept, as Loki does).
    pub fn push(&self, tenant: &str, streams: Vec<PushStream>, done: PushCallback) {
        let limits = self.inner.limits_for(tenant);
        let now = self.inner.opts.clock.now_ns();
        let t = self.inner.tenant(tenant);
        if let Some(t) = &t {
            self.inner.sweep_if_due(t, now);
        }
        let v = {
            let guard = t.as_ref().map(|t| t.read());
            let count = guard.as_ref().map_or(0, |g| g.active_streams);
            validate(tenant, streams, &limits, now, count, |l| {
                let g = guard.as_ref()?;
                let s = &g.streams[g.lookup(l)? as usize];
                s.active.then_some(s.max_ts)
            })
        };
        let c = &self.inner.counters;
        if !v.streams.is_empty()
            && !self.inner.rate.allow(
                tenant,
                limits.ingestion_rate_bytes,
                limits.ingestion_burst_bytes,
                v.rate_bytes,
                now,
            )
        {
            c.rejected_lines
                .fetch_add(v.accepted_lines, Ordering::Relaxed);
            done(Err(StorageError::RateLimited(format!(
                "ingestion rate limit exceeded for user {tenant} (limit: {} bytes/sec) while attempting to ingest '{}' lines totaling '{}' bytes, reduce log volume or contact your Loki administrator to see if the limit can be increased",
                limits.ingestion_rate_bytes as u64, v.accepted_lines, v.rate_bytes
            ))));
            return;
        }
        let rejected = (v.errors.len() + v.limited.len()) as u64;
        c.rejected_lines.fetch_add(rejected, Ordering::Relaxed);
        // At most ten refusals are listed (a 200k-stream push must not get
        // a 51 MB answer), the rest counted.
        let listed = |errors: &[String]| {
            let mut msg = errors
                .iter()
                .take(MAX_RETURNED_ERRORS)
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join("\n");
            if errors.len() > MAX_RETURNED_ERRORS {
                msg.push_str(&format!(
                    "\n(and {} more errors)",
                    errors.len() - MAX_RETURNED_ERRORS
                ));
            }
            msg
        };
        let failure = if !v.limited.is_empty() {
            Some(StorageError::RateLimited(listed(&v.limited)))
        } else if !v.errors.is_empty() {
            Some(StorageError::PartialReject(listed(&v.errors)))
        } else {
            None
        };
        if v.streams.is_empty() {
            done(failure.map_or(Ok(()), Err));
            return;
        }
        let (lines, bytes) = (v.accepted_lines, v.accepted_bytes);
        let inner = self.inner.clone();
        let op = WriteOp {
            tenant: tenant.to_string(),
            streams: v.streams,
            done: Box::new(move |r| {
                if r.is_ok() {
                    inner.counters.lines.fetch_add(lines, Ordering::Relaxed);
                    inner.counters.bytes.fetch_add(bytes, Ordering::Relaxed);
                }
                done(match (r, failure) {
                    (Err(e), _) => Err(e),
                    (Ok(()), Some(f)) => Err(f),
                    (Ok(()), None) => Ok(()),
                })
            }),
        };
        let tx = self.inner.writer_tx.lock().clone();
        match tx {
            Some(tx) => {
                if let Err(mpsc::SendError(WriterMsg::Push(op))) = tx.send(WriterMsg::Push(op)) {
                    (op.done)(Err(StorageError::Unavailable("writer stopped".into())));
                }
            }
            None => (op.done)(Err(StorageError::Unavailable("shutting down".into()))),
        }
    }

    /// Blocking convenience wrapper around `push`.
    pub fn push_sync(&self, tenant: &str, streams: Vec<PushStream>) -> Result<()> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.push(
            tenant,
            streams,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        rx.recv()
            .unwrap_or_else(|_| Err(StorageError::Unavailable("writer stopped".into())))
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

    pub fn stats(&self) -> StoreStats {
        self.inner.sweep_all();
        let tenants: Vec<Arc<RwLock<Tenant>>> =
            self.inner.tenants.read().values().cloned().collect();
        let streams = tenants.iter().map(|t| t.read().streams.len() as u64).sum();
        let active_streams = tenants.iter().map(|t| t.read().active_streams as u64).sum();
        let m = self.inner.manifest.lock().clone();
        let mut disk = dir_size(&self.inner.opts.data_dir.join("wal"));
        for f in &m.files {
            disk += fs::metadata(chunk_path(&self.inner.opts.data_dir, &f.tenant, f.id))
                .map(|m| m.len())
                .unwrap_or(0);
        }
        StoreStats {
            streams,
            active_streams,
            tenants: tenants.len() as u64,
            chunk_files: m.files.len() as u64,
            disk_bytes: disk,
            unflushed_bytes: self.inner.unflushed.load(Ordering::Relaxed),
        }
    }

    /// Stops accepting writes, drains the writer, flushes and joins threads.
    pub fn shutdown(&self) -> Result<()> {
        self.inner.writer_tx.lock().take();
        self.inner.flush_tx.lock().take();
        self.inner.compact_tx.lock().take();
        let threads: Vec<_> = self.threads.lock().drain(..).collect();
        for t in threads {
            let _ = t.join();
        }
        self.inner.flush()
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

/// Takes the data directory's exclusive lock (released by the kernel when
/// the process ends, however it ends).
fn lock_data_dir(data: &Path) -> Result<fs::File> {
    let path = data.join("LOCK");
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StorageError::from_io(&format!("opening {}", path.display()), e))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(fs::TryLockError::WouldBlock) => Err(StorageError::Locked {
            dir: data.display().to_string(),
        }),
        Err(fs::TryLockError::Error(e)) => Err(StorageError::from_io(
            &format!("locking {}", path.display()),
            e,
        )),
    }
}

/// Chunk files without a manifest cannot be told apart from leftovers, and
/// start-up deletes leftovers: refuse instead of deleting every file.
fn refuse_without_manifest(data: &Path) -> Result<()> {
    if data.join(crate::format::manifest::MANIFEST).exists() {
        return Ok(());
    }
    let chunks = tenant_files(&data.join("tenants"))
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("chunk"))
        .count();
    if chunks == 0 {
        return Ok(());
    }
    Err(StorageError::Refused(format!(
        "{} is missing but {chunks} chunk files exist under {}: refusing to start, nothing was changed. \
         Restore MANIFEST.json from a backup of this data directory, or move {} aside to start with an empty store",
        data.join(crate::format::manifest::MANIFEST).display(),
        data.join("tenants").display(),
        data.join("tenants").display(),
    )))
}

/// Deletes chunk files that no manifest lists: leftovers of a flush or
/// compaction interrupted before its manifest was written.
fn remove_orphans(tenants: &Path, live: &std::collections::HashSet<PathBuf>) -> Result<()> {
    for p in tenant_files(tenants) {
        let ext = p.extension().and_then(|e| e.to_str());
        if matches!(ext, Some("chunk") | Some("tmp")) && !live.contains(&p) {
            tracing::info!(file = %p.display(), "removing unreferenced chunk file");
            fs::remove_file(&p)?;
        }
    }
    Ok(())
}

/// Every file in the tenant directories under `tenants` (unreadable
/// directories are passed over).
fn tenant_files(tenants: &Path) -> impl Iterator<Item = PathBuf> {
    fs::read_dir(tenants)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|d| fs::read_dir(d.path()).ok())
        .flatten()
        .flatten()
        .map(|f| f.path())
}

#[cfg(test)]
mod head_budget_tests {
    use super::*;
    use crate::query::Direction;
    use lode_logql::pipeline::LogPipeline;
    use lode_proto::Entry;

    /// Heads past half of `max_unflushed_bytes` are compressed largest
    /// first without a flush; every entry stays readable exactly once, also
    /// after a restart that replays the WAL over those blocks.
    #[test]
    fn heads_are_cut_largest_first_without_flushing() {
        let dir = tempfile::tempdir().unwrap();
        let opts = StoreOptions {
            data_dir: dir.path().to_path_buf(),
            fsync: false,
            block_target_bytes: 1 << 20,
            max_unflushed_bytes: 256 << 10,
            flush_interval: std::time::Duration::from_secs(3600),
            ..Default::default()
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i64;
        let base = now - 3_600_000_000_000;
        let store = Store::open(opts.clone(), Limits::default()).unwrap();
        // Stream 0 is busy, the other 19 are quiet.
        for round in 0..40i64 {
            let streams: Vec<PushStream> = (0..20)
                .map(|s| PushStream {
                    labels: vec![("app".into(), format!("a{s}"))],
                    entries: (0..if s == 0 { 40 } else { 2 })
                        .map(|i| Entry {
                            ts: base + (round * 100 + i) * 1_000_000,
                            line: format!(
                                "round {round} entry {i} of stream {s} {}",
                                "x".repeat(90)
                            ),
                            structured_metadata: vec![],
                        })
                        .collect(),
                })
                .collect();
            store.push_sync("t", streams).unwrap();
            let heads = store.inner.head_raw.load(Ordering::Relaxed);
            assert!(
                heads <= 128 << 10,
                "round {round}: heads hold {heads} bytes"
            );
        }
        assert_eq!(store.inner.counters.flushes.load(Ordering::Relaxed), 0);
        let busy_blocks = {
            let t = store.inner.tenant("t").unwrap();
            let t = t.read();
            let id = t.lookup(&LabelSet::from_pairs([("app", "a0")])).unwrap();
            t.streams[id as usize].blocks.len()
        };
        assert!(
            busy_blocks >= 2,
            "the busy stream was cut {busy_blocks} times"
        );
        let count = |store: &Store| {
            let p = LogPipeline::new(&[]).unwrap();
            let q = LogQuery {
                matchers: &lode_logql::parse("{app=~\".+\"}")
                    .map(|e| match e {
                        lode_logql::Expr::Log(l) => l.selector,
                        _ => unreachable!(),
                    })
                    .unwrap(),
                pipeline: &p,
                start: base - 1,
                end: now,
                limit: 100_000,
                direction: Direction::Forward,
            };
            store.query_logs("t", &q).unwrap().0.len()
        };
        let expected = 40 * (40 + 19 * 2);
        assert_eq!(count(&store), expected);
        drop(store);
        let store = Store::open(opts, Limits::default()).unwrap();
        assert_eq!(count(&store), expected);
    }
}

#[cfg(test)]
mod activity_tests;

#[cfg(test)]
mod open_tests;

/// Where what is set aside from the chunk file at `chunk` goes:
/// `quarantine/<its tenant dir>/` (the startup and the compactor share it).
pub(crate) fn quarantine_dir(data: &Path, chunk: &Path) -> PathBuf {
    let tenant_dir = chunk
        .parent()
        .and_then(|p| p.file_name())
        .unwrap_or_default();
    data.join("quarantine").join(tenant_dir)
}

/// Moves an unreadable chunk file to `quarantine/<tenant dir>/`.
fn quarantine_file(data: &Path, path: &Path) -> Result<PathBuf> {
    let dir = quarantine_dir(data, path);
    fs::create_dir_all(&dir)
        .map_err(|e| StorageError::from_io(&format!("creating {}", dir.display()), e))?;
    let kept = dir.join(path.file_name().unwrap_or_default());
    fs::rename(path, &kept)
        .map_err(|e| StorageError::from_io(&format!("quarantining {}", path.display()), e))?;
    sync_dir(&dir)?;
    Ok(kept)
}
