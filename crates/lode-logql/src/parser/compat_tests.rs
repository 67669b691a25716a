//! Every query of the conformance cases: the ones real Loki rejected with a
//! `parse error` must fail to parse, every other one must parse, print back
//! to an equal tree, and pretty-print to an equal tree.
//!
//! The cases live outside the crate (`../shared/compat` beside the
//! repository, or the directory in `LODE_COMPAT_DIR`); without them the
//! test fails rather than pass by checking nothing.

use super::parse;
use crate::ast::Expr;
use crate::error::Error;

fn compat_dir() -> std::path::PathBuf {
    std::env::var_os("LODE_COMPAT_DIR").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/compat"),
        Into::into,
    )
}

struct Case {
    id: String,
    query: String,
    /// Loki's answer was a 400 whose text starts with `parse error`.
    parse_error: bool,
}

fn load() -> Option<Vec<Case>> {
    let dir = compat_dir();
    let cases = std::fs::read_to_string(dir.join("cases-public.jsonl")).ok()?;
    let goldens: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("goldens-public.json")).ok()?)
            .expect("goldens are JSON");
    let mut out = Vec::new();
    for line in cases.lines().filter(|l| !l.trim().is_empty()) {
        let c: serde_json::Value = serde_json::from_str(line).expect("a case is JSON");
        let Some(query) = c["query"].as_str() else {
            continue;
        };
        let id = c["id"].as_str().expect("case id").to_string();
        let golden = &goldens["cases"][&id]["golden"];
        let parse_error = golden["status"] == 400
            && golden["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("parse error"));
        out.push(Case {
            id,
            query: query.to_string(),
            parse_error,
        });
    }
    Some(out)
}

fn round_trip(id: &str, e: &Expr) {
    let printed = e.to_string();
    let again = parse(&printed).unwrap_or_else(|err| panic!("{id}: {printed:?} re-parse: {err}"));
    assert_eq!(&again, e, "{id}: printed {printed:?}");
    let pretty = crate::print::pretty(e);
    let again = parse(&pretty).unwrap_or_else(|err| panic!("{id}: {pretty:?} re-parse: {err}"));
    assert_eq!(&again, e, "{id}: pretty {pretty:?}");
}

#[test]
fn all_public_cases() {
    let Some(cases) = load() else {
        panic!(
            "compat cases not found in {} (set LODE_COMPAT_DIR)",
            compat_dir().display()
        );
    };
    assert!(cases.len() > 150, "only {} cases with a query", cases.len());
    let mut rejected = 0;
    for c in &cases {
        match (parse(&c.query), c.parse_error) {
            (Ok(e), false) => round_trip(&c.id, &e),
            (Err(_), true) => rejected += 1,
            (Ok(e), true) => panic!("{}: Loki rejects {:?}, we parsed {e:?}", c.id, c.query),
            (Err(err), false) => panic!("{}: {:?} failed: {err}", c.id, c.query),
        }
    }
    assert!(rejected >= 8, "{rejected} parse errors");
}

#[test]
fn error_texts_match_loki() {
    assert!(
        load().is_some(),
        "compat cases not found in {}",
        compat_dir().display()
    );
    let dir = compat_dir();
    let goldens: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("goldens-public.json")).unwrap())
            .unwrap();
    // The syntax errors whose exact text and position we reproduce.
    for id in [
        "err-syntax-01",
        "err-syntax-02",
        "err-func-01",
        "err-func-03",
        "err-sel-01",
        "err-sel-03",
        "err-regex-01",
        "err-badlabel-01",
    ] {
        let case = &goldens["cases"][id];
        let query = case["case"]["query"].as_str().unwrap();
        let want = case["golden"]["error"].as_str().unwrap();
        let got = parse(query).unwrap_err().to_string();
        assert_eq!(got, want, "{id}");
    }
    // Loki says `line 0` there; the rest of the text is ours too.
    let unwrap = &goldens["cases"]["err-unwrap-01"];
    let got = parse(unwrap["case"]["query"].as_str().unwrap()).unwrap_err();
    let want = unwrap["golden"]["error"].as_str().unwrap();
    match got {
        Error::Parse { msg, .. } => assert!(want.ends_with(&msg), "{msg}"),
        other => panic!("{other}"),
    }
}
