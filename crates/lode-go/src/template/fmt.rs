//! Go's `fmt` printing for template values: `Sprint`, `Sprintln`,
//! `Sprintf` with flags, width, precision, argument indexes, and the
//! `%!verb(type=value)` forms Go prints for mismatched arguments.

use std::fmt::Write;

use super::value::Value;
use crate::strconv::push_escaped as push_quoted_body;

/// More significant or fractional digits than any f64 has.
const MAX_EXACT_DIGITS: usize = 1100;

#[derive(Debug, Clone, Copy, Default)]
struct Flags {
    plus: bool,
    minus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    plus_v: bool,
    sharp_v: bool,
    wid: Option<usize>,
    prec: Option<usize>,
}

/// `fmt.Sprint`: spaces between operands when neither side is a string.
pub(crate) fn sprint(out: &mut String, args: &[Value<'_>]) {
    let mut prev_string = false;
    for (i, a) in args.iter().enumerate() {
        let is_string = matches!(a, Value::Str(_));
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        print_arg(out, a, 'v', &Flags::default());
        prev_string = is_string;
    }
}

/// `fmt.Sprintln`: always spaces, and a final newline.
pub(crate) fn sprintln(out: &mut String, args: &[Value<'_>]) {
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        print_arg(out, a, 'v', &Flags::default());
    }
    out.push('\n');
}

/// Appends `v` as `fmt.Print` shows it (`%v`).
pub(crate) fn print_value(out: &mut String, v: &Value<'_>) {
    match v {
        Value::Str(s) => out.push_str(s),
        _ => print_arg(out, v, 'v', &Flags::default()),
    }
}

/// `fmt.Sprintf`.
pub(crate) fn sprintf(out: &mut String, format: &str, args: &[Value<'_>]) {
    let b = format.as_bytes();
    let end = b.len();
    let mut arg_num = 0usize;
    let mut reordered = false;
    let mut i = 0usize;
    while i < end {
        let mut good_arg_num = true;
        let last = i;
        while i < end && b[i] != b'%' {
            i += 1;
        }
        out.push_str(&format[last..i]);
        if i >= end {
            break;
        }
        i += 1;
        let mut f = Flags::default();
        while i < end {
            match b[i] {
                b'#' => f.sharp = true,
                b'0' => f.zero = !f.minus,
                b'+' => f.plus = true,
                b'-' => {
                    f.minus = true;
                    f.zero = false;
                }
                b' ' => f.space = true,
                _ => break,
            }
            i += 1;
        }
        let mut after_index;
        (arg_num, i, after_index) = arg_number(
            arg_num,
            format,
            i,
            args.len(),
            &mut reordered,
            &mut good_arg_num,
        );
        if i < end && b[i] == b'*' {
            i += 1;
            let (n, ok, next) = int_from_arg(args, arg_num);
            arg_num = next;
            if !ok {
                out.push_str("%!(BADWIDTH)");
            } else if n < 0 {
                f.minus = true;
                f.zero = false;
                f.wid = Some(n.unsigned_abs() as usize);
            } else {
                f.wid = Some(n as usize);
            }
            after_index = false;
        } else {
            let (n, present, next) = parse_num(b, i);
            i = next;
            if present {
                f.wid = Some(n);
                if after_index {
                    good_arg_num = false;
                }
            }
        }
        if i < end && b[i] == b'.' {
            i += 1;
            if after_index {
                good_arg_num = false;
            }
            (arg_num, i, after_index) = arg_number(
                arg_num,
                format,
                i,
                args.len(),
                &mut reordered,
                &mut good_arg_num,
            );
            if i < end && b[i] == b'*' {
                i += 1;
                let (n, ok, next) = int_from_arg(args, arg_num);
                arg_num = next;
                if !ok {
                    out.push_str("%!(BADPREC)");
                } else if n >= 0 {
                    f.prec = Some(n as usize);
                }
                after_index = false;
            } else {
                let (n, _, next) = parse_num(b, i);
                i = next;
                f.prec = Some(n);
            }
        }
        if !after_index {
            (arg_num, i, _) = arg_number(
                arg_num,
                format,
                i,
                args.len(),
                &mut reordered,
                &mut good_arg_num,
            );
        }
        let Some(verb) = format[i..].chars().next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        i += verb.len_utf8();
        if verb == '%' {
            out.push('%');
        } else if !good_arg_num {
            let _ = write!(out, "%!{verb}(BADINDEX)");
        } else if arg_num >= args.len() {
            let _ = write!(out, "%!{verb}(MISSING)");
        } else {
            if verb == 'v' {
                f.sharp_v = f.sharp;
                f.sharp = false;
                f.plus_v = f.plus;
                f.plus = false;
            }
            print_arg(out, &args[arg_num], verb, &f);
            arg_num += 1;
        }
    }
    if !reordered && arg_num < args.len() {
        out.push_str("%!(EXTRA ");
        for (k, a) in args[arg_num..].iter().enumerate() {
            if k > 0 {
                out.push_str(", ");
            }
            if let Value::Nil = a {
                out.push_str("<nil>");
            } else {
                out.push_str(a.type_name());
                out.push('=');
                print_arg(out, a, 'v', &Flags::default());
            }
        }
        out.push(')');
    }
}

fn arg_number(
    arg_num: usize,
    format: &str,
    i: usize,
    num_args: usize,
    reordered: &mut bool,
    good: &mut bool,
) -> (usize, usize, bool) {
    let b = format.as_bytes();
    if i >= b.len() || b[i] != b'[' {
        return (arg_num, i, false);
    }
    *reordered = true;
    let Some(close) = b[i + 1..].iter().position(|&c| c == b']') else {
        *good = false;
        return (arg_num, i + 1, false);
    };
    let inner = &format[i + 1..i + 1 + close];
    let wid = close + 2;
    match inner.parse::<usize>() {
        Ok(n) if n >= 1 && n - 1 < num_args && inner.bytes().all(|c| c.is_ascii_digit()) => {
            (n - 1, i + wid, true)
        }
        Ok(_) if inner.bytes().all(|c| c.is_ascii_digit()) => {
            *good = false;
            (arg_num, i + wid, true)
        }
        _ => {
            *good = false;
            (arg_num, i + wid, false)
        }
    }
}

fn parse_num(b: &[u8], mut i: usize) -> (usize, bool, usize) {
    let start = i;
    let mut n: usize = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        if n > 1_000_000 {
            return (0, false, b.len());
        }
        n = n * 10 + (b[i] - b'0') as usize;
        i += 1;
    }
    (n, i > start, i)
}

fn int_from_arg(args: &[Value<'_>], arg_num: usize) -> (i64, bool, usize) {
    match args.get(arg_num) {
        Some(Value::Int(n) | Value::Int64(n)) if n.unsigned_abs() <= 1_000_000 => {
            (*n, true, arg_num + 1)
        }
        Some(Value::U8(n)) => (*n as i64, true, arg_num + 1),
        Some(_) => (0, false, arg_num + 1),
        None => (0, false, arg_num),
    }
}

fn pad(out: &mut String, s: &str, f: &Flags) {
    let Some(wid) = f.wid else {
        out.push_str(s);
        return;
    };
    let n = wid.saturating_sub(s.chars().count());
    if f.minus {
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', n));
    } else {
        let c = if f.zero { '0' } else { ' ' };
        out.extend(std::iter::repeat_n(c, n));
        out.push_str(s);
    }
}

fn bad_verb(out: &mut String, v: &Value<'_>, verb: char, f: &Flags) {
    let _ = write!(out, "%!{verb}(");
    match v {
        Value::Nil => out.push_str("<nil>"),
        _ => {
            out.push_str(v.type_name());
            out.push('=');
            print_arg(out, v, 'v', f);
        }
    }
    out.push(')');
}

fn print_arg(out: &mut String, v: &Value<'_>, verb: char, f: &Flags) {
    if verb == 'T' {
        pad(out, v.type_name(), f);
        return;
    }
    match v {
        Value::Nil => match verb {
            'v' => pad(out, "<nil>", f),
            _ => bad_verb(out, v, verb, f),
        },
        Value::Bool(b) => match verb {
            't' | 'v' => pad(out, if *b { "true" } else { "false" }, f),
            _ => bad_verb(out, v, verb, f),
        },
        Value::Int(i) | Value::Int64(i) => fmt_integer(out, v, *i as u64, *i < 0, true, verb, f),
        Value::U8(u) => fmt_integer(out, v, *u as u64, false, false, verb, f),
        Value::Float(x) => match verb {
            'v' => fmt_float(out, *x, 'g', None, f),
            'g' | 'G' | 'e' | 'E' | 'f' | 'F' => {
                let default_prec = if matches!(verb, 'g' | 'G') {
                    None
                } else {
                    Some(6)
                };
                fmt_float(out, *x, verb, f.prec.or(default_prec), f)
            }
            _ => bad_verb(out, v, verb, f),
        },
        Value::Str(s) => fmt_string(out, v, s, verb, f),
        Value::Time(t) => match verb {
            'v' | 's' | 'x' | 'X' | 'q' => {
                let s = t.to_string();
                fmt_string(out, v, &s, verb, f)
            }
            _ => bad_verb(out, v, verb, f),
        },
        Value::Labels => pad(out, "map[]", f),
        Value::StrMap(m) => {
            out.push_str("map[");
            for (k, (key, val)) in m.iter().enumerate() {
                if k > 0 {
                    out.push(' ');
                }
                fmt_string(out, v, key, verb, f);
                out.push(':');
                fmt_string(out, v, val, verb, f);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push_str("map[");
            for (k, (key, val)) in m.iter().enumerate() {
                if k > 0 {
                    out.push(' ');
                }
                fmt_string(out, v, key, verb, f);
                out.push(':');
                print_arg(out, val, verb, f);
            }
            out.push(']');
        }
        Value::List(l) => {
            out.push('[');
            for (k, val) in l.iter().enumerate() {
                if k > 0 {
                    out.push(' ');
                }
                print_arg(out, val, verb, f);
            }
            out.push(']');
        }
    }
}

fn fmt_string(out: &mut String, v: &Value<'_>, s: &str, verb: char, f: &Flags) {
    match verb {
        'v' if f.sharp_v => {
            let mut q = String::with_capacity(s.len() + 2);
            q.push('"');
            push_quoted_body(&mut q, s, '"', false);
            q.push('"');
            pad(out, &q, f);
        }
        'v' | 's' => {
            if let Some(p) = f.prec {
                if let Some((idx, _)) = s.char_indices().nth(p) {
                    return pad(out, &s[..idx], f);
                }
            }
            pad(out, s, f)
        }
        'q' => {
            let s = match f.prec.and_then(|p| s.char_indices().nth(p)) {
                Some((idx, _)) => &s[..idx],
                None => s,
            };
            let mut q = String::with_capacity(s.len() + 2);
            if f.sharp
                && !s.contains(['`', '\r', '\n'])
                && !s.chars().any(|c| c.is_control() && c != '\t')
            {
                q.push('`');
                q.push_str(s);
                q.push('`');
            } else {
                q.push('"');
                push_quoted_body(&mut q, s, '"', f.plus);
                q.push('"');
            }
            pad(out, &q, f)
        }
        'x' | 'X' => {
            let bytes = s.as_bytes();
            let n = f.prec.map_or(bytes.len(), |p| p.min(bytes.len()));
            let mut h = String::with_capacity(n * 3);
            for (k, byte) in bytes[..n].iter().enumerate() {
                if f.space && k > 0 {
                    h.push(' ');
                }
                if f.sharp && (f.space || k == 0) {
                    h.push_str(if verb == 'x' { "0x" } else { "0X" });
                }
                if verb == 'x' {
                    let _ = write!(h, "{byte:02x}");
                } else {
                    let _ = write!(h, "{byte:02X}");
                }
            }
            pad(out, &h, f)
        }
        _ => bad_verb(out, v, verb, f),
    }
}

fn fmt_integer(
    out: &mut String,
    v: &Value<'_>,
    raw: u64,
    negative: bool,
    signed: bool,
    verb: char,
    f: &Flags,
) {
    let u = if negative && signed {
        (raw as i64).unsigned_abs()
    } else {
        raw
    };
    let (base, upper) = match verb {
        'v' | 'd' => (10, false),
        'b' => (2, false),
        'o' | 'O' => (8, false),
        'x' => (16, false),
        'X' => (16, true),
        'c' => {
            let c = char::from_u32(u as u32)
                .filter(|_| u <= 0x10ffff && !negative)
                .unwrap_or('\u{fffd}');
            let mut buf = [0u8; 4];
            return pad(out, c.encode_utf8(&mut buf), f);
        }
        'q' => {
            let c = char::from_u32(u as u32)
                .filter(|_| u <= 0x10ffff && !negative)
                .unwrap_or('\u{fffd}');
            let mut q = String::from("'");
            push_quoted_body(&mut q, c.encode_utf8(&mut [0u8; 4]), '\'', f.plus);
            q.push('\'');
            return pad(out, &q, f);
        }
        'U' => {
            let mut s = format!("U+{u:04X}");
            if f.sharp {
                if let Some(c) = char::from_u32(u as u32).filter(|c| !c.is_control()) {
                    let _ = write!(s, " '{c}'");
                }
            }
            return pad(out, &s, f);
        }
        _ => return bad_verb(out, v, verb, f),
    };
    let mut prec = 0usize;
    if let Some(p) = f.prec {
        prec = p;
        if p == 0 && u == 0 {
            let no_zero = Flags { zero: false, ..*f };
            return pad(out, "", &no_zero);
        }
    } else if f.zero && !f.minus {
        if let Some(w) = f.wid {
            prec = w;
            if negative || f.plus || f.space {
                prec = prec.saturating_sub(1);
            }
        }
    }
    let mut digits: Vec<u8> = Vec::with_capacity(24);
    let mut n = u;
    loop {
        let d = (n % base) as u8;
        digits.push(match d {
            0..=9 => b'0' + d,
            _ if upper => b'A' + d - 10,
            _ => b'a' + d - 10,
        });
        n /= base;
        if n == 0 {
            break;
        }
    }
    while digits.len() < prec {
        digits.push(b'0');
    }
    if f.sharp {
        match base {
            2 => digits.extend_from_slice(b"b0"),
            8 if digits.last() != Some(&b'0') => digits.push(b'0'),
            16 => digits.extend_from_slice(if upper { b"X0" } else { b"x0" }),
            _ => {}
        }
    }
    if verb == 'O' {
        digits.extend_from_slice(b"o0");
    }
    if negative {
        digits.push(b'-');
    } else if f.plus {
        digits.push(b'+');
    } else if f.space {
        digits.push(b' ');
    }
    digits.reverse();
    let s = String::from_utf8(digits).unwrap_or_default();
    let no_zero = Flags { zero: false, ..*f };
    pad(out, &s, &no_zero);
}

/// Formats a float for `%e %f %g` (and `%v`, which is `%g` with the
/// shortest precision), following `strconv.AppendFloat` and fmt's sign
/// and padding rules.
fn fmt_float(out: &mut String, x: f64, verb: char, prec: Option<usize>, f: &Flags) {
    let mut num = String::with_capacity(24);
    if x.is_nan() {
        num.push_str(if f.plus {
            "+NaN"
        } else if f.space {
            " NaN"
        } else {
            "NaN"
        });
        let no_zero = Flags { zero: false, ..*f };
        return pad(out, &num, &no_zero);
    }
    let neg = x.is_sign_negative();
    num.push(if neg { '-' } else { '+' });
    if x.is_infinite() {
        num.push_str("Inf");
        if !neg && f.space && !f.plus {
            num.replace_range(0..1, " ");
        }
        let no_zero = Flags { zero: false, ..*f };
        return pad(out, &num, &no_zero);
    }
    format_abs(&mut num, x.abs(), verb, prec);
    if f.space && !neg && !f.plus {
        num.replace_range(0..1, " ");
    }
    if f.plus || neg || f.space {
        if f.zero && !f.minus {
            if let Some(w) = f.wid {
                if w > num.len() {
                    out.push_str(&num[..1]);
                    out.extend(std::iter::repeat_n('0', w - num.len()));
                    out.push_str(&num[1..]);
                    return;
                }
            }
        }
        pad(out, &num, f)
    } else {
        pad(out, &num[1..], f)
    }
}

/// Appends |x| (finite, non-negative) in the given verb.
pub(crate) fn format_abs(out: &mut String, x: f64, verb: char, prec: Option<usize>) {
    match verb {
        'f' | 'F' => {
            // Digits past ~1075 decimals are zero for any f64; Rust's
            // formatter refuses precisions above u16::MAX.
            let p = prec.unwrap_or(6);
            let q = p.min(MAX_EXACT_DIGITS);
            let _ = write!(out, "{x:.q$}");
            out.extend(std::iter::repeat_n('0', p - q));
        }
        'e' | 'E' => {
            let (digits, dp) = match prec {
                Some(p) => digits_sig(x, (p + 1).min(MAX_EXACT_DIGITS), false),
                None => digits_shortest(x),
            };
            let p = prec.unwrap_or(digits.len().saturating_sub(1));
            fmt_e(out, &digits, dp, p, verb);
        }
        _ => {
            let shortest = prec.is_none();
            let (digits, dp) = match prec {
                Some(p) => digits_sig(x, p.clamp(1, MAX_EXACT_DIGITS), true),
                None => digits_shortest(x),
            };
            let nd = digits.len() as i64;
            let dpi = dp as i64;
            let mut p = match prec {
                Some(p) => p.max(1) as i64,
                None => nd,
            };
            let mut eprec = p;
            if eprec > nd && nd >= dpi {
                eprec = nd;
            }
            if shortest {
                eprec = 6;
            }
            let exp = dpi - 1;
            if exp < -4 || exp >= eprec {
                if p > nd {
                    p = nd;
                }
                let e = if verb == 'G' { 'E' } else { 'e' };
                fmt_e(out, &digits, dp, (p - 1).max(0) as usize, e);
            } else {
                if p > dpi {
                    p = nd;
                }
                fmt_f(out, &digits, dp, (p - dpi).max(0) as usize);
            }
        }
    }
}

/// Shortest round-trip digits of x (> 0) and the decimal point position
/// (x = 0.d1d2… × 10^dp). Zero has no digits.
fn digits_shortest(x: f64) -> (Vec<u8>, i32) {
    if x == 0.0 {
        return (Vec::new(), 0);
    }
    split_exp(&format!("{x:e}"))
}

/// `n` significant digits, correctly rounded; `trim` drops trailing zeros.
fn digits_sig(x: f64, n: usize, trim: bool) -> (Vec<u8>, i32) {
    if x == 0.0 {
        return (Vec::new(), 0);
    }
    let (mut d, dp) = split_exp(&format!("{:.*e}", n - 1, x));
    if trim {
        while d.len() > 1 && d.last() == Some(&b'0') {
            d.pop();
        }
    }
    (d, dp)
}

fn split_exp(s: &str) -> (Vec<u8>, i32) {
    let (mant, exp) = s.split_once('e').unwrap_or((s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: Vec<u8> = mant.bytes().filter(|c| c.is_ascii_digit()).collect();
    (digits, exp + 1)
}

fn fmt_e(out: &mut String, digits: &[u8], dp: i32, prec: usize, verb: char) {
    out.push(digits.first().map_or('0', |&c| c as char));
    if prec > 0 {
        out.push('.');
        for k in 1..=prec {
            out.push(digits.get(k).map_or('0', |&c| c as char));
        }
    }
    out.push(verb);
    let exp = if digits.is_empty() { 0 } else { dp - 1 };
    out.push(if exp < 0 { '-' } else { '+' });
    let e = exp.unsigned_abs();
    if e < 10 {
        out.push('0');
    }
    let _ = write!(out, "{e}");
}

fn fmt_f(out: &mut String, digits: &[u8], dp: i32, prec: usize) {
    if dp > 0 {
        for k in 0..dp as usize {
            out.push(digits.get(k).map_or('0', |&c| c as char));
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for k in 0..prec as i64 {
            let idx = dp as i64 + k;
            let c = if idx >= 0 {
                digits.get(idx as usize).map_or('0', |&c| c as char)
            } else {
                '0'
            };
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pf(format: &str, args: &[Value<'_>]) -> String {
        let mut s = String::new();
        sprintf(&mut s, format, args);
        s
    }

    fn v(x: f64) -> String {
        let mut s = String::new();
        print_value(&mut s, &Value::Float(x));
        s
    }

    #[test]
    fn floats_print_like_go_v() {
        assert_eq!(v(1.5), "1.5");
        assert_eq!(v(3.0), "3");
        assert_eq!(v(100000.0), "100000");
        assert_eq!(v(1e6), "1e+06");
        assert_eq!(v(123456789.0), "1.23456789e+08");
        assert_eq!(v(0.0001), "0.0001");
        assert_eq!(v(0.00001), "1e-05");
        assert_eq!(v(0.0), "0");
        assert_eq!(v(-2.25), "-2.25");
        assert_eq!(v(f64::INFINITY), "+Inf");
        assert_eq!(v(f64::NAN), "NaN");
        assert_eq!(v(0.1 + 0.2), "0.30000000000000004");
    }

    #[test]
    fn printf_verbs() {
        fn s(x: &str) -> Value<'_> {
            Value::str(x)
        }
        assert_eq!(
            pf(
                "%05d|%-4d|%+d|%x|%X|%o|%b",
                &[
                    Value::Int(42),
                    Value::Int(7),
                    Value::Int(3),
                    Value::Int(255),
                    Value::Int(255),
                    Value::Int(8),
                    Value::Int(5)
                ]
            ),
            "00042|7   |+3|ff|FF|10|101"
        );
        assert_eq!(pf("%05d", &[Value::Int(-42)]), "-0042");
        assert_eq!(
            pf(
                "%.2f|%8.3f|%e|%g|%.3g",
                &[
                    Value::Float(3.14659),
                    Value::Float(2.5),
                    Value::Float(1234.5678),
                    Value::Float(0.000012),
                    Value::Float(1234.0)
                ]
            ),
            "3.15|   2.500|1.234568e+03|1.2e-05|1.23e+03"
        );
        assert_eq!(
            pf(
                "%s|%10s|%-6s|%.2s|%q",
                &[s("ab"), s("right"), s("left"), s("trunc"), s("q\"")]
            ),
            "ab|     right|left  |tr|\"q\\\"\""
        );
        assert_eq!(
            pf("%t %v %%", &[Value::Bool(true), Value::Nil]),
            "true <nil> %"
        );
        assert_eq!(pf("%x", &[s("hi")]), "6869");
        assert_eq!(
            pf("%c|%U", &[Value::Int(65), Value::Int(0x1f600)]),
            "A|U+1F600"
        );
    }

    #[test]
    fn printf_mismatches_match_go() {
        fn s(x: &str) -> Value<'_> {
            Value::str(x)
        }
        assert_eq!(pf("%d", &[s("7")]), "%!d(string=7)");
        // Go keeps width and flags while printing the bad argument.
        assert_eq!(pf("%05d", &[s("7")]), "%!d(string=00007)");
        assert_eq!(pf("%f", &[Value::Int(5)]), "%!f(int=5)");
        assert_eq!(pf("%d", &[Value::Nil]), "%!d(<nil>)");
        assert_eq!(pf("%d %d", &[Value::Int(1)]), "1 %!d(MISSING)");
        assert_eq!(
            pf("%d", &[Value::Int(1), s("x"), Value::Float(2.5)]),
            "1%!(EXTRA string=x, float64=2.5)"
        );
        assert_eq!(pf("abc%", &[]), "abc%!(NOVERB)");
        assert_eq!(pf("%[2]s %[1]s", &[s("a"), s("b")]), "b a");
        assert_eq!(pf("%*d", &[Value::Int(4), Value::Int(7)]), "   7");
        // Precisions beyond what Rust's formatter accepts still work.
        assert_eq!(pf("%.70000f", &[Value::Float(1.5)]).len(), 70002);
        assert_eq!(pf("%.70000e", &[Value::Float(1.5)]).len(), 70006);
        assert_eq!(pf("%.70000g", &[Value::Float(1.5)]), "1.5");
    }

    #[test]
    fn sprint_spacing() {
        let mut out = String::new();
        sprint(
            &mut out,
            &[Value::Int(1), Value::Int(2), Value::str("a"), Value::Int(3)],
        );
        assert_eq!(out, "1 2a3");
        out.clear();
        sprintln(&mut out, &[Value::str("a"), Value::Int(1)]);
        assert_eq!(out, "a 1\n");
    }
}
