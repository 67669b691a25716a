//! Go's `strconv` string literals: `Quote` (what Loki prints in label sets,
//! error messages and `format_query`) and `Unquote` (what LogQL's lexer,
//! the label parser and templates read), so that every quoted string Lode
//! prints reads back to the same string.

use std::fmt::Write as _;

/// Go's `strconv.Quote`: a double-quoted literal, printable Unicode kept,
/// everything else escaped.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    quote_into(&mut out, s);
    out
}

/// Appends `strconv.Quote(s)` to `out`.
pub fn quote_into(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    push_escaped(out, s, '"', false);
    out.push('"');
}

/// Appends the body of a quoted literal: `quote` is the delimiter to escape,
/// `ascii` escapes every non-ASCII rune too (`strconv.QuoteToASCII`).
pub fn push_escaped(out: &mut String, s: &str, quote: char, ascii: bool) {
    for c in s.chars() {
        match c {
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            '\\' => out.push_str("\\\\"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (ascii && !c.is_ascii()) || (!ascii && !is_print(c)) => {
                if (c as u32) < 0x10000 {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                } else {
                    let _ = write!(out, "\\U{:08x}", c as u32);
                }
            }
            c => out.push(c),
        }
    }
}

/// Approximates Go's `strconv.IsPrint`: letters, marks, numbers,
/// punctuation, symbols and the ASCII space; not format characters,
/// private use or separators other than the space.
pub fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(c as u32, 0xad | 0x200b..=0x200f | 0x2028..=0x202e | 0x2060..=0x206f | 0xfeff | 0xfff9..=0xfffb | 0xe000..=0xf8ff | 0xf0000..))
}

/// Why `strconv.Unquote` refused a literal. Go says `invalid syntax` for
/// both; Lode tells them apart where its callers word them differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UnquoteError {
    #[error("invalid syntax")]
    Syntax,
    /// Byte escapes (`\xff`, `\377`) that do not add up to UTF-8.
    #[error("invalid UTF-8 in string literal")]
    InvalidUtf8,
}

/// Go's `strconv.Unquote` of a whole literal (`"…"`, `'…'` or `` `…` ``),
/// as raw bytes: `\x` and octal escapes in `"…"` may make any byte.
pub fn unquote_bytes(lit: &str) -> Result<Vec<u8>, UnquoteError> {
    unquote_with(lit, false)
}

/// Prometheus' `strutil.Unquote`, which label selectors and LogQL's lexer
/// use: like `strconv.Unquote`, except that `'…'` is a string like `"…"`
/// (any length, `\x` a byte) rather than one rune, and a raw string keeps
/// its carriage returns.
pub fn unquote_promql(lit: &str) -> Result<String, UnquoteError> {
    String::from_utf8(unquote_with(lit, true)?).map_err(|_| UnquoteError::InvalidUtf8)
}

fn unquote_with(lit: &str, single_is_string: bool) -> Result<Vec<u8>, UnquoteError> {
    let rune_literal = !single_is_string;
    let b = lit.as_bytes();
    if b.len() < 2 {
        return Err(UnquoteError::Syntax);
    }
    let quote = b[0];
    if b[b.len() - 1] != quote {
        return Err(UnquoteError::Syntax);
    }
    let body = &lit[1..lit.len() - 1];
    match quote {
        b'`' if body.contains('`') => return Err(UnquoteError::Syntax),
        // Go drops carriage returns from raw strings; Prometheus' keeps them.
        b'`' if single_is_string => return Ok(body.as_bytes().to_vec()),
        b'`' => return Ok(body.replace('\r', "").into_bytes()),
        b'"' | b'\'' => {}
        _ => return Err(UnquoteError::Syntax),
    }
    if quote == b'"' && !body.contains(['\\', '"', '\n']) {
        return Ok(body.as_bytes().to_vec());
    }
    let mut out: Vec<u8> = Vec::with_capacity(body.len());
    let mut runes = 0usize;
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        runes += 1;
        if c == quote as char || c == '\n' {
            return Err(UnquoteError::Syntax);
        }
        if c != '\\' {
            push_char(&mut out, c);
            continue;
        }
        let e = chars.next().ok_or(UnquoteError::Syntax)?;
        let simple = match e {
            'a' => Some(7u8),
            'b' => Some(8),
            'f' => Some(12),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(11),
            '\\' => Some(b'\\'),
            '\'' | '"' if e as u32 == u32::from(quote) => Some(e as u8),
            _ => None,
        };
        if let Some(v) = simple {
            out.push(v);
            continue;
        }
        let mut digits = |n: usize, radix: u32| -> Result<u32, UnquoteError> {
            let mut v = 0u32;
            for _ in 0..n {
                let d = chars.next().and_then(|h| h.to_digit(radix));
                v = v * radix + d.ok_or(UnquoteError::Syntax)?;
            }
            Ok(v)
        };
        let byte_or_rune = |out: &mut Vec<u8>, v: u32| -> Result<(), UnquoteError> {
            // In a rune literal `\xHH` is the rune U+00HH; in a string, a byte.
            if quote == b'\'' && rune_literal {
                push_char(out, char::from_u32(v).ok_or(UnquoteError::Syntax)?);
            } else {
                out.push(u8::try_from(v).map_err(|_| UnquoteError::Syntax)?);
            }
            Ok(())
        };
        match e {
            'x' => {
                let v = digits(2, 16)?;
                byte_or_rune(&mut out, v)?;
            }
            'u' => push_char(
                &mut out,
                char::from_u32(digits(4, 16)?).ok_or(UnquoteError::Syntax)?,
            ),
            'U' => push_char(
                &mut out,
                char::from_u32(digits(8, 16)?).ok_or(UnquoteError::Syntax)?,
            ),
            '0'..='7' => {
                let v = e.to_digit(8).unwrap_or(0) * 64 + digits(2, 8)?;
                if v > 255 {
                    return Err(UnquoteError::Syntax);
                }
                byte_or_rune(&mut out, v)?;
            }
            _ => return Err(UnquoteError::Syntax),
        }
    }
    if quote == b'\'' && rune_literal && runes != 1 {
        // A rune literal holds exactly one rune (one escape counts as one).
        return Err(UnquoteError::Syntax);
    }
    Ok(out)
}

