//! Page filters kept in the URL's query string (`/targets?health=down&search=node`), so every
//! filtered view is a link; changing one replaces the history entry rather than adding one.

use leptos::prelude::*;
use leptos_router::hooks::{use_location, use_navigate, use_query_map};
use leptos_router::NavigateOptions;

use crate::percent_encoding::encode_uri_component;

/// The router's navigate function, shareable between copies of a `UrlParam`.
type Navigate = std::sync::Arc<dyn Fn(&str, NavigateOptions) + Send + Sync>;

/// A query parameter as a signal, with a setter that writes it back (an empty value removes it).
#[derive(Clone, Copy)]
pub struct UrlParam {
    pub value: Memo<String>,
    name: &'static str,
    search: Memo<String>,
    path: Memo<String>,
    navigate: StoredValue<Navigate>,
}

impl UrlParam {
    pub fn new(name: &'static str) -> UrlParam {
        let query = use_query_map();
        let location = use_location();
        let navigate = use_navigate();
        UrlParam {
            value: Memo::new(move |_| query.with(|q| q.get(name).unwrap_or_default())),
            name,
            search: location.search,
            path: location.pathname,
            navigate: StoredValue::new(std::sync::Arc::new(move |url: &str, options| {
                navigate(url, options)
            })),
        }
    }

    pub fn get(&self) -> String {
        self.value.get()
    }

    pub fn get_untracked(&self) -> String {
        self.value.get_untracked()
    }

    pub fn set(&self, value: &str) {
        let search = self.search.get_untracked();
        let url = format!(
            "{}{}",
            self.path.get_untracked(),
            with_param(&search, self.name, value)
        );
        let navigate = self.navigate.get_value();
        navigate(
            &url,
            NavigateOptions {
                replace: true,
                scroll: false,
                ..NavigateOptions::default()
            },
        );
    }
}

/// `search` (with or without `?`) with `name` set to `value`, or removed when `value` is empty;
/// other parameters keep their order.
pub fn with_param(search: &str, name: &str, value: &str) -> String {
    let mut pairs: Vec<String> = search
        .trim_start_matches('?')
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| pair.split('=').next() != Some(name))
        .map(str::to_owned)
        .collect();
    if !value.is_empty() {
        pairs.push(format!("{name}={}", encode_uri_component(value)));
    }
    if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::with_param;

    #[test]
    fn parameters_are_set_replaced_and_removed() {
        assert_eq!(with_param("", "health", "down"), "?health=down");
        assert_eq!(
            with_param("?search=a&health=up", "health", "down,unknown"),
            "?search=a&health=down%2Cunknown"
        );
        assert_eq!(with_param("?health=up", "health", ""), "");
        assert_eq!(
            with_param("search=x y", "pool", "node"),
            "?search=x y&pool=node"
        );
    }
}
