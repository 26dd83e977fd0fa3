//! Property tests: no input makes the exposition parsers (or the Content-Type negotiation) panic,
//! and what they return is consistent with the input. Valid OpenMetrics documents are generated,
//! checked to parse completely, then mutated a few characters at a time so most cases land just
//! beside the grammar, where parser bugs live.

use narthex_model::exposition::{
    format_for_content_type, parse_openmetrics, parse_text, Exposition, ExpositionFormat,
};
use proptest::prelude::*;

/// Invariants of a successful parse: everything borrowed points into the input, line numbers
/// exist, exemplars belong to samples, metadata is sorted for `metadata_for`.
fn check_consistent(input: &str, expo: &Exposition<'_>) {
    let range = input.as_bytes().as_ptr_range();
    let lines = input.split('\n').count();
    for s in &expo.samples {
        assert!(range.contains(&s.series_text.as_ptr()), "{s:?}");
        assert!(s.series_text.starts_with(s.name));
        assert!(s.line >= 1 && s.line <= lines, "{s:?}");
        for (name, _) in &s.labels {
            assert!(range.contains(&name.as_ptr()));
        }
    }
    for e in &expo.exemplars {
        assert!(e.sample < expo.samples.len());
    }
    assert!(expo.metadata.windows(2).all(|w| w[0].family < w[1].family));
    for m in &expo.metadata {
        assert_eq!(expo.metadata_for(m.family), Some(m));
    }
}

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z_:][a-zA-Z0-9_:]{0,12}"
}

fn label_value() -> impl Strategy<Value = String> {
    // Includes the escapes and characters that matter to the label scanner.
    r#"([a-z0-9 .,{}=#/+-]|\\\\|\\"|\\n|é|✓){0,10}"#
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u32..100_000).prop_map(|v| v.to_string()),
        any::<f64>().prop_map(|v| format!("{v:?}")),
        Just("+Inf".to_string()),
        Just("-Inf".to_string()),
        Just("NaN".to_string()),
        (0u32..1000, 0u32..1000).prop_map(|(a, b)| format!("{a}.{b}e-3")),
    ]
}

fn labels() -> impl Strategy<Value = String> {
    prop::collection::vec(("[a-zA-Z_][a-zA-Z0-9_]{0,8}", label_value()), 0..4).prop_map(|pairs| {
        // Distinct names, so the document stays valid.
        let mut seen = std::collections::HashSet::new();
        let body: Vec<_> = pairs
            .into_iter()
            .filter(|(n, _)| n != "__name__" && seen.insert(n.clone()))
            .map(|(n, v)| format!("{n}=\"{v}\""))
            .collect();
        if body.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", body.join(","))
        }
    })
}

/// One valid OpenMetrics line, and whether it is a sample.
fn om_line() -> impl Strategy<Value = (String, bool)> {
    prop_oneof![
        (name(), labels(), number()).prop_map(|(n, l, v)| (format!("{n}{l} {v}"), true)),
        (name(), labels(), number(), -1e10f64..1e10)
            .prop_map(|(n, l, v, t)| (format!("{n}{l} {v} {t}"), true)),
        (name(), labels(), number(), labels(), number()).prop_map(|(n, l, v, el, ev)| {
            let el = if el.is_empty() { "{}".to_string() } else { el };
            (format!("{n}{l} {v} # {el} {ev}"), true)
        }),
        (name(), labels(), number(), labels(), number(), 0f64..2e9).prop_map(
            |(n, l, v, el, ev, et)| {
                let el = if el.is_empty() { "{}".to_string() } else { el };
                (format!("{n}{l} {v} 1.5 # {el} {ev} {et}"), true)
            }
        ),
    ]
}

