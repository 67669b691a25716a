//! Go string literals: unquoting what the lexer read and quoting what the
//! printer writes, so that `quote` output unquotes to the same string.

/// Unquotes the body of a double-quoted Go string (without the quotes).
/// Escapes: `\a \b \f \n \r \t \v \\ \"`, `\xHH`, `\NNN` (octal), `\uHHHH`,
/// `\UHHHHHHHH`. Byte escapes must add up to valid UTF-8.
pub(crate) fn unquote_go(body: &str) -> Result<String, String> {
    if !body.contains('\\') {
        return Ok(body.to_string());
    }
    let mut out: Vec<u8> = Vec::with_capacity(body.len());
    let b = body.as_bytes();
    let mut i = 0;
    let invalid = || "invalid syntax".to_string();
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        i += 1;
        let Some(&e) = b.get(i) else {
            return Err(invalid());
        };
        i += 1;
        match e {
            b'a' => out.push(0x07),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(0x0b),
            b'\\' => out.push(b'\\'),
            b'"' => out.push(b'"'),
            b'x' => {
                let v = hex(b.get(i..i + 2).ok_or_else(invalid)?).ok_or_else(invalid)?;
                out.push(v as u8);
                i += 2;
            }
            b'0'..=b'7' => {
                let digits = b.get(i - 1..i + 2).ok_or_else(invalid)?;
                let mut v: u32 = 0;
                for &d in digits {
                    if !(b'0'..=b'7').contains(&d) {
                        return Err(invalid());
                    }
                    v = v * 8 + u32::from(d - b'0');
                }
                if v > 255 {
                    return Err(invalid());
                }
                out.push(v as u8);
                i += 2;
            }
            b'u' | b'U' => {
                let n = if e == b'u' { 4 } else { 8 };
                let v = hex(b.get(i..i + n).ok_or_else(invalid)?).ok_or_else(invalid)?;
                let ch = char::from_u32(v).ok_or_else(invalid)?;
                let mut buf = [0; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                i += n;
            }
            _ => return Err(invalid()),
        }
    }
    String::from_utf8(out).map_err(|_| "invalid UTF-8 in string literal".to_string())
}

fn hex(digits: &[u8]) -> Option<u32> {
    let mut v: u32 = 0;
    for &d in digits {
        v = v * 16 + (d as char).to_digit(16)?;
    }
    Some(v)
}

/// Quotes a string as a Go double-quoted literal that `unquote_go` reads back.
pub(crate) fn quote(s: &str, out: &mut String) {
    out.reserve(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' || c == '\u{feff}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_escapes() {
        assert_eq!(unquote_go(r"a\tb\n").unwrap(), "a\tb\n");
        assert_eq!(unquote_go(r#"\"q\" \\"#).unwrap(), "\"q\" \\");
        assert_eq!(unquote_go(r"\u001b[0;35m").unwrap(), "\u{1b}[0;35m");
        assert_eq!(unquote_go(r"\x41\101\U0001F600").unwrap(), "AA😀");
        assert_eq!(unquote_go(r"\xc3\xa9").unwrap(), "é");
        assert_eq!(unquote_go("Küche").unwrap(), "Küche");
        assert!(unquote_go(r"\q").is_err());
        assert!(unquote_go(r"\'").is_err());
        assert!(unquote_go(r"\x4").is_err());
        assert!(unquote_go(r"\400").is_err());
        assert!(unquote_go(r"\ud800").is_err());
        assert!(unquote_go(r"\xff").is_err());
        assert!(unquote_go("\\").is_err());
    }

    proptest::proptest! {
        #[test]
        fn quote_round_trips(s in "\\PC*|[\\x00-\\x1f\"\\\\\\x7f\u{80}-\u{9f}]*") {
            let mut q = String::new();
            quote(&s, &mut q);
            proptest::prop_assert_eq!(unquote_go(&q[1..q.len() - 1]).unwrap(), s);
        }
    }
}
