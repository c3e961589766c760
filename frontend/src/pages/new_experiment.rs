//! The new-experiment form: a preset's reference config (or a clone's) with every field
//! editable — the space, the teacher's objective and the distillation method with their papers'
//! defaults, the phases with a schedule preview, validation and evaluation — plus TOML import
//! and export. The server checks the config; its error is shown at the field it names.

use gloo::net::http::Method;
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use proard_shared::api::{DataSet, Experiment, Methods, SpaceSummary};
use proard_shared::display::{group_digits, mmacs};
use proard_shared::preset::{PRESET_NAMES, preset};
use proard_shared::schedule::learning_rate;
use serde_json::Value;

use crate::api::{self, ApiError};
use crate::components::line_chart::{Line, LineChart};
use crate::pages::experiments::download;
use crate::url_state::{query, query_setter};

/// The config as TOML (TOML has no null: unset options are left out, as in a config file).
fn to_toml(config: &Value) -> Result<String, String> {
    fn strip(value: &Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k.clone(), strip(v)))
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(strip).collect()),
            other => other.clone(),
        }
    }
    toml::to_string(&strip(config)).map_err(|e| e.to_string())
}

/// The value at a form path (`phases[1].epochs`).
fn segments(path: &str) -> Vec<String> {
    path.replace('[', ".[").split('.').filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

fn pointer(path: &str) -> String {
    segments(path)
        .iter()
        .map(|s| format!("/{}", s.trim_start_matches('[').trim_end_matches(']')))
        .collect()
}

/// What typing `text` into a field that held `old` means.
fn parse_input(old: &Value, text: &str) -> Value {
    let text = text.trim();
    match old {
        Value::String(_) => Value::String(text.to_owned()),
        Value::Array(_) => Value::Array(
            text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(scalar).collect(),
        ),
        _ if text.is_empty() => Value::Null,
        _ => scalar(text),
    }
}

fn scalar(text: &str) -> Value {
    if let Ok(n) = text.parse::<i64>() {
        return n.into();
    }
    if let Ok(x) = text.parse::<f64>() {
        return serde_json::Number::from_f64(x)
            .map_or_else(|| Value::String(text.into()), Value::Number);
    }
    match text {
        "true" => true.into(),
        "false" => false.into(),
        _ => Value::String(text.to_owned()),
    }
}

fn display(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(display).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// The space's size, computed here by proard-shared.
fn space_summary(config: &Value) -> Result<SpaceSummary, String> {
    let space = match config.get("space") {
        Some(Value::String(name)) => preset(name).ok_or_else(|| {
            format!("no preset space `{name}`; presets are {}", PRESET_NAMES.join(", "))
        })?,
        Some(inline) => serde_json::from_value(inline.clone()).map_err(|e| e.to_string())?,
        None => return Err("the config names no space".into()),
    };
    space.validate().map_err(|e| e.to_string())?;
    Ok(SpaceSummary::of(&space))
}

#[derive(Clone, Copy)]
struct Form {
    config: RwSignal<Value>,
    error: RwSignal<Option<ApiError>>,
    methods: RwSignal<Option<Methods>>,
    datasets: RwSignal<Option<Vec<DataSet>>>,
    /// Bumped when the form's shape changes (a config loaded, a method switched, a phase added):
    /// only then are the fields drawn again, so typing keeps focus and folded sections stay.
    shape: RwSignal<u64>,
}

impl Form {
    /// One field's new value.
    fn set(&self, path: &str, value: Value) {
        let pointer = pointer(path);
        self.config.update(|c| {
            if let Some(slot) = c.pointer_mut(&pointer) {
                *slot = value;
            }
        });
    }

    /// A change of the form's shape: the config, or a part with other fields.
    fn reshape(&self, change: impl FnOnce(&mut Value)) {
        self.config.update(change);
        self.shape.update(|n| *n += 1);
    }
}

/// The server's message about the field at `path`, shown next to it (in a table cell, without
/// the path the cell already says).
fn error_at(form: Form, path: String, in_cell: bool) -> impl Fn() -> Option<AnyView> {
    move || {
        let error = form.error.get().filter(|e| e.field.as_deref() == Some(path.as_str()))?;
        let message = match error.message.strip_prefix(&format!("{path}: ")) {
            Some(bare) if in_cell => bare.to_owned(),
            _ => error.message,
        };
        Some(view! { <span class="field-error">{message}</span> }.into_any())
    }
}

/// One field, or a group of fields for an object or a list of objects.
fn field(form: Form, path: String, label: String, value: Value) -> AnyView {
    let error = {
        let path = path.clone();
        move || error_at(form, path.clone(), false)
    };
    match &value {
        Value::Object(map) if map.contains_key("method") => {
            objective(form, path, label, value.clone())
        }
        Value::Object(map) => {
            let children = map
                .iter()
                .map(|(k, v)| field(form, join(&path, k), k.clone(), v.clone()))
                .collect_view();
            view! { <fieldset data-field=path.clone()><legend>{label}</legend>{children}{error()}</fieldset> }.into_any()
        }
        Value::Array(items) if items.iter().any(Value::is_object) => {
            let children = items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    field(form, format!("{path}[{i}]"), format!("{label}[{i}]"), v.clone())
                })
                .collect_view();
            view! { <fieldset data-field=path.clone() class="list"><legend>{label}</legend>{children}{error()}</fieldset> }.into_any()
        }
        Value::Bool(on) => {
            let p = path.clone();
            view! {
                <label class="field" data-field=path.clone()><span>{label}</span>
                    <input type="checkbox" name=path.clone() prop:checked=*on on:change=move |ev| form.set(&p, event_target_checked(&ev).into()) />
                    {error()}
                </label>
            }.into_any()
        }
        other => {
            let (p, old) = (path.clone(), other.clone());
            let numeric = matches!(other, Value::Number(_) | Value::Null);
            view! {
                <label class="field" data-field=path.clone()><span>{label}</span>
                    <input type="text" name=path.clone() class:numeric=numeric value=display(other) placeholder=if other.is_null() { "none" } else { "" }
                        on:change=move |ev| form.set(&p, parse_input(&old, &event_target_value(&ev))) />
                    {error()}
                </label>
            }.into_any()
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

/// An objective: the method picked from the server's list (its defaults replace the fields),
/// then its hyper-parameters.
fn objective(form: Form, path: String, label: String, value: Value) -> AnyView {
    let method = value.get("method").and_then(Value::as_str).unwrap_or_default().to_owned();
    let teacher = path.starts_with("teacher");
    let choices = move || {
        form.methods
            .get()
            .map(|m| if teacher { m.teacher } else { m.distillation })
            .unwrap_or_default()
    };
    let p = path.clone();
    let change = move |ev: leptos::ev::Event| {
        let name = event_target_value(&ev);
        let defaults = form.methods.get_untracked().and_then(|m| {
            m.teacher.into_iter().chain(m.distillation).find(|(n, _)| *n == name).map(|(_, v)| v)
        });
        if let Some(defaults) = defaults {
            let pointer = pointer(&p);
            form.reshape(|c| {
                if let Some(slot) = c.pointer_mut(&pointer) {
                    *slot = defaults;
                }
            });
        }
    };
    let params = match &value {
        Value::Object(map) => map
            .iter()
            .filter(|(k, _)| *k != "method")
            .map(|(k, v)| field(form, join(&path, k), k.clone(), v.clone()))
            .collect_view()
            .into_any(),
        _ => ().into_any(),
    };
    let here = path.clone();
    view! {
        <fieldset data-field=path.clone() class="objective"><legend>{label}</legend>
            <label class="field"><span>"method"</span>
                <select name=format!("{path}.method") on:change=change prop:value=method.clone()>
                    {
                        let method = method.clone();
                        move || choices().into_iter().map(|(name, _)| view! { <option value=name.clone() selected=name == method>{name.clone()}</option> }).collect_view()
                    }
                </select>
            </label>
            {params}
            {error_at(form, here, false)}
        </fieldset>
    }.into_any()
}

/// The config's sections in the order a user decides them, each folded open or not; any other
/// key (a newer config's) comes last.
const SECTIONS: [(&str, &str, bool); 12] = [
    ("space", "search space", false),
    ("data", "data set", true),
    ("data_limits", "data limits", false),
    ("teacher", "teacher (adversarial training)", true),
    ("supernet", "supernet (robustness distillation)", true),
    ("phases", "progressive phases", true),
    ("baseline", "baseline (random sampling)", false),
    ("validation", "validation during training", false),
    ("evaluation", "student evaluation", true),
    ("network", "network", false),
    ("device", "device", false),
    ("seed", "seed", false),
];

fn sections(form: Form, mut map: serde_json::Map<String, Value>) -> AnyView {
    let mut out = Vec::new();
    for (key, title, open) in SECTIONS {
        if let Some(value) = map.remove(key) {
            out.push(section(form, key.to_owned(), title.to_owned(), open, value));
        }
    }
    for (key, value) in map {
        out.push(section(form, key.clone(), key, false, value));
    }
    out.into_iter().collect_view().into_any()
}

fn section(form: Form, key: String, title: String, open: bool, value: Value) -> AnyView {
    // An inline space is there to be edited.
    let open = open || (key == "space" && value.is_object());
    let body = match (&value, key.as_str()) {
        (Value::Object(map), _) if !map.contains_key("method") => map
            .iter()
            .map(|(k, v)| field(form, join(&key, k), k.clone(), v.clone()))
            .collect_view()
            .into_any(),
        (Value::String(_), "data") => data_field(form, value),
        (Value::String(name), "space") => space_field(form, name.clone()),
        (Value::Array(phases), "phases") => phases_editor(form, phases.clone()),
        _ => field(form, key.clone(), key.clone(), value),
    };
    let errored = {
        let key = key.clone();
        move || {
            form.error.get().and_then(|e| e.field).is_some_and(|f| {
                f == key || f.starts_with(&format!("{key}.")) || f.starts_with(&format!("{key}["))
            })
        }
    };
    view! {
        <details class="section" data-section=key open=move || open || errored()>
            <summary>{title}</summary>
            {body}
        </details>
    }
    .into_any()
}

/// A phase's choices of one dimension as typed: `all`, `largest 2`, or values `3, 5, 7`.
fn choice_text(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            map.get("largest").map(|n| format!("largest {n}")).unwrap_or_else(|| value.to_string())
        }
        other => display(other),
    }
}

fn parse_choice(text: &str) -> Value {
    let text = text.trim();
    if let Some(n) = text.strip_prefix("largest").and_then(|n| n.trim().parse::<u64>().ok()) {
        return serde_json::json!({ "largest": n });
    }
    if text == "all" {
        return Value::String("all".into());
    }
    Value::Array(text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(scalar).collect())
}

const DIMENSIONS: [(&str, &str); 4] = [
    ("widths", "widths"),
    ("kernel_sizes", "kernel sizes"),
    ("depths", "depths"),
    ("expand_ratios", "expand ratios"),
];
const PHASE_NUMBERS: [(&str, &str); 5] = [
    ("epochs", "epochs"),
    ("warmup_epochs", "warm-up epochs"),
    ("warmup_lr", "warm-up from"),
    ("learning_rate", "learning rate"),
    ("subnets_per_step", "subnets / step"),
];

/// The progressive phases as a table: what each opens per dimension (`all`, `largest n`, or
/// values), its epochs, warm-up, learning rate and subnets per step; phases can be added and
/// removed.
fn phases_editor(form: Form, phases: Vec<Value>) -> AnyView {
    let cell_error = move |path: String| error_at(form, path, true);
    let rows = phases.into_iter().enumerate().map(|(i, phase)| {
        let base = format!("phases[{i}]");
        let text = |key: &str| phase.get(key).map(display).unwrap_or_default();
        let name_path = format!("{base}.name");
        let name = {
            let (p, old) = (name_path.clone(), phase.get("name").cloned().unwrap_or_default());
            view! { <td data-field=name_path.clone()><input type="text" name=name_path.clone() value=text("name") on:change=move |ev| form.set(&p, parse_input(&old, &event_target_value(&ev))) />{cell_error(name_path.clone())}</td> }
        };
        let choices = DIMENSIONS.iter().map(|(dim, _)| {
            let path = format!("{base}.choices.{dim}");
            let value = phase.pointer(&format!("/choices/{dim}")).map(choice_text).unwrap_or_default();
            let p = path.clone();
            view! { <td data-field=path.clone()><input type="text" class="choice" name=path.clone() value=value on:change=move |ev| form.set(&p, parse_choice(&event_target_value(&ev))) /></td> }
        }).collect_view();
        let numbers = PHASE_NUMBERS.iter().map(|(key, _)| {
            let path = format!("{base}.{key}");
            let old = phase.get(*key).cloned().unwrap_or(Value::Null);
            let p = path.clone();
            view! { <td data-field=path.clone()><input type="text" class="numeric" name=path.clone() value=display(&old) on:change=move |ev| form.set(&p, parse_input(&old, &event_target_value(&ev))) />{cell_error(path.clone())}</td> }
        }).collect_view();
        let init_path = format!("{base}.init_from_previous");
        let init = phase.get("init_from_previous").and_then(Value::as_bool).unwrap_or(true);
        let choices_path = format!("{base}.choices");
        view! {
            <tr data-phase=i>
                {name}{choices}{numbers}
                <td><input type="checkbox" name=init_path.clone() prop:checked=init on:change=move |ev| form.set(&init_path, event_target_checked(&ev).into()) /></td>
                <td><button class="remove-phase" title="remove this phase" on:click=move |_| form.reshape(|c| {
                    if let Some(Value::Array(list)) = c.get_mut("phases") { list.remove(i); }
                })>"×"</button></td>
            </tr>
            <tr class="row-error">{move || form.error.get().filter(|e| e.field.as_deref() == Some(choices_path.as_str())).map(|e| view! { <td colspan="12"><span class="field-error">{e.message}</span></td> })}</tr>
        }
    }).collect_view();
    view! {
        <table class="data phases" data-field="phases">
            <thead><tr>
                <th>"phase"</th>
                {DIMENSIONS.iter().map(|(_, label)| view! { <th>{*label}</th> }).collect_view()}
                {PHASE_NUMBERS.iter().map(|(_, label)| view! { <th>{*label}</th> }).collect_view()}
                <th>"init from previous"</th><th></th>
            </tr></thead>
            <tbody>{rows}</tbody>
        </table>
        <p class="note">"Each dimension: " <code>"all"</code> ", " <code>"largest n"</code> " (the n largest choices of each stage) or values (" <code>"3, 5"</code> "). Warm-up from: empty warms up flat at the phase's rate, as the reference on one device."</p>
        <button class="add-phase" on:click=move |_| form.reshape(|c| {
            if let Some(Value::Array(list)) = c.get_mut("phases") && let Some(last) = list.last().cloned() {
                let mut phase = last;
                phase["name"] = Value::String(format!("phase-{}", list.len() + 1));
                list.push(phase);
            }
        })>"+ add a phase"</button>
    }.into_any()
}

/// A preset space by name, which the user can open as an inline space to shrink or widen: its
/// stages' choice lists become fields, and the summary above follows every edit.
fn space_field(form: Form, name: String) -> AnyView {
    let preset_name = name.clone();
    let inline = move |_| {
        let Some(space) = preset(&preset_name) else { return };
        let Ok(value) = serde_json::to_value(&space) else { return };
        form.reshape(|c| c["space"] = value);
    };
    view! {
        {field(form, "space".into(), "preset".into(), Value::String(name.clone()))}
        <button class="inline-space" on:click=inline>"Edit this space's stages"</button>
    }
    .into_any()
}

/// The data set: one the server offers, or any spec typed in.
fn data_field(form: Form, value: Value) -> AnyView {
    let current = value.as_str().unwrap_or_default().to_owned();
    let offered = move || form.datasets.get().unwrap_or_default();
    let choose =
        move |ev: leptos::ev::Event| form.set("data", Value::String(event_target_value(&ev)));
    let typed = current.clone();
    view! {
        <label class="field" data-field="data"><span>"offered by this server"</span>
            <select name="data-offered" on:change=choose>
                <option value="">"—"</option>
                {move || offered().into_iter().map(|d| {
                    let chosen = d.spec == typed;
                    view! { <option value=d.spec.clone() selected=chosen>{format!("{} ({} train / {} test images)", d.spec, d.train_images, d.test_images)}</option> }
                }).collect_view()}
            </select>
        </label>
        {field(form, "data".into(), "spec".into(), value)}
    }.into_any()
}

/// Steps per epoch: the training images (the data set's, or the limit) over the batch.
fn steps_per_epoch(config: &Value, datasets: &[DataSet], batch_path: &str) -> Option<usize> {
    let spec = config.get("data").and_then(Value::as_str)?;
    let offered = datasets.iter().find(|d| d.spec == spec).map(|d| d.train_images as u64);
    let limit = config.pointer("/data_limits/train_images").and_then(Value::as_u64);
    let images = match (offered, limit) {
        (Some(n), Some(limit)) => n.min(limit),
        (n, limit) => n.or(limit)?,
    };
    let batch = config.pointer(batch_path).and_then(Value::as_u64)?.max(1);
    Some(images.div_ceil(batch) as usize)
}

/// The learning rate over the steps of the teacher and each phase (proard-shared's schedule).
fn schedule(config: &Value, datasets: &[DataSet]) -> (Vec<Line>, String) {
    let teacher_steps = steps_per_epoch(config, datasets, "/teacher/optimizer/batch");
    let phase_steps = steps_per_epoch(config, datasets, "/supernet/optimizer/batch");
    let (Some(teacher_steps), Some(phase_steps)) = (teacher_steps, phase_steps) else {
        return (Vec::new(), "The number of training images is unknown for this data set: set data_limits.train_images to preview the schedule in steps.".into());
    };
    let mut lines = Vec::new();
    let mut summary = Vec::new();
    let mut offset = 0usize;
    let mut stage = |name: String,
                     epochs: u64,
                     (warmup, from): (u64, f64),
                     lr: f64,
                     per_epoch: usize,
                     colour: &str| {
        let (warmup, cosine) = (warmup as usize * per_epoch, epochs as usize * per_epoch);
        let total = warmup + cosine;
        let every = total.div_ceil(300).max(1);
        let points = (0..total)
            .step_by(every)
            .map(|s| ((offset + s) as f64, learning_rate(lr, from, s, warmup, cosine)))
            .collect();
        summary.push(format!("{name}: {total} steps"));
        lines.push(Line { name, color: colour.to_owned(), points, dots: false });
        offset += total;
    };
    let number = |v: &Value, key: &str| v.get(key).and_then(Value::as_f64).unwrap_or(0.0);
    let teacher = config.get("teacher").cloned().unwrap_or_default();
    stage(
        "teacher".into(),
        number(&teacher, "epochs") as u64,
        (number(&teacher, "warmup_epochs") as u64, number(&teacher, "warmup_lr")),
        number(&teacher, "learning_rate"),
        teacher_steps,
        "#c0182a",
    );
    let colours = ["#1f6fd1", "#2ca02c", "#9467bd", "#17becf", "#8c564b"];
    for (i, phase) in
        config.get("phases").and_then(Value::as_array).into_iter().flatten().enumerate()
    {
        let name = phase.get("name").and_then(Value::as_str).unwrap_or("phase").to_owned();
        // Unset, a phase warms up from its own rate (flat), as the reference on one device.
        let from = phase.get("warmup_lr").and_then(Value::as_f64);
        stage(
            name,
            number(phase, "epochs") as u64,
            (number(phase, "warmup_epochs") as u64, from.unwrap_or(number(phase, "learning_rate"))),
            number(phase, "learning_rate"),
            phase_steps,
            colours[i % colours.len()],
        );
    }
    (
        lines,
        format!(
            "{} · {offset} training steps before the baseline and the evaluation",
            summary.join(" · ")
        ),
    )
}

/// The start-from choice of the built-in demo.
const DEMO: &str = "demo";

#[component]
pub fn NewExperimentPage() -> impl IntoView {
    let form = Form {
        config: RwSignal::new(Value::Null),
        error: RwSignal::new(None),
        methods: RwSignal::new(None),
        datasets: RwSignal::new(None),
        shape: RwSignal::new(0),
    };
    let name = RwSignal::new(String::new());
    let tags = RwSignal::new(String::new());
    let notes = RwSignal::new(String::new());
    let toml_text = RwSignal::new(String::new());
    let toml_error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let (clone, space) = (query("clone"), query("preset"));
    let set = query_setter();
    leptos::task::spawn_local(async move {
        match api::get::<Methods>("/api/methods").await {
            Ok(m) => form.methods.set(Some(m)),
            Err(e) => form.error.set(Some(e)),
        }
        match api::get::<Vec<DataSet>>("/api/datasets").await {
            Ok(d) => form.datasets.set(Some(d)),
            Err(e) => form.error.set(Some(e)),
        }
    });
    Effect::new(move |_| {
        let (clone, space) = (clone.get(), space.get());
        leptos::task::spawn_local(async move {
            let loaded = if !clone.is_empty() {
                api::send::<Value>(Method::POST, &format!("/api/experiments/{clone}/clone"), None)
                    .await
                    .and_then(|draft| {
                        name.set(draft["name"].as_str().unwrap_or_default().to_owned());
                        tags.set(
                            draft["tags"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .filter_map(Value::as_str)
                                .collect::<Vec<_>>()
                                .join(", "),
                        );
                        notes.set(draft["notes"].as_str().unwrap_or_default().to_owned());
                        let text = draft["config"].as_str().unwrap_or_default();
                        toml::from_str::<Value>(text).map_err(|e| ApiError {
                            status: 0,
                            message: format!("the clone's config: {e}"),
                            field: None,
                        })
                    })
            } else {
                let preset = if space.is_empty() { "resnet-mini".to_owned() } else { space };
                let path = if preset == DEMO {
                    "/api/demo/config".to_owned()
                } else {
                    format!("/api/spaces/{preset}/config")
                };
                name.set(if preset == DEMO {
                    "demo: ProARD on the synthetic set".to_owned()
                } else {
                    format!("{preset} experiment")
                });
                api::get::<Value>(&path).await.map(|v| v["config"].clone())
            };
            match loaded {
                Ok(config) => {
                    form.reshape(|c| *c = config);
                    form.error.set(None);
                }
                Err(e) => form.error.set(Some(e)),
            }
        });
    });
    let navigate = use_navigate();
    let launch = move |_| {
        let tags: Vec<String> = tags
            .get_untracked()
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect();
        let body = serde_json::json!({ "name": name.get_untracked(), "config": form.config.get_untracked(), "tags": tags, "notes": notes.get_untracked() });
        let navigate = navigate.clone();
        busy.set(true);
        leptos::task::spawn_local(async move {
            match api::send::<Experiment>(Method::POST, "/api/experiments", Some(&body)).await {
                Ok(e) => navigate(&format!("/experiments/{}", e.id), Default::default()),
                Err(e) => {
                    let field = e.field.clone();
                    form.error.set(Some(e));
                    if let Some(field) = field {
                        scroll_to(&field);
                    }
                }
            }
            busy.set(false);
        });
    };
    let summary = move || form.config.with(space_summary);
    let preview = Memo::new(move |_| {
        let datasets = form.datasets.get().unwrap_or_default();
        form.config.with(|c| schedule(c, &datasets))
    });
    view! {
        <section class="page new-experiment">
            <div class="page-head">
                <h1>"New experiment"</h1>
                <div class="actions">
                    <label>"start from " <select class="preset" prop:value=move || if space.get().is_empty() { "resnet-mini".to_owned() } else { space.get() }
                        on:change=move |ev| set(&[("preset", event_target_value(&ev)), ("clone", String::new())], false)>
                        {PRESET_NAMES.iter().map(|n| view! { <option value=*n>{format!("{n} (the reference's settings)")}</option> }).collect_view()}
                        <option value=DEMO>"demo (a tiny space, minutes on a CPU)"</option>
                    </select></label>
                    <button class="primary launch" disabled=move || busy.get() on:click=launch>"Launch"</button>
                </div>
            </div>
            {move || form.error.get().map(|e| view! { <p class="error" id="form-error">{e.message}</p> })}
            <div class="field-row">
                <label class="field wide"><span>"name"</span><input type="text" name="name" prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) /></label>
                <label class="field"><span>"tags"</span><input type="text" name="tags" placeholder="comma, separated" prop:value=move || tags.get() on:input=move |ev| tags.set(event_target_value(&ev)) /></label>
                <label class="field wide"><span>"notes"</span><input type="text" name="notes" prop:value=move || notes.get() on:input=move |ev| notes.set(event_target_value(&ev)) /></label>
            </div>
            <p class="space-summary" id="space-summary">{move || match summary() {
                Ok(s) => format!("space {}: {} subnets, {} … {} MMACs (computed in your browser)", s.name, group_digits(&s.subnets, '\u{2009}'), mmacs(s.macs_min), mmacs(s.macs_max)),
                Err(e) => format!("space: {e}"),
            }}</p>
            <h2>"Schedule"</h2>
            <p class="note" id="schedule-summary">{move || preview.get().1}</p>
            <LineChart lines=Memo::new(move |_| preview.get().0) x_label="step" y_label="learning rate" id="schedule-chart" />
            <h2>"Config"</h2>
            <div class="config-form" id="config-form">
                {move || {
                    form.shape.track();
                    match form.config.get_untracked() {
                    Value::Object(map) => sections(form, map),
                    _ => view! { <p class="note">"Loading the preset's reference config…"</p> }.into_any(),
                    }
                }}
            </div>
            <h2>"TOML"</h2>
            <p class="note">"The same config as a file: export it, or paste one (e.g. from proard config init) and apply it."</p>
            <div class="buttons">
                <button class="toml-export" on:click=move |_| export_toml(form, toml_text, toml_error, true)>"Export TOML"</button>
                <button class="toml-show" on:click=move |_| export_toml(form, toml_text, toml_error, false)>"Show TOML"</button>
                <button class="toml-apply" on:click=move |_| apply_toml(form, toml_text, toml_error)>"Apply TOML"</button>
            </div>
            <textarea id="config-toml" spellcheck="false" prop:value=move || toml_text.get() on:input=move |ev| toml_text.set(event_target_value(&ev))></textarea>
            {move || toml_error.get().map(|e| view! { <p class="error">{e}</p> })}
        </section>
    }
}

/// Shows the config as TOML, and offers it as a file when `save`.
fn export_toml(form: Form, text: RwSignal<String>, error: RwSignal<Option<String>>, save: bool) {
    match form.config.with_untracked(to_toml) {
        Ok(toml) => {
            if save {
                download("experiment.toml", "application/toml", &toml);
            }
            text.set(toml);
            error.set(None);
        }
        Err(e) => error.set(Some(e)),
    }
}

/// Replaces the form's config by the TOML text.
fn apply_toml(form: Form, text: RwSignal<String>, error: RwSignal<Option<String>>) {
    match toml::from_str::<Value>(&text.get_untracked()) {
        Ok(config) => {
            form.reshape(|c| *c = config);
            form.error.set(None);
            error.set(None);
        }
        Err(e) => error.set(Some(e.to_string())),
    }
}

/// Scrolls the field a server error names into view.
fn scroll_to(field: &str) {
    let selector = format!("[data-field=\"{field}\"]");
    if let Some(element) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.query_selector(&selector).ok().flatten())
    {
        element.scroll_into_view();
    }
}
