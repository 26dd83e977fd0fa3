//! Percent-encoding for query-string components, matching JavaScript's
//! `encodeURIComponent` so that URLs built here look like the ones Prometheus's
//! own UI produces and round-trip through the browser's `URLSearchParams`.

/// Bytes that `encodeURIComponent` leaves alone; everything else is escaped,
/// which in particular covers `&`, `=`, `+`, `#`, `%` and spaces that would
/// otherwise change how a PromQL expression is split out of a query string.
fn is_left_unescaped(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
        || matches!(
            byte,
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
        )
}

/// Escapes `component` for use as one key or value of a URL query string.
pub fn encode_uri_component(component: &str) -> String {
    const HEX_DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut encoded = String::with_capacity(component.len());
    for &byte in component.as_bytes() {
        if is_left_unescaped(byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push('%');
            encoded.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
            encoded.push(char::from(HEX_DIGITS[usize::from(byte & 0x0F)]));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::encode_uri_component;

    #[test]
    fn plain_metric_names_stay_readable() {
        assert_eq!(encode_uri_component("up"), "up");
        assert_eq!(
            encode_uri_component("rate(http_requests_total[5m])"),
            "rate(http_requests_total%5B5m%5D)"
        );
    }

    #[test]
    fn characters_with_query_string_meaning_are_escaped() {
        assert_eq!(
            encode_uri_component(r#"up{job="a b"} + 1 & x=#%"#),
            "up%7Bjob%3D%22a%20b%22%7D%20%2B%201%20%26%20x%3D%23%25"
        );
    }

    #[test]
    fn multibyte_characters_are_escaped_per_utf8_byte() {
        assert_eq!(encode_uri_component("é"), "%C3%A9");
        assert_eq!(encode_uri_component("a\nb"), "a%0Ab");
    }
}
