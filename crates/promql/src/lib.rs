//! PromQL: the parser and printer that the server and the web UI share, and the engine that
//! evaluates expressions against a `model::Querier`.
//!
//! Nothing in this crate does I/O or pulls in an async runtime, so it compiles to wasm for the UI.

pub mod ast;
pub mod engine;
// The parser is being rewritten on the `promql-parser` branch; the old selector-only one does not
// build against the full AST, so until the rewrite lands `parse` is a small stand-in.
pub mod promqltest;
pub mod series_notation;
pub mod value;

pub use ast::{Expr, VectorSelector};
pub use engine::{Engine, EngineError, EngineOptions, QueryResult};

mod stand_in_parser;

/// A parse error of the stand-in parser (replaced by the real parser's `ParseError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parse error: {0}")]
pub struct ParseError(pub String);

/// Parses a PromQL expression with the stand-in parser until the `promql-parser` branch lands.
pub fn parse(query: &str) -> Result<Expr, ParseError> {
    stand_in_parser::parse(query).map_err(ParseError)
}
