//! The PromQL lexer: a state machine that follows Prometheus's `promql/parser/lex.go` closely,
//! because its states decide which errors a query gets (`unexpected end of input inside braces`,
//! `bad number or duration syntax: "5mm"`, ...) and where they point.
//!
//! The lexer does not depend on the parser, so a query is lexed in one go; lexing stops at the
//! first error, which becomes the last token (`TokenKind::Error`) and is reported when the parser
//! reaches it. Comments are dropped.

use crate::ast::AggregateOp;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    Eof,
    /// A lexing error; its message is `Lexed::error`.
    Error,
    Identifier,
    /// An identifier containing a colon (`job:rate5m`).
    MetricIdentifier,
    Number,
    Duration,
    String,
    LeftParen,
    RightParen,
    LeftBrace,
    RightBrace,
    LeftBracket,
    RightBracket,
    Comma,
    /// `=` (label matching).
    Eql,
    Colon,
    // Operators.
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    /// `==`.
    Eqlc,
    Neq,
    Lss,
    Lte,
    Gtr,
    Gte,
    EqlRegex,
    NeqRegex,
    /// `</`.
    TrimUpper,
    /// `>/`.
    TrimLower,
    At,
    Land,
    Lor,
    Lunless,
    Atan2,
    Aggregator(AggregateOp),
    // Keywords.
    Bool,
    By,
    Without,
    On,
    Ignoring,
    GroupLeft,
    GroupRight,
    Offset,
    Smoothed,
    Anchored,
    Fill,
    FillLeft,
    FillRight,
    // Preprocessors.
    Start,
    End,
    Step,
    Range,
    // Duration functions, only inside brackets.
    MinOf,
    MaxOf,
}

impl TokenKind {
    /// Prometheus's `IsKeyword`: printed as `<offset>` in messages.
    pub fn is_keyword(self) -> bool {
        matches!(
            self,
            TokenKind::Bool
                | TokenKind::By
                | TokenKind::Without
                | TokenKind::On
                | TokenKind::Ignoring
                | TokenKind::GroupLeft
                | TokenKind::GroupRight
                | TokenKind::Offset
                | TokenKind::Smoothed
                | TokenKind::Anchored
                | TokenKind::Fill
                | TokenKind::FillLeft
                | TokenKind::FillRight
        )
    }

