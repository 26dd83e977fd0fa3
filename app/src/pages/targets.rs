//! `/targets`: every scrape target grouped by pool, with health filter and text search in the
//! URL (`?health=down&search=node`), counts per pool, the endpoint, labels (discovered labels
//! on expand), last scrape, duration and the last error in full. Long pools are paged.

use std::collections::{BTreeMap, HashMap, HashSet};

use leptos::prelude::*;

use crate::api::status::{self, ActiveTarget};
use crate::components::ops_widgets::{
    ticking_now, AutoRefresh, FilterCheck, LabelBadges, LoadError, SearchBox, ShowMore, StateBadge,
    PAGE_SIZE,
};
use crate::ops::{format_ago, format_seconds, matches_search, selected};
use crate::url_params::UrlParam;

const HEALTHS: [&str; 3] = ["up", "down", "unknown"];

#[component]
pub fn TargetsPage() -> impl IntoView {
    let tick = RwSignal::new(0u64);
    let now = ticking_now();
    let data = LocalResource::new(move || {
        tick.track();
        status::targets()
    });
    let health = UrlParam::new("health");
    let search = UrlParam::new("search");
    let collapsed = RwSignal::new(HashSet::<String>::new());
    let shown = RwSignal::new(HashMap::<String, usize>::new());

    let pools = move || {
        let answer = data.get()?;
        Some(answer.map(|targets| {
            let wanted = selected(&health.get());
            let text = search.get();
            let mut pools: BTreeMap<String, (usize, usize, Vec<ActiveTarget>)> = BTreeMap::new();
            for target in targets.active_targets {
                let entry = pools.entry(target.scrape_pool.clone()).or_default();
                entry.0 += 1;
                if target.health == "up" {
                    entry.1 += 1;
                }
                let health_ok = wanted.is_empty() || wanted.contains(&target.health);
                if health_ok
                    && matches_search(
                        &text,
                        &target.labels,
                        [target.scrape_url.as_str(), target.last_error.as_str()],
                    )
                {
                    entry.2.push(target);
                }
            }
            pools
        }))
    };

    view! {
        <section class="ops-page" data-testid="targets-page">
            <h1>"Targets"</h1>
            <div class="ops-toolbar">
                <div class="control-group" role="group" aria-label="Health">
                    {HEALTHS
                        .into_iter()
                        .map(|state| {
                            view! { <FilterCheck param=health item=state test_id=format!("health-{state}") /> }
                        })
                        .collect_view()}
                </div>
                <SearchBox param=search placeholder="Filter by endpoint, labels or error" test_id="targets-search" />
                <button type="button" on:click=move |_| collapsed.set(HashSet::new())>"Expand all"</button>
                <button
                    type="button"
                    on:click=move |_| {
                        if let Some(Ok(all)) = pools() {
                            collapsed.set(all.keys().cloned().collect());
                        }
                    }
                >
                    "Collapse all"
                </button>
                <AutoRefresh tick />
            </div>
            {move || match pools() {
                None => view! { <p class="hint">"Loading…"</p> }.into_any(),
                Some(Err(error)) => view! { <LoadError error /> }.into_any(),
                Some(Ok(pools)) if pools.is_empty() => {
                    view! { <p class="hint">"No targets are configured."</p> }.into_any()
                }
                Some(Ok(pools)) => {
                    pools
                        .into_iter()
                        .map(|(pool, (total, up, targets))| {
                            let pool_name = pool.clone();
                            let is_open = {
                                let pool = pool.clone();
                                move || !collapsed.with(|c| c.contains(&pool))
                            };
                            let limit = shown.with(|s| s.get(&pool).copied()).unwrap_or(PAGE_SIZE);
                            let matching = targets.len();
                            let rest = matching.saturating_sub(limit);
                            view! {
                                <details class="pool" data-testid="pool" prop:open=is_open>
                                    <summary
                                        on:click=move |event| {
                                            event.prevent_default();
                                            let pool = pool_name.clone();
                                            collapsed.update(|c| {
                                                if !c.remove(&pool) {
                                                    c.insert(pool);
                                                }
                                            });
                                        }
                                    >
                                        <span class="pool-name" data-testid="pool-name">{pool.clone()}</span>
                                        <span class="pool-count" data-testid="pool-count">{format!("{up}/{total} up")}</span>
                                        {(matching != total).then(|| view! { <span class="hint">{format!("{matching} shown")}</span> })}
                                    </summary>
                                    <div class="table-scroll">
                                        <table class="ops-table">
                                            <thead>
                                                <tr>
                                                    <th>"Endpoint"</th>
                                                    <th>"State"</th>
                                                    <th>"Labels"</th>
                                                    <th>"Last scrape"</th>
                                                    <th>"Duration"</th>
                                                    <th>"Error"</th>
                                                </tr>
                                            </thead>
                                            <tbody>
                                                {targets
                                                    .into_iter()
                                                    .take(limit)
                                                    .map(|target| view! { <TargetRow target now /> })
                                                    .collect_view()}
                                            </tbody>
                                        </table>
                                    </div>
                                    {(rest > 0).then(|| view! { <ShowMore key=pool.clone() limit rest shown /> })}
                                </details>
                            }
                        })
                        .collect_view()
                        .into_any()
                }
            }}
        </section>
    }
}

#[component]
fn TargetRow(target: ActiveTarget, now: Signal<i64>) -> impl IntoView {
    let discovered = target.discovered_labels.clone();
    let last_scrape = target.last_scrape.clone();
    view! {
        <tr data-testid="target-row">
            <td class="endpoint">
                <a href=target.scrape_url.clone() target="_blank" rel="noreferrer" data-testid="target-endpoint">
                    {target.scrape_url.clone()}
                </a>
            </td>
            <td><StateBadge state=target.health.clone() /></td>
            <td class="labels">
                <LabelBadges labels=target.labels.clone() />
                <details class="discovered">
                    <summary>"Discovered labels"</summary>
                    <LabelBadges labels=discovered />
                </details>
            </td>
            <td title=target.last_scrape.clone() data-testid="last-scrape">{move || format_ago(now.get(), &last_scrape)}</td>
            <td>{format_seconds(target.last_scrape_duration)}</td>
            <td class="target-error" data-testid="target-error">{target.last_error.clone()}</td>
        </tr>
    }
}
