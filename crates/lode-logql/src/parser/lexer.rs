//! LogQL tokens. Follows Loki's lexer where it decides what a query means:
//! a number glued to duration units is a duration (`5m`, `1h30m`, `-2s`),
//! glued to byte units a size (`20MB`); `[...]` is one range token in
//! Prometheus duration syntax; `--strict` is a parser flag; `#` starts a
//! comment. Words stay words: the parser decides which are keywords.

use crate::error::{Error, Result};
use lode_go::model::parse_duration as parse_prom_duration;

use lode_go::model::parse_duration_or_go as parse_duration;

/// A byte-size literal, as go-humanize reads it.
fn parse_bytes(s: &str) -> Option<f64> {
    lode_go::bytes::parse(s).ok().map(|b| b as f64)
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Ident(String),
    Str(String),
    /// The literal text, kept for `topk`'s integer check.
    Number(String),
    Duration(i64),
    Bytes(f64),
    Range(i64),
    Flag(String),
    LBrace,
    RBrace,
    LParen,
    RParen,
    Comma,
    Dot,
    /// `=`
    Eq,
    /// `==`
    EqEq,
    /// `!=`
    Neq,
    /// `=~`
    Re,
    /// `!~`
    Nre,
    /// `|=`
    PipeExact,
    /// `|~`
    PipeMatch,
    /// `|>`
    PipePattern,
    /// `!>`
    NotPattern,
    Pipe,
    Gt,
    Ge,
    Lt,
    Le,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    /// A character no token starts with.
    Other(char),
    Eof,
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    pub line: usize,
    pub col: usize,
}

/// Words that are always keywords for Loki (never an IDENTIFIER).
pub(crate) const KEYWORDS: &[&str] = &[
    "by",
    "without",
    "bool",
    "offset",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "or",
    "and",
    "unless",
    "json",
    "regexp",
    "logfmt",
    "unpack",
    "pattern",
    "line_format",
    "label_format",
    "decolorize",
    "drop",
    "keep",
    "unwrap",
];

impl Tok {
    /// How Loki names a token in `syntax error: unexpected X`.
    pub(crate) fn describe(&self, next_is_paren: bool) -> String {
        match self {
            Tok::Ident(s) => {
                let lower = s.to_ascii_lowercase();
                if KEYWORDS.contains(&lower.as_str())
                    || next_is_paren && super::is_function_name(&lower)
                {
                    lower
                } else {
                    "IDENTIFIER".into()
                }
            }
            Tok::Str(_) => "STRING".into(),
            Tok::Number(_) => "NUMBER".into(),
            Tok::Duration(_) => "DURATION".into(),
            Tok::Bytes(_) => "BYTES".into(),
            Tok::Range(_) => "RANGE".into(),
            Tok::Flag(_) => "PARSER_FLAG".into(),
            Tok::Eof => "$end".into(),
            Tok::Other(c) => c.to_string(),
            punct => punct_text(punct).into(),
        }
    }
}

fn punct_text(t: &Tok) -> &'static str {
    match t {
        Tok::LBrace => "{",
        Tok::RBrace => "}",
        Tok::LParen => "(",
        Tok::RParen => ")",
        Tok::Comma => ",",
        Tok::Dot => ".",
        Tok::Eq => "=",
        Tok::EqEq => "==",
        Tok::Neq => "!=",
        Tok::Re => "=~",
        Tok::Nre => "!~",
        Tok::PipeExact => "|=",
        Tok::PipeMatch => "|~",
        Tok::PipePattern => "|>",
        Tok::NotPattern => "!>",
        Tok::Pipe => "|",
        Tok::Gt => ">",
        Tok::Ge => ">=",
        Tok::Lt => "<",
        Tok::Le => "<=",
        Tok::Add => "+",
        Tok::Sub => "-",
        Tok::Mul => "*",
        Tok::Div => "/",
        Tok::Mod => "%",
        Tok::Pow => "^",
        _ => "?",
    }
}

fn is_duration_char(c: char) -> bool {
    c.is_ascii_digit()
        || matches!(
            c,
            '.' | 'n' | 'u' | '\u{b5}' | 'm' | 's' | 'h' | 'd' | 'w' | 'y'
        )
}

