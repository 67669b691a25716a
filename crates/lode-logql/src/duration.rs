//! Prometheus durations (`1h30m`, `90s`, `5m`), Go durations (`1.5h`,
//! `300ms`) and byte sizes (`20MB`, `1.5KiB`), parsed and printed the way
//! Loki does: ranges and `step` use Prometheus' strict unit order, label
//! filters and `offset` try Prometheus first and fall back to Go, byte sizes
//! follow go-humanize (case-insensitive unit, optional space).

const NS: i64 = 1;
const US: i64 = 1_000 * NS;
const MS: i64 = 1_000 * US;
const SEC: i64 = 1_000 * MS;
const MIN: i64 = 60 * SEC;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;
const WEEK: i64 = 7 * DAY;
const YEAR: i64 = 365 * DAY;

/// Prometheus units, biggest first: a duration must use them in this order,
/// each at most once.
const PROM_UNITS: [(&str, i64); 7] = [
    ("y", YEAR),
    ("w", WEEK),
    ("d", DAY),
    ("h", HOUR),
    ("m", MIN),
    ("s", SEC),
    ("ms", MS),
];

/// Parses a Prometheus duration (`[0-9]+(y|w|d|h|m|s|ms)` repeated, units in
/// decreasing order, or a bare `0`) into nanoseconds.
pub fn parse_prom_duration(s: &str) -> Option<i64> {
    match s {
        "0" => return Some(0),
        "" => return None,
        _ => {}
    }
    let b = s.as_bytes();
    let mut i = 0;
    let mut total: i64 = 0;
    // Index into PROM_UNITS of the next unit allowed (enforces order).
    let mut next_unit = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        let v: i64 = s[start..i].parse().ok()?;
        let ustart = i;
        while i < b.len() && !b[i].is_ascii_digit() {
            i += 1;
        }
        let unit = &s[ustart..i];
        let pos = PROM_UNITS[next_unit..]
            .iter()
            .position(|(u, _)| *u == unit)?;
        let mult = PROM_UNITS[next_unit + pos].1;
        next_unit += pos + 1;
        total = total.checked_add(v.checked_mul(mult)?)?;
    }
    Some(total)
}

/// Parses a Go `time.ParseDuration` string (`1.5h`, `2h45m`, `-300ms`,
/// `10us`/`10µs`, `0`) into nanoseconds.
pub fn parse_go_duration(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    // Accumulate in u64 so that -9223372036854775808ns is representable.
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let b = rest.as_bytes();
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return None;
        }
        let mut i = 0;
        let mut int: u64 = 0;
        let mut int_overflow = false;
        while i < b.len() && b[i].is_ascii_digit() {
            match int
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(b[i] - b'0')))
            {
                Some(v) => int = v,
                None => int_overflow = true,
            }
            i += 1;
        }
        if int_overflow {
            return None;
        }
        let had_int = i > 0;
        let mut frac: u64 = 0;
        let mut scale: f64 = 1.0;
        let mut had_frac = false;
        if i < b.len() && b[i] == b'.' {
            i += 1;
            let fstart = i;
            let mut frac_full = false;
            while i < b.len() && b[i].is_ascii_digit() {
                // Digits past u64 precision are ignored, as Go does.
                if !frac_full {
                    match frac
                        .checked_mul(10)
                        .and_then(|v| v.checked_add(u64::from(b[i] - b'0')))
                    {
                        Some(v) => {
                            frac = v;
                            scale *= 10.0;
                        }
                        None => frac_full = true,
                    }
                }
                i += 1;
            }
            had_frac = i > fstart;
        }
        if !had_int && !had_frac {
            return None;
        }
        let ustart = i;
        while i < b.len() && !(b[i] == b'.' || b[i].is_ascii_digit()) {
            i += 1;
        }
        let unit: u64 = match &rest[ustart..i] {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        let mut v = int.checked_mul(unit)?;
        if frac > 0 {
            v = v.checked_add((frac as f64 * (unit as f64 / scale)) as u64)?;
        }
        total = total.checked_add(v)?;
        if total > 1u64 << 63 {
            return None;
        }
        rest = &rest[i..];
    }
    if neg {
        Some((total as i64).wrapping_neg())
    } else if total > i64::MAX as u64 {
        None
    } else {
        Some(total as i64)
    }
}

/// Loki's duration literal rule: Prometheus syntax first, then Go's.
pub fn parse_duration(s: &str) -> Option<i64> {
    parse_prom_duration(s).or_else(|| parse_go_duration(s))
}

