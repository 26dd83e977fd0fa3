//! The PromQL input and its Execute button.

use leptos::prelude::*;

/// Above this many lines the textarea scrolls instead of growing further.
const MAX_VISIBLE_LINES: usize = 10;

/// A textarea that grows with the expression; Enter executes and Shift+Enter
/// inserts a newline, as in Prometheus's UI.
#[component]
pub fn ExpressionInput(
    expression: RwSignal<String>,
    #[prop(into)] on_execute: Callback<()>,
    #[prop(into)] executing: Signal<bool>,
) -> impl IntoView {
    let visible_lines = move || {
        expression
            .with(|text| text.lines().count())
            .clamp(1, MAX_VISIBLE_LINES)
    };
    let on_keydown = move |event: leptos::ev::KeyboardEvent| {
        // While an input method is composing, Enter confirms the composition.
        if event.key() == "Enter" && !event.shift_key() && !event.is_composing() {
            event.prevent_default();
            on_execute.run(());
        }
    };
    view! {
        <div class="expression-input">
            <textarea
                data-testid="expr-input"
                class="expression"
                aria-label="Expression"
                placeholder="Expression (press Shift+Enter for newlines)"
                spellcheck="false"
                autocomplete="off"
                autocapitalize="off"
                rows=visible_lines
                prop:value=move || expression.get()
                on:input=move |event| expression.set(event_target_value(&event))
                on:keydown=on_keydown
            ></textarea>
            <button
                type="button"
                class="execute"
                data-testid="execute"
                class:busy=move || executing.get()
                on:click=move |_| on_execute.run(())
            >
                "Execute"
            </button>
        </div>
    }
}
