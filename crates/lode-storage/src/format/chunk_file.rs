//! Chunk files: many compressed blocks of many streams of one tenant, with a
//! footer that lists the streams and every block's time range and position.
//! The footer is read once at start-up; blocks are read on demand with
//! positioned reads. Layout: see `docs/storage.md` ("Chunk file"). Version
//! 2 adds a section of block filters (`filter.rs`), read on demand by queries
//! and never kept in memory; version 1 files have none.

use super::varint::{put_bytes, put_ivarint, put_uvarint, Reader};
use super::{is_readable, FORMAT_VERSION};
use crate::error::{Result, StorageError};
use crate::stored_labels::StoredLabels;
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const HEAD_MAGIC: &[u8; 8] = b"LODECHK\x01";
const TAIL_MAGIC: &[u8; 8] = b"LODEEND\x01";
const TRAILER_LEN: u64 = 8 + 4 + 4 + 8;
/// A footer larger than this is corrupt, not real.
const MAX_FOOTER: u64 = 1 << 30;

/// Where one block lives and what it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockMeta {
    /// Index into the file's stream table.
    pub stream: u32,
    pub min_ts: i64,
    pub max_ts: i64,
    pub entries: u32,
    /// Uncompressed bytes of line text.
    pub line_bytes: u64,
    pub offset: u64,
    pub len: u32,
    pub crc: u32,
    /// Where the block's filter lives (`filter_len` 0: it has none).
    pub filter_offset: u64,
    pub filter_len: u32,
    pub filter_crc: u32,
}

/// Filters further apart than this are read with separate reads rather
/// than one read spanning the gap.
const FILTER_GAP: u64 = 64 << 10;
/// At most this much is read at once for filters (unless one filter is
/// larger): the per-thread read buffer stays this small.
const FILTER_RUN: u64 = 1 << 20;

/// What a chunk file's first 8 and last [`TRAILER_LEN`] bytes say.
struct Tail {
    footer_len: u64,
    footer_crc: u32,
    version: u32,
    /// Where the block data ends and the footer begins.
    data_end: u64,
}

