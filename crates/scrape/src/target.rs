//! Scrape targets: how a discovered label set becomes a target (Prometheus's `PopulateLabels`:
//! defaults, relabeling, address and interval checks), the target's URL, and how its last scrape
//! went as the targets API shows it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use narthex_config::ScrapeConfig;
use narthex_model::duration::parse_duration;
use narthex_model::{Labels, LabelsBuilder};

pub const ADDRESS_LABEL: &str = "__address__";
pub const SCHEME_LABEL: &str = "__scheme__";
pub const METRICS_PATH_LABEL: &str = "__metrics_path__";
pub const SCRAPE_INTERVAL_LABEL: &str = "__scrape_interval__";
pub const SCRAPE_TIMEOUT_LABEL: &str = "__scrape_timeout__";
pub const PARAM_LABEL_PREFIX: &str = "__param_";
pub const META_LABEL_PREFIX: &str = "__meta_";
const RESERVED_LABEL_PREFIX: &str = "__";

/// One endpoint of one scrape pool.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// The scrape pool (`job_name`).
    pub pool: String,
    pub url: String,
    /// The labels every series from this target gets (no `__` labels).
    pub labels: Labels,
    /// The labels after relabeling, `__` labels included (`__address__`, `__param_*`, ...).
    pub internal_labels: Labels,
    /// The labels discovery produced, with the pool's defaults, before relabeling.
    pub discovered_labels: Labels,
    pub interval: Duration,
    pub timeout: Duration,
}

impl Target {
    /// Identifies a target across reloads: the same labels, URL and timing keep a running loop.
    pub fn identity(&self) -> (&Labels, &str, Duration, Duration) {
        (
            &self.internal_labels,
            &self.url,
            self.interval,
            self.timeout,
        )
    }
}

/// A discovered target that relabeling dropped, kept for the API.
#[derive(Clone, Debug, PartialEq)]
pub struct DroppedTarget {
    pub pool: String,
    pub discovered_labels: Labels,
}

/// What became of one discovered label set.
#[derive(Debug, PartialEq)]
pub enum Populated {
    Active(Target),
    Dropped(DroppedTarget),
}

/// Applies the pool's relabeling to a label set; `None` drops it. The scrape manager passes
/// `relabel_configs`; tests pass anything.
pub type Relabel<'a> = &'a dyn Fn(&Labels) -> Option<Labels>;

/// Builds a target from one discovered label set, as Prometheus's `PopulateLabels` and
/// `NewTarget` do (Prometheus 3: no default port is added).
pub fn populate(
    discovered: &Labels,
    config: &ScrapeConfig,
    relabel: Relabel<'_>,
) -> Result<Populated, String> {
    let mut builder = discovered.to_builder();
    let defaults = [
        ("job", config.job_name.clone()),
        (SCRAPE_INTERVAL_LABEL, config.interval().to_string()),
        (SCRAPE_TIMEOUT_LABEL, config.timeout().to_string()),
        (METRICS_PATH_LABEL, config.metrics_path.clone()),
        (SCHEME_LABEL, config.scheme.as_str().to_string()),
    ];
    for (name, value) in defaults {
        if discovered.get(name).is_none() {
            builder.set(name, value);
        }
    }
    // A `__param_*` label from discovery wins over the config's parameter, as in Prometheus.
    for (name, values) in &config.params {
        let label = format!("{PARAM_LABEL_PREFIX}{name}");
        if let (Some(first), None) = (values.first(), discovered.get(&label)) {
            builder.set(label, first.clone());
        }
    }
    let pre_relabel = builder.build();
    let Some(relabeled) = relabel(&pre_relabel) else {
        return Ok(Populated::Dropped(DroppedTarget {
            pool: config.job_name.clone(),
            discovered_labels: pre_relabel,
        }));
    };
    let address = relabeled
        .get(ADDRESS_LABEL)
        .ok_or_else(|| "no address".to_string())?
        .to_string();
    check_address(&address)?;
    let interval_text = relabeled.get(SCRAPE_INTERVAL_LABEL).unwrap_or("");
    let interval =
        parse_duration(interval_text).map_err(|e| format!("error parsing scrape interval: {e}"))?;
    if interval == 0 {
        return Err("scrape interval cannot be 0".into());
    }
    let timeout_text = relabeled.get(SCRAPE_TIMEOUT_LABEL).unwrap_or("");
    let timeout =
        parse_duration(timeout_text).map_err(|e| format!("error parsing scrape timeout: {e}"))?;
    if timeout == 0 {
        return Err("scrape timeout cannot be 0".into());
    }
    if timeout > interval {
        return Err(format!(
            "scrape timeout cannot be greater than scrape interval ({timeout_text:?} > {interval_text:?})"
        ));
    }
    // Meta labels go after relabeling; other `__` labels stay on the target for its URL.
    let mut internal = LabelsBuilder::with_capacity(relabeled.len() + 1);
    for label in relabeled.iter() {
        if !label.name.starts_with(META_LABEL_PREFIX) {
            internal.set(label.name.clone(), label.value.clone());
        }
    }
    if internal.get("instance").is_none() {
        internal.set("instance", address.clone());
    }
    let internal = internal.build();
    let url = target_url(&internal, &config.params)?;
    let labels = internal.filtered(|l| !l.name.starts_with(RESERVED_LABEL_PREFIX));
    Ok(Populated::Active(Target {
        pool: config.job_name.clone(),
        url,
        labels,
        internal_labels: internal,
        discovered_labels: pre_relabel,
        interval: Duration::from_millis(interval as u64),
        timeout: Duration::from_millis(timeout as u64),
    }))
}

