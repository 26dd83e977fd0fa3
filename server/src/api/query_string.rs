//! URL query strings and form bodies as Go's `net/url.ParseQuery` reads them, since that is
//! what decides which parameters Prometheus's handlers see: a pair holding a `;` or an
//! invalid `%` escape is left out (and the first such problem is reported beside the pairs,
//! which only the handlers that call `Request.ParseForm` themselves turn into an error),
//! where a lenient decoder would keep `a%zz` as it is.

/// The pairs of a query string or form body, in order, and Go's error for the first pair
/// left out.
pub(super) fn parse(input: &[u8]) -> (Vec<(String, String)>, Option<String>) {
    let mut pairs = Vec::new();
    let mut first_error = None;
    for pair in input.split(|&b| b == b'&') {
        if pair.contains(&b';') {
            first_error.get_or_insert_with(|| "invalid semicolon separator in query".to_string());
            continue;
        }
        if pair.is_empty() {
            continue;
        }
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &pair[pair.len()..]),
        };
        match (unescape(name), unescape(value)) {
            (Ok(name), Ok(value)) => pairs.push((name, value)),
            (Err(e), _) | (_, Err(e)) => {
                first_error.get_or_insert(e);
            }
        }
    }
    (pairs, first_error)
}

/// Go's `QueryUnescape`: `+` is a space, `%` must be followed by two hex digits. Bytes that
/// are not UTF-8 are replaced, as everywhere else parameters are read.
fn unescape(text: &[u8]) -> Result<String, String> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'%' => {
                let digits = text.get(i + 1..i + 3).and_then(|d| {
                    let hi = (d[0] as char).to_digit(16)?;
                    let lo = (d[1] as char).to_digit(16)?;
                    Some((hi * 16 + lo) as u8)
                });
                let Some(byte) = digits else {
                    // Go quotes at most three bytes from the `%` on.
                    let shown = &text[i..text.len().min(i + 3)];
                    return Err(format!(
                        "invalid URL escape {}",
                        narthex_model::api::go_quote(shown)
                    ));
                };
                out.push(byte);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8(out)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(input: &str) -> (Vec<(String, String)>, Option<String>) {
        parse(input.as_bytes())
    }

    fn owned(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn pairs_decode_escapes_and_plus() {
        assert_eq!(
            pairs("query=up%7Bjob%3D%22a%22%7D+%3E+1&time=&match[]=x&flag&&"),
            (
                owned(&[
                    ("query", "up{job=\"a\"} > 1"),
                    ("time", ""),
                    ("match[]", "x"),
                    ("flag", "")
                ]),
                None
            )
        );
        // Raw bytes that are no escape pass through; only `%` and `+` are special.
        assert_eq!(
            pairs("query=a\"<b>=c"),
            (owned(&[("query", "a\"<b>=c")]), None)
        );
    }

    #[test]
    fn bad_pairs_are_left_out_and_the_first_problem_is_named() {
        assert_eq!(
            pairs("query=a%zz&time=5&x=%4"),
            (
                owned(&[("time", "5")]),
                Some("invalid URL escape \"%zz\"".to_string())
            )
        );
        assert_eq!(
            pairs("a=1;b=2&c=%2"),
            (
                Vec::new(),
                Some("invalid semicolon separator in query".to_string())
            )
        );
        assert_eq!(
            pairs("%g1=v&k=%"),
            (Vec::new(), Some("invalid URL escape \"%g1\"".to_string()))
        );
    }
}
