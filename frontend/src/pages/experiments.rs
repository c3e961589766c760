//! The experiments table: status, space, methods, progress and best students; sorted, filtered
//! and searched through the URL; rows selected to compare; CSV of what is listed. It follows the
//! list's event stream, so statuses change as workers report.

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;
use proard_shared::api::{ExperimentSummary, Page, Status};

use crate::api;
use crate::components::status::StatusBadge;
use crate::live;
use crate::url_state::{encode, query, query_setter};

/// "0.512" or "–".
pub fn accuracy(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{v:.3}"))
}

/// A local date and time of Unix milliseconds ("2026-12-01 15:04").
pub fn when(ms: i64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        date.get_full_year(),
        date.get_month() + 1,
        date.get_date(),
        date.get_hours(),
        date.get_minutes()
    )
}

/// Offers `text` as a file download named `name`.
pub fn download(name: &str, mime: &str, text: &str) {
    let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(text));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let Ok(blob) = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options) else {
        return;
    };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else { return };
    let document = web_sys::window().and_then(|w| w.document());
    if let Some(anchor) = document.and_then(|d| d.create_element("a").ok()) {
        let _ = anchor.set_attribute("href", &url);
        let _ = anchor.set_attribute("download", name);
        if let Some(element) = wasm_bindgen::JsCast::dyn_ref::<web_sys::HtmlElement>(&anchor) {
            element.click();
        }
    }
    let _ = web_sys::Url::revoke_object_url(&url);
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn csv(rows: &[ExperimentSummary]) -> String {
    let mut out = String::from(
        "id,name,status,space,teacher,distillation,progress,best_clean,best_pgd20,created,tags\n",
    );
    for r in rows {
        let e = &r.experiment;
        let fields = [
            e.id.to_string(),
            e.name.clone(),
            e.status.as_str().to_owned(),
            e.space.clone(),
            e.teacher_method.clone(),
            e.distill_method.clone(),
            format!("{:.3}", r.progress),
            r.best_clean.map(|v| v.to_string()).unwrap_or_default(),
            r.best_pgd20.map(|v| v.to_string()).unwrap_or_default(),
            when(e.created_at),
            e.tags.join(" "),
        ];
        out += &fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(",");
        out.push('\n');
    }
    out
}

