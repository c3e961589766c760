//! Share links of an experiment: created and listed and revoked by the owner.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::{Extension, Json};
use proard_shared::api::ShareLink;
use serde::Deserialize;

use super::{Access, ApiError, ApiPath, AppState, OptionalJson, parse_id};
use crate::access::{new_token, token_hash};
use crate::store::shares::Share;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NewShare {
    /// The view the link opens (the studio's URL state), a JSON object.
    #[serde(default)]
    view: Option<serde_json::Value>,
}

pub async fn create(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    OptionalJson(body): OptionalJson<NewShare>,
) -> Result<(StatusCode, Json<ShareLink>), ApiError> {
    access.owner()?;
    let id = parse_id("experiment", &id)?;
    let view = body.view.unwrap_or_else(|| serde_json::json!({}));
    if !view.is_object() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "`view` must be a JSON object",
        ));
    }
    let token = new_token();
    let share = state.store.create_share(id, &token_hash(&token), &view).await?;
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    let url = format!("http://{host}/share/{token}");
    Ok((StatusCode::CREATED, Json(ShareLink { id: share, token, url })))
}

pub async fn list(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<Share>>, ApiError> {
    access.owner()?;
    let id = parse_id("experiment", &id)?;
    state.store.experiment(id).await?;
    Ok(Json(state.store.shares(id).await?))
}

pub async fn revoke(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    ApiPath((id, share)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    access.owner()?;
    let (id, share) = (parse_id("experiment", &id)?, parse_id("share link", &share)?);
    state.store.revoke_share(id, share).await?;
    Ok(StatusCode::NO_CONTENT)
}
