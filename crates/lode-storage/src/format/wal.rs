//! The write-ahead log. Every accepted push is one record, framed with its
//! length and CRC32; a torn or corrupt tail (a crash mid-write) is cut off on
//! replay. Records carry a sequence number; the manifest's checkpoint says
//! which records are already in chunk files. Layout: `docs/storage.md`
//! ("Write-ahead log").

use super::varint::{put_bytes, put_ivarint, put_uvarint, Reader};
use crate::error::{Result, StorageError};
use lode_proto::{Entry, PushStream};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// A record larger than this is corrupt.
const MAX_RECORD: u32 = 1 << 30;
const SEGMENT_EXT: &str = "wal";

/// One stream of a record: its labels and entries.
pub type StreamParts<'a> = (&'a [(String, String)], &'a [Entry]);

/// Appends one framed record for `streams` of `tenant`, pushed at
/// `pushed_at` (store clock, ns), to `out`.
pub fn encode_record<'a, I>(out: &mut Vec<u8>, seq: u64, tenant: &str, pushed_at: i64, streams: I)
where
    I: IntoIterator<Item = StreamParts<'a>>,
    I::IntoIter: ExactSizeIterator,
{
    let streams = streams.into_iter();
    let start = out.len();
    out.extend_from_slice(&[0u8; 8]);
    out.extend_from_slice(&seq.to_le_bytes());
    put_bytes(out, tenant.as_bytes());
    put_uvarint(out, streams.len() as u64);
    for (labels, entries) in streams {
        put_uvarint(out, labels.len() as u64);
        for (k, v) in labels {
            put_bytes(out, k.as_bytes());
            put_bytes(out, v.as_bytes());
        }
        put_uvarint(out, entries.len() as u64);
        for e in entries {
            put_ivarint(out, e.ts);
            put_bytes(out, e.line.as_bytes());
            put_uvarint(out, e.structured_metadata.len() as u64);
            for (k, v) in &e.structured_metadata {
                put_bytes(out, k.as_bytes());
                put_bytes(out, v.as_bytes());
            }
        }
    }
    // After the streams, so that readers of records without it (and older
    // builds reading new records) need no other layout.
    out.extend_from_slice(&pushed_at.to_le_bytes());
    let payload_len = (out.len() - start - 8) as u32;
    let crc = crc32fast::hash(&out[start + 8..]);
    out[start..start + 4].copy_from_slice(&payload_len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// A decoded record.
#[derive(Debug)]
pub struct Record {
    pub seq: u64,
    pub tenant: String,
    pub streams: Vec<PushStream>,
    /// When the push was accepted (store clock, ns); `None` in records
    /// written before Lode recorded it.
    pub pushed_at: Option<i64>,
}

fn decode_payload(p: &[u8]) -> Result<Record> {
    let mut r = Reader::new(p);
    let seq = r.u64_le()?;
    let tenant = r.str()?.to_string();
    let n = r.uvarint()? as usize;
    if n > r.remaining() {
        return Err(StorageError::Corrupt("wal stream count".into()));
    }
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        let nl = r.uvarint()? as usize;
        if nl > r.remaining() {
            return Err(StorageError::Corrupt("wal label count".into()));
        }
        let mut labels = Vec::with_capacity(nl);
        for _ in 0..nl {
            labels.push((r.str()?.to_string(), r.str()?.to_string()));
        }
        let ne = r.uvarint()? as usize;
        if ne > r.remaining() {
            return Err(StorageError::Corrupt("wal entry count".into()));
        }
        let mut entries = Vec::with_capacity(ne);
        for _ in 0..ne {
            let ts = r.ivarint()?;
            let line = r.str()?.to_string();
            let nm = r.uvarint()? as usize;
            if nm > r.remaining() {
                return Err(StorageError::Corrupt("wal metadata count".into()));
            }
            let mut sm = Vec::with_capacity(nm);
            for _ in 0..nm {
                sm.push((r.str()?.to_string(), r.str()?.to_string()));
            }
            entries.push(Entry {
                ts,
                line,
                structured_metadata: sm,
            });
        }
        streams.push(PushStream { labels, entries });
    }
    let pushed_at = match r.remaining() {
        0 => None,
        8 => Some(r.u64_le()? as i64),
        _ => return Err(StorageError::Corrupt("wal record trailer".into())),
    };
    Ok(Record {
        seq,
        tenant,
        streams,
        pushed_at,
    })
}

/// Decodes framed records back to back (what a writer's feed sends):
/// every frame must check out.
pub fn decode_frames(mut buf: &[u8], mut on: impl FnMut(Record) -> Result<()>) -> Result<()> {
    while !buf.is_empty() {
        let payload =
            frame_at(buf, 0).ok_or_else(|| StorageError::Corrupt("feed record frame".into()))?;
        let len = payload.len();
        on(decode_payload(payload)?)?;
        buf = &buf[8 + len..];
    }
    Ok(())
}

/// The path of the segment whose first record is `first_seq`.
pub fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("{first_seq:020}.{SEGMENT_EXT}"))
}