#[component]
pub fn ExperimentsPage() -> impl IntoView {
    let (text, status, method, tag) = (query("q"), query("status"), query("method"), query("tag"));
    let (sort, desc) = (query("sort"), query("desc"));
    let set = query_setter();
    let (changed, set_changed) = signal(0u64);
    live::follow(api::events_url("/api/events"), 1000, vec![("status", set_changed)]);
    let list = LocalResource::new(move || {
        changed.track();
        let mut url = String::from("/api/experiments?limit=500");
        for (key, value) in [
            ("q", text.get()),
            ("status", status.get()),
            ("method", method.get()),
            ("tag", tag.get()),
            ("sort", sort.get()),
            ("desc", desc.get()),
        ] {
            if !value.is_empty() {
                url += &format!("&{key}={}", encode(&value));
            }
        }
        async move { api::get::<Page<ExperimentSummary>>(&url).await }
    });
    let chosen = RwSignal::new(Vec::<i64>::new());
    let too_few = move || chosen.get().len() < 2;
    let navigate = use_navigate();
    let compare = move |_| {
        let ids: Vec<String> = chosen.get().iter().map(i64::to_string).collect();
        navigate(&format!("/compare?ids={}", ids.join(",")), Default::default());
    };
    let header = {
        let set = set.clone();
        move |key: &'static str, label: &'static str| {
            let set = set.clone();
            let arrow = move || match (sort.get() == key, desc.get() == "true") {
                (true, true) => " ▼",
                (true, false) => " ▲",
                _ => "",
            };
            view! {
                <th class="sortable" on:click=move |_| {
                    let flip = sort.get_untracked() == key && desc.get_untracked() != "true";
                    set(&[("sort", key.to_owned()), ("desc", flip.to_string())], false);
                }>{label}{arrow}</th>
            }
        }
    };
    let filter_input = {
        let set = set.clone();
        move |key: &'static str, placeholder: &'static str, value: Memo<String>| {
            let set = set.clone();
            view! {
                <input type="search" class=format!("filter-{key}") placeholder=placeholder prop:value=move || value.get()
                    on:change=move |ev| set(&[(key, event_target_value(&ev))], true) />
            }
        }
    };
    let set_status = set.clone();
    view! {
        <section class="page">
            <div class="page-head">
                <h1>"Experiments"</h1>
                <A href="/new" attr:class="button primary">"New experiment"</A>
            </div>
            <div class="filters">
                {filter_input("q", "search name and notes", text)}
                <select class="filter-status" prop:value=move || status.get() on:change=move |ev| set_status(&[("status", event_target_value(&ev))], false)>
                    <option value="">"any status"</option>
                    {Status::ALL.iter().map(|s| view! { <option value=s.as_str()>{s.as_str()}</option> }).collect_view()}
                </select>
                {filter_input("method", "method (rslad, trades…)", method)}
                {filter_input("tag", "tag", tag)}
                <button disabled=too_few on:click=compare class="compare">
                    {move || format!("Compare {} selected", chosen.get().len())}
                </button>
                <button class="export" on:click=move |_| {
                    if let Some(Ok(page)) = list.get() { download("experiments.csv", "text/csv", &csv(&page.items)); }
                }>"Export CSV"</button>
            </div>
            <Transition fallback=|| view! { <p class="note">"Loading experiments…"</p> }>
                {move || list.get().map(|answer| match answer {
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    Ok(page) if page.items.is_empty() => view! {
                        <p class="note">"No experiment matches. "<A href="/new">"Create one"</A>" or clear the filters."</p>
                    }.into_any(),
                    Ok(page) => {
                        let shown = format!("{} of {} experiments", page.items.len(), page.total);
                        view! {
                        <table id="experiments" class="data">
                            <thead><tr>
                                <th></th>
                                {header("name", "name")}
                                {header("status", "status")}
                                <th>"space"</th>
                                <th>"teacher"</th>
                                <th>"distillation"</th>
                                <th>"progress"</th>
                                <th class="num">"best clean"</th>
                                <th class="num">"best PGD-20"</th>
                                {header("created", "created")}
                                <th>"tags"</th>
                            </tr></thead>
                            <tbody>
                                {page.items.into_iter().map(|row| {
                                    let e = row.experiment.clone();
                                    let id = e.id;
                                    view! {
                                        <tr data-id=id data-status=e.status.as_str()>
                                            <td><input type="checkbox" class="choose"
                                                prop:checked=move || chosen.get().contains(&id)
                                                on:change=move |ev| {
                                                    let on = event_target_checked(&ev);
                                                    chosen.update(|c| { c.retain(|x| *x != id); if on { c.push(id) } });
                                                } /></td>
                                            <td><A href=format!("/experiments/{id}")>{e.name.clone()}</A></td>
                                            <td><StatusBadge status=e.status.as_str().to_owned() /></td>
                                            <td>{e.space.clone()}</td>
                                            <td>{e.teacher_method.clone()}</td>
                                            <td>{e.distill_method.clone()}</td>
                                            <td><div class="progress" title=format!("{:.0}% of jobs done", 100.0 * row.progress)>
                                                <div style=format!("width: {:.1}%", 100.0 * row.progress)></div>
                                            </div></td>
                                            <td class="num best-clean">{accuracy(row.best_clean)}</td>
                                            <td class="num best-pgd20">{accuracy(row.best_pgd20)}{other_attack(&row.experiment.config)}</td>
                                            <td>{when(e.created_at)}</td>
                                            <td>{e.tags.iter().map(|t| view! { <span class="tag">{t.clone()}</span> }).collect_view()}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                        <p class="note">{shown}</p>
                    }.into_any()
                    }
                })}
            </Transition>
        </section>
    }
}

/// The robust column's attack where it is not the papers' PGD-20 (final iterate), so that no
/// number is read as one it is not.
fn other_attack(config: &str) -> Option<impl IntoView + use<>> {
    let label = crate::clouds::robust_label(config);
    (label != "PGD-20").then(|| view! { <small class="attack">{format!(" {label}")}</small> })
}
