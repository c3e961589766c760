//! `--device wgpu` against the CPU: a short pipeline (teacher, the three phases, two students
//! calibrated and attacked) and a predictor fit and search, each run once per device; the GPU's
//! numbers must be the CPU's within the tolerances below. Built only with the `wgpu` feature; CI
//! runs it on lavapipe (Mesa's Vulkan on the CPU).
//!
//! Both devices draw the same random numbers (`proard_core::noise` draws on the host), so the
//! runs differ only by float rounding — different summation orders in convolutions and
//! reductions — which training carries forward step by step.

mod support;

use std::path::Path;

use proard_shared::genome::seeded_rng;
use serde_json::Value;
use support::{proard, stdout};

const CONFIG: &str = include_str!("support/tiny.toml");

/// A training loss may drift this far (relative): rounding differences of ≈ 1e-7 are carried
/// forward through sign-gradient attacks, whose signs flip where a gradient component is near
/// zero (measured on lavapipe: at most 1.2e-3 by the last step).
const LOSS_TOLERANCE: f64 = 1e-2;
/// A student's accuracy may differ by one of its 16 test images: an image whose two top logits
/// are within rounding of each other may go either way.
const ACCURACY_TOLERANCE: f64 = 1.0 / 16.0;
/// Students evaluated.
const STUDENTS: usize = 2;
/// The predictor: MSE training on 240 records for a few epochs of Adam (measured on lavapipe: RMSEs
/// and predictions within 1e-6, relative).
const PREDICTOR_TOLERANCE: f64 = 1e-4;

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The tests' tiny pipeline cut to a few steps per stage and two students per cloud: lavapipe
/// runs each kernel on the CPU through Vulkan and compiles a shader for each new shape, which makes
/// it ≈ 50× slower than the CPU backend.
fn short_config(device: &str) -> String {
    let mut config: toml::Table = CONFIG.parse().unwrap();
    set(&mut config, "device", device.into());
    for (path, value) in [
        ("data_limits.train_images", 32),
        ("data_limits.test_images", 16),
        ("teacher.epochs", 1),
        ("teacher.warmup_epochs", 0),
        ("teacher.optimizer.batch", 16),
        ("supernet.optimizer.batch", 16),
        ("evaluation.students", STUDENTS as i64),
        ("evaluation.calibration_images", 16),
        ("evaluation.calibration_batch", 16),
        ("evaluation.batch", 16),
        ("evaluation.test_images", 16),
    ] {
        set(&mut config, path, value.into());
    }
    // The baseline trains and evaluates through the same code as the phases.
    set(&mut config, "baseline.enabled", false.into());
    set(&mut config, "validation.enabled", false.into());
    for phase in config["phases"].as_array_mut().unwrap() {
        phase.as_table_mut().unwrap().insert("epochs".into(), 1.into());
    }
    toml::to_string(&config).unwrap()
}

/// Sets `path` (dotted) in `config`, creating the tables on the way.
fn set(config: &mut toml::Table, path: &str, value: toml::Value) {
    let (parents, key) = path.rsplit_once('.').unwrap_or(("", path));
    let mut table = config;
    for part in parents.split('.').filter(|p| !p.is_empty()) {
        table =
            table.entry(part).or_insert_with(|| toml::Table::new().into()).as_table_mut().unwrap();
    }
    table.insert(key.into(), value);
}

/// Runs the short pipeline on `device` into `dir/<device>`.
fn run_on(device: &str, dir: &Path) -> std::path::PathBuf {
    let config = dir.join(format!("{device}.toml"));
    let out = dir.join(device);
    std::fs::write(&config, short_config(device)).unwrap();
    stdout(&proard(&["run", "--config", config.to_str().unwrap(), "--out", out.to_str().unwrap()]));
    out
}

fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance * (1.0 + a.abs())
}

