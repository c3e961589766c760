//! ProARD Studio in the browser: a Leptos CSR app over `proard-shared` compiled to wasm32.
//!
//! Every number on the page is computed here, in the browser, by the same code the server and
//! the CLI run: subnet counts, MACs and parameter ranges, encoding sizes, validation.
//!
//! * [`spaces_page`] — the presets table and the space editor.

pub mod spaces_page;

use wasm_bindgen::prelude::wasm_bindgen;

/// Entry point called by the generated JS glue when the module loads.
#[wasm_bindgen(start)]
pub fn start() {
    leptos::mount::mount_to_body(spaces_page::SpacesPage);
}