fn is_bytes_char(c: char) -> bool {
    c.is_ascii_digit() || matches!(c, '.' | 'B' | 'i' | 'k' | 'K' | 'M' | 'G' | 'T' | 'P')
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    line: usize,
    col: usize,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek2(&self) -> Option<char> {
        let mut it = self.src[self.pos..].chars();
        it.next();
        it.next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn skip_while(&mut self, f: impl Fn(char) -> bool) {
        while self.peek().is_some_and(&f) {
            self.bump();
        }
    }

    /// Length in bytes of the run of chars satisfying `f` from `pos`.
    fn run_len(&self, f: impl Fn(char) -> bool) -> usize {
        self.src[self.pos..]
            .find(|c: char| !f(c))
            .unwrap_or(self.src.len() - self.pos)
    }

    fn advance_bytes(&mut self, n: usize) {
        let end = self.pos + n;
        while self.pos < end {
            self.bump();
        }
    }

    fn error(&self, line: usize, col: usize, msg: impl Into<String>) -> Error {
        Error::Parse {
            line,
            col,
            msg: msg.into(),
        }
    }

    /// Digits, optional fraction, optional exponent (only when digits follow).
    fn number_len(&self) -> usize {
        let b = &self.src.as_bytes()[self.pos..];
        let mut i = 0;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        }
        if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
            let mut j = i + 1;
            if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
                j += 1;
            }
            let digits = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if j > digits {
                i = j;
            }
        }
        i
    }

    /// After a number (or a `-`): a glued duration or byte-size suffix.
    fn unit_suffix(&mut self, prefix: &str) -> Option<Tok> {
        let n = self.run_len(is_duration_char);
        if n > 0 {
            let text = format!("{prefix}{}", &self.src[self.pos..self.pos + n]);
            if let Some(d) = parse_duration(&text) {
                self.advance_bytes(n);
                return Some(Tok::Duration(d));
            }
        }
        let n = self.run_len(is_bytes_char);
        if n > 0 && !prefix.starts_with('-') {
            let text = format!("{prefix}{}", &self.src[self.pos..self.pos + n]);
            if let Some(b) = parse_bytes(&text) {
                self.advance_bytes(n);
                return Some(Tok::Bytes(b));
            }
        }
        None
    }

    fn next_token(&mut self) -> Result<Token> {
        loop {
            self.skip_while(char::is_whitespace);
            if self.peek() == Some('#') {
                self.skip_while(|c| c != '\n');
                continue;
            }
            break;
        }
        let (line, col) = (self.line, self.col);
        let tok = |tok| Ok(Token { tok, line, col });
        let Some(c) = self.peek() else {
            return tok(Tok::Eof);
        };
        if c.is_ascii_digit() || (c == '.' && self.peek2().is_some_and(|d| d.is_ascii_digit())) {
            let n = self.number_len();
            let text = self.src[self.pos..self.pos + n].to_string();
            self.advance_bytes(n);
            if let Some(t) = self.unit_suffix(&text) {
                return tok(t);
            }
            return tok(Tok::Number(text));
        }
        if is_ident_start(c) {
            let n = self.run_len(is_ident_char);
            let text = self.src[self.pos..self.pos + n].to_string();
            self.advance_bytes(n);
            return tok(Tok::Ident(text));
        }
        match c {
            '"' | '`' => {
                let start = self.pos;
                self.bump();
                loop {
                    match self.bump() {
                        None => return Err(self.error(line, col, "literal not terminated")),
                        Some('\n') if c == '"' => {
                            return Err(self.error(line, col, "literal not terminated"))
                        }
                        Some('\\') if c == '"' => {
                            self.bump();
                        }
                        Some(q) if q == c => break,
                        Some(_) => {}
                    }
                }
                let raw = &self.src[start..self.pos];
                // Prometheus' `strutil.Unquote`, as Loki's lexer calls it.
                let value = {
                    lode_go::strconv::unquote_promql(raw)
                        .map_err(|e| self.error(line, col, e.to_string()))?
                };
                return tok(Tok::Str(value));
            }
            '[' => {
                self.bump();
                let Some(end) = self.src[self.pos..].find(']') else {
                    self.advance_bytes(self.src.len() - self.pos);
                    return Err(self.error(self.line, self.col, "missing closing ']' in duration"));
                };
                let text = self.src[self.pos..self.pos + end].to_string();
                self.advance_bytes(end + 1);
                return match parse_prom_duration(text.trim()) {
                    Some(d) => tok(Tok::Range(d)),
                    None => Err(self.error(
                        self.line,
                        self.col,
                        format!("not a valid duration string: {:?}", text),
                    )),
                };
            }
            '-' => {
                self.bump();
                if self.peek() == Some('-') {
                    let n = self.run_len(|c| c.is_alphabetic() || c == '-');
                    let flag = format!("-{}", &self.src[self.pos..self.pos + n]);
                    if flag == "--strict" || flag == "--keep-empty" {
                        self.advance_bytes(n);
                        return tok(Tok::Flag(flag));
                    }
                }
                if self.peek().is_some_and(|c| c.is_ascii_digit() || c == '.') {
                    // Only a duration takes the sign here: `-5` stays two tokens.
                    let save = (self.pos, self.line, self.col);
                    let n = self.number_len();
                    let text = format!("-{}", &self.src[self.pos..self.pos + n]);
                    self.advance_bytes(n);
                    if let Some(t @ Tok::Duration(_)) = self.unit_suffix(&text) {
                        return tok(t);
                    }
                    (self.pos, self.line, self.col) = save;
                }
                return tok(Tok::Sub);
            }
            _ => {}
        }
        self.bump();
        let next = self.peek();
        let two = |s: &mut Self, t: Tok| {
            s.bump();
            t
        };
        let t = match (c, next) {
            ('=', Some('=')) => two(self, Tok::EqEq),
            ('=', Some('~')) => two(self, Tok::Re),
            ('=', _) => Tok::Eq,
            ('!', Some('=')) => two(self, Tok::Neq),
            ('!', Some('~')) => two(self, Tok::Nre),
            ('!', Some('>')) => two(self, Tok::NotPattern),
            ('|', Some('=')) => two(self, Tok::PipeExact),
            ('|', Some('~')) => two(self, Tok::PipeMatch),
            ('|', Some('>')) => two(self, Tok::PipePattern),
            ('|', _) => Tok::Pipe,
            ('>', Some('=')) => two(self, Tok::Ge),
            ('>', _) => Tok::Gt,
            ('<', Some('=')) => two(self, Tok::Le),
            ('<', _) => Tok::Lt,
            ('{', _) => Tok::LBrace,
            ('}', _) => Tok::RBrace,
            ('(', _) => Tok::LParen,
            (')', _) => Tok::RParen,
            (',', _) => Tok::Comma,
            ('.', _) => Tok::Dot,
            ('+', _) => Tok::Add,
            ('*', _) => Tok::Mul,
            ('/', _) => Tok::Div,
            ('%', _) => Tok::Mod,
            ('^', _) => Tok::Pow,
            (other, _) => Tok::Other(other),
        };
        tok(t)
    }
}

