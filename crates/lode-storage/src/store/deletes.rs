//! Delete requests in scalable mode (`docs/storage.md`, "Bucket layout").
//! The active backend keeps them and publishes the whole list to the
//! bucket after every change; readers follow it (entries are hidden from
//! answers at once); writers follow it, carry ready requests out on their
//! own files with their compactor and list what they did in their bucket
//! manifest; the backend marks a request processed once every writer has.

use super::{Inner, Remote};
use crate::delete::DeleteRequest;
use crate::error::{Result, StorageError};
use crate::layout::DELETES_KEY;
use lode_bucket::{Bucket, BucketError};
use std::collections::HashSet;

impl Inner {
    fn deletes_bucket(&self) -> Option<(&std::sync::Arc<Bucket>, bool)> {
        match &self.opts.remote {
            Some(Remote::Writer { bucket, .. }) => Some((bucket, false)),
            Some(Remote::Reader {
                bucket,
                owns_deletes,
                ..
            }) => Some((bucket, *owns_deletes)),
            None => None,
        }
    }

    /// Requests are added and cancelled on one data directory, or on the
    /// active backend.
    pub(crate) fn refuse_deletes_here(&self) -> Result<()> {
        match self.deletes_bucket() {
            Some((_, false)) => Err(StorageError::Invalid(
                "delete requests are handled by the backend target (send them to it)".into(),
            )),
            _ => Ok(()),
        }
    }

    /// The backend: writes the whole list to the bucket.
    pub(crate) fn publish_deletes(&self) -> Result<()> {
        let Some((bucket, true)) = self.deletes_bucket() else {
            return Ok(());
        };
        let body = serde_json::to_vec(&self.deletes.all())
            .map_err(|e| StorageError::Corrupt(e.to_string()))?;
        bucket.put(DELETES_KEY, body.into())?;
        Ok(())
    }

    /// Readers and writers: takes the backend's list; the backend at its
    /// start, its own list as it was last published.
    pub(crate) fn pull_deletes(&self) -> Result<()> {
        let Some((bucket, _)) = self.deletes_bucket() else {
            return Ok(());
        };
        let list: Vec<DeleteRequest> = match bucket.get(DELETES_KEY) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| StorageError::Corrupt(format!("{DELETES_KEY}: {e}")))?,
            Err(BucketError::NotFound(_)) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        if self.deletes.sync_from(list)? {
            self.refresh_all_views();
        }
        Ok(())
    }

    /// The backend: requests every writer reports done become processed.
    pub(crate) fn settle_deletes(
        &self,
        done_by_writer: &[HashSet<(String, String)>],
    ) -> Result<()> {
        if done_by_writer.is_empty() {
            return Ok(());
        }
        let ids: Vec<(String, String)> = self
            .deletes
            .all()
            .into_iter()
            .filter(|r| r.status == crate::delete::DeleteStatus::Received)
            .map(|r| (r.tenant, r.request_id))
            .filter(|k| done_by_writer.iter().all(|d| d.contains(k)))
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        self.deletes.mark_processed(&ids)?;
        self.refresh_all_views();
        self.publish_deletes()
    }
}
