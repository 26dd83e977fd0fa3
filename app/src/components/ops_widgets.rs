//! Pieces the operations pages share: the auto-refresh switch (kept in the URL), label badges,
//! health and state badges, and the box shown while a page's data loads or fails.

use std::collections::HashMap;

use leptos::prelude::*;

use crate::api::ApiError;
use crate::ops::{selected, toggled};
use crate::series_format::Labels;
use crate::url_params::UrlParam;

/// Auto-refresh intervals offered, in seconds (0: off).
const INTERVALS: &[(u32, &str)] = &[
    (0, "No refresh"),
    (5, "Every 5s"),
    (15, "Every 15s"),
    (30, "Every 30s"),
    (60, "Every 1m"),
];

/// A select that bumps `tick` every chosen interval; the choice is the URL's `refresh`.
#[component]
pub fn AutoRefresh(tick: RwSignal<u64>) -> impl IntoView {
    let param = UrlParam::new("refresh");
    let seconds = Memo::new(move |_| param.get().parse::<u32>().unwrap_or(0));
    Effect::new(move |_| {
        let every = seconds.get();
        if every == 0 {
            return;
        }
        if let Ok(handle) = set_interval_with_handle(
            move || {
                tick.try_update(|n| *n += 1);
            },
            std::time::Duration::from_secs(u64::from(every)),
        ) {
            on_cleanup(move || handle.clear());
        }
    });
    view! {
        <select
            class="refresh-select"
            data-testid="auto-refresh"
            aria-label="Auto-refresh"
            on:change=move |event| {
                let value = event_target_value(&event);
                param.set(if value == "0" { "" } else { &value });
            }
        >
            {INTERVALS
                .iter()
                .map(|(every, label)| {
                    view! {
                        <option value=every.to_string() selected=move || seconds.get() == *every>
                            {*label}
                        </option>
                    }
                })
                .collect_view()}
        </select>
        <button type="button" class="refresh-now" data-testid="refresh-now" on:click=move |_| tick.update(|n| *n += 1)>
            "Refresh"
        </button>
    }
}

/// The text search of a page, kept in the URL parameter `param`.
#[component]
pub fn SearchBox(
    param: UrlParam,
    placeholder: &'static str,
    test_id: &'static str,
) -> impl IntoView {
    view! {
        <input
            type="search"
            class="ops-search"
            placeholder=placeholder
            data-testid=test_id
            prop:value=move || param.get()
            on:input=move |event| param.set(&event_target_value(&event))
        />
    }
}

/// One checkbox of a set kept comma-separated in the URL parameter `param` (`health=up,down`);
/// `extra` (a count, say) follows the item's name.
#[component]
pub fn FilterCheck(
    param: UrlParam,
    item: &'static str,
    test_id: String,
    #[prop(optional, into)] class: String,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    view! {
        <label class=format!("filter-check {class}")>
            <input
                type="checkbox"
                data-testid=test_id
                prop:checked=move || selected(&param.get()).iter().any(|s| s == item)
                on:change=move |_| param.set(&toggled(&param.get_untracked(), item))
            />
            {item}
            {children.map(|children| children())}
        </label>
    }
}

/// The button under a paged list: shows the next `PAGE_SIZE` of the `rest` not shown of the
/// list `key`, whose shown length `shown` keeps.
#[component]
pub fn ShowMore(
    key: String,
    limit: usize,
    rest: usize,
    shown: RwSignal<HashMap<String, usize>>,
) -> impl IntoView {
    view! {
        <button
            type="button"
            class="show-more"
            data-testid="show-more"
            on:click=move |_| shown.update(|s| {
                s.insert(key.clone(), limit + PAGE_SIZE);
            })
        >
            {format!("Show {} more of {rest}", rest.min(PAGE_SIZE))}
        </button>
    }
}

/// Rows of a list shown before "Show more".
pub const PAGE_SIZE: usize = 100;

/// `name="value"` badges, in label order.
#[component]
pub fn LabelBadges(labels: Labels) -> impl IntoView {
    view! {
        <span class="label-badges">
            {labels
                .into_iter()
                .map(|(name, value)| {
                    view! { <span class="label-badge">{format!("{name}=\"{value}\"")}</span> }
                })
                .collect_view()}
        </span>
    }
}

/// A coloured word: `up`/`ok`/`inactive` green, `down`/`err`/`firing` red, `pending` amber,
/// anything else grey.
#[component]
pub fn StateBadge(state: String) -> impl IntoView {
    let class = match state.as_str() {
        "up" | "ok" | "inactive" => "badge badge-good",
        "down" | "err" | "firing" => "badge badge-bad",
        "pending" => "badge badge-warn",
        _ => "badge badge-neutral",
    };
    view! { <span class=class data-testid="state-badge">{state.to_uppercase()}</span> }
}

/// The error box of a page whose data could not be loaded.
#[component]
pub fn LoadError(error: ApiError) -> impl IntoView {
    view! {
        <div class="error" role="alert" data-testid="load-error">
            <div class="error-title">"Cannot load this page's data"</div>
            <pre class="error-message">{error.to_string()}</pre>
        </div>
    }
}

/// The current time in Unix milliseconds, as relative times are computed from.
pub fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

/// How often relative times ("4.2s ago") move on between refreshes of the data.
const CLOCK_TICK: std::time::Duration = std::time::Duration::from_secs(1);

/// The current time as a signal that moves every second while the page is shown, so "ago"
/// texts stay true without fetching the data again.
pub fn ticking_now() -> Signal<i64> {
    let now = RwSignal::new(now_ms());
    if let Ok(handle) = set_interval_with_handle(
        move || {
            now.try_set(now_ms());
        },
        CLOCK_TICK,
    ) {
        on_cleanup(move || handle.clear());
    }
    now.into()
}