/// Segments in the directory, sorted by their first sequence number.
pub fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir)? {
        let p = e?.path();
        if p.extension().and_then(|x| x.to_str()) != Some(SEGMENT_EXT) {
            continue;
        }
        if let Some(seq) = p
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<u64>().ok())
        {
            out.push((seq, p));
        }
    }
    out.sort();
    Ok(out)
}

/// What replay found.
#[derive(Debug, Default)]
pub struct ReplayStats {
    pub records: u64,
    pub applied: u64,
    pub max_seq: u64,
    /// Bytes of torn tails cut off (kept beside the segment, see `replay`).
    pub truncated_bytes: u64,
    /// Damaged records skipped in the middle of a segment (the records
    /// after them were read).
    pub corrupt_records: u64,
}

/// A record frame at `pos` whose length and CRC check out: its payload.
fn frame_at(buf: &[u8], pos: usize) -> Option<&[u8]> {
    let head = buf.get(pos..pos.checked_add(8)?)?;
    let len = u32::from_le_bytes(head[..4].try_into().ok()?);
    let crc = u32::from_le_bytes(head[4..].try_into().ok()?);
    if len > MAX_RECORD {
        return None;
    }
    let payload = buf.get(pos + 8..(pos + 8).checked_add(len as usize)?)?;
    (crc32fast::hash(payload) == crc).then_some(payload)
}

/// The offset of the next intact record after damage at `from`: one whose
/// frame checks out and whose sequence number follows `after` (the last
/// good record's, or just before the segment's first). Candidates are
/// filtered by that sequence number first, so the scan is linear.
fn resync(buf: &[u8], from: usize, after: u64) -> Option<usize> {
    let window = after.saturating_add(1)..=after.saturating_add(1 << 20);
    (from..buf.len().saturating_sub(16)).find(|&o| {
        let seq = buf
            .get(o + 8..o + 16)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes);
        seq.is_some_and(|s| window.contains(&s)) && frame_at(buf, o).is_some()
    })
}

/// What [`scan_segment`] found in one segment's bytes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SegmentScan {
    /// Where the intact records end: everything after is a torn tail.
    pub good_end: usize,
    /// Damaged records skipped with intact records after them.
    pub corrupt_records: u64,
}

/// Walks the records of one segment (`buf`, whose first record has
/// sequence number `first_seq`), calling `on` with each intact record, the
/// offset and length of its frame and, when damage was skipped just before
/// it, the damaged range's offset and length. Pure over bytes, so it is also
/// the WAL's fuzz target.
pub fn scan_segment(
    buf: &[u8],
    first_seq: u64,
    mut on: impl FnMut(Record, (usize, usize), Option<(usize, usize)>) -> Result<()>,
) -> Result<SegmentScan> {
    let mut pos = 0usize;
    let mut last = first_seq.saturating_sub(1);
    let mut corrupt_records = 0;
    let mut skipped = None;
    loop {
        if pos == buf.len() {
            break;
        }
        let rec = frame_at(buf, pos).and_then(|p| decode_payload(p).ok().map(|r| (r, p.len())));
        let Some((rec, len)) = rec else {
            match resync(buf, pos + 1, last) {
                Some(next) => {
                    corrupt_records += 1;
                    skipped = Some((pos, next - pos));
                    pos = next;
                    continue;
                }
                None => break,
            }
        };
        last = last.max(rec.seq);
        on(rec, (pos, 8 + len), skipped.take())?;
        pos += 8 + len;
    }
    Ok(SegmentScan {
        good_end: pos,
        corrupt_records,
    })
}

