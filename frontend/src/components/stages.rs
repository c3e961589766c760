//! An experiment's stages in pipeline order on a time line: each bar as wide as its work, filled
//! as far as it has come, with its estimated time left.

use leptos::prelude::*;
use proard_shared::api::{JobSummary, StageView, Status};

/// "1 h 05 min", "3 min 20 s", "12 s".
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, s % 3600 / 60),
    }
}

/// The stages that ran or run, then the jobs still waiting their turn.
#[component]
pub fn StageTimeline(
    #[prop(into)] stages: Signal<Vec<StageView>>,
    #[prop(into)] jobs: Signal<Vec<JobSummary>>,
) -> impl IntoView {
    let waiting = move || {
        let labels: Vec<String> = jobs
            .get()
            .into_iter()
            .filter(|j| j.status == Status::Queued)
            .map(|j| j.label)
            .collect();
        (!labels.is_empty()).then(|| view! { <p class="note waiting" id="waiting">{format!("queued next: {}", labels.join(" → "))}</p> })
    };
    view! {
        <div class="timeline" id="stages">
            {move || {
                let stages = stages.get();
                if stages.is_empty() {
                    return view! { <p class="note">"No stage has run yet."</p> }.into_any();
                }
                stages
                    .into_iter()
                    .map(|s| {
                        let fraction = if s.stage.total > 0 { s.stage.done as f64 / s.stage.total as f64 } else { 0.0 };
                        let eta = match (s.stage.status.as_str(), s.eta_seconds) {
                            ("running", Some(eta)) => format!(" · {} left", duration(eta)),
                            _ => String::new(),
                        };
                        let took = s.stage.finished_at.map(|end| format!(" · took {}", duration((end - s.stage.started_at) as f64 / 1000.0))).unwrap_or_default();
                        let title = s.stage.error.clone().unwrap_or_default();
                        view! {
                            <div class=format!("stage {}", s.stage.status) data-stage=s.stage.name.clone() title=title>
                                <div class="stage-name">{s.stage.name.clone()}</div>
                                <div class="stage-bar"><div class="stage-fill" style=format!("width: {:.1}%", 100.0 * fraction)></div></div>
                                <div class="stage-text">
                                    {format!("{} / {} {}{eta}{took}", s.stage.done, s.stage.total, s.stage.unit)}
                                </div>
                            </div>
                        }
                    })
                    .collect_view()
                    .into_any()
            }}
        </div>
        {waiting}
    }
}
