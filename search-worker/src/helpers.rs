//! Predictor helpers: more Web Workers running this same wasm, each with the predictor on the
//! CPU, that score a share of every batch. Wasm in the browser has no threads, and the predictor
//! is most of a search on the CPU path, so without them the machine's other cores sit idle.
//!
//! A helper is this worker started under [`HELPER_NAME`] (see [`crate::start`]): it says
//! `Ready`, is told where the predictor is, says `Loaded`, then answers `Predict` requests (the
//! protocol is `proard_shared::search_worker::{HelperRequest, FromHelper}`). Until a helper is
//! loaded, the search predicts without it.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use js_sys::{Float64Array, Function, Promise};
use proard_shared::Arch;
use proard_shared::predictor::Predictor;
use proard_shared::search_worker::{FromHelper, FromWorker, HelperRequest};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{MessageEvent, Worker, WorkerOptions, WorkerType};

use crate::browser;

/// The name helpers are started under: the worker takes that role when it reads it (and so does
/// `static/search-worker.js`, which waits for the compiled module).
pub const HELPER_NAME: &str = "proard-predictor-helper";

/// The script every search worker runs (`static/search-worker.js`).
const SCRIPT: &str = "/search-worker.js";

/// At most this many helpers, whatever the core count.
const MAX_HELPERS: usize = 3;

/// The fewest archs worth sending to a helper: below it the message costs more than it saves.
const MIN_SHARE: usize = 8;

/// The helpers of one loaded predictor; dropping them stops their workers.
pub struct Helpers {
    helpers: Vec<Helper>,
    next_id: Cell<u64>,
}

/// How many helpers have loaded the predictor (each says so to the page as it does).
type ReadyCount = Rc<Cell<usize>>;

struct Helper {
    worker: Worker,
    loaded: Rc<Cell<bool>>,
    /// Resolve and reject functions of the shares asked and not answered, by request id.
    pending: Rc<RefCell<HashMap<u64, (Function, Function)>>>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
}

impl Drop for Helper {
    fn drop(&mut self) {
        self.worker.terminate();
    }
}

impl Helpers {
    /// Starts a helper per core beyond this worker's (up to [`MAX_HELPERS`]), each loading the
    /// predictor at `url`. Where workers cannot be started, there are none.
    pub fn start(url: &str, token: Option<&str>) -> Helpers {
        let cores = browser::scope().navigator().hardware_concurrency() as usize;
        let load = HelperRequest::Load { url: url.to_owned(), token: token.map(str::to_owned) };
        let load = serde_json::to_string(&load).expect("helper requests serialise");
        let ready = ReadyCount::default();
        let helpers = (0..cores.saturating_sub(1).min(MAX_HELPERS))
            .map_while(|_| Helper::start(&load, ready.clone()).ok());
        Helpers { helpers: helpers.collect(), next_id: Cell::new(0) }
    }

    /// The predictions of `archs`: this worker scores the first share while every loaded
    /// helper scores one of the others (a helper that fails has its share scored here). Also
    /// says how many helpers took a share.
    pub async fn predict(
        &self,
        predictor: &Predictor,
        archs: &[Arch],
    ) -> Result<(Vec<[f64; 2]>, usize), String> {
        let loaded: Vec<&Helper> = self.helpers.iter().filter(|h| h.loaded.get()).collect();
        let shares = (loaded.len() + 1).min(archs.len() / MIN_SHARE).max(1);
        let mut chunks = archs.chunks(archs.len().div_ceil(shares).max(1));
        let own = chunks.next().unwrap_or_default();
        let asked: Vec<(&[Arch], JsFuture)> = chunks
            .zip(&loaded)
            .map(|(chunk, helper)| {
                let id = self.next_id.get();
                self.next_id.set(id + 1);
                (chunk, helper.ask(id, chunk))
            })
            .collect();
        let predict = |archs: &[Arch]| predictor.predict(archs).map_err(|e| e.to_string());
        let mut scores = predict(own)?;
        let helped = asked.len();
        for (chunk, answer) in asked {
            let answered = answer.await.ok().and_then(|flat| {
                let flat = Float64Array::from(flat).to_vec();
                (flat.len() == 2 * chunk.len())
                    .then(|| flat.chunks_exact(2).map(|s| [s[0], s[1]]).collect::<Vec<_>>())
            });
            match answered {
                Some(answered) => scores.extend(answered),
                None => scores.extend(predict(chunk)?),
            }
        }
        Ok((scores, helped))
    }
}

