//! The expression browser's state as it lives in the URL, in the same
//! `g0.expr=...&g0.tab=...` shape Prometheus uses, so links can be shared and
//! a reload re-runs the query.

use crate::percent_encoding::encode_uri_component;

/// Query-string key holding the first panel's expression.
pub const EXPRESSION_KEY: &str = "g0.expr";
/// Query-string key holding which view the first panel shows.
pub const TAB_KEY: &str = "g0.tab";
/// The only view implemented so far; the graph view will add another value.
pub const TABLE_TAB: &str = "table";

/// The URL under `page_path` that shows `expression` in the table view.
pub fn panel_url(page_path: &str, expression: &str) -> String {
    format!(
        "{page_path}?{EXPRESSION_KEY}={}&{TAB_KEY}={TABLE_TAB}",
        encode_uri_component(expression)
    )
}

#[cfg(test)]
mod tests {
    use super::panel_url;

    #[test]
    fn urls_follow_prometheus_panel_parameters() {
        assert_eq!(panel_url("/query", "up"), "/query?g0.expr=up&g0.tab=table");
        assert_eq!(
            panel_url("/graph", "sum by (job) (up)"),
            "/graph?g0.expr=sum%20by%20(job)%20(up)&g0.tab=table"
        );
    }
}
