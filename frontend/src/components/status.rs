//! The status badge of an experiment, a stage or a job.

use leptos::prelude::*;

#[component]
pub fn StatusBadge(#[prop(into)] status: Signal<String>) -> impl IntoView {
    view! { <span class=move || format!("badge {}", status.get())>{move || status.get()}</span> }
}
