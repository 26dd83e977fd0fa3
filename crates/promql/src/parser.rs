//! The PromQL parser: text to `ast::Expr`, following Prometheus 3's grammar
//! (`promql/parser/generated_parser.y` and `parse.go`) as a recursive-descent parser with
//! precedence climbing for the binary operators.
//!
//! Like Prometheus it works in two passes: the syntax pass builds the tree and reports the errors
//! Prometheus reports while parsing (unknown functions, modifiers in the wrong place, disabled
//! features); the check pass (`checkAST` there) then type-checks the tree. Only the first error is
//! returned, which is the one Prometheus prints, with its message and `line:column` position.
//!
//! Nothing here panics on any input: tokens are read through bounds-checked accessors and both the
//! recursion (`MAX_NESTING`) and the depth of the built tree (`MAX_DEPTH`) are limited, so no
//! input can overflow the stack.

use std::fmt;

use narthex_model::{MatchOp, Matcher, METRIC_NAME};

use crate::ast::{
    AggregateExpr, AggregateOp, AtModifier, BinaryExpr, BinaryOp, Call, Cardinality, DurationExpr,
    Expr, FillValues, MatrixSelector, NumberLiteral, ParenExpr, Span, StringLiteral, SubqueryExpr,
    UnaryExpr, UnaryOp, ValueType, VectorMatching, VectorSelector, MAX_DURATION_SECONDS,
};
use crate::functions;
use crate::lexer::{self, go_quote, is_space, Token, TokenKind};

/// How deep the tree of an expression may get (long operator chains too), so that walking it
/// recursively (checking, printing, evaluating) cannot exhaust a thread's stack.
pub const MAX_DEPTH: usize = 512;

/// How deeply parentheses, calls, aggregations and operands may nest. The parser's own recursion
/// costs up to about 2 KiB of stack per level in release builds, so this keeps it well within
/// the 1-2 MiB stacks of threads and of wasm.
pub const MAX_NESTING: usize = 256;

/// A parse error at a byte offset into the input, displayed as Prometheus prints it:
/// `1:4: parse error: unexpected end of input inside braces`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset of the offending token or expression.
    pub offset: usize,
    /// 1-based; 0 when the input is empty, which Prometheus prints as "unknown position".
    pub line: usize,
    /// 1-based column in bytes, as Prometheus counts it.
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "unknown position: parse error: {}", self.message)
        } else {
            write!(
                f,
                "{}:{}: parse error: {}",
                self.line, self.column, self.message
            )
        }
    }
}

impl std::error::Error for ParseError {}

impl ParseError {
    fn new(input: &str, offset: usize, message: impl Into<String>) -> ParseError {
        let message = message.into();
        if input.is_empty() {
            return ParseError {
                offset: 0,
                line: 0,
                column: 0,
                message,
            };
        }
        let offset = offset.min(input.len());
        let before = input.as_bytes().get(..offset).unwrap_or_default();
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        let column = match before.iter().rposition(|&b| b == b'\n') {
            Some(newline) => offset - newline,
            None => offset + 1,
        };
        ParseError {
            offset,
            line,
            column,
            message,
        }
    }
}

/// Prometheus's feature flags that change what parses. `Default` is Prometheus's default: all
/// off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// `--enable-feature=promql-experimental-functions`: experimental functions and the
    /// `limitk`/`limit_ratio` aggregations.
    pub experimental_functions: bool,
    /// `--enable-feature=promql-duration-expr`: `foo[5m+1m]`, `offset step()`, ...
    pub duration_expressions: bool,
    /// `--enable-feature=promql-extended-range-selectors`: `anchored` and `smoothed`.
    pub extended_range_selectors: bool,
    /// `--enable-feature=promql-binop-fill-modifiers`: `fill()`, `fill_left()`, `fill_right()`.
    pub binop_fill_modifiers: bool,
}

impl ParseOptions {
    /// Everything enabled, as the PromQL test files expect.
    pub const fn all() -> ParseOptions {
        ParseOptions {
            experimental_functions: true,
            duration_expressions: true,
            extended_range_selectors: true,
            binop_fill_modifiers: true,
        }
    }
}

/// Parses a PromQL expression with Prometheus's default options (experimental features off).
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    parse_with(input, &ParseOptions::default())
}

/// Parses a PromQL expression.
pub fn parse_with(input: &str, options: &ParseOptions) -> Result<Expr, ParseError> {
    let mut parser = Parser::new(input, *options);
    if parser.kind() == TokenKind::Eof {
        return Err(ParseError::new(input, 0, "no expression found in input"));
    }
    let node = parser.parse_expr()?;
    if parser.kind() != TokenKind::Eof {
        return Err(parser.unexpected_generic());
    }
    let mut expr = node.expr;
    Checker { input }.check(&mut expr, false)?;
    Ok(*expr)
}

/// Parses a series selector such as `match[]` takes (`up{job="api"}`, `{__name__=~"a.*"}`): a
/// vector selector without modifiers. Its matchers, the name matcher last. As in Prometheus,
/// the "at least one non-empty matcher" rule is left to the caller.
pub fn parse_metric_selector(input: &str) -> Result<Vec<Matcher>, ParseError> {
    let mut parser = Parser::new(input, ParseOptions::default());
    let node = match parser.kind() {
        TokenKind::LeftBrace => parser.parse_selector(None)?,
        kind if is_metric_identifier(kind) => {
            let name = parser.advance();
            parser.parse_selector(Some(name))?
        }
        _ => return Err(parser.unexpected_generic()),
    };
    if parser.kind() != TokenKind::Eof {
        return Err(parser.unexpected_generic());
    }
    match *node.expr {
        Expr::VectorSelector(vs) => Ok(vs.matchers),
        _ => Err(ParseError::new(input, 0, "expected a vector selector")),
    }
}

type PResult<T> = Result<T, ParseError>;

/// An expression with the depth of its tree, to bound trees built without recursion (long
/// operator chains).
struct Node {
    /// Boxed to keep the parser's stack frames small.
    expr: Box<Expr>,
    depth: usize,
}

/// The binary operator modifiers between an operator and its right-hand side.
struct BinModifiers {
    return_bool: bool,
    matching: VectorMatching,
}

/// What a parsed duration is for, which decides the values it may take.
#[derive(Clone, Copy)]
enum DurationUse {
    Range,
    Step,
    Offset,
}

/// Where a duration expression is, for the wording of its errors.
#[derive(Clone, Copy)]
enum DurationContext {
    /// The range of `[range]` or `[range:step]`.
    Range,
    /// The step of `[range:step]`.
    Step,
    /// After `offset`.
    Offset,
}

impl DurationContext {
    fn unexpected_args(self) -> (&'static str, &'static str) {
        match self {
            DurationContext::Range => (
                "subquery or range selector",
                "number, duration, step(), or range()",
            ),
            DurationContext::Step => (
                "subquery selector",
                "number, duration, step(), range(), or \"]\"",
            ),
            DurationContext::Offset => ("offset", "number, duration, step(), or range()"),
        }
    }
}

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Token>,
    /// The message of the final `Error` token, if lexing failed.
    lex_error: String,
    pos: usize,
    options: ParseOptions,
    /// Current recursion depth of the expression parser.
    depth: usize,
    /// How many aggregations' parentheses enclose the current token: Prometheus's grammar
    /// reports unexpected tokens there as "... in aggregation".
    aggregation_depth: usize,
    /// End of the last `)`, `]`, `}`, number or duration consumed (Prometheus's `lastClosing`).
    last_closing: usize,
}

