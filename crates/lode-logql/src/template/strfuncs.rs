//! String helpers behind template functions, each following the Go
//! function it stands for (`strings`, `net/url`, `encoding/base64`,
//! `time.ParseDuration`, go-humanize's `ParseBytes`, text/template's
//! escapers).

use std::fmt::Write;

use super::lex::go_quote;

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

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub(crate) fn b64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (k, &b)| acc | (b as u32) << (16 - 8 * k));
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `base64.StdEncoding.DecodeString`; the error is Go's message.
pub(crate) fn b64_decode(s: &str) -> Result<Vec<u8>, String> {
    let bad = |i: usize| format!("illegal base64 data at input byte {i}");
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len() / 4 * 3);
    let mut quantum = [0u8; 4];
    let mut n = 0usize;
    let mut start = 0usize;
    let mut i = 0usize;
    while i < b.len() {
        let c = b[i];
        if c == b'\r' || c == b'\n' {
            i += 1;
            continue;
        }
        if n == 0 {
            start = i;
        }
        if c == b'=' {
            // Padding is allowed in the last two places of a quantum only.
            if n < 2 {
                return Err(bad(i));
            }
            let mut j = i + 1;
            let mut pads = 1;
            while pads < 4 - n {
                while j < b.len() && (b[j] == b'\r' || b[j] == b'\n') {
                    j += 1;
                }
                if j >= b.len() || b[j] != b'=' {
                    return Err(bad(j.min(b.len())));
                }
                pads += 1;
                j += 1;
            }
            while j < b.len() && (b[j] == b'\r' || b[j] == b'\n') {
                j += 1;
            }
            if j < b.len() {
                return Err(bad(j));
            }
            let v = quantum[..n]
                .iter()
                .enumerate()
                .fold(0u32, |acc, (k, &d)| acc | (d as u32) << (18 - 6 * k));
            out.push((v >> 16) as u8);
            if n == 3 {
                out.push((v >> 8) as u8);
            }
            return Ok(out);
        }
        let Some(d) = B64.iter().position(|&x| x == c) else {
            return Err(bad(i));
        };
        quantum[n] = d as u8;
        n += 1;
        if n == 4 {
            let v = quantum
                .iter()
                .enumerate()
                .fold(0u32, |acc, (k, &d)| acc | (d as u32) << (18 - 6 * k));
            out.extend_from_slice(&[(v >> 16) as u8, (v >> 8) as u8, v as u8]);
            n = 0;
        }
        i += 1;
    }
    if n != 0 {
        return Err(bad(start));
    }
    Ok(out)
}

/// `time.ParseDuration`, in seconds.
pub(crate) fn parse_duration(orig: &str) -> Result<f64, String> {
    let invalid = || format!("time: invalid duration {}", go_quote(orig));
    let mut s = orig;
    let mut neg = false;
    if let Some(c) = s.chars().next() {
        if c == '-' || c == '+' {
            neg = c == '-';
            s = &s[1..];
        }
    }
    if s == "0" {
        return Ok(0.0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !s.is_empty() {
        let b = s.as_bytes();
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return Err(invalid());
        }
        let int_len = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let mut v: u128 = 0;
        for &c in &b[..int_len] {
            v = v * 10 + (c - b'0') as u128;
            if v > 1 << 63 {
                return Err(invalid());
            }
        }
        s = &s[int_len..];
        let (mut frac, mut scale) = (0u128, 1f64);
        let mut post = false;
        if s.starts_with('.') {
            s = &s[1..];
            let fl = s.bytes().take_while(|c| c.is_ascii_digit()).count();
            post = fl > 0;
            let mut overflow = false;
            for c in s[..fl].bytes() {
                if overflow || frac > (1u128 << 63) / 10 {
                    overflow = true;
                    continue;
                }
                frac = frac * 10 + (c - b'0') as u128;
                scale *= 10.0;
            }
            s = &s[fl..];
        }
        if int_len == 0 && !post {
            return Err(invalid());
        }
        let ul = s
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        if ul == 0 {
            return Err(format!("time: missing unit in duration {}", go_quote(orig)));
        }
        let unit_name = &s[..ul];
        s = &s[ul..];
        let unit: u128 = match unit_name {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    go_quote(unit_name),
                    go_quote(orig)
                ));
            }
        };
        if v > (1u128 << 63) / unit {
            return Err(invalid());
        }
        v *= unit;
        if frac > 0 {
            v += (frac as f64 * (unit as f64 / scale)) as u128;
            if v > 1 << 63 {
                return Err(invalid());
            }
        }
        total += v;
        if total > 1 << 63 {
            return Err(invalid());
        }
    }
    if !neg && total > (1 << 63) - 1 {
        return Err(invalid());
    }
    let d = total as i128 * if neg { -1 } else { 1 };
    let d = d as i64;
    Ok((d / 1_000_000_000) as f64 + (d % 1_000_000_000) as f64 / 1e9)
}

/// go-humanize's `ParseBytes` (`"1.5 MB"`, `"42KiB"`, `"1,024"`).
pub(crate) fn parse_bytes(s: &str) -> Result<f64, String> {
    let num_len = s
        .bytes()
        .take_while(|c| c.is_ascii_digit() || *c == b'.' || *c == b',')
        .count();
    let num = s[..num_len].replace(',', "");
    let f: f64 = super::cast::go_parse_float(&num).ok_or_else(|| {
        format!(
            "strconv.ParseFloat: parsing {}: invalid syntax",
            go_quote(&num)
        )
    })?;
    let extra = s[num_len..].trim().to_lowercase();
    let mult: f64 = match extra.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "ki" | "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mi" | "mib" => 1_048_576.0,
        "g" | "gb" => 1e9,
        "gi" | "gib" => 1_073_741_824.0,
        "t" | "tb" => 1e12,
        "ti" | "tib" => 1_099_511_627_776.0,
        "p" | "pb" => 1e15,
        "pi" | "pib" => 1_125_899_906_842_624.0,
        "e" | "eb" => 1e18,
        "ei" | "eib" => 1_152_921_504_606_846_976.0,
        _ => return Err(format!("unhandled size name: {extra}")),
    };
    let v = f * mult;
    if v >= 18_446_744_073_709_551_615.0 {
        return Err(format!("too large: {s}"));
    }
    Ok((v as u64) as f64)
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
