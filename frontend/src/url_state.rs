//! View state in the URL's query string: read a key reactively, write keys with a history
//! entry (so back/forward step through views) or in place (typing in a filter).

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_location, use_navigate, use_query_map};

/// The query value of `key` ("" when absent), reactive.
pub fn query(key: &'static str) -> Memo<String> {
    let map = use_query_map();
    Memo::new(move |_| map.with(|m| m.get(key).unwrap_or_default()))
}

/// A setter of query keys on the current path; an empty value removes its key.
pub fn query_setter() -> impl Fn(&[(&str, String)], bool) + Clone + 'static {
    let navigate = use_navigate();
    let location = use_location();
    let map = use_query_map();
    move |changes: &[(&str, String)], replace: bool| {
        let mut pairs: Vec<(String, String)> =
            map.get_untracked().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        for (key, value) in changes {
            pairs.retain(|(k, _)| k != key);
            if !value.is_empty() {
                pairs.push(((*key).to_owned(), value.clone()));
            }
        }
        pairs.sort();
        let query: Vec<String> =
            pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
        let path = location.pathname.get_untracked();
        let url = if query.is_empty() { path } else { format!("{path}?{}", query.join("&")) };
        navigate(&url, NavigateOptions { replace, scroll: false, ..Default::default() });
    }
}

/// Percent-encodes a query component.
pub fn encode(text: &str) -> String {
    js_sys::encode_uri_component(text).into()
}