impl<'a> Parser<'a> {
    fn new(input: &'a str, options: ParseOptions) -> Parser<'a> {
        let lexed = lexer::lex(input);
        let mut tokens = lexed.tokens;
        if tokens.is_empty() {
            // The lexer always ends with Eof or Error; this keeps `current` total regardless.
            tokens.push(Token {
                kind: TokenKind::Eof,
                start: input.len(),
                end: input.len(),
            });
        }
        Parser {
            input,
            tokens,
            lex_error: lexed.error.unwrap_or_default(),
            pos: 0,
            options,
            depth: 0,
            aggregation_depth: 0,
            last_closing: 0,
        }
    }

    fn current(&self) -> Token {
        self.tokens
            .get(self.pos)
            .or_else(|| self.tokens.last())
            .copied()
            .unwrap_or(Token {
                kind: TokenKind::Eof,
                start: self.input.len(),
                end: self.input.len(),
            })
    }

    fn kind(&self) -> TokenKind {
        self.kind_at(0)
    }

    fn kind_at(&self, ahead: usize) -> TokenKind {
        self.tokens
            .get(self.pos + ahead)
            .or_else(|| self.tokens.last())
            .map_or(TokenKind::Eof, |t| t.kind)
    }

    /// Consumes the current token (the final Eof/Error token is never passed).
    fn advance(&mut self) -> Token {
        let token = self.current();
        if matches!(
            token.kind,
            TokenKind::RightBrace
                | TokenKind::RightParen
                | TokenKind::RightBracket
                | TokenKind::Duration
                | TokenKind::Number
        ) {
            self.last_closing = token.end;
        }
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
        token
    }

    fn text(&self, token: &Token) -> &'a str {
        self.input.get(token.start..token.end).unwrap_or("")
    }

    fn error(&self, offset: usize, message: impl Into<String>) -> ParseError {
        ParseError::new(self.input, offset, message)
    }

    /// Prometheus's `unexpected(context, expected)` about the current token; a lexing error is
    /// reported as itself.
    fn unexpected(&self, context: &str, expected: &str) -> ParseError {
        let token = self.current();
        if token.kind == TokenKind::Error {
            return self.error(token.start, self.lex_error.clone());
        }
        let mut message = format!("unexpected {}", self.describe(&token));
        if !context.is_empty() {
            message.push_str(" in ");
            message.push_str(context);
        }
        if !expected.is_empty() {
            message.push_str(", expected ");
            message.push_str(expected);
        }
        self.error(token.start, message)
    }

    /// An unexpected token where the grammar has no specific error rule.
    fn unexpected_generic(&self) -> ParseError {
        if self.aggregation_depth > 0 {
            self.unexpected("aggregation", "")
        } else {
            self.unexpected("", "")
        }
    }

    /// A token as Prometheus's `Item.desc()` describes it: `"("`, `<op:+>`, `<by>`,
    /// `identifier "foo"`, `end of input`.
    fn describe(&self, token: &Token) -> String {
        let text = self.text(token);
        match token.kind {
            TokenKind::Eof => "end of input".into(),
            TokenKind::Error => self.lex_error.clone(),
            TokenKind::Identifier => format!("identifier {}", go_quote(text.as_bytes())),
            TokenKind::MetricIdentifier => {
                format!("metric identifier {}", go_quote(text.as_bytes()))
            }
            TokenKind::Number => format!("number {}", quote_truncated(text)),
            TokenKind::Duration => format!("duration {}", quote_truncated(text)),
            TokenKind::String => format!("string {}", quote_truncated(text)),
            kind if kind.is_keyword() => format!("<{text}>"),
            kind if kind.is_operator() => format!("<op:{text}>"),
            TokenKind::Aggregator(_) => format!("<aggr:{text}>"),
            _ => quote_truncated(text),
        }
    }

    fn expect(&mut self, kind: TokenKind, context: &str, expected: &str) -> PResult<Token> {
        if self.kind() == kind {
            Ok(self.advance())
        } else {
            Err(self.unexpected(context, expected))
        }
    }

    fn node(&self, expr: Expr, children_depth: usize) -> PResult<Node> {
        let depth = children_depth + 1;
        if depth > MAX_DEPTH {
            return Err(self.error(
                expr.span().start,
                format!("expression is nested too deeply (more than {MAX_DEPTH} levels)"),
            ));
        }
        Ok(Node {
            expr: Box::new(expr),
            depth,
        })
    }

    /// `node` with a child of `child_depth` added (a duration expression).
    fn deepen(&self, node: Node, child_depth: usize) -> PResult<Node> {
        let depth = node.depth.max(child_depth + 1);
        if depth > MAX_DEPTH {
            return Err(self.error(
                node.expr.span().start,
                format!("expression is nested too deeply (more than {MAX_DEPTH} levels)"),
            ));
        }
        Ok(Node { depth, ..node })
    }

    // Expressions.

    fn parse_expr(&mut self) -> PResult<Node> {
        self.parse_binary(1)
    }

    /// Precedence climbing over the binary operators; `^` is right-associative.
    fn parse_binary(&mut self, min_precedence: u8) -> PResult<Node> {
        // Every nested expression comes through here, so this bounds the recursion.
        self.depth += 1;
        let result = if self.depth > MAX_NESTING {
            Err(self.too_deep())
        } else {
            self.parse_binary_inner(min_precedence)
        };
        self.depth -= 1;
        result
    }

    fn too_deep(&self) -> ParseError {
        self.error(
            self.current().start,
            format!("expression is nested too deeply (more than {MAX_NESTING} levels)"),
        )
    }

    fn parse_binary_inner(&mut self, min_precedence: u8) -> PResult<Node> {
        let mut lhs = self.parse_unary()?;
        while let Some(op) = binary_op(self.kind()) {
            let precedence = op.precedence();
            if precedence < min_precedence {
                break;
            }
            self.advance();
            let modifiers = self.parse_bin_modifiers()?;
            let next_min = if op == BinaryOp::Pow {
                precedence
            } else {
                precedence + 1
            };
            let rhs = self.parse_binary(next_min)?;
            lhs = self.new_binary(op, lhs, modifiers, rhs)?;
        }
        Ok(lhs)
    }

    fn parse_unary(&mut self) -> PResult<Node> {
        let op = match self.kind() {
            TokenKind::Sub => UnaryOp::Neg,
            TokenKind::Add => UnaryOp::Pos,
            _ => {
                let primary = self.parse_primary()?;
                return self.parse_postfix(primary);
            }
        };
        let op_token = self.advance();
        // A unary operator binds like `*`: it takes everything that binds tighter, i.e. `^`
        // (`-1^2` is `-(1^2)`).
        let operand = self.parse_binary(BinaryOp::Pow.precedence())?;
        match *operand.expr {
            // Prometheus folds the sign into a number literal.
            Expr::Number(mut n) => {
                if op == UnaryOp::Neg {
                    n.value = -n.value;
                }
                n.span.start = op_token.start;
                Ok(Node {
                    expr: Box::new(Expr::Number(n)),
                    depth: operand.depth,
                })
            }
            expr => {
                let span = Span {
                    start: op_token.start,
                    end: expr.span().end,
                };
                self.node(
                    Expr::Unary(UnaryExpr {
                        op,
                        expr: Box::new(expr),
                        span,
                    }),
                    operand.depth,
                )
            }
        }
    }

    fn parse_primary(&mut self) -> PResult<Node> {
        let token = self.current();
        match token.kind {
            TokenKind::Number => {
                self.advance();
                let value = self.number(&token)?;
                self.node(
                    Expr::Number(NumberLiteral {
                        value,
                        duration: false,
                        span: span_of(&token),
                    }),
                    0,
                )
            }
            TokenKind::Duration => {
                self.advance();
                let ms = self.duration(&token)?;
                self.node(
                    Expr::Number(NumberLiteral {
                        value: ms_to_seconds(ms),
                        duration: true,
                        span: span_of(&token),
                    }),
                    0,
                )
            }
            TokenKind::String => {
                self.advance();
                let (value, invalid_utf8) = unquote_token(self.text(&token));
                self.node(
                    Expr::String(StringLiteral {
                        value,
                        invalid_utf8,
                        span: span_of(&token),
                    }),
                    0,
                )
            }
            TokenKind::LeftParen => self.parse_paren(),
            TokenKind::LeftBrace => self.parse_selector(None),
            TokenKind::Identifier => {
                let name = self.advance();
                if self.kind() == TokenKind::LeftParen {
                    let function_name = self.text(&name).to_string();
                    self.parse_call(name, function_name)
                } else {
                    self.parse_selector(Some(name))
                }
            }
            TokenKind::Aggregator(op) => {
                if matches!(
                    self.kind_at(1),
                    TokenKind::LeftParen | TokenKind::By | TokenKind::Without
                ) {
                    self.parse_aggregate(op)
                } else {
                    let name = self.advance();
                    self.parse_selector(Some(name))
                }
            }
            TokenKind::Start | TokenKind::End | TokenKind::Step | TokenKind::Range => {
                let name = self.advance();
                if self.kind() == TokenKind::LeftParen {
                    let function_name = self.text(&name).to_ascii_lowercase();
                    self.parse_call(name, function_name)
                } else {
                    self.parse_selector(Some(name))
                }
            }
            kind if is_metric_identifier(kind) => {
                let name = self.advance();
                self.parse_selector(Some(name))
            }
            _ => Err(self.unexpected_generic()),
        }
    }

