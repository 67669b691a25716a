//! JSON encoding of query results, byte-for-byte in Loki's shape and key
//! order (Grafana's streaming reader depends on `encodingFlags` preceding
//! `result`, and `stats` following it).

use lode_logql::value::{format_value, QueryValue};
use lode_logql::LabelSet;
use lode_storage::{LogHit, ScanStats};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Appends `s` as a JSON string literal.
pub fn json_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc: Option<&str> = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
        }
        start = i + c.len_utf8();
    }
    out.push_str(&s[start..]);
    out.push('"');
}

pub fn labels_obj(out: &mut String, l: &LabelSet) {
    out.push('{');
    for (i, (k, v)) in l.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_str(out, k);
        out.push(':');
        json_str(out, v);
    }
    out.push('}');
}

/// Prometheus-style sample timestamp: seconds, up to millisecond precision.
pub fn sample_ts(out: &mut String, ns: i64) {
    let ms = ns.div_euclid(1_000_000);
    let (s, frac) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    if frac == 0 {
        let _ = write!(out, "{s}");
    } else {
        let f = format!("{frac:03}");
        let _ = write!(out, "{s}.{}", f.trim_end_matches('0'));
    }
}

/// Execution statistics, `summary` with real numbers and the rest of Loki's
/// shape present with zeros.
pub fn stats_obj(out: &mut String, st: &ScanStats, exec_secs: f64, returned: usize) {
    let per_sec = |n: u64| {
        if exec_secs > 0.0 {
            (n as f64 / exec_secs) as u64
        } else {
            0
        }
    };
    let _ = write!(
        out,
        concat!(
            "{{\"summary\":{{\"bytesProcessedPerSecond\":{},\"linesProcessedPerSecond\":{},",
            "\"totalBytesProcessed\":{},\"totalLinesProcessed\":{},\"execTime\":{},\"queueTime\":0,",
            "\"subqueries\":0,\"totalEntriesReturned\":{},\"splits\":0,\"shards\":0,",
            "\"totalPostFilterLines\":{},\"totalStructuredMetadataBytesProcessed\":0}},",
            "\"querier\":{{\"store\":{{\"totalChunksRef\":{},\"totalChunksDownloaded\":{},",
            "\"chunksDownloadTime\":0,\"queryReferencedStructuredMetadata\":false,",
            "\"chunk\":{{\"headChunkBytes\":0,\"headChunkLines\":0,\"decompressedBytes\":{},",
            "\"decompressedLines\":{},\"compressedBytes\":{},\"totalDuplicates\":0,",
            "\"postFilterLines\":{},\"headChunkStructuredMetadataBytes\":0,",
            "\"decompressedStructuredMetadataBytes\":0}}}}}},",
            "\"ingester\":{{\"totalReached\":0,\"totalChunksMatched\":0,\"totalBatches\":0,",
            "\"totalLinesSent\":0,\"store\":{{\"totalChunksRef\":0,\"totalChunksDownloaded\":0,",
            "\"chunksDownloadTime\":0,\"queryReferencedStructuredMetadata\":false,",
            "\"chunk\":{{\"headChunkBytes\":0,\"headChunkLines\":0,\"decompressedBytes\":0,",
            "\"decompressedLines\":0,\"compressedBytes\":0,\"totalDuplicates\":0,",
            "\"postFilterLines\":0,\"headChunkStructuredMetadataBytes\":0,",
            "\"decompressedStructuredMetadataBytes\":0}}}}}},",
            "\"cache\":{{}},\"index\":{{\"totalChunks\":{},\"postFilterChunks\":{},",
            "\"shardsDuration\":0,\"usedBloomFilters\":false}}}}"
        ),
        per_sec(st.bytes),
        per_sec(st.lines),
        st.bytes,
        st.lines,
        exec_secs,
        returned,
        st.post_filter_lines,
        st.blocks,
        st.blocks,
        st.bytes,
        st.lines,
        st.compressed_bytes,
        st.post_filter_lines,
        st.blocks,
        st.blocks,
    );
}

