//! Delete requests (`/loki/api/v1/delete`): a selector with optional line
//! filters over a time range. A pending request hides its entries from
//! every query at once (read-time filter, `visibility.rs`); once its cancel
//! period has passed, the compactor removes the entries from disk and marks
//! the request `processed`. Requests are kept in `delete_requests.json` in
//! the data directory (a snapshot, replaced atomically) and
//! `delete_requests.log` (one JSON line per change since the snapshot,
//! appended and synced), so a request costs its own bytes on disk, not a
//! rewrite of every request. Layout: `docs/storage.md` ("Delete requests").
//! Bounded: a query of at most [`MAX_DELETE_QUERY_BYTES`], at most
//! [`MAX_PENDING_PER_TENANT`] pending requests and [`MAX_KEPT_PER_TENANT`]
//! kept per tenant.

use crate::error::{Result, StorageError};
use crate::format::chunk_file::sync_dir;
use crate::index::{compile_all, CompiledMatcher};
use lode_logql::ast::Expr;
use lode_logql::pipeline::LogPipeline;
use lode_logql::LabelSet;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const DELETE_FILE: &str = "delete_requests.json";
pub const DELETE_LOG: &str = "delete_requests.log";

/// Longest delete query accepted: a selector and a few line filters.
pub const MAX_DELETE_QUERY_BYTES: usize = 16 << 10;
/// Pending requests a tenant may have at once; each is a read-time filter
/// on every query of the tenant until the compactor processes it.
pub const MAX_PENDING_PER_TENANT: usize = 100;
/// Requests kept per tenant (the oldest processed ones are forgotten).
pub const MAX_KEPT_PER_TENANT: usize = 1000;
/// Journal lines after which the snapshot is rewritten.
const COMPACT_AFTER: usize = 1000;

/// One change recorded in the journal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum Change {
    Add { request: DeleteRequest },
    Cancel { tenant: String, request_id: String },
    Processed { ids: Vec<(String, String)> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeleteStatus {
    /// Waiting for the compactor (entries already hidden from queries).
    Received,
    /// The compactor removed the entries from disk.
    Processed,
}

impl DeleteStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeleteStatus::Received => "received",
            DeleteStatus::Processed => "processed",
        }
    }
}

/// One delete request. Times are Unix nanoseconds; `[start, end]` inclusive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteRequest {
    pub request_id: String,
    pub tenant: String,
    pub query: String,
    pub start: i64,
    pub end: i64,
    pub created_at: i64,
    pub status: DeleteStatus,
}

/// A request compiled for matching entries.
#[derive(Debug)]
pub struct DeleteFilter {
    pub req: DeleteRequest,
    matchers: Vec<CompiledMatcher>,
    /// `None` when the query has no line filters: every entry in range goes.
    pipeline: Option<LogPipeline>,
}

/// Parses a delete query: a stream selector with optional filters.
fn compile(query: &str) -> Result<(Vec<CompiledMatcher>, Option<LogPipeline>)> {
    match lode_logql::parse(query)? {
        Expr::Log(l) => {
            let pipeline = if l.pipeline.is_empty() {
                None
            } else {
                Some(LogPipeline::new(&l.pipeline)?)
            };
            Ok((compile_all(&l.selector)?, pipeline))
        }
        Expr::Metric(_) | Expr::Variants(_) => Err(StorageError::Invalid(
            "invalid query: a delete query must be a log selector with optional line filters"
                .into(),
        )),
    }
}

impl DeleteFilter {
    pub fn new(req: DeleteRequest) -> Result<DeleteFilter> {
        let (matchers, pipeline) = compile(&req.query)?;
        Ok(DeleteFilter {
            req,
            matchers,
            pipeline,
        })
    }

    pub fn applies_to<L: crate::stored_labels::LabelLookup + ?Sized>(&self, labels: &L) -> bool {
        self.matchers.iter().all(|m| m.matches_labels(labels))
    }

    pub fn overlaps(&self, min_ts: i64, max_ts: i64) -> bool {
        self.req.start <= max_ts && self.req.end >= min_ts
    }

