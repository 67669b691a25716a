//! Request parameters as Loki reads them: merged from the query string and
//! a form-encoded POST body, with Loki's time, duration and limit rules.

use crate::config::parse_duration;
use crate::error::{ApiError, ApiResult};

/// Parameters of one request (query string first, then the form body).
#[derive(Debug, Default, Clone)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn parse(query: Option<&str>, form_body: Option<&[u8]>) -> ApiResult<Params> {
        let mut v: Vec<(String, String)> = Vec::new();
        if let Some(q) = query {
            v.extend(
                serde_urlencoded::from_str::<Vec<(String, String)>>(q)
                    .map_err(|e| ApiError::BadRequest(format!("invalid query string: {e}")))?,
            );
        }
        if let Some(b) = form_body {
            v.extend(
                serde_urlencoded::from_bytes::<Vec<(String, String)>>(b)
                    .map_err(|e| ApiError::BadRequest(format!("invalid form body: {e}")))?,
            );
        }
        Ok(Params(v))
    }

    /// The first non-empty value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Loki's timestamp rules: float seconds (ms precision), ≤10-digit integer
/// seconds, longer integers nanoseconds, else RFC3339.
pub fn parse_time(s: &str) -> ApiResult<i64> {
    if s.contains('.') {
        if let Ok(f) = s.parse::<f64>() {
            let ms = (f * 1000.0).round();
            return Ok((ms as i64).saturating_mul(1_000_000));
        }
    }
    if let Ok(n) = s.parse::<i64>() {
        return Ok(if s.len() <= 10 {
            n.saturating_mul(1_000_000_000)
        } else {
            n
        });
    }
    parse_rfc3339(s)
        .ok_or_else(|| ApiError::BadRequest(format!("cannot parse \"{s}\" to a valid timestamp")))
}

/// RFC3339 with optional fraction and offset.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b't' || b[10] == b' ') {
        return None;
    }
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[13] != b':'
        || b[16] != b':'
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&d)
        || h > 23
        || mi > 59
        || se > 60
    {
        return None;
    }
    let mut i = 19;
    let mut frac: i64 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = &s[start..i];
        if digits.is_empty() {
            return None;
        }
        let mut f = String::from(&digits[..digits.len().min(9)]);
        while f.len() < 9 {
            f.push('0');
        }
        frac = f.parse().ok()?;
    }
    let off = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        b'+' | b'-' if i + 6 == b.len() => {
            let sign = if b[i] == b'-' { -1 } else { 1 };
            let oh: i64 = s.get(i + 1..i + 3)?.parse().ok()?;
            let om: i64 = s.get(i + 4..i + 6)?.parse().ok()?;
            sign * (oh * 3600 + om * 60)
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo as u32, d as u32);
    let secs = days * 86_400 + h * 3600 + mi * 60 + se - off;
    Some(secs * 1_000_000_000 + frac)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `step`/`interval`: float seconds, else a duration. Returns nanoseconds.
pub fn parse_step(s: &str) -> ApiResult<i64> {
    if let Ok(f) = s.parse::<f64>() {
        return Ok((f * 1e9).round() as i64);
    }
    parse_duration(s)
        .map(|d| d.as_nanos() as i64)
        .ok_or_else(|| ApiError::BadRequest(format!("cannot parse \"{s}\" to a valid duration")))
}

/// `start`/`end` with Loki's defaults (`end` now, `since` 1h).
/// The length of `[start, end]` in ns, saturating: client timestamps may be
/// anything an i64 holds, and `i64::MAX - i64::MIN` must not wrap into a
/// small (or negative) span that slips past the limits.
pub fn span(start: i64, end: i64) -> i64 {
    end.saturating_sub(start)
}

/// Loki's step when none is given: the range in 250 points, whole seconds.
pub fn default_step(start: i64, end: i64) -> i64 {
    ((span(start, end) / 1_000_000_000) / 250)
        .max(1)
        .saturating_mul(1_000_000_000)
}

/// Refuses a step that is not positive, or one that would give a series
/// more than 11,000 points (Loki's texts), before anything is allocated.
pub fn check_step(start: i64, end: i64, step: i64) -> ApiResult<()> {
    if step <= 0 {
        return Err(ApiError::BadRequest(
            "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
        ));
    }
    if span(start, end) / step > 11_000 {
        return Err(ApiError::BadRequest(
            "exceeded maximum resolution of 11,000 points per time series. Try increasing the value of the step parameter".into(),
        ));
    }
    Ok(())
}

pub fn time_range(p: &Params) -> ApiResult<(i64, i64)> {
    let now = now_ns();
    let end = match p.get("end") {
        Some(s) => parse_time(s)?,
        None => now,
    };
    let since = match p.get("since") {
        Some(s) => parse_duration(s)
            .map(|d| d.as_nanos() as i64)
            .ok_or_else(|| {
                ApiError::BadRequest(format!("cannot parse \"{s}\" to a valid duration"))
            })?,
        None => 3600 * 1_000_000_000,
    };
    let start = match p.get("start") {
        Some(s) => parse_time(s)?,
        None => end.min(now).saturating_sub(since),
    };
    Ok((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_formats() {
        assert_eq!(parse_time("1700000000").unwrap(), 1_700_000_000_000_000_000);
        assert_eq!(
            parse_time("1700000000.5").unwrap(),
            1_700_000_000_500_000_000
        );
        assert_eq!(
            parse_time("1700000000.0001").unwrap(),
            1_700_000_000_000_000_000
        );
        assert_eq!(
            parse_time("1700000000123456789").unwrap(),
            1_700_000_000_123_456_789
        );
        assert_eq!(parse_time("4000000000").unwrap(), 4_000_000_000_000_000_000);
        assert_eq!(
            parse_time("2024-05-01T12:00:00Z").unwrap(),
            1_714_564_800_000_000_000
        );
        assert_eq!(
            parse_time("2024-05-01T12:00:00.123Z").unwrap(),
            1_714_564_800_123_000_000
        );
        assert_eq!(
            parse_time("2024-05-01T14:00:00+02:00").unwrap(),
            1_714_564_800_000_000_000
        );
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn steps() {
        assert_eq!(parse_step("15").unwrap(), 15_000_000_000);
        assert_eq!(parse_step("0.5").unwrap(), 500_000_000);
        assert_eq!(parse_step("1500ms").unwrap(), 1_500_000_000);
        assert_eq!(parse_step("1m30s").unwrap(), 90_000_000_000);
    }

    #[test]
    fn form_and_query_merge() {
        let p = Params::parse(
            Some("query=%7Ba%3D%22b%22%7D&limit=5"),
            Some(b"limit=7&direction=forward"),
        )
        .unwrap();
        assert_eq!(p.get("query"), Some("{a=\"b\"}"));
        assert_eq!(p.get("limit"), Some("5"));
        assert_eq!(p.get("direction"), Some("forward"));
    }
}
