//! Every file of a run directory, named in one place (docs/pipeline.md):
//!
//! ```text
//! DIR/config.toml                     the config the run was started with, its space inline
//! DIR/teacher/                        a stage directory (below), plus evaluation.jsonl: the
//!                                     teacher evaluated as a student
//! DIR/phases/<i>-<name>/              a stage directory per progressive phase
//! DIR/supernet.safetensors            the ProARD supernet (last phase)
//! DIR/students.jsonl                  ProARD students (students.shard-i-of-n.jsonl per shard)
//! DIR/baseline/train/                 the baseline's stage directory
//! DIR/baseline/supernet.safetensors
//! DIR/baseline/students.jsonl         baseline students
//!
//! <stage>/state.json                  where the stage stands (written last, atomically)
//! <stage>/model-<g>.bpk               weights and optimiser of checkpoint generation g
//! <stage>/optimizer-<g>.bpk
//! <stage>/log.jsonl                   one line per step and per epoch
//! <stage>/supernet.safetensors        the finished stage's weights (docs/weights.md)
//! <stage>/lock                        held by the one process writing the stage
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::config::{ExperimentConfig, PhaseConfig};
use super::error::RunError;
use super::students::Shard;

/// Which supernet a student was cut from, or the teacher evaluated as one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cloud {
    Proard,
    Baseline,
    Teacher,
}

impl Cloud {
    pub const ALL: [Cloud; 3] = [Cloud::Proard, Cloud::Baseline, Cloud::Teacher];

    pub fn name(self) -> &'static str {
        match self {
            Cloud::Proard => "proard",
            Cloud::Baseline => "baseline",
            Cloud::Teacher => "teacher",
        }
    }
}

impl std::str::FromStr for Cloud {
    type Err = String;

    fn from_str(text: &str) -> Result<Cloud, String> {
        Cloud::ALL
            .into_iter()
            .find(|c| c.name() == text)
            .ok_or_else(|| format!("`{text}` is not a cloud: use proard, baseline or teacher"))
    }
}

/// The files of one run directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunLayout {
    root: PathBuf,
}

impl RunLayout {
    pub fn new(root: impl Into<PathBuf>) -> RunLayout {
        RunLayout { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn config(&self) -> PathBuf {
        self.root.join("config.toml")
    }

    /// The run's config, or an error naming the directory when it holds no run.
    pub fn load_config(&self) -> Result<ExperimentConfig, RunError> {
        if !self.config().is_file() {
            return Err(RunError::Missing(format!(
                "{} holds no proard run (there is no config.toml in it)",
                self.root.display()
            )));
        }
        Ok(ExperimentConfig::load(&self.config())?)
    }

    pub fn teacher(&self) -> StageLayout {
        StageLayout(self.root.join("teacher"))
    }

    /// CIARD's naturally trained teacher.
    pub fn clean_teacher(&self) -> StageLayout {
        StageLayout(self.root.join("clean-teacher"))
    }

    /// The phase at 0-based `index`: `DIR/phases/<index + 1>-<name>`.
    pub fn phase(&self, index: usize, phase: &PhaseConfig) -> StageLayout {
        StageLayout(self.root.join("phases").join(format!("{}-{}", index + 1, phase.name)))
    }

    pub fn baseline(&self) -> StageLayout {
        StageLayout(self.root.join("baseline").join("train"))
    }

    /// The directory holding a cloud's supernet and student records.
    pub fn cloud_dir(&self, cloud: Cloud) -> PathBuf {
        match cloud {
            Cloud::Proard => self.root.clone(),
            Cloud::Baseline => self.root.join("baseline"),
            Cloud::Teacher => self.teacher().0,
        }
    }

    /// The supernet students are cut from: the last phase's, the baseline's, the teacher's.
    pub fn supernet(&self, cloud: Cloud) -> PathBuf {
        self.cloud_dir(cloud).join("supernet.safetensors")
    }

    /// The record file of one shard of a cloud's students (the teacher has one record).
    pub fn students(&self, cloud: Cloud, shard: Shard) -> PathBuf {
        match cloud {
            Cloud::Teacher => self.teacher().0.join("evaluation.jsonl"),
            _ => self.cloud_dir(cloud).join(shard.file_name()),
        }
    }

    /// Every record file of a cloud present now, sorted: the whole file and any shard files.
    pub fn student_files(&self, cloud: Cloud) -> std::io::Result<Vec<PathBuf>> {
        if cloud == Cloud::Teacher {
            return Ok(vec![self.students(cloud, Shard::WHOLE)]);
        }
        let dir = self.cloud_dir(cloud);
        let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(Vec::new()) };
        let mut files = Vec::new();
        for entry in entries {
            let path = entry?.path();
            let name =
                path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if name.starts_with("students") && name.ends_with(".jsonl") {
                files.push(path);
            }
        }
        files.sort();
        Ok(files)
    }
}

/// The files of one training stage's directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageLayout(pub PathBuf);

impl StageLayout {
    pub fn dir(&self) -> &Path {
        &self.0
    }

    pub fn state(&self) -> PathBuf {
        self.0.join("state.json")
    }

    /// Where the state is written before it is renamed into place.
    pub fn state_temporary(&self) -> PathBuf {
        self.0.join("state.json.tmp")
    }

    pub fn model(&self, generation: u64) -> PathBuf {
        self.0.join(format!("model-{generation}.bpk"))
    }

    pub fn optimizer(&self, generation: u64) -> PathBuf {
        self.0.join(format!("optimizer-{generation}.bpk"))
    }

    /// The stage's own copy of the robust teacher (CIARD), beside the student's checkpoint.
    pub fn teacher_model(&self, generation: u64) -> PathBuf {
        self.0.join(format!("teacher-model-{generation}.bpk"))
    }

    pub fn teacher_optimizer(&self, generation: u64) -> PathBuf {
        self.0.join(format!("teacher-optimizer-{generation}.bpk"))
    }

    /// The robust teacher as the stage left it (CIARD retrains it): the next stage's teacher.
    pub fn teacher(&self) -> PathBuf {
        self.0.join("teacher.safetensors")
    }

    pub fn log(&self) -> PathBuf {
        self.0.join("log.jsonl")
    }

    pub fn supernet(&self) -> PathBuf {
        self.0.join("supernet.safetensors")
    }

    pub fn lock(&self) -> PathBuf {
        self.0.join("lock")
    }
}
