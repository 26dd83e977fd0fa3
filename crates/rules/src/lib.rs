//! Recording and alerting rules, as Prometheus's `rules/` package:
//!
//! - `file`: rule files read and checked (file, line and reason in every error);
//! - `rule`: the two kinds of rules, evaluation at one timestamp, the alert state machine;
//! - `group`: a group's rules in order at its interval, results and staleness markers written,
//!   alerts sent, `for` state restored after a restart;
//! - `manager`: the groups of `rule_files`, run and swapped on reload;
//! - `eval`: what evaluation needs from outside (queries, templates);
//! - `templates`: Prometheus's templates for alert labels and annotations;
//! - `check`, `unittest`: promtool's `check rules` and `test rules`, for `narthex tool`.

pub mod check;
pub mod eval;
pub mod file;
pub mod group;
pub mod manager;
pub mod rule;
pub mod templates;
pub mod unittest;

pub use check::check_rule_files;
pub use eval::{EvalContext, ExpandRequest, NoTemplates, TemplateExpander};
pub use file::{ReadOptions, RuleFile, RuleFileError};
pub use group::{Group, GroupOptions};
pub use manager::{RuleManager, RuleManagerOptions};
pub use rule::{Alert, AlertState, AlertToSend, Health, Rule};
pub use unittest::run_rule_tests;
