//! Compressed blocks: the unit of storage and of scanning. Timestamps and
//! structured metadata live in a section apart from the line text, so a
//! count can be answered without decompressing lines. Layout: see
//! `docs/storage.md` ("Block").

use super::varint::{put_bytes, put_uvarint, Reader};
use crate::error::StorageError;
use lode_proto::Entry;
use std::cell::RefCell;
use std::collections::HashMap;

mod columns;
mod view;

pub(crate) use view::{BlockBufs, BlockView};

// The first byte of a block: its layout and how its compressed sections
// are stored. 0 and 1 (row layout) are only read, no longer written.
const CODEC_NONE: u8 = 0;
const CODEC_ZSTD: u8 = 1;
const COLUMNS_NONE: u8 = 2;
const COLUMNS_ZSTD: u8 = 3;

/// How block sections are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Zstd(i32),
}

thread_local! {
    // Creating a zstd context costs more than decoding a small meta
    // section: each thread keeps one of each.
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        RefCell::new(zstd::bulk::Decompressor::new().ok());
    static COMPRESSOR: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { RefCell::new(None) };
}

fn compress(data: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        if c.as_ref().is_none_or(|(l, _)| *l != level) {
            *c = Some((level, zstd::bulk::Compressor::new(level)?));
        }
        match c.as_mut() {
            Some((_, z)) => z.compress(data),
            None => zstd::bulk::compress(data, level),
        }
    })
}

/// Encodes entries (already sorted by timestamp) into a block payload, in
/// the columnar layout.
pub fn encode_block(entries: &[Entry], compression: Compression) -> Result<Vec<u8>, StorageError> {
    let ts: Vec<i64> = entries.iter().map(|e| e.ts).collect();
    let lens = entries
        .iter()
        .map(|e| u32::try_from(e.line.len()))
        .collect::<Result<Vec<u32>, _>>()
        .map_err(|_| StorageError::Corrupt("line too long for a block".into()))?;
    let (md, sets) = metadata_dictionary(entries);
    let lines_len: usize = lens.iter().map(|&l| l as usize).sum();
    let mut lines = Vec::with_capacity(lines_len);
    for e in entries {
        lines.extend_from_slice(e.line.as_bytes());
    }
    encode_parts(
        BlockParts {
            ts,
            lens,
            sets,
            md,
            lines,
        },
        compression,
    )
}

/// A block before encoding, in columns: what a stream's head holds
/// (`Head::take_block_parts`) without an `Entry` per line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct BlockParts {
    /// Timestamps, sorted (stable).
    pub ts: Vec<i64>,
    pub lens: Vec<u32>,
    /// Each entry's index into the metadata dictionary.
    pub sets: Vec<u32>,
    /// The dictionary section: the count, then each distinct set as
    /// `encode_set` writes it, in order of first appearance; empty when no
    /// entry has metadata.
    pub md: Vec<u8>,
    /// The lines back to back.
    pub lines: Vec<u8>,
}

impl BlockParts {
    /// The lines, in block order.
    pub fn lines(&self) -> impl Iterator<Item = &[u8]> {
        let mut at = 0usize;
        self.lens.iter().map(move |&l| {
            let s = self.lines.get(at..at + l as usize).unwrap_or(&[]);
            at += l as usize;
            s
        })
    }
}

/// Encodes a block from its columns.
pub fn encode_parts(p: BlockParts, compression: Compression) -> Result<Vec<u8>, StorageError> {
    let mut cols = Vec::with_capacity(p.ts.len() * 3 + 16);
    columns::encode(&p.ts, &p.lens, &p.sets, &mut cols);
    let n = p.ts.len();
    let (md, lines) = (p.md, p.lines);
    let (md_raw, lines_raw) = (md.len(), lines.len());
    // Empty sections are stored empty, so that a block without metadata
    // never calls zstd for it.
    let squeeze = |b: Vec<u8>, level: i32| -> std::io::Result<Vec<u8>> {
        if b.is_empty() {
            Ok(b)
        } else {
            compress(&b, level)
        }
    };
    // A dictionary zstd does not shrink (most often a single small set,
    // such as `detected_level`) is stored as it is: counts then read it
    // without calling zstd.
    let squeeze_md = |b: Vec<u8>, level: i32| -> std::io::Result<Vec<u8>> {
        if b.len() < MD_RAW_BELOW {
            return Ok(b);
        }
        let c = compress(&b, level)?;
        Ok(if c.len() < b.len() { c } else { b })
    };
    let (codec, md, lines) = match compression {
        Compression::None => (COLUMNS_NONE, md, lines),
        Compression::Zstd(level) => (COLUMNS_ZSTD, squeeze_md(md, level)?, squeeze(lines, level)?),
    };
    let mut out = Vec::with_capacity(cols.len() + md.len() + lines.len() + 24);
    out.push(codec);
    for v in [n, cols.len(), md.len(), md_raw, lines.len(), lines_raw] {
        put_uvarint(&mut out, v as u64);
    }
    // Counts read only the columns and metadata (`read_prefix`): they get
    // a checksum of their own, the file's block CRC covering the lines too.
    let mut crc = crc32fast::Hasher::new();
    crc.update(&cols);
    crc.update(&md);
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(&cols);
    out.extend_from_slice(&md);
    out.extend_from_slice(&lines);
    Ok(out)
}

