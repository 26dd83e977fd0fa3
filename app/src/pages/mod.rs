//! One component per route.

pub mod not_found;
pub mod query;
pub mod redirect_to_query;
