//! Log queries: selectors, pipeline stages, label filters and `unwrap`.

use super::lexer::Tok;
use super::{invalid, Parser};
use crate::ast::{
    CmpOp, LabelFilter, LabelFmt, LabelSelectorItem, LineFilter, LineFilterOp, LineFilterValue,
    LogExpr, MatchOp, Matcher, Parser as LogParser, Stage, Unwrap, UnwrapConv,
};
use crate::error::Result;

/// Words after `|` that start a stage other than a label filter.
const STAGE_WORDS: &[&str] = &[
    "json",
    "logfmt",
    "regexp",
    "pattern",
    "unpack",
    "line_format",
    "label_format",
    "drop",
    "keep",
    "decolorize",
    "unwrap",
];

const CMP_EXPECTING: &[&str] = &["=", "!=", "=~", "!~", "==", ">", ">=", "<", "<="];

fn match_op(t: &Tok) -> Option<MatchOp> {
    Some(match t {
        Tok::Eq => MatchOp::Eq,
        Tok::Neq => MatchOp::Neq,
        Tok::Re => MatchOp::Re,
        Tok::Nre => MatchOp::Nre,
        _ => return None,
    })
}

fn line_filter_op(t: &Tok) -> Option<LineFilterOp> {
    Some(match t {
        Tok::PipeExact => LineFilterOp::Contains,
        Tok::Neq => LineFilterOp::NotContains,
        Tok::PipeMatch => LineFilterOp::Match,
        Tok::Nre => LineFilterOp::NotMatch,
        Tok::PipePattern => LineFilterOp::Pattern,
        Tok::NotPattern => LineFilterOp::NotPattern,
        _ => return None,
    })
}

impl Parser {
    /// `{selector} pipeline...` as a whole log query.
    pub(crate) fn log_expr(&mut self) -> Result<LogExpr> {
        let selector = self.selector()?;
        let pipeline = self.pipeline()?;
        if self.peek() == &Tok::Pipe && self.kw_at(1, "unwrap") {
            // `unwrap` only makes sense inside a range aggregation.
            self.bump();
            return Err(self.unexpected(&[]));
        }
        Ok(LogExpr { selector, pipeline })
    }

    pub(crate) fn selector(&mut self) -> Result<Vec<Matcher>> {
        self.expect(&Tok::LBrace, &["{"])?;
        let mut matchers = Vec::new();
        if !self.eat(&Tok::RBrace) {
            loop {
                matchers.push(self.matcher()?);
                if self.eat(&Tok::Comma) {
                    continue;
                }
                self.expect(&Tok::RBrace, &["}", ","])?;
                break;
            }
        }
        super::validate::selector(&matchers)?;
        Ok(matchers)
    }

    /// `name op "value"`, with its regex checked.
    fn matcher(&mut self) -> Result<Matcher> {
        let name = self.ident(&["IDENTIFIER"])?;
        let Some(op) = match_op(self.peek()) else {
            return Err(self.unexpected(&["=", "!=", "=~", "!~"]));
        };
        self.bump();
        let value = self.string(&["STRING"])?;
        let m = Matcher { name, op, value };
        super::validate::matcher_regex(&m)?;
        Ok(m)
    }

    /// Stages until something that is not one (a range, `)`, `| unwrap`, end).
    pub(crate) fn pipeline(&mut self) -> Result<Vec<Stage>> {
        let mut stages = Vec::new();
        loop {
            if let Some(op) = line_filter_op(self.peek()) {
                self.bump();
                stages.push(Stage::LineFilter(self.line_filter(op)?));
                continue;
            }
            if self.peek() != &Tok::Pipe || self.kw_at(1, "unwrap") {
                return Ok(stages);
            }
            self.bump();
            stages.push(self.stage()?);
        }
    }

