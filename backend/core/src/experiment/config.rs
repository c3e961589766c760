//! The experiment config (TOML, versioned): everything a run needs, with the reference's
//! defaults (docs/method.md), so that a result can always be traced to its settings.

use std::path::Path;

use proard_shared::phase::{PhaseChoices, reference_phases};
use proard_shared::{Family, Space};
use serde::{Deserialize, Serialize};

use crate::attack::{AscentConfig, FgsmConfig, PgdConfig};
use crate::device::DeviceChoice;
use crate::model::NetConfig;
use crate::objective::{ObjectiveConfig, RsladConfig, TradesConfig};
use crate::spaces::load_space;

/// The config format this build reads.
pub const CONFIG_VERSION: u32 = 1;

/// ε = 0.031, α = 0.0078: the reference's threat model for training and evaluation (docs/method.md, "Hyper-parameters").
const EPSILON: f64 = 0.031;
const STEP: f64 = 0.0078;

/// A whole ProARD experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    /// Must be [`CONFIG_VERSION`].
    pub version: u32,
    /// A preset name, a `.toml`/`.json` space file, or an inline `[space]` table.
    pub space: SpaceRef,
    /// `synthetic`, `cifar10:<dir>`, `cifar100:<dir>` or `folder:<dir>`.
    #[serde(default = "default_data")]
    pub data: String,
    /// Use only part of the data (a seeded random subset; for the synthetic set, its size).
    #[serde(default)]
    pub data_limits: DataLimits,
    /// `cpu`, `wgpu` or `cuda`.
    #[serde(default)]
    pub device: DeviceChoice,
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub network: NetworkSettings,
    #[serde(default)]
    pub teacher: TeacherConfig,
    /// CIARD's naturally trained teacher; trained only when the distillation needs it.
    #[serde(default)]
    pub clean_teacher: CleanTeacherConfig,
    #[serde(default)]
    pub supernet: SupernetConfig,
    /// Progressive phases in order; empty = the reference table for the space's family.
    #[serde(default)]
    pub phases: Vec<PhaseConfig>,
    #[serde(default)]
    pub baseline: BaselineConfig,
    #[serde(default)]
    pub validation: ValidationConfig,
    #[serde(default)]
    pub evaluation: EvaluationConfig,
    /// Extra checkpoints every this many optimiser steps (0: at the end of every epoch only).
    #[serde(default)]
    pub checkpoint_every_steps: usize,
}

fn default_data() -> String {
    "synthetic".into()
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum SpaceRef {
    Named(String),
    Inline(Space),
}

impl<'de> Deserialize<'de> for SpaceRef {
    /// A string names a preset or file; a table is a space, whose own error (naming the bad
    /// field) is reported rather than serde's "no variant matched".
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::String(name) => Ok(SpaceRef::Named(name)),
            table => serde_json::from_value(table)
                .map(SpaceRef::Inline)
                .map_err(<D::Error as serde::de::Error>::custom),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataLimits {
    pub train_images: Option<usize>,
    pub test_images: Option<usize>,
}

/// Network hyper-parameters outside the search space. Dropout is per stage
/// (`teacher.dropout`, `supernet.dropout`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkSettings {
    pub bn_momentum: f64,
    pub bn_epsilon: f64,
    pub kernel_transform: bool,
    /// Configs written before dropout was per stage: one rate for the teacher and every
    /// supernet stage. When present it overrides `teacher.dropout` and `supernet.dropout`, so
    /// that those runs resume as they started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropout: Option<f64>,
}

impl Default for NetworkSettings {
    fn default() -> Self {
        NetworkSettings {
            bn_momentum: 0.1,
            bn_epsilon: 1e-5,
            kernel_transform: true,
            dropout: None,
        }
    }
}

impl NetworkSettings {
    /// The network of a stage whose dropout rate is `dropout`.
    pub fn net_config(&self, dropout: f64) -> NetConfig {
        NetConfig::new()
            .with_bn_momentum(self.bn_momentum)
            .with_bn_epsilon(self.bn_epsilon)
            .with_kernel_transform(self.kernel_transform)
            .with_dropout(dropout)
    }
}

/// SGD with Nesterov momentum; no weight decay on BatchNorm parameters and biases. A partial
/// `[teacher.optimizer]` / `[supernet.optimizer]` table keeps that stage's defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizerConfig {
    pub momentum: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    pub batch: usize,
}

