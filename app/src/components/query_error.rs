//! The box that replaces the results when a query fails.

use leptos::prelude::*;

use crate::api::ApiError;

#[component]
pub fn QueryError(error: ApiError) -> impl IntoView {
    let error_type = error.error_type().map(str::to_owned);
    let message = error.to_string();
    view! {
        <div class="error" role="alert" data-testid="query-error">
            <div class="error-title">
                "Error executing query"
                {error_type.map(|kind| view! { <span class="error-type">{kind}</span> })}
            </div>
            <pre class="error-message" data-testid="query-error-message">{message}</pre>
        </div>
    }
}
