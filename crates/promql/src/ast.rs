//! The PromQL syntax tree, modelled on Prometheus's `promql/parser/ast.go`. Its canonical printing
//! (`Display`, what `format_query` and the UI's format button show) lives in `printer.rs`.
//!
//! Times and durations are milliseconds. A name written before the braces of a selector is also
//! present as a `__name__` equality matcher (the last one, as Prometheus appends it), so the engine
//! only looks at `matchers`.
//!
//! Duration expressions (`foo[5m+1m]`, `offset step()`, behind `ParseOptions::duration_expressions`)
//! are kept as `DurationExpr` trees because `step()` and `range()` depend on the query: the engine
//! calls `Expr::resolve_durations` once per query to fill in the millisecond fields, as
//! Prometheus's engine does before evaluating.

use narthex_model::Matcher;

/// The type of value an expression produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    Scalar,
    /// An instant vector.
    Vector,
    /// A range vector.
    Matrix,
    String,
}

impl ValueType {
    /// As Prometheus names them in messages and the API (`"instant vector"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ValueType::Scalar => "scalar",
            ValueType::Vector => "instant vector",
            ValueType::Matrix => "range vector",
            ValueType::String => "string",
        }
    }

    /// Prometheus's internal name (`ValueType.String()`: `"matrix"`, `"vector"`, ...), which a few
    /// messages use instead of the documented one.
    pub fn internal_name(self) -> &'static str {
        match self {
            ValueType::Scalar => "scalar",
            ValueType::Vector => "vector",
            ValueType::Matrix => "matrix",
            ValueType::String => "string",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Number(NumberLiteral),
    String(StringLiteral),
    VectorSelector(VectorSelector),
    MatrixSelector(MatrixSelector),
    Subquery(SubqueryExpr),
    Paren(ParenExpr),
    Unary(UnaryExpr),
    Binary(BinaryExpr),
    Aggregate(AggregateExpr),
    Call(Call),
}

/// Where an expression starts and ends in the input (byte offsets), for error and annotation
/// positions and the UI's explain tree. Prometheus's `PositionRange`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NumberLiteral {
    pub value: f64,
    /// Written as a duration (`5m` is the number 300); printed back as one.
    pub duration: bool,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StringLiteral {
    pub value: String,
    /// The exact bytes when the escapes (`"\xff"`) made the string invalid UTF-8, which Go's strings
    /// can hold; `value` then holds the lossy conversion. Label names and values built from such a
    /// string are invalid in Prometheus, so the engine can reject them with these bytes.
    pub invalid_utf8: Option<Vec<u8>>,
    pub span: Span,
}

/// `@ <timestamp>`, `@ start()`, `@ end()`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AtModifier {
    Timestamp(i64),
    Start,
    End,
}

