//! Ingest validation: Loki's per-tenant write limits, applied entry by
//! entry so that a push keeps its good entries and reports the rest.

use lode_logql::LabelSet;
use lode_proto::PushStream;

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
        }
    }
}

/// The outcome of validating a push.
#[derive(Debug, Default)]
pub struct Validated {
    pub streams: Vec<(LabelSet, PushStream)>,
    /// Messages for refused entries/streams (400).
    pub errors: Vec<String>,
    /// Messages for streams refused by the stream limit (429).
    pub limited: Vec<String>,
    pub accepted_lines: u64,
    pub accepted_bytes: u64,
}

fn fmt_ts(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Validates streams against `limits` at time `now` (ns). `stream_exists`
/// tells whether a label set is already known; `stream_count` is the
/// tenant's current number of streams.
pub fn validate(
    tenant: &str,
    streams: Vec<PushStream>,
    limits: &Limits,
    now: i64,
    stream_count: usize,
    stream_exists: impl Fn(&LabelSet) -> bool,
) -> Validated {
    let mut out = Validated::default();
    let mut new_streams = 0usize;
    let mut seen_new: Vec<LabelSet> = Vec::new();
    for mut s in streams {
        let labels = LabelSet::from_pairs(s.labels.iter().cloned());
        let text = labels.to_string();
        if limits.max_label_names_per_series > 0 && labels.len() > limits.max_label_names_per_series
        {
            out.errors.push(format!(
                "entry for stream '{text}' has {} label names; limit {}",
                labels.len(),
                limits.max_label_names_per_series
            ));
            continue;
        }
        if let Some((k, _)) = labels
            .iter()
            .find(|(k, _)| k.len() > limits.max_label_name_length)
        {
            out.errors
                .push(format!("stream '{text}' has label name too long: '{k}'"));
            continue;
        }
        if let Some((_, v)) = labels
            .iter()
            .find(|(_, v)| v.len() > limits.max_label_value_length)
        {
            out.errors
                .push(format!("stream '{text}' has label value too long: '{v}'"));
            continue;
        }
        if !stream_exists(&labels) && !seen_new.contains(&labels) {
            if limits.max_streams_per_user > 0
                && stream_count + new_streams >= limits.max_streams_per_user
            {
                out.limited.push(format!(
                    "maximum active stream limit exceeded when trying to create stream {text}, reduce the number of active streams (reduce labels or reduce label values), or contact your Loki administrator to see if the limit can be increased, user: '{tenant}'"
                ));
                continue;
            }
            new_streams += 1;
            seen_new.push(labels.clone());
        }
        let oldest = now.saturating_sub(limits.reject_old_samples_max_age);
        let newest = now.saturating_add(limits.creation_grace_period);
        let mut kept = Vec::with_capacity(s.entries.len());
        for mut e in s.entries {
            if limits.reject_old_samples && e.ts < oldest {
                out.errors.push(format!(
                    "entry for stream '{text}' has timestamp too old: {}, oldest acceptable timestamp is: {}",
                    fmt_ts(e.ts),
                    fmt_ts(oldest)
                ));
                continue;
            }
            if e.ts > newest {
                out.errors.push(format!(
                    "entry for stream '{text}' has timestamp too new: {}",
                    fmt_ts(e.ts)
                ));
                continue;
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
                        "max entry size '{}' bytes exceeded for stream '{text}' while adding an entry with length '{}' bytes",
                        limits.max_line_size,
                        e.line.len()
                    ));
                    continue;
                }
            }
            out.accepted_lines += 1;
            out.accepted_bytes += e.line.len() as u64;
            kept.push(e);
        }
        if !kept.is_empty() {
            s.entries = kept;
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
            |_| false,
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
            |_| false,
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
            |_| false,
        );
        assert_eq!(v.streams[0].1.entries[0].line, "abcd");
    }

    #[test]
    fn dates() {
        assert_eq!(fmt_ts(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            fmt_ts(1_709_251_200_000_000_001),
            "2024-03-01T00:00:00.000000001Z"
        );
    }
}
