//! Prometheus' `model` package as Loki uses it: `model.Duration` (LogQL
//! ranges, `step`, retention and query-length settings) and label names.

const MS: i64 = 1_000_000;

/// Units biggest first: a duration uses them in this order, each once.
const UNITS: [(&str, i64); 7] = [
    ("y", 365 * 86_400_000 * MS),
    ("w", 7 * 86_400_000 * MS),
    ("d", 86_400_000 * MS),
    ("h", 3_600_000 * MS),
    ("m", 60_000 * MS),
    ("s", 1_000 * MS),
    ("ms", MS),
];

/// `model.ParseDuration`: `[0-9]+(y|w|d|h|m|s|ms)` repeated with units in
/// decreasing order, or a bare `0`; in nanoseconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    match s {
        "0" => return Some(0),
        "" => return None,
        _ => {}
    }
    let b = s.as_bytes();
    let (mut i, mut total, mut next_unit) = (0, 0i64, 0);
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        let v: i64 = s[start..i].parse().ok()?;
        let unit_start = i;
        while i < b.len() && !b[i].is_ascii_digit() {
            i += 1;
        }
        let unit = &s[unit_start..i];
        let pos = UNITS[next_unit..].iter().position(|(u, _)| *u == unit)?;
        let mult = UNITS[next_unit + pos].1;
        next_unit += pos + 1;
        total = total.checked_add(v.checked_mul(mult)?)?;
    }
    Some(total)
}

/// Loki's duration rule (its lexer's `parseDuration`, also what its
/// settings accept between `model.Duration` and `time.Duration` keys):
/// Prometheus' syntax first, then Go's `time.ParseDuration`.
pub fn parse_duration_or_go(s: &str) -> Option<i64> {
    parse_duration(s).or_else(|| crate::duration::parse(s).ok())
}

/// `model.Duration.String`: whole milliseconds, years and weeks only when
/// they divide the rest (`90d`, not `12w6d`), `0s` for zero.
pub fn format_duration(ns: i64) -> String {
    let mut ms = ns.max(0) / MS;
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, mult) in UNITS {
        let mult = mult / MS;
        if matches!(unit, "y" | "w") && ms % mult != 0 {
            continue;
        }
        let v = ms / mult;
        if v > 0 {
            out.push_str(&v.to_string());
            out.push_str(unit);
            ms -= v * mult;
        }
    }
    out
}

/// `model.LabelName.IsValid` in its legacy form, which Loki keeps for
/// stream labels: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: i64 = 1_000 * MS;
    const DAY: i64 = 86_400 * SEC;

    #[test]
    fn parses_like_prometheus() {
        assert_eq!(parse_duration("5m"), Some(300 * SEC));
        assert_eq!(parse_duration("1h30m"), Some(5400 * SEC));
        assert_eq!(parse_duration("1d"), Some(DAY));
        assert_eq!(parse_duration("2w"), Some(14 * DAY));
        assert_eq!(parse_duration("1y"), Some(365 * DAY));
        assert_eq!(parse_duration("1s500ms"), Some(1500 * MS));
        assert_eq!(parse_duration("0"), Some(0));
        assert_eq!(parse_duration("0s"), Some(0));
        for bad in [
            "30m1h",
            "1m1m",
            "1.5h",
            "5x",
            "5",
            "",
            "-5m",
            "99999999999999999999y",
            "300y",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_like_prometheus() {
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(90 * DAY), "90d");
        assert_eq!(format_duration(14 * DAY), "2w");
        assert_eq!(format_duration(30 * DAY + 3600 * SEC), "30d1h");
        assert_eq!(format_duration(400 * DAY), "400d");
        assert_eq!(format_duration(730 * DAY), "2y");
        assert_eq!(format_duration(90 * SEC), "1m30s");
    }

    #[test]
    fn label_names() {
        assert!(is_valid_label_name("_a1"));
        assert!(!is_valid_label_name("1a"));
        assert!(!is_valid_label_name("a-b"));
        assert!(!is_valid_label_name(""));
        assert!(!is_valid_label_name("é"));
    }

    proptest::proptest! {
        #[test]
        fn format_round_trips(ms in 0i64..i64::MAX / MS) {
            let s = format_duration(ms * MS);
            proptest::prop_assert_eq!(parse_duration(&s), Some(ms * MS), "{}", s);
        }
    }
}