#[derive(Clone, Debug, PartialEq)]
pub struct VectorSelector {
    /// The name written before the braces, if any.
    pub name: Option<String>,
    pub matchers: Vec<Matcher>,
    /// `offset`, possibly negative; 0 when absent. With `offset_expr` it is filled in by
    /// `Expr::resolve_durations`.
    pub offset: i64,
    /// `offset <duration expression>` (`offset step()`, `offset (1h / 2)`).
    pub offset_expr: Option<DurationExpr>,
    pub at: Option<AtModifier>,
    /// The `anchored` modifier (extended range selectors).
    pub anchored: bool,
    /// The `smoothed` modifier (extended range selectors).
    pub smoothed: bool,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MatrixSelector {
    /// The selector's `offset`, `@`, `anchored` and `smoothed` are those written after the range.
    pub selector: VectorSelector,
    /// With `range_expr` it is filled in by `Expr::resolve_durations`.
    pub range: i64,
    /// `[<duration expression>]` (`[5m+1m]`, `[step()]`).
    pub range_expr: Option<DurationExpr>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SubqueryExpr {
    pub expr: Box<Expr>,
    /// With `range_expr` it is filled in by `Expr::resolve_durations`.
    pub range: i64,
    pub range_expr: Option<DurationExpr>,
    /// `None` means the default evaluation interval (`[30m:]`, or a step of 0).
    pub step: Option<i64>,
    pub step_expr: Option<DurationExpr>,
    pub offset: i64,
    pub offset_expr: Option<DurationExpr>,
    pub at: Option<AtModifier>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ParenExpr {
    pub expr: Box<Expr>,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Pos,
}

impl UnaryOp {
    pub fn as_str(self) -> &'static str {
        match self {
            UnaryOp::Neg => "-",
            UnaryOp::Pos => "+",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct UnaryExpr {
    pub op: UnaryOp,
    pub expr: Box<Expr>,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eql,
    Neq,
    Gtr,
    Lss,
    Gte,
    Lte,
    And,
    Or,
    Unless,
    /// `</`: removes the observations above the threshold from native histograms.
    TrimUpper,
    /// `>/`: removes the observations below the threshold from native histograms.
    TrimLower,
}

impl BinaryOp {
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Pow => "^",
            BinaryOp::Atan2 => "atan2",
            BinaryOp::Eql => "==",
            BinaryOp::Neq => "!=",
            BinaryOp::Gtr => ">",
            BinaryOp::Lss => "<",
            BinaryOp::Gte => ">=",
            BinaryOp::Lte => "<=",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
            BinaryOp::Unless => "unless",
            BinaryOp::TrimUpper => "</",
            BinaryOp::TrimLower => ">/",
        }
    }

    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eql
                | BinaryOp::Neq
                | BinaryOp::Gtr
                | BinaryOp::Lss
                | BinaryOp::Gte
                | BinaryOp::Lte
        )
    }

    pub fn is_set(self) -> bool {
        matches!(self, BinaryOp::And | BinaryOp::Or | BinaryOp::Unless)
    }

    /// Binding strength, higher binds tighter: `or` 1, `and unless` 2, comparisons (and the trim
    /// operators `</ >/`) 3, `+ -` 4, `* / % atan2` 5, `^` 6 (the only right-associative one).
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And | BinaryOp::Unless => 2,
            BinaryOp::Eql
            | BinaryOp::Neq
            | BinaryOp::Gtr
            | BinaryOp::Lss
            | BinaryOp::Gte
            | BinaryOp::Lte
            | BinaryOp::TrimUpper
            | BinaryOp::TrimLower => 3,
            BinaryOp::Add | BinaryOp::Sub => 4,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod | BinaryOp::Atan2 => 5,
            BinaryOp::Pow => 6,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cardinality {
    OneToOne,
    ManyToOne,
    OneToMany,
    ManyToMany,
}

/// `fill(v)`, `fill_left(v)`, `fill_right(v)`: the value a missing series on that side of a
/// binary operation takes (fill modifiers, behind `ParseOptions::binop_fill_modifiers`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FillValues {
    pub lhs: Option<f64>,
    pub rhs: Option<f64>,
}

impl FillValues {
    pub fn is_empty(&self) -> bool {
        self.lhs.is_none() && self.rhs.is_none()
    }
}

/// `on(...)`/`ignoring(...)`, `group_left(...)`/`group_right(...)` and the fill modifiers.
#[derive(Clone, Debug, PartialEq)]
pub struct VectorMatching {
    pub card: Cardinality,
    /// `on` when true, `ignoring` when false.
    pub on: bool,
    pub labels: Vec<String>,
    /// Extra labels taken from the "one" side with group_left/group_right.
    pub include: Vec<String>,
    pub fill: FillValues,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BinaryExpr {
    pub op: BinaryOp,
    pub lhs: Box<Expr>,
    pub rhs: Box<Expr>,
    /// The `bool` modifier of comparisons.
    pub return_bool: bool,
    /// Present when both sides are vectors (Prometheus fills in a default one-to-one, or
    /// many-to-many for set operators).
    pub matching: Option<VectorMatching>,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggregateOp {
    Sum,
    Min,
    Max,
    Avg,
    Group,
    Stddev,
    Stdvar,
    Count,
    CountValues,
    Bottomk,
    Topk,
    Quantile,
    Limitk,
    LimitRatio,
}

impl AggregateOp {
    pub fn as_str(self) -> &'static str {
        match self {
            AggregateOp::Sum => "sum",
            AggregateOp::Min => "min",
            AggregateOp::Max => "max",
            AggregateOp::Avg => "avg",
            AggregateOp::Group => "group",
            AggregateOp::Stddev => "stddev",
            AggregateOp::Stdvar => "stdvar",
            AggregateOp::Count => "count",
            AggregateOp::CountValues => "count_values",
            AggregateOp::Bottomk => "bottomk",
            AggregateOp::Topk => "topk",
            AggregateOp::Quantile => "quantile",
            AggregateOp::Limitk => "limitk",
            AggregateOp::LimitRatio => "limit_ratio",
        }
    }

    /// Whether the operator takes a parameter before the vector.
    pub fn has_param(self) -> bool {
        matches!(
            self,
            AggregateOp::CountValues
                | AggregateOp::Bottomk
                | AggregateOp::Topk
                | AggregateOp::Quantile
                | AggregateOp::Limitk
                | AggregateOp::LimitRatio
        )
    }

    /// Behind `--enable-feature=promql-experimental-functions` in Prometheus 3.
    pub fn is_experimental(self) -> bool {
        matches!(self, AggregateOp::Limitk | AggregateOp::LimitRatio)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct AggregateExpr {
    pub op: AggregateOp,
    pub expr: Box<Expr>,
    pub param: Option<Box<Expr>>,
    pub grouping: Vec<String>,
    /// `without` when true, `by` when false (an absent clause is `by ()`).
    pub without: bool,
    pub span: Span,
}

/// A function's signature, as in Prometheus's `parser.Functions` table (see `functions.rs`).
#[derive(Debug, PartialEq)]
pub struct Function {
    pub name: &'static str,
    pub arg_types: &'static [ValueType],
    /// 0: exactly `arg_types`; n > 0: the last `n` arguments optional; -1: the last repeats.
    pub variadic: i32,
    pub return_type: ValueType,
    /// Behind `--enable-feature=promql-experimental-functions`.
    pub experimental: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub func: &'static Function,
    pub args: Vec<Expr>,
    pub span: Span,
}

/// An arithmetic expression of durations, in seconds as Prometheus computes it (`5m` is 300).
#[derive(Clone, Debug, PartialEq)]
pub enum DurationExpr {
    /// A number of seconds, or a duration literal when `duration` (printed back as `5m`).
    Number {
        value: f64,
        duration: bool,
        span: Span,
    },
    /// `step()`: the query's resolution step (0 for an instant query).
    Step { span: Span },
    /// `range()`: the query's range, end minus start (0 for an instant query).
    Range { span: Span },
    /// `-x` (a unary `+` is dropped while parsing, as Prometheus does).
    Unary {
        op: UnaryOp,
        expr: Box<DurationExpr>,
        span: Span,
    },
    /// One of `+ - * / % ^`.
    Binary {
        op: BinaryOp,
        lhs: Box<DurationExpr>,
        rhs: Box<DurationExpr>,
        span: Span,
    },
    /// `min_of(a, b)`.
    MinOf {
        lhs: Box<DurationExpr>,
        rhs: Box<DurationExpr>,
        span: Span,
    },
    /// `max_of(a, b)`.
    MaxOf {
        lhs: Box<DurationExpr>,
        rhs: Box<DurationExpr>,
        span: Span,
    },
    /// Parentheses, kept so the expression prints back as written.
    Paren { expr: Box<DurationExpr>, span: Span },
}

impl DurationExpr {
    pub fn span(&self) -> Span {
        match self {
            DurationExpr::Number { span, .. }
            | DurationExpr::Step { span }
            | DurationExpr::Range { span }
            | DurationExpr::Unary { span, .. }
            | DurationExpr::Binary { span, .. }
            | DurationExpr::MinOf { span, .. }
            | DurationExpr::MaxOf { span, .. }
            | DurationExpr::Paren { span, .. } => *span,
        }
    }

    /// How deep the tree is (1 for a leaf). The parser keeps it within `parser::MAX_DEPTH`, so
    /// that walking the tree recursively cannot exhaust a thread's stack.
    pub fn depth(&self) -> usize {
        match self {
            DurationExpr::Number { .. }
            | DurationExpr::Step { .. }
            | DurationExpr::Range { .. } => 1,
            DurationExpr::Unary { expr, .. } | DurationExpr::Paren { expr, .. } => expr.depth() + 1,
            DurationExpr::Binary { lhs, rhs, .. }
            | DurationExpr::MinOf { lhs, rhs, .. }
            | DurationExpr::MaxOf { lhs, rhs, .. } => lhs.depth().max(rhs.depth()) + 1,
        }
    }

    /// Whether the value depends on the query (`step()` or `range()` occurs).
    pub fn depends_on_query(&self) -> bool {
        match self {
            DurationExpr::Number { .. } => false,
            DurationExpr::Step { .. } | DurationExpr::Range { .. } => true,
            DurationExpr::Unary { expr, .. } | DurationExpr::Paren { expr, .. } => {
                expr.depends_on_query()
            }
            DurationExpr::Binary { lhs, rhs, .. }
            | DurationExpr::MinOf { lhs, rhs, .. }
            | DurationExpr::MaxOf { lhs, rhs, .. } => {
                lhs.depends_on_query() || rhs.depends_on_query()
            }
        }
    }

    /// The value in seconds, for a query with the given step and range (milliseconds), with the
    /// messages of Prometheus's engine (`12:14: division by zero`, byte offsets).
    pub fn eval_seconds(&self, step_ms: i64, range_ms: i64) -> Result<f64, String> {
        match self {
            DurationExpr::Number { value, .. } => Ok(*value),
            DurationExpr::Step { .. } => Ok(step_ms as f64 / 1000.0),
            DurationExpr::Range { .. } => Ok(range_ms as f64 / 1000.0),
            DurationExpr::Paren { expr, .. } => expr.eval_seconds(step_ms, range_ms),
            DurationExpr::Unary { op, expr, .. } => {
                let v = expr.eval_seconds(step_ms, range_ms)?;
                Ok(match op {
                    UnaryOp::Neg => -v,
                    UnaryOp::Pos => v,
                })
            }
            DurationExpr::MinOf { lhs, rhs, .. } => Ok(crate::gomath::min(
                lhs.eval_seconds(step_ms, range_ms)?,
                rhs.eval_seconds(step_ms, range_ms)?,
            )),
            DurationExpr::MaxOf { lhs, rhs, .. } => Ok(crate::gomath::max(
                lhs.eval_seconds(step_ms, range_ms)?,
                rhs.eval_seconds(step_ms, range_ms)?,
            )),
            DurationExpr::Binary { op, lhs, rhs, span } => {
                let l = lhs.eval_seconds(step_ms, range_ms)?;
                let r = rhs.eval_seconds(step_ms, range_ms)?;
                match op {
                    BinaryOp::Add => Ok(l + r),
                    BinaryOp::Sub => Ok(l - r),
                    BinaryOp::Mul => Ok(l * r),
                    BinaryOp::Div if r == 0.0 => {
                        Err(format!("{}:{}: division by zero", span.start, span.end))
                    }
                    BinaryOp::Div => Ok(l / r),
                    BinaryOp::Mod if r == 0.0 => {
                        Err(format!("{}:{}: modulo by zero", span.start, span.end))
                    }
                    // Go's math.Mod, like Rust's `%` on floats, keeps the dividend's sign.
                    BinaryOp::Mod => Ok(l % r),
                    BinaryOp::Pow => Ok(crate::gomath::pow(l, r)),
                    other => Err(format!(
                        "unexpected duration expression operator {:?}",
                        other.as_str()
                    )),
                }
            }
        }
    }

    /// The duration in milliseconds, checked as Prometheus's engine checks a range, step
    /// (`allow_negative` false) or offset (true).
    pub fn eval_ms(
        &self,
        step_ms: i64,
        range_ms: i64,
        allow_negative: bool,
    ) -> Result<i64, String> {
        let seconds = self.eval_seconds(step_ms, range_ms)?;
        let span = self.span();
        if !allow_negative && (seconds <= 0.0 || seconds.is_nan()) {
            return Err(format!(
                "{}:{}: duration must be greater than 0",
                span.start, span.end
            ));
        }
        // Prometheus compares the seconds with the int64 bounds, so only absurd values fail here.
        if !seconds.is_nan()
            && !(-9.223_372_036_854_776e18..=9.223_372_036_854_776e18).contains(&seconds)
        {
            return Err(format!(
                "{}:{}: duration is out of range",
                span.start, span.end
            ));
        }
        Ok(seconds_to_ms(seconds))
    }
}

/// The largest number of seconds a Go `time.Duration` (int64 nanoseconds) holds: a duration
/// literal beyond it is "out of range".
pub const MAX_DURATION_SECONDS: f64 = 9_223_372_036.854_776;

/// Go's `time.Duration(s * 1000) * time.Millisecond`: truncation toward zero. This is how
/// Prometheus's engine converts a duration *expression*; literals go through
/// `literal_seconds_to_ms`.
pub fn seconds_to_ms(seconds: f64) -> i64 {
    // `as` saturates and maps NaN to 0, where Go's conversion is undefined.
    (seconds * 1000.0) as i64
}

/// A range, step or offset written as a literal, in milliseconds: Prometheus's parser rounds the
/// seconds to whole nanoseconds (`math.Round(v * 1e9)`) and the engine then truncates to
/// milliseconds. Rounding first matters: `1001ms` is 1.001 s, and `1.001 * 1000` is
/// 1000.9999999999999, which would truncate to 1000 ms.
pub fn literal_seconds_to_ms(seconds: f64) -> i64 {
    // `as` saturates (and maps NaN to 0), so out-of-range values cannot panic here; the parser
    // has rejected literals beyond `MAX_DURATION_SECONDS` before.
    let ns = (seconds * 1e9).round() as i128;
    (ns / 1_000_000) as i64
}

impl Expr {
    /// The type of value the expression evaluates to.
    pub fn value_type(&self) -> ValueType {
        match self {
            Expr::Number(_) => ValueType::Scalar,
            Expr::String(_) => ValueType::String,
            Expr::VectorSelector(_) => ValueType::Vector,
            Expr::MatrixSelector(_) | Expr::Subquery(_) => ValueType::Matrix,
            Expr::Paren(p) => p.expr.value_type(),
            Expr::Unary(u) => u.expr.value_type(),
            Expr::Binary(b) => {
                if b.lhs.value_type() == ValueType::Scalar
                    && b.rhs.value_type() == ValueType::Scalar
                {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                }
            }
            Expr::Aggregate(_) => ValueType::Vector,
            Expr::Call(c) => c.func.return_type,
        }
    }

    pub fn span(&self) -> Span {
        match self {
            Expr::Number(e) => e.span,
            Expr::String(e) => e.span,
            Expr::VectorSelector(e) => e.span,
            Expr::MatrixSelector(e) => e.span,
            Expr::Subquery(e) => e.span,
            Expr::Paren(e) => e.span,
            Expr::Unary(e) => e.span,
            Expr::Binary(e) => e.span,
            Expr::Aggregate(e) => e.span,
            Expr::Call(e) => e.span,
        }
    }

    /// Calls `f` for every vector selector in the expression, in evaluation order, including
    /// those under range selectors and subqueries.
    pub fn for_each_selector(&self, f: &mut dyn FnMut(&VectorSelector)) {
        match self {
            Expr::VectorSelector(s) => f(s),
            Expr::MatrixSelector(m) => f(&m.selector),
            _ => {
                for child in self.children() {
                    child.for_each_selector(f);
                }
            }
        }
    }

    /// The direct children, in evaluation order.
    pub fn children(&self) -> impl Iterator<Item = &Expr> {
        let (first, args): ([Option<&Expr>; 2], &[Expr]) = match self {
            Expr::Number(_)
            | Expr::String(_)
            | Expr::VectorSelector(_)
            | Expr::MatrixSelector(_) => ([None, None], &[]),
            Expr::Subquery(e) => ([Some(&e.expr), None], &[]),
            Expr::Paren(e) => ([Some(&e.expr), None], &[]),
            Expr::Unary(e) => ([Some(&e.expr), None], &[]),
            Expr::Binary(e) => ([Some(&e.lhs), Some(&e.rhs)], &[]),
            Expr::Aggregate(e) => ([e.param.as_deref(), Some(&e.expr)], &[]),
            Expr::Call(e) => ([None, None], &e.args),
        };
        first.into_iter().flatten().chain(args)
    }

    /// Whether a duration in the expression is itself an expression (`[5m * 2]`,
    /// `offset step()`): the ones [`Expr::resolve_durations`] computes.
    pub fn has_duration_expressions(&self) -> bool {
        let own = match self {
            Expr::VectorSelector(vs) => vs.offset_expr.is_some(),
            Expr::MatrixSelector(ms) => {
                ms.selector.offset_expr.is_some() || ms.range_expr.is_some()
            }
            Expr::Subquery(sq) => {
                sq.offset_expr.is_some() || sq.step_expr.is_some() || sq.range_expr.is_some()
            }
            _ => false,
        };
        own || self.children().any(Expr::has_duration_expressions)
    }

    /// Evaluates every duration expression (`[5m+step()]`, `offset range()`) for a query with the
    /// given step and range (milliseconds; both 0 for an instant query) and stores the results in
    /// the millisecond fields, as Prometheus's engine does before evaluation. Errors carry
    /// Prometheus's messages.
    pub fn resolve_durations(&mut self, step_ms: i64, range_ms: i64) -> Result<(), String> {
        match self {
            Expr::Number(_) | Expr::String(_) => Ok(()),
            Expr::VectorSelector(vs) => resolve_selector(vs, step_ms, range_ms),
            Expr::MatrixSelector(ms) => {
                resolve_selector(&mut ms.selector, step_ms, range_ms)?;
                if let Some(e) = &ms.range_expr {
                    ms.range = e.eval_ms(step_ms, range_ms, false)?;
                }
                Ok(())
            }
            Expr::Subquery(sq) => {
                if let Some(e) = &sq.offset_expr {
                    sq.offset = e.eval_ms(step_ms, range_ms, true)?;
                }
                if let Some(e) = &sq.step_expr {
                    sq.step = Some(e.eval_ms(step_ms, range_ms, false)?);
                }
                if let Some(e) = &sq.range_expr {
                    sq.range = e.eval_ms(step_ms, range_ms, false)?;
                }
                sq.expr.resolve_durations(step_ms, range_ms)
            }
            Expr::Paren(e) => e.expr.resolve_durations(step_ms, range_ms),
            Expr::Unary(e) => e.expr.resolve_durations(step_ms, range_ms),
            Expr::Binary(e) => {
                e.lhs.resolve_durations(step_ms, range_ms)?;
                e.rhs.resolve_durations(step_ms, range_ms)
            }
            Expr::Aggregate(e) => {
                if let Some(p) = &mut e.param {
                    p.resolve_durations(step_ms, range_ms)?;
                }
                e.expr.resolve_durations(step_ms, range_ms)
            }
            Expr::Call(e) => e
                .args
                .iter_mut()
                .try_for_each(|a| a.resolve_durations(step_ms, range_ms)),
        }
    }
}

fn resolve_selector(vs: &mut VectorSelector, step_ms: i64, range_ms: i64) -> Result<(), String> {
    if let Some(e) = &vs.offset_expr {
        vs.offset = e.eval_ms(step_ms, range_ms, true)?;
    }
    Ok(())
}
