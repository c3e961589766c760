//! The ProARD pipeline end to end (studio.md §2): teacher → progressive phases → random-sampling
//! baseline → student evaluation, each stage resumable, in one output directory:
//!
//! ```text
//! DIR/config.toml                     the config the run was started with
//! DIR/teacher/                        state.json, model-*.bpk, optimizer-*.bpk, log.jsonl,
//!                                     supernet.safetensors, evaluation.jsonl (the teacher
//!                                     evaluated as a student, by evaluation shard 0)
//! DIR/phases/<i>-<name>/              the same per phase
//! DIR/supernet.safetensors            the ProARD supernet (last phase)
//! DIR/students.jsonl                  ProARD students
//! DIR/baseline/train/                 the baseline stage
//! DIR/baseline/supernet.safetensors
//! DIR/baseline/students.jsonl         baseline students
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use burn::prelude::*;
use proard_shared::phase::PhaseChoices;
use proard_shared::{Family, Space};

use super::config::{ExperimentConfig, PhaseConfig};
use super::students::{Shard, StudentRecord, evaluate_students, evaluate_teacher};
use super::train::{StageContext, StageSpec, Teacher, train_stage};
use super::validate::Validator;
use crate::data::ImageSet;
use crate::data::spec::DataSpec;
use crate::data::synthetic::{self, SyntheticConfig};
use crate::model::Supernet;

/// How far a command takes the pipeline (each later goal needs the earlier stages, which are
/// loaded when finished and trained otherwise).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Goal {
    Teacher,
    Supernet,
    Baseline,
    /// Evaluate the students of the ProARD supernet (and the baseline's, when it is enabled).
    Evaluate(Shard),
    Everything,
}

/// What a finished command produced.
#[derive(Debug, Default)]
pub struct Outcome {
    pub students: Option<(PathBuf, usize)>,
    pub baseline_students: Option<(PathBuf, usize)>,
    pub teacher: Option<(PathBuf, StudentRecord)>,
}

/// Reads the data the config names, limited as it says.
pub fn load_data(config: &ExperimentConfig) -> anyhow::Result<ImageSet> {
    let spec: DataSpec = config.data.parse().context("the config's `data`")?;
    let limits = &config.data_limits;
    Ok(match spec {
        DataSpec::Synthetic => {
            let defaults = SyntheticConfig::default();
            synthetic::generate(&SyntheticConfig {
                seed: config.seed,
                train: limits.train_images.unwrap_or(defaults.train),
                test: limits.test_images.unwrap_or(defaults.test),
            })
        }
        spec => spec.load().with_context(|| format!("loading {spec}"))?.subset(
            limits.train_images,
            limits.test_images,
            config.seed,
        ),
    })
}