    fn parse_paren(&mut self) -> PResult<Node> {
        let open = self.advance();
        let inner = self.parse_expr()?;
        if self.kind() != TokenKind::RightParen {
            return Err(self.unexpected_generic());
        }
        let close = self.advance();
        self.node(
            Expr::Paren(ParenExpr {
                expr: inner.expr,
                span: Span {
                    start: open.start,
                    end: close.end,
                },
            }),
            inner.depth,
        )
    }

    /// `(arg, ...)` of a call or aggregation; the current token is `(`.
    fn parse_call_args(&mut self) -> PResult<(Vec<Expr>, usize)> {
        self.advance();
        let mut args = Vec::new();
        let mut depth = 0;
        if self.kind() == TokenKind::RightParen {
            self.advance();
            return Ok((args, depth));
        }
        loop {
            let arg = self.parse_expr()?;
            depth = depth.max(arg.depth);
            args.push(*arg.expr);
            match self.kind() {
                TokenKind::Comma => {
                    let comma = self.advance();
                    if self.kind() == TokenKind::RightParen {
                        return Err(self.error(
                            comma.start,
                            "trailing commas not allowed in function call args",
                        ));
                    }
                }
                TokenKind::RightParen => {
                    self.advance();
                    return Ok((args, depth));
                }
                _ => return Err(self.unexpected_generic()),
            }
        }
    }

    fn parse_call(&mut self, name: Token, function_name: String) -> PResult<Node> {
        let (args, depth) = self.parse_call_args()?;
        let Some(func) = functions::lookup(&function_name) else {
            return Err(self.error(
                name.start,
                format!(
                    "unknown function with name {}",
                    go_quote(function_name.as_bytes())
                ),
            ));
        };
        if func.experimental && !self.options.experimental_functions {
            return Err(self.error(
                name.start,
                format!(
                    "function {} is not enabled",
                    go_quote(function_name.as_bytes())
                ),
            ));
        }
        let span = Span {
            start: name.start,
            end: self.last_closing,
        };
        self.node(Expr::Call(Call { func, args, span }), depth)
    }

    fn parse_aggregate(&mut self, op: AggregateOp) -> PResult<Node> {
        self.aggregation_depth += 1;
        let result = self.parse_aggregate_inner(op);
        self.aggregation_depth -= 1;
        result
    }

    fn parse_aggregate_inner(&mut self, op: AggregateOp) -> PResult<Node> {
        let op_token = self.advance();
        let mut grouping = self.parse_aggregate_modifier()?;
        if self.kind() != TokenKind::LeftParen {
            return Err(self.unexpected("aggregation", ""));
        }
        let (mut args, depth) = self.parse_call_args()?;
        if grouping.is_none() {
            grouping = self.parse_aggregate_modifier()?;
        }
        let span = Span {
            start: op_token.start,
            end: self.last_closing,
        };
        let (without, grouping) = grouping.unwrap_or((false, Vec::new()));
        if args.is_empty() {
            return Err(self.error(span.start, "no arguments for aggregate expression provided"));
        }
        let desired = if op.has_param() {
            if op.is_experimental() && !self.options.experimental_functions {
                return Err(self.error(
                    span.start,
                    format!(
                        "{}() is experimental and must be enabled with \
                         --enable-feature=promql-experimental-functions",
                        op.as_str()
                    ),
                ));
            }
            2
        } else {
            1
        };
        if args.len() != desired {
            return Err(self.error(
                span.start,
                format!(
                    "wrong number of arguments for aggregate expression provided, expected {desired}, got {}",
                    args.len()
                ),
            ));
        }
        let expr = args.pop().map(Box::new);
        let param = args.pop().map(Box::new);
        let Some(expr) = expr else {
            return Err(self.error(span.start, "no arguments for aggregate expression provided"));
        };
        self.node(
            Expr::Aggregate(AggregateExpr {
                op,
                expr,
                param,
                grouping,
                without,
                span,
            }),
            depth,
        )
    }

    /// `by (...)` or `without (...)`, if present.
    fn parse_aggregate_modifier(&mut self) -> PResult<Option<(bool, Vec<String>)>> {
        let without = match self.kind() {
            TokenKind::By => false,
            TokenKind::Without => true,
            _ => return Ok(None),
        };
        self.advance();
        let labels = self.parse_grouping_labels()?;
        Ok(Some((without, labels)))
    }

    /// `(label, ...)` of `by`, `without`, `on`, `ignoring`, `group_left`, `group_right`.
    fn parse_grouping_labels(&mut self) -> PResult<Vec<String>> {
        if self.kind() != TokenKind::LeftParen {
            return Err(self.unexpected("grouping opts", "\"(\""));
        }
        self.advance();
        let mut labels = Vec::new();
        if self.kind() == TokenKind::RightParen {
            self.advance();
            return Ok(labels);
        }
        loop {
            let token = self.current();
            if is_maybe_label(token.kind) {
                let name = self.text(&token);
                if !is_legacy_label_name(name) {
                    return Err(self.unexpected("grouping opts", "label"));
                }
                self.advance();
                labels.push(name.to_string());
            } else if token.kind == TokenKind::String {
                self.advance();
                labels.push(unquote_token(self.text(&token)).0);
            } else {
                return Err(self.unexpected("grouping opts", "label"));
            }
            match self.kind() {
                TokenKind::Comma => {
                    self.advance();
                    if self.kind() == TokenKind::RightParen {
                        self.advance();
                        return Ok(labels);
                    }
                }
                TokenKind::RightParen => {
                    self.advance();
                    return Ok(labels);
                }
                _ => return Err(self.unexpected("grouping opts", "\",\" or \")\"")),
            }
        }
    }

    /// `bool`, `on(...)`/`ignoring(...)`, `group_left(...)`/`group_right(...)` and the fill
    /// modifiers, in that order.
    fn parse_bin_modifiers(&mut self) -> PResult<BinModifiers> {
        let return_bool = self.kind() == TokenKind::Bool;
        if return_bool {
            self.advance();
        }
        let mut matching = VectorMatching {
            card: Cardinality::OneToOne,
            on: false,
            labels: Vec::new(),
            include: Vec::new(),
            fill: FillValues::default(),
        };
        if matches!(self.kind(), TokenKind::On | TokenKind::Ignoring) {
            matching.on = self.advance().kind == TokenKind::On;
            matching.labels = self.parse_grouping_labels()?;
            if matches!(self.kind(), TokenKind::GroupLeft | TokenKind::GroupRight) {
                matching.card = if self.advance().kind == TokenKind::GroupLeft {
                    Cardinality::ManyToOne
                } else {
                    Cardinality::OneToMany
                };
                if self.kind() == TokenKind::LeftParen {
                    matching.include = self.parse_grouping_labels()?;
                }
            }
        }
        let mut fill_both = false;
        loop {
            match self.kind() {
                TokenKind::Fill if matching.fill.is_empty() => {
                    self.advance();
                    let value = self.parse_fill_value()?;
                    matching.fill = FillValues {
                        lhs: Some(value),
                        rhs: Some(value),
                    };
                    fill_both = true;
                }
                TokenKind::FillLeft if !fill_both && matching.fill.lhs.is_none() => {
                    self.advance();
                    matching.fill.lhs = Some(self.parse_fill_value()?);
                }
                TokenKind::FillRight if !fill_both && matching.fill.rhs.is_none() => {
                    self.advance();
                    matching.fill.rhs = Some(self.parse_fill_value()?);
                }
                TokenKind::Fill | TokenKind::FillLeft | TokenKind::FillRight => {
                    return Err(self.unexpected_generic())
                }
                _ => break,
            }
        }
        Ok(BinModifiers {
            return_bool,
            matching,
        })
    }

    /// `(<signed number>)` after `fill`, `fill_left` or `fill_right`.
    fn parse_fill_value(&mut self) -> PResult<f64> {
        self.expect(TokenKind::LeftParen, "fill modifier", "\"(\"")?;
        let value = self
            .signed_number()?
            .ok_or_else(|| self.unexpected("fill modifier", "number"))?;
        self.expect(TokenKind::RightParen, "fill modifier", "\")\"")?;
        Ok(value)
    }

