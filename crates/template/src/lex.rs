//! The lexer of Go's `text/template/parse/lex.go`: turns template text into items (text,
//! delimiters, identifiers, literals...) with the same trimming, comment and error rules, so
//! the parser reports the same errors as Prometheus.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ItemType {
    Error,
    Bool,
    /// A printable ASCII character inside an action that has no item of its own (`,`).
    Char,
    CharConstant,
    Assign,
    Declare,
    Eof,
    Field,
    Identifier,
    LeftDelim,
    LeftParen,
    Number,
    Pipe,
    RawString,
    RightDelim,
    RightParen,
    Space,
    String,
    Text,
    Variable,
    // Keywords: Go prints these as `<val>` in "unexpected" errors.
    Block,
    Break,
    Continue,
    Dot,
    Define,
    Else,
    End,
    If,
    Nil,
    Range,
    Template,
    With,
}

impl ItemType {
    fn is_keyword(self) -> bool {
        matches!(
            self,
            ItemType::Block
                | ItemType::Break
                | ItemType::Continue
                | ItemType::Dot
                | ItemType::Define
                | ItemType::Else
                | ItemType::End
                | ItemType::If
                | ItemType::Nil
                | ItemType::Range
                | ItemType::Template
                | ItemType::With
        )
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Item {
    pub typ: ItemType,
    pub pos: usize,
    pub val: String,
    pub line: usize,
}

impl std::fmt::Display for Item {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.typ {
            ItemType::Eof => f.write_str("EOF"),
            ItemType::Error => f.write_str(&self.val),
            t if t.is_keyword() => write!(f, "<{}>", self.val),
            _ if self.val.chars().count() > 10 => {
                // Go's `%.10q...`: the first ten characters, quoted.
                let head: String = self.val.chars().take(10).collect();
                write!(f, "{}...", crate::gofmt::quote(&head))
            }
            _ => f.write_str(&crate::gofmt::quote(&self.val)),
        }
    }
}

const LEFT_DELIM: &str = "{{";
const RIGHT_DELIM: &str = "}}";
const LEFT_COMMENT: &str = "/*";
const RIGHT_COMMENT: &str = "*/";

fn keyword(word: &str) -> Option<ItemType> {
    Some(match word {
        "." => ItemType::Dot,
        "block" => ItemType::Block,
        "break" => ItemType::Break,
        "continue" => ItemType::Continue,
        "define" => ItemType::Define,
        "else" => ItemType::Else,
        "end" => ItemType::End,
        "if" => ItemType::If,
        "range" => ItemType::Range,
        "nil" => ItemType::Nil,
        "template" => ItemType::Template,
        "with" => ItemType::With,
        _ => return None,
    })
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alphanumeric(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

/// Runs the whole lexer; the last item is `Eof` or an `Error` (after which Go's lexer stops).
pub(crate) fn lex(input: &str) -> Vec<Item> {
    let mut lexer = Lexer {
        input,
        pos: 0,
        start: 0,
        line: 1,
        start_line: 1,
        paren_depth: 0,
        items: Vec::new(),
    };
    lexer.run();
    lexer.items
}

struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    start: usize,
    line: usize,
    start_line: usize,
    paren_depth: usize,
    items: Vec<Item>,
}

enum State {
    Text,
    LeftDelim,
    InsideAction,
    Done,
}

impl Lexer<'_> {
    fn run(&mut self) {
        let mut state = State::Text;
        loop {
            state = match state {
                State::Text => self.lex_text(),
                State::LeftDelim => self.lex_left_delim(),
                State::InsideAction => self.lex_inside_action(),
                State::Done => return,
            };
        }
    }

    fn peek(&self) -> Option<char> {
        self.input[self.pos..].chars().next()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn backup(&mut self, c: char) {
        self.pos -= c.len_utf8();
        if c == '\n' {
            self.line -= 1;
        }
    }

    fn emit(&mut self, typ: ItemType) {
        let val = self.input[self.start..self.pos].to_string();
        self.items.push(Item {
            typ,
            pos: self.start,
            val,
            line: self.start_line,
        });
        self.start = self.pos;
        self.start_line = self.line;
    }

    fn ignore(&mut self) {
        self.line += self.input[self.start..self.pos].matches('\n').count();
        self.start = self.pos;
        self.start_line = self.line;
    }

    fn errorf(&mut self, message: String) -> State {
        self.items.push(Item {
            typ: ItemType::Error,
            pos: self.start,
            val: message,
            line: self.start_line,
        });
        State::Done
    }

    fn lex_text(&mut self) -> State {
        if let Some(x) = self.input[self.pos..].find(LEFT_DELIM) {
            if x > 0 {
                self.pos += x;
                // Trim trailing whitespace when the delimiter is `{{- `.
                let mut trim_length = 0;
                let delim_end = self.pos + LEFT_DELIM.len();
                if has_left_trim_marker(&self.input[delim_end..]) {
                    trim_length = right_trim_length(&self.input[self.start..self.pos]);
                }
                self.pos -= trim_length;
                self.line += self.input[self.start..self.pos].matches('\n').count();
                let text_end = self.pos;
                if text_end > self.start {
                    self.items.push(Item {
                        typ: ItemType::Text,
                        pos: self.start,
                        val: self.input[self.start..text_end].to_string(),
                        line: self.start_line,
                    });
                }
                self.start = text_end;
                self.start_line = self.line;
                self.pos += trim_length;
                self.ignore();
            }
            return State::LeftDelim;
        }
        self.pos = self.input.len();
        if self.pos > self.start {
            self.line += self.input[self.start..self.pos].matches('\n').count();
            self.items.push(Item {
                typ: ItemType::Text,
                pos: self.start,
                val: self.input[self.start..].to_string(),
                line: self.start_line,
            });
            self.start = self.pos;
            self.start_line = self.line;
        }
        self.items.push(Item {
            typ: ItemType::Eof,
            pos: self.pos,
            val: String::new(),
            line: self.line,
        });
        State::Done
    }

    fn lex_left_delim(&mut self) -> State {
        self.pos += LEFT_DELIM.len();
        let trim_space = has_left_trim_marker(&self.input[self.pos..]);
        let after_marker = if trim_space { 2 } else { 0 };
        if self.input[self.pos + after_marker..].starts_with(LEFT_COMMENT) {
            self.pos += after_marker;
            self.ignore();
            return self.lex_comment();
        }
        self.emit(ItemType::LeftDelim);
        self.pos += after_marker;
        self.ignore();
        self.paren_depth = 0;
        State::InsideAction
    }

    fn lex_comment(&mut self) -> State {
        self.pos += LEFT_COMMENT.len();
        let Some(x) = self.input[self.pos..].find(RIGHT_COMMENT) else {
            return self.errorf("unclosed comment".into());
        };
        self.pos += x + RIGHT_COMMENT.len();
        let (delim, trim_space) = self.at_right_delim();
        if !delim {
            return self.errorf("comment ends before closing delimiter".into());
        }
        let trim_length = if trim_space { 2 } else { 0 };
        self.pos += trim_length + RIGHT_DELIM.len();
        if trim_space {
            self.pos += left_trim_length(&self.input[self.pos..]);
        }
        self.ignore();
        State::Text
    }

    fn at_right_delim(&self) -> (bool, bool) {
        let rest = &self.input[self.pos..];
        if has_right_trim_marker(rest) && rest[2..].starts_with(RIGHT_DELIM) {
            return (true, true);
        }
        if rest.starts_with(RIGHT_DELIM) {
            return (true, false);
        }
        (false, false)
    }

    fn lex_right_delim(&mut self, trim_space: bool) -> State {
        if trim_space {
            self.pos += 2;
            self.ignore();
        }
        self.pos += RIGHT_DELIM.len();
        self.emit(ItemType::RightDelim);
        if trim_space {
            self.pos += left_trim_length(&self.input[self.pos..]);
            self.ignore();
        }
        State::Text
    }

    fn lex_inside_action(&mut self) -> State {
        let (delim, trim_space) = self.at_right_delim();
        if delim {
            if self.paren_depth == 0 {
                return self.lex_right_delim(trim_space);
            }
            return self.errorf("unclosed left paren".into());
        }
        let Some(r) = self.next() else {
            return self.errorf("unclosed action".into());
        };
        match r {
            c if is_space(c) => {
                self.backup(c);
                self.lex_space()
            }
            '=' => {
                self.emit(ItemType::Assign);
                State::InsideAction
            }
            ':' => {
                if self.next() != Some('=') {
                    return self.errorf("expected :=".into());
                }
                self.emit(ItemType::Declare);
                State::InsideAction
            }
            '|' => {
                self.emit(ItemType::Pipe);
                State::InsideAction
            }
            '"' => self.lex_quote(),
            '`' => self.lex_raw_quote(),
            '$' => self.lex_field_or_variable(ItemType::Variable),
            '\'' => self.lex_char(),
            '.' => {
                if let Some(c) = self.peek() {
                    if c.is_ascii_digit() {
                        self.backup('.');
                        return self.lex_number();
                    }
                }
                self.lex_field_or_variable(ItemType::Field)
            }
            '+' | '-' | '0'..='9' => {
                self.backup(r);
                self.lex_number()
            }
            c if is_alphanumeric(c) => {
                self.backup(c);
                self.lex_identifier()
            }
            '(' => {
                self.emit(ItemType::LeftParen);
                self.paren_depth += 1;
                State::InsideAction
            }
            ')' => {
                self.emit(ItemType::RightParen);
                if self.paren_depth == 0 {
                    return self.errorf(format!("unexpected right paren {}", go_rune(')')));
                }
                self.paren_depth -= 1;
                State::InsideAction
            }
            c if c.is_ascii() && !c.is_ascii_control() => {
                self.emit(ItemType::Char);
                State::InsideAction
            }
            c => self.errorf(format!("unrecognized character in action: {}", go_rune(c))),
        }
    }

    fn lex_space(&mut self) -> State {
        let mut num_spaces = 0;
        while let Some(c) = self.peek() {
            if !is_space(c) {
                break;
            }
            self.next();
            num_spaces += 1;
        }
        // A space that begins a right trim marker (` -}}`) belongs to the delimiter.
        if self.pos > 0 {
            let rest = &self.input[self.pos - 1..];
            if has_right_trim_marker(rest) && rest[2..].starts_with(RIGHT_DELIM) {
                let space = char::from(rest.as_bytes()[0]);
                self.backup(space);
                if num_spaces == 1 {
                    return State::InsideAction;
                }
            }
        }
        self.emit(ItemType::Space);
        State::InsideAction
    }

    fn lex_identifier(&mut self) -> State {
        loop {
            match self.next() {
                Some(c) if is_alphanumeric(c) => {}
                other => {
                    if let Some(c) = other {
                        self.backup(c);
                    }
                    let word = &self.input[self.start..self.pos];
                    if !self.at_terminator() {
                        let c = self.peek().unwrap_or(' ');
                        return self.errorf(format!("bad character {}", go_rune(c)));
                    }
                    let typ = if let Some(k) = keyword(word) {
                        k
                    } else if word.starts_with('.') {
                        ItemType::Field
                    } else if word == "true" || word == "false" {
                        ItemType::Bool
                    } else {
                        ItemType::Identifier
                    };
                    self.emit(typ);
                    return State::InsideAction;
                }
            }
        }
    }

    fn lex_field_or_variable(&mut self, typ: ItemType) -> State {
        if self.at_terminator() {
            // A lone `.` or `$`.
            self.emit(if typ == ItemType::Variable {
                ItemType::Variable
            } else {
                ItemType::Dot
            });
            return State::InsideAction;
        }
        loop {
            match self.next() {
                Some(c) if is_alphanumeric(c) => {}
                other => {
                    if let Some(c) = other {
                        self.backup(c);
                    }
                    break;
                }
            }
        }
        if !self.at_terminator() {
            let c = self.peek().unwrap_or(' ');
            return self.errorf(format!("bad character {}", go_rune(c)));
        }
        self.emit(typ);
        State::InsideAction
    }

    fn at_terminator(&self) -> bool {
        match self.peek() {
            None => true,
            Some(c) if is_space(c) => true,
            Some('.' | ',' | '|' | ':' | ')' | '(') => true,
            Some(_) => self.input[self.pos..].starts_with(RIGHT_DELIM),
        }
    }

    fn lex_char(&mut self) -> State {
        loop {
            match self.next() {
                Some('\\') => {
                    if let Some(c) = self.next() {
                        if c != '\n' {
                            continue;
                        }
                    }
                    return self.errorf("unterminated character constant".into());
                }
                None | Some('\n') => {
                    return self.errorf("unterminated character constant".into());
                }
                Some('\'') => break,
                Some(_) => {}
            }
        }
        self.emit(ItemType::CharConstant);
        State::InsideAction
    }

    fn lex_number(&mut self) -> State {
        if !self.scan_number() {
            let text = self.input[self.start..self.pos].to_string();
            return self.errorf(format!("bad number syntax: {}", crate::gofmt::quote(&text)));
        }
        self.emit(ItemType::Number);
        State::InsideAction
    }

    fn accept(&mut self, valid: &str) -> bool {
        match self.peek() {
            Some(c) if valid.contains(c) => {
                self.next();
                true
            }
            _ => false,
        }
    }

    fn accept_run(&mut self, valid: &str) {
        while self.accept(valid) {}
    }

    fn scan_number(&mut self) -> bool {
        self.accept("+-");
        let mut digits = "0123456789_";
        if self.accept("0") {
            if self.accept("xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if digits.len() == 10 + 1 && self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        if digits.len() == 16 + 6 + 1 && self.accept("pP") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        // Imaginary numbers are accepted by the lexer; the parser rejects them.
        self.accept("i");
        if matches!(self.peek(), Some(c) if is_alphanumeric(c)) {
            // Go's error quotes the offending character too.
            self.next();
            return false;
        }
        true
    }

    fn lex_quote(&mut self) -> State {
        loop {
            match self.next() {
                Some('\\') => {
                    if let Some(c) = self.next() {
                        if c != '\n' {
                            continue;
                        }
                    }
                    return self.errorf("unterminated quoted string".into());
                }
                None | Some('\n') => return self.errorf("unterminated quoted string".into()),
                Some('"') => break,
                Some(_) => {}
            }
        }
        self.emit(ItemType::String);
        State::InsideAction
    }

    fn lex_raw_quote(&mut self) -> State {
        loop {
            match self.next() {
                None => return self.errorf("unterminated raw quoted string".into()),
                Some('`') => break,
                Some(_) => {}
            }
        }
        self.emit(ItemType::RawString);
        State::InsideAction
    }
}

/// Go's `%#U`: `U+00A0 ' '` for printable characters, `U+0000` otherwise.
pub(crate) fn go_rune(c: char) -> String {
    if crate::gofmt::is_print(c) {
        format!("U+{:04X} '{c}'", c as u32)
    } else {
        format!("U+{:04X}", c as u32)
    }
}

fn has_left_trim_marker(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0] == b'-' && is_space(b[1] as char)
}

fn has_right_trim_marker(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && is_space(b[0] as char) && b[1] == b'-'
}

fn right_trim_length(s: &str) -> usize {
    s.len() - s.trim_end_matches(is_space).len()
}

fn left_trim_length(s: &str) -> usize {
    s.len() - s.trim_start_matches(is_space).len()
}
