//! The names the editor completes (metric names with their metadata, label names and values
//! per metric), fetched from the API on first need and kept for the page's lifetime.

use std::collections::{BTreeMap, HashMap, HashSet};

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{self, MetricMetadata};

/// Shared by every editor of the page (a context).
#[derive(Clone, Copy)]
pub struct NameCache {
    pub metrics: RwSignal<Vec<String>>,
    pub metadata: RwSignal<BTreeMap<String, Vec<MetricMetadata>>>,
    /// Label names by metric ("" for all series).
    pub labels: RwSignal<HashMap<String, Vec<String>>>,
    /// Label values by (metric, label).
    pub values: RwSignal<HashMap<(String, String), Vec<String>>>,
    requested: StoredValue<HashSet<String>>,
}

impl NameCache {
    pub fn install() -> NameCache {
        let cache = NameCache {
            metrics: RwSignal::new(Vec::new()),
            metadata: RwSignal::new(BTreeMap::new()),
            labels: RwSignal::new(HashMap::new()),
            values: RwSignal::new(HashMap::new()),
            requested: StoredValue::new(HashSet::new()),
        };
        provide_context(cache);
        cache
    }

    pub fn get() -> NameCache {
        expect_context::<NameCache>()
    }

    /// Whether `key` is asked for the first time (later calls are answered from the cache).
    fn first_request(&self, key: String) -> bool {
        self.requested
            .try_update_value(|requested| requested.insert(key))
            .unwrap_or(false)
    }

    /// Forgets what was fetched, so the next completion asks the server again.
    pub fn refresh(&self) {
        self.requested.update_value(HashSet::clear);
    }

    pub fn load_metrics(&self) {
        if !self.first_request("metrics".to_owned()) {
            return;
        }
        let cache = *self;
        spawn_local(async move {
            if let Ok(names) = api::label_values("__name__", None).await {
                cache.metrics.set(names);
            }
            if let Ok(metadata) = api::metadata().await {
                cache.metadata.set(metadata);
            }
        });
    }

    pub fn load_labels(&self, metric: Option<&str>) {
        let metric = metric.unwrap_or("").to_owned();
        if !self.first_request(format!("labels/{metric}")) {
            return;
        }
        let cache = *self;
        spawn_local(async move {
            let wanted = (!metric.is_empty()).then_some(metric.as_str());
            if let Ok(names) = api::label_names(wanted).await {
                let names = names.into_iter().filter(|n| n != "__name__").collect();
                cache.labels.update(|labels| {
                    labels.insert(metric, names);
                });
            }
        });
    }

    pub fn load_values(&self, metric: Option<&str>, label: &str) {
        let key = (metric.unwrap_or("").to_owned(), label.to_owned());
        if !self.first_request(format!("values/{}/{}", key.0, key.1)) {
            return;
        }
        let cache = *self;
        spawn_local(async move {
            let wanted = (!key.0.is_empty()).then_some(key.0.as_str());
            if let Ok(values) = api::label_values(&key.1, wanted).await {
                cache.values.update(|all| {
                    all.insert(key, values);
                });
            }
        });
    }

    /// "TYPE: HELP" of a metric, when known.
    pub fn help_of(metadata: &BTreeMap<String, Vec<MetricMetadata>>, name: &str) -> Option<String> {
        let entry = metadata.get(name)?.first()?;
        Some(format!("{}: {}", entry.metric_type, entry.help))
    }
}
