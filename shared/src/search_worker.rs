//! The messages between the studio's search view and its Web Worker (crate
//! `proard-search-worker`), as JSON strings through `postMessage`.
//!
//! The page sends a [`SearchRequest`]; the worker answers [`FromWorker::Backend`] once it knows
//! where the predictor runs, then one [`FromWorker::Generation`] per generation and a
//! [`FromWorker::Done`] (or [`FromWorker::Failed`]). A new request cancels the running one: its
//! messages stop after the generation in flight. On the CPU the worker starts predictor helpers
//! (one more worker per further core: [`HelperRequest`], [`FromHelper`]) and says how many are
//! ready ([`FromWorker::Helpers`]).

use serde::{Deserialize, Serialize};

use crate::arch::Arch;
use crate::search::{Candidate, SearchConfig};

/// Where the predictor should run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// WebGPU when the browser offers an adapter, else the CPU.
    #[default]
    Auto,
    /// Burn's flex backend on the CPU, in the worker's thread.
    Cpu,
}

/// Page → worker: run a search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchRequest {
    /// Names the request in the worker's answers; a later request supersedes it.
    pub id: u64,
    /// Where the predictor's weights are downloaded (same origin).
    pub predictor_url: String,
    /// A share link's token, sent as a bearer header with the download.
    pub token: Option<String>,
    pub backend: BackendChoice,
    pub config: SearchConfig,
    /// Start from the best archs the searches of this predictor scored (see
    /// [`crate::search::ScoreCache::seeds`]).
    pub warm_start: bool,
}

/// The device the worker's predictor runs on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Backend {
    /// `webgpu` or `cpu`.
    pub kind: String,
    /// The adapter's name, or why WebGPU is not used.
    pub detail: String,
}

/// Worker → page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromWorker {
    /// The worker's wasm is loaded; requests sent from now on are heard.
    Ready,
    Backend {
        id: u64,
        backend: Backend,
    },
    Generation {
        id: u64,
        generation: crate::search::Generation,
        /// Its front, sent for the first generation and then every few dozen milliseconds.
        front: Option<Vec<Candidate>>,
        /// Generations of the run, the initial population included.
        of: usize,
        /// Archs the predictor scored for this generation (the rest came from the cache).
        scored: usize,
        /// Milliseconds since the request arrived.
        elapsed_ms: f64,
    },
    Done {
        id: u64,
        /// The initial population's front (warm-started: of the best archs met before).
        first: Vec<Candidate>,
        front: Vec<Candidate>,
        /// Hypervolume of every generation's front, the initial population's first.
        hypervolumes: Vec<f64>,
        /// Archs scored by the predictor in this search, and answered from the cache.
        scored: usize,
        cached: usize,
        warm_started: bool,
        /// Whether it stopped before its last generation, its front no longer improving
        /// (`SearchConfig::patience`), and how many generations it ran (the initial one
        /// included).
        converged: bool,
        generations: usize,
        /// Milliseconds from the request's arrival until the predictor was ready (the device
        /// brought up, the weights downloaded and loaded; ≈ 0 once they are), and until the end.
        ready_ms: f64,
        /// The most predictor helpers (more workers, on more cores) that scored a share of one
        /// generation's archs; 0 on WebGPU.
        helpers: usize,
        /// Milliseconds of the search spent in the predictor (with its read-backs), and in
        /// NSGA-II, the score cache and building fronts; the rest of `elapsed_ms` after
        /// `ready_ms` went to messages and yields to the event loop.
        predict_ms: f64,
        bookkeeping_ms: f64,
        elapsed_ms: f64,
    },
    Failed {
        id: u64,
        message: String,
    },
    /// Predictor helpers loaded so far: on the CPU, more workers that score shares of every
    /// batch from then on (see [`HelperRequest`]).
    Helpers {
        ready: usize,
    },
}

/// Search worker → predictor helper: the search worker starts one per further core, each
/// scoring a share of every batch on the CPU (wasm has no threads). A helper says
/// [`FromHelper::Ready`] once it runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HelperRequest {
    /// Download the predictor at `url` (same origin), with a share link's token as a bearer
    /// header when given.
    Load { url: String, token: Option<String> },
    /// Score these archs.
    Predict { id: u64, archs: Vec<Arch> },
}

/// Predictor helper → search worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromHelper {
    /// The helper's wasm runs: it can be told where the predictor is.
    Ready,
    Loaded,
    /// (accuracy, robustness) of each arch of request `id`, in order.
    Predicted {
        id: u64,
        scores: Vec<[f64; 2]>,
    },
    /// Request `id` could not be answered, or (without an id) the predictor could not be loaded.
    Failed {
        id: Option<u64>,
        message: String,
    },
}
