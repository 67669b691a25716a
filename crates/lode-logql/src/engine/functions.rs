//! Aggregations over the samples of one range-vector window. Each mirrors
//! the arithmetic Loki uses (order of operations included) so that results
//! agree to the last few ulps, not just approximately.

use crate::value::Point;

/// Go's `time.Duration.Seconds()`: whole seconds plus the fractional part,
/// computed separately to keep precision for long ranges.
pub(crate) fn seconds(ns: i64) -> f64 {
    (ns / 1_000_000_000) as f64 + (ns % 1_000_000_000) as f64 / 1e9
}

/// Plain in-order summation (Loki does not compensate).
pub(crate) fn sum(points: &[Point]) -> f64 {
    points.iter().fold(0.0, |acc, p| acc + p.value)
}

/// Incremental mean that tolerates infinities the way Loki does.
pub(crate) fn avg(points: &[Point]) -> f64 {
    let mut mean = 0.0f64;
    let mut count = 0.0f64;
    for p in points {
        count += 1.0;
        let v = p.value;
        if mean.is_infinite() {
            if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
                continue;
            }
            if !v.is_infinite() && !v.is_nan() {
                continue;
            }
        }
        mean += v / count - mean / count;
    }
    mean
}

/// NaN is replaced by any later value, so NaN wins only if all are NaN.
pub(crate) fn max(points: &[Point]) -> f64 {
    let mut m = points.first().map_or(f64::NAN, |p| p.value);
    for p in points {
        if p.value > m || m.is_nan() {
            m = p.value;
        }
    }
    m
}

pub(crate) fn min(points: &[Point]) -> f64 {
    let mut m = points.first().map_or(f64::NAN, |p| p.value);
    for p in points {
        if p.value < m || m.is_nan() {
            m = p.value;
        }
    }
    m
}

/// Population variance with Welford's algorithm.
pub(crate) fn stdvar(points: &[Point]) -> f64 {
    let (mut aux, mut count, mut mean) = (0.0f64, 0.0f64, 0.0f64);
    for p in points {
        count += 1.0;
        let delta = p.value - mean;
        mean += delta / count;
        aux += delta * (p.value - mean);
    }
    aux / count
}

pub(crate) fn stddev(points: &[Point]) -> f64 {
    stdvar(points).sqrt()
}

/// Prometheus quantile: linear interpolation between the closest ranks of
/// the ascending values (NaN sorts first); `q` outside [0, 1] gives ±Inf.
/// `scratch` is reused across windows to avoid an allocation per step.
pub(crate) fn quantile(q: f64, points: &[Point], scratch: &mut Vec<f64>) -> f64 {
    scratch.clear();
    scratch.extend(points.iter().map(|p| p.value));
    quantile_of(q, scratch)
}

