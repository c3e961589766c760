//! The Pareto search of an experiment, in the browser: NSGA-II over the space, scored by a
//! fitted predictor in the search Web Worker (WebGPU, or the CPU), under a MACs budget set with a
//! slider. The front animates generation by generation over the measured students; the first
//! generation's front stays beside the final one (the ProARD paper's Fig. 10), the hypervolume
//! is plotted per generation, and a front member shows its arch, its predicted accuracies and the
//! nearest measured students, and can be sent to verification.
//!
//! Releasing the slider re-searches at once: the worker warm-starts from the best archs it has
//! scored under the new budget and scores only archs it has not met. The URL holds every setting and the selected member; a link
//! reopens the same search from a cold start (same predictor, budget and seed: the same front).

use std::cell::Cell;
use std::rc::Rc;

use gloo::net::http::Method;
use leptos::prelude::*;
use proard_shared::api::{FittedPredictor, Student};
use proard_shared::arch::Arch;
use proard_shared::display::mmacs;
use proard_shared::nsga2::Nsga2Config;
use proard_shared::search::{Candidate, SearchConfig};
use proard_shared::search_worker::{Backend, BackendChoice, FromWorker, SearchRequest};
use proard_shared::space::Space;

use crate::api;
use crate::clouds::{self, BASELINE, PROARD};
use crate::components::cloud::{Cloud, Marker, Point, Series};
use crate::components::line_chart::{Line, LineChart};
use crate::search_worker;
use crate::url_state::{query, query_setter};

/// A warm-started search (a slider release) stops once its front's hypervolume has not grown for
/// this many generations: it starts near the answer, and the slider should answer at once.
const SLIDER_PATIENCE: usize = 10;

/// The colours of the first generation's front and of the current one.
const FIRST: &str = "#9aa5b1";
const FRONT: &str = "#c0182a";

/// What the worker said about the search on screen.
#[derive(Clone, Debug, Default, PartialEq)]
struct Shown {
    /// The request the view waits for.
    id: u64,
    backend: Option<Backend>,
    /// The latest generation: index, of, front.
    generation: Option<(usize, usize, Vec<Candidate>)>,
    hypervolumes: Vec<f64>,
    first: Vec<Candidate>,
    /// Set when the search is over.
    done: Option<Finished>,
    error: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
struct Finished {
    front: Vec<Candidate>,
    scored: usize,
    cached: usize,
    warm_started: bool,
    /// Stopped early at `generations` (its front no longer improving).
    converged: bool,
    generations: usize,
    /// In the worker: until the predictor was ready, and in all.
    ready_ms: f64,
    /// Predictor helpers that took a share of a generation.
    helpers: usize,
    predict_ms: f64,
    bookkeeping_ms: f64,
    worker_ms: f64,
    /// From the request (the slider's release) to the front on the page.
    page_ms: f64,
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

fn now_ms() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map_or(0.0, |p| p.now())
}

/// A number from the URL, or `default` when absent or unreadable.
fn number<T: std::str::FromStr>(text: &str, default: T) -> T {
    text.parse().unwrap_or(default)
}

/// MACs of the space's smallest and largest archs.
fn macs_range(space: &Space) -> (u64, u64) {
    let macs = |arch: &Arch| space.subnet(arch).map(|s| s.cost().macs).unwrap_or(0);
    (macs(&space.smallest_arch()), macs(&space.largest_arch()))
}

/// The students measured nearest to `arch`: fewest differing encoding entries first.
fn nearest<'a>(space: &Space, arch: &Arch, students: &'a [Student]) -> Vec<(f32, &'a Student)> {
    let Ok(target) = space.encode(arch) else { return Vec::new() };
    let mut by_distance: Vec<(f32, &Student)> = students
        .iter()
        .filter_map(|s| {
            let encoding = space.encode(&s.record.arch).ok()?;
            Some((encoding.iter().zip(&target).map(|(a, b)| (a - b).abs()).sum::<f32>() / 2.0, s))
        })
        .collect();
    by_distance.sort_by(|a, b| a.0.total_cmp(&b.0));
    by_distance.truncate(3);
    by_distance
}

fn arch_json(arch: &Arch) -> String {
    serde_json::to_string(arch).unwrap_or_default()
}

