//! An alert as the rule engine hands it over ([`Alert`]), the relabeling every alert goes
//! through before it is queued (external labels, then `alert_relabel_configs`), and the JSON
//! body of Alertmanager's `POST /api/v2/alerts` that Prometheus sends.
//!
//! The body is written byte for byte as Prometheus's Go code writes it: fields in the order of
//! Alertmanager's `PostableAlert` (`annotations` left out when empty, `generatorURL` when
//! unset), times in RFC 3339 with milliseconds (`strfmt.DateTime`), an unset time as Go's zero
//! time, and `<`, `>`, `&`, U+2028 and U+2029 escaped as Go's `encoding/json` escapes them.

use std::time::{SystemTime, UNIX_EPOCH};

use narthex_config::relabel::{self, RelabelConfig};
use narthex_model::duration::civil_from_days;
use narthex_model::Labels;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

/// One alert, firing or resolved.
///
/// A firing alert carries the time until which it is valid in `ends_at` (Prometheus sets it to
/// a few resend delays ahead, so that the Alertmanager resolves it by itself if the sender
/// dies); a resolved one carries the time it was resolved, which is in the past.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Its identity: `alertname` and the labels of the series and rule.
    pub labels: Labels,
    pub annotations: Labels,
    pub starts_at: SystemTime,
    /// `None` leaves the end to the Alertmanager's `resolve_timeout`.
    pub ends_at: Option<SystemTime>,
    /// Links back to the expression that produced it; empty for none.
    pub generator_url: String,
}

/// Adds the external labels an alert lacks, then applies `relabel_configs`; alerts they drop
/// are left out. Prometheus's `relabelAlerts`.
pub(crate) fn relabel_alerts(
    relabel_configs: &[RelabelConfig],
    external_labels: &[(String, String)],
    alerts: Vec<Alert>,
) -> Vec<Alert> {
    alerts
        .into_iter()
        .filter_map(|mut alert| {
            if external_labels
                .iter()
                .any(|(name, _)| alert.labels.get(name).is_none())
            {
                let mut builder = alert.labels.to_builder();
                for (name, value) in external_labels {
                    if alert.labels.get(name).is_none() {
                        builder.set(name.as_str(), value.as_str());
                    }
                }
                alert.labels = builder.build();
            }
            alert.labels = relabel::process(&alert.labels, relabel_configs)?;
            Some(alert)
        })
        .collect()
}

/// The request body for a batch of alerts.
pub(crate) fn encode(alerts: &[Alert]) -> Result<Vec<u8>, serde_json::Error> {
    let body: Vec<PostableAlert<'_>> = alerts.iter().map(PostableAlert::of).collect();
    serde_json::to_vec(&body).map(escape_as_go)
}

/// Alertmanager's `PostableAlert`, its fields in the order Go writes them.
#[derive(Serialize)]
struct PostableAlert<'a> {
    #[serde(skip_serializing_if = "LabelSet::is_empty")]
    annotations: LabelSet<'a>,
    #[serde(rename = "endsAt")]
    ends_at: String,
    #[serde(rename = "startsAt")]
    starts_at: String,
    #[serde(rename = "generatorURL", skip_serializing_if = "str::is_empty")]
    generator_url: &'a str,
    labels: LabelSet<'a>,
}

impl<'a> PostableAlert<'a> {
    fn of(alert: &'a Alert) -> PostableAlert<'a> {
        PostableAlert {
            annotations: LabelSet(&alert.annotations),
            ends_at: format_time(alert.ends_at),
            starts_at: format_time(Some(alert.starts_at)),
            generator_url: &alert.generator_url,
            labels: LabelSet(&alert.labels),
        }
    }
}

/// A label set as a JSON object; `Labels` is sorted, as Go sorts map keys.
struct LabelSet<'a>(&'a Labels);

impl LabelSet<'_> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for LabelSet<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for label in self.0.iter() {
            map.serialize_entry(&label.name, &label.value)?;
        }
        map.end()
    }
}

/// RFC 3339 with milliseconds in UTC (`2006-01-02T15:04:05.000Z`), as `strfmt.DateTime` writes
/// it; `None` is Go's zero time. Sub-millisecond digits are cut, not rounded, as Go does.
pub(crate) fn format_time(time: Option<SystemTime>) -> String {
    let Some(time) = time else {
        return "0001-01-01T00:00:00.000Z".to_string();
    };
    let millis: i128 = match time.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_millis() as i128,
        // Before 1970: round towards the past so that the fraction stays positive.
        Err(before) => {
            let before = before.duration();
            -(before.as_millis() as i128) - i128::from(before.subsec_nanos() % 1_000_000 != 0)
        }
    };
    let secs = millis.div_euclid(1000) as i64;
    let millis = millis.rem_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Go's `encoding/json` escapes these for HTML; they only occur inside strings in JSON, so a
