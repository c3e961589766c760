//! Helpers for the cross-crate tests: the real server on loopback with a real SQLite store in a
//! temporary data directory, requests with or without the studio token, paths in the repository.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use proard_server::access::studio_token;
use proard_server::routes::{self, AppState, ServerConfig};
use proard_server::store::{Store, sqlite_url};

/// The repository root (this crate lives in `tests/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// The real application served on 127.0.0.1 at an ephemeral port, on its own runtime; it stops
/// when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    pub token: String,
    pub store: Store,
    pub data: tempfile::TempDir,
    pub runtime: tokio::runtime::Runtime,
    shutdown: tokio::sync::watch::Sender<bool>,
    served: Option<tokio::task::JoinHandle<()>>,
}

/// A response: status and body.
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}), status {}: {}", self.status, self.body))
    }
}

impl TestServer {
    pub fn start(config: ServerConfig) -> TestServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let data = tempfile::tempdir().expect("a data directory");
        let store = runtime.block_on(Store::open(&sqlite_url(data.path()))).expect("the store");
        let token = studio_token(data.path()).expect("the studio token");
        let listener = runtime
            .block_on(routes::bind("127.0.0.1:0".parse().expect("loopback address")))
            .expect("bind loopback");
        let addr = listener.local_addr().expect("bound address");
        let (shutdown, streams) = tokio::sync::watch::channel(false);
        let state = AppState {
            store: store.clone(),
            data_dir: data.path().to_owned(),
            token: token.clone(),
            shutdown: streams,
        };
        let router = routes::router(&config, state);
        let mut stopped = shutdown.subscribe();
        let served = runtime.spawn(async move {
            let stop = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            routes::serve(listener, router, stop).await.expect("server runs");
        });
        TestServer { addr, token, store, data, runtime, shutdown, served: Some(served) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The URL that logs a browser in (sets the cookie) and lands on the studio.
    pub fn login_url(&self) -> String {
        self.url(&format!("/login?token={}", self.token))
    }

    /// Shuts the server down gracefully (open streams end) and waits for it.
    pub fn stop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(served) = self.served.take() {
            self.runtime.block_on(served).expect("the server task ends");
        }
    }

    /// An HTTP client that answers 4xx/5xx as responses, not errors.
    pub fn agent() -> ureq::Agent {
        ureq::Agent::config_builder().http_status_as_error(false).build().into()
    }

    /// A request with `headers` (e.g. the bearer token) and an optional JSON body.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Answer {
        let url = self.url(path);
        let mut request = axum::http::Request::builder().method(method).uri(&url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request.body(body.unwrap_or("").to_owned()).expect("a request");
        let mut response = Self::agent().run(request).expect("the server answers");
        Answer {
            status: response.status().as_u16(),
            body: response.body_mut().read_to_string().unwrap_or_default(),
        }
    }

    /// A request with the studio token.
    pub fn owner(&self, method: &str, path: &str, body: Option<&str>) -> Answer {
        let bearer = format!("Bearer {}", self.token);
        self.call(method, path, &[("authorization", &bearer)], body)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(served) = self.served.take() {
            served.abort();
        }
    }
}
