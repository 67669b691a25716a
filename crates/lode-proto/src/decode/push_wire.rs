//! A direct reader for `logproto.PushRequest` bytes into the push model.
//!
//! prost first builds its own tree (a `Vec<u8>` per line and per metadata
//! name and value, vectors grown one entry at a time) that `from_wire` then
//! converts; this reader goes straight from the bytes to [`PushRequest`]
//! with every vector sized up front. It only takes the well-formed path: on
//! anything unusual (a malformed or unexpected field, bad labels) it returns
//! `None` and the caller decodes with prost, so errors, their wording and
//! their order stay prost's. The tests check both agree on any input.

use crate::labels::parse_labels;
use crate::{Entry, PushRequest, PushStream};

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

/// `None`: not decoded here, use the general decoder.
pub(super) fn decode(buf: &[u8]) -> Option<PushRequest> {
    let mut streams = Vec::with_capacity(count(buf, 1, LEN)?);
    let mut r = Reader { buf, pos: 0 };
    while let Some((field, wt)) = r.key()? {
        match (field, wt) {
            (1, LEN) => streams.push(stream(r.len_delimited()?)?),
            (2, LEN) => r.skip(wt)?,
            (1 | 2, _) => return None,
            _ => r.skip(wt)?,
        }
    }
    Some(PushRequest { streams })
}

fn stream(buf: &[u8]) -> Option<PushStream> {
    let mut entries = Vec::with_capacity(count(buf, 2, LEN)?);
    let mut labels: &[u8] = &[];
    let mut r = Reader { buf, pos: 0 };
    while let Some((field, wt)) = r.key()? {
        match (field, wt) {
            (1, LEN) => labels = r.len_delimited()?,
            (2, LEN) => entries.push(entry(r.len_delimited()?)?),
            (3, VARINT) => r.skip(wt)?,
            (1..=3, _) => return None,
            _ => r.skip(wt)?,
        }
    }
    let labels = parse_labels(std::str::from_utf8(labels).ok()?).ok()?;
    Some(PushStream { labels, entries })
}

fn entry(buf: &[u8]) -> Option<Entry> {
    let mut structured_metadata = Vec::with_capacity(count(buf, 3, LEN)?);
    let (mut seconds, mut nanos) = (0i64, 0i32);
    let mut has_ts = false;
    let mut line: &[u8] = &[];
    let mut r = Reader { buf, pos: 0 };
    while let Some((field, wt)) = r.key()? {
        match (field, wt) {
            (1, LEN) => {
                // A repeated embedded message merges field by field.
                has_ts = true;
                let mut t = Reader {
                    buf: r.len_delimited()?,
                    pos: 0,
                };
                while let Some((f, w)) = t.key()? {
                    match (f, w) {
                        (1, VARINT) => seconds = t.varint()? as i64,
                        (2, VARINT) => nanos = t.varint()? as i32,
                        (1 | 2, _) => return None,
                        _ => t.skip(w)?,
                    }
                }
            }
            (2, LEN) => line = r.len_delimited()?,
            (3, LEN) => structured_metadata.push(pair(r.len_delimited()?)?),
            // `parsed`: checked like prost does, then dropped.
            (4, LEN) => drop(pair(r.len_delimited()?)?),
            (1..=4, _) => return None,
            _ => r.skip(wt)?,
        }
    }
    let ts = if has_ts {
        seconds
            .saturating_mul(1_000_000_000)
            .saturating_add(i64::from(nanos))
    } else {
        0
    };
    Some(Entry {
        ts,
        line: lossy(line),
        structured_metadata,
    })
}

fn pair(buf: &[u8]) -> Option<(String, String)> {
    let (mut name, mut value): (&[u8], &[u8]) = (&[], &[]);
    let mut r = Reader { buf, pos: 0 };
    while let Some((field, wt)) = r.key()? {
        match (field, wt) {
            (1, LEN) => name = r.len_delimited()?,
            (2, LEN) => value = r.len_delimited()?,
            (1 | 2, _) => return None,
            _ => r.skip(wt)?,
        }
    }
    Some((lossy(name), lossy(value)))
}

