//! One experiment: status and actions, the stages on a time line, and five tabs — the
//! students' clouds (accuracy–robustness, MACs–PGD-20 fronts, ProARD − baseline), the training
//! curves, the table of every network in the form of the ProARD paper's Table 1, the predictor,
//! and the Pareto search. It follows the experiment's event stream. Under a share link the same
//! view is read-only.

use gloo::net::http::Method;
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};
use proard_shared::api::{ExperimentDetail, Page, ShareLink, StageMetrics, Student};
use proard_shared::display::{attack_label, mmacs, mparams};

use crate::api;
use crate::clouds::{self, BASELINE, PROARD, TEACHER};
use crate::components::cloud::Cloud;
use crate::components::line_chart::{Line, LineChart};
use crate::components::predictor::PredictorTab;
use crate::components::search::SearchTab;
use crate::components::stages::StageTimeline;
use crate::components::status::StatusBadge;
use crate::components::verifications::{Verifications, VerifyControls};
use crate::live;
use crate::pages::experiments::{accuracy, when};
use crate::url_state::{query, query_setter};

/// `/experiments/:id`.
#[component]
pub fn ExperimentPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.with(|p| p.get("id").and_then(|id| id.parse::<i64>().ok())));
    move || match id.get() {
        Some(id) => view! { <ExperimentView id=id read_only=false /> }.into_any(),
        None => view! { <p class="error">"This is not an experiment's address."</p> }.into_any(),
    }
}

/// Most students one request fetches (the API's page limit).
const PAGE: usize = 10_000;

/// Every student of an experiment (`filter`: more query, e.g. `&cloud=proard`), page by page,
/// without the encodings and settings the charts do not read.
pub async fn all_students(id: i64, filter: &str) -> Result<Vec<Student>, api::ApiError> {
    let mut all = Vec::new();
    loop {
        let path = format!(
            "/api/experiments/{id}/students?compact=true&limit={PAGE}&offset={}{filter}",
            all.len()
        );
        let page = api::get::<Page<Student>>(&path).await?;
        let last = page.items.len() < PAGE || all.len() + page.items.len() >= page.total as usize;
        all.extend(page.items);
        if last {
            return Ok(all);
        }
    }
}

#[component]
pub fn ExperimentView(id: i64, read_only: bool) -> impl IntoView {
    let (stage_changed, set_stage_changed) = signal(0u64);
    let (step_changed, set_step_changed) = signal(0u64);
    let (student_changed, set_student_changed) = signal(0u64);
    let (verification_changed, set_verification_changed) = signal(0u64);
    let (predictor_changed, set_predictor_changed) = signal(0u64);
    live::follow(
        api::events_url(&format!("/api/experiments/{id}/events")),
        1000,
        vec![
            ("stage", set_stage_changed),
            ("status", set_stage_changed),
            ("step", set_step_changed),
            ("epoch", set_step_changed),
            ("student", set_student_changed),
            ("verification", set_verification_changed),
            ("predictor", set_predictor_changed),
        ],
    );
    let detail = LocalResource::new(move || {
        stage_changed.track();
        step_changed.track();
        async move { api::get::<ExperimentDetail>(&format!("/api/experiments/{id}")).await }
    });
    let metrics = LocalResource::new(move || {
        step_changed.track();
        stage_changed.track();
        async move {
            api::get::<Vec<StageMetrics>>(&format!("/api/experiments/{id}/metrics?points=600"))
                .await
        }
    });
    let students = LocalResource::new(move || {
        student_changed.track();
        stage_changed.track();
        all_students(id, "")
    });
    let tab = query("tab");
    let set = query_setter();
    let tab_button = {
        let set = set.clone();
        move |name: &'static str, label: &'static str| {
            let set = set.clone();
            let current = move || tab.get() == name || (tab.get().is_empty() && name == "students");
            view! {
                <button class=move || if current() { "tab current" } else { "tab" } data-tab=name
                    on:click=move |_| set(&[("tab", name.to_owned())], false)>{label}</button>
            }
        }
    };
    let students_list = Memo::new(move |_| students.get().and_then(Result::ok).unwrap_or_default());
    // `PGD-20`, or what the experiment's evaluation attack is named (`PGD-20 (any iterate)`).
    let robust = Memo::new(move |_| {
        detail.with(|d| match d {
            Some(Ok(d)) => clouds::robust_label(&d.summary.experiment.config),
            _ => attack_label("PGD", 20, false),
        })
    });
    // The config (TOML, the space inline), once loaded; it does not change.
    let config = Memo::new(move |_| {
        detail.with(|d| match d {
            Some(Ok(d)) => Some(d.summary.experiment.config.clone()),
            _ => None,
        })
    });
    view! {
        <section class="page experiment" data-id=id>
            {move || detail.get().map(|answer| match answer {
                Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                Ok(d) => view! { <Head detail=d read_only=read_only /> }.into_any(),
            })}
            <StageTimeline
                stages=Memo::new(move |_| detail.get().and_then(Result::ok).map(|d| d.stages).unwrap_or_default())
                jobs=Memo::new(move |_| detail.get().and_then(Result::ok).map(|d| d.jobs).unwrap_or_default())
            />
            <nav class="tabs">
                {tab_button("students", "Students")}
                {tab_button("training", "Training")}
                {tab_button("table", "Table")}
                {tab_button("predictor", "Predictor")}
                {tab_button("search", "Search")}
            </nav>
            {move || match tab.get().as_str() {
                "training" => view! { <Training metrics=metrics /> }.into_any(),
                "predictor" => view! { <PredictorTab id=id read_only=read_only changed=predictor_changed robust=robust.get() /> }.into_any(),
                "search" => match config.get() {
                    None => view! { <p class="note">"Loading the experiment…"</p> }.into_any(),
                    Some(config) => view! { <SearchTab id=id read_only=read_only config=config students=students_list
                        changed=predictor_changed robust=robust.get() /> }.into_any(),
                },
                "table" => view! { <NetworksTable id=id students=students_list robust=robust.get() /> }.into_any(),
                _ => view! { <StudentsTab id=id read_only=read_only students=students_list robust=robust.get()
                    verification_changed=verification_changed set_verification_changed=set_verification_changed /> }.into_any(),
            }}
        </section>
    }
}

