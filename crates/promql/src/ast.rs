//! The PromQL syntax tree and its canonical printing.

use std::fmt;

use narthex_model::{MatchOp, Matcher, METRIC_NAME};

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    VectorSelector(VectorSelector),
}

/// `name{matchers}`; the name, when written, is also present as a `__name__` equality matcher.
#[derive(Clone, Debug, PartialEq)]
pub struct VectorSelector {
    pub name: Option<String>,
    pub matchers: Vec<Matcher>,
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::VectorSelector(selector) => selector.fmt(f),
        }
    }
}

impl fmt::Display for VectorSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: Vec<&Matcher> = self
            .matchers
            .iter()
            .filter(|m| {
                !(self.name.is_some() && m.name == METRIC_NAME && m.op == MatchOp::Equal)
            })
            .collect();
        if let Some(name) = &self.name {
            f.write_str(name)?;
        }
        if shown.is_empty() && self.name.is_some() {
            return Ok(());
        }
        f.write_str("{")?;
        for (i, matcher) in shown.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{matcher}")?;
        }
        f.write_str("}")
    }
}
