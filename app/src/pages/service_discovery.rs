//! `/service-discovery`: per scrape pool, what discovery found (discovered labels) beside what
//! relabeling made of it (target labels), and the targets relabeling dropped. The pool filter
//! and search are in the URL (`?pool=node&search=...`).

use std::collections::BTreeMap;

use leptos::prelude::*;

use crate::api::status;
use crate::components::ops_widgets::{
    AutoRefresh, LabelBadges, LoadError, SearchBox, ShowMore, PAGE_SIZE,
};
use crate::ops::matches_search;
use crate::series_format::Labels;
use crate::url_params::UrlParam;

/// One discovered target: its labels before relabeling and, unless dropped, after.
#[derive(Clone)]
struct Discovered {
    discovered: Labels,
    target: Option<Labels>,
}

/// Why Narthex drops a discovered target: relabeling is the only way (a target over
/// `target_limit` stays active and fails its scrapes instead).
const DROP_REASON: &str = "Dropped by relabeling (a drop/keep rule, or no __address__ left)";

#[component]
pub fn ServiceDiscoveryPage() -> impl IntoView {
    let tick = RwSignal::new(0u64);
    let data = LocalResource::new(move || {
        tick.track();
        status::targets()
    });
    let pool_filter = UrlParam::new("pool");
    let search = UrlParam::new("search");
    let shown = RwSignal::new(std::collections::HashMap::<String, usize>::new());

    // Per pool: its targets, and how many were dropped in all (more than listed when the
    // pool sets `keep_dropped_targets`).
    let pools = move || {
        let answer = data.get()?;
        Some(answer.map(|targets| {
            let dropped_counts = targets.dropped_target_counts.clone().unwrap_or_default();
            let mut pools: BTreeMap<String, (Vec<Discovered>, usize)> = BTreeMap::new();
            for target in targets.active_targets {
                pools
                    .entry(target.scrape_pool.clone())
                    .or_default()
                    .0
                    .push(Discovered {
                        discovered: target.discovered_labels,
                        target: Some(target.labels),
                    });
            }
            for dropped in targets.dropped_targets {
                pools
                    .entry(dropped.pool().to_owned())
                    .or_default()
                    .0
                    .push(Discovered {
                        discovered: dropped.discovered_labels,
                        target: None,
                    });
            }
            for (pool, (entries, dropped_total)) in pools.iter_mut() {
                let listed = entries.iter().filter(|e| e.target.is_none()).count();
                *dropped_total = dropped_counts
                    .get(pool)
                    .copied()
                    .unwrap_or(listed)
                    .max(listed);
            }
            pools
        }))
    };

    view! {
        <section class="ops-page" data-testid="sd-page">
            <h1>"Service discovery"</h1>
            <div class="ops-toolbar">
                <select
                    data-testid="sd-pool"
                    aria-label="Scrape pool"
                    on:change=move |event| pool_filter.set(&event_target_value(&event))
                >
                    <option value="" selected=move || pool_filter.get().is_empty()>"All pools"</option>
                    {move || match pools() {
                        Some(Ok(pools)) => pools
                            .keys()
                            .map(|name| {
                                let value = name.clone();
                                let chosen = name.clone();
                                view! {
                                    <option value=value selected=move || pool_filter.get() == chosen>
                                        {name.clone()}
                                    </option>
                                }
                            })
                            .collect_view()
                            .into_any(),
                        _ => ().into_any(),
                    }}
                </select>
                <SearchBox param=search placeholder="Filter by labels" test_id="sd-search" />
                <AutoRefresh tick />
            </div>
            {move || match pools() {
                None => view! { <p class="hint">"Loading…"</p> }.into_any(),
                Some(Err(error)) => view! { <LoadError error /> }.into_any(),
                Some(Ok(pools)) => {
                    let wanted = pool_filter.get();
                    let text = search.get();
                    pools
                        .into_iter()
                        .filter(|(name, _)| wanted.is_empty() || *name == wanted)
                        .map(|(name, (entries, dropped_total))| {
                            let active = entries.iter().filter(|e| e.target.is_some()).count();
                            let total = active + dropped_total;
                            let unlisted = total - entries.len();
                            let matching: Vec<Discovered> = entries
                                .into_iter()
                                .filter(|entry| {
                                    let target = entry.target.clone().unwrap_or_default();
                                    let mut all = entry.discovered.clone();
                                    all.extend(target);
                                    matches_search(&text, &all, [])
                                })
                                .collect();
                            let limit = shown.with(|s| s.get(&name).copied()).unwrap_or(PAGE_SIZE);
                            let rest = matching.len().saturating_sub(limit);
                            let pool = name.clone();
                            view! {
                                <div class="pool" data-testid="sd-pool-section">
                                    <h2>
                                        <span data-testid="pool-name">{name.clone()}</span>
                                        <span class="pool-count" data-testid="sd-count">
                                            {format!("{active} active / {total} discovered")}
                                        </span>
                                    </h2>
                                    <div class="table-scroll">
                                        <table class="ops-table">
                                            <thead>
                                                <tr><th>"Discovered labels"</th><th>"Target labels"</th></tr>
                                            </thead>
                                            <tbody>
                                                {matching
                                                    .into_iter()
                                                    .take(limit)
                                                    .map(|entry| view! {
                                                        <tr data-testid="sd-row">
                                                            <td><LabelBadges labels=entry.discovered /></td>
                                                            <td>
                                                                {match entry.target {
                                                                    Some(labels) => view! { <LabelBadges labels /> }.into_any(),
                                                                    None => view! {
                                                                        <span class="dropped" data-testid="dropped">{DROP_REASON}</span>
                                                                    }.into_any(),
                                                                }}
                                                            </td>
                                                        </tr>
                                                    })
                                                    .collect_view()}
                                            </tbody>
                                        </table>
                                    </div>
                                    {(unlisted > 0).then(|| view! {
                                        <p class="hint" data-testid="sd-unlisted">
                                            {format!("{unlisted} more dropped targets are not listed (keep_dropped_targets)")}
                                        </p>
                                    })}
                                    {(rest > 0).then(|| view! { <ShowMore key=pool.clone() limit rest shown /> })}
                                </div>
                            }
                        })
                        .collect_view()
                        .into_any()
                }
            }}
        </section>
    }
}
