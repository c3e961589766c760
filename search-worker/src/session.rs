//! One search request from start to finish, and what searches of the same predictor share: the
//! loaded predictor, the score cache and the last population (the slider's warm start).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use proard_shared::genome::Genome;
use proard_shared::predictor::Predictor;
use proard_shared::search::{ScoreCache, Search};
use proard_shared::search_worker::{FromWorker, SearchRequest};

use crate::browser;
use crate::device::Devices;

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
    cache: ScoreCache,
    last_population: Vec<Genome>,
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
    let predictor = load(sessions, &request, device, &backend.kind).await?;
    let ready_ms = browser::now_ms() - started;
    if !sessions.is_current(id) {
        return Ok(());
    }
    let space = predictor.space.clone();
    let warm = match (&*sessions.loaded.borrow(), request.warm_start) {
        (Some(loaded), true) => loaded.last_population.clone(),
        _ => Vec::new(),
    };
    let warm_started = !warm.is_empty();
    let mut search = Search::new(&space, &request.config, warm).map_err(|e| e.to_string())?;
    let of = request.config.nsga2.generations + 1;
    let (mut first, mut hypervolumes, mut scored, mut cached) = (None, Vec::new(), 0, 0);
    while let Some(archs) = search.ask() {
        let archs = archs.to_vec();
        let missing = cached_of(sessions, |cache| cache.missing(&space, &archs));
        let scores = if missing.is_empty() {
            Vec::new()
        } else {
            predictor.predict_async(&missing).await.map_err(|e| e.to_string())?
        };
        // Hear a newer request before going on.
        browser::yield_now().await;
        if !sessions.is_current(id) {
            return Ok(());
        }
        let all = cached_of(sessions, |cache| {
            cache.insert(&space, &missing, &scores);
            cache.scores(&space, &archs).expect("every arch was just scored")
        });
        scored += missing.len();
        cached += archs.len() - missing.len();
        let generation = search.tell(all).map_err(|e| e.to_string())?;
        if let Some(loaded) = sessions.loaded.borrow_mut().as_mut() {
            loaded.last_population = search.population();
        }
        hypervolumes.push(generation.hypervolume);
        first.get_or_insert_with(|| generation.front.clone());
        browser::post(&FromWorker::Generation {
            id,
            generation,
            of,
            scored: missing.len(),
            elapsed_ms: browser::now_ms() - started,
        });
    }
    browser::post(&FromWorker::Done {
        id,
        first: first.unwrap_or_default(),
        front: search.front(),
        hypervolumes,
        scored,
        cached,
        warm_started,
        ready_ms,
        elapsed_ms: browser::now_ms() - started,
    });
    Ok(())
}

/// Runs `f` on the loaded predictor's cache (loaded before any search step).
fn cached_of<T>(sessions: &Sessions, f: impl FnOnce(&mut ScoreCache) -> T) -> T {
    let mut loaded = sessions.loaded.borrow_mut();
    f(&mut loaded.as_mut().expect("the predictor is loaded first").cache)
}

/// The request's predictor on `device`, downloaded unless it is the one already loaded there.
async fn load(
    sessions: &Sessions,
    request: &SearchRequest,
    device: burn::prelude::Device,
    backend: &str,
) -> Result<Rc<Predictor>, String> {
    if let Some(loaded) = &*sessions.loaded.borrow()
        && loaded.url == request.predictor_url
        && loaded.backend == backend
    {
        return Ok(loaded.predictor.clone());
    }
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
            cache: ScoreCache::default(),
            last_population: Vec::new(),
        });
    }
    Ok(predictor)
}