/// Parses a byte size the way go-humanize does: a decimal number (commas
/// allowed) followed by an optional, case-insensitive unit (`B`, `kB`, `KiB`,
/// `M`, `GiB`...). The result is truncated to whole bytes.
pub fn parse_bytes(s: &str) -> Option<f64> {
    let s = s.trim();
    let num_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
        .unwrap_or(s.len());
    let num: String = s[..num_end].chars().filter(|&c| c != ',').collect();
    if num.is_empty() || !num.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: f64 = num.parse().ok()?;
    let unit = s[num_end..].trim().to_ascii_lowercase();
    let mult: f64 = match unit.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "ki" | "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mi" | "mib" => 1024f64.powi(2),
        "g" | "gb" => 1e9,
        "gi" | "gib" => 1024f64.powi(3),
        "t" | "tb" => 1e12,
        "ti" | "tib" => 1024f64.powi(4),
        "p" | "pb" => 1e15,
        "pi" | "pib" => 1024f64.powi(5),
        "e" | "eb" => 1e18,
        "ei" | "eib" => 1024f64.powi(6),
        _ => return None,
    };
    let bytes = value * mult;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return None;
    }
    Some(bytes.trunc())
}

/// Prints a duration so that `parse_duration` (and, when it is a whole
/// number of milliseconds, `parse_prom_duration`) reads it back exactly:
/// Prometheus style (`5m`, `1h30m`, `1m30s`, `500ms`, `2w`) where possible,
/// Go style (`1.5us`, `1m0.0000001s`) for sub-millisecond precision.
pub fn format_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    if ns < 0 {
        // Only Go's syntax takes a sign, and it has no days, weeks or years.
        return format!("-{}", format_abs(ns.unsigned_abs(), false));
    }
    format_abs(ns as u64, true)
}

