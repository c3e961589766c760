//! What the worker needs from the browser: its global scope, messages to the page, a clock,
//! a yield to the event loop, and downloads.

use js_sys::{Promise, Uint8Array};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{DedicatedWorkerGlobalScope, MessageChannel, Request, RequestInit, Response};

pub fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

/// Sends a message to whoever started this worker (as JSON text).
pub fn post(message: &impl Serialize) {
    let text = serde_json::to_string(message).expect("worker messages serialise");
    // Posting a string to the page or worker that owns this worker cannot fail.
    let _ = scope().post_message(&JsValue::from_str(&text));
}

/// Milliseconds on the worker's monotonic clock.
pub fn now_ms() -> f64 {
    scope().performance().map_or(0.0, |p| p.now())
}

/// Lets the event loop run (so a new request is heard) and comes back at once: a message
/// through a `MessageChannel` is a task without `setTimeout`'s 4 ms clamp.
pub async fn yield_now() {
    let Ok(channel) = MessageChannel::new() else { return };
    let port = channel.port2();
    let promise = Promise::new(&mut |resolve, _| {
        channel.port1().set_onmessage(Some(&resolve));
    });
    let _ = port.post_message(&JsValue::NULL);
    let _ = JsFuture::from(promise).await;
    channel.port1().set_onmessage(None);
}

/// Whether the browser exposes WebGPU to workers at all (`navigator.gpu`).
pub fn has_webgpu() -> bool {
    let navigator = scope().navigator();
    js_sys::Reflect::get(&navigator, &JsValue::from_str("gpu")).is_ok_and(|gpu| !gpu.is_undefined())
}

/// The bytes at `url` (same origin), with a bearer token when given.
pub async fn download(url: &str, token: Option<&str>) -> Result<Vec<u8>, String> {
    let failed = |e: JsValue| format!("downloading {url} failed: {e:?}");
    let init = RequestInit::new();
    let request = Request::new_with_str_and_init(url, &init).map_err(failed)?;
    if let Some(token) = token {
        request.headers().set("authorization", &format!("Bearer {token}")).map_err(failed)?;
    }
    let response: Response = JsFuture::from(scope().fetch_with_request(&request))
        .await
        .map_err(failed)?
        .unchecked_into();
    if !response.ok() {
        return Err(format!("downloading {url} failed: HTTP {}", response.status()));
    }
    let buffer = JsFuture::from(response.array_buffer().map_err(failed)?).await.map_err(failed)?;
    Ok(Uint8Array::new(&buffer).to_vec())
}