    fn line_filter(&mut self, op: LineFilterOp) -> Result<LineFilter> {
        let mut values = vec![self.line_filter_value()?];
        while self.at_kw("or")
            && (matches!(self.peek_at(1), Tok::Str(_))
                || self.kw_at(1, "ip") && self.peek_at(2) == &Tok::LParen)
        {
            self.bump();
            values.push(self.line_filter_value()?);
        }
        let f = LineFilter { op, values };
        super::validate::line_filter(&f)?;
        Ok(f)
    }

    fn line_filter_value(&mut self) -> Result<LineFilterValue> {
        if self.at_kw("ip") && self.peek_at(1) == &Tok::LParen {
            self.bump();
            self.bump();
            let s = self.string(&["STRING"])?;
            self.expect(&Tok::RParen, &[")"])?;
            return Ok(LineFilterValue::Ip(s));
        }
        Ok(LineFilterValue::Str(self.string(&["STRING", "ip"])?))
    }

    /// One stage after `|`.
    fn stage(&mut self) -> Result<Stage> {
        let word = match self.peek() {
            Tok::Ident(w) => w.to_ascii_lowercase(),
            Tok::LParen => return Ok(Stage::LabelFilter(self.label_filter()?)),
            _ => return Err(self.unexpected(&[])),
        };
        if !STAGE_WORDS.contains(&word.as_str()) {
            return Ok(Stage::LabelFilter(self.label_filter()?));
        }
        self.bump();
        let stage = match word.as_str() {
            "json" => Stage::Parser(LogParser::Json {
                params: self.extraction_params()?,
            }),
            "logfmt" => {
                let (mut strict, mut keep_empty) = (false, false);
                while let Tok::Flag(f) = self.peek() {
                    match f.as_str() {
                        "--strict" => strict = true,
                        _ => keep_empty = true,
                    }
                    self.bump();
                }
                let params = self.extraction_params()?;
                Stage::Parser(LogParser::Logfmt {
                    strict,
                    keep_empty,
                    params,
                })
            }
            "regexp" => Stage::Parser(LogParser::Regexp(self.string(&["STRING"])?)),
            "pattern" => Stage::Parser(LogParser::Pattern(self.string(&["STRING"])?)),
            "unpack" => Stage::Parser(LogParser::Unpack),
            "line_format" => Stage::LineFormat(self.string(&["STRING"])?),
            "label_format" => Stage::LabelFormat(self.label_formats()?),
            "drop" => Stage::Drop(self.label_selector_items()?),
            "keep" => Stage::Keep(self.label_selector_items()?),
            "decolorize" => Stage::Decolorize,
            _ => {
                // `unwrap` here: not followed by a range.
                self.pos -= 1;
                return Err(self.unexpected(&[]));
            }
        };
        super::validate::stage(&stage)?;
        Ok(stage)
    }

    /// `a="path", b` after `json` / `logfmt`; none when no name follows.
    fn extraction_params(&mut self) -> Result<Vec<(String, String)>> {
        let mut params = Vec::new();
        if !matches!(self.peek(), Tok::Ident(_)) {
            return Ok(params);
        }
        loop {
            let label = self.ident(&["IDENTIFIER"])?;
            let path = if self.eat(&Tok::Eq) {
                self.string(&["STRING"])?
            } else {
                label.clone()
            };
            params.push((label, path));
            if !self.eat(&Tok::Comma) {
                return Ok(params);
            }
        }
    }

    fn label_formats(&mut self) -> Result<Vec<LabelFmt>> {
        let mut out = Vec::new();
        loop {
            let dst = self.ident(&["IDENTIFIER"])?;
            self.expect(&Tok::Eq, &["="])?;
            out.push(match self.bump() {
                Tok::Ident(src) => LabelFmt::Rename { dst, src },
                Tok::Str(template) => LabelFmt::Template { dst, template },
                _ => {
                    self.pos -= 1;
                    return Err(self.unexpected(&["IDENTIFIER", "STRING"]));
                }
            });
            if !self.eat(&Tok::Comma) {
                return Ok(out);
            }
        }
    }

