//! Scrape targets: where to scrape, which labels the scraped series get, and how the last
//! scrape went.

use std::time::{Duration, SystemTime};

use narthex_config::{Config, ScrapeConfig};
use narthex_model::Labels;

/// One endpoint of one scrape pool.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// The scrape pool (`job_name`).
    pub job: String,
    pub url: String,
    /// The labels every series from this target gets: `job`, `instance` and static labels.
    pub labels: Labels,
    pub interval: Duration,
    pub timeout: Duration,
    pub honor_labels: bool,
    pub honor_timestamps: bool,
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

/// What the targets API shows about a target.
#[derive(Clone, Debug)]
pub struct TargetStatus {
    pub target: Target,
    pub health: TargetHealth,
    pub last_error: String,
    pub last_scrape: Option<SystemTime>,
    pub last_scrape_duration: Duration,
}

impl Target {
    /// The targets of one scrape config (static targets only in this slice).
    pub fn from_scrape_config(scrape: &ScrapeConfig) -> Vec<Target> {
        let mut targets = Vec::new();
        for group in &scrape.static_configs {
            for address in &group.targets {
                let address = address.0.as_str();
                let mut labels = Labels::from_pairs(
                    group
                        .labels
                        .iter()
                        .map(|(name, value)| (name.0.clone(), value.clone())),
                )
                .to_builder();
                // As in Prometheus, static labels may set `job` and `instance` themselves.
                if labels.get("job").is_none() {
                    labels.set("job", scrape.job_name.clone());
                }
                if labels.get("instance").is_none() {
                    labels.set("instance", address.to_string());
                }
                targets.push(Target {
                    job: scrape.job_name.clone(),
                    url: format!(
                        "{}://{}{}",
                        scrape.scheme.as_str(),
                        address,
                        scrape.metrics_path
                    ),
                    labels: labels.build(),
                    interval: scrape.interval().as_std(),
                    timeout: scrape.timeout().as_std(),
                    honor_labels: scrape.honor_labels,
                    honor_timestamps: scrape.honor_timestamps,
                });
            }
        }
        targets
    }

    /// Every target of a configuration, in configuration order.
    pub fn all_from_config(config: &Config) -> Vec<Target> {
        config
            .scrape_configs
            .iter()
            .flat_map(Target::from_scrape_config)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_get_job_instance_and_static_labels() {
        let config = Config::parse(
            "global: {scrape_interval: 10s}\nscrape_configs:\n - job_name: node\n   metrics_path: /m\n   static_configs:\n   - targets: ['a:9100', 'b:9100']\n     labels: {env: prod}
   - targets: ['c:1']
     labels: {job: custom}\n",
            "x",
        )
        .unwrap();
        let targets = Target::all_from_config(&config);
        assert_eq!(targets.len(), 3);
        assert_eq!(targets[2].labels.get("job"), Some("custom"));
        assert_eq!(targets[0].url, "http://a:9100/m");
        assert_eq!(
            targets[0].labels,
            Labels::from_pairs([("env", "prod"), ("instance", "a:9100"), ("job", "node")])
        );
        assert_eq!(targets[1].interval, Duration::from_secs(10));
    }
}
