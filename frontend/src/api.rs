//! The studio's HTTP API from the browser: typed calls that answer the server's JSON or an
//! [`ApiError`] with its message (and, for a config, the field it names).
//!
//! The owner's page is authorised by the login cookie, which the browser sends itself; a share
//! link's page sends the link's token as a bearer header (and as `access_token` on event
//! streams, which cannot send headers).

use std::cell::RefCell;

use gloo::net::http::{Method, RequestBuilder};
use proard_shared::api::ErrorBody;
use serde::de::DeserializeOwned;

thread_local! {
    static SHARE_TOKEN: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// From now on, calls carry this share link's token.
pub fn use_share_token(token: &str) {
    SHARE_TOKEN.with(|t| *t.borrow_mut() = Some(token.to_owned()));
}

/// The share link's token this page reads with, if any.
pub fn share_token() -> Option<String> {
    SHARE_TOKEN.with(|t| t.borrow().clone())
}

/// What went wrong with a call, as the user should read it.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    /// 0 when the server could not be reached.
    pub status: u16,
    pub message: String,
    /// The config field a 422 is about (`teacher.epochs`).
    pub field: Option<String>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn unreachable(error: gloo::net::Error) -> ApiError {
    ApiError {
        status: 0,
        message: format!("the studio server cannot be reached ({error})"),
        field: None,
    }
}

async fn call(
    method: Method,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Result<String, ApiError> {
    let mut builder = RequestBuilder::new(path).method(method);
    if let Some(token) = share_token() {
        builder = builder.header("authorization", &format!("Bearer {token}"));
    }
    let request = match body {
        Some(body) => builder.json(body).map_err(unreachable)?,
        None => builder.build().map_err(unreachable)?,
    };
    let response = request.send().await.map_err(unreachable)?;
    let status = response.status();
    let text = response.text().await.map_err(unreachable)?;
    if response.ok() {
        return Ok(text);
    }
    let (message, field) = match serde_json::from_str::<ErrorBody>(&text) {
        Ok(body) => (body.error, body.field),
        Err(_) => (format!("the server answered {status}"), None),
    };
    let message = if status == 401 {
        format!("{message} (open the login URL that `proard serve` printed)")
    } else {
        message
    };
    Err(ApiError { status, message, field })
}

fn parse<T: DeserializeOwned>(text: &str) -> Result<T, ApiError> {
    serde_json::from_str(text).map_err(|e| ApiError {
        status: 0,
        message: format!("the server's answer is not what this page expects ({e})"),
        field: None,
    })
}

pub async fn get<T: DeserializeOwned>(path: &str) -> Result<T, ApiError> {
    parse(&call(Method::GET, path, None).await?)
}

/// A write answering JSON (`POST`, `PATCH`).
pub async fn send<T: DeserializeOwned>(
    method: Method,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Result<T, ApiError> {
    parse(&call(method, path, body).await?)
}

/// A write whose answer is not needed (`DELETE` answers 204).
pub async fn send_only(method: Method, path: &str) -> Result<(), ApiError> {
    call(method, path, None).await.map(drop)
}

/// The URL of an event stream, with the share token where there is one.
pub fn events_url(path: &str) -> String {
    match share_token() {
        Some(token) => format!("{path}?access_token={token}"),
        None => path.to_owned(),
    }
}

/// A download URL (CSV, weights) that works in this page's access mode.
pub fn download_url(path: &str) -> Option<String> {
    // A link cannot carry the bearer header; share links download nothing.
    share_token().is_none().then(|| path.to_owned())
}
