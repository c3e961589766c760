// The studio's search Web Worker: loads its wasm (crate proard-search-worker, built by
// scripts/build-frontend), whose start function answers the page's messages. A predictor helper
// (a worker the search worker starts per further core, named as in helpers.rs) is handed the
// compiled module in its first message instead of compiling the wasm again.
import init from "/pkg/proard_search_worker.js";

const HELPER = "proard-predictor-helper";

function start(module) {
  init(module && { module_or_path: module }).catch((err) => {
    postMessage(JSON.stringify({ type: "failed", id: 0, message: "the search worker could not load its wasm: " + err }));
  });
}

if (self.name === HELPER) {
  self.addEventListener("message", (event) => start(event.data), { once: true });
} else {
  start();
}