impl Tail {
    fn parse(size: u64, head: &[u8; 8], trailer: &[u8; TRAILER_LEN as usize]) -> Result<Tail> {
        let corrupt = |m: &str| StorageError::Corrupt(m.to_string());
        if size < HEAD_MAGIC.len() as u64 + TRAILER_LEN {
            return Err(corrupt("file too short"));
        }
        if head != HEAD_MAGIC {
            return Err(corrupt("bad magic"));
        }
        let mut t = Reader::new(trailer);
        let footer_len = t.u64_le()?;
        let footer_crc = t.u32_le()?;
        let version = t.u32_le()?;
        if t.take(8)? != TAIL_MAGIC {
            return Err(corrupt("bad trailer magic (incomplete file?)"));
        }
        if !is_readable(version) {
            return Err(StorageError::Version {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        if footer_len > MAX_FOOTER || footer_len + TRAILER_LEN + 8 > size {
            return Err(corrupt("bad footer length"));
        }
        Ok(Tail {
            footer_len,
            footer_crc,
            version,
            data_end: size - TRAILER_LEN - footer_len,
        })
    }
}

/// The stream table and block index in a footer whose checksum passed.
/// Every count and range is checked against the bytes there are.
fn parse_footer(
    footer: &[u8],
    version: u32,
    data_end: u64,
) -> Result<(Vec<std::sync::Arc<StoredLabels>>, Vec<BlockMeta>)> {
    let corrupt = |m: &str| StorageError::Corrupt(m.to_string());
    let mut r = Reader::new(footer);
    let n_streams = r.uvarint()? as usize;
    if n_streams > r.remaining() {
        return Err(corrupt("stream count"));
    }
    let mut streams = Vec::with_capacity(n_streams);
    for _ in 0..n_streams {
        let n = r.uvarint()? as usize;
        if n > r.remaining() {
            return Err(corrupt("label count"));
        }
        let mut labels = Vec::with_capacity(n);
        for _ in 0..n {
            labels.push((r.str()?.to_string(), r.str()?.to_string()));
        }
        // Sorted and unique, whatever the writer did.
        let set = lode_logql::LabelSet::from_pairs(labels);
        streams.push(std::sync::Arc::new(StoredLabels::from_set(&set)));
    }
    let n_blocks = r.uvarint()? as usize;
    if n_blocks > r.remaining() {
        return Err(corrupt("block count"));
    }
    let mut blocks = Vec::with_capacity(n_blocks);
    for _ in 0..n_blocks {
        let mut b = BlockMeta {
            stream: u32::try_from(r.uvarint()?).map_err(|_| corrupt("block stream"))?,
            min_ts: r.ivarint()?,
            max_ts: r.ivarint()?,
            entries: u32::try_from(r.uvarint()?).map_err(|_| corrupt("block entries"))?,
            line_bytes: r.uvarint()?,
            offset: r.uvarint()?,
            len: u32::try_from(r.uvarint()?).map_err(|_| corrupt("block length"))?,
            crc: u32::try_from(r.uvarint()?).map_err(|_| corrupt("block checksum"))?,
            filter_offset: 0,
            filter_len: 0,
            filter_crc: 0,
        };
        if version >= 2 {
            b.filter_len = u32::try_from(r.uvarint()?).map_err(|_| corrupt("filter length"))?;
            b.filter_crc = u32::try_from(r.uvarint()?).map_err(|_| corrupt("filter checksum"))?;
        }
        let end = b.offset.checked_add(u64::from(b.len));
        if b.stream as usize >= streams.len() || end.is_none_or(|e| e > data_end) {
            return Err(corrupt("block out of range"));
        }
        blocks.push(b);
    }
    if version >= 2 {
        let mut off = r.uvarint()?;
        for b in blocks.iter_mut() {
            b.filter_offset = off;
            off = off
                .checked_add(u64::from(b.filter_len))
                .ok_or_else(|| corrupt("filters out of range"))?;
        }
        if off > data_end {
            return Err(corrupt("filters out of range"));
        }
    }
    Ok((streams, blocks))
}

/// Where a chunk file's bytes are: a local file, or an object in a bucket
/// (read by range through the bucket's cache).
#[derive(Debug)]
pub enum Source {
    Local(File),
    Remote {
        bucket: std::sync::Arc<lode_bucket::Bucket>,
        key: std::sync::Arc<str>,
    },
}

impl Source {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        match self {
            Source::Local(f) => Ok(f.read_exact_at(buf, offset)?),
            Source::Remote { bucket, key } => {
                let b = bucket.get_range_cached(key, offset, buf.len() as u64)?;
                buf.copy_from_slice(&b);
                Ok(())
            }
        }
    }
}

/// How much of an object's end one request fetches when opening it: the
/// footer of nearly every chunk file fits.
const REMOTE_TAIL: u64 = 256 << 10;

/// An open, immutable chunk file.
#[derive(Debug)]
pub struct ChunkFile {
    pub id: u64,
    /// Its local path, or its object key.
    pub path: PathBuf,
    file: Source,
    pub size: u64,
    /// The format version it was written in (1: no block filters).
    pub version: u32,
    /// The zstd level the compactor recompressed its blocks at, from the
    /// manifest (`None`: written by a flush).
    pub zstd_level: Option<i32>,
    /// Label sets of the streams in this file (sorted pairs).
    pub streams: Vec<std::sync::Arc<crate::stored_labels::StoredLabels>>,
    pub blocks: Vec<BlockMeta>,
    /// Blocks found damaged (checksum mismatch): quarantined, read as
    /// empty, left out of queries and of compaction's output.
    damaged: parking_lot::Mutex<Vec<u32>>,
}

/// Chunk files found unreadable at start-up (moved to quarantine), for
/// `/metrics`.
pub static UNREADABLE_FILES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Damaged blocks found since start-up, for `/metrics`.
pub static DAMAGED_BLOCKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl ChunkFile {
    pub fn open(path: &Path, id: u64) -> Result<ChunkFile> {
        let mut file = File::open(path)?;
        let size = file.metadata()?.len();
        let mut head = [0u8; 8];
        let mut trailer = [0u8; TRAILER_LEN as usize];
        if size >= HEAD_MAGIC.len() as u64 + TRAILER_LEN {
            file.read_exact(&mut head)?;
            file.seek(SeekFrom::Start(size - TRAILER_LEN))?;
            file.read_exact(&mut trailer)?;
        }
        let corrupt = |m: &str| StorageError::Corrupt(format!("{}: {m}", path.display()));
        let tail = Tail::parse(size, &head, &trailer).map_err(|e| e.at(path))?;
        let mut footer = vec![0u8; tail.footer_len as usize];
        file.read_exact_at(&mut footer, tail.data_end)?;
        if crc32fast::hash(&footer) != tail.footer_crc {
            return Err(corrupt("footer checksum mismatch"));
        }
        let (streams, blocks) =
            parse_footer(&footer, tail.version, tail.data_end).map_err(|e| e.at(path))?;
        Ok(ChunkFile::assemble(
            id,
            path.to_path_buf(),
            Source::Local(file),
            size,
            tail.version,
            (streams, blocks),
        ))
    }

    fn assemble(
        id: u64,
        path: PathBuf,
        file: Source,
        size: u64,
        version: u32,
        (streams, blocks): (Vec<std::sync::Arc<StoredLabels>>, Vec<BlockMeta>),
    ) -> ChunkFile {
        ChunkFile {
            id,
            path,
            file,
            size,
            version,
            zstd_level: None,
            streams,
            blocks,
            damaged: Default::default(),
        }
    }

    /// Opens chunk file `id` stored as object `key` of `size` bytes: its
    /// first bytes and footer are read (one or two ranged requests), its
    /// blocks later on demand, through the bucket's cache.
    pub fn open_remote(
        bucket: std::sync::Arc<lode_bucket::Bucket>,
        key: &str,
        size: u64,
        id: u64,
    ) -> Result<ChunkFile> {
        let tail_len = size.min(REMOTE_TAIL);
        let tail_at = size - tail_len;
        let tail_bytes = bucket.get_range(key, tail_at, tail_len)?;
        let head = if tail_at == 0 || size < HEAD_MAGIC.len() as u64 + TRAILER_LEN {
            None
        } else {
            Some(bucket.get_range(key, 0, 8)?)
        };
        let head = head
            .as_deref()
            .unwrap_or(&tail_bytes[..tail_bytes.len().min(8)]);
        ChunkFile::remote_from_tail(bucket, key, size, id, Some(head), &tail_bytes)
    }

    /// The bytes from the end of a file's block data to its end (footer and
    /// trailer): what `<id>.tail` keeps of a file only the bucket holds.
    pub fn tail_bytes(&self) -> Result<Vec<u8>> {
        let corrupt =
            || StorageError::Corrupt(format!("{}: bad footer length", self.path.display()));
        if self.size < TRAILER_LEN {
            return Err(corrupt());
        }
        let mut trailer = [0u8; TRAILER_LEN as usize];
        self.file.read_at(&mut trailer, self.size - TRAILER_LEN)?;
        let mut n = [0u8; 8];
        n.copy_from_slice(&trailer[..8]);
        let len = u64::from_le_bytes(n)
            .checked_add(TRAILER_LEN)
            .filter(|&l| l <= self.size)
            .ok_or_else(corrupt)?;
        let mut buf = vec![0u8; len as usize];
        self.file.read_at(&mut buf, self.size - len)?;
        Ok(buf)
    }

    /// Chunk file `id` as object `key` of `size` bytes, from its tail (the
    /// object's last bytes, at least footer and trailer: read from the
    /// bucket, or from a `<id>.tail` file) and its first 8 bytes (`None`
    /// for a tail file, whose magic was checked when it was written; the
    /// footer's checksum still decides).
    pub fn remote_from_tail(
        bucket: std::sync::Arc<lode_bucket::Bucket>,
        key: &str,
        size: u64,
        id: u64,
        head: Option<&[u8]>,
        tail_bytes: &[u8],
    ) -> Result<ChunkFile> {
        let path = PathBuf::from(key);
        let tail_len = tail_bytes.len() as u64;
        if tail_len > size || tail_len < TRAILER_LEN {
            return Err(StorageError::Corrupt(format!("{key}: bad tail length")));
        }
        let tail_at = size - tail_len;
        let mut head_arr = *HEAD_MAGIC;
        if let Some(h) = head.and_then(|h| h.get(..8)) {
            head_arr.copy_from_slice(h);
        }
        let mut trailer = [0u8; TRAILER_LEN as usize];
        trailer.copy_from_slice(&tail_bytes[(tail_len - TRAILER_LEN) as usize..]);
        let head = head_arr;
        let tail = Tail::parse(size, &head, &trailer).map_err(|e| e.at(&path))?;
        let footer = if tail.data_end >= tail_at {
            let a = (tail.data_end - tail_at) as usize;
            tail_bytes[a..a + tail.footer_len as usize].to_vec()
        } else {
            bucket
                .get_range(key, tail.data_end, tail.footer_len)?
                .to_vec()
        };
        if crc32fast::hash(&footer) != tail.footer_crc {
            return Err(StorageError::Corrupt(format!(
                "{key}: footer checksum mismatch"
            )));
        }
        let (streams, blocks) =
            parse_footer(&footer, tail.version, tail.data_end).map_err(|e| e.at(&path))?;
        let file = Source::Remote {
            bucket,
            key: std::sync::Arc::from(key),
        };
        Ok(ChunkFile::assemble(
            id,
            path,
            file,
            size,
            tail.version,
            (streams, blocks),
        ))
    }

    /// The same file read from object `key` of `bucket` instead (its
    /// footer as parsed here): once the bucket holds a writer's file, the
    /// local copy can go.
    pub fn as_remote(&self, bucket: std::sync::Arc<lode_bucket::Bucket>, key: &str) -> ChunkFile {
        let file = Source::Remote {
            bucket,
            key: std::sync::Arc::from(key),
        };
        let mut f = ChunkFile::assemble(
            self.id,
            PathBuf::from(key),
            file,
            self.size,
            self.version,
            (self.streams.clone(), self.blocks.clone()),
        );
        f.zstd_level = self.zstd_level;
        *f.damaged.lock() = self.damaged.lock().clone();
        f
    }

    /// Whether its bytes are in a bucket.
    pub fn is_remote(&self) -> bool {
        matches!(self.file, Source::Remote { .. })
    }

    /// Bytes of block data the bucket's cache holds at most (0: local).
    pub fn cache_capacity(&self) -> usize {
        match &self.file {
            Source::Remote { bucket, .. } => bucket.cache.capacity(),
            Source::Local(_) => 0,
        }
    }

    /// Fetches blocks of a remote file into the bucket's cache, several
    /// requests at once (a query about to read them); nothing for a local one.
    pub fn prefetch(&self, blocks: &[u32]) {
        if let Source::Remote { bucket, key } = &self.file {
            let ranges: Vec<(u64, u64)> = blocks
                .iter()
                .filter_map(|&i| self.blocks.get(i as usize))
                .map(|m| (m.offset, u64::from(m.len)))
                .collect();
            if let Err(e) = bucket.prefetch(key, &ranges) {
                tracing::warn!(object = %key, error = %e, "prefetching blocks failed; they are read one by one");
            }
        }
    }

    /// The stream table and block index of a whole chunk file held in
    /// memory, checked exactly as [`ChunkFile::open`] checks a file (the
    /// fuzz target reads files this way).
    pub fn parse_index(
        bytes: &[u8],
    ) -> Result<(u32, Vec<std::sync::Arc<StoredLabels>>, Vec<BlockMeta>)> {
        let size = bytes.len() as u64;
        let head = bytes
            .get(..8)
            .and_then(|h| h.try_into().ok())
            .unwrap_or([0u8; 8]);
        let trailer = bytes
            .len()
            .checked_sub(TRAILER_LEN as usize)
            .and_then(|at| bytes.get(at..))
            .and_then(|t| t.try_into().ok())
            .unwrap_or([0u8; TRAILER_LEN as usize]);
        let tail = Tail::parse(size, &head, &trailer)?;
        let footer = bytes
            .get(tail.data_end as usize..(tail.data_end + tail.footer_len) as usize)
            .ok_or_else(|| StorageError::Corrupt("bad footer length".into()))?;
        if crc32fast::hash(footer) != tail.footer_crc {
            return Err(StorageError::Corrupt("footer checksum mismatch".into()));
        }
        let (streams, blocks) = parse_footer(footer, tail.version, tail.data_end)?;
        Ok((tail.version, streams, blocks))
    }

    /// Reads one block's payload and checks its checksum. A mismatch marks
    /// the block damaged (logged once, counted in `DAMAGED_BLOCKS`).
    pub fn read_block(&self, i: usize) -> Result<Vec<u8>> {
        let buf = self.read_block_unchecked(i)?;
        if crc32fast::hash(&buf) != self.blocks[i].crc {
            self.mark_damaged(i as u32);
            return Err(StorageError::Corrupt(format!(
                "{}: block {i} checksum mismatch",
                self.path.display()
            )));
        }
        Ok(buf)
    }

    /// A block's bytes as stored, whatever their checksum (for quarantine).
    pub fn read_block_unchecked(&self, i: usize) -> Result<Vec<u8>> {
        let m = &self.blocks[i];
        let mut buf = vec![0u8; m.len as usize];
        self.file.read_at(&mut buf, m.offset)?;
        Ok(buf)
    }

    /// Whether block `i` was found damaged.
    pub fn is_damaged(&self, i: u32) -> bool {
        self.damaged.lock().contains(&i)
    }

    pub fn mark_damaged(&self, i: u32) {
        let mut d = self.damaged.lock();
        if !d.contains(&i) {
            d.push(i);
            DAMAGED_BLOCKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::error!(
                file = %self.path.display(),
                block = i,
                entries = self.blocks[i as usize].entries,
                "damaged block quarantined: its entries are left out of answers; the compactor keeps its bytes under quarantine/"
            );
        }
    }

    /// Up to `len` leading bytes of block `i`, unchecked: the caller checks
    /// what it reads (a columnar block's prefix carries its own checksum).
    pub fn read_block_head(&self, i: usize, len: usize) -> Result<Vec<u8>> {
        let m = &self.blocks[i];
        if let Source::Remote { bucket, key } = &self.file {
            // The whole block, through the cache: one request serves both
            // the prefix and a later read of the lines (and prefetched
            // blocks are found).
            let b = bucket.get_range_cached(key, m.offset, u64::from(m.len))?;
            return Ok(b[..len.min(b.len())].to_vec());
        }
        let mut buf = vec![0u8; len.min(m.len as usize)];
        self.file.read_at(&mut buf, m.offset)?;
        Ok(buf)
    }

    /// Block `i`'s filter, checked; `None` when it has none or it is damaged
    /// (logged: the block is then read instead of skipped).
    pub fn read_filter(&self, i: usize) -> Result<Option<Vec<u8>>> {
        let m = &self.blocks[i];
        if m.filter_len == 0 {
            return Ok(None);
        }
        let mut buf = vec![0u8; m.filter_len as usize];
        self.file.read_at(&mut buf, m.filter_offset)?;
        Ok(self.checked_filter(i, &buf).then_some(buf))
    }

    fn checked_filter(&self, i: usize, f: &[u8]) -> bool {
        let ok = crc32fast::hash(f) == self.blocks[i].filter_crc;
        if !ok {
            tracing::warn!(file = %self.path.display(), block = i, "block filter checksum mismatch; the block is read instead");
        }
        ok
    }

    /// Calls `f(block, filter)` for each of `blocks` (ascending indices),
    /// with `None` for a block without a usable filter. Nearby filters are
    /// read together: one read per file for a query touching most blocks.
    pub fn for_each_filter(
        &self,
        blocks: &[u32],
        f: &mut dyn FnMut(u32, Option<&[u8]>),
    ) -> Result<()> {
        // Reused per thread and bounded by `FILTER_RUN`: a fresh buffer of
        // a file's whole filter section per query was zero-filled and
        // faulted in each time (a third of a needle query's CPU).
        thread_local! {
            static BUF: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
        }
        let mut buf = BUF.take();
        let r = self.filters_into(blocks, f, &mut buf);
        // A filter larger than one read (no writer makes one) is not kept.
        if buf.capacity() as u64 <= FILTER_RUN {
            BUF.set(buf);
        }
        r
    }

    fn filters_into(
        &self,
        blocks: &[u32],
        f: &mut dyn FnMut(u32, Option<&[u8]>),
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        let mut k = 0;
        while k < blocks.len() {
            let first = &self.blocks[blocks[k] as usize];
            if first.filter_len == 0 {
                f(blocks[k], None);
                k += 1;
                continue;
            }
            // Extend the run while the next filter is close enough.
            let start = first.filter_offset;
            let mut end = start + u64::from(first.filter_len);
            let mut last = k;
            while last + 1 < blocks.len() {
                let b = &self.blocks[blocks[last + 1] as usize];
                if b.filter_len > 0
                    && ((b.filter_offset >= end && b.filter_offset - end > FILTER_GAP)
                        || (b.filter_offset + u64::from(b.filter_len)).saturating_sub(start)
                            > FILTER_RUN)
                {
                    break;
                }
                if b.filter_len > 0 {
                    end = end.max(b.filter_offset + u64::from(b.filter_len));
                }
                last += 1;
            }
            let len = (end - start) as usize;
            if buf.len() < len {
                buf.resize(len, 0);
            }
            let buf = &mut buf[..len];
            self.file.read_at(buf, start)?;
            for &bi in &blocks[k..=last] {
                let m = &self.blocks[bi as usize];
                if m.filter_len == 0 || m.filter_offset < start {
                    f(bi, None);
                    continue;
                }
                let a = (m.filter_offset - start) as usize;
                let filter = &buf[a..a + m.filter_len as usize];
                f(
                    bi,
                    self.checked_filter(bi as usize, filter).then_some(filter),
                );
            }
            k = last + 1;
        }
        Ok(())
    }
}

/// Writes a chunk file under a temporary name; `finish` makes it durable
/// and gives it its final name.
pub struct ChunkWriter {
    tmp: PathBuf,
    path: PathBuf,
    out: BufWriter<File>,
    offset: u64,
    streams: Vec<StoredLabels>,
    stream_idx: HashMap<StoredLabels, u32>,
    blocks: Vec<BlockMeta>,
    /// The filters section, written after the blocks by `finish`.
    filters: Vec<u8>,
}

impl ChunkWriter {
    pub fn create(path: &Path) -> Result<ChunkWriter> {
        let tmp = path.with_extension("tmp");
        let f = File::create(&tmp).map_err(|e| StorageError::from_io("creating chunk file", e))?;
        let mut out = BufWriter::with_capacity(1 << 20, f);
        out.write_all(HEAD_MAGIC)
            .map_err(|e| StorageError::from_io("writing chunk file", e))?;
        Ok(ChunkWriter {
            tmp,
            path: path.to_path_buf(),
            out,
            offset: HEAD_MAGIC.len() as u64,
            streams: Vec::new(),
            stream_idx: HashMap::new(),
            blocks: Vec::new(),
            filters: Vec::new(),
        })
    }

    pub fn stream(&mut self, labels: &StoredLabels) -> u32 {
        if let Some(i) = self.stream_idx.get(labels) {
            return *i;
        }
        let i = self.streams.len() as u32;
        self.streams.push(labels.clone());
        self.stream_idx.insert(labels.clone(), i);
        i
    }

    /// Appends a block payload; returns its metadata.
    pub fn add_block(
        &mut self,
        stream: u32,
        payload: &[u8],
        min_ts: i64,
        max_ts: i64,
        entries: u32,
        line_bytes: u64,
    ) -> Result<BlockMeta> {
        self.out
            .write_all(payload)
            .map_err(|e| StorageError::from_io("writing chunk file", e))?;
        let m = BlockMeta {
            stream,
            min_ts,
            max_ts,
            entries,
            line_bytes,
            offset: self.offset,
            len: payload.len() as u32,
            crc: crc32fast::hash(payload),
            filter_offset: self.filters.len() as u64,
            filter_len: 0,
            filter_crc: 0,
        };
        self.offset += payload.len() as u64;
        self.blocks.push(m);
        Ok(m)
    }

    /// Gives the block added last its filter (`filter.rs`).
    pub fn set_filter(&mut self, filter: &[u8]) {
        let Some(b) = self.blocks.last_mut() else {
            return;
        };
        debug_assert_eq!(b.filter_len, 0, "one filter per block");
        if b.filter_len != 0 || filter.is_empty() {
            return;
        }
        b.filter_offset = self.filters.len() as u64;
        b.filter_len = filter.len() as u32;
        b.filter_crc = crc32fast::hash(filter);
        self.filters.extend_from_slice(filter);
    }

    pub fn block_count(&self) -> usize {
        self.blocks.len()
    }

    /// Writes the footer, fsyncs and renames into place (the directory is
    /// fsynced by the caller once for all files of a flush).
    pub fn finish(mut self) -> Result<PathBuf> {
        let mut footer = Vec::new();
        put_uvarint(&mut footer, self.streams.len() as u64);
        for labels in &self.streams {
            put_uvarint(&mut footer, labels.len() as u64);
            for (k, v) in labels.iter() {
                put_bytes(&mut footer, k.as_bytes());
                put_bytes(&mut footer, v.as_bytes());
            }
        }
        put_uvarint(&mut footer, self.blocks.len() as u64);
        for b in &self.blocks {
            put_uvarint(&mut footer, u64::from(b.stream));
            put_ivarint(&mut footer, b.min_ts);
            put_ivarint(&mut footer, b.max_ts);
            put_uvarint(&mut footer, u64::from(b.entries));
            put_uvarint(&mut footer, b.line_bytes);
            put_uvarint(&mut footer, b.offset);
            put_uvarint(&mut footer, u64::from(b.len));
            put_uvarint(&mut footer, u64::from(b.crc));
            put_uvarint(&mut footer, u64::from(b.filter_len));
            put_uvarint(&mut footer, u64::from(b.filter_crc));
        }
        // The filters follow the last block.
        put_uvarint(&mut footer, self.offset);
        let mut trailer = Vec::with_capacity(TRAILER_LEN as usize);
        trailer.extend_from_slice(&(footer.len() as u64).to_le_bytes());
        trailer.extend_from_slice(&crc32fast::hash(&footer).to_le_bytes());
        trailer.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        trailer.extend_from_slice(TAIL_MAGIC);
        let io = |e| StorageError::from_io("finishing chunk file", e);
        self.out.write_all(&self.filters).map_err(io)?;
        self.out.write_all(&footer).map_err(io)?;
        self.out.write_all(&trailer).map_err(io)?;
        let f = self.out.into_inner().map_err(|e| io(e.into_error()))?;
        f.sync_all().map_err(io)?;
        drop(f);
        fs::rename(&self.tmp, &self.path).map_err(io)?;
        Ok(self.path)
    }
}

/// fsyncs a directory so that renames and creations inside it are durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StorageError::from_io("syncing directory", e))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use lode_logql::LabelSet;

    fn labels(a: &str) -> Vec<(String, String)> {
        vec![("app".to_string(), a.to_string())]
    }

    fn stored(a: &str) -> StoredLabels {
        StoredLabels::new([("app", a)])
    }

    fn assert_streams_a_b(f: &ChunkFile) {
        let streams: Vec<LabelSet> = f.streams.iter().map(|l| l.to_label_set()).collect();
        let want: Vec<LabelSet> = vec![labels("a"), labels("b")]
            .into_iter()
            .map(LabelSet::from_pairs)
            .collect();
        assert_eq!(streams, want);
    }

    #[test]
    fn write_then_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("1.chunk");
        let mut w = ChunkWriter::create(&p).unwrap();
        let s0 = w.stream(&stored("a"));
        let s1 = w.stream(&stored("b"));
        assert_eq!(w.stream(&stored("a")), s0);
        w.add_block(s0, b"first", 1, 5, 2, 10).unwrap();
        w.add_block(s1, b"second", 3, 9, 1, 4).unwrap();
        w.finish().unwrap();
        let f = ChunkFile::open(&p, 1).unwrap();
        assert_streams_a_b(&f);
        assert_eq!(f.blocks.len(), 2);
        assert_eq!(f.read_block(1).unwrap(), b"second");
        assert_eq!(f.blocks[0].max_ts, 5);
    }

