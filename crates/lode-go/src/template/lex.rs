//! Tokenizer for Go `text/template` source, following the rules of Go's
//! `text/template/parse` lexer (delimiters `{{ }}`, trim markers, comments,
//! and the action grammar's tokens).

use super::go_quote;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    LeftDelim,
    RightDelim,
    Space,
    Ident,
    /// `.name`; the item text includes the dot.
    Field,
    /// `$` or `$name`.
    Variable,
    /// Double-quoted string, still escaped (text includes the quotes).
    Str,
    /// Backquoted string (text includes the backquotes).
    RawStr,
    /// Character constant `'x'` (text includes the quotes).
    Char,
    Number,
    Bool,
    Nil,
    Dot,
    Pipe,
    LParen,
    RParen,
    Assign,
    Declare,
    /// Any other printable ASCII character (`,` is the useful one).
    OtherChar,
    Keyword,
    Eof,
    Error,
}

/// One token: its kind and where its text lies in the source (or, for
/// `Error`, the message).
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
    pub line: usize,
    pub err: Option<String>,
}

impl Item {
    pub fn text<'s>(&self, src: &'s str) -> &'s str {
        src.get(self.start..self.end).unwrap_or("")
    }

    /// How Go's parser names a token in error messages.
    pub fn describe(&self, src: &str) -> String {
        match self.kind {
            Kind::Eof => "EOF".to_string(),
            Kind::Error => self.err.clone().unwrap_or_default(),
            Kind::Keyword => format!("<{}>", self.text(src)),
            _ => {
                let t = self.text(src);
                if t.chars().count() > 10 {
                    let short: String = t.chars().take(10).collect();
                    format!("{}...", go_quote(&short))
                } else {
                    go_quote(t)
                }
            }
        }
    }
}

pub(crate) const KEYWORDS: &[&str] = &[
    "block", "break", "continue", "define", "else", "end", "if", "range", "template", "with",
];

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Tokenizes the whole source. The last item is `Eof` or `Error`.
pub(crate) fn lex(src: &str) -> Vec<Item> {
    let mut lx = Lexer {
        src,
        b: src.as_bytes(),
        pos: 0,
        items: Vec::new(),
        paren: 0,
    };
    lx.run();
    lx.items
}

struct Lexer<'s> {
    src: &'s str,
    b: &'s [u8],
    pos: usize,
    items: Vec<Item>,
    paren: i32,
}

