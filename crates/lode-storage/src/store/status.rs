//! What one tenant has stored, for the status page: counted from memory and
//! the manifest, never by reading chunk files.

use super::{chunk_path, Inner};
use crate::format::manifest::FileEntry;
use std::fs;
use std::sync::atomic::Ordering;

/// One tenant's share of the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantStatus {
    /// Streams known to the index (active or not).
    pub streams: u64,
    /// Streams counting against `max_global_streams_per_user`.
    pub active_streams: u64,
    /// Chunk files of the tenant and their size on disk.
    pub chunk_files: u64,
    pub chunk_bytes: u64,
    /// Oldest and newest entry still readable (ns), `None` when empty.
    pub oldest_ns: Option<i64>,
    pub newest_ns: Option<i64>,
    /// Lines and line bytes acknowledged since start.
    pub ingested_lines: u64,
    pub ingested_bytes: u64,
}

/// When the compactor ran and runs next.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactorSchedule {
    /// When the last compaction pass ended (store clock, ns).
    pub last_ns: Option<i64>,
    /// When the next is due (ns).
    pub next_ns: i64,
}

impl Inner {
    pub(crate) fn tenant_status(&self, tenant: &str) -> TenantStatus {
        self.sweep_all();
        let mut st = TenantStatus::default();
        let t = self.tenants.read().get(tenant).cloned();
        if let Some(t) = t {
            let t = t.read();
            st.streams = t.streams.len() as u64;
            st.active_streams = t.active_streams as u64;
            st.ingested_lines = t.ingested_lines.load(Ordering::Relaxed);
            st.ingested_bytes = t.ingested_bytes.load(Ordering::Relaxed);
            // Expired entries can outlive their window until the next
            // compaction; reads already hide them, and so does this.
            let now = self.opts.clock.now_ns();
            let retention = self
                .opts
                .retention_enabled
                .then(|| self.limits_for(tenant).retention);
            let (mut lo, mut hi) = (i64::MAX, i64::MIN);
            for s in &t.streams {
                let cutoff = retention
                    .as_ref()
                    .map_or(i64::MIN, |r| r.cutoff(s.labels.as_ref(), now));
                if s.min_ts <= s.max_ts && s.max_ts >= cutoff {
                    lo = lo.min(s.min_ts.max(cutoff));
                    hi = hi.max(s.max_ts);
                }
            }
            if lo <= hi {
                st.oldest_ns = Some(lo);
                st.newest_ns = Some(hi);
            }
        }
        (st.chunk_files, st.chunk_bytes) = self.chunk_sizes(|f| f.tenant == tenant);
        st
    }

    /// How many live chunk files pass `keep`, and their bytes on disk.
    pub(crate) fn chunk_sizes(&self, keep: impl Fn(&FileEntry) -> bool) -> (u64, u64) {
        let files: Vec<FileEntry> = self
            .manifest
            .lock()
            .files
            .iter()
            .filter(|f| keep(f))
            .cloned()
            .collect();
        let bytes = files
            .iter()
            .map(|f| {
                fs::metadata(chunk_path(&self.opts.data_dir, &f.tenant, f.id))
                    .map_or(0, |m| m.len())
            })
            .sum();
        (files.len() as u64, bytes)
    }

    pub(crate) fn compactor_schedule(&self) -> CompactorSchedule {
        let last = self.last_compaction_ns.load(Ordering::Relaxed);
        let last = (last != i64::MIN).then_some(last);
        let interval = i64::try_from(self.opts.compaction_interval.as_nanos()).unwrap_or(i64::MAX);
        CompactorSchedule {
            last_ns: last,
            next_ns: last.unwrap_or(self.started_ns).saturating_add(interval),
        }
    }
}
