//! Unit tests of the engine over hand-built ASTs and the in-memory storage.

use super::*;