    /// Whether the filter covers every entry in its time range (no line
    /// filters), so whole blocks inside the range can go unread.
    pub fn is_whole_range(&self) -> bool {
        self.pipeline.is_none()
    }

    /// A per-stream matcher for entries; `labels` must satisfy `applies_to`.
    pub fn for_stream<'a>(&'a self, labels: &LabelSet) -> EntryMatcher<'a> {
        EntryMatcher {
            start: self.req.start,
            end: self.req.end,
            pipeline: self.pipeline.as_ref().map(|p| p.for_stream(labels)),
        }
    }
}

/// Decides entry by entry whether a delete request covers it.
pub struct EntryMatcher<'a> {
    start: i64,
    end: i64,
    pipeline: Option<lode_logql::pipeline::StreamPipeline<'a>>,
}

impl EntryMatcher<'_> {
    pub fn covers(&mut self, ts: i64, line: &str, metadata: &[(String, String)]) -> bool {
        if ts < self.start || ts > self.end {
            return false;
        }
        match &mut self.pipeline {
            None => true,
            Some(p) => p.process(ts, line, metadata).is_some(),
        }
    }
}

/// Why a cancel was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum CancelError {
    NotFound,
    AlreadyProcessed,
}

/// Every delete request of every tenant, persisted.
#[derive(Debug)]
pub struct DeleteRegistry {
    path: PathBuf,
    log: PathBuf,
    requests: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    reqs: Vec<DeleteRequest>,
    /// Lines in the journal since the snapshot.
    journal: usize,
}

fn id_for(tenant: &str, created_at: i64, n: usize) -> String {
    let h = crate::hash::fnv1a(
        tenant
            .bytes()
            .chain(created_at.to_le_bytes())
            .chain((n as u64).to_le_bytes()),
    );
    format!("{:08x}", (h ^ (h >> 32)) as u32)
}

/// Applies one change to the request list (load and live share it).
fn apply(reqs: &mut Vec<DeleteRequest>, change: Change) {
    match change {
        Change::Add { request } => {
            let tenant = request.tenant.clone();
            reqs.push(request);
            // The oldest processed requests go first past the per-tenant cap.
            let mut kept = reqs.iter().filter(|r| r.tenant == tenant).count();
            reqs.retain(|r| {
                if kept > MAX_KEPT_PER_TENANT
                    && r.tenant == tenant
                    && r.status == DeleteStatus::Processed
                {
                    kept -= 1;
                    false
                } else {
                    true
                }
            });
        }
        Change::Cancel { tenant, request_id } => {
            reqs.retain(|r| {
                !(r.tenant == tenant
                    && r.request_id == request_id
                    && r.status == DeleteStatus::Received)
            });
        }
        Change::Processed { ids } => {
            for r in reqs.iter_mut() {
                if r.status == DeleteStatus::Received
                    && ids
                        .iter()
                        .any(|(t, id)| *t == r.tenant && *id == r.request_id)
                {
                    r.status = DeleteStatus::Processed;
                }
            }
        }
    }
}

