//! The compactor: a background pass every `compaction_interval` that
//!
//! * merges a tenant's small chunk files into one larger file,
//! * drops entries past their stream's retention period,
//! * carries out delete requests whose cancel period has passed,
//! * recompresses, once, files whose blocks are all older than
//!   `recompress_after` at `recompress_level` (the level is kept per file
//!   in the manifest),
//!
//! crash-safely, the same way a flush is: the new file is written under a
//! temporary name, fsynced and renamed; the manifest is replaced atomically
//! (the commit point), with the inputs removed and the output added; only
//! then are the old files deleted. A crash before the commit leaves the new
//! file unlisted (deleted at start-up, the old ones still hold the data); a
//! crash after it leaves the old files unlisted (deleted at start-up). No
//! entry is lost or stored twice either way.
//!
//! Queries running during a pass hold `Arc`s to the old files; the open file
//! descriptors keep the data readable after the files are unlinked.
//!
//! Blocks that need no change are copied as they are (no decompression);
//! only blocks straddling a retention cutoff, touched by a delete or being
//! recompressed are decoded, filtered and re-encoded.

use super::Inner;
use crate::delete::DeleteFilter;
use crate::error::{Result, StorageError};
use crate::format::block::{decode_block, encode_block, Compression};
use crate::format::chunk_file::{sync_dir, ChunkFile, ChunkWriter};
use crate::format::filter;
use crate::format::manifest::FileEntry;
use crate::layout::{chunk_path, quarantine_dir, remove_tmp_files, tenant_dir};
use crate::retention::Retention;
use crate::sources::BlockHandle;
use crate::stored_labels::StoredLabels;
use crate::tenant::period_of;
use lode_proto::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};

/// Files at least this large are not merged again (only rewritten for
/// retention or deletes).
pub const MERGE_BELOW: u64 = 64 << 20;

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CompactionReport {
    /// Chunk files replaced.
    pub files_in: usize,
    /// Chunk files written.
    pub files_out: usize,
    /// Entries removed because they expired.
    pub expired_entries: u64,
    /// Entries removed by delete requests.
    pub deleted_entries: u64,
    /// Delete requests carried out.
    pub processed_requests: usize,
    /// Damaged blocks left out (their bytes kept under `quarantine/`).
    pub quarantined_blocks: usize,
    /// Blocks rewritten at `recompress_level` (they may be merged while at
    /// it, so this counts input blocks).
    pub recompressed_blocks: usize,
}

/// Per stream of a chunk file: its retention cutoff, the delete requests
/// that apply to it, and its labels.
type StreamPlan = (i64, Vec<Arc<DeleteFilter>>, Arc<StoredLabels>);

fn plan_file(
    f: &ChunkFile,
    retention: Option<&Retention>,
    dels: &[Arc<DeleteFilter>],
    now: i64,
) -> Vec<StreamPlan> {
    f.streams
        .iter()
        .map(|l| {
            let labels = l.clone();
            let cutoff = retention.map_or(i64::MIN, |r| r.cutoff(&labels, now));
            let d = dels
                .iter()
                .filter(|d| d.applies_to(&labels))
                .cloned()
                .collect();
            (cutoff, d, labels)
        })
        .collect()
}

/// One tenant's planned rewrite.
struct Rewrite {
    tenant: String,
    inputs: Vec<Arc<ChunkFile>>,
    /// The files written (id, path, the zstd level they were recompressed
    /// at), one per time period at most.
    outputs: Vec<(u64, PathBuf, Option<i32>)>,
}

/// A block of the compaction's inputs: (input index, block index).
type BlockAt = (usize, usize);

/// Block `index` of an input file, with the file's plan.
#[derive(Clone, Copy)]
struct BlockRef<'a> {
    file: &'a ChunkFile,
    index: usize,
    plan: &'a [StreamPlan],
}

/// A run of small blocks of one stream being merged into one.
#[derive(Default)]
struct Run {
    entries: Vec<Entry>,
    line_bytes: usize,
}

