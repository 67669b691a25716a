//! Loki 3 ingest enrichment: the `service_name` stream label and the
//! `detected_level` structured metadata, as Loki 3.7's distributor derives
//! them with default limits (`discover_service_name`, `discover_log_levels`,
//! `log_level_fields`, `log_level_from_json_max_depth: 2`).
//!
//! Ground truth: `tests/detected_level.rs` checks [`detect_level`] against
//! every entry the compat goldens show with its stored `detected_level`.

mod json_level;
mod logfmt;
mod words;

use crate::PushStream;

/// Stream label Loki fills in when a stream has none.
pub const SERVICE_NAME: &str = "service_name";
/// Structured metadata name of the detected level.
pub const DETECTED_LEVEL: &str = "detected_level";
/// `service_name` value when no source label exists.
pub const UNKNOWN_SERVICE: &str = "unknown_service";

/// Labels `service_name` is copied from, first present wins.
pub const SERVICE_NAME_SOURCES: [&str; 13] = [
    "service",
    "app",
    "application",
    "app_name",
    "name",
    "app_kubernetes_io_name",
    "container",
    "container_name",
    "k8s_container_name",
    "component",
    "workload",
    "job",
    "k8s_job_name",
];

/// Default `log_level_fields`, in priority order.
pub const LEVEL_FIELDS: [&str; 14] = [
    "level",
    "LEVEL",
    "Level",
    "log.level",
    "severity",
    "SEVERITY",
    "Severity",
    "SeverityText",
    "lvl",
    "LVL",
    "Lvl",
    "severity_text",
    "Severity_Text",
    "SEVERITY_TEXT",
];

/// OTLP severity number, sent as structured metadata by OTLP ingestion.
const SEVERITY_NUMBER: &str = "severity_number";

/// JSON nesting searched for a level field (`log_level_from_json_max_depth`).
const JSON_MAX_DEPTH: usize = 2;

/// The `service_name` value Loki derives for a stream without one.
pub fn derive_service_name(labels: &[(String, String)]) -> &str {
    SERVICE_NAME_SOURCES
        .iter()
        .find_map(|src| get(labels, src))
        .unwrap_or(UNKNOWN_SERVICE)
}

/// The `detected_level` Loki 3.7 stores for an entry, in this order:
/// 1. a level field among the stream labels, then among the structured
///    metadata (normalised when it is a known level word, else kept as is);
/// 2. an OTLP `severity_number` in the metadata;
/// 3. a level field in the line: JSON (first matching key in document order,
///    string values only, two levels deep) or logfmt (highest-priority key,
///    names compared case-insensitively), when its value is a level word;
/// 4. a level word standing alone in the line (see `words`), else `unknown`.
pub fn detect_level<'a>(
    stream_labels: &'a [(String, String)],
    structured_metadata: &'a [(String, String)],
    line: &str,
) -> &'a str {
    if let Some(level) = level_from_labels(stream_labels) {
        return level;
    }
    level_for_entry(structured_metadata, line)
}

/// Adds `service_name` when absent and a `detected_level` to every entry that
/// has none; an existing `detected_level` is normalised in place (Loki does
/// the same). Stream-level work is done once, not per entry.
pub fn enrich(stream: &mut PushStream) {
    if get(&stream.labels, SERVICE_NAME).is_none() {
        let value = derive_service_name(&stream.labels).to_owned();
        let at = stream
            .labels
            .partition_point(|(n, _)| n.as_str() < SERVICE_NAME);
        stream.labels.insert(at, (SERVICE_NAME.to_owned(), value));
    }
    let from_labels = level_from_labels(&stream.labels);
    for entry in &mut stream.entries {
        let sm = &mut entry.structured_metadata;
        if let Some(existing) = sm.iter_mut().find(|(n, _)| n == DETECTED_LEVEL) {
            if let Some(norm) = known_level(&existing.1) {
                if existing.1 != norm {
                    existing.1 = norm.to_owned();
                }
            }
            continue;
        }
        let level = match from_labels {
            Some(level) => level.to_owned(),
            None => level_for_entry(sm, &entry.line).to_owned(),
        };
        // Exact: a first push would allocate room for four pairs.
        sm.reserve_exact(1);
        sm.push((DETECTED_LEVEL.to_owned(), level));
    }
}

fn level_from_labels(labels: &[(String, String)]) -> Option<&str> {
    LEVEL_FIELDS
        .iter()
        .find_map(|f| get(labels, f))
        .map(normalize)
}