/// Prometheus's `CheckTargetAddress`: a host and optional port, no scheme or path.
fn check_address(address: &str) -> Result<(), String> {
    if address.contains('/') || address.is_empty() || address.chars().any(char::is_whitespace) {
        return Err(format!("{address:?} is not a valid hostname"));
    }
    Ok(())
}

/// `scheme://address/path?params`, with `__param_*` labels overriding the first value of the
/// config's parameter of the same name, as Prometheus's `Target.URL`.
fn target_url(
    labels: &Labels,
    config_params: &BTreeMap<String, Vec<String>>,
) -> Result<String, String> {
    let mut params = config_params.clone();
    for label in labels.iter() {
        if let Some(name) = label.name.strip_prefix(PARAM_LABEL_PREFIX) {
            match params.get_mut(name) {
                Some(values) if !values.is_empty() => values[0] = label.value.to_string(),
                _ => {
                    params.insert(name.to_string(), vec![label.value.to_string()]);
                }
            }
        }
    }
    let scheme = labels.get(SCHEME_LABEL).unwrap_or("http");
    let address = labels.get(ADDRESS_LABEL).unwrap_or("");
    let path = labels.get(METRICS_PATH_LABEL).unwrap_or("");
    // Written out rather than through `Url`, which would drop a default port (`:443`) that
    // Prometheus keeps in `scrapeUrl`; the parse checks that the result is a URL at all.
    let mut url = format!("{scheme}://{address}{path}");
    if !params.is_empty() {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, values) in &params {
            for value in values {
                query.append_pair(name, value);
            }
        }
        url.push('?');
        url.push_str(&query.finish());
    }
    reqwest::Url::parse(&url).map_err(|e| format!("invalid target URL {url}: {e}"))?;
    Ok(url)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetHealth {
    Unknown,
    Up,
    Down,
}

impl TargetHealth {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetHealth::Unknown => "unknown",
            TargetHealth::Up => "up",
            TargetHealth::Down => "down",
        }
    }
}

/// One metric family's metadata as a target last exposed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricMetadata {
    pub metric_type: String,
    pub help: String,
    pub unit: String,
}

/// What the targets API shows about a target.
#[derive(Clone, Debug)]
pub struct TargetStatus {
    pub target: Target,
    pub health: TargetHealth,
    pub last_error: String,
    pub last_scrape: Option<SystemTime>,
    pub last_scrape_duration: Duration,
    /// The metadata of the last successful scrape, by metric family name.
    pub metadata: Arc<BTreeMap<String, MetricMetadata>>,
}