    /// Prometheus's `IsOperator`: printed as `<op:+>`.
    pub fn is_operator(self) -> bool {
        matches!(
            self,
            TokenKind::Add
                | TokenKind::Sub
                | TokenKind::Mul
                | TokenKind::Div
                | TokenKind::Mod
                | TokenKind::Pow
                | TokenKind::Eqlc
                | TokenKind::Neq
                | TokenKind::Lss
                | TokenKind::Lte
                | TokenKind::Gtr
                | TokenKind::Gte
                | TokenKind::EqlRegex
                | TokenKind::NeqRegex
                | TokenKind::TrimUpper
                | TokenKind::TrimLower
                | TokenKind::At
                | TokenKind::Land
                | TokenKind::Lor
                | TokenKind::Lunless
                | TokenKind::Atan2
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    /// Byte offsets of the token's text.
    pub start: usize,
    pub end: usize,
}

/// A lexed query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lexed {
    /// The tokens; the last one is `Eof`, or `Error` when lexing failed.
    pub tokens: Vec<Token>,
    /// The message of the `Error` token.
    pub error: Option<String>,
}

/// Lexes a whole query.
pub fn lex(input: &str) -> Lexed {
    let mut lexer = Lexer {
        input,
        pos: 0,
        start: 0,
        width: 0,
        paren_depth: 0,
        brace_open: false,
        bracket_open: false,
        got_colon: false,
        got_duration: false,
        string_open: '"',
        // About one token per four bytes in typical queries: one allocation, seldom grown
        // (bounded: a long string literal is one token).
        tokens: Vec::with_capacity((input.len() / 4 + 2).min(1024)),
        error: None,
        done: false,
    };
    let mut state = State::Statements;
    while !lexer.done {
        state = lexer.step(state);
    }
    Lexed {
        tokens: lexer.tokens,
        error: lexer.error,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Statements,
    InsideBraces,
    DurationExpr,
}

/// The keyword `word` lexes to outside braces, whatever its case: lower-cased on the stack,
/// since every identifier of every query is looked up here.
fn lowercase_keyword(word: &str) -> Option<TokenKind> {
    const LONGEST: usize = "count_values".len();
    let bytes = word.as_bytes();
    if bytes.len() > LONGEST {
        return None;
    }
    let mut lower = [0u8; LONGEST];
    let lower = &mut lower[..bytes.len()];
    lower.copy_from_slice(bytes);
    lower.make_ascii_lowercase();
    keyword(std::str::from_utf8(lower).ok()?)
}

/// The keyword a lower-cased word lexes to outside braces, as in lex.go's `key` map.
fn keyword(word: &str) -> Option<TokenKind> {
    Some(match word {
        "and" => TokenKind::Land,
        "or" => TokenKind::Lor,
        "unless" => TokenKind::Lunless,
        "atan2" => TokenKind::Atan2,
        "sum" => TokenKind::Aggregator(AggregateOp::Sum),
        "avg" => TokenKind::Aggregator(AggregateOp::Avg),
        "count" => TokenKind::Aggregator(AggregateOp::Count),
        "min" => TokenKind::Aggregator(AggregateOp::Min),
        "max" => TokenKind::Aggregator(AggregateOp::Max),
        "group" => TokenKind::Aggregator(AggregateOp::Group),
        "stddev" => TokenKind::Aggregator(AggregateOp::Stddev),
        "stdvar" => TokenKind::Aggregator(AggregateOp::Stdvar),
        "topk" => TokenKind::Aggregator(AggregateOp::Topk),
        "bottomk" => TokenKind::Aggregator(AggregateOp::Bottomk),
        "count_values" => TokenKind::Aggregator(AggregateOp::CountValues),
        "quantile" => TokenKind::Aggregator(AggregateOp::Quantile),
        "limitk" => TokenKind::Aggregator(AggregateOp::Limitk),
        "limit_ratio" => TokenKind::Aggregator(AggregateOp::LimitRatio),
        "offset" => TokenKind::Offset,
        "smoothed" => TokenKind::Smoothed,
        "anchored" => TokenKind::Anchored,
        "by" => TokenKind::By,
        "without" => TokenKind::Without,
        "on" => TokenKind::On,
        "ignoring" => TokenKind::Ignoring,
        "group_left" => TokenKind::GroupLeft,
        "group_right" => TokenKind::GroupRight,
        "fill" => TokenKind::Fill,
        "fill_left" => TokenKind::FillLeft,
        "fill_right" => TokenKind::FillRight,
        "bool" => TokenKind::Bool,
        "start" => TokenKind::Start,
        "end" => TokenKind::End,
        "step" => TokenKind::Step,
        "range" => TokenKind::Range,
        "inf" | "nan" => TokenKind::Number,
        _ => return None,
    })
}

pub(crate) fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn is_alpha(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

fn is_alpha_numeric(c: char) -> bool {
    is_alpha(c) || c.is_ascii_digit()
}

struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    /// Start of the token being scanned.
    start: usize,
    /// Width of the last character read, for `backup`.
    width: usize,
    paren_depth: i64,
    brace_open: bool,
    bracket_open: bool,
    got_colon: bool,
    /// Sticky once a number was seen inside brackets, as in lex.go.
    got_duration: bool,
    string_open: char,
    tokens: Vec<Token>,
    error: Option<String>,
    done: bool,
}

impl Lexer<'_> {
    /// The next character, or `None` at the end (Go's `eof`).
    fn next(&mut self) -> Option<char> {
        match self
            .input
            .get(self.pos..)
            .and_then(|rest| rest.chars().next())
        {
            Some(c) => {
                self.width = c.len_utf8();
                self.pos += self.width;
                Some(c)
            }
            None => {
                self.width = 0;
                None
            }
        }
    }

    fn backup(&mut self) {
        self.pos -= self.width;
        self.width = 0;
    }

    fn peek(&mut self) -> Option<char> {
        let c = self.next();
        self.backup();
        c
    }

    fn accept(&mut self, valid: &str) -> bool {
        match self.next() {
            Some(c) if valid.contains(c) => true,
            _ => {
                self.backup();
                false
            }
        }
    }

    fn is(&mut self, valid: &str) -> bool {
        self.peek().is_some_and(|c| valid.contains(c))
    }

    fn accept_run(&mut self, valid: &str) {
        while self.accept(valid) {}
    }

    fn emit(&mut self, kind: TokenKind) {
        self.tokens.push(Token {
            kind,
            start: self.start,
            end: self.pos,
        });
        self.start = self.pos;
    }

    fn ignore(&mut self) {
        self.start = self.pos;
    }

    /// Ends lexing with an error at the start of the current token, as lex.go's `errorf`.
    fn error(&mut self, message: String) -> State {
        self.tokens.push(Token {
            kind: TokenKind::Error,
            start: self.start,
            end: self.input.len(),
        });
        self.error = Some(message);
        self.done = true;
        State::Statements
    }

    fn rest_starts_with(&self, prefix: &str) -> bool {
        self.input
            .get(self.pos..)
            .is_some_and(|rest| rest.starts_with(prefix))
    }

    fn step(&mut self, state: State) -> State {
        match state {
            State::Statements => self.lex_statements(),
            State::InsideBraces => self.lex_inside_braces(),
            State::DurationExpr => self.lex_duration_expr(),
        }
    }

    fn lex_statements(&mut self) -> State {
        if self.brace_open {
            return State::InsideBraces;
        }
        if self.rest_starts_with("#") {
            self.lex_line_comment();
            return State::Statements;
        }
        let Some(r) = self.next() else {
            if self.paren_depth != 0 {
                return self.error("unclosed left parenthesis".into());
            }
            if self.bracket_open {
                return self.error("unclosed left bracket".into());
            }
            self.emit(TokenKind::Eof);
            self.done = true;
            return State::Statements;
        };
        match r {
            ',' => self.emit(TokenKind::Comma),
            c if is_space(c) => self.lex_space(),
            '*' => self.emit(TokenKind::Mul),
            '/' => self.emit(TokenKind::Div),
            '%' => self.emit(TokenKind::Mod),
            '+' => self.emit(TokenKind::Add),
            '-' => self.emit(TokenKind::Sub),
            '^' => self.emit(TokenKind::Pow),
            '=' => match self.peek() {
                Some('=') => {
                    self.next();
                    self.emit(TokenKind::Eqlc);
                }
                Some('~') => {
                    return self.error(format!(
                        "unexpected character after '=': {}",
                        quote_rune(Some('~'))
                    ))
                }
                _ => self.emit(TokenKind::Eql),
            },
            '!' => {
                let t = self.next();
                if t != Some('=') {
                    return self
                        .error(format!("unexpected character after '!': {}", quote_rune(t)));
                }
                self.emit(TokenKind::Neq);
            }
            '<' => match self.peek() {
                Some('=') => {
                    self.next();
                    self.emit(TokenKind::Lte);
                }
                Some('/') => {
                    self.next();
                    self.emit(TokenKind::TrimUpper);
                }
                _ => self.emit(TokenKind::Lss),
            },
            '>' => match self.peek() {
                Some('=') => {
                    self.next();
                    self.emit(TokenKind::Gte);
                }
                Some('/') => {
                    self.next();
                    self.emit(TokenKind::TrimLower);
                }
                _ => self.emit(TokenKind::Gtr),
            },
            c if c.is_ascii_digit()
                || (c == '.' && self.peek().is_some_and(|d| d.is_ascii_digit())) =>
            {
                self.backup();
                return self.lex_number_or_duration();
            }
            '"' | '\'' => {
                self.string_open = r;
                return self.lex_string();
            }
            '`' => {
                self.string_open = r;
                return self.lex_raw_string();
            }
            c if is_alpha(c) || c == ':' => {
                if !self.bracket_open {
                    self.backup();
                    self.lex_keyword_or_identifier();
                    return State::Statements;
                }
                if c == ':' {
                    if self.got_colon {
                        return self.error(format!("unexpected colon {}", quote_rune(Some(c))));
                    }
                    self.emit(TokenKind::Colon);
                    self.got_colon = true;
                    return State::Statements;
                }
                if matches!(c, 's' | 'S' | 'm' | 'M' | 'r' | 'R') && self.scan_duration_keyword() {
                    return State::Statements;
                }
                return self.error(format!(
                    "unexpected character: {}, expected {}",
                    quote_rune(Some(c)),
                    quote_rune(Some(':'))
                ));
            }
            '(' => {
                self.emit(TokenKind::LeftParen);
                self.paren_depth += 1;
            }
            ')' => {
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    // lex.go emits the parenthesis and then replaces it with the error.
                    self.start = self.pos;
                    return self.error(format!(
                        "unexpected right parenthesis {}",
                        quote_rune(Some(r))
                    ));
                }
                self.emit(TokenKind::RightParen);
            }
            '{' => {
                self.emit(TokenKind::LeftBrace);
                self.brace_open = true;
                return State::InsideBraces;
            }
            '[' => {
                if self.bracket_open {
                    return self.error(format!("unexpected left bracket {}", quote_rune(Some(r))));
                }
                self.got_colon = false;
                self.emit(TokenKind::LeftBracket);
                self.skip_spaces();
                self.bracket_open = true;
                return State::DurationExpr;
            }
            ']' => {
                if !self.bracket_open {
                    return self.error(format!("unexpected right bracket {}", quote_rune(Some(r))));
                }
                self.emit(TokenKind::RightBracket);
                self.bracket_open = false;
            }
            '@' => self.emit(TokenKind::At),
            _ => return self.error(format!("unexpected character: {}", quote_rune(Some(r)))),
        }
        State::Statements
    }

