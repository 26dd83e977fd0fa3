//! Building blocks the pages are assembled from.

pub mod expression_input;
pub mod nav_bar;
pub mod query_error;
pub mod result_table;
