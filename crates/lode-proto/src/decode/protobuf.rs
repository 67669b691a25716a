//! `application/x-protobuf`: snappy block format around `logproto.PushRequest`.

use prost::Message;

use super::{push_wire, utf8_lossy, DecodeOptions};
use crate::error::ProtoError;
use crate::labels::parse_labels;
use crate::wire::{google::protobuf::Timestamp, logproto};
use crate::{Entry, PushRequest, PushStream};

/// [`decode_protobuf_with`] with default limits.
pub fn decode_protobuf(body: &[u8]) -> Result<PushRequest, ProtoError> {
    decode_protobuf_with(DecodeOptions::default(), body)
}

/// Decodes a snappy (block format, not framed) compressed `PushRequest`.
/// The snappy header's claimed length is checked against the cap before
/// anything is allocated; the decoder then verifies it against the data.
pub fn decode_protobuf_with(opts: DecodeOptions, body: &[u8]) -> Result<PushRequest, ProtoError> {
    let len = snap::raw::decompress_len(body).map_err(snappy_error)?;
    if len > opts.max_decompressed_bytes {
        return Err(ProtoError::TooLarge {
            limit: opts.max_decompressed_bytes,
        });
    }
    // The header is a claim the sender makes: no snappy block expands more
    // than 64 bytes per 3-byte copy element, so a claim past that ratio is
    // corrupt, and refused before a buffer of that size exists (a 9-byte
    // body claiming 512 MiB would otherwise pin 512 MiB per request).
    if len
        > body
            .len()
            .saturating_mul(MAX_SNAPPY_RATIO)
            .saturating_add(64)
    {
        return Err(ProtoError::Snappy("snappy: corrupt input"));
    }
    // Held until the request is decoded (the decompressed bytes live until
    // then, in the per-thread buffer).
    let mut held = super::budget::Reservation::default();
    held.grow(len)?;
    SNAPPY_OUT.with_borrow_mut(|raw| {
        // Reused per thread: a fresh zeroed buffer per push showed in
        // profiles as page faults.
        raw.clear();
        // Exact: kept per thread, doubling would keep twice the body.
        raw.reserve_exact(len);
        raw.resize(len, 0);
        let n = snap::raw::Decoder::new()
            .decompress(body, raw)
            .map_err(snappy_error)?;
        raw.truncate(n);
        // Decoded, a stream costs far more than its bytes on the wire (a
        // 30-byte stream becomes a few hundred bytes of vectors and
        // strings): reserved before decoding, so that pushes of 200k tiny
        // streams are refused (503) instead of adding up past the budget.
        held.grow(
            push_wire::stream_count(raw)
                .saturating_mul(DECODED_STREAM_BYTES)
                .saturating_add(n),
        )?;
        let res = match push_wire::decode(raw) {
            Some(req) => Ok(req),
            None => logproto::PushRequest::decode(raw.as_slice())
                .map_err(|e| ProtoError::Protobuf(prost_reason(&e)))
                .and_then(from_wire),
        };
        if raw.capacity() > KEEP_SNAPPY_OUT {
            *raw = Vec::new();
        }
        res
    })
}

/// What one decoded stream costs beyond its bytes (labels parsed into
/// pairs, the entry vector, allocator overhead).
const DECODED_STREAM_BYTES: usize = 256;

/// The most a snappy block can expand: a 3-byte copy element yields at
/// most 64 bytes (a 2-byte one at most 11, literals 1 per byte).
const MAX_SNAPPY_RATIO: usize = 22;

/// Decompressed bodies up to this size keep their buffer for the next push.
const KEEP_SNAPPY_OUT: usize = 8 << 20;