    fn lex_inside_braces(&mut self) -> State {
        if self.rest_starts_with("#") {
            self.lex_line_comment();
            return State::InsideBraces;
        }
        let Some(r) = self.next() else {
            return self.error("unexpected end of input inside braces".into());
        };
        match r {
            c if is_space(c) => self.lex_space(),
            c if is_alpha(c) => {
                self.backup();
                while self.next().is_some_and(is_alpha_numeric) {}
                self.backup();
                self.emit(TokenKind::Identifier);
            }
            ',' => self.emit(TokenKind::Comma),
            '"' | '\'' => {
                self.string_open = r;
                let next = self.lex_string();
                return if self.done { next } else { State::InsideBraces };
            }
            '`' => {
                self.string_open = r;
                let next = self.lex_raw_string();
                return if self.done { next } else { State::InsideBraces };
            }
            '=' => {
                if self.next() == Some('~') {
                    self.emit(TokenKind::EqlRegex);
                } else {
                    self.backup();
                    self.emit(TokenKind::Eql);
                }
            }
            '!' => match self.next() {
                Some('~') => self.emit(TokenKind::NeqRegex),
                Some('=') => self.emit(TokenKind::Neq),
                other => {
                    return self.error(format!(
                        "unexpected character after '!' inside braces: {}",
                        quote_rune(other)
                    ))
                }
            },
            '{' => return self.error(format!("unexpected left brace {}", quote_rune(Some(r)))),
            '}' => {
                self.emit(TokenKind::RightBrace);
                self.brace_open = false;
                return State::Statements;
            }
            _ => {
                return self.error(format!(
                    "unexpected character inside braces: {}",
                    quote_rune(Some(r))
                ))
            }
        }
        State::InsideBraces
    }

