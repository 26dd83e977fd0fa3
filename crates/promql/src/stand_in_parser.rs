//! A small stand-in PromQL parser, so that `parse` and Prometheus's test files work against the
//! engine until the real parser (branch `promql-parser`) lands. It covers the common grammar (selectors, ranges,
//! subqueries, offset/@, operators with matching, aggregations, calls) and nothing else; the
//! real parser replaces it.

use crate::ast::*;
use narthex_model::{MatchOp, Matcher};

macro_rules! funcs {
    ($($name:literal => $ret:ident),* $(,)?) => {
        static FUNCS: &[Function] = &[
            $(Function { name: $name, arg_types: &[], variadic: 0, return_type: ValueType::$ret, experimental: false },)*
        ];
    };
}

funcs! {
    "abs" => Vector, "absent" => Vector, "absent_over_time" => Vector, "acos" => Vector,
    "acosh" => Vector, "asin" => Vector, "asinh" => Vector, "atan" => Vector, "atanh" => Vector,
    "avg_over_time" => Vector, "ceil" => Vector, "changes" => Vector, "clamp" => Vector,
    "clamp_max" => Vector, "clamp_min" => Vector, "cos" => Vector, "cosh" => Vector,
    "count_over_time" => Vector, "days_in_month" => Vector, "day_of_month" => Vector,
    "day_of_week" => Vector, "day_of_year" => Vector, "deg" => Vector, "delta" => Vector,
    "deriv" => Vector, "exp" => Vector, "first_over_time" => Vector, "floor" => Vector,
    "histogram_avg" => Vector, "histogram_count" => Vector, "histogram_fraction" => Vector,
    "histogram_quantile" => Vector, "histogram_quantiles" => Vector, "histogram_sum" => Vector,
    "histogram_stddev" => Vector, "histogram_stdvar" => Vector,
    "double_exponential_smoothing" => Vector, "hour" => Vector, "idelta" => Vector,
    "increase" => Vector, "info" => Vector, "irate" => Vector, "label_replace" => Vector,
    "label_join" => Vector, "ln" => Vector, "log10" => Vector, "log2" => Vector,
    "last_over_time" => Vector, "mad_over_time" => Vector, "max_over_time" => Vector,
    "min_over_time" => Vector, "ts_of_first_over_time" => Vector,
    "ts_of_last_over_time" => Vector, "ts_of_max_over_time" => Vector,
    "ts_of_min_over_time" => Vector, "minute" => Vector, "month" => Vector, "pi" => Scalar,
    "predict_linear" => Vector, "present_over_time" => Vector, "quantile_over_time" => Vector,
    "rad" => Vector, "rate" => Vector, "resets" => Vector, "round" => Vector,
    "scalar" => Scalar, "sgn" => Vector, "sin" => Vector, "sinh" => Vector, "sort" => Vector,
    "sort_desc" => Vector, "sort_by_label" => Vector, "sort_by_label_desc" => Vector,
    "sqrt" => Vector, "stddev_over_time" => Vector, "stdvar_over_time" => Vector,
    "sum_over_time" => Vector, "tan" => Vector, "tanh" => Vector, "time" => Scalar,
    "timestamp" => Vector, "vector" => Vector, "year" => Vector, "step" => Scalar,
    "range" => Scalar, "start" => Scalar, "end" => Scalar, "min_of" => Scalar, "max_of" => Scalar,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Num(f64),
    Dur(i64),
    Str(String),
    Op(&'static str),
}

fn parse_duration(s: &str) -> Option<i64> {
    let mut total = 0i64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest.find(|c: char| !c.is_ascii_digit())?;
        if n == 0 {
            return None;
        }
        let v: i64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let (unit, len) = if rest.starts_with("ms") {
            (1, 2)
        } else {
            let u = match rest.chars().next()? {
                's' => 1000,
                'm' => 60_000,
                'h' => 3_600_000,
                'd' => 86_400_000,
                'w' => 604_800_000,
                'y' => 31_536_000_000,
                _ => return None,
            };
            (u, 1)
        };
        total += v * unit;
        rest = &rest[len..];
    }
    Some(total)
}

