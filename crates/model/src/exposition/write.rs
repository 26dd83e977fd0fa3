//! Writing the text format: the escaping and number formatting the server uses for its own
//! `/metrics` page (and that the parsers' round-trip tests read back).

use std::borrow::Cow;

/// Escape a label value for the text format (backslash, double quote, newline).
pub fn escape_label_value(v: &str) -> Cow<'_, str> {
    if !v.contains(['\\', '"', '\n']) {
        return Cow::Borrowed(v);
    }
    let mut out = String::with_capacity(v.len() + 8);
    for ch in v.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            _ => out.push(ch),
        }
    }
    Cow::Owned(out)
}

/// Escape HELP text (backslash and newline only).
pub fn escape_help(v: &str) -> Cow<'_, str> {
    if !v.contains(['\\', '\n']) {
        return Cow::Borrowed(v);
    }
    let mut out = String::with_capacity(v.len() + 8);
    for ch in v.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            _ => out.push(ch),
        }
    }
    Cow::Owned(out)
}

/// Format a float as the text format writes it: "+Inf", "-Inf", "NaN", otherwise Rust's shortest round-trip form (e.g. "1", "0.5", "1e-07" style is NOT required; plain `{}` Display of f64 is acceptable but integers must print without ".0").
///
/// Magnitudes from 1e-6 up to (not including) 1e21 print positionally, like `{}`; outside that
/// range `{}` would spell out hundreds of digits, so those use the exponent form (`1e21`,
/// `1.5e-7`), which every Prometheus parser reads back exactly.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    let magnitude = v.abs();
    if magnitude != 0.0 && !(1e-6..1e21).contains(&magnitude) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_writers() {
        assert!(matches!(
            escape_label_value("plain ✓"),
            Cow::Borrowed("plain ✓")
        ));
        assert_eq!(escape_label_value("a\\b\"c\nd\te"), "a\\\\b\\\"c\\nd\te");
        assert!(matches!(escape_help("plain \"quoted\""), Cow::Borrowed(_)));
        assert_eq!(escape_help("a\\b\"c\nd"), "a\\\\b\"c\\nd");
    }

    #[test]
    fn format_values() {
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(crate::stale_nan()), "NaN");
        assert_eq!(format_value(0.0), "0");
        assert_eq!(format_value(-0.0), "-0");
        assert_eq!(format_value(1.0), "1");
        assert_eq!(format_value(-42.0), "-42");
        assert_eq!(format_value(0.5), "0.5");
        assert_eq!(format_value(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_value(1.7e9), "1700000000");
        assert_eq!(format_value(123456789012.0), "123456789012");
        assert_eq!(format_value(1e20), "100000000000000000000");
        assert_eq!(format_value(1e21), "1e21");
        assert_eq!(format_value(0.000001), "0.000001");
        assert_eq!(format_value(1.5e-7), "1.5e-7");
        assert_eq!(format_value(-1e300), "-1e300");
        assert_eq!(format_value(5e-324), "5e-324");
    }
}
