//! Targets `read` and `backend`: a store that holds no data of its own. It
//! serves what the writers uploaded to the bucket plus what they
//! acknowledged since, read from their feeds (`docs/storage.md`, "Scalable
//! mode").
//!
//! Exactly once: for each writer the reader holds the files of one bucket
//! manifest (which covers that writer's WAL records up to its checkpoint)
//! and the writer's records after that checkpoint, from its feed. When a
//! newer manifest arrives, its files and the records it covers trade places
//! under each tenant's write lock, so a query sees either the old pair or
//! the new one, never both and never neither.

use super::feed::FeedPage;
use super::Inner;
use crate::error::{Result, StorageError};
use crate::format::bucket_manifest::BucketManifest;
use crate::format::chunk_file::ChunkFile;
use crate::format::wal;
use crate::layout::{bucket_chunk_key, writer_of_manifest_key, WRITERS_PREFIX};
use crate::sources::BlockHandle;
use crate::tenant::Tenant;
use lode_bucket::Bucket;
use lode_logql::LabelSet;
use lode_proto::PushStream;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Where a reader gets the writers' unflushed records (the server's HTTP
/// client; tests use the writers' stores directly).
pub trait FeedSource: Send + Sync + std::fmt::Debug {
    /// The writers to ask now (base URLs; DNS names resolve on each call).
    fn writers(&self) -> Vec<String>;
    /// Records after `after` from the writer at `url`.
    fn fetch(&self, url: &str, after: u64, max_bytes: usize) -> Result<FeedReply>;
}

/// One answer of a writer's feed.
#[derive(Debug)]
pub struct FeedReply {
    pub writer_id: String,
    /// Changes whenever the writer process restarts.
    pub incarnation: String,
    pub page: FeedPage,
}

/// Bytes of records asked for per feed request.
const FEED_PAGE: usize = 8 << 20;
/// A writer's records held beyond this many times `max_unflushed_bytes`
/// (at least 256 MiB) are not fetched (its bucket is far behind: an outage
/// of the bucket): answers then lack its newest entries until its uploads
/// catch up, and `/ready` says so. A reader's memory stays bounded.
const HELD_PER_UNFLUSHED: usize = 4;
const MIN_HELD: usize = 256 << 20;
/// Manifests are read at most this often (feeds every poll).
const BUCKET_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, Default)]
struct WriterReplica {
    /// The manifest held (by content), its checkpoint and files.
    manifest_hash: u64,
    checkpoint: u64,
    files: HashMap<(String, u64), Arc<ChunkFile>>,
    /// Feed pages with records after `checkpoint` (the first may also hold
    /// older ones, skipped when applied), and the last record held.
    pages: Vec<(u64, Vec<u8>)>,
    last_seq: u64,
    incarnation: String,
    /// Delete requests the writer carried out (from its manifest).
    processed_deletes: HashSet<(String, String)>,
}

impl WriterReplica {
    fn held_bytes(&self) -> usize {
        self.pages.iter().map(|(_, p)| p.len()).sum()
    }
}

/// What a reader knows about its writers and the bucket, for `/ready`,
/// `/metrics` and the status page.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReplicaStatus {
    /// Writers with data in the bucket or a feed.
    pub writers: Vec<WriterStatus>,
    /// The last error reading the bucket (empty: the last read worked).
    pub bucket_error: String,
    /// Feeds that failed on the last poll: (url, error).
    pub feed_errors: Vec<(String, String)>,
    /// Whether the bucket has been read once (a reader is ready after).
    pub synced: bool,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct WriterStatus {
    pub id: String,
    pub checkpoint: u64,
    pub last_seq: u64,
    pub files: usize,
    pub held_bytes: usize,
}

#[derive(Debug, Default)]
pub(crate) struct ReplicaState {
    writers: BTreeMap<String, WriterReplica>,
    /// Feed URL → the writer it answered as.
    urls: HashMap<String, String>,
    status: ReplicaStatus,
    last_bucket: Option<Instant>,
    bucket_due: bool,
}

fn content_hash(b: &[u8]) -> u64 {
    crate::hash::fnv1a(b.iter().copied()).wrapping_add(b.len() as u64)
}

