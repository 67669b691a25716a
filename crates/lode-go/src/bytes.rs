//! go-humanize's `ParseBytes`, which Loki uses for byte-size literals
//! (`bytes > 1KB`), `unwrap bytes()`, templates and its byte-size settings.

/// Why a size did not parse; prints go-humanize's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BytesError {
    #[error("strconv.ParseFloat: parsing {}: invalid syntax", crate::strconv::quote(.0))]
    Number(String),
    #[error("unhandled size name: {0}")]
    Unit(String),
    #[error("too large: {0}")]
    TooLarge(String),
}

/// `humanize.ParseBytes`: a decimal number (commas allowed), an optional
/// space, and a case-insensitive SI or IEC unit (`B`, `kB`, `KiB`, `M`,
/// `GiB`...). Fractions of a byte are dropped.
pub fn parse(s: &str) -> Result<u64, BytesError> {
    let num_len = s
        .bytes()
        .take_while(|c| c.is_ascii_digit() || *c == b'.' || *c == b',')
        .count();
    let num = s[..num_len].replace(',', "");
    let value = parse_decimal(&num).ok_or_else(|| BytesError::Number(num.clone()))?;
    let unit = s[num_len..].trim().to_lowercase();
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
        _ => return Err(BytesError::Unit(unit)),
    };
    let bytes = value * mult;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(BytesError::TooLarge(s.to_string()));
    }
    Ok(bytes as u64)
}

/// What `strconv.ParseFloat` takes from the digits and dots before the unit.
fn parse_decimal(num: &str) -> Option<f64> {
    if !num.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    num.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_humanize() {
        assert_eq!(parse("20MB"), Ok(20_000_000));
        assert_eq!(parse("1.5KiB"), Ok(1536));
        assert_eq!(parse("100B"), Ok(100));
        assert_eq!(parse("190kb"), Ok(190_000));
        assert_eq!(parse("1 GiB"), Ok(1 << 30));
        assert_eq!(parse("50Gi"), Ok(50 << 30));
        assert_eq!(parse("42"), Ok(42));
        assert_eq!(parse("1,000 kB"), Ok(1_000_000));
        assert_eq!(parse("2M"), Ok(2_000_000));
        assert_eq!(parse("1.5B"), Ok(1));
        assert_eq!(parse("1PiB"), Ok(1 << 50));
    }

    #[test]
    fn errors_read_like_humanize() {
        assert_eq!(
            parse("MB").unwrap_err().to_string(),
            r#"strconv.ParseFloat: parsing "": invalid syntax"#
        );
        assert_eq!(
            parse("12 parsecs").unwrap_err().to_string(),
            "unhandled size name: parsecs"
        );
        assert_eq!(
            parse("100000EB").unwrap_err().to_string(),
            "too large: 100000EB"
        );
        assert!(parse("-1B").is_err());
        assert!(parse(" 1B").is_err());
        assert!(parse("1..2B").is_err());
    }
}