    /// An optionally signed number or duration (in seconds), if one is next.
    fn signed_number(&mut self) -> PResult<Option<f64>> {
        let negative = match self.kind() {
            TokenKind::Add | TokenKind::Sub
                if matches!(self.kind_at(1), TokenKind::Number | TokenKind::Duration) =>
            {
                self.advance().kind == TokenKind::Sub
            }
            _ => false,
        };
        let token = self.current();
        let value = match token.kind {
            TokenKind::Number => {
                self.advance();
                self.number(&token)?
            }
            TokenKind::Duration => {
                self.advance();
                ms_to_seconds(self.duration(&token)?)
            }
            _ => return Ok(None),
        };
        Ok(Some(if negative { -value } else { value }))
    }

    fn new_binary(
        &self,
        op: BinaryOp,
        lhs: Node,
        modifiers: BinModifiers,
        rhs: Node,
    ) -> PResult<Node> {
        let span = Span {
            start: lhs.expr.span().start,
            end: rhs.expr.span().end,
        };
        if !modifiers.matching.fill.is_empty() && !self.options.binop_fill_modifiers {
            return Err(self.error(
                span.start,
                "binop fill modifiers are experimental and not enabled",
            ));
        }
        self.node(
            Expr::Binary(BinaryExpr {
                op,
                lhs: lhs.expr,
                rhs: rhs.expr,
                return_bool: modifiers.return_bool,
                matching: Some(modifiers.matching),
                span,
            }),
            lhs.depth.max(rhs.depth),
        )
    }

    // Vector selectors.

    /// A selector: an optional name (already consumed) and optional `{matchers}`.
    fn parse_selector(&mut self, name: Option<Token>) -> PResult<Node> {
        let mut span = match &name {
            Some(t) => span_of(t),
            None => span_of(&self.current()),
        };
        let mut matchers = Vec::new();
        if self.kind() == TokenKind::LeftBrace {
            matchers = self.parse_label_matchers()?;
            span.end = self.last_closing;
        }
        let name = name.map(|t| self.text(&t).to_string());
        if let Some(name) = &name {
            matchers.push(Matcher::equal(METRIC_NAME, name.clone()));
        }
        self.node(
            Expr::VectorSelector(VectorSelector {
                name,
                matchers,
                offset: 0,
                offset_expr: None,
                at: None,
                anchored: false,
                smoothed: false,
                span,
            }),
            0,
        )
    }

    /// `{label="value", "name", ...}`; the current token is `{`.
    fn parse_label_matchers(&mut self) -> PResult<Vec<Matcher>> {
        self.advance();
        let mut matchers = Vec::new();
        loop {
            let token = self.current();
            match token.kind {
                TokenKind::RightBrace => {
                    self.advance();
                    return Ok(matchers);
                }
                TokenKind::Identifier => {
                    self.advance();
                    let label = self.text(&token).to_string();
                    let op = self.match_op("label matching operator")?;
                    matchers.push(self.matcher_value(&token, label, op)?);
                }
                TokenKind::String => {
                    self.advance();
                    let label = unquote_token(self.text(&token)).0;
                    if is_match_op(self.kind()) {
                        let op = self.match_op("label matching operator")?;
                        matchers.push(self.matcher_value(&token, label, op)?);
                    } else {
                        // A quoted name on its own is the metric name (`{"my.metric"}`).
                        matchers.push(Matcher::equal(METRIC_NAME, label));
                    }
                }
                _ => return Err(self.unexpected("label matching", "identifier or \"}\"")),
            }
            match self.kind() {
                TokenKind::Comma => {
                    self.advance();
                }
                TokenKind::RightBrace => {
                    self.advance();
                    return Ok(matchers);
                }
                _ => return Err(self.unexpected("label matching", "\",\" or \"}\"")),
            }
        }
    }

    fn match_op(&mut self, expected: &str) -> PResult<MatchOp> {
        let op = match self.kind() {
            TokenKind::Eql => MatchOp::Equal,
            TokenKind::Neq => MatchOp::NotEqual,
            TokenKind::EqlRegex => MatchOp::RegexMatch,
            TokenKind::NeqRegex => MatchOp::RegexNoMatch,
            _ => return Err(self.unexpected("label matching", expected)),
        };
        self.advance();
        Ok(op)
    }

    /// The string after a match operator, and the matcher.
    fn matcher_value(
        &mut self,
        label_token: &Token,
        label: String,
        op: MatchOp,
    ) -> PResult<Matcher> {
        if self.kind() != TokenKind::String {
            return Err(self.unexpected("label matching", "string"));
        }
        let value_token = self.advance();
        let value = unquote_token(self.text(&value_token)).0;
        Matcher::new(op, label, value).map_err(|err| {
            let narthex_model::MatcherError::InvalidRegex { reason, .. } = err;
            self.error(
                label_token.start,
                format!("error parsing regexp: {}", regex_reason(&reason)),
            )
        })
    }

    // Postfix modifiers: ranges, subqueries, offset, @, anchored, smoothed.

    fn parse_postfix(&mut self, mut node: Node) -> PResult<Node> {
        loop {
            node = match self.kind() {
                TokenKind::LeftBracket => self.parse_range_or_subquery(node)?,
                TokenKind::Offset => self.parse_offset(node)?,
                TokenKind::At => self.parse_at(node)?,
                TokenKind::Anchored | TokenKind::Smoothed => self.parse_extended(node)?,
                _ => return Ok(node),
            };
        }
    }

    fn parse_range_or_subquery(&mut self, node: Node) -> PResult<Node> {
        let open = self.advance();
        let range = self.parse_duration_expr(DurationContext::Range)?;
        // The duration expressions count towards the depth of the tree.
        let mut children_depth = node.depth.max(range.depth());
        match self.kind() {
            TokenKind::RightBracket => {
                let close = self.advance();
                let message = match node.expr.as_ref() {
                    Expr::VectorSelector(vs) if vs.offset != 0 || vs.offset_expr.is_some() => {
                        Some("no offset modifiers allowed before range")
                    }
                    Expr::VectorSelector(vs) if vs.at.is_some() => {
                        Some("no @ modifiers allowed before range")
                    }
                    Expr::VectorSelector(_) => None,
                    _ => Some("ranges only allowed for vector selectors"),
                };
                if let Some(message) = message {
                    return Err(self.error(open.start, message));
                }
                let (range, range_expr) = self.duration_value(range, DurationUse::Range)?;
                let Expr::VectorSelector(selector) = *node.expr else {
                    return Err(self.error(open.start, "ranges only allowed for vector selectors"));
                };
                let span = Span {
                    start: selector.span.start,
                    end: close.end,
                };
                self.node(
                    Expr::MatrixSelector(MatrixSelector {
                        selector,
                        range,
                        range_expr,
                        span,
                    }),
                    children_depth,
                )
            }
            TokenKind::Colon => {
                self.advance();
                let step = if self.kind() == TokenKind::RightBracket {
                    None
                } else {
                    Some(self.parse_duration_expr(DurationContext::Step)?)
                };
                children_depth = children_depth.max(step.as_ref().map_or(0, DurationExpr::depth));
                let close = self.expect(TokenKind::RightBracket, "subquery selector", "\"]\"")?;
                let (range, range_expr) = self.duration_value(range, DurationUse::Range)?;
                let (step, step_expr) = match step {
                    None => (None, None),
                    Some(step) => match self.duration_value(step, DurationUse::Step)? {
                        // A step of 0 is the default step, as in Prometheus.
                        (0, None) => (None, None),
                        (ms, None) => (Some(ms), None),
                        (_, expr) => (None, expr),
                    },
                };
                let span = Span {
                    start: node.expr.span().start,
                    end: close.end,
                };
                self.node(
                    Expr::Subquery(SubqueryExpr {
                        expr: node.expr,
                        range,
                        range_expr,
                        step,
                        step_expr,
                        offset: 0,
                        offset_expr: None,
                        at: None,
                        span,
                    }),
                    children_depth,
                )
            }
            _ => Err(self.unexpected("subquery or range", "\":\" or \"]\"")),
        }
    }