impl Inner {
    fn replica_parts(&self) -> Option<(&Arc<Bucket>, &Arc<dyn FeedSource>, Duration)> {
        match &self.opts.remote {
            Some(super::Remote::Reader {
                bucket,
                feeds,
                poll,
                ..
            }) => Some((bucket, feeds, *poll)),
            _ => None,
        }
    }

    pub(crate) fn replica_loop(&self, rx: mpsc::Receiver<()>) {
        let Some((_, _, poll)) = self.replica_parts() else {
            return;
        };
        loop {
            self.replica_sync_once(false);
            match rx.recv_timeout(poll) {
                Ok(()) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// One round: the bucket when due (or `now`), then every feed.
    pub(crate) fn replica_sync_once(&self, now: bool) {
        let due = now || {
            let st = self.replica.lock();
            st.bucket_due || st.last_bucket.is_none_or(|t| t.elapsed() >= BUCKET_EVERY)
        };
        if due {
            let r = self.sync_bucket();
            let mut st = self.replica.lock();
            st.last_bucket = Some(Instant::now());
            st.bucket_due = false;
            match r {
                Ok(()) => {
                    st.status.bucket_error.clear();
                    st.status.synced = true;
                }
                Err(e) => {
                    if st.status.bucket_error.is_empty() {
                        tracing::warn!(error = %e, "reading the bucket failed; answers use what was read before");
                    }
                    st.status.bucket_error = e.to_string();
                }
            }
        }
        self.sync_feeds();
        let mut st = self.replica.lock();
        st.status.writers = st
            .writers
            .iter()
            .map(|(id, w)| WriterStatus {
                id: id.clone(),
                checkpoint: w.checkpoint,
                last_seq: w.last_seq,
                files: w.files.len(),
                held_bytes: w.held_bytes(),
            })
            .collect();
    }

    pub(crate) fn replica_status(&self) -> ReplicaStatus {
        self.replica.lock().status.clone()
    }

    fn sync_bucket(&self) -> Result<()> {
        let Some((bucket, _, _)) = self.replica_parts() else {
            return Ok(());
        };
        // Delete requests: the backend's list (the backend itself reads it
        // once, at its start, and publishes every change after).
        let owner = matches!(
            self.opts.remote,
            Some(super::Remote::Reader {
                owns_deletes: true,
                ..
            })
        );
        if !owner || !self.replica.lock().status.synced {
            self.pull_deletes()?;
        }
        let listed = bucket.list(WRITERS_PREFIX)?;
        for o in listed {
            let Some(writer) = writer_of_manifest_key(&o.key) else {
                continue;
            };
            let bytes = bucket.get(&o.key)?;
            let hash = content_hash(&bytes);
            let (known, held): (bool, Vec<(String, u64)>) = {
                let st = self.replica.lock();
                match st.writers.get(writer) {
                    Some(w) => (w.manifest_hash == hash, w.files.keys().cloned().collect()),
                    None => (false, Vec::new()),
                }
            };
            if known {
                continue;
            }
            let m = BucketManifest::parse(&bytes)?;
            let mut opened = Vec::new();
            for f in &m.files {
                if held.contains(&(f.tenant.clone(), f.id)) {
                    continue;
                }
                let key = bucket_chunk_key(writer, &f.tenant, f.id);
                let mut file = ChunkFile::open_remote(bucket.clone(), &key, f.size, f.id)?;
                file.zstd_level = f.zstd_level;
                opened.push((f.tenant.clone(), file));
            }
            self.apply_manifest(writer, hash, &m, opened)?;
        }
        if owner {
            let done: Vec<HashSet<(String, String)>> = self
                .replica
                .lock()
                .writers
                .values()
                .filter(|w| w.manifest_hash != 0)
                .map(|w| w.processed_deletes.clone())
                .collect();
            self.settle_deletes(&done)?;
        }
        Ok(())
    }

    /// Swaps in writer `writer`'s manifest `m` (new files already opened).
    fn apply_manifest(
        &self,
        writer: &str,
        hash: u64,
        m: &BucketManifest,
        opened: Vec<(String, ChunkFile)>,
    ) -> Result<()> {
        let _a = self.apply_lock.lock();
        let mut st = self.replica.lock();
        let w = st.writers.entry(writer.to_string()).or_default();
        let live: std::collections::HashSet<(String, u64)> =
            m.files.iter().map(|f| (f.tenant.clone(), f.id)).collect();
        let mut removed: HashMap<String, Vec<Arc<ChunkFile>>> = HashMap::new();
        w.files.retain(|k, f| {
            let keep = live.contains(k);
            if !keep {
                removed.entry(k.0.clone()).or_default().push(f.clone());
            }
            keep
        });
        let advanced = m.checkpoint > w.checkpoint;
        if advanced {
            w.checkpoint = m.checkpoint;
            w.last_seq = w.last_seq.max(m.checkpoint);
            let cp = m.checkpoint;
            w.pages.retain(|(last, _)| *last > cp);
        }
        w.manifest_hash = hash;
        w.processed_deletes = m.processed_deletes.iter().cloned().collect();
        let mut added: HashMap<String, Vec<ChunkFile>> = HashMap::new();
        for (tenant, f) in opened {
            added.entry(tenant).or_default().push(f);
        }
        let mut tenants: Vec<String> = removed.keys().chain(added.keys()).cloned().collect();
        if advanced {
            tenants.extend(self.tenant_list().into_iter().map(|(n, _)| n));
        }
        tenants.sort();
        tenants.dedup();
        let mut records = if advanced {
            held_records(&st.writers, self.opts.clock.now_ns())?
        } else {
            HashMap::new()
        };
        let mut attached = Vec::new();
        for name in tenants {
            let t = self.tenant_or_create(&name);
            let mut t = t.write();
            t.detach_files(removed.get(&name).map_or(&[][..], |v| &v[..]));
            for f in added.remove(&name).unwrap_or_default() {
                let id = f.id;
                attached.push(((name.clone(), id), t.attach_file(f)));
            }
            if advanced {
                self.rebuild_heads(&mut t, records.remove(&name).unwrap_or_default())?;
            }
        }
        let w = st
            .writers
            .get_mut(writer)
            .ok_or_else(|| StorageError::Unavailable("replica state lost".into()))?;
        w.files.extend(attached);
        Ok(())
    }

    /// A tenant's heads and in-memory blocks from `held` alone (a reader's
    /// come only from feeds, and are rebuilt from the records still held).
    fn rebuild_heads(&self, t: &mut Tenant, held: Held) -> Result<()> {
        self.clear_heads(t);
        for (streams, pushed_at) in held {
            self.apply_to(t, streams, pushed_at)?;
        }
        Ok(())
    }

    /// Empties every head and in-memory block of a tenant.
    fn clear_heads(&self, t: &mut Tenant) {
        for s in t.streams.iter_mut() {
            let raw = s.head.bytes() as u64;
            s.head = Default::default();
            self.head_raw.fetch_sub(raw, Ordering::Relaxed);
            self.unflushed.fetch_sub(raw, Ordering::Relaxed);
            s.blocks.retain(|b| match b {
                BlockHandle::Mem(m) => {
                    self.unflushed
                        .fetch_sub(m.payload.len() as u64, Ordering::Relaxed);
                    false
                }
                BlockHandle::File(..) => true,
            });
        }
    }

    fn sync_feeds(&self) {
        let Some((_, feeds, _)) = self.replica_parts() else {
            return;
        };
        let mut errors = Vec::new();
        for url in feeds.writers() {
            // Several pages when a writer is far ahead of this reader.
            for _ in 0..64 {
                match self.fetch_feed(feeds.as_ref(), &url) {
                    Ok(true) => continue,
                    Ok(false) => break,
                    Err(e) => {
                        errors.push((url.clone(), e.to_string()));
                        break;
                    }
                }
            }
        }
        let mut st = self.replica.lock();
        for (url, e) in &errors {
            if !st.status.feed_errors.iter().any(|(u, _)| u == url) {
                tracing::warn!(writer = %url, error = %e, "a writer's feed failed; its newest entries are missing from answers until it answers");
            }
        }
        st.status.feed_errors = errors;
    }

    /// One feed request; `Ok(true)` when more records are waiting.
    fn fetch_feed(&self, feeds: &dyn FeedSource, url: &str) -> Result<bool> {
        let after = {
            let st = self.replica.lock();
            let w = st.urls.get(url).and_then(|id| st.writers.get(id));
            let max_held = self
                .opts
                .max_unflushed_bytes
                .saturating_mul(HELD_PER_UNFLUSHED)
                .max(MIN_HELD);
            if w.is_some_and(|w| w.held_bytes() >= max_held) {
                return Err(StorageError::Unavailable(format!(
                    "holding {max_held} bytes of this writer's records: its uploads to the bucket are behind; its newest entries are left out until they catch up"
                )));
            }
            w.map_or(0, |w| w.last_seq)
        };
        let reply = feeds.fetch(url, after, FEED_PAGE)?;
        if !crate::layout::valid_writer_id(&reply.writer_id) {
            return Err(StorageError::Invalid(format!(
                "writer id {:?} is not a valid id",
                reply.writer_id
            )));
        }
        let _a = self.apply_lock.lock();
        let mut st = self.replica.lock();
        st.urls.insert(url.to_string(), reply.writer_id.clone());
        let w = st.writers.entry(reply.writer_id.clone()).or_default();
        if w.incarnation != reply.incarnation {
            // A restarted writer replays the same records under the same
            // numbers; only one that went back (records lost with
            // `wal_fsync: never`) invalidates what is held.
            if let FeedPage::Records { applied, .. } = &reply.page {
                if *applied < w.last_seq && !w.incarnation.is_empty() {
                    tracing::warn!(writer = %reply.writer_id, "writer restarted behind what this reader held; its unflushed records are fetched again");
                    w.pages.clear();
                    w.last_seq = w.checkpoint;
                    w.manifest_hash = 0;
                    st.bucket_due = true;
                    let w = st
                        .writers
                        .get_mut(&reply.writer_id)
                        .ok_or_else(|| StorageError::Unavailable("replica state lost".into()))?;
                    w.incarnation = reply.incarnation;
                    drop(st);
                    self.rebuild_all_heads()?;
                    return Ok(true);
                }
            }
            w.incarnation = reply.incarnation.clone();
        }
        match reply.page {
            FeedPage::Gone { uploaded } => {
                // The writer's bucket manifest moved past what is held.
                if uploaded > w.checkpoint {
                    st.bucket_due = true;
                }
                Ok(false)
            }
            FeedPage::Records {
                frames,
                last_seq,
                applied,
            } => {
                if frames.is_empty() || last_seq <= w.last_seq {
                    return Ok(false);
                }
                let from = w.last_seq;
                let mut fresh = Vec::new();
                wal::decode_frames(&frames, |rec| {
                    if rec.seq > from {
                        fresh.push(rec);
                    }
                    Ok(())
                })?;
                w.pages.push((last_seq, frames));
                w.last_seq = last_seq;
                drop(st);
                for rec in fresh {
                    let streams = super::writer::keyed(rec.streams);
                    // Live tails on a reader hear what its writers took.
                    self.subscribers.notify(&rec.tenant, &streams);
                    let pushed_at = rec.pushed_at.unwrap_or_else(|| self.opts.clock.now_ns());
                    self.apply(&rec.tenant, streams, pushed_at)?;
                }
                Ok(last_seq < applied)
            }
        }
    }

    /// Rebuilds every tenant's heads from the records held (after a writer
    /// went back).
    fn rebuild_all_heads(&self) -> Result<()> {
        let _a = self.apply_lock.lock();
        let mut records = held_records(&self.replica.lock().writers, self.opts.clock.now_ns())?;
        for (name, t) in self.tenant_list() {
            self.rebuild_heads(&mut t.write(), records.remove(&name).unwrap_or_default())?;
        }
        Ok(())
    }
}

type Held = Vec<(Vec<(LabelSet, PushStream)>, i64)>;

/// Every record held after its writer's checkpoint, by tenant.
fn held_records(
    writers: &BTreeMap<String, WriterReplica>,
    now: i64,
) -> Result<HashMap<String, Held>> {
    let mut out: HashMap<String, Held> = HashMap::new();
    for w in writers.values() {
        let mut last = w.checkpoint;
        for (_, frames) in &w.pages {
            wal::decode_frames(frames, |rec| {
                if rec.seq > last {
                    last = rec.seq;
                    let pushed_at = rec.pushed_at.unwrap_or(now);
                    out.entry(rec.tenant)
                        .or_default()
                        .push((super::writer::keyed(rec.streams), pushed_at));
                }
                Ok(())
            })?;
        }
    }
    Ok(out)
}
