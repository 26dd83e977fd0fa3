//! Alertmanager sets: the Alertmanagers one `alertmanagers` entry discovers, each turned into
//! the URL alerts are posted to by the entry's `relabel_configs`, as Prometheus's
//! `alertmanagerSet` and `AlertmanagerFromGroup` do.
//!
//! Every discovered target starts with its own labels, `__scheme__` (the entry's scheme) and
//! `__alerts_path__` (`path_prefix` joined with `/api/v2/alerts`), then the group's labels it
//! lacks. Relabeling may change any of them; `<__scheme__>://<__address__><__alerts_path__>` is
//! the URL. A target that relabeling drops is kept, by its URL before relabeling, for
//! `/api/v1/alertmanagers`. An address holding a `/` spoils its whole group, as in Prometheus.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use narthex_config::relabel;
use narthex_config::AlertmanagerConfig;
use narthex_discovery::{
    Discovery, DiscoveryHandle, DiscoveryOptions, HttpClient, SdConfigs, TargetGroup, ADDRESS_LABEL,
};
use narthex_model::{Labels, LabelsBuilder};
use tokio::task::AbortHandle;

use crate::metrics::Counters;
use crate::{NotifierError, NotifierOptions};

const SCHEME_LABEL: &str = "__scheme__";
const PATH_LABEL: &str = "__alerts_path__";

/// The running discovery of one `alertmanagers` entry and what it found. Dropping it stops the
/// discovery and the per-Alertmanager metrics of what it had.
pub(crate) struct AlertmanagerSet {
    pub(crate) config: AlertmanagerConfig,
    pub(crate) client: HttpClient,
    targets: Arc<Mutex<Targets>>,
    counters: Arc<Counters>,
    _discovery: DiscoveryHandle,
    sync_task: AbortHandle,
}

#[derive(Default)]
struct Targets {
    active: Vec<String>,
    dropped: Vec<String>,
    /// Set when the set is dropped, so that a sync already under way changes nothing after.
    closed: bool,
}

fn lock(targets: &Mutex<Targets>) -> MutexGuard<'_, Targets> {
    // Each sync replaces the lists whole.
    targets.lock().unwrap_or_else(PoisonError::into_inner)
}

impl AlertmanagerSet {
    /// Builds the client and starts discovery; static Alertmanagers are active on return.
    pub(crate) fn start(
        index: usize,
        config: &AlertmanagerConfig,
        options: &NotifierOptions,
        counters: Arc<Counters>,
    ) -> Result<AlertmanagerSet, NotifierError> {
        let client_config = config
            .http_client()
            .map_err(|message| NotifierError::InvalidConfig { index, message })?;
        let client = HttpClient::new(&client_config, &options.user_agent)
            .map_err(|source| NotifierError::HttpClient { index, source })?;
        // Prometheus names the notifier's discovery pools so.
        let pool = format!("config-{index}");
        let discovery = Discovery::start(
            SdConfigs::of_alertmanager(config),
            DiscoveryOptions {
                pool: pool.clone(),
                user_agent: options.user_agent.clone(),
                dns_servers: options.dns_servers.clone(),
                metrics: options.sd_metrics.clone(),
            },
        );
        let targets = Arc::new(Mutex::new(Targets::default()));
        let mut groups = discovery.subscribe();
        let first = groups.borrow_and_update().clone();
        sync(config, &first, &targets, &counters, &pool);

        let task = {
            let (config, targets, counters) = (config.clone(), targets.clone(), counters.clone());
            // Ends by itself when the discovery's channel closes (static configs only).
            tokio::spawn(async move {
                while groups.changed().await.is_ok() {
                    let latest = groups.borrow_and_update().clone();
                    sync(&config, &latest, &targets, &counters, &pool);
                }
            })
        };
        Ok(AlertmanagerSet {
            config: config.clone(),
            client,
            targets,
            counters,
            _discovery: discovery,
            sync_task: task.abort_handle(),
        })
    }

    pub(crate) fn active(&self) -> Vec<String> {
        lock(&self.targets).active.clone()
    }

    pub(crate) fn dropped(&self) -> Vec<String> {
        lock(&self.targets).dropped.clone()
    }
}

impl Drop for AlertmanagerSet {
    fn drop(&mut self) {
        self.sync_task.abort();
        let mut targets = lock(&self.targets);
        targets.closed = true;
        for url in std::mem::take(&mut targets.active) {
            self.counters.release(&url);
        }
    }
}

/// Replaces the set's Alertmanagers by those of `groups`, deduplicated by URL.
fn sync(
    config: &AlertmanagerConfig,
    groups: &[TargetGroup],
    targets: &Mutex<Targets>,
    counters: &Counters,
    pool: &str,
) {
    let mut active: Vec<String> = Vec::new();
    let mut dropped = Vec::new();
    for group in groups {
        match from_group(group, config) {
            Ok((kept, gone)) => {
                for url in kept {
                    if !active.contains(&url) {
                        active.push(url);
                    }
                }
                dropped.extend(gone);
            }
            Err(error) => {
                tracing::error!(pool, source = %group.source, %error, "creating discovered Alertmanagers failed");
            }
        }
    }
    let mut targets = lock(targets);
    if targets.closed {
        return;
    }
    for url in active.iter().filter(|url| !targets.active.contains(url)) {
        counters.acquire(url);
    }
    for url in targets.active.iter().filter(|url| !active.contains(url)) {
        counters.release(url);
    }
    targets.active = active;
    targets.dropped = dropped;
}

