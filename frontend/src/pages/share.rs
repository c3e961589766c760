//! `/share/TOKEN`: a share link opens its experiment read-only, in the view saved with the link
//! (tab, selected student) unless the URL already says otherwise.

use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};
use proard_shared::api::AccessInfo;

use crate::api;
use crate::pages::experiment::ExperimentView;
use crate::url_state::query_setter;

#[component]
pub fn SharePage() -> impl IntoView {
    let token = use_params_map().with_untracked(|p| p.get("token").unwrap_or_default());
    api::use_share_token(&token);
    let access = LocalResource::new(|| api::get::<AccessInfo>("/api/access"));
    let query = use_query_map();
    let set = query_setter();
    move || {
        access.get().map(|answer| match answer {
            Ok(AccessInfo::Share { experiment, view }) => {
                if query.with_untracked(|q| q.get("tab").is_none() && q.get("student").is_none()) {
                    let saved = |key: &str| {
                        view.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_owned()
                    };
                    set(&[("tab", saved("tab")), ("student", saved("student"))], true);
                }
                view! { <ExperimentView id=experiment read_only=true /> }.into_any()
            }
            Ok(AccessInfo::Owner) => {
                view! { <p class="error">"This token is the studio's own, not a share link's."</p> }
                    .into_any()
            }
            Err(e) if e.status == 401 || e.status == 404 => view! {
                <p class="error">"This share link does not exist or was revoked."</p>
            }
            .into_any(),
            Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
        })
    }
}
