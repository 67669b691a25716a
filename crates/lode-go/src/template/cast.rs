//! Number parsing with Go's `strconv` rules and the `spf13/cast`
//! conversions Sprig's numeric functions apply to any argument, plus the
//! decimal arithmetic of Sprig's `addf subf mulf divf`.

use super::value::Value;

/// Go's `strconv.ParseUint(s, 0, 64)`.
pub(crate) fn go_parse_uint(s: &str) -> Option<u64> {
    if s.is_empty() || s.starts_with(['+', '-']) || s.contains('_') && !underscore_ok(s) {
        return None;
    }
    let (base, digits) = split_base(s);
    let mut v: u64 = 0;
    let mut any = false;
    for c in digits.chars() {
        if c == '_' {
            continue;
        }
        let d = c.to_digit(base)? as u64;
        v = v.checked_mul(base as u64)?.checked_add(d)?;
        any = true;
    }
    any.then_some(v)
}

/// Go's `strconv.ParseInt(s, 0, 64)`.
pub(crate) fn go_parse_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if s.contains('_') && !underscore_ok(s) {
        return None;
    }
    let u = go_parse_uint(body)?;
    if neg {
        if u <= i64::MAX as u64 + 1 {
            Some((u as i128).wrapping_neg() as i64)
        } else {
            None
        }
    } else if u <= i64::MAX as u64 {
        Some(u as i64)
    } else {
        None
    }
}

/// Go's `strconv.ParseInt(s, 10, 64)`.
pub(crate) fn go_parse_int_base10(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn split_base(s: &str) -> (u32, &str) {
    let b = s.as_bytes();
    if b.len() >= 2 && b[0] == b'0' {
        return match b[1] {
            b'x' | b'X' => (16, &s[2..]),
            b'o' | b'O' => (8, &s[2..]),
            b'b' | b'B' => (2, &s[2..]),
            _ => (8, &s[1..]),
        };
    }
    (10, s)
}

/// Go's rule for `_` in base-0 integers: only between digits (or after
/// the base prefix).
fn underscore_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i = 1;
    }
    let mut saw = b'^';
    let mut hex = false;
    if b.len() >= i + 2 && b[i] == b'0' && matches!(b[i + 1] | 0x20, b'b' | b'o' | b'x') {
        hex = b[i + 1] | 0x20 == b'x';
        i += 2;
        saw = b'0';
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || hex && (c | 0x20).is_ascii_hexdigit() {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

/// Go's `strconv.ParseFloat(s, 64)` for decimal syntax and the special
/// values; out-of-range results are errors as in Go.
pub(crate) fn go_parse_float(s: &str) -> Option<f64> {
    let body = s.trim_start_matches(['+', '-']);
    if body.len() + 1 < s.len() || body.is_empty() {
        return None;
    }
    let lower = body.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" {
        return Some(if s.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if lower == "nan" {
        return if body.len() == s.len() {
            Some(f64::NAN)
        } else {
            None
        };
    }
    if !body
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    let v: f64 = s.parse().ok()?;
    if v.is_infinite() {
        return None;
    }
    Some(v)
}

/// `cast.ToInt64`: strings parse as base-0 integers after dropping an
/// all-zero fraction; anything unconvertible is 0.
pub(crate) fn to_int64(v: &Value<'_>) -> i64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i,
        Value::Float(f) => go_f64_to_i64(*f),
        Value::Bool(b) => *b as i64,
        Value::Str(s) => go_parse_int(trim_zero_decimal(s)).unwrap_or(0),
        _ => 0,
    }
}

/// `cast.ToFloat64`.
pub(crate) fn to_float64(v: &Value<'_>) -> f64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => *b as i64 as f64,
        Value::Str(s) => go_parse_float(s).unwrap_or(0.0),
        _ => 0.0,
    }
}

/// Go's float-to-int conversion on amd64: out of range (and NaN) gives the
/// minimum int64.
pub(crate) fn go_f64_to_i64(f: f64) -> i64 {
    if f.is_nan() || !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) {
        i64::MIN
    } else {
        f as i64
    }
}

fn trim_zero_decimal(s: &str) -> &str {
    let b = s.as_bytes();
    let mut found_zero = false;
    for i in (0..b.len()).rev() {
        match b[i] {
            b'.' if found_zero => return &s[..i],
            b'.' => {}
            b'0' => found_zero = true,
            _ => return s,
        }
    }
    s
}

/// A decimal `mantissa * 10^exp`, enough for Sprig's float arithmetic
/// (which goes through `shopspring/decimal`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Decimal {
    m: i128,
    e: i32,
}