/// The adversarially trained teacher: the space's largest subnet (docs/method.md, "Teacher").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TeacherConfig {
    pub objective: ObjectiveConfig,
    pub epochs: usize,
    /// Extra epochs of linear warm-up from `warmup_lr` before the cosine schedule.
    pub warmup_epochs: usize,
    /// Where the warm-up starts (the reference's teacher: 0).
    pub warmup_lr: f64,
    pub learning_rate: f64,
    #[serde(deserialize_with = "teacher_optimizer")]
    pub optimizer: OptimizerConfig,
    /// Dropout before the classifier in training passes (the reference's teacher: none).
    pub dropout: f64,
}

fn teacher_optimizer<'de, D: serde::Deserializer<'de>>(d: D) -> Result<OptimizerConfig, D::Error> {
    crate::overlay::overlay(TeacherConfig::default().optimizer, d)
}

fn supernet_optimizer<'de, D: serde::Deserializer<'de>>(d: D) -> Result<OptimizerConfig, D::Error> {
    crate::overlay::overlay(SupernetConfig::default().optimizer, d)
}

impl Default for TeacherConfig {
    /// TRADES β = 6, ε 0.031, 10 steps of 0.0078; 120 + 5 epochs, LR 0.1, batch 128, wd 2e-4.
    fn default() -> Self {
        TeacherConfig {
            objective: ObjectiveConfig::Trades(TradesConfig {
                beta: 6.0,
                attack: reference_attack(),
            }),
            epochs: 120,
            warmup_epochs: 5,
            warmup_lr: 0.0,
            learning_rate: 0.1,
            optimizer: OptimizerConfig {
                momentum: 0.9,
                nesterov: true,
                weight_decay: 2e-4,
                batch: 128,
            },
            dropout: 0.0,
        }
    }
}

/// CIARD's clean teacher T_n: the largest subnet trained on clean images (cross-entropy), with
/// the robust teacher's schedule by default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CleanTeacherConfig {
    pub epochs: usize,
    pub warmup_epochs: usize,
    pub warmup_lr: f64,
    pub learning_rate: f64,
    #[serde(deserialize_with = "teacher_optimizer")]
    pub optimizer: OptimizerConfig,
    pub dropout: f64,
}

impl Default for CleanTeacherConfig {
    fn default() -> Self {
        let robust = TeacherConfig::default();
        CleanTeacherConfig {
            epochs: robust.epochs,
            warmup_epochs: robust.warmup_epochs,
            warmup_lr: robust.warmup_lr,
            learning_rate: robust.learning_rate,
            optimizer: robust.optimizer,
            dropout: robust.dropout,
        }
    }
}

impl CleanTeacherConfig {
    /// Natural training: SAT with a zero budget is cross-entropy on the clean images.
    pub fn objective() -> ObjectiveConfig {
        ObjectiveConfig::Sat(crate::objective::SatConfig {
            attack: AscentConfig {
                epsilon: 0.0,
                step_size: 0.0,
                steps: 0,
                start: crate::attack::PgdStart::None,
                ..AscentConfig::default()
            },
        })
    }
}

fn reference_attack() -> AscentConfig {
    AscentConfig { epsilon: EPSILON, step_size: STEP, ..AscentConfig::default() }
}

/// How subnets are drawn during supernet training.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sampling {
    /// OFA: every optimiser step sums the losses of `subnets_per_step` fresh subnets.
    PerStep,
    /// The reference code (docs/method.md, "Subnet sampling"): an epoch is `subnets_per_step` passes over the data, each
    /// with one subnet fixed for the whole pass.
    PerPass,
}

/// Supernet training shared by every phase and by the baseline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SupernetConfig {
    /// RSLAD by default (the reference's `kd_criterion`), with ε 0.031, 10 steps of 0.0078.
    pub objective: ObjectiveConfig,
    pub sampling: Sampling,
    #[serde(deserialize_with = "supernet_optimizer")]
    pub optimizer: OptimizerConfig,
    /// Dropout before the classifier in training passes, every phase and the baseline (the
    /// reference's supernet training: 0.1).
    pub dropout: f64,
}

impl Default for SupernetConfig {
    fn default() -> Self {
        SupernetConfig {
            objective: ObjectiveConfig::Rslad(RsladConfig {
                attack: reference_attack(),
                ..RsladConfig::default()
            }),
            sampling: Sampling::PerStep,
            optimizer: OptimizerConfig {
                momentum: 0.9,
                nesterov: true,
                weight_decay: 3e-5,
                batch: 64,
            },
            dropout: 0.1,
        }
    }
}

/// One progressive phase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseConfig {
    pub name: String,
    /// What the phase samples; dimensions left out stay at their largest choice.
    #[serde(default)]
    pub choices: PhaseChoices,
    pub epochs: usize,
    #[serde(default)]
    pub warmup_epochs: usize,
    /// Where the warm-up starts; unset, at `learning_rate`: the reference warms up from the
    /// unscaled base rate to the base rate times the GPUs, flat on one device.
    #[serde(default)]
    pub warmup_lr: Option<f64>,
    pub learning_rate: f64,
    #[serde(default = "one")]
    pub subnets_per_step: usize,
    /// Start from the previous phase's supernet (the first phase: from the teacher). Off:
    /// from the teacher's weights again.
    #[serde(default = "yes")]
    pub init_from_previous: bool,
}