fn lex(input: &str) -> Result<Vec<(Tok, usize)>, String> {
    let b = input.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    const OPS: &[&str] = &[
        "==", "!=", ">=", "<=", "=~", "!~", "+", "-", "*", "/", "%", "^", ">", "<", "=", "(", ")",
        "{", "}", "[", "]", ",", ":", "@",
    ];
    while i < b.len() {
        let c = b[i] as char;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        if c == '"' || c == '\'' || c == '`' {
            i += 1;
            let mut s = String::new();
            while i < b.len() && b[i] as char != c {
                if b[i] == b'\\' && c != '`' && i + 1 < b.len() {
                    i += 1;
                    match b[i] {
                        b'n' => s.push('\n'),
                        b't' => s.push('\t'),
                        b'\\' => s.push('\\'),
                        b'"' => s.push('"'),
                        b'\'' => s.push('\''),
                        other => {
                            s.push('\\');
                            s.push(other as char)
                        }
                    }
                    i += 1;
                    continue;
                }
                let ch = input[i..].chars().next().ok_or("bad string")?;
                s.push(ch);
                i += ch.len_utf8();
            }
            i += 1;
            out.push((Tok::Str(s), start));
            continue;
        }
        if c.is_ascii_digit()
            || (c == '.' && i + 1 < b.len() && (b[i + 1] as char).is_ascii_digit())
        {
            let mut j = i;
            while j < b.len() && ((b[j] as char).is_ascii_alphanumeric() || b[j] == b'.') {
                // Exponent signs: 1e-5
                j += 1;
                if j < b.len()
                    && (b[j] == b'-' || b[j] == b'+')
                    && (b[j - 1] == b'e' || b[j - 1] == b'E')
                    && !input[i..j].starts_with("0x")
                {
                    j += 1;
                }
            }
            let text = &input[i..j];
            i = j;
            if let Some(d) = parse_duration(text) {
                if text.chars().any(|c| c.is_ascii_alphabetic()) {
                    out.push((Tok::Dur(d), start));
                    continue;
                }
            }
            let v = if let Some(h) = text.strip_prefix("0x") {
                i64::from_str_radix(h, 16)
                    .map(|v| v as f64)
                    .map_err(|e| e.to_string())?
            } else {
                text.parse::<f64>()
                    .map_err(|_| format!("bad number {text}"))?
            };
            out.push((Tok::Num(v), start));
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let mut j = i;
            while j < b.len()
                && ((b[j] as char).is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b':')
            {
                j += 1;
            }
            out.push((Tok::Ident(input[i..j].to_string()), start));
            i = j;
            continue;
        }
        let mut matched = false;
        for op in OPS {
            if input[i..].starts_with(op) {
                out.push((Tok::Op(op), start));
                i += op.len();
                matched = true;
                break;
            }
        }
        if !matched {
            return Err(format!("unexpected character {c:?}"));
        }
    }
    Ok(out)
}

struct P {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    len: usize,
}

fn agg_op(s: &str) -> Option<AggregateOp> {
    Some(match s.to_ascii_lowercase().as_str() {
        "sum" => AggregateOp::Sum,
        "min" => AggregateOp::Min,
        "max" => AggregateOp::Max,
        "avg" => AggregateOp::Avg,
        "group" => AggregateOp::Group,
        "stddev" => AggregateOp::Stddev,
        "stdvar" => AggregateOp::Stdvar,
        "count" => AggregateOp::Count,
        "count_values" => AggregateOp::CountValues,
        "bottomk" => AggregateOp::Bottomk,
        "topk" => AggregateOp::Topk,
        "quantile" => AggregateOp::Quantile,
        "limitk" => AggregateOp::Limitk,
        "limit_ratio" => AggregateOp::LimitRatio,
        _ => return None,
    })
}

