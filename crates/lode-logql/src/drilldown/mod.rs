//! Explore Logs (Drilldown) analysis over query hits: the field types and
//! values of `detected_fields`, and the line patterns of `patterns`. Pure
//! functions of lines; the server feeds them the hits of a query.

pub mod fields;
pub mod patterns;