/// Replays every record with `seq > checkpoint` in order.
///
/// A damaged record (bad CRC, impossible length, undecodable payload) with
/// intact records after it is skipped, logged as an ERROR and counted; the
/// records after it are replayed and nothing is cut. Only a damaged *tail*
/// (nothing intact follows: a write torn by a crash, never acknowledged) is
/// cut off, and its bytes are first kept beside the segment as
/// `<segment>.cut-<offset>` for inspection.
pub fn replay(
    dir: &Path,
    checkpoint: u64,
    apply: impl FnMut(Record) -> Result<()>,
) -> Result<ReplayStats> {
    replay_located(dir, checkpoint, apply, |_, _| {})
}

/// Where an intact record's frame is: its sequence number, its segment
/// (by first sequence number), offset and frame length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordAt {
    pub seq: u64,
    pub segment: u64,
    pub offset: u64,
    pub len: u32,
}

/// [`replay`], also telling `located` where every intact record is (those
/// at or below the checkpoint too, in order).
pub fn replay_located(
    dir: &Path,
    checkpoint: u64,
    mut apply: impl FnMut(Record) -> Result<()>,
    mut located: impl FnMut(RecordAt, &Record),
) -> Result<ReplayStats> {
    let mut stats = ReplayStats {
        max_seq: checkpoint,
        ..Default::default()
    };
    for (first_seq, path) in list_segments(dir)? {
        let mut buf = Vec::new();
        File::open(&path)?.read_to_end(&mut buf)?;
        let scan = scan_segment(&buf, first_seq, |rec, (offset, len), skipped| {
            if let Some((offset, bytes)) = skipped {
                tracing::error!(
                    segment = %path.display(),
                    offset,
                    bytes,
                    "damaged write-ahead log record skipped; the records after it are replayed"
                );
            }
            stats.records += 1;
            stats.max_seq = stats.max_seq.max(rec.seq);
            let at = RecordAt {
                seq: rec.seq,
                segment: first_seq,
                offset: offset as u64,
                len: len as u32,
            };
            located(at, &rec);
            if rec.seq > checkpoint {
                stats.applied += 1;
                apply(rec)?;
            }
            Ok(())
        })?;
        stats.corrupt_records += scan.corrupt_records;
        let good_end = scan.good_end;
        if good_end < buf.len() {
            let cut = (buf.len() - good_end) as u64;
            let keep = path.with_extension(format!("{SEGMENT_EXT}.cut-{good_end}"));
            fs::write(&keep, &buf[good_end..])
                .and_then(|_| File::open(&keep)?.sync_all())
                .map_err(|e| StorageError::from_io(&format!("keeping {}", keep.display()), e))?;
            tracing::warn!(segment = %path.display(), bytes = cut, kept = %keep.display(), "cutting a torn write-ahead log tail");
            stats.truncated_bytes += cut;
            let f = OpenOptions::new().write(true).open(&path)?;
            f.set_len(good_end as u64)?;
            f.sync_all()?;
        }
    }
    Ok(stats)
}

/// The open, current segment.
pub struct WalWriter {
    dir: PathBuf,
    file: File,
    first_seq: u64,
    len: u64,
}