    /// A parsed range, step or offset as (milliseconds, expression): a plain literal becomes
    /// milliseconds (a range must be positive, a step not negative), anything else stays an
    /// expression, which needs `duration_expressions`.
    fn duration_value(
        &self,
        expr: DurationExpr,
        usage: DurationUse,
    ) -> PResult<(i64, Option<DurationExpr>)> {
        match expr {
            DurationExpr::Number { value, span, .. } => {
                if value.abs() > MAX_DURATION_SECONDS {
                    return Err(self.error(span.start, "duration out of range"));
                }
                let ms = crate::ast::literal_seconds_to_ms(value);
                let bad = match usage {
                    // A subquery's step may be left out (`x[5m:]`), but not be zero, as in
                    // Prometheus 3.5.
                    DurationUse::Range | DurationUse::Step => ms <= 0,
                    DurationUse::Offset => false,
                };
                if bad {
                    return Err(self.error(span.start, "duration must be greater than 0"));
                }
                Ok((ms, None))
            }
            expr => {
                if !self.options.duration_expressions {
                    return Err(self.error(
                        expr.span().start,
                        "experimental duration expression is not enabled",
                    ));
                }
                Ok((0, Some(expr)))
            }
        }
    }

    fn parse_offset(&mut self, node: Node) -> PResult<Node> {
        self.advance();
        let expr = self.parse_offset_duration()?;
        let node = self.deepen(node, expr.depth())?;
        let (offset, offset_expr) = self.duration_value(expr, DurationUse::Offset)?;
        let mut node = node;
        let end = self.last_closing;
        let (target, target_end) = match node.expr.as_mut() {
            Expr::VectorSelector(vs) => (vs, None),
            Expr::MatrixSelector(ms) => (&mut ms.selector, Some(&mut ms.span.end)),
            Expr::Subquery(sq) => {
                if sq.offset != 0 || sq.offset_expr.is_some() {
                    return Err(self.error(sq.span.start, "offset may not be set multiple times"));
                }
                sq.offset = offset;
                sq.offset_expr = offset_expr;
                sq.span.end = end;
                return Ok(node);
            }
            other => {
                return Err(self.error(
                    other.span().start,
                    "offset modifier must be preceded by an instant vector selector or range \
                     vector selector or a subquery",
                ))
            }
        };
        if target.offset != 0 || target.offset_expr.is_some() {
            let start = target.span.start;
            return Err(self.error(start, "offset may not be set multiple times"));
        }
        target.offset = offset;
        target.offset_expr = offset_expr;
        match target_end {
            Some(matrix_end) => *matrix_end = end,
            None => target.span.end = end,
        }
        Ok(node)
    }

    /// What follows `offset`: a signed number or duration, `(expr)`, `step()`, `range()`,
    /// `min_of(a, b)` or `max_of(a, b)`, optionally negated. Binary operators after it belong to
    /// the enclosing expression (`foo offset 5m - 1` subtracts 1 from the selector).
    fn parse_offset_duration(&mut self) -> PResult<DurationExpr> {
        let sign = match self.kind() {
            TokenKind::Add | TokenKind::Sub => Some(self.advance()),
            _ => None,
        };
        let term = match self.kind() {
            TokenKind::Number | TokenKind::Duration | TokenKind::LeftParen => {
                self.parse_duration_primary(DurationContext::Offset)?
            }
            TokenKind::Step | TokenKind::Range | TokenKind::MinOf | TokenKind::MaxOf => {
                self.parse_duration_primary(DurationContext::Offset)?
            }
            TokenKind::Identifier if self.duration_function_name().is_some() => {
                self.parse_duration_primary(DurationContext::Offset)?
            }
            _ => {
                let (context, expected) = DurationContext::Offset.unexpected_args();
                return Err(self.unexpected(context, expected));
            }
        };
        match sign {
            Some(op) => self.apply_duration_unary(&op, term),
            None => Ok(term),
        }
    }

    fn parse_at(&mut self, node: Node) -> PResult<Node> {
        self.advance();
        let at = match self.kind() {
            TokenKind::Start | TokenKind::End => {
                let which = self.advance();
                self.expect(TokenKind::LeftParen, "@", "timestamp")?;
                self.expect(TokenKind::RightParen, "@", "timestamp")?;
                if which.kind == TokenKind::Start {
                    AtModifier::Start
                } else {
                    AtModifier::End
                }
            }
            _ => {
                let Some(seconds) = self.signed_number()? else {
                    return Err(self.unexpected("@", "timestamp"));
                };
                if !seconds.is_finite() || seconds >= i64::MAX as f64 || seconds <= i64::MIN as f64
                {
                    return Err(self.error(
                        node.expr.span().start,
                        format!(
                            "timestamp out of bounds for @ modifier: {}",
                            go_format_f(seconds)
                        ),
                    ));
                }
                // Prometheus's timestamp.FromFloatSeconds.
                AtModifier::Timestamp((seconds * 1000.0).round() as i64)
            }
        };
        let end = self.last_closing;
        let mut node = node;
        let (slot, span_end) =
            match node.expr.as_mut() {
                Expr::VectorSelector(vs) => (&mut vs.at, &mut vs.span.end),
                Expr::MatrixSelector(ms) => (&mut ms.selector.at, &mut ms.span.end),
                Expr::Subquery(sq) => (&mut sq.at, &mut sq.span.end),
                other => return Err(self.error(
                    other.span().start,
                    "@ modifier must be preceded by an instant vector selector or range vector \
                     selector or a subquery",
                )),
            };
        if slot.is_some() {
            let start = node.expr.span().start;
            return Err(self.error(start, "@ <timestamp> may not be set multiple times"));
        }
        *slot = Some(at);
        *span_end = end;
        Ok(node)
    }

    /// `anchored` or `smoothed`.
    fn parse_extended(&mut self, node: Node) -> PResult<Node> {
        let token = self.advance();
        let anchored = token.kind == TokenKind::Anchored;
        let name = if anchored { "anchored" } else { "smoothed" };
        let start = node.expr.span().start;
        if !self.options.extended_range_selectors {
            return Err(self.error(
                start,
                format!("{name} modifier is experimental and not enabled"),
            ));
        }
        let mut node = node;
        let selector = match node.expr.as_mut() {
            Expr::VectorSelector(vs) => vs,
            Expr::MatrixSelector(ms) => &mut ms.selector,
            Expr::Subquery(_) => {
                return Err(self.error(
                    start,
                    format!("{name} modifier is not supported for subqueries"),
                ))
            }
            _ => return Err(self.error(start, format!("{name} modifier not implemented"))),
        };
        if anchored {
            selector.anchored = true;
        } else {
            selector.smoothed = true;
        }
        if selector.anchored && selector.smoothed {
            return Err(self.error(
                start,
                "anchored and smoothed modifiers cannot be used together",
            ));
        }
        Ok(node)
    }

    // Duration expressions.

    /// A full duration expression (inside brackets or parentheses).
    fn parse_duration_expr(&mut self, context: DurationContext) -> PResult<DurationExpr> {
        self.parse_duration_binary(1, context)
    }

    fn parse_duration_binary(
        &mut self,
        min_precedence: u8,
        context: DurationContext,
    ) -> PResult<DurationExpr> {
        self.depth += 1;
        let result = if self.depth > MAX_NESTING {
            Err(self.too_deep())
        } else {
            self.parse_duration_binary_inner(min_precedence, context)
        };
        self.depth -= 1;
        result
    }

