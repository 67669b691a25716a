//! Content-Type / Content-Encoding dispatch, exactly as Loki's push handler
//! does it, with a hard cap on decompressed size.

use std::borrow::Cow;
use std::io::Read;

use super::budget::Reservation;
use super::{json::decode_json, protobuf::decode_protobuf_with};
use crate::error::ProtoError;
use crate::PushRequest;

/// Default cap on a body after HTTP decompression and after snappy.
/// Loki's own default (5000 MiB) is far beyond what one request should
/// be allowed to allocate; shippers send ~1 MiB batches.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 100 << 20;

/// Limits applied while decoding one request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    pub max_decompressed_bytes: usize,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            max_decompressed_bytes: DEFAULT_MAX_DECOMPRESSED_BYTES,
        }
    }
}

/// [`decode_body_with`] with default limits.
pub fn decode_body(
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    body: &[u8],
) -> Result<PushRequest, ProtoError> {
    decode_body_with(
        DecodeOptions::default(),
        content_type,
        content_encoding,
        body,
    )
}

/// Decodes a push body. `Content-Encoding` empty or `snappy` leaves the body
/// as is (a protobuf body is snappy block data either way), `gzip` and
/// `deflate` (raw DEFLATE, like Go's `compress/flate`) are undone first;
/// anything else is rejected. `application/json` selects JSON; no content
/// type, `application/x-protobuf` or any other type selects protobuf.
pub fn decode_body_with(
    opts: DecodeOptions,
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    body: &[u8],
) -> Result<PushRequest, ProtoError> {
    // Held until the request is decoded: what decompression produced.
    let (body, _held) = decompress(
        Protocol::LokiPush,
        content_encoding.unwrap_or(""),
        body,
        opts.max_decompressed_bytes,
    )?;
    if is_json(content_type) {
        if body.len() > opts.max_decompressed_bytes {
            return Err(ProtoError::TooLarge {
                limit: opts.max_decompressed_bytes,
            });
        }
        decode_json(&body)
    } else {
        decode_protobuf_with(opts, &body)
    }
}

/// HTTP body compressions. Loki's push handler reads `deflate` as raw
/// DEFLATE (Go's `compress/flate`); OTLP/HTTP receivers read it as zlib
/// (RFC 9110's meaning): both exist, and the caller says which it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inflate {
    Gzip,
    RawDeflate,
    Zlib,
}

/// Which push API a body came to: they read `Content-Encoding` differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `/loki/api/v1/push`: `snappy` (a protobuf body is snappy block data
    /// anyway) and no encoding pass through; `deflate` is raw DEFLATE.
    LokiPush,
    /// `/otlp/v1/logs`: no encoding or `identity` pass through; `deflate` is
    /// zlib, as the OpenTelemetry collector's receivers read it.
    Otlp,
}

impl Inflate {
    /// What `encoding` asks to undo (`None`: nothing), or why it is refused.
    pub fn for_encoding(protocol: Protocol, encoding: &str) -> Result<Option<Inflate>, ProtoError> {
        Ok(match (protocol, encoding) {
            (Protocol::LokiPush, "" | "snappy") | (Protocol::Otlp, "" | "identity") => None,
            (_, "gzip") => Some(Inflate::Gzip),
            (Protocol::LokiPush, "deflate") => Some(Inflate::RawDeflate),
            (Protocol::Otlp, "deflate") => Some(Inflate::Zlib),
            (_, other) => return Err(ProtoError::UnsupportedEncoding(other.to_owned())),
        })
    }
}

/// The body with its `Content-Encoding` undone (borrowed when there was
/// none), and its share of the push budget, held as long as the bytes are.
pub fn decompress<'a>(
    protocol: Protocol,
    encoding: &str,
    body: &'a [u8],
    limit: usize,
) -> Result<(Cow<'a, [u8]>, Option<Reservation>), ProtoError> {
    match Inflate::for_encoding(protocol, encoding)? {
        None => Ok((Cow::Borrowed(body), None)),
        Some(kind) => {
            let (out, held) = inflate(kind, body, limit)?;
            Ok((Cow::Owned(out), Some(held)))
        }
    }
}

/// Undoes an HTTP body compression within `limit` decompressed bytes and
/// the process-wide push budget; the reservation must live as long as the
/// bytes do.
pub fn inflate(
    kind: Inflate,
    body: &[u8],
    limit: usize,
) -> Result<(Vec<u8>, Reservation), ProtoError> {
    let mut held = Reservation::default();
    let out = match kind {
        Inflate::Gzip => read_capped(
            || flate2::read::MultiGzDecoder::new(body),
            limit,
            "gzip",
            &mut held,
        ),
        Inflate::RawDeflate => read_capped(
            || flate2::read::DeflateDecoder::new(body),
            limit,
            "flate",
            &mut held,
        ),
        Inflate::Zlib => read_capped(
            || flate2::read::ZlibDecoder::new(body),
            limit,
            "zlib",
            &mut held,
        ),
    }?;
    Ok((out, held))
}

fn is_json(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else { return false };
    let media = ct.split(';').next().unwrap_or("").trim();
    media.eq_ignore_ascii_case("application/json")
}