thread_local! {
    static SNAPPY_OUT: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

pub(super) fn from_wire(wire: logproto::PushRequest) -> Result<PushRequest, ProtoError> {
    let mut streams = Vec::with_capacity(wire.streams.len());
    for s in wire.streams {
        let labels = match std::str::from_utf8(&s.labels) {
            Ok(text) => parse_labels(text)?,
            Err(_) => {
                return Err(ProtoError::LabelParse {
                    labels: String::from_utf8_lossy(&s.labels).into_owned(),
                    reason: "invalid UTF-8 in labels".to_owned(),
                })
            }
        };
        let entries = s
            .entries
            .into_iter()
            .map(|e| Entry {
                ts: timestamp_nanos(e.timestamp),
                line: utf8_lossy(e.line),
                structured_metadata: e
                    .structured_metadata
                    .into_iter()
                    .map(|p| (utf8_lossy(p.name), utf8_lossy(p.value)))
                    .collect(),
            })
            .collect();
        streams.push(PushStream { labels, entries });
    }
    Ok(PushRequest { streams })
}

/// Missing timestamps read as the epoch (the proto zero value); values out
/// of the i64 nanosecond range saturate and are rejected later as too old
/// or too new, like Loki's.
fn timestamp_nanos(ts: Option<Timestamp>) -> i64 {
    let Some(ts) = ts else { return 0 };
    ts.seconds
        .saturating_mul(1_000_000_000)
        .saturating_add(i64::from(ts.nanos))
}

/// Go's snappy package words, which Loki passes through.
#[cfg(test)]
mod bound_tests {
    use super::*;

    /// A header claiming far more than the body can hold is refused as
    /// corrupt before anything is allocated; honest highly repetitive bodies
    /// (snappy's best case) still decode.
    #[test]
    fn claimed_length_is_bounded_by_the_body() {
        // varint 50 MiB (under the 100 MiB cap), then a few bytes of nothing.
        let mut bomb = Vec::new();
        let mut n = 50u64 << 20;
        while n >= 0x80 {
            bomb.push((n as u8) | 0x80);
            n >>= 7;
        }
        bomb.push(n as u8);
        bomb.extend_from_slice(&[0, 0, 0, 0]);
        let e = decode_protobuf(&bomb).unwrap_err();
        assert_eq!(e.to_string(), "snappy: corrupt input");
        // The best ratio snappy itself produces stays accepted.
        let zeros = vec![0u8; 4 << 20];
        let c = snap::raw::Encoder::new().compress_vec(&zeros).unwrap();
        let len = snap::raw::decompress_len(&c).unwrap();
        assert!(
            len <= c.len() * MAX_SNAPPY_RATIO + 64,
            "{} -> {len}",
            c.len()
        );
    }
}

fn snappy_error(e: snap::Error) -> ProtoError {
    match e {
        snap::Error::TooBig { .. } => ProtoError::Snappy("snappy: decoded block is too large"),
        _ => ProtoError::Snappy("snappy: corrupt input"),
    }
}

fn prost_reason(e: &prost::DecodeError) -> String {
    let text = e.to_string();
    text.strip_prefix("failed to decode Protobuf message: ")
        .map(str::to_owned)
        .unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::logproto::{EntryAdapter, LabelPairAdapter, StreamAdapter};

    fn entry(sec: i64, nanos: i32, line: &[u8], sm: &[(&str, &str)]) -> EntryAdapter {
        EntryAdapter {
            timestamp: Some(Timestamp {
                seconds: sec,
                nanos,
            }),
            line: line.to_vec(),
            structured_metadata: sm
                .iter()
                .map(|(n, v)| LabelPairAdapter {
                    name: n.as_bytes().to_vec(),
                    value: v.as_bytes().to_vec(),
                })
                .collect(),
            parsed: vec![],
        }
    }

    fn encode(req: &logproto::PushRequest) -> Vec<u8> {
        snap::raw::Encoder::new()
            .compress_vec(&req.encode_to_vec())
            .unwrap()
    }

    fn sample() -> logproto::PushRequest {
        logproto::PushRequest {
            streams: vec![
                StreamAdapter {
                    labels: br#"{job="k3s", app="api", empty=""}"#.to_vec(),
                    entries: vec![
                        entry(1_700_000_000, 5, b"hello", &[("trace_id", "abc")]),
                        entry(1_699_999_999, 0, b"", &[]),
                    ],
                    hash: 42,
                },
                StreamAdapter {
                    labels: br#"{app="db"}"#.to_vec(),
                    entries: vec![entry(0, 1, "ünï".as_bytes(), &[])],
                    hash: 0,
                },
            ],
            format: vec![],
        }
    }

    #[test]
    fn round_trip() {
        let got = decode_protobuf(&encode(&sample())).unwrap();
        let s0 = &got.streams[0];
        assert_eq!(
            s0.labels,
            vec![
                ("app".to_owned(), "api".to_owned()),
                ("job".to_owned(), "k3s".to_owned())
            ]
        );
        assert_eq!(
            s0.entries[0],
            Entry {
                ts: 1_700_000_000_000_000_005,
                line: "hello".into(),
                structured_metadata: vec![("trace_id".into(), "abc".into())]
            }
        );
        assert_eq!(s0.entries[1].ts, 1_699_999_999_000_000_000);
        assert_eq!(s0.entries[1].line, "");
        assert_eq!(got.streams[1].entries[0].line, "ünï");
        assert_eq!(got.entry_count(), 3);
    }

    #[test]
    fn invalid_utf8_line_is_repaired_not_fatal() {
        let mut req = sample();
        req.streams[0].entries[0].line = b"ok \xff\xfe end".to_vec();
        req.streams[0].entries[0].structured_metadata[0].value = b"\xc3".to_vec();
        let got = decode_protobuf(&encode(&req)).unwrap();
        assert_eq!(got.streams[0].entries[0].line, "ok \u{fffd}\u{fffd} end");
        assert_eq!(
            got.streams[0].entries[0].structured_metadata[0].1,
            "\u{fffd}"
        );
    }

    #[test]
    fn missing_timestamp_is_epoch_and_huge_saturates() {
        let mut req = sample();
        req.streams[0].entries[0].timestamp = None;
        req.streams[0].entries[1].timestamp = Some(Timestamp {
            seconds: i64::MAX,
            nanos: 0,
        });
        let got = decode_protobuf(&encode(&req)).unwrap();
        assert_eq!(got.streams[0].entries[0].ts, 0);
        assert_eq!(got.streams[0].entries[1].ts, i64::MAX);
    }

    #[test]
    fn bad_labels_fail_with_loki_text() {
        let mut req = sample();
        req.streams[1].labels = b"{}".to_vec();
        assert_eq!(
            decode_protobuf(&encode(&req)).unwrap_err().to_string(),
            "error at least one label pair is required per stream"
        );
        req.streams[1].labels = br#"{a="1",a="2"}"#.to_vec();
        assert_eq!(
            decode_protobuf(&encode(&req)).unwrap_err().to_string(),
            r#"stream '{a="1", a="2"}' has duplicate label name: 'a'"#
        );
        req.streams[1].labels = b"{a=\"\xff\"}".to_vec();
        assert_eq!(
            decode_protobuf(&encode(&req)).unwrap_err().to_string(),
            "error parsing labels '{a=\"\u{fffd}\"}' with error: invalid UTF-8 in labels"
        );
    }

    #[test]
    fn corrupt_and_truncated_snappy() {
        let body = encode(&sample());
        for bad in [
            &body[..body.len() / 2],
            &b""[..],
            &b"\xff\xff\xff\xff\xff\xff"[..],
            &b"\x05\x00"[..],
        ] {
            let e = decode_protobuf(bad).unwrap_err();
            assert_eq!(e.to_string(), "snappy: corrupt input", "{bad:?}");
            assert_eq!(e.status(), 400);
        }
    }

    #[test]
    fn snappy_length_over_cap_is_413_before_allocating() {
        let body = encode(&sample());
        let e = decode_protobuf_with(
            DecodeOptions {
                max_decompressed_bytes: 8,
            },
            &body,
        )
        .unwrap_err();
        assert_eq!(e, ProtoError::TooLarge { limit: 8 });
        assert_eq!(e.status(), 413);
        // A header claiming ~4 GiB of output over a tiny body.
        let lying = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00];
        assert_eq!(decode_protobuf(&lying).unwrap_err().status(), 413);
    }

    #[test]
    fn malformed_protobuf() {
        for raw in [
            &b"\x0a\x05ab"[..],
            &b"\x0f"[..],
            &b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"[..],
        ] {
            let body = snap::raw::Encoder::new().compress_vec(raw).unwrap();
            let e = decode_protobuf(&body).unwrap_err();
            assert!(matches!(e, ProtoError::Protobuf(_)), "{raw:?}: {e:?}");
            assert!(e.to_string().starts_with("proto: "), "{e}");
            assert_eq!(e.status(), 400);
        }
    }

    #[test]
    fn empty_request_is_empty() {
        let body = snap::raw::Encoder::new().compress_vec(&[]).unwrap();
        assert_eq!(decode_protobuf(&body).unwrap(), PushRequest::default());
    }
}
