//! Experiments through the durable queue with real `proard worker` and `proard serve`
//! processes on a real SQLite store: the records equal those of `proard run`, workers and the
//! server killed with SIGKILL lose and duplicate nothing, cancel and resume, two workers share
//! the evaluation, failures say what went wrong.

mod support;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use proard_core::experiment::journal::read_records;
use proard_core::experiment::report::student_records;
use proard_core::experiment::students::StudentRecord;
use proard_core::experiment::train::LogLine;
use proard_core::experiment::{Cloud, ExperimentConfig, RunLayout, stages};
use proard_server::store::experiments::{Experiment, NewExperiment, Status};
use proard_server::store::metrics::StepRow;
use proard_server::store::students::StudentQuery;
use proard_server::store::{Store, sqlite_url};
use proard_shared::api::{NewPredictor, NewVerification};
use support::{failure, proard, stdout};

const CONFIG: &str = include_str!("support/tiny.toml");

/// A data directory with its SQLite store, and a runtime to query it from plain tests.
struct Studio {
    dir: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
    store: Store,
    workers: std::cell::Cell<usize>,
}

impl Studio {
    fn new() -> Studio {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let store = runtime.block_on(Store::open(&sqlite_url(dir.path()))).unwrap();
        Studio { dir, runtime, store, workers: 0.into() }
    }

    fn data(&self) -> &Path {
        self.dir.path()
    }

    fn url(&self) -> String {
        sqlite_url(self.data())
    }

    fn create(&self, config: &str, shards: usize) -> i64 {
        let config = ExperimentConfig::from_toml(config, "test config").unwrap();
        let new = NewExperiment {
            name: "test".into(),
            config,
            eval_shards: shards,
            tags: vec![],
            notes: String::new(),
        };
        self.runtime.block_on(self.store.create_experiment(&new)).unwrap().id
    }

