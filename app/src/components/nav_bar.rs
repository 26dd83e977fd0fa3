//! The bar across the top of every page.

use leptos::prelude::*;
use leptos_router::components::A;

#[component]
pub fn NavBar() -> impl IntoView {
    view! {
        <header class="nav-bar">
            // A plain link, not `<A>`: the brand should never be marked as the current page.
            <a href="/query" class="brand">
                <img src="/favicon.svg" alt="" width="24" height="24" />
                <span>"Narthex"</span>
            </a>
            <nav class="nav-links" aria-label="Main">
                <A href="/query">"Query"</A>
            </nav>
        </header>
    }
}
