//! `proard worker`: a process that claims jobs from the queue and runs them one at a time — the
//! noise stream (`proard_core::noise`) is one per process, which exact resume re-seeds every step,
//! so two jobs never share a process. The job computes on a blocking thread; the async side renews
//! its lease, passes a cancel on, and records how the job ended.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use proard_core::experiment::{RunError, RunLayout, stages};
use tokio::runtime::Handle;

use crate::plan::JobKind;
use crate::recorder::Recorder;
use crate::store::Store;
use crate::store::experiments::parsed_config;
use crate::store::queue::{Job, JobOutcome};
use crate::store::students::StudentQuery;
use crate::sync::{sync_stage, sync_students};
use proard_shared::predictor::{FitReport, Labelled, Predictor, PredictorConfig};

/// How a worker runs.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Where experiments' run directories live (shared by every worker of a lab, e.g. on NFS).
    pub data_dir: PathBuf,
    /// A job whose worker has not renewed its lease for this long is taken over by another.
    pub lease: Duration,
    /// How often an idle worker looks for a job.
    pub poll: Duration,
    /// Stop after this many jobs (none: run until killed).
    pub max_jobs: Option<usize>,
    /// Exit as soon as this process's parent is no longer this one (a supervising `proard
    /// serve` that was killed); a job it was running resumes elsewhere once its lease expires.
    pub parent: Option<u32>,
}

impl WorkerConfig {
    pub fn new(data_dir: PathBuf) -> WorkerConfig {
        WorkerConfig {
            data_dir,
            lease: Duration::from_secs(30),
            poll: Duration::from_millis(500),
            max_jobs: None,
            parent: None,
        }
    }

    fn orphaned(&self) -> bool {
        self.parent.is_some_and(|parent| std::os::unix::process::parent_id() != parent)
    }
}

/// This worker's name in leases: host, process id and a random tag.
pub fn worker_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "host".into());
    let tag = crate::access::new_token();
    format!("{host}:{}:{}", std::process::id(), &tag[..8])
}

/// Claims and runs jobs until `max_jobs` are done (forever without a limit).
pub async fn run_worker(store: Store, config: WorkerConfig) -> anyhow::Result<()> {
    let owner = worker_name();
    tracing::info!("worker {owner} polls for jobs every {:?}", config.poll);
    let mut done = 0;
    while config.max_jobs.is_none_or(|max| done < max) {
        if config.orphaned() {
            tracing::info!("worker {owner}: its supervisor is gone; exiting");
            return Ok(());
        }
        let Some(job) = store.claim(&owner, config.lease.as_millis() as i64).await? else {
            tokio::time::sleep(config.poll).await;
            continue;
        };
        tracing::info!(
            "job {} of experiment {}: {} (attempt {}/{})",
            job.id,
            job.experiment_id,
            job.label,
            job.attempts,
            job.max_attempts
        );
        let outcome = run_job(&store, &config, &owner, &job).await;
        tracing::info!("job {} ended: {outcome:?}", job.id);
        if let Some(outcome) = outcome {
            store.finish_job(job.id, &owner, &outcome).await?;
        }
        done += 1;
    }
    Ok(())
}

