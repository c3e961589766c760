//! The studio in real headless Chromium, against the real server on loopback.
//!
//! Needs the built frontend (`scripts/build-frontend`), Chromium and the npm packages of
//! `tests/browser` — `scripts/test` provides all three, then runs these with `--ignored`.

use std::process::Command;
use std::time::Duration;

use proard_core::attack::pgd::PgdIterate;
use proard_core::experiment::config::SpaceRef;
use proard_core::experiment::pipeline::demo_config;
use proard_core::experiment::report::student_records;
use proard_core::experiment::students::{StudentRecord, StudentSettings, unique_archs};
use proard_core::experiment::{Cloud, ExperimentConfig, Goal, RunLayout, Silent};
use proard_core::objective::ObjectiveConfig;
use proard_server::import::import_run;
use proard_server::routes::ServerConfig;
use proard_server::worker::{WorkerConfig, run_worker};
use proard_shared::api::SpaceSummary;
use proard_shared::nsga2::{Nsga2Config, hypervolume_2d};
use proard_shared::predictor::Predictor;
use proard_shared::preset::{preset, presets};
use proard_shared::search::{Candidate, SearchConfig, SearchResult, search};
use proard_tests::{TestServer, repo_root};
use serde_json::Value;

/// Runs a page driver of tests/browser against the server and returns what it printed.
fn drive(script: &str, server: &TestServer, args: &[&str]) -> Value {
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
        .args(args)
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
    let page = drive("spaces_page.mjs", &server, &[]);
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

/// An experiment that never trains (cancelled at once) with `n` evaluated students per cloud of
/// `clouds` and, when asked, a teacher. The numbers are fixtures for drawing, spread so that no
/// two points of a cloud coincide.
fn fixture(server: &TestServer, name: &str, clouds: &[Cloud], n: usize, teacher: bool) -> i64 {
    fixture_in(server, &demo_config(), name, clouds, n, teacher)
}

fn fixture_in(
    server: &TestServer,
    config: &ExperimentConfig,
    name: &str,
    clouds: &[Cloud],
    n: usize,
    teacher: bool,
) -> i64 {
    let by_index = |t: f64, _: &proard_shared::Arch, _: &proard_shared::Cost| {
        [0.30 + 0.5 * t, 0.20 + 0.3 * t, 0.10 + 0.3 * t * t]
    };
    fixture_with(server, config, name, clouds, n, teacher, by_index)
}

/// [`fixture_in`] with the (clean, FGSM, PGD-20) of each student given by `values` of its place
/// in the sample (in [0, 1)), its arch and its cost.
fn fixture_with(
    server: &TestServer,
    config: &ExperimentConfig,
    name: &str,
    clouds: &[Cloud],
    n: usize,
    teacher: bool,
    values: impl Fn(f64, &proard_shared::Arch, &proard_shared::Cost) -> [f64; 3],
) -> i64 {
    let body = serde_json::json!({ "name": name, "config": config.to_toml() }).to_string();
    let created = server.owner("POST", "/api/experiments", Some(&body));
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.json()["id"].as_i64().unwrap();
    assert_eq!(server.owner("POST", &format!("/api/experiments/{id}/cancel"), None).status, 200);
    let space = config.resolve_space().unwrap();
    let archs = unique_archs(&space, n, id as u64);
    assert_eq!(archs.len(), n, "the space has fewer than {n} subnets");
    let put = |cloud: Cloud, index: usize, arch: &proard_shared::Arch, shift: f64| {
        let cost = space.subnet(arch).unwrap().cost();
        let [clean, fgsm, pgd20] = values(index as f64 / n as f64, arch, &cost);
        let record = StudentRecord {
            index,
            encoding: space.encode(arch).unwrap(),
            arch: arch.clone(),
            macs: cost.macs,
            params: cost.params,
            clean: clean + shift,
            fgsm: fgsm + shift,
            pgd20: pgd20 + shift,
            settings: StudentSettings {
                calibration_images: 64,
                test_images: 64,
                seed: 1,
                fgsm: Default::default(),
                pgd20: Default::default(),
            },
        };
        server.runtime.block_on(server.store.put_student(id, cloud, &record)).unwrap();
    };
    for (i, cloud) in clouds.iter().enumerate() {
        for (index, arch) in archs.iter().enumerate() {
            put(*cloud, index, arch, -0.03 * i as f64);
        }
    }
    if teacher {
        put(Cloud::Teacher, 0, &space.largest_arch(), 0.12);
    }
    id
}

fn total(server: &TestServer, path: &str) -> i64 {
    let answer = server.owner("GET", path, None);
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()["total"].as_i64().unwrap()
}

/// The user story in the browser: a config error at its field; the demo created through the
/// form, progressing live on a real worker; the cloud with every record, hover and selection;
/// a share link in a fresh context, read-only; the view in the URL through reload and back;
/// two experiments compared. Screenshots of every page go to target/browser-shots.
#[test]
#[ignore = "needs the built frontend, Chromium and npm packages: run scripts/test"]
fn studio_in_the_browser() {
    let server = TestServer::start(ServerConfig { static_dir: repo_root().join("static") });
    let a = fixture(&server, "fixture A: RSLAD", &[Cloud::Proard, Cloud::Baseline], 240, true);
    let mut ard = demo_config();
    ard.supernet.objective = ObjectiveConfig::Ard(Default::default());
    let b = fixture_in(&server, &ard, "fixture B: ARD", &[Cloud::Proard], 120, false);
    let mut worker = WorkerConfig::new(server.data.path().to_owned());
    worker.poll = Duration::from_millis(200);
    // Short leases: the worker hears a cancel within half a second.
    worker.lease = Duration::from_secs(2);
    server.runtime.spawn(run_worker(server.store.clone(), worker));

    let page = server.owner(
        "GET",
        &format!("/api/experiments/{a}/students?cloud=proard&sort=pgd20&desc=true&limit=1"),
        None,
    );
    let best = page.json()["items"][0]["record"].clone();
    let plan = serde_json::json!({
        "a": a,
        "b": b,
        "hover": { "clean": best["clean"], "pgd20": best["pgd20"], "index": best["index"] },
    });
    let shots = repo_root().join("target/browser-shots");
    std::fs::create_dir_all(&shots).unwrap();
    let seen = drive("studio.mjs", &server, &[shots.to_str().unwrap(), &plan.to_string()]);
    assert_eq!(seen["problems"], serde_json::json!([]), "the pages logged errors");

    // The server names the field; the page shows the message there.
    let error = &seen["config_error"];
    assert!(error["field_text"].as_str().unwrap().contains("must be at least 1"), "{error}");
    assert!(error["url"].as_str().unwrap().ends_with("/new?preset=demo"), "{error}");

    // The space's size follows an edit of its stages, computed in the browser as natively.
    let mut space = serde_json::to_value(demo_config().resolve_space().unwrap()).unwrap();
    space["stages"][0]["depths"] = serde_json::json!([1]);
    let shrunk: proard_shared::Space = serde_json::from_value(space).unwrap();
    let subnets = |text: &str| {
        text.split(": ").nth(1).unwrap().split(" subnets").next().unwrap().replace('\u{2009}', "")
    };
    let edit = &seen["space_edit"];
    assert_eq!(
        subnets(edit["before"].as_str().unwrap()),
        SpaceSummary::of(&demo_config().resolve_space().unwrap()).subnets
    );
    assert_eq!(subnets(edit["after"].as_str().unwrap()), SpaceSummary::of(&shrunk).subnets);

    // The form created the demo, and its first stage advanced while the page stayed open.
    let live = &seen["live"];
    let created = server.owner("GET", &format!("/api/experiments/{}", live["id"]), None).json();
    assert_eq!(created["name"], "demo from the form");
    assert_eq!(created["tags"], serde_json::json!(["browser", "demo"]));
    assert!(live["later"].as_i64() > live["early"].as_i64(), "{live}");

    // Every record of every cloud is a point; hovering the best ProARD student shows its numbers.
    let cloud = &seen["cloud"];
    assert_eq!(
        cloud["points"].as_i64(),
        Some(total(&server, &format!("/api/experiments/{a}/students?limit=1")))
    );
    let tooltip = cloud["tooltip"].as_str().unwrap();
    let (clean, pgd20) = (best["clean"].as_f64().unwrap(), best["pgd20"].as_f64().unwrap());
    assert!(tooltip.contains(&format!("clean {clean:.3}")), "{tooltip}");
    assert!(tooltip.contains(&format!("PGD-20 {pgd20:.3}")), "{tooltip}");
    let index = best["index"].as_i64().unwrap();
    assert_eq!(cloud["student"], format!("proard:{index}"));
    assert_eq!(cloud["selected"], format!("Selected: proard student #{index}"));
    assert!(
        cloud["diff_summary"].as_str().unwrap().starts_with("240 archs in both clouds"),
        "{cloud}"
    );

    // The share link opens the same view read-only, and refuses writes.
    let share = &seen["share"];
    assert_eq!(share["tab"], "Students");
    assert_eq!(share["selected"], cloud["selected"]);
    assert_eq!(share["points"], cloud["points"]);
    assert_eq!(share["write_controls"], 0);
    assert_eq!(share["read_only_note"], 1);
    assert_eq!(share["write_status"], 403);

    // Reload keeps the table sorted by PGD-20; back twice returns to the students tab.
    let history = &seen["history"];
    assert_eq!(history["after_reload"]["tab"], "Table");
    assert_eq!(history["after_reload"]["query"]["sort"], "pgd20");
    assert_eq!(history["after_reload"]["first_row"], format!("proard:{index}"));
    assert_eq!(history["after_back"]["tab"], "Students");
    assert_eq!(history["after_back"]["query"]["student"], format!("proard:{index}"));

    let compare = &seen["compare"];
    assert_eq!(compare["query"]["ids"], format!("{a},{b}"));
    assert_eq!(compare["rows"], 2);
    assert_eq!(compare["points"].as_i64(), Some(240 + 120));

    // The worker's job stops before the server's runtime does.
    let demo = live["id"].as_i64().unwrap();
    assert_eq!(server.owner("POST", &format!("/api/experiments/{demo}/cancel"), None).status, 200);
    let started = std::time::Instant::now();
    loop {
        let detail = server.owner("GET", &format!("/api/experiments/{demo}"), None).json();
        let running = detail["jobs"].as_array().unwrap().iter().any(|j| j["status"] == "running");
        if !running {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the job did not stop: {detail}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A student of a real run taken home from the browser: verified under FGSM and PGD-20 by a job
/// on a worker, its measured numbers are its record's; exported, its weights download. Then the
/// predictor fitted on the run's students, its held-out students plotted measured × predicted.
#[test]
#[ignore = "needs the built frontend, Chromium and npm packages: run scripts/test"]
fn a_student_verified_from_the_browser() {
    let server = TestServer::start(ServerConfig { static_dir: repo_root().join("static") });
    let tiny = include_str!("../backend/cli/tests/support/tiny.toml");
    let config = ExperimentConfig::from_toml(tiny, "tiny").unwrap();
    let run = server.data.path().join("cli-run");
    proard_core::experiment::run(&config, &run, Goal::Everything, &Silent).unwrap();
    let imported = import_run(&server.store, server.data.path(), &run, "a CLI run");
    let id = server.runtime.block_on(imported).unwrap().id;
    let mut worker = WorkerConfig::new(server.data.path().to_owned());
    worker.poll = Duration::from_millis(200);
    worker.lease = Duration::from_secs(2);
    let worker = server.runtime.spawn(run_worker(server.store.clone(), worker));
    let record = &student_records(&RunLayout::new(&run), Cloud::Proard).unwrap()[2];

    let shots = repo_root().join("target/browser-shots");
    std::fs::create_dir_all(&shots).unwrap();
    let args = [shots.to_str().unwrap(), &id.to_string(), &record.index.to_string()];
    let seen = drive("verify.mjs", &server, &args);
    assert_eq!(seen["problems"], serde_json::json!([]), "the page logged errors");
    let rows = seen["rows"].as_array().unwrap();
    // The page sends both requests at once, so either may be the newer row.
    assert_eq!(rows.len(), 2, "{seen}");
    let (export, verification) = if rows[0]["text"] == "exported only" {
        (&rows[0], &rows[1])
    } else {
        (&rows[1], &rows[0])
    };
    assert_eq!(export["text"], "exported only", "{seen}");
    assert_eq!(export["measures"], serde_json::json!({}), "an export measures nothing");
    assert!(export["download"].is_string() && seen["bytes"].as_u64() > Some(10_000), "{seen}");
    let measures = &verification["measures"];
    for (name, label, value) in [
        ("clean", "clean", record.clean),
        ("fgsm", "FGSM", record.fgsm),
        ("pgd20", "PGD-20", record.pgd20),
    ] {
        // Measured, then the evaluation's record in brackets: the same number.
        let text = format!("{label} {value:.3} ({value:.3})");
        assert_eq!(measures[name], text.as_str(), "{seen}");
    }
    // The predictor's held-out students, measured against predicted, as the API lists them.
    let fitted = server.owner("GET", &format!("/api/experiments/{id}/predictors"), None).json();
    let fitted = &fitted[0];
    let predictor = &seen["predictor"];
    assert_eq!(predictor["clean_points"], fitted["n_test"], "{seen}");
    assert_eq!(predictor["robust_points"], fitted["n_test"], "{seen}");
    assert_eq!(predictor["rows"], 1);
    assert_eq!(predictor["query"]["tab"], "predictor");
    let head = predictor["head"].as_str().unwrap();
    let rmse = format!("held-out RMSE clean {:.4}", fitted["rmse_acc"].as_f64().unwrap());
    assert!(head.contains(&rmse), "{head}");
    worker.abort();
}

/// An experiment of `n` students of a preset whose accuracies follow their archs — clean accuracy
/// grows with MACs, robustness falls with MACs and grows with depth, a trade-off — with a
/// predictor fitted on them by a worker's job; returns the experiment, its space and the
/// predictor's weights.
fn searchable(
    server: &TestServer,
    space_name: &str,
    n: usize,
    epochs: usize,
) -> (i64, proard_shared::Space, Vec<u8>) {
    let space = preset(space_name).unwrap();
    let mut config =
        ExperimentConfig::for_space(SpaceRef::Named(space_name.into()), space.family());
    // Robust accuracy counted as the first fooling iterate: the view must say so.
    config.evaluation.pgd20.iterate = PgdIterate::AnyFooling;
    let (smallest, largest) = (
        space.subnet(&space.smallest_arch()).unwrap().cost().macs as f64,
        space.subnet(&space.largest_arch()).unwrap().cost().macs as f64,
    );
    let values = |_: f64, arch: &proard_shared::Arch, cost: &proard_shared::Cost| {
        let size = (cost.macs as f64 - smallest) / (largest - smallest);
        // Blocks per stage summed (both families name them `d`), as a fraction of the most.
        let depths = |arch: &proard_shared::Arch| {
            let d = serde_json::to_value(arch).unwrap()["d"].clone();
            d.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).sum::<f64>()
        };
        let depth = depths(arch) / depths(&space.largest_arch());
        [0.55 + 0.3 * size, 0.4 + 0.1 * size, 0.30 - 0.12 * size + 0.05 * depth]
    };
    let id = fixture_with(server, &config, "search", &[Cloud::Proard], n, false, values);
    let body = serde_json::json!({ "cloud": "proard", "epochs": epochs }).to_string();
    let path = format!("/api/experiments/{id}/predictors");
    assert_eq!(server.owner("POST", &path, Some(&body)).status, 202);
    let mut worker = WorkerConfig::new(server.data.path().to_owned());
    worker.poll = Duration::from_millis(200);
    let worker = server.runtime.spawn(run_worker(server.store.clone(), worker));
    let started = std::time::Instant::now();
    let fitted = loop {
        let list = server.owner("GET", &path, None).json();
        if let Some(fitted) = list.as_array().unwrap().first().cloned() {
            break fitted;
        }
        assert!(started.elapsed() < Duration::from_secs(300), "no predictor was fitted");
        std::thread::sleep(Duration::from_millis(300));
    };
    worker.abort();
    let file = walk(server.data.path())
        .into_iter()
        .find(|p| {
            p.extension().is_some_and(|e| e == "safetensors")
                && p.to_string_lossy().contains("/predictors/")
        })
        .unwrap_or_else(|| panic!("predictor {fitted} has no weights file"));
    (id, space, std::fs::read(file).unwrap())
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// The native search (`proard search`'s code) for the same predictor, settings and budget.
fn native_search(weights: &[u8], query: &SearchQuery) -> SearchResult {
    let mut predictor =
        Predictor::from_bytes(weights.to_vec(), &burn::prelude::Device::flex()).unwrap();
    let space = predictor.space.clone();
    search(&space, &mut predictor, &query.config()).unwrap()
}

/// The settings a search view opens with, as its URL holds them.
struct SearchQuery {
    pop: usize,
    gens: usize,
    seed: u64,
    budget_mmacs: f64,
    macs_objective: bool,
}

impl SearchQuery {
    fn url(&self) -> String {
        format!(
            "pop={}&gens={}&seed={}&budget={:.1}&macs={}",
            self.pop,
            self.gens,
            self.seed,
            self.budget_mmacs,
            u8::from(self.macs_objective)
        )
    }

    fn config(&self) -> SearchConfig {
        SearchConfig {
            nsga2: Nsga2Config {
                population: self.pop,
                generations: self.gens,
                seed: self.seed,
                ..Default::default()
            },
            max_macs: Some((self.budget_mmacs * 1e6).round() as u64),
            macs_objective: self.macs_objective,
            patience: None,
        }
    }
}

fn candidates(front: &Value) -> Vec<Candidate> {
    serde_json::from_value(front.clone()).unwrap()
}

fn hypervolume(front: &[Candidate]) -> f64 {
    let points: Vec<[f64; 2]> = front.iter().map(|c| [c.pred_acc, c.pred_rob]).collect();
    hypervolume_2d(&points, [0.0, 0.0])
}

/// The Pareto search in the browser on both paths. On the CPU it returns the native search's
/// front: the same archs in the same order, predicted values equal within f32 rounding (the
/// browser's flex runs wasm SIMD128 kernels on one batch, the native one AVX-512 or AVX2 kernels
/// on a share of it per core, so sums may round differently); a slider move re-searches
/// warm-started from the best archs met, with cached scores; a member shows its nearest measured
/// students and the URL names it; once the worker's predictor helpers (one worker per further
/// core) are ready, a cold search with another seed shares its batches with every one of them and
/// still returns the native front. On WebGPU (SwiftShader) the front respects the budget and its
/// hypervolume is the native one's within 1e-4.
#[test]
#[ignore = "needs the built frontend, Chromium and npm packages: run scripts/test"]
fn pareto_search_in_the_browser() {
    let server = TestServer::start(ServerConfig { static_dir: repo_root().join("static") });
    let (id, space, weights) = searchable(&server, "mbv3-mini", 300, 50);
    let (smallest, largest) = (
        space.subnet(&space.smallest_arch()).unwrap().cost().macs as f64 / 1e6,
        space.subnet(&space.largest_arch()).unwrap().cost().macs as f64 / 1e6,
    );
    let at = |f: f64| ((smallest + f * (largest - smallest)) * 10.0).round() / 10.0;
    // MACs as a third objective: a front of many members to compare.
    let query =
        SearchQuery { pop: 30, gens: 20, seed: 3, budget_mmacs: at(0.5), macs_objective: true };
    let second = SearchQuery { budget_mmacs: at(0.3), ..query };

    // A share link saved with the CPU path's view and a member selected (what the Share button
    // saves: the URL's query).
    let native = native_search(&weights, &query);
    let member = serde_json::to_string(&native.front[0].arch).unwrap();
    let mut view = serde_json::json!({ "tab": "search", "backend": "cpu", "member": member });
    for pair in query.url().split('&') {
        let (key, value) = pair.split_once('=').unwrap();
        view[key] = Value::String(value.to_owned());
    }
    let body = serde_json::json!({ "view": view }).to_string();
    let link = server.owner("POST", &format!("/api/experiments/{id}/shares"), Some(&body));
    assert_eq!(link.status, 201, "{}", link.body);
    let share_url = link.json()["url"].as_str().unwrap().to_owned();

    let shots = repo_root().join("target/browser-shots");
    std::fs::create_dir_all(&shots).unwrap();
    let reseeded_query = SearchQuery { seed: 4, ..second };
    let args = [
        shots.to_str().unwrap(),
        &id.to_string(),
        &query.url(),
        &format!("{:.1}", second.budget_mmacs),
        &share_url,
        &reseeded_query.seed.to_string(),
    ];
    let seen = drive("search.mjs", &server, &args);
    assert_eq!(seen["problems"], serde_json::json!([]), "the pages logged errors");

    let first = &seen["cpu"]["first"];
    assert_eq!(first["state"], "done", "{first}");
    assert_eq!(first["backend"], "cpu", "{first}");
    assert_eq!(first["final"], "true");
    let archs =
        |front: &[Candidate]| front.iter().map(|c| (c.macs, c.arch.clone())).collect::<Vec<_>>();
    let same_as_native = |run: &Value, native: &SearchResult| {
        let browser = candidates(&run["front"]);
        assert!(browser.len() > 3, "{run}");
        let mut expected = native.front.clone();
        expected.sort_by_key(|c| c.macs);
        assert_eq!(archs(&browser), archs(&expected), "the browser's front is not the native one");
        for (b, n) in browser.iter().zip(&expected) {
            assert!(
                (b.pred_acc - n.pred_acc).abs() < 1e-5 && (b.pred_rob - n.pred_rob).abs() < 1e-5,
                "{b:?} vs {n:?}"
            );
        }
        expected
    };
    let expected = same_as_native(first, &native);
    assert_eq!(first["hypervolume_points"], 1, "one hypervolume curve");
    let note = first["note"].as_str().unwrap();
    assert!(note.contains("predicted clean and PGD-20 (any iterate) accuracy"), "{note}");

    // The slider: warm-started, scores from the cache, a front within the new budget.
    let moved = &seen["cpu"]["moved"];
    assert_eq!(moved["state"], "done", "{moved}");
    let status = moved["status"].as_str().unwrap();
    assert!(status.contains("warm-started from the best archs met"), "{status}");
    let cached: usize = status
        .split(", ")
        .find_map(|part| part.split(" from the cache").next()?.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0);
    assert!(cached > 0, "{status}");
    let budget = (second.budget_mmacs * 1e6).round() as u64;
    let moved_front = candidates(&moved["front"]);
    assert!(!moved_front.is_empty() && moved_front.iter().all(|c| c.macs <= budget), "{moved}");
    let in_url: f64 = moved["query"]["budget"].as_str().unwrap().parse().unwrap();
    assert_eq!(in_url, second.budget_mmacs);

    // A member: its panel with the nearest measured students; the URL names its arch.
    let member = &seen["cpu"]["member"];
    assert_eq!(member["nearest"], 3, "{member}");
    let named: proard_shared::Arch =
        serde_json::from_str(member["query"]["member"].as_str().unwrap()).unwrap();
    let clicked: proard_shared::Arch = serde_json::from_value(member["arch"].clone()).unwrap();
    assert_eq!(named, clicked);

    // With the predictor helpers ready, a cold search shares its batches among the cores and
    // still finds the native front.
    let reseeded = &seen["cpu"]["reseeded"];
    assert_eq!(reseeded["state"], "done", "{reseeded}");
    assert_eq!(reseeded["helpers"], seen["cpu"]["helpers"], "every helper took a share");
    same_as_native(reseeded, &native_search(&weights, &reseeded_query));

    // The share link reopens the same front, read-only.
    let shared = &seen["shared"];
    assert_eq!(shared["run"]["state"], "done", "{shared}");
    assert_eq!(archs(&candidates(&shared["run"]["front"])), archs(&expected), "{shared}");
    assert_eq!(shared["member_panels"], 1, "the link's member is shown: {shared}");
    assert_eq!(shared["verify_buttons"], 0, "a share link verifies nothing");

    // WebGPU through SwiftShader: the same search, a front within budget, the same hypervolume.
    let gpu = &seen["webgpu"]["run"];
    assert_eq!(gpu["state"], "done", "{gpu}");
    assert_eq!(gpu["backend"], "webgpu", "{gpu}");
    let gpu_front = candidates(&gpu["front"]);
    let budget = (query.budget_mmacs * 1e6).round() as u64;
    assert!(!gpu_front.is_empty() && gpu_front.iter().all(|c| c.macs <= budget), "{gpu}");
    assert!((hypervolume(&gpu_front) - hypervolume(&native.front)).abs() < 1e-4, "{gpu}");
}

/// A benchmark, not a check of speed: NSGA-II 100 × 100 on mbv3-cifar scored by the 6 × 400
/// predictor in Chromium, on the CPU path and on WebGPU (SwiftShader): the first search of a fresh
/// page, the same search with seed 2 once the page is warm (on the CPU, its predictor helpers
/// ready; nothing cached) and three slider releases, printed with `--nocapture`
/// (`cargo test --test browser search_benchmark -- --ignored --nocapture`). The predictor is
/// written to `target/search-bench/predictor.safetensors` for the native figure
/// (`proard search --predictor … --pop 100 --gens 100 --seed 1 --max-mmacs …`). As a test it
/// checks that every search ends. `SEARCH_BENCH_PATHS=cpu` measures the CPU path alone.
#[test]
#[ignore = "needs the built frontend, Chromium and npm packages: run scripts/test"]
fn search_benchmark() {
    let server = TestServer::start(ServerConfig { static_dir: repo_root().join("static") });
    let (id, space, weights) = searchable(&server, "mbv3-cifar", 1000, 50);
    let out = repo_root().join("target/search-bench");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("predictor.safetensors"), &weights).unwrap();
    let (smallest, largest) = (
        space.subnet(&space.smallest_arch()).unwrap().cost().macs as f64 / 1e6,
        space.subnet(&space.largest_arch()).unwrap().cost().macs as f64 / 1e6,
    );
    let at = |f: f64| format!("{:.1}", smallest + f * (largest - smallest));
    let query = SearchQuery {
        pop: 100,
        gens: 100,
        seed: 1,
        budget_mmacs: at(0.5).parse().unwrap(),
        macs_objective: false,
    };
    let args =
        [out.to_str().unwrap(), &id.to_string(), &query.url(), "2", &at(0.4), &at(0.35), &at(0.45)];
    let seen = drive("search_bench.mjs", &server, &args);
    assert_eq!(seen["problems"], serde_json::json!([]), "the pages logged errors");
    let paths = std::env::var("SEARCH_BENCH_PATHS").unwrap_or_else(|_| "cpu,webgpu".into());
    for path in paths.split(',') {
        assert_eq!(seen[path]["first"]["state"], "done", "{seen}");
        assert_eq!(seen[path]["reseeded"]["state"], "done", "{seen}");
        for release in seen[path]["releases"].as_array().unwrap() {
            assert_eq!(release["state"], "done", "{seen}");
        }
    }
    println!("budget {} MMACs, then {}, {}, {}", at(0.5), at(0.4), at(0.35), at(0.45));
    println!("{}", serde_json::to_string_pretty(&seen).unwrap());
}

/// A benchmark, not a check of speed: the studio's first paint and a 10 001-point cloud (draw,
/// zoom, hover) in headless Chromium, printed with `--nocapture`
/// (`cargo test --test browser ten_thousand -- --ignored --nocapture`). As a test it checks that
/// every point is drawn and nothing logs an error.
#[test]
#[ignore = "needs the built frontend, Chromium and npm packages: run scripts/test"]
fn ten_thousand_point_cloud() {
    let server = TestServer::start(ServerConfig { static_dir: repo_root().join("static") });
    let space = preset("resnet-mini").unwrap();
    let config = ExperimentConfig::for_space(SpaceRef::Named("resnet-mini".into()), space.family());
    let clouds = [Cloud::Proard, Cloud::Baseline];
    let id = fixture_in(&server, &config, "10 000 students", &clouds, 5000, true);
    let points = total(&server, &format!("/api/experiments/{id}/students?limit=1"));
    assert_eq!(points, 10_001);
    let seen = drive("cloud_bench.mjs", &server, &[&id.to_string(), &points.to_string()]);
    assert_eq!(seen["problems"], serde_json::json!([]), "the pages logged errors");
    println!("{}", serde_json::to_string_pretty(&seen).unwrap());
}
