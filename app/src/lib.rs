//! Narthex's web UI: a client-side-rendered Leptos app that talks to the
//! Prometheus-compatible API of the server it is served from.
//!
//! Layout: [`api`] is the typed HTTP client, [`pages`] hold one component per
//! route, [`components`] the pieces pages are assembled from.

pub mod api;
pub mod components;
pub mod editor;
pub mod explain;
pub mod graph;
pub mod ops;
pub mod pages;
pub mod panel_state;
pub mod percent_encoding;
pub mod series_format;
pub mod settings;
pub mod url_params;

use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

use crate::components::nav_bar::NavBar;
use crate::pages::alerts::AlertsPage;
use crate::pages::not_found::NotFoundPage;
use crate::pages::query::QueryPage;
use crate::pages::redirect_to_query::RedirectToQuery;
use crate::pages::rules::RulesPage;
use crate::pages::service_discovery::ServiceDiscoveryPage;
use crate::pages::status::{ConfigPage, FlagsPage, StatusPage, TsdbStatusPage};
use crate::pages::targets::TargetsPage;

/// The whole UI: navigation bar plus the page for the current route.
#[component]
pub fn App() -> impl IntoView {
    settings::Settings::install();
    components::names::NameCache::install();
    view! {
        <Router>
            <NavBar />
            <main class="page">
                <Routes fallback=NotFoundPage>
                    <Route path=path!("/") view=RedirectToQuery />
                    <Route path=path!("/query") view=QueryPage />
                    // Prometheus 3 still answers the old `/graph` links with the same page.
                    <Route path=path!("/graph") view=QueryPage />
                    <Route path=path!("/alerts") view=AlertsPage />
                    <Route path=path!("/targets") view=TargetsPage />
                    <Route path=path!("/service-discovery") view=ServiceDiscoveryPage />
                    <Route path=path!("/rules") view=RulesPage />
                    <Route path=path!("/status") view=StatusPage />
                    <Route path=path!("/tsdb-status") view=TsdbStatusPage />
                    <Route path=path!("/flags") view=FlagsPage />
                    <Route path=path!("/config") view=ConfigPage />
                    <Route path=path!("/not-found") view=NotFoundPage />
                </Routes>
            </main>
        </Router>
    }
}
