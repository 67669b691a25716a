//! String helpers behind template functions, each following the Go
//! function it stands for (`strings`, `net/url`, `encoding/base64`,
//! `time.ParseDuration`, go-humanize's `ParseBytes`, text/template's
//! escapers).

use std::fmt::Write;

use super::go_quote;

/// Largest string a function may build; guards against templates such as
/// `repeat 1000000000 __line__` exhausting memory.
const MAX_BUILD: usize = 1 << 20;

/// `strings.ToLower`: rune by rune, a rune whose lowercase is several
/// runes stays as it is.
pub(crate) fn go_lower(s: &str) -> String {
    map_case(s, |c| {
        let mut it = c.to_lowercase();
        match (it.next(), it.next()) {
            (Some(l), None) => l,
            _ => c,
        }
    })
}

pub(crate) fn go_upper(s: &str) -> String {
    map_case(s, |c| {
        let mut it = c.to_uppercase();
        match (it.next(), it.next()) {
            (Some(u), None) => u,
            _ => c,
        }
    })
}

fn map_case(s: &str, f: impl Fn(char) -> char) -> String {
    s.chars().map(f).collect()
}

/// `strings.Title`: upper-cases the first letter of each word.
pub(crate) fn title(s: &str) -> String {
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let out = if is_separator(prev) {
                let mut it = c.to_uppercase();
                match (it.next(), it.next()) {
                    (Some(u), None) => u,
                    _ => c,
                }
            } else {
                c
            };
            prev = c;
            out
        })
        .collect()
}

fn is_separator(c: char) -> bool {
    if c.is_ascii() {
        return !(c.is_ascii_alphanumeric() || c == '_');
    }
    if c.is_alphanumeric() {
        return false;
    }
    c.is_whitespace()
}

/// Loki's `trunc`: the first `c` runes, or the last `-c` runes.
pub(crate) fn trunc(c: i64, s: &str) -> String {
    let runes: Vec<char> = s.chars().collect();
    let l = runes.len() as i64;
    if c < 0 && l + c > 0 {
        return runes[(l + c) as usize..].iter().collect();
    }
    if c >= 0 && l > c {
        return runes[..c as usize].iter().collect();
    }
    s.to_string()
}

/// Loki's `substr` on runes, clamping out-of-range bounds.
pub(crate) fn substring(start: i64, end: i64, s: &str) -> String {
    let runes: Vec<char> = s.chars().collect();
    let l = runes.len() as i64;
    let end = end.min(l);
    let start = start.min(l);
    if start < 0 {
        if end < 0 {
            return String::new();
        }
        return runes[..end as usize].iter().collect();
    }
    if end < 0 {
        return runes[start as usize..].iter().collect();
    }
    if start > end {
        return String::new();
    }
    runes[start as usize..end as usize].iter().collect()
}

/// Loki's `alignLeft` / `alignRight`.
pub(crate) fn align(count: i64, src: &str, left: bool) -> String {
    let runes: Vec<char> = src.chars().collect();
    let l = runes.len() as i64;
    if count < 0 || count == l {
        return src.to_string();
    }
    if count > l {
        let pad = ((count - l) as usize).min(MAX_BUILD);
        let spaces = " ".repeat(pad);
        return if left {
            format!("{src}{spaces}")
        } else {
            format!("{spaces}{src}")
        };
    }
    let c = count as usize;
    if left {
        runes[..c].iter().collect()
    } else {
        runes[runes.len() - c..].iter().collect()
    }
}

/// `strings.Repeat`, failing the way Go panics.
pub(crate) fn repeat(s: &str, n: i64) -> Result<String, String> {
    if n < 0 {
        return Err("strings: negative Repeat count".into());
    }
    match s.len().checked_mul(n as usize) {
        Some(total) if total <= MAX_BUILD => Ok(s.repeat(n as usize)),
        _ => Err("strings: Repeat output length overflow".into()),
    }
}

/// `url.QueryEscape`.
pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// `url.QueryUnescape`.
pub(crate) fn query_unescape(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = |c: Option<&u8>| c.and_then(|c| (*c as char).to_digit(16));
                match (hex(b.get(i + 1)), hex(b.get(i + 2))) {
                    (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                    _ => {
                        let end = (i + 3).min(b.len());
                        let esc = String::from_utf8_lossy(&b[i..end]);
                        return Err(format!("invalid URL escape {}", go_quote(&esc)));
                    }
                }
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// text/template's `html` escaper.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// text/template's `js` escaper.
pub(crate) fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c if !c.is_ascii() && (c.is_control() || c.is_whitespace() && c != ' ') => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Go's `base64.StdEncoding`: padding required, stray bits in the last
/// symbol allowed (it is not `Strict`).
const STD: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireCanonical),
);

pub(crate) fn b64_encode(data: &[u8]) -> String {
    base64::Engine::encode(&STD, data)
}

