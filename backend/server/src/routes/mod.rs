//! The HTTP server: the JSON API under `/api` (every call needs the studio token or, for reads
//! of one experiment, a share token), the login URL, and the built studio from the static
//! directory.
//!
//! Handlers stay thin: each one parses its input, calls the store or a library function, and
//! answers JSON. Every client mistake — a malformed body, an unknown field, a bad id, a body
//! over 1 MiB — is a 4xx with `{"error": "…"}` naming it, never a 500.

mod auth;
mod datasets;
mod events;
mod experiments;
mod methods;
mod predictors;
mod shares;
mod spaces;
mod students;
mod verifications;

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router, middleware};
use proard_shared::api::ErrorBody;
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::services::ServeDir;

pub use auth::Access;

use crate::store::experiments::CreateError;
use crate::store::{Store, StoreError};

/// Largest request body the API reads.
pub const BODY_LIMIT: usize = 1 << 20;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Run directories live here.
    pub data_dir: PathBuf,
    /// The studio token.
    pub token: String,
    /// Turns true when the server shuts down: open event streams end.
    pub shutdown: watch::Receiver<bool>,
}

/// What the server needs to know at start-up.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Directory with index.html, CSS and the built frontend (`pkg/`).
    pub static_dir: PathBuf,
}

/// The application's routes.
pub fn router(config: &ServerConfig, state: AppState) -> Router {
    let api = Router::new()
        .route("/access", get(auth::whoami))
        .route("/methods", get(methods::list))
        .route("/datasets", get(datasets::list))
        .route("/spaces", get(spaces::list))
        .route("/spaces/{name}", get(spaces::show))
        .route("/spaces/{name}/config", get(spaces::default_config))
        .route("/demo/config", get(spaces::demo_config))
        .route("/experiments", get(experiments::list).post(experiments::create))
        .route(
            "/experiments/{id}",
            get(experiments::get).patch(experiments::update).delete(experiments::delete),
        )
        .route("/experiments/{id}/cancel", post(experiments::cancel))
        .route("/experiments/{id}/resume", post(experiments::resume))
        .route("/experiments/{id}/clone", post(experiments::clone))
        .route("/experiments/{id}/metrics", get(experiments::metrics))
        .route("/experiments/{id}/artifacts", get(experiments::artifacts))
        .route("/experiments/{id}/artifacts/{artifact}", get(experiments::download))
        .route("/experiments/{id}/students", get(students::page))
        .route("/experiments/{id}/students.csv", get(students::csv))
        .route("/experiments/{id}/events", get(events::experiment))
        .route("/events", get(events::experiments))
        .route("/experiments/{id}/shares", get(shares::list).post(shares::create))
        .route("/experiments/{id}/shares/{share}", delete(shares::revoke))
        .route("/experiments/{id}/predictors", get(predictors::list).post(predictors::create))
        .route(
            "/experiments/{id}/verifications",
            get(verifications::list).post(verifications::create),
        )
        .route("/import", post(experiments::import))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), auth::authorize))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(compression());
    Router::new()
        .nest("/api", api)
        .route("/login", get(auth::login))
        .fallback_service(
            // A file's gzipped copy (`x.wasm.gz`, written by scripts/build-frontend) goes to
            // browsers that accept it.
            ServeDir::new(&config.static_dir)
                .precompressed_gzip()
                .fallback(studio_page(&config.static_dir)),
        )
        .with_state(state)
}

/// The API's answers gzipped for clients that accept it (a page of 10 000 students is JSON of a
/// few megabytes), at gzip's fastest level (the server shares its CPU with training), except
/// event streams (each event must go out as it happens) and weights files (floats barely
/// compress, and their downloads answer ranges).
fn compression() -> CompressionLayer<impl Predicate> {
    let predicate =
        DefaultPredicate::new().and(NotForContentType::const_new("application/octet-stream"));
    CompressionLayer::new().quality(CompressionLevel::Fastest).compress_when(predicate)
}

/// The studio routes in the browser (`/experiments/3`, `/share/…`): a path that names no file is
/// one of its pages, answered with `index.html`. A path that looks like a file (a dot in its last
/// segment) or climbs (`..`, encoded or not) is a 404.
fn studio_page(static_dir: &std::path::Path) -> axum::routing::MethodRouter {
    let index = static_dir.join("index.html");
    get(move |uri: axum::http::Uri| async move {
        let path = uri.path();
        let last = path.rsplit('/').next().unwrap_or_default();
        if last.contains('.') || path.contains("..") || path.contains('%') {
            return Err(StatusCode::NOT_FOUND);
        }
        match tokio::fs::read_to_string(&index).await {
            Ok(page) => Ok(axum::response::Html(page)),
            Err(_) => Err(StatusCode::NOT_FOUND),
        }
    })
}

async fn not_found(request: Request) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("no API route {}", request.uri().path()))
}

/// Serves `router` on `listener` until `shutdown` resolves; open event streams end first.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await
}

/// Resolves on Ctrl-C or SIGTERM, after telling open streams to end (if a handler cannot be
/// installed, the server runs until killed).
pub async fn shutdown_signal(streams: watch::Sender<bool>) {
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
    let _ = streams.send(true);
}

/// Binds `addr` (loopback by default: nothing is exposed unless asked for).
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

/// A JSON error body `{"error": "...", "field": "..."}` with a status code.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    /// The config field a 422 is about.
    field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into(), field: None }
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// A well-formed request the server cannot act on (an unknown cloud, a missing record).
    fn unprocessable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: self.message, field: self.field };
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        let status = match &error {
            StoreError::NotFound(_) => StatusCode::NOT_FOUND,
            StoreError::Conflict(_) => StatusCode::CONFLICT,
            _ => {
                tracing::error!("store: {error}");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        ApiError::new(status, error.to_string())
    }
}

impl From<CreateError> for ApiError {
    fn from(error: CreateError) -> ApiError {
        use proard_core::experiment::config::ConfigError;
        match error {
            CreateError::Config(ConfigError::Invalid { field, problem }) => ApiError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                message: format!("{field}: {problem}"),
                field: Some(field),
            },
            CreateError::Config(other) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, other.to_string())
            }
            CreateError::Store(error) => error.into(),
        }
    }
}

/// `Json` whose rejections are JSON errors naming the problem.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let status = rejection.status();
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            format!("the body is over the limit of {BODY_LIMIT} bytes")
        }
        _ => rejection.body_text(),
    };
    ApiError::new(status, message)
}

/// A JSON body that may also be empty (then `T::default()`).
pub struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(request, state).await.map_err(|rejection| {
            let status = rejection.status();
            match status {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                    status,
                    format!("the body is over the limit of {BODY_LIMIT} bytes"),
                ),
                _ => ApiError::new(status, rejection.body_text()),
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        serde_json::from_slice(&bytes)
            .map(OptionalJson)
            .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("the body: {e}")))
    }
}

/// `Query` whose rejections are JSON errors naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|rejection: QueryRejection| ApiError::bad_request(rejection.body_text()))
    }
}

/// `Path` whose rejections (undecodable segments) are JSON errors.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|rejection: PathRejection| ApiError::bad_request(rejection.body_text()))
    }
}

/// An id from the path: a positive integer, else 404 naming it.
fn parse_id(what: &str, text: &str) -> Result<i64, ApiError> {
    text.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("there is no {what} `{}`", text.escape_debug()),
        )
    })
}
