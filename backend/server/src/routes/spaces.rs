//! Search spaces and the default experiment config of each (and the demo's), for the
//! new-experiment form.

use axum::Json;
use axum::http::StatusCode;
use proard_core::experiment::ExperimentConfig;
use proard_core::experiment::config::SpaceRef;
use proard_shared::Space;
use proard_shared::api::SpaceSummary;
use proard_shared::preset::{PRESET_NAMES, preset, presets};

use super::{ApiError, ApiPath};

pub async fn list() -> Json<Vec<SpaceSummary>> {
    Json(presets().iter().map(SpaceSummary::of).collect())
}

fn named(name: &str) -> Result<Space, ApiError> {
    preset(name).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no preset space `{name}`; presets are {}", PRESET_NAMES.join(", ")),
        )
    })
}

pub async fn show(ApiPath(name): ApiPath<String>) -> Result<Json<SpaceSummary>, ApiError> {
    Ok(Json(SpaceSummary::of(&named(&name)?)))
}

/// The built-in demo (a tiny space on the synthetic set, minutes on a CPU), as TOML and JSON.
pub async fn demo_config() -> Json<serde_json::Value> {
    config_answer(&proard_core::experiment::pipeline::demo_config())
}

fn config_answer(config: &ExperimentConfig) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "toml": config.to_toml(),
        "config": serde_json::to_value(config).expect("configs serialise"),
    }))
}

/// The reference's default experiment for a preset, as TOML and as JSON.
pub async fn default_config(
    ApiPath(name): ApiPath<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let space = named(&name)?;
    Ok(config_answer(&ExperimentConfig::for_space(SpaceRef::Named(name), space.family())))
}
