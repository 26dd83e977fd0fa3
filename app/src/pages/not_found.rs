//! Shown for any path no route claims, so a mistyped link says so instead of
//! rendering an empty page.

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_location;

#[component]
pub fn NotFoundPage() -> impl IntoView {
    let pathname = use_location().pathname;
    view! {
        <section class="not-found" data-testid="not-found">
            <h1>"Page not found"</h1>
            <p>"There is no page at " <code>{move || pathname.get()}</code> "."</p>
            <p>
                <A href="/query">"Go to the query page"</A>
            </p>
        </section>
    }
}
