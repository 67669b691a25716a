//! The Go runtime Loki's answers depend on, in one place: what Loki gets
//! from Go's standard library and the Go libraries it calls (Prometheus'
//! `model`, go-humanize, Sprig), rebuilt so that Lode prints and parses
//! exactly as they do. Pure: no I/O and no LogQL; `lode-logql`,
//! `lode-proto`, `lode-storage` and `lode-server` use it and nothing here
//! uses them.
//!
//! - `template`: `text/template` with Loki's and Sprig's functions and
//!   `fmt`'s verbs.
//! - `time`: layouts (`2006-01-02`), civil dates, RFC 3339.
//! - `regex`: RE2 patterns onto the `regex` crate, with Go's meaning.
//! - `strconv`: `Quote` and `Unquote`.
//! - `duration`: `time.ParseDuration` and `Duration.String`.
//! - `model`: Prometheus durations and label names.
//! - `bytes`: go-humanize's `ParseBytes`.
// Input flows through every path of this crate: a failed unwrap is a
// panic a client can trigger. Tests may unwrap.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod bytes;
pub mod duration;
pub mod error;
pub mod model;
pub mod regex;
pub mod strconv;
pub mod template;
pub mod time;

pub use error::Error;
