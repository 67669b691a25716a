//! Answers that must be Loki's exactly, family by family (issue 12): label
//! filters on values that are absent or do not convert, the order of series
//! in query results, and the timestamps of every endpoint that makes them.
//! Each expectation says which Loki behaviour it relies on.

mod common;

use common::{flatten, Entry, PushStream, Server};
use std::time::Duration;

const SEC: i64 = 1_000_000_000;

/// Lines of `{app="lf"}`, parsed with `| json`. Per converting label:
/// a value, absent (3, 7, 8), empty (4), unparsable (5); 7 is not JSON at
/// all (`JSONParserErr` before any label filter), 8 carries an address.
const LINES: [&str; 8] = [
    r#"{"id":1,"size":"2KB","lat":"1s","n":5}"#,
    r#"{"id":2,"size":"500B","lat":"3s","n":50}"#,
    r#"{"id":3}"#,
    r#"{"id":4,"size":"","lat":"","n":""}"#,
    r#"{"id":5,"size":"abc","lat":"abc","n":"abc"}"#,
    r#"{"id":6,"size":"1.5MB","lat":"250ms","n":-1}"#,
    "id=7 this line is not JSON",
    r#"{"id":8,"addr":"10.1.2.3"}"#,
];

fn label_filter_server() -> (Server, i64) {
    let s = Server::start();
    let base = common::base_ts(Duration::from_secs(600));
    let entries = LINES
        .iter()
        .enumerate()
        .map(|(i, l)| Entry::new(base + i as i64 * SEC, *l))
        .collect();
    let r = s.push_proto(None, &[PushStream::new(r#"{app="lf"}"#, entries)]);
    assert_eq!(r.status, 204, "{}", r.text());
    (s, base)
}

/// The ids of the lines a log query returns, in time order, and the ids
/// that came back with `__error__` set.
fn ids(s: &Server, base: i64, filter: &str) -> (Vec<u32>, Vec<u32>) {
    let q = format!(r#"{{app="lf"}} | json | {filter}"#);
    let v = s.query_logs(None, &q, base - SEC, base + 60 * SEC, 100, "forward");
    let mut hits = flatten(&v);
    hits.sort_by_key(|(_, ts, _)| *ts);
    let id = |ts: i64| ((ts - base) / SEC + 1) as u32;
    let all = hits.iter().map(|(_, ts, _)| id(*ts)).collect();
    let errors = hits
        .iter()
        .filter(|(labels, _, _)| labels.contains_key("__error__"))
        .map(|(_, ts, _)| id(*ts))
        .collect();
    (all, errors)
}

#[test]
fn label_filters_on_absent_empty_and_unparsable_values_match_loki() {
    let (s, base) = label_filter_server();
    // Loki 3's converting filters (pkg/logql/log/label_filter.go, since
    // grafana/loki#12378): a label the entry lacks drops it for every
    // operator; a value that does not convert (the empty string included:
    // humanize.ParseBytes, time.ParseDuration and strconv.ParseFloat all
    // refuse "") keeps it with __error__="LabelFilterErr"; an entry that
    // already has an error (line 7's JSONParserErr) is still compared, and
    // lacks the label. So 4 and 5 pass every comparison with an error, and
    // 3, 7 and 8 pass none.
    let cases: &[(&str, &[u32])] = &[
        // bytes: 2000, 500, -, "", abc, 1500000
        ("size == 1KB", &[4, 5]),
        ("size != 1KB", &[1, 2, 4, 5, 6]),
        ("size > 1KB", &[1, 4, 5, 6]),
        ("size >= 500B", &[1, 2, 4, 5, 6]),
        ("size < 1KB", &[2, 4, 5]),
        ("size <= 2KB", &[1, 2, 4, 5]),
        // durations: 1s, 3s, -, "", abc, 250ms
        ("lat == 1s", &[1, 4, 5]),
        ("lat != 1s", &[2, 4, 5, 6]),
        ("lat > 1s", &[2, 4, 5]),
        ("lat >= 1s", &[1, 2, 4, 5]),
        ("lat < 1s", &[4, 5, 6]),
        ("lat <= 250ms", &[4, 5, 6]),
        // numbers: 5, 50, -, "", abc, -1
        ("n == 5", &[1, 4, 5]),
        ("n != 5", &[2, 4, 5, 6]),
        ("n > 5", &[2, 4, 5]),
        ("n >= 5", &[1, 2, 4, 5]),
        ("n < 5", &[4, 5, 6]),
        ("n <= 0", &[4, 5, 6]),
        // BinaryLabelFilter: `and` (and `,`) evaluates both sides, `or`
        // stops at a passing left side; `and` binds tighter than `or`.
        ("size > 1KB and lat < 2s", &[1, 4, 5, 6]),
        ("size > 1KB or n > 10", &[1, 2, 4, 5, 6]),
        ("size > 1KB, n < 0", &[4, 5, 6]),
        ("n > 10 or lat > 2s and size < 1KB", &[2, 4, 5]),
        (r#"id="3" or n > 10"#, &[2, 3, 4, 5]),
        // A string filter compares a missing label as "" (and so can test
        // __error__); a converting one drops the entry.
        ("nope != 5", &[]),
        (r#"nope != "5""#, &[1, 2, 3, 4, 5, 6, 7, 8]),
        // ip() (pkg/logql/log/ip.go): an entry with an error passes, a
        // missing label drops, for = and != alike.
        (r#"addr = ip("10.0.0.0/8")"#, &[7, 8]),
        (r#"addr != ip("10.0.0.0/8")"#, &[7]),
    ];
    for (filter, want) in cases {
        let (got, errors) = ids(&s, base, filter);
        assert_eq!(&got, want, "| json | {filter}");
        // Conversion errors are marked (4 and 5, when the filter converts
        // size, lat or n); line 7 keeps its parser error.
        let converts = ["size", "lat", "n "].iter().any(|l| filter.contains(l));
        let marked = |i: &u32| *i == 7 || (converts && [4, 5].contains(i));
        let want_errors: Vec<u32> = want.iter().copied().filter(marked).collect();
        assert_eq!(
            errors, want_errors,
            "| json | {filter}: entries with __error__"
        );
        // A later `__error__=""` removes exactly the marked entries.
        let (clean, _) = ids(&s, base, &format!(r#"{filter} | __error__="""#));
        let want_clean: Vec<u32> = want.iter().copied().filter(|i| !marked(i)).collect();
        assert_eq!(clean, want_clean, r#"| json | {filter} | __error__="""#);
    }
    // The first error of an entry wins: line 5 fails `size` first, and its
    // details are go-humanize's.
    let v = s.query_logs(
        None,
        r#"{app="lf"} | json | size > 1KB | lat > 1s"#,
        base + 4 * SEC,
        base + 5 * SEC,
        10,
        "forward",
    );
    let hits = flatten(&v);
    assert_eq!(hits.len(), 1, "{v}");
    assert_eq!(hits[0].0["__error__"], "LabelFilterErr");
    let details = hits[0].0["__error_details__"].as_str().unwrap_or_default();
    // go-humanize reads no digits before "abc", so ParseFloat("") fails.
    assert_eq!(details, r#"strconv.ParseFloat: parsing "": invalid syntax"#);
}
