//! Ingest validation: Loki's per-tenant write limits, applied entry by
//! entry so that a push keeps its good entries and reports the rest.

use crate::retention::Retention;
use lode_logql::LabelSet;
use lode_proto::PushStream;
use std::sync::Arc;
use std::time::Duration;

/// Write limits (Loki `limits_config` names).
#[derive(Debug, Clone)]
pub struct Limits {
    /// `max_line_size` in bytes; 0 disables.
    pub max_line_size: usize,
    pub max_line_size_truncate: bool,
    pub max_label_names_per_series: usize,
    pub max_label_name_length: usize,
    pub max_label_value_length: usize,
    pub reject_old_samples: bool,
    /// Nanoseconds.
    pub reject_old_samples_max_age: i64,
    /// Nanoseconds.
    pub creation_grace_period: i64,
    /// Streams per tenant; 0 disables.
    pub max_streams_per_user: usize,
    /// `ingestion_rate_mb` in bytes per second; 0 disables.
    pub ingestion_rate_bytes: f64,
    /// `ingestion_burst_size_mb` in bytes.
    pub ingestion_burst_bytes: f64,
    /// Entries older than their stream's newest entry minus this (ns) are
    /// refused ("entry too far behind"); 0 accepts any order.
    pub out_of_order_window: i64,
    /// `retention_period` and `retention_stream` rules.
    pub retention: Arc<Retention>,
    /// Query limits (enforced by the HTTP layer and the scans).
    pub max_query_length: Duration,
    pub max_query_lookback: Duration,
    pub max_query_series: usize,
    pub max_entries_limit_per_query: usize,
    pub query_timeout: Duration,
    /// Bytes one query may hold for its answer (0: no limit).
    pub max_query_response_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line_size: 256 * 1024,
            max_line_size_truncate: false,
            max_label_names_per_series: 15,
            max_label_name_length: 1024,
            max_label_value_length: 2048,
            reject_old_samples: true,
            reject_old_samples_max_age: 168 * 3600 * 1_000_000_000,
            creation_grace_period: 600 * 1_000_000_000,
            max_streams_per_user: 10_000,
            ingestion_rate_bytes: 4.0 * MIB,
            ingestion_burst_bytes: 6.0 * MIB,
            out_of_order_window: 3600 * 1_000_000_000,
            retention: Arc::new(Retention::default()),
            max_query_length: Duration::from_secs(12 * 3600),
            max_query_lookback: Duration::ZERO,
            max_query_series: 500,
            max_entries_limit_per_query: 5000,
            query_timeout: Duration::from_secs(60),
            max_query_response_bytes: 32 << 20,
        }
    }
}

/// Loki's "MB" in rate limits is a mebibyte.
pub const MIB: f64 = 1024.0 * 1024.0;

/// The outcome of validating a push.
#[derive(Debug, Default)]
pub struct Validated {
    /// Accepted streams; their labels were moved into the `LabelSet`
    /// (`PushStream::labels` is left empty).
    pub streams: Vec<(LabelSet, PushStream)>,
    /// Messages for refused entries/streams (400).
    pub errors: Vec<String>,
    /// Messages for streams refused by the stream limit (429).
    pub limited: Vec<String>,
    pub accepted_lines: u64,
    pub accepted_bytes: u64,
    /// Bytes counted by the ingestion rate limit: lines plus structured metadata.
    pub rate_bytes: u64,
}

/// Go's `time.Time.String()` in UTC: `2024-03-01 00:00:00.5 +0000 UTC`.
fn fmt_go_time(ns: i64) -> String {
    let full = fmt_ts(ns);
    let (date, rest) = full.split_at(10);
    let time = &rest[1..rest.len() - 1];
    let time = time.trim_end_matches('0').trim_end_matches('.');
    format!("{date} {time} +0000 UTC")
}

/// RFC 3339 without fractions, as Go's `time.RFC3339` prints.
fn fmt_rfc3339(ns: i64) -> String {
    let full = fmt_ts(ns);
    format!("{}Z", &full[..19])
}

fn fmt_ts(ns: i64) -> String {
    lode_go::time::format_rfc3339_nanos(ns)
}

