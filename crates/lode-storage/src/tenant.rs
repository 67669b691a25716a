//! In-memory state of one tenant: its streams, their head blocks and the
//! blocks (in memory or in chunk files) that hold their older entries.

use crate::error::Result;
use crate::format::block::{encode_block, Compression};
use crate::format::chunk_file::ChunkFile;
use crate::head::Head;
use crate::index::LabelIndex;
use lode_logql::LabelSet;
use lode_proto::Entry;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// A sealed block not yet written to a chunk file.
#[derive(Debug)]
pub struct MemBlock {
    pub payload: Vec<u8>,
    pub min_ts: i64,
    pub max_ts: i64,
    pub entries: u32,
    pub line_bytes: u64,
    /// The block's content filter (`format/filter.rs`); empty: none.
    pub filter: Vec<u8>,
}

/// A sealed block, wherever it is.
#[derive(Debug, Clone)]
pub enum BlockHandle {
    Mem(Arc<MemBlock>),
    File(Arc<ChunkFile>, u32),
}

impl BlockHandle {
    pub fn min_ts(&self) -> i64 {
        match self {
            BlockHandle::Mem(b) => b.min_ts,
            BlockHandle::File(f, i) => f.blocks[*i as usize].min_ts,
        }
    }

    pub fn max_ts(&self) -> i64 {
        match self {
            BlockHandle::Mem(b) => b.max_ts,
            BlockHandle::File(f, i) => f.blocks[*i as usize].max_ts,
        }
    }

    pub fn entries(&self) -> u32 {
        match self {
            BlockHandle::Mem(b) => b.entries,
            BlockHandle::File(f, i) => f.blocks[*i as usize].entries,
        }
    }

    pub fn line_bytes(&self) -> u64 {
        match self {
            BlockHandle::Mem(b) => b.line_bytes,
            BlockHandle::File(f, i) => f.blocks[*i as usize].line_bytes,
        }
    }

    pub fn compressed_len(&self) -> u64 {
        match self {
            BlockHandle::Mem(b) => b.payload.len() as u64,
            BlockHandle::File(f, i) => u64::from(f.blocks[*i as usize].len),
        }
    }

    pub fn payload(&self) -> Result<Cow<'_, [u8]>> {
        match self {
            BlockHandle::Mem(b) => Ok(Cow::Borrowed(&b.payload)),
            BlockHandle::File(f, i) => Ok(Cow::Owned(f.read_block(*i as usize)?)),
        }
    }

    pub fn overlaps(&self, start: i64, end_incl: i64) -> bool {
        self.max_ts() >= start && self.min_ts() <= end_incl
    }

    /// The block without its lines when that can be read alone (a columnar
    /// block in a file: header, columns and metadata, checksummed apart),
    /// else the whole payload. Counting needs no more, and the lines are
    /// most of a block's bytes.
    pub fn payload_without_lines(&self) -> Result<Cow<'_, [u8]>> {
        let BlockHandle::File(f, i) = self else {
            return self.payload();
        };
        let i = *i as usize;
        // Columns take ~3 bytes an entry; one read is usually enough.
        let guess = 64 + f.blocks[i].entries as usize * 8;
        let mut head = f.read_block_head(i, guess)?;
        match crate::format::block::prefix_len(&head) {
            Some(n) if n <= head.len() => {
                head.truncate(n);
                Ok(Cow::Owned(head))
            }
            Some(n) => Ok(Cow::Owned(f.read_block_head(i, n)?)),
            None => self.payload(),
        }
    }
}

/// One stream.
#[derive(Debug)]
pub struct Stream {
    pub labels: LabelSet,
    /// Entries not yet sealed, in arrival order.
    pub head: Head,
    pub head_bytes: usize,
    pub head_min: i64,
    pub head_max: i64,
    /// Sealed blocks, oldest first by creation.
    pub blocks: Vec<BlockHandle>,
    /// Time range of everything in the stream.
    pub min_ts: i64,
    pub max_ts: i64,
}

impl Stream {
    fn new(labels: LabelSet) -> Stream {
        Stream {
            labels,
            head: Head::default(),
            head_bytes: 0,
            head_min: i64::MAX,
            head_max: i64::MIN,
            blocks: Vec::new(),
            min_ts: i64::MAX,
            max_ts: i64::MIN,
        }
    }

    pub fn push(&mut self, e: &Entry) {
        self.head_bytes += e.line.len() + 16;
        self.head_min = self.head_min.min(e.ts);
        self.head_max = self.head_max.max(e.ts);
        self.min_ts = self.min_ts.min(e.ts);
        self.max_ts = self.max_ts.max(e.ts);
        self.head.push(e);
    }

    /// Seals the head into a compressed in-memory block.
    pub fn cut(&mut self, compression: Compression) -> Result<Option<Arc<MemBlock>>> {
        if self.head.is_empty() {
            return Ok(None);
        }
        // Stable: equal timestamps keep arrival order.
        let entries = self.head.take_sorted();
        let payload = encode_block(&entries, compression)?;
        let b = Arc::new(MemBlock {
            payload,
            min_ts: self.head_min,
            max_ts: self.head_max,
            entries: entries.len() as u32,
            line_bytes: entries.iter().map(|e| e.line.len() as u64).sum(),
            filter: crate::format::filter::build(entries.iter().map(|e| e.line.as_bytes()))
                .unwrap_or_default(),
        });
        self.head_bytes = 0;
        self.head_min = i64::MAX;
        self.head_max = i64::MIN;
        self.blocks.push(BlockHandle::Mem(b.clone()));
        Ok(Some(b))
    }

    pub fn overlaps(&self, start: i64, end_incl: i64) -> bool {
        self.max_ts >= start && self.min_ts <= end_incl
    }

    /// Head entries in `[start, end_incl]`, sorted by time (stable).
    pub fn head_snapshot(&self, start: i64, end_incl: i64) -> Vec<Entry> {
        if self.head.is_empty() || self.head_max < start || self.head_min > end_incl {
            return Vec::new();
        }
        self.head.entries_in(start, end_incl)
    }
}

/// All streams of one tenant.
#[derive(Debug, Default)]
pub struct Tenant {
    pub streams: Vec<Stream>,
    /// foldhash, not SipHash: every stream of every push is looked up here
    /// (twice: validation, then apply); its seed is random per process.
    pub by_labels: HashMap<LabelSet, u32, foldhash::fast::RandomState>,
    pub index: LabelIndex,
    /// Retention and pending deletes applied to reads (`visibility.rs`).
    pub view: Arc<crate::visibility::ReadView>,
}

impl Tenant {
    pub fn stream_id(&mut self, labels: &LabelSet) -> u32 {
        if let Some(id) = self.by_labels.get(labels) {
            return *id;
        }
        let id = self.streams.len() as u32;
        self.index.add(id, labels);
        self.by_labels.insert(labels.clone(), id);
        self.streams.push(Stream::new(labels.clone()));
        id
    }

    pub fn lookup(&self, labels: &LabelSet) -> Option<u32> {
        self.by_labels.get(labels).copied()
    }
}
