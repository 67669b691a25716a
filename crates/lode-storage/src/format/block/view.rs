//! A block's entries read in place, for scans that need only some columns
//! (the bucket counts of `samples/buckets.rs`): the block layout is read
//! through this module's parent, never re-implemented by its users.

use super::{encode_set, read_in_place, read_without_lines, Dict};
use crate::error::StorageError;
use lode_proto::Entry;

/// Per-block vectors, reused from block to block.
#[derive(Default)]
pub(crate) struct BlockBufs {
    pub(crate) ts: Vec<i64>,
    pub(crate) lens: Vec<u32>,
    /// Each entry's index into the block's metadata dictionary.
    pub(crate) sets: Vec<u32>,
    /// `len + 1` offsets of each line in the text, when lines were read.
    pub(crate) line_at: Vec<u32>,
}

/// The entries of one source (a block, read in place, or a head
/// snapshot) as the count fast path reads them: timestamps, lengths and
/// metadata sets without decoding the lines unless asked.
pub(crate) enum BlockView<'a> {
    Block {
        b: BlockBufs,
        dict: Dict,
        lines: String,
        with_lines: bool,
    },
    Head(&'a [Entry]),
}

impl BlockView<'_> {
    pub(crate) fn block(
        payload: &[u8],
        with_lines: bool,
        mut b: BlockBufs,
    ) -> Result<BlockView<'static>, StorageError> {
        let (dict, lines) = if with_lines {
            let read = read_in_place(payload, true, &mut b.ts, &mut b.lens, &mut b.sets)?;
            (read.dict, read.lines)
        } else {
            // `payload` may be the block without its lines.
            let dict = read_without_lines(payload, &mut b.ts, &mut b.lens, &mut b.sets)?;
            (dict, Vec::new())
        };
        b.line_at.clear();
        if with_lines {
            let mut off = 0u64;
            b.line_at.push(0);
            for &l in &b.lens {
                off += u64::from(l);
                b.line_at.push(
                    u32::try_from(off)
                        .map_err(|_| StorageError::Corrupt("block too large".into()))?,
                );
            }
            if off != lines.len() as u64 {
                return Err(StorageError::Corrupt("line lengths do not add up".into()));
            }
        }
        let lines = String::from_utf8(lines)
            .map_err(|_| StorageError::Corrupt("line text is not UTF-8".into()))?;
        Ok(BlockView::Block {
            b,
            dict,
            lines,
            with_lines,
        })
    }

    pub(crate) fn into_bufs(self) -> Option<BlockBufs> {
        match self {
            BlockView::Block { b, .. } => Some(b),
            BlockView::Head(_) => None,
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            BlockView::Block { b, .. } => b.ts.len(),
            BlockView::Head(v) => v.len(),
        }
    }

    #[inline]
    pub(crate) fn ts(&self, i: usize) -> i64 {
        match self {
            BlockView::Block { b, .. } => b.ts[i],
            BlockView::Head(v) => v[i].ts,
        }
    }

    pub(crate) fn has_lines(&self) -> bool {
        match self {
            BlockView::Block { with_lines, .. } => *with_lines,
            BlockView::Head(_) => true,
        }
    }

    /// Needs the lines.
    #[inline]
    pub(crate) fn line(&self, i: usize) -> &str {
        match self {
            BlockView::Block { b, lines, .. } => lines
                .get(b.line_at[i] as usize..b.line_at[i + 1] as usize)
                .unwrap_or_default(),
            BlockView::Head(v) => &v[i].line,
        }
    }

    /// Entry `i`'s structured metadata in its block encoding (encoded into
    /// `scratch` for head entries).
    #[inline]
    pub(crate) fn md_key<'b>(&'b self, i: usize, scratch: &'b mut Vec<u8>) -> &'b [u8] {
        match self {
            BlockView::Block { b, dict, .. } => dict.set(b.sets[i]),
            BlockView::Head(v) => {
                scratch.clear();
                encode_set(scratch, &v[i].structured_metadata);
                scratch
            }
        }
    }
}