impl DeleteRegistry {
    pub fn load(dir: &Path) -> Result<DeleteRegistry> {
        let path = dir.join(DELETE_FILE);
        let log = dir.join(DELETE_LOG);
        let mut reqs: Vec<DeleteRequest> = match fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| StorageError::Corrupt(format!("{}: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(StorageError::from_io("reading delete requests", e)),
        };
        let mut journal = 0;
        match fs::read(&log) {
            Ok(b) => {
                let lines: Vec<&[u8]> =
                    b.split(|&c| c == b'\n').filter(|l| !l.is_empty()).collect();
                for (i, line) in lines.iter().enumerate() {
                    match serde_json::from_slice::<Change>(line) {
                        Ok(c) => apply(&mut reqs, c),
                        // A torn last line is a change never acknowledged.
                        Err(_) if i + 1 == lines.len() && !b.ends_with(b"\n") => {
                            tracing::warn!(file = %log.display(), "ignoring a torn last delete-request change")
                        }
                        Err(e) => {
                            return Err(StorageError::Corrupt(format!(
                                "{} line {}: {e}",
                                log.display(),
                                i + 1
                            )))
                        }
                    }
                    journal += 1;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StorageError::from_io("reading delete requests", e)),
        }
        let reg = DeleteRegistry {
            path,
            log,
            requests: Mutex::new(State { reqs, journal }),
        };
        if journal > 0 {
            let mut st = reg.requests.lock();
            reg.compact(&mut st)?;
        }
        Ok(reg)
    }

    /// Writes the snapshot and empties the journal.
    fn compact(&self, st: &mut State) -> Result<()> {
        let io = |e| StorageError::from_io("writing delete requests", e);
        let tmp = self.path.with_extension("json.tmp");
        let body = serde_json::to_vec_pretty(&st.reqs)
            .map_err(|e| StorageError::Corrupt(e.to_string()))?;
        let mut f = File::create(&tmp).map_err(io)?;
        f.write_all(&body).map_err(io)?;
        f.sync_all().map_err(io)?;
        drop(f);
        fs::rename(&tmp, &self.path).map_err(io)?;
        if let Some(d) = self.path.parent() {
            sync_dir(d)?;
        }
        // Only once the snapshot holds every change is the journal cut.
        match File::create(&self.log) {
            Ok(f) => f.sync_all().map_err(io)?,
            Err(e) => return Err(io(e)),
        }
        st.journal = 0;
        Ok(())
    }

    /// Appends one change to the journal (synced) and applies it.
    fn record(&self, st: &mut State, change: Change) -> Result<()> {
        let io = |e| StorageError::from_io("writing delete requests", e);
        let mut line =
            serde_json::to_vec(&change).map_err(|e| StorageError::Corrupt(e.to_string()))?;
        line.push(b'\n');
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(io)?;
        f.write_all(&line).map_err(io)?;
        f.sync_data().map_err(io)?;
        apply(&mut st.reqs, change);
        st.journal += 1;
        if st.journal >= COMPACT_AFTER {
            self.compact(st)?;
        }
        Ok(())
    }

    /// Records a new request (validated) and persists it.
    pub fn add(
        &self,
        tenant: &str,
        query: &str,
        start: i64,
        end: i64,
        now: i64,
    ) -> Result<DeleteRequest> {
        if query.len() > MAX_DELETE_QUERY_BYTES {
            return Err(StorageError::Invalid(format!(
                "delete query too long: {} bytes (limit {MAX_DELETE_QUERY_BYTES})",
                query.len()
            )));
        }
        compile(query)?;
        if end < start {
            return Err(StorageError::Invalid(
                "invalid time range: end time is before start time".into(),
            ));
        }
        let mut st = self.requests.lock();
        let pending = st
            .reqs
            .iter()
            .filter(|r| r.tenant == tenant && r.status == DeleteStatus::Received)
            .count();
        if pending >= MAX_PENDING_PER_TENANT {
            return Err(StorageError::RateLimited(format!(
                "too many pending delete requests ({pending}, limit {MAX_PENDING_PER_TENANT}): wait for the compactor to process them, or cancel some"
            )));
        }
        let reqs = &st.reqs;
        let mut req = DeleteRequest {
            request_id: String::new(),
            tenant: tenant.to_string(),
            query: query.to_string(),
            start,
            end,
            created_at: now,
            status: DeleteStatus::Received,
        };
        let mut n = reqs.len();
        loop {
            req.request_id = id_for(tenant, now, n);
            if !reqs.iter().any(|r| r.request_id == req.request_id) {
                break;
            }
            n += 1;
        }
        self.record(
            &mut st,
            Change::Add {
                request: req.clone(),
            },
        )?;
        Ok(req)
    }

    pub fn list(&self, tenant: &str) -> Vec<DeleteRequest> {
        self.requests
            .lock()
            .reqs
            .iter()
            .filter(|r| r.tenant == tenant)
            .cloned()
            .collect()
    }

    /// Removes a pending request (its entries become visible again).
    pub fn cancel(&self, tenant: &str, id: &str) -> Result<std::result::Result<(), CancelError>> {
        let mut st = self.requests.lock();
        let Some(r) = st
            .reqs
            .iter()
            .find(|r| r.tenant == tenant && r.request_id == id)
        else {
            return Ok(Err(CancelError::NotFound));
        };
        if r.status != DeleteStatus::Received {
            return Ok(Err(CancelError::AlreadyProcessed));
        }
        self.record(
            &mut st,
            Change::Cancel {
                tenant: tenant.to_string(),
                request_id: id.to_string(),
            },
        )?;
        Ok(Ok(()))
    }

    /// Pending requests of a tenant, compiled (read-time filters).
    pub fn pending_filters(&self, tenant: &str) -> Vec<Arc<DeleteFilter>> {
        self.requests
            .lock()
            .reqs
            .iter()
            .filter(|r| r.tenant == tenant && r.status == DeleteStatus::Received)
            .filter_map(|r| DeleteFilter::new(r.clone()).ok())
            .map(Arc::new)
            .collect()
    }

    /// Tenants with pending requests.
    pub fn tenants_with_pending(&self) -> Vec<String> {
        let mut t: Vec<String> = self
            .requests
            .lock()
            .reqs
            .iter()
            .filter(|r| r.status == DeleteStatus::Received)
            .map(|r| r.tenant.clone())
            .collect();
        t.sort();
        t.dedup();
        t
    }

    /// Every request of every tenant (scalable mode: what the backend
    /// publishes to the bucket).
    pub fn all(&self) -> Vec<DeleteRequest> {
        self.requests.lock().reqs.clone()
    }

    /// Requests this store carried out.
    pub fn processed_ids(&self) -> Vec<(String, String)> {
        self.requests
            .lock()
            .reqs
            .iter()
            .filter(|r| r.status == DeleteStatus::Processed)
            .map(|r| (r.tenant.clone(), r.request_id.clone()))
            .collect()
    }

    /// Scalable mode: takes the backend's list from the bucket. Requests
    /// added or cancelled there appear or go; one this store already carried
    /// out stays processed here (so its compactor does not do it again).
    /// Persisted as a snapshot; says whether anything changed.
    pub fn sync_from(&self, incoming: Vec<DeleteRequest>) -> Result<bool> {
        let mut st = self.requests.lock();
        let done = |r: &DeleteRequest| {
            st.reqs.iter().any(|l| {
                l.tenant == r.tenant
                    && l.request_id == r.request_id
                    && l.status == DeleteStatus::Processed
            })
        };
        let merged: Vec<DeleteRequest> = incoming
            .into_iter()
            .map(|mut r| {
                if done(&r) {
                    r.status = DeleteStatus::Processed;
                }
                r
            })
            .collect();
        if merged == st.reqs {
            return Ok(false);
        }
        st.reqs = merged;
        self.compact(&mut st)?;
        Ok(true)
    }

    /// Marks requests processed (after the compactor removed their entries).
    pub fn mark_processed(&self, ids: &[(String, String)]) -> Result<()> {
        let mut st = self.requests.lock();
        let any = st.reqs.iter().any(|r| {
            r.status == DeleteStatus::Received
                && ids
                    .iter()
                    .any(|(t, id)| *t == r.tenant && *id == r.request_id)
        });
        if any {
            self.record(&mut st, Change::Processed { ids: ids.to_vec() })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_list_cancel_and_persist() {
        let d = tempfile::tempdir().unwrap();
        let r = DeleteRegistry::load(d.path()).unwrap();
        let a = r.add("t", r#"{app="a"} |= "secret""#, 10, 20, 5).unwrap();
        let b = r.add("t", r#"{app="b"}"#, 10, 20, 5).unwrap();
        assert_ne!(a.request_id, b.request_id);
        assert!(r.add("t", "sum(rate({a=\"b\"}[1m]))", 1, 2, 5).is_err());
        assert!(r.add("t", r#"{app="a"}"#, 3, 2, 5).is_err());
        assert_eq!(r.list("other").len(), 0);
        assert_eq!(r.cancel("t", &b.request_id).unwrap(), Ok(()));
        assert_eq!(
            r.cancel("t", &b.request_id).unwrap(),
            Err(CancelError::NotFound)
        );
        r.mark_processed(&[("t".into(), a.request_id.clone())])
            .unwrap();
        assert_eq!(
            r.cancel("t", &a.request_id).unwrap(),
            Err(CancelError::AlreadyProcessed)
        );
        let again = DeleteRegistry::load(d.path()).unwrap();
        let l = again.list("t");
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].status, DeleteStatus::Processed);
    }

    #[test]
    fn each_request_costs_its_own_bytes_on_disk() {
        let d = tempfile::tempdir().unwrap();
        let r = DeleteRegistry::load(d.path()).unwrap();
        let big = format!(r#"{{app="{}"}}"#, "a".repeat(8 << 10));
        r.add("t", &big, 1, 2, 5).unwrap();
        let snapshot = fs::metadata(d.path().join(DELETE_FILE))
            .map(|m| m.len())
            .unwrap_or(0);
        let mut last = fs::metadata(d.path().join(DELETE_LOG)).unwrap().len();
        for i in 0..20 {
            r.add("t", &format!(r#"{{app="x{i}"}}"#), 1, 2, 5 + i)
                .unwrap();
            let now = fs::metadata(d.path().join(DELETE_LOG)).unwrap().len();
            assert!(
                now - last < 512,
                "one small request appended {} bytes",
                now - last
            );
            last = now;
        }
        // The big request was not rewritten by the small ones.
        assert_eq!(
            fs::metadata(d.path().join(DELETE_FILE))
                .map(|m| m.len())
                .unwrap_or(0),
            snapshot
        );
        let again = DeleteRegistry::load(d.path()).unwrap();
        assert_eq!(again.list("t").len(), 21);
    }

    #[test]
    fn a_torn_last_change_is_ignored_and_older_snapshots_still_load() {
        let d = tempfile::tempdir().unwrap();
        // A data directory from before the journal: the snapshot alone.
        fs::write(
            d.path().join(DELETE_FILE),
            r#"[{"request_id":"0a","tenant":"t","query":"{app=\"a\"}","start":1,"end":2,"created_at":3,"status":"received"}]"#,
        )
        .unwrap();
        let r = DeleteRegistry::load(d.path()).unwrap();
        assert_eq!(r.list("t").len(), 1);
        r.add("t", r#"{app="b"}"#, 1, 2, 5).unwrap();
        drop(r);
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(d.path().join(DELETE_LOG))
            .unwrap();
        f.write_all(br#"{"op":"add","request":{"request_id":"ff","ten"#)
            .unwrap();
        drop(f);
        let again = DeleteRegistry::load(d.path()).unwrap();
        let ids: Vec<String> = again.list("t").into_iter().map(|r| r.request_id).collect();
        assert_eq!(ids.len(), 2, "{ids:?}");
        assert!(!ids.contains(&"ff".to_string()));
    }

    #[test]
    fn query_size_and_pending_count_are_bounded() {
        let d = tempfile::tempdir().unwrap();
        let r = DeleteRegistry::load(d.path()).unwrap();
        let huge = format!(r#"{{app="{}"}}"#, "a".repeat(MAX_DELETE_QUERY_BYTES));
        assert!(matches!(
            r.add("t", &huge, 1, 2, 5),
            Err(StorageError::Invalid(_))
        ));
        for i in 0..MAX_PENDING_PER_TENANT {
            r.add("t", &format!(r#"{{app="a{i}"}}"#), 1, 2, 5).unwrap();
        }
        assert!(matches!(
            r.add("t", r#"{app="one-more"}"#, 1, 2, 5),
            Err(StorageError::RateLimited(_))
        ));
        // Another tenant is not affected.
        r.add("u", r#"{app="a"}"#, 1, 2, 5).unwrap();
    }

    #[test]
    fn line_filters_decide_per_entry() {
        let f = DeleteFilter::new(DeleteRequest {
            request_id: "x".into(),
            tenant: "t".into(),
            query: r#"{app="a"} |= "secret""#.into(),
            start: 10,
            end: 20,
            created_at: 0,
            status: DeleteStatus::Received,
        })
        .unwrap();
        let ls = LabelSet::from_pairs([("app".to_string(), "a".to_string())]);
        assert!(f.applies_to(&ls));
        let mut m = f.for_stream(&ls);
        assert!(m.covers(10, "a secret line", &[]));
        assert!(!m.covers(10, "public", &[]));
        assert!(!m.covers(21, "a secret line", &[]));
    }
}