/// Metadata dictionaries smaller than this are not even offered to zstd
/// (its frame overhead alone is about a dozen bytes).
const MD_RAW_BELOW: usize = 64;

/// The metadata section of a columnar block (the distinct metadata sets in
/// order of first appearance, empty when no entry has metadata) and each
/// entry's index into it.
fn metadata_dictionary(entries: &[Entry]) -> (Vec<u8>, Vec<u32>) {
    let mut sets = vec![0u32; entries.len()];
    if entries.iter().all(|e| e.structured_metadata.is_empty()) {
        return (Vec::new(), sets);
    }
    let mut seen: HashMap<&[(String, String)], u32> = HashMap::new();
    let mut body = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let sm = e.structured_metadata.as_slice();
        // Runs of equal sets are the common case: no hashing for them.
        if i > 0 && entries[i - 1].structured_metadata.as_slice() == sm {
            sets[i] = sets[i - 1];
            continue;
        }
        let next = seen.len() as u32;
        let ix = *seen.entry(sm).or_insert(next);
        if ix == next {
            encode_set(&mut body, sm);
        }
        sets[i] = ix;
    }
    let mut md = Vec::with_capacity(body.len() + 5);
    put_uvarint(&mut md, seen.len() as u64);
    md.extend_from_slice(&body);
    (md, sets)
}

/// The row layout earlier versions wrote (blocks of codec 0 and 1), kept
/// to test that such blocks still read the same.
#[cfg(test)]
pub(crate) fn encode_block_v1(
    entries: &[Entry],
    compression: Compression,
) -> Result<Vec<u8>, StorageError> {
    let mut meta = Vec::with_capacity(entries.len() * 6 + 8);
    put_uvarint(&mut meta, entries.len() as u64);
    let mut prev = 0i64;
    for (i, e) in entries.iter().enumerate() {
        let d = if i == 0 {
            e.ts
        } else {
            e.ts.wrapping_sub(prev)
        };
        super::varint::put_ivarint(&mut meta, d);
        prev = e.ts;
    }
    let mut lines_len = 0usize;
    for e in entries {
        put_uvarint(&mut meta, e.line.len() as u64);
        lines_len += e.line.len();
    }
    for e in entries {
        put_uvarint(&mut meta, e.structured_metadata.len() as u64);
        for (k, v) in &e.structured_metadata {
            put_bytes(&mut meta, k.as_bytes());
            put_bytes(&mut meta, v.as_bytes());
        }
    }
    let mut lines = Vec::with_capacity(lines_len);
    for e in entries {
        lines.extend_from_slice(e.line.as_bytes());
    }
    let (codec, meta_c, lines_c) = match compression {
        Compression::None => (CODEC_NONE, meta.clone(), lines.clone()),
        Compression::Zstd(level) => (
            CODEC_ZSTD,
            compress(&meta, level)?,
            compress(&lines, level)?,
        ),
    };
    let mut out = Vec::with_capacity(meta_c.len() + lines_c.len() + 16);
    out.push(codec);
    put_uvarint(&mut out, meta_c.len() as u64);
    put_uvarint(&mut out, meta.len() as u64);
    put_uvarint(&mut out, lines_c.len() as u64);
    put_uvarint(&mut out, lines.len() as u64);
    out.extend_from_slice(&meta_c);
    out.extend_from_slice(&lines_c);
    Ok(out)
}

/// A decoded block. Lines are kept in one buffer and sliced on demand.
#[derive(Debug, Default)]
pub struct DecodedBlock {
    pub ts: Vec<i64>,
    offsets: Vec<u32>,
    lines: String,
    pub metadata: Vec<Vec<(String, String)>>,
}

impl DecodedBlock {
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    pub fn line(&self, i: usize) -> &str {
        let (a, b) = (self.offsets[i] as usize, self.offsets[i + 1] as usize);
        // Lines were validated as UTF-8 when decoding the block.
        self.lines.get(a..b).unwrap_or_default()
    }

    pub fn line_len(&self, i: usize) -> usize {
        (self.offsets[i + 1] - self.offsets[i]) as usize
    }

    /// All lines concatenated (searched in one pass by `prefilter.rs`).
    pub fn text(&self) -> &str {
        &self.lines
    }

    /// Line `i` is `text()[offsets[i]..offsets[i + 1]]`.
    pub fn offsets(&self) -> &[u32] {
        &self.offsets
    }
}

/// Hard cap on a block section's decompressed size, so a corrupt length
/// cannot make us allocate without bound.
const MAX_SECTION: u64 = 1 << 30;

/// Decompresses a section stored with `codec` (`CODEC_NONE`/`CODEC_ZSTD`).
fn section(raw: &[u8], codec: u8, rlen: u64) -> Result<Vec<u8>, StorageError> {
    if rlen > MAX_SECTION {
        return Err(StorageError::Corrupt("block section too large".into()));
    }
    if raw.is_empty() && rlen == 0 {
        return Ok(Vec::new());
    }
    match codec {
        CODEC_NONE => Ok(raw.to_vec()),
        CODEC_ZSTD => {
            let out = DECOMPRESSOR
                .with(|d| match d.borrow_mut().as_mut() {
                    Some(d) => d.decompress(raw, rlen as usize),
                    None => zstd::bulk::decompress(raw, rlen as usize),
                })
                .map_err(|e| StorageError::Corrupt(format!("block decompression: {e}")))?;
            if out.len() as u64 != rlen {
                return Err(StorageError::Corrupt(
                    "block section length mismatch".into(),
                ));
            }
            Ok(out)
        }
        c => Err(StorageError::Corrupt(format!("unknown block codec {c}"))),
    }
}