#[test]
fn the_pipeline_on_wgpu_matches_the_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let cpu = run_on("cpu", dir.path());
    let gpu = run_on("wgpu", dir.path());

    for stage in ["teacher", "phases/1-width", "phases/2-depth", "phases/3-expand"] {
        let steps = |root: &Path| -> Vec<Value> {
            lines(&root.join(stage).join("log.jsonl"))
                .into_iter()
                .filter(|l| l["kind"] == "step")
                .collect()
        };
        let (on_cpu, on_gpu) = (steps(&cpu), steps(&gpu));
        assert!(!on_cpu.is_empty());
        assert_eq!(on_cpu.len(), on_gpu.len(), "{stage}: step counts");
        for (a, b) in on_cpu.iter().zip(&on_gpu) {
            assert_eq!((&a["epoch"], &a["step"], &a["lr"]), (&b["epoch"], &b["step"], &b["lr"]));
            let (a_loss, b_loss) = (a["loss"].as_f64().unwrap(), b["loss"].as_f64().unwrap());
            assert!(
                close(a_loss, b_loss, LOSS_TOLERANCE),
                "{stage} step {}: loss {a_loss} on the CPU, {b_loss} on wgpu",
                a["step"]
            );
        }
    }

    let sorted = |root: &Path| {
        let mut records = lines(&root.join("students.jsonl"));
        records.sort_by_key(|r| r["index"].as_u64());
        records
    };
    let (on_cpu, on_gpu) = (sorted(&cpu), sorted(&gpu));
    assert_eq!(on_cpu.len(), STUDENTS);
    assert_eq!(on_cpu.len(), on_gpu.len());
    for (a, b) in on_cpu.iter().zip(&on_gpu) {
        assert_eq!((&a["arch"], &a["macs"]), (&b["arch"], &b["macs"]));
        for metric in ["clean", "fgsm", "pgd20"] {
            let (x, y) = (a[metric].as_f64().unwrap(), b[metric].as_f64().unwrap());
            assert!(
                (x - y).abs() <= ACCURACY_TOLERANCE + 1e-9,
                "student {}: {metric} {x} on the CPU, {y} on wgpu",
                a["index"]
            );
        }
    }
}

#[test]
fn the_predictor_and_search_on_wgpu_match_the_cpu() {
    let space = proard_shared::preset::preset("resnet-mini").unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Records from a smooth function of the cost: bigger students more accurate, less robust.
    let mut rng = seeded_rng(5);
    let mut text = String::new();
    for _ in 0..300 {
        let arch = space.sample_arch(&mut rng);
        let gmacs = space.subnet(&arch).unwrap().cost().macs as f64 / 1e9;
        let record = serde_json::json!({
            "arch": arch, "clean": 0.5 + 0.3 * gmacs, "pgd20": 0.4 - 0.1 * gmacs,
        });
        text.push_str(&format!("{record}\n"));
    }
    let records = dir.path().join("students.jsonl");
    std::fs::write(&records, text).unwrap();

    let fit_and_search = |device: &str| -> (Value, Vec<Value>) {
        let predictor = dir.path().join(format!("{device}.safetensors"));
        let report = stdout(&proard(&[
            "predictor",
            "fit",
            "--space",
            "resnet-mini",
            "--records",
            records.to_str().unwrap(),
            "--out",
            predictor.to_str().unwrap(),
            "--epochs",
            "5",
            "--device",
            device,
            "--json",
        ]));
        let front = stdout(&proard(&[
            "search",
            "--predictor",
            predictor.to_str().unwrap(),
            "--pop",
            "10",
            "--gens",
            "3",
            "--device",
            device,
            "--json",
        ]));
        (
            serde_json::from_str(&report).unwrap(),
            front.lines().map(|l| serde_json::from_str(l).unwrap()).collect(),
        )
    };
    let (cpu_report, cpu_front) = fit_and_search("cpu");
    let (gpu_report, gpu_front) = fit_and_search("wgpu");
    for field in ["rmse_acc", "rmse_rob", "train_rmse_acc", "train_rmse_rob"] {
        let (a, b) = (cpu_report[field].as_f64().unwrap(), gpu_report[field].as_f64().unwrap());
        assert!(close(a, b, PREDICTOR_TOLERANCE), "{field}: {a} on the CPU, {b} on wgpu");
    }
    assert_eq!(cpu_front.len(), gpu_front.len(), "front sizes");
    for (a, b) in cpu_front.iter().zip(&gpu_front) {
        assert_eq!(a["arch"], b["arch"], "the fronts hold the same students");
        for field in ["pred_acc", "pred_rob"] {
            let (x, y) = (a[field].as_f64().unwrap(), b[field].as_f64().unwrap());
            assert!(close(x, y, PREDICTOR_TOLERANCE), "{field}: {x} on the CPU, {y} on wgpu");
        }
    }
}

#[test]
fn a_gpu_backend_left_out_of_the_build_is_still_refused_clearly() {
    let message = support::failure(&["model", "check", "resnet-mini", "--device", "cuda"]);
    assert!(message.contains("built without cuda support"), "{message}");
}
