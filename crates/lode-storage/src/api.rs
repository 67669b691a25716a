//! The store as the HTTP layer sees it. The server holds an
//! `Arc<dyn LogStore>`, never a concrete `Store`: handlers can be run
//! against another implementation (the router tests use one that fails on
//! purpose), and nothing in the server reaches past these operations.

use crate::delete::{CancelError, DeleteRequest};
use crate::error::Result;
use crate::ingest::Limits;
use crate::meta::{IndexStats, VolumeGroup};
use crate::query::{LogHit, LogQuery};
use crate::samples::TenantSamples;
use crate::sources::ScanStats;
use crate::store::{
    CompactorSchedule, FeedPage, PushCallback, ScalableStatus, Store, StoreCounters, StoreStats,
    TenantStatus,
};
use crate::subscribe::Subscribers;
use lode_logql::ast::Matcher;
use lode_logql::LabelSet;
use lode_proto::PushStream;
use std::collections::HashMap;
use std::sync::Arc;

/// Every operation the HTTP layer performs on stored logs.
pub trait LogStore: Send + Sync + 'static {
    /// The limits in force for `tenant` (its override, else the defaults).
    fn limits_for(&self, tenant: &str) -> Limits;
    fn set_limits(&self, limits: Limits);
    /// Replaces every per-tenant override (runtime configuration reload).
    fn set_tenant_limits(&self, overrides: HashMap<String, Limits>);

    /// Validates and stores `streams`; `done` is called once they are
    /// durable, or with the reason they are not.
    fn push(&self, tenant: &str, streams: Vec<PushStream>, done: PushCallback);
    /// Persists everything in memory now.
    fn flush(&self) -> Result<()>;
    fn shutdown(&self) -> Result<()>;

    fn query_logs(&self, tenant: &str, q: &LogQuery<'_>) -> Result<(Vec<LogHit>, ScanStats)>;
    /// The sample source metric queries evaluate over.
    fn samples(&self, tenant: &str, max_series: usize) -> TenantSamples;
    fn series(
        &self,
        tenant: &str,
        selectors: &[Vec<Matcher>],
        start: i64,
        end: i64,
    ) -> Result<Vec<LabelSet>>;
    fn label_names(
        &self,
        tenant: &str,
        selector: Option<&[Matcher]>,
        start: i64,
        end: i64,
    ) -> Result<Vec<String>>;
    fn label_values(
        &self,
        tenant: &str,
        name: &str,
        selector: Option<&[Matcher]>,
        start: i64,
        end: i64,
    ) -> Result<Vec<String>>;
    fn index_stats(
        &self,
        tenant: &str,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<IndexStats>;
    fn volume(
        &self,
        tenant: &str,
        matchers: &[Matcher],
        start: i64,
        end: i64,
        step: i64,
        group: &VolumeGroup,
    ) -> Result<Vec<(LabelSet, Vec<u64>)>>;

    fn add_delete(&self, tenant: &str, query: &str, start: i64, end: i64) -> Result<DeleteRequest>;
    fn list_deletes(&self, tenant: &str) -> Vec<DeleteRequest>;
    fn cancel_delete(&self, tenant: &str, id: &str)
        -> Result<std::result::Result<(), CancelError>>;

    fn stats(&self) -> StoreStats;
    fn tenant_status(&self, tenant: &str) -> TenantStatus;
    fn compactor_schedule(&self) -> CompactorSchedule;
    fn counters(&self) -> &StoreCounters;
    /// Hooks told about every durable batch (live tail).
    fn subscribers(&self) -> &Subscribers;

    /// Scalable mode, target `write`: acknowledged records after `after`
    /// the bucket does not hold yet, for readers.
    fn feed_page(&self, _after: u64, _max_bytes: usize) -> Result<FeedPage> {
        Err(crate::StorageError::Unavailable(
            "this store serves no feed".into(),
        ))
    }
    /// The writer id and incarnation a feed answers with.
    fn writer_identity(&self) -> (String, String) {
        (String::new(), String::new())
    }
    /// This store's part in scalable mode and how it stands.
    fn scalable_status(&self) -> ScalableStatus {
        ScalableStatus::default()
    }
    /// The bucket of scalable mode, if any (its counters for `/metrics`).
    fn bucket(&self) -> Option<Arc<lode_bucket::Bucket>> {
        None
    }
}

impl LogStore for Store {
    fn limits_for(&self, tenant: &str) -> Limits {
        Store::limits_for(self, tenant)
    }
    fn set_limits(&self, limits: Limits) {
        Store::set_limits(self, limits)
    }
    fn set_tenant_limits(&self, overrides: HashMap<String, Limits>) {
        Store::set_tenant_limits(self, overrides)
    }
    fn push(&self, tenant: &str, streams: Vec<PushStream>, done: PushCallback) {
        Store::push(self, tenant, streams, done)
    }
    fn flush(&self) -> Result<()> {
        Store::flush(self)
    }
    fn shutdown(&self) -> Result<()> {
        Store::shutdown(self)
    }
    fn query_logs(&self, tenant: &str, q: &LogQuery<'_>) -> Result<(Vec<LogHit>, ScanStats)> {
        Store::query_logs(self, tenant, q)
    }
    fn samples(&self, tenant: &str, max_series: usize) -> TenantSamples {
        Store::samples(self, tenant, max_series)
    }
    fn series(
        &self,
        tenant: &str,
        selectors: &[Vec<Matcher>],
        start: i64,
        end: i64,
    ) -> Result<Vec<LabelSet>> {
        Store::series(self, tenant, selectors, start, end)
    }
    fn label_names(
        &self,
        tenant: &str,
        selector: Option<&[Matcher]>,
        start: i64,
        end: i64,
    ) -> Result<Vec<String>> {
        Store::label_names(self, tenant, selector, start, end)
    }
    fn label_values(
        &self,
        tenant: &str,
        name: &str,
        selector: Option<&[Matcher]>,
        start: i64,
        end: i64,
    ) -> Result<Vec<String>> {
        Store::label_values(self, tenant, name, selector, start, end)
    }
    fn index_stats(
        &self,
        tenant: &str,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<IndexStats> {
        Store::index_stats(self, tenant, matchers, start, end)
    }
    fn volume(
        &self,
        tenant: &str,
        matchers: &[Matcher],
        start: i64,
        end: i64,
        step: i64,
        group: &VolumeGroup,
    ) -> Result<Vec<(LabelSet, Vec<u64>)>> {
        Store::volume(self, tenant, matchers, start, end, step, group)
    }
    fn add_delete(&self, tenant: &str, query: &str, start: i64, end: i64) -> Result<DeleteRequest> {
        Store::add_delete(self, tenant, query, start, end)
    }
    fn list_deletes(&self, tenant: &str) -> Vec<DeleteRequest> {
        Store::list_deletes(self, tenant)
    }
    fn cancel_delete(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<std::result::Result<(), CancelError>> {
        Store::cancel_delete(self, tenant, id)
    }
    fn tenant_status(&self, tenant: &str) -> TenantStatus {
        Store::tenant_status(self, tenant)
    }
    fn compactor_schedule(&self) -> CompactorSchedule {
        Store::compactor_schedule(self)
    }
    fn stats(&self) -> StoreStats {
        Store::stats(self)
    }
    fn counters(&self) -> &StoreCounters {
        Store::counters(self)
    }
    fn subscribers(&self) -> &Subscribers {
        Store::subscribers(self)
    }
    fn feed_page(&self, after: u64, max_bytes: usize) -> Result<FeedPage> {
        Store::feed_page(self, after, max_bytes)
    }
    fn writer_identity(&self) -> (String, String) {
        let (id, inc) = Store::writer_identity(self);
        (id.to_string(), inc.to_string())
    }
    fn scalable_status(&self) -> ScalableStatus {
        Store::scalable_status(self)
    }
    fn bucket(&self) -> Option<Arc<lode_bucket::Bucket>> {
        Store::bucket(self).cloned()
    }
}