/// A block's sections, located but not decompressed.
struct Parts<'a> {
    /// How `meta` and `lines` are stored: `CODEC_NONE` or `CODEC_ZSTD`.
    codec: u8,
    /// Columnar layout: the entry count and the columns section.
    columns: Option<(usize, &'a [u8])>,
    /// Row layout: the whole meta section; columnar: the metadata section
    /// (empty when no entry has metadata). With its raw length.
    meta: (&'a [u8], u64),
    lines: (&'a [u8], u64),
}

/// A columnar block's header: where its columns and metadata end, and
/// their checksum.
struct Header {
    columns: Option<(u64, u64)>,
    meta: (u64, u64),
    lines: (u64, u64),
    prefix_crc: Option<u32>,
}

fn header(r: &mut Reader<'_>) -> Result<(u8, Header), StorageError> {
    let first = r.take(1)?[0];
    let columns = match first {
        CODEC_NONE | CODEC_ZSTD => None,
        COLUMNS_NONE | COLUMNS_ZSTD => Some((r.uvarint()?, r.uvarint()?)),
        c => return Err(StorageError::Corrupt(format!("unknown block codec {c}"))),
    };
    let meta = (r.uvarint()?, r.uvarint()?);
    let lines = (r.uvarint()?, r.uvarint()?);
    let prefix_crc = match columns {
        Some(_) => {
            let b = r.take(4)?;
            Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        }
        None => None,
    };
    Ok((
        first,
        Header {
            columns,
            meta,
            lines,
            prefix_crc,
        },
    ))
}

/// How many leading bytes of a columnar block hold everything but the
/// lines (header, columns, metadata), from its first bytes `head`; `None`
/// for a row-layout block or when `head` is too short to tell.
pub(crate) fn prefix_len(head: &[u8]) -> Option<usize> {
    let mut r = Reader::new(head);
    let (_, h) = header(&mut r).ok()?;
    let (_, clen) = h.columns?;
    let total = (r.position() as u64)
        .checked_add(clen)?
        .checked_add(h.meta.0)?;
    usize::try_from(total).ok()
}

/// Stored bytes of a block's sections, for reports on where disk goes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SectionSizes {
    /// The codec byte, the lengths and the columns' checksum.
    pub header: u64,
    /// Timestamps, line lengths and metadata-set indexes (empty for a
    /// row-layout block, whose timestamps are in `meta`).
    pub columns: u64,
    pub meta: u64,
    pub lines: u64,
}

/// The longest a block header can be: the codec byte, six varints and the
/// columns' checksum.
pub const MAX_HEADER_LEN: usize = 1 + 6 * 10 + 4;

/// Where a block's bytes go, from its first [`MAX_HEADER_LEN`] bytes (or all
/// of a shorter block).
pub fn section_sizes(payload: &[u8]) -> Result<SectionSizes, StorageError> {
    let mut r = Reader::new(payload);
    let (_, h) = header(&mut r)?;
    Ok(SectionSizes {
        header: r.position() as u64,
        columns: h.columns.map_or(0, |(_, c)| c),
        meta: h.meta.0,
        lines: h.lines.0,
    })
}

/// What `read_in_place` reads, without the lines: from a whole payload,
/// or from a columnar block's prefix (`prefix_len` bytes, the lines
/// section absent), whose own checksum is checked then.
pub(crate) fn read_without_lines(
    payload: &[u8],
    ts: &mut Vec<i64>,
    lens: &mut Vec<u32>,
    sets: &mut Vec<u32>,
) -> Result<Dict, StorageError> {
    let mut r = Reader::new(payload);
    let (first, h) = header(&mut r)?;
    let (Some((n, clen)), Some(crc)) = (h.columns, h.prefix_crc) else {
        return parts(payload)?.all(ts, lens, sets);
    };
    let len = |v: u64| usize::try_from(v).map_err(|_| StorageError::Corrupt("block length".into()));
    let cols = r.take(len(clen)?)?;
    let md = r.take(len(h.meta.0)?)?;
    let mut c = crc32fast::Hasher::new();
    c.update(cols);
    c.update(md);
    if c.finalize() != crc {
        return Err(StorageError::Corrupt(
            "block columns checksum mismatch".into(),
        ));
    }
    let p = Parts {
        codec: if first == COLUMNS_ZSTD {
            CODEC_ZSTD
        } else {
            CODEC_NONE
        },
        columns: Some((len(n)?, cols)),
        meta: (md, h.meta.1),
        lines: (&[], 0),
    };
    p.all(ts, lens, sets)
}

fn parts(payload: &[u8]) -> Result<Parts<'_>, StorageError> {
    let mut r = Reader::new(payload);
    let (first, h) = header(&mut r)?;
    let (columns, (mc, mr), (lc, lr)) = (h.columns, h.meta, h.lines);
    let mut take = |len: u64| -> Result<&[u8], StorageError> {
        let len = usize::try_from(len).map_err(|_| StorageError::Corrupt("block length".into()))?;
        r.take(len)
    };
    let columns = match columns {
        Some((n, clen)) => Some((
            usize::try_from(n).map_err(|_| StorageError::Corrupt("block entry count".into()))?,
            take(clen)?,
        )),
        None => None,
    };
    let meta = (take(mc)?, mr);
    let lines = (take(lc)?, lr);
    let codec = if matches!(first, CODEC_ZSTD | COLUMNS_ZSTD) {
        CODEC_ZSTD
    } else {
        CODEC_NONE
    };
    Ok(Parts {
        codec,
        columns,
        meta,
        lines,
    })
}

