//! `/alerts`: alerting rules grouped by file and group, with a state filter (inactive, pending,
//! firing) and search in the URL (`?state=firing&search=disk`), counts per state, and for each
//! rule its expression (linked to the expression browser), labels, annotations and alerts with
//! their active-since time and value.

use std::collections::BTreeMap;

use leptos::prelude::*;

use crate::api::status::{self, AlertingRule, Rule};
use crate::components::ops_widgets::{
    ticking_now, AutoRefresh, FilterCheck, LabelBadges, LoadError, SearchBox, StateBadge,
};
use crate::ops::{format_ago, format_span, matches_search, query_link, selected};
use crate::url_params::UrlParam;

const STATES: [&str; 3] = ["inactive", "pending", "firing"];

#[component]
pub fn AlertsPage() -> impl IntoView {
    let tick = RwSignal::new(0u64);
    let now = ticking_now();
    let data = LocalResource::new(move || {
        tick.track();
        status::rules(true)
    });
    let state_filter = UrlParam::new("state");
    let search = UrlParam::new("search");

    // (file, group) -> rules, and the count of rules per state.
    let model = move || {
        let answer = data.get()?;
        Some(answer.map(|groups| {
            let mut counts: BTreeMap<&'static str, usize> =
                STATES.iter().map(|s| (*s, 0)).collect();
            let wanted = selected(&state_filter.get());
            let text = search.get();
            let mut sections: Vec<(String, String, Vec<AlertingRule>)> = Vec::new();
            for group in groups.groups {
                let mut rules = Vec::new();
                for rule in group.rules {
                    let Rule::Alerting(rule) = rule else { continue };
                    if let Some(count) = STATES
                        .iter()
                        .find(|s| **s == rule.state)
                        .and_then(|s| counts.get_mut(s))
                    {
                        *count += 1;
                    }
                    let state_ok = wanted.is_empty() || wanted.contains(&rule.state);
                    if state_ok
                        && matches_search(
                            &text,
                            &rule.labels,
                            [rule.name.as_str(), rule.query.as_str()],
                        )
                    {
                        rules.push(rule);
                    }
                }
                if !rules.is_empty() {
                    sections.push((group.file, group.name, rules));
                }
            }
            (counts, sections)
        }))
    };

    view! {
        <section class="ops-page" data-testid="alerts-page">
            <h1>"Alerts"</h1>
            <div class="ops-toolbar">
                <div class="control-group" role="group" aria-label="State">
                    {STATES
                        .into_iter()
                        .map(|state| {
                            let count = move || match model() {
                                Some(Ok((counts, _))) => counts.get(state).copied().unwrap_or(0),
                                _ => 0,
                            };
                            view! {
                                <FilterCheck
                                    param=state_filter
                                    item=state
                                    test_id=format!("state-{state}")
                                    class=format!("state-{state}")
                                >
                                    " "
                                    <span class="count" data-testid=format!("count-{state}")>{count}</span>
                                </FilterCheck>
                            }
                        })
                        .collect_view()}
                </div>
                <SearchBox param=search placeholder="Filter by name, expression or labels" test_id="alerts-search" />
                <AutoRefresh tick />
            </div>
            {move || match model() {
                None => view! { <p class="hint">"Loading…"</p> }.into_any(),
                Some(Err(error)) => view! { <LoadError error /> }.into_any(),
                Some(Ok((_, sections))) if sections.is_empty() => {
                    view! { <p class="hint">"No alerting rules match."</p> }.into_any()
                }
                Some(Ok((_, sections))) => {
                    sections
                        .into_iter()
                        .map(|(file, group, rules)| {
                            view! {
                                <div class="rule-group" data-testid="alert-group">
                                    <h2>
                                        <span class="group-file">{file}</span>
                                        " > "
                                        <span class="group-name">{group}</span>
                                    </h2>
                                    {rules.into_iter().map(|rule| view! { <AlertRule rule now /> }).collect_view()}
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

#[component]
fn AlertRule(rule: AlertingRule, now: Signal<i64>) -> impl IntoView {
    let alerts = rule.alerts.clone().unwrap_or_default();
    let active = alerts.len();
    // Firing and pending rules open by default: that is what a person came for.
    let open = rule.state != "inactive";
    view! {
        <details class="alert-rule" data-testid="alert-rule" open=open>
            <summary>
                <span class="rule-name" data-testid="alert-name">{rule.name.clone()}</span>
                <StateBadge state=rule.state.clone() />
                {(active > 0).then(|| view! { <span class="hint">{format!("{active} active")}</span> })}
            </summary>
            <div class="rule-body">
                <div class="rule-line">
                    <span class="rule-key">"expr: "</span>
                    <a class="rule-expr" data-testid="alert-expr" href=query_link(&rule.query)>{rule.query.clone()}</a>
                </div>
                {(rule.duration > 0.0).then(|| view! {
                    <div class="rule-line"><span class="rule-key">"for: "</span>{format_span((rule.duration * 1000.0) as i64)}</div>
                })}
                {(rule.keep_firing_for > 0.0).then(|| view! {
                    <div class="rule-line"><span class="rule-key">"keep_firing_for: "</span>{format_span((rule.keep_firing_for * 1000.0) as i64)}</div>
                })}
                {(!rule.labels.is_empty()).then(|| view! {
                    <div class="rule-line"><span class="rule-key">"labels: "</span><LabelBadges labels=rule.labels.clone() /></div>
                })}
                {(!rule.annotations.is_empty()).then(|| view! {
                    <div class="rule-line"><span class="rule-key">"annotations:"</span>
                        <dl class="annotations">
                            {rule.annotations.clone().into_iter().map(|(name, text)| view! {
                                <dt>{name}</dt><dd>{text}</dd>
                            }).collect_view()}
                        </dl>
                    </div>
                })}
                {(!rule.evaluation.last_error.is_empty()).then(|| view! { <div class="error">{rule.evaluation.last_error.clone()}</div> })}
                {(active > 0).then(|| view! {
                    <div class="table-scroll">
                        <table class="ops-table">
                            <thead><tr><th>"Labels"</th><th>"State"</th><th>"Active since"</th><th>"Value"</th><th>"Annotations"</th></tr></thead>
                            <tbody>
                                {alerts.into_iter().map(|alert| {
                                    let since = alert.active_at.clone().unwrap_or_default();
                                    let since_text = since.clone();
                                    view! {
                                        <tr data-testid="alert-instance">
                                            <td><LabelBadges labels=alert.labels /></td>
                                            <td><StateBadge state=alert.state /></td>
                                            <td title=since.clone()>{move || format_ago(now.get(), &since_text)}</td>
                                            <td data-testid="alert-value">{alert.value}</td>
                                            <td data-testid="alert-annotations">
                                                {alert.annotations.into_iter().map(|(name, text)| view! {
                                                    <div><span class="rule-key">{format!("{name}: ")}</span>{text}</div>
                                                }).collect_view()}
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                })}
            </div>
        </details>
    }
}
