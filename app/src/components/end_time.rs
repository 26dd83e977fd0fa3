//! The panel's end time (graph) or evaluation time (table): a `datetime-local` input in the
//! displayed time zone, and a Now button that goes back to following the present.

use leptos::prelude::*;

use crate::panel_state::PanelState;
use crate::settings::{self, Settings};

/// `test_id` names the input `{test_id}-input` and the button `{test_id}-now`; `label` is shown
/// before the input when `visible_label`, else only given to assistive technology.
#[component]
pub fn EndTimeInput(
    state: RwSignal<PanelState>,
    test_id: &'static str,
    label: &'static str,
    #[prop(optional)] visible_label: bool,
) -> impl IntoView {
    let settings = Settings::get();
    let value = move || {
        state
            .with(|s| s.end_ms)
            .map(|ms| settings::input_time(settings.utc.get(), ms))
            .unwrap_or_default()
    };
    view! {
        <div class="control-group" role="group" aria-label=label>
            {visible_label.then(|| view! { <span>{label}</span> })}
            <input
                type="datetime-local"
                step="1"
                data-testid=format!("{test_id}-input")
                aria-label=label
                prop:value=value
                on:change=move |event| {
                    let end = settings::parse_input_time(
                        settings.utc.get_untracked(),
                        &event_target_value(&event),
                    );
                    state.update(|s| s.end_ms = end);
                }
            />
            <button
                type="button"
                title="Follow the present"
                data-testid=format!("{test_id}-now")
                disabled=move || state.with(|s| s.end_ms.is_none())
                on:click=move |_| state.update(|s| s.end_ms = None)
            >
                "Now"
            </button>
        </div>
    }
}
