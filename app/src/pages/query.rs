//! The expression browser (`/query`, alias `/graph`): an expression input and
//! the result of running it. The expression lives in the URL, so the URL is
//! the single source of truth for what is shown and a reload re-runs it.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_location, use_navigate, use_query_map};
use leptos_router::NavigateOptions;

use crate::api::{self, ApiError, QueryResponse};
use crate::components::expression_input::ExpressionInput;
use crate::components::query_error::QueryError;
use crate::components::result_table::ResultTable;
const EXPRESSION_KEY: &str = "g0.expr";
fn panel_url(path: &str, expr: &str) -> String {
    format!(
        "{path}?g0.expr={}",
        crate::percent_encoding::encode_uri_component(expr)
    )
}

/// The last finished query of the panel.
#[derive(Clone)]
enum QueryOutcome {
    Succeeded {
        response: QueryResponse,
        load_time_ms: f64,
    },
    Failed(ApiError),
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

#[component]
pub fn QueryPage() -> impl IntoView {
    let query_map = use_query_map();
    let url_expression =
        Memo::new(move |_| query_map.with(|query| query.get(EXPRESSION_KEY).unwrap_or_default()));
    let draft_expression = RwSignal::new(url_expression.get_untracked());
    // Back/forward and pasted links change the URL under the page; the input follows.
    Effect::new(move |_| draft_expression.set(url_expression.get()));

    // Executing the expression already in the URL must still re-run it (fresh
    // data), which a URL change alone would not trigger.
    let reruns = RwSignal::new(0_u64);
    let outcome = RwSignal::new(None::<QueryOutcome>);
    let executing = RwSignal::new(false);
    // Answers can arrive out of order; only the newest request may write its result.
    let newest_request = StoredValue::new(0_u64);

    Effect::new(move |_| {
        let expression = url_expression.get();
        reruns.track();
        let Some(request) = newest_request.try_update_value(|newest| {
            *newest += 1;
            *newest
        }) else {
            return;
        };
        if expression.trim().is_empty() {
            executing.set(false);
            outcome.set(None);
            return;
        }
        executing.set(true);
        spawn_local(async move {
            let started_ms = now_ms();
            let answer = api::instant_query(&expression, started_ms / 1000.0).await;
            if newest_request.try_get_value() != Some(request) {
                return;
            }
            executing.set(false);
            outcome.set(Some(match answer {
                Ok(response) => QueryOutcome::Succeeded {
                    response,
                    load_time_ms: now_ms() - started_ms,
                },
                Err(error) => QueryOutcome::Failed(error),
            }));
        });
    });

    let navigate = use_navigate();
    let page_path = use_location().pathname;
    let execute = Callback::new(move |()| {
        let expression = draft_expression.get_untracked();
        if expression == url_expression.get_untracked() {
            reruns.update(|count| *count += 1);
        } else {
            navigate(
                &panel_url(&page_path.get_untracked(), &expression),
                NavigateOptions {
                    scroll: false,
                    ..NavigateOptions::default()
                },
            );
        }
    });

    view! {
        <section class="panel">
            <ExpressionInput
                expression=draft_expression
                on_execute=execute
                executing=executing
            />
            <div class="panel-body" class:stale=move || executing.get()>
                {move || match outcome.get() {
                    None if executing.get() => view! { <p class="hint">"Executing…"</p> }.into_any(),
                    None => {
                        view! {
                            <p class="hint">
                                "Enter a PromQL expression and press Execute, e.g. "
                                <code>"up"</code>"."
                            </p>
                        }
                            .into_any()
                    }
                    Some(QueryOutcome::Failed(error)) => view! { <QueryError error /> }.into_any(),
                    Some(QueryOutcome::Succeeded { response, load_time_ms }) => {
                        view! { <QueryResultView response load_time_ms /> }.into_any()
                    }
                }}
            </div>
        </section>
    }
}

/// Summary line, server notes and the table for a successful query.
#[component]
fn QueryResultView(response: QueryResponse, load_time_ms: f64) -> impl IntoView {
    let series_count = response.result.series_count();
    let has_notes = !response.warnings.is_empty() || !response.infos.is_empty();
    let notes = response
        .warnings
        .into_iter()
        .map(|warning| ("warning", warning))
        .chain(response.infos.into_iter().map(|info| ("info", info)))
        .map(|(kind, text)| view! { <li class=kind>{text}</li> })
        .collect_view();
    view! {
        <div class="result-stats" data-testid="result-stats">
            <span>
                "Result type: " <code data-testid="result-type">{response.result.result_type()}</code>
            </span>
            <span data-testid="series-count">{format!("Series: {series_count}")}</span>
            <span>{format!("Load time: {} ms", load_time_ms.round())}</span>
        </div>
        {has_notes.then(|| view! { <ul class="notes">{notes}</ul> })}
        <ResultTable result=response.result />
    }
}
