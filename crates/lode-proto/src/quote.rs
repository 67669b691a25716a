//! Go string quoting and unquoting, as Loki and Prometheus use for label
//! values (`strconv.Quote` / `strconv.Unquote`).

use std::fmt::Write;

/// Renders `s` the way Go's `%q` does for valid UTF-8.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    push_go_escaped(&mut out, s);
    out.push('"');
    out
}

/// Appends the body of a Go-quoted string (without the quotes).
pub fn push_go_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// Why an escape sequence was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnquoteError {
    InvalidEscape,
    InvalidUtf8,
}

/// Decodes the body of a quoted string (between the quotes) with Go's escape
/// rules. `quote` is the delimiter (`"` or `'`); `\'` is only valid inside
/// single quotes and `\"` only inside double quotes. `\x` and octal escapes
/// produce raw bytes; the result must still be valid UTF-8.
pub fn go_unescape(body: &str, quote: u8) -> Result<String, UnquoteError> {
    if !body.as_bytes().contains(&b'\\') {
        return Ok(body.to_owned());
    }
    let b = body.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let e = *b.get(i + 1).ok_or(UnquoteError::InvalidEscape)?;
        i += 2;
        match e {
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'\\' => out.push(b'\\'),
            b'"' | b'\'' if e == quote => out.push(e),
            b'x' => {
                let v = hex_value(b, i, 2)?;
                out.push(v as u8);
                i += 2;
            }
            b'u' | b'U' => {
                let n = if e == b'u' { 4 } else { 8 };
                let v = hex_value(b, i, n)?;
                let ch = char::from_u32(v).ok_or(UnquoteError::InvalidEscape)?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                i += n;
            }
            b'0'..=b'7' => {
                let digits = b.get(i - 1..i + 2).ok_or(UnquoteError::InvalidEscape)?;
                let mut v: u32 = 0;
                for &d in digits {
                    if !(b'0'..=b'7').contains(&d) {
                        return Err(UnquoteError::InvalidEscape);
                    }
                    v = v * 8 + u32::from(d - b'0');
                }
                if v > 255 {
                    return Err(UnquoteError::InvalidEscape);
                }
                out.push(v as u8);
                i += 2;
            }
            _ => return Err(UnquoteError::InvalidEscape),
        }
    }
    String::from_utf8(out).map_err(|_| UnquoteError::InvalidUtf8)
}

fn hex_value(b: &[u8], at: usize, n: usize) -> Result<u32, UnquoteError> {
    let digits = b.get(at..at + n).ok_or(UnquoteError::InvalidEscape)?;
    let mut v: u32 = 0;
    for &d in digits {
        let x = (d as char)
            .to_digit(16)
            .ok_or(UnquoteError::InvalidEscape)?;
        v = v * 16 + x;
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_escapes_like_go() {
        assert_eq!(go_quote("a\"b\\c\nd\x01é"), "\"a\\\"b\\\\c\\nd\\x01é\"");
        assert_eq!(go_quote("x"), "\"x\"");
    }

    #[test]
    fn unescape_handles_go_escapes() {
        assert_eq!(go_unescape(r#"d\"e"#, b'"').unwrap(), "d\"e");
        assert_eq!(
            go_unescape(r"\u00e9\U0001F331\x41\101\t", b'"').unwrap(),
            "é🌱AA\t"
        );
        assert_eq!(go_unescape(r"it\'s", b'\'').unwrap(), "it's");
        assert_eq!(
            go_unescape(r"it\'s", b'"'),
            Err(UnquoteError::InvalidEscape)
        );
        assert_eq!(go_unescape(r"\q", b'"'), Err(UnquoteError::InvalidEscape));
        assert_eq!(go_unescape(r"\u12", b'"'), Err(UnquoteError::InvalidEscape));
        assert_eq!(
            go_unescape(r"\ud800", b'"'),
            Err(UnquoteError::InvalidEscape)
        );
        assert_eq!(go_unescape(r"\400", b'"'), Err(UnquoteError::InvalidEscape));
        assert_eq!(go_unescape(r"\xff", b'"'), Err(UnquoteError::InvalidUtf8));
        assert_eq!(go_unescape("\\", b'"'), Err(UnquoteError::InvalidEscape));
    }
}
