//! PromQL for Narthex: the lexer, parser, type checker and printer that the server and the web UI
//! share (so nothing here does I/O or needs an async runtime: it compiles to wasm), the function
//! table the engine dispatches on, and the engine that evaluates expressions against a
//! `model::Querier`.
//!
//! `parse` reads a query as Prometheus 3 does with its default feature flags; `parse_with` takes
//! `ParseOptions` for the experimental features (the PromQL test files enable them all). The tree
//! prints back in Prometheus's canonical format (`format_query`) through `Display`. Before
//! evaluating, the engine calls `Expr::resolve_durations` with the query's step and range so that
//! duration expressions (`[5m+step()]`) get their millisecond values. `roundtrip::check` is the
//! property that printing keeps: the printed query parses again to the same tree.

pub mod ast;
pub mod engine;
pub mod functions;
pub(crate) mod gomath;
pub mod lexer;
pub mod parser;
pub mod pretty;
pub mod printer;
pub mod promqltest;
pub mod roundtrip;
pub mod series_notation;
pub mod value;

pub use ast::{DurationExpr, Expr, Function, Span, ValueType, VectorSelector};
pub use engine::{Engine, EngineError, EngineOptions, QueryResult, QueryStats};
pub use parser::{parse, parse_metric_selector, parse_with, ParseError, ParseOptions};