    fn parse_duration_binary_inner(
        &mut self,
        min_precedence: u8,
        context: DurationContext,
    ) -> PResult<DurationExpr> {
        let mut lhs = self.parse_duration_unary(context)?;
        // The chain `1m + 1m + ...` is built here without recursion, so its depth is bounded
        // explicitly, as `node` does for expressions.
        let mut lhs_depth = lhs.depth();
        loop {
            let op = match self.kind() {
                TokenKind::Add => BinaryOp::Add,
                TokenKind::Sub => BinaryOp::Sub,
                TokenKind::Mul => BinaryOp::Mul,
                TokenKind::Div => BinaryOp::Div,
                TokenKind::Mod => BinaryOp::Mod,
                TokenKind::Pow => BinaryOp::Pow,
                _ => return Ok(lhs),
            };
            let precedence = op.precedence();
            if precedence < min_precedence {
                return Ok(lhs);
            }
            let op_token = self.advance();
            let next_min = if op == BinaryOp::Pow {
                precedence
            } else {
                precedence + 1
            };
            let rhs = self.parse_duration_binary(next_min, context)?;
            if let DurationExpr::Number { value, .. } = rhs {
                if value == 0.0 && op == BinaryOp::Div {
                    return Err(self.error(op_token.start, "division by zero"));
                }
                if value == 0.0 && op == BinaryOp::Mod {
                    return Err(self.error(op_token.start, "modulo by zero"));
                }
            }
            lhs_depth = lhs_depth.max(rhs.depth()) + 1;
            if lhs_depth > MAX_DEPTH {
                return Err(self.error(
                    lhs.span().start,
                    format!("expression is nested too deeply (more than {MAX_DEPTH} levels)"),
                ));
            }
            let span = Span {
                start: lhs.span().start,
                end: rhs.span().end,
            };
            lhs = DurationExpr::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
                span,
            };
        }
    }

    fn parse_duration_unary(&mut self, context: DurationContext) -> PResult<DurationExpr> {
        if matches!(self.kind(), TokenKind::Add | TokenKind::Sub) {
            let op = self.advance();
            let operand = self.parse_duration_binary(BinaryOp::Pow.precedence(), context)?;
            self.apply_duration_unary(&op, operand)
        } else {
            self.parse_duration_primary(context)
        }
    }

    /// Prometheus's `applyUnaryOpToDurationExpr`: a sign folds into a literal, `+` disappears,
    /// `-` wraps anything else.
    fn apply_duration_unary(&self, op: &Token, operand: DurationExpr) -> PResult<DurationExpr> {
        let negative = op.kind == TokenKind::Sub;
        match operand {
            DurationExpr::Number {
                value,
                duration,
                span,
            } => {
                let value = if negative { -value } else { value };
                if value.abs() > MAX_DURATION_SECONDS {
                    return Err(self.error(op.start, "duration out of range"));
                }
                Ok(DurationExpr::Number {
                    value,
                    duration,
                    span: Span {
                        start: op.start,
                        end: span.end,
                    },
                })
            }
            operand if negative => {
                let span = Span {
                    start: op.start,
                    end: operand.span().end,
                };
                Ok(DurationExpr::Unary {
                    op: UnaryOp::Neg,
                    expr: Box::new(operand),
                    span,
                })
            }
            operand => Ok(operand),
        }
    }

    /// `min_of`/`max_of` written as an identifier (outside brackets they are not keywords).
    fn duration_function_name(&self) -> Option<TokenKind> {
        if self.kind() != TokenKind::Identifier || self.kind_at(1) != TokenKind::LeftParen {
            return None;
        }
        match self.text(&self.current()).to_ascii_lowercase().as_str() {
            "min_of" => Some(TokenKind::MinOf),
            "max_of" => Some(TokenKind::MaxOf),
            _ => None,
        }
    }

    fn parse_duration_primary(&mut self, context: DurationContext) -> PResult<DurationExpr> {
        let (ctx, expected) = context.unexpected_args();
        let token = self.current();
        let kind = match token.kind {
            TokenKind::Identifier => self.duration_function_name().unwrap_or(token.kind),
            kind => kind,
        };
        match kind {
            TokenKind::Number => {
                self.advance();
                Ok(DurationExpr::Number {
                    value: self.number(&token)?,
                    duration: false,
                    span: span_of(&token),
                })
            }
            TokenKind::Duration => {
                self.advance();
                Ok(DurationExpr::Number {
                    value: ms_to_seconds(self.duration(&token)?),
                    duration: true,
                    span: span_of(&token),
                })
            }
            TokenKind::LeftParen => {
                self.advance();
                let inner = self.parse_duration_expr(context)?;
                let close = self.expect(TokenKind::RightParen, ctx, expected)?;
                Ok(DurationExpr::Paren {
                    expr: Box::new(inner),
                    span: Span {
                        start: token.start,
                        end: close.end,
                    },
                })
            }
            TokenKind::Step | TokenKind::Range => {
                self.advance();
                self.expect(TokenKind::LeftParen, ctx, expected)?;
                let close = self.expect(TokenKind::RightParen, ctx, expected)?;
                let span = Span {
                    start: token.start,
                    end: close.end,
                };
                Ok(if kind == TokenKind::Step {
                    DurationExpr::Step { span }
                } else {
                    DurationExpr::Range { span }
                })
            }
            TokenKind::MinOf | TokenKind::MaxOf => {
                self.advance();
                self.expect(TokenKind::LeftParen, ctx, expected)?;
                let lhs = Box::new(self.parse_duration_expr(context)?);
                self.expect(TokenKind::Comma, ctx, expected)?;
                let rhs = Box::new(self.parse_duration_expr(context)?);
                let close = self.expect(TokenKind::RightParen, ctx, expected)?;
                let span = Span {
                    start: token.start,
                    end: close.end,
                };
                Ok(if kind == TokenKind::MinOf {
                    DurationExpr::MinOf { lhs, rhs, span }
                } else {
                    DurationExpr::MaxOf { lhs, rhs, span }
                })
            }
            _ => Err(self.unexpected(ctx, expected)),
        }
    }

    // Literals.

    /// Prometheus's `number`: Go's `strconv.ParseInt(s, 0, 64)`, else `ParseFloat`.
    fn number(&self, token: &Token) -> PResult<f64> {
        parse_number(self.text(token))
            .map_err(|message| self.error(token.start, format!("error parsing number: {message}")))
    }

    /// A duration token in milliseconds.
    fn duration(&self, token: &Token) -> PResult<i64> {
        parse_duration(self.text(token)).map_err(|message| self.error(token.start, message))
    }
}

/// The type checks Prometheus runs after parsing (`checkAST`); they also normalize the vector
/// matching of binary expressions (none with a scalar side, many-to-many for set operators).
struct Checker<'a> {
    input: &'a str,
}

