//! Architecture rules that a reader of `crates/` relies on, checked on the
//! source text:
//!
//! - no module cycle in any crate: among the children of one module, no
//!   two (or more) import each other round in a circle. A module may use
//!   its ancestors and its descendants freely; what is checked is every
//!   reference from one subtree to a sibling subtree, through `crate::`,
//!   `super::` or `self::` paths, in `use` items and inline. Test modules
//!   (`tests.rs`, `*_tests.rs`, `proptests.rs`, `mod tests { .. }`) are
//!   left out: they may look at everything.
//!
//! Run alone with `cargo test -p lode --test architecture`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

type ModPath = Vec<String>;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `src/a/b.rs` and `src/a/b/mod.rs` are `a::b`; `lib.rs`/`main.rs` the root.
fn module_of(src: &Path, file: &Path) -> Option<ModPath> {
    let rel = file.strip_prefix(src).ok()?;
    let mut parts: Vec<String> = rel
        .iter()
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop()?;
    let stem = last.strip_suffix(".rs")?.to_string();
    if parts.first().is_some_and(|p| p == "bin") {
        return None;
    }
    if !matches!(stem.as_str(), "mod" | "lib" | "main") {
        parts.push(stem);
    }
    Some(parts)
}

fn is_test_module(m: &ModPath) -> bool {
    m.iter()
        .any(|s| s == "tests" || s.ends_with("_tests") || s == "proptests")
}

/// The file's text without comments, without its inline `mod tests { .. }`
/// and without `#[cfg(test)]` declarations.
fn code_of(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((i, line)) = lines.next() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") {
            match lines.peek() {
                Some((_, next)) if next.trim_start().starts_with("mod ") && next.contains('{') => {
                    break;
                }
                _ => {
                    lines.next();
                    continue;
                }
            }
        }
        let code = match line.find("//") {
            Some(c) => &line[..c],
            None => line,
        };
        out.push((i + 1, code.to_string()));
    }
    out
}

fn ident_len(s: &str) -> usize {
    s.bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count()
}

/// Every path that starts with `crate::`, `super::` or `self::` in `code`,
/// with `{a, b::c}` groups expanded, as segment lists (the prefix first).
fn paths_in(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let b = code.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let at_word_start = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        let Some(rest) = code.get(i..) else {
            i += 1;
            continue;
        };
        let prefix = ["crate::", "super::", "self::"]
            .into_iter()
            .find(|p| rest.starts_with(p));
        match prefix {
            Some(_) if at_word_start && !(i >= 1 && b[i - 1] == b':') => {
                let (paths, used) = parse_path(rest);
                out.extend(paths);
                i += used.max(1);
            }
            _ => i += 1,
        }
    }
    out
}

/// Parses `seg::seg::...` with an optional final `{...}` group; returns the
/// expanded paths and the bytes consumed.
fn parse_path(s: &str) -> (Vec<Vec<String>>, usize) {
    let mut segs = Vec::new();
    let mut pos = 0;
    loop {
        let n = ident_len(&s[pos..]);
        if n == 0 {
            break;
        }
        segs.push(s[pos..pos + n].to_string());
        pos += n;
        if s[pos..].starts_with("::") {
            pos += 2;
            if s[pos..].starts_with('{') {
                let (inner, used) = parse_group(&s[pos + 1..]);
                pos += 1 + used;
                let out = inner
                    .into_iter()
                    .map(|mut p| {
                        let mut full = segs.clone();
                        full.append(&mut p);
                        full
                    })
                    .collect::<Vec<_>>();
                return (if out.is_empty() { vec![segs] } else { out }, pos);
            }
        } else {
            break;
        }
    }
    (vec![segs], pos)
}

/// The items of a `{...}` group (after its `{`), up to the matching `}`.
fn parse_group(s: &str) -> (Vec<Vec<String>>, usize) {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < s.len() {
        let c = s[pos..].chars().next().unwrap_or(' ');
        if c == '}' {
            return (out, pos + 1);
        }
        if c.is_ascii_alphanumeric() || c == '_' {
            let (paths, used) = parse_path(&s[pos..]);
            out.extend(paths);
            pos += used.max(1);
            // Skip `as name` and anything up to the next item.
            while pos < s.len() && !matches!(s.as_bytes()[pos], b',' | b'}') {
                pos += 1;
            }
            continue;
        }
        pos += c.len_utf8();
    }
    (out, pos)
}

/// The module a path names: the longest prefix that is a module.
fn resolve(from: &ModPath, path: &[String], modules: &BTreeSet<ModPath>) -> Option<ModPath> {
    let mut base: ModPath = match path.first()?.as_str() {
        "crate" => Vec::new(),
        "self" => from.clone(),
        "super" => {
            let mut b = from.clone();
            b.pop()?;
            b
        }
        _ => return None,
    };
    let mut rest = &path[1..];
    while rest.first().is_some_and(|s| s == "super") {
        base.pop()?;
        rest = &rest[1..];
    }
    for seg in rest {
        let mut next = base.clone();
        next.push(seg.clone());
        if modules.contains(&next) {
            base = next;
        } else {
            break;
        }
    }
    Some(base)
}

/// Sibling edges: for each parent module, which child uses which, with one
/// place that shows it.
type Edges = BTreeMap<ModPath, BTreeMap<(String, String), String>>;