/// Runs one claimed job; `None` when its lease was lost (another worker owns it now).
async fn run_job(
    store: &Store,
    config: &WorkerConfig,
    owner: &str,
    job: &Job,
) -> Option<JobOutcome> {
    let experiment = match store.experiment(job.experiment_id).await {
        Ok(experiment) => experiment,
        Err(error) => return Some(failed("store", &error)),
    };
    let run_config = match parsed_config(&experiment) {
        Ok(config) => config,
        Err(error) => return Some(failed("invalid-config", &error)),
    };
    let out = config.data_dir.join(&experiment.dir);
    let stop = Arc::new(AtomicBool::new(false));
    let lost = Arc::new(AtomicBool::new(false));
    let heartbeat = tokio::spawn(heartbeat(
        store.clone(),
        (job.id, owner.to_owned()),
        config.clone(),
        stop.clone(),
        lost.clone(),
    ));
    let computed = match (job.kind.goal(), &job.kind) {
        (Some(goal), _) => {
            let recorder = Recorder::new(Handle::current(), store.clone(), experiment.id, stop);
            let computed = {
                let (run_config, out) = (run_config.clone(), out.clone());
                tokio::task::spawn_blocking(move || {
                    proard_core::experiment::run(&run_config, &out, goal, &recorder).map(|_| ())
                })
                .await
            };
            if let Err(error) =
                sync(store, experiment.id, &config.data_dir, &run_config, &out, &job.kind).await
            {
                tracing::warn!("job {}: reading its files into the store: {error:#}", job.id);
            }
            computed
        }
        (None, JobKind::Verify { verification, .. }) => {
            verify_job(store, &config.data_dir, &experiment, &run_config, *verification)
                .await
                .unwrap_or_else(side_job_failed)
        }
        (None, JobKind::FitPredictor { cloud, epochs, seed }) => fit_predictor_job(
            store,
            &config.data_dir,
            &experiment,
            &run_config,
            (cloud, *epochs, *seed),
            job.id,
        )
        .await
        .unwrap_or_else(side_job_failed),
        (None, kind) => unreachable!("every pipeline job has a goal: {kind:?}"),
    };
    heartbeat.abort();
    if lost.load(Ordering::SeqCst) {
        return None;
    }
    Some(match computed {
        Ok(Ok(())) => JobOutcome::Done,
        Ok(Err(RunError::Cancelled { .. })) => JobOutcome::Cancelled,
        Ok(Err(error)) if error.is_transient() => {
            JobOutcome::Transient { kind: error.kind().into(), error: error.to_string() }
        }
        Ok(Err(error)) => failed(error.kind(), &error),
        Err(panic) => failed("panic", &format!("the job panicked: {panic}")),
    })
}

/// Exports and verifies one student on a blocking thread, then stores the file and the report.
async fn verify_job(
    store: &Store,
    data_dir: &Path,
    experiment: &proard_shared::api::Experiment,
    run_config: &proard_core::experiment::ExperimentConfig,
    id: i64,
) -> anyhow::Result<Result<Result<(), RunError>, tokio::task::JoinError>> {
    let stored = store.verification(id).await?;
    let relative = crate::verification::student_path(&experiment.dir, id);
    let computed = {
        let (config, run) = (run_config.clone(), data_dir.join(&experiment.dir));
        let (request, arch, out) =
            (stored.request.clone(), stored.arch.clone(), data_dir.join(&relative));
        tokio::task::spawn_blocking(move || {
            crate::verification::export_and_verify(&config, &run, &request, &arch, &out)
        })
        .await
    };
    let report = match computed {
        Ok(Ok(report)) => report,
        Ok(Err(error)) => return Ok(Ok(Err(error))),
        Err(panic) => return Ok(Err(panic)),
    };
    let bytes = std::fs::metadata(data_dir.join(&relative)).map(|m| m.len()).unwrap_or(0);
    let student = match (&stored.request.index, stored.request.cloud.as_str()) {
        (Some(index), cloud) => format!("student-{cloud}-{index}"),
        (None, cloud) => format!("student-{cloud}-{id}"),
    };
    store.put_artifact(experiment.id, &student, &relative, bytes).await?;
    store.set_verification_student(id, &relative).await?;
    if let Some(report) = report {
        let json = serde_json::to_value(&report).context("serialising the report")?;
        store.set_verification_result(experiment.id, id, &json).await?;
    }
    Ok(Ok(Ok(())))
}