/// Name, status, settings and the owner's actions.
#[component]
fn Head(detail: ExperimentDetail, read_only: bool) -> impl IntoView {
    let e = detail.summary.experiment.clone();
    let id = e.id;
    let navigate = use_navigate();
    let message = RwSignal::new(None::<Result<String, String>>);
    let share_url = RwSignal::new(None::<String>);
    let act = move |action: &'static str| {
        leptos::task::spawn_local(async move {
            let path = format!("/api/experiments/{id}/{action}");
            let answer = api::send::<serde_json::Value>(Method::POST, &path, None).await;
            message.set(Some(answer.map(|_| format!("{action}: done")).map_err(|e| e.to_string())));
        });
    };
    let view_state = use_query_map();
    let share = move |_| {
        // The whole view: tab, selection, and the search's settings and member.
        let view: serde_json::Map<String, serde_json::Value> = view_state
            .get_untracked()
            .into_iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v)))
            .collect();
        leptos::task::spawn_local(async move {
            let path = format!("/api/experiments/{id}/shares");
            match api::send::<ShareLink>(
                Method::POST,
                &path,
                Some(&serde_json::json!({ "view": view })),
            )
            .await
            {
                Ok(link) => share_url.set(Some(link.url)),
                Err(e) => message.set(Some(Err(e.to_string()))),
            }
        });
    };
    let delete = {
        let navigate = navigate.clone();
        move |_| {
            let sure = web_sys::window()
                .and_then(|w| {
                    w.confirm_with_message(
                        "Delete this experiment, its records and its run directory?",
                    )
                    .ok()
                })
                .unwrap_or(false);
            if !sure {
                return;
            }
            let navigate = navigate.clone();
            leptos::task::spawn_local(async move {
                match api::send_only(Method::DELETE, &format!("/api/experiments/{id}")).await {
                    Ok(()) => navigate("/", Default::default()),
                    Err(e) => message.set(Some(Err(e.to_string()))),
                }
            });
        }
    };
    let running = matches!(e.status.as_str(), "running" | "queued");
    let resumable = matches!(e.status.as_str(), "failed" | "cancelled");
    view! {
        <div class="page-head">
            <div>
                <h1>{e.name.clone()}" "<StatusBadge status=e.status.as_str().to_owned() /></h1>
                <p class="facts">
                    {format!("#{} · space {} · teacher {} · distillation {} · created {}", e.id, e.space, e.teacher_method, e.distill_method, when(e.created_at))}
                    {e.tags.iter().map(|t| view! { " " <span class="tag">{t.clone()}</span> }).collect_view()}
                </p>
                {(!e.notes.is_empty()).then(|| view! { <p class="notes">{e.notes.clone()}</p> })}
                {e.error.clone().map(|error| view! { <p class="error">{error}</p> })}
                <p class="facts">
                    {format!("best ProARD student: clean {}, {} {}", accuracy(detail.summary.best_clean), clouds::robust_label(&e.config), accuracy(detail.summary.best_pgd20))}
                </p>
            </div>
            {(!read_only).then(|| view! {
                <div class="actions">
                    {running.then(|| view! { <button class="cancel" on:click=move |_| act("cancel")>"Cancel"</button> })}
                    {resumable.then(|| view! { <button class="resume" on:click=move |_| act("resume")>"Resume"</button> })}
                    <button class="clone" on:click={
                        let navigate = navigate.clone();
                        move |_| navigate(&format!("/new?clone={id}"), Default::default())
                    }>"Clone"</button>
                    <button class="share" on:click=share>"Share"</button>
                    <button class="delete danger" disabled=running on:click=delete
                        title=if running { "cancel it first" } else { "" }>"Delete"</button>
                </div>
            })}
            {read_only.then(|| view! { <p class="read-only">"Read-only: opened from a share link."</p> })}
        </div>
        {move || share_url.get().map(|url| view! {
            <p class="share-link">"Read-only link to this view: "<input readonly id="share-url" prop:value=url.clone() /></p>
        })}
        {move || message.get().map(|m| match m {
            Ok(text) => view! { <p class="ok">{text}</p> }.into_any(),
            Err(text) => view! { <p class="error">{text}</p> }.into_any(),
        })}
    }
}

