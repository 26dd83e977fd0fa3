//! PromQL: the parser and printer that the server and the web UI share, and the engine that
//! evaluates expressions against a `model::Querier`.
//!
//! Nothing in this crate does I/O or pulls in an async runtime, so it compiles to wasm for the UI.

pub mod ast;
pub mod engine;
// The old selector-only parser does not build against the full AST; the rewrite on the
// `promql-parser` branch replaces it.
// pub mod parser;
pub mod value;

pub use ast::{Expr, VectorSelector};
pub use engine::{Engine, EngineError, EngineOptions, QueryResult};
