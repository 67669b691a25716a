//! A writer's feed: the acknowledged WAL records its readers have not seen
//! in the bucket yet (`docs/storage.md`, "Scalable mode"). The writer keeps
//! where each record's frame lies in its WAL segments; a page is those
//! frames read back as they are, so serving it costs a positioned read and
//! no decoding. Records leave the feed once the bucket manifest covers them.

use super::Inner;
use crate::error::{Result, StorageError};
use crate::format::wal::{segment_path, RecordAt};
use std::collections::VecDeque;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::atomic::Ordering;

#[derive(Debug, Default)]
pub(crate) struct FeedIndex {
    /// Applied records, ascending by sequence number.
    records: VecDeque<RecordAt>,
    /// Records up to this one are no longer served: the bucket holds them.
    pruned_upto: u64,
}

impl FeedIndex {
    pub(crate) fn push(&mut self, at: RecordAt) {
        if self.records.back().is_none_or(|b| b.seq < at.seq) {
            self.records.push_back(at);
        }
    }

    pub(crate) fn prune(&mut self, upto: u64) {
        while self.records.front().is_some_and(|r| r.seq <= upto) {
            self.records.pop_front();
        }
        self.pruned_upto = self.pruned_upto.max(upto);
    }
}

/// What a reader gets for "records after `after`".
#[derive(Debug, PartialEq, Eq)]
pub enum FeedPage {
    /// Framed records back to back (possibly none), and the last sequence
    /// number the writer has applied.
    Records {
        frames: Vec<u8>,
        last_seq: u64,
        applied: u64,
    },
    /// Records after `after` were already dropped: the bucket manifest
    /// covers up to `uploaded`; read it, then ask again from there.
    Gone { uploaded: u64 },
}

impl Inner {
    /// Up to about `max_bytes` of records after `after` (at least one when
    /// there is one).
    pub(crate) fn feed_page(&self, after: u64, max_bytes: usize) -> Result<FeedPage> {
        let Some(feed) = &self.feed else {
            return Err(StorageError::Unavailable(
                "this process does not serve a write-ahead log feed (target write)".into(),
            ));
        };
        let applied = self.applied_seq.load(Ordering::Acquire);
        let wanted: Vec<RecordAt> = {
            let f = feed.lock();
            if after < f.pruned_upto {
                return Ok(FeedPage::Gone {
                    uploaded: f.pruned_upto,
                });
            }
            let start = f.records.partition_point(|r| r.seq <= after);
            let mut bytes = 0usize;
            f.records
                .range(start..)
                .take_while(|r| {
                    let take = bytes == 0 || bytes + r.len as usize <= max_bytes;
                    bytes += r.len as usize;
                    take
                })
                .copied()
                .collect()
        };
        let mut frames = Vec::with_capacity(wanted.iter().map(|r| r.len as usize).sum());
        let dir = self.opts.data_dir.join("wal");
        let mut i = 0;
        while i < wanted.len() {
            // One read per run of adjacent frames in one segment.
            let first = wanted[i];
            let mut end = first.offset + u64::from(first.len);
            let mut j = i + 1;
            while j < wanted.len() && wanted[j].segment == first.segment && wanted[j].offset == end
            {
                end += u64::from(wanted[j].len);
                j += 1;
            }
            let path = segment_path(&dir, first.segment);
            let at = frames.len();
            frames.resize(at + (end - first.offset) as usize, 0);
            File::open(&path)
                .and_then(|f| f.read_exact_at(&mut frames[at..], first.offset))
                .map_err(|e| StorageError::from_io(&format!("reading {}", path.display()), e))?;
            i = j;
        }
        Ok(FeedPage::Records {
            last_seq: wanted.last().map_or(after, |r| r.seq),
            frames,
            applied,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seq: u64) -> RecordAt {
        RecordAt {
            seq,
            segment: 1,
            offset: seq * 10,
            len: 10,
        }
    }

    #[test]
    fn prune_drops_covered_records_and_remembers_how_far() {
        let mut f = FeedIndex::default();
        for s in 1..=5 {
            f.push(at(s));
        }
        f.push(at(3));
        assert_eq!(f.records.len(), 5, "a record is indexed once");
        f.prune(3);
        assert_eq!(f.records.front().unwrap().seq, 4);
        assert_eq!(f.pruned_upto, 3);
        f.prune(1);
        assert_eq!(f.pruned_upto, 3, "never goes back");
    }
}