fn crate_edges(src: &Path) -> Edges {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut by_module = Vec::new();
    for f in files {
        if let Some(m) = module_of(src, &f) {
            by_module.push((m, f));
        }
    }
    let modules: BTreeSet<ModPath> = by_module.iter().map(|(m, _)| m.clone()).collect();
    let mut edges = Edges::new();
    for (from, file) in &by_module {
        if is_test_module(from) {
            continue;
        }
        let text = fs::read_to_string(file).unwrap_or_default();
        for (line, code) in code_of(&text) {
            for path in paths_in(&code) {
                let Some(to) = resolve(from, &path, &modules) else {
                    continue;
                };
                let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
                if common == from.len() || common == to.len() {
                    continue; // an ancestor or a descendant
                }
                let parent = from[..common].to_vec();
                edges
                    .entry(parent)
                    .or_default()
                    .entry((from[common].clone(), to[common].clone()))
                    .or_insert_with(|| {
                        let shown = file
                            .strip_prefix(workspace())
                            .unwrap_or(file)
                            .display()
                            .to_string();
                        format!("{shown}:{line}")
                    });
            }
        }
    }
    edges
}

/// The cycles among one parent's children, each as its members in order.
fn cycles(edges: &BTreeMap<(String, String), String>) -> Vec<Vec<String>> {
    let mut graph: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (a, b) in edges.keys() {
        graph.entry(a).or_default().push(b);
    }
    let mut found = Vec::new();
    let mut reported = BTreeSet::new();
    for &start in graph.keys() {
        // Depth-first search for a path back to `start`.
        let mut stack = vec![(start, vec![start])];
        let mut seen = BTreeSet::new();
        while let Some((node, path)) = stack.pop() {
            for &next in graph.get(node).map(Vec::as_slice).unwrap_or_default() {
                if next == start {
                    let mut key = path.clone();
                    key.sort_unstable();
                    if reported.insert(key) {
                        found.push(path.iter().map(|s| s.to_string()).collect());
                    }
                } else if seen.insert(next) {
                    let mut p = path.clone();
                    p.push(next);
                    stack.push((next, p));
                }
            }
        }
    }
    found
}

#[test]
fn no_module_cycles_in_any_crate() {
    let crates = workspace().join("crates");
    let mut problems = Vec::new();
    let mut checked = 0;
    for e in fs::read_dir(&crates).expect("crates/").flatten() {
        let src = e.path().join("src");
        if !src.is_dir() {
            continue;
        }
        checked += 1;
        let name = e.file_name().to_string_lossy().into_owned();
        for (parent, es) in crate_edges(&src) {
            for cycle in cycles(&es) {
                let mut steps = Vec::new();
                for (i, a) in cycle.iter().enumerate() {
                    let b = &cycle[(i + 1) % cycle.len()];
                    let at = es.get(&(a.clone(), b.clone())).cloned().unwrap_or_default();
                    steps.push(format!("{a} -> {b} ({at})"));
                }
                let scope = if parent.is_empty() {
                    name.clone()
                } else {
                    format!("{name}::{}", parent.join("::"))
                };
                problems.push(format!("{scope}: {}", steps.join(", ")));
            }
        }
    }
    assert!(
        checked >= 7,
        "found only {checked} crates under {}",
        crates.display()
    );
    assert!(
        problems.is_empty(),
        "module cycles:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_checker_sees_a_cycle() {
    // The checker itself must be able to fail: two sibling modules that use
    // each other, one through `crate::`, one through `super::{..}`.
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    fs::create_dir_all(src.join("a")).expect("mkdir");
    fs::write(src.join("lib.rs"), "mod a;\nmod b;\n").expect("write");
    fs::write(
        src.join("a/mod.rs"),
        "mod x;\nmod y;\nuse crate::b::Thing;\n",
    )
    .expect("write");
    fs::write(
        src.join("a/x.rs"),
        "use super::{y::Y, z};\n// crate::b in a comment\n",
    )
    .expect("write");
    fs::write(
        src.join("a/y.rs"),
        "pub fn f() { crate::a::x::g() }\n#[cfg(test)]\nmod tests {\n use crate::b;\n}\n",
    )
    .expect("write");
    fs::write(
        src.join("b.rs"),
        "pub fn g() { let _ = crate::a::x::g(); }\n",
    )
    .expect("write");
    let edges = crate_edges(&src);
    let top = cycles(&edges[&Vec::<String>::new()]);
    assert_eq!(top, vec![vec!["a".to_string(), "b".to_string()]]);
    let inner = cycles(&edges[&vec!["a".to_string()]]);
    assert_eq!(inner, vec![vec!["x".to_string(), "y".to_string()]]);
}

#[test]
fn every_path_architecture_md_names_exists() {
    let root = workspace();
    let text = fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let mut named = 0;
    let mut missing = Vec::new();
    for (i, piece) in text.split('`').enumerate() {
        // Odd pieces are inside backticks; a path has a slash and nothing
        // but path characters. Paths outside the repository are not ours.
        let is_path = i % 2 == 1
            && piece.contains('/')
            && !piece.starts_with("../")
            && piece
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-'));
        if is_path {
            named += 1;
            if !root.join(piece).exists() {
                missing.push(piece.to_string());
            }
        }
    }
    assert!(
        named >= 40,
        "only {named} paths found: is the file still there?"
    );
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names paths that do not exist: {missing:?}"
    );
}
