//! The metrics explorer: every metric name the server knows with its TYPE, UNIT and HELP from
//! `/api/v1/metadata`, searchable by name and help text; choosing one puts it in the editor.

use leptos::prelude::*;

use crate::components::names::NameCache;

/// How many matches are listed at once; the search narrows the rest.
const SHOWN_MATCHES: usize = 200;

#[component]
pub fn MetricsExplorer(
    #[prop(into)] on_pick: Callback<String>,
    #[prop(into)] on_close: Callback<()>,
) -> impl IntoView {
    let names = NameCache::get();
    names.refresh();
    names.load_metrics();
    let search = RwSignal::new(String::new());
    let matches = Memo::new(move |_| {
        let needle = search.get().to_lowercase();
        let metadata = names.metadata.get();
        let words: Vec<&str> = needle.split_whitespace().collect();
        names.metrics.with(|metrics| {
            let found: Vec<(String, String, String, String)> = metrics
                .iter()
                .filter_map(|name| {
                    let entry = metadata.get(name).and_then(|entries| entries.first());
                    let (kind, help, unit) = entry.map_or_else(
                        || (String::new(), String::new(), String::new()),
                        |e| (e.metric_type.clone(), e.help.clone(), e.unit.clone()),
                    );
                    let haystack = format!("{} {}", name.to_lowercase(), help.to_lowercase());
                    words
                        .iter()
                        .all(|word| haystack.contains(word))
                        .then(|| (name.clone(), kind, unit, help))
                })
                .collect();
            found
        })
    });
    view! {
        <div class="explorer-backdrop" on:click=move |_| on_close.run(())>
            <div
                class="explorer"
                role="dialog"
                aria-label="Metrics explorer"
                data-testid="metrics-explorer"
                on:click=|event| event.stop_propagation()
            >
                <div class="explorer-head">
                    <input
                        type="search"
                        placeholder="Search metric names and help"
                        data-testid="explorer-search"
                        autofocus
                        prop:value=move || search.get()
                        on:input=move |event| search.set(event_target_value(&event))
                        on:keydown=move |event| {
                            if event.key() == "Escape" {
                                on_close.run(());
                            }
                        }
                    />
                    <span class="explorer-count" data-testid="explorer-count">
                        {move || format!("{} metrics", matches.with(Vec::len))}
                    </span>
                    <button type="button" title="Close" on:click=move |_| on_close.run(())>"✕"</button>
                </div>
                <table class="explorer-table">
                    <thead>
                        <tr><th>"Metric"</th><th>"Type"</th><th>"Unit"</th><th>"Help"</th></tr>
                    </thead>
                    <tbody>
                        {move || matches.with(|all| {
                            all.iter().take(SHOWN_MATCHES).map(|(name, kind, unit, help)| {
                                let picked = name.clone();
                                view! {
                                    <tr data-testid="explorer-row" on:click=move |_| on_pick.run(picked.clone())>
                                        <td><button type="button" class="link">{name.clone()}</button></td>
                                        <td class="metric-type">{kind.clone()}</td>
                                        <td>{unit.clone()}</td>
                                        <td class="metric-help">{help.clone()}</td>
                                    </tr>
                                }
                            }).collect_view()
                        })}
                    </tbody>
                </table>
                {move || {
                    let more = matches.with(Vec::len).saturating_sub(SHOWN_MATCHES);
                    (more > 0).then(|| view! { <p class="hint">{format!("{more} more: refine the search.")}</p> })
                }}
            </div>
        </div>
    }
}
