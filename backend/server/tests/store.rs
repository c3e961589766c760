//! The store and the job queue against a real SQLite file and, with `--ignored` and
//! `PROARD_TEST_POSTGRES` set (scripts/test starts a server), a real PostgreSQL database.

use std::collections::HashSet;

use proard_core::experiment::config::ConfigError;
use proard_core::experiment::students::{StudentRecord, StudentSettings};
use proard_core::experiment::train::LogLine;
use proard_core::experiment::{Cloud, StageStart, demo_config};
use proard_server::plan::JobKind;
use proard_server::store::experiments::{CreateError, NewExperiment, Status};
use proard_server::store::queue::JobOutcome;
use proard_server::store::students::{StudentOrder, StudentQuery};
use proard_server::store::{Store, StoreError, sqlite_url};

fn demo(shards: usize) -> NewExperiment {
    NewExperiment {
        name: "demo".into(),
        config: demo_config(),
        eval_shards: shards,
        tags: vec!["t".into()],
        notes: String::new(),
    }
}

async fn sqlite() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&sqlite_url(dir.path())).await.unwrap();
    (dir, store)
}

/// A fresh database on the test server named by `PROARD_TEST_POSTGRES`.
async fn postgres() -> Store {
    let url = std::env::var("PROARD_TEST_POSTGRES")
        .expect("PROARD_TEST_POSTGRES names the test PostgreSQL (scripts/test starts one)");
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(&url).await.unwrap();
    let name = format!("proard_t{}", &proard_server::access::new_token()[..16]);
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let base = url.rsplit_once('/').unwrap().0;
    Store::open(&format!("{base}/{name}")).await.unwrap()
}

fn record(index: usize, macs: u64, clean: f64, pgd20: f64) -> StudentRecord {
    let space = demo_config().resolve_space().unwrap();
    let arch = space.largest_arch();
    StudentRecord {
        index,
        encoding: space.encode(&arch).unwrap(),
        arch,
        macs,
        params: 10,
        clean,
        fgsm: (clean + pgd20) / 2.0,
        pgd20,
        settings: StudentSettings {
            calibration_images: 8,
            test_images: 16,
            seed: 0,
            fgsm: Default::default(),
            pgd20: Default::default(),
        },
    }
}

/// Claims every job of the plan in dependency order, finishing each, and checks the order.
async fn jobs_run_in_dependency_order(store: &Store) {
    let experiment = store.create_experiment(&demo(2)).await.unwrap();
    assert_eq!(experiment.status, Status::Queued);
    assert_eq!(experiment.dir, format!("experiments/{}", experiment.id));
    let jobs = store.jobs(experiment.id).await.unwrap();
    assert_eq!(jobs[0].kind, JobKind::TrainTeacher);
    let phases = jobs.iter().filter(|j| matches!(j.kind, JobKind::TrainPhase { .. })).count();
    // Only the teacher is ready at first.
    let first = store.claim("a", 60_000).await.unwrap().unwrap();
    assert_eq!(first.kind, JobKind::TrainTeacher);
    assert!(store.claim("b", 60_000).await.unwrap().is_none());
    assert_eq!(store.experiment(experiment.id).await.unwrap().status, Status::Running);
    store.finish_job(first.id, "a", &JobOutcome::Done).await.unwrap();
    let mut order = vec![first.kind];
    let mut finished = HashSet::new();
    while let Some(job) = store.claim("a", 60_000).await.unwrap() {
        // Everything this job waits for is done.
        match &job.kind {
            JobKind::TrainPhase { index, .. } if *index > 0 => {
                assert!(
                    order.iter().any(
                        |k| matches!(k, JobKind::TrainPhase { index: i, .. } if *i == index - 1)
                    )
                );
            }
            JobKind::Evaluate { .. } => {
                assert!(order.contains(&JobKind::TrainBaseline));
                let trained =
                    order.iter().filter(|k| matches!(k, JobKind::TrainPhase { .. })).count();
                assert_eq!(trained, phases);
            }
            _ => {}
        }
        assert!(finished.insert(job.id), "job {} claimed twice", job.id);
        order.push(job.kind.clone());
        store.finish_job(job.id, "a", &JobOutcome::Done).await.unwrap();
    }
    assert_eq!(order.len(), jobs.len());
    let experiment = store.experiment(experiment.id).await.unwrap();
    assert_eq!(experiment.status, Status::Done);
    assert!(experiment.finished_at.is_some());
}

/// Many claimers at once never share a job.
async fn concurrent_claims_take_each_job_once(store: &Store) {
    // The teachers of eight experiments are ready at once.
    for _ in 0..8 {
        store.create_experiment(&demo(1)).await.unwrap();
    }
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                while let Some(job) = store.claim(&format!("w{i}"), 60_000).await.unwrap() {
                    got.push(job.id);
                }
                got
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let distinct: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), 8, "{all:?}");
    assert_eq!(distinct.len(), 8, "{all:?}");
}

