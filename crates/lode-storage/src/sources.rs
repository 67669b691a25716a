//! What a query reads: sealed blocks (in memory or in a chunk file) and head
//! snapshots, per stream, and the work counters of reading them. Shared by
//! log queries, metric queries, visibility (retention and deletes) and the
//! compactor, none of which owns it.

use crate::error::Result;
use crate::format::block::{decode_block, encode_block, Compression, DecodedBlock};
use crate::format::chunk_file::ChunkFile;
use lode_logql::LabelSet;
use lode_proto::Entry;
use std::borrow::Cow;
use std::sync::Arc;

/// A block of no entries: what a quarantined block reads as.
fn empty_block() -> &'static [u8] {
    static EMPTY: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(|| encode_block(&[], Compression::None).unwrap_or_default())
}

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
            BlockHandle::File(f, i) if f.is_damaged(*i) => Ok(Cow::Borrowed(empty_block())),
            BlockHandle::File(f, i) => match f.read_block(*i as usize) {
                Ok(p) => Ok(Cow::Owned(p)),
                // Quarantined (and logged) by `read_block`: the query goes
                // on without the block rather than failing every time.
                Err(crate::StorageError::Corrupt(_)) => Ok(Cow::Borrowed(empty_block())),
                Err(e) => Err(e),
            },
        }
    }

    /// Whether the block is a quarantined one of a chunk file.
    pub fn is_damaged(&self) -> bool {
        matches!(self, BlockHandle::File(f, i) if f.is_damaged(*i))
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
        if f.is_damaged(*i) {
            return Ok(Cow::Borrowed(empty_block()));
        }
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

/// Work counters for `data.stats` and metrics.
#[derive(Debug, Default, Clone, Copy)]
pub struct ScanStats {
    pub blocks: u64,
    pub lines: u64,
    pub bytes: u64,
    pub compressed_bytes: u64,
    pub post_filter_lines: u64,
}

/// Entries of one stream to scan: a sealed block or a snapshot of the head.
pub(crate) enum Source {
    Block(BlockHandle),
    Head(Vec<Entry>),
}

pub(crate) struct StreamSources {
    pub labels: LabelSet,
    pub sources: Vec<(Source, i64, i64)>,
}

/// Fetches the remote blocks among `srcs` (a query's next reads) from the
/// bucket at once, several requests in flight per object; local files and
/// memory need nothing.
/// At most half the cache is filled ahead: what a query reads first must
/// not push out what it fetched for later.
pub(crate) fn prefetch<'a>(srcs: impl Iterator<Item = &'a Source>) {
    let mut by_file: Vec<(&Arc<ChunkFile>, Vec<u32>)> = Vec::new();
    let mut bytes = 0usize;
    for s in srcs {
        let Source::Block(BlockHandle::File(f, i)) = s else {
            continue;
        };
        if !f.is_remote() {
            continue;
        }
        bytes += f.blocks.get(*i as usize).map_or(0, |m| m.len as usize);
        if bytes > f.cache_capacity() / 2 {
            break;
        }
        match by_file.iter_mut().find(|(g, _)| Arc::ptr_eq(g, f)) {
            Some((_, v)) => v.push(*i),
            None => by_file.push((f, vec![*i])),
        }
    }
    for (f, blocks) in by_file {
        f.prefetch(&blocks);
    }
}

/// Decoded entries of a source, uniformly accessible.
pub(crate) enum Decoded {
    Block(DecodedBlock),
    Head(Vec<Entry>),
}

impl Decoded {
    pub fn load(src: &Source, stats: &mut ScanStats) -> Result<Decoded> {
        crate::cancel::check()?;
        Ok(match src {
            Source::Block(b) => {
                stats.blocks += 1;
                stats.compressed_bytes += b.compressed_len();
                Decoded::Block(decode_block(&b.payload()?)?)
            }
            Source::Head(v) => Decoded::Head(v.clone()),
        })
    }

    pub fn len(&self) -> usize {
        match self {
            Decoded::Block(b) => b.len(),
            Decoded::Head(v) => v.len(),
        }
    }

    pub fn ts(&self, i: usize) -> i64 {
        match self {
            Decoded::Block(b) => b.ts[i],
            Decoded::Head(v) => v[i].ts,
        }
    }

    pub fn line(&self, i: usize) -> &str {
        match self {
            Decoded::Block(b) => b.line(i),
            Decoded::Head(v) => &v[i].line,
        }
    }

    pub fn metadata(&self, i: usize) -> &[(String, String)] {
        match self {
            Decoded::Block(b) => &b.metadata[i],
            Decoded::Head(v) => &v[i].structured_metadata,
        }
    }
}