/// The clouds, the fronts and the ProARD − baseline comparison, with the selected student.
#[component]
fn StudentsTab(
    id: i64,
    read_only: bool,
    #[prop(into)] students: Signal<Vec<Student>>,
    robust: String,
    verification_changed: ReadSignal<u64>,
    set_verification_changed: WriteSignal<u64>,
) -> impl IntoView {
    let selected = query("student");
    let set = query_setter();
    let select = Callback::new(move |key: String| set(&[("student", key)], false));
    // Copy, so that the closures below stay callable again and again.
    let label = StoredValue::new(robust.clone());
    let cloud = Memo::new(move |_| {
        students.with(|s| label.with_value(|l| clouds::accuracy_cloud(s, "", l)))
    });
    let fronts = Memo::new(move |_| {
        students.with(|s| {
            clouds::macs_front(
                s,
                &[("proard", "ProARD", PROARD), ("baseline", "baseline", BASELINE)],
                &label.get_value(),
            )
        })
    });
    let differences = Memo::new(move |_| students.with(|s| clouds::differences(s)));
    let diffs = Memo::new(move |_| differences.with(Vec::len));
    let diff_series = Memo::new(move |_| differences.with(|d| clouds::difference_series(d)));
    let diff_summary = move || {
        differences.with(|d| {
            if d.is_empty() {
                return String::new();
            }
            let n = d.len() as f64;
            let better = d.iter().filter(|d| d.pgd20 > 0.0).count();
            format!(
                "{} archs in both clouds: ProARD − baseline {} {:+.3} on average (better on {better}), clean {:+.3}",
                d.len(),
                label.get_value(),
                d.iter().map(|d| d.pgd20).sum::<f64>() / n,
                d.iter().map(|d| d.clean).sum::<f64>() / n,
            )
        })
    };
    let chosen = move || {
        let key = selected.get();
        students.with(|all| all.iter().find(|s| clouds::key(s) == key).cloned())
    };
    let empty = move || students.with(Vec::is_empty);
    view! {
        <Show when=move || !empty() fallback=|| view! {
            <p class="note" id="no-students">"No student has been evaluated yet: the clouds appear as the evaluation jobs record them."</p>
        }>
        <h2>"Accuracy and robustness of every student"</h2>
        <Cloud series=cloud x_label="clean accuracy" y_label=format!("{robust} accuracy") tone_label="MMACs"
            selected=selected on_select=select id="cloud" />
        {move || chosen().map(|s| view! {
            <div class="selected" id="selected">
                <h3>{format!("Selected: {} student #{}", s.cloud, s.record.index)}</h3>
                <pre>{clouds::describe(&s, &label.get_value())}</pre>
                {(!read_only).then(|| view! { <VerifyControls id=id student=s.clone() queued=set_verification_changed /> })}
            </div>
        })}
        <div class="two">
            <div>
                <h2>{format!("MACs–{robust} fronts")}</h2>
                <Cloud series=fronts x_label="MMACs" y_label=format!("{robust} accuracy") tone_label=""
                    selected=selected on_select=select id="front" />
            </div>
            <div>
                <h2>"ProARD − baseline, arch by arch"</h2>
                <p class="note" id="diff-summary">{diff_summary}</p>
                {move || (diffs.get() > 0).then(|| view! {
                    <Cloud series=diff_series x_label="MMACs" y_label="ProARD − baseline accuracy" tone_label=""
                        selected=selected on_select=select id="differences" />
                })}
            </div>
        </div>
        <Verifications id=id changed=verification_changed students=students />
        </Show>
    }
}

