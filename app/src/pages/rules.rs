//! `/rules`: every rule group with its interval, last evaluation and evaluation time, and per
//! rule its health, last error, last evaluation and evaluation time; each expression links to
//! the expression browser. Search in the URL (`?search=...`).

use leptos::prelude::*;

use crate::api::status::{self, Rule, RuleEvaluation, RuleGroup};
use crate::components::ops_widgets::{
    ticking_now, AutoRefresh, LabelBadges, LoadError, SearchBox, StateBadge,
};
use crate::ops::{format_ago, format_seconds, format_span, matches_search, query_link};
use crate::url_params::UrlParam;

#[component]
pub fn RulesPage() -> impl IntoView {
    let tick = RwSignal::new(0u64);
    let now = ticking_now();
    let data = LocalResource::new(move || {
        tick.track();
        status::rules(false)
    });
    let search = UrlParam::new("search");
    view! {
        <section class="ops-page" data-testid="rules-page">
            <h1>"Rules"</h1>
            <div class="ops-toolbar">
                <SearchBox param=search placeholder="Filter by name or expression" test_id="rules-search" />
                <AutoRefresh tick />
            </div>
            {move || match data.get() {
                None => view! { <p class="hint">"Loading…"</p> }.into_any(),
                Some(Err(error)) => view! { <LoadError error /> }.into_any(),
                Some(Ok(groups)) if groups.groups.is_empty() => {
                    view! { <p class="hint">"No rule groups are loaded."</p> }.into_any()
                }
                Some(Ok(groups)) => {
                    let text = search.get();
                    groups
                        .groups
                        .into_iter()
                        // A search shows only the groups with a matching rule.
                        .filter(|group| group.rules.iter().any(|rule| rule_matches(rule, &text)))
                        .map(|group| view! { <Group group now text=text.clone() /> })
                        .collect_view()
                        .into_any()
                }
            }}
        </section>
    }
}

/// Whether the search text is in the rule's name or expression.
fn rule_matches(rule: &Rule, text: &str) -> bool {
    let (name, query) = match rule {
        Rule::Alerting(r) => (&r.name, &r.query),
        Rule::Recording(r) => (&r.name, &r.query),
    };
    matches_search(text, &Default::default(), [name.as_str(), query.as_str()])
}

#[component]
fn Group(group: RuleGroup, now: Signal<i64>, text: String) -> impl IntoView {
    let group_last = group.last_evaluation.clone();
    let rules: Vec<Rule> = group
        .rules
        .into_iter()
        .filter(|rule| rule_matches(rule, &text))
        .collect();
    view! {
        <div class="rule-group" data-testid="rule-group">
            <h2>
                <span class="group-name" data-testid="group-name">{group.name}</span>
                <span class="group-file">{group.file}</span>
            </h2>
            <div class="group-stats">
                <span data-testid="group-interval">{format!("Interval: {}", format_span((group.interval * 1000.0) as i64))}</span>
                <span title=group.last_evaluation.clone()>{move || format!("Last evaluation: {}", format_ago(now.get(), &group_last))}</span>
                <span>{format!("Evaluation time: {}", format_seconds(group.evaluation_time))}</span>
            </div>
            <div class="table-scroll">
                <table class="ops-table">
                    <thead>
                        <tr><th>"Rule"</th><th>"Health"</th><th>"Error"</th><th>"Last evaluation"</th><th>"Evaluation time"</th></tr>
                    </thead>
                    <tbody>
                        {rules.into_iter().map(|rule| view! { <RuleRow rule now /> }).collect_view()}
                    </tbody>
                </table>
            </div>
        </div>
    }
}

#[component]
fn RuleRow(rule: Rule, now: Signal<i64>) -> impl IntoView {
    let (kind, name, query, labels, evaluation) = match rule {
        Rule::Alerting(r) => ("alert", r.name, r.query, r.labels, r.evaluation),
        Rule::Recording(r) => ("record", r.name, r.query, r.labels, r.evaluation),
    };
    let RuleEvaluation {
        health,
        last_error: error,
        evaluation_time: took,
        last_evaluation: last,
    } = evaluation;
    let last_text = last.clone();
    view! {
        <tr data-testid="rule-row">
            <td class="rule-cell">
                <div><span class="rule-key">{format!("{kind}: ")}</span><span class="rule-name" data-testid="rule-name">{name}</span></div>
                <div><span class="rule-key">"expr: "</span><a class="rule-expr" data-testid="rule-expr" href=query_link(&query)>{query.clone()}</a></div>
                {(!labels.is_empty()).then(|| view! { <div><LabelBadges labels /></div> })}
            </td>
            <td><StateBadge state=health /></td>
            <td class="target-error" data-testid="rule-error">{error}</td>
            <td title=last.clone()>{move || format_ago(now.get(), &last_text)}</td>
            <td>{format_seconds(took)}</td>
        </tr>
    }
}