impl Decimal {
    /// `decimal.NewFromFloat`: the shortest decimal that round-trips.
    pub fn from_f64(f: f64) -> Result<Decimal, String> {
        if !f.is_finite() {
            let shown = if f.is_nan() {
                "NaN"
            } else if f > 0.0 {
                "+Inf"
            } else {
                "-Inf"
            };
            return Err(format!("Cannot create a Decimal from {shown}"));
        }
        if f == 0.0 {
            return Ok(Decimal { m: 0, e: 0 });
        }
        let s = format!("{:e}", f);
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let neg = mant.starts_with('-');
        let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
        let m: i128 = digits.parse().unwrap_or(0);
        let e = exp - (digits.len() as i32 - 1);
        Ok(Decimal {
            m: if neg { -m } else { m },
            e,
        })
    }

    pub fn to_f64(self) -> f64 {
        format!("{}e{}", self.m, self.e).parse().unwrap_or(f64::NAN)
    }

    fn align(a: Decimal, b: Decimal) -> Option<(i128, i128, i32)> {
        let e = a.e.min(b.e);
        let am = a.m.checked_mul(pow10(a.e - e)?)?;
        let bm = b.m.checked_mul(pow10(b.e - e)?)?;
        Some((am, bm, e))
    }

    pub fn add(self, o: Decimal) -> Option<Decimal> {
        let (a, b, e) = Self::align(self, o)?;
        Some(Decimal {
            m: a.checked_add(b)?,
            e,
        })
    }

    pub fn sub(self, o: Decimal) -> Option<Decimal> {
        let (a, b, e) = Self::align(self, o)?;
        Some(Decimal {
            m: a.checked_sub(b)?,
            e,
        })
    }

    pub fn mul(self, o: Decimal) -> Option<Decimal> {
        Some(Decimal {
            m: self.m.checked_mul(o.m)?,
            e: self.e.checked_add(o.e)?,
        })
    }

    /// Division rounded half away from zero to 16 decimal places.
    pub fn div(self, o: Decimal) -> Option<Decimal> {
        let k = self.e - o.e + 16;
        let (num, den) = if k >= 0 {
            (self.m.checked_mul(pow10(k)?)?, o.m)
        } else {
            (self.m, o.m.checked_mul(pow10(-k)?)?)
        };
        let q = num.checked_div(den)?;
        let r = num.checked_rem(den)?;
        let adjust = if r.unsigned_abs().checked_mul(2)? >= den.unsigned_abs() {
            if (num < 0) != (den < 0) {
                -1
            } else {
                1
            }
        } else {
            0
        };
        Some(Decimal {
            m: q.checked_add(adjust)?,
            e: -16,
        })
    }
}

fn pow10(n: i32) -> Option<i128> {
    if !(0..=38).contains(&n) {
        return None;
    }
    10i128.checked_pow(n as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn s(v: &str) -> Value<'_> {
        Value::Str(Cow::Borrowed(v))
    }

    #[test]
    fn go_integer_syntax() {
        assert_eq!(go_parse_int("42"), Some(42));
        assert_eq!(go_parse_int("-0x1F"), Some(-31));
        assert_eq!(go_parse_int("010"), Some(8));
        assert_eq!(go_parse_int("0b101"), Some(5));
        assert_eq!(go_parse_int("1_000"), Some(1000));
        assert_eq!(go_parse_int("1__0"), None);
        assert_eq!(go_parse_int("08"), None);
        assert_eq!(go_parse_int("9223372036854775808"), None);
        assert_eq!(go_parse_int("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(go_parse_int("0"), Some(0));
        assert_eq!(go_parse_int(""), None);
        assert_eq!(go_parse_uint("18446744073709551615"), Some(u64::MAX));
    }

    #[test]
    fn cast_semantics() {
        assert_eq!(to_int64(&s("42")), 42);
        assert_eq!(to_int64(&s("7.000")), 7);
        assert_eq!(to_int64(&s("7.5")), 0);
        assert_eq!(to_int64(&s(" 7")), 0);
        assert_eq!(to_int64(&Value::Float(-3.9)), -3);
        assert_eq!(to_float64(&s("2.5")), 2.5);
        assert_eq!(to_float64(&s("1e400")), 0.0);
        assert_eq!(to_float64(&s("abc")), 0.0);
        assert_eq!(to_float64(&Value::Bool(true)), 1.0);
    }

    #[test]
    fn decimal_arithmetic_is_exact_like_shopspring() {
        let d = |f| Decimal::from_f64(f).unwrap();
        assert_eq!(d(0.1).add(d(0.2)).unwrap().to_f64(), 0.3);
        assert_eq!(
            d(5.5).mul(d(2.0)).unwrap().mul(d(2.5)).unwrap().to_f64(),
            27.5
        );
        assert_eq!(d(10.0).div(d(4.0)).unwrap().to_f64(), 2.5);
        assert_eq!(d(2.0).div(d(3.0)).unwrap().to_f64(), 0.6666666666666667);
        assert!(Decimal::from_f64(f64::NAN).is_err());
    }
}