/// The URLs of a group's Alertmanagers: kept, and dropped by relabeling.
fn from_group(
    group: &TargetGroup,
    config: &AlertmanagerConfig,
) -> Result<(Vec<String>, Vec<String>), String> {
    let path = post_path(&config.path_prefix, config.api_version.as_str());
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    for target in &group.targets {
        let mut builder = LabelsBuilder::with_capacity(target.len() + group.labels.len() + 2);
        for (name, value) in target {
            builder.set(name.as_str(), value.as_str());
        }
        builder.set(SCHEME_LABEL, config.scheme.as_str());
        builder.set(PATH_LABEL, path.as_str());
        for (name, value) in &group.labels {
            if !target.contains_key(name) {
                builder.set(name.as_str(), value.as_str());
            }
        }
        let discovered = builder.build();
        match relabel::process(&discovered, &config.relabel_configs) {
            None => dropped.push(url_of(&discovered)),
            Some(labels) => {
                let address = labels.get(ADDRESS_LABEL).unwrap_or("");
                if address.contains('/') {
                    return Err(format!("{address:?} is not a valid hostname"));
                }
                kept.push(url_of(&labels));
            }
        }
    }
    Ok((kept, dropped))
}

/// `scheme://address/path`, as Go's `url.URL{Scheme, Host, Path}.String()` writes it.
fn url_of(labels: &Labels) -> String {
    let scheme = labels.get(SCHEME_LABEL).unwrap_or("");
    let host = labels.get(ADDRESS_LABEL).unwrap_or("");
    let path = labels.get(PATH_LABEL).unwrap_or("");
    let slash = if !path.is_empty() && !path.starts_with('/') {
        "/"
    } else {
        ""
    };
    format!("{scheme}://{host}{slash}{path}")
}

/// Go's `path.Join("/", prefix, "/api/<version>/alerts")`: slashes collapsed, `.` and `..`
/// resolved, no trailing slash.
fn post_path(prefix: &str, version: &str) -> String {
    let endpoint = format!("/api/{version}/alerts");
    let mut parts: Vec<&str> = Vec::new();
    for part in prefix.split('/').chain(endpoint.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn post_paths_as_go_joins_them() {
        assert_eq!(post_path("/", "v2"), "/api/v2/alerts");
        assert_eq!(post_path("", "v2"), "/api/v2/alerts");
        assert_eq!(post_path("am", "v2"), "/am/api/v2/alerts");
        assert_eq!(post_path("/a//b/", "v2"), "/a/b/api/v2/alerts");
        assert_eq!(post_path("/a/../b/./", "v2"), "/b/api/v2/alerts");
    }

    fn config(yaml: &str) -> AlertmanagerConfig {
        let text = format!(
            "alerting:\n  alertmanagers:\n  - {}",
            yaml.replace('\n', "\n    ")
        );
        narthex_config::Config::parse(&text, "t")
            .unwrap()
            .alerting
            .alertmanagers
            .remove(0)
    }

    fn group(addresses: &[&str], labels: &[(&str, &str)]) -> TargetGroup {
        TargetGroup {
            source: "0".into(),
            targets: addresses
                .iter()
                .map(|a| BTreeMap::from([(ADDRESS_LABEL.to_string(), a.to_string())]))
                .collect(),
            labels: labels
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn relabeling_shapes_and_drops_alertmanagers() {
        let config = config(
            "scheme: https\npath_prefix: /prefix\nrelabel_configs:\n- source_labels: [dc]\n  regex: west\n  action: drop\n- source_labels: [__address__]\n  regex: 'b:.*'\n  target_label: __alerts_path__\n  replacement: /other/api/v2/alerts\n",
        );
        let (kept, dropped) =
            from_group(&group(&["a:9093", "b:9093"], &[("dc", "east")]), &config).unwrap();
        assert_eq!(
            kept,
            [
                "https://a:9093/prefix/api/v2/alerts",
                "https://b:9093/other/api/v2/alerts"
            ]
        );
        assert!(dropped.is_empty());
        let (kept, dropped) = from_group(&group(&["c:1"], &[("dc", "west")]), &config).unwrap();
        assert!(kept.is_empty());
        assert_eq!(dropped, ["https://c:1/prefix/api/v2/alerts"]);
    }

    #[test]
    fn a_path_in_the_address_spoils_the_group() {
        let config =
            config("relabel_configs:\n- target_label: __address__\n  replacement: 'x:1/api'\n");
        let err = from_group(&group(&["a:1"], &[]), &config).unwrap_err();
        assert_eq!(err, "\"x:1/api\" is not a valid hostname");
    }

    #[test]
    fn sync_deduplicates_and_tracks_metrics() {
        let config = config("static_configs: []\n");
        let targets = Mutex::new(Targets::default());
        let counters = Counters::default();
        let groups = [group(&["a:1", "a:1"], &[]), group(&["b:2"], &[])];
        sync(&config, &groups, &targets, &counters, "p");
        assert_eq!(
            lock(&targets).active,
            ["http://a:1/api/v2/alerts", "http://b:2/api/v2/alerts"]
        );
        assert_eq!(counters.per_alertmanager().len(), 2);
        sync(&config, &groups[1..], &targets, &counters, "p");
        let urls: Vec<_> = counters
            .per_alertmanager()
            .into_iter()
            .map(|m| m.url)
            .collect();
        assert_eq!(urls, ["http://b:2/api/v2/alerts"]);
    }
}
