//! The status pages, each a route of its own as in Prometheus: `/status` (runtime and build
//! information), `/flags` (command-line flags, searchable), `/config` (the loaded configuration
//! as the server prints it, secrets masked) and `/tsdb-status` (head statistics and the
//! top-cardinality tables).

use leptos::prelude::*;

use crate::api::status::{self, NameCount};
use crate::components::ops_widgets::{AutoRefresh, LoadError, SearchBox};
use crate::settings::{self, Settings};
use crate::url_params::UrlParam;

/// A runtime value as the page shows it: strings bare, everything else as JSON.
fn show_value(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[component]
pub fn StatusPage() -> impl IntoView {
    let tick = RwSignal::new(0u64);
    let runtime = LocalResource::new(move || {
        tick.track();
        status::runtime_info()
    });
    let build = LocalResource::new(status::build_info);
    view! {
        <section class="ops-page" data-testid="status-page">
            <h1>"Runtime and build information"</h1>
            <div class="ops-toolbar"><AutoRefresh tick /></div>
            <h2>"Runtime information"</h2>
            {move || match runtime.get() {
                None => view! { <p class="hint">"Loading…"</p> }.into_any(),
                Some(Err(error)) => view! { <LoadError error /> }.into_any(),
                Some(Ok(info)) => view! {
                    <table class="ops-table kv-table" data-testid="runtime-info">
                        <tbody>
                            {info.iter().map(|(key, value)| view! {
                                <tr><th>{key.clone()}</th><td>{show_value(value)}</td></tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            }}
            <h2>"Build information"</h2>
            {move || match build.get() {
                None => view! { <p class="hint">"Loading…"</p> }.into_any(),
                Some(Err(error)) => view! { <LoadError error /> }.into_any(),
                Some(Ok(info)) => view! {
                    <table class="ops-table kv-table" data-testid="build-info">
                        <tbody>
                            {info.into_iter().map(|(key, value)| view! {
                                <tr><th>{key}</th><td>{value}</td></tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            }}
        </section>
    }
}

#[component]
pub fn FlagsPage() -> impl IntoView {
    let flags = LocalResource::new(status::flags);
    let search = UrlParam::new("search");
    view! {
        <section class="ops-page" data-testid="flags-page">
            <h1>"Command-line flags"</h1>
            <div class="ops-toolbar">
                <SearchBox param=search placeholder="Filter flags" test_id="flags-search" />
            </div>
            {move || match flags.get() {
                None => view! { <p class="hint">"Loading…"</p> }.into_any(),
                Some(Err(error)) => view! { <LoadError error /> }.into_any(),
                Some(Ok(flags)) => {
                    let text = search.get().to_lowercase();
                    view! {
                        <table class="ops-table kv-table" data-testid="flags">
                            <tbody>
                                {flags.into_iter()
                                    .filter(|(name, value)| text.is_empty() || name.to_lowercase().contains(&text) || value.to_lowercase().contains(&text))
                                    .map(|(name, value)| view! {
                                        <tr data-testid="flag-row"><th>{format!("--{name}")}</th><td>{value}</td></tr>
                                    }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any()
                }
            }}
        </section>
    }
}

#[component]
pub fn ConfigPage() -> impl IntoView {
    let config = LocalResource::new(status::config);
    let copied = RwSignal::new(false);
    view! {
        <section class="ops-page" data-testid="config-page">
            <h1>"Configuration"</h1>
            {move || match config.get() {
                None => view! { <p class="hint">"Loading…"</p> }.into_any(),
                Some(Err(error)) => view! { <LoadError error /> }.into_any(),
                Some(Ok(config)) => {
                    let yaml = config.yaml.clone();
                    view! {
                        <div class="ops-toolbar">
                            <button
                                type="button"
                                on:click=move |_| {
                                    let _ = window().navigator().clipboard().write_text(&yaml);
                                    copied.set(true);
                                }
                            >
                                {move || if copied.get() { "Copied" } else { "Copy to clipboard" }}
                            </button>
                        </div>
                        <pre class="config-yaml" data-testid="config-yaml">{config.yaml}</pre>
                    }.into_any()
                }
            }}
        </section>
    }
}

#[component]
pub fn TsdbStatusPage() -> impl IntoView {
    let settings = Settings::get();
    let tick = RwSignal::new(0u64);
    let data = LocalResource::new(move || {
        tick.track();
        status::tsdb_status()
    });
    let table =
        |title: &'static str, testid: &'static str, rows: Vec<NameCount>, what: &'static str| {
            view! {
                <h2>{title}</h2>
                <table class="ops-table" data-testid=testid>
                    <thead><tr><th>"Name"</th><th class="number">{what}</th></tr></thead>
                    <tbody>
                        {rows.into_iter().map(|row| view! {
                            <tr><td>{row.name}</td><td class="number">{row.value}</td></tr>
                        }).collect_view()}
                    </tbody>
                </table>
            }
        };
    view! {
        <section class="ops-page" data-testid="tsdb-page">
            <h1>"TSDB status"</h1>
            <div class="ops-toolbar"><AutoRefresh tick /></div>
            {move || match data.get() {
                None => view! { <p class="hint">"Loading…"</p> }.into_any(),
                Some(Err(error)) => view! { <LoadError error /> }.into_any(),
                Some(Ok(tsdb)) => {
                    let utc = settings.utc.get();
                    let head = tsdb.head_stats.clone();
                    let time = move |ms: i64| if head.num_series == 0 { "—".to_owned() } else { settings::format_time(utc, ms) };
                    view! {
                        <h2>"Head block"</h2>
                        <table class="ops-table kv-table" data-testid="head-stats">
                            <tbody>
                                <tr><th>"Number of series"</th><td data-testid="head-series">{tsdb.head_stats.num_series}</td></tr>
                                <tr><th>"Number of chunks"</th><td>{tsdb.head_stats.chunk_count}</td></tr>
                                <tr><th>"Number of label pairs"</th><td>{tsdb.head_stats.num_label_pairs}</td></tr>
                                <tr><th>"Earliest sample"</th><td>{time(tsdb.head_stats.min_time)}</td></tr>
                                <tr><th>"Latest sample"</th><td>{time(tsdb.head_stats.max_time)}</td></tr>
                            </tbody>
                        </table>
                        {table("Top series count by metric name", "series-by-metric", tsdb.series_count_by_metric_name, "Series")}
                        {table("Top label names by number of values", "values-by-label", tsdb.label_value_count_by_label_name, "Values")}
                        {table("Top label names by memory", "memory-by-label", tsdb.memory_in_bytes_by_label_name, "Bytes")}
                        {table("Top series count by label pair", "series-by-pair", tsdb.series_count_by_label_value_pair, "Series")}
                    }.into_any()
                }
            }}
        </section>
    }
}
