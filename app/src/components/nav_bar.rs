//! The bar across the top of every page.

use leptos::prelude::*;
use leptos_router::hooks::use_location;

/// Paths that show the expression browser, so its link stays highlighted on
/// the Prometheus-compatible `/graph` alias too.
const QUERY_PAGE_PATHS: [&str; 2] = ["/query", "/graph"];

#[component]
pub fn NavBar() -> impl IntoView {
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
        </header>
    }
}
