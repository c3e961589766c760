//! The accuracy–robustness predictor of an experiment: fit it on a cloud's evaluated students (a
//! job on a worker), then read how well it predicts the students it never saw — measured against
//! predicted accuracy and robustness of every held-out student, with the RMSEs (the ProARD
//! paper's Fig. 9).

use gloo::net::http::Method;
use leptos::prelude::*;
use proard_shared::api::FittedPredictor;

use crate::api;
use crate::clouds::{BASELINE, PROARD};
use crate::components::cloud::{Cloud, Marker, Point, Series};
use crate::pages::experiments::when;
use crate::url_state::{query, query_setter};

/// Measured (x) against predicted (y) values of `column` (0: clean, 1: robust) of the held-out
/// students.
fn held_out_series(predictor: &FittedPredictor, column: usize, what: &str) -> Vec<Series> {
    let color = if predictor.cloud == "baseline" { BASELINE } else { PROARD };
    let points = predictor
        .held_out
        .iter()
        .enumerate()
        .map(|(i, h)| Point {
            x: h[column],
            y: h[2 + column],
            tone: None,
            key: format!("held-out:{i}"),
            label: format!(
                "held-out student {i}\n{what}: measured {:.3}, predicted {:.3}",
                h[column],
                h[2 + column]
            ),
        })
        .collect();
    vec![Series {
        name: "held-out students".into(),
        marker: Marker::Circle,
        color: color.to_owned(),
        points,
        staircase: false,
    }]
}

#[component]
pub fn PredictorTab(
    id: i64,
    read_only: bool,
    /// Moves when a predictor was fitted.
    #[prop(into)]
    changed: Signal<u64>,
    /// How robust accuracy is named in this experiment (`PGD-20`).
    robust: String,
) -> impl IntoView {
    let (queued, set_queued) = signal(0u64);
    let list = LocalResource::new(move || {
        changed.track();
        queued.track();
        async move {
            api::get::<Vec<FittedPredictor>>(&format!("/api/experiments/{id}/predictors")).await
        }
    });
    let message = RwSignal::new(None::<Result<String, String>>);
    let fit = move |cloud: &'static str| {
        leptos::task::spawn_local(async move {
            let body = serde_json::json!({ "cloud": cloud });
            let path = format!("/api/experiments/{id}/predictors");
            match api::send::<serde_json::Value>(Method::POST, &path, Some(&body)).await {
                Ok(_) => {
                    message.set(Some(Ok(format!("fitting on the {cloud} students: a job on a worker; the result appears here"))));
                    set_queued.update(|n| *n += 1);
                }
                Err(e) => message.set(Some(Err(e.to_string()))),
            }
        });
    };
    let chosen = query("predictor");
    let set = query_setter();
    let selected = move || {
        let all = list.get().and_then(Result::ok).unwrap_or_default();
        let wanted = chosen.get().parse::<i64>().ok();
        all.iter().find(|p| Some(p.id) == wanted).or(all.first()).cloned()
    };
    let no_select = Callback::new(|_: String| {});
    let robust = StoredValue::new(robust);
    view! {
        {(!read_only).then(|| view! {
            <div class="filters">
                <button class="fit-proard" on:click=move |_| fit("proard")>"Fit predictor on the ProARD students"</button>
                <button class="fit-baseline" on:click=move |_| fit("baseline")>"… on the baseline students"</button>
                {move || message.get().map(|m| match m {
                    Ok(text) => view! { <span class="ok">{text}</span> }.into_any(),
                    Err(text) => view! { <span class="error">{text}</span> }.into_any(),
                })}
            </div>
        })}
        {move || match selected() {
            None => view! {
                <p class="note" id="no-predictor">"No predictor yet: fit one on the evaluated students (an MLP from the arch encoding to clean and robust accuracy, part of them held out to measure it)."</p>
            }.into_any(),
            Some(p) => {
                let clean = held_out_series(&p, 0, "clean accuracy");
                let label = robust.get_value();
                let robust_series = held_out_series(&p, 1, &label);
                view! {
                    <h2 id="predictor-head">{format!(
                        "Predictor #{} ({} students): held-out RMSE clean {:.4}, {} {:.4} — {} trained on, {} held out",
                        p.id, p.cloud, p.rmse_acc, label, p.rmse_rob, p.n_train, p.n_test
                    )}</h2>
                    <div class="two">
                        <div>
                            <h3>"Clean accuracy"</h3>
                            <Cloud series=Signal::derive(move || clean.clone()) x_label="measured" y_label="predicted"
                                tone_label="" selected=Signal::derive(String::new) on_select=no_select id="predicted-clean" diagonal=true />
                        </div>
                        <div>
                            <h3>{format!("{label} accuracy")}</h3>
                            <Cloud series=Signal::derive(move || robust_series.clone()) x_label="measured" y_label="predicted"
                                tone_label="" selected=Signal::derive(String::new) on_select=no_select id="predicted-robust" diagonal=true />
                        </div>
                    </div>
                }.into_any()
            }
        }}
        {move || list.get().and_then(Result::ok).filter(|l| !l.is_empty()).map(|all| {
            let set = set.clone();
            view! {
                <table class="data" id="predictors">
                    <thead><tr><th>"#"</th><th>"students"</th><th class="num">"RMSE clean"</th><th class="num">"RMSE robust"</th>
                        <th class="num">"trained on"</th><th class="num">"held out"</th><th>"fitted"</th><th>"weights"</th></tr></thead>
                    <tbody>{all.into_iter().map(|p| {
                        let set = set.clone();
                        let pid = p.id;
                        view! {
                            <tr data-id=p.id class="pick" on:click=move |_| set(&[("predictor", pid.to_string())], false)>
                                <td>{p.id}</td><td>{p.cloud.clone()}</td>
                                <td class="num">{format!("{:.4}", p.rmse_acc)}</td><td class="num">{format!("{:.4}", p.rmse_rob)}</td>
                                <td class="num">{p.n_train}</td><td class="num">{p.n_test}</td>
                                <td>{when(p.created_at)}</td>
                                <td>{p.download.as_deref().and_then(api::download_url).map(|href| view! {
                                    <a href=href download=format!("predictor-{}.safetensors", p.id)>"predictor.safetensors"</a>
                                })}</td>
                            </tr>
                        }
                    }).collect_view()}</tbody>
                </table>
            }
        })}
    }
}
