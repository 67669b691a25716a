//! Label value conversions shared by label filters and `unwrap`: Go
//! `strconv.ParseFloat`, `time.ParseDuration` and go-humanize `ParseBytes`
//! (the last two from `lode-go`), with Go's error texts.

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
    lode_go::duration::parse(v)
        .map(|ns| ns as f64)
        .map_err(|e| e.to_string())
}

/// A byte size (`50Gi`, `20 MB`, `1.5KiB`, `100`) as go-humanize reads it.
pub(crate) fn parse_bytes(v: &str) -> Result<f64, String> {
    lode_go::bytes::parse(v)
        .map(|b| b as f64)
        .map_err(|e| e.to_string())
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
