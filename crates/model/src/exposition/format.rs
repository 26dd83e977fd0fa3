//! Choosing a parser: the [`ExpositionFormat`] enum, the [`parse`] dispatcher, and
//! [`format_for_content_type`], which maps a scrape response's `Content-Type` to a format the way
//! Prometheus 3 does (`extractMediaType` in `model/textparse/interface.go`).

use std::fmt;

use super::{parse_openmetrics, parse_text, Exposition, ParseError};

/// A text exposition format Narthex can parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ExpositionFormat {
    /// The Prometheus text format, `text/plain; version=0.0.4`.
    #[default]
    Text,
    /// OpenMetrics 1.0 text, `application/openmetrics-text; version=1.0.0` (or `0.0.1`).
    OpenMetrics,
}

impl ExpositionFormat {
    /// The media type (without parameters) that selects this format, as Prometheus's
    /// `fallback_scrape_protocol` names it in its messages.
    pub fn media_type(self) -> &'static str {
        match self {
            ExpositionFormat::Text => "text/plain",
            ExpositionFormat::OpenMetrics => "application/openmetrics-text",
        }
    }
}

impl fmt::Display for ExpositionFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.media_type())
    }
}

/// Parse a scrape body in the given format: [`parse_text`] or [`parse_openmetrics`].
pub fn parse(format: ExpositionFormat, body: &str) -> Result<Exposition<'_>, ParseError> {
    match format {
        ExpositionFormat::Text => parse_text(body),
        ExpositionFormat::OpenMetrics => parse_openmetrics(body),
    }
}

/// The format chosen for a scrape response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedFormat {
    pub format: ExpositionFormat,
    /// Set when the `Content-Type` was blank, unparsable or unsupported and the fallback was
    /// used instead; Prometheus logs this at debug level and scrapes on.
    pub fallback_reason: Option<ContentTypeError>,
}

/// Why a `Content-Type` did not select a format. Without a fallback the scrape fails with this
/// as its error; with one, it is the `fallback_reason`. The messages are Prometheus 3's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentTypeError {
    /// No `Content-Type` header, or an empty one.
    #[error("{}", blank_message(*fallback))]
    Blank { fallback: Option<ExpositionFormat> },
    /// A header that is not a media type; `reason` is what Go's `mime.ParseMediaType` says.
    #[error("{}", unparsable_message(content_type, reason, *fallback))]
    Unparsable {
        content_type: String,
        reason: String,
        fallback: Option<ExpositionFormat>,
    },
    /// A media type other than `text/plain` or `application/openmetrics-text`, including the
    /// protobuf format, which Narthex does not parse.
    #[error("{}", unsupported_message(content_type, *fallback))]
    Unsupported {
        content_type: String,
        fallback: Option<ExpositionFormat>,
    },
}

fn blank_message(fallback: Option<ExpositionFormat>) -> String {
    match fallback {
        None => "non-compliant scrape target sending blank Content-Type and no fallback_scrape_protocol specified for target".to_string(),
        Some(f) => format!(
            "non-compliant scrape target sending blank Content-Type, using fallback_scrape_protocol {:?}",
            f.media_type()
        ),
    }
}

/// Prometheus joins its sentence and Go's parse error with `errors.Join`, i.e. a newline.
fn unparsable_message(
    content_type: &str,
    reason: &str,
    fallback: Option<ExpositionFormat>,
) -> String {
    match fallback {
        None => format!(
            "cannot parse Content-Type {content_type:?} and no fallback_scrape_protocol for target\n{reason}"
        ),
        Some(f) => format!(
            "could not parse received Content-Type {content_type:?}, using fallback_scrape_protocol {:?}\n{reason}",
            f.media_type()
        ),
    }
}

fn unsupported_message(content_type: &str, fallback: Option<ExpositionFormat>) -> String {
    match fallback {
        None => format!(
            "received unsupported Content-Type {content_type:?} and no fallback_scrape_protocol specified for target"
        ),
        Some(f) => format!(
            "received unsupported Content-Type {content_type:?}, using fallback_scrape_protocol {:?}",
            f.media_type()
        ),
    }
}

/// The format of a scrape response, from its `Content-Type` header (`None` when absent), as
/// Prometheus 3 decides it.
///
/// Only the media type counts, case-insensitively; its parameters (`version`, `charset`, ...)
/// must be well-formed but are otherwise ignored, as in Prometheus, so `text/plain` with any
/// version selects the text parser and `application/openmetrics-text` with any version (1.0.0 or
/// 0.0.1 in practice) the OpenMetrics parser. A blank, unparsable or other media type uses
/// `fallback` (the target's `fallback_scrape_protocol`) and says why in `fallback_reason`; with
/// no fallback it is an error, and Prometheus fails the scrape with that error.
pub fn format_for_content_type(
    content_type: Option<&str>,
    fallback: Option<ExpositionFormat>,
) -> Result<NegotiatedFormat, ContentTypeError> {
    let reason = match content_type.filter(|ct| !ct.is_empty()) {
        None => ContentTypeError::Blank { fallback },
        Some(ct) => match media_type(ct) {
            Ok(media_type) => match media_type.as_str() {
                "text/plain" => {
                    return Ok(NegotiatedFormat {
                        format: ExpositionFormat::Text,
                        fallback_reason: None,
                    })
                }
                "application/openmetrics-text" => {
                    return Ok(NegotiatedFormat {
                        format: ExpositionFormat::OpenMetrics,
                        fallback_reason: None,
                    })
                }
                _ => ContentTypeError::Unsupported {
                    content_type: ct.to_string(),
                    fallback,
                },
            },
            Err(reason) => ContentTypeError::Unparsable {
                content_type: ct.to_string(),
                reason: reason.to_string(),
                fallback,
            },
        },
    };
    match fallback {
        Some(format) => Ok(NegotiatedFormat {
            format,
            fallback_reason: Some(reason),
        }),
        None => Err(reason),
    }
}

