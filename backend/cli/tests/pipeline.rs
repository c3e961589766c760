//! The ProARD pipeline end to end through the `proard` binary: a tiny space on a small synthetic
//! split, killed (SIGKILL) in the middle of a phase and in the middle of student evaluation,
//! resumed each time; then every artefact is checked — no step or record lost or repeated.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{failure, proard, stdout};

/// Tiny everything: 256 training images in batches of 64 (4 steps per epoch), 2-step attacks.
const CONFIG: &str = include_str!("support/tiny.toml");

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}: {l}", path.display())))
        .collect()
}

fn spawn(config: &Path, out: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_proard"))
        .args(["run", "--config", config.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("proard starts")
}

/// Waits until `ready` holds, then SIGKILLs the run (Child::kill sends SIGKILL on Unix).
fn kill_when(mut child: Child, what: &str, ready: impl Fn() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before {what}");
        assert!(started.elapsed() < Duration::from_secs(600), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

fn step_lines(log: &[Value]) -> Vec<u64> {
    log.iter().filter(|l| l["kind"] == "step").map(|l| l["step"].as_u64().unwrap()).collect()
}

/// Every stage's log holds steps 0..total once each, and one epoch line per epoch, validated
/// after every second epoch and the last.
fn check_stage(dir: &Path, epochs: usize, steps_per_epoch: usize) {
    let log = lines(&dir.join("log.jsonl"));
    let total = epochs * steps_per_epoch;
    assert_eq!(step_lines(&log), (0..total as u64).collect::<Vec<_>>(), "{}", dir.display());
    let epoch_lines: Vec<&Value> = log.iter().filter(|l| l["kind"] == "epoch").collect();
    assert_eq!(epoch_lines.len(), epochs, "{}", dir.display());
    for line in &epoch_lines {
        let epoch = line["epoch"].as_u64().unwrap() as usize;
        let grid = line["validation"].as_array().unwrap();
        assert_eq!(
            !grid.is_empty(),
            epoch.is_multiple_of(2) || epoch == epochs,
            "{}: {line}",
            dir.display()
        );
        for grid in grid {
            for key in ["clean", "pgd20"] {
                let value = grid[key].as_f64().unwrap();
                assert!((0.0..=1.0).contains(&value), "{key} = {value}");
            }
        }
        assert!(line["mean_loss"].as_f64().unwrap().is_finite());
    }
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("state.json")).unwrap()).unwrap();
    assert_eq!(state["finished"], true);
    assert_eq!(state["steps"], total);
    assert!(dir.join("supernet.safetensors").exists());
}

fn check_students(path: &Path, expected: usize) {
    let records = lines(path);
    let indices: BTreeSet<u64> = records.iter().map(|r| r["index"].as_u64().unwrap()).collect();
    assert_eq!(records.len(), expected, "{}", path.display());
    assert_eq!(indices.len(), expected, "{}: a record is duplicated", path.display());
    for record in &records {
        let (clean, fgsm, pgd20) = (
            record["clean"].as_f64().unwrap(),
            record["fgsm"].as_f64().unwrap(),
            record["pgd20"].as_f64().unwrap(),
        );
        for value in [clean, fgsm, pgd20] {
            assert!((0.0..=1.0).contains(&value), "{record}");
        }
        assert!(pgd20 <= clean, "PGD-20 above clean: {record}");
        assert!(record["macs"].as_u64().unwrap() > 0 && record["params"].as_u64().unwrap() > 0);
        assert!(!record["encoding"].as_array().unwrap().is_empty());
        let settings = &record["settings"];
        assert_eq!(settings["pgd20"]["steps"], 20);
        assert_eq!(settings["test_images"], 48);
        assert_eq!(settings["calibration_images"], 64);
    }
}

#[test]
fn the_pipeline_survives_sigkill_and_leaves_complete_artefacts() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("exp.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let out: PathBuf = dir.path().join("run");

    // Killed in the middle of the width phase (after its second step).
    let width_log = out.join("phases/1-width/log.jsonl");
    kill_when(spawn(&config, &out), "the width phase", || {
        step_lines(&lines(&width_log)).len() >= 3
    });
    // The checkpoint keeps how long the interrupted epoch had run, and the resumed epoch's line
    // counts that time too.
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("phases/1-width/state.json")).unwrap(),
    )
    .unwrap();
    let interrupted = (state["step_in_epoch"].as_u64().unwrap() > 0).then(|| {
        let seconds = state["epoch_seconds"].as_f64().unwrap();
        assert!(seconds > 0.0, "{state}");
        (state["epoch"].as_u64().unwrap() + 1, seconds)
    });
    // Killed in the middle of the ProARD student evaluation.
    let students = out.join("students.jsonl");
    kill_when(spawn(&config, &out), "student evaluation", || lines(&students).len() >= 2);
    // Resumed to the end.
    let run =
        proard(&["run", "--config", config.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    stdout(&run);

    check_stage(&out.join("teacher"), 3, 4);
    check_stage(&out.join("phases/1-width"), 2, 4);
    if let Some((epoch, before_kill)) = interrupted {
        let line = lines(&width_log)
            .into_iter()
            .find(|l| l["kind"] == "epoch" && l["epoch"] == epoch)
            .unwrap();
        assert!(line["seconds"].as_f64().unwrap() >= before_kill, "{line} after {before_kill} s");
    }
    check_stage(&out.join("phases/2-depth"), 1, 4);
    check_stage(&out.join("phases/3-expand"), 1, 4);
    // Baseline: the phases' 2·1 + 1·2 + 1·2 = 6 subnet-epochs, at 2 subnets per step → 3 epochs.
    check_stage(&out.join("baseline/train"), 3, 4);
    for file in ["supernet.safetensors", "baseline/supernet.safetensors", "config.toml"] {
        assert!(out.join(file).exists(), "{file}");
    }
    // The teacher trained without dropout, every supernet stage with the reference's 0.1.
    for (file, dropout) in [
        ("teacher/supernet.safetensors", 0.0),
        ("phases/1-width/supernet.safetensors", 0.1),
        ("supernet.safetensors", 0.1),
        ("baseline/supernet.safetensors", 0.1),
    ] {
        let metadata = proard_core::model::weights::read_metadata(&out.join(file)).unwrap();
        let config: Value = serde_json::from_str(&metadata["proard.net_config"]).unwrap();
        assert_eq!(config["dropout"].as_f64(), Some(dropout), "{file}");
    }
    check_students(&students, 6);
    check_students(&out.join("baseline/students.jsonl"), 6);
    // The teacher is evaluated as a student (same images, same attacks): the largest arch.
    let teacher_evaluation = out.join("teacher/evaluation.jsonl");
    check_students(&teacher_evaluation, 1);
    let teacher = &lines(&teacher_evaluation)[0];
    for student in lines(&students) {
        assert!(student["macs"].as_u64() <= teacher["macs"].as_u64(), "{student}");
        assert_eq!(student["settings"], teacher["settings"]);
    }

    // Running again finds everything done and changes nothing.
    let before = std::fs::read(&students).unwrap();
    let teacher_before = std::fs::read(&teacher_evaluation).unwrap();
    stdout(&proard(&["run", "--config", config.to_str().unwrap(), "--out", out.to_str().unwrap()]));
    assert_eq!(std::fs::read(&students).unwrap(), before);
    assert_eq!(std::fs::read(&teacher_evaluation).unwrap(), teacher_before);

    // A shard evaluates its share into its own file; the predictor reads the records.
    let (config_arg, out_arg) = (config.to_str().unwrap(), out.to_str().unwrap());
    let eval_shard = |shard: &str| {
        stdout(&proard(&["eval", "--config", config_arg, "--out", out_arg, "--shard", shard]))
    };
    eval_shard("1/2");
    let shard = lines(&out.join("students.shard-1-of-2.jsonl"));
    assert_eq!(shard.iter().map(|r| r["index"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 3, 5]);
    let same: Vec<Value> =
        lines(&students).into_iter().filter(|r| r["index"].as_u64().unwrap() % 2 == 1).collect();
    assert_eq!(shard, same, "a shard computes exactly what the whole run computed");
    // Finished stages are only read: another process's claim on one does not stop this one.
    let held = proard_core::experiment::lock::OutputLock::acquire(
        &out.join("teacher").join("lock"),
        "the teacher",
    )
    .unwrap();
    eval_shard("1/2");
    drop(held);

    // The report reads it all back: every stage, both clouds, shard records counted once.
    let report: Value =
        serde_json::from_str(&stdout(&proard(&["report", out.to_str().unwrap(), "--json"])))
            .unwrap();
    let stages: Vec<(&str, u64, bool)> = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["steps"].as_u64().unwrap(), s["finished"] == true))
        .collect();
    assert_eq!(
        stages,
        [
            ("teacher", 12, true),
            ("phase-1-width", 8, true),
            ("phase-2-depth", 4, true),
            ("phase-3-expand", 4, true),
            ("baseline", 12, true)
        ]
    );
    let records = lines(&students);
    let best = records.iter().map(|r| r["pgd20"].as_f64().unwrap()).fold(0.0, f64::max);
    let clouds = report["clouds"].as_array().unwrap();
    assert_eq!(clouds.len(), 2);
    assert_eq!(
        (clouds[0]["label"].as_str(), clouds[0]["students"].as_u64()),
        (Some("ProARD"), Some(6))
    );
    assert_eq!(clouds[0]["pgd20"]["max"].as_f64().unwrap(), best);
    assert_eq!(
        (clouds[1]["label"].as_str(), clouds[1]["students"].as_u64()),
        (Some("baseline"), Some(6))
    );
    let front = clouds[0]["front"].as_array().unwrap();
    for pair in front.windows(2) {
        assert!(pair[0]["macs"].as_u64() < pair[1]["macs"].as_u64(), "{pair:?}");
        assert!(pair[0]["pgd20"].as_f64() < pair[1]["pgd20"].as_f64(), "{pair:?}");
    }
    // Both clouds evaluate one seeded arch sample, so every student is paired.
    assert_eq!(report["paired"]["archs"].as_u64(), Some(6));
    let difference = &report["paired"]["pgd20"];
    assert!(difference["higher"].as_u64().unwrap() + difference["lower"].as_u64().unwrap() <= 6);
    assert_eq!(&report["teacher"], teacher);
    let text = stdout(&proard(&["report", out.to_str().unwrap()]));
    assert!(text.contains("phase-3-expand") && text.contains("baseline") && text.contains("front"));
    assert!(text.contains("teacher") && text.contains("largest arch"), "{text}");
    assert!(text.contains("on the same 6 archs"), "{text}");
    assert!(failure(&["report", dir.path().to_str().unwrap()]).contains("no proard run"));

    // A student taken home: exported from its record and verified on the run's images with the
    // run's attacks, it measures exactly what its record says.
    let student = dir.path().join("student-0.safetensors");
    let export = |arch: &str, supernet: &str, path: &Path| {
        proard(
            &["export", "--run", out_arg, "--arch", arch, "--supernet", supernet, "--out"]
                .into_iter()
                .chain([path.to_str().unwrap()])
                .collect::<Vec<_>>(),
        )
    };
    let exported = export("0", "proard", &student);
    assert!(exported.status.success(), "{}", String::from_utf8_lossy(&exported.stderr));
    let verify_run = |path: &Path, extra: &[&str]| -> Value {
        let mut args = vec!["verify", path.to_str().unwrap(), "--run", out_arg, "--json"];
        args.extend(extra);
        serde_json::from_str(&stdout(&proard(&args))).unwrap()
    };
    let verified = verify_run(&student, &["--attacks", "fgsm,pgd20"]);
    let record = records.iter().find(|r| r["index"] == 0).unwrap();
    for field in ["clean", "fgsm", "pgd20"] {
        assert_eq!(verified[field], record[field], "{field}: {verified} vs {record}");
    }
    assert_eq!(verified["images"], 48);
    // Counting an image as broken when any iterate fooled it can only report less robustness,
    // and says so in its name.
    let any = verify_run(&student, &["--attacks", "pgd20", "--iterate", "any-fooling"]);
    assert!(any["pgd20"].as_f64() <= record["pgd20"].as_f64(), "{any}");
    assert_eq!(any["rows"][0]["label"], "PGD-20 (any iterate)");
    let mut pgd20 = verified["rows"][1]["settings"].clone();
    assert_eq!(pgd20["attack"], "pgd");
    pgd20.as_object_mut().unwrap().remove("attack");
    assert_eq!(pgd20, record["settings"]["pgd20"]);
    // The baseline's students too, and the file says how it was calibrated.
    let baseline_student = dir.path().join("baseline-3.safetensors");
    assert!(export("3", "baseline", &baseline_student).status.success());
    let baseline_record =
        lines(&out.join("baseline/students.jsonl")).into_iter().find(|r| r["index"] == 3).unwrap();
    let verified = verify_run(&baseline_student, &["--attacks", "pgd20"]);
    assert_eq!(verified["pgd20"], baseline_record["pgd20"]);
    assert_eq!(verified["fgsm"], Value::Null);
    let metadata = proard_core::model::weights::read_metadata(&baseline_student).unwrap();
    let info: Value = serde_json::from_str(&metadata["proard.export"]).unwrap();
    assert_eq!(
        (info["cloud"].as_str(), info["calibration_images"].as_u64()),
        (Some("baseline"), Some(64))
    );
    assert_eq!(info["record"]["index"], 3);
    // Every attack with its flags, on the synthetic test split.
    let full: Value = serde_json::from_str(&stdout(&proard(&[
        "verify",
        student.to_str().unwrap(),
        "--data",
        "synthetic",
        "--images",
        "32",
        "--apgd-iterations",
        "5",
        "--json",
    ])))
    .unwrap();
    let names: Vec<&str> =
        full["rows"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["fgsm", "pgd20", "cw", "apgd-ce", "apgd-t", "autoattack"]);
    assert_eq!(full["images"], 32);
    assert!(full["worst"].as_f64() <= full["pgd20"].as_f64(), "{full}");
    assert!(full["flags"].is_array() && full["pgd20_double_epsilon"].is_number(), "{full}");
    let table = stdout(&proard(&[
        "verify",
        student.to_str().unwrap(),
        "--data",
        "synthetic",
        "--images",
        "16",
        "--attacks",
        "fgsm,pgd20,apgd-t",
        "--apgd-iterations",
        "5",
    ]));
    assert!(
        table.contains("PGD-20") && table.contains("APGD-T") && table.contains("16 test images"),
        "{table}"
    );
    // Bad requests say what is wrong.
    let error =
        failure(&["export", "--run", out_arg, "--arch", "99", "--out", "/tmp/never.safetensors"]);
    assert!(
        error.contains("no proard student record has index 99") && error.contains("0–5"),
        "{error}"
    );
    let error = failure(&[
        "export",
        "--run",
        out_arg,
        "--arch",
        "{\"d\": [9]}",
        "--out",
        "/tmp/never.safetensors",
    ]);
    assert!(error.contains("neither a record index"), "{error}");
    let error =
        failure(&["verify", student.to_str().unwrap(), "--data", "synthetic", "--attacks", "pgd7"]);
    assert!(error.contains("`pgd7` is not an attack"), "{error}");

    // Two shards side by side share the finished stages and restore the run's copies.
    for copy in ["supernet.safetensors", "baseline/supernet.safetensors"] {
        std::fs::remove_file(out.join(copy)).unwrap();
    }
    let shards: Vec<Child> = ["0/2", "1/2"]
        .iter()
        .map(|shard| {
            Command::new(env!("CARGO_BIN_EXE_proard"))
                .args(["eval", "--config", config.to_str().unwrap(), "--out"])
                .args([out.to_str().unwrap(), "--shard", shard])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("proard starts")
        })
        .collect();
    for shard in shards {
        let output = shard.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    assert_eq!(lines(&out.join("students.shard-0-of-2.jsonl")).len(), 3);
    for copy in ["supernet.safetensors", "baseline/supernet.safetensors"] {
        assert!(out.join(copy).exists(), "{copy}");
    }

    // A different config cannot be resumed into this directory.
    let other = dir.path().join("other.toml");
    std::fs::write(&other, CONFIG.replace("seed = 7", "seed = 8")).unwrap();
    let error =
        failure(&["run", "--config", other.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(error.contains("different config"), "{error}");
}

#[test]
fn a_diverging_run_stops_naming_the_stage_and_step() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("exp.toml");
    std::fs::write(&config, CONFIG.replace("learning_rate = 0.01", "learning_rate = 1e30"))
        .unwrap();
    let out = dir.path().join("run");
    let run =
        proard(&["run", "--config", config.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let error = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && !error.contains("panicked"), "{error}");
    assert!(error.contains("error: stage `phase-1-width`: the loss became"), "{error}");
    assert!(error.contains("at epoch 1, step"), "{error}");
    // The teacher's finished checkpoint is untouched; the phase never reached a finished state.
    let teacher: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("teacher/state.json")).unwrap())
            .unwrap();
    assert_eq!(teacher["finished"], true);
    if let Ok(state) = std::fs::read_to_string(out.join("phases/1-width/state.json")) {
        let state: Value = serde_json::from_str(&state).unwrap();
        assert_eq!(state["finished"], false);
    }
}

#[test]
fn a_stage_another_process_is_writing_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("exp.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let out = dir.path().join("run");
    let held = proard_core::experiment::lock::OutputLock::acquire(
        &out.join("teacher").join("lock"),
        "the teacher",
    )
    .unwrap();
    let args = ["train", "teacher", "--config", config.to_str().unwrap()];
    let error = failure(&[&args[..], &["--out", out.to_str().unwrap()]].concat());
    assert!(
        error.contains("stage `teacher`") && error.contains("another proard process"),
        "{error}"
    );
    assert!(!out.join("teacher/log.jsonl").exists(), "the refused process wrote nothing");
    drop(held);
}

#[test]
fn configs_are_checked_and_config_init_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let out = dir.path().join("never");
    let out = out.to_str().unwrap();
    let typo =
        write("typo.toml", &CONFIG.replace("checkpoint_every_steps", "checkpoint_evry_steps"));
    assert!(failure(&["run", "--config", &typo, "--out", out]).contains("checkpoint_evry_steps"));
    let bad_choice =
        write("choice.toml", &CONFIG.replace("expand_ratios = \"all\"", "expand_ratios = [0.3]"));
    let error = failure(&["run", "--config", &bad_choice, "--out", out]);
    assert!(
        error.contains("phases[2].choices: phase `expand`") && error.contains("e[0]"),
        "{error}"
    );
    let space = write("space.toml", &CONFIG.replace("base_depth = 1", "base_dept = 1"));
    assert!(failure(&["run", "--config", &space, "--out", out]).contains("base_dept"));
    let version = write("version.toml", &CONFIG.replace("version = 1", "version = 9"));
    let never = write("never.toml", &CONFIG.replace("every_epochs = 2", "every_epochs = 0"));
    assert!(
        failure(&["run", "--config", &never, "--out", out]).contains("validation.every_epochs")
    );
    assert!(failure(&["run", "--config", &version, "--out", out]).contains("version"));
    let clean =
        write("clean.toml", &format!("{CONFIG}\n[clean_teacher]\nepochs = 0\nwarmup_epochs = 0\n"));
    assert!(failure(&["run", "--config", &clean, "--out", out]).contains("clean_teacher.epochs"));
    assert!(failure(&["run", "--config", "/no/such.toml", "--out", out]).contains("/no/such.toml"));

    // Dropout is per stage (the reference's: none for the teacher, 0.1 in supernet training);
    // a config from before keeps its one `network.dropout` for every stage.
    let parsed = proard_core::experiment::ExperimentConfig::from_toml(CONFIG, "tiny").unwrap();
    assert_eq!((parsed.teacher_dropout(), parsed.supernet_dropout()), (0.0, 0.1));
    let older = CONFIG.replace("[data_limits]", "[network]\ndropout = 0.0\n\n[data_limits]");
    let parsed = proard_core::experiment::ExperimentConfig::from_toml(&older, "older").unwrap();
    assert_eq!((parsed.teacher_dropout(), parsed.supernet_dropout()), (0.0, 0.0));
    assert!(
        parsed.to_toml().contains("dropout = 0.0"),
        "an older config is written back as it was"
    );
    let rate = write(
        "rate.toml",
        &CONFIG
            .replace("[supernet.optimizer]", "[supernet.optimizer]\n")
            .replace("[supernet]\n", "[supernet]\ndropout = 1.5\n"),
    );
    assert!(failure(&["run", "--config", &rate, "--out", out]).contains("supernet.dropout"));

    for preset in ["resnet50-cifar", "mbv3-mini"] {
        let text = stdout(&proard(&["config", "init", "--preset", preset]));
        assert!(text.starts_with("# ProARD experiment"));
        let parsed = proard_core::experiment::ExperimentConfig::from_toml(&text, "init").unwrap();
        assert_eq!(parsed.phases.len(), 5);
        assert_eq!(parsed.teacher.objective.name(), "trades");
        assert_eq!(parsed.supernet.objective.name(), "rslad");
    }
    // The documented CIFAR measurements stay valid configs, each with its one ε throughout.
    for (name, epsilon) in [("cifar-mini.toml", 0.031), ("cifar-mini-eps4.toml", 0.0157)] {
        let documented =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/measurements").join(name);
        let text = std::fs::read_to_string(&documented).unwrap();
        let parsed = proard_core::experiment::ExperimentConfig::from_toml(&text, name).unwrap();
        parsed.validate().unwrap();
        assert_eq!(parsed.phases.len(), 5, "{name}");
        assert_eq!(parsed.validation.attack.epsilon, epsilon, "{name}");
        assert_eq!(parsed.evaluation.fgsm.epsilon, epsilon, "{name}");
        assert_eq!(parsed.evaluation.pgd20.epsilon, epsilon, "{name}");
        assert_eq!(parsed.evaluation.pgd20.steps, 20, "{name}");
    }
}

/// CIARD in the pipeline: a clean teacher trained beside the robust one, and the robust teacher
/// retrained (ITT) by each phase and handed on to the next; a run killed in the middle of a
/// phase resumes to exactly the losses of one that was not.
#[test]
fn ciard_trains_a_clean_teacher_and_retrains_the_robust_one_resuming_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let rslad = r#"objective = { method = "rslad", attack = { steps = 2, epsilon = 0.031, step_size = 0.02 } }"#;
    let ciard = r#"objective = { method = "ciard", teacher_start_epoch = 0, teacher_learning_rate = 0.01, attack = { steps = 2, epsilon = 0.031, step_size = 0.02 } }"#;
    assert!(CONFIG.contains(rslad));
    let text = CONFIG.replace(rslad, ciard)
        + "\n[clean_teacher]\nepochs = 1\nwarmup_epochs = 0\nlearning_rate = 0.05\noptimizer = { batch = 64 }\n";
    let config = dir.path().join("ciard.toml");
    std::fs::write(&config, &text).unwrap();
    let train = |out: &Path| {
        Command::new(env!("CARGO_BIN_EXE_proard"))
            .args(["train", "supernet", "--config", config.to_str().unwrap(), "--out"])
            .arg(out)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("proard starts")
    };
    let finish = |child: Child| {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    };
    let (whole, killed) = (dir.path().join("whole"), dir.path().join("killed"));
    finish(train(&whole));
    let depth_log = killed.join("phases/2-depth/log.jsonl");
    kill_when(train(&killed), "the depth phase", || step_lines(&lines(&depth_log)).len() >= 3);
    finish(train(&killed));

    check_stage(&whole.join("clean-teacher"), 1, 4);
    for stage in ["teacher", "clean-teacher", "phases/1-width", "phases/2-depth", "phases/3-expand"]
    {
        let losses = |run: &Path| -> Vec<(u64, f64)> {
            lines(&run.join(stage).join("log.jsonl"))
                .iter()
                .filter(|l| l["kind"] == "step")
                .map(|l| (l["step"].as_u64().unwrap(), l["loss"].as_f64().unwrap()))
                .collect()
        };
        assert!(!losses(&whole).is_empty(), "{stage}");
        assert_eq!(losses(&killed), losses(&whole), "{stage}: resumed = uninterrupted");
    }
    // Each phase leaves the teacher it retrained, and it is not the teacher it started from.
    let tensors = |path: PathBuf| {
        let supernet =
            proard_core::model::weights::load_supernet(&path, &burn::prelude::Device::flex())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        proard_core::model::weights::named_tensors(&supernet.network)
    };
    let robust = tensors(whole.join("teacher/supernet.safetensors"));
    let width = tensors(whole.join("phases/1-width/teacher.safetensors"));
    let depth = tensors(whole.join("phases/2-depth/teacher.safetensors"));
    assert!(width != robust, "ITT changed the robust teacher");
    assert!(depth != width, "the depth phase retrained the width phase's teacher further");
    let expand = |run: &Path| tensors(run.join("phases/3-expand/teacher.safetensors"));
    assert!(expand(&killed) == expand(&whole), "the resumed run's teacher is the same");
}