/// Same as `quantile` over raw values, which it sorts in place.
pub(crate) fn quantile_of(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// `rate_counter`: Loki's port of Prometheus' extrapolated counter rate.
///
/// Loki feeds it nanosecond timestamps while the range is converted to
/// milliseconds, and anchors the extrapolation on the first and last
/// samples instead of the window bounds. The result is therefore not what
/// Prometheus would answer; we reproduce Loki's numbers, not its intent.
/// Fewer than two samples give 0.
pub(crate) fn rate_counter(points: &[Point], range_ns: i64) -> f64 {
    if points.len() < 2 {
        return 0.0;
    }
    let first = points[0];
    let last = points[points.len() - 1];
    let range_ms = range_ns / 1_000_000;
    let range_start = first.ts - range_ms;
    let range_end = last.ts;

    let mut result = last.value - first.value;
    let mut last_value = 0.0;
    for p in points {
        if p.value < last_value {
            result += last_value;
        }
        last_value = p.value;
    }

    let mut duration_to_start = (first.ts - range_start) as f64 / 1000.0;
    let duration_to_end = (range_end - last.ts) as f64 / 1000.0;
    let sampled_interval = (last.ts - first.ts) as f64 / 1000.0;
    let avg_between = sampled_interval / (points.len() - 1) as f64;

    if result > 0.0 && first.value >= 0.0 {
        let duration_to_zero = sampled_interval * (first.value / result);
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }

    let threshold = avg_between * 1.1;
    let mut extrapolate_to = sampled_interval;
    extrapolate_to += if duration_to_start < threshold {
        duration_to_start
    } else {
        avg_between / 2.0
    };
    extrapolate_to += if duration_to_end < threshold {
        duration_to_end
    } else {
        avg_between / 2.0
    };
    result *= extrapolate_to / sampled_interval;
    result / seconds(range_ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(vals: &[(i64, f64)]) -> Vec<Point> {
        vals.iter()
            .map(|&(ts, value)| Point { ts, value })
            .collect()
    }

    fn vals(v: &[f64]) -> Vec<Point> {
        v.iter()
            .enumerate()
            .map(|(i, &value)| Point {
                ts: i as i64,
                value,
            })
            .collect()
    }

    #[test]
    fn go_seconds() {
        assert_eq!(seconds(300_000_000_000), 300.0);
        assert_eq!(seconds(1_500_000_000), 1.5);
    }

    #[test]
    fn basic_aggregations() {
        let p = vals(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!(sum(&p), 40.0);
        assert_eq!(avg(&p), 5.0);
        assert_eq!(min(&p), 2.0);
        assert_eq!(max(&p), 9.0);
        assert_eq!(stdvar(&p), 4.0);
        assert_eq!(stddev(&p), 2.0);
    }

    #[test]
    fn min_max_skip_leading_nan() {
        let p = vals(&[f64::NAN, 3.0, 1.0]);
        assert_eq!(max(&p), 3.0);
        assert_eq!(min(&p), 1.0);
        assert!(max(&vals(&[f64::NAN])).is_nan());
    }

    #[test]
    fn avg_with_infinity() {
        assert_eq!(avg(&vals(&[f64::INFINITY, 1.0, 2.0])), f64::INFINITY);
        assert!(avg(&vals(&[f64::INFINITY, f64::NEG_INFINITY])).is_nan());
    }

    #[test]
    fn quantile_interpolates() {
        let mut s = Vec::new();
        let p = vals(&[10.0, 1.0, 4.0, 2.0, 3.0]);
        // Sorted 1 2 3 4 10: rank 0.9*4 = 3.6 -> 4 + 0.6 * 6
        assert!((quantile(0.9, &p, &mut s) - 7.6).abs() < 1e-12);
        assert_eq!(quantile(0.5, &p, &mut s), 3.0);
        assert_eq!(quantile(0.0, &p, &mut s), 1.0);
        assert_eq!(quantile(1.0, &p, &mut s), 10.0);
        assert_eq!(quantile(-0.1, &p, &mut s), f64::NEG_INFINITY);
        assert_eq!(quantile(1.1, &p, &mut s), f64::INFINITY);
        assert!(quantile(0.5, &[], &mut s).is_nan());
        assert_eq!(quantile(0.3, &vals(&[5.0]), &mut s), 5.0);
    }

    #[test]
    fn rate_counter_single_sample_is_zero() {
        assert_eq!(rate_counter(&pts(&[(1, 5.0)]), 60_000_000_000), 0.0);
        assert_eq!(rate_counter(&[], 60_000_000_000), 0.0);
    }

    #[test]
    fn rate_counter_reproduces_loki_units() {
        // Samples 10s apart (ns), values 10 -> 20 -> 30, range 1m.
        let s = 1_000_000_000i64;
        let p = pts(&[(100 * s, 10.0), (110 * s, 20.0), (120 * s, 30.0)]);
        // result 20; sampled interval = 20e9/1000 = 2e7; avg = 1e7;
        // duration_to_start = 60000/1000 = 60, duration_to_zero = 2e7*0.5 = 1e7
        // -> start stays 60 (< threshold 1.1e7): extrapolate = 2e7 + 60 + 0.
        let expected = 20.0 * ((2e7 + 60.0) / 2e7) / 60.0;
        assert!((rate_counter(&p, 60 * s) - expected).abs() < 1e-12);
    }

    #[test]
    fn rate_counter_handles_reset() {
        let s = 1_000_000_000i64;
        let p = pts(&[(100 * s, 10.0), (110 * s, 20.0), (120 * s, 5.0)]);
        // delta = 5 - 10 + 20 (reset adds the value before the drop) = 15
        let expected = 15.0 * ((2e7 + 60.0) / 2e7) / 60.0;
        assert!((rate_counter(&p, 60 * s) - expected).abs() < 1e-12);
    }
}