    fn lex_duration_expr(&mut self) -> State {
        let Some(r) = self.next() else {
            return self.error("unexpected end of input in duration expression".into());
        };
        match r {
            ']' => {
                self.emit(TokenKind::RightBracket);
                self.bracket_open = false;
                self.got_colon = false;
                State::Statements
            }
            ':' => {
                if !self.got_duration {
                    self.start = self.pos;
                    return self
                        .error("unexpected colon before duration in duration expression".into());
                }
                if self.got_colon {
                    self.start = self.pos;
                    return self.error("unexpected repeated colon in duration expression".into());
                }
                self.emit(TokenKind::Colon);
                self.got_colon = true;
                State::DurationExpr
            }
            '(' => {
                self.emit(TokenKind::LeftParen);
                self.paren_depth += 1;
                State::DurationExpr
            }
            ')' => {
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    self.start = self.pos;
                    return self.error(format!(
                        "unexpected right parenthesis {}",
                        quote_rune(Some(r))
                    ));
                }
                self.emit(TokenKind::RightParen);
                State::DurationExpr
            }
            c if is_space(c) => {
                self.skip_spaces();
                State::DurationExpr
            }
            '+' | '-' | '*' | '/' | '%' | '^' | ',' => {
                self.emit(match r {
                    '+' => TokenKind::Add,
                    '-' => TokenKind::Sub,
                    '*' => TokenKind::Mul,
                    '/' => TokenKind::Div,
                    '%' => TokenKind::Mod,
                    '^' => TokenKind::Pow,
                    _ => TokenKind::Comma,
                });
                State::DurationExpr
            }
            's' | 'S' | 'm' | 'M' | 'r' | 'R' => {
                if self.scan_duration_keyword() {
                    State::DurationExpr
                } else {
                    self.error(format!(
                        "unexpected character in duration expression: {}",
                        quote_rune(Some(r))
                    ))
                }
            }
            c if c.is_ascii_digit()
                || (c == '.' && self.peek().is_some_and(|d| d.is_ascii_digit())) =>
            {
                self.backup();
                self.got_duration = true;
                self.lex_number_or_duration()
            }
            _ => self.error(format!(
                "unexpected character in duration expression: {}",
                quote_rune(Some(r))
            )),
        }
    }

    /// `step`, `range`, `min_of`, `max_of` inside brackets; the first letter was read.
    fn scan_duration_keyword(&mut self) -> bool {
        while self.next().is_some_and(is_alpha) {}
        self.backup();
        let word = self.input.get(self.start..self.pos).unwrap_or("");
        let kind = match word.to_ascii_lowercase().as_str() {
            "step" => TokenKind::Step,
            "range" => TokenKind::Range,
            "min_of" => TokenKind::MinOf,
            "max_of" => TokenKind::MaxOf,
            _ => return false,
        };
        self.emit(kind);
        true
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(is_space) {
            self.next();
        }
        self.ignore();
    }

    fn lex_space(&mut self) {
        self.skip_spaces();
    }

    /// A `#` comment up to the end of the line; dropped.
    fn lex_line_comment(&mut self) {
        self.pos += 1;
        loop {
            match self.next() {
                None => break,
                Some('\r' | '\n') => {
                    self.backup();
                    break;
                }
                Some(_) => {}
            }
        }
        self.ignore();
    }

    fn lex_string(&mut self) -> State {
        loop {
            match self.next() {
                Some('\\') => {
                    if let Some(message) = self.lex_escape() {
                        return self.error(message);
                    }
                }
                // Go decodes invalid UTF-8 (and a literal U+FFFD) as utf8.RuneError.
                Some('\u{FFFD}') => return self.error("invalid UTF-8 rune".into()),
                None | Some('\n') => return self.error("unterminated quoted string".into()),
                Some(c) if c == self.string_open => break,
                Some(_) => {}
            }
        }
        self.emit(TokenKind::String);
        State::Statements
    }

    fn lex_raw_string(&mut self) -> State {
        loop {
            match self.next() {
                Some('\u{FFFD}') => return self.error("invalid UTF-8 rune".into()),
                None => return self.error("unterminated raw string".into()),
                Some(c) if c == self.string_open => break,
                Some(_) => {}
            }
        }
        self.emit(TokenKind::String);
        State::Statements
    }

    /// Checks an escape sequence (the backslash was read); the message of a bad one.
    fn lex_escape(&mut self) -> Option<String> {
        let mut ch = self.next();
        let (mut n, base, max): (u32, u32, u32) = match ch {
            Some('a' | 'b' | 'f' | 'n' | 'r' | 't' | 'v' | '\\') => return None,
            Some(c) if c == self.string_open => return None,
            Some('0'..='7') => (3, 8, 255),
            Some('x') => {
                ch = self.next();
                (2, 16, 255)
            }
            Some('u') => {
                ch = self.next();
                (4, 16, 0x10FFFF)
            }
            Some('U') => {
                ch = self.next();
                (8, 16, 0x10FFFF)
            }
            None => return Some("escape sequence not terminated".into()),
            Some(c) => return Some(format!("unknown escape sequence {}", format_unicode(c))),
        };
        let mut x: u32 = 0;
        while n > 0 {
            let d = ch.and_then(|c| c.to_digit(16)).unwrap_or(16);
            if d >= base {
                return Some(match ch {
                    None => "escape sequence not terminated".into(),
                    Some(c) => {
                        format!("illegal character {} in escape sequence", format_unicode(c))
                    }
                });
            }
            x = x.saturating_mul(base).saturating_add(d);
            n -= 1;
            if n > 0 {
                ch = self.next();
            }
        }
        if x > max || (0xD800..0xE000).contains(&x) {
            return Some("escape sequence is an invalid Unicode code point".into());
        }
        None
    }

    fn lex_number_or_duration(&mut self) -> State {
        if self.scan_number() {
            self.emit(TokenKind::Number);
            return State::Statements;
        }
        if self.accept_remaining_duration() {
            self.backup();
            self.emit(TokenKind::Duration);
            return State::Statements;
        }
        let text = self.input.get(self.start..self.pos).unwrap_or("");
        let message = format!(
            "bad number or duration syntax: {}",
            go_quote(text.as_bytes())
        );
        self.error(message)
    }

    fn accept_remaining_duration(&mut self) -> bool {
        if !self.accept("smhdwy") {
            return false;
        }
        // `ms`; bad units like `hs` are caught when the duration is parsed.
        self.accept("s");
        while self.accept("0123456789") {
            while self.accept("0123456789") {}
            // `y` must come first, so it is not accepted here.
            if !self.accept("smhdw") {
                return false;
            }
            self.accept("s");
        }
        !self.next().is_some_and(is_alpha_numeric)
    }

    /// Scans a decimal, hexadecimal or floating-point number, which need not be valid; the
    /// parser reports the bad ones.
    fn scan_number(&mut self) -> bool {
        const DEC: &str = "0123456789";
        const HEX: &str = "0123456789abcdefABCDEF";
        let initial = self.pos;
        let mut digits = DEC;
        if self.accept("0") && self.accept("xX") {
            self.accept("_");
            digits = HEX;
        }
        self.accept(".");
        self.accept(digits);
        let mut dot_consumed = false;
        let mut exponent_consumed = false;
        while self.is(digits) || self.is("._eE") {
            if self.is(".") && dot_consumed {
                self.accept(".");
                return false;
            }
            if self.is("eE") && exponent_consumed {
                self.accept("eE");
                return false;
            }
            if self.accept(".") {
                dot_consumed = true;
                if self.accept("_.") {
                    return false;
                }
                // No fractional hexadecimal literals.
                if digits == HEX {
                    return false;
                }
                continue;
            }
            if self.accept("eE") {
                exponent_consumed = true;
                self.accept("+-");
                if self.accept("._eE") || self.peek().is_none() {
                    return false;
                }
                continue;
            }
            if self.accept("_") {
                if self.accept("._eE") || self.peek().is_none() {
                    return false;
                }
                continue;
            }
            self.accept_run(digits);
        }
        if self.pos == initial {
            return false;
        }
        !self.peek().is_some_and(is_alpha_numeric)
    }

    fn lex_keyword_or_identifier(&mut self) {
        while self.next().is_some_and(|c| is_alpha_numeric(c) || c == ':') {}
        self.backup();
        let word = self.input.get(self.start..self.pos).unwrap_or("");
        let kind = match lowercase_keyword(word) {
            // fill/fill_left/fill_right are keywords only before `(`, so they stay usable as
            // metric names.
            Some(TokenKind::Fill | TokenKind::FillLeft | TokenKind::FillRight)
                if !self.followed_by_left_paren() =>
            {
                TokenKind::Identifier
            }
            Some(kind) => kind,
            None if word.contains(':') => TokenKind::MetricIdentifier,
            None => TokenKind::Identifier,
        };
        self.emit(kind);
    }

    fn followed_by_left_paren(&self) -> bool {
        self.input
            .get(self.pos..)
            .and_then(|rest| rest.chars().find(|&c| !is_space(c)))
            == Some('(')
    }
}