    fn label_selector_items(&mut self) -> Result<Vec<LabelSelectorItem>> {
        let mut out = Vec::new();
        loop {
            if matches!(self.peek(), Tok::Ident(_)) && match_op(self.peek_at(1)).is_some() {
                out.push(LabelSelectorItem::Matcher(self.matcher()?));
            } else {
                out.push(LabelSelectorItem::Name(self.ident(&["IDENTIFIER"])?));
            }
            if !self.eat(&Tok::Comma) {
                return Ok(out);
            }
        }
    }

    /// A label filter expression with Loki's precedence: `and` binds
    /// tighter than `or`; a `,` or a plain juxtaposition joins its left
    /// filter with everything to its right (yacc shifts there).
    pub(crate) fn label_filter(&mut self) -> Result<LabelFilter> {
        Ok(self.lf_or()?.0)
    }

    fn lf_or(&mut self) -> Result<(LabelFilter, usize)> {
        let (mut lhs, mut depth) = self.lf_and()?;
        while self.at_kw("or") {
            self.bump();
            let (rhs, rd) = self.lf_and()?;
            depth = depth.max(rd) + 1;
            self.check_depth(depth)?;
            lhs = LabelFilter::Or(Box::new(lhs), Box::new(rhs));
        }
        Ok((lhs, depth))
    }

    fn lf_and(&mut self) -> Result<(LabelFilter, usize)> {
        let (mut lhs, mut depth) = self.lf_joined()?;
        while self.at_kw("and") {
            self.bump();
            let (rhs, rd) = self.lf_joined()?;
            depth = depth.max(rd) + 1;
            self.check_depth(depth)?;
            lhs = LabelFilter::And(Box::new(lhs), Box::new(rhs));
        }
        Ok((lhs, depth))
    }

    fn lf_joined(&mut self) -> Result<(LabelFilter, usize)> {
        let (first, depth) = self.lf_primary()?;
        let joined = if self.eat(&Tok::Comma) {
            true
        } else {
            self.at_label_filter_start()
        };
        if !joined {
            return Ok((first, depth));
        }
        self.enter()?;
        let (rest, rd) = self.lf_or()?;
        self.leave();
        let depth = depth.max(rd) + 1;
        self.check_depth(depth)?;
        Ok((LabelFilter::And(Box::new(first), Box::new(rest)), depth))
    }

    /// Whether a further filter starts here without `and`/`,`.
    fn at_label_filter_start(&self) -> bool {
        match self.peek() {
            Tok::LParen => true,
            Tok::Ident(w) => {
                !w.eq_ignore_ascii_case("and")
                    && !w.eq_ignore_ascii_case("or")
                    && matches!(
                        self.peek_at(1),
                        Tok::Eq
                            | Tok::EqEq
                            | Tok::Neq
                            | Tok::Re
                            | Tok::Nre
                            | Tok::Gt
                            | Tok::Ge
                            | Tok::Lt
                            | Tok::Le
                    )
            }
            _ => false,
        }
    }