/// Fits the predictor on a cloud's evaluated students on a blocking thread, then stores its
/// weights (`<run>/predictors/predictor-<job>.safetensors`), RMSEs and held-out points.
async fn fit_predictor_job(
    store: &Store,
    data_dir: &Path,
    experiment: &proard_shared::api::Experiment,
    run_config: &proard_core::experiment::ExperimentConfig,
    (cloud, epochs, seed): (&str, usize, u64),
    job: i64,
) -> anyhow::Result<Result<Result<(), RunError>, tokio::task::JoinError>> {
    let query = StudentQuery {
        experiment: Some(experiment.id),
        cloud: Some(cloud.parse().map_err(anyhow::Error::msg)?),
        ..StudentQuery::default()
    };
    let records: Vec<Labelled> = store
        .students(&query)
        .await?
        .into_iter()
        .map(|s| Labelled { arch: s.record.arch, clean: s.record.clean, pgd20: s.record.pgd20 })
        .collect();
    let space = run_config.resolve_space()?;
    let device = run_config.device.device()?;
    let config = PredictorConfig::new().with_epochs(epochs).with_seed(seed);
    let relative = format!("{}/predictors/predictor-{job}.safetensors", experiment.dir);
    let path = data_dir.join(&relative);
    let fitted = {
        let (config, path) = (config.clone(), path.clone());
        tokio::task::spawn_blocking(move || -> anyhow::Result<FitReport> {
            let (predictor, report) = Predictor::fit(&space, &records, &config, &device)?;
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            std::fs::write(&path, predictor.to_bytes()?)
                .with_context(|| format!("writing {}", path.display()))?;
            Ok(report)
        })
        .await
    };
    let report = match fitted {
        Ok(Ok(report)) => report,
        Ok(Err(error)) => return Ok(Ok(Err(RunError::Missing(format!("{error:#}"))))),
        Err(panic) => return Ok(Err(panic)),
    };
    let settings = serde_json::to_value(&config).context("serialising the settings")?;
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    store.put_artifact(experiment.id, &format!("predictor-{cloud}"), &relative, bytes).await?;
    store.put_predictor(experiment.id, (cloud, &relative), &settings, &report).await?;
    Ok(Ok(Ok(())))
}

/// A side job's own failure (reading or writing the store, fitting) as a run's.
fn side_job_failed(error: anyhow::Error) -> Result<Result<(), RunError>, tokio::task::JoinError> {
    Ok(Err(RunError::Missing(format!("{error:#}"))))
}

fn failed(kind: &str, error: &dyn std::fmt::Display) -> JobOutcome {
    JobOutcome::Failed { kind: kind.into(), error: error.to_string() }
}

/// Reads what the job wrote into the store: its stage's log, or the student records.
async fn sync(
    store: &Store,
    experiment: i64,
    data_dir: &Path,
    config: &proard_core::experiment::ExperimentConfig,
    out: &Path,
    kind: &JobKind,
) -> anyhow::Result<()> {
    let layout = RunLayout::new(out);
    // Stages in pipeline order: the teacher, the phases, the baseline.
    let all = stages(config, &layout)?;
    let stage = match kind {
        JobKind::TrainTeacher => all.first(),
        JobKind::TrainCleanTeacher => all.iter().find(|s| s.name == "clean-teacher"),
        JobKind::TrainPhase { index, .. } => {
            all.iter().filter(|s| s.name.starts_with("phase-")).nth(*index)
        }
        JobKind::TrainBaseline => all.iter().find(|s| s.name == "baseline"),
        JobKind::Evaluate { .. } => {
            return sync_students(store, experiment, data_dir, &layout).await;
        }
        JobKind::Verify { .. } | JobKind::FitPredictor { .. } => return Ok(()),
    };
    let stage = stage.with_context(|| format!("the config has no stage for `{}`", kind.label()))?;
    sync_stage(store, experiment, data_dir, stage).await
}

/// Renews the lease every quarter of its length; sets `stop` on a cancel request, and `lost`
/// too when another worker has taken the job over.
async fn heartbeat(
    store: Store,
    (job, owner): (i64, String),
    config: WorkerConfig,
    stop: Arc<AtomicBool>,
    lost: Arc<AtomicBool>,
) {
    let lease = config.lease;
    let mut interval = tokio::time::interval(lease / 4);
    loop {
        interval.tick().await;
        if config.orphaned() {
            tracing::warn!("job {job}: the supervisor is gone; exiting, the job resumes elsewhere");
            std::process::exit(1);
        }
        match store.heartbeat(job, &owner, lease.as_millis() as i64).await {
            Ok(beat) if !beat.held => {
                tracing::warn!("job {job}: lease lost to another worker; stopping");
                lost.store(true, Ordering::SeqCst);
                stop.store(true, Ordering::SeqCst);
                return;
            }
            Ok(beat) => {
                if beat.cancel_requested {
                    stop.store(true, Ordering::SeqCst);
                }
            }
            Err(error) => tracing::warn!("job {job}: heartbeat: {error}"),
        }
    }
}
