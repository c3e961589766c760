//! Experiments: create, list, read with their stages and jobs, update, cancel, resume, clone,
//! delete; their metrics and weights files; import of a CLI run.

use std::path::Path;

use axum::Extension;
use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use proard_core::experiment::ExperimentConfig;
use proard_core::experiment::config::ConfigError;
use proard_shared::api::{
    Experiment, ExperimentDetail, ExperimentSummary, Page, StageMetrics, StageView,
};
use serde::{Deserialize, Serialize};
use tower::ServiceExt;

use super::{Access, ApiError, ApiJson, ApiPath, ApiQuery, AppState, parse_id};
use crate::store::experiments::{CreateError, ExperimentQuery, NewExperiment};
use crate::store::queue::Job;

/// Most items one page holds.
pub const MAX_PAGE: i64 = 10_000;

/// `offset` and `limit` of a page, checked.
pub fn page_bounds(
    offset: Option<i64>,
    limit: Option<i64>,
    default: i64,
) -> Result<(i64, i64), ApiError> {
    let offset = offset.unwrap_or(0);
    let limit = limit.unwrap_or(default);
    if offset < 0 {
        return Err(ApiError::bad_request("`offset` must be 0 or more"));
    }
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!("`limit` must be between 1 and {MAX_PAGE}")));
    }
    Ok((offset, limit))
}

async fn summary(state: &AppState, experiment: Experiment) -> Result<ExperimentSummary, ApiError> {
    // The pipeline's jobs: verifications come and go after it.
    let jobs: Vec<_> = state
        .store
        .jobs(experiment.id)
        .await?
        .into_iter()
        .filter(|j| j.kind.goal().is_some())
        .collect();
    let done = jobs.iter().filter(|j| j.status == proard_shared::api::Status::Done).count();
    let (best_clean, best_pgd20) = state.store.best_students(experiment.id).await?;
    Ok(ExperimentSummary {
        progress: done as f64 / jobs.len().max(1) as f64,
        experiment,
        best_clean,
        best_pgd20,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<String>,
    space: Option<String>,
    method: Option<String>,
    tag: Option<String>,
    /// Text in the name or the notes.
    q: Option<String>,
    /// created | name | status | updated
    sort: Option<String>,
    desc: Option<bool>,
    offset: Option<i64>,
    limit: Option<i64>,
}

pub async fn list(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Page<ExperimentSummary>>, ApiError> {
    access.owner()?;
    let (offset, limit) = page_bounds(query.offset, query.limit, 50)?;
    let status = query.status.map(|s| s.parse()).transpose().map_err(ApiError::bad_request)?;
    let order = query.sort.map(|s| s.parse()).transpose().map_err(ApiError::bad_request)?;
    let store_query = ExperimentQuery {
        status,
        space: query.space,
        method: query.method,
        tag: query.tag,
        text: query.q,
        order: order.unwrap_or_default(),
        descending: query.desc.unwrap_or(order.is_none()),
        offset,
        limit,
    };
    let (experiments, total) = state.store.experiments(&store_query).await?;
    let mut items = Vec::with_capacity(experiments.len());
    for experiment in experiments {
        items.push(summary(&state, experiment).await?);
    }
    Ok(Json(Page { items, total, offset, limit }))
}

/// `config` is TOML text or a JSON object of the same fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewBody {
    name: String,
    config: serde_json::Value,
    /// Evaluation jobs (1 by default).
    eval_shards: Option<usize>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    notes: String,
}

fn parse_config(config: serde_json::Value) -> Result<ExperimentConfig, CreateError> {
    Ok(match config {
        serde_json::Value::String(text) => ExperimentConfig::from_toml(&text, "config")?,
        object @ serde_json::Value::Object(_) => serde_json::from_value(object)
            .map_err(|e| ConfigError::Parse { path: "config".into(), message: e.to_string() })?,
        _ => {
            return Err(ConfigError::Invalid {
                field: "config".into(),
                problem: "must be TOML text or a JSON object".into(),
            }
            .into());
        }
    })
}

fn check_labels(name: &str, tags: &[String]) -> Result<(), ApiError> {
    if name.trim().is_empty() || name.len() > 200 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "`name` must be 1 to 200 characters",
        ));
    }
    if tags.len() > 50 || tags.iter().any(|t| t.trim().is_empty() || t.len() > 50) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "`tags`: at most 50, each 1 to 50 characters",
        ));
    }
    Ok(())
}

