//! The HTTP server: JSON API under `/api`, the built studio from the static directory.
//!
//! Handlers stay thin: each one calls a library function of `proard-shared` or of this crate.

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use proard_shared::api::SpaceSummary;
use proard_shared::preset::{PRESET_NAMES, preset, presets};
use tower_http::services::ServeDir;

/// What the server needs to know at start-up.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Directory with index.html, CSS and the built frontend (`pkg/`).
    pub static_dir: PathBuf,
}

/// The application's routes.
pub fn router(config: &ServerConfig) -> Router {
    Router::new()
        .route("/api/spaces", get(list_spaces))
        .route("/api/spaces/{name}", get(show_space))
        .fallback_service(ServeDir::new(&config.static_dir))
}

/// Serves `router` on `listener` until Ctrl-C or SIGTERM.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    axum::serve(listener, router).with_graceful_shutdown(shutdown()).await
}

/// Resolves on Ctrl-C or SIGTERM (if a handler cannot be installed, the server runs until
/// killed).
async fn shutdown() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}

/// Binds `addr` (loopback by default: nothing is exposed unless asked for).
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

/// A JSON error body `{"error": "..."}` with a status code.
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

async fn list_spaces() -> Json<Vec<SpaceSummary>> {
    Json(presets().iter().map(SpaceSummary::of).collect())
}

async fn show_space(Path(name): Path<String>) -> Result<Json<SpaceSummary>, ApiError> {
    let space = preset(&name).ok_or_else(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            format!("no preset space `{name}`; presets are {}", PRESET_NAMES.join(", ")),
        )
    })?;
    Ok(Json(SpaceSummary::of(&space)))
}