fn bin_op(t: &Tok) -> Option<BinaryOp> {
    Some(match t {
        Tok::Op("+") => BinaryOp::Add,
        Tok::Op("-") => BinaryOp::Sub,
        Tok::Op("*") => BinaryOp::Mul,
        Tok::Op("/") => BinaryOp::Div,
        Tok::Op("%") => BinaryOp::Mod,
        Tok::Op("^") => BinaryOp::Pow,
        Tok::Op("==") => BinaryOp::Eql,
        Tok::Op("!=") => BinaryOp::Neq,
        Tok::Op(">") => BinaryOp::Gtr,
        Tok::Op("<") => BinaryOp::Lss,
        Tok::Op(">=") => BinaryOp::Gte,
        Tok::Op("<=") => BinaryOp::Lte,
        Tok::Ident(s) if s.eq_ignore_ascii_case("and") => BinaryOp::And,
        Tok::Ident(s) if s.eq_ignore_ascii_case("or") => BinaryOp::Or,
        Tok::Ident(s) if s.eq_ignore_ascii_case("unless") => BinaryOp::Unless,
        Tok::Ident(s) if s.eq_ignore_ascii_case("atan2") => BinaryOp::Atan2,
        _ => return None,
    })
}

fn prec(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::Or => 1,
        BinaryOp::And | BinaryOp::Unless => 2,
        BinaryOp::Add | BinaryOp::Sub => 4,
        BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod | BinaryOp::Atan2 => 5,
        BinaryOp::Pow => 6,
        _ => 3,
    }
}

pub(crate) fn parse(input: &str) -> Result<Expr, String> {
    let toks = lex(input)?;
    let mut p = P {
        toks,
        pos: 0,
        len: input.len(),
    };
    let e = p.expr(0)?;
    if p.pos != p.toks.len() {
        return Err(format!("unexpected token {:?}", p.toks[p.pos].0));
    }
    Ok(e)
}

fn sp(start: usize) -> Span {
    Span { start, end: start }
}

