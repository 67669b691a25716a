//! Loki's regexes are Go's RE2 dialect; this maps them onto the `regex`
//! crate. The rewrite keeps Go's meaning where the two differ:
//! `\d \w \s \b` are ASCII-only in Go, `\Q..\E` quotes, `\123` is octal,
//! `\<` is a plain `<`, a `{` that is not a repeat count is a literal, and
//! `[`, `&&`, `--`, `~~` inside a class are plain characters. Errors carry
//! Go's wording (`error parsing regexp: missing closing ): ...`).

use std::fmt::Write as _;

use crate::Error;

/// Go's largest repeat count.
const MAX_REPEAT: u32 = 1000;

/// Compiles a Go regex, unanchored (line filters, the `regexp` parser,
/// templates' `regexReplaceAll`).
pub fn compile(pattern: &str) -> Result<regex::Regex, Error> {
    build(&translate(pattern)?, pattern)
}

/// Compiles a Go regex that must match the whole value, as
/// `regexp.Compile("^(?:" + re + ")$")` (`label_replace`).
pub fn compile_anchored(pattern: &str) -> Result<regex::Regex, Error> {
    build(&format!("^(?:{})$", translate(pattern)?), pattern)
}

/// Compiles a label matcher's regex the way Prometheus' `labels.Matcher`
/// does: anchored, and `.` matches a newline (`^(?s:re)$`).
pub fn compile_matcher(pattern: &str) -> Result<regex::Regex, Error> {
    build(&format!("^(?s:{})$", translate(pattern)?), pattern)
}

fn build(translated: &str, original: &str) -> Result<regex::Regex, Error> {
    regex::Regex::new(translated).map_err(|e| {
        Error::Regex(match e {
            regex::Error::CompiledTooBig(_) => {
                format!("error parsing regexp: expression too large: `{original}`")
            }
            _ => format!("error parsing regexp: invalid or unsupported Perl syntax: `{original}`"),
        })
    })
}

/// Rewrites a Go regex into an equivalent `regex`-crate pattern.
pub fn translate(pattern: &str) -> Result<String, Error> {
    Translator {
        src: pattern,
        pos: 0,
        out: String::with_capacity(pattern.len() + 16),
        depth: 0,
        can_repeat: false,
        after_repeat: false,
    }
    .run()
    .map_err(Error::Regex)
}

fn err(kind: &str, frag: &str) -> String {
    format!("error parsing regexp: {kind}: `{frag}`")
}

struct Translator<'a> {
    src: &'a str,
    pos: usize,
    out: String,
    depth: usize,
    /// Whether the last item can take a repetition operator.
    can_repeat: bool,
    /// Whether the last item was a repetition (a second one is an error).
    after_repeat: bool,
}

impl<'a> Translator<'a> {
    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn item(&mut self) {
        self.can_repeat = true;
        self.after_repeat = false;
    }

    fn run(mut self) -> Result<String, String> {
        while let Some(c) = self.bump() {
            match c {
                '\\' => self.escape_outside()?,
                '[' => {
                    self.class(self.pos - 1)?;
                    self.item();
                }
                '(' => self.group()?,
                ')' => {
                    if self.depth == 0 {
                        return Err(err("unexpected )", self.src));
                    }
                    self.depth -= 1;
                    self.out.push(')');
                    self.item();
                }
                '|' => {
                    self.out.push('|');
                    self.can_repeat = false;
                    self.after_repeat = false;
                }
                '*' | '+' | '?' => self.repeat_op(c, self.pos - 1)?,
                '{' => {
                    let start = self.pos - 1;
                    match self.repeat_count() {
                        Some(Ok(spec)) => {
                            self.check_repeat(start)?;
                            self.out.push_str(&spec);
                            self.lazy_suffix();
                        }
                        Some(Err(e)) => return Err(e),
                        None => {
                            self.out.push_str("\\{");
                            self.item();
                        }
                    }
                }
                '^' | '$' | '.' => {
                    self.out.push(c);
                    self.item();
                }
                _ => {
                    push_literal(&mut self.out, c);
                    self.item();
                }
            }
        }
        if self.depth > 0 {
            return Err(err("missing closing )", self.src));
        }
        Ok(self.out)
    }