/// A block's structured metadata as a dictionary: each distinct set once,
/// and per entry the index of its set (see `Parts::all`).
pub(crate) struct Dict {
    /// Encoded sets (`uvarint count, then (bytes name, bytes value)`).
    pub bytes: Vec<u8>,
    /// Where each set is in `bytes`, by index.
    pub at: Vec<(u32, u32)>,
}

/// The encoding of no metadata: the one set of a block without any.
const NO_MD: &[u8] = &[0];

impl Dict {
    /// The dictionary of a block without metadata: one empty set.
    fn none() -> Dict {
        Dict {
            bytes: NO_MD.to_vec(),
            at: vec![(0, 1)],
        }
    }

    /// Set `i`'s encoding (empty when out of range).
    pub fn set(&self, i: u32) -> &[u8] {
        match self.at.get(i as usize) {
            Some(&(a, b)) => self.bytes.get(a as usize..b as usize).unwrap_or_default(),
            None => &[],
        }
    }

    pub fn len(&self) -> usize {
        self.at.len()
    }
}

/// Appends one metadata set in its block encoding: a uvarint pair count,
/// then each name and value length-prefixed.
pub(crate) fn encode_set(out: &mut Vec<u8>, set: &[(String, String)]) {
    encode_set_pairs(
        out,
        set.len(),
        set.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    );
}

/// `encode_set` from borrowed pairs (`n` of them).
pub(crate) fn encode_set_pairs<'a>(
    out: &mut Vec<u8>,
    n: usize,
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
) {
    put_uvarint(out, n as u64);
    for (k, v) in pairs {
        put_bytes(out, k.as_bytes());
        put_bytes(out, v.as_bytes());
    }
}

/// Reads back one set written by `encode_set`.
pub(crate) fn decode_set(key: &[u8]) -> Result<Vec<(String, String)>, StorageError> {
    let mut r = Reader::new(key);
    let pairs = r.uvarint()?;
    let mut out = Vec::with_capacity(pairs.min(64) as usize);
    for _ in 0..pairs {
        let k = r.str()?.to_string();
        let v = r.str()?.to_string();
        out.push((k, v));
    }
    Ok(out)
}

/// The end of the metadata set encoded from the reader's position.
fn skip_set(r: &mut Reader<'_>) -> Result<(), StorageError> {
    let k = r.uvarint()?;
    for _ in 0..k.saturating_mul(2) {
        r.len_prefixed()?;
    }
    Ok(())
}

fn offset(at: usize) -> Result<u32, StorageError> {
    u32::try_from(at).map_err(|_| StorageError::Corrupt("block metadata too large".into()))
}

impl Parts<'_> {
    /// Timestamps and line lengths into `ts` and `lens` (cleared first);
    /// in the columnar layout nothing else is read.
    fn ts_lens(&self, ts: &mut Vec<i64>, lens: &mut Vec<u32>) -> Result<(), StorageError> {
        ts.clear();
        lens.clear();
        match self.columns {
            Some((n, cols)) => columns::decode(cols, n, ts, lens, None),
            None => {
                let meta = section(self.meta.0, self.codec, self.meta.1)?;
                (*ts, *lens) = read_ts_lens(&mut Reader::new(&meta))?;
                Ok(())
            }
        }
    }

    /// Timestamps, line lengths and each entry's metadata set index into
    /// `ts`, `lens` and `sets` (cleared first), and the metadata
    /// dictionary. Row-layout blocks get one built from their per-entry
    /// metadata, so that readers see the same either way.
    fn all(
        &self,
        ts: &mut Vec<i64>,
        lens: &mut Vec<u32>,
        sets: &mut Vec<u32>,
    ) -> Result<Dict, StorageError> {
        ts.clear();
        lens.clear();
        sets.clear();
        match self.columns {
            Some((n, cols)) => {
                columns::decode(cols, n, ts, lens, Some(sets))?;
                // A dictionary zstd could not shrink is stored as it is.
                let codec = if self.meta.0.len() as u64 == self.meta.1 {
                    CODEC_NONE
                } else {
                    self.codec
                };
                let md = section(self.meta.0, codec, self.meta.1)?;
                let dict = if md.is_empty() {
                    Dict::none()
                } else {
                    let mut r = Reader::new(&md);
                    let count = r.uvarint()?;
                    if count > r.remaining() as u64 {
                        return Err(StorageError::Corrupt("metadata set count".into()));
                    }
                    let mut at = Vec::with_capacity(count as usize);
                    for _ in 0..count {
                        let a = r.position();
                        skip_set(&mut r)?;
                        at.push((offset(a)?, offset(r.position())?));
                    }
                    if !r.is_empty() {
                        return Err(StorageError::Corrupt("metadata trailing bytes".into()));
                    }
                    Dict { bytes: md, at }
                };
                let count = dict.len() as u32;
                if sets.iter().any(|&s| s >= count) {
                    return Err(StorageError::Corrupt("metadata set index".into()));
                }
                Ok(dict)
            }
            None => {
                let meta = section(self.meta.0, self.codec, self.meta.1)?;
                let mut r = Reader::new(&meta);
                (*ts, *lens) = read_ts_lens(&mut r)?;
                let mut at: Vec<(u32, u32)> = Vec::new();
                {
                    let mut seen: HashMap<&[u8], u32> = HashMap::new();
                    let mut last: Option<(&[u8], u32)> = None;
                    for _ in 0..ts.len() {
                        let a = r.position();
                        skip_set(&mut r)?;
                        let b = r.position();
                        let key = &meta[a..b];
                        let ix = match last {
                            Some((k, ix)) if k == key => ix,
                            _ => {
                                let next = at.len() as u32;
                                let ix = *seen.entry(key).or_insert(next);
                                if ix == next {
                                    at.push((offset(a)?, offset(b)?));
                                }
                                ix
                            }
                        };
                        last = Some((key, ix));
                        sets.push(ix);
                    }
                }
                if at.is_empty() {
                    // No entries: the same dictionary as a columnar block.
                    return Ok(Dict::none());
                }
                Ok(Dict { bytes: meta, at })
            }
        }
    }

    fn lines(&self) -> Result<Vec<u8>, StorageError> {
        section(self.lines.0, self.codec, self.lines.1)
    }
}

