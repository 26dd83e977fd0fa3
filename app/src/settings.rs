//! Per-browser settings and history kept in `localStorage`: the theme (following the system
//! unless chosen), whether times are shown in UTC, and the last executed expressions.

use leptos::prelude::*;

const THEME_KEY: &str = "narthex.theme";
const UTC_KEY: &str = "narthex.utc";
const HISTORY_KEY: &str = "narthex.history";
/// How many executed expressions the history keeps.
pub const HISTORY_LENGTH: usize = 50;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Theme {
    /// Light or dark as the system prefers.
    System,
    Light,
    Dark,
}

impl Theme {
    fn as_str(self) -> &'static str {
        match self {
            Theme::System => "system",
            Theme::Light => "light",
            Theme::Dark => "dark",
        }
    }

    fn parse(text: &str) -> Theme {
        match text {
            "light" => Theme::Light,
            "dark" => Theme::Dark,
            _ => Theme::System,
        }
    }

    /// The next theme of the toggle: system, light, dark, system, ...
    pub fn next(self) -> Theme {
        match self {
            Theme::System => Theme::Light,
            Theme::Light => Theme::Dark,
            Theme::Dark => Theme::System,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Theme::System => "Theme: system",
            Theme::Light => "Theme: light",
            Theme::Dark => "Theme: dark",
        }
    }
}

/// The settings every page reads, provided as a context by the app.
#[derive(Clone, Copy)]
pub struct Settings {
    pub theme: RwSignal<Theme>,
    pub utc: RwSignal<bool>,
}

fn storage() -> Option<web_sys::Storage> {
    window().local_storage().ok().flatten()
}

fn load(key: &str) -> Option<String> {
    storage()?.get_item(key).ok().flatten()
}

fn save(key: &str, value: &str) {
    if let Some(storage) = storage() {
        // A full or disabled storage only loses the preference, never the page.
        let _ = storage.set_item(key, value);
    }
}

impl Settings {
    /// Reads the stored settings and keeps storage and the document's theme attribute in step
    /// with them.
    pub fn install() -> Settings {
        let settings = Settings {
            theme: RwSignal::new(Theme::parse(&load(THEME_KEY).unwrap_or_default())),
            utc: RwSignal::new(load(UTC_KEY).as_deref() == Some("1")),
        };
        Effect::new(move |_| {
            let theme = settings.theme.get();
            save(THEME_KEY, theme.as_str());
            if let Some(root) = document().document_element() {
                let _ = root.set_attribute("data-theme", theme.as_str());
            }
        });
        Effect::new(move |_| save(UTC_KEY, if settings.utc.get() { "1" } else { "0" }));
        provide_context(settings);
        settings
    }

    pub fn get() -> Settings {
        use_context::<Settings>().unwrap_or_else(|| Settings {
            theme: RwSignal::new(Theme::System),
            utc: RwSignal::new(false),
        })
    }
}

/// Minutes east of UTC of the displayed zone at `ms`: 0 in UTC, else the browser's zone.
pub fn offset_minutes(utc: bool, ms: i64) -> i64 {
    if utc {
        0
    } else {
        -(js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64)).get_timezone_offset()
            as i64)
    }
}

/// Date and time of day of `ms` in the displayed zone.
fn local_parts(utc: bool, ms: i64) -> (String, String) {
    crate::panel_state::split_utc(ms + offset_minutes(utc, ms) * 60_000)
}

/// `YYYY-MM-DD HH:mm:ss` of `ms` in the displayed zone, with the zone named.
pub fn format_time(utc: bool, ms: i64) -> String {
    let (date, time) = local_parts(utc, ms);
    if utc {
        format!("{date} {time} UTC")
    } else {
        format!("{date} {time}")
    }
}

/// `ms` as the value of a `datetime-local` input showing the displayed zone.
pub fn input_time(utc: bool, ms: i64) -> String {
    let (date, time) = local_parts(utc, ms);
    format!("{date}T{time}")
}

/// A `datetime-local` input's value, read in the displayed zone, as Unix milliseconds.
pub fn parse_input_time(utc: bool, text: &str) -> Option<i64> {
    let shown = crate::panel_state::parse_url_time(text)?;
    Some(shown - offset_minutes(utc, shown) * 60_000)
}

/// The stored history, newest first.
pub fn history() -> Vec<String> {
    load(HISTORY_KEY)
        .and_then(|text| serde_json::from_str::<Vec<String>>(&text).ok())
        .unwrap_or_default()
}

/// Puts `expression` first in the history, without duplicates.
pub fn remember(expression: &str) {
    let expression = expression.trim();
    if expression.is_empty() {
        return;
    }
    let mut entries = history();
    entries.retain(|entry| entry != expression);
    entries.insert(0, expression.to_owned());
    entries.truncate(HISTORY_LENGTH);
    if let Ok(text) = serde_json::to_string(&entries) {
        save(HISTORY_KEY, &text);
    }
}