/// A valid document: a few families with metadata, then sample lines, then `# EOF`.
fn om_document() -> impl Strategy<Value = (String, usize)> {
    let family = (
        "[a-z][a-z0-9_]{0,10}",
        prop::sample::select(vec![
            "counter",
            "gauge",
            "histogram",
            "gaugehistogram",
            "summary",
            "info",
            "stateset",
            "unknown",
        ]),
        label_value(),
        prop::collection::vec(om_line(), 0..6),
    );
    prop::collection::vec(family, 0..5).prop_map(|families| {
        let mut doc = String::new();
        let mut samples = 0;
        let mut seen = std::collections::HashSet::new();
        for (i, (family, kind, help, lines)) in families.into_iter().enumerate() {
            // Unique family names, so no second HELP/TYPE line.
            let family = format!("{family}_{i}");
            if !seen.insert(family.clone()) {
                continue;
            }
            doc.push_str(&format!("# HELP {family} {help}\n# TYPE {family} {kind}\n"));
            doc.push_str(&format!("# UNIT {family}_seconds seconds\n"));
            for (line, is_sample) in lines {
                doc.push_str(&line);
                doc.push('\n');
                samples += usize::from(is_sample);
            }
        }
        doc.push_str("# EOF\n");
        (doc, samples)
    })
}

/// Characters a mutation inserts: the grammar's delimiters and some that never belong.
fn mutation_char() -> impl Strategy<Value = char> {
    prop::sample::select(vec![
        ' ', '\t', '\n', '\r', '{', '}', '"', '\\', '=', ',', '#', '.', 'e', '+', '-', '_', '0',
        'a', 'é', '\u{0}', 'E', 'O', 'F',
    ])
}

fn mutate(doc: &str, edits: &[(usize, u8, char)]) -> String {
    let mut chars: Vec<char> = doc.chars().collect();
    for &(at, kind, ch) in edits {
        if chars.is_empty() {
            chars.push(ch);
            continue;
        }
        let at = at % chars.len();
        match kind % 3 {
            0 => chars.insert(at, ch),
            1 => {
                chars.remove(at);
            }
            _ => chars[at] = ch,
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn generated_documents_parse_completely((doc, samples) in om_document()) {
        let expo = parse_openmetrics(&doc)
            .unwrap_or_else(|e| panic!("valid document failed: {e}\n{doc}"));
        prop_assert_eq!(expo.samples.len(), samples);
        check_consistent(&doc, &expo);
    }

    #[test]
    fn mutated_documents_never_panic(
        (doc, _) in om_document(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), mutation_char()), 1..4),
    ) {
        let input = mutate(&doc, &edits);
        match parse_openmetrics(&input) {
            Ok(expo) => check_consistent(&input, &expo),
            Err(e) => prop_assert!(e.line >= 1 && e.line <= input.split('\n').count() + 1, "{}", e),
        }
        if let Ok(expo) = parse_text(&input) {
            check_consistent(&input, &expo);
        }
    }

    #[test]
    fn arbitrary_text_never_panics(input in any::<String>()) {
        for format in [ExpositionFormat::Text, ExpositionFormat::OpenMetrics] {
            if let Ok(expo) = narthex_model::exposition::parse(format, &input) {
                check_consistent(&input, &expo);
            }
        }
    }

    #[test]
    fn grammar_soup_never_panics(input in r#"([a-z_:{}="\\# ,.0-9\n\r\t+-]|EOF|HELP|TYPE|UNIT|Inf|NaN|le|quantile){0,120}"#) {
        for format in [ExpositionFormat::Text, ExpositionFormat::OpenMetrics] {
            if let Ok(expo) = narthex_model::exposition::parse(format, &input) {
                check_consistent(&input, &expo);
            }
        }
        let with_eof = format!("# TYPE x histogram\n{input}\n# EOF\n");
        if let Ok(expo) = parse_openmetrics(&with_eof) {
            check_consistent(&with_eof, &expo);
        }
    }

    #[test]
    fn content_types_never_panic(
        header in r#"([a-zA-Z/;=" \t,.\\-]|text|plain|openmetrics|version|é){0,40}"#,
        fallback in prop::option::of(prop::sample::select(vec![ExpositionFormat::Text, ExpositionFormat::OpenMetrics])),
    ) {
        match format_for_content_type(Some(&header), fallback) {
            Ok(negotiated) => {
                if let Some(f) = fallback {
                    prop_assert!(negotiated.fallback_reason.is_none() || negotiated.format == f);
                }
            }
            Err(e) => {
                prop_assert!(fallback.is_none());
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }
}