/// `strconv.Unquote` where the result must be UTF-8 (LogQL strings and label
/// values: Rust strings cannot hold the raw bytes Go would keep).
pub fn unquote(lit: &str) -> Result<String, UnquoteError> {
    String::from_utf8(unquote_bytes(lit)?).map_err(|_| UnquoteError::InvalidUtf8)
}

/// `strconv.Unquote` with bytes that are not UTF-8 shown as U+FFFD, the way
/// Go prints such a string (templates).
pub fn unquote_lossy(lit: &str) -> Result<String, UnquoteError> {
    let bytes = unquote_bytes(lit)?;
    Ok(match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

fn push_char(out: &mut Vec<u8>, c: char) {
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_go() {
        assert_eq!(quote("a\"b\\c\nd\x01é"), "\"a\\\"b\\\\c\\nd\\x01é\"");
        assert_eq!(
            quote("\u{7}\u{7f}\u{2028}\u{1F600}"),
            "\"\\a\\x7f\\u2028\u{1F600}\""
        );
        assert_eq!(quote("\u{f0000}"), "\"\\U000f0000\"");
        let mut s = String::new();
        push_escaped(&mut s, "é'", '\'', true);
        assert_eq!(s, "\\u00e9\\'");
    }

    #[test]
    fn unquotes_like_go() {
        assert_eq!(unquote(r#""a\tb\n""#).unwrap(), "a\tb\n");
        assert_eq!(unquote(r#""\"q\" \\""#).unwrap(), "\"q\" \\");
        assert_eq!(unquote(r#""\u001b[0;35m""#).unwrap(), "\u{1b}[0;35m");
        assert_eq!(unquote(r#""\x41\101\U0001F600""#).unwrap(), "AA😀");
        assert_eq!(unquote(r#""\xc3\xa9""#).unwrap(), "é");
        assert_eq!(unquote(r#""Küche""#).unwrap(), "Küche");
        assert_eq!(unquote("`a\\n`").unwrap(), "a\\n");
        assert_eq!(unquote(r"'\''").unwrap(), "'");
        assert_eq!(unquote(r"'\xff'").unwrap(), "\u{ff}");
        for bad in [
            r#""\q""#,
            r#""\'""#,
            r#""\x4""#,
            r#""\400""#,
            r#""\ud800""#,
            "\"\\\"",
            "\"a\nb\"",
            "'ab'",
            "`a`b`",
            "\"",
            "x",
        ] {
            assert_eq!(unquote(bad), Err(UnquoteError::Syntax), "{bad}");
        }
        assert_eq!(unquote(r#""\xff""#), Err(UnquoteError::InvalidUtf8));
        assert_eq!(unquote_lossy(r#""a\xffb""#).unwrap(), "a\u{fffd}b");
        assert_eq!(unquote_promql(r"'it\'s \xc3\xa9'").unwrap(), "it's é");
        assert_eq!(unquote_promql(r#""d\"e""#).unwrap(), "d\"e");
        assert_eq!(unquote_promql(r#""\'""#), Err(UnquoteError::Syntax));
        assert_eq!(unquote_promql("`a\r\nb`").unwrap(), "a\r\nb");
        assert_eq!(unquote("`a\r\nb`").unwrap(), "a\nb");
    }

    proptest::proptest! {
        #[test]
        fn quote_round_trips(s in "\\PC*|[\\x00-\\x1f\"\\\\\\x7f\u{80}-\u{9f}\u{2028}]*") {
            proptest::prop_assert_eq!(unquote(&quote(&s)).unwrap(), s);
        }
    }
}

/// How Go's `strconv` prints NaN and the infinities; `None` for a finite value.
pub fn non_finite(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some("NaN")
    } else if v.is_infinite() {
        Some(if v > 0.0 { "+Inf" } else { "-Inf" })
    } else {
        None
    }
}

/// `strconv.FormatFloat(v, 'e', -1, 64)`: the shortest exponent form that
/// reads back exactly (Prometheus prints alert values so: `1e+01`).
pub fn format_float_e(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let s = format!("{v:e}");
    match s.split_once('e') {
        Some((m, e)) => {
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', e),
            };
            format!("{m}e{sign}{digits:0>2}")
        }
        None => s,
    }
}

#[cfg(test)]
mod format_float_tests {
    use super::format_float_e;

    #[test]
    fn exponent_form_as_go_prints_it() {
        assert_eq!(format_float_e(10.0), "1e+01");
        assert_eq!(format_float_e(1.0), "1e+00");
        assert_eq!(format_float_e(0.25), "2.5e-01");
        assert_eq!(format_float_e(123456.0), "1.23456e+05");
        assert_eq!(format_float_e(-3e-300), "-3e-300");
        assert_eq!(format_float_e(f64::NAN), "NaN");
        assert_eq!(format_float_e(f64::NEG_INFINITY), "-Inf");
    }
}
