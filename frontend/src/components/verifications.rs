//! Students taken home: the controls that export or verify the selected student (a job on a
//! worker), and the experiment's verifications with their measured values beside the values
//! its evaluation recorded, warnings and the weights file to download.

use gloo::net::http::Method;
use leptos::prelude::*;
use proard_shared::api::{Student, Verification};

use crate::api;
use crate::components::status::StatusBadge;

/// The attacks `proard verify` runs, as the API names them, with their labels.
const ATTACKS: [(&str, &str); 6] = [
    ("fgsm", "FGSM"),
    ("pgd20", "PGD-20"),
    ("cw", "CW∞"),
    ("apgd-ce", "APGD-CE"),
    ("apgd-t", "APGD-T"),
    ("autoattack", "AutoAttack-style"),
];

/// Export / verify buttons for one student; `queued` is bumped when a job was queued.
#[component]
pub fn VerifyControls(id: i64, student: Student, queued: WriteSignal<u64>) -> impl IntoView {
    let chosen =
        RwSignal::new(ATTACKS.iter().map(|(name, _)| name.to_string()).collect::<Vec<_>>());
    let apgd_iterations = RwSignal::new("100".to_owned());
    let message = RwSignal::new(None::<Result<String, String>>);
    let request = Callback::new(move |attacks: Vec<String>| {
        let iterations = apgd_iterations.get_untracked().trim().parse::<usize>().ok();
        let body = serde_json::json!({
            "cloud": student.cloud.clone(),
            "index": student.record.index,
            "attacks": attacks,
            "apgd_iterations": iterations,
        });
        leptos::task::spawn_local(async move {
            let path = format!("/api/experiments/{id}/verifications");
            match api::send::<Verification>(Method::POST, &path, Some(&body)).await {
                Ok(v) => {
                    message.set(Some(Ok(format!("queued as verification {}", v.id))));
                    queued.update(|n| *n += 1);
                }
                Err(e) => message.set(Some(Err(e.to_string()))),
            }
        });
    });
    let toggle = move |name: &'static str| {
        chosen.update(|c| {
            if let Some(at) = c.iter().position(|n| n == name) {
                c.remove(at);
            } else {
                c.push(name.to_owned());
            }
        })
    };
    view! {
        <div class="verify-controls">
            <button class="export" on:click=move |_| request.run(Vec::new())
                title="a standalone weights file, BatchNorm calibrated as the evaluation does">"Export weights"</button>
            <button class="verify" on:click=move |_| {
                let order: Vec<String> = ATTACKS.iter().map(|(n, _)| n.to_string()).filter(|n| chosen.get_untracked().contains(n)).collect();
                request.run(order)
            }>"Verify under attacks"</button>
            {ATTACKS.iter().map(|&(name, label)| view! {
                <label class="attack-choice">
                    <input type="checkbox" data-attack=name prop:checked=move || chosen.get().iter().any(|n| n == name)
                        on:change=move |_| toggle(name) />
                    {label}
                </label>
            }).collect_view()}
            <label class="attack-choice">"APGD iterations "
                <input class="apgd-iterations" type="number" min="1" prop:value=apgd_iterations
                    on:input=move |ev| apgd_iterations.set(event_target_value(&ev)) />
            </label>
            {move || message.get().map(|m| match m {
                Ok(text) => view! { <span class="ok">{text}</span> }.into_any(),
                Err(text) => view! { <span class="error">{text}</span> }.into_any(),
            })}
        </div>
    }
}