    fn lf_primary(&mut self) -> Result<(LabelFilter, usize)> {
        if self.eat(&Tok::LParen) {
            self.enter()?;
            let inner = self.lf_or()?;
            self.expect(&Tok::RParen, &[")"])?;
            self.leave();
            return Ok(inner);
        }
        let name = match self.peek() {
            Tok::Ident(w) if !super::lexer::KEYWORDS.contains(&w.to_ascii_lowercase().as_str()) => {
                self.ident(&[])?
            }
            _ => return Err(self.unexpected(&["IDENTIFIER", "("])),
        };
        let op_tok = self.peek().clone();
        let cmp = match op_tok {
            Tok::Eq | Tok::EqEq => CmpOp::Eq,
            Tok::Neq => CmpOp::Neq,
            Tok::Gt => CmpOp::Gt,
            Tok::Ge => CmpOp::Ge,
            Tok::Lt => CmpOp::Lt,
            Tok::Le => CmpOp::Le,
            Tok::Re | Tok::Nre => CmpOp::Eq,
            _ => return Err(self.unexpected(CMP_EXPECTING)),
        };
        self.bump();
        let string_op = match_op(&op_tok);
        let filter = match self.peek().clone() {
            Tok::Str(value) => {
                let Some(op) = string_op else {
                    return Err(self.unexpected(&[]));
                };
                self.bump();
                let m = Matcher { name, op, value };
                super::validate::matcher_regex(&m)?;
                LabelFilter::String(m)
            }
            Tok::Ident(w)
                if w.eq_ignore_ascii_case("ip")
                    && self.peek_at(1) == &Tok::LParen
                    && matches!(op_tok, Tok::Eq | Tok::Neq) =>
            {
                self.bump();
                self.bump();
                let pattern = self.string(&["STRING"])?;
                self.expect(&Tok::RParen, &[")"])?;
                LabelFilter::Ip {
                    name,
                    negate: op_tok == Tok::Neq,
                    pattern,
                }
            }
            _ if string_op.is_some() && matches!(op_tok, Tok::Re | Tok::Nre) => {
                return Err(self.unexpected(&["STRING"]));
            }
            Tok::Duration(value) => {
                self.bump();
                LabelFilter::Duration {
                    name,
                    op: cmp,
                    value,
                }
            }
            Tok::Bytes(value) => {
                self.bump();
                LabelFilter::Bytes {
                    name,
                    op: cmp,
                    value,
                }
            }
            Tok::Number(_) | Tok::Add | Tok::Sub => {
                let neg = match self.peek() {
                    Tok::Sub => {
                        self.bump();
                        true
                    }
                    Tok::Add => {
                        self.bump();
                        false
                    }
                    _ => false,
                };
                let Tok::Number(text) = self.peek().clone() else {
                    return Err(self.unexpected(&["NUMBER"]));
                };
                self.bump();
                let v: f64 = text
                    .parse()
                    .map_err(|_| invalid(format!("unable to parse literal as a float: {text}")))?;
                if !v.is_finite() {
                    return Err(invalid(format!(
                        "unable to parse literal as a float: {text}"
                    )));
                }
                LabelFilter::Number {
                    name,
                    op: cmp,
                    value: if neg { -v } else { v },
                }
            }
            _ => return Err(self.unexpected(&["STRING", "NUMBER", "DURATION", "BYTES"])),
        };
        Ok((filter, 1))
    }

    /// `| unwrap x`, `| unwrap bytes(x)`, then `| label filters`.
    pub(crate) fn unwrap(&mut self) -> Result<Option<Unwrap>> {
        if !(self.peek() == &Tok::Pipe && self.kw_at(1, "unwrap")) {
            return Ok(None);
        }
        self.bump();
        self.bump();
        const EXPECTING: &[&str] = &[
            "IDENTIFIER",
            "BYTES_CONV",
            "DURATION_CONV",
            "DURATION_SECONDS_CONV",
        ];
        let word = match self.peek() {
            Tok::Ident(w) => w.clone(),
            _ => return Err(self.unexpected(EXPECTING)),
        };
        let conv = if self.peek_at(1) == &Tok::LParen {
            match word.to_ascii_lowercase().as_str() {
                "bytes" => UnwrapConv::Bytes,
                "duration" => UnwrapConv::Duration,
                "duration_seconds" => UnwrapConv::DurationSeconds,
                _ => {
                    self.bump();
                    return Err(self.unexpected(&[]));
                }
            }
        } else {
            UnwrapConv::None
        };
        let label = if conv == UnwrapConv::None {
            self.ident(EXPECTING)?
        } else {
            self.bump();
            self.bump();
            let l = self.ident(&["IDENTIFIER"])?;
            self.expect(&Tok::RParen, &[")"])?;
            l
        };
        let mut post_filters = Vec::new();
        while self.peek() == &Tok::Pipe {
            self.bump();
            if let Tok::Ident(w) = self.peek() {
                if STAGE_WORDS.contains(&w.to_ascii_lowercase().as_str()) {
                    return Err(self.unexpected(&[]));
                }
            }
            post_filters.push(self.label_filter()?);
        }
        Ok(Some(Unwrap {
            label,
            conv,
            post_filters,
        }))
    }
}