/// A `streams` response. With `categorize`, streams are keyed by their
/// indexed labels and every entry carries its metadata and parsed labels.
pub fn streams_response(
    hits: &[LogHit],
    categorize: bool,
    st: &ScanStats,
    exec_secs: f64,
) -> String {
    // Group in first-seen order, then sort streams by label set.
    let mut groups: BTreeMap<String, (LabelSet, Vec<usize>)> = BTreeMap::new();
    for (i, h) in hits.iter().enumerate() {
        let l = if categorize {
            &h.entry.stream
        } else {
            &h.entry.labels
        };
        groups
            .entry(l.to_string())
            .or_insert_with(|| (l.clone(), Vec::new()))
            .1
            .push(i);
    }
    // Sized once: growing by doubling would briefly hold the answer 1.5x
    // over (what a query's byte budget does not see).
    let lines: usize = hits.iter().map(|h| h.entry.line.len()).sum();
    let mut out = String::with_capacity(256 + lines + lines / 16 + hits.len() * 160);
    out.push_str("{\"status\":\"success\",\"data\":{\"resultType\":\"streams\",");
    if categorize {
        out.push_str("\"encodingFlags\":[\"categorize-labels\"],");
    }
    out.push_str("\"result\":[");
    for (gi, (_, (labels, idx))) in groups.iter().enumerate() {
        if gi > 0 {
            out.push(',');
        }
        out.push_str("{\"stream\":");
        labels_obj(&mut out, labels);
        out.push_str(",\"values\":[");
        for (n, &i) in idx.iter().enumerate() {
            let h = &hits[i];
            if n > 0 {
                out.push(',');
            }
            let _ = write!(out, "[\"{}\",", h.ts);
            json_str(&mut out, &h.entry.line);
            if categorize {
                out.push_str(",{");
                let mut first = true;
                if !h.entry.structured_metadata.is_empty() {
                    out.push_str("\"structuredMetadata\":");
                    labels_obj(&mut out, &h.entry.structured_metadata);
                    first = false;
                }
                if !h.entry.parsed.is_empty() {
                    if !first {
                        out.push(',');
                    }
                    out.push_str("\"parsed\":");
                    labels_obj(&mut out, &h.entry.parsed);
                }
                out.push('}');
            }
            out.push(']');
        }
        out.push_str("]}");
    }
    out.push_str("],\"stats\":");
    stats_obj(&mut out, st, exec_secs, hits.len());
    out.push_str("}}\n");
    out
}

/// A `matrix`, `vector` or `scalar` response.
pub fn metric_response(v: &QueryValue, st: &ScanStats, exec_secs: f64) -> String {
    let mut out = String::with_capacity(1024);
    let returned;
    match v {
        QueryValue::Matrix(series) => {
            returned = series.len();
            out.push_str(
                "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[",
            );
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                labels_obj(&mut out, &s.labels);
                out.push_str(",\"values\":[");
                for (j, p) in s.points.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    out.push('[');
                    sample_ts(&mut out, p.ts);
                    out.push(',');
                    json_str(&mut out, &format_value(p.value));
                    out.push(']');
                }
                out.push_str("]}");
            }
        }
        QueryValue::Vector(samples) => {
            returned = samples.len();
            out.push_str(
                "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[",
            );
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                labels_obj(&mut out, &s.labels);
                out.push_str(",\"value\":[");
                sample_ts(&mut out, s.ts);
                out.push(',');
                json_str(&mut out, &format_value(s.value));
                out.push_str("]}");
            }
        }
        QueryValue::Scalar { ts, value } => {
            returned = 1;
            out.push_str(
                "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[",
            );
            // Loki answers an instant scalar with a millisecond timestamp.
            let _ = write!(out, "{}", ts.div_euclid(1_000_000));
            out.push(',');
            json_str(&mut out, &format_value(*value));
        }
    }
    out.push_str("],\"stats\":");
    stats_obj(&mut out, st, exec_secs, returned);
    out.push_str("}}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        let mut s = String::new();
        json_str(&mut s, "a\"b\\c\n\u{1b}[0m ✓");
        assert_eq!(s, r#""a\"b\\c\n\u001b[0m ✓""#);
        let v: String = serde_json::from_str(&s).unwrap();
        assert_eq!(v, "a\"b\\c\n\u{1b}[0m ✓");
    }

    #[test]
    fn sample_timestamps() {
        let mut s = String::new();
        sample_ts(&mut s, 1_588_889_221_000_000_000);
        s.push(' ');
        sample_ts(&mut s, 1_588_889_221_500_000_000);
        s.push(' ');
        sample_ts(&mut s, 1_588_889_221_123_999_999);
        assert_eq!(s, "1588889221 1588889221.5 1588889221.123");
    }
}