impl Checker<'_> {
    fn error(&self, offset: usize, message: impl Into<String>) -> ParseError {
        ParseError::new(self.input, offset, message)
    }

    /// Start of the operator of a binary expression: the first non-space after the left side.
    fn operator_start(&self, b: &BinaryExpr) -> usize {
        let bytes = self.input.as_bytes();
        let mut start = b.lhs.span().end;
        while bytes.get(start).is_some_and(|&c| is_space(c as char)) {
            start += 1;
        }
        start
    }

    fn check(&self, expr: &mut Expr, bypass_empty_matcher_check: bool) -> PResult<ValueType> {
        let value_type = expr.value_type();
        match expr {
            Expr::Number(_) | Expr::String(_) => {}
            Expr::VectorSelector(vs) => self.check_selector(vs, bypass_empty_matcher_check)?,
            Expr::MatrixSelector(ms) => self.check_selector(&ms.selector, false)?,
            Expr::Paren(p) => {
                self.check(&mut p.expr, false)?;
            }
            Expr::Unary(u) => {
                let t = self.check(&mut u.expr, false)?;
                if t != ValueType::Scalar && t != ValueType::Vector {
                    return Err(self.error(
                        u.span.start,
                        format!(
                            "unary expression only allowed on expressions of type scalar or \
                             instant vector, got {}",
                            go_quote(t.as_str().as_bytes())
                        ),
                    ));
                }
            }
            Expr::Subquery(sq) => {
                let t = self.check(&mut sq.expr, false)?;
                if t != ValueType::Vector {
                    return Err(self.error(
                        sq.span.start,
                        format!(
                            "subquery is only allowed on instant vector, got {} instead",
                            t.internal_name()
                        ),
                    ));
                }
            }
            Expr::Aggregate(a) => {
                let t = self.check(&mut a.expr, false)?;
                if t != ValueType::Vector {
                    return Err(self.error(
                        a.expr.span().start,
                        format!(
                            "expected type instant vector in aggregation expression, got {}",
                            t.as_str()
                        ),
                    ));
                }
                let want = match a.op {
                    AggregateOp::Topk
                    | AggregateOp::Bottomk
                    | AggregateOp::Quantile
                    | AggregateOp::Limitk
                    | AggregateOp::LimitRatio => Some(ValueType::Scalar),
                    AggregateOp::CountValues => Some(ValueType::String),
                    _ => None,
                };
                if let (Some(want), Some(param)) = (want, a.param.as_mut()) {
                    let t = self.check(param, false)?;
                    if t != want {
                        return Err(self.error(
                            param.span().start,
                            format!(
                                "expected type {} in aggregation parameter, got {}",
                                want.as_str(),
                                t.as_str()
                            ),
                        ));
                    }
                }
            }
            Expr::Binary(b) => self.check_binary(b)?,
            Expr::Call(c) => self.check_call(c)?,
        }
        Ok(value_type)
    }

    fn check_selector(&self, vs: &VectorSelector, bypass_empty_matcher_check: bool) -> PResult<()> {
        if let Some(name) = &vs.name {
            // The last matcher is the name's own; another `__name__` matcher sets it twice.
            let others = vs.matchers.len().saturating_sub(1);
            if let Some(m) = vs.matchers[..others].iter().find(|m| m.name == METRIC_NAME) {
                return Err(self.error(
                    vs.span.start,
                    format!(
                        "metric name must not be set twice: {} or {}",
                        go_quote(name.as_bytes()),
                        go_quote(m.value.as_bytes())
                    ),
                ));
            }
            return Ok(());
        }
        if !bypass_empty_matcher_check && vs.matchers.iter().all(|m| m.matches_empty()) {
            return Err(self.error(
                vs.span.start,
                "vector selector must contain at least one non-empty matcher",
            ));
        }
        Ok(())
    }

    fn check_binary(&self, b: &mut BinaryExpr) -> PResult<()> {
        let lt = self.check(&mut b.lhs, false)?;
        let rt = self.check(&mut b.rhs, false)?;
        if b.return_bool && !b.op.is_comparison() {
            return Err(self.error(
                self.operator_start(b),
                "bool modifier can only be used on comparison operators",
            ));
        }
        if b.op.is_comparison()
            && !b.return_bool
            && lt == ValueType::Scalar
            && rt == ValueType::Scalar
        {
            return Err(self.error(
                self.operator_start(b),
                "comparisons between scalars must use BOOL modifier",
            ));
        }
        if let Some(m) = &mut b.matching {
            if b.op.is_set() && m.card == Cardinality::OneToOne {
                m.card = Cardinality::ManyToMany;
            }
            if m.on {
                if let Some(label) = m.labels.iter().find(|l| m.include.contains(l)) {
                    let message = format!(
                        "label {} must not occur in ON and GROUP clause at once",
                        go_quote(label.as_bytes())
                    );
                    return Err(self.error(self.operator_start(b), message));
                }
            }
        }
        if lt != ValueType::Scalar && lt != ValueType::Vector {
            return Err(self.error(
                b.lhs.span().start,
                "binary expression must contain only scalar and instant vector types",
            ));
        }
        if rt != ValueType::Scalar && rt != ValueType::Vector {
            return Err(self.error(
                b.rhs.span().start,
                "binary expression must contain only scalar and instant vector types",
            ));
        }
        let op_name = go_quote(b.op.as_str().as_bytes());
        if lt != ValueType::Vector || rt != ValueType::Vector {
            if let Some(m) = &b.matching {
                if !m.labels.is_empty() {
                    return Err(self.error(
                        b.span.start,
                        "vector matching only allowed between instant vectors",
                    ));
                }
                if !m.fill.is_empty() {
                    return Err(self.error(
                        b.span.start,
                        "filling in missing series only allowed between instant vectors",
                    ));
                }
            }
            b.matching = None;
        } else if b.op.is_set() {
            if let Some(m) = &b.matching {
                if matches!(m.card, Cardinality::OneToMany | Cardinality::ManyToOne) {
                    return Err(self.error(
                        b.span.start,
                        format!("no grouping allowed for {op_name} operation"),
                    ));
                }
                if m.card != Cardinality::ManyToMany {
                    return Err(
                        self.error(b.span.start, "set operations must always be many-to-many")
                    );
                }
                if !m.fill.is_empty() {
                    return Err(self.error(
                        b.span.start,
                        "filling in missing series not allowed for set operators",
                    ));
                }
            }
        }
        if (lt == ValueType::Scalar || rt == ValueType::Scalar) && b.op.is_set() {
            return Err(self.error(
                b.span.start,
                format!("set operator {op_name} not allowed in binary scalar expression"),
            ));
        }
        Ok(())
    }

    fn check_call(&self, c: &mut Call) -> PResult<()> {
        let func = c.func;
        // Quoted when an error message is written, not for every call of every query.
        let name = lexer::GoQuoted(func.name);
        let nargs = func.arg_types.len();
        if func.variadic == 0 {
            if nargs != c.args.len() {
                return Err(self.error(
                    c.span.start,
                    format!(
                        "expected {nargs} argument(s) in call to {name}, got {}",
                        c.args.len()
                    ),
                ));
            }
        } else {
            let required = nargs.saturating_sub(1);
            if required > c.args.len() {
                return Err(self.error(
                    c.span.start,
                    format!(
                        "expected at least {required} argument(s) in call to {name}, got {}",
                        c.args.len()
                    ),
                ));
            }
            let max = required + func.variadic.max(0) as usize;
            if func.variadic > 0 && max < c.args.len() {
                return Err(self.error(
                    c.span.start,
                    format!(
                        "expected at most {max} argument(s) in call to {name}, got {}",
                        c.args.len()
                    ),
                ));
            }
        }
        // info()'s second argument is a set of label matchers, not a selector.
        let info_selectors = func.name == "info" && c.args.len() > 1;
        if info_selectors {
            if let Some(arg) = c.args.get(1) {
                let t = arg.value_type();
                if t != ValueType::Vector {
                    return Err(self.error(
                        c.span.start,
                        format!(
                            "expected type instant vector in call to function {name}, got {}",
                            t.as_str()
                        ),
                    ));
                }
                match arg {
                    Expr::VectorSelector(vs) if vs.name.is_some() => {
                        return Err(self.error(
                            vs.span.start,
                            "expected label selectors only, got vector selector instead",
                        ))
                    }
                    Expr::VectorSelector(_) => {}
                    other => {
                        return Err(self.error(other.span().start, "expected label selectors only"))
                    }
                }
            }
        }
        for (i, arg) in c.args.iter_mut().enumerate() {
            let type_index = if i >= nargs {
                if func.variadic == 0 {
                    break;
                }
                nargs.saturating_sub(1)
            } else {
                i
            };
            let t = self.check(arg, info_selectors && i == 1)?;
            if let Some(&want) = func.arg_types.get(type_index) {
                if t != want {
                    return Err(self.error(
                        arg.span().start,
                        format!(
                            "expected type {} in call to function {name}, got {}",
                            want.as_str(),
                            t.as_str()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

// Token classes.

fn binary_op(kind: TokenKind) -> Option<BinaryOp> {
    Some(match kind {
        TokenKind::Add => BinaryOp::Add,
        TokenKind::Sub => BinaryOp::Sub,
        TokenKind::Mul => BinaryOp::Mul,
        TokenKind::Div => BinaryOp::Div,
        TokenKind::Mod => BinaryOp::Mod,
        TokenKind::Pow => BinaryOp::Pow,
        TokenKind::Atan2 => BinaryOp::Atan2,
        TokenKind::Eqlc => BinaryOp::Eql,
        TokenKind::Neq => BinaryOp::Neq,
        TokenKind::Gtr => BinaryOp::Gtr,
        TokenKind::Lss => BinaryOp::Lss,
        TokenKind::Gte => BinaryOp::Gte,
        TokenKind::Lte => BinaryOp::Lte,
        TokenKind::Land => BinaryOp::And,
        TokenKind::Lor => BinaryOp::Or,
        TokenKind::Lunless => BinaryOp::Unless,
        TokenKind::TrimUpper => BinaryOp::TrimUpper,
        TokenKind::TrimLower => BinaryOp::TrimLower,
        _ => return None,
    })
}

fn is_match_op(kind: TokenKind) -> bool {
    matches!(
        kind,
        TokenKind::Eql | TokenKind::Neq | TokenKind::EqlRegex | TokenKind::NeqRegex
    )
}

/// Tokens that can be a metric name (the grammar's `metric_identifier`): identifiers and the
/// keywords that are not ambiguous there.
fn is_metric_identifier(kind: TokenKind) -> bool {
    matches!(
        kind,
        TokenKind::Identifier
            | TokenKind::MetricIdentifier
            | TokenKind::Aggregator(_)
            | TokenKind::By
            | TokenKind::Without
            | TokenKind::Land
            | TokenKind::Lor
            | TokenKind::Lunless
            | TokenKind::Offset
            | TokenKind::Start
            | TokenKind::End
            | TokenKind::Step
            | TokenKind::Range
            | TokenKind::Anchored
            | TokenKind::Smoothed
    )
}

/// Tokens that can be a label name in grouping clauses (the grammar's `maybe_label`).
fn is_maybe_label(kind: TokenKind) -> bool {
    matches!(
        kind,
        TokenKind::Identifier
            | TokenKind::MetricIdentifier
            | TokenKind::Aggregator(_)
            | TokenKind::Bool
            | TokenKind::By
            | TokenKind::GroupLeft
            | TokenKind::GroupRight
            | TokenKind::Ignoring
            | TokenKind::Land
            | TokenKind::Lor
            | TokenKind::Lunless
            | TokenKind::Offset
            | TokenKind::On
            | TokenKind::Start
            | TokenKind::End
            | TokenKind::Atan2
            | TokenKind::Step
            | TokenKind::Range
            | TokenKind::Anchored
            | TokenKind::Smoothed
    )
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`.
pub(crate) fn is_legacy_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

fn span_of(token: &Token) -> Span {
    Span {
        start: token.start,
        end: token.end,
    }
}

/// Go's `%.10q...` for long token texts, `%q` otherwise.
fn quote_truncated(text: &str) -> String {
    if text.len() > 10 {
        let prefix: String = text.chars().take(10).collect();
        format!("{}...", go_quote(prefix.as_bytes()))
    } else {
        go_quote(text.as_bytes())
    }
}

/// The useful line of a Rust regex error.
fn regex_reason(reason: &str) -> String {
    reason
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with("error:"))
        .map(|l| {
            l.trim_start()
                .trim_start_matches("error:")
                .trim()
                .to_string()
        })
        .unwrap_or_else(|| reason.trim().to_string())
}

/// Go's `%f`: six decimals, `+Inf`, `-Inf`, `NaN`.
fn go_format_f(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v:.6}")
    }
}

/// Milliseconds as Go's `Duration.Seconds()` computes them.
fn ms_to_seconds(ms: i64) -> f64 {
    (ms / 1000) as f64 + ((ms % 1000) * 1_000_000) as f64 / 1e9
}

/// The value of a string token (with its quotes), as Prometheus's `strutil.Unquote`: the string,
/// and the raw bytes when they are not valid UTF-8. The lexer has validated the escapes.
pub(crate) fn unquote_token(text: &str) -> (String, Option<Vec<u8>>) {
    let mut chars = text.chars();
    let quote = chars.next();
    let inner = text
        .get(1..text.len().saturating_sub(1))
        .unwrap_or_default();
    if quote == Some('`') {
        return (inner.to_string(), None);
    }
    let mut bytes = Vec::with_capacity(inner.len());
    let mut rest = inner.chars().peekable();
    while let Some(c) = rest.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let Some(e) = rest.next() else { break };
        let simple = match e {
            'a' => Some(7u8),
            'b' => Some(8),
            'f' => Some(12),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(11),
            '\\' => Some(b'\\'),
            '\'' => Some(b'\''),
            '"' => Some(b'"'),
            _ => None,
        };
        if let Some(b) = simple {
            bytes.push(b);
            continue;
        }
        let (count, base, first) = match e {
            'x' => (2, 16, None),
            'u' => (4, 16, None),
            'U' => (8, 16, None),
            '0'..='7' => (2, 8, e.to_digit(8)),
            _ => continue,
        };
        let mut value = first.unwrap_or(0);
        for _ in 0..count {
            let digit = rest.next().and_then(|d| d.to_digit(base)).unwrap_or(0);
            value = value.saturating_mul(base).saturating_add(digit);
        }
        match e {
            // \x and octal escapes are single bytes, even above 0x7f.
            'x' | '0'..='7' => bytes.push(value.min(255) as u8),
            _ => {
                let c = char::from_u32(value).unwrap_or('\u{FFFD}');
                let mut buf = [0u8; 4];
                bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    match String::from_utf8(bytes) {
        Ok(s) => (s, None),
        Err(err) => {
            let bytes = err.into_bytes();
            (String::from_utf8_lossy(&bytes).into_owned(), Some(bytes))
        }
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)`, falling back to `strconv.ParseFloat(s, 64)`, with Go's
/// error text.
pub(crate) fn parse_number(text: &str) -> Result<f64, String> {
    if let Some(i) = parse_go_int(text) {
        return Ok(i as f64);
    }
    parse_go_float(text).ok_or_else(|| {
        let reason = if looks_like_float(text) {
            "value out of range"
        } else {
            "invalid syntax"
        };
        format!(
            "strconv.ParseFloat: parsing {}: {reason}",
            go_quote(text.as_bytes())
        )
    })
}

/// Underscores only between digits (or after a base prefix), as Go's `underscoreOK`.
fn underscores_ok(digits: &str, after_prefix: bool) -> bool {
    // Anything but an underscore counts as a digit here; the lexer has checked the rest.
    let mut prev_digit = after_prefix;
    for c in digits.chars() {
        if c == '_' {
            if !prev_digit {
                return false;
            }
            prev_digit = false;
        } else {
            prev_digit = true;
        }
    }
    prev_digit
}

fn parse_go_int(text: &str) -> Option<i64> {
    let lower = text.to_ascii_lowercase();
    let (digits, radix, prefixed) = if let Some(d) = lower.strip_prefix("0x") {
        (d, 16, true)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (d, 8, true)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (d, 2, true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (&lower[1..], 8, true)
    } else {
        (lower.as_str(), 10, false)
    };
    if digits.is_empty() || !underscores_ok(digits, prefixed) {
        return None;
    }
    let cleaned: String = digits.chars().filter(|&c| c != '_').collect();
    if cleaned.is_empty() {
        return None;
    }
    i64::from_str_radix(&cleaned, radix).ok()
}

fn looks_like_float(text: &str) -> bool {
    let cleaned: String = text.chars().filter(|&c| c != '_').collect();
    cleaned.parse::<f64>().is_ok()
}

fn parse_go_float(text: &str) -> Option<f64> {
    match text.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => return Some(f64::INFINITY),
        "-inf" | "-infinity" => return Some(f64::NEG_INFINITY),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    // Hexadecimal floats need a `p` exponent in Go; the lexer never produces one.
    if text.len() > 1 && text[..2].eq_ignore_ascii_case("0x") {
        return None;
    }
    if !underscores_ok(text, false) {
        return None;
    }
    let cleaned: String = text.chars().filter(|&c| c != '_').collect();
    if !cleaned
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
    {
        return None;
    }
    let value: f64 = cleaned.parse().ok()?;
    // Go reports overflow to infinity as an error.
    value.is_finite().then_some(value)
}

/// Prometheus's `model.ParseDuration` (units `y w d h m s ms`, largest first, each at most
/// once), in milliseconds, with its error messages.
pub(crate) fn parse_duration(text: &str) -> Result<i64, String> {
    const UNITS: [(&str, u128); 7] = [
        ("y", 365 * 24 * 3_600_000_000_000),
        ("w", 7 * 24 * 3_600_000_000_000),
        ("d", 24 * 3_600_000_000_000),
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
    ];
    if text == "0" {
        return Ok(0);
    }
    if text.is_empty() {
        return Err("empty duration string".into());
    }
    let invalid = || format!("not a valid duration string: {}", go_quote(text.as_bytes()));
    let mut rest = text;
    let mut total_ns: u128 = 0;
    let mut last_unit = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(invalid());
        }
        let value: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        if unit_len == 0 {
            return Err(invalid());
        }
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let Some(index) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(format!(
                "unknown unit {} in duration {}",
                go_quote(unit.as_bytes()),
                go_quote(text.as_bytes())
            ));
        };
        // Positions count from 1 so that 0 means "no unit yet".
        if index < last_unit {
            return Err(invalid());
        }
        last_unit = index + 1;
        let mult = UNITS[index].1;
        if u128::from(value) > (1u128 << 63) / mult {
            return Err("duration out of range".into());
        }
        total_ns += u128::from(value) * mult;
        if total_ns > (1u128 << 63) - 1 {
            return Err("duration out of range".into());
        }
    }
    Ok((total_ns / 1_000_000) as i64)
}