/// Loss and learning rate per step of one stage, and the validation grid per epoch.
#[component]
fn Training(metrics: LocalResource<Result<Vec<StageMetrics>, api::ApiError>>) -> impl IntoView {
    let stage = query("stage");
    let set = query_setter();
    let all = Memo::new(move |_| metrics.get().and_then(Result::ok).unwrap_or_default());
    let current = Memo::new(move |_| {
        let all = all.get();
        let wanted = stage.get();
        all.iter().find(|m| m.stage == wanted).or(all.last()).cloned()
    });
    let loss = Memo::new(move |_| {
        current
            .get()
            .map(|m| {
                vec![Line {
                    name: "loss".into(),
                    color: PROARD.into(),
                    points: m.steps.iter().map(|s| (s.step as f64, s.loss)).collect(),
                    dots: false,
                }]
            })
            .unwrap_or_default()
    });
    let lr = Memo::new(move |_| {
        current
            .get()
            .map(|m| {
                vec![Line {
                    name: "learning rate".into(),
                    color: BASELINE.into(),
                    points: m.steps.iter().map(|s| (s.step as f64, s.lr)).collect(),
                    dots: false,
                }]
            })
            .unwrap_or_default()
    });
    let validation = Memo::new(move |_| {
        let Some(m) = current.get() else { return Vec::new() };
        let validated: Vec<_> = m.epochs.iter().filter(|e| !e.validation.is_empty()).collect();
        let mean = |pick: fn(&proard_shared::api::GridPoint) -> f64| {
            validated
                .iter()
                .map(|e| {
                    (
                        e.epoch as f64,
                        e.validation.iter().map(pick).sum::<f64>() / e.validation.len() as f64,
                    )
                })
                .collect()
        };
        vec![
            Line {
                name: "clean (grid mean)".into(),
                color: PROARD.into(),
                points: mean(|g| g.clean),
                dots: true,
            },
            Line {
                name: "PGD-20 (grid mean)".into(),
                color: TEACHER.into(),
                points: mean(|g| g.pgd20),
                dots: true,
            },
        ]
    });
    view! {
        <div class="stage-picker">
            {move || all.get().into_iter().map(|m| {
                let name = m.stage.clone();
                let set = set.clone();
                let is_current = current.get().is_some_and(|c| c.stage == name);
                view! {
                    <button class=if is_current { "tab current" } else { "tab" } data-stage=name.clone()
                        on:click={ let name = name.clone(); move |_| set(&[("stage", name.clone())], false) }>{name.clone()}</button>
                }
            }).collect_view()}
        </div>
        {move || current.get().is_none().then(|| view! { <p class="note">"No training step has been recorded yet."</p> })}
        <div class="two">
            <LineChart lines=loss x_label="step" y_label="loss" id="loss-chart" />
            <LineChart lines=lr x_label="step" y_label="learning rate" id="lr-chart" />
        </div>
        <h2>"Validation grid"</h2>
        <div class="two">
        <LineChart lines=validation x_label="epoch" y_label="accuracy" id="validation-chart" />
        {move || current.get().map(|m| view! {
            <table class="data"><thead><tr><th>"epoch"</th><th class="num">"steps"</th><th class="num">"mean loss"</th><th class="num">"seconds"</th><th>"grid (clean / PGD-20)"</th></tr></thead>
            <tbody>{m.epochs.iter().map(|e| view! {
                <tr><td>{e.epoch}</td><td class="num">{e.steps}</td><td class="num">{format!("{:.4}", e.mean_loss)}</td><td class="num">{format!("{:.1}", e.seconds)}</td>
                <td>{e.validation.iter().map(|g| format!("{:.3} / {:.3}", g.clean, g.pgd20)).collect::<Vec<_>>().join(" · ")}</td></tr>
            }).collect_view()}</tbody></table>
        })}
        </div>
    }
}

const ROWS: usize = 50;

