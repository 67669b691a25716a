//! The LogQL syntax tree. This is the contract between the parser, the log
//! pipeline, the metric engine and the storage layer: every other module of
//! this crate consumes or produces these types.
//!
//! Durations are nanoseconds (`i64`), byte sizes are `f64` bytes, and all
//! strings are already unescaped.

/// A whole query: a log query, a metric (sample) query, or Loki 3.5's
/// multi-variant query.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Log(LogExpr),
    Metric(MetricExpr),
    Variants(Variants),
}

/// `variants(<metric>, ...) of (<log range>)`: several metric queries over
/// one log range. Loki 3.5+ parses it; running it is an experimental Loki
/// feature, off unless enabled, and not in Lode.
#[derive(Debug, Clone, PartialEq)]
pub struct Variants {
    pub variants: Vec<MetricExpr>,
    pub of: LogRange,
}

/// `{selector} | pipeline...`
#[derive(Debug, Clone, PartialEq)]
pub struct LogExpr {
    pub selector: Vec<Matcher>,
    pub pipeline: Vec<Stage>,
}

/// A stream selector matcher, also used by `drop`/`keep` with a value.
#[derive(Debug, Clone, PartialEq)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    /// `=`
    Eq,
    /// `!=`
    Neq,
    /// `=~` (fully anchored)
    Re,
    /// `!~` (fully anchored)
    Nre,
}