    /// A `proard worker` process with a 2-second lease, logging to `DATA/worker-<n>.log`.
    fn worker(&self) -> Child {
        let n = self.workers.get();
        self.workers.set(n + 1);
        let log = File::create(self.data().join(format!("worker-{n}.log"))).unwrap();
        Command::new(env!("CARGO_BIN_EXE_proard"))
            .args([
                "worker",
                "--data-dir",
                self.data().to_str().unwrap(),
                "--database",
                &self.url(),
            ])
            .args(["--lease-seconds", "2", "--poll-ms", "100"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("proard worker starts")
    }

    fn experiment(&self, id: i64) -> Experiment {
        self.runtime.block_on(self.store.experiment(id)).unwrap()
    }

    fn steps(&self, id: i64, stage: &str) -> Vec<StepRow> {
        self.runtime.block_on(self.store.steps(id, stage, 0, 0)).unwrap()
    }

    fn students(&self, id: i64, cloud: Cloud) -> Vec<StudentRecord> {
        let query = StudentQuery { experiment: Some(id), cloud: Some(cloud), ..Default::default() };
        let students = self.runtime.block_on(self.store.students(&query)).unwrap();
        students.into_iter().map(|s| s.record).collect()
    }

    /// Waits until `ready` holds (at most ten minutes), printing the workers' logs on timeout.
    fn wait(&self, what: &str, ready: impl Fn() -> bool) {
        let started = Instant::now();
        while !ready() {
            if started.elapsed() > Duration::from_secs(600) {
                self.print_logs();
                panic!("timed out waiting for {what}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for `status`; an experiment that fails instead stops the test at once.
    fn wait_status(&self, id: i64, status: Status) {
        self.wait(&format!("experiment {id} to be {status:?}"), || {
            let now = self.experiment(id);
            if now.status == Status::Failed && status != Status::Failed {
                self.print_logs();
                let jobs = self.runtime.block_on(self.store.jobs(id)).unwrap();
                panic!("experiment {id} failed: {:?}\n{jobs:#?}", now.error);
            }
            now.status == status
        });
    }

    /// The workers' and the server's logs, for a failing test.
    fn print_logs(&self) {
        let mut logs: Vec<String> =
            (0..self.workers.get()).map(|n| format!("worker-{n}.log")).collect();
        logs.push("serve.log".into());
        for name in logs {
            let text = std::fs::read_to_string(self.data().join(&name)).unwrap_or_default();
            eprintln!("--- {name}\n{text}");
        }
    }

    fn layout(&self, id: i64) -> RunLayout {
        RunLayout::new(self.data().join(self.experiment(id).dir))
    }
}

fn kill(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

fn step_lines(path: &Path) -> Vec<(usize, f64, f64)> {
    read_records::<LogLine>(path)
        .unwrap()
        .into_iter()
        .filter_map(|line| match line {
            LogLine::Step { step, lr, loss, .. } => Some((step, lr, loss)),
            LogLine::Epoch { .. } => None,
        })
        .collect()
}

/// Every stage's steps in the store are its log's steps, each once, with the reference run's
/// values; every cloud's students are the reference run's records.
/// ProARD students the store holds for experiment `id`.
fn record_count(studio: &Studio, id: i64) -> usize {
    studio.students(id, Cloud::Proard).len()
}

fn check_against(studio: &Studio, id: i64, reference: &Path) {
    let config = ExperimentConfig::from_toml(CONFIG, "tiny").unwrap();
    let run = studio.layout(id);
    let reference = RunLayout::new(reference);
    for (stage, expected) in
        stages(&config, &run).unwrap().iter().zip(stages(&config, &reference).unwrap())
    {
        let stored: Vec<(usize, f64, f64)> =
            studio.steps(id, &stage.name).iter().map(|s| (s.step as usize, s.lr, s.loss)).collect();
        let logged = step_lines(&stage.layout.log());
        assert_eq!(stored, logged, "stage {}: the store holds its log", stage.name);
        let steps: Vec<usize> = stored.iter().map(|s| s.0).collect();
        assert_eq!(steps, (0..steps.len()).collect::<Vec<_>>(), "stage {}", stage.name);
        assert_eq!(logged, step_lines(&expected.layout.log()), "stage {} = proard run", stage.name);
    }
    for cloud in Cloud::ALL {
        let expected = student_records(&reference, cloud).unwrap();
        assert!(!expected.is_empty());
        assert_eq!(studio.students(id, cloud), expected, "{cloud:?} students = proard run");
        assert_eq!(student_records(&run, cloud).unwrap(), expected, "{cloud:?} record files");
    }
}

#[test]
fn experiments_through_the_queue_equal_proard_run_through_kills_and_shared_shards() {
    let scratch = tempfile::tempdir().unwrap();
    let config_path = scratch.path().join("tiny.toml");
    std::fs::write(&config_path, CONFIG).unwrap();
    let reference = scratch.path().join("reference");
    stdout(&proard(&[
        "run",
        "--config",
        config_path.to_str().unwrap(),
        "--out",
        reference.to_str().unwrap(),
    ]));

    let studio = Studio::new();
    // 1. A worker SIGKILLed in the middle of a stage, another in the middle of the evaluation.
    let id = studio.create(CONFIG, 2);
    let worker = studio.worker();
    studio.wait("three steps of the width phase", || studio.steps(id, "phase-1-width").len() >= 3);
    kill(worker);
    assert_eq!(studio.experiment(id).status, Status::Running);
    let worker = studio.worker();
    studio.wait("a ProARD student", || !studio.students(id, Cloud::Proard).is_empty());
    kill(worker);
    let (a, b) = (studio.worker(), studio.worker());
    studio.wait_status(id, Status::Done);
    let jobs = studio.runtime.block_on(studio.store.jobs(id)).unwrap();
    assert!(jobs.iter().all(|j| j.status == Status::Done && j.error.is_none()), "{jobs:#?}");
    let retried: Vec<&str> =
        jobs.iter().filter(|j| j.attempts > 1).map(|j| j.label.as_str()).collect();
    assert!(retried.contains(&"train phase 1 (width)"), "{retried:?}");
    check_against(&studio, id, &reference);

    // 2. Two workers from the start: the stages that may run side by side do, and the two
    // evaluation shards go to different workers.
    let id = studio.create(CONFIG, 2);
    studio.wait_status(id, Status::Done);
    // A student verified by a job (and another only exported): its clean, FGSM and PGD-20 are
    // the record's, the file is an artifact, and the experiment stays done.
    let record = &student_records(&RunLayout::new(&reference), Cloud::Proard).unwrap()[0];
    let verify = |attacks: &[&str]| {
        let request = NewVerification {
            cloud: "proard".into(),
            index: Some(record.index),
            arch: None,
            attacks: attacks.iter().map(|a| a.to_string()).collect(),
            images: None,
            apgd_iterations: Some(2),
        };
        let created = studio.store.create_verification(id, &request, &record.arch, "proard #0");
        studio.runtime.block_on(created).unwrap().id
    };
    let (verified, exported) = (verify(&["fgsm", "pgd20", "apgd-t"]), verify(&[]));
    let verification = |v: i64| studio.runtime.block_on(studio.store.verification(v)).unwrap();
    studio.wait("both verifications", || {
        [verified, exported].iter().all(|v| verification(*v).status == Status::Done)
    });
    let result = verification(verified).result.unwrap();
    for (field, value) in [("clean", record.clean), ("fgsm", record.fgsm), ("pgd20", record.pgd20)]
    {
        assert_eq!(result[field].as_f64(), Some(value), "{field}: {result}");
    }
    assert!(result["apgd_t"].as_f64().unwrap() <= record.clean, "{result}");
    let only = verification(exported);
    assert_eq!(only.result, None);
    let file = studio.data().join(only.student_path.unwrap());
    assert!(file.exists(), "{}", file.display());
    let artifacts = studio.runtime.block_on(studio.store.artifacts(id)).unwrap();
    assert!(artifacts.iter().any(|a| a.kind == "student-proard-0"), "{artifacts:?}");
    // The predictor fitted by a job on the ProARD students: RMSEs and the held-out points.
    let request = NewPredictor { cloud: "proard".into(), epochs: Some(5), seed: Some(1) };
    let job = studio.runtime.block_on(studio.store.queue_predictor(id, &request, (5, 1))).unwrap();
    studio.wait("the predictor", || {
        let job = studio.runtime.block_on(studio.store.job(job)).unwrap();
        assert_ne!(job.status, Status::Failed, "{job:?}");
        job.status == Status::Done
    });
    let fitted = studio.runtime.block_on(studio.store.predictors(id)).unwrap();
    assert_eq!(fitted.len(), 1);
    let report = &fitted[0].report;
    assert_eq!(report.n_train + report.n_test, record_count(&studio, id));
    assert_eq!(report.held_out.len(), report.n_test);
    assert!(report.rmse_acc.is_finite() && report.rmse_rob.is_finite(), "{report:?}");
    assert!(studio.data().join(&fitted[0].path).is_file());
    assert_eq!(studio.experiment(id).status, Status::Done);
    kill(a);
    kill(b);
    let jobs = studio.runtime.block_on(studio.store.jobs(id)).unwrap();
    let jobs: Vec<_> = jobs
        .into_iter()
        .filter(|j| !j.label.starts_with("verify") && !j.label.starts_with("export"))
        .collect();
    let evaluators: Vec<&str> = jobs
        .iter()
        .filter(|j| j.label.starts_with("evaluate"))
        .map(|j| j.lease_owner.as_deref().unwrap())
        .collect();
    assert_eq!(evaluators.len(), 2);
    assert_ne!(evaluators[0], evaluators[1], "each worker evaluated a shard");
    check_against(&studio, id, &reference);

    // 3. The CLI's run imported: done, with the same rows, nothing queued to recompute.
    let output = proard(&[
        "import",
        reference.to_str().unwrap(),
        "--data-dir",
        studio.data().to_str().unwrap(),
        "--database",
        &studio.url(),
    ]);
    let imported: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let id = imported["id"].as_i64().unwrap();
    assert_eq!(imported["status"], "done", "{imported}");
    check_against(&studio, id, &reference);
    let stage_rows = studio.runtime.block_on(studio.store.stages(id)).unwrap();
    assert!(stage_rows.iter().all(|s| s.status == "done" && s.done == s.total), "{stage_rows:#?}");
    let data = studio.data().to_str().unwrap();
    let error = failure(&["import", scratch.path().to_str().unwrap(), "--data-dir", data]);
    assert!(error.contains("holds no proard run"), "{error}");
}

#[test]
fn cancel_stops_within_a_step_and_resume_finishes_without_gaps() {
    let studio = Studio::new();
    let id = studio.create(CONFIG, 1);
    let worker = studio.worker();
    studio.wait("two teacher steps", || studio.steps(id, "teacher").len() >= 2);
    studio.runtime.block_on(studio.store.cancel_experiment(id)).unwrap();
    studio.wait_status(id, Status::Cancelled);
    let steps_at_cancel = studio.steps(id, "teacher").len();
    // The teacher has 12 steps: it stopped before the end, with a checkpoint where it stopped.
    assert!(steps_at_cancel < 12, "{steps_at_cancel}");
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(studio.layout(id).teacher().state()).unwrap(),
    )
    .unwrap();
    assert_eq!(state["steps"].as_u64(), Some(steps_at_cancel as u64), "{state}");
    // Cancelled jobs are not picked up again by the idle worker.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(studio.experiment(id).status, Status::Cancelled);

    studio.runtime.block_on(studio.store.resume_experiment(id)).unwrap();
    studio.wait_status(id, Status::Done);
    kill(worker);
    let steps: Vec<i64> = studio.steps(id, "teacher").iter().map(|s| s.step).collect();
    assert_eq!(steps, (0..12).collect::<Vec<_>>());
    assert_eq!(studio.students(id, Cloud::Proard).len(), 6);
}

#[test]
fn failures_name_the_problem_and_keep_what_was_written() {
    let studio = Studio::new();
    let missing =
        studio.create(&CONFIG.replace("data = \"synthetic\"", "data = \"folder:/no/such/set\""), 1);
    let diverging =
        studio.create(&CONFIG.replace("learning_rate = 0.05", "learning_rate = 1e12"), 1);
    let worker = studio.worker();
    studio.wait_status(missing, Status::Failed);
    studio.wait_status(diverging, Status::Failed);
    kill(worker);
    let error = studio.experiment(missing).error.unwrap();
    assert!(error.starts_with("train teacher: ") && error.contains("/no/such/set"), "{error}");
    let jobs = studio.runtime.block_on(studio.store.jobs(missing)).unwrap();
    assert_eq!((jobs[0].attempts, jobs[0].error_kind.as_deref()), (1, Some("data")), "not retried");
    let error = studio.experiment(diverging).error.unwrap();
    assert!(error.contains("stage `teacher`: the loss became"), "{error}");
    // The steps before the divergence stay, in the store and in the log.
    let stored = studio.steps(diverging, "teacher");
    let logged = step_lines(&studio.layout(diverging).teacher().log());
    assert!(!stored.is_empty());
    assert_eq!(stored.len(), logged.len());
}

/// The server's first stdout line is its address.
fn serve(studio: &Studio, extra: &[&str]) -> (Child, String) {
    let statics = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../static");
    let mut child = Command::new(env!("CARGO_BIN_EXE_proard"))
        .args(["serve", "--addr", "127.0.0.1:0", "--static-dir", statics.to_str().unwrap()])
        .args(["--data-dir", studio.data().to_str().unwrap(), "--lease-seconds", "2"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(File::create(studio.data().join("serve.log")).unwrap())
        .spawn()
        .expect("proard serve starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.starts_with("serving http://127.0.0.1:"), "{line}");
    (child, line.trim().to_owned())
}

fn alive(pid: u32) -> bool {
    PathBuf::from(format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

#[test]
fn a_killed_server_restarts_with_its_queue_intact_and_an_empty_store_gets_the_demo() {
    let studio = Studio::new();
    let id = studio.create(CONFIG, 1);
    let (server, _) = serve(&studio, &["--workers", "1", "--no-demo"]);
    studio.wait("two teacher steps", || studio.steps(id, "teacher").len() >= 2);
    let job = studio.runtime.block_on(studio.store.jobs(id)).unwrap().remove(0);
    let worker_pid: u32 = job.lease_owner.unwrap().split(':').nth(1).unwrap().parse().unwrap();
    kill(server);
    // Its worker notices and exits; the job's lease runs out; a restarted server takes over.
    studio.wait("the orphaned worker to exit", || !alive(worker_pid));
    assert_eq!(studio.runtime.block_on(studio.store.jobs(id)).unwrap().len(), 1 + 3 + 1 + 1);
    let (server, _) = serve(&studio, &["--workers", "1", "--no-demo"]);
    studio.wait_status(id, Status::Done);
    kill(server);
    let steps: Vec<i64> = studio.steps(id, "teacher").iter().map(|s| s.step).collect();
    assert_eq!(steps, (0..12).collect::<Vec<_>>());

    // A fresh data directory: the demo is queued (no workers here, so it stays queued).
    let fresh = Studio::new();
    let (server, _) = serve(&fresh, &["--workers", "0"]);
    let (experiments, _) =
        fresh.runtime.block_on(fresh.store.experiments(&Default::default())).unwrap();
    kill(server);
    assert_eq!(experiments.len(), 1);
    assert!(experiments[0].name.starts_with("demo"), "{:?}", experiments[0].name);
    assert_eq!(experiments[0].status, Status::Queued);
}