fn front_points(front: &[Candidate], robust: &str, prefix: &str) -> Vec<Point> {
    // Most accurate last: the staircase then bounds the region the front dominates.
    let mut sorted: Vec<(usize, &Candidate)> = front.iter().enumerate().collect();
    sorted.sort_by(|a, b| b.1.pred_acc.total_cmp(&a.1.pred_acc));
    sorted
        .into_iter()
        .map(|(i, c)| Point {
            x: c.pred_acc,
            y: c.pred_rob,
            tone: None,
            key: format!("{prefix}:{i}"),
            label: format!(
                "{prefix} member {i}: {} MMACs\npredicted clean {:.3}, {robust} {:.3}\n{}",
                mmacs(c.macs),
                c.pred_acc,
                c.pred_rob,
                arch_json(&c.arch)
            ),
        })
        .collect()
}

#[component]
pub fn SearchTab(
    id: i64,
    read_only: bool,
    /// The experiment's config (TOML, the space inline).
    config: String,
    /// Every measured student of the experiment.
    #[prop(into)]
    students: Signal<Vec<Student>>,
    /// Moves when a predictor was fitted.
    #[prop(into)]
    changed: Signal<u64>,
    /// How robust accuracy is named in this experiment (`PGD-20`).
    robust: String,
) -> impl IntoView {
    let config = clouds::config_value(&config);
    let Ok(space) = serde_json::from_value::<Space>(config["space"].clone()) else {
        return view! { <p class="error">"This experiment's config holds no space to search."</p> }
            .into_any();
    };
    let space = StoredValue::new(space);
    let (smallest, largest) = space.with_value(macs_range);
    let robust = StoredValue::new(robust);

    let predictors = LocalResource::new(move || {
        changed.track();
        async move {
            api::get::<Vec<FittedPredictor>>(&format!("/api/experiments/{id}/predictors")).await
        }
    });
    let (chosen, budget, pop, gens, seed, macs3, backend, member) = (
        query("predictor"),
        query("budget"),
        query("pop"),
        query("gens"),
        query("seed"),
        query("macs"),
        query("backend"),
        query("member"),
    );
    let set = query_setter();
    let predictor = Memo::new(move |_| {
        let all = predictors.get().and_then(Result::ok).unwrap_or_default();
        let wanted = chosen.get().parse::<i64>().ok();
        all.iter()
            .filter(|p| p.download.is_some())
            .find(|p| Some(p.id) == wanted)
            .or_else(|| all.iter().find(|p| p.download.is_some()))
            .cloned()
    });
    // The budget in MMACs: the URL's, else halfway through the space's range.
    let default_budget = ((smallest + largest) / 2) as f64 / 1e6;
    let budget_mmacs =
        Memo::new(move |_| number(&budget.get(), (default_budget * 10.0).round() / 10.0));
    let dragged = RwSignal::new(None::<f64>);

    let shown = RwSignal::new(Shown::default());
    // The worker's predictor helpers that are ready (they outlive requests).
    let helpers_ready = RwSignal::new(0usize);
    let next_id = StoredValue::new(0u64);
    let sent_at = StoredValue::new(0.0f64);
    // The settings of the last request but its budget: warm-start only when just the budget moved.
    let last_settings = StoredValue::new(None::<(String, SearchConfig, BackendChoice)>);
    let last_drawn = Rc::new(Cell::new(0.0f64));
    let listener = search_worker::listen(move |message| {
        let current = shown.with_untracked(|s| s.id);
        let ours = match &message {
            FromWorker::Backend { id, .. }
            | FromWorker::Generation { id, .. }
            | FromWorker::Done { id, .. } => *id == current,
            FromWorker::Failed { id, .. } => *id == current || *id == 0,
            FromWorker::Helpers { ready } => {
                helpers_ready.set(*ready);
                false
            }
            FromWorker::Ready => false,
        };
        if !ours {
            return;
        }
        match message {
            FromWorker::Backend { backend, .. } => {
                shown.try_update(|s| s.backend = Some(backend));
            }
            FromWorker::Generation { generation, front, of, .. } => {
                // Draw at most every 40 ms: the cloud redraws every point each time.
                let first = generation.index == 0;
                let due = now_ms() - last_drawn.get() > 40.0;
                shown.try_update_untracked(|s| {
                    s.hypervolumes.push(generation.hypervolume);
                    let front = front.unwrap_or_else(|| {
                        s.generation.take().map(|(_, _, front)| front).unwrap_or_default()
                    });
                    if first {
                        s.first = front.clone();
                    }
                    s.generation = Some((generation.index, of, front));
                });
                if due || first {
                    last_drawn.set(now_ms());
                    shown.try_update(|_| ());
                }
            }
            FromWorker::Done {
                first,
                front,
                hypervolumes,
                scored,
                cached,
                warm_started,
                converged,
                generations,
                ready_ms,
                helpers,
                predict_ms,
                bookkeeping_ms,
                elapsed_ms,
                ..
            } => {
                let page_ms = now_ms() - sent_at.get_value();
                shown.try_update(|s| {
                    s.first = first;
                    s.hypervolumes = hypervolumes;
                    s.generation = None;
                    s.done = Some(Finished {
                        front,
                        scored,
                        cached,
                        warm_started,
                        converged,
                        generations,
                        ready_ms,
                        helpers,
                        predict_ms,
                        bookkeeping_ms,
                        worker_ms: elapsed_ms,
                        page_ms,
                    });
                });
            }
            FromWorker::Failed { message, .. } => {
                shown.try_update(|s| s.error = Some(message));
            }
            FromWorker::Ready | FromWorker::Helpers { .. } => {}
        }
    });
    on_cleanup(move || search_worker::unlisten(listener));

    // Every change of the settings (or the slider's release) searches again.
    Effect::new(move |_| {
        let Some(p) = predictor.get() else { return };
        let Some(url) = p.download.clone() else { return };
        let mut config = SearchConfig {
            nsga2: Nsga2Config {
                population: number(&pop.get(), 100),
                generations: number(&gens.get(), 100),
                seed: number(&seed.get(), 1),
                ..Nsga2Config::default()
            },
            max_macs: Some((budget_mmacs.get() * 1e6).round() as u64),
            macs_objective: macs3.get() == "1",
            patience: None,
        };
        let choice = if backend.get() == "cpu" { BackendChoice::Cpu } else { BackendChoice::Auto };
        let settings = (url.clone(), SearchConfig { max_macs: None, ..config.clone() }, choice);
        let warm_start = last_settings.with_value(|last| last.as_ref() == Some(&settings));
        last_settings.set_value(Some(settings));
        if warm_start {
            config.patience = Some(SLIDER_PATIENCE);
        }
        next_id.update_value(|n| *n += 1);
        let request_id = next_id.get_value();
        shown.set(Shown { id: request_id, ..Shown::default() });
        sent_at.set_value(now_ms());
        search_worker::send(&SearchRequest {
            id: request_id,
            predictor_url: url,
            token: api::share_token(),
            backend: choice,
            config,
            warm_start,
        });
    });

    let settings_row = {
        let set = set.clone();
        move || {
            let field = |key: &'static str,
                         label: &'static str,
                         value: Memo<String>,
                         default: &'static str| {
                let set = set.clone();
                view! {
                    <label>{label}" "
                        <input type="number" min="2" class=format!("search-{key}") prop:value=move || {
                            let v = value.get();
                            if v.is_empty() { default.to_owned() } else { v }
                        }
                            on:change=move |ev| set(&[(key, event_target_value(&ev))], false) />
                    </label>
                }
            };
            let set_objective = set.clone();
            let set_backend = set.clone();
            view! {
                <div class="filters search-settings">
                    {field("pop", "population", pop, "100")}
                    {field("gens", "generations", gens, "100")}
                    {field("seed", "seed", seed, "1")}
                    <label><input type="checkbox" class="search-macs" prop:checked=move || macs3.get() == "1"
                        on:change=move |ev| set_objective(&[("macs", if event_target_checked(&ev) { "1".into() } else { String::new() })], false) />
                        " also minimise MACs"</label>
                    <label>"run on "
                        <select class="search-backend" prop:value=move || if backend.get() == "cpu" { "cpu" } else { "auto" }
                            on:change=move |ev| set_backend(&[("backend", if event_target_value(&ev) == "cpu" { "cpu".into() } else { String::new() })], false)>
                            <option value="auto">"WebGPU if available"</option>
                            <option value="cpu">"the CPU"</option>
                        </select>
                    </label>
                </div>
            }
        }
    };

    let slider = {
        let set = set.clone();
        move || {
            let set = set.clone();
            let (lo, hi) = (smallest as f64 / 1e6, largest as f64 / 1e6);
            view! {
                <div class="budget">
                    <label for="budget">"MACs budget"</label>
                    <input type="range" id="budget" min=format!("{:.1}", (lo * 10.0).ceil() / 10.0) max=format!("{:.1}", (hi * 10.0).floor() / 10.0) step="0.1"
                        prop:value=move || format!("{:.1}", dragged.get().unwrap_or_else(|| budget_mmacs.get()))
                        on:input=move |ev| dragged.set(event_target_value(&ev).parse().ok())
                        on:change=move |ev| {
                            dragged.set(None);
                            set(&[("budget", event_target_value(&ev)), ("member", String::new())], true);
                        } />
                    <span class="budget-value">{move || format!("{:.1} MMACs", dragged.get().unwrap_or_else(|| budget_mmacs.get()))}</span>
                    <span class="note">{format!("space: {:.1} – {:.1} MMACs", lo, hi)}</span>
                </div>
            }
        }
    };

    let status = move || {
        let s = shown.get();
        let device = s.backend.as_ref().map(|b| match b.kind.as_str() {
            "webgpu" => format!("WebGPU ({})", b.detail),
            _ => format!("the CPU ({})", b.detail),
        });
        let text = match (&s.error, &s.done, &s.generation) {
            (Some(error), _, _) => error.clone(),
            (None, Some(done), _) => format!(
                "a front of {} in {:.0} ms ({:.0} ms searching in the worker, {:.0} of them predicting{}{}){}; {} archs scored, {} from the cache",
                plural(done.front.len(), "arch"),
                done.page_ms,
                done.worker_ms - done.ready_ms,
                done.predict_ms,
                if done.helpers > 0 {
                    format!(" with {}", plural(done.helpers, "helper worker"))
                } else {
                    String::new()
                },
                if done.ready_ms >= 1.0 {
                    format!(", after {:.0} ms loading the predictor", done.ready_ms)
                } else {
                    String::new()
                },
                match (done.warm_started, done.converged) {
                    (true, true) => format!(
                        ", warm-started from the best archs met, converged at generation {}",
                        done.generations - 1
                    ),
                    (true, false) => ", warm-started from the best archs met".to_owned(),
                    (false, _) => String::new(),
                },
                done.scored,
                done.cached
            ),
            (None, None, Some((index, of, _))) => format!("generation {} of {}", index + 1, of),
            (None, None, None) => "starting the search worker…".to_owned(),
        };
        let state = if s.error.is_some() {
            "failed"
        } else if s.done.is_some() {
            "done"
        } else {
            "running"
        };
        view! {
            <p class=if s.error.is_some() { "error search-status" } else { "note search-status" } id="search-status"
                data-state=state data-request=s.id
                data-search-ms=s.done.as_ref().map(|d| format!("{:.1}", d.worker_ms - d.ready_ms)).unwrap_or_default()
                data-ready-ms=s.done.as_ref().map(|d| format!("{:.1}", d.ready_ms)).unwrap_or_default()
                data-predict-ms=s.done.as_ref().map(|d| format!("{:.1}", d.predict_ms)).unwrap_or_default()
                data-helpers=s.done.as_ref().map(|d| d.helpers.to_string()).unwrap_or_default()
                data-helpers-ready=helpers_ready.get()
                data-bookkeeping-ms=s.done.as_ref().map(|d| format!("{:.1}", d.bookkeeping_ms)).unwrap_or_default()
                data-backend=s.backend.as_ref().map(|b| b.kind.clone()).unwrap_or_default()
                data-ms=s.done.as_ref().map(|d| format!("{:.1}", d.page_ms)).unwrap_or_default()>
                {device.map(|d| format!("predictor on {d} · "))}{text}
            </p>
        }
    };

    let front_now = Memo::new(move |_| {
        shown.with(|s| match (&s.done, &s.generation) {
            (Some(done), _) => done.front.clone(),
            (None, Some((_, _, front))) => front.clone(),
            _ => Vec::new(),
        })
    });
    // Memos, not derived signals: the cloud reads its series in several effects, and a search
    // updates `shown` every generation; only what changed is rebuilt (the measured students'
    // thousand labels once per predictor).
    let cloud_name =
        Memo::new(move |_| predictor.get().map(|p| p.cloud).unwrap_or_else(|| "proard".into()));
    let measured = Memo::new(move |_| {
        let label = robust.get_value();
        let cloud = cloud_name.get();
        students.with(|all| {
            all.iter()
                .filter(|s| s.cloud == cloud)
                .map(|s| Point {
                    x: s.record.clean,
                    y: s.record.pgd20,
                    tone: None,
                    key: format!("{}:{}", s.cloud, s.record.index),
                    label: format!(
                        "measured {} student #{}: {} MMACs\nclean {:.3}, {label} {:.3}",
                        s.cloud,
                        s.record.index,
                        mmacs(s.record.macs),
                        s.record.clean,
                        s.record.pgd20
                    ),
                })
                .collect::<Vec<Point>>()
        })
    });
    let first = Memo::new(move |_| shown.with(|s| s.first.clone()));
    let chart = Memo::new(move |_| {
        let label = robust.get_value();
        let cloud = cloud_name.get();
        let color = if cloud == "baseline" { BASELINE } else { PROARD };
        // With MACs as a third objective the front is not a curve in this plane.
        let staircase = macs3.get() != "1";
        vec![
            Series {
                name: format!("measured {cloud} students"),
                marker: Marker::Circle,
                color: color.into(),
                points: measured.get(),
                staircase: false,
            },
            Series {
                name: "first generation's front (predicted)".into(),
                marker: Marker::Square,
                color: FIRST.into(),
                points: first.with(|first| front_points(first, &label, "first")),
                staircase,
            },
            Series {
                name: "front (predicted)".into(),
                marker: Marker::Diamond,
                color: FRONT.into(),
                points: front_points(&front_now.get(), &label, "front"),
                staircase,
            },
        ]
    });
    let hypervolume = Memo::new(move |_| {
        let points: Vec<(f64, f64)> = shown
            .with(|s| s.hypervolumes.iter().enumerate().map(|(i, h)| (i as f64, *h)).collect());
        vec![Line {
            name: "hypervolume (clean × robust, from 0)".into(),
            color: FRONT.into(),
            points,
            dots: false,
        }]
    });

    // The selected member: by its arch, so that a link names it whatever its place in the front.
    let selected_member = Memo::new(move |_| {
        let wanted = member.get();
        front_now.with(|front| front.iter().position(|c| arch_json(&c.arch) == wanted))
    });
    let on_select = {
        let set = set.clone();
        Callback::new(move |key: String| {
            let arch = key
                .strip_prefix("front:")
                .and_then(|i| i.parse::<usize>().ok())
                .and_then(|i| front_now.with_untracked(|f| f.get(i).map(|c| arch_json(&c.arch))));
            if let Some(arch) = arch {
                set(&[("member", arch)], false);
            }
        })
    };
    let selected_key = Signal::derive(move || {
        selected_member.get().map(|i| format!("front:{i}")).unwrap_or_default()
    });
    let verify_message = RwSignal::new(None::<Result<String, String>>);
    let member_panel = move || {
        let i = selected_member.get()?;
        let candidate = front_now.with(|f| f.get(i).cloned())?;
        let label = robust.get_value();
        let near = students.with(|all| {
            space.with_value(|space| {
                nearest(space, &candidate.arch, all)
                    .into_iter()
                    .map(|(d, s)| (d, s.clone()))
                    .collect::<Vec<_>>()
            })
        });
        let cloud = predictor.get().map(|p| p.cloud).unwrap_or_else(|| "proard".into());
        let arch = candidate.arch.clone();
        let verify = move |_| {
            let body = serde_json::json!({
                "cloud": cloud.clone(), "arch": arch.clone(), "attacks": ["fgsm", "pgd20"],
            });
            leptos::task::spawn_local(async move {
                let path = format!("/api/experiments/{id}/verifications");
                let answer = api::send::<serde_json::Value>(Method::POST, &path, Some(&body)).await;
                verify_message.set(Some(answer.map(|_| "queued: a worker exports this arch and attacks it; see the Students tab's verified students".to_owned()).map_err(|e| e.to_string())));
            });
        };
        Some(view! {
            <div class="selection" id="search-member">
                <h3>{format!("Front member: {} MMACs", mmacs(candidate.macs))}</h3>
                <p>{format!("predicted clean {:.2} %, {label} {:.2} %", 100.0 * candidate.pred_acc, 100.0 * candidate.pred_rob)}</p>
                <pre class="arch">{arch_json(&candidate.arch)}</pre>
                <h4>"Nearest measured students"</h4>
                <table class="data nearest"><thead><tr><th>"student"</th><th class="num">"choices apart"</th><th class="num">"MMACs"</th><th class="num">"clean"</th><th class="num">{label.clone()}</th></tr></thead>
                <tbody>{near.into_iter().map(|(d, s)| view! {
                    <tr><td>{format!("{} #{}", s.cloud, s.record.index)}</td><td class="num">{format!("{d:.0}")}</td>
                        <td class="num">{mmacs(s.record.macs)}</td><td class="num">{format!("{:.2} %", 100.0 * s.record.clean)}</td>
                        <td class="num">{format!("{:.2} %", 100.0 * s.record.pgd20)}</td></tr>
                }).collect_view()}</tbody></table>
                {(!read_only).then(|| view! { <button class="verify-member" on:click=verify>"Export and verify this arch (FGSM, PGD-20)"</button> })}
                {move || verify_message.get().map(|m| match m {
                    Ok(text) => view! { <p class="ok">{text}</p> }.into_any(),
                    Err(text) => view! { <p class="error">{text}</p> }.into_any(),
                })}
            </div>
        })
    };

    let members_table = move || {
        let front = front_now.get();
        let done = shown.with(|s| s.done.is_some());
        let label = robust.get_value();
        let set = set.clone();
        let mut rows: Vec<(usize, Candidate)> = front.into_iter().enumerate().collect();
        rows.sort_by_key(|(_, c)| c.macs);
        let json = serde_json::to_string(&rows.iter().map(|(_, c)| c).collect::<Vec<_>>())
            .unwrap_or_default();
        view! {
            <table class="data" id="search-front" data-final=done.to_string() data-front=json>
                <thead><tr><th class="num">"MMACs"</th><th class="num">"predicted clean"</th><th class="num">{format!("predicted {label}")}</th><th>"arch"</th></tr></thead>
                <tbody>{rows.into_iter().map(|(i, c)| {
                    let set = set.clone();
                    let arch = arch_json(&c.arch);
                    let current = move || selected_member.get() == Some(i);
                    view! {
                        <tr class="pick" class:current=current data-index=i on:click=move |_| set(&[("member", arch.clone())], false)>
                            <td class="num">{mmacs(c.macs)}</td><td class="num">{format!("{:.2} %", 100.0 * c.pred_acc)}</td>
                            <td class="num">{format!("{:.2} %", 100.0 * c.pred_rob)}</td><td class="arch">{arch_json(&c.arch)}</td>
                        </tr>
                    }
                }).collect_view()}</tbody>
            </table>
        }
    };

    view! {
        <div id="search">
            {move || match predictors.get() {
                None => view! { <p class="note">"Loading the predictors…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                Some(Ok(_)) if predictor.get().is_none() => view! {
                    <p class="note" id="search-needs-predictor">"No fitted predictor yet: fit one in the Predictor tab, then search here."</p>
                }.into_any(),
                Some(Ok(_)) => view! {
                    <p class="note" id="search-about">{move || predictor.get().map(|p| format!(
                        "NSGA-II maximising predicted clean and {} accuracy under the budget, scored by predictor #{} (fitted on the {} students; held-out RMSE {:.4} / {:.4}).",
                        robust.get_value(), p.id, p.cloud, p.rmse_acc, p.rmse_rob))}</p>
                }.into_any(),
            }}
            {slider.clone()}
            {settings_row.clone()}
            {status}
            <div class="two">
                <div>
                    <Cloud series=chart x_label="clean accuracy" y_label=format!("{} accuracy", robust.get_value())
                        tone_label="" selected=selected_key on_select=on_select id="search-cloud" />
                </div>
                <div>
                    <LineChart lines=hypervolume x_label="generation" y_label="hypervolume" id="search-hypervolume" />
                    {member_panel}
                </div>
            </div>
            {members_table}
        </div>
    }
    .into_any()
}
