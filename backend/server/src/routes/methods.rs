//! The training objectives an experiment can choose, with their papers' defaults.

use axum::Json;
use proard_core::objective::ObjectiveConfig;
use proard_shared::api::Methods;

pub async fn list() -> Json<Methods> {
    let (mut teacher, mut distillation) = (Vec::new(), Vec::new());
    for objective in ObjectiveConfig::all_defaults() {
        let entry = (
            objective.name().to_owned(),
            serde_json::to_value(&objective).expect("objective configs serialise"),
        );
        if objective.needs().teacher { distillation.push(entry) } else { teacher.push(entry) }
    }
    Json(Methods { teacher, distillation })
}
