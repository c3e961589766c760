//! `proard import DIR`: a run made by the CLI becomes an experiment of the studio. Its files are
//! linked (copied across file systems) into the data directory, its stages, metrics and records
//! read into the store, and the jobs of the stages it finished marked done; what it had not
//! finished stays queued, so workers complete it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use proard_core::experiment::report::student_records;
use proard_core::experiment::students::{evaluation_stage, unique_archs};
use proard_core::experiment::train::read_state;
use proard_core::experiment::{Cloud, ExperimentConfig, RunLayout, Shard, StageStart, stages};

use crate::plan::JobKind;
use crate::store::Store;
use crate::store::experiments::{Experiment, NewExperiment};
use crate::sync::sync_run;

/// Registers the run in `dir` as a new experiment named `name`.
pub async fn import_run(
    store: &Store,
    data_dir: &Path,
    dir: &Path,
    name: &str,
) -> anyhow::Result<Experiment> {
    let source = RunLayout::new(dir);
    let config = source.load_config()?;
    // One evaluation shard: the CLI's records are in the whole-run files.
    let new = NewExperiment {
        name: name.to_owned(),
        config: config.clone(),
        eval_shards: 1,
        tags: vec!["imported".into()],
        notes: format!("imported from {}", dir.display()),
    };
    let experiment = store.create_experiment(&new).await?;
    let target = data_dir.join(&experiment.dir);
    link_tree(dir, &target)
        .with_context(|| format!("copying {} to {}", dir.display(), target.display()))?;
    let layout = RunLayout::new(&target);
    sync_run(store, experiment.id, data_dir, &config, &layout).await?;
    mark_finished(store, &experiment, &config, &layout).await?;
    Ok(store.experiment(experiment.id).await?)
}

/// Marks done the jobs whose output the run already holds, and records the evaluation stages.
async fn mark_finished(
    store: &Store,
    experiment: &Experiment,
    config: &ExperimentConfig,
    layout: &RunLayout,
) -> anyhow::Result<()> {
    let all = stages(config, layout)?;
    let finished = |name: &str| -> anyhow::Result<bool> {
        let Some(stage) = all.iter().find(|s| s.name == name) else { return Ok(false) };
        Ok(read_state(&stage.layout)?.is_some_and(|s| s.finished))
    };
    let space = config.resolve_space()?;
    let expected = unique_archs(&space, config.evaluation.students, config.evaluation.seed).len();
    let mut clouds = vec![Cloud::Proard, Cloud::Teacher];
    if config.baseline.enabled {
        clouds.push(Cloud::Baseline);
    }
    let mut evaluated = true;
    for cloud in clouds {
        let count = student_records(layout, cloud)?.len();
        let wanted = if cloud == Cloud::Teacher { 1 } else { expected };
        evaluated &= count == wanted;
        if count > 0 {
            let stage = evaluation_stage(cloud, Shard::WHOLE);
            let start = StageStart {
                stage: &stage,
                unit: "students",
                total: wanted as u64,
                done: count as u64,
                epochs: 0,
            };
            store.stage_started(experiment.id, &start).await?;
            if count == wanted {
                store.stage_ended(experiment.id, &stage, None).await?;
            }
        }
    }
    for job in store.jobs(experiment.id).await? {
        let done = match &job.kind {
            JobKind::TrainTeacher => finished("teacher")?,
            JobKind::TrainCleanTeacher => finished("clean-teacher")?,
            JobKind::TrainPhase { index, .. } => {
                let phase = all.iter().filter(|s| s.name.starts_with("phase-")).nth(*index);
                finished(&phase.expect("a planned phase is a stage").name)?
            }
            JobKind::TrainBaseline => finished("baseline")?,
            JobKind::Evaluate { .. } => evaluated,
            JobKind::Verify { .. } | JobKind::FitPredictor { .. } => false,
        };
        if done {
            store.mark_job_done(job.id).await?;
        }
    }
    store.refresh_status(experiment.id).await?;
    Ok(())
}

/// Recreates the tree `from` at `to`. Weights files, which are never written again, are hard
/// links where the file system allows; logs and records, which a resumed stage appends to, are
/// copies, so the studio never writes into the CLI's run.
fn link_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target: PathBuf = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            link_tree(&entry.path(), &target)?;
        } else if kind.is_file()
            && entry.file_name() != "lock"
            && !has_extension(&entry.path(), "lock")
        {
            let immutable = ["bpk", "safetensors"].iter().any(|e| has_extension(&entry.path(), e));
            if !immutable || std::fs::hard_link(entry.path(), &target).is_err() {
                std::fs::copy(entry.path(), &target)?;
            }
        }
    }
    Ok(())
}

fn has_extension(path: &Path, extension: &str) -> bool {
    path.extension().is_some_and(|e| e == extension)
}
