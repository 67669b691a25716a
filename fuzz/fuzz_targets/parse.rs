//! The LogQL parser must not panic on any input, and whatever it accepts
//! must print back to a query that parses to the same tree.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lode_logql::parser::parse;
use lode_logql::print::pretty;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(expr) = parse(query) else {
        return;
    };
    let printed = expr.to_string();
    match parse(&printed) {
        Ok(again) => assert_eq!(again, expr, "{query:?} printed as {printed:?}"),
        Err(e) => panic!("{query:?} printed as {printed:?}, which fails: {e}"),
    }
    let laid_out = pretty(&expr);
    assert_eq!(
        parse(&laid_out).ok(),
        Some(expr),
        "{query:?} pretty {laid_out:?}"
    );
});
