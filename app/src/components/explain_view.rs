//! The explain tab: the query's syntax tree, each node with what it is and does, and a Run
//! button that evaluates that node alone (at the panel's evaluation time) and shows its result
//! under it.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{self, ApiError, QueryResponse};
use crate::components::query_error::QueryError;
use crate::components::result_table::ResultTable;
use crate::explain::{explain, ExplainNode};
use crate::panel_state::PanelState;

#[component]
pub fn ExplainView(state: RwSignal<PanelState>) -> impl IntoView {
    move || {
        let expr = state.with(|s| s.expr.clone());
        if expr.trim().is_empty() {
            return view! { <p class="hint">"Enter an expression to see its structure."</p> }
                .into_any();
        }
        match narthex_promql::parse_with(&expr, &narthex_promql::ParseOptions::all()) {
            Err(error) => {
                view! { <pre class="error" data-testid="explain-error">{error.to_string()}</pre> }
                    .into_any()
            }
            Ok(parsed) => {
                let tree = explain(&parsed);
                view! { <ul class="explain-tree" data-testid="explain-tree"><ExplainItem node=tree state /></ul> }
                    .into_any()
            }
        }
    }
}

#[component]
fn ExplainItem(node: ExplainNode, state: RwSignal<PanelState>) -> AnyView {
    let result = RwSignal::new(None::<Result<QueryResponse, ApiError>>);
    let running = RwSignal::new(false);
    let text = node.text.clone();
    let run = move |_| {
        let text = text.clone();
        let end = state
            .with_untracked(|s| s.end_ms)
            .unwrap_or(js_sys::Date::now() as i64);
        running.set(true);
        spawn_local(async move {
            let answer = api::instant_query(&text, end as f64 / 1000.0).await;
            running.set(false);
            result.set(Some(answer));
        });
    };
    let children = node
        .children
        .into_iter()
        .map(|child| view! { <ExplainItem node=child state /> }.into_any())
        .collect_view();
    view! {
        <li class="explain-node" data-testid="explain-node">
            <div class="explain-head">
                <span class="explain-title" data-testid="explain-title">{node.title}</span>
                <span class="explain-type">{node.value_type}</span>
                <button type="button" class="run-node" data-testid="explain-run" on:click=run disabled=move || running.get()>
                    "Run"
                </button>
            </div>
            <code class="explain-text">{node.text}</code>
            <div class="explain-detail">{node.detail}</div>
            {move || result.get().map(|answer| match answer {
                Ok(response) => view! {
                    <div class="explain-result" data-testid="explain-result">
                        <div class="result-stats">
                            <span>{format!("{} result, series: {}", response.result.result_type(), response.result.series_count())}</span>
                        </div>
                        <ResultTable result=response.result />
                    </div>
                }.into_any(),
                Err(error) => view! { <QueryError error /> }.into_any(),
            })}
            <ul class="explain-children">{children}</ul>
        </li>
    }
    .into_any()
}