impl Helper {
    fn start(load: &str, ready: ReadyCount) -> Result<Helper, JsValue> {
        let options = WorkerOptions::new();
        options.set_type(WorkerType::Module);
        options.set_name(HELPER_NAME);
        let worker = Worker::new_with_options(SCRIPT, &options)?;
        // Its first message: this worker's compiled module, so that it need not compile it again.
        worker.post_message(&wasm_bindgen::module())?;
        let loaded = Rc::new(Cell::new(false));
        let pending: Rc<RefCell<HashMap<u64, (Function, Function)>>> = Rc::default();
        let on_message = {
            let (worker, loaded, pending, load) =
                (worker.clone(), loaded.clone(), pending.clone(), load.to_owned());
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                let text = event.data().as_string().unwrap_or_default();
                match serde_json::from_str::<FromHelper>(&text) {
                    Ok(FromHelper::Ready) => {
                        let _ = worker.post_message(&JsValue::from_str(&load));
                    }
                    Ok(FromHelper::Loaded) => {
                        loaded.set(true);
                        ready.set(ready.get() + 1);
                        browser::post(&FromWorker::Helpers { ready: ready.get() });
                    }
                    Ok(FromHelper::Predicted { id, scores }) => {
                        if let Some((resolve, _)) = pending.borrow_mut().remove(&id) {
                            let flat: Vec<f64> = scores.into_iter().flatten().collect();
                            let _ = resolve.call1(&JsValue::NULL, &Float64Array::from(&flat[..]));
                        }
                    }
                    Ok(FromHelper::Failed { id, message }) => {
                        // A helper that cannot load takes no shares; one that failed a share
                        // has it scored by the search.
                        if let Some((_, reject)) =
                            id.and_then(|id| pending.borrow_mut().remove(&id))
                        {
                            let _ = reject.call1(&JsValue::NULL, &JsValue::from_str(&message));
                        }
                    }
                    Err(_) => {}
                }
            })
        };
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        Ok(Helper { worker, loaded, pending, _on_message: on_message })
    }

    /// Sends a share and returns its answer: the scores, two per arch, as a `Float64Array`.
    fn ask(&self, id: u64, archs: &[Arch]) -> JsFuture {
        let request = HelperRequest::Predict { id, archs: archs.to_vec() };
        let promise = Promise::new(&mut |resolve, reject| {
            self.pending.borrow_mut().insert(id, (resolve, reject));
        });
        let text = serde_json::to_string(&request).expect("helper requests serialise");
        if let Err(error) = self.worker.post_message(&JsValue::from_str(&text))
            && let Some((_, reject)) = self.pending.borrow_mut().remove(&id)
        {
            let _ = reject.call1(&JsValue::NULL, &error);
        }
        JsFuture::from(promise)
    }
}

/// Serves as a helper: loads the predictor it is told of and scores the shares it is sent.
pub fn serve() {
    let predictor: Rc<RefCell<Option<Predictor>>> = Rc::default();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        let text = event.data().as_string().unwrap_or_default();
        match serde_json::from_str::<HelperRequest>(&text) {
            Ok(HelperRequest::Load { url, token }) => {
                let predictor = predictor.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    let loaded =
                        browser::download(&url, token.as_deref()).await.and_then(|bytes| {
                            Predictor::from_bytes(bytes, &burn::prelude::Device::flex())
                                .map_err(|e| format!("{url} is not a predictor: {e}"))
                        });
                    match loaded {
                        Ok(loaded) => {
                            *predictor.borrow_mut() = Some(loaded);
                            browser::post(&FromHelper::Loaded);
                        }
                        Err(message) => browser::post(&FromHelper::Failed { id: None, message }),
                    }
                });
            }
            Ok(HelperRequest::Predict { id, archs }) => {
                let answer = match &*predictor.borrow() {
                    Some(predictor) => match predictor.predict(&archs) {
                        Ok(scores) => FromHelper::Predicted { id, scores },
                        Err(e) => FromHelper::Failed { id: Some(id), message: e.to_string() },
                    },
                    None => FromHelper::Failed {
                        id: Some(id),
                        message: "no predictor is loaded".into(),
                    },
                };
                browser::post(&answer);
            }
            Err(error) => browser::post(&FromHelper::Failed {
                id: None,
                message: format!("a predictor helper cannot read this request: {error}"),
            }),
        }
    });
    browser::scope().set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    browser::post(&FromHelper::Ready);
}