fn format_abs(ns: u64, days: bool) -> String {
    if !ns.is_multiple_of(MS as u64) {
        return go_format_abs(ns);
    }
    let mut ms = ns / MS as u64;
    let mut out = String::new();
    let units: [(&str, u64, bool); 7] = [
        ("y", 365 * 86_400_000, true),
        ("w", 7 * 86_400_000, true),
        ("d", 86_400_000, false),
        ("h", 3_600_000, false),
        ("m", 60_000, false),
        ("s", 1_000, false),
        ("ms", 1, false),
    ];
    let units = if days { &units[..] } else { &units[3..] };
    for &(unit, mult, exact) in units {
        // Years and weeks only when they divide evenly: `90d` reads better
        // than `12w6d`.
        if exact && !ms.is_multiple_of(mult) {
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

/// Go's `time.Duration.String()` (`13h0m0s`, `1.5s`, `300ms`, `2µs`), used
/// in error messages that quote Loki's.
pub fn format_go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let abs = go_format_abs(ns.unsigned_abs()).replace("us", "\u{b5}s");
    if ns < 0 {
        format!("-{abs}")
    } else {
        abs
    }
}

/// Go's layout with `us` for microseconds (ASCII, and our lexer reads it).
fn go_format_abs(ns: u64) -> String {
    if ns < 1_000_000_000 {
        let (unit, div) = if ns < 1_000 {
            ("ns", 1)
        } else if ns < 1_000_000 {
            ("us", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{}{unit}", fixed_point(ns, div));
    }
    let secs_total = ns / 1_000_000_000;
    let frac_ns = ns % 1_000_000_000;
    let hours = secs_total / 3600;
    let mins = (secs_total % 3600) / 60;
    let secs = secs_total % 60;
    let secs_str = fixed_point(secs * 1_000_000_000 + frac_ns, 1_000_000_000);
    if hours > 0 {
        format!("{hours}h{mins}m{secs_str}s")
    } else if mins > 0 {
        format!("{mins}m{secs_str}s")
    } else {
        format!("{secs_str}s")
    }
}

/// `v / div` printed without trailing fractional zeros.
fn fixed_point(v: u64, div: u64) -> String {
    let int = v / div;
    let frac = v % div;
    if frac == 0 {
        return int.to_string();
    }
    let width = div.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{int}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prom_durations() {
        assert_eq!(parse_prom_duration("5m"), Some(5 * MIN));
        assert_eq!(parse_prom_duration("1h30m"), Some(HOUR + 30 * MIN));
        assert_eq!(parse_prom_duration("90s"), Some(90 * SEC));
        assert_eq!(parse_prom_duration("1d"), Some(DAY));
        assert_eq!(parse_prom_duration("2w"), Some(2 * WEEK));
        assert_eq!(parse_prom_duration("1y"), Some(YEAR));
        assert_eq!(parse_prom_duration("1s500ms"), Some(SEC + 500 * MS));
        assert_eq!(parse_prom_duration("0"), Some(0));
        assert_eq!(parse_prom_duration("0s"), Some(0));
        // Out of order, repeated, fractional, unknown, empty, signed.
        assert_eq!(parse_prom_duration("30m1h"), None);
        assert_eq!(parse_prom_duration("1m1m"), None);
        assert_eq!(parse_prom_duration("1.5h"), None);
        assert_eq!(parse_prom_duration("5x"), None);
        assert_eq!(parse_prom_duration("5"), None);
        assert_eq!(parse_prom_duration(""), None);
        assert_eq!(parse_prom_duration("-5m"), None);
        assert_eq!(parse_prom_duration("99999999999999999999y"), None);
        assert_eq!(parse_prom_duration("300y"), None);
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("1.5h"), Some(90 * MIN));
        assert_eq!(parse_go_duration("300ms"), Some(300 * MS));
        assert_eq!(parse_go_duration("2h45m"), Some(2 * HOUR + 45 * MIN));
        assert_eq!(parse_go_duration("1m30s"), Some(90 * SEC));
        assert_eq!(parse_go_duration("10us"), Some(10 * US));
        assert_eq!(parse_go_duration("10µs"), Some(10 * US));
        assert_eq!(parse_go_duration("10μs"), Some(10 * US));
        assert_eq!(parse_go_duration("7ns"), Some(7));
        assert_eq!(parse_go_duration("-1.5s"), Some(-1500 * MS));
        assert_eq!(parse_go_duration("+2s"), Some(2 * SEC));
        assert_eq!(parse_go_duration(".5s"), Some(500 * MS));
        assert_eq!(parse_go_duration("1.s"), Some(SEC));
        assert_eq!(parse_go_duration("0"), Some(0));
        assert_eq!(parse_go_duration("-9223372036854775808ns"), Some(i64::MIN));
        assert_eq!(parse_go_duration("9223372036854775808ns"), None);
        assert_eq!(parse_go_duration("1d"), None);
        assert_eq!(parse_go_duration("5"), None);
        assert_eq!(parse_go_duration(".s"), None);
        assert_eq!(parse_go_duration(""), None);
        assert_eq!(parse_go_duration("-"), None);
        assert_eq!(parse_go_duration("3000000h"), None);
    }

    #[test]
    fn loki_duration_literals() {
        assert_eq!(parse_duration("1d"), Some(DAY));
        assert_eq!(parse_duration("1.5h"), Some(90 * MIN));
        assert_eq!(parse_duration("30m1h"), Some(HOUR + 30 * MIN));
        assert_eq!(parse_duration("abc"), None);
    }

    #[test]
    fn bytes() {
        assert_eq!(parse_bytes("20MB"), Some(20e6));
        assert_eq!(parse_bytes("1.5KiB"), Some(1536.0));
        assert_eq!(parse_bytes("100B"), Some(100.0));
        assert_eq!(parse_bytes("190KB"), Some(190_000.0));
        assert_eq!(parse_bytes("190kb"), Some(190_000.0));
        assert_eq!(parse_bytes("1 GiB"), Some(1024f64.powi(3)));
        assert_eq!(parse_bytes("42"), Some(42.0));
        assert_eq!(parse_bytes("1,000 kB"), Some(1e6));
        assert_eq!(parse_bytes("2M"), Some(2e6));
        assert_eq!(parse_bytes("1.5B"), Some(1.0));
        assert_eq!(parse_bytes("1PiB"), Some(1024f64.powi(5)));
        assert_eq!(parse_bytes("MB"), None);
        assert_eq!(parse_bytes("10XB"), None);
        assert_eq!(parse_bytes("-1B"), None);
        assert_eq!(parse_bytes("100000EB"), None);
    }

    #[test]
    fn format_prom_style() {
        assert_eq!(format_duration(5 * MIN), "5m");
        assert_eq!(format_duration(HOUR + 30 * MIN), "1h30m");
        assert_eq!(format_duration(90 * SEC), "1m30s");
        assert_eq!(format_duration(500 * MS), "500ms");
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(2 * WEEK), "2w");
        assert_eq!(format_duration(90 * DAY), "90d");
        assert_eq!(format_duration(-HOUR), "-1h");
        assert_eq!(format_duration(-DAY - MIN), "-24h1m");
        assert_eq!(format_duration(1500), "1.5us");
        assert_eq!(format_duration(MIN + 100), "1m0.0000001s");
    }

    #[test]
    fn format_go_style() {
        assert_eq!(format_go_duration(13 * HOUR), "13h0m0s");
        assert_eq!(format_go_duration(1500 * MS), "1.5s");
        assert_eq!(format_go_duration(300 * MS), "300ms");
        assert_eq!(format_go_duration(2 * US), "2µs");
        assert_eq!(format_go_duration(-90 * SEC), "-1m30s");
    }

    proptest::proptest! {
        #[test]
        fn format_round_trips(ns in proptest::prelude::any::<i64>()) {
            let s = format_duration(ns);
            proptest::prop_assert_eq!(parse_duration(&s), Some(ns), "{}", s);
        }

        #[test]
        fn format_ms_is_prometheus(ms in 0i64..i64::MAX / MS) {
            let s = format_duration(ms * MS);
            proptest::prop_assert_eq!(parse_prom_duration(&s), Some(ms * MS), "{}", s);
        }
    }
}
