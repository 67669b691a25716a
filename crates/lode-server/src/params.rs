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

/// RFC 3339 with optional fraction and offset, as Go's `time.RFC3339Nano`.
pub use lode_go::time::parse_rfc3339_nanos as parse_rfc3339;

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
