//! Holds `verdicts.txt`: every `ok` query parses, prints back to an equal
//! tree (plain and pretty, as `format_query` prints it), and every `err`
//! query is refused, with the given text where the line has one.

use super::parse;

const VERDICTS: &str = include_str!("verdicts.txt");

#[test]
fn lodes_verdicts_are_lokis() {
    let mut checked = (0, 0);
    for (n, line) in VERDICTS.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let mut cols = line.splitn(3, '\t');
        let verdict = cols.next().unwrap_or_default();
        let query = cols
            .next()
            .unwrap_or_else(|| panic!("line {}: no query", n + 1));
        match verdict {
            "ok" => {
                let e = parse(query).unwrap_or_else(|err| panic!("line {}: {query}: {err}", n + 1));
                let printed = e.to_string();
                assert_eq!(
                    parse(&printed).as_ref(),
                    Ok(&e),
                    "line {}: printed {printed}",
                    n + 1
                );
                let pretty = crate::print::pretty(&e);
                assert_eq!(
                    parse(&pretty).as_ref(),
                    Ok(&e),
                    "line {}: pretty {pretty}",
                    n + 1
                );
                checked.0 += 1;
            }
            "err" => {
                let err = match parse(query) {
                    Ok(e) => panic!("line {}: Loki refuses {query}, Lode parsed {e}", n + 1),
                    Err(err) => err.to_string(),
                };
                if let Some(want) = cols.next() {
                    assert!(
                        err.contains(want),
                        "line {}: {query}: {err:?} lacks {want:?}",
                        n + 1
                    );
                }
                checked.1 += 1;
            }
            other => panic!("line {}: verdict {other:?}", n + 1),
        }
    }
    assert!(
        checked.0 >= 100 && checked.1 >= 30,
        "corpus too small: {checked:?}"
    );
}