    fn check_repeat(&self, start: usize) -> Result<(), String> {
        let op = &self.src[start..self.pos];
        if self.after_repeat {
            return Err(err("invalid nested repetition operator", op));
        }
        if !self.can_repeat {
            return Err(err("missing argument to repetition operator", op));
        }
        Ok(())
    }

    fn repeat_op(&mut self, c: char, start: usize) -> Result<(), String> {
        self.check_repeat(start)?;
        self.out.push(c);
        self.lazy_suffix();
        Ok(())
    }

    /// A single `?` after a repetition makes it lazy.
    fn lazy_suffix(&mut self) {
        if self.peek() == Some('?') {
            self.pos += 1;
            self.out.push('?');
        }
        self.can_repeat = true;
        self.after_repeat = true;
    }

    /// After a `{`: `Some(Ok(spec))` for a valid `{n}`, `{n,}`, `{n,m}`,
    /// `None` when Go reads the brace as a literal.
    fn repeat_count(&mut self) -> Option<Result<String, String>> {
        let rest = self.rest();
        let close = rest.find('}')?;
        let body = &rest[..close];
        let (min, max) = match body.split_once(',') {
            None => (body, Some(body)),
            Some((a, b)) => (a, if b.is_empty() { None } else { Some(b) }),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(min) || !max.is_none_or(digits) {
            return None;
        }
        let frag = &self.src[self.pos - 1..self.pos + close + 1];
        let parse = |s: &str| s.parse::<u32>().ok().filter(|&n| n <= MAX_REPEAT);
        let min_n = parse(min);
        let max_n = max.map(parse);
        let valid = match (min_n, max_n) {
            (Some(_), None) => true,
            (Some(a), Some(Some(b))) => a <= b,
            _ => false,
        };
        self.pos += close + 1;
        if !valid {
            return Some(Err(err("invalid repeat count", frag)));
        }
        Some(Ok(frag.to_string()))
    }

    fn group(&mut self) -> Result<(), String> {
        let start = self.pos - 1;
        self.depth += 1;
        if self.peek() != Some('?') {
            self.out.push('(');
            self.can_repeat = false;
            self.after_repeat = false;
            return Ok(());
        }
        let rest = self.rest();
        let bad = |len: usize| {
            let end = (start + len).min(self.src.len());
            let end = (end..=self.src.len())
                .find(|&i| self.src.is_char_boundary(i))
                .unwrap_or(self.src.len());
            err("invalid or unsupported Perl syntax", &self.src[start..end])
        };
        if let Some(named) = rest.strip_prefix("?P<").or_else(|| rest.strip_prefix("?<")) {
            let prefix = rest.len() - named.len();
            let Some(end) = named.find('>') else {
                return Err(err("invalid named capture", &self.src[start..]));
            };
            let name = &named[..end];
            let full = &self.src[start..self.pos + prefix + end + 1];
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(err("invalid named capture", full));
            }
            // The regex crate wants a name that starts with a letter or `_`.
            if name.as_bytes()[0].is_ascii_digit() {
                return Err(err("invalid named capture", full));
            }
            let _ = write!(self.out, "(?P<{name}>");
            self.pos += prefix + end + 1;
            self.can_repeat = false;
            self.after_repeat = false;
            return Ok(());
        }
        // Flags: (?flags) or (?flags:...)
        let flags_end = match rest[1..].find([')', ':']) {
            Some(i) => i + 1,
            None => return Err(err("missing closing )", self.src)),
        };
        let flags = &rest[1..flags_end];
        let terminator = rest.as_bytes()[flags_end];
        let mut seen_minus = false;
        let mut any = false;
        for b in flags.bytes() {
            match b {
                b'i' | b'm' | b's' | b'U' => any = true,
                b'-' if !seen_minus => {
                    seen_minus = true;
                    any = false;
                }
                _ => return Err(bad(flags_end + 2)),
            }
        }
        // `(?)`, `(?-)` and `(?i-)` are rejected by Go; `(?:` is fine.
        let non_capturing = flags.is_empty() && terminator == b':';
        if !(any || non_capturing) || flags.ends_with('-') {
            return Err(bad(flags_end + 2));
        }
        self.out.push_str(&rest[..=flags_end].replace('?', "(?"));
        self.pos += flags_end + 1;
        if terminator == b')' {
            // A bare flag group closes right away.
            self.depth -= 1;
            self.can_repeat = false;
        } else {
            self.can_repeat = false;
        }
        self.after_repeat = false;
        Ok(())
    }