/// Expired leases are taken over; attempts are bounded; transient errors retry; cancel and
/// resume; a failure names the problem.
async fn leases_retries_cancel_and_resume(store: &Store) {
    let experiment = store.create_experiment(&demo(1)).await.unwrap();
    let job = store.claim("dead", 1).await.unwrap().unwrap();
    assert_eq!(job.attempts, 1);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    // The dead worker's lease expired: another takes the job over, and the dead one's
    // heartbeat and finish no longer count.
    let again = store.claim("alive", 60_000).await.unwrap().unwrap();
    assert_eq!((again.id, again.attempts), (job.id, 2));
    assert!(!store.heartbeat(job.id, "dead", 60_000).await.unwrap().held);
    store.finish_job(job.id, "dead", &JobOutcome::Done).await.unwrap();
    assert_eq!(store.job(job.id).await.unwrap().status, Status::Running);
    // A transient failure queues it again while attempts are left.
    let transient = JobOutcome::Transient { kind: "io".into(), error: "disk full".into() };
    store.finish_job(job.id, "alive", &transient).await.unwrap();
    let requeued = store.job(job.id).await.unwrap();
    assert_eq!((requeued.status, requeued.error.as_deref()), (Status::Queued, Some("disk full")));
    let third = store.claim("alive", 60_000).await.unwrap().unwrap();
    assert_eq!(third.attempts, 3);
    store.finish_job(job.id, "alive", &transient).await.unwrap();
    let failed = store.job(job.id).await.unwrap();
    assert_eq!(failed.status, Status::Failed, "no attempts left");
    let experiment = store.experiment(experiment.id).await.unwrap();
    assert_eq!(experiment.status, Status::Failed);
    assert!(experiment.error.as_deref().unwrap().contains("train teacher: disk full"));

    // Resume gives fresh attempts; cancel reaches a running job through its heartbeat.
    store.resume_experiment(experiment.id).await.unwrap();
    let job = store.claim("w", 60_000).await.unwrap().unwrap();
    assert_eq!(job.attempts, 1);
    assert!(!store.heartbeat(job.id, "w", 60_000).await.unwrap().cancel_requested);
    store.cancel_experiment(experiment.id).await.unwrap();
    assert!(store.heartbeat(job.id, "w", 60_000).await.unwrap().cancel_requested);
    store.finish_job(job.id, "w", &JobOutcome::Cancelled).await.unwrap();
    let cancelled = store.experiment(experiment.id).await.unwrap();
    assert_eq!(cancelled.status, Status::Cancelled);
    assert!(store.jobs(experiment.id).await.unwrap().iter().all(|j| j.status == Status::Cancelled));
    assert!(store.claim("w", 60_000).await.unwrap().is_none());
    store.resume_experiment(experiment.id).await.unwrap();
    let resumed = store.claim("w", 60_000).await.unwrap().unwrap();
    assert_eq!(resumed.id, job.id);
    // A permanent failure is not retried.
    let failure = JobOutcome::Failed { kind: "non-finite-loss".into(), error: "loss NaN".into() };
    store.finish_job(job.id, "w", &failure).await.unwrap();
    let job = store.job(job.id).await.unwrap();
    assert_eq!((job.status, job.error_kind.as_deref()), (Status::Failed, Some("non-finite-loss")));
    // A running experiment cannot be deleted; a stopped one can, with all its rows.
    let running = store.create_experiment(&demo(1)).await.unwrap();
    store.claim("w", 60_000).await.unwrap().unwrap();
    assert!(matches!(store.delete_experiment(running.id).await, Err(StoreError::Conflict(_))));
    store.delete_experiment(experiment.id).await.unwrap();
    assert!(matches!(store.experiment(experiment.id).await, Err(StoreError::NotFound(_))));
    assert!(store.jobs(experiment.id).await.unwrap().is_empty());
}