/// byte-level rewrite cannot touch the structure.
fn escape_as_go(json: Vec<u8>) -> Vec<u8> {
    const LINE_SEPARATOR: &[u8] = "\u{2028}".as_bytes();
    const PARAGRAPH_SEPARATOR: &[u8] = "\u{2029}".as_bytes();
    let needs = json.iter().any(|b| matches!(b, b'<' | b'>' | b'&'))
        || json
            .windows(3)
            .any(|w| w == LINE_SEPARATOR || w == PARAGRAPH_SEPARATOR);
    if !needs {
        return json;
    }
    let mut out = Vec::with_capacity(json.len() + 16);
    let mut i = 0;
    while i < json.len() {
        let rest = &json[i..];
        let (escaped, width): (&[u8], usize) = match json[i] {
            b'<' => (b"\\u003c", 1),
            b'>' => (b"\\u003e", 1),
            b'&' => (b"\\u0026", 1),
            _ if rest.starts_with(LINE_SEPARATOR) => (b"\\u2028", 3),
            _ if rest.starts_with(PARAGRAPH_SEPARATOR) => (b"\\u2029", 3),
            byte => {
                out.push(byte);
                i += 1;
                continue;
            }
        };
        out.extend_from_slice(escaped);
        i += width;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(millis)
    }

    #[test]
    fn times_as_strfmt_writes_them() {
        assert_eq!(
            format_time(Some(at(1_435_781_451_781))),
            "2015-07-01T20:10:51.781Z"
        );
        assert_eq!(
            format_time(Some(at(1_435_781_451_000))),
            "2015-07-01T20:10:51.000Z"
        );
        assert_eq!(
            format_time(Some(UNIX_EPOCH + Duration::from_nanos(1_999_999))),
            "1970-01-01T00:00:00.001Z"
        );
        assert_eq!(
            format_time(Some(UNIX_EPOCH - Duration::from_millis(1))),
            "1969-12-31T23:59:59.999Z"
        );
        assert_eq!(format_time(None), "0001-01-01T00:00:00.000Z");
    }

    #[test]
    fn body_as_prometheus_writes_it() {
        let alerts = [
            Alert {
                labels: Labels::from_pairs([("alertname", "High"), ("a", "<&>")]),
                annotations: Labels::from_pairs([("summary", "x\u{2028}y")]),
                starts_at: at(1_000),
                ends_at: Some(at(61_500)),
                generator_url: "http://p:9090/graph?g0.expr=up".into(),
            },
            Alert {
                labels: Labels::from_pairs([("alertname", "Bare")]),
                annotations: Labels::default(),
                starts_at: at(0),
                ends_at: None,
                generator_url: String::new(),
            },
        ];
        let body = String::from_utf8(encode(&alerts).unwrap()).unwrap();
        assert_eq!(
            body,
            concat!(
                r#"[{"annotations":{"summary":"x\u2028y"},"endsAt":"1970-01-01T00:01:01.500Z","#,
                r#""startsAt":"1970-01-01T00:00:01.000Z","generatorURL":"http://p:9090/graph?g0.expr=up","#,
                r#""labels":{"a":"\u003c\u0026\u003e","alertname":"High"}},"#,
                r#"{"endsAt":"0001-01-01T00:00:00.000Z","startsAt":"1970-01-01T00:00:00.000Z","#,
                r#""labels":{"alertname":"Bare"}}]"#
            )
        );
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed[0]["labels"]["a"], "<&>");
        assert_eq!(parsed[0]["annotations"]["summary"], "x\u{2028}y");
    }

    #[test]
    fn external_labels_fill_gaps_before_relabeling() {
        let alert = |pairs: &[(&str, &str)]| Alert {
            labels: Labels::from_pairs(pairs.iter().copied()),
            annotations: Labels::default(),
            starts_at: at(0),
            ends_at: None,
            generator_url: String::new(),
        };
        let external = [
            ("cluster".to_string(), "eu".to_string()),
            ("env".to_string(), "prod".to_string()),
        ];
        let rules: Vec<RelabelConfig> = serde_yaml_rules(
            "- source_labels: [env]\n  regex: staging\n  action: drop\n- target_label: via\n  replacement: narthex\n",
        );
        let out = relabel_alerts(
            &rules,
            &external,
            vec![
                alert(&[("alertname", "A")]),
                alert(&[("alertname", "B"), ("env", "staging")]),
                alert(&[("alertname", "C"), ("cluster", "us")]),
            ],
        );
        let labels: Vec<String> = out.iter().map(|a| a.labels.to_string()).collect();
        assert_eq!(
            labels,
            [
                r#"{alertname="A", cluster="eu", env="prod", via="narthex"}"#,
                r#"{alertname="C", cluster="us", env="prod", via="narthex"}"#,
            ]
        );
    }

    fn serde_yaml_rules(yaml: &str) -> Vec<RelabelConfig> {
        let text = format!(
            "alerting:\n  alert_relabel_configs:\n{}",
            yaml.lines()
                .map(|l| format!("    {l}\n"))
                .collect::<String>()
        );
        narthex_config::Config::parse(&text, "t")
            .unwrap()
            .alerting
            .alert_relabel_configs
    }
}
