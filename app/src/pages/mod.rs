//! One component per route.

pub mod alerts;
pub mod not_found;
pub mod query;
pub mod redirect_to_query;
pub mod rules;
pub mod service_discovery;
pub mod status;
pub mod targets;