/// Splits a query into tokens; the last one is always `Tok::Eof`.
pub(crate) fn lex(src: &str) -> Result<Vec<Token>> {
    let mut lx = Lexer {
        src,
        pos: 0,
        line: 1,
        col: 1,
    };
    let mut out = Vec::new();
    loop {
        let t = lx.next_token()?;
        let eof = t.tok == Tok::Eof;
        out.push(t);
        if eof {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn numbers_durations_bytes() {
        assert_eq!(toks("5m"), vec![Tok::Duration(300_000_000_000), Tok::Eof]);
        assert_eq!(
            toks("1h30m"),
            vec![Tok::Duration(5_400_000_000_000), Tok::Eof]
        );
        assert_eq!(
            toks("1.5h"),
            vec![Tok::Duration(5_400_000_000_000), Tok::Eof]
        );
        assert_eq!(toks("300ms"), vec![Tok::Duration(300_000_000), Tok::Eof]);
        assert_eq!(toks("-2s"), vec![Tok::Duration(-2_000_000_000), Tok::Eof]);
        assert_eq!(toks("20MB"), vec![Tok::Bytes(20e6), Tok::Eof]);
        assert_eq!(toks("1.5KiB"), vec![Tok::Bytes(1536.0), Tok::Eof]);
        assert_eq!(toks("100B"), vec![Tok::Bytes(100.0), Tok::Eof]);
        assert_eq!(toks("1e3"), vec![Tok::Number("1e3".into()), Tok::Eof]);
        assert_eq!(toks(".5"), vec![Tok::Number(".5".into()), Tok::Eof]);
        assert_eq!(
            toks("-5"),
            vec![Tok::Sub, Tok::Number("5".into()), Tok::Eof]
        );
        assert_eq!(
            toks("1abc"),
            vec![Tok::Number("1".into()), Tok::Ident("abc".into()), Tok::Eof]
        );
    }

    #[test]
    fn operators_and_flags() {
        assert_eq!(
            toks("|= |~ |> != !~ !> | == = =~ >= <= > <"),
            vec![
                Tok::PipeExact,
                Tok::PipeMatch,
                Tok::PipePattern,
                Tok::Neq,
                Tok::Nre,
                Tok::NotPattern,
                Tok::Pipe,
                Tok::EqEq,
                Tok::Eq,
                Tok::Re,
                Tok::Ge,
                Tok::Le,
                Tok::Gt,
                Tok::Lt,
                Tok::Eof
            ]
        );
        assert_eq!(
            toks("--strict --keep-empty"),
            vec![
                Tok::Flag("--strict".into()),
                Tok::Flag("--keep-empty".into()),
                Tok::Eof
            ]
        );
        assert_eq!(toks("[5m]"), vec![Tok::Range(300_000_000_000), Tok::Eof]);
    }

    #[test]
    fn comments_and_positions() {
        let t = lex("{a=\"b\"} # hi\n |= `x`").unwrap();
        assert_eq!(t.len(), 8);
        assert_eq!((t[6].line, t[6].col), (2, 5));
        assert_eq!(t[6].tok, Tok::Str("x".into()));
    }

    #[test]
    fn lexer_errors() {
        assert!(matches!(lex("\"abc"), Err(Error::Parse { col: 1, .. })));
        assert!(lex("[5x]").is_err());
        assert!(lex("[5m").is_err());
        assert!(lex("[1.5h]").is_err());
    }
}
