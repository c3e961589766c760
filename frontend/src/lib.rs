//! ProARD Studio in the browser: a Leptos CSR app over the studio's HTTP API and
//! `proard-shared` compiled to wasm32.
//!
//! Every number on a page comes from the API or is computed here by the same code the server
//! and the CLI run (subnet counts, MACs, the learning-rate schedule, fronts).
//!
//! * [`app`] — the header and the routes;
//! * [`api`] — typed calls to the HTTP API;
//! * [`clouds`] — students into clouds, fronts and ProARD − baseline differences;
//! * [`live`] — the server's event streams;
//! * [`url_state`] — view state kept in the URL's query;
//! * [`search_worker`] — the Pareto search's Web Worker, started on first use;
//! * [`pages`] — one module per page;
//! * [`components`] — charts (canvas cloud, line charts), stage time line, status badges.

pub mod api;
pub mod app;
pub mod clouds;
pub mod components;
pub mod live;
pub mod pages;
pub mod search_worker;
pub mod url_state;

use wasm_bindgen::prelude::wasm_bindgen;

/// Entry point called by the generated JS glue when the module loads.
#[wasm_bindgen(start)]
pub fn start() {
    leptos::mount::mount_to_body(app::App);
}