/// Decodes only timestamps and line lengths (for counting and byte sums).
pub fn decode_meta(payload: &[u8]) -> Result<(Vec<i64>, Vec<u32>), StorageError> {
    let (mut ts, mut lens) = (Vec::new(), Vec::new());
    parts(payload)?.ts_lens(&mut ts, &mut lens)?;
    Ok((ts, lens))
}

pub(crate) fn read_ts_lens(m: &mut Reader<'_>) -> Result<(Vec<i64>, Vec<u32>), StorageError> {
    let n = m.uvarint()? as usize;
    // Each entry needs at least two bytes of meta; reject impossible counts early.
    if n > m.remaining() {
        return Err(StorageError::Corrupt("block entry count".into()));
    }
    let mut ts = Vec::with_capacity(n.min(1 << 20));
    let mut prev = 0i64;
    for i in 0..n {
        let d = m.ivarint()?;
        prev = if i == 0 { d } else { prev.wrapping_add(d) };
        ts.push(prev);
    }
    let mut lens = Vec::with_capacity(n.min(1 << 20));
    for _ in 0..n {
        lens.push(
            u32::try_from(m.uvarint()?).map_err(|_| StorageError::Corrupt("line length".into()))?,
        );
    }
    Ok((ts, lens))
}

/// Timestamps, line lengths and structured metadata of a block: everything
/// but the line text, so counts and byte sums never decompress lines.
#[derive(Debug, Default)]
pub struct MetaSection {
    pub ts: Vec<i64>,
    pub lens: Vec<u32>,
    pub metadata: Vec<Vec<(String, String)>>,
}

/// Each entry's metadata: every distinct set is decoded once.
fn read_metadata(dict: &Dict, sets: &[u32]) -> Result<Vec<Vec<(String, String)>>, StorageError> {
    let mut decoded = Vec::with_capacity(dict.len());
    for i in 0..dict.len() as u32 {
        let mut m = Reader::new(dict.set(i));
        let k = m.uvarint()? as usize;
        let mut v = Vec::with_capacity(k.min(64));
        for _ in 0..k {
            let name = m.str()?.to_string();
            let value = m.str()?.to_string();
            v.push((name, value));
        }
        decoded.push(v);
    }
    sets.iter()
        .map(|&s| {
            decoded
                .get(s as usize)
                .cloned()
                .ok_or_else(|| StorageError::Corrupt("metadata set index".into()))
        })
        .collect()
}

/// Decodes the meta section only (the lines section is not decompressed).
pub fn decode_meta_section(payload: &[u8]) -> Result<MetaSection, StorageError> {
    let (mut ts, mut lens, mut sets) = (Vec::new(), Vec::new(), Vec::new());
    let dict = parts(payload)?.all(&mut ts, &mut lens, &mut sets)?;
    let metadata = read_metadata(&dict, &sets)?;
    Ok(MetaSection { ts, lens, metadata })
}

/// A block read for a scan that walks it in place instead of building
/// per-entry values (see `samples/buckets.rs`).
pub(crate) struct InPlace {
    /// The distinct metadata sets (one empty set when no entry has any).
    pub dict: Dict,
    /// The line text if asked for (not yet checked to be UTF-8).
    pub lines: Vec<u8>,
}

/// Reads timestamps, line lengths and metadata set indices into `ts`,
/// `lens` and `sets` (cleared first, so that scans reuse them), the
/// metadata dictionary and, if `with_lines`, the text.
pub(crate) fn read_in_place(
    payload: &[u8],
    with_lines: bool,
    ts: &mut Vec<i64>,
    lens: &mut Vec<u32>,
    sets: &mut Vec<u32>,
) -> Result<InPlace, StorageError> {
    let p = parts(payload)?;
    let dict = p.all(ts, lens, sets)?;
    let lines = if with_lines { p.lines()? } else { Vec::new() };
    Ok(InPlace { dict, lines })
}