    fn escape_outside(&mut self) -> Result<(), String> {
        let start = self.pos - 1;
        let Some(c) = self.bump() else {
            return Err(err("trailing backslash at end of expression", ""));
        };
        match c {
            'd' => self.out.push_str("[0-9]"),
            'D' => self.out.push_str("[^0-9]"),
            'w' => self.out.push_str("[0-9A-Za-z_]"),
            'W' => self.out.push_str("[^0-9A-Za-z_]"),
            's' => self.out.push_str("[\\t\\n\\f\\r ]"),
            'S' => self.out.push_str("[^\\t\\n\\f\\r ]"),
            'b' | 'B' => {
                let _ = write!(self.out, "(?-u:\\{c})");
                // Assertions cannot be repeated in Go either.
                self.can_repeat = false;
                self.after_repeat = false;
                return Ok(());
            }
            'A' | 'z' => {
                self.out.push('\\');
                self.out.push(c);
                self.can_repeat = false;
                self.after_repeat = false;
                return Ok(());
            }
            'Q' => {
                let rest = self.rest();
                let (lit, skip) = match rest.find("\\E") {
                    Some(i) => (&rest[..i], i + 2),
                    None => (rest, rest.len()),
                };
                if lit.is_empty() {
                    self.pos += skip;
                    return Ok(());
                }
                self.out.push_str(&regex_syntax::escape(lit));
                self.pos += skip;
            }
            _ => {
                let atom = self.escape_atom(c, start)?;
                self.out.push_str(&atom);
            }
        }
        self.item();
        Ok(())
    }

