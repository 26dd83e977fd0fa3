//! `/` has no page of its own: like Prometheus, it sends visitors to the
//! expression browser.

use leptos::prelude::*;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_location;

/// Redirects to `/query`, keeping any query string so that old
/// `/?g0.expr=...` links still open the expression they point at.
#[component]
pub fn RedirectToQuery() -> impl IntoView {
    let search = use_location().search.get_untracked();
    let target = if search.is_empty() {
        "/query".to_owned()
    } else {
        format!("/query?{}", search.trim_start_matches('?'))
    };
    view! { <Redirect path=target /> }
}
