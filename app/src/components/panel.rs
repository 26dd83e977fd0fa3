//! One panel of the expression browser: its editor, tab bar (Table, Graph, Explain), panel
//! actions (move, duplicate, remove), and the query that feeds the active tab. The panel's
//! committed state is a signal the page keeps in the URL; the editor's text is a draft until
//! executed.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{self, ApiError, QueryResponse};
use crate::components::end_time::EndTimeInput;
use crate::components::explain_view::ExplainView;
use crate::components::expression_editor::ExpressionEditor;
use crate::components::graph_view::{GraphControls, GraphOutcome, GraphView};
use crate::components::metrics_explorer::MetricsExplorer;
use crate::components::query_error::QueryError;
use crate::components::result_table::ResultTable;
use crate::panel_state::{PanelState, Tab};
use crate::settings;

/// What the panel last showed.
#[derive(Clone)]
enum Outcome {
    Table {
        response: Result<QueryResponse, ApiError>,
        load_time_ms: f64,
    },
    Graph(GraphOutcome),
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// What changes a panel's result: everything but the display mode, which only redraws.
fn query_key(state: &PanelState) -> (String, Tab, i64, Option<i64>, i64) {
    (
        state.expr.clone(),
        state.tab,
        state.range_ms,
        state.end_ms,
        state.step_ms(),
    )
}

#[component]
pub fn Panel(
    state: RwSignal<PanelState>,
    #[prop(into)] index: Signal<usize>,
    #[prop(into)] count: Signal<usize>,
    #[prop(into)] on_remove: Callback<()>,
    #[prop(into)] on_duplicate: Callback<()>,
    /// Moves the panel by -1 (up) or +1 (down).
    #[prop(into)]
    on_move: Callback<isize>,
) -> impl IntoView {
    let draft = RwSignal::new(state.with_untracked(|s| s.expr.clone()));
    // Back/forward and shared links change the state under the panel; the editor follows.
    // Only the expression: a range or zoom change must not overwrite text not yet executed.
    let committed_expr = Memo::new(move |_| state.with(|s| s.expr.clone()));
    Effect::new(move |_| draft.set(committed_expr.get()));
    // The views rebuild when the tab changes, not on every change of the panel's state (which
    // would take the focus from the time inputs and re-decode the graph's series).
    let tab = Memo::new(move |_| state.with(|s| s.tab));

    let reruns = RwSignal::new(0u64);
    let outcome = RwSignal::new(None::<Outcome>);
    let executing = RwSignal::new(false);
    let newest_request = StoredValue::new(0u64);
    let refresh_seconds = RwSignal::new(0u32);
    let explorer_open = RwSignal::new(false);
    let hidden_series = RwSignal::new(std::collections::HashSet::<String>::new());
    // Series hidden in the legend are those of one expression.
    Effect::new(move |previous: Option<String>| {
        let expr = committed_expr.get();
        if previous.is_some_and(|previous| previous != expr) {
            hidden_series.set(std::collections::HashSet::new());
        }
        expr
    });
    let key = Memo::new(move |_| state.with(query_key));

    Effect::new(move |_| {
        let (expr, tab, range_ms, end_ms, step_ms) = key.get();
        reruns.track();
        let Some(request) = newest_request.try_update_value(|newest| {
            *newest += 1;
            *newest
        }) else {
            return;
        };
        if expr.trim().is_empty() || tab == Tab::Explain {
            executing.set(false);
            outcome.set(None);
            return;
        }
        executing.set(true);
        spawn_local(async move {
            let started = now_ms();
            let end = end_ms.unwrap_or(started as i64);
            let result = match tab {
                Tab::Graph => {
                    let start = end - range_ms;
                    let response = api::range_query(
                        &expr,
                        start as f64 / 1000.0,
                        end as f64 / 1000.0,
                        step_ms as f64 / 1000.0,
                    )
                    .await;
                    Outcome::Graph(GraphOutcome {
                        response,
                        start_ms: start,
                        end_ms: end,
                        step_ms,
                        load_time_ms: now_ms() - started,
                    })
                }
                _ => {
                    let response = api::instant_query(&expr, end as f64 / 1000.0).await;
                    Outcome::Table {
                        response,
                        load_time_ms: now_ms() - started,
                    }
                }
            };
            if newest_request.try_get_value() != Some(request) {
                return;
            }
            executing.set(false);
            outcome.set(Some(result));
        });
    });

    // Auto-refresh re-runs a panel that shows "now".
    Effect::new(move |_| {
        let seconds = refresh_seconds.get();
        if seconds == 0 {
            return;
        }
        if let Ok(handle) = set_interval_with_handle(
            move || {
                if state.with_untracked(|s| s.end_ms.is_none()) && !executing.get_untracked() {
                    reruns.update(|n| *n += 1);
                }
            },
            std::time::Duration::from_secs(u64::from(seconds)),
        ) {
            on_cleanup(move || handle.clear());
        }
    });

    let execute = Callback::new(move |()| {
        let expression = draft.get_untracked();
        settings::remember(&expression);
        if state.with_untracked(|s| s.expr == expression) {
            reruns.update(|n| *n += 1);
        } else {
            state.update(|s| s.expr = expression);
        }
    });
    let set_tab = move |tab: Tab| {
        // A tab switch runs what is in the editor, as Prometheus does.
        let expression = draft.get_untracked();
        state.update(|s| {
            s.tab = tab;
            s.expr = expression;
        });
    };
    let tab_button = move |tab: Tab, label: &'static str| {
        view! {
            <button
                type="button"
                role="tab"
                class="tab"
                class:active=move || state.with(|s| s.tab == tab)
                aria-selected=move || state.with(|s| s.tab == tab).to_string()
                data-testid=format!("tab-{}", tab.as_str())
                on:click=move |_| set_tab(tab)
            >
                {label}
            </button>
        }
    };
    view! {
        <section class="panel" data-testid="panel">
            <div class="panel-head">
                <ExpressionEditor
                    expression=draft
                    on_execute=execute
                    executing=executing
                    on_explore=move |()| explorer_open.set(true)
                />
                <div class="panel-actions">
                    <button type="button" title="Move up" data-testid="panel-up" disabled=move || index.get() == 0 on:click=move |_| on_move.run(-1)>"↑"</button>
                    <button type="button" title="Move down" data-testid="panel-down" disabled=move || { index.get() + 1 >= count.get() } on:click=move |_| on_move.run(1)>"↓"</button>
                    <button type="button" title="Duplicate panel" data-testid="panel-duplicate" on:click=move |_| on_duplicate.run(())>"Duplicate"</button>
                    <button type="button" title="Remove panel" data-testid="panel-remove" on:click=move |_| on_remove.run(())>"✕"</button>
                </div>
            </div>
            <Show when=move || explorer_open.get()>
                <MetricsExplorer
                    on_pick=move |name: String| {
                        draft.update(|text| {
                            if text.trim().is_empty() {
                                *text = name;
                            } else {
                                text.push_str(&name);
                            }
                        });
                        explorer_open.set(false);
                    }
                    on_close=move |()| explorer_open.set(false)
                />
            </Show>
            <div class="tabs" role="tablist">
                {tab_button(Tab::Table, "Table")}
                {tab_button(Tab::Graph, "Graph")}
                {tab_button(Tab::Explain, "Explain")}
            </div>
            <div class="panel-body" class:stale=move || executing.get()>
                {move || match tab.get() {
                    Tab::Table => view! {
                        <div class="graph-controls">
                            <EndTimeInput state test_id="moment" label="Evaluation time" visible_label=true />
                        </div>
                    }.into_any(),
                    Tab::Graph => view! { <GraphControls state refresh_seconds /> }.into_any(),
                    Tab::Explain => ().into_any(),
                }}
                {move || {
                    let tab = tab.get();
                    if tab == Tab::Explain {
                        return view! { <ExplainView state /> }.into_any();
                    }
                    match outcome.get() {
                        None if executing.get() => view! { <p class="hint">"Executing…"</p> }.into_any(),
                        None => view! {
                            <p class="hint">
                                "Enter a PromQL expression and press Execute, e.g. " <code>"up"</code> "."
                            </p>
                        }.into_any(),
                        Some(Outcome::Table { response: Err(error), .. } ) if tab == Tab::Table => view! { <QueryError error /> }.into_any(),
                        Some(Outcome::Table { response: Ok(response), load_time_ms }) if tab == Tab::Table => {
                            view! { <TableView response load_time_ms /> }.into_any()
                        }
                        Some(Outcome::Graph(graph)) if tab == Tab::Graph => match &graph.response {
                            Err(error) => view! { <QueryError error=error.clone() /> }.into_any(),
                            Ok(_) => view! { <GraphView outcome=graph state hidden=hidden_series /> }.into_any(),
                        },
                        // The previous tab's result while the new one loads.
                        Some(_) => view! { <p class="hint">"Executing…"</p> }.into_any(),
                    }
                }}
            </div>
        </section>
    }
}

/// Summary line, server notes and the table of an instant query.
#[component]
fn TableView(response: QueryResponse, load_time_ms: f64) -> impl IntoView {
    let series_count = response.result.series_count();
    let notes = response
        .warnings
        .into_iter()
        .map(|warning| ("warning", warning))
        .chain(response.infos.into_iter().map(|info| ("info", info)))
        .map(|(kind, text)| view! { <li class=kind>{text}</li> })
        .collect::<Vec<_>>();
    let has_notes = !notes.is_empty();
    view! {
        <div class="result-stats" data-testid="result-stats">
            <span>
                "Result type: " <code data-testid="result-type">{response.result.result_type()}</code>
            </span>
            <span data-testid="series-count">{format!("Series: {series_count}")}</span>
            <span>{format!("Load time: {} ms", load_time_ms.round())}</span>
            {response.stats.map(|stats| view! {
                <span data-testid="samples-read">{format!("Samples read: {}", stats.samples.total_queryable_samples)}</span>
                <span data-testid="query-time">{format!("Query time: {:.1} ms", stats.timings.eval_total_time * 1000.0)}</span>
            })}
        </div>
        {has_notes.then(|| view! { <ul class="notes">{notes}</ul> })}
        <ResultTable result=response.result />
    }
}