/// Metrics and students are keyed: writing them again overwrites; queries filter, sort, page.
async fn metrics_and_students(store: &Store) {
    let id = store.create_experiment(&demo(1)).await.unwrap().id;
    let start = StageStart { stage: "teacher", unit: "steps", total: 4, done: 0, epochs: 1 };
    store.stage_started(id, &start).await.unwrap();
    for _ in 0..2 {
        for step in 0..4 {
            let line = LogLine::Step {
                stage: "teacher".into(),
                epoch: 1,
                step,
                lr: 0.1,
                loss: 2.0 - step as f64 / 10.0,
            };
            store.log_line(id, &line).await.unwrap();
        }
    }
    let steps = store.steps(id, "teacher", 0, 0).await.unwrap();
    assert_eq!(steps.iter().map(|s| s.step).collect::<Vec<_>>(), [0, 1, 2, 3]);
    assert_eq!(steps[3].loss, 1.7);
    assert_eq!(store.steps(id, "teacher", 2, 1).await.unwrap()[0].step, 2);
    let epoch = LogLine::Epoch {
        stage: "teacher".into(),
        epoch: 1,
        steps: 4,
        mean_loss: 1.85,
        seconds: 1.5,
        validation: vec![],
    };
    store.log_line(id, &epoch).await.unwrap();
    store.stage_ended(id, "teacher", None).await.unwrap();
    let stages = store.stages(id).await.unwrap();
    assert_eq!((stages[0].status.as_str(), stages[0].done), ("done", 4));
    assert_eq!(store.epochs(id, "teacher").await.unwrap()[0].mean_loss, 1.85);

    for (i, (macs, clean, pgd)) in
        [(5, 0.5, 0.2), (9, 0.7, 0.3), (7, 0.6, 0.1), (3, 0.4, 0.25)].into_iter().enumerate()
    {
        store.put_student(id, Cloud::Proard, &record(i, macs, clean, pgd)).await.unwrap();
        store.put_student(id, Cloud::Proard, &record(i, macs, clean, pgd)).await.unwrap();
    }
    store.put_student(id, Cloud::Baseline, &record(0, 5, 0.45, 0.15)).await.unwrap();
    let all =
        store.students(&StudentQuery { experiment: Some(id), ..Default::default() }).await.unwrap();
    // By index, then cloud: baseline 0, ProARD 0, ProARD 1, …
    assert_eq!(all.len(), 5);
    assert_eq!((all[0].cloud, all[1].cloud), (Cloud::Baseline, Cloud::Proard));
    assert_eq!(all[1].record, record(0, 5, 0.5, 0.2));
    let query = StudentQuery {
        experiment: Some(id),
        cloud: Some(Cloud::Proard),
        macs_min: Some(4),
        macs_max: Some(8),
        order: StudentOrder::Pgd20,
        descending: true,
        ..Default::default()
    };
    let picked: Vec<usize> =
        store.students(&query).await.unwrap().iter().map(|s| s.record.index).collect();
    assert_eq!(picked, [0, 2]);
    let page = StudentQuery {
        experiment: Some(id),
        cloud: Some(Cloud::Proard),
        order: StudentOrder::Macs,
        offset: 1,
        limit: 2,
        clean_min: Some(0.45),
        method: Some("rslad".into()),
        ..Default::default()
    };
    let picked: Vec<usize> =
        store.students(&page).await.unwrap().iter().map(|s| s.record.index).collect();
    assert_eq!(picked, [2, 1]);
    let other = StudentQuery { method: Some("ard".into()), ..Default::default() };
    assert!(store.students(&other).await.unwrap().is_empty());
}

async fn bad_configs_are_refused_naming_the_field(store: &Store) {
    let mut new = demo(1);
    new.config.baseline.subnets_per_step = 0;
    match store.create_experiment(&new).await {
        Err(CreateError::Config(ConfigError::Invalid { field, .. })) => {
            assert_eq!(field, "baseline.subnets_per_step")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(store.experiment_count().await.unwrap(), 0);
}

async fn everything(store: Store) {
    bad_configs_are_refused_naming_the_field(&store).await;
    jobs_run_in_dependency_order(&store).await;
    leases_retries_cancel_and_resume(&store).await;
    metrics_and_students(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_store() {
    let (_dir, store) = sqlite().await;
    everything(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_concurrent_claims() {
    let (_dir, store) = sqlite().await;
    concurrent_claims_take_each_job_once(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_survives_reopening() {
    let (dir, store) = sqlite().await;
    let id = store.create_experiment(&demo(2)).await.unwrap().id;
    let job = store.claim("w", 60_000).await.unwrap().unwrap();
    store.close().await;
    let store = Store::open(&sqlite_url(dir.path())).await.unwrap();
    assert_eq!(store.experiment(id).await.unwrap().status, Status::Running);
    assert_eq!(store.job(job.id).await.unwrap().lease_owner.as_deref(), Some("w"));
    let phases = demo_config().phases(proard_shared::Family::ResNet).len();
    assert_eq!(store.jobs(id).await.unwrap().len(), 1 + phases + 1 + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: PROARD_TEST_POSTGRES (scripts/test)"]
async fn postgres_store() {
    everything(postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: PROARD_TEST_POSTGRES (scripts/test)"]
async fn postgres_concurrent_claims() {
    concurrent_claims_take_each_job_once(&postgres().await).await;
}
