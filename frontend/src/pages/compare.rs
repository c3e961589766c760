//! Experiments overlaid: their ProARD clouds, MACs–PGD-20 fronts and validation curves, e.g. two
//! distillation methods or two schedules. `/compare?ids=1,2`.

use leptos::prelude::*;
use leptos_router::components::A;
use proard_shared::api::{ExperimentDetail, StageMetrics, Student};

use crate::api;
use crate::clouds::{describe, front, robust_label};
use crate::components::cloud::{Cloud, Marker, Point, Series};
use crate::components::line_chart::{Line, LineChart};
use crate::pages::experiment::all_students;
use crate::pages::experiments::accuracy;
use crate::url_state::{query, query_setter};

/// Distinct colours for up to eight runs (then they repeat).
const PALETTE: [&str; 8] =
    ["#1f6fd1", "#e8710a", "#2ca02c", "#c0182a", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

#[derive(Clone, PartialEq)]
struct Run {
    detail: ExperimentDetail,
    students: Vec<Student>,
    metrics: Vec<StageMetrics>,
}

async fn load(id: i64) -> Result<Run, api::ApiError> {
    Ok(Run {
        detail: api::get(&format!("/api/experiments/{id}")).await?,
        students: all_students(id, "&cloud=proard").await?,
        metrics: api::get(&format!("/api/experiments/{id}/metrics?points=2")).await?,
    })
}

fn colour(i: usize) -> String {
    PALETTE[i % PALETTE.len()].to_owned()
}

fn label(run: &Run) -> String {
    let e = &run.detail.summary.experiment;
    format!("#{} {}", e.id, e.name)
}

#[component]
pub fn ComparePage() -> impl IntoView {
    let ids = query("ids");
    let selected = query("student");
    let set = query_setter();
    let runs = LocalResource::new(move || {
        let ids: Vec<i64> = ids.get().split(',').filter_map(|s| s.trim().parse().ok()).collect();
        async move {
            let mut runs = Vec::new();
            for id in ids {
                runs.push(load(id).await?);
            }
            Ok::<_, api::ApiError>(runs)
        }
    });
    let loaded = Memo::new(move |_| runs.get().and_then(Result::ok).unwrap_or_default());
    let clouds = Memo::new(move |_| {
        loaded
            .get()
            .iter()
            .enumerate()
            .map(|(i, run)| Series {
                name: label(run),
                marker: if i % 2 == 0 { Marker::Circle } else { Marker::Square },
                color: colour(i),
                points: run
                    .students
                    .iter()
                    .map(|s| Point {
                        x: s.record.clean,
                        y: s.record.pgd20,
                        tone: None,
                        key: format!("{}:{}", run.detail.summary.experiment.id, s.record.index),
                        label: format!(
                            "{}\n{}",
                            label(run),
                            describe(s, &robust_label(&run.detail.summary.experiment.config))
                        ),
                    })
                    .collect(),
                staircase: false,
            })
            .collect::<Vec<_>>()
    });
    let fronts = Memo::new(move |_| {
        loaded
            .get()
            .iter()
            .enumerate()
            .map(|(i, run)| Series {
                name: format!("{} front", label(run)),
                marker: Marker::Circle,
                color: colour(i),
                points: front(run.students.iter())
                    .into_iter()
                    .map(|s| Point {
                        x: s.record.macs as f64 / 1e6,
                        y: s.record.pgd20,
                        tone: None,
                        key: format!("{}:{}", run.detail.summary.experiment.id, s.record.index),
                        label: format!(
                            "{}\n{}",
                            label(run),
                            describe(s, &robust_label(&run.detail.summary.experiment.config))
                        ),
                    })
                    .collect(),
                staircase: true,
            })
            .collect::<Vec<_>>()
    });
    let validation = Memo::new(move |_| {
        loaded
            .get()
            .iter()
            .enumerate()
            .map(|(i, run)| {
                // Every validated epoch of the supernet's stages in pipeline order, counted from 1.
                let points = run
                    .metrics
                    .iter()
                    .filter(|m| m.stage != "teacher" && m.stage != "baseline")
                    .flat_map(|m| m.epochs.iter().filter(|e| !e.validation.is_empty()))
                    .enumerate()
                    .map(|(n, e)| {
                        (
                            (n + 1) as f64,
                            e.validation.iter().map(|g| g.pgd20).sum::<f64>()
                                / e.validation.len() as f64,
                        )
                    })
                    .collect();
                Line { name: label(run), color: colour(i), points, dots: true }
            })
            .collect::<Vec<_>>()
    });
    let select = Callback::new(move |key: String| set(&[("student", key)], false));
    view! {
        <section class="page compare">
            <h1>"Compare experiments"</h1>
            {move || runs.get().map(|answer| match answer {
                Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                Ok(runs) if runs.len() < 2 => view! {
                    <p class="note">"Pick two or more experiments in the "<A href="/">"experiments table"</A>" to compare them."</p>
                }.into_any(),
                Ok(runs) => view! {
                    <table class="data" id="compared">
                        <thead><tr><th>"experiment"</th><th>"teacher"</th><th>"distillation"</th><th class="num">"students"</th><th class="num">"best clean"</th><th>"robust accuracy"</th><th class="num">"best robust"</th><th class="num">"mean robust"</th></tr></thead>
                        <tbody>{runs.into_iter().enumerate().map(|(i, run)| {
                            let e = run.detail.summary.experiment.clone();
                            let (name, count) = (label(&run), run.students.len());
                            let (best_clean, best_pgd20) = (run.detail.summary.best_clean, run.detail.summary.best_pgd20);
                            let mean = (!run.students.is_empty()).then(|| run.students.iter().map(|s| s.record.pgd20).sum::<f64>() / run.students.len() as f64);
                            view! { <tr data-id=e.id>
                                <td><i class="swatch" style=format!("background: {}", colour(i))></i><A href=format!("/experiments/{}", e.id)>{name}</A></td>
                                <td>{e.teacher_method.clone()}</td><td>{e.distill_method.clone()}</td>
                                <td class="num">{count}</td>
                                <td class="num">{accuracy(best_clean)}</td>
                                <td class="attack">{robust_label(&e.config)}</td>
                                <td class="num">{accuracy(best_pgd20)}</td>
                                <td class="num">{accuracy(mean)}</td>
                            </tr> }
                        }).collect_view()}</tbody>
                    </table>
                }.into_any(),
            })}
            <h2>"ProARD clouds"</h2>
            <Cloud series=clouds x_label="clean accuracy" y_label="PGD-20 accuracy" tone_label="" selected=selected on_select=select id="compare-cloud" />
            <div class="two">
                <div>
                    <h2>"MACs–PGD-20 fronts"</h2>
                    <Cloud series=fronts x_label="MMACs" y_label="PGD-20 accuracy" tone_label="" selected=selected on_select=select id="compare-front" />
                </div>
                <div>
                    <h2>"Validation PGD-20 (grid mean) per supernet epoch"</h2>
                    <LineChart lines=validation x_label="supernet epoch" y_label="PGD-20 accuracy" id="compare-validation" />
                </div>
            </div>
        </section>
    }
}