/// The experiment's verifications, refreshed while one is pending and when `changed` moves.
#[component]
pub fn Verifications(
    id: i64,
    #[prop(into)] changed: Signal<u64>,
    #[prop(into)] students: Signal<Vec<Student>>,
) -> impl IntoView {
    let (tick, set_tick) = signal(0u64);
    let list = LocalResource::new(move || {
        changed.track();
        tick.track();
        async move {
            api::get::<Vec<Verification>>(&format!("/api/experiments/{id}/verifications")).await
        }
    });
    let pending = move || {
        list.get()
            .and_then(Result::ok)
            .is_some_and(|l| l.iter().any(|v| matches!(v.status.as_str(), "queued" | "running")))
    };
    // Jobs report their end through the list only: poll while one is pending.
    let poll = gloo::timers::callback::Interval::new(2000, move || {
        if pending() {
            set_tick.update(|n| *n += 1);
        }
    });
    let held = send_wrapper::SendWrapper::new(poll);
    on_cleanup(move || drop(held.take()));
    let recorded = move |v: &Verification| {
        students.with(|all| {
            all.iter()
                .find(|s| s.cloud == v.request.cloud && Some(s.record.index) == v.request.index)
                .map(|s| s.record.clone())
        })
    };
    view! {
        {move || list.get().and_then(Result::ok).filter(|l| !l.is_empty()).map(|list| view! {
            <h2>"Verified students"</h2>
            <table class="data" id="verifications">
                <thead><tr>
                    <th>"#"</th><th>"student"</th><th>"status"</th><th class="num">"images"</th>
                    <th>"measured accuracy (recorded by the evaluation)"</th><th>"warnings"</th><th>"weights"</th>
                </tr></thead>
                <tbody>{list.into_iter().map(|v| {
                    let record = recorded(&v);
                    let student = match v.request.index {
                        Some(index) => format!("{} #{index}", v.request.cloud),
                        None => format!("{} (given arch)", v.request.cloud),
                    };
                    let measured = v.result.as_ref().map(|r| {
                        let recorded_value = |name: &str| record.as_ref().and_then(|s| match name {
                            "clean" => Some(s.clean),
                            "fgsm" => Some(s.fgsm),
                            "pgd20" => Some(s.pgd20),
                            _ => None,
                        });
                        let cell = |name: &str, label: String, value: f64| {
                            let was = recorded_value(name).map(|w| format!(" ({w:.3})")).unwrap_or_default();
                            view! { <span class="measure" data-attack=name.to_owned()>{format!("{label} {value:.3}{was}")}</span> }
                        };
                        let mut cells = vec![cell("clean", "clean".into(), r.clean)];
                        cells.extend(r.rows.iter().map(|row| cell(&row.name, row.label.clone(), row.accuracy)));
                        let worst = r.worst.map(|w| format!("worst {w:.3}")).unwrap_or_default();
                        (r.images, view! { {cells} <strong class="worst">{worst}</strong> }, r.warnings.clone())
                    });
                    let export_only = v.request.attacks.is_empty();
                    let (images, cells, warnings) = match measured {
                        Some((images, cells, warnings)) => (images.to_string(), Some(cells.into_any()), warnings),
                        None if export_only => (String::new(), Some(view! { <span class="note">"exported only"</span> }.into_any()), Vec::new()),
                        None => (String::new(), None, Vec::new()),
                    };
                    let file = format!("{}.safetensors", student.replace(" #", "-").replace(' ', "-"));
                    view! {
                        <tr data-id=v.id data-status=v.status.as_str()>
                            <td>{v.id}</td>
                            <td>{student}</td>
                            <td><StatusBadge status=v.status.as_str().to_owned() />
                                {v.error.clone().map(|e| view! { <span class="error">{e}</span> })}</td>
                            <td class="num">{images}</td>
                            <td class="measures">{cells}</td>
                            <td class="warnings">{if warnings.is_empty() && v.result.is_some() { "none".to_owned() } else { warnings.join("; ") }}</td>
                            <td>{v.download.as_deref().and_then(api::download_url).map(|href| view! {
                                <a class="download" href=href download=file.clone()>{file.clone()}</a>
                            })}</td>
                        </tr>
                    }
                }).collect_view()}</tbody>
            </table>
        })}
    }
}
