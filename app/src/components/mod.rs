//! Building blocks the pages are assembled from.

pub mod end_time;
pub mod explain_view;
pub mod expression_editor;
pub mod graph_view;
pub mod metrics_explorer;
pub mod names;
pub mod nav_bar;
pub mod ops_widgets;
pub mod panel;
pub mod query_error;
pub mod result_table;