/// `base64.StdEncoding.DecodeString`, which skips `\r` and `\n`; the
/// error is Go's message, with the offset in the original input.
pub(crate) fn b64_decode(s: &str) -> Result<Vec<u8>, String> {
    use base64::DecodeError;
    let newline = |c: &u8| *c == b'\r' || *c == b'\n';
    let kept: std::borrow::Cow<[u8]> = if s.bytes().any(|c| newline(&c)) {
        s.bytes()
            .filter(|c| !newline(c))
            .collect::<Vec<u8>>()
            .into()
    } else {
        s.as_bytes().into()
    };
    base64::Engine::decode(&STD, &kept).map_err(|e| {
        let at = match e {
            DecodeError::InvalidByte(i, _) | DecodeError::InvalidLastSymbol(i, _) => i,
            // Go stops at the start of the quantum it could not finish.
            DecodeError::InvalidLength(len) => len / 4 * 4,
            DecodeError::InvalidPadding => kept.len().saturating_sub(1) / 4 * 4,
        };
        let original = s
            .bytes()
            .enumerate()
            .filter(|(_, c)| !newline(c))
            .nth(at)
            .map_or(s.len(), |(i, _)| i);
        format!("illegal base64 data at input byte {original}")
    })
}

/// `time.ParseDuration`, in seconds.
pub(crate) fn parse_duration(s: &str) -> Result<f64, String> {
    let ns = crate::duration::parse(s).map_err(|e| e.to_string())?;
    Ok((ns / 1_000_000_000) as f64 + (ns % 1_000_000_000) as f64 / 1e9)
}

/// go-humanize's `ParseBytes`.
pub(crate) fn parse_bytes(s: &str) -> Result<f64, String> {
    crate::bytes::parse(s)
        .map(|b| b as f64)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_string_functions() {
        assert_eq!(title("hello wORLD-foo_bar"), "Hello WORLD-Foo_bar");
        assert_eq!(go_upper("straße"), "STRAßE");
        assert_eq!(trunc(3, "héllo"), "hél");
        assert_eq!(trunc(-2, "héllo"), "lo");
        assert_eq!(trunc(10, "abc"), "abc");
        assert_eq!(substring(6, 11, "hello world"), "world");
        assert_eq!(substring(-1, 5, "hello world"), "hello");
        assert_eq!(substring(3, -1, "hello"), "lo");
        assert_eq!(substring(4, 2, "hello"), "");
        assert_eq!(align(5, "hi", true), "hi   ");
        assert_eq!(align(5, "hello world", false), "world");
        assert!(repeat("x", -1).is_err());
    }

    #[test]
    fn escapers() {
        assert_eq!(query_escape("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
        assert_eq!(query_unescape("a+b%26c").unwrap(), "a b&c");
        assert_eq!(
            query_unescape("%zz").unwrap_err(),
            "invalid URL escape \"%zz\""
        );
        assert_eq!(
            html_escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&#34;&lt;/a&gt;"
        );
        assert_eq!(
            js_escape("a'b\"<=>\n"),
            "a\\'b\\\"\\u003C\\u003D\\u003E\\u000A"
        );
    }

    #[test]
    fn base64_round_trip_and_errors() {
        for s in ["", "f", "fo", "foo", "foob", "fooba", "foobar"] {
            assert_eq!(b64_decode(&b64_encode(s.as_bytes())).unwrap(), s.as_bytes());
        }
        assert_eq!(b64_encode(b"hello"), "aGVsbG8=");
        assert_eq!(
            b64_decode("aGVsbG8").unwrap_err(),
            "illegal base64 data at input byte 4"
        );
        assert_eq!(
            b64_decode("a!==").unwrap_err(),
            "illegal base64 data at input byte 1"
        );
        assert_eq!(b64_decode("aGVs\r\nbG8=").unwrap(), b"hello");
        assert_eq!(
            b64_decode("aG\nVs!G8=").unwrap_err(),
            "illegal base64 data at input byte 5"
        );
        // Go is not strict about the unused bits of the last symbol.
        assert_eq!(b64_decode("aGVsbG9=").unwrap(), b"hello");
    }

    #[test]
    fn durations_and_bytes() {
        assert_eq!(parse_duration("1.46s").unwrap(), 1.46);
        assert_eq!(parse_duration("777ms").unwrap(), 0.777);
        assert_eq!(parse_duration("1h30m").unwrap(), 5400.0);
        assert_eq!(parse_duration("-1.5us").unwrap(), -0.0000015);
        assert_eq!(
            parse_duration("5").unwrap_err(),
            "time: missing unit in duration \"5\""
        );
        assert_eq!(
            parse_duration("5d").unwrap_err(),
            "time: unknown unit \"d\" in duration \"5d\""
        );
        assert_eq!(
            parse_duration("").unwrap_err(),
            "time: invalid duration \"\""
        );
        assert_eq!(parse_bytes("10Gi").unwrap(), 10_737_418_240.0);
        assert_eq!(parse_bytes("1.5 MB").unwrap(), 1_500_000.0);
        assert_eq!(parse_bytes("42").unwrap(), 42.0);
        assert_eq!(
            parse_bytes("12 parsecs").unwrap_err(),
            "unhandled size name: parsecs"
        );
    }
}
