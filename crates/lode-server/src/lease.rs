//! Target `backend`: exactly one active backend per bucket. The active one
//! holds a lease, the object `backend/LEASE.json` (holder, expiry).
//!
//! Not every S3-compatible store honours conditional puts (Garage 2.5
//! accepts `If-None-Match: *` over an existing object), so the lease does
//! not rest on them alone. A backend takes a free or expired lease by
//! writing it (conditionally, for the stores that check), and counts it
//! held only if that write came within `MAX_CLAIM` of the read that found
//! it free and, `SETTLE` later, reading it back still names it. Of two
//! backends racing, the one written last wins and the other reads back the
//! winner: a rival's write lands at most `MAX_CLAIM` after our read, so
//! before our read-back. The holder renews every third of the term, reading
//! first; a backend that finds the lease taken, or cannot renew it before a
//! standby may take it, exits (as Kubernetes' own controllers do on a lost
//! lease), and a restarted one waits like any standby.

use lode_storage::{Bucket, BucketError};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const LEASE_KEY: &str = "backend/LEASE.json";
const TERM: Duration = Duration::from_secs(30);
/// A claim whose read and write are further apart than this is not made.
const MAX_CLAIM: Duration = Duration::from_secs(1);
/// How long after its write a claim is read back.
const SETTLE: Duration = Duration::from_secs(2);

#[derive(Debug, Serialize, Deserialize)]
struct LeaseBody {
    holder: String,
    /// Unix ns; after it anyone may take the lease.
    expires_ns: i64,
}

pub struct BackendLease {
    bucket: Arc<Bucket>,
    pub holder: String,
    tag: parking_lot::Mutex<Option<String>>,
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

impl BackendLease {
    pub fn new(bucket: Arc<Bucket>) -> BackendLease {
        BackendLease {
            bucket,
            holder: lode_storage::instance_id(),
            tag: Default::default(),
        }
    }

    fn body(&self, term: Duration) -> bytes::Bytes {
        let b = LeaseBody {
            holder: self.holder.clone(),
            expires_ns: now_ns().saturating_add(term.as_nanos() as i64),
        };
        serde_json::to_vec(&b).unwrap_or_default().into()
    }

    /// The holder named by the lease now, if it is live.
    fn current(&self) -> Result<(Option<LeaseBody>, Option<String>), BucketError> {
        match self.bucket.get_versioned(LEASE_KEY) {
            Ok((body, tag)) => Ok((serde_json::from_slice(&body).ok(), tag)),
            Err(BucketError::NotFound(_)) => Ok((None, None)),
            Err(e) => Err(e),
        }
    }

    /// One attempt: `Ok(None)` when held now, `Ok(Some(holder))` when
    /// someone else holds it.
    pub fn try_acquire(&self) -> Result<Option<String>, BucketError> {
        let read_at = Instant::now();
        let expected = match self.bucket.get_versioned(LEASE_KEY) {
            Ok((body, tag)) => {
                let cur: Option<LeaseBody> = serde_json::from_slice(&body).ok();
                match cur {
                    Some(c) if c.holder != self.holder && c.expires_ns > now_ns() => {
                        return Ok(Some(c.holder))
                    }
                    _ => tag,
                }
            }
            Err(BucketError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        match self.bucket.put_if(LEASE_KEY, self.body(TERM), expected) {
            Ok(_) => {}
            Err(BucketError::Conflict(_)) => {
                return Ok(Some("another backend (its write came first)".into()))
            }
            Err(e) => return Err(e),
        }
        if read_at.elapsed() > MAX_CLAIM {
            return Ok(Some("nobody yet (the claim was too slow to count)".into()));
        }
        std::thread::sleep(SETTLE);
        match self.current()? {
            (Some(c), tag) if c.holder == self.holder => {
                *self.tag.lock() = tag;
                Ok(None)
            }
            (Some(c), _) => Ok(Some(c.holder)),
            (None, _) => Ok(Some("nobody (the lease vanished)".into())),
        }
    }

    /// Renews the lease this backend holds; `Ok(false)` when another holds it.
    fn renew(&self) -> Result<bool, BucketError> {
        match self.current()? {
            (Some(c), tag) if c.holder == self.holder => {
                let t = self.bucket.put_if(LEASE_KEY, self.body(TERM), tag)?;
                *self.tag.lock() = t;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Waits until this process holds the lease.
    pub fn acquire(&self) {
        let mut said = String::new();
        loop {
            match self.try_acquire() {
                Ok(None) => {
                    tracing::info!(holder = %self.holder, "backend lease held: this backend is the active one");
                    return;
                }
                Ok(Some(other)) => {
                    if said != other {
                        tracing::info!(holder = %other, "backend lease held by another backend; standing by");
                        said = other;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "backend lease: the bucket did not answer; retrying")
                }
            }
            std::thread::sleep(TERM / 6);
        }
    }

    /// Renews every third of the term; exits the process when the lease is
    /// lost or cannot be renewed before another backend may take it.
    pub fn keep(self: Arc<Self>) {
        std::thread::Builder::new()
            .name("lode-lease".into())
            .spawn(move || {
                let mut last_ok = Instant::now();
                loop {
                    std::thread::sleep(TERM / 3);
                    match self.renew() {
                        Ok(true) => last_ok = Instant::now(),
                        Ok(false) | Err(BucketError::Conflict(_)) => {
                            tracing::error!("backend lease taken by another backend: exiting so that rules are never evaluated twice");
                            std::process::exit(1);
                        }
                        Err(e) if last_ok.elapsed() + TERM / 3 >= TERM => {
                            tracing::error!(error = %e, "backend lease could not be renewed within its term: exiting (another backend may take it now)");
                            std::process::exit(1);
                        }
                        Err(e) => tracing::warn!(error = %e, "renewing the backend lease failed; retrying"),
                    }
                }
            })
            .map(|_| ())
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "cannot start the lease thread: exiting");
                std::process::exit(1);
            });
    }

    /// Gives the lease up at shutdown, so a standby takes over at once.
    pub fn release(&self) {
        let (cur, tag) = match self.current() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "releasing the backend lease failed; a standby takes it when it expires");
                return;
            }
        };
        if cur.is_none_or(|c| c.holder != self.holder) {
            return;
        }
        if let Err(e) = self
            .bucket
            .put_if(LEASE_KEY, self.body(Duration::ZERO), tag)
        {
            tracing::warn!(error = %e, "releasing the backend lease failed; a standby takes it when it expires");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_of_two_backends_holds_the_lease_until_it_gives_it_up() {
        let bucket = Arc::new(Bucket::in_memory(0).unwrap());
        let a = BackendLease::new(bucket.clone());
        let b = BackendLease::new(bucket);
        assert_eq!(a.try_acquire().unwrap(), None);
        assert_eq!(b.try_acquire().unwrap(), Some(a.holder.clone()));
        assert_eq!(a.try_acquire().unwrap(), None, "the holder renews");
        a.release();
        assert_eq!(
            b.try_acquire().unwrap(),
            None,
            "released: the standby takes it"
        );
        assert!(a.try_acquire().unwrap().is_some());
    }
}