    #[test]
    fn truncated_or_flipped_files_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("1.chunk");
        let mut w = ChunkWriter::create(&p).unwrap();
        let s = w.stream(&stored("a"));
        w.add_block(s, b"payload", 1, 2, 1, 7).unwrap();
        w.finish().unwrap();
        let full = fs::read(&p).unwrap();
        for cut in [0, 8, full.len() / 2, full.len() - 1] {
            fs::write(&p, &full[..cut]).unwrap();
            assert!(ChunkFile::open(&p, 1).is_err(), "cut at {cut}");
        }
        let mut flipped = full.clone();
        flipped[9] ^= 1;
        fs::write(&p, &flipped).unwrap();
        let f = ChunkFile::open(&p, 1).unwrap();
        assert!(matches!(f.read_block(0), Err(StorageError::Corrupt(_))));
    }

    fn filters_of(f: &ChunkFile, blocks: &[u32]) -> Vec<(u32, Option<Vec<u8>>)> {
        let mut out = Vec::new();
        f.for_each_filter(blocks, &mut |i, x| out.push((i, x.map(<[u8]>::to_vec))))
            .unwrap();
        out
    }

    #[test]
    fn filters_round_trip_and_damage_means_no_filter() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("1.chunk");
        let mut w = ChunkWriter::create(&p).unwrap();
        let s = w.stream(&stored("a"));
        w.add_block(s, b"zero", 1, 2, 1, 4).unwrap();
        w.set_filter(b"\x01AAAAAAAA");
        w.add_block(s, b"one", 3, 4, 1, 3).unwrap();
        w.add_block(s, b"two", 5, 6, 1, 3).unwrap();
        w.set_filter(b"\x01BBBBBBBB");
        w.finish().unwrap();
        let f = ChunkFile::open(&p, 1).unwrap();
        assert_eq!(f.read_block(2).unwrap(), b"two");
        assert_eq!(f.read_filter(0).unwrap().unwrap(), b"\x01AAAAAAAA");
        assert_eq!(f.read_filter(1).unwrap(), None);
        assert_eq!(
            filters_of(&f, &[0, 1, 2]),
            vec![
                (0, Some(b"\x01AAAAAAAA".to_vec())),
                (1, None),
                (2, Some(b"\x01BBBBBBBB".to_vec()))
            ]
        );
        assert_eq!(
            filters_of(&f, &[2]),
            vec![(2, Some(b"\x01BBBBBBBB".to_vec()))]
        );
        // A flipped filter byte: that block has no usable filter, the rest do.
        let mut bytes = fs::read(&p).unwrap();
        let at = f.blocks[2].filter_offset as usize + 3;
        bytes[at] ^= 1;
        fs::write(&p, &bytes).unwrap();
        let f = ChunkFile::open(&p, 1).unwrap();
        assert_eq!(f.read_filter(2).unwrap(), None);
        assert_eq!(
            filters_of(&f, &[0, 2]),
            vec![(0, Some(b"\x01AAAAAAAA".to_vec())), (2, None)]
        );
    }

    #[test]
    fn filter_sections_larger_than_one_read_are_split_but_all_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("1.chunk");
        let mut w = ChunkWriter::create(&p).unwrap();
        let s = w.stream(&stored("a"));
        let filter = |i: usize| -> Vec<u8> {
            // One filter larger than a whole read, the rest 8 KiB each.
            let len = if i == 150 {
                FILTER_RUN as usize + 5
            } else {
                8 << 10
            };
            (0..len).map(|j| (i * 31 + j) as u8).collect()
        };
        for i in 0..200 {
            w.add_block(s, &[i as u8], 1, 2, 1, 1).unwrap();
            w.set_filter(&filter(i));
        }
        w.finish().unwrap();
        let f = ChunkFile::open(&p, 1).unwrap();
        let all: Vec<u32> = (0..200).collect();
        let got = filters_of(&f, &all);
        assert_eq!(got.len(), 200);
        for (i, (b, x)) in got.into_iter().enumerate() {
            assert_eq!((b, x), (i as u32, Some(filter(i))), "block {i}");
        }
    }

    #[test]
    fn far_apart_filters_are_read_separately_but_all_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("1.chunk");
        let mut w = ChunkWriter::create(&p).unwrap();
        let s = w.stream(&stored("a"));
        let big = vec![7u8; (FILTER_GAP as usize) * 2];
        for i in 0..5u8 {
            w.add_block(s, &[i], 1, 2, 1, 1).unwrap();
            if i == 2 {
                w.set_filter(&big);
            } else {
                w.set_filter(&[1, i, i, i, i, i, i, i, i]);
            }
        }
        w.finish().unwrap();
        let f = ChunkFile::open(&p, 1).unwrap();
        let got = filters_of(&f, &[0, 1, 3, 4]);
        assert_eq!(got.len(), 4);
        assert_eq!(got[2], (3, Some(vec![1, 3, 3, 3, 3, 3, 3, 3, 3])));
        assert_eq!(
            filters_of(&f, &[2])[0].1.as_ref().map(Vec::len),
            Some(big.len())
        );
    }

    /// Stream, payload, min_ts, max_ts, entries, line bytes.
    pub(crate) type V1Block = (u32, Vec<u8>, i64, i64, u32, u64);

    /// The version-1 layout exactly as the previous release wrote it (no
    /// filters section, no filter fields, version 1 in the trailer).
    pub(crate) fn write_v1(path: &Path, streams: &[Vec<(String, String)>], blocks: &[V1Block]) {
        let mut out = HEAD_MAGIC.to_vec();
        let mut footer = Vec::new();
        put_uvarint(&mut footer, streams.len() as u64);
        for labels in streams {
            put_uvarint(&mut footer, labels.len() as u64);
            for (k, v) in labels {
                put_bytes(&mut footer, k.as_bytes());
                put_bytes(&mut footer, v.as_bytes());
            }
        }
        put_uvarint(&mut footer, blocks.len() as u64);
        for (stream, payload, min, max, entries, line_bytes) in blocks {
            put_uvarint(&mut footer, u64::from(*stream));
            put_ivarint(&mut footer, *min);
            put_ivarint(&mut footer, *max);
            put_uvarint(&mut footer, u64::from(*entries));
            put_uvarint(&mut footer, *line_bytes);
            put_uvarint(&mut footer, out.len() as u64);
            put_uvarint(&mut footer, payload.len() as u64);
            put_uvarint(&mut footer, u64::from(crc32fast::hash(payload)));
            out.extend_from_slice(payload);
        }
        out.extend_from_slice(&footer);
        out.extend_from_slice(&(footer.len() as u64).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&footer).to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(TAIL_MAGIC);
        fs::write(path, out).unwrap();
    }

    #[test]
    fn version_1_files_open_without_filters() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("1.chunk");
        write_v1(
            &p,
            &[labels("a"), labels("b")],
            &[
                (0, b"first".to_vec(), 1, 5, 2, 10),
                (1, b"second".to_vec(), 3, 9, 1, 4),
            ],
        );
        let f = ChunkFile::open(&p, 1).unwrap();
        assert_streams_a_b(&f);
        assert_eq!(f.read_block(0).unwrap(), b"first");
        assert_eq!(f.read_block(1).unwrap(), b"second");
        assert_eq!(f.blocks[1].min_ts, 3);
        assert_eq!(f.read_filter(1).unwrap(), None);
        assert_eq!(filters_of(&f, &[0, 1]), vec![(0, None), (1, None)]);
        // A version this build does not know is refused.
        let mut bytes = fs::read(&p).unwrap();
        let v = bytes.len() - 12;
        bytes[v..v + 4].copy_from_slice(&3u32.to_le_bytes());
        fs::write(&p, &bytes).unwrap();
        assert!(matches!(
            ChunkFile::open(&p, 1),
            Err(StorageError::Version { found: 3, .. })
        ));
    }
}
