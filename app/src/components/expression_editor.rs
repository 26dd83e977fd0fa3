//! The PromQL editor: a textarea over a highlighted copy of its text (so the browser keeps
//! caret, selection, undo and input methods), parse errors underlined where the shared parser
//! stops, completions at the caret, and Format, History and Execute buttons. Enter executes,
//! Shift+Enter adds a line.

use leptos::html;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::components::names::NameCache;
use crate::editor::complete::{candidates, context_at, Candidate, Context, Names};
use crate::editor::highlight::{error_mark, render_html};
use crate::settings;

/// Above this many lines the editor scrolls instead of growing further.
const MAX_VISIBLE_LINES: usize = 12;

/// The byte offset in `text` of a UTF-16 offset, as textareas count.
fn byte_offset(text: &str, utf16_offset: u32) -> usize {
    let mut units = 0u32;
    for (index, character) in text.char_indices() {
        if units >= utf16_offset {
            return index;
        }
        units += character.len_utf16() as u32;
    }
    text.len()
}

/// The UTF-16 offset of byte offset `byte` in `text`.
fn utf16_offset(text: &str, byte: usize) -> u32 {
    text[..byte.min(text.len())].encode_utf16().count() as u32
}

#[component]
pub fn ExpressionEditor(
    expression: RwSignal<String>,
    #[prop(into)] on_execute: Callback<()>,
    #[prop(into)] executing: Signal<bool>,
    /// Opens the metrics explorer.
    #[prop(into)]
    on_explore: Callback<()>,
) -> impl IntoView {
    let names = NameCache::get();
    let textarea = NodeRef::<html::Textarea>::new();
    let highlight_layer = NodeRef::<html::Pre>::new();
    let caret = RwSignal::new(0usize);
    let completion_open = RwSignal::new(false);
    let selected = RwSignal::new(0usize);
    // Enter takes a completion only once the user moved through the list; otherwise it runs
    // the expression as typed (typing `node_load1` must not run `node_load15`). Tab always takes.
    let navigated = RwSignal::new(false);
    let popup_position = RwSignal::new((0.0, 0.0));
    let history_open = RwSignal::new(false);

    let error = Memo::new(move |_| expression.with(|text| error_mark(text)));
    let highlighted = move || {
        let with_caret = completion_open.get().then(|| caret.get());
        expression.with(|text| render_html(text, error.get().as_ref(), with_caret))
    };

    let context = Memo::new(move |_| {
        let at = caret.get();
        expression.with(|text| {
            let (context, start) = context_at(text, at);
            let prefix = text.get(start..at.min(text.len())).unwrap_or("").to_owned();
            (context, start, prefix)
        })
    });
    // Ask the server for the names the context needs, once each.
    Effect::new(move |_| {
        if !completion_open.get() {
            return;
        }
        match context.get().0 {
            Context::Expression => names.load_metrics(),
            Context::LabelName { metric } => names.load_labels(metric.as_deref()),
            Context::LabelValue { metric, label, .. } => {
                names.load_values(metric.as_deref(), &label)
            }
            Context::Duration | Context::Nothing => {}
        }
    });
    let suggestions = Memo::new(move |_| {
        if !completion_open.get() {
            return Vec::new();
        }
        let (context, _, prefix) = context.get();
        let metrics = names.metrics.get();
        let metadata = names.metadata.get();
        let help = |name: &str| NameCache::help_of(&metadata, name);
        let (labels, values) = match &context {
            Context::LabelName { metric } => (
                names
                    .labels
                    .with(|all| all.get(metric.as_deref().unwrap_or("")).cloned())
                    .unwrap_or_default(),
                Vec::new(),
            ),
            Context::LabelValue { metric, label, .. } => (
                Vec::new(),
                names
                    .values
                    .with(|all| {
                        all.get(&(metric.clone().unwrap_or_default(), label.clone()))
                            .cloned()
                    })
                    .unwrap_or_default(),
            ),
            _ => (Vec::new(), Vec::new()),
        };
        candidates(
            &context,
            &prefix,
            &Names {
                metrics: &metrics,
                metric_help: Some(&help),
                labels: &labels,
                values: &values,
            },
        )
    });

    let sync_caret = move || {
        if let Some(element) = textarea.get_untracked() {
            let text = expression.get_untracked();
            let position = element.selection_start().ok().flatten().unwrap_or(0);
            caret.set(byte_offset(&text, position));
        }
    };
    // The list sits under the caret; its anchor exists once the highlight layer is redrawn.
    let place_popup = move || {
        request_animation_frame(move || {
            // The editor may be gone by the next frame.
            let (Some(layer), Some(element)) = (
                highlight_layer.try_get_untracked().flatten(),
                textarea.try_get_untracked().flatten(),
            ) else {
                return;
            };
            if let Ok(Some(anchor)) = layer.query_selector(".caret-anchor") {
                if let Ok(anchor) = anchor.dyn_into::<web_sys::HtmlElement>() {
                    let left = f64::from(anchor.offset_left()) - f64::from(element.scroll_left());
                    let top = f64::from(anchor.offset_top() + anchor.offset_height().max(18))
                        - f64::from(element.scroll_top());
                    popup_position.try_set((left.max(0.0), top + 2.0));
                }
            }
        });
    };
    let accept = move |candidate: &Candidate| {
        let (_, start, _) = context.get_untracked();
        let end = caret.get_untracked();
        let mut text = expression.get_untracked();
        if start > end
            || end > text.len()
            || !text.is_char_boundary(start)
            || !text.is_char_boundary(end)
        {
            completion_open.set(false);
            return;
        }
        text.replace_range(start..end, &candidate.insert);
        let new_caret = start + candidate.insert.len();
        if let Some(element) = textarea.get_untracked() {
            element.set_value(&text);
            let position = utf16_offset(&text, new_caret);
            let _ = element.set_selection_range(position, position);
            let _ = element.focus();
        }
        expression.set(text);
        caret.set(new_caret);
        navigated.set(false);
        // A function or aggregation continues with its argument; anything else is done.
        let continues = candidate.insert.ends_with('(');
        completion_open.set(continues);
        selected.set(0);
        if continues {
            place_popup();
        }
    };

    let on_input = move |event: leptos::ev::Event| {
        expression.set(event_target_value(&event));
        sync_caret();
        let typed = expression.with_untracked(|text| {
            text[..caret.get_untracked().min(text.len())]
                .chars()
                .last()
                .is_some_and(|c| c.is_ascii_alphanumeric() || "_:{(,=~\"[".contains(c))
        });
        completion_open.set(typed);
        selected.set(0);
        navigated.set(false);
        if typed {
            place_popup();
        }
    };
    let on_keydown = move |event: leptos::ev::KeyboardEvent| {
        let open = completion_open.get_untracked() && !suggestions.with_untracked(Vec::is_empty);
        match event.key().as_str() {
            "ArrowDown" | "ArrowUp" if open => {
                event.prevent_default();
                navigated.set(true);
                let count = suggestions.with_untracked(Vec::len);
                selected.update(|index| {
                    *index = if event.key() == "ArrowDown" {
                        (*index + 1) % count
                    } else {
                        (*index + count - 1) % count
                    }
                });
            }
            "Tab" if open && !event.shift_key() => {
                event.prevent_default();
                if let Some(candidate) =
                    suggestions.with_untracked(|all| all.get(selected.get_untracked()).cloned())
                {
                    accept(&candidate);
                }
            }
            "Enter" if open && navigated.get_untracked() && !event.shift_key() => {
                event.prevent_default();
                if let Some(candidate) =
                    suggestions.with_untracked(|all| all.get(selected.get_untracked()).cloned())
                {
                    accept(&candidate);
                }
            }
            "Escape" => completion_open.set(false),
            " " if event.ctrl_key() => {
                event.prevent_default();
                sync_caret();
                completion_open.set(true);
                place_popup();
            }
            // While an input method is composing, Enter confirms the composition.
            "Enter" if !event.shift_key() && !event.is_composing() => {
                event.prevent_default();
                completion_open.set(false);
                on_execute.run(());
            }
            _ => {}
        }
    };
    let on_scroll = move |_| {
        if let (Some(layer), Some(element)) = (highlight_layer.get(), textarea.get()) {
            layer.set_scroll_top(element.scroll_top());
            layer.set_scroll_left(element.scroll_left());
        }
    };
    let visible_lines = move || {
        expression
            .with(|text| text.split('\n').count())
            .clamp(1, MAX_VISIBLE_LINES)
    };
    let format = move |_| {
        let text = expression.get_untracked();
        if let Ok(parsed) = narthex_promql::parse_with(&text, &narthex_promql::ParseOptions::all())
        {
            expression.set(narthex_promql::pretty::prettify(&parsed));
        }
    };

    view! {
        <div class="editor-wrap">
        <div class="editor">
            <div class="editor-field">
                <pre
                    class="editor-highlight"
                    aria-hidden="true"
                    node_ref=highlight_layer
                    inner_html=highlighted
                ></pre>
                <textarea
                    data-testid="expr-input"
                    class="expression"
                    aria-label="Expression"
                    placeholder="Expression (press Shift+Enter for newlines)"
                    spellcheck="false"
                    autocomplete="off"
                    autocapitalize="off"
                    rows=visible_lines
                    node_ref=textarea
                    prop:value=move || expression.get()
                    on:input=on_input
                    on:keydown=on_keydown
                    on:click=move |_| {
                        sync_caret();
                        completion_open.set(false);
                    }
                    on:blur=move |_| completion_open.set(false)
                    on:scroll=on_scroll
                ></textarea>
                <Show when=move || completion_open.get() && !suggestions.with(Vec::is_empty)>
                    <ul
                        class="completions"
                        role="listbox"
                        data-testid="completions"
                        style:left=move || format!("{}px", popup_position.get().0)
                        style:top=move || format!("{}px", popup_position.get().1)
                    >
                        {move || {
                            suggestions
                                .get()
                                .into_iter()
                                .enumerate()
                                .map(|(index, candidate)| {
                                    let chosen = candidate.clone();
                                    view! {
                                        <li
                                            role="option"
                                            class="completion"
                                            class:selected=move || selected.get() == index
                                            aria-selected=move || (selected.get() == index).to_string()
                                            data-testid="completion"
                                            // mousedown, not click: the textarea must keep focus.
                                            on:mousedown=move |event| {
                                                event.prevent_default();
                                                accept(&chosen);
                                            }
                                        >
                                            <span class=format!("kind {}", candidate.kind.class())>
                                                {candidate.kind.letter()}
                                            </span>
                                            <span class="completion-label">{candidate.label.clone()}</span>
                                            <span class="completion-detail">{candidate.detail.clone()}</span>
                                        </li>
                                    }
                                })
                                .collect_view()
                        }}
                    </ul>
                </Show>
            </div>
            <div class="editor-buttons">
                <button type="button" class="icon-button" title="Format expression" data-testid="format" on:click=format>
                    "Format"
                </button>
                <div class="history">
                    <button
                        type="button"
                        class="icon-button"
                        title="Query history"
                        data-testid="history-button"
                        on:click=move |_| history_open.update(|open| *open = !*open)
                    >
                        "History"
                    </button>
                    <Show when=move || history_open.get()>
                        <ul class="history-list" data-testid="history-list">
                            {settings::history()
                                .into_iter()
                                .map(|entry| {
                                    let chosen = entry.clone();
                                    view! {
                                        <li>
                                            <button
                                                type="button"
                                                on:click=move |_| {
                                                    expression.set(chosen.clone());
                                                    history_open.set(false);
                                                }
                                            >
                                                {entry}
                                            </button>
                                        </li>
                                    }
                                })
                                .collect_view()}
                        </ul>
                    </Show>
                </div>
                <button type="button" class="icon-button" title="Metrics explorer" data-testid="explore-metrics" on:click=move |_| on_explore.run(())>
                    "Metrics"
                </button>
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
        </div>
        {move || {
            error
                .get()
                .map(|mark| {
                    view! { <div class="parse-error" data-testid="parse-error">{mark.message}</div> }
                })
        }}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::{byte_offset, utf16_offset};

    #[test]
    fn caret_offsets_convert_between_utf16_and_bytes() {
        let text = "a{b=\"é😀\"}";
        assert_eq!(byte_offset(text, 0), 0);
        assert_eq!(byte_offset(text, 6), 7);
        assert_eq!(byte_offset(text, 8), 11);
        assert_eq!(byte_offset(text, 99), text.len());
        for byte in [0, 5, 7, 11, text.len()] {
            assert_eq!(byte_offset(text, utf16_offset(text, byte)), byte);
        }
    }
}
