//! The `proard` binary as a user runs it.

mod support;

use serde_json::Value;
use support::{failure, proard, stdout};

#[test]
fn show_json_gives_exact_counts_and_ranges() {
    let json: Value =
        serde_json::from_str(&stdout(&proard(&["space", "show", "resnet50-cifar", "--json"])))
            .unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "name": "resnet50-cifar", "subnets": "2458914796962",
            "macs_min": 285_232_096u64, "macs_max": 2_358_013_952u64,
            "params_min": 5_223_570u64, "params_max": 46_077_482u64, "encoding_dim": 75
        })
    );
    let json: Value =
        serde_json::from_str(&stdout(&proard(&["space", "show", "mbv3-cifar", "--json"]))).unwrap();
    assert_eq!(json["subnets"], "21758655492572485851");
    assert_eq!(
        (json["macs_min"].as_u64(), json["macs_max"].as_u64()),
        (Some(35_293_824), Some(179_706_624))
    );
    assert_eq!(json["encoding_dim"], 121);
}

#[test]
fn show_reads_space_files_and_describes_every_stage() {
    let dir = tempfile::tempdir().unwrap();
    let preset_json = stdout(&proard(&["space", "show", "resnet-mini", "--json"]));
    let file = dir.path().join("mine.toml");
    std::fs::write(&file, proard_shared::preset::preset("resnet-mini").unwrap().to_toml()).unwrap();
    let from_file = stdout(&proard(&["space", "show", file.to_str().unwrap(), "--json"]));
    assert_eq!(from_file, preset_json);

    let text = stdout(&proard(&["space", "show", "resnet50-cifar"]));
    for expected in
        ["2 458 914 796 962", "285.2 M … 2358.0 M", "stage 4", "widths 1328/1640/2048", "75 dims"]
    {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
}

#[test]
fn sample_is_seeded_valid_and_costed() {
    let args = ["space", "sample", "mbv3-cifar", "--n", "20", "--seed", "3", "--json"];
    let first = stdout(&proard(&args));
    assert_eq!(first, stdout(&proard(&args)), "same seed, same archs");
    let other =
        stdout(&proard(&["space", "sample", "mbv3-cifar", "--n", "20", "--seed", "4", "--json"]));
    assert_ne!(first, other);

    let space = proard_shared::preset::preset("mbv3-cifar").unwrap();
    let lines: Vec<&str> = first.lines().collect();
    assert_eq!(lines.len(), 20);
    for line in lines {
        let record: proard_shared::api::SampledArch = serde_json::from_str(line).unwrap();
        let cost = space.subnet(&record.arch).expect("a valid arch").cost();
        assert_eq!((record.macs, record.params), (cost.macs, cost.params));
        assert!((35_293_824..=179_706_624).contains(&record.macs));
    }
}

#[test]
fn bad_input_gets_one_clear_message() {
    let message = failure(&["space", "show", "resnet18"]);
    assert!(
        message.contains("unknown space `resnet18`") && message.contains("mbv3-cifar"),
        "{message}"
    );

    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, body: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let malformed = write("broken.toml", "family = \"resnet\"\nname = [\n");
    let message = failure(&["space", "show", &malformed]);
    assert!(message.contains("broken.toml: not a valid space description"), "{message}");

    let valid = proard_shared::preset::preset("mbv3-mini").unwrap().to_toml();
    let empty_list =
        write("empty.toml", &valid.replacen("kernel_sizes = [3, 5, 7]", "kernel_sizes = []", 1));
    let message = failure(&["space", "sample", &empty_list, "--n", "2"]);
    assert!(
        message.contains("empty.toml: stages[0].kernel_sizes: choice list must not be empty"),
        "{message}"
    );

    let wrong_extension = write("space.yaml", "family: resnet");
    let message = failure(&["space", "show", &wrong_extension]);
    assert!(message.contains("unsupported extension"), "{message}");
}

#[test]
fn model_check_reports_an_exact_export_and_executed_macs() {
    for space in ["resnet-mini", "mbv3-mini"] {
        let out = stdout(&proard(&[
            "model", "check", space, "--arch", "random", "--seed", "5", "--batch", "2", "--json",
        ]));
        let check: Value = serde_json::from_str(&out).unwrap();
        assert!(check["max_abs_diff"].as_f64().unwrap() <= 1e-5, "{out}");
        assert_eq!(check["macs_executed"], check["macs_analytic"], "{out}");
        assert_eq!(check["params"], check["params_analytic"], "{out}");
        assert_eq!(check["seed"], 5);
    }
}

#[test]
fn model_commands_reject_bad_archs_and_missing_backends() {
    let message = failure(&["model", "check", "mbv3-mini", "--arch", r#"{"ks":[3]}"#]);
    assert!(
        message.contains("--arch must be largest, smallest, random or an arch as JSON"),
        "{message}"
    );
    let message = failure(&[
        "model",
        "check",
        "resnet-mini",
        "--arch",
        r#"{"d":[0,0,0,0],"e":[0.2],"w":[0,0,0,0,0]}"#,
    ]);
    assert!(message.contains("e: expected 9 values"), "{message}");
    if !cfg!(feature = "wgpu") {
        let message = failure(&["model", "check", "resnet-mini", "--device", "wgpu"]);
        assert!(message.contains("built without wgpu support"), "{message}");
    }
}

#[test]
fn predictor_fit_then_search_under_a_budget() {
    use proard_shared::genome::seeded_rng;
    let space = proard_shared::preset::preset("mbv3-mini").unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Records from a known smooth function: bigger subnets are more accurate, less robust.
    let mut rng = seeded_rng(4);
    let mut lines = String::new();
    for _ in 0..300 {
        let arch = space.sample_arch(&mut rng);
        let mmacs = space.subnet(&arch).unwrap().cost().macs as f64 / 1e6;
        let record = serde_json::json!({
            "arch": arch, "macs": mmacs, "clean": 0.3 + 0.02 * mmacs, "pgd20": 0.5 - 0.01 * mmacs, "fgsm": 0.4,
        });
        lines.push_str(&format!("{record}\n"));
    }
    let records = dir.path().join("students.jsonl");
    std::fs::write(&records, lines).unwrap();
    let predictor = dir.path().join("predictor.safetensors");
    let out = stdout(&proard(&[
        "predictor",
        "fit",
        "--space",
        "mbv3-mini",
        "--records",
        records.to_str().unwrap(),
        "--out",
        predictor.to_str().unwrap(),
        "--epochs",
        "300",
        "--json",
    ]));
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((report["n_train"].as_u64(), report["n_test"].as_u64()), (Some(240), Some(60)));
    // Targets vary by ±0.17 around their mean (std ≈ 0.06): the fit must explain most of it.
    assert!(
        report["rmse_acc"].as_f64().unwrap() < 0.02 && report["rmse_rob"].as_f64().unwrap() < 0.02,
        "{out}"
    );

    let searched = proard(&[
        "search",
        "--predictor",
        predictor.to_str().unwrap(),
        "--max-mmacs",
        "8",
        "--pop",
        "20",
        "--gens",
        "10",
        "--json",
    ]);
    let front = stdout(&searched);
    // What it did, on stderr: the JSON lines stay clean.
    let summary = String::from_utf8_lossy(&searched.stderr);
    assert!(summary.contains("11 generations") && summary.contains("archs scored"), "{summary}");
    let members: Vec<Value> = front.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(!members.is_empty());
    for m in &members {
        assert!(m["macs"].as_u64().unwrap() <= 8_000_000, "{m}");
        assert!(m["pred_acc"].is_number() && m["pred_rob"].is_number());
        let arch = proard_shared::Arch::from_json(&space, &m["arch"].to_string()).unwrap();
        assert_eq!(m["macs"].as_u64().unwrap(), space.subnet(&arch).unwrap().cost().macs);
    }

    // Members are distinct active archs, and a budget nothing fits is said, not answered.
    let encodings: std::collections::BTreeSet<String> = members
        .iter()
        .map(|m| {
            let arch = proard_shared::Arch::from_json(&space, &m["arch"].to_string()).unwrap();
            format!("{:?}", space.encode(&arch).unwrap())
        })
        .collect();
    assert_eq!(encodings.len(), members.len());
    let message =
        failure(&["search", "--predictor", predictor.to_str().unwrap(), "--max-mmacs", "1"]);
    assert!(message.contains("below the space's smallest arch"), "{message}");

    let message = failure(&["search", "--predictor", records.to_str().unwrap()]);
    assert!(message.contains("is not a predictor file"), "{message}");
    std::fs::write(&records, "{\"arch\": 1}\n").unwrap();
    let message = failure(&[
        "predictor",
        "fit",
        "--space",
        "mbv3-mini",
        "--records",
        records.to_str().unwrap(),
        "--out",
        predictor.to_str().unwrap(),
    ]);
    assert!(message.contains("students.jsonl line 1: not a student record"), "{message}");
}

#[test]
fn attack_selftest_reports_every_attack_at_every_epsilon() {
    let out = stdout(&proard(&["attack", "selftest", "--steps", "40", "--images", "32", "--json"]));
    let report: Value = serde_json::from_str(&out).unwrap();
    let clean = report["clean"].as_f64().unwrap();
    for attack in ["fgsm", "pgd20", "cw", "apgd_ce"] {
        let row = report["attacks"][attack]
            .as_object()
            .unwrap_or_else(|| panic!("{attack} missing: {out}"));
        let keys: Vec<&str> = row.keys().map(String::as_str).collect();
        assert_eq!(keys, ["0", "0.00784", "0.01569", "0.03137"], "{attack}");
        assert_eq!(row["0"].as_f64().unwrap(), clean, "{attack}: ε = 0 is clean accuracy");
        assert!(row.values().all(|a| (0.0..=1.0).contains(&a.as_f64().unwrap())));
    }
    assert_eq!(report["settings"]["budget"]["steps"], 40);
    assert_eq!(report["settings"]["attacks"].as_array().unwrap().len(), 16);
}

#[test]
fn bench_reports_every_throughput_with_its_settings() {
    for space in ["resnet-mini", "mbv3-mini"] {
        bench_reports_on(space);
    }
    // Counts of zero are named, not a panic.
    for (flag, message) in [
        ("--batch", "--batch must be at least 1"),
        ("--steps", "--steps must be at least 1"),
        ("--student-images", "--student-images must be at least 1"),
    ] {
        let stderr = failure(&["bench", "--space", "resnet-mini", flag, "0"]);
        assert!(stderr.contains(message), "{stderr}");
    }
}

fn bench_reports_on(space: &str) {
    let args = [
        "bench",
        "--space",
        space,
        "--batch",
        "4",
        "--steps",
        "1",
        "--student-images",
        "8",
        "--calibration-images",
        "8",
        "--json",
    ];
    let json: Value = serde_json::from_str(&stdout(&proard(&args))).unwrap();
    for key in ["trades_step_img_s", "rslad_step_img_s", "pgd20_eval_img_s", "student_eval_seconds"]
    {
        let value = json[key].as_f64().unwrap_or_else(|| panic!("{key} missing: {json}"));
        assert!(value > 0.0 && value.is_finite(), "{key} = {value}");
    }
    assert_eq!(json["settings"]["student_images"], 8);
    assert_eq!(json["space"], space);
    // Cores busy: positive, and no more than the machine has.
    let cores = std::thread::available_parallelism().unwrap().get() as f64;
    let busy = |v: &Value| v.as_f64().unwrap_or_else(|| panic!("no utilisation: {json}"));
    let by_measurement = &json["cpu_utilisation_by_measurement"];
    for value in ["trades_step", "rslad_step", "pgd20_eval", "student_eval"]
        .map(|k| busy(&by_measurement[k]))
        .into_iter()
        .chain([busy(&json["cpu_utilisation"])])
    {
        // A little over the core count: CPU time is sampled, not exact.
        assert!(value > 0.0 && value <= cores * 1.1, "{value} cores busy: {json}");
    }
}

#[test]
fn token_is_created_once_in_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = ["token", "--data-dir", data.to_str().unwrap()];
    let token = stdout(&proard(&args)).trim().to_owned();
    assert_eq!(token.len(), 64);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(stdout(&proard(&args)).trim(), token);
    assert_eq!(std::fs::read_to_string(data.join("token")).unwrap(), token);
}
