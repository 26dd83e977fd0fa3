//! PromQL: the parser and printer that the server and the web UI share, and the engine that
//! evaluates expressions against a `model::Querier`.
//!
//! Nothing in this crate does I/O or pulls in an async runtime, so it compiles to wasm for the UI.

pub mod ast;
pub mod engine;
// The parser is being rewritten on the `promql-parser` branch; the old selector-only one does not
// build against the full AST, so until the rewrite lands `parse` is a placeholder.
pub mod promqltest;
pub mod series_notation;
pub mod value;

pub use ast::{Expr, VectorSelector};
pub use engine::{Engine, EngineError, EngineOptions, QueryResult};

/// Placeholder for the parser's error until the `promql-parser` branch lands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parse error: the PromQL parser is not merged yet")]
pub struct ParseError;

/// Placeholder until the `promql-parser` branch lands: always fails.
pub fn parse(_query: &str) -> Result<Expr, ParseError> {
    Err(ParseError)
}
