//! The expression browser (`/query`, alias `/graph`): any number of panels, each kept in the
//! URL with Prometheus's parameters. The URL and the panels follow each other: a change to a
//! panel pushes a history entry, and back/forward or a pasted link set the panels from the URL.

use leptos::prelude::*;
use leptos_router::hooks::{use_location, use_navigate};
use leptos_router::NavigateOptions;

use crate::components::panel::Panel;
use crate::panel_state::{decode_panels, encode_panels, PanelState};

/// A panel with an identity that survives reordering, so its component (and its result) stays.
#[derive(Clone, Copy)]
struct PanelEntry {
    id: u64,
    state: RwSignal<PanelState>,
}

#[component]
pub fn QueryPage() -> impl IntoView {
    let location = use_location();
    let search = location.search;
    let path = location.pathname;
    let next_id = StoredValue::new(0u64);
    // Panel states belong to the page: created in an effect or an event handler they would
    // otherwise belong to that, and be disposed when it runs again.
    let page_owner = StoredValue::new(Owner::current());
    let new_entry = move |state: PanelState| PanelEntry {
        id: next_id
            .try_update_value(|id| {
                *id += 1;
                *id
            })
            .unwrap_or(0),
        state: match page_owner.get_value() {
            Some(owner) => owner.with(|| RwSignal::new(state)),
            None => RwSignal::new(state),
        },
    };
    let from_url = |search: &str| {
        let panels = decode_panels(search);
        if panels.is_empty() {
            vec![PanelState::default()]
        } else {
            panels
        }
    };
    let panels = RwSignal::new(
        from_url(&search.get_untracked())
            .into_iter()
            .map(new_entry)
            .collect::<Vec<_>>(),
    );
    let current = move || -> Vec<PanelState> {
        panels.with(|entries| entries.iter().map(|e| e.state.get()).collect())
    };

    // The location is the router's, not this page's: while a navigation to another page is
    // under way this page still sees the new URL, which is none of its business.
    let on_this_page = move || path.with_untracked(|path| path == "/query" || path == "/graph");

    // URL -> panels (back, forward, pasted links). Panels at the same position keep their
    // component and only take the new state.
    Effect::new(move |_| {
        let search = search.get();
        if !on_this_page() {
            return;
        }
        let wanted = from_url(&search);
        let have = panels.with_untracked(|entries| {
            entries
                .iter()
                .map(|e| e.state.get_untracked())
                .collect::<Vec<_>>()
        });
        if encode_panels(&wanted) == encode_panels(&have) {
            return;
        }
        panels.update(|entries| {
            entries.truncate(wanted.len());
            for (index, state) in wanted.into_iter().enumerate() {
                match entries.get(index) {
                    Some(entry) => {
                        if entry.state.get_untracked() != state {
                            entry.state.set(state);
                        }
                    }
                    None => entries.push(new_entry(state)),
                }
            }
        });
    });

    // Panels -> URL: each change becomes a history entry. A URL that only says the same thing
    // differently (no panels yet, a Prometheus 2 link, other escaping) is replaced instead, so
    // Back does not show the same state twice.
    let navigate = use_navigate();
    Effect::new(move |_| {
        let encoded = encode_panels(&current());
        if !on_this_page() {
            return;
        }
        let shown = search.get_untracked();
        let shown = shown.trim_start_matches('?');
        if encoded == shown {
            return;
        }
        let shown_panels = decode_panels(shown);
        let replace = shown_panels.is_empty() || encode_panels(&shown_panels) == encoded;
        navigate(
            &format!("{}?{encoded}", path.get_untracked()),
            NavigateOptions {
                replace,
                scroll: false,
                ..NavigateOptions::default()
            },
        );
    });

    let add_panel = move |_| {
        panels.update(|entries| entries.push(new_entry(PanelState::default())));
    };
    let copied = RwSignal::new(false);
    let copy_link = move |_| {
        let href = window().location().href().unwrap_or_default();
        let _ = window().navigator().clipboard().write_text(&href);
        copied.set(true);
        // The page may be gone by then.
        set_timeout(
            move || {
                copied.try_set(false);
            },
            std::time::Duration::from_secs(2),
        );
    };
    let count = Signal::derive(move || panels.with(Vec::len));

    view! {
        <div class="query-page">
            <For
                each=move || panels.get().into_iter().enumerate()
                key=|(_, entry)| entry.id
                children=move |(index, entry)| {
                    let id = entry.id;
                    let position = Signal::derive(move || {
                        panels.with(|all| all.iter().position(|e| e.id == id).unwrap_or(index))
                    });
                    view! {
                        <Panel
                            state=entry.state
                            index=position
                            count=count
                            on_remove=move |()| {
                                panels.update(|all| {
                                    all.retain(|e| e.id != id);
                                    if all.is_empty() {
                                        all.push(new_entry(PanelState::default()));
                                    }
                                });
                            }
                            on_duplicate=move |()| {
                                panels.update(|all| {
                                    if let Some(at) = all.iter().position(|e| e.id == id) {
                                        let copy = new_entry(all[at].state.get_untracked());
                                        all.insert(at + 1, copy);
                                    }
                                });
                            }
                            on_move=move |delta: isize| {
                                panels.update(|all| {
                                    if let Some(at) = all.iter().position(|e| e.id == id) {
                                        let to = at as isize + delta;
                                        if to >= 0 && (to as usize) < all.len() {
                                            all.swap(at, to as usize);
                                        }
                                    }
                                });
                            }
                        />
                    }
                }
            />
            <div class="page-actions">
                <button type="button" data-testid="add-panel" on:click=add_panel>"Add panel"</button>
                <button type="button" data-testid="copy-link" on:click=copy_link>
                    {move || if copied.get() { "Link copied" } else { "Copy link" }}
                </button>
            </div>
        </div>
    }
}
