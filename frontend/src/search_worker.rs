//! The page's side of the search Web Worker (crate `proard-search-worker`): started when a
//! search is first asked for — so the page's own bundle never carries Burn — and kept for the
//! page's life, so its predictor, score cache and last population serve the next search.
//! Requests go out as JSON text; answers come back to the one listener (the open search view).

use std::cell::RefCell;
use std::rc::Rc;

use proard_shared::search_worker::{FromWorker, SearchRequest};
use wasm_bindgen::prelude::*;
use web_sys::{MessageEvent, Worker, WorkerOptions, WorkerType};

/// The worker's module script (it loads `/pkg/proard_search_worker.js`).
const SCRIPT: &str = "/search-worker.js";

type Listener = Rc<dyn Fn(FromWorker)>;

struct Handle {
    worker: Worker,
    ready: bool,
    /// The latest request sent before the worker was ready (older ones are superseded anyway).
    queued: Option<String>,
}

thread_local! {
    static HANDLE: RefCell<Option<Handle>> = const { RefCell::new(None) };
    /// The listener and its number.
    static LISTENER: RefCell<(u64, Option<Listener>)> = RefCell::new((0, None));
}

/// Where the worker's answers go from now on; returns the number [`unlisten`] takes.
pub fn listen(listener: impl Fn(FromWorker) + 'static) -> u64 {
    LISTENER.with(|l| {
        let mut l = l.borrow_mut();
        l.0 += 1;
        l.1 = Some(Rc::new(listener));
        l.0
    })
}

/// Drops listener `number`, unless another has replaced it already (a view leaving).
pub fn unlisten(number: u64) {
    LISTENER.with(|l| {
        let mut l = l.borrow_mut();
        if l.0 == number {
            l.1 = None;
        }
    });
}

fn tell(message: FromWorker) {
    if let Some(listener) = LISTENER.with(|l| l.borrow().1.clone()) {
        listener(message);
    }
}

/// Sends a search to the worker, starting it first if needed; it supersedes any running one.
pub fn send(request: &SearchRequest) {
    let text = serde_json::to_string(request).expect("requests serialise");
    let started = HANDLE.with(|h| h.borrow().is_some());
    if !started && let Err(message) = start() {
        tell(FromWorker::Failed { id: request.id, message });
        return;
    }
    HANDLE.with(|h| {
        let mut handle = h.borrow_mut();
        let handle = handle.as_mut().expect("started above");
        if handle.ready {
            let _ = handle.worker.post_message(&JsValue::from_str(&text));
        } else {
            handle.queued = Some(text);
        }
    });
}

fn start() -> Result<(), String> {
    let options = WorkerOptions::new();
    options.set_type(WorkerType::Module);
    let worker = Worker::new_with_options(SCRIPT, &options)
        .map_err(|e| format!("the search worker could not start: {e:?}"))?;
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(|event: MessageEvent| {
        let text = event.data().as_string().unwrap_or_default();
        match serde_json::from_str::<FromWorker>(&text) {
            Ok(FromWorker::Ready) => HANDLE.with(|h| {
                if let Some(handle) = h.borrow_mut().as_mut() {
                    handle.ready = true;
                    if let Some(queued) = handle.queued.take() {
                        let _ = handle.worker.post_message(&JsValue::from_str(&queued));
                    }
                }
            }),
            Ok(message) => tell(message),
            Err(e) => {
                tell(FromWorker::Failed { id: 0, message: format!("unreadable answer: {e}") })
            }
        }
    });
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    // A worker whose script or wasm fails to load reports it here (built without the worker?).
    let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(|_| {
        tell(FromWorker::Failed {
            id: 0,
            message: "the search worker failed to load (is static/pkg built with scripts/build-frontend?)"
                .into(),
        });
    });
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    on_error.forget();
    HANDLE.with(|h| *h.borrow_mut() = Some(Handle { worker, ready: false, queued: None }));
    Ok(())
}
