//! PromQL: the parser and printer that the server and the web UI share, and the engine that
//! evaluates expressions against a `model::Querier`.
//!
//! Nothing in this crate does I/O or pulls in an async runtime, so it compiles to wasm for the UI.

pub mod ast;
pub mod engine;
pub mod parser;
pub mod promqltest;
pub mod series_notation;
pub mod value;

pub use ast::{Expr, VectorSelector};
pub use engine::{Engine, EngineError, EngineOptions, QueryResult};
pub use parser::{parse, ParseError};