/// Decompresses at most `limit` bytes; one byte more means the body is too
/// large. Two passes: the first only counts (a 64 KiB scratch buffer), so a
/// bomb is refused having allocated nothing, and the second fills a buffer
/// of exactly the counted size, reserved from the shared budget first (a
/// growing buffer peaks at about twice its size while it is moved).
fn read_capped<R: Read>(
    make: impl Fn() -> R,
    limit: usize,
    encoding: &'static str,
    held: &mut Reservation,
) -> Result<Vec<u8>, ProtoError> {
    let err = |e: std::io::Error| ProtoError::Decompress {
        encoding,
        reason: e.to_string(),
    };
    // More than the whole budget can never be granted: stop counting there.
    let limit = limit.min(held.ceiling());
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let counted = std::io::copy(&mut make().take(cap), &mut std::io::sink()).map_err(err)?;
    if counted > limit as u64 {
        return Err(ProtoError::TooLarge { limit });
    }
    let n = counted as usize;
    held.grow(n)?;
    let mut out = Vec::with_capacity(n);
    make().take(counted).read_to_end(&mut out).map_err(err)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn each_push_api_reads_content_encoding_its_own_way() {
        use Protocol::{LokiPush, Otlp};
        assert_eq!(
            Inflate::for_encoding(LokiPush, "deflate").unwrap(),
            Some(Inflate::RawDeflate)
        );
        assert_eq!(
            Inflate::for_encoding(Otlp, "deflate").unwrap(),
            Some(Inflate::Zlib)
        );
        assert_eq!(Inflate::for_encoding(LokiPush, "snappy").unwrap(), None);
        assert_eq!(Inflate::for_encoding(Otlp, "identity").unwrap(), None);
        assert!(Inflate::for_encoding(Otlp, "snappy").is_err());
        assert!(Inflate::for_encoding(LokiPush, "identity").is_err());
        let raw = b"hello hello hello";
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut z, raw).unwrap();
        let zlib = z.finish().unwrap();
        assert_eq!(
            &decompress(Otlp, "deflate", &zlib, 1 << 20).unwrap().0[..],
            raw
        );
        assert!(decompress(LokiPush, "deflate", &zlib, 1 << 20).is_err());
    }

    const JSON: &[u8] = br#"{"streams":[{"stream":{"app":"api"},"values":[["1","hello"]]}]}"#;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn json_with_each_encoding() {
        for (enc, body) in [
            (None, JSON.to_vec()),
            (Some("snappy"), JSON.to_vec()),
            (Some("gzip"), gzip(JSON)),
            (Some("deflate"), deflate(JSON)),
        ] {
            let req = decode_body(Some("application/json; charset=utf-8"), enc, &body).unwrap();
            assert_eq!(req.streams[0].entries[0].line, "hello", "{enc:?}");
        }
    }

    #[test]
    fn unsupported_encoding() {
        let e = decode_body(Some("application/json"), Some("br"), JSON).unwrap_err();
        assert_eq!(e.to_string(), r#"Content-Encoding "br" not supported"#);
        assert_eq!(e.status(), 400);
        // Matched exactly, as Go's switch does.
        let e = decode_body(None, Some("GZIP"), JSON).unwrap_err();
        assert_eq!(e.to_string(), r#"Content-Encoding "GZIP" not supported"#);
    }

    #[test]
    fn non_json_types_fall_back_to_protobuf() {
        // JSON bytes are not valid snappy, so the protobuf path reports snappy.
        for ct in [None, Some("application/x-protobuf"), Some("text/plain")] {
            let e = decode_body(ct, None, JSON).unwrap_err();
            assert_eq!(e.to_string(), "snappy: corrupt input", "{ct:?}");
        }
    }

    #[test]
    fn gzip_bomb_is_capped() {
        let big = vec![b' '; 1 << 20];
        let opts = DecodeOptions {
            max_decompressed_bytes: 1000,
        };
        let e = decode_body_with(opts, Some("application/json"), Some("gzip"), &gzip(&big))
            .unwrap_err();
        assert_eq!(e, ProtoError::TooLarge { limit: 1000 });
        assert_eq!(e.status(), 413);
        assert_eq!(
            e.to_string(),
            "request body too large: decompressed size exceeds the limit of 1000 bytes"
        );
    }

    #[test]
    fn plain_json_over_cap_is_too_large() {
        let opts = DecodeOptions {
            max_decompressed_bytes: 10,
        };
        assert_eq!(
            decode_body_with(opts, Some("application/json"), None, JSON)
                .unwrap_err()
                .status(),
            413
        );
    }

    #[test]
    fn corrupt_gzip_is_400() {
        let e =
            decode_body(Some("application/json"), Some("gzip"), b"not gzip at all").unwrap_err();
        assert!(
            matches!(
                e,
                ProtoError::Decompress {
                    encoding: "gzip",
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().starts_with("gzip: "));
        assert_eq!(e.status(), 400);
        let mut truncated = gzip(JSON);
        truncated.truncate(truncated.len() / 2);
        assert_eq!(
            decode_body(Some("application/json"), Some("gzip"), &truncated)
                .unwrap_err()
                .status(),
            400
        );
    }
}
