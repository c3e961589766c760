//! The API's gate: the studio token (bearer header or the login cookie) or a share token
//! (bearer header, or `access_token` on an event stream), checked before any handler runs; writes with the cookie must come from the
//! studio's own origin.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Json};

use proard_shared::api::AccessInfo;

use super::{ApiError, ApiQuery, AppState};
use crate::access::{same_token, token_hash};

/// The cookie the login URL sets.
pub const COOKIE: &str = "proard_token";

/// Who is calling.
#[derive(Clone, Debug, PartialEq)]
pub enum Access {
    /// The studio token: everything.
    Owner,
    /// A share link: reads of one experiment.
    Share { experiment: i64, view: serde_json::Value },
}

impl Access {
    /// Writes and anything beyond one experiment need the studio token.
    pub fn owner(&self) -> Result<(), ApiError> {
        match self {
            Access::Owner => Ok(()),
            Access::Share { .. } => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "a share link is read-only and opens one experiment",
            )),
        }
    }

    /// Reading experiment `id`; under a share link another experiment does not exist.
    pub fn read(&self, id: i64) -> Result<(), ApiError> {
        match self {
            Access::Owner => Ok(()),
            Access::Share { experiment, .. } if *experiment == id => Ok(()),
            Access::Share { .. } => {
                Err(ApiError::new(StatusCode::NOT_FOUND, format!("there is no experiment `{id}`")))
            }
        }
    }
}

/// A browser's `EventSource` cannot send headers, so an event stream (a read) may carry its
/// token as the `access_token` query parameter (RFC 6750 §2.3), as a share link's page does.
fn stream_token(request: &Request) -> Option<String> {
    if request.method() != Method::GET || !request.uri().path().ends_with("/events") {
        return None;
    }
    let query = request.uri().query()?;
    url_form(query).find(|(name, _)| name == "access_token").map(|(_, value)| value)
}

/// The `name=value` pairs of a query string, percent-decoded.
fn url_form(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    form_urlencoded::parse(query.as_bytes())
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

/// The `Origin` of a cookie-authenticated write must be the host it was sent to (no other site
/// can make a logged-in browser write).
fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    match (host, origin) {
        (Some(host), Some(origin)) => {
            origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) == Some(host)
        }
        _ => false,
    }
}

pub async fn authorize(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let headers = request.headers();
    let access = if let Some(token) = bearer(headers).or(stream_token(&request).as_deref()) {
        if same_token(token, &state.token) {
            Access::Owner
        } else {
            let share = state.store.share(&token_hash(token)).await?;
            let Some((experiment, view)) = share else {
                return Err(unauthorized("the token is not the studio's nor a live share link's"));
            };
            Access::Share { experiment, view }
        }
    } else if let Some(token) = cookie(headers) {
        if !same_token(token, &state.token) {
            return Err(unauthorized("the login cookie is stale: open the login URL again"));
        }
        let reads = matches!(*request.method(), Method::GET | Method::HEAD);
        if !reads && !same_origin(headers) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "a write with the login cookie must come from the studio's own page (Origin)",
            ));
        }
        Access::Owner
    } else {
        return Err(unauthorized(
            "the API needs a token: open the login URL `proard serve` printed, or send \
             `Authorization: Bearer TOKEN` (`proard token` prints it)",
        ));
    };
    request.extensions_mut().insert(access);
    Ok(next.run(request).await)
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, message)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    token: String,
    /// The studio page to land on (`/experiments/1`); the experiments table by default.
    next: Option<String>,
}

/// `GET /api/access`: who the caller is, and for a share link the experiment and view it opens.
pub async fn whoami(Extension(access): Extension<Access>) -> Json<AccessInfo> {
    Json(match access {
        Access::Owner => AccessInfo::Owner,
        Access::Share { experiment, view } => AccessInfo::Share { experiment, view },
    })
}

/// `/login?token=…[&next=/page]`: the studio token becomes an HttpOnly, SameSite=Strict cookie,
/// then the browser goes to `next`, a path of this server (never another site).
pub async fn login(
    State(state): State<AppState>,
    ApiQuery(login): ApiQuery<Login>,
) -> Result<Response, ApiError> {
    if !same_token(&login.token, &state.token) {
        return Err(unauthorized("this is not the studio's token"));
    }
    let next = login.next.unwrap_or_else(|| "/".to_owned());
    if !next.starts_with('/') || next.starts_with("//") || next.contains('\\') {
        return Err(ApiError::bad_request(
            "`next` must be a path of this studio, like /experiments/1",
        ));
    }
    let cookie = format!("{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/", state.token);
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response())
}
