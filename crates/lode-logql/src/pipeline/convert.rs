//! Label value conversions shared by label filters and `unwrap`: Go
//! `strconv.ParseFloat`, `time.ParseDuration` and go-humanize `ParseBytes`
//! semantics, with error texts shaped like Go's.

/// A plain float, as `strconv.ParseFloat` reads it.
pub(crate) fn parse_float(v: &str) -> Result<f64, String> {
    let t = v.trim_start_matches('+');
    let ok_chars = !t.is_empty()
        && t.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'+' | b'_'));
    let parsed = if ok_chars && v.len() - t.len() <= 1 {
        t.parse::<f64>().ok()
    } else {
        None
    };
    parsed.ok_or_else(|| format!("strconv.ParseFloat: parsing {v:?}: invalid syntax"))
}

/// A Go duration (`1h30m`, `2925.665ms`, `-1.5s`, `0`) in nanoseconds.
pub(crate) fn parse_duration_ns(v: &str) -> Result<f64, String> {
    let err = || format!("time: invalid duration {v:?}");
    let mut s = v;
    let mut neg = false;
    if let Some(r) = s.strip_prefix('-') {
        neg = true;
        s = r;
    } else if let Some(r) = s.strip_prefix('+') {
        s = r;
    }
    if s == "0" {
        return Ok(0.0);
    }
    if s.is_empty() {
        return Err(err());
    }
    let mut total = 0f64;
    while !s.is_empty() {
        let num_end = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let num = &s[..num_end];
        if num.is_empty() || num == "." {
            return Err(err());
        }
        let n: f64 = num.parse().map_err(|_| err())?;
        s = &s[num_end..];
        let unit_end = s
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(s.len());
        let unit = &s[..unit_end];
        let mult = match unit {
            "ns" => 1.0,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("time: missing unit in duration {v:?}")),
            _ => return Err(format!("time: unknown unit {unit:?} in duration {v:?}")),
        };
        total += n * mult;
        s = &s[unit_end..];
    }
    Ok(if neg { -total } else { total })
}

/// A byte size (`50Gi`, `20 MB`, `1.5KiB`, `100`) as go-humanize reads it.
pub(crate) fn parse_bytes(v: &str) -> Result<f64, String> {
    let last_digit = v
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_digit() || c == '.' || c == ','))
        .map_or(v.len(), |(i, _)| i);
    let num: String = v[..last_digit].chars().filter(|&c| c != ',').collect();
    let n: f64 = num
        .parse()
        .map_err(|_| format!("strconv.ParseFloat: parsing {num:?}: invalid syntax"))?;
    let unit = v[last_digit..].trim().to_ascii_lowercase();
    let k = 1000f64;
    let ki = 1024f64;
    let mult = match unit.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => k,
        "ki" | "kib" => ki,
        "m" | "mb" => k.powi(2),
        "mi" | "mib" => ki.powi(2),
        "g" | "gb" => k.powi(3),
        "gi" | "gib" => ki.powi(3),
        "t" | "tb" => k.powi(4),
        "ti" | "tib" => ki.powi(4),
        "p" | "pb" => k.powi(5),
        "pi" | "pib" => ki.powi(5),
        "e" | "eb" => k.powi(6),
        "ei" | "eib" => ki.powi(6),
        _ => return Err(format!("unhandled size name: {unit}")),
    };
    Ok(n * mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats() {
        assert_eq!(parse_float("10"), Ok(10.0));
        assert_eq!(parse_float("-2.5e3"), Ok(-2500.0));
        assert!(parse_float("").is_err());
        assert!(parse_float("12ms").is_err());
        assert!(parse_float(" 1").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ns("1h30m"), Ok(5400e9));
        assert_eq!(parse_duration_ns("2925.665ms"), Ok(2925.665e6));
        assert_eq!(parse_duration_ns("-1.5s"), Ok(-1.5e9));
        assert_eq!(parse_duration_ns("0"), Ok(0.0));
        assert_eq!(parse_duration_ns("5µs"), Ok(5e3));
        assert!(parse_duration_ns("10").is_err());
        assert!(parse_duration_ns("1x").is_err());
        assert!(parse_duration_ns("").is_err());
    }

    #[test]
    fn bytes() {
        assert_eq!(parse_bytes("50Gi"), Ok(50.0 * 1024f64.powi(3)));
        assert_eq!(parse_bytes("20 MB"), Ok(20e6));
        assert_eq!(parse_bytes("1.5KiB"), Ok(1536.0));
        assert_eq!(parse_bytes("100"), Ok(100.0));
        assert!(parse_bytes("12 parsecs").is_err());
        assert!(parse_bytes("MB").is_err());
    }
}
