//! The studio's shell: the header, and the route each page lives at. Every view's state
//! (tab, filters, selected student, compared runs) is in its URL, so reload, back/forward and
//! shared links restore it.

use leptos::prelude::*;
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::hooks::use_location;
use leptos_router::path;

use crate::pages::compare::ComparePage;
use crate::pages::experiment::ExperimentPage;
use crate::pages::experiments::ExperimentsPage;
use crate::pages::new_experiment::NewExperimentPage;
use crate::pages::share::SharePage;
use crate::pages::spaces::SpacesPage;

#[component]
pub fn App() -> impl IntoView {
    view! {
        <Router>
            <Bar />
            <main>
                <Routes fallback=|| view! { <p class="error">"There is no such page in the studio."</p> }>
                    <Route path=path!("/") view=ExperimentsPage />
                    <Route path=path!("/new") view=NewExperimentPage />
                    <Route path=path!("/experiments/:id") view=ExperimentPage />
                    <Route path=path!("/compare") view=ComparePage />
                    <Route path=path!("/spaces") view=SpacesPage />
                    <Route path=path!("/share/:token") view=SharePage />
                </Routes>
            </main>
        </Router>
    }
}

/// The header; a share link's page shows no way into the rest of the studio, which it cannot
/// read.
#[component]
fn Bar() -> impl IntoView {
    let location = use_location();
    let shared = move || location.pathname.get().starts_with("/share/");
    view! {
        <header class="bar">
            <span class="brand">"ProARD Studio"</span>
            <Show when=move || !shared() fallback=|| view! { <nav><span class="note">"shared view"</span></nav> }>
                <nav>
                    <A href="/">"Experiments"</A>
                    <A href="/new">"New experiment"</A>
                    <A href="/spaces">"Search spaces"</A>
                </nav>
            </Show>
        </header>
    }
}