impl WalWriter {
    /// Starts a new segment whose first record will be `next_seq`.
    pub fn create(dir: &Path, next_seq: u64) -> Result<WalWriter> {
        let path = segment_path(dir, next_seq);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| StorageError::from_io("creating wal segment", e))?;
        let len = file.metadata()?.len();
        super::chunk_file::sync_dir(dir)?;
        Ok(WalWriter {
            dir: dir.to_path_buf(),
            file,
            first_seq: next_seq,
            len,
        })
    }

    pub fn first_seq(&self) -> u64 {
        self.first_seq
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes framed records; on failure the segment is cut back so that
    /// no partial record stays behind.
    pub fn append(&mut self, bytes: &[u8], sync: bool) -> Result<()> {
        let res =
            self.file
                .write_all(bytes)
                .and_then(|_| if sync { self.file.sync_data() } else { Ok(()) });
        match res {
            Ok(()) => {
                self.len += bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                let _ = self.file.set_len(self.len);
                Err(StorageError::from_io("writing wal", e))
            }
        }
    }

    /// Test hook: writes `bytes` like `append`, then fails as an fsync
    /// reporting EIO would (the bytes are cut back, as on any failure).
    pub fn append_with_failing_sync(&mut self, bytes: &[u8]) -> Result<()> {
        let res = self.file.write_all(bytes);
        let _ = self.file.set_len(self.len);
        res.map_err(|e| StorageError::from_io("writing wal", e))?;
        Err(StorageError::from_io(
            "syncing wal",
            std::io::Error::from_raw_os_error(5),
        ))
    }

    /// Leaves the current segment as it is (no fsync: it just failed) and
    /// continues in a new one whose first record will be `next_seq`.
    pub fn restart_at(&mut self, next_seq: u64) -> Result<()> {
        *self = WalWriter::create(&self.dir, next_seq)?;
        Ok(())
    }

    pub fn sync(&mut self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(|e| StorageError::from_io("syncing wal", e))
    }

    /// Closes this segment and starts the next one at `next_seq`.
    pub fn rotate(&mut self, next_seq: u64) -> Result<()> {
        self.sync()?;
        *self = WalWriter::create(&self.dir, next_seq)?;
        Ok(())
    }
}

