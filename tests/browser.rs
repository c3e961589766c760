//! The studio in real headless Chromium, against the real server on loopback.
//!
//! Needs the built frontend (`scripts/build-frontend`), Chromium and the npm packages of
//! `tests/browser` — `scripts/test` provides all three, then runs these with `--ignored`.

use std::process::Command;
use std::time::Duration;

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
use proard_shared::preset::{preset, presets};
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
        let t = index as f64 / n as f64;
        let record = StudentRecord {
            index,
            encoding: space.encode(arch).unwrap(),
            arch: arch.clone(),
            macs: cost.macs,
            params: cost.params,
            clean: 0.30 + 0.5 * t + shift,
            fgsm: 0.20 + 0.3 * t + shift,
            pgd20: 0.10 + 0.3 * t * t + shift,
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
    // Newest first: the export, then the verification.
    assert_eq!(rows.len(), 2, "{seen}");
    assert_eq!(rows[0]["measures"], serde_json::json!({}), "an export measures nothing");
    assert_eq!(rows[0]["text"], "exported only", "{seen}");
    assert!(rows[0]["download"].is_string() && seen["bytes"].as_u64() > Some(10_000), "{seen}");
    let measures = &rows[1]["measures"];
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
