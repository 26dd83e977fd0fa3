//! The bar across the top of every page, with the theme and time zone switches.

use leptos::prelude::*;
use leptos_router::hooks::use_location;

use crate::settings::Settings;

/// Paths that show the expression browser, so its link stays highlighted on
/// the Prometheus-compatible `/graph` alias too.
const QUERY_PAGE_PATHS: [&str; 2] = ["/query", "/graph"];
/// The pages under the Status menu.
const STATUS_PAGE_PATHS: [&str; 5] = [
    "/status",
    "/tsdb-status",
    "/flags",
    "/config",
    "/service-discovery",
];

#[component]
pub fn NavBar() -> impl IntoView {
    let settings = Settings::get();
    let pathname = use_location().pathname;
    let menu = NodeRef::<leptos::html::Details>::new();
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
                <a href="/alerts" aria-current=current_when(&["/alerts"])>"Alerts"</a>
                <a href="/targets" aria-current=current_when(&["/targets"])>"Targets"</a>
                <a href="/rules" aria-current=current_when(&["/rules"])>"Rules"</a>
                <details class="nav-menu" data-testid="status-menu" node_ref=menu>
                    <summary aria-current=current_when(&STATUS_PAGE_PATHS)>"Status"</summary>
                    // A choice closes the menu; the route changes under it.
                    <div
                        class="nav-menu-items"
                        on:click=move |_| {
                            if let Some(menu) = menu.get_untracked() {
                                let _ = menu.remove_attribute("open");
                            }
                        }
                    >
                        <a href="/status">"Runtime & build information"</a>
                        <a href="/tsdb-status">"TSDB status"</a>
                        <a href="/flags">"Command-line flags"</a>
                        <a href="/config">"Configuration"</a>
                        <a href="/service-discovery">"Service discovery"</a>
                    </div>
                </details>
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
