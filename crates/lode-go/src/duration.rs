//! Go's `time.Duration`: `time.ParseDuration` (label filters, `unwrap
//! duration()`, templates, field detection, Lode's config) and
//! `Duration.String` (Loki's error messages), with Go's error texts.

/// Why `time.ParseDuration` refused its input; prints Go's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("time: invalid duration {}", time_quote(.0))]
    Invalid(String),
    #[error("time: missing unit in duration {}", time_quote(.0))]
    MissingUnit(String),
    #[error("time: unknown unit {} in duration {}", time_quote(.unit), time_quote(.input))]
    UnknownUnit { unit: String, input: String },
}

const BOUND: u64 = 1 << 63;

/// `time.ParseDuration`: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+` or `0`, in
/// nanoseconds; the units are `ns us µs μs ms s m h`.
pub fn parse(input: &str) -> Result<i64, DurationError> {
    let invalid = || DurationError::Invalid(input.to_string());
    let (neg, mut s) = match input.as_bytes().first() {
        Some(b'-') => (true, &input[1..]),
        Some(b'+') => (false, &input[1..]),
        _ => (false, input),
    };
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !s.is_empty() {
        let b = s.as_bytes();
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return Err(invalid());
        }
        let int_len = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let mut v: u64 = 0;
        for &c in &b[..int_len] {
            if v > BOUND / 10 {
                return Err(invalid());
            }
            v = v * 10 + u64::from(c - b'0');
            if v > BOUND {
                return Err(invalid());
            }
        }
        s = &s[int_len..];
        let (mut frac, mut scale, mut had_frac) = (0u64, 1f64, false);
        if let Some(rest) = s.strip_prefix('.') {
            let frac_len = rest.bytes().take_while(|c| c.is_ascii_digit()).count();
            had_frac = frac_len > 0;
            let mut overflow = false;
            for c in rest[..frac_len].bytes() {
                // Digits past what a u64 holds are read and ignored, as Go does.
                if overflow || frac > (BOUND - 1) / 10 {
                    overflow = true;
                    continue;
                }
                let next = frac * 10 + u64::from(c - b'0');
                if next > BOUND {
                    overflow = true;
                    continue;
                }
                frac = next;
                scale *= 10.0;
            }
            s = &rest[frac_len..];
        }
        if int_len == 0 && !had_frac {
            return Err(invalid());
        }
        let unit_len = s
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        if unit_len == 0 {
            return Err(DurationError::MissingUnit(input.to_string()));
        }
        let unit: u64 = match &s[..unit_len] {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            other => {
                return Err(DurationError::UnknownUnit {
                    unit: other.to_string(),
                    input: input.to_string(),
                })
            }
        };
        s = &s[unit_len..];
        if v > BOUND / unit {
            return Err(invalid());
        }
        v *= unit;
        if frac > 0 {
            v += (frac as f64 * (unit as f64 / scale)) as u64;
            if v > BOUND {
                return Err(invalid());
            }
        }
        total += v;
        if total > BOUND {
            return Err(invalid());
        }
    }
    if neg {
        return Ok((total as i64).wrapping_neg());
    }
    i64::try_from(total).map_err(|_| invalid())
}

/// Go's `Duration.String`: `13h0m0s`, `1.5s`, `300ms`, `2µs`, `-1m30s`.
pub fn format(ns: i64) -> String {
    format_with_micro(ns, "\u{b5}s")
}

/// `Duration.String` with another spelling of the microsecond unit (the
/// LogQL printer writes `us`, which stays ASCII).
pub fn format_with_micro(ns: i64, micro: &str) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let abs = ns.unsigned_abs();
    let body = if abs < 1_000_000_000 {
        let (unit, div) = if abs < 1_000 {
            ("ns", 1)
        } else if abs < 1_000_000 {
            (micro, 1_000)
        } else {
            ("ms", 1_000_000)
        };
        format!("{}{unit}", fixed_point(abs, div))
    } else {
        let secs_total = abs / 1_000_000_000;
        let (hours, mins, secs) = (secs_total / 3600, (secs_total % 3600) / 60, secs_total % 60);
        let secs_str = fixed_point(secs * 1_000_000_000 + abs % 1_000_000_000, 1_000_000_000);
        if hours > 0 {
            format!("{hours}h{mins}m{secs_str}s")
        } else if mins > 0 {
            format!("{mins}m{secs_str}s")
        } else {
            format!("{secs_str}s")
        }
    };
    if ns < 0 {
        format!("-{body}")
    } else {
        body
    }
}

/// `v / div` without trailing fractional zeros.
fn fixed_point(v: u64, div: u64) -> String {
    let (int, frac) = (v / div, v % div);
    if frac == 0 {
        return int.to_string();
    }
    let width = div.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{int}.{}", digits.trim_end_matches('0'))
}

/// The `time` package's own quoting for its errors: `"` and `\` escaped,
/// every byte of a control or non-ASCII character as `\xHH`.
fn time_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if !c.is_ascii() || c < ' ' {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        } else {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;
    const SEC: i64 = 1_000 * MS;
    const MIN: i64 = 60 * SEC;
    const HOUR: i64 = 60 * MIN;

    #[test]
    fn parses_like_go() {
        assert_eq!(parse("1.5h"), Ok(90 * MIN));
        assert_eq!(parse("300ms"), Ok(300 * MS));
        assert_eq!(parse("2h45m"), Ok(2 * HOUR + 45 * MIN));
        assert_eq!(parse("10us"), Ok(10_000));
        assert_eq!(parse("10µs"), Ok(10_000));
        assert_eq!(parse("10μs"), Ok(10_000));
        assert_eq!(parse("7ns"), Ok(7));
        assert_eq!(parse("-1.5s"), Ok(-1500 * MS));
        assert_eq!(parse("+2s"), Ok(2 * SEC));
        assert_eq!(parse(".5s"), Ok(500 * MS));
        assert_eq!(parse("1.s"), Ok(SEC));
        assert_eq!(parse("2925.665ms"), Ok(2_925_665_000));
        assert_eq!(parse("0"), Ok(0));
        assert_eq!(parse("-9223372036854775808ns"), Ok(i64::MIN));
        assert_eq!(parse("1.00000000000000000000001s"), Ok(SEC));
        for bad in [
            "9223372036854775808ns",
            "5",
            ".s",
            "",
            "-",
            "3000000h",
            "1.5.5s",
            "1d",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_read_like_go() {
        assert_eq!(
            parse("abc").unwrap_err().to_string(),
            r#"time: invalid duration "abc""#
        );
        assert_eq!(
            parse("10").unwrap_err().to_string(),
            r#"time: missing unit in duration "10""#
        );
        assert_eq!(
            parse("1d").unwrap_err().to_string(),
            r#"time: unknown unit "d" in duration "1d""#
        );
        assert_eq!(
            parse("1é").unwrap_err().to_string(),
            r#"time: unknown unit "\xc3\xa9" in duration "1\xc3\xa9""#
        );
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format(13 * HOUR), "13h0m0s");
        assert_eq!(format(1500 * MS), "1.5s");
        assert_eq!(format(300 * MS), "300ms");
        assert_eq!(format(2_000), "2µs");
        assert_eq!(format(-90 * SEC), "-1m30s");
        assert_eq!(format(0), "0s");
        assert_eq!(format(i64::MIN), "-2562047h47m16.854775808s");
    }

    proptest::proptest! {
        #[test]
        fn format_round_trips(ns in proptest::prelude::any::<i64>()) {
            proptest::prop_assert_eq!(parse(&format(ns)), Ok(ns));
        }
    }
}