/// Decodes a whole block.
pub fn decode_block(payload: &[u8]) -> Result<DecodedBlock, StorageError> {
    let p = parts(payload)?;
    let (mut ts, mut lens, mut sets) = (Vec::new(), Vec::new(), Vec::new());
    let dict = p.all(&mut ts, &mut lens, &mut sets)?;
    let lines = p.lines()?;
    let metadata = read_metadata(&dict, &sets)?;
    let mut offsets = Vec::with_capacity(ts.len() + 1);
    let mut off = 0u64;
    offsets.push(0u32);
    for l in &lens {
        off += u64::from(*l);
        offsets
            .push(u32::try_from(off).map_err(|_| StorageError::Corrupt("block too large".into()))?);
    }
    if off != lines.len() as u64 {
        return Err(StorageError::Corrupt("line lengths do not add up".into()));
    }
    // Validated once here; `line` then only checks char boundaries.
    let lines = String::from_utf8(lines)
        .map_err(|_| StorageError::Corrupt("line text is not UTF-8".into()))?;
    Ok(DecodedBlock {
        ts,
        offsets,
        lines,
        metadata,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(ts: i64, line: &str, sm: &[(&str, &str)]) -> Entry {
        Entry {
            ts,
            line: line.to_string(),
            structured_metadata: sm
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        }
    }

    #[test]
    fn round_trip_both_codecs() {
        let es = vec![
            entry(10, "hello", &[("detected_level", "info")]),
            entry(10, "", &[]),
            entry(
                25,
                "wörld ✓",
                &[("trace_id", "abc"), ("detected_level", "error")],
            ),
        ];
        for c in [Compression::None, Compression::Zstd(3)] {
            let b = encode_block(&es, c).unwrap();
            let d = decode_block(&b).unwrap();
            assert_eq!(d.ts, vec![10, 10, 25]);
            assert_eq!(d.line(0), "hello");
            assert_eq!(d.line(1), "");
            assert_eq!(d.line(2), "wörld ✓");
            assert_eq!(
                d.metadata[2][0],
                ("trace_id".to_string(), "abc".to_string())
            );
            let (ts, lens) = decode_meta(&b).unwrap();
            assert_eq!(ts, d.ts);
            assert_eq!(lens, vec![5, 0, 10]);
            let m = decode_meta_section(&b).unwrap();
            assert_eq!((m.ts, m.lens), (d.ts.clone(), lens));
            assert_eq!(m.metadata, d.metadata);
        }
    }

    /// Every reader gives the same for a block in either layout.
    fn assert_same(old: &[u8], new: &[u8]) {
        let (a, b) = (decode_block(old).unwrap(), decode_block(new).unwrap());
        assert_eq!(a.ts, b.ts);
        assert_eq!(a.offsets, b.offsets);
        assert_eq!(a.text(), b.text());
        assert_eq!(a.metadata, b.metadata);
        assert_eq!(decode_meta(old).unwrap(), decode_meta(new).unwrap());
        let (x, y) = (
            decode_meta_section(old).unwrap(),
            decode_meta_section(new).unwrap(),
        );
        assert_eq!((x.ts, x.lens, x.metadata), (y.ts, y.lens, y.metadata));
        for with_lines in [false, true] {
            let (mut t1, mut l1, mut t2, mut l2) = (vec![1], vec![2], vec![3], vec![4]);
            let (mut s1, mut s2) = (vec![5], vec![6]);
            let p = read_in_place(old, with_lines, &mut t1, &mut l1, &mut s1).unwrap();
            let q = read_in_place(new, with_lines, &mut t2, &mut l2, &mut s2).unwrap();
            assert_eq!((t1, l1), (t2, l2));
            assert_eq!(p.lines, q.lines);
            // The same dictionary (distinct sets in order of first
            // appearance, one empty set when there is no metadata) and the
            // same indices.
            assert_eq!(s1, s2);
            assert_eq!(s1.len(), a.ts.len());
            let sets = |d: &Dict| {
                (0..d.len() as u32)
                    .map(|i| d.set(i).to_vec())
                    .collect::<Vec<_>>()
            };
            assert_eq!(sets(&p.dict), sets(&q.dict));
            if a.metadata.iter().all(|m| m.is_empty()) {
                assert_eq!(sets(&q.dict), vec![vec![0u8]]);
            }
        }
    }

    #[test]
    fn row_layout_blocks_still_read_the_same() {
        let with_md = vec![
            entry(-10, "hello", &[("detected_level", "info")]),
            entry(-10, "", &[]),
            entry(25, "wörld ✓", &[("trace_id", "abc")]),
        ];
        let without: Vec<Entry> = (0..300)
            .map(|i| entry(1_000_000 * i, &format!("line {i}"), &[]))
            .collect();
        for es in [&with_md, &without, &Vec::new()] {
            for c in [Compression::None, Compression::Zstd(1)] {
                let old = encode_block_v1(es, c).unwrap();
                assert!(old[0] <= 1);
                let new = encode_block(es, c).unwrap();
                assert!(new[0] == 2 || new[0] == 3);
                assert_same(&old, &new);
            }
        }
    }

    #[test]
    fn columnar_blocks_are_smaller_and_skip_empty_metadata() {
        let es: Vec<Entry> = (0..1000)
            .map(|i| entry(1_700_000_000_000_000_000 + i * 7_000_000, "x", &[]))
            .collect();
        let old = encode_block_v1(&es, Compression::None).unwrap();
        let new = encode_block(&es, Compression::None).unwrap();
        assert!(new.len() * 2 < old.len(), "{} vs {}", new.len(), old.len());
        let (mut t, mut l, mut s) = (Vec::new(), Vec::new(), Vec::new());
        let p = read_in_place(&new, false, &mut t, &mut l, &mut s).unwrap();
        assert!(p.dict.len() == 1 && p.dict.set(0) == [0] && p.lines.is_empty());
        assert!(s.iter().all(|&x| x == 0));
        assert_eq!(t.len(), 1000);
        assert!(l.iter().all(|&x| x == 1));
    }

    #[test]
    fn columns_read_alone_match_the_whole_block_and_are_checked() {
        let es: Vec<Entry> = (0..300)
            .map(|i| {
                let md: &[(&str, &str)] = if i % 3 == 0 {
                    &[("level", "info")]
                } else {
                    &[]
                };
                entry(
                    1_000 + i * 7,
                    &format!("line {i} {}", "x".repeat(i as usize % 50)),
                    md,
                )
            })
            .collect();
        for c in [Compression::None, Compression::Zstd(1)] {
            let b = encode_block(&es, c).unwrap();
            let n = prefix_len(&b).unwrap();
            assert!(n < b.len() / 2, "prefix {n} of {}", b.len());
            // A head too short to hold the header tells nothing.
            assert_eq!(prefix_len(&b[..2]), None);
            let (mut t1, mut l1, mut s1) = (Vec::new(), Vec::new(), Vec::new());
            let whole = read_in_place(&b, false, &mut t1, &mut l1, &mut s1).unwrap();
            for payload in [&b[..n], &b[..]] {
                let (mut t2, mut l2, mut s2) = (Vec::new(), Vec::new(), Vec::new());
                let d = read_without_lines(payload, &mut t2, &mut l2, &mut s2).unwrap();
                assert_eq!((&t1, &l1, &s1), (&t2, &l2, &s2));
                assert_eq!(whole.dict.bytes, d.bytes);
            }
            // Any flipped byte of the prefix past the header is caught.
            let hdr = n - prefix_body_len(&b);
            for at in hdr..n {
                let mut bad = b[..n].to_vec();
                bad[at] ^= 0x10;
                let (mut t, mut l, mut s) = (Vec::new(), Vec::new(), Vec::new());
                assert!(
                    read_without_lines(&bad, &mut t, &mut l, &mut s).is_err(),
                    "byte {at}"
                );
            }
        }
        // Row-layout blocks have no separately checked prefix.
        let old = encode_block_v1(&es, Compression::Zstd(1)).unwrap();
        assert_eq!(prefix_len(&old), None);
    }

    /// Bytes of the columns and metadata sections (the prefix minus its
    /// header).
    fn prefix_body_len(b: &[u8]) -> usize {
        let mut r = Reader::new(b);
        let (_, h) = header(&mut r).unwrap();
        (h.columns.unwrap().1 + h.meta.0) as usize
    }

    #[test]
    fn section_sizes_add_up_to_the_block() {
        let entries: Vec<Entry> = (0..300)
            .map(|i| entry(i, &format!("line {i} of text"), &[("trace_id", "abc")]))
            .collect();
        let b = encode_block(&entries, Compression::Zstd(1)).unwrap();
        let s = section_sizes(&b).unwrap();
        assert!(s.columns > 0 && s.lines > 0 && s.meta > 0, "{s:?}");
        assert_eq!(s.header + s.columns + s.meta + s.lines, b.len() as u64);
        assert!(section_sizes(&[9]).is_err());
    }

    #[test]
    fn corrupt_blocks_are_errors() {
        let es = vec![entry(1, "abc", &[])];
        let b = encode_block(&es, Compression::Zstd(3)).unwrap();
        for cut in 0..b.len() {
            assert!(decode_block(&b[..cut]).is_err());
        }
        let mut flipped = b.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0xff;
        assert!(decode_block(&flipped).is_err());
    }

    #[test]
    fn one_metadata_set_costs_nothing_per_entry() {
        let with: Vec<Entry> = (0..1000)
            .map(|i| entry(i * 1000, "x", &[("detected_level", "info")]))
            .collect();
        let without: Vec<Entry> = (0..1000).map(|i| entry(i * 1000, "x", &[])).collect();
        for c in [Compression::None, Compression::Zstd(1)] {
            let (a, b) = (
                encode_block(&with, c).unwrap(),
                encode_block(&without, c).unwrap(),
            );
            // The set once (stored as it is) and nothing per entry.
            assert!(a.len() <= b.len() + 30, "{} vs {}", a.len(), b.len());
            let p = parts(&a).unwrap();
            assert_eq!(p.meta.0.len() as u64, p.meta.1);
            let d = decode_meta_section(&a).unwrap();
            assert!(d.metadata.iter().all(|m| m == &with[0].structured_metadata));
        }
        // Many distinct sets are worth compressing.
        let many: Vec<Entry> = (0..1000)
            .map(|i| entry(i, "x", &[("trace_id", &format!("{i:032x}"))]))
            .collect();
        let b = encode_block(&many, Compression::Zstd(1)).unwrap();
        let p = parts(&b).unwrap();
        assert!((p.meta.0.len() as u64) < p.meta.1);
        let d = decode_block(&b).unwrap();
        for (i, e) in many.iter().enumerate() {
            assert_eq!(d.metadata[i], e.structured_metadata);
        }
    }

    proptest! {
        #[test]
        fn prop_metadata_sets_round_trip(
            pool in proptest::collection::vec(
                proptest::collection::vec(("[a-zé✓_]{0,6}", "[a-z0-9ü✓ ]{0,8}"), 0..4),
                1..40,
            ),
            picks in proptest::collection::vec((any::<i64>(), 0usize..64), 0..400),
            spread in 1usize..64,
        ) {
            // `spread` bounds how many distinct sets a block holds: one,
            // a few, or one per entry; the pool holds empty sets, empty
            // names and values and multi-byte characters.
            let mut es: Vec<Entry> = picks
                .iter()
                .map(|&(t, k)| {
                    let sm = &pool[(k % spread) % pool.len()];
                    Entry {
                        ts: t,
                        line: format!("l{k}"),
                        structured_metadata: sm.clone(),
                    }
                })
                .collect();
            es.sort_by_key(|e| e.ts);
            for c in [Compression::None, Compression::Zstd(1)] {
                let new = encode_block(&es, c).unwrap();
                let d = decode_block(&new).unwrap();
                let m = decode_meta_section(&new).unwrap();
                let (mut t, mut l, mut s) = (Vec::new(), Vec::new(), Vec::new());
                let p = read_in_place(&new, false, &mut t, &mut l, &mut s).unwrap();
                for (i, e) in es.iter().enumerate() {
                    prop_assert_eq!(&d.metadata[i], &e.structured_metadata);
                    prop_assert_eq!(&m.metadata[i], &e.structured_metadata);
                    let mut enc = Vec::new();
                    put_uvarint(&mut enc, e.structured_metadata.len() as u64);
                    for (k, v) in &e.structured_metadata {
                        put_bytes(&mut enc, k.as_bytes());
                        put_bytes(&mut enc, v.as_bytes());
                    }
                    prop_assert_eq!(p.dict.set(s[i]), enc.as_slice());
                }
                // Each distinct set once.
                let mut distinct: Vec<&[u8]> = (0..p.dict.len() as u32).map(|i| p.dict.set(i)).collect();
                let n = distinct.len();
                distinct.sort_unstable();
                distinct.dedup();
                prop_assert_eq!(distinct.len(), n);
                assert_same(&encode_block_v1(&es, c).unwrap(), &new);
            }
        }

        #[test]
        fn prop_round_trip(lines in proptest::collection::vec((any::<i64>(), ".{0,40}"), 0..50)) {
            let mut es: Vec<Entry> = lines.iter().map(|(t, l)| entry(*t, l, &[("k", l)])).collect();
            es.sort_by_key(|e| e.ts);
            let b = encode_block(&es, Compression::Zstd(1)).unwrap();
            let d = decode_block(&b).unwrap();
            prop_assert_eq!(d.len(), es.len());
            for (i, e) in es.iter().enumerate() {
                prop_assert_eq!(d.ts[i], e.ts);
                prop_assert_eq!(d.line(i), e.line.as_str());
                prop_assert_eq!(&d.metadata[i], &e.structured_metadata);
            }
        }

        #[test]
        fn prop_decode_garbage_never_panics(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_block(&b);
            let _ = decode_meta(&b);
            let _ = decode_meta_section(&b);
            let _ = read_in_place(&b, true, &mut Vec::new(), &mut Vec::new(), &mut Vec::new());
        }

        #[test]
        fn prop_damaged_blocks_never_panic(
            lines in proptest::collection::vec((any::<i64>(), ".{0,20}", any::<bool>()), 0..300),
            at in any::<usize>(),
            with in any::<u8>(),
            cut in any::<usize>(),
        ) {
            let mut es: Vec<Entry> = lines
                .iter()
                .map(|(t, l, m)| entry(*t, l, if *m { &[("k", "v")] } else { &[] }))
                .collect();
            es.sort_by_key(|e| e.ts);
            for c in [Compression::None, Compression::Zstd(1)] {
                let mut b = encode_block(&es, c).unwrap();
                let i = at % b.len();
                b[i] = b[i].wrapping_add(with | 1);
                let _ = decode_block(&b);
                let _ = decode_meta_section(&b);
                let _ = read_in_place(&b, true, &mut Vec::new(), &mut Vec::new(), &mut Vec::new());
                b.truncate(cut % b.len());
                prop_assert!(decode_block(&b).is_err());
                let _ = decode_meta(&b);
            }
        }

        #[test]
        fn prop_old_and_new_layouts_agree(
            lines in proptest::collection::vec((any::<i64>(), ".{0,20}", 0u8..3), 0..300),
        ) {
            let mut es: Vec<Entry> = lines
                .iter()
                .map(|(t, l, m)| match m {
                    0 => entry(*t, l, &[]),
                    1 => entry(*t, l, &[("detected_level", "info")]),
                    _ => entry(*t, l, &[("trace_id", l), ("a", "b")]),
                })
                .collect();
            es.sort_by_key(|e| e.ts);
            for c in [Compression::None, Compression::Zstd(1)] {
                assert_same(&encode_block_v1(&es, c).unwrap(), &encode_block(&es, c).unwrap());
            }
        }
    }
}