/// The lower-cased media type of a `Content-Type` value, after checking the whole value the way
/// Go's `mime.ParseMediaType` does (the error texts are Go's).
fn media_type(value: &str) -> Result<String, &'static str> {
    let (base, mut params) = value.split_at(value.find(';').unwrap_or(value.len()));
    let media_type = base.to_ascii_lowercase();
    let media_type = media_type.trim_matches(is_space);

    let (kind, rest) = consume_token(media_type);
    if kind.is_empty() {
        return Err("mime: no media type");
    }
    if !rest.is_empty() {
        let Some(rest) = rest.strip_prefix('/') else {
            return Err("mime: expected slash after first token");
        };
        let (subtype, rest) = consume_token(rest);
        if subtype.is_empty() {
            return Err("mime: expected token after slash");
        }
        if !rest.is_empty() {
            return Err("mime: unexpected content after media subtype");
        }
    }

    let mut seen: Vec<String> = Vec::new();
    loop {
        params = params.trim_start_matches(is_space);
        if params.is_empty() {
            break;
        }
        match consume_param(params) {
            Some((name, rest)) => {
                let name = name.to_ascii_lowercase();
                if seen.contains(&name) {
                    return Err("mime: duplicate parameter name");
                }
                seen.push(name);
                params = rest;
            }
            // Trailing semicolons are fine.
            None if params.trim_matches(is_space) == ";" => break,
            None => return Err("mime: invalid media parameter"),
        }
    }
    Ok(media_type.to_string())
}

fn is_space(ch: char) -> bool {
    ch.is_whitespace()
}

const TSPECIALS: &[u8] = b"()<>@,;:\\\"/[]?=";

/// RFC 1521 token characters: printable ASCII except space and the tspecials.
fn is_token_char(ch: char) -> bool {
    ch.is_ascii_graphic() && !TSPECIALS.contains(&(ch as u8))
}

fn consume_token(s: &str) -> (&str, &str) {
    let end = s.find(|ch| !is_token_char(ch)).unwrap_or(s.len());
    s.split_at(end)
}

