//! One search request from start to finish, and what searches of the same predictor share: the
//! loaded predictor and the score cache (every arch scored, whose best seed the slider's warm
//! start).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use proard_shared::predictor::Predictor;
use proard_shared::search::{ScoreCache, Search};
use proard_shared::search_worker::{FromWorker, SearchRequest};

use crate::browser;
use crate::device::Devices;
use crate::helpers::Helpers;

/// How long a search may run without letting a newer request be heard.
const YIELD_EVERY_MS: f64 = 25.0;

/// How often a running search sends its front to the page (which draws it).
const FRONT_EVERY_MS: f64 = 40.0;

#[derive(Default)]
pub struct Sessions {
    /// The request being served; older ones stop at their next generation.
    current: Cell<u64>,
    devices: Devices,
    loaded: RefCell<Option<Loaded>>,
}

/// A predictor on a device, with what its searches have learned.
struct Loaded {
    url: String,
    backend: String,
    predictor: Rc<Predictor>,
    /// On the CPU, the workers that score shares of each batch.
    helpers: Option<Rc<Helpers>>,
    cache: ScoreCache,
}

impl Sessions {
    pub fn supersede(&self, id: u64) {
        self.current.set(id);
    }

    fn is_current(&self, id: u64) -> bool {
        self.current.get() == id
    }
}

/// Serves one request; its failure is reported to the page, a superseded one just stops.
pub async fn run(sessions: Rc<Sessions>, request: SearchRequest) {
    let id = request.id;
    if let Err(message) = search(&sessions, request).await
        && sessions.is_current(id)
    {
        browser::post(&FromWorker::Failed { id, message });
    }
}

async fn search(sessions: &Sessions, request: SearchRequest) -> Result<(), String> {
    let id = request.id;
    let started = browser::now_ms();
    let (device, backend) = sessions.devices.choose(request.backend).await;
    browser::post(&FromWorker::Backend { id, backend: backend.clone() });
    let (predictor, helpers) = load(sessions, &request, device, &backend.kind).await?;
    let ready_ms = browser::now_ms() - started;
    if !sessions.is_current(id) {
        return Ok(());
    }
    let space = predictor.space.clone();
    let seeding = browser::now_ms();
    let warm = match request.warm_start {
        true => cached_of(sessions, |cache| cache.seeds(&space, &request.config)),
        false => Vec::new(),
    };
    let warm_started = !warm.is_empty();
    let mut search = Search::new(&space, &request.config, warm).map_err(|e| e.to_string())?;
    let of = request.config.nsga2.generations + 1;
    let (mut first, mut hypervolumes, mut scored, mut cached) = (None, Vec::new(), 0, 0);
    let (mut predict_ms, mut most_helpers) = (0.0, 0);
    let mut bookkeeping_ms = browser::now_ms() - seeding;
    let mut yielded = started;
    let mut front_posted = f64::NEG_INFINITY;
    while let Some(archs) = search.ask() {
        let asked = archs.len();
        let looking_up = browser::now_ms();
        let lookup = cached_of(sessions, |cache| cache.lookup(&space, archs));
        let missing = &lookup.missing;
        let predicting = browser::now_ms();
        bookkeeping_ms += predicting - looking_up;
        let scores = if missing.is_empty() {
            Vec::new()
        } else if backend.kind == "webgpu" {
            // One batch shape for the whole search: the GPU compiles (and autotunes) its kernels
            // per shape, so generations of varying size would each pay for that again.
            let size = missing.len().max(request.config.nsga2.population);
            let mut batch = missing.to_vec();
            batch.resize(size, missing[0].clone());
            let mut scores = predictor.predict_async(&batch).await.map_err(|e| e.to_string())?;
            scores.truncate(missing.len());
            scores
        } else if let Some(helpers) = &helpers {
            let (scores, helped) = helpers.predict(&predictor, missing).await?;
            most_helpers = most_helpers.max(helped);
            scores
        } else {
            predictor.predict_async(missing).await.map_err(|e| e.to_string())?
        };
        predict_ms += browser::now_ms() - predicting;
        // Hear a newer request before going on (every few generations: a yield costs a task).
        if browser::now_ms() - yielded > YIELD_EVERY_MS {
            browser::yield_now().await;
            yielded = browser::now_ms();
        }
        if !sessions.is_current(id) {
            return Ok(());
        }
        let fresh = missing.len();
        let telling = browser::now_ms();
        let all = cached_of(sessions, |cache| cache.complete(lookup, &scores))
            .ok_or("the predictor did not answer every arch")?;
        scored += fresh;
        cached += asked - fresh;
        let generation = search.tell(all).map_err(|e| e.to_string())?;
        hypervolumes.push(generation.hypervolume);
        // The front as it stands, for the page to draw: the first one always, then at most every
        // few milliseconds (building it costs more than a generation's search step).
        let front = (generation.index == 0 || browser::now_ms() - front_posted > FRONT_EVERY_MS)
            .then(|| search.front());
        if let Some(front) = &front {
            front_posted = browser::now_ms();
            first.get_or_insert_with(|| front.clone());
        }
        bookkeeping_ms += browser::now_ms() - telling;
        browser::post(&FromWorker::Generation {
            id,
            generation,
            front,
            of,
            scored: fresh,
            elapsed_ms: browser::now_ms() - started,
        });
    }
    let generations = hypervolumes.len();
    browser::post(&FromWorker::Done {
        id,
        first: first.unwrap_or_default(),
        front: search.front(),
        hypervolumes,
        scored,
        cached,
        warm_started,
        converged: search.converged(),
        generations,
        ready_ms,
        helpers: most_helpers,
        predict_ms,
        bookkeeping_ms,
        elapsed_ms: browser::now_ms() - started,
    });
    // After the answer, so that it waits for nothing: a full cache is rarely trimmed.
    cached_of(sessions, ScoreCache::trim);
    Ok(())
}

/// Runs `f` on the loaded predictor's cache (loaded before any search step).
fn cached_of<T>(sessions: &Sessions, f: impl FnOnce(&mut ScoreCache) -> T) -> T {
    let mut loaded = sessions.loaded.borrow_mut();
    f(&mut loaded.as_mut().expect("the predictor is loaded first").cache)
}

/// The request's predictor on `device`, downloaded unless it is the one already loaded there,
/// with its helpers on the CPU.
async fn load(
    sessions: &Sessions,
    request: &SearchRequest,
    device: burn::prelude::Device,
    backend: &str,
) -> Result<(Rc<Predictor>, Option<Rc<Helpers>>), String> {
    if let Some(loaded) = &*sessions.loaded.borrow()
        && loaded.url == request.predictor_url
        && loaded.backend == backend
    {
        return Ok((loaded.predictor.clone(), loaded.helpers.clone()));
    }
    // Helpers first: a worker takes a while to start, and the first search scores alone until
    // they have loaded.
    let helpers = (backend == "cpu")
        .then(|| Rc::new(Helpers::start(&request.predictor_url, request.token.as_deref())));
    let bytes = browser::download(&request.predictor_url, request.token.as_deref()).await?;
    let predictor = Rc::new(
        Predictor::from_bytes(bytes, &device)
            .map_err(|e| format!("{} is not a predictor: {e}", request.predictor_url))?,
    );
    if sessions.is_current(request.id) {
        *sessions.loaded.borrow_mut() = Some(Loaded {
            url: request.predictor_url.clone(),
            backend: backend.to_owned(),
            predictor: predictor.clone(),
            helpers: helpers.clone(),
            cache: ScoreCache::default(),
        });
    }
    Ok((predictor, helpers))
}
