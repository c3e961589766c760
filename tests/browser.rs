//! The studio in real headless Chromium, against the real server on loopback.
//!
//! Needs the built frontend (`scripts/build-frontend`), Chromium and the npm packages of
//! `tests/browser` — `scripts/test` provides all three, then runs these with `--ignored`.

use std::process::Command;

use proard_server::routes::ServerConfig;
use proard_shared::api::SpaceSummary;
use proard_shared::preset::{preset, presets};
use proard_tests::{TestServer, repo_root};
use serde_json::Value;

/// Runs a page driver of tests/browser against the server and returns what it printed.
fn drive(script: &str, server: &TestServer) -> Value {
    let root = repo_root();
    assert!(
        root.join("static/pkg/proard_frontend.js").is_file(),
        "the frontend is not built: run scripts/build-frontend (scripts/test does)"
    );
    assert!(
        root.join("tests/browser/node_modules/playwright-core").is_dir(),
        "playwright-core is missing: run `npm ci` in tests/browser (scripts/test does)"
    );
    let output = Command::new("node")
        .arg(script)
        .arg(server.login_url())
        .current_dir(root.join("tests/browser"))
        .output()
        .expect("node runs (scripts/setup installs it)");
    assert!(
        output.status.success(),
        "{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the driver prints one JSON object")
}

#[test]
#[ignore = "needs the built frontend, Chromium and npm packages: run scripts/test"]
fn presets_page_shows_what_proard_shared_computes() {
    let server = TestServer::start(ServerConfig { static_dir: repo_root().join("static") });
    let page = drive("spaces_page.mjs", &server);
    assert_eq!(page["problems"], serde_json::json!([]), "the page logged errors");

    let rows = page["presets"].as_array().expect("preset rows");
    let expected: Vec<SpaceSummary> = presets().iter().map(SpaceSummary::of).collect();
    assert_eq!(rows.len(), expected.len());
    for (row, want) in rows.iter().zip(&expected) {
        assert_eq!(row["name"], want.name.as_str());
        assert_eq!(row["subnets"], want.subnets.as_str(), "{}", want.name);
        assert_eq!(row["macs_min"], want.macs_min, "{}", want.name);
        assert_eq!(row["macs_max"], want.macs_max, "{}", want.name);
        assert_eq!(row["params_min"], want.params_min, "{}", want.name);
        assert_eq!(row["params_max"], want.params_max, "{}", want.name);
        assert_eq!(row["encoding_dim"], want.encoding_dim, "{}", want.name);
    }
    // What a reader sees, not only the data attributes.
    assert_eq!(rows[0]["subnets_text"], "2\u{2009}458\u{2009}914\u{2009}796\u{2009}962");
    assert_eq!(
        rows[1]["subnets_text"],
        "21\u{2009}758\u{2009}655\u{2009}492\u{2009}572\u{2009}485\u{2009}851"
    );
    assert_eq!(rows[0]["macs_text"], "285.2 … 2358.0");
    assert_eq!(rows[1]["macs_text"], "35.3 … 179.7");

    // The editor validates in the browser with the same messages as the CLI.
    let editor = &page["editor"];
    assert_eq!(
        editor["initial"],
        SpaceSummary::of(&preset("resnet-mini").unwrap()).subnets.as_str()
    );
    assert_eq!(editor["error"], "stages[0].expand_ratios: choice list must not be empty");
    assert_eq!(editor["loaded"], "21758655492572485851");
}