fn level_for_entry<'a>(structured_metadata: &'a [(String, String)], line: &str) -> &'a str {
    if !structured_metadata.is_empty() {
        if let Some(level) = level_from_labels(structured_metadata) {
            return level;
        }
        if let Some(n) = get(structured_metadata, SEVERITY_NUMBER).filter(|v| !v.is_empty()) {
            return otlp_severity(n);
        }
    }
    level_from_line(line)
}

fn level_from_line(line: &str) -> &'static str {
    let value = if looks_like_json(line) {
        json_level::find_level(line.as_bytes(), &LEVEL_FIELDS, JSON_MAX_DEPTH)
            .map(std::borrow::Cow::Borrowed)
    } else if line.as_bytes().contains(&b'=') {
        logfmt::find_level(line, &LEVEL_FIELDS).map(|v| match v {
            std::borrow::Cow::Borrowed(s) => std::borrow::Cow::Borrowed(s.as_bytes()),
            std::borrow::Cow::Owned(s) => std::borrow::Cow::Owned(s.into_bytes()),
        })
    } else {
        return words::level_from_words(line);
    };
    value
        .and_then(|v| known_level_bytes(&v))
        .unwrap_or_else(|| words::level_from_words(line))
}

/// First non-space character `{` and last `}`. The end is checked byte by
/// byte with Latin-1 spaces (NEL, NBSP) counted, as Loki's check does.
fn looks_like_json(line: &str) -> bool {
    let first = line.chars().find(|c| !c.is_whitespace());
    let last = line
        .bytes()
        .rev()
        .find(|&b| !matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' | 0x85 | 0xa0));
    first == Some('{') && last == Some(b'}')
}

/// Level words (case-insensitive) to their canonical names; other values
/// are kept verbatim, as Loki does for label-provided levels.
fn normalize(value: &str) -> &str {
    known_level(value).unwrap_or(value)
}

fn known_level(value: &str) -> Option<&'static str> {
    known_level_bytes(value.as_bytes())
}

fn known_level_bytes(v: &[u8]) -> Option<&'static str> {
    const TABLE: [(&str, &str); 14] = [
        ("trace", "trace"),
        ("trc", "trace"),
        ("debug", "debug"),
        ("dbg", "debug"),
        ("info", "info"),
        ("inf", "info"),
        ("information", "info"),
        ("warn", "warn"),
        ("wrn", "warn"),
        ("warning", "warn"),
        ("error", "error"),
        ("err", "error"),
        ("critical", "critical"),
        ("fatal", "fatal"),
    ];
    if v.len() > 11 {
        return None;
    }
    TABLE
        .iter()
        .find(|(w, _)| v.eq_ignore_ascii_case(w.as_bytes()))
        .map(|(_, l)| *l)
}

/// OTLP SeverityNumber ranges: 1-4 trace, 5-8 debug, 9-12 info, 13-16 warn,
/// 17-20 error, 21-24 fatal; 0 or above 24 unknown; unparsable reads info.
fn otlp_severity(text: &str) -> &'static str {
    let Ok(n) = text.parse::<i64>() else {
        return "info";
    };
    match n {
        0 => "unknown",
        ..=4 => "trace",
        5..=8 => "debug",
        9..=12 => "info",
        13..=16 => "warn",
        17..=20 => "error",
        21..=24 => "fatal",
        _ => "unknown",
    }
}