/// Validates streams against `limits` at time `now` (ns). `stream_newest`
/// gives the newest timestamp of an *active* stream (`None` for a new or an
/// idle one: as in Loki, a stream that went idle was flushed and forgotten
/// by the write path, so it is created anew and counts again);
/// `stream_count` is the tenant's number of active streams.
pub fn validate(
    tenant: &str,
    streams: Vec<PushStream>,
    limits: &Limits,
    now: i64,
    stream_count: usize,
    stream_newest: impl Fn(&LabelSet) -> Option<i64>,
) -> Validated {
    let mut out = Validated::default();
    let mut new_streams = 0usize;
    // A set, not a list: a push creating 100k streams must stay linear.
    let mut seen_new: std::collections::HashSet<LabelSet, foldhash::fast::RandomState> =
        Default::default();
    for mut s in streams {
        // Decoders hand over canonical (sorted, unique) labels: moved, not copied.
        let pairs = std::mem::take(&mut s.labels);
        let labels = if pairs.is_sorted_by(|a, b| a.0 < b.0) {
            LabelSet::from_sorted_unchecked(pairs)
        } else {
            LabelSet::from_pairs(pairs)
        };
        // Rendered only for an error message: most pushes have none.
        let rendered = std::cell::OnceCell::new();
        let text = || rendered.get_or_init(|| labels.to_string()).as_str();
        if limits.max_label_names_per_series > 0 && labels.len() > limits.max_label_names_per_series
        {
            out.errors.push(format!(
                "entry for stream '{}' has {} label names; limit {}",
                text(),
                labels.len(),
                limits.max_label_names_per_series
            ));
            continue;
        }
        if let Some((k, _)) = labels
            .iter()
            .find(|(k, _)| k.len() > limits.max_label_name_length)
        {
            out.errors.push(format!(
                "stream '{}' has label name too long: '{k}'",
                text()
            ));
            continue;
        }
        if let Some((_, v)) = labels
            .iter()
            .find(|(_, v)| v.len() > limits.max_label_value_length)
        {
            out.errors.push(format!(
                "stream '{}' has label value too long: '{v}'",
                text()
            ));
            continue;
        }
        let stream_top = stream_newest(&labels);
        if stream_top.is_none() && !seen_new.contains(&labels) {
            if limits.max_streams_per_user > 0
                && stream_count + new_streams >= limits.max_streams_per_user
            {
                out.limited.push(format!(
                    "maximum active stream limit exceeded when trying to create stream {}, reduce the number of active streams (reduce labels or reduce label values), or contact your Loki administrator to see if the limit can be increased, user: '{tenant}'",
                    text()
                ));
                continue;
            }
            new_streams += 1;
            seen_new.insert(labels.clone());
        }
        let oldest = now.saturating_sub(limits.reject_old_samples_max_age);
        let newest = now.saturating_add(limits.creation_grace_period);
        let total = s.entries.len();
        let mut highest = stream_top.unwrap_or(i64::MIN);
        let mut behind = String::new();
        let mut behind_n = 0usize;
        // In place: the common push keeps every entry, and moving them all
        // into a second vector showed in profiles.
        s.entries.retain_mut(|e| {
            if limits.reject_old_samples && e.ts < oldest {
                out.errors.push(format!(
                    "entry for stream '{}' has timestamp too old: {}, oldest acceptable timestamp is: {}",
                    text(),
                    fmt_ts(e.ts),
                    fmt_ts(oldest)
                ));
                return false;
            }
            if e.ts > newest {
                out.errors.push(format!(
                    "entry for stream '{}' has timestamp too new: {}",
                    text(),
                    fmt_ts(e.ts)
                ));
                return false;
            }
            if limits.max_line_size > 0 && e.line.len() > limits.max_line_size {
                if limits.max_line_size_truncate {
                    let mut cut = limits.max_line_size;
                    while !e.line.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    e.line.truncate(cut);
                } else {
                    out.errors.push(format!(
                        "max entry size '{}' bytes exceeded for stream '{}' while adding an entry with length '{}' bytes",
                        limits.max_line_size,
                        text(),
                        e.line.len()
                    ));
                    return false;
                }
            }
            if limits.out_of_order_window > 0 && highest != i64::MIN {
                let cutoff = highest.saturating_sub(limits.out_of_order_window);
                if e.ts < cutoff {
                    behind_n += 1;
                    behind.push_str(&format!(
                        "entry with timestamp {} ignored, reason: 'entry too far behind, entry timestamp is: {}, oldest acceptable timestamp is: {}',\n",
                        fmt_go_time(e.ts),
                        fmt_rfc3339(e.ts),
                        fmt_rfc3339(cutoff)
                    ));
                    return false;
                }
            }
            highest = highest.max(e.ts);
            out.accepted_lines += 1;
            out.accepted_bytes += e.line.len() as u64;
            out.rate_bytes += e.line.len() as u64;
            for (k, v) in &e.structured_metadata {
                out.rate_bytes += (k.len() + v.len()) as u64;
            }
            true
        });
        if behind_n > 0 {
            out.errors.push(format!(
                "{behind}user '{tenant}', total ignored: {behind_n} out of {total} for stream: {}",
                text()
            ));
        }
        if !s.entries.is_empty() {
            out.streams.push((labels, s));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use lode_proto::Entry;

    const NOW: i64 = 1_700_000_000_000_000_000;

    fn stream(app: &str, entries: &[(i64, &str)]) -> PushStream {
        PushStream {
            labels: vec![("app".into(), app.into())],
            entries: entries
                .iter()
                .map(|(ts, l)| Entry {
                    ts: *ts,
                    line: l.to_string(),
                    structured_metadata: vec![],
                })
                .collect(),
        }
    }

    #[test]
    fn keeps_good_entries_and_reports_bad_ones() {
        let limits = Limits {
            max_line_size: 5,
            ..Default::default()
        };
        let v = validate(
            "fake",
            vec![stream("a", &[(NOW, "ok"), (NOW, "too long"), (0, "old")])],
            &limits,
            NOW,
            0,
            |_| None,
        );
        assert_eq!(v.accepted_lines, 1);
        assert_eq!(v.errors.len(), 2);
        assert!(
            v.errors[0].starts_with("max entry size '5' bytes exceeded for stream '{app=\"a\"}'")
        );
        assert!(v.errors[1].contains("timestamp too old: 1970-01-01T00:00:00.000000000Z"));
    }

    #[test]
    fn stream_limit_names_the_limit() {
        let limits = Limits {
            max_streams_per_user: 1,
            ..Default::default()
        };
        let v = validate(
            "t1",
            vec![stream("a", &[(NOW, "x")]), stream("b", &[(NOW, "y")])],
            &limits,
            NOW,
            0,
            |_| None,
        );
        assert_eq!(v.streams.len(), 1);
        assert_eq!(v.limited.len(), 1);
        assert!(v.limited[0].starts_with("maximum active stream limit exceeded"));
        assert!(v.limited[0].ends_with("user: 't1'"));
    }

    #[test]
    fn truncation() {
        let limits = Limits {
            max_line_size: 4,
            max_line_size_truncate: true,
            ..Default::default()
        };
        let v = validate(
            "f",
            vec![stream("a", &[(NOW, "abcdef")])],
            &limits,
            NOW,
            0,
            |_| None,
        );
        assert_eq!(v.streams[0].1.entries[0].line, "abcd");
    }

    #[test]
    fn entries_too_far_behind_the_streams_newest_are_refused() {
        let limits = Limits::default();
        let h = 3600 * 1_000_000_000i64;
        let v = validate(
            "t1",
            vec![stream(
                "a",
                &[
                    (NOW - 2 * h, "old"),
                    (NOW - h / 2, "ok"),
                    (NOW + 1, "newer"),
                ],
            )],
            &limits,
            NOW,
            1,
            |_| Some(NOW),
        );
        assert_eq!(v.accepted_lines, 2);
        assert_eq!(v.errors.len(), 1);
        let e = &v.errors[0];
        assert!(e.starts_with("entry with timestamp 2023-11-14 20:13:20 +0000 UTC ignored, reason: 'entry too far behind, entry timestamp is: 2023-11-14T20:13:20Z, oldest acceptable timestamp is: 2023-11-14T21:13:20Z',\n"), "{e}");
        assert!(
            e.ends_with("user 't1', total ignored: 1 out of 3 for stream: {app=\"a\"}"),
            "{e}"
        );
        // A new stream takes its first entry as the reference.
        let v = validate(
            "t1",
            vec![stream("b", &[(NOW, "x"), (NOW - 2 * h, "y")])],
            &limits,
            NOW,
            0,
            |_| None,
        );
        assert_eq!(v.accepted_lines, 1);
        let off = Limits {
            out_of_order_window: 0,
            ..Default::default()
        };
        let v = validate(
            "t1",
            vec![stream("b", &[(NOW, "x"), (NOW - 2 * h, "y")])],
            &off,
            NOW,
            0,
            |_| None,
        );
        assert_eq!(v.accepted_lines, 2);
    }

    #[test]
    fn dates() {
        assert_eq!(fmt_ts(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            fmt_ts(1_709_251_200_000_000_001),
            "2024-03-01T00:00:00.000000001Z"
        );
        assert_eq!(
            fmt_go_time(1_709_251_200_500_000_000),
            "2024-03-01 00:00:00.5 +0000 UTC"
        );
        assert_eq!(
            fmt_rfc3339(1_709_251_200_500_000_000),
            "2024-03-01T00:00:00Z"
        );
    }
}
