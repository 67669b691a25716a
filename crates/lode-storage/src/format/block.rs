//! Compressed blocks: the unit of storage and of scanning. Timestamps and
//! structured metadata live in a section apart from the line text, so a
//! count can be answered without decompressing lines. Layout: see
//! `docs/storage.md` ("Block").

use super::varint::{put_bytes, put_ivarint, put_uvarint, Reader};
use crate::error::StorageError;
use lode_proto::Entry;
use std::cell::RefCell;

const CODEC_NONE: u8 = 0;
const CODEC_ZSTD: u8 = 1;

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

/// Encodes entries (already sorted by timestamp) into a block payload.
pub fn encode_block(entries: &[Entry], compression: Compression) -> Result<Vec<u8>, StorageError> {
    let mut meta = Vec::with_capacity(entries.len() * 6 + 8);
    put_uvarint(&mut meta, entries.len() as u64);
    let mut prev = 0i64;
    for (i, e) in entries.iter().enumerate() {
        let d = if i == 0 {
            e.ts
        } else {
            e.ts.wrapping_sub(prev)
        };
        put_ivarint(&mut meta, d);
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

fn section(r: &mut Reader<'_>, codec: u8, clen: u64, rlen: u64) -> Result<Vec<u8>, StorageError> {
    if rlen > MAX_SECTION {
        return Err(StorageError::Corrupt("block section too large".into()));
    }
    let raw = r.take(clen as usize)?;
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

/// Decodes only timestamps and line lengths (for counting and byte sums).
pub fn decode_meta(payload: &[u8]) -> Result<(Vec<i64>, Vec<u32>), StorageError> {
    let mut r = Reader::new(payload);
    let codec = r.take(1)?[0];
    let (mc, mr) = (r.uvarint()?, r.uvarint()?);
    let _ = (r.uvarint()?, r.uvarint()?);
    let meta = section(&mut r, codec, mc, mr)?;
    let mut m = Reader::new(&meta);
    let (ts, lens) = read_ts_lens(&mut m)?;
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

fn read_metadata(m: &mut Reader<'_>, n: usize) -> Result<Vec<Vec<(String, String)>>, StorageError> {
    let mut metadata = Vec::with_capacity(n);
    for _ in 0..n {
        let k = m.uvarint()? as usize;
        let mut v = Vec::with_capacity(k.min(64));
        for _ in 0..k {
            let name = m.str()?.to_string();
            let value = m.str()?.to_string();
            v.push((name, value));
        }
        metadata.push(v);
    }
    Ok(metadata)
}

/// Decodes the meta section only (the lines section is not decompressed).
pub fn decode_meta_section(payload: &[u8]) -> Result<MetaSection, StorageError> {
    let mut r = Reader::new(payload);
    let codec = r.take(1)?[0];
    let (mc, mr) = (r.uvarint()?, r.uvarint()?);
    let _ = (r.uvarint()?, r.uvarint()?);
    let meta = section(&mut r, codec, mc, mr)?;
    let mut m = Reader::new(&meta);
    let (ts, lens) = read_ts_lens(&mut m)?;
    let metadata = read_metadata(&mut m, ts.len())?;
    Ok(MetaSection { ts, lens, metadata })
}

/// The decompressed meta section and, if `with_lines`, the line text (not
/// yet checked to be UTF-8), for scans that walk a block in place instead
/// of building per-entry values (see `samples/buckets.rs`).
pub(crate) fn raw_sections(
    payload: &[u8],
    with_lines: bool,
) -> Result<(Vec<u8>, Vec<u8>), StorageError> {
    let mut r = Reader::new(payload);
    let codec = r.take(1)?[0];
    let (mc, mr) = (r.uvarint()?, r.uvarint()?);
    let (lc, lr) = (r.uvarint()?, r.uvarint()?);
    let meta = section(&mut r, codec, mc, mr)?;
    let lines = if with_lines {
        section(&mut r, codec, lc, lr)?
    } else {
        Vec::new()
    };
    Ok((meta, lines))
}

/// Decodes a whole block.
pub fn decode_block(payload: &[u8]) -> Result<DecodedBlock, StorageError> {
    let mut r = Reader::new(payload);
    let codec = r.take(1)?[0];
    let (mc, mr) = (r.uvarint()?, r.uvarint()?);
    let (lc, lr) = (r.uvarint()?, r.uvarint()?);
    let meta = section(&mut r, codec, mc, mr)?;
    let lines = section(&mut r, codec, lc, lr)?;
    let mut m = Reader::new(&meta);
    let (ts, lens) = read_ts_lens(&mut m)?;
    let metadata = read_metadata(&mut m, ts.len())?;
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

    proptest! {
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
        }
    }
}
