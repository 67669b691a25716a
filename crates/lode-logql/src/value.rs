//! Query results, as the metric engine returns them and the HTTP layer
//! encodes them.

use crate::labels::LabelSet;

/// One point of a series: timestamp in nanoseconds and value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub ts: i64,
    pub value: f64,
}

/// A series of a matrix: labels and points, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: LabelSet,
    pub points: Vec<Point>,
}

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: LabelSet,
    pub ts: i64,
    pub value: f64,
}

/// The value of a metric query.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryValue {
    /// Range query result (`resultType: matrix`), series sorted by labels.
    Matrix(Vec<Series>),
    /// Instant query result (`resultType: vector`).
    Vector(Vec<Sample>),
    /// Instant query of a scalar expression (`resultType: scalar`).
    Scalar { ts: i64, value: f64 },
}

/// Samples of one series as read from storage for a range aggregation,
/// sorted by timestamp.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SeriesSamples {
    pub labels: LabelSet,
    pub samples: Vec<Point>,
}

/// Formats a sample value the way Loki (Go's `strconv.FormatFloat(v, 'f', -1, 64)`)
/// does: shortest round-trip decimal, never exponent notation, and
/// `NaN` / `+Inf` / `-Inf`.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v == f64::INFINITY {
        "+Inf".to_string()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else if v == 0.0 {
        // Go prints negative zero as "-0"; Loki results never rely on it.
        if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        }
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_float_format() {
        assert_eq!(format_value(1.0), "1");
        assert_eq!(format_value(0.1), "0.1");
        assert_eq!(format_value(1e21), "1000000000000000000000");
        assert_eq!(format_value(1.5e-7), "0.00000015");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
    }
}
