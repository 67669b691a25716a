//! LogQL for Lode: the syntax tree, the parser, the log pipeline and the
//! metric engine. Pure: this crate does no I/O; storage feeds it entries and
//! samples through the interfaces in `pipeline` and `engine`.
// Input flows through every path of this crate: a failed unwrap is a
// panic a client can trigger. Tests may unwrap.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod ast;
pub mod context;
pub mod drilldown;
pub mod engine;
pub mod error;
pub mod labels;
pub mod parser;
pub mod pipeline;
pub mod print;
pub mod value;

pub use ast::Expr;
pub use error::{Error, Result};
pub use labels::LabelSet;
pub use parser::parse;
