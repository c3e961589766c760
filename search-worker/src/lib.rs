//! The studio's Pareto search, off the page's thread: a Web Worker that downloads an
//! experiment's predictor and runs NSGA-II over the space under a MACs budget, streaming every
//! generation's front to the page (protocol: `proard_shared::search_worker`).
//!
//! The predictor runs on Burn's wgpu backend over the browser's WebGPU when an adapter is offered,
//! otherwise on Burn's flex backend on the CPU; the worker says which. Scores are cached by active
//! arch per predictor and device, so moving the budget slider re-searches from the best archs met
//! so far and scores only archs it never met.
//! This crate is loaded only when the search view opens (the page's bundle stays small).

#![cfg(target_arch = "wasm32")]

mod browser;
mod device;
mod helpers;
mod session;

use std::rc::Rc;

use proard_shared::search_worker::{FromWorker, SearchRequest};
use wasm_bindgen::prelude::*;

use crate::session::Sessions;

// The linker's constructors (Burn's kernel registries are built by `inventory` at start-up).
#[allow(unsafe_code)]
unsafe extern "C" {
    fn __wasm_call_ctors();
}

/// Entry point: runs the constructors once, then listens for requests, each of which supersedes
/// the one before — or, in a worker started as a predictor helper by another search worker, for
/// shares of its batches.
#[wasm_bindgen(start)]
pub fn start() {
    // A module that never calls its constructors itself is linked "command-style": wasm-ld then
    // runs them again at the top of *every* export — each call from JS (a message, a resolved
    // promise, a JS value handed over) — which cost ≈ a quarter of a search's time. Calling them
    // here tells the linker not to.
    // SAFETY: called once, first, before any code that reads what the constructors set up.
    #[allow(unsafe_code)]
    unsafe {
        __wasm_call_ctors()
    };
    if browser::scope().name() == helpers::HELPER_NAME {
        helpers::serve();
        return;
    }
    let sessions = Rc::new(Sessions::default());
    let on_message =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
            let text = event.data().as_string().unwrap_or_default();
            match serde_json::from_str::<SearchRequest>(&text) {
                Ok(request) => {
                    sessions.supersede(request.id);
                    wasm_bindgen_futures::spawn_local(session::run(sessions.clone(), request));
                }
                Err(error) => browser::post(&FromWorker::Failed {
                    id: 0,
                    message: format!("the search worker cannot read this request: {error}"),
                }),
            }
        });
    browser::scope().set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // The handler lives as long as the worker.
    on_message.forget();
    browser::post(&FromWorker::Ready);
}