impl P {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.0)
    }
    fn at(&self) -> usize {
        self.toks.get(self.pos).map(|t| t.1).unwrap_or(self.len)
    }
    fn next(&mut self) -> Result<Tok, String> {
        let t = self.toks.get(self.pos).ok_or("unexpected end")?.0.clone();
        self.pos += 1;
        Ok(t)
    }
    fn eat(&mut self, op: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Op(o)) if *o == op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, op: &str) -> Result<(), String> {
        if self.eat(op) {
            Ok(())
        } else {
            Err(format!("expected {op}, got {:?}", self.peek()))
        }
    }
    fn is_ident(&self, s: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(i)) if i.eq_ignore_ascii_case(s))
    }

    fn expr(&mut self, min_prec: u8) -> Result<Expr, String> {
        let mut lhs = self.unary()?;
        while let Some(op) = self.peek().and_then(bin_op) {
            let pr = prec(op);
            if pr < min_prec {
                break;
            }
            self.pos += 1;
            let mut return_bool = false;
            if self.is_ident("bool") {
                self.pos += 1;
                return_bool = true;
            }
            let mut matching = None;
            if self.is_ident("on") || self.is_ident("ignoring") {
                let on = self.is_ident("on");
                self.pos += 1;
                let labels = self.label_list()?;
                let mut card = if op.is_set() {
                    Cardinality::ManyToMany
                } else {
                    Cardinality::OneToOne
                };
                let mut include = Vec::new();
                if self.is_ident("group_left") || self.is_ident("group_right") {
                    card = if self.is_ident("group_left") {
                        Cardinality::ManyToOne
                    } else {
                        Cardinality::OneToMany
                    };
                    self.pos += 1;
                    if matches!(self.peek(), Some(Tok::Op("("))) {
                        include = self.label_list()?;
                    }
                }
                matching = Some(VectorMatching {
                    card,
                    on,
                    labels,
                    include,
                });
            }
            let next_min = if op == BinaryOp::Pow { pr } else { pr + 1 };
            let rhs = self.expr(next_min)?;
            if matching.is_none()
                && lhs.value_type() == ValueType::Vector
                && rhs.value_type() == ValueType::Vector
            {
                matching = Some(VectorMatching {
                    card: if op.is_set() {
                        Cardinality::ManyToMany
                    } else {
                        Cardinality::OneToOne
                    },
                    on: false,
                    labels: vec![],
                    include: vec![],
                });
            }
            let start = lhs.span().start;
            lhs = Expr::Binary(BinaryExpr {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
                return_bool,
                matching,
                span: sp(start),
            });
        }
        Ok(lhs)
    }

    fn duration(&mut self) -> Result<i64, String> {
        match self.next()? {
            Tok::Dur(d) => Ok(d),
            Tok::Num(v) => Ok((v * 1000.0) as i64),
            t => Err(format!("expected duration, got {t:?}")),
        }
    }

    fn label_list(&mut self) -> Result<Vec<String>, String> {
        self.expect("(")?;
        let mut out = Vec::new();
        while !self.eat(")") {
            match self.next()? {
                Tok::Ident(s) | Tok::Str(s) => out.push(s),
                t => return Err(format!("bad label {t:?}")),
            }
            self.eat(",");
        }
        Ok(out)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        let start = self.at();
        if self.eat("+") {
            return self.expr(6);
        }
        if self.eat("-") {
            let e = self.expr(6)?;
            if let Expr::Number(n) = &e {
                return Ok(Expr::Number(NumberLiteral {
                    value: -n.value,
                    span: sp(start),
                }));
            }
            return Ok(Expr::Unary(UnaryExpr {
                op: UnaryOp::Neg,
                expr: Box::new(e),
                span: sp(start),
            }));
        }
        let e = self.primary()?;
        self.postfix(e)
    }

    fn postfix(&mut self, mut e: Expr) -> Result<Expr, String> {
        loop {
            if self.eat("[") {
                let range = self.duration()?;
                if self.eat(":") {
                    let step = match self.peek() {
                        Some(Tok::Dur(_)) | Some(Tok::Num(_)) => Some(self.duration()?),
                        _ => None,
                    };
                    self.expect("]")?;
                    let start = e.span().start;
                    e = Expr::Subquery(SubqueryExpr {
                        expr: Box::new(e),
                        range,
                        step,
                        offset: 0,
                        at: None,
                        span: sp(start),
                    });
                } else {
                    self.expect("]")?;
                    let Expr::VectorSelector(vs) = e else {
                        return Err("range on non-selector".into());
                    };
                    let start = vs.span.start;
                    e = Expr::MatrixSelector(MatrixSelector {
                        selector: vs,
                        range,
                        span: sp(start),
                    });
                }
                continue;
            }
            if self.is_ident("offset") {
                self.pos += 1;
                let neg = self.eat("-");
                let d = self.duration()?;
                let d = if neg { -d } else { d };
                match &mut e {
                    Expr::VectorSelector(vs) => vs.offset = d,
                    Expr::MatrixSelector(ms) => ms.selector.offset = d,
                    Expr::Subquery(sq) => sq.offset = d,
                    _ => return Err("offset on non-selector".into()),
                }
                continue;
            }
            if self.eat("@") {
                let at = match self.next()? {
                    Tok::Num(v) => AtModifier::Timestamp((v * 1000.0).round() as i64),
                    Tok::Dur(d) => AtModifier::Timestamp(d),
                    Tok::Op("-") => match self.next()? {
                        Tok::Num(v) => AtModifier::Timestamp((-v * 1000.0).round() as i64),
                        t => return Err(format!("bad @ {t:?}")),
                    },
                    Tok::Ident(s) if s == "start" || s == "end" => {
                        self.expect("(")?;
                        self.expect(")")?;
                        if s == "start" {
                            AtModifier::Start
                        } else {
                            AtModifier::End
                        }
                    }
                    t => return Err(format!("bad @ {t:?}")),
                };
                match &mut e {
                    Expr::VectorSelector(vs) => vs.at = Some(at),
                    Expr::MatrixSelector(ms) => ms.selector.at = Some(at),
                    Expr::Subquery(sq) => sq.at = Some(at),
                    _ => return Err("@ on non-selector".into()),
                }
                continue;
            }
            return Ok(e);
        }
    }

    fn matchers(&mut self, out: &mut Vec<Matcher>) -> Result<(), String> {
        while !self.eat("}") {
            let name = match self.next()? {
                Tok::Ident(s) | Tok::Str(s) => s,
                t => return Err(format!("bad matcher {t:?}")),
            };
            if matches!(self.peek(), Some(Tok::Op(",")) | Some(Tok::Op("}"))) {
                out.push(Matcher::equal("__name__", name));
                self.eat(",");
                continue;
            }
            let op = match self.next()? {
                Tok::Op("=") => MatchOp::Equal,
                Tok::Op("!=") => MatchOp::NotEqual,
                Tok::Op("=~") => MatchOp::RegexMatch,
                Tok::Op("!~") => MatchOp::RegexNoMatch,
                t => return Err(format!("bad matcher op {t:?}")),
            };
            let Tok::Str(v) = self.next()? else {
                return Err("expected string".into());
            };
            out.push(Matcher::new(op, name, v).map_err(|e| e.to_string())?);
            self.eat(",");
        }
        Ok(())
    }

    fn primary(&mut self) -> Result<Expr, String> {
        let start = self.at();
        match self.next()? {
            Tok::Num(v) => Ok(Expr::Number(NumberLiteral {
                value: v,
                span: sp(start),
            })),
            Tok::Dur(d) => Ok(Expr::Number(NumberLiteral {
                value: d as f64 / 1000.0,
                span: sp(start),
            })),
            Tok::Str(s) => Ok(Expr::String(StringLiteral {
                value: s,
                span: sp(start),
            })),
            Tok::Op("(") => {
                let e = self.expr(0)?;
                self.expect(")")?;
                Ok(Expr::Paren(ParenExpr {
                    expr: Box::new(e),
                    span: sp(start),
                }))
            }
            Tok::Op("{") => {
                let mut m = Vec::new();
                self.matchers(&mut m)?;
                Ok(Expr::VectorSelector(VectorSelector {
                    name: None,
                    matchers: m,
                    offset: 0,
                    at: None,
                    span: sp(start),
                }))
            }
            Tok::Ident(id) => {
                let lower = id.to_ascii_lowercase();
                if lower == "inf" || lower == "nan" {
                    return Ok(Expr::Number(NumberLiteral {
                        value: id.parse().unwrap_or(f64::NAN),
                        span: sp(start),
                    }));
                }
                if let Some(op) = agg_op(&id) {
                    if matches!(self.peek(), Some(Tok::Op("(")))
                        || self.is_ident("by")
                        || self.is_ident("without")
                    {
                        return self.aggregate(op, start);
                    }
                }
                if matches!(self.peek(), Some(Tok::Op("("))) {
                    let func = FUNCS
                        .iter()
                        .find(|f| f.name == id)
                        .ok_or_else(|| format!("unknown function with name {id:?}"))?;
                    self.pos += 1;
                    let mut args = Vec::new();
                    while !self.eat(")") {
                        args.push(self.expr(0)?);
                        self.eat(",");
                    }
                    return Ok(Expr::Call(Call {
                        func,
                        args,
                        span: sp(start),
                    }));
                }
                let mut matchers = Vec::new();
                if self.eat("{") {
                    self.matchers(&mut matchers)?;
                }
                matchers.push(Matcher::equal("__name__", id.clone()));
                Ok(Expr::VectorSelector(VectorSelector {
                    name: Some(id),
                    matchers,
                    offset: 0,
                    at: None,
                    span: sp(start),
                }))
            }
            t => Err(format!("unexpected {t:?}")),
        }
    }

    fn aggregate(&mut self, op: AggregateOp, start: usize) -> Result<Expr, String> {
        let mut grouping = Vec::new();
        let mut without = false;
        let mut grouped = false;
        if self.is_ident("by") || self.is_ident("without") {
            without = self.is_ident("without");
            self.pos += 1;
            grouping = self.label_list()?;
            grouped = true;
        }
        self.expect("(")?;
        let mut args = Vec::new();
        while !self.eat(")") {
            args.push(self.expr(0)?);
            self.eat(",");
        }
        if !grouped && (self.is_ident("by") || self.is_ident("without")) {
            without = self.is_ident("without");
            self.pos += 1;
            grouping = self.label_list()?;
        }
        let (param, expr) = if args.len() == 2 {
            let mut it = args.into_iter();
            let p = it.next().ok_or("missing")?;
            (Some(Box::new(p)), it.next().ok_or("missing")?)
        } else {
            (None, args.into_iter().next().ok_or("no argument")?)
        };
        Ok(Expr::Aggregate(AggregateExpr {
            op,
            expr: Box::new(expr),
            param,
            grouping,
            without,
            span: sp(start),
        }))
    }
}
