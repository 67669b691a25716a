//! The evaluation instants of a query, shared by the evaluator and the
//! bucket planner.

use crate::error::{Error, Result};

use super::EvalParams;

/// The evaluation instants of a query: `start, start + step, ... <= end`,
/// or just `start` for an instant query.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Steps {
    pub start: i64,
    pub step: i64,
    pub count: usize,
}

impl Steps {
    pub fn new(params: &EvalParams) -> Result<Steps> {
        if params.instant {
            return Ok(Steps {
                start: params.start,
                step: 1,
                count: 1,
            });
        }
        if params.step <= 0 {
            return Err(Error::Invalid(
                "zero or negative query resolution step widths are not accepted. Try a positive integer"
                    .into(),
            ));
        }
        if params.end < params.start {
            return Err(Error::Invalid(
                "end timestamp must not be before start time".into(),
            ));
        }
        let count = ((params.end - params.start) / params.step) as usize + 1;
        Ok(Steps {
            start: params.start,
            step: params.step,
            count,
        })
    }

    pub fn last(&self) -> i64 {
        self.start + (self.count as i64 - 1) * self.step
    }

    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.count as i64).map(move |i| self.start + i * self.step)
    }
}