pub async fn create(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    ApiJson(body): ApiJson<NewBody>,
) -> Result<(StatusCode, Json<Experiment>), ApiError> {
    access.owner()?;
    check_labels(&body.name, &body.tags)?;
    let shards = body.eval_shards.unwrap_or(1);
    if !(1..=1024).contains(&shards) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "`eval_shards` must be 1 to 1024",
        ));
    }
    let new = NewExperiment {
        name: body.name,
        config: parse_config(body.config)?,
        eval_shards: shards,
        tags: body.tags,
        notes: body.notes,
    };
    Ok((StatusCode::CREATED, Json(state.store.create_experiment(&new).await?)))
}

/// The experiment and its stages, with its jobs.
#[derive(Serialize)]
pub struct Detail {
    #[serde(flatten)]
    detail: ExperimentDetail,
    jobs: Vec<Job>,
}

/// An experiment id from the path that exists and that `access` may read.
pub(super) async fn experiment_id(
    state: &AppState,
    access: &Access,
    id: &str,
) -> Result<i64, ApiError> {
    let id = parse_id("experiment", id)?;
    access.read(id)?;
    state.store.experiment(id).await?;
    Ok(id)
}

pub async fn get(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Detail>, ApiError> {
    let id = experiment_id(&state, &access, &id).await?;
    let experiment = state.store.experiment(id).await?;
    let now = crate::store::now_ms();
    let stages = state
        .store
        .stages(id)
        .await?
        .into_iter()
        .map(|stage| {
            let running = stage.status == "running" && stage.done > 0;
            let eta_seconds = running.then(|| {
                let elapsed = (now - stage.started_at).max(0) as f64 / 1000.0;
                elapsed / stage.done as f64 * (stage.total - stage.done).max(0) as f64
            });
            StageView { stage, eta_seconds }
        })
        .collect();
    let jobs = state.store.jobs(id).await?;
    let summary = summary(&state, experiment).await?;
    Ok(Json(Detail { detail: ExperimentDetail { summary, stages, jobs: Vec::new() }, jobs }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Patch {
    name: Option<String>,
    tags: Option<Vec<String>>,
    notes: Option<String>,
}

pub async fn update(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    ApiPath(id): ApiPath<String>,
    ApiJson(patch): ApiJson<Patch>,
) -> Result<Json<Experiment>, ApiError> {
    access.owner()?;
    let id = experiment_id(&state, &access, &id).await?;
    let current = state.store.experiment(id).await?;
    check_labels(
        patch.name.as_deref().unwrap_or(&current.name),
        patch.tags.as_deref().unwrap_or(&current.tags),
    )?;
    let updated = state
        .store
        .update_experiment(id, patch.name.as_deref(), patch.tags.as_deref(), patch.notes.as_deref())
        .await?;
    Ok(Json(updated))
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    access.owner()?;
    let id = experiment_id(&state, &access, &id).await?;
    let experiment = state.store.delete_experiment(id).await?;
    // Only a directory the store created under the data directory is removed.
    let dir = state.data_dir.join(&experiment.dir);
    if experiment.dir == format!("experiments/{id}") && dir.is_dir() {
        std::fs::remove_dir_all(&dir).map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("removing {}: {e}", dir.display()),
            )
        })?;
    }
    Ok(StatusCode::NO_CONTENT)
}

pub async fn cancel(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Experiment>, ApiError> {
    access.owner()?;
    let id = experiment_id(&state, &access, &id).await?;
    Ok(Json(state.store.cancel_experiment(id).await?))
}

pub async fn resume(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Experiment>, ApiError> {
    access.owner()?;
    let id = experiment_id(&state, &access, &id).await?;
    Ok(Json(state.store.resume_experiment(id).await?))
}

/// A new draft from an experiment: its name and config, to edit and `POST /api/experiments`.
pub async fn clone(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    access.owner()?;
    let id = experiment_id(&state, &access, &id).await?;
    let experiment = state.store.experiment(id).await?;
    Ok(Json(serde_json::json!({
        "name": format!("{} (copy)", experiment.name),
        "config": experiment.config,
        "eval_shards": experiment.eval_shards,
        "tags": experiment.tags,
        "notes": experiment.notes,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsQuery {
    /// One stage (all by default).
    stage: Option<String>,
    /// At most this many steps per stage, evenly spaced, the last always kept (1000).
    points: Option<usize>,
}

pub async fn metrics(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<MetricsQuery>,
) -> Result<Json<Vec<StageMetrics>>, ApiError> {
    let id = experiment_id(&state, &access, &id).await?;
    let points = query.points.unwrap_or(1000);
    if !(2..=100_000).contains(&points) {
        return Err(ApiError::bad_request("`points` must be between 2 and 100000"));
    }
    let mut out = Vec::new();
    for stage in state.store.stages(id).await? {
        if stage.unit != "steps" || query.stage.as_ref().is_some_and(|s| *s != stage.name) {
            continue;
        }
        let steps = state.store.steps(id, &stage.name, 0, 0).await?;
        let every = steps.len().div_ceil(points).max(1);
        let last = steps.len().saturating_sub(1);
        let steps = steps.into_iter().enumerate().filter(|(i, _)| i % every == 0 || *i == last);
        out.push(StageMetrics {
            epochs: state.store.epochs(id, &stage.name).await?,
            steps: steps.map(|(_, s)| s).collect(),
            stage: stage.name,
        });
    }
    if let Some(stage) = query.stage
        && out.is_empty()
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("experiment {id} has no stage `{stage}`"),
        ));
    }
    Ok(Json(out))
}

#[derive(Serialize)]
pub struct ArtifactView {
    id: i64,
    kind: String,
    /// Relative to the data directory.
    path: String,
    bytes: i64,
    url: String,
}

pub async fn artifacts(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<ArtifactView>>, ApiError> {
    let id = experiment_id(&state, &access, &id).await?;
    let artifacts = state.store.artifacts(id).await?;
    Ok(Json(
        artifacts
            .into_iter()
            .map(|a| ArtifactView {
                url: format!("/api/experiments/{id}/artifacts/{}", a.id),
                id: a.id,
                kind: a.kind,
                path: a.path,
                bytes: a.bytes,
            })
            .collect(),
    ))
}

/// A weights file by its id; the path comes from the store, never from the request, and must
/// stay inside the data directory.
pub async fn download(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    ApiPath((id, artifact)): ApiPath<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let id = experiment_id(&state, &access, &id).await?;
    let artifact_id = parse_id("artifact", &artifact)?;
    let artifact =
        state.store.artifacts(id).await?.into_iter().find(|a| a.id == artifact_id).ok_or_else(
            || {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("experiment {id} has no artifact {artifact_id}"),
                )
            },
        )?;
    let path = state.data_dir.join(&artifact.path);
    let inside = |p: &Path| {
        let data = std::fs::canonicalize(&state.data_dir).ok();
        std::fs::canonicalize(p).ok().zip(data).is_some_and(|(p, d)| p.starts_with(d))
    };
    if !inside(&path) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("artifact {artifact_id}'s file is gone"),
        ));
    }
    let name = format!("experiment-{id}-{}.safetensors", artifact.kind);
    let response = tower_http::services::ServeFile::new(&path)
        .oneshot(request)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let mut response = response.map(Body::new).into_response();
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        format!("attachment; filename=\"{name}\"").parse().expect("a valid header"),
    );
    Ok(response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportBody {
    /// A run directory on the server's machine.
    dir: String,
    name: Option<String>,
}

/// Registers a `proard run` directory on the server's machine as an experiment.
pub async fn import(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    ApiJson(body): ApiJson<ImportBody>,
) -> Result<(StatusCode, Json<Experiment>), ApiError> {
    access.owner()?;
    let dir = Path::new(&body.dir);
    if !dir.join("config.toml").is_file() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{} holds no proard run (there is no config.toml in it)", dir.display()),
        ));
    }
    let name = body.name.unwrap_or_else(|| body.dir.clone());
    check_labels(&name, &[])?;
    let experiment = crate::import::import_run(&state.store, &state.data_dir, dir, &name)
        .await
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("{e:#}")))?;
    Ok((StatusCode::CREATED, Json(experiment)))
}