/// Records the config in `out`, or checks that `out` holds a run of this very config.
fn claim_directory(config: &ExperimentConfig, out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let path = out.join("config.toml");
    let text = config.to_toml();
    match std::fs::read_to_string(&path) {
        Ok(existing) => {
            let existing = ExperimentConfig::from_toml(&existing, &path.display().to_string())?;
            if existing != *config {
                bail!(
                    "{} holds a run of a different config; resume with that config or choose \
                     another --out",
                    out.display()
                );
            }
        }
        Err(_) => {
            // Per process: runs started side by side on a fresh DIR all write it.
            let temporary = out.join(format!("config.toml.tmp-{}", std::process::id()));
            std::fs::write(&temporary, text)
                .with_context(|| format!("writing {}", temporary.display()))?;
            std::fs::rename(&temporary, &path)
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(())
}

/// Number of middle-channel re-organisations before phase `index` opens expand ratios: the
/// protected "stage" of `Supernet::reorganize_middle_channels`.
fn expand_stage(space: &Space, phases: &[PhaseConfig], index: usize) -> Option<usize> {
    let opens_expand = |phase: &PhaseConfig| {
        let only_expand = PhaseChoices {
            expand_ratios: phase.choices.expand_ratios.clone(),
            ..Default::default()
        };
        !space.phase_genes(&only_expand).map(|g| g.is_locked()).unwrap_or(true)
    };
    opens_expand(&phases[index]).then(|| phases[..index].iter().filter(|p| opens_expand(p)).count())
}

/// Runs the pipeline up to `goal` in `out`, resuming whatever is there.
pub fn run(config: &ExperimentConfig, out: &Path, goal: Goal) -> anyhow::Result<Outcome> {
    config.validate()?;
    claim_directory(config, out)?;
    let space = config.resolve_space()?;
    let set = Arc::new(load_data(config)?);
    let plain = config.device.device()?;
    let device = plain.clone().autodiff();
    let validator = if config.validation.enabled {
        Some(Validator::new(
            &set,
            config.validation.calibration_images,
            config.validation.test_images,
            config.validation.attack.clone(),
            &plain,
        )?)
    } else {
        None
    };
    let context = StageContext {
        set: &set,
        device: &device,
        seed: config.seed,
        checkpoint_every_steps: config.checkpoint_every_steps,
        validator: validator.as_ref(),
        validate_every_epochs: config.validation.every_epochs,
    };
    let net_config = config.network.net_config();

    // 1. Teacher: the largest subnet, trained adversarially on its own.
    device.seed(config.seed);
    let fresh = Supernet::new(space.clone(), net_config.clone(), &device);
    let largest = space.phase_genes(&PhaseChoices::default()).expect("the largest arch");
    let teacher_spec = StageSpec {
        name: "teacher".into(),
        index: 0,
        dir: teacher_dir(out),
        genes: largest,
        epochs: config.teacher.epochs,
        warmup_epochs: config.teacher.warmup_epochs,
        learning_rate: config.teacher.learning_rate,
        subnets_per_step: 1,
        sampling: config.supernet.sampling,
        objective: config.teacher.objective.clone(),
        optimizer: config.teacher.optimizer.clone(),
    };
    let trained_teacher = train_stage(&context, &teacher_spec, fresh, None)?;
    if goal == Goal::Teacher {
        return Ok(Outcome::default());
    }
    let teacher = Teacher {
        network: trained_teacher.network.valid(),
        subnet: space.subnet(&space.largest_arch()).expect("the largest arch"),
    };
    // `valid()` copies: a module clone would share BatchNorm running-statistics cells, so a
    // phase's updates would leak into the weights the baseline starts from.
    let copy_of_teacher = || Supernet {
        space: space.clone(),
        config: net_config.clone(),
        network: trained_teacher.network.valid(),
    };

    // 2. Progressive phases, each from the previous one.
    let phases = config.phases(space.family());
    let mut current = copy_of_teacher();
    if goal != Goal::Baseline {
        for (i, phase) in phases.iter().enumerate() {
            let start = if phase.init_from_previous { current } else { copy_of_teacher() };
            let start = match expand_stage(&space, &phases, i) {
                Some(stage) => start.reorganize_middle_channels(stage),
                None => start,
            };
            let spec = StageSpec {
                name: format!("phase-{}-{}", i + 1, phase.name),
                index: 1 + i as u64,
                dir: phase_dir(out, i, phase),
                genes: space.phase_genes(&phase.choices)?,
                epochs: phase.epochs,
                warmup_epochs: phase.warmup_epochs,
                learning_rate: phase.learning_rate,
                subnets_per_step: phase.subnets_per_step,
                sampling: config.supernet.sampling,
                objective: config.supernet.objective.clone(),
                optimizer: config.supernet.optimizer.clone(),
            };
            current = train_stage(&context, &spec, start, Some(&teacher))?;
        }
        copy_file(
            &phase_dir(out, phases.len() - 1, phases.last().expect("validated"))
                .join("supernet.safetensors"),
            &out.join("supernet.safetensors"),
        )?;
    }
    if goal == Goal::Supernet {
        return Ok(Outcome::default());
    }

    // 3. Baseline: the whole space from the teacher's weights, same number of subnet updates.
    let baseline = if config.baseline.enabled
        && matches!(goal, Goal::Baseline | Goal::Everything | Goal::Evaluate(_))
    {
        let updates: usize =
            phases.iter().map(|p| (p.epochs + p.warmup_epochs) * p.subnets_per_step).sum();
        let per_step = config.baseline.subnets_per_step;
        let spec = StageSpec {
            name: "baseline".into(),
            index: 100,
            dir: baseline_dir(out),
            genes: space.phase_genes(&PhaseChoices::everything())?,
            epochs: updates.div_ceil(per_step).max(1),
            warmup_epochs: 0,
            learning_rate: config
                .baseline
                .learning_rate
                .unwrap_or_else(|| phases.last().expect("validated").learning_rate),
            subnets_per_step: per_step,
            sampling: config.supernet.sampling,
            objective: config.supernet.objective.clone(),
            optimizer: config.supernet.optimizer.clone(),
        };
        let trained = train_stage(&context, &spec, copy_of_teacher(), Some(&teacher))?;
        copy_file(
            &spec.dir.join("supernet.safetensors"),
            &out.join("baseline").join("supernet.safetensors"),
        )?;
        Some(trained)
    } else {
        None
    };
    if goal == Goal::Baseline {
        return Ok(Outcome::default());
    }

    // 4. Students.
    let shard = match goal {
        Goal::Evaluate(shard) => shard,
        _ => Shard::WHOLE,
    };
    let students = evaluate_students(&current, &set, &config.evaluation, shard, out, &plain)?;
    let baseline_students = match &baseline {
        Some(supernet) => Some(evaluate_students(
            supernet,
            &set,
            &config.evaluation,
            shard,
            &out.join("baseline"),
            &plain,
        )?),
        None => None,
    };
    let teacher = if shard.index == 0 {
        Some(evaluate_teacher(
            &copy_of_teacher(),
            &set,
            &config.evaluation,
            &teacher_dir(out),
            &plain,
        )?)
    } else {
        None
    };
    Ok(Outcome { students: Some(students), baseline_students, teacher })
}

pub(crate) fn teacher_dir(out: &Path) -> PathBuf {
    out.join("teacher")
}

/// `DIR/phases/<i>-<name>` for the phase at 0-based `index`.
fn phase_dir(out: &Path, index: usize, phase: &PhaseConfig) -> PathBuf {
    out.join("phases").join(format!("{}-{}", index + 1, phase.name))
}

fn baseline_dir(out: &Path) -> PathBuf {
    out.join("baseline").join("train")
}

/// Every training stage's directory in pipeline order: teacher, phases, baseline.
pub fn stage_dirs(config: &ExperimentConfig, out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let phases = config.phases(config.resolve_space()?.family());
    let mut dirs = vec![teacher_dir(out)];
    dirs.extend(phases.iter().enumerate().map(|(i, phase)| phase_dir(out, i, phase)));
    dirs.push(baseline_dir(out));
    Ok(dirs)
}

/// Copies a finished stage's export into place atomically. Finished stages never change, so an
/// existing copy is kept; the temporary name is per process because runs sharing a directory (the
/// phases beside the baseline, evaluation shards) may all get here at once.
fn copy_file(from: &Path, to: &Path) -> anyhow::Result<()> {
    if to.exists() {
        return Ok(());
    }
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let temporary = to.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::copy(from, &temporary).with_context(|| format!("copying {}", from.display()))?;
    std::fs::rename(&temporary, to).with_context(|| format!("writing {}", to.display()))?;
    Ok(())
}

/// The built-in demo: a tiny ResNet space on a small synthetic set, every stage of the pipeline
/// in a few minutes on two CPU cores.
pub fn demo_config() -> ExperimentConfig {
    let space: Space = Space::from_toml(DEMO_SPACE).expect("the demo space is valid");
    let mut config =
        ExperimentConfig::for_space(super::config::SpaceRef::Inline(space), Family::ResNet);
    config.data_limits.train_images = Some(512);
    config.data_limits.test_images = Some(128);
    let short_attack = |attack: &mut crate::attack::AscentConfig| {
        attack.steps = 3;
        attack.step_size = 0.012;
    };
    if let crate::objective::ObjectiveConfig::Trades(t) = &mut config.teacher.objective {
        short_attack(&mut t.attack);
    }
    if let crate::objective::ObjectiveConfig::Rslad(r) = &mut config.supernet.objective {
        short_attack(&mut r.attack);
    }
    config.teacher.epochs = 3;
    config.teacher.warmup_epochs = 0;
    config.teacher.learning_rate = 0.05;
    config.teacher.optimizer.batch = 64;
    config.supernet.optimizer.batch = 64;
    for phase in &mut config.phases {
        phase.epochs = 1;
        phase.warmup_epochs = 0;
        phase.learning_rate = 0.01;
        phase.subnets_per_step = phase.subnets_per_step.min(2);
    }
    config.baseline.subnets_per_step = 2;
    config.validation.calibration_images = 128;
    config.validation.test_images = Some(32);
    config.evaluation.students = 24;
    config.evaluation.calibration_images = 256;
    config.evaluation.test_images = Some(128);
    config
}

/// A ResNet space of a few MMACs: two stages, two widths, depths and ratios.
const DEMO_SPACE: &str = r#"
family = "resnet"
name = "demo-tiny"
io = { image_size = 32, in_channels = 3, n_classes = 10 }
stem = { base_width = 16, width_mults = [0.5, 1.0], residual_depths = [0, 2] }

[[stages]]
base_width = 32
stride = 2
base_depth = 1
depths = [0, 1]
width_mults = [0.5, 1.0]
expand_ratios = [0.25, 0.5]

[[stages]]
base_width = 64
stride = 2
base_depth = 1
depths = [0, 1]
width_mults = [0.5, 1.0]
expand_ratios = [0.25, 0.5]
"#;
