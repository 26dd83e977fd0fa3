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

/// Undoes percent escapes, as `decodeURIComponent` does; a malformed escape or invalid UTF-8
/// is kept as written (lossily) instead of failing, because the input is a URL a person pasted.
pub fn decode_uri_component(component: &str) -> String {
    let bytes = component.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'%')
            .then(|| bytes.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                index += 3;
            }
            None => {
                decoded.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests {
    use super::{decode_uri_component, encode_uri_component};

    #[test]
    fn decoding_undoes_encoding_and_tolerates_bad_escapes() {
        for text in [r#"up{job="a b"} + 1 & x=#%"#, "é\n", ""] {
            assert_eq!(decode_uri_component(&encode_uri_component(text)), text);
        }
        assert_eq!(decode_uri_component("100%"), "100%");
        assert_eq!(decode_uri_component("%zz%4"), "%zz%4");
        assert_eq!(decode_uri_component("%FF"), "\u{FFFD}");
    }

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