/// Invalid UTF-8 is repaired, as the general decoder does.
fn lossy(b: &[u8]) -> String {
    super::utf8_lossy_ref(b)
}

/// Top-level streams of a `PushRequest` (0 when it does not parse).
pub(super) fn stream_count(buf: &[u8]) -> usize {
    count(buf, 1, LEN).unwrap_or(0)
}

/// How many `field` fields of wire type `wt` a message holds (to size its
/// vector); `None` when the message does not parse.
fn count(buf: &[u8], field: u32, wt: u8) -> Option<usize> {
    let mut n = 0;
    let mut r = Reader { buf, pos: 0 };
    while let Some((f, w)) = r.key()? {
        n += usize::from(f == field && w == wt);
        r.skip(w)?;
    }
    Some(n)
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = *self.buf.get(self.pos)?;
            self.pos += 1;
            if i == 9 && b > 1 {
                return None;
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }

    /// The next field's number and wire type; `Some(None)` at the end.
    /// Field 0 and group wire types are left to the general decoder.
    fn key(&mut self) -> Option<Option<(u32, u8)>> {
        if self.pos == self.buf.len() {
            return Some(None);
        }
        let k = u32::try_from(self.varint()?).ok()?;
        let field = Some(k >> 3).filter(|f| *f != 0)?;
        let wt = (k & 7) as u8;
        matches!(wt, VARINT | FIXED64 | LEN | FIXED32).then_some(Some((field, wt)))
    }

    fn len_delimited(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.varint()?).ok()?;
        let end = self.pos.checked_add(len)?;
        let b = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(b)
    }

    fn skip(&mut self, wt: u8) -> Option<()> {
        match wt {
            VARINT => self.varint().map(drop),
            LEN => self.len_delimited().map(drop),
            FIXED64 | FIXED32 => {
                let end = self.pos + if wt == FIXED64 { 8 } else { 4 };
                (end <= self.buf.len()).then(|| self.pos = end)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::google::protobuf::Timestamp;
    use crate::wire::logproto::{self, EntryAdapter, LabelPairAdapter, StreamAdapter};
    use proptest::prelude::*;
    use prost::Message;

    /// The general path: prost, then the model conversion.
    fn general(raw: &[u8]) -> Option<PushRequest> {
        let wire = logproto::PushRequest::decode(raw).ok()?;
        super::super::protobuf::from_wire(wire).ok()
    }

    fn pair_strategy() -> impl Strategy<Value = LabelPairAdapter> {
        (
            prop::collection::vec(any::<u8>(), 0..6),
            prop::collection::vec(any::<u8>(), 0..6),
        )
            .prop_map(|(name, value)| LabelPairAdapter { name, value })
    }

    fn request_strategy() -> impl Strategy<Value = logproto::PushRequest> {
        let entry = (
            prop::option::of((any::<i64>(), any::<i32>())),
            prop::collection::vec(any::<u8>(), 0..40),
            prop::collection::vec(pair_strategy(), 0..3),
            prop::collection::vec(pair_strategy(), 0..2),
        )
            .prop_map(|(ts, line, sm, parsed)| EntryAdapter {
                timestamp: ts.map(|(seconds, nanos)| Timestamp { seconds, nanos }),
                line,
                structured_metadata: sm,
                parsed,
            });
        let labels = prop::sample::select(vec![
            r#"{app="a"}"#.to_owned(),
            r#"{job="k", app="x\"y"}"#.to_owned(),
            r#"{a="1", a="2"}"#.to_owned(),
            "{}".to_owned(),
            "not labels".to_owned(),
        ]);
        let stream = (labels, prop::collection::vec(entry, 0..5), any::<u64>()).prop_map(
            |(labels, entries, hash)| StreamAdapter {
                labels: labels.into_bytes(),
                entries,
                hash,
            },
        );
        (
            prop::collection::vec(stream, 0..4),
            prop::collection::vec(any::<u8>(), 0..4),
        )
            .prop_map(|(streams, format)| logproto::PushRequest { streams, format })
    }

    #[test]
    fn reads_what_prost_writes() {
        let req = logproto::PushRequest {
            streams: vec![StreamAdapter {
                labels: br#"{job="k3s", app="api"}"#.to_vec(),
                entries: vec![EntryAdapter {
                    timestamp: Some(Timestamp {
                        seconds: 1_700_000_000,
                        nanos: 5,
                    }),
                    line: b"hello \xff".to_vec(),
                    structured_metadata: vec![LabelPairAdapter {
                        name: b"trace_id".to_vec(),
                        value: b"abc".to_vec(),
                    }],
                    parsed: vec![],
                }],
                hash: 7,
            }],
            format: b"x".to_vec(),
        };
        let got = decode(&req.encode_to_vec()).unwrap();
        assert_eq!(got, general(&req.encode_to_vec()).unwrap());
        let e = &got.streams[0].entries[0];
        assert_eq!(e.ts, 1_700_000_000_000_000_005);
        assert_eq!(e.line, "hello \u{fffd}");
        assert_eq!(got.streams[0].labels[0], ("app".into(), "api".into()));
    }

    #[test]
    fn repeated_fields_last_wins_and_messages_merge() {
        // Entry: timestamp{seconds=1}, line "a", timestamp{nanos=2}, line "b".
        let entry = [
            0x0a, 0x02, 0x08, 0x01, 0x12, 0x01, b'a', 0x0a, 0x02, 0x10, 0x02, 0x12, 0x01, b'b',
        ];
        let mut stream = vec![0x0a, 0x09];
        stream.extend_from_slice(br#"{app="a"}"#);
        stream.extend_from_slice(&[0x12, entry.len() as u8]);
        stream.extend_from_slice(&entry);
        let mut raw = vec![0x0a, stream.len() as u8];
        raw.extend_from_slice(&stream);
        let got = decode(&raw).unwrap();
        assert_eq!(got, general(&raw).unwrap());
        assert_eq!(got.streams[0].entries[0].ts, 1_000_000_002);
        assert_eq!(got.streams[0].entries[0].line, "b");
    }

    #[test]
    fn unusual_input_is_left_to_prost() {
        for raw in [
            &b"\x0a\x05ab"[..],         // truncated
            &b"\x0f"[..],               // group wire type
            &b"\x08\x01"[..],           // streams with the varint wire type
            &b"\x00\x01"[..],           // field 0
            &b"\x0a\x04\x0a\x02{}"[..], // labels that do not parse
            &b"\x0a\x02\x0a\xff"[..],   // bad length inside
            &b"\x15\x01\x02\x03"[..],   // fixed32 cut short
        ] {
            assert_eq!(decode(raw), None, "{raw:?}");
        }
    }

    proptest! {
        #[test]
        fn agrees_with_prost_on_encoded_requests(req in request_strategy()) {
            let raw = req.encode_to_vec();
            let want = general(&raw);
            match decode(&raw) {
                Some(got) => prop_assert_eq!(Some(got), want),
                None => prop_assert!(want.is_none(), "refused what prost accepts"),
            }
        }

        #[test]
        fn agrees_with_prost_on_damaged_requests(
            req in request_strategy(),
            cut in any::<prop::sample::Index>(),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        ) {
            let mut raw = req.encode_to_vec();
            for (i, b) in flips {
                if !raw.is_empty() {
                    let at = i.index(raw.len());
                    raw[at] = b;
                }
            }
            if !raw.is_empty() {
                raw.truncate(cut.index(raw.len() + 1));
            }
            if let Some(got) = decode(&raw) {
                prop_assert_eq!(Some(got), general(&raw));
            }
        }

        #[test]
        fn never_panics_and_agrees_on_random_bytes(raw in prop::collection::vec(any::<u8>(), 0..300)) {
            if let Some(got) = decode(&raw) {
                prop_assert_eq!(Some(got), general(&raw));
            }
        }
    }
}
