//! `/share/TOKEN`: a share link opens its experiment read-only, in the view saved with the link
//! (its whole query: tab, selected student, a search's settings and member) unless the URL
//! already says otherwise.

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
                if query.with_untracked(|q| q.into_iter().next().is_none()) {
                    let saved: Vec<(&str, String)> = view
                        .as_object()
                        .into_iter()
                        .flatten()
                        .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?.to_owned())))
                        .collect();
                    set(&saved, true);
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
