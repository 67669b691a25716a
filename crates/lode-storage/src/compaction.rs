//! The compactor: a background pass every `compaction_interval` that
//!
//! * merges a tenant's small chunk files into one larger file,
//! * drops entries past their stream's retention period,
//! * carries out delete requests whose cancel period has passed,
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
//! only blocks straddling a retention cutoff or touched by a delete are
//! decoded, filtered and re-encoded.

use crate::delete::DeleteFilter;
use crate::error::{Result, StorageError};
use crate::format::block::{decode_block, encode_block};
use crate::format::chunk_file::{sync_dir, ChunkFile, ChunkWriter};
use crate::format::filter;
use crate::format::manifest::FileEntry;
use crate::retention::Retention;
use crate::store::{chunk_path, tenant_dir, Inner};
use crate::tenant::BlockHandle;
use lode_logql::LabelSet;
use lode_proto::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
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
}

/// Removes leftover `.tmp` files (an interrupted write) from directories.
pub(crate) fn remove_tmp_files(dirs: &[PathBuf]) {
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

/// Per stream of a chunk file: its retention cutoff, the delete requests
/// that apply to it, and its labels.
type StreamPlan = (i64, Vec<Arc<DeleteFilter>>, LabelSet);

fn plan_file(
    f: &ChunkFile,
    retention: Option<&Retention>,
    dels: &[Arc<DeleteFilter>],
    now: i64,
) -> Vec<StreamPlan> {
    f.streams
        .iter()
        .map(|l| {
            let labels = LabelSet::from_pairs(l.iter().cloned());
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
    /// (input file id, block index) → block index in the output (None: dropped).
    placement: HashMap<(u64, u32), Option<u32>>,
    output: Option<(u64, PathBuf)>,
}

impl Inner {
    pub(crate) fn compactor_loop(self: Arc<Self>, rx: mpsc::Receiver<()>) {
        while let Ok(()) | Err(mpsc::RecvTimeoutError::Timeout) =
            rx.recv_timeout(self.opts.compaction_interval)
        {
            if let Err(e) = self.compact() {
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
        if let Some(e) = failure {
            for r in &rewrites {
                if let Some((_, p)) = &r.output {
                    let _ = fs::remove_file(p);
                }
            }
            return Err(e);
        }
        let mut opened = Vec::with_capacity(rewrites.len());
        for r in &rewrites {
            let gone: HashSet<u64> = r.inputs.iter().map(|f| f.id).collect();
            manifest
                .files
                .retain(|f| !(f.tenant == r.tenant && gone.contains(&f.id)));
            let file = match &r.output {
                Some((id, path)) => {
                    manifest.files.push(FileEntry {
                        tenant: r.tenant.clone(),
                        id: *id,
                    });
                    match ChunkFile::open(path, *id) {
                        Ok(f) => Some(Arc::new(f)),
                        Err(e) => {
                            for r in &rewrites {
                                if let Some((_, p)) = &r.output {
                                    let _ = fs::remove_file(p);
                                }
                            }
                            return Err(e);
                        }
                    }
                }
                None => None,
            };
            opened.push(file);
        }
        if !rewrites.is_empty() {
            // The commit point.
            manifest.store(&self.opts.data_dir)?;
            *self.manifest.lock() = manifest;
        }
        for (r, file) in rewrites.iter().zip(opened) {
            self.swap_in(r, file);
            report.files_in += r.inputs.len();
            report.files_out += usize::from(r.output.is_some());
        }
        for r in &rewrites {
            for f in &r.inputs {
                if let Err(e) = fs::remove_file(&f.path) {
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
        c.retention_removed_entries
            .fetch_add(report.expired_entries, Ordering::Relaxed);
        c.deleted_entries
            .fetch_add(report.deleted_entries, Ordering::Relaxed);
        if report.files_in > 0 {
            tracing::info!(?report, "compaction pass done");
        }
        Ok(report)
    }

    /// Plans and writes the new file for one tenant, if anything is to do.
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
        let mut inputs = Vec::new();
        let mut small = Vec::new();
        for f in files.values() {
            let plan = plan_streams(f);
            let touched = f.blocks.iter().any(|b| {
                let (cutoff, d, _) = &plan[b.stream as usize];
                b.min_ts < *cutoff || d.iter().any(|d| d.overlaps(b.min_ts, b.max_ts))
            });
            if touched {
                inputs.push(f.clone());
            } else if f.size < MERGE_BELOW {
                small.push(f.clone());
            }
        }
        if small.len() >= 2 || (!inputs.is_empty() && !small.is_empty()) {
            inputs.extend(small);
        }
        if inputs.is_empty() {
            return Ok(None);
        }
        inputs.sort_by_key(|f| f.id);
        let dir = tenant_dir(&self.opts.data_dir, tenant);
        fs::create_dir_all(&dir).map_err(|e| StorageError::from_io("creating tenant dir", e))?;
        let id = *next_file_id;
        *next_file_id += 1;
        let path = chunk_path(&self.opts.data_dir, tenant, id);
        let written = self.write_output(&path, &inputs, &plan_streams, report);
        let placement = match written {
            Ok(p) => p,
            Err(e) => {
                remove_tmp_files(&[dir]);
                return Err(e);
            }
        };
        let output = match placement {
            (p, true) => {
                sync_dir(&dir)?;
                (p, Some((id, path)))
            }
            (p, false) => (p, None),
        };
        Ok(Some(Rewrite {
            tenant: tenant.to_string(),
            inputs,
            placement: output.0,
            output: output.1,
        }))
    }

    /// Writes the surviving blocks of `inputs` into `path`. Returns the
    /// placement and whether a file was written (nothing survives: none).
    #[allow(clippy::type_complexity)]
    fn write_output(
        &self,
        path: &Path,
        inputs: &[Arc<ChunkFile>],
        plan_streams: &dyn Fn(&ChunkFile) -> Vec<StreamPlan>,
        report: &mut CompactionReport,
    ) -> Result<(HashMap<(u64, u32), Option<u32>>, bool)> {
        let mut w = ChunkWriter::create(path)?;
        let mut placement = HashMap::new();
        let mut placed = 0u32;
        for f in inputs {
            let plan = plan_streams(f);
            for (i, b) in f.blocks.iter().enumerate() {
                crate::cancel::check()?;
                let (cutoff, dels, labels) = &plan[b.stream as usize];
                let key = (f.id, i as u32);
                if b.max_ts < *cutoff {
                    report.expired_entries += u64::from(b.entries);
                    placement.insert(key, None);
                    continue;
                }
                let hit: Vec<&DeleteFilter> = dels
                    .iter()
                    .filter(|d| d.overlaps(b.min_ts, b.max_ts))
                    .map(|d| d.as_ref())
                    .collect();
                let sid = w.stream(&f.streams[b.stream as usize]);
                let payload = f.read_block(i)?;
                if b.min_ts >= *cutoff && hit.is_empty() {
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
                    placement.insert(key, Some(placed));
                    placed += 1;
                    continue;
                }
                let d = decode_block(&payload)?;
                let mut matchers: Vec<_> = hit.iter().map(|x| x.for_stream(labels)).collect();
                let mut kept = Vec::with_capacity(d.len());
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
                    kept.push(Entry {
                        ts,
                        line: line.to_string(),
                        structured_metadata: md.clone(),
                    });
                }
                if kept.is_empty() {
                    placement.insert(key, None);
                    continue;
                }
                let p = encode_block(&kept, self.opts.compression)?;
                let (min, max) = (kept[0].ts, kept[kept.len() - 1].ts);
                let bytes = kept.iter().map(|e| e.line.len() as u64).sum();
                w.add_block(sid, &p, min, max, kept.len() as u32, bytes)?;
                w.set_filter(
                    &filter::build(kept.iter().map(|e| e.line.as_bytes())).unwrap_or_default(),
                );
                placement.insert(key, Some(placed));
                placed += 1;
            }
        }
        if placed == 0 {
            drop(w);
            let _ = fs::remove_file(path.with_extension("tmp"));
            return Ok((placement, false));
        }
        w.finish()?;
        Ok((placement, true))
    }

    /// Points the tenant's streams at the new file instead of the inputs.
    fn swap_in(&self, r: &Rewrite, file: Option<Arc<ChunkFile>>) {
        let Some(t) = self.tenant(&r.tenant) else {
            return;
        };
        let inputs: HashSet<u64> = r.inputs.iter().map(|f| f.id).collect();
        let mut t = t.write();
        for s in t.streams.iter_mut() {
            if !s
                .blocks
                .iter()
                .any(|b| matches!(b, BlockHandle::File(f, _) if inputs.contains(&f.id)))
            {
                continue;
            }
            let old = std::mem::take(&mut s.blocks);
            s.blocks = old
                .into_iter()
                .filter_map(|b| match &b {
                    BlockHandle::File(f, i) if inputs.contains(&f.id) => {
                        let to = r.placement.get(&(f.id, *i)).copied().flatten()?;
                        file.as_ref().map(|nf| BlockHandle::File(nf.clone(), to))
                    }
                    _ => Some(b),
                })
                .collect();
            // Only the lower bound moves: the newest timestamp stays the
            // reference for the out-of-order window.
            s.min_ts = s
                .blocks
                .iter()
                .map(|b| b.min_ts())
                .chain((!s.head.is_empty()).then_some(s.head_min))
                .min()
                .unwrap_or(i64::MAX);
        }
    }
}

#[cfg(test)]
mod tests;