impl TargetStatus {
    pub fn new(target: Target) -> TargetStatus {
        TargetStatus {
            target,
            health: TargetHealth::Unknown,
            last_error: String::new(),
            last_scrape: None,
            last_scrape_duration: Duration::ZERO,
            metadata: Arc::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use narthex_config::Config;

    fn scrape_config(yaml: &str) -> ScrapeConfig {
        Config::parse(yaml, "x").unwrap().scrape_configs.remove(0)
    }

    fn keep(labels: &Labels) -> Option<Labels> {
        Some(labels.clone())
    }

    fn active(result: Result<Populated, String>) -> Target {
        match result {
            Ok(Populated::Active(target)) => target,
            other => panic!("expected an active target, got {other:?}"),
        }
    }

    #[test]
    fn defaults_instance_url_and_meta_labels_as_prometheus() {
        let config = scrape_config(
            "global: {scrape_interval: 10s}\nscrape_configs:\n - job_name: node\n   metrics_path: /m\n   params: {module: [a, b], x: ['y z']}\n",
        );
        let discovered = Labels::from_pairs([
            ("__address__", "a:9100"),
            ("__meta_filepath", "/f.yml"),
            ("env", "prod"),
        ]);
        let target = active(populate(&discovered, &config, &keep));
        assert_eq!(
            target.labels,
            Labels::from_pairs([("env", "prod"), ("instance", "a:9100"), ("job", "node")])
        );
        assert_eq!(target.url, "http://a:9100/m?module=a&module=b&x=y+z");
        assert_eq!(target.interval, Duration::from_secs(10));
        assert_eq!(
            target.discovered_labels.get("__meta_filepath"),
            Some("/f.yml")
        );
        assert_eq!(target.discovered_labels.get("__param_module"), Some("a"));
        assert_eq!(
            target.discovered_labels.get("__scrape_interval__"),
            Some("10s")
        );
        assert_eq!(target.internal_labels.get("__meta_filepath"), None);
    }

    #[test]
    fn relabeled_internal_labels_shape_the_url_and_timing() {
        let config = scrape_config("scrape_configs:\n - job_name: j\n   params: {module: [a]}\n");
        let relabel = |l: &Labels| {
            let mut b = l.to_builder();
            b.set("__scheme__", "https");
            b.set("__metrics_path__", "/probe");
            b.set("__param_module", "b");
            b.set("__param_target", "x");
            b.set("__scrape_interval__", "5s");
            b.set("__scrape_timeout__", "2s");
            b.set("instance", "custom");
            Some(b.build())
        };
        let discovered = Labels::from_pairs([("__address__", "h:1")]);
        let target = active(populate(&discovered, &config, &relabel));
        assert_eq!(target.url, "https://h:1/probe?module=b&target=x");
        assert_eq!(target.labels.get("instance"), Some("custom"));
        assert_eq!(
            (target.interval, target.timeout),
            (Duration::from_secs(5), Duration::from_secs(2))
        );
    }

    #[test]
    fn bad_targets_are_errors_and_drops_keep_discovered_labels() {
        let config = scrape_config("scrape_configs:\n - job_name: j\n");
        let no_address = Labels::from_pairs([("x", "y")]);
        assert_eq!(
            populate(&no_address, &config, &keep),
            Err("no address".into())
        );
        let slash = Labels::from_pairs([("__address__", "http://h:1")]);
        assert!(populate(&slash, &config, &keep)
            .unwrap_err()
            .contains("not a valid hostname"));
        let too_slow = |l: &Labels| {
            let mut b = l.to_builder();
            b.set("__scrape_timeout__", "2m");
            Some(b.build())
        };
        let ok = Labels::from_pairs([("__address__", "h:1")]);
        let err = populate(&ok, &config, &too_slow).unwrap_err();
        assert!(
            err.contains("cannot be greater than scrape interval"),
            "{err}"
        );
        let drop = |_: &Labels| None;
        match populate(&ok, &config, &drop) {
            Ok(Populated::Dropped(dropped)) => {
                assert_eq!(dropped.discovered_labels.get("job"), Some("j"));
                assert_eq!(dropped.discovered_labels.get("__address__"), Some("h:1"));
            }
            other => panic!("{other:?}"),
        }
    }
}