/// `; name=value` (the value a token or a quoted string), returning the name and the rest.
fn consume_param(s: &str) -> Option<(&str, &str)> {
    let rest = s.trim_start_matches(is_space).strip_prefix(';')?;
    let (name, rest) = consume_token(rest.trim_start_matches(is_space));
    if name.is_empty() {
        return None;
    }
    let rest = rest.trim_start_matches(is_space).strip_prefix('=')?;
    let rest = rest.trim_start_matches(is_space);
    if let Some(quoted) = rest.strip_prefix('"') {
        // A quoted string; a backslash escapes a following tspecial (as Go reads it), and a
        // line break or a missing end quote makes the parameter invalid.
        let b = quoted.as_bytes();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'"' => return Some((name, &quoted[i + 1..])),
                b'\\' if b.get(i + 1).is_some_and(|&ch| TSPECIALS.contains(&ch)) => i += 1,
                b'\r' | b'\n' => return None,
                _ => {}
            }
            i += 1;
        }
        return None;
    }
    let (value, rest) = consume_token(rest);
    if value.is_empty() {
        return None;
    }
    Some((name, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chosen(content_type: Option<&str>) -> Result<NegotiatedFormat, ContentTypeError> {
        format_for_content_type(content_type, None)
    }

    fn ok(format: ExpositionFormat) -> Result<NegotiatedFormat, ContentTypeError> {
        Ok(NegotiatedFormat {
            format,
            fallback_reason: None,
        })
    }

    #[test]
    fn supported_content_types() {
        use ExpositionFormat::{OpenMetrics, Text};
        for (header, format) in [
            ("text/plain; version=0.0.4; charset=utf-8", Text),
            ("text/plain;version=0.0.4", Text),
            ("text/plain", Text),
            ("Text/Plain; charset=UTF-8", Text),
            // Prometheus reads the UTF-8-escaping text format with the same parser.
            ("text/plain; version=1.0.0; escaping=underscores", Text),
            ("text/plain; version=0.0.4;", Text),
            (
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                OpenMetrics,
            ),
            ("application/openmetrics-text; version=0.0.1", OpenMetrics),
            ("application/openmetrics-text", OpenMetrics),
            (
                "APPLICATION/OpenMetrics-Text;version=\"1.0.0\"",
                OpenMetrics,
            ),
            (
                "  application/openmetrics-text  ;  version = 1.0.0 ",
                OpenMetrics,
            ),
        ] {
            assert_eq!(chosen(Some(header)), ok(format), "{header}");
        }
    }

    #[test]
    fn blank_content_type() {
        for header in [None, Some("")] {
            let e = chosen(header).unwrap_err();
            assert_eq!(e, ContentTypeError::Blank { fallback: None });
            assert_eq!(
                e.to_string(),
                "non-compliant scrape target sending blank Content-Type and no fallback_scrape_protocol specified for target"
            );
        }
        let with_fallback = format_for_content_type(None, Some(ExpositionFormat::Text)).unwrap();
        assert_eq!(with_fallback.format, ExpositionFormat::Text);
        assert_eq!(
            with_fallback.fallback_reason.unwrap().to_string(),
            "non-compliant scrape target sending blank Content-Type, using fallback_scrape_protocol \"text/plain\""
        );
    }

    #[test]
    fn unsupported_content_type() {
        for header in [
            "application/json",
            "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
            "text/html; charset=utf-8",
            "text",
            "text/plain-ish",
        ] {
            let e = chosen(Some(header)).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("received unsupported Content-Type {header:?} and no fallback_scrape_protocol specified for target")
            );
        }
        let negotiated = format_for_content_type(
            Some("application/json"),
            Some(ExpositionFormat::OpenMetrics),
        )
        .unwrap();
        assert_eq!(negotiated.format, ExpositionFormat::OpenMetrics);
        assert_eq!(
            negotiated.fallback_reason.unwrap().to_string(),
            "received unsupported Content-Type \"application/json\", using fallback_scrape_protocol \"application/openmetrics-text\""
        );
    }

    #[test]
    fn unparsable_content_type() {
        for (header, reason) in [
            ("/plain", "mime: no media type"),
            ("   ", "mime: no media type"),
            ("text plain", "mime: expected slash after first token"),
            ("text/", "mime: expected token after slash"),
            (
                "text/plain garbage",
                "mime: unexpected content after media subtype",
            ),
            ("text/plain; version", "mime: invalid media parameter"),
            ("text/plain; =1", "mime: invalid media parameter"),
            ("text/plain; version=\"1", "mime: invalid media parameter"),
            ("text/plain; a=1 b=2", "mime: invalid media parameter"),
            ("text/plain; a=1; A=2", "mime: duplicate parameter name"),
        ] {
            let e = chosen(Some(header)).unwrap_err();
            assert_eq!(
                e,
                ContentTypeError::Unparsable {
                    content_type: header.to_string(),
                    reason: reason.to_string(),
                    fallback: None
                },
                "{header}"
            );
            assert_eq!(
                e.to_string(),
                format!("cannot parse Content-Type {header:?} and no fallback_scrape_protocol for target\n{reason}")
            );
        }
        let negotiated =
            format_for_content_type(Some("text/"), Some(ExpositionFormat::Text)).unwrap();
        assert_eq!(negotiated.format, ExpositionFormat::Text);
        assert_eq!(
            negotiated.fallback_reason.unwrap().to_string(),
            "could not parse received Content-Type \"text/\", using fallback_scrape_protocol \"text/plain\"\nmime: expected token after slash"
        );
    }

    #[test]
    fn supported_type_ignores_the_fallback() {
        let negotiated = format_for_content_type(
            Some("application/openmetrics-text; version=1.0.0"),
            Some(ExpositionFormat::Text),
        );
        assert_eq!(negotiated, ok(ExpositionFormat::OpenMetrics));
    }

    #[test]
    fn dispatcher_picks_the_parser() {
        let om = "# TYPE a counter\na_total 1 # {x=\"y\"} 2\n# EOF\n";
        let expo = parse(ExpositionFormat::OpenMetrics, om).unwrap();
        assert_eq!(expo.format, ExpositionFormat::OpenMetrics);
        assert_eq!(expo.samples.len(), 1);
        assert_eq!(expo.exemplars.len(), 1);
        // The same body is not valid text format (the exemplar is trailing garbage there).
        assert!(parse(ExpositionFormat::Text, om).is_err());

        let text = "a 1 1000\n";
        let expo = parse(ExpositionFormat::Text, text).unwrap();
        assert_eq!(expo.format, ExpositionFormat::Text);
        assert_eq!(expo.samples[0].timestamp_ms, Some(1000));
        let e = parse(ExpositionFormat::OpenMetrics, text).unwrap_err();
        assert_eq!(e.message, "data does not end with # EOF");
    }

    #[test]
    fn media_types() {
        assert_eq!(ExpositionFormat::Text.media_type(), "text/plain");
        assert_eq!(
            ExpositionFormat::OpenMetrics.to_string(),
            "application/openmetrics-text"
        );
        assert_eq!(ExpositionFormat::default(), ExpositionFormat::Text);
    }
}