fn get<'a>(labels: &'a [(String, String)], name: &str) -> Option<&'a str> {
    labels
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Entry;

    fn l(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn service_name_sources_in_order() {
        assert_eq!(derive_service_name(&l(&[("app", "a"), ("job", "j")])), "a");
        assert_eq!(
            derive_service_name(&l(&[("container", "c"), ("name", "n")])),
            "n"
        );
        assert_eq!(
            derive_service_name(&l(&[("k8s_job_name", "k"), ("namespace", "x")])),
            "k"
        );
        assert_eq!(
            derive_service_name(&l(&[("namespace", "x")])),
            "unknown_service"
        );
    }

    #[test]
    fn label_and_metadata_levels() {
        assert_eq!(
            detect_level(&l(&[("level", "WARNING")]), &[], "error here"),
            "warn"
        );
        assert_eq!(
            detect_level(&l(&[("lvl", "notice")]), &[], "error"),
            "notice"
        );
        assert_eq!(
            detect_level(&[], &l(&[("severity", "Err")]), "info"),
            "error"
        );
        // Label beats metadata; priority follows LEVEL_FIELDS, not label order.
        assert_eq!(
            detect_level(
                &l(&[("Level", "debug"), ("lvl", "info")]),
                &l(&[("level", "error")]),
                ""
            ),
            "debug"
        );
        assert_eq!(
            detect_level(&[], &l(&[("severity_number", "17")]), "info"),
            "error"
        );
        assert_eq!(
            detect_level(&[], &l(&[("severity_number", "x")]), "error"),
            "info"
        );
        assert_eq!(
            detect_level(&[], &l(&[("severity_number", "0")]), "error"),
            "unknown"
        );
        assert_eq!(
            detect_level(&[], &l(&[("severity_number", "30")]), "error"),
            "unknown"
        );
    }

    #[test]
    fn json_lines() {
        assert_eq!(
            detect_level(&[], &[], r#"{"msg":"x","level":"WARN"}"#),
            "warn"
        );
        assert_eq!(
            detect_level(&[], &[], r#" {"a":{"severity":"dbg"}} "#),
            "debug"
        );
        // Third level is beyond the default depth; falls back to words.
        assert_eq!(
            detect_level(&[], &[], r#"{"a":{"b":{"level":"error"}}}"#),
            "error"
        );
        assert_eq!(
            detect_level(&[], &[], r#"{"a":{"b":{"level":"xx"}}}"#),
            "unknown"
        );
        // Numbers are not level values; keys are case-sensitive in JSON.
        assert_eq!(
            detect_level(&[], &[], r#"{"level":3,"msg":"ok"}"#),
            "unknown"
        );
        assert_eq!(detect_level(&[], &[], r#"{"LeVeL":"wrn"}"#), "unknown");
        assert_eq!(detect_level(&[], &[], r#"{"level":"wrn"}"#), "warn");
        // First match in document order wins, even at depth.
        assert_eq!(
            detect_level(&[], &[], r#"{"x":{"lvl":"info"},"level":"error"}"#),
            "info"
        );
        // Unknown value: words of the whole line decide.
        assert_eq!(
            detect_level(&[], &[], r#"{"level":"loud","msg":"disk error"}"#),
            "error"
        );
    }

    #[test]
    fn logfmt_lines() {
        assert_eq!(
            detect_level(&[], &[], "ts=1 level=info msg=\"an error\""),
            "info"
        );
        assert_eq!(detect_level(&[], &[], "LVL=warn LEVEL=debug"), "debug");
        assert_eq!(detect_level(&[], &[], "severity=\"error\" x=1"), "error");
        assert_eq!(detect_level(&[], &[], "a=1 level"), "unknown");
        assert_eq!(
            detect_level(&[], &[], "I0101 x.go:1] \"msg\" err=boom"),
            "error"
        );
    }

    #[test]
    fn plain_lines() {
        assert_eq!(detect_level(&[], &[], "2024 ERROR (Main) failed"), "error");
        assert_eq!(detect_level(&[], &[], "GET /api/buildinfo 200"), "unknown");
        assert_eq!(detect_level(&[], &[], ""), "unknown");
    }

    #[test]
    fn enrich_adds_once_and_respects_existing() {
        let mut s = PushStream {
            labels: l(&[("app", "api"), ("zone", "z")]),
            entries: vec![
                Entry {
                    ts: 1,
                    line: "level=error".into(),
                    structured_metadata: vec![],
                },
                Entry {
                    ts: 2,
                    line: "x".into(),
                    structured_metadata: l(&[("detected_level", "WARNING")]),
                },
                Entry {
                    ts: 3,
                    line: "x".into(),
                    structured_metadata: l(&[("detected_level", "custom")]),
                },
            ],
        };
        enrich(&mut s);
        assert_eq!(
            s.labels,
            l(&[("app", "api"), ("service_name", "api"), ("zone", "z")])
        );
        assert_eq!(
            s.entries[0].structured_metadata,
            l(&[("detected_level", "error")])
        );
        assert_eq!(
            s.entries[1].structured_metadata,
            l(&[("detected_level", "warn")])
        );
        assert_eq!(
            s.entries[2].structured_metadata,
            l(&[("detected_level", "custom")])
        );
        enrich(&mut s);
        assert_eq!(s.labels.len(), 3);
        assert_eq!(s.entries[0].structured_metadata.len(), 1);
    }

    #[test]
    fn enrich_uses_stream_level_label() {
        let mut s = PushStream {
            labels: l(&[("level", "Info"), ("service_name", "svc")]),
            entries: vec![Entry {
                ts: 1,
                line: "ERROR".into(),
                structured_metadata: vec![],
            }],
        };
        enrich(&mut s);
        assert_eq!(s.labels, l(&[("level", "Info"), ("service_name", "svc")]));
        assert_eq!(
            s.entries[0].structured_metadata,
            l(&[("detected_level", "info")])
        );
    }

    #[test]
    fn json_shape_check() {
        assert!(looks_like_json(" {}\n"));
        assert!(looks_like_json("\u{a0}{}"));
        assert!(!looks_like_json("{]"));
        assert!(!looks_like_json(""));
    }
}
