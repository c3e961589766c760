//! `proard serve`: opens the store in the data directory (or the given database), queues the
//! built-in demo when the store is empty so a newcomer sees an experiment from the first minute,
//! starts the local workers and serves the studio until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use proard_core::experiment::demo_config;

use crate::access::studio_token;
use crate::routes::{self, AppState, ServerConfig};
use crate::store::experiments::NewExperiment;
use crate::store::{Store, sqlite_url};
use crate::supervisor::{WorkerCommand, Workers};

/// Everything `proard serve` needs.
#[derive(Clone, Debug)]
pub struct StudioConfig {
    pub addr: SocketAddr,
    pub static_dir: PathBuf,
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; `DATA_DIR/studio.db` when absent.
    pub database: Option<String>,
    /// Local worker processes.
    pub workers: usize,
    /// Queue the demo experiment when the store holds none.
    pub demo: bool,
    /// How to start a worker (the `proard` binary with `worker` arguments).
    pub worker: WorkerCommand,
}

/// The database URL of a data directory unless one is given.
pub fn database_url(database: Option<&str>, data_dir: &std::path::Path) -> String {
    database.map_or_else(|| sqlite_url(data_dir), str::to_owned)
}

/// Opens the store, creating the data directory of an embedded database.
pub async fn open_store(
    database: Option<&str>,
    data_dir: &std::path::Path,
) -> anyhow::Result<Store> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
    Ok(Store::open(&database_url(database, data_dir)).await?)
}

/// Queues the demo experiment if the store is empty; returns its id when it did.
pub async fn queue_demo(store: &Store, shards: usize) -> anyhow::Result<Option<i64>> {
    if store.experiment_count().await? > 0 {
        return Ok(None);
    }
    let demo = NewExperiment {
        name: "demo: ProARD on the synthetic set".into(),
        config: demo_config(),
        eval_shards: shards.max(1),
        tags: vec!["demo".into()],
        notes: "The built-in demo: a tiny ResNet space and a small synthetic data set, every \
                stage in minutes on a CPU. Its numbers are real, its scale is not the paper's."
            .into(),
    };
    Ok(Some(store.create_experiment(&demo).await?.id))
}

/// Serves until Ctrl-C or SIGTERM; `listening` first gets the bound address and the login path
/// (`/login?token=…`, landing on the demo when this start queued it).
pub async fn serve_studio(
    config: StudioConfig,
    listening: impl FnOnce(SocketAddr, &str) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    let store = open_store(config.database.as_deref(), &config.data_dir).await?;
    let token = studio_token(&config.data_dir)
        .with_context(|| format!("creating the studio token in {}", config.data_dir.display()))?;
    let mut login = format!("/login?token={token}");
    if config.demo
        && let Some(id) = queue_demo(&store, config.workers).await?
    {
        tracing::info!("the store was empty: queued the demo as experiment {id}");
        login += &format!("&next=/experiments/{id}");
    }
    let workers = Workers::start(&config.worker, config.workers);
    let listener = routes::bind(config.addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.addr))?;
    listening(listener.local_addr()?, &login)?;
    let (streams, shutdown) = tokio::sync::watch::channel(false);
    let state = AppState { store: store.clone(), data_dir: config.data_dir, token, shutdown };
    let router = routes::router(&ServerConfig { static_dir: config.static_dir }, state);
    let served = routes::serve(listener, router, routes::shutdown_signal(streams)).await;
    workers.stop().await;
    store.close().await;
    Ok(served?)
}