/// Every network in the form of the ProARD paper's Table 1: params, MACs, clean, FGSM, PGD-20;
/// the teacher first, then the students of one cloud, sorted and paged.
#[component]
fn NetworksTable(
    id: i64,
    #[prop(into)] students: Signal<Vec<Student>>,
    robust: String,
) -> impl IntoView {
    let csv = api::download_url(&format!("/api/experiments/{id}/students.csv"));
    let (cloud, sort, page) = (query("cloud"), query("sort"), query("page"));
    let set = query_setter();
    let cloud_name = move || if cloud.get().is_empty() { "proard".to_owned() } else { cloud.get() };
    let rows = Memo::new(move |_| {
        let name = cloud_name();
        let mut rows: Vec<Student> =
            students.with(|all| all.iter().filter(|s| s.cloud == name).cloned().collect());
        let key = sort.get();
        rows.sort_by(|a, b| {
            let (a, b) = (&a.record, &b.record);
            match key.as_str() {
                "macs" => a.macs.cmp(&b.macs),
                "params" => a.params.cmp(&b.params),
                "clean" => b.clean.total_cmp(&a.clean),
                "fgsm" => b.fgsm.total_cmp(&a.fgsm),
                "pgd20" => b.pgd20.total_cmp(&a.pgd20),
                _ => a.index.cmp(&b.index),
            }
        });
        rows
    });
    let page_number = move || page.get().parse::<usize>().unwrap_or(1).max(1);
    let pages = move || rows.with(|r| r.len().div_ceil(ROWS)).max(1);
    let teacher = move || students.with(|all| all.iter().find(|s| s.cloud == "teacher").cloned());
    let head = {
        let set = set.clone();
        move |key: &'static str, label: String| {
            let set = set.clone();
            view! { <th class="num sortable" class:current=move || sort.get() == key
            on:click=move |_| set(&[("sort", key.to_owned()), ("page", String::new())], false)>{label}</th> }
        }
    };
    let row = |s: &Student, name: String| {
        let r = &s.record;
        view! {
            <tr data-key=clouds::key(s)>
                <td>{name}</td>
                <td class="num">{mparams(r.params)}</td>
                <td class="num">{mmacs(r.macs)}</td>
                <td class="num">{format!("{:.2}", 100.0 * r.clean)}</td>
                <td class="num">{format!("{:.2}", 100.0 * r.fgsm)}</td>
                <td class="num">{format!("{:.2}", 100.0 * r.pgd20)}</td>
            </tr>
        }
    };
    let set_cloud = set.clone();
    let set_page = set.clone();
    let at_first = move || page_number() <= 1;
    let at_last = move || page_number() >= pages();
    view! {
        <div class="filters">
            <select class="table-cloud" prop:value=cloud_name on:change=move |ev| set_cloud(&[("cloud", event_target_value(&ev)), ("page", String::new())], false)>
                <option value="proard">"ProARD students"</option>
                <option value="baseline">"baseline students"</option>
            </select>
            <span class="note">{move || format!("{} networks · accuracies in % (as in the ProARD paper's Table 1)", rows.with(Vec::len))}</span>
            {csv.map(|href| view! { <a class="button" href=href download="students.csv">"All students as CSV, with every evaluation setting"</a> })}
        </div>
        <table class="data" id="networks">
            <thead><tr>
                <th class="sortable" on:click={ let set = set.clone(); move |_| set(&[("sort", String::new())], false) }>"network"</th>
                {head("params", "params (M)".to_owned())}
                {head("macs", "MMACs".to_owned())}
                {head("clean", "clean".to_owned())}
                {head("fgsm", "FGSM".to_owned())}
                {head("pgd20", robust)}
            </tr></thead>
            <tbody>
                {move || teacher().map(|t| row(&t, "teacher".to_owned()))}
                {move || {
                    let start = (page_number() - 1) * ROWS;
                    rows.with(|r| r.iter().skip(start).take(ROWS).map(|s| row(s, format!("{} #{}", s.cloud, s.record.index))).collect_view())
                }}
            </tbody>
        </table>
        <div class="pager">
            <button disabled=at_first on:click={ let set = set_page.clone(); move |_| set(&[("page", (page_number() - 1).to_string())], false) }>"‹ previous"</button>
            <span>{move || format!("page {} of {}", page_number(), pages())}</span>
            <button disabled=at_last on:click=move |_| set_page(&[("page", (page_number() + 1).to_string())], false)>"next ›"</button>
        </div>
    }
}
