//! The ruler's queries: rule expressions run as instant queries on the
//! store, bound by the tenant's limits and query timeout like any query.

use lode_logql::ast::MetricExpr;
use lode_logql::context::QueryContext;
use lode_logql::engine::{evaluate, EvalParams};
use lode_logql::value::QueryValue;
use lode_ruler::manager::Sample;
use lode_storage::LogStore;
use std::sync::Arc;
use std::time::Instant;

/// Series a rule's query may read, as for `/query`.
const MAX_SOURCE_SERIES: usize = 100_000;

pub struct StoreEvaluator {
    pub store: Arc<dyn LogStore>,
}

impl lode_ruler::Evaluator for StoreEvaluator {
    fn instant(&self, tenant: &str, expr: &MetricExpr, ts: i64) -> Result<Vec<Sample>, String> {
        let limits = self.store.limits_for(tenant);
        let ctx = QueryContext::new(
            Some(Instant::now() + limits.query_timeout),
            limits.max_query_response_bytes,
        );
        let _entered = lode_logql::context::enter(ctx);
        let source = self.store.samples(tenant, MAX_SOURCE_SERIES);
        let params = EvalParams {
            start: ts,
            end: ts,
            step: 0,
            instant: true,
            max_series: limits.max_query_series,
        };
        match evaluate(expr, &params, &source).map_err(|e| e.to_string())? {
            QueryValue::Vector(v) => Ok(v
                .into_iter()
                .map(|s| Sample {
                    labels: s
                        .labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                    value: s.value,
                })
                .collect()),
            QueryValue::Scalar { value, .. } => Ok(vec![Sample {
                labels: Vec::new(),
                value,
            }]),
            QueryValue::Matrix(_) => {
                Err("rule result is a range vector, not an instant vector".into())
            }
        }
    }
}
