//! Helpers for the cross-crate tests: a real server on loopback, paths in the repository.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use proard_server::routes::{self, ServerConfig};

/// The repository root (this crate lives in `tests/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// The real application router served on 127.0.0.1 at an ephemeral port, on its own runtime;
/// it stops when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
}

impl TestServer {
    pub fn start(config: ServerConfig) -> TestServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let listener = runtime
            .block_on(routes::bind("127.0.0.1:0".parse().expect("loopback address")))
            .expect("bind loopback");
        let addr = listener.local_addr().expect("bound address");
        runtime.spawn(async move {
            axum::serve(listener, routes::router(&config)).await.expect("server runs");
        });
        TestServer { addr, runtime: Some(runtime) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
