//! Lode's own metrics in Prometheus text format. Store counters are read at
//! scrape time; request latencies are recorded by the handlers.

use lode_storage::LogStore;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabel {
    pub endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CompactionLabel {
    pub what: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    pub endpoint: String,
    pub status: String,
}

pub struct Metrics {
    registry: Registry,
    pub query_duration: Family<EndpointLabel, Histogram>,
    pub requests: Family<StatusLabel, Counter>,
    lines: Counter<u64, AtomicU64>,
    bytes: Counter<u64, AtomicU64>,
    wal_syncs: Counter<u64, AtomicU64>,
    flushes: Counter<u64, AtomicU64>,
    wal_corrupt: Counter<u64, AtomicU64>,
    wal_failures: Counter<u64, AtomicU64>,
    damaged_blocks: Counter<u64, AtomicU64>,
    unreadable_files: Counter<u64, AtomicU64>,
    rejected: Counter<u64, AtomicU64>,
    /// Compactor and retention counters, mirrored from the store.
    compaction: Family<CompactionLabel, Counter<u64, AtomicU64>>,
    ruler: Family<CompactionLabel, Counter<u64, AtomicU64>>,
    ruler_gauges: Family<CompactionLabel, Gauge<i64>>,
    ruler_eval_seconds: Counter<f64, AtomicU64>,
    /// Scalable mode: bucket requests and uploads (counters), and where
    /// uploads and feeds stand (gauges).
    scalable: Family<CompactionLabel, Counter<u64, AtomicU64>>,
    scalable_gauges: Family<CompactionLabel, Gauge<i64>>,
    streams: Gauge<i64>,
    stored_streams: Gauge<i64>,
    disk_bytes: Gauge<i64>,
    unflushed: Gauge<i64>,
    query_inflight: Gauge<i64>,
    push_inflight: Gauge<i64>,
    chunk_files: Gauge<i64>,
    rss: Gauge<i64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let query_duration = Family::<EndpointLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        let m = Metrics {
            query_duration,
            requests: Family::default(),
            lines: Counter::default(),
            bytes: Counter::default(),
            wal_syncs: Counter::default(),
            flushes: Counter::default(),
            wal_corrupt: Counter::default(),
            wal_failures: Counter::default(),
            damaged_blocks: Counter::default(),
            unreadable_files: Counter::default(),
            rejected: Counter::default(),
            compaction: Family::default(),
            ruler: Family::default(),
            ruler_gauges: Family::default(),
            ruler_eval_seconds: Counter::default(),
            scalable: Family::default(),
            scalable_gauges: Family::default(),
            streams: Gauge::default(),
            stored_streams: Gauge::default(),
            disk_bytes: Gauge::default(),
            unflushed: Gauge::default(),
            query_inflight: Gauge::default(),
            push_inflight: Gauge::default(),
            chunk_files: Gauge::default(),
            rss: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "lode_query_duration_seconds",
            "Request latency by endpoint",
            m.query_duration.clone(),
        );
        registry.register(
            "lode_requests",
            "HTTP requests by endpoint and status",
            m.requests.clone(),
        );
        registry.register("lode_ingested_lines", "Log lines accepted", m.lines.clone());
        registry.register(
            "lode_ingested_bytes",
            "Bytes of log lines accepted",
            m.bytes.clone(),
        );
        registry.register(
            "lode_wal_syncs",
            "Write-ahead log fsyncs (one per group commit)",
            m.wal_syncs.clone(),
        );
        registry.register(
            "lode_flushes",
            "Head flushes into chunk files",
            m.flushes.clone(),
        );
        registry.register(
            "lode_wal_corrupt_records",
            "Damaged write-ahead log records skipped at start-up (the records after them were replayed)",
            m.wal_corrupt.clone(),
        );
        registry.register(
            "lode_wal_write_failures",
            "Write-ahead log writes or fsyncs that failed (those pushes were refused; the writer moved to a new segment)",
            m.wal_failures.clone(),
        );
        registry.register(
            "lode_damaged_blocks",
            "Chunk-file blocks found damaged (checksum mismatch) and quarantined: left out of answers, their bytes kept under quarantine/ by the compactor",
            m.damaged_blocks.clone(),
        );
        registry.register(
            "lode_unreadable_chunk_files",
            "Chunk files found unreadable at start-up (truncated or damaged past their footer): moved to quarantine/, the other files keep serving",
            m.unreadable_files.clone(),
        );
        registry.register(
            "lode_rejected_entries",
            "Entries or streams refused by validation or limits",
            m.rejected.clone(),
        );
        registry.register(
            "lode_compactor",
            "Compactor work: passes, failures, files replaced, entries removed by retention and deletes, pushes refused on a full disk",
            m.compaction.clone(),
        );
        registry.register(
            "lode_ruler",
            "Ruler work: rule evaluations and their failures, evaluations missed by a late group, alerts sent to Alertmanager (and failed or dropped), recording-rule samples written by remote write (and failed or dropped)",
            m.ruler.clone(),
        );
        registry.register(
            "lode_ruler_state",
            "Ruler state: rule groups loaded, rule files refused at the last load, alerts and samples waiting to be sent",
            m.ruler_gauges.clone(),
        );
        registry.register(
            "lode_ruler_evaluation_seconds",
            "Time spent evaluating rule groups",
            m.ruler_eval_seconds.clone(),
        );
        registry.register(
            "lode_active_streams",
            "Streams that received an entry within ingester.chunk_idle_period (what the stream limit counts)",
            m.streams.clone(),
        );
        registry.register(
            "lode_stored_streams",
            "Streams with data inside retention (held in the label index)",
            m.stored_streams.clone(),
        );
        registry.register(
            "lode_disk_bytes",
            "Bytes on disk (chunk files and WAL)",
            m.disk_bytes.clone(),
        );
        registry.register(
            "lode_unflushed_bytes",
            "Bytes in memory not yet in chunk files",
            m.unflushed.clone(),
        );
        registry.register(
            "lode_query_inflight_bytes",
            "Bytes held by queries in flight (kept lines, points, encoded answers), against querier.max_inflight_response_bytes",
            m.query_inflight.clone(),
        );
        registry.register(
            "lode_push_inflight_bytes",
            "Decompressed and decoded bytes held by pushes being decoded, against distributor.max_inflight_push_bytes",
            m.push_inflight.clone(),
        );
        registry.register(
            "lode_chunk_files",
            "Live chunk files",
            m.chunk_files.clone(),
        );
        registry.register(
            "lode_scalable",
            "Scalable mode: bucket requests, request failures, bytes read and written, cache hits and misses; manifests uploaded and upload passes that failed",
            m.scalable.clone(),
        );
        registry.register(
            "lode_scalable_state",
            "Scalable mode: cache bytes; writers: WAL records the bucket does not hold yet; readers: writers followed, failing feeds, whether the last bucket read failed",
            m.scalable_gauges.clone(),
        );
        registry.register(
            "process_resident_memory_bytes",
            "Resident memory",
            m.rss.clone(),
        );
        Metrics { registry, ..m }
    }

    fn sync_ruler(&self, m: &lode_ruler::metrics::RulerMetrics) {
        use lode_ruler::metrics::RulerMetrics as M;
        for (what, v) in [
            ("evaluations", &m.evaluations),
            ("evaluation_failures", &m.evaluation_failures),
            ("missed_iterations", &m.missed_iterations),
            ("notifications_sent", &m.notifications_sent),
            ("notification_errors", &m.notification_errors),
            ("notifications_dropped", &m.notifications_dropped),
            ("samples_written", &m.samples_written),
            ("remote_write_errors", &m.remote_write_errors),
            ("samples_dropped", &m.samples_dropped),
        ] {
            let c = self
                .ruler
                .get_or_create(&CompactionLabel { what: what.into() });
            Self::sync_counter(&c, M::get(v));
        }
        for (what, v) in [
            ("rule_groups", &m.rule_groups),
            ("rule_file_errors", &m.rule_file_errors),
            ("notification_queue", &m.notification_queue),
            ("remote_write_queue", &m.remote_write_queue),
        ] {
            self.ruler_gauges
                .get_or_create(&CompactionLabel { what: what.into() })
                .set(i64::try_from(M::get(v)).unwrap_or(i64::MAX));
        }
        let secs = M::get(&m.evaluation_micros) as f64 / 1e6;
        let cur = self.ruler_eval_seconds.get();
        if secs > cur {
            self.ruler_eval_seconds.inc_by(secs - cur);
        }
    }

    fn sync_scalable(&self, store: &dyn LogStore, c: &lode_storage::store::StoreCounters) {
        let Some(b) = store.bucket() else {
            return;
        };
        let n = &b.counters;
        for (what, v) in [
            ("bucket_requests", n.requests.load(Ordering::Relaxed)),
            ("bucket_failures", n.failures.load(Ordering::Relaxed)),
            ("bucket_bytes_read", n.bytes_read.load(Ordering::Relaxed)),
            (
                "bucket_bytes_written",
                n.bytes_written.load(Ordering::Relaxed),
            ),
            ("cache_hits", b.cache.hits.load(Ordering::Relaxed)),
            ("cache_misses", b.cache.misses.load(Ordering::Relaxed)),
            ("manifests_uploaded", c.uploads.load(Ordering::Relaxed)),
            ("upload_failures", c.upload_failures.load(Ordering::Relaxed)),
        ] {
            let counter = self
                .scalable
                .get_or_create(&CompactionLabel { what: what.into() });
            Self::sync_counter(&counter, v);
        }
        let st = store.scalable_status();
        let mut gauges = vec![("cache_bytes", b.cache.bytes() as i64)];
        if st.role == "writer" {
            gauges.push((
                "records_not_uploaded",
                st.local_checkpoint.saturating_sub(st.uploaded_checkpoint) as i64,
            ));
        }
        if let Some(r) = &st.replica {
            gauges.push(("writers", r.writers.len() as i64));
            gauges.push(("feed_errors", r.feed_errors.len() as i64));
            gauges.push(("bucket_error", i64::from(!r.bucket_error.is_empty())));
        }
        for (what, v) in gauges {
            self.scalable_gauges
                .get_or_create(&CompactionLabel { what: what.into() })
                .set(v);
        }
    }

    fn sync_counter(c: &Counter<u64, AtomicU64>, v: u64) {
        let cur = c.get();
        if v > cur {
            c.inc_by(v - cur);
        }
    }

    /// Renders the registry after refreshing store-derived values.
    pub fn render(&self, store: &dyn LogStore, ruler: Option<&lode_ruler::Ruler>) -> String {
        if let Some(r) = ruler {
            self.sync_ruler(r.metrics());
        }
        let c = store.counters();
        Self::sync_counter(&self.lines, c.lines.load(Ordering::Relaxed));
        Self::sync_counter(&self.bytes, c.bytes.load(Ordering::Relaxed));
        Self::sync_counter(&self.wal_syncs, c.wal_syncs.load(Ordering::Relaxed));
        Self::sync_counter(&self.flushes, c.flushes.load(Ordering::Relaxed));
        Self::sync_counter(
            &self.wal_corrupt,
            c.wal_corrupt_records.load(Ordering::Relaxed),
        );
        Self::sync_counter(
            &self.wal_failures,
            c.wal_write_failures.load(Ordering::Relaxed),
        );
        Self::sync_counter(
            &self.damaged_blocks,
            lode_storage::format::chunk_file::DAMAGED_BLOCKS.load(Ordering::Relaxed),
        );
        Self::sync_counter(
            &self.unreadable_files,
            lode_storage::format::chunk_file::UNREADABLE_FILES.load(Ordering::Relaxed),
        );
        Self::sync_counter(&self.rejected, c.rejected_lines.load(Ordering::Relaxed));
        for (what, v) in [
            ("passes", &c.compactions),
            ("failures", &c.compaction_failures),
            ("files_replaced", &c.compacted_files),
            ("recompressed_blocks", &c.recompressed_blocks),
            ("retention_removed_entries", &c.retention_removed_entries),
            ("delete_removed_entries", &c.deleted_entries),
            ("disk_full_refusals", &c.disk_full_errors),
        ] {
            let counter = self
                .compaction
                .get_or_create(&CompactionLabel { what: what.into() });
            Self::sync_counter(&counter, v.load(Ordering::Relaxed));
        }
        self.sync_scalable(store, c);
        let s = store.stats();
        self.streams.set(s.active_streams as i64);
        self.stored_streams.set(s.streams as i64);
        self.disk_bytes.set(s.disk_bytes as i64);
        self.unflushed.set(s.unflushed_bytes as i64);
        self.query_inflight
            .set(i64::try_from(lode_logql::context::inflight_bytes()).unwrap_or(i64::MAX));
        self.push_inflight
            .set(i64::try_from(lode_proto::PUSH_BUDGET.in_use()).unwrap_or(i64::MAX));
        self.chunk_files.set(s.chunk_files as i64);
        self.rss.set(resident_bytes() as i64);
        let mut out = String::new();
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Resident set size from /proc (0 where unavailable).
pub fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}
