//! Ingestion rate limits: one token bucket per tenant, measured in bytes of
//! lines plus structured metadata, refilled at `ingestion_rate_mb` per
//! second up to `ingestion_burst_size_mb`. A push that does not fit is
//! refused whole with 429 (Alloy retries it later), as Loki does.

use parking_lot::Mutex;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last_ns: i64,
}

/// Token buckets keyed by tenant.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// Takes `bytes` tokens from `key`'s bucket if they are there.
    /// `rate` is bytes per second (<= 0 disables), `burst` the bucket size.
    pub fn allow(&self, key: &str, rate: f64, burst: f64, bytes: u64, now_ns: i64) -> bool {
        if rate <= 0.0 || bytes == 0 {
            return true;
        }
        let burst = burst.max(rate);
        let need = bytes as f64;
        let mut map = self.buckets.lock();
        let b = match map.get_mut(key) {
            Some(b) => b,
            None => map.entry(key.to_string()).or_insert(Bucket {
                tokens: burst,
                last_ns: now_ns,
            }),
        };
        let elapsed = (now_ns - b.last_ns).max(0) as f64 / 1e9;
        b.tokens = (b.tokens + elapsed * rate).min(burst);
        b.last_ns = b.last_ns.max(now_ns);
        if b.tokens >= need {
            b.tokens -= need;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn burst_then_refill_at_rate() {
        let r = RateLimiter::default();
        assert!(r.allow("t", 100.0, 300.0, 300, 0));
        assert!(!r.allow("t", 100.0, 300.0, 1, 0));
        // Other tenants have their own bucket.
        assert!(r.allow("u", 100.0, 300.0, 300, 0));
        assert!(!r.allow("t", 100.0, 300.0, 150, S));
        assert!(r.allow("t", 100.0, 300.0, 150, S + S / 2));
        // Never more than the burst, however long the wait.
        assert!(!r.allow("t", 100.0, 300.0, 301, 100 * S));
        assert!(r.allow("t", 0.0, 0.0, 1 << 40, 0));
    }
}
