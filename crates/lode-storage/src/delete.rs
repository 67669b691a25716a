//! Delete requests (`/loki/api/v1/delete`): a selector with optional line
//! filters over a time range. A pending request hides its entries from
//! every query at once (read-time filter, `visibility.rs`); once its cancel
//! period has passed, the compactor removes the entries from disk and marks
//! the request `processed`. Requests are kept in `delete_requests.json` in
//! the data directory, replaced atomically.

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
        Expr::Metric(_) => Err(StorageError::Invalid(
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
    requests: Mutex<Vec<DeleteRequest>>,
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

impl DeleteRegistry {
    pub fn load(dir: &Path) -> Result<DeleteRegistry> {
        let path = dir.join(DELETE_FILE);
        let requests = match fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| StorageError::Corrupt(format!("{}: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(StorageError::from_io("reading delete requests", e)),
        };
        Ok(DeleteRegistry {
            path,
            requests: Mutex::new(requests),
        })
    }

    fn save(&self, reqs: &[DeleteRequest]) -> Result<()> {
        let io = |e| StorageError::from_io("writing delete requests", e);
        let tmp = self.path.with_extension("json.tmp");
        let body =
            serde_json::to_vec_pretty(reqs).map_err(|e| StorageError::Corrupt(e.to_string()))?;
        let mut f = File::create(&tmp).map_err(io)?;
        f.write_all(&body).map_err(io)?;
        f.sync_all().map_err(io)?;
        drop(f);
        fs::rename(&tmp, &self.path).map_err(io)?;
        match self.path.parent() {
            Some(d) => sync_dir(d),
            None => Ok(()),
        }
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
        compile(query)?;
        if end < start {
            return Err(StorageError::Invalid(
                "invalid time range: end time is before start time".into(),
            ));
        }
        let mut reqs = self.requests.lock();
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
        reqs.push(req.clone());
        if let Err(e) = self.save(&reqs) {
            reqs.pop();
            return Err(e);
        }
        Ok(req)
    }

    pub fn list(&self, tenant: &str) -> Vec<DeleteRequest> {
        self.requests
            .lock()
            .iter()
            .filter(|r| r.tenant == tenant)
            .cloned()
            .collect()
    }

    /// Removes a pending request (its entries become visible again).
    pub fn cancel(&self, tenant: &str, id: &str) -> Result<std::result::Result<(), CancelError>> {
        let mut reqs = self.requests.lock();
        let Some(i) = reqs
            .iter()
            .position(|r| r.tenant == tenant && r.request_id == id)
        else {
            return Ok(Err(CancelError::NotFound));
        };
        if reqs[i].status != DeleteStatus::Received {
            return Ok(Err(CancelError::AlreadyProcessed));
        }
        let removed = reqs.remove(i);
        if let Err(e) = self.save(&reqs) {
            reqs.insert(i, removed);
            return Err(e);
        }
        Ok(Ok(()))
    }

    /// Pending requests of a tenant, compiled (read-time filters).
    pub fn pending_filters(&self, tenant: &str) -> Vec<Arc<DeleteFilter>> {
        self.requests
            .lock()
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
            .iter()
            .filter(|r| r.status == DeleteStatus::Received)
            .map(|r| r.tenant.clone())
            .collect();
        t.sort();
        t.dedup();
        t
    }

    /// Marks requests processed (after the compactor removed their entries).
    pub fn mark_processed(&self, ids: &[(String, String)]) -> Result<()> {
        let mut reqs = self.requests.lock();
        let mut changed = false;
        for r in reqs.iter_mut() {
            if r.status == DeleteStatus::Received
                && ids
                    .iter()
                    .any(|(t, id)| *t == r.tenant && *id == r.request_id)
            {
                r.status = DeleteStatus::Processed;
                changed = true;
            }
        }
        if changed {
            self.save(&reqs)?;
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