/// One stage of a log pipeline.
#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    /// `|= "a" or "b"`, `!~ "re"`, `|> "<_> pat"`...
    LineFilter(LineFilter),
    /// `| json`, `| logfmt`, `| regexp`, `| pattern`, `| unpack`
    Parser(Parser),
    /// `| status >= 500 and level="error"`
    LabelFilter(LabelFilter),
    /// `| line_format "{{.a}}"` (template source, unparsed)
    LineFormat(String),
    /// `| label_format a=b, c="{{.x}}"`
    LabelFormat(Vec<LabelFmt>),
    /// `| drop a, b="v"`
    Drop(Vec<LabelSelectorItem>),
    /// `| keep a, b="v"`
    Keep(Vec<LabelSelectorItem>),
    /// `| decolorize`
    Decolorize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LineFilter {
    pub op: LineFilterOp,
    /// Alternatives joined with `or`; at least one. For the negated
    /// operators every alternative must not match (and-semantics).
    pub values: Vec<LineFilterValue>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFilterOp {
    /// `|=`
    Contains,
    /// `!=`
    NotContains,
    /// `|~`
    Match,
    /// `!~`
    NotMatch,
    /// `|>`
    Pattern,
    /// `!>`
    NotPattern,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LineFilterValue {
    Str(String),
    /// `ip("192.168.0.0/16")` (only with `|=` / `!=`)
    Ip(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Parser {
    /// `| json` (no params) or `| json a="x.y", b` (params: label, JSON path expression).
    /// A param written without `=` has `path == label`.
    Json { params: Vec<(String, String)> },
    /// `| logfmt [--strict] [--keep-empty] [a="key", b]`
    Logfmt {
        strict: bool,
        keep_empty: bool,
        params: Vec<(String, String)>,
    },
    /// `| regexp "(?P<name>re)"`
    Regexp(String),
    /// `| pattern "<a> <_>"`
    Pattern(String),
    /// `| unpack`
    Unpack,
}

/// Label filter expression. `,`, whitespace and a further `|` all mean `and`;
/// the parser builds the tree with Loki's precedence.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelFilter {
    And(Box<LabelFilter>, Box<LabelFilter>),
    Or(Box<LabelFilter>, Box<LabelFilter>),
    /// `name op "value"` with a string matcher.
    String(Matcher),
    /// `name op 12.5`
    Number {
        name: String,
        op: CmpOp,
        value: f64,
    },
    /// `name op 300ms` (value in nanoseconds)
    Duration {
        name: String,
        op: CmpOp,
        value: i64,
    },
    /// `name op 20MB` (value in bytes)
    Bytes {
        name: String,
        op: CmpOp,
        value: f64,
    },
    /// `name = ip("10.0.0.0/8")` / `name != ip(...)`
    Ip {
        name: String,
        negate: bool,
        pattern: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `==` or `=`
    Eq,
    Neq,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LabelFmt {
    /// `dst=src`: rename (the source label is removed).
    Rename { dst: String, src: String },
    /// `dst="{{ template }}"`
    Template { dst: String, template: String },
}

/// An item of `drop` / `keep`: a bare name, or a name with a matcher.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelSelectorItem {
    Name(String),
    Matcher(Matcher),
}

/// Metric expressions.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricExpr {
    /// `rate({..}[5m])`, `quantile_over_time(0.99, {..} | unwrap x [5m]) by (a)`
    RangeAgg {
        op: RangeOp,
        /// The quantile for `quantile_over_time`.
        param: Option<f64>,
        range: LogRange,
        grouping: Option<Grouping>,
    },
    /// `sum by (a) (expr)`, `topk(3, expr)`
    VectorAgg {
        op: VectorOp,
        /// `k` for topk / bottomk.
        param: Option<f64>,
        grouping: Option<Grouping>,
        expr: Box<MetricExpr>,
    },
    Binary {
        op: BinOp,
        lhs: Box<MetricExpr>,
        rhs: Box<MetricExpr>,
        modifier: BinModifier,
    },
    /// A number literal (a scalar).
    Literal(f64),
    /// `vector(1)`
    Vector(f64),
    /// `label_replace(expr, "dst", "replacement", "src", "regex")`
    LabelReplace {
        expr: Box<MetricExpr>,
        dst: String,
        replacement: String,
        src: String,
        regex: String,
    },
    /// `( expr )` kept so that printing preserves the user's grouping.
    Paren(Box<MetricExpr>),
}

/// `{sel} | pipeline [| unwrap ...] [range] [offset]`
#[derive(Debug, Clone, PartialEq)]
pub struct LogRange {
    pub log: LogExpr,
    /// Range in nanoseconds.
    pub range: i64,
    /// Offset in nanoseconds (0 when absent).
    pub offset: i64,
    pub unwrap: Option<Unwrap>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Unwrap {
    pub label: String,
    pub conv: UnwrapConv,
    /// Label filters written after the unwrap (`| unwrap x | __error__=""`).
    pub post_filters: Vec<LabelFilter>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnwrapConv {
    /// plain number
    None,
    /// `bytes(x)`
    Bytes,
    /// `duration(x)` / `duration_seconds(x)`: seconds as f64
    Duration,
    DurationSeconds,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeOp {
    Rate,
    RateCounter,
    CountOverTime,
    BytesRate,
    BytesOverTime,
    AbsentOverTime,
    SumOverTime,
    AvgOverTime,
    MinOverTime,
    MaxOverTime,
    StddevOverTime,
    StdvarOverTime,
    QuantileOverTime,
    FirstOverTime,
    LastOverTime,
}

impl RangeOp {
    /// Operations that need an `unwrap` (and the ones that forbid it).
    pub fn requires_unwrap(self) -> bool {
        matches!(
            self,
            RangeOp::RateCounter
                | RangeOp::SumOverTime
                | RangeOp::AvgOverTime
                | RangeOp::MinOverTime
                | RangeOp::MaxOverTime
                | RangeOp::StddevOverTime
                | RangeOp::StdvarOverTime
                | RangeOp::QuantileOverTime
                | RangeOp::FirstOverTime
                | RangeOp::LastOverTime
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            RangeOp::Rate => "rate",
            RangeOp::RateCounter => "rate_counter",
            RangeOp::CountOverTime => "count_over_time",
            RangeOp::BytesRate => "bytes_rate",
            RangeOp::BytesOverTime => "bytes_over_time",
            RangeOp::AbsentOverTime => "absent_over_time",
            RangeOp::SumOverTime => "sum_over_time",
            RangeOp::AvgOverTime => "avg_over_time",
            RangeOp::MinOverTime => "min_over_time",
            RangeOp::MaxOverTime => "max_over_time",
            RangeOp::StddevOverTime => "stddev_over_time",
            RangeOp::StdvarOverTime => "stdvar_over_time",
            RangeOp::QuantileOverTime => "quantile_over_time",
            RangeOp::FirstOverTime => "first_over_time",
            RangeOp::LastOverTime => "last_over_time",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorOp {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    Sort,
    SortDesc,
    /// `approx_topk`: Loki's count-min-sketch topk, only with
    /// `limits_config.shard_aggregations: [approx_topk]`; Lode answers it
    /// exactly.
    ApproxTopk,
}

impl VectorOp {
    pub fn name(self) -> &'static str {
        match self {
            VectorOp::Sum => "sum",
            VectorOp::Avg => "avg",
            VectorOp::Min => "min",
            VectorOp::Max => "max",
            VectorOp::Count => "count",
            VectorOp::Stddev => "stddev",
            VectorOp::Stdvar => "stdvar",
            VectorOp::Topk => "topk",
            VectorOp::Bottomk => "bottomk",
            VectorOp::Sort => "sort",
            VectorOp::SortDesc => "sort_desc",
            VectorOp::ApproxTopk => "approx_topk",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Grouping {
    /// `without (...)` when true, `by (...)` when false.
    pub without: bool,
    pub labels: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Eq,
    Neq,
    Gt,
    Ge,
    Lt,
    Le,
    And,
    Or,
    Unless,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Pow => "^",
            BinOp::Eq => "==",
            BinOp::Neq => "!=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::And => "and",
            BinOp::Or => "or",
            BinOp::Unless => "unless",
        }
    }

    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::Neq | BinOp::Gt | BinOp::Ge | BinOp::Lt | BinOp::Le
        )
    }

    pub fn is_set(self) -> bool {
        matches!(self, BinOp::And | BinOp::Or | BinOp::Unless)
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct BinModifier {
    /// `bool` on a comparison.
    pub return_bool: bool,
    pub matching: Option<VectorMatching>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VectorMatching {
    /// `on(...)` when true, `ignoring(...)` when false.
    pub on: bool,
    pub labels: Vec<String>,
    pub group: Option<GroupSide>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum GroupSide {
    /// `group_left(extra labels)`
    Left(Vec<String>),
    /// `group_right(extra labels)`
    Right(Vec<String>),
}

impl Expr {
    /// The stream selectors a query reads (one per range aggregation for
    /// metric queries), in the order they appear.
    pub fn log_exprs(&self) -> Vec<&LogExpr> {
        let mut out = Vec::new();
        match self {
            Expr::Log(l) => out.push(l),
            Expr::Metric(m) => m.collect_log_exprs(&mut out),
            Expr::Variants(v) => {
                for m in &v.variants {
                    m.collect_log_exprs(&mut out);
                }
                out.push(&v.of.log);
            }
        }
        out
    }
}

impl MetricExpr {
    /// Whether vector aggregation `op` appears anywhere in the expression.
    pub fn uses_vector_op(&self, op: VectorOp) -> bool {
        match self {
            MetricExpr::VectorAgg { op: o, expr, .. } => *o == op || expr.uses_vector_op(op),
            MetricExpr::Binary { lhs, rhs, .. } => lhs.uses_vector_op(op) || rhs.uses_vector_op(op),
            MetricExpr::Paren(e) | MetricExpr::LabelReplace { expr: e, .. } => e.uses_vector_op(op),
            MetricExpr::RangeAgg { .. } | MetricExpr::Literal(_) | MetricExpr::Vector(_) => false,
        }
    }

    fn collect_log_exprs<'a>(&'a self, out: &mut Vec<&'a LogExpr>) {
        match self {
            MetricExpr::RangeAgg { range, .. } => out.push(&range.log),
            MetricExpr::VectorAgg { expr, .. } => expr.collect_log_exprs(out),
            MetricExpr::Binary { lhs, rhs, .. } => {
                lhs.collect_log_exprs(out);
                rhs.collect_log_exprs(out);
            }
            MetricExpr::LabelReplace { expr, .. } | MetricExpr::Paren(expr) => {
                expr.collect_log_exprs(out)
            }
            MetricExpr::Literal(_) | MetricExpr::Vector(_) => {}
        }
    }

    /// The largest `range + offset` of any range aggregation inside, in ns.
    pub fn max_lookback(&self) -> i64 {
        match self {
            MetricExpr::RangeAgg { range, .. } => range.range + range.offset.max(0),
            MetricExpr::VectorAgg { expr, .. }
            | MetricExpr::LabelReplace { expr, .. }
            | MetricExpr::Paren(expr) => expr.max_lookback(),
            MetricExpr::Binary { lhs, rhs, .. } => lhs.max_lookback().max(rhs.max_lookback()),
            MetricExpr::Literal(_) | MetricExpr::Vector(_) => 0,
        }
    }
}