    /// Escapes valid both outside and inside classes, as a `regex` atom.
    fn escape_atom(&mut self, c: char, start: usize) -> Result<String, String> {
        let invalid = |s: &Self| err("invalid escape sequence", &s.src[start..s.pos]);
        Ok(match c {
            'a' | 'f' | 't' | 'n' | 'r' | 'v' => format!("\\{c}"),
            '0'..='7' => {
                // `\1`..`\7` alone would be a backreference: unsupported.
                if c != '0' && !matches!(self.peek(), Some('0'..='7')) {
                    return Err(invalid(self));
                }
                let mut v = c as u32 - '0' as u32;
                for _ in 0..2 {
                    match self.peek() {
                        Some(d @ '0'..='7') => {
                            v = v * 8 + (d as u32 - '0' as u32);
                            self.pos += 1;
                        }
                        _ => break,
                    }
                }
                format!("\\x{{{v:X}}}")
            }
            'x' => {
                if self.peek() == Some('{') {
                    let rest = &self.rest()[1..];
                    let Some(end) = rest.find('}') else {
                        self.pos = self.src.len();
                        return Err(invalid(self));
                    };
                    let hex = &rest[..end];
                    self.pos += end + 2;
                    match u32::from_str_radix(hex, 16).ok().and_then(char::from_u32) {
                        Some(ch) if !hex.is_empty() && hex.len() <= 8 => {
                            format!("\\x{{{:X}}}", ch as u32)
                        }
                        _ => return Err(invalid(self)),
                    }
                } else {
                    let hex: String = self.rest().chars().take(2).collect();
                    if hex.len() != 2 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                        self.pos += hex.len();
                        return Err(invalid(self));
                    }
                    self.pos += 2;
                    format!("\\x{hex}")
                }
            }
            'p' | 'P' => {
                if self.peek() == Some('{') {
                    let rest = self.rest();
                    let Some(end) = rest.find('}') else {
                        return Err(err("invalid character class range", &self.src[start..]));
                    };
                    let body = &rest[..=end];
                    self.pos += end + 1;
                    format!("\\{c}{body}")
                } else {
                    match self.bump() {
                        Some(n) if n.is_ascii_alphabetic() => format!("\\{c}{n}"),
                        _ => {
                            return Err(err(
                                "invalid character class range",
                                &self.src[start..self.pos],
                            ))
                        }
                    }
                }
            }
            c if c.is_ascii() && !c.is_ascii_alphanumeric() => {
                regex_syntax::escape(c.encode_utf8(&mut [0; 4]))
            }
            _ => return Err(invalid(self)),
        })
    }

    /// A bracket class starting at byte `start` (the `[` is consumed).
    fn class(&mut self, start: usize) -> Result<(), String> {
        let unclosed = |s: &Self| err("missing closing ]", &s.src[start..]);
        self.out.push('[');
        if self.peek() == Some('^') {
            self.pos += 1;
            self.out.push('^');
        }
        let mut first = true;
        // Whether the last thing emitted can start a range (`a` in `a-z`).
        let mut prev_char = false;
        loop {
            let Some(c) = self.bump() else {
                return Err(unclosed(self));
            };
            match c {
                ']' if !first => {
                    self.out.push(']');
                    return Ok(());
                }
                '[' if self.rest().starts_with(':') => {
                    let rest = self.rest();
                    // `[:]` is not a named class: its `:]` starts where
                    // the name would.
                    if let Some(end) = rest.get(1..).and_then(|r| r.find(":]")).map(|e| e + 1) {
                        let name = &rest[1..end];
                        let bare = name.strip_prefix('^').unwrap_or(name);
                        if !bare.is_empty() && bare.bytes().all(|b| b.is_ascii_lowercase()) {
                            let _ = write!(self.out, "[:{name}:]");
                            self.pos += end + 2;
                            prev_char = false;
                            first = false;
                            continue;
                        }
                    }
                    self.out.push_str("\\[");
                    prev_char = true;
                }
                '\\' => {
                    let estart = self.pos - 1;
                    let Some(e) = self.bump() else {
                        return Err(unclosed(self));
                    };
                    match e {
                        'd' => self.out.push_str("0-9"),
                        'w' => self.out.push_str("0-9A-Za-z_"),
                        's' => self.out.push_str("\\t\\n\\f\\r "),
                        'D' => self.out.push_str("[^0-9]"),
                        'W' => self.out.push_str("[^0-9A-Za-z_]"),
                        'S' => self.out.push_str("[^\\t\\n\\f\\r ]"),
                        _ => {
                            let atom = self.escape_atom(e, estart)?;
                            self.out.push_str(&atom);
                            prev_char = !matches!(e, 'p' | 'P');
                            first = false;
                            continue;
                        }
                    }
                    prev_char = false;
                }
                '-' => {
                    // A range operator only between two characters; a
                    // literal at either end.
                    let at_end = self.peek() == Some(']');
                    if prev_char && !at_end && !first {
                        self.out.push('-');
                        prev_char = false;
                        first = false;
                        continue;
                    }
                    self.out.push_str("\\-");
                    prev_char = true;
                }
                _ => {
                    push_literal_in_class(&mut self.out, c);
                    prev_char = true;
                }
            }
            first = false;
        }
    }
}

fn push_literal(out: &mut String, c: char) {
    if regex_syntax::is_meta_character(c) {
        out.push('\\');
    }
    out.push(c);
}

