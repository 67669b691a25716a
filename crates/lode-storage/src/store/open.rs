//! Opening a data directory: the lock, the format version, the manifest,
//! chunk files (quarantining unreadable ones), WAL replay, and the
//! background threads.

use crate::delete::DeleteRegistry;
use crate::error::{Result, StorageError};
use crate::format::chunk_file::{sync_dir, ChunkFile};
use crate::format::manifest::Manifest;
use crate::format::wal::{self, WalWriter};
use crate::ingest::Limits;
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use super::*;
use crate::layout::{chunk_path, quarantine_dir};

impl Store {
    /// Opens (or creates) a store: loads the manifest and chunk footers,
    /// replays the WAL, and starts the writer and flusher threads.
    pub fn open(opts: StoreOptions, limits: Limits) -> Result<Store> {
        let data = opts.data_dir.clone();
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
        let writer = matches!(opts.remote, Some(Remote::Writer { .. }));
        let reader = matches!(opts.remote, Some(Remote::Reader { .. }));
        let writer_id = if writer {
            writer_id(&data)?
        } else {
            String::new()
        };
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
            started_ns: opts.clock.now_ns(),
            last_compaction_ns: std::sync::atomic::AtomicI64::new(i64::MIN),
            writer_id,
            incarnation: crate::hash::random_hex(),
            feed: writer.then(Default::default),
            uploaded: AtomicU64::new(if writer { 0 } else { u64::MAX }),
            upload_tx: Mutex::new(None),
            upload_lock: Mutex::new(()),
            upload_state: Default::default(),
            replica: Default::default(),
            replica_tx: Mutex::new(None),
        });
        if reader {
            return Store::start_replica(inner);
        }
        let started = Instant::now();
        let mut live = std::collections::HashSet::new();
        let mut unreadable = Vec::new();
        for f in &manifest.files {
            let path = chunk_path(&data, &f.tenant, f.id);
            if let Some(size) = f.remote_size {
                match inner.open_uploaded(&f.tenant, f.id, size) {
                    Ok(mut file) => {
                        file.zstd_level = f.zstd_level;
                        inner.tenant_or_create(&f.tenant).write().attach_file(file);
                    }
                    // Its data is safe in the bucket (readers read it
                    // there); this writer only needs it to compact it.
                    Err(e) => {
                        tracing::error!(tenant = %f.tenant, id = f.id, error = %e, "an uploaded chunk file could not be opened; it is left out of this writer's compactions until the next start")
                    }
                }
                continue;
            }
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
            file.zstd_level = f.zstd_level;
            inner.tenant_or_create(&f.tenant).write().attach_file(file);
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
            let feed = inner.feed.as_ref();
            wal::replay_located(
                &data.join("wal"),
                manifest.checkpoint,
                |rec| {
                    let streams = super::writer::keyed(rec.streams);
                    // The active set after a restart is what the WAL says was
                    // pushed when (records of older builds: as of now).
                    inner.apply(&rec.tenant, streams, rec.pushed_at.unwrap_or(now))?;
                    inner.applied_seq.store(rec.seq, Ordering::Release);
                    Ok(())
                },
                |at, _| {
                    // Records a local flush covers may still be missing from
                    // the bucket: readers get them from the feed.
                    if let Some(f) = feed {
                        f.lock().push(at);
                    }
                },
            )?
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
        threads.push(spawn("lode-wal", move || {
            w.writer_loop(wrx, wal, next_seq)
        })?);
        let f = inner.clone();
        threads.push(spawn("lode-flush", move || {
            while let Ok(()) | Err(mpsc::RecvTimeoutError::Timeout) =
                frx.recv_timeout(f.opts.flush_interval)
            {
                if let Err(e) = f.flush() {
                    tracing::error!(error = %e, "flush failed; data stays in the WAL");
                }
                f.sweep_all();
            }
        })?);
        let (ctx, crx) = mpsc::channel::<()>();
        *inner.compact_tx.lock() = Some(ctx);
        let c = inner.clone();
        threads.push(spawn("lode-compact", move || c.compactor_loop(crx))?);
        if writer {
            let (utx, urx) = mpsc::channel::<()>();
            *inner.upload_tx.lock() = Some(utx);
            let u = inner.clone();
            threads.push(spawn("lode-upload", move || u.upload_loop(urx))?);
        }
        Ok(Store {
            inner,
            threads: Mutex::new(threads),
        })
    }

    /// Targets `read` and `backend`: no WAL, flusher or compactor; one
    /// thread follows the bucket and the writers' feeds.
    fn start_replica(inner: Arc<Inner>) -> Result<Store> {
        let (tx, rx) = mpsc::channel::<()>();
        *inner.replica_tx.lock() = Some(tx);
        let r = inner.clone();
        let t = spawn("lode-replica", move || r.replica_loop(rx))?;
        Ok(Store {
            inner,
            threads: Mutex::new(vec![t]),
        })
    }
}

/// Starts one of the store's background threads.
fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<thread::JoinHandle<()>> {
    thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(|e| StorageError::from_io(&format!("spawning {name}"), e))
}

/// A writer's id: kept in `WRITER_ID` so that it names the same bucket
/// prefix after every restart; made from the host name and a random part
/// at the first start (two writers never share a prefix, even when one is
/// a copy of the other's host).
fn writer_id(data: &Path) -> Result<String> {
    let p = data.join("WRITER_ID");
    match fs::read_to_string(&p) {
        Ok(s) if crate::layout::valid_writer_id(s.trim()) => return Ok(s.trim().to_string()),
        Ok(s) => {
            return Err(StorageError::Refused(format!(
                "{} holds {:?}, not a writer id (letters, digits, '-', '_', '.')",
                p.display(),
                s.trim()
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(StorageError::from_io(
                &format!("reading {}", p.display()),
                e,
            ))
        }
    }
    let id = crate::hash::instance_id();
    let tmp = data.join("WRITER_ID.tmp");
    fs::write(&tmp, format!("{id}\n"))
        .and_then(|_| fs::File::open(&tmp)?.sync_all())
        .and_then(|_| fs::rename(&tmp, &p))
        .map_err(|e| StorageError::from_io(&format!("writing {}", p.display()), e))?;
    sync_dir(data)?;
    Ok(id)
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
