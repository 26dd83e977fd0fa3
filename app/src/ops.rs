//! Formatting and filtering shared by the operations pages (targets, alerts, rules, status):
//! relative times, durations, and the text search over labels.

use crate::series_format::Labels;

/// How long ago `timestamp` (RFC 3339 as the API writes it) was, from `now_ms`: `4.2s ago`,
/// `3m 5s ago`, `2h 10m ago`, `3d 4h ago`; `never` for Go's zero time or nothing.
pub fn format_ago(now_ms: i64, timestamp: &str) -> String {
    let Ok(then) = narthex_model::duration::parse_timestamp(timestamp) else {
        return "never".to_owned();
    };
    if timestamp.starts_with("0001-01-01") {
        return "never".to_owned();
    }
    let ms = (now_ms - then).max(0);
    format!("{} ago", format_span(ms))
}

/// A span of time as `4.2s`, `15s`, `3m 5s`, `2h`, `2h 10m`, `3d 4h`: two units at most, a
/// zero second unit left out.
pub fn format_span(ms: i64) -> String {
    let seconds = if ms >= 59_950 {
        (ms + 500) / 1000
    } else {
        ms / 1000
    };
    let pair = |major: i64, major_unit: &str, minor: i64, minor_unit: &str| {
        if minor == 0 {
            format!("{major}{major_unit}")
        } else {
            format!("{major}{major_unit} {minor}{minor_unit}")
        }
    };
    // Rounded to tenths first, so 59.96 s reads as 1m, not 60.0s.
    if (ms + 50) / 100 < 600 {
        if ms % 1000 == 0 {
            format!("{seconds}s")
        } else {
            format!("{:.1}s", ms as f64 / 1000.0)
        }
    } else if seconds < 3600 {
        pair(seconds / 60, "m", seconds % 60, "s")
    } else if seconds < 86_400 {
        pair(seconds / 3600, "h", seconds % 3600 / 60, "m")
    } else {
        pair(seconds / 86_400, "d", seconds % 86_400 / 3600, "h")
    }
}

/// A duration in seconds as the pages show it (`4.2ms`, `1.5s`).
pub fn format_seconds(seconds: f64) -> String {
    crate::graph::ticks::format_value(seconds, crate::graph::ticks::Unit::Seconds)
}

/// Whether every word of `search` (case-insensitive) is in one of `texts` or the labels.
pub fn matches_search<'a>(
    search: &str,
    labels: &Labels,
    texts: impl IntoIterator<Item = &'a str>,
) -> bool {
    let search = search.trim().to_lowercase();
    if search.is_empty() {
        return true;
    }
    let mut haystack: String = labels
        .iter()
        .map(|(name, value)| format!("{name}=\"{value}\" "))
        .collect();
    for text in texts {
        haystack.push_str(text);
        haystack.push(' ');
    }
    let haystack = haystack.to_lowercase();
    search
        .split_whitespace()
        .all(|word| haystack.contains(word))
}

/// The comma-separated set in a URL parameter (`health=up,down`); empty means everything.
pub fn selected(param: &str) -> Vec<String> {
    param
        .split(',')
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `param` with `item` added or removed.
pub fn toggled(param: &str, item: &str) -> String {
    let mut items = selected(param);
    if let Some(at) = items.iter().position(|i| i == item) {
        items.remove(at);
    } else {
        items.push(item.to_owned());
    }
    items.join(",")
}

/// The expression browser's URL for `expr` in the table view.
pub fn query_link(expr: &str) -> String {
    format!(
        "/query?g0.expr={}&g0.tab=table",
        crate::percent_encoding::encode_uri_component(expr)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_spans_read_naturally() {
        let now = 1_764_118_800_000; // 2025-11-26T01:00:00Z
        assert_eq!(format_ago(now, "2025-11-26T00:59:55.8Z"), "4.2s ago");
        assert_eq!(format_ago(now, "2025-11-26T00:56:55Z"), "3m 5s ago");
        assert_eq!(format_ago(now, "2025-11-25T22:50:00Z"), "2h 10m ago");
        assert_eq!(format_ago(now, "0001-01-01T00:00:00Z"), "never");
        assert_eq!(format_ago(now, ""), "never");
        assert_eq!(format_span(3 * 86_400_000 + 4 * 3_600_000), "3d 4h");
        assert_eq!(format_span(15_000), "15s");
        assert_eq!(format_span(3_600_000), "1h");
        assert_eq!(format_span(120_000), "2m");
        assert_eq!(format_span(59_960), "1m");
        assert_eq!(format_span(59_900), "59.9s");
        assert_eq!(format_seconds(0.0042), "4.2ms");
    }

    #[test]
    fn search_matches_every_word_in_labels_or_texts() {
        let labels: Labels = [
            ("job".to_owned(), "node".to_owned()),
            ("instance".to_owned(), "a:9100".to_owned()),
        ]
        .into_iter()
        .collect();
        assert!(matches_search("", &labels, []));
        assert!(matches_search("NODE a:91", &labels, []));
        assert!(matches_search(
            "job=\"node\" refused",
            &labels,
            ["connection refused"]
        ));
        assert!(!matches_search(
            "node b:",
            &labels,
            ["http://a:9100/metrics"]
        ));
    }

    #[test]
    fn sets_in_parameters_toggle() {
        assert_eq!(selected(""), Vec::<String>::new());
        assert_eq!(toggled("", "down"), "down");
        assert_eq!(toggled("up,down", "up"), "down");
        assert_eq!(toggled("down", "unknown"), "down,unknown");
        assert_eq!(
            query_link("up == 0"),
            "/query?g0.expr=up%20%3D%3D%200&g0.tab=table"
        );
    }
}
