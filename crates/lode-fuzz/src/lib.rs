//! Fuzz targets. Each takes arbitrary bytes and must neither panic, nor
//! allocate without bound, nor loop forever; what it returns is ignored.
//! `fuzz/` wraps each one in a libFuzzer binary (`cargo fuzz run NAME`);
//! `tests/replay.rs` runs every committed corpus file and a fixed number of
//! seeded mutations of it through the same functions in the default test
//! run, so a crash once found stays found. Figures: `docs/reliability.md`.

use lode_logql::ast::Expr;
use lode_logql::pipeline::LogPipeline;
use lode_logql::LabelSet;
use lode_proto::{decode_body_with, otlp, parse_labels, render_labels, DecodeOptions};
use lode_storage::format::{block, chunk_file::ChunkFile, wal};

/// Bounds a target's own allocations: a fuzz input is small, so a target
/// that needs more than this was tricked by a length field.
const MAX_DECOMPRESSED: usize = 4 << 20;

/// A fuzz target: arbitrary bytes in, nothing out, no panic.
pub type Target = fn(&[u8]);

/// Every target, by name (the corpus folder and the libFuzzer binary).
pub const TARGETS: &[(&str, Target)] = &[
    ("push_protobuf", push_protobuf),
    ("push_json", push_json),
    ("otlp_protobuf", otlp_protobuf),
    ("otlp_json", otlp_json),
    ("labels", labels),
    ("logql", logql),
    ("wal_segment", wal_segment),
    ("chunk_file", chunk_file),
    ("block", block),
];

fn opts() -> DecodeOptions {
    DecodeOptions {
        max_decompressed_bytes: MAX_DECOMPRESSED,
    }
}

/// A snappy-compressed protobuf `PushRequest`, as Alloy and Promtail send.
pub fn push_protobuf(data: &[u8]) {
    let _ = decode_body_with(opts(), Some("application/x-protobuf"), None, data);
}

/// A JSON push body; the first byte picks the `Content-Encoding` (none,
/// gzip, deflate) so one corpus reaches every decompressor.
pub fn push_json(data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let encoding = match sel % 3 {
        0 => None,
        1 => Some("gzip"),
        _ => Some("deflate"),
    };
    let _ = decode_body_with(opts(), Some("application/json"), encoding, body);
}

/// An OTLP `ExportLogsServiceRequest` in protobuf, mapped to a push.
pub fn otlp_protobuf(data: &[u8]) {
    if let Ok(req) = otlp::decode_protobuf_request(data) {
        let _ = otlp::to_push_request(req, 0);
    }
}

/// An OTLP request in JSON, mapped to a push.
pub fn otlp_json(data: &[u8]) {
    if let Ok(req) = otlp::decode_json_request(data) {
        let _ = otlp::to_push_request(req, 0);
    }
}

/// The `{a="b"}` label-set syntax of push streams. Whatever parses must
/// render back to text that parses to the same pairs.
pub fn labels(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(pairs) = parse_labels(text) {
        let again = parse_labels(&render_labels(&pairs));
        assert_eq!(
            again.ok().as_ref(),
            Some(&pairs),
            "label round trip of {text:?}"
        );
    }
}

/// LogQL: parse; whatever parses must print (`Display` and `pretty`) back
/// to a query that parses to the same tree; a log query's pipeline then
/// runs over a few lines (filters, parsers, templates, formatters).
pub fn logql(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(parsed) = lode_logql::parse(text) else {
        return;
    };
    let printed = parsed.to_string();
    match lode_logql::parse(&printed) {
        Ok(again) => assert_eq!(again, parsed, "{text:?} printed as {printed:?}"),
        Err(e) => panic!("{text:?} printed as {printed:?}, which fails: {e}"),
    }
    let laid_out = lode_logql::print::pretty(&parsed);
    assert_eq!(
        lode_logql::parse(&laid_out).ok().as_ref(),
        Some(&parsed),
        "{text:?} pretty {laid_out:?}"
    );
    let Expr::Log(expr) = parsed else {
        return;
    };
    let Ok(pipeline) = LogPipeline::new(&expr.pipeline) else {
        return;
    };
    let stream = LabelSet::from_pairs([("app", "api"), ("level", "info")]);
    let mut p = pipeline.for_stream(&stream);
    let meta = [("trace_id".to_string(), "abc123".to_string())];
    for (i, line) in LINES.iter().enumerate() {
        let _ = p.process(i as i64 * 1_000_000_000, line, &meta);
    }
}

const LINES: &[&str] = &[
    r#"{"level":"error","status":502,"msg":"upstream timeout","dur":"1.5s","user":{"id":7}}"#,
    "level=info method=GET path=/api/v1 status=200 duration=12ms bytes=1.2KB",
    "10.0.0.1 - - [01/Dec/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 512",
    "",
    "\u{fffd}\t\u{7}tabs\tand bells",
];

/// One WAL segment's bytes, as replay reads them after a crash.
pub fn wal_segment(data: &[u8]) {
    let _ = wal::scan_segment(data, 1, |_, _, _| Ok(()));
}

/// A whole chunk file: trailer, footer, stream table, block index, every
/// block and filter, read from memory through the same checks as a file.
pub fn chunk_file(data: &[u8]) {
    let Ok((_, _, blocks)) = ChunkFile::parse_index(data) else {
        return;
    };
    for b in blocks {
        let payload = usize::try_from(b.offset)
            .ok()
            .and_then(|at| data.get(at..at.checked_add(b.len as usize)?));
        // Checksums are not checked: a fuzzer cannot forge them, and the
        // block decoder must survive any bytes anyway.
        if let Some(p) = payload {
            let _ = block::decode_block(p);
        }
    }
}

/// One block payload (checksum already passed): lines, timestamps,
/// structured metadata, each compression.
pub fn block(data: &[u8]) {
    let _ = block::decode_block(data);
    let _ = block::decode_meta(data);
    let _ = block::decode_meta_section(data);
}
