//! Errors of the LogQL crate. Every variant is a client error (HTTP 400 at
//! the edge) except where noted.

/// A LogQL error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// Syntax errors, with Loki's wording: `parse error at line 1, col 5: ...`.
    #[error("parse error at line {line}, col {col}: {msg}")]
    Parse {
        line: usize,
        col: usize,
        msg: String,
    },
    /// A query that parses but is not valid (bad regex, wrong unwrap use...).
    #[error("{0}")]
    Invalid(String),
    /// A metric query whose samples still carry `__error__`.
    #[error("pipeline error: '{kind}' for series: '{series}'.\nUse a label filter to intentionally skip this error. (e.g | __error__!=\"{kind}\").\nTo skip all potential errors you can match empty errors.(e.g __error__=\"\")\nThe label filter can also be specified after unwrap. (e.g | unwrap latency | __error__=\"\" )\nSee https://grafana.com/docs/loki/latest/logql/#pipeline-errors for more details.")]
    Pipeline { kind: String, series: String },
    /// `max_query_series` exceeded while evaluating.
    #[error("maximum number of series ({0}) reached for a single query; consider reducing query cardinality by adding more specific stream selectors, reducing the time range, or aggregating results with functions like sum(), count() or topk()")]
    MaxSeries(usize),
    /// The sample source (storage) failed; carries its message. Maps to 500
    /// unless the source says it is a limit (then `Limit`).
    #[error("{0}")]
    Source(String),
    /// A limit hit while executing (400).
    #[error("{0}")]
    Limit(String),
    /// The query context stopped the query (deadline, cancel, bytes).
    #[error(transparent)]
    Interrupted(#[from] crate::context::Interrupt),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