fn one() -> usize {
    1
}

fn yes() -> bool {
    true
}

/// The reference table (docs/method.md, "Phases") for a family: epochs 120/25/120/25/120 (+5 warm-up on the long
/// ones), LR 3e-2, 2.5e-3, 7.5e-3, 2.5e-3, 7.5e-3, subnets per step 1, 2, 2, 4, 4.
pub fn reference_phase_configs(family: Family) -> Vec<PhaseConfig> {
    let settings = [
        (120, 5, 3e-2, 1),
        (25, 0, 2.5e-3, 2),
        (120, 5, 7.5e-3, 2),
        (25, 0, 2.5e-3, 4),
        (120, 5, 7.5e-3, 4),
    ];
    reference_phases(family)
        .into_iter()
        .zip(settings)
        .map(|((name, choices), (epochs, warmup_epochs, learning_rate, subnets_per_step))| {
            PhaseConfig {
                name: name.into(),
                choices,
                epochs,
                warmup_epochs,
                warmup_lr: None,
                learning_rate,
                subnets_per_step,
                init_from_previous: true,
            }
        })
        .collect()
}

/// The random-sampling baseline (docs/method.md; the paper's Fig. 2/7): the whole space sampled from the
/// teacher's weights, same objective, same total number of subnet updates as the phases.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BaselineConfig {
    pub enabled: bool,
    /// The baseline's LR (the last phase's by default).
    pub learning_rate: Option<f64>,
    pub subnets_per_step: usize,
}

impl Default for BaselineConfig {
    fn default() -> Self {
        BaselineConfig { enabled: true, learning_rate: None, subnets_per_step: 4 }
    }
}

/// The per-epoch validation grid (docs/method.md, "Validation during training").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValidationConfig {
    pub enabled: bool,
    /// Validate after every n-th epoch of a stage, and always after its last.
    pub every_epochs: usize,
    /// Test images per grid arch (all when absent; fewer are a fixed seeded choice across the
    /// split, never its first images, which a class-ordered split would fill with one class).
    pub test_images: Option<usize>,
    pub calibration_images: usize,
    pub attack: PgdConfig,
}

impl Default for ValidationConfig {
    fn default() -> Self {
        ValidationConfig {
            enabled: true,
            every_epochs: 1,
            test_images: None,
            calibration_images: 4000,
            attack: reference_pgd20(),
        }
    }
}

/// PGD-20 of the reference: ε 0.031, α 0.0078, uniform start.
fn reference_pgd20() -> PgdConfig {
    PgdConfig { epsilon: EPSILON, step_size: STEP, ..PgdConfig::default() }
}

/// Student evaluation (docs/attacks.md): N unique archs, BN re-calibration, clean / FGSM / PGD-20.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvaluationConfig {
    pub students: usize,
    /// Seeds the arch sample and the attacks.
    pub seed: u64,
    pub calibration_images: usize,
    pub calibration_batch: usize,
    pub batch: usize,
    /// Test images (all when absent; fewer are the same fixed seeded choice as validation's).
    pub test_images: Option<usize>,
    pub fgsm: FgsmConfig,
    pub pgd20: PgdConfig,
}

impl Default for EvaluationConfig {
    fn default() -> Self {
        EvaluationConfig {
            students: 2000,
            seed: 0,
            calibration_images: 4000,
            calibration_batch: 200,
            batch: 256,
            test_images: None,
            fgsm: FgsmConfig { epsilon: EPSILON, random_start: false },
            pgd20: reference_pgd20(),
        }
    }
}

/// Why a config cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{field}: {problem}")]
    Invalid { field: String, problem: String },
}

fn invalid(field: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { field: field.into(), problem: problem.into() }
}

impl ExperimentConfig {
    /// The default experiment for a space (reference settings, paper scale).
    pub fn for_space(space: SpaceRef, family: Family) -> ExperimentConfig {
        ExperimentConfig {
            version: CONFIG_VERSION,
            space,
            data: default_data(),
            data_limits: DataLimits::default(),
            device: DeviceChoice::Cpu,
            seed: 0,
            network: NetworkSettings::default(),
            teacher: TeacherConfig::default(),
            clean_teacher: CleanTeacherConfig::default(),
            supernet: SupernetConfig::default(),
            phases: reference_phase_configs(family),
            baseline: BaselineConfig::default(),
            validation: ValidationConfig::default(),
            evaluation: EvaluationConfig::default(),
            checkpoint_every_steps: 0,
        }
    }

