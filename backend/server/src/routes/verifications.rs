//! Students taken home: a verification exports one student (a record of a cloud, or an arch)
//! and attacks it in a job; the list shows each with its status, download and result.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use proard_core::experiment::Cloud;
use proard_core::verify::VerifyAttack;
use proard_shared::Arch;
use proard_shared::api::{NewVerification, Verification};

use super::experiments::experiment_id;
use super::{Access, ApiError, ApiJson, ApiPath, AppState};
use crate::store::experiments::parsed_config;
use crate::store::students::StudentQuery;
use crate::store::verifications::StoredVerification;

pub async fn create(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<NewVerification>,
) -> Result<(StatusCode, Json<Verification>), ApiError> {
    access.owner()?;
    let id = experiment_id(&state, &access, &id).await?;
    let cloud: Cloud = request.cloud.parse().map_err(ApiError::unprocessable)?;
    for attack in &request.attacks {
        attack.parse::<VerifyAttack>().map_err(ApiError::unprocessable)?;
    }
    if request.images == Some(0) || request.apgd_iterations == Some(0) {
        return Err(ApiError::unprocessable("`images` and `apgd_iterations` must be at least 1"));
    }
    let (arch, student) = match (&request.index, &request.arch) {
        (Some(index), None) => {
            (record_arch(&state, id, cloud, *index).await?, format!("{} #{index}", cloud.name()))
        }
        (None, Some(arch)) => {
            check_arch(&state, id, arch).await?;
            (arch.clone(), format!("{} (given arch)", cloud.name()))
        }
        _ => {
            return Err(ApiError::unprocessable(
                "give either `index` (a student record) or `arch`",
            ));
        }
    };
    let stored = state.store.create_verification(id, &request, &arch, &student).await?;
    Ok((StatusCode::ACCEPTED, Json(view(&state, stored).await?)))
}

pub async fn list(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<Verification>>, ApiError> {
    let id = experiment_id(&state, &access, &id).await?;
    let mut views = Vec::new();
    for stored in state.store.verifications(id).await? {
        views.push(view(&state, stored).await?);
    }
    Ok(Json(views))
}

/// The arch of record `index` of `cloud`, or a 422 naming what exists.
async fn record_arch(
    state: &AppState,
    id: i64,
    cloud: Cloud,
    index: usize,
) -> Result<Arch, ApiError> {
    let query =
        StudentQuery { experiment: Some(id), cloud: Some(cloud), ..StudentQuery::default() };
    let students = state.store.students(&query).await?;
    students.into_iter().find(|s| s.record.index == index).map(|s| s.record.arch).ok_or_else(|| {
        ApiError::unprocessable(format!(
            "experiment {id} has no evaluated {} student with index {index}",
            cloud.name()
        ))
    })
}

/// An arch given by hand must be one of the experiment's space.
async fn check_arch(state: &AppState, id: i64, arch: &Arch) -> Result<(), ApiError> {
    let experiment = state.store.experiment(id).await?;
    let space = parsed_config(&experiment)?
        .resolve_space()
        .map_err(|e| ApiError::unprocessable(e.to_string()))?;
    space.subnet(arch).map(|_| ()).map_err(|e| {
        ApiError::unprocessable(format!("the arch is not one of the space `{}`: {e}", space.name()))
    })
}

async fn view(state: &AppState, stored: StoredVerification) -> Result<Verification, ApiError> {
    let download = match &stored.student_path {
        Some(path) => state
            .store
            .artifacts(stored.experiment_id)
            .await?
            .into_iter()
            .find(|a| &a.path == path)
            .map(|a| format!("/api/experiments/{}/artifacts/{}", stored.experiment_id, a.id)),
        None => None,
    };
    let result = stored.result.map(serde_json::from_value).transpose().map_err(|e| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("a stored result: {e}"))
    })?;
    Ok(Verification {
        id: stored.id,
        experiment_id: stored.experiment_id,
        request: stored.request,
        arch: stored.arch,
        status: stored.status,
        error: stored.error,
        download,
        result,
        created_at: stored.created_at,
    })
}