/// Deletes every segment all of whose records are `<= checkpoint`: a
/// segment's last record is just before the next segment's first.
pub fn remove_covered(dir: &Path, checkpoint: u64) -> Result<usize> {
    let segs = list_segments(dir)?;
    let mut removed = 0;
    for w in segs.windows(2) {
        let (_, ref path) = w[0];
        let next_first = w[1].0;
        if next_first.saturating_sub(1) <= checkpoint {
            fs::remove_file(path)?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(app: &str, lines: &[&str]) -> PushStream {
        PushStream {
            labels: vec![("app".into(), app.into())],
            entries: lines
                .iter()
                .enumerate()
                .map(|(i, l)| Entry {
                    ts: i as i64 * 10,
                    line: l.to_string(),
                    structured_metadata: vec![("detected_level".into(), "info".into())],
                })
                .collect(),
        }
    }

    fn rec(s: &PushStream) -> [StreamParts<'_>; 1] {
        [(&s.labels, &s.entries)]
    }

    fn collect(dir: &Path, cp: u64) -> (Vec<Record>, ReplayStats) {
        let mut v = Vec::new();
        let st = replay(dir, cp, |r| {
            v.push(r);
            Ok(())
        })
        .unwrap();
        (v, st)
    }

    #[test]
    fn write_replay_and_checkpoint() {
        let d = tempfile::tempdir().unwrap();
        let mut w = WalWriter::create(d.path(), 1).unwrap();
        for seq in 1..=3 {
            let mut b = Vec::new();
            encode_record(&mut b, seq, "fake", 7, rec(&stream("a", &["x", "y"])));
            w.append(&b, true).unwrap();
        }
        w.rotate(4).unwrap();
        let mut b = Vec::new();
        encode_record(&mut b, 4, "t2", 8, rec(&stream("b", &["z"])));
        w.append(&b, true).unwrap();
        let (recs, st) = collect(d.path(), 2);
        assert_eq!(recs.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![3, 4]);
        assert_eq!(st.max_seq, 4);
        assert_eq!(recs[1].tenant, "t2");
        assert_eq!(recs[0].streams[0].entries[1].line, "y");
        assert_eq!(recs[0].pushed_at, Some(7));
        assert_eq!(recs[1].pushed_at, Some(8));
        assert_eq!(remove_covered(d.path(), 3).unwrap(), 1);
        assert_eq!(list_segments(d.path()).unwrap().len(), 1);
    }

    /// Records written before the push time was recorded still replay.
    #[test]
    fn records_without_a_push_time_replay() {
        let d = tempfile::tempdir().unwrap();
        let mut b = Vec::new();
        encode_record(&mut b, 1, "fake", 42, rec(&stream("a", &["x"])));
        // The older layout: the same payload without the 8-byte trailer.
        let payload = &b[8..b.len() - 8];
        let mut old = Vec::new();
        old.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        old.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        old.extend_from_slice(payload);
        let mut w = WalWriter::create(d.path(), 1).unwrap();
        w.append(&old, true).unwrap();
        w.append(
            &{
                let mut n = Vec::new();
                encode_record(&mut n, 2, "fake", 43, rec(&stream("a", &["y"])));
                n
            },
            true,
        )
        .unwrap();
        let (recs, st) = collect(d.path(), 0);
        assert_eq!(st.truncated_bytes, 0);
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].pushed_at, None);
        assert_eq!(recs[0].streams[0].entries[0].line, "x");
        assert_eq!(recs[1].pushed_at, Some(43));
    }

    /// A flipped byte in an early record loses that record only: the nine
    /// after it replay, nothing is cut on disk; the same with a damaged
    /// length field.
    #[test]
    fn damage_in_the_middle_skips_one_record_and_keeps_the_rest() {
        for flip in [12usize, 1] {
            let d = tempfile::tempdir().unwrap();
            let mut w = WalWriter::create(d.path(), 1).unwrap();
            let mut b = Vec::new();
            let mut starts = Vec::new();
            for seq in 1..=10 {
                starts.push(b.len());
                encode_record(
                    &mut b,
                    seq,
                    "fake",
                    0,
                    rec(&stream("a", &[&format!("line {seq}")])),
                );
            }
            // Damage record 1 (the second): a payload byte, or its length.
            b[starts[1] + flip] ^= 0x40;
            w.append(&b, true).unwrap();
            let before = b.len();
            let (recs, st) = collect(d.path(), 0);
            let seqs: Vec<u64> = recs.iter().map(|r| r.seq).collect();
            assert_eq!(seqs, [1, 3, 4, 5, 6, 7, 8, 9, 10], "flip at {flip}");
            assert_eq!(st.corrupt_records, 1);
            assert_eq!(st.truncated_bytes, 0);
            let seg = &list_segments(d.path()).unwrap()[0].1;
            assert_eq!(
                fs::metadata(seg).unwrap().len() as usize,
                before,
                "nothing cut"
            );
        }
    }

    #[test]
    fn torn_tail_is_cut() {
        let d = tempfile::tempdir().unwrap();
        let mut w = WalWriter::create(d.path(), 1).unwrap();
        let mut b = Vec::new();
        encode_record(&mut b, 1, "fake", 0, rec(&stream("a", &["x"])));
        let one = b.len();
        encode_record(&mut b, 2, "fake", 0, rec(&stream("a", &["y"])));
        w.append(&b[..b.len() - 3], true).unwrap();
        let (recs, st) = collect(d.path(), 0);
        assert_eq!(recs.len(), 1);
        assert_eq!(st.truncated_bytes as usize, b.len() - 3 - one);
        let seg = &list_segments(d.path()).unwrap()[0].1;
        assert_eq!(fs::metadata(seg).unwrap().len() as usize, one);
        // The cut bytes are kept beside the segment, which is not replayed.
        let kept = seg.with_extension(format!("wal.cut-{one}"));
        assert_eq!(fs::read(&kept).unwrap(), &b[one..b.len() - 3]);
        assert_eq!(list_segments(d.path()).unwrap().len(), 1);
    }
}
