//! A run directory's files read into the store: stage logs, student records and weights files.
//! The files are the run's ground truth (written before any event is sent); a job syncs what it
//! wrote when it ends, `proard import` syncs a whole run made by the CLI. Rows are keyed, so a
//! sync never duplicates and can be repeated.

use std::path::Path;

use proard_core::experiment::journal::read_records;
use proard_core::experiment::report::student_records;
use proard_core::experiment::train::{LogLine, read_state};
use proard_core::experiment::{Cloud, ExperimentConfig, RunLayout, Stage, StageStart, stages};

use crate::store::Store;

/// Reads one training stage's log into the store; nothing if the stage has not started.
pub async fn sync_stage(
    store: &Store,
    experiment: i64,
    data_dir: &Path,
    stage: &Stage,
) -> anyhow::Result<()> {
    let Some(state) = read_state(&stage.layout)? else { return Ok(()) };
    let lines: Vec<LogLine> = read_records(&stage.layout.log())?;
    let epochs = lines.iter().filter(|l| matches!(l, LogLine::Epoch { .. })).count();
    store
        .stage_started(
            experiment,
            &StageStart {
                stage: &stage.name,
                unit: "steps",
                total: state.steps as u64,
                done: state.steps as u64,
                epochs,
            },
        )
        .await?;
    for line in &lines {
        store.log_line(experiment, line).await?;
    }
    if state.finished {
        store.stage_ended(experiment, &stage.name, None).await?;
        let supernet = stage.layout.supernet();
        register(store, experiment, data_dir, "stage-supernet", &supernet).await?;
    }
    Ok(())
}

/// Records a weights file that exists, by its path relative to the data directory.
async fn register(
    store: &Store,
    experiment: i64,
    data_dir: &Path,
    kind: &str,
    path: &Path,
) -> anyhow::Result<()> {
    let Ok(metadata) = std::fs::metadata(path) else { return Ok(()) };
    let relative = path.strip_prefix(data_dir).unwrap_or(path);
    store.put_artifact(experiment, kind, &relative.display().to_string(), metadata.len()).await?;
    Ok(())
}

/// Reads every student record of the run into the store, and the clouds' supernets.
pub async fn sync_students(
    store: &Store,
    experiment: i64,
    data_dir: &Path,
    layout: &RunLayout,
) -> anyhow::Result<()> {
    for cloud in Cloud::ALL {
        let records = student_records(layout, cloud)?;
        for record in &records {
            store.put_student(experiment, cloud, record).await?;
        }
        if cloud != Cloud::Teacher {
            let kind = format!("{}-supernet", cloud.name());
            register(store, experiment, data_dir, &kind, &layout.supernet(cloud)).await?;
        }
    }
    Ok(())
}

/// Reads a whole run into the store.
pub async fn sync_run(
    store: &Store,
    experiment: i64,
    data_dir: &Path,
    config: &ExperimentConfig,
    layout: &RunLayout,
) -> anyhow::Result<()> {
    for stage in stages(config, layout)? {
        sync_stage(store, experiment, data_dir, &stage).await?;
    }
    sync_students(store, experiment, data_dir, layout).await
}