fn push_literal_in_class(out: &mut String, c: char) {
    if matches!(c, '[' | ']' | '&' | '~' | '-' | '^' | '\\') {
        out.push('\\');
    }
    out.push(c);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(re: &str, s: &str) -> bool {
        compile(re).unwrap().is_match(s)
    }

    #[test]
    fn perl_classes_are_ascii() {
        assert!(m(r"^\d+$", "123"));
        assert!(!m(r"^\d$", "٣"));
        assert!(!m(r"^\w$", "é"));
        assert!(m(r"^\W$", "é"));
        assert!(m(r"^\s$", "\t"));
        assert!(!m(r"^\s$", "\u{a0}"));
        assert!(m(r"^[\d\s]+$", "1 2"));
        assert!(m(r"^[^\d]$", "x"));
        assert!(m(r"^[\D]$", "é"));
        assert!(m(r"\bfoo\b", "a foo b"));
        // `é` is not an ASCII word character, so Go sees a boundary.
        assert!(m(r"\bfoo", "éfoo"));
        assert!(!m(r"\bfoo", "_foo"));
    }

    #[test]
    fn named_groups_both_forms() {
        let re = compile(r"(?P<a>\d+)-(?<b>\w+)").unwrap();
        let caps = re.captures("12-ab").unwrap();
        assert_eq!(&caps["a"], "12");
        assert_eq!(&caps["b"], "ab");
    }

    #[test]
    fn go_literals() {
        assert!(m(r"a{", "a{"));
        assert!(m(r"{foo}", "{foo}"));
        assert!(m(r"a{,3}", "a{,3}"));
        assert!(m(r"^a{2}$", "aa"));
        assert!(m(r"\<x\>", "<x>"));
        assert!(m(r"\Qa.b\E", "a.b"));
        assert!(!m(r"\Qa.b\E", "axb"));
        assert!(m(r"\101", "A"));
        assert!(m(r"\x41\x{42}", "AB"));
        assert!(m(r"[[]", "["));
        assert!(m(r"[a&&b]", "&"));
        assert!(m(r"[a~~b]", "~"));
        assert!(m(r"[]a]", "]"));
        assert!(m(r"[a-]", "-"));
        assert!(m(r"[-a]", "-"));
        assert!(m(r"[[:alpha:]]", "q"));
        assert!(m(r"(?i)abc", "ABC"));
        assert!(m(r"(?s)a.b", "a\nb"));
        assert!(m(r"(?i:a)B", "AB"));
        assert!(m(r"\pL", "é"));
        assert!(m(r"a*?b+?", "ab"));
    }

    #[test]
    fn anchored_matches_whole_value() {
        let re = compile_anchored("a|b").unwrap();
        assert!(re.is_match("a"));
        assert!(!re.is_match("ab"));
        assert!(compile_anchored(".*").unwrap().is_match(""));
        assert!(!compile_anchored(".+").unwrap().is_match(""));
    }

    #[test]
    fn go_errors() {
        assert_eq!(
            compile("(unclosed").unwrap_err().to_string(),
            "error parsing regexp: missing closing ): `(unclosed`"
        );
        assert_eq!(
            compile("a)").unwrap_err().to_string(),
            "error parsing regexp: unexpected ): `a)`"
        );
        assert_eq!(
            compile("[abc").unwrap_err().to_string(),
            "error parsing regexp: missing closing ]: `[abc`"
        );
        assert_eq!(
            compile("*a").unwrap_err().to_string(),
            "error parsing regexp: missing argument to repetition operator: `*`"
        );
        assert_eq!(
            compile("a**").unwrap_err().to_string(),
            "error parsing regexp: invalid nested repetition operator: `*`"
        );
        assert_eq!(
            compile(r"\Z").unwrap_err().to_string(),
            "error parsing regexp: invalid escape sequence: `\\Z`"
        );
        assert_eq!(
            compile(r"\1").unwrap_err().to_string(),
            "error parsing regexp: invalid escape sequence: `\\1`"
        );
        assert_eq!(
            compile("a{2,1}").unwrap_err().to_string(),
            "error parsing regexp: invalid repeat count: `{2,1}`"
        );
        assert_eq!(
            compile("a{1001}").unwrap_err().to_string(),
            "error parsing regexp: invalid repeat count: `{1001}`"
        );
        assert!(compile("(?P<>a)").is_err());
        assert!(compile("(?x)a").is_err());
        assert!(compile("(?").is_err());
        assert!(compile("\\").is_err());
        assert!(compile(r"\x{110000}").is_err());
        assert!(compile(r"\p{NotAClass}").is_err());
    }

    #[test]
    fn a_colon_class_opening_is_not_a_named_class() {
        // Found by the logql fuzz target: `[:]` sliced the name as [1..0].
        let _ = compile("[[:]]");
        let _ = compile(r"[LLr0-9.\ \[[:]]]+");
        assert!(m("^[[:]+$", ":[:"));
    }

    proptest::proptest! {
        /// Never panics, whatever the input.
        #[test]
        fn translate_total(s in "\\PC{0,24}") {
            let _ = compile(&s);
        }

        #[test]
        fn translate_total_meta(s in "[\\[\\]()\\\\{}a-c0-9,^$|*+?.:PQE<>&~-]{0,16}") {
            let _ = compile(&s);
        }

        #[test]
        fn escaped_literals_match_themselves(s in "\\PC{0,16}") {
            let re = compile_anchored(&regex_syntax::escape(&s)).unwrap();
            proptest::prop_assert!(re.is_match(&s));
        }
    }
}
