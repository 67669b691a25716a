//! Request body decoders: protobuf+snappy, Loki v1 JSON, legacy JSON, and
//! the content-type / content-encoding dispatch in front of them.

mod body;
pub mod budget;
mod json;
mod legacy_json;
mod protobuf;
mod push_wire;

pub use body::{
    decode_body, decode_body_with, decompress, inflate, DecodeOptions, Inflate, Protocol,
    DEFAULT_MAX_DECOMPRESSED_BYTES,
};
pub use json::decode_json;
pub use legacy_json::decode_legacy_json;
pub use protobuf::{decode_protobuf, decode_protobuf_with};

/// Invalid UTF-8 in a line or metadata value is repaired, not fatal: Loki
/// stores any bytes and its JSON answers show them as U+FFFD.
fn utf8_lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// `utf8_lossy` of borrowed bytes. Valid text (nearly every line) is
/// checked by `str::from_utf8`, several times faster than the repairing
/// scan `from_utf8_lossy` starts with; only invalid bytes pay for it.
pub(crate) fn utf8_lossy_ref(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(b).into_owned(),
    }
}
