//! The jobs an experiment is made of, and what each one runs. Stages that need each other are
//! ordered by dependencies, the rest may run side by side on different workers: the teacher
//! (and CIARD's clean teacher beside it) first; the phases in order after them; the baseline
//! beside the phases; the evaluation shards after the last phase and the baseline.

use proard_core::experiment::config::ConfigError;
use proard_core::experiment::{ExperimentConfig, Goal, Shard};
use serde::{Deserialize, Serialize};

/// What a job runs (stored as JSON in `jobs.kind`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum JobKind {
    TrainTeacher,
    /// CIARD's naturally trained teacher, beside the robust one.
    TrainCleanTeacher,
    /// The progressive phase at this 0-based index.
    TrainPhase {
        index: usize,
        name: String,
    },
    TrainBaseline,
    /// Shard `shard` of `shards` of the students (shard 0 also evaluates the teacher).
    Evaluate {
        shard: usize,
        shards: usize,
    },
    /// Fit the accuracy–robustness predictor on a cloud's evaluated students (a side job, like
    /// `Verify`).
    FitPredictor {
        /// proard | baseline
        cloud: String,
        epochs: usize,
        seed: u64,
    },
    /// Export one student and attack it (a row of `verifications`); not part of the pipeline,
    /// so it does not count towards the experiment's status.
    Verify {
        verification: i64,
        /// `proard #3`, `baseline (given arch)`.
        student: String,
        export_only: bool,
    },
}

impl JobKind {
    /// How far the pipeline goes for this job (earlier stages are finished and only loaded);
    /// `None` for a job outside the pipeline.
    pub fn goal(&self) -> Option<Goal> {
        Some(match self {
            JobKind::TrainTeacher => Goal::Teacher,
            JobKind::TrainCleanTeacher => Goal::CleanTeacher,
            JobKind::TrainPhase { index, .. } => Goal::Phase(*index),
            JobKind::TrainBaseline => Goal::Baseline,
            JobKind::Evaluate { shard, shards } => {
                Goal::Evaluate(Shard { index: *shard, count: *shards })
            }
            JobKind::Verify { .. } | JobKind::FitPredictor { .. } => return None,
        })
    }

    /// A short human name: `train teacher`, `train phase 2 (depth)`, `evaluate 1/2`,
    /// `verify proard #3`.
    pub fn label(&self) -> String {
        match self {
            JobKind::TrainTeacher => "train teacher".into(),
            JobKind::TrainCleanTeacher => "train clean teacher".into(),
            JobKind::TrainPhase { index, name } => format!("train phase {} ({name})", index + 1),
            JobKind::TrainBaseline => "train baseline".into(),
            JobKind::Evaluate { shard, shards } => format!("evaluate {}/{shards}", shard + 1),
            JobKind::FitPredictor { cloud, .. } => format!("fit predictor ({cloud})"),
            JobKind::Verify { student, export_only: true, .. } => format!("export {student}"),
            JobKind::Verify { student, .. } => format!("verify {student}"),
        }
    }
}

/// A job of a plan and the positions (in the plan) of the jobs it waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedJob {
    pub kind: JobKind,
    pub after: Vec<usize>,
}

/// The jobs of `config`, evaluation split into `shards` (at least 1).
pub fn plan(config: &ExperimentConfig, shards: usize) -> Result<Vec<PlannedJob>, ConfigError> {
    let phases = config.phases(config.resolve_space()?.family());
    let mut jobs = vec![PlannedJob { kind: JobKind::TrainTeacher, after: vec![] }];
    if config.supernet.objective.needs().clean_teacher {
        jobs.push(PlannedJob { kind: JobKind::TrainCleanTeacher, after: vec![] });
    }
    // Every supernet stage learns from the teachers.
    let teachers: Vec<usize> = (0..jobs.len()).collect();
    for (index, phase) in phases.iter().enumerate() {
        let after = if index == 0 { teachers.clone() } else { vec![jobs.len() - 1] };
        jobs.push(PlannedJob {
            kind: JobKind::TrainPhase { index, name: phase.name.clone() },
            after,
        });
    }
    let mut trained = vec![jobs.len() - 1];
    if config.baseline.enabled {
        jobs.push(PlannedJob { kind: JobKind::TrainBaseline, after: teachers });
        trained.push(jobs.len() - 1);
    }
    let shards = shards.max(1);
    for shard in 0..shards {
        jobs.push(PlannedJob { kind: JobKind::Evaluate { shard, shards }, after: trained.clone() });
    }
    Ok(jobs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proard_core::experiment::demo_config;

    #[test]
    fn phases_chain_after_the_teacher_and_shards_wait_for_every_stage() {
        let config = demo_config();
        let phases = config.phases(config.resolve_space().unwrap().family()).len();
        let jobs = plan(&config, 2).unwrap();
        assert_eq!(jobs.len(), 1 + phases + 1 + 2);
        assert_eq!(jobs[0].kind, JobKind::TrainTeacher);
        for (i, job) in jobs.iter().enumerate().take(phases + 1).skip(1) {
            assert_eq!(job.after, vec![i - 1]);
        }
        let baseline = phases + 1;
        assert_eq!(jobs[baseline], PlannedJob { kind: JobKind::TrainBaseline, after: vec![0] });
        for shard in 0..2 {
            let job = &jobs[baseline + 1 + shard];
            assert_eq!(job.kind, JobKind::Evaluate { shard, shards: 2 });
            assert_eq!(job.after, vec![phases, baseline]);
        }
    }

    #[test]
    fn ciard_trains_its_clean_teacher_beside_the_robust_one() {
        let mut config = demo_config();
        config.supernet.objective =
            proard_core::objective::ObjectiveConfig::Ciard(Default::default());
        let phases = config.phases(config.resolve_space().unwrap().family()).len();
        let jobs = plan(&config, 1).unwrap();
        assert_eq!(jobs[1], PlannedJob { kind: JobKind::TrainCleanTeacher, after: vec![] });
        assert_eq!(jobs[2].after, vec![0, 1], "the first phase waits for both teachers");
        let baseline = 2 + phases;
        assert_eq!(jobs[baseline], PlannedJob { kind: JobKind::TrainBaseline, after: vec![0, 1] });
        assert_eq!(JobKind::TrainCleanTeacher.goal(), Some(Goal::CleanTeacher));
    }

    #[test]
    fn kinds_round_trip_as_json_and_name_their_goal() {
        let kind = JobKind::TrainPhase { index: 1, name: "depth".into() };
        let json = serde_json::to_string(&kind).unwrap();
        assert_eq!(json, r#"{"kind":"train-phase","index":1,"name":"depth"}"#);
        assert_eq!(serde_json::from_str::<JobKind>(&json).unwrap(), kind);
        assert_eq!(kind.goal(), Some(Goal::Phase(1)));
        assert_eq!(kind.label(), "train phase 2 (depth)");
    }
}