    pub fn from_toml(text: &str, path: &str) -> Result<ExperimentConfig, ConfigError> {
        let config: ExperimentConfig = toml::from_str(text)
            .map_err(|e| ConfigError::Parse { path: path.into(), message: e.to_string() })?;
        config.validate()?;
        Ok(config)
    }

    pub fn load(path: &Path) -> Result<ExperimentConfig, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("an experiment config always serialises")
    }

    /// The space the config names.
    pub fn resolve_space(&self) -> Result<Space, ConfigError> {
        match &self.space {
            SpaceRef::Named(name) => {
                load_space(name).map_err(|e| invalid("space", format!("{e:#}")))
            }
            SpaceRef::Inline(space) => {
                space.validate().map_err(|e| invalid("space", e.to_string()))?;
                Ok(space.clone())
            }
        }
    }

    /// The phases to run: the configured ones, or the reference table.
    pub fn phases(&self, family: Family) -> Vec<PhaseConfig> {
        if self.phases.is_empty() { reference_phase_configs(family) } else { self.phases.clone() }
    }

    /// Checks what serde cannot: the version, the space, non-zero sizes, phase choices that
    /// exist in the space, objectives the pipeline can feed.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.version != CONFIG_VERSION {
            return Err(invalid(
                "version",
                format!(
                    "this proard reads version {CONFIG_VERSION}, the file says {}",
                    self.version
                ),
            ));
        }
        let space = self.resolve_space()?;
        self.data
            .parse::<crate::data::spec::DataSpec>()
            .map_err(|e| invalid("data", e.to_string()))?;
        for (field, optimizer) in [
            ("teacher.optimizer", &self.teacher.optimizer),
            ("supernet.optimizer", &self.supernet.optimizer),
        ] {
            if optimizer.batch == 0 {
                return Err(invalid(format!("{field}.batch"), "must be at least 1"));
            }
        }
        if self.teacher.objective.needs().teacher {
            return Err(invalid(
                "teacher.objective",
                format!(
                    "`{}` distils from a teacher; the teacher trains without one (use trades, sat or mart)",
                    self.teacher.objective.name()
                ),
            ));
        }
        if self.clean_teacher.optimizer.batch == 0 {
            return Err(invalid("clean_teacher.optimizer.batch", "must be at least 1"));
        }
        if self.clean_teacher.epochs + self.clean_teacher.warmup_epochs == 0 {
            return Err(invalid(
                "clean_teacher.epochs",
                "the clean teacher needs at least one epoch",
            ));
        }
        for (i, phase) in self.phases(space.family()).iter().enumerate() {
            let field = format!("phases[{i}]");
            let name = &phase.name;
            space
                .phase_genes(&phase.choices)
                .map_err(|e| invalid(format!("{field}.choices"), format!("phase `{name}`: {e}")))?;
            if phase.subnets_per_step == 0 {
                return Err(invalid(
                    format!("{field}.subnets_per_step"),
                    format!("phase `{name}`: must be at least 1"),
                ));
            }
            if phase.epochs + phase.warmup_epochs == 0 {
                return Err(invalid(
                    format!("{field}.epochs"),
                    format!("phase `{name}` needs at least one epoch"),
                ));
            }
        }
        if self.baseline.subnets_per_step == 0 {
            return Err(invalid("baseline.subnets_per_step", "must be at least 1"));
        }
        if self.validation.every_epochs == 0 {
            return Err(invalid(
                "validation.every_epochs",
                "must be at least 1 (to skip validation, set validation.enabled = false)",
            ));
        }
        if self.evaluation.batch == 0 || self.evaluation.calibration_batch == 0 {
            return Err(invalid("evaluation.batch", "batches must hold at least 1 image"));
        }
        for (field, rate) in [
            ("teacher.dropout", self.teacher.dropout),
            ("clean_teacher.dropout", self.clean_teacher.dropout),
            ("supernet.dropout", self.supernet.dropout),
            ("network.dropout", self.network.dropout.unwrap_or(0.0)),
        ] {
            if !(0.0..1.0).contains(&rate) {
                return Err(invalid(field, format!("{rate} is not a rate in [0, 1)")));
            }
        }
        Ok(())
    }

    /// The teacher's dropout rate (an older config's `network.dropout` where it has one).
    pub fn teacher_dropout(&self) -> f64 {
        self.network.dropout.unwrap_or(self.teacher.dropout)
    }

    /// The phases' and the baseline's dropout rate (an older config's `network.dropout` where it
    /// has one).
    pub fn supernet_dropout(&self) -> f64 {
        self.network.dropout.unwrap_or(self.supernet.dropout)
    }
}