impl Inner {
    pub(crate) fn compactor_loop(self: Arc<Self>, rx: mpsc::Receiver<()>) {
        while let Ok(()) | Err(mpsc::RecvTimeoutError::Timeout) =
            rx.recv_timeout(self.opts.compaction_interval)
        {
            let res = self.compact();
            self.last_compaction_ns
                .store(self.opts.clock.now_ns(), Ordering::Relaxed);
            if let Err(e) = res {
                self.counters
                    .compaction_failures
                    .fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, "compaction failed; it is retried next interval");
            }
        }
    }

    /// Delete requests whose cancel period is over, by tenant.
    fn ready_deletes(&self, now: i64) -> HashMap<String, Vec<Arc<DeleteFilter>>> {
        let grace = i64::try_from(self.opts.delete_cancel_period.as_nanos()).unwrap_or(i64::MAX);
        let mut out: HashMap<String, Vec<Arc<DeleteFilter>>> = HashMap::new();
        for tenant in self.deletes.tenants_with_pending() {
            let ready: Vec<_> = self
                .deletes
                .pending_filters(&tenant)
                .into_iter()
                .filter(|d| d.req.created_at.saturating_add(grace) <= now)
                .collect();
            if !ready.is_empty() {
                out.insert(tenant, ready);
            }
        }
        out
    }

    pub(crate) fn compact(&self) -> Result<CompactionReport> {
        let _c = self.compact_lock.lock();
        let now = self.opts.clock.now_ns();
        let ready = self.ready_deletes(now);
        if !ready.is_empty() {
            // Everything written before now must be in chunk files for the
            // requests to reach it.
            self.flush()?;
        }
        let _f = self.flush_lock.lock();
        let mut manifest = self.manifest.lock().clone();
        let mut by_tenant: BTreeMap<String, HashSet<u64>> = BTreeMap::new();
        for f in &manifest.files {
            by_tenant.entry(f.tenant.clone()).or_default().insert(f.id);
        }
        let mut report = CompactionReport::default();
        let mut rewrites = Vec::new();
        let mut failure = None;
        for (tenant, ids) in by_tenant {
            match self.rewrite_tenant(
                &tenant,
                &ids,
                now,
                ready.get(&tenant),
                &mut manifest.next_file_id,
                &mut report,
            ) {
                Ok(Some(r)) => rewrites.push(r),
                Ok(None) => {}
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let remove_outputs = |rewrites: &[Rewrite]| {
            for r in rewrites {
                for (_, p, _) in &r.outputs {
                    let _ = fs::remove_file(p);
                }
            }
        };
        if let Some(e) = failure {
            remove_outputs(&rewrites);
            return Err(e);
        }
        let mut opened = Vec::with_capacity(rewrites.len());
        for r in &rewrites {
            let gone: HashSet<u64> = r.inputs.iter().map(|f| f.id).collect();
            manifest
                .files
                .retain(|f| !(f.tenant == r.tenant && gone.contains(&f.id)));
            let mut files = Vec::with_capacity(r.outputs.len());
            for (id, path, level) in &r.outputs {
                manifest.files.push(FileEntry {
                    tenant: r.tenant.clone(),
                    id: *id,
                    zstd_level: *level,
                    remote_size: None,
                });
                match ChunkFile::open(path, *id) {
                    Ok(mut f) => {
                        f.zstd_level = *level;
                        files.push(f)
                    }
                    Err(e) => {
                        remove_outputs(&rewrites);
                        return Err(e);
                    }
                }
            }
            opened.push(files);
        }
        if !rewrites.is_empty() {
            // The commit point.
            manifest.store(&self.opts.data_dir)?;
            *self.manifest.lock() = manifest;
            self.notify_upload();
        }
        for (r, files) in rewrites.iter().zip(opened) {
            self.swap_in(r, files);
            report.files_in += r.inputs.len();
            report.files_out += r.outputs.len();
        }
        for r in &rewrites {
            for f in &r.inputs {
                // An input only in the bucket leaves its footer here; the
                // uploader deletes its object.
                let local = if f.is_remote() {
                    crate::layout::chunk_tail_path(&self.opts.data_dir, &r.tenant, f.id)
                } else {
                    f.path.clone()
                };
                if let Err(e) = fs::remove_file(&local) {
                    tracing::warn!(file = %f.path.display(), error = %e, "removing a compacted chunk file failed; it goes at the next start");
                }
            }
        }
        drop(_f);
        if !ready.is_empty() {
            let ids: Vec<(String, String)> = ready
                .iter()
                .flat_map(|(t, v)| v.iter().map(move |d| (t.clone(), d.req.request_id.clone())))
                .collect();
            self.deletes.mark_processed(&ids)?;
            report.processed_requests = ids.len();
            self.refresh_all_views();
        }
        let c = &self.counters;
        if !rewrites.is_empty() {
            c.compactions.fetch_add(1, Ordering::Relaxed);
        }
        c.compacted_files
            .fetch_add(report.files_in as u64, Ordering::Relaxed);
        c.recompressed_blocks
            .fetch_add(report.recompressed_blocks as u64, Ordering::Relaxed);
        c.retention_removed_entries
            .fetch_add(report.expired_entries, Ordering::Relaxed);
        c.deleted_entries
            .fetch_add(report.deleted_entries, Ordering::Relaxed);
        if report.files_in > 0 {
            tracing::info!(?report, "compaction pass done");
        }
        Ok(report)
    }

    /// Plans and writes the new files of one tenant, if anything is to do.
    ///
    /// Files are kept one per time period (`tenant::PERIOD_NS`, a UTC day):
    /// a file holding blocks of several periods is split, the small files
    /// of a period are merged, and small blocks of one stream in a period
    /// are merged into blocks of up to `block_target_bytes` (a flush every
    /// minute seals every head, so a month of quiet streams would otherwise
    /// be millions of tiny blocks). A period whose blocks have all expired
    /// is dropped whole without reading it; expired blocks are removed from
    /// a file when they are a quarter of it or the file is small (reads hide
    /// expired entries at once either way).
    fn rewrite_tenant(
        &self,
        tenant: &str,
        ids: &HashSet<u64>,
        now: i64,
        dels: Option<&Vec<Arc<DeleteFilter>>>,
        next_file_id: &mut u64,
        report: &mut CompactionReport,
    ) -> Result<Option<Rewrite>> {
        let Some(t) = self.tenant(tenant) else {
            return Ok(None);
        };
        let mut files: BTreeMap<u64, Arc<ChunkFile>> = BTreeMap::new();
        for s in &t.read().streams {
            for b in &s.blocks {
                if let BlockHandle::File(f, _) = b {
                    if ids.contains(&f.id) {
                        files.entry(f.id).or_insert_with(|| f.clone());
                    }
                }
            }
        }
        let retention = self
            .opts
            .retention_enabled
            .then(|| self.limits_for(tenant).retention);
        let dels: &[Arc<DeleteFilter>] = dels.map_or(&[], |d| d.as_slice());
        let plan_streams = |f: &ChunkFile| plan_file(f, retention.as_deref(), dels, now);
        let mut inputs: BTreeMap<u64, Arc<ChunkFile>> = BTreeMap::new();
        let mut small: BTreeMap<i64, Vec<Arc<ChunkFile>>> = BTreeMap::new();
        let mut written_periods: HashSet<i64> = HashSet::new();
        // Periods whose files are all older than `recompress_after` and
        // were written at a lower level: rewritten at `recompress_level`.
        let mut recompress: HashSet<i64> = HashSet::new();
        let cold_before = self
            .opts
            .recompress_after
            .map(|d| now.saturating_sub(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)));
        // Planned once per file: the inputs are written from these plans.
        let mut plans: HashMap<u64, Vec<StreamPlan>> = HashMap::new();
        for f in files.values() {
            let plan = plans.entry(f.id).or_insert_with(|| plan_streams(f));
            let mut periods = HashSet::new();
            let (mut expired, mut total) = (0u64, 0u64);
            let mut deleted = false;
            for b in &f.blocks {
                let (cutoff, d, _) = &plan[b.stream as usize];
                total += u64::from(b.len);
                if b.max_ts < *cutoff {
                    expired += u64::from(b.len);
                    continue;
                }
                periods.insert(period_of(b.min_ts));
                deleted |= d.iter().any(|d| d.overlaps(b.min_ts, b.max_ts));
            }
            let expire = expired > 0 && (f.size < MERGE_BELOW || expired * 4 >= total);
            let level = f.zstd_level.unwrap_or(self.opts.flush_level());
            let recompressing = cold_before.is_some_and(|c| {
                level < self.opts.recompress_level && f.blocks.iter().all(|b| b.max_ts < c)
            });
            if recompressing {
                recompress.extend(periods.iter().copied());
            }
            if deleted || expire || recompressing || periods.len() > 1 {
                written_periods.extend(periods);
                inputs.insert(f.id, f.clone());
            } else if f.size < MERGE_BELOW {
                if let Some(p) = periods.into_iter().next() {
                    small.entry(p).or_default().push(f.clone());
                }
            }
        }
        for (p, fs) in small {
            if fs.len() >= 2 || written_periods.contains(&p) {
                inputs.extend(fs.into_iter().map(|f| (f.id, f)));
            }
        }
        if inputs.is_empty() {
            return Ok(None);
        }
        let inputs: Vec<Arc<ChunkFile>> = inputs.into_values().collect();
        let plans: Vec<Vec<StreamPlan>> = inputs
            .iter()
            .map(|f| plans.remove(&f.id).unwrap_or_else(|| plan_streams(f)))
            .collect();
        let dir = tenant_dir(&self.opts.data_dir, tenant);
        fs::create_dir_all(&dir).map_err(|e| StorageError::from_io("creating tenant dir", e))?;
        let mut outputs = Vec::new();
        let written = self.write_outputs(
            tenant,
            &inputs,
            &plans,
            &recompress,
            next_file_id,
            &mut outputs,
            report,
        );
        if let Err(e) = written {
            for (_, p, _) in &outputs {
                let _ = fs::remove_file(p);
            }
            remove_tmp_files(&[dir]);
            return Err(e);
        }
        if !outputs.is_empty() {
            sync_dir(&dir)?;
        }
        Ok(Some(Rewrite {
            tenant: tenant.to_string(),
            inputs,
            outputs,
        }))
    }

    /// Writes the surviving blocks of `inputs`, one file per period, into
    /// `outputs`; every block of a `recompress` period is re-encoded at
    /// `recompress_level`.
    #[allow(clippy::too_many_arguments)]
    fn write_outputs(
        &self,
        tenant: &str,
        inputs: &[Arc<ChunkFile>],
        plans: &[Vec<StreamPlan>],
        recompress: &HashSet<i64>,
        next_file_id: &mut u64,
        outputs: &mut Vec<(u64, PathBuf, Option<i32>)>,
        report: &mut CompactionReport,
    ) -> Result<()> {
        // Period → its blocks in creation order (file id, then position).
        let mut by_period: BTreeMap<i64, Vec<BlockAt>> = BTreeMap::new();
        for (fi, f) in inputs.iter().enumerate() {
            for (i, b) in f.blocks.iter().enumerate() {
                if b.max_ts < plans[fi][b.stream as usize].0 {
                    report.expired_entries += u64::from(b.entries);
                    continue;
                }
                by_period
                    .entry(period_of(b.min_ts))
                    .or_default()
                    .push((fi, i));
            }
        }
        for (period, blocks) in by_period {
            let level = recompress
                .contains(&period)
                .then_some(self.opts.recompress_level);
            // Blocks of one stream together, streams in order of first appearance.
            let mut order: Vec<(&StoredLabels, Vec<BlockAt>)> = Vec::new();
            let mut slot: HashMap<&StoredLabels, usize> = HashMap::new();
            for (fi, i) in blocks {
                let labels = inputs[fi].streams[inputs[fi].blocks[i].stream as usize].as_ref();
                let k = *slot.entry(labels).or_insert_with(|| {
                    order.push((labels, Vec::new()));
                    order.len() - 1
                });
                order[k].1.push((fi, i));
            }
            let id = *next_file_id;
            *next_file_id += 1;
            let path = chunk_path(&self.opts.data_dir, tenant, id);
            let mut w = ChunkWriter::create(&path)?;
            for (labels, blocks) in order {
                let sid = w.stream(labels);
                let mut run = Run::default();
                for (fi, i) in blocks {
                    crate::cancel::check()?;
                    let at = BlockRef {
                        file: &inputs[fi],
                        index: i,
                        plan: &plans[fi],
                    };
                    self.copy_or_merge(&mut w, sid, at, level, &mut run, report)?;
                }
                self.finish_run(&mut w, sid, &mut run, level)?;
            }
            if w.block_count() == 0 {
                drop(w);
                let _ = fs::remove_file(path.with_extension("tmp"));
                continue;
            }
            w.finish()?;
            outputs.push((id, path, level));
        }
        Ok(())
    }

    /// Copies block `i` of `f` as it is when it is large, untouched by
    /// deletes and not being recompressed; otherwise adds its surviving
    /// entries to `run`.
    fn copy_or_merge(
        &self,
        w: &mut ChunkWriter,
        sid: u32,
        at: BlockRef<'_>,
        level: Option<i32>,
        run: &mut Run,
        report: &mut CompactionReport,
    ) -> Result<()> {
        let BlockRef {
            file: f,
            index: i,
            plan,
        } = at;
        let b = f.blocks[i];
        let (cutoff, dels, labels) = &plan[b.stream as usize];
        let hit: Vec<&DeleteFilter> = dels
            .iter()
            .filter(|d| d.overlaps(b.min_ts, b.max_ts))
            .map(|d| d.as_ref())
            .collect();
        let small = (b.line_bytes as usize) < self.opts.block_target_bytes / 4;
        let payload = match f.read_block(i) {
            Ok(p) => p,
            Err(StorageError::Corrupt(_)) => {
                // The rest of the tenant is still compacted; the damaged
                // bytes are kept for inspection, out of the data.
                self.quarantine(f, i)?;
                report.quarantined_blocks += 1;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if level.is_some() {
            report.recompressed_blocks += 1;
        }
        if hit.is_empty() && !small && level.is_none() {
            // Expired entries of a straddling block stay until it expires
            // whole: reads hide them, and rewriting a block as the cutoff
            // moves through it would cost a copy every pass.
            self.finish_run(w, sid, run, level)?;
            w.add_block(sid, &payload, b.min_ts, b.max_ts, b.entries, b.line_bytes)?;
            match f.read_filter(i)? {
                Some(x) => w.set_filter(&x),
                // Blocks of version-1 files get the filter they lack.
                None if f.version < 2 => {
                    let d = decode_block(&payload)?;
                    let lines = (0..d.len()).map(|j| d.line(j).as_bytes());
                    w.set_filter(&filter::build(lines).unwrap_or_default());
                }
                None => {}
            }
            return Ok(());
        }
        let d = decode_block(&payload)?;
        let labels = labels.to_label_set();
        let mut matchers: Vec<_> = hit.iter().map(|x| x.for_stream(&labels)).collect();
        for j in 0..d.len() {
            let (ts, line, md) = (d.ts[j], d.line(j), &d.metadata[j]);
            if ts < *cutoff {
                report.expired_entries += 1;
                continue;
            }
            if matchers.iter_mut().any(|m| m.covers(ts, line, md)) {
                report.deleted_entries += 1;
                continue;
            }
            run.line_bytes += line.len();
            run.entries.push(Entry {
                ts,
                line: line.to_string(),
                structured_metadata: md.clone(),
            });
        }
        if run.line_bytes >= self.opts.block_target_bytes {
            self.finish_run(w, sid, run, level)?;
        }
        Ok(())
    }

    /// Copies a damaged block's bytes to `quarantine/<tenant dir>/` before
    /// compaction leaves it out of its output.
    fn quarantine(&self, f: &ChunkFile, i: usize) -> Result<()> {
        let dir = quarantine_dir(&self.opts.data_dir, &f.path);
        let io = |e| StorageError::from_io(&format!("quarantining into {}", dir.display()), e);
        fs::create_dir_all(&dir).map_err(io)?;
        let name = format!("{:016x}-block-{i}.bin", f.id);
        let bytes = f.read_block_unchecked(i)?;
        fs::write(dir.join(&name), bytes).map_err(io)?;
        tracing::error!(file = %f.path.display(), block = i, kept = %dir.join(&name).display(), "damaged block left out of the compacted file");
        Ok(())
    }

    /// Writes the entries gathered in `run` as one block, at `level` when
    /// recompressing.
    fn finish_run(
        &self,
        w: &mut ChunkWriter,
        sid: u32,
        run: &mut Run,
        level: Option<i32>,
    ) -> Result<()> {
        if run.entries.is_empty() {
            return Ok(());
        }
        // Stable: equal timestamps keep their order of arrival.
        run.entries.sort_by_key(|e| e.ts);
        let kept = std::mem::take(&mut run.entries);
        run.line_bytes = 0;
        let compression = level.map_or(self.opts.compression, Compression::Zstd);
        let p = encode_block(&kept, compression)?;
        let (min, max) = (kept[0].ts, kept[kept.len() - 1].ts);
        let bytes = kept.iter().map(|e| e.line.len() as u64).sum();
        w.add_block(sid, &p, min, max, kept.len() as u32, bytes)?;
        w.set_filter(&filter::build(kept.iter().map(|e| e.line.as_bytes())).unwrap_or_default());
        Ok(())
    }

    /// Points the tenant's streams at the new files instead of the inputs,
    /// then forgets the streams nothing is left of.
    fn swap_in(&self, r: &Rewrite, files: Vec<ChunkFile>) {
        let Some(t) = self.tenant(&r.tenant) else {
            return;
        };
        let inputs: HashSet<u64> = r.inputs.iter().map(|f| f.id).collect();
        let mut t = t.write();
        let files: Vec<Arc<ChunkFile>> = files
            .into_iter()
            .map(|mut f| {
                t.share_labels(&mut f);
                Arc::new(f)
            })
            .collect();
        let mut added: HashMap<u32, Vec<BlockHandle>> = HashMap::new();
        for f in &files {
            let ids: Vec<Option<u32>> = f.streams.iter().map(|l| t.lookup_stored(l)).collect();
            for (i, b) in f.blocks.iter().enumerate() {
                match ids[b.stream as usize] {
                    Some(id) => added
                        .entry(id)
                        .or_default()
                        .push(BlockHandle::File(f.clone(), i as u32)),
                    None => {
                        tracing::error!(file = %f.path.display(), "compacted block of an unknown stream; it is read after a restart")
                    }
                }
            }
        }
        for (id, s) in t.streams.iter_mut().enumerate() {
            let mine = added.remove(&(id as u32));
            if mine.is_none()
                && !s
                    .blocks
                    .iter()
                    .any(|b| matches!(b, BlockHandle::File(f, _) if inputs.contains(&f.id)))
            {
                continue;
            }
            let old = std::mem::take(&mut s.blocks);
            let (mut on_disk, in_mem): (Vec<BlockHandle>, Vec<BlockHandle>) = old
                .into_iter()
                .filter(|b| !matches!(b, BlockHandle::File(f, _) if inputs.contains(&f.id)))
                .partition(|b| matches!(b, BlockHandle::File(..)));
            on_disk.extend(mine.unwrap_or_default());
            on_disk.sort_by_key(|b| (b.min_ts(), b.max_ts()));
            on_disk.extend(in_mem);
            s.blocks = on_disk;
            // Only the lower bound moves: the newest timestamp stays the
            // reference for the out-of-order window.
            s.min_ts = s
                .blocks
                .iter()
                .map(|b| b.min_ts())
                .chain((!s.head.is_empty()).then_some(s.head.min_ts()))
                .min()
                .unwrap_or(i64::MAX);
        }
        // Ids change when streams go: the periods are rebuilt after.
        let gone = t.remove_empty_streams();
        t.rebuild_periods();
        if gone > 0 {
            tracing::debug!(tenant = %r.tenant, streams = gone, "streams past retention forgotten");
        }
    }
}

#[cfg(test)]
mod tests;