impl Lexer<'_> {
    fn line_at(&self, pos: usize) -> usize {
        1 + self.b[..pos.min(self.b.len())]
            .iter()
            .filter(|&&c| c == b'\n')
            .count()
    }

    fn emit(&mut self, kind: Kind, start: usize, end: usize) {
        let line = self.line_at(start);
        self.items.push(Item {
            kind,
            start,
            end,
            line,
            err: None,
        });
    }

    fn error(&mut self, msg: String) {
        let line = self.line_at(self.pos);
        self.items.push(Item {
            kind: Kind::Error,
            start: self.pos,
            end: self.pos,
            line,
            err: Some(msg),
        });
    }

    fn rest(&self) -> &[u8] {
        &self.b[self.pos.min(self.b.len())..]
    }

    fn run(&mut self) {
        loop {
            let Some(off) = find(self.rest(), b"{{") else {
                if self.pos < self.b.len() {
                    self.emit(Kind::Text, self.pos, self.b.len());
                }
                self.emit(Kind::Eof, self.b.len(), self.b.len());
                return;
            };
            let delim = self.pos + off;
            let after = &self.b[delim + 2..];
            let trim = after.len() >= 2 && after[0] == b'-' && is_space(after[1]);
            let mut text_end = delim;
            if trim {
                while text_end > self.pos && is_space(self.b[text_end - 1]) {
                    text_end -= 1;
                }
            }
            if text_end > self.pos {
                self.emit(Kind::Text, self.pos, text_end);
            }
            self.pos = delim + 2 + if trim { 2 } else { 0 };
            if self.rest().starts_with(b"/*") {
                if !self.comment() {
                    return;
                }
                continue;
            }
            self.emit(Kind::LeftDelim, delim, delim + 2);
            self.paren = 0;
            if !self.inside_action() {
                return;
            }
        }
    }

    /// `(is delimiter, has trim marker)` at the current position.
    fn at_right_delim(&self) -> (bool, bool) {
        let r = self.rest();
        if r.len() >= 2 && is_space(r[0]) && r[1] == b'-' && r[2..].starts_with(b"}}") {
            return (true, true);
        }
        (r.starts_with(b"}}"), false)
    }

    fn skip_after_right_delim(&mut self, trim: bool) {
        self.pos += if trim { 4 } else { 2 };
        if trim {
            while self.pos < self.b.len() && is_space(self.b[self.pos]) {
                self.pos += 1;
            }
        }
    }

    fn comment(&mut self) -> bool {
        let Some(end) = find(&self.rest()[2..], b"*/") else {
            self.error("unclosed comment".into());
            return false;
        };
        self.pos += 2 + end + 2;
        let (delim, trim) = self.at_right_delim();
        if !delim {
            self.error("comment ends before closing delimiter".into());
            return false;
        }
        self.skip_after_right_delim(trim);
        true
    }

    fn peek_char(&self) -> Option<char> {
        self.src.get(self.pos..).and_then(|s| s.chars().next())
    }

    fn at_terminator(&self) -> bool {
        match self.peek_char() {
            None => true,
            Some(c) if c.is_ascii() && is_space(c as u8) => true,
            Some('.' | ',' | '|' | ':' | ')' | '(') => true,
            _ => self.rest().starts_with(b"}}"),
        }
    }

    fn bad_char_error(&mut self) {
        let c = self.peek_char().unwrap_or('\u{fffd}');
        self.error(format!("bad character {}", go_char_u(c)));
    }

    fn inside_action(&mut self) -> bool {
        loop {
            let (delim, trim) = self.at_right_delim();
            if delim {
                if self.paren > 0 {
                    self.error("unclosed left paren".into());
                    return false;
                }
                let start = self.pos + if trim { 2 } else { 0 };
                self.emit(Kind::RightDelim, start, start + 2);
                self.skip_after_right_delim(trim);
                return true;
            }
            let start = self.pos;
            let Some(c) = self.peek_char() else {
                self.error("unclosed action".into());
                return false;
            };
            match c {
                ' ' | '\t' | '\r' | '\n' => {
                    let mut n = 0;
                    while self.pos < self.b.len() && is_space(self.b[self.pos]) {
                        self.pos += 1;
                        n += 1;
                    }
                    // A trim-marked closing delimiter starts with a space.
                    let back = self.pos - 1;
                    let r = &self.b[back..];
                    if r.len() >= 2 && r[1] == b'-' && r[2..].starts_with(b"}}") {
                        self.pos = back;
                        if n == 1 {
                            continue;
                        }
                    }
                    self.emit(Kind::Space, start, self.pos);
                }
                '=' => {
                    self.pos += 1;
                    self.emit(Kind::Assign, start, self.pos);
                }
                ':' => {
                    if self.b.get(self.pos + 1) != Some(&b'=') {
                        self.error("expected :=".into());
                        return false;
                    }
                    self.pos += 2;
                    self.emit(Kind::Declare, start, self.pos);
                }
                '|' => {
                    self.pos += 1;
                    self.emit(Kind::Pipe, start, self.pos);
                }
                '"' => {
                    if !self.quoted(b'"', "unterminated quoted string") {
                        return false;
                    }
                    self.emit(Kind::Str, start, self.pos);
                }
                '\'' => {
                    if !self.quoted(b'\'', "unterminated character constant") {
                        return false;
                    }
                    self.emit(Kind::Char, start, self.pos);
                }
                '`' => match find(&self.rest()[1..], b"`") {
                    Some(i) => {
                        self.pos += i + 2;
                        self.emit(Kind::RawStr, start, self.pos);
                    }
                    None => {
                        self.error("unterminated raw quoted string".into());
                        return false;
                    }
                },
                '$' => {
                    self.pos += 1;
                    if !self.field_or_variable(Kind::Variable, start) {
                        return false;
                    }
                }
                '.' => {
                    if matches!(self.b.get(self.pos + 1), Some(b'0'..=b'9')) {
                        if !self.number(start) {
                            return false;
                        }
                    } else {
                        self.pos += 1;
                        if !self.field_or_variable(Kind::Field, start) {
                            return false;
                        }
                    }
                }
                '+' | '-' | '0'..='9' => {
                    if !self.number(start) {
                        return false;
                    }
                }
                '(' => {
                    self.pos += 1;
                    self.paren += 1;
                    self.emit(Kind::LParen, start, self.pos);
                }
                ')' => {
                    self.pos += 1;
                    self.paren -= 1;
                    if self.paren < 0 {
                        self.error("unexpected right paren".into());
                        return false;
                    }
                    self.emit(Kind::RParen, start, self.pos);
                }
                c if is_alnum(c) => {
                    while let Some(c) = self.peek_char() {
                        if !is_alnum(c) {
                            break;
                        }
                        self.pos += c.len_utf8();
                    }
                    if !self.at_terminator() {
                        self.bad_char_error();
                        return false;
                    }
                    let word = &self.src[start..self.pos];
                    let kind = if KEYWORDS.contains(&word) {
                        Kind::Keyword
                    } else if word == "true" || word == "false" {
                        Kind::Bool
                    } else if word == "nil" {
                        Kind::Nil
                    } else {
                        Kind::Ident
                    };
                    self.emit(kind, start, self.pos);
                }
                c if c.is_ascii() && !c.is_ascii_control() => {
                    self.pos += 1;
                    self.emit(Kind::OtherChar, start, self.pos);
                }
                c => {
                    self.error(format!(
                        "unrecognized character in action: {}",
                        go_char_u(c)
                    ));
                    return false;
                }
            }
        }
    }

    fn quoted(&mut self, quote: u8, unterminated: &str) -> bool {
        let mut i = self.pos + 1;
        loop {
            match self.b.get(i) {
                None | Some(b'\n') => {
                    self.pos = i;
                    self.error(unterminated.into());
                    return false;
                }
                Some(b'\\') => {
                    if matches!(self.b.get(i + 1), None | Some(b'\n')) {
                        self.pos = i;
                        self.error(unterminated.into());
                        return false;
                    }
                    i += 2;
                }
                Some(&c) if c == quote => {
                    self.pos = i + 1;
                    return true;
                }
                Some(_) => i += 1,
            }
        }
    }

    fn field_or_variable(&mut self, kind: Kind, start: usize) -> bool {
        if self.at_terminator() {
            let k = if kind == Kind::Variable {
                Kind::Variable
            } else {
                Kind::Dot
            };
            self.emit(k, start, self.pos);
            return true;
        }
        while let Some(c) = self.peek_char() {
            if !is_alnum(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        if !self.at_terminator() {
            self.bad_char_error();
            return false;
        }
        self.emit(kind, start, self.pos);
        true
    }

    fn number(&mut self, start: usize) -> bool {
        let b = self.b;
        let mut i = self.pos;
        let accept = |i: &mut usize, set: &[u8]| -> bool {
            if let Some(c) = b.get(*i) {
                if set.contains(c) {
                    *i += 1;
                    return true;
                }
            }
            false
        };
        let run = |i: &mut usize, set: &[u8]| {
            while let Some(c) = b.get(*i) {
                if !set.contains(c) {
                    break;
                }
                *i += 1;
            }
        };
        accept(&mut i, b"+-");
        let mut digits: &[u8] = b"0123456789_";
        if accept(&mut i, b"0") {
            if accept(&mut i, b"xX") {
                digits = b"0123456789abcdefABCDEF_";
            } else if accept(&mut i, b"oO") {
                digits = b"01234567_";
            } else if accept(&mut i, b"bB") {
                digits = b"01_";
            }
        }
        run(&mut i, digits);
        if accept(&mut i, b".") {
            run(&mut i, digits);
        }
        if digits.len() == 11 && accept(&mut i, b"eE") {
            accept(&mut i, b"+-");
            run(&mut i, b"0123456789_");
        }
        if digits.len() == 23 && accept(&mut i, b"pP") {
            accept(&mut i, b"+-");
            run(&mut i, b"0123456789_");
        }
        accept(&mut i, b"i");
        self.pos = i;
        if let Some(c) = self.peek_char() {
            if is_alnum(c) {
                self.pos += c.len_utf8();
                let t = self.src.get(start..self.pos).unwrap_or("");
                self.error(format!("bad number syntax: {}", go_quote(t)));
                return false;
            }
        }
        self.emit(Kind::Number, start, self.pos);
        true
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

/// Go's `%#U` of a rune: `U+0041 'A'`.
pub(crate) fn go_char_u(c: char) -> String {
    if c.is_control() {
        format!("U+{:04X}", c as u32)
    } else {
        format!("U+{:04X} '{}'", c as u32, c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Kind> {
        lex(src).into_iter().map(|i| i.kind).collect()
    }

    #[test]
    fn text_and_actions() {
        use Kind::*;
        assert_eq!(
            kinds("a{{.b}}c"),
            vec![Text, LeftDelim, Field, RightDelim, Text, Eof]
        );
        assert_eq!(
            kinds(r#"{{ printf "%d" 5 | x }}"#),
            vec![
                LeftDelim, Space, Ident, Space, Str, Space, Number, Space, Pipe, Space, Ident,
                Space, RightDelim, Eof
            ]
        );
    }

    #[test]
    fn trim_markers_cut_surrounding_space() {
        let src = "a  \n{{- .x -}}\n  b";
        let items = lex(src);
        let texts: Vec<&str> = items
            .iter()
            .filter(|i| i.kind == Kind::Text)
            .map(|i| i.text(src))
            .collect();
        assert_eq!(texts, vec!["a", "b"]);
        // `{{-3}}` is a number, not a trim marker.
        assert_eq!(
            kinds("{{-3}}"),
            vec![Kind::LeftDelim, Kind::Number, Kind::RightDelim, Kind::Eof]
        );
    }

    #[test]
    fn comments_vanish_and_errors_are_reported() {
        assert_eq!(
            kinds("x{{/* c */}}y"),
            vec![Kind::Text, Kind::Text, Kind::Eof]
        );
        let last = |s: &str| lex(s).pop().and_then(|i| i.err).unwrap_or_default();
        assert_eq!(last("{{/* c "), "unclosed comment");
        assert_eq!(
            last("{{/* c */ x}}"),
            "comment ends before closing delimiter"
        );
        assert_eq!(last("{{.foo"), "unclosed action");
        assert_eq!(last("{{ (x }}"), "unclosed left paren");
        assert_eq!(last("{{ \"abc }}"), "unterminated quoted string");
        assert_eq!(last("{{ 3x }}"), "bad number syntax: \"3x\"");
    }
}
