//! The bar across the top of every page, with the theme and time zone switches.

use leptos::prelude::*;
use leptos_router::hooks::use_location;

use crate::settings::Settings;

/// Paths that show the expression browser, so its link stays highlighted on
/// the Prometheus-compatible `/graph` alias too.
const QUERY_PAGE_PATHS: [&str; 2] = ["/query", "/graph"];

#[component]
pub fn NavBar() -> impl IntoView {
    let settings = Settings::get();
    let pathname = use_location().pathname;
    let current_when = move |paths: &'static [&'static str]| {
        move || pathname.with(|path| paths.contains(&path.as_str()).then_some("page"))
    };
    view! {
        <header class="nav-bar">
            <a href="/query" class="brand">
                <img src="/favicon.svg" alt="" width="24" height="24" />
                <span>"Narthex"</span>
            </a>
            <nav class="nav-links" aria-label="Main">
                <a href="/query" aria-current=current_when(&QUERY_PAGE_PATHS)>
                    "Query"
                </a>
            </nav>
            <div class="nav-settings">
                <button
                    type="button"
                    data-testid="utc-toggle"
                    title="Show times in UTC or in this browser's time zone"
                    on:click=move |_| settings.utc.update(|utc| *utc = !*utc)
                >
                    {move || if settings.utc.get() { "UTC" } else { "Local time" }}
                </button>
                <button
                    type="button"
                    data-testid="theme-toggle"
                    on:click=move |_| settings.theme.update(|theme| *theme = theme.next())
                >
                    {move || settings.theme.get().label()}
                </button>
            </div>
        </header>
    }
}
