// The studio's search Web Worker: loads its wasm (crate proard-search-worker, built by
// scripts/build-frontend), whose start function answers the page's messages.
import init from "/pkg/proard_search_worker.js";

init().catch((err) => {
  postMessage(JSON.stringify({ type: "failed", id: 0, message: "the search worker could not load its wasm: " + err }));
});
