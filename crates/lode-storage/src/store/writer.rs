//! The write path: one writer thread appends accepted pushes to the WAL in
//! group commits, applies them to the heads and only then acknowledges;
//! heads are cut into blocks when they grow, and idle streams swept.

use crate::error::{Result, StorageError};
use crate::format::wal::{self, WalWriter};
use crate::ingest::validate;
use crate::tenant::Tenant;
use lode_logql::LabelSet;
use lode_proto::PushStream;
use parking_lot::RwLock;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;

use super::*;

pub(super) struct WriteOp {
    tenant: String,
    streams: Vec<(LabelSet, PushStream)>,
    done: PushCallback,
}

/// What the WAL writer thread is asked to do.
pub(super) enum WriterMsg {
    Push(WriteOp),
    /// Close the current segment (when it holds anything) and start a new
    /// one; answered once done. A flush asks for this so that the segment
    /// its checkpoint covers can be deleted at once.
    Rotate(mpsc::SyncSender<()>),
}

impl Store {
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
        let name = tenant.to_string();
        let op = WriteOp {
            tenant: tenant.to_string(),
            streams: v.streams,
            done: Box::new(move |r| {
                if r.is_ok() {
                    inner.counters.lines.fetch_add(lines, Ordering::Relaxed);
                    inner.counters.bytes.fetch_add(bytes, Ordering::Relaxed);
                    let t = inner.tenants.read().get(&name).cloned();
                    if let Some(t) = t {
                        let t = t.read();
                        t.ingested_lines.fetch_add(lines, Ordering::Relaxed);
                        t.ingested_bytes.fetch_add(bytes, Ordering::Relaxed);
                    }
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
}

/// A record's streams with their label sets, as `Inner::apply` takes them
/// (WAL replay and readers' feeds).
pub(super) fn keyed(streams: Vec<PushStream>) -> Vec<(LabelSet, PushStream)> {
    streams
        .into_iter()
        .map(|s| (LabelSet::from_pairs(s.labels.iter().cloned()), s))
        .collect()
}

impl Inner {
    pub(super) fn tenant_or_create(&self, name: &str) -> Arc<RwLock<Tenant>> {
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
    pub(super) fn apply(
        &self,
        tenant: &str,
        streams: Vec<(LabelSet, PushStream)>,
        pushed_at: i64,
    ) -> Result<()> {
        let t = self.tenant_or_create(tenant);
        let mut t = t.write();
        self.apply_to(&mut t, streams, pushed_at)
    }

    /// [`Inner::apply`] to a tenant whose lock the caller holds.
    pub(super) fn apply_to(
        &self,
        t: &mut Tenant,
        streams: Vec<(LabelSet, PushStream)>,
        pushed_at: i64,
    ) -> Result<()> {
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
            self.cut_largest_heads(t, budget - budget / 4)?;
        }
        Ok(())
    }

    /// Seals a stream's head into an in-memory block, keeping the memory
    /// counters in step.
    pub(super) fn cut_head(&self, st: &mut crate::tenant::Stream) -> Result<()> {
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
    pub(super) fn cut_largest_heads(&self, t: &mut Tenant, target: u64) -> Result<()> {
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

    pub(super) fn writer_loop(
        self: Arc<Self>,
        rx: mpsc::Receiver<WriterMsg>,
        mut wal: WalWriter,
        mut next_seq: u64,
    ) {
        let mut buf = Vec::with_capacity(1 << 20);
        // Where each record of the batch starts in `buf` (the feed's index).
        let mut starts: Vec<usize> = Vec::new();
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
            starts.clear();
            for op in &batch {
                starts.push(buf.len());
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
            let (segment, base) = (wal.first_seq(), wal.len());
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
                if let Some(feed) = &self.feed {
                    let mut feed = feed.lock();
                    for (i, &at) in starts.iter().enumerate() {
                        let end = starts.get(i + 1).copied().unwrap_or(buf.len());
                        feed.push(wal::RecordAt {
                            seq: first_seq + i as u64,
                            segment,
                            offset: base + at as u64,
                            len: (end - at) as u32,
                        });
                    }
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

    /// Sweeps idle streams out of a tenant's active set when a sweep is due.
    pub(super) fn sweep_if_due(&self, t: &RwLock<Tenant>, now: i64) {
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
