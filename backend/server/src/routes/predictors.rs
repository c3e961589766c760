//! The accuracy–robustness predictor of an experiment: fitted by a job on a cloud's evaluated
//! students, listed with its held-out RMSEs and every held-out student measured and predicted.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use proard_core::experiment::Cloud;
use proard_shared::api::{FittedPredictor, NewPredictor};
use proard_shared::predictor::PredictorConfig;

use super::experiments::experiment_id;
use super::{Access, ApiError, ApiJson, ApiPath, AppState};
use crate::store::students::StudentQuery;

/// What a queued fit answers: its job.
#[derive(serde::Serialize)]
pub struct Queued {
    job: i64,
}

pub async fn create(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<NewPredictor>,
) -> Result<(StatusCode, Json<Queued>), ApiError> {
    access.owner()?;
    let id = experiment_id(&state, &access, &id).await?;
    let cloud: Cloud = request.cloud.parse().map_err(ApiError::unprocessable)?;
    if cloud == Cloud::Teacher {
        return Err(ApiError::unprocessable(
            "the teacher is one network; fit on proard or baseline",
        ));
    }
    let defaults = PredictorConfig::new();
    let epochs = request.epochs.unwrap_or(defaults.epochs);
    if epochs == 0 {
        return Err(ApiError::unprocessable("`epochs` must be at least 1"));
    }
    let query =
        StudentQuery { experiment: Some(id), cloud: Some(cloud), ..StudentQuery::default() };
    let students = state.store.student_count(&query).await?;
    if students < 2 {
        return Err(ApiError::unprocessable(format!(
            "experiment {id} has {students} evaluated {} student(s); the predictor needs at least 2 \
             (some are held out to measure it)",
            cloud.name()
        )));
    }
    let job = state
        .store
        .queue_predictor(id, &request, (epochs, request.seed.unwrap_or(defaults.seed)))
        .await?;
    Ok((StatusCode::ACCEPTED, Json(Queued { job })))
}

pub async fn list(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<FittedPredictor>>, ApiError> {
    let id = experiment_id(&state, &access, &id).await?;
    let artifacts = state.store.artifacts(id).await?;
    let fitted = state.store.predictors(id).await?;
    Ok(Json(
        fitted
            .into_iter()
            .map(|p| FittedPredictor {
                id: p.id,
                experiment_id: p.experiment_id,
                download: artifacts
                    .iter()
                    .find(|a| a.path == p.path)
                    .map(|a| format!("/api/experiments/{id}/artifacts/{}", a.id)),
                cloud: p.cloud,
                settings: p.settings,
                rmse_acc: p.report.rmse_acc,
                rmse_rob: p.report.rmse_rob,
                n_train: p.report.n_train,
                n_test: p.report.n_test,
                held_out: p
                    .report
                    .held_out
                    .iter()
                    .map(|h| [h.clean, h.pgd20, h.predicted_clean, h.predicted_pgd20])
                    .collect(),
                created_at: p.created_at,
            })
            .collect(),
    ))
}