/// Go's `%q` of a rune: `'a'`, `'\n'`, `'\x00'`; the end of input is Go's `eof` (-1), which
/// prints as the replacement character.
pub(crate) fn quote_rune(c: Option<char>) -> String {
    let c = c.unwrap_or('\u{FFFD}');
    let mut out = String::from("'");
    match c {
        '\'' => out.push_str("\\'"),
        '"' => out.push('"'),
        _ => push_escaped(&mut out, c),
    }
    out.push('\'');
    out
}

/// Go's `%#U`: `U+0063 'c'`, without the character when it is not printable.
fn format_unicode(c: char) -> String {
    if is_print(c) {
        format!("U+{:04X} '{}'", c as u32, c)
    } else {
        format!("U+{:04X}", c as u32)
    }
}

/// Displays as [`go_quote`] of its text.
pub(crate) struct GoQuoted<'a>(pub &'a str);

impl std::fmt::Display for GoQuoted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&go_quote(self.0.as_bytes()))
    }
}

/// Go's `strconv.Quote` of a byte string (invalid UTF-8 bytes become `\xNN`).
pub(crate) fn go_quote(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\'' => out.push('\''),
                _ => push_escaped(&mut out, c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('"');
    out
}

/// One character as Go's quoting writes it (the quote characters are handled by the callers).
fn push_escaped(out: &mut String, c: char) {
    match c {
        '\\' => out.push_str("\\\\"),
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        c if is_print(c) => out.push(c),
        c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

/// An approximation of Go's `strconv.IsPrint` (letters, marks, numbers, punctuation, symbols and
/// the ASCII space) without Unicode category tables: control, space-like, format and
/// private-use characters are not printable; unassigned code points count as printable.
pub(crate) fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let u = c as u32;
    let format_or_private = matches!(u,
        0x00AD
        | 0x0600..=0x0605
        | 0x061C
        | 0x06DD
        | 0x070F
        | 0x0890..=0x0891
        | 0x08E2
        | 0x180E
        | 0x200B..=0x200F
        | 0x202A..=0x202E
        | 0x2060..=0x2064
        | 0x2066..=0x206F
        | 0xFEFF
        | 0xFFF9..=0xFFFB
        | 0x110BD
        | 0x110CD
        | 0x13430..=0x1343F
        | 0x1BCA0..=0x1BCA3
        | 0x1D173..=0x1D17A
        | 0xE0001
        | 0xE0020..=0xE007F
        | 0xE000..=0xF8FF
        | 0xF0000..=0x10FFFF
        | 0xFFFE..=0xFFFF
    );
    !format_or_private
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(input: &str) -> Vec<TokenKind> {
        lex(input).tokens.into_iter().map(|t| t.kind).collect()
    }

    fn error(input: &str) -> (usize, String) {
        let lexed = lex(input);
        let last = lexed.tokens.last().copied().expect("a token");
        assert_eq!(last.kind, TokenKind::Error, "{input}: {:?}", lexed.tokens);
        (last.start, lexed.error.unwrap_or_default())
    }

    #[test]
    fn keywords_are_case_insensitive_and_fill_needs_a_paren() {
        use TokenKind::*;
        assert_eq!(
            kinds("SUM BY (a) offset"),
            vec![
                Aggregator(AggregateOp::Sum),
                By,
                LeftParen,
                Identifier,
                RightParen,
                Offset,
                Eof
            ]
        );
        assert_eq!(
            kinds("fill + fill (0)"),
            vec![Identifier, Add, Fill, LeftParen, Number, RightParen, Eof]
        );
        assert_eq!(
            kinds("a:b Inf nan"),
            vec![MetricIdentifier, Number, Number, Eof]
        );
    }

    #[test]
    fn numbers_and_durations() {
        use TokenKind::*;
        assert_eq!(
            kinds("1 0x1f 1e3 .5 5. 1_000 5m 1h30m 5ms"),
            vec![Number, Number, Number, Number, Number, Number, Duration, Duration, Duration, Eof]
        );
        assert_eq!(
            error("0deadbeef"),
            (0, r#"bad number or duration syntax: "0de""#.into())
        );
        assert_eq!(
            error("100..4"),
            (0, r#"bad number or duration syntax: "100..""#.into())
        );
        assert_eq!(
            error("2.5."),
            (0, r#"bad number or duration syntax: "2.5.""#.into())
        );
    }

    #[test]
    fn brackets_and_braces() {
        use TokenKind::*;
        assert_eq!(
            kinds("a[5m:1m]"),
            vec![
                Identifier,
                LeftBracket,
                Duration,
                Colon,
                Duration,
                RightBracket,
                Eof
            ]
        );
        assert_eq!(
            kinds("a[step()+1]"),
            vec![
                Identifier,
                LeftBracket,
                Step,
                LeftParen,
                RightParen,
                Add,
                Number,
                RightBracket,
                Eof
            ]
        );
        assert_eq!(
            error("up{"),
            (3, "unexpected end of input inside braces".into())
        );
        assert_eq!(
            error("foo{a:b}"),
            (5, "unexpected character inside braces: ':'".into())
        );
        assert_eq!(
            error("foo[5s x 5s]"),
            (7, "unexpected character: 'x', expected ':'".into())
        );
        assert_eq!(
            error("foo[\"5m\"]"),
            (
                4,
                "unexpected character in duration expression: '\"'".into()
            )
        );
        assert_eq!(
            error("(1))"),
            (4, "unexpected right parenthesis ')'".into())
        );
        assert_eq!(error("((1)"), (4, "unclosed left parenthesis".into()));
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(kinds(r#""a\"b" 'c\'d' `e\f`"#).len(), 4);
        assert_eq!(
            error(r#""\c""#),
            (0, "unknown escape sequence U+0063 'c'".into())
        );
        assert_eq!(
            error(r#""\x.""#),
            (0, "illegal character U+002E '.' in escape sequence".into())
        );
        assert_eq!(error(r#""\"#), (0, "escape sequence not terminated".into()));
        assert_eq!(error("`\\``"), (3, "unterminated raw string".into()));
        assert_eq!(
            error("\"abc\ndef\""),
            (0, "unterminated quoted string".into())
        );
        assert_eq!(
            error(r#""\ud800""#),
            (0, "escape sequence is an invalid Unicode code point".into())
        );
    }

    #[test]
    fn comments_are_dropped() {
        use TokenKind::*;
        assert_eq!(
            kinds("# c\nfoo # d\n+ 1"),
            vec![Identifier, Add, Number, Eof]
        );
        assert_eq!(
            kinds("{a=\"b\" # c\n}"),
            vec![LeftBrace, Identifier, Eql, String, RightBrace, Eof]
        );
    }

    #[test]
    fn go_quoting() {
        assert_eq!(
            go_quote(b"a\"b\\c\n\x01\xff\xe2\x98\xba"),
            "\"a\\\"b\\\\c\\n\\x01\\xff\u{263a}\""
        );
        assert_eq!(quote_rune(Some('\n')), "'\\n'");
        assert_eq!(quote_rune(Some('\'')), "'\\''");
        assert_eq!(go_quote("\u{a0}".as_bytes()), "\"\\u00a0\"");
    }
}
