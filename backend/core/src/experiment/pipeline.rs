//! The ProARD pipeline end to end (studio.md §2): teacher → progressive phases → random-sampling
//! baseline → student evaluation, each stage resumable, in one run directory
//! ([`RunLayout`] names its files). Progress goes to an [`Events`] observer, which can also
//! cancel the run between steps.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::prelude::*;
use proard_shared::phase::PhaseChoices;
use proard_shared::{Family, Space};

use super::config::{CleanTeacherConfig, ConfigError, ExperimentConfig, PhaseConfig, SpaceRef};
use super::error::RunError;
use super::events::Events;
use super::layout::{Cloud, RunLayout, StageLayout};
use super::students::{Shard, StudentRecord, evaluate_students, evaluate_teacher};
use super::train::{StageContext, StageSpec, Teacher, Teachers, train_stage};
use super::validate::Validator;
use crate::data::spec::DataSpec;
use crate::data::synthetic::{self, SyntheticConfig};
use crate::data::{ImageSet, stream_seed};
use crate::model::Supernet;
use crate::noise;

/// Seeds the clean teacher's initialisation apart from the robust teacher's.
const CLEAN_TEACHER_STREAM: u64 = 0xC1EA;

/// A copy of a trained supernet with plain weights: a teacher that learns nothing.
fn frozen_copy(trained: &Supernet) -> Supernet {
    Supernet {
        space: trained.space.clone(),
        config: trained.config.clone(),
        network: trained.network.valid(),
    }
}

/// How far a command takes the pipeline (each later goal needs the earlier stages, which are
/// loaded when finished and trained otherwise).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Goal {
    Teacher,
    /// CIARD's naturally trained teacher (for other distillation methods, nothing).
    CleanTeacher,
    /// The progressive phases up to the one at this 0-based index.
    Phase(usize),
    /// Every progressive phase.
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

/// A training stage of a config: its name (`teacher`, `phase-1-width`, `baseline`) and files.
#[derive(Clone, Debug, PartialEq)]
pub struct Stage {
    pub name: String,
    pub layout: StageLayout,
}

/// Every training stage in pipeline order: teacher, clean teacher (when the distillation needs
/// one), phases, baseline (when enabled).
pub fn stages(config: &ExperimentConfig, layout: &RunLayout) -> Result<Vec<Stage>, RunError> {
    let phases = config.phases(config.resolve_space()?.family());
    let mut stages = vec![Stage { name: "teacher".into(), layout: layout.teacher() }];
    if config.supernet.objective.needs().clean_teacher {
        stages.push(Stage { name: "clean-teacher".into(), layout: layout.clean_teacher() });
    }
    stages.extend(
        phases
            .iter()
            .enumerate()
            .map(|(i, phase)| Stage { name: phase_name(i, phase), layout: layout.phase(i, phase) }),
    );
    if config.baseline.enabled {
        stages.push(Stage { name: "baseline".into(), layout: layout.baseline() });
    }
    Ok(stages)
}

fn phase_name(index: usize, phase: &PhaseConfig) -> String {
    format!("phase-{}-{}", index + 1, phase.name)
}

/// Reads the data the config names, limited as it says; a set whose images or classes the
/// space's `io` does not take is an error naming both.
pub fn load_data(config: &ExperimentConfig) -> Result<ImageSet, RunError> {
    let spec: DataSpec = config.data.parse()?;
    let limits = &config.data_limits;
    let set = match spec {
        DataSpec::Synthetic => {
            let defaults = SyntheticConfig::default();
            synthetic::generate(&SyntheticConfig {
                seed: config.seed,
                train: limits.train_images.unwrap_or(defaults.train),
                test: limits.test_images.unwrap_or(defaults.test),
            })
        }
        spec => spec.load()?.subset(limits.train_images, limits.test_images, config.seed),
    };
    fits_space(&set, &config.resolve_space()?, &config.data)?;
    Ok(set)
}

/// The space's input size, channels and classes are the data set's.
pub fn fits_space(set: &ImageSet, space: &Space, data: &str) -> Result<(), ConfigError> {
    let (io, shape, classes) = (space.io(), set.shape(), set.classes().len());
    let size = io.image_size as usize;
    let problem = if (shape.height, shape.width) != (size, size) {
        format!(
            "`{data}` has {}×{} images but the space's io.image_size is {size}",
            shape.height, shape.width
        )
    } else if shape.channels != io.in_channels as usize {
        format!(
            "`{data}` has {} channels but the space's io.in_channels is {}",
            shape.channels, io.in_channels
        )
    } else if classes != io.n_classes as usize {
        format!("`{data}` has {classes} classes but the space's io.n_classes is {}", io.n_classes)
    } else {
        return Ok(());
    };
    Err(ConfigError::Invalid { field: "data".into(), problem })
}

/// The config as a run directory records it: the space resolved and inline, so that the
/// directory reads back anywhere, whatever the space file was relative to.
pub fn self_contained(config: &ExperimentConfig) -> Result<ExperimentConfig, RunError> {
    Ok(ExperimentConfig { space: SpaceRef::Inline(config.resolve_space()?), ..config.clone() })
}

/// Records the config in the run directory, or checks that it holds a run of this very config.
fn claim_directory(config: &ExperimentConfig, layout: &RunLayout) -> Result<(), RunError> {
    let out = layout.root();
    std::fs::create_dir_all(out).map_err(RunError::io(out))?;
    let path = layout.config();
    let config = self_contained(config)?;
    match std::fs::read_to_string(&path) {
        Ok(existing) => {
            let existing = ExperimentConfig::from_toml(&existing, &path.display().to_string())?;
            if self_contained(&existing)? != config {
                return Err(RunError::OtherRun { dir: out.to_owned() });
            }
        }
        Err(_) => {
            // Per process: runs started side by side on a fresh DIR all write it.
            let temporary = out.join(format!("config.toml.tmp-{}", std::process::id()));
            std::fs::write(&temporary, config.to_toml()).map_err(RunError::io(&temporary))?;
            std::fs::rename(&temporary, &path).map_err(RunError::io(&path))?;
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

/// Runs the pipeline up to `goal` in `out`, resuming whatever is there, reporting to `events`.
pub fn run(
    config: &ExperimentConfig,
    out: &Path,
    goal: Goal,
    events: &dyn Events,
) -> Result<Outcome, RunError> {
    config.validate()?;
    let layout = RunLayout::new(out);
    claim_directory(config, &layout)?;
    let space = config.resolve_space()?;
    let set = Arc::new(load_data(config)?);
    let plain = config.device.device().map_err(|e| RunError::Missing(e.to_string()))?;
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
        events,
    };
    let teacher_config = config.network.net_config(config.teacher_dropout());
    let supernet_dropout = config.supernet_dropout();

    // 1. Teacher: the largest subnet, trained adversarially on its own.
    noise::seed(config.seed);
    let fresh = Supernet::new(space.clone(), teacher_config.clone(), &device);
    let largest = space.phase_genes(&PhaseChoices::default()).expect("the largest arch");
    let teacher_spec = StageSpec {
        name: "teacher".into(),
        index: 0,
        dir: layout.teacher(),
        genes: largest,
        epochs: config.teacher.epochs,
        warmup_epochs: config.teacher.warmup_epochs,
        warmup_lr: config.teacher.warmup_lr,
        learning_rate: config.teacher.learning_rate,
        subnets_per_step: 1,
        sampling: config.supernet.sampling,
        objective: config.teacher.objective.clone(),
        optimizer: config.teacher.optimizer.clone(),
    };
    let largest_subnet = space.subnet(&space.largest_arch()).expect("the largest arch");
    // CIARD's T_n: the largest subnet trained on clean images, beside the robust teacher (a
    // stage of its own, so that another worker can train it at the same time).
    let needs_clean = config.supernet.objective.needs().clean_teacher;
    let train_clean_teacher = || -> Result<Teacher, RunError> {
        let clean = &config.clean_teacher;
        noise::seed(stream_seed(&[config.seed, CLEAN_TEACHER_STREAM]));
        let fresh = Supernet::new(space.clone(), config.network.net_config(clean.dropout), &device);
        let spec = StageSpec {
            name: "clean-teacher".into(),
            index: 200,
            dir: layout.clean_teacher(),
            genes: space.phase_genes(&PhaseChoices::default()).expect("the largest arch"),
            epochs: clean.epochs,
            warmup_epochs: clean.warmup_epochs,
            warmup_lr: clean.warmup_lr,
            learning_rate: clean.learning_rate,
            subnets_per_step: 1,
            sampling: config.supernet.sampling,
            objective: CleanTeacherConfig::objective(),
            optimizer: clean.optimizer.clone(),
        };
        let trained = train_stage(&context, &spec, fresh, Teachers::default())?;
        Ok(Teacher { supernet: frozen_copy(&trained), subnet: largest_subnet.clone() })
    };
    if goal == Goal::CleanTeacher {
        if needs_clean {
            train_clean_teacher()?;
        }
        return Ok(Outcome::default());
    }
    let trained_teacher = train_stage(&context, &teacher_spec, fresh, Teachers::default())?;
    if goal == Goal::Teacher {
        return Ok(Outcome::default());
    }
    let clean_teacher = if needs_clean { Some(train_clean_teacher()?) } else { None };
    let teacher = Teacher { supernet: frozen_copy(&trained_teacher), subnet: largest_subnet };
    // A stage that keeps its own teacher (CIARD retrains it) hands it on to the next phase;
    // otherwise every stage learns from the one robust teacher.
    let owns_teacher = config.supernet.objective.needs().owns_teacher;
    let retrained_by = |stage: &StageLayout| -> Result<Teacher, RunError> {
        Ok(Teacher {
            supernet: crate::model::weights::load_supernet(&stage.teacher(), &plain)?,
            subnet: teacher.subnet.clone(),
        })
    };
    // `valid()` copies: a module clone would share BatchNorm running-statistics cells, so a
    // phase's updates would leak into the weights the baseline starts from. Supernet stages
    // train with their own dropout rate.
    let copy_of_teacher = || Supernet {
        space: space.clone(),
        config: teacher_config.clone().with_dropout(supernet_dropout),
        network: teacher.supernet.network.valid().with_dropout(supernet_dropout),
    };

    // 2. Progressive phases, each from the previous one.
    let phases = config.phases(space.family());
    let last_phase = match goal {
        Goal::Phase(i) => i.min(phases.len() - 1),
        _ => phases.len() - 1,
    };
    let mut current = copy_of_teacher();
    if goal != Goal::Baseline {
        let mut before: Option<StageLayout> = None;
        for (i, phase) in phases.iter().enumerate().take(last_phase + 1) {
            let start = if phase.init_from_previous { current } else { copy_of_teacher() };
            let start = match expand_stage(&space, &phases, i) {
                Some(stage) => start.reorganize_middle_channels(stage),
                None => start,
            };
            let spec = StageSpec {
                name: phase_name(i, phase),
                index: 1 + i as u64,
                dir: layout.phase(i, phase),
                genes: space.phase_genes(&phase.choices).map_err(|e| config_error(i, e))?,
                epochs: phase.epochs,
                warmup_epochs: phase.warmup_epochs,
                warmup_lr: phase.warmup_lr.unwrap_or(phase.learning_rate),
                learning_rate: phase.learning_rate,
                subnets_per_step: phase.subnets_per_step,
                sampling: config.supernet.sampling,
                objective: config.supernet.objective.clone(),
                optimizer: config.supernet.optimizer.clone(),
            };
            let retrained = match &before {
                Some(stage) if owns_teacher => Some(retrained_by(stage)?),
                _ => None,
            };
            let teachers = Teachers {
                robust: Some(retrained.as_ref().unwrap_or(&teacher)),
                clean: clean_teacher.as_ref(),
            };
            current = train_stage(&context, &spec, start, teachers)?;
            before = Some(spec.dir);
        }
        if last_phase == phases.len() - 1 {
            let last = layout.phase(last_phase, &phases[last_phase]);
            copy_file(&last.supernet(), &layout.supernet(Cloud::Proard))?;
        }
    }
    if matches!(goal, Goal::Supernet | Goal::Phase(_)) {
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
            dir: layout.baseline(),
            genes: space.phase_genes(&PhaseChoices::everything()).expect("the whole space"),
            epochs: updates.div_ceil(per_step).max(1),
            warmup_epochs: 0,
            warmup_lr: 0.0,
            learning_rate: config
                .baseline
                .learning_rate
                .unwrap_or_else(|| phases.last().expect("validated").learning_rate),
            subnets_per_step: per_step,
            sampling: config.supernet.sampling,
            objective: config.supernet.objective.clone(),
            optimizer: config.supernet.optimizer.clone(),
        };
        let teachers = Teachers { robust: Some(&teacher), clean: clean_teacher.as_ref() };
        let trained = train_stage(&context, &spec, copy_of_teacher(), teachers)?;
        copy_file(&spec.dir.supernet(), &layout.supernet(Cloud::Baseline))?;
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
    let evaluation = &config.evaluation;
    let students = evaluate_students(
        &current,
        &set,
        evaluation,
        shard,
        (&layout, Cloud::Proard),
        &plain,
        events,
    )?;
    let baseline_students = match &baseline {
        Some(supernet) => Some(evaluate_students(
            supernet,
            &set,
            evaluation,
            shard,
            (&layout, Cloud::Baseline),
            &plain,
            events,
        )?),
        None => None,
    };
    let teacher = if shard.index == 0 {
        Some(evaluate_teacher(&copy_of_teacher(), &set, evaluation, &layout, &plain, events)?)
    } else {
        None
    };
    Ok(Outcome { students: Some(students), baseline_students, teacher })
}

fn config_error(phase: usize, error: impl std::fmt::Display) -> RunError {
    RunError::Config(super::config::ConfigError::Invalid {
        field: format!("phases[{phase}].choices"),
        problem: error.to_string(),
    })
}

/// Copies a finished stage's export into place atomically. Finished stages never change, so an
/// existing copy is kept; the temporary name is per process because runs sharing a directory (the
/// phases beside the baseline, evaluation shards) may all get here at once.
fn copy_file(from: &Path, to: &Path) -> Result<(), RunError> {
    if to.exists() {
        return Ok(());
    }
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(RunError::io(parent))?;
    }
    let temporary = to.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::copy(from, &temporary).map_err(RunError::io(from))?;
    std::fs::rename(&temporary, to).map_err(RunError::io(to))?;
    Ok(())
}

/// The built-in demo: a tiny ResNet space on a small synthetic set, every stage of the pipeline
/// in about five minutes on two CPU cores, its students well above chance (docs/pipeline.md has
/// its measured numbers). Its attacks are the papers' ε = 8/255; only the scale is small.
pub fn demo_config() -> ExperimentConfig {
    let space: Space = Space::from_toml(DEMO_SPACE).expect("the demo space is valid");
    let mut config = ExperimentConfig::for_space(SpaceRef::Inline(space), Family::ResNet);
    config.data_limits.train_images = Some(1024);
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
    config.teacher.epochs = 5;
    config.teacher.warmup_epochs = 0;
    config.teacher.learning_rate = 0.1;
    config.teacher.optimizer.batch = 64;
    config.supernet.optimizer.batch = 64;
    // Every dimension of the demo space has two choices, so the reference's second depth and
    // expand phases open what its first ones do: one phase per dimension, in ProARD's order.
    config.phases.retain(|phase| matches!(phase.name.as_str(), "width" | "depth-2" | "expand-2"));
    for phase in &mut config.phases {
        phase.name = phase.name.trim_end_matches("-2").to_owned();
        phase.epochs = 1;
        phase.warmup_epochs = 0;
        phase.learning_rate = 0.05;
        phase.subnets_per_step = 2;
    }
    config.baseline.subnets_per_step = 2;
    config.validation.calibration_images = 128;
    config.validation.test_images = Some(32);
    config.evaluation.students = 20;
    config.evaluation.calibration_images = 128;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_set_the_space_cannot_take_is_an_error_naming_both() {
        let mut config = demo_config();
        assert!(load_data(&config).is_ok());
        let mut space = config.resolve_space().unwrap();
        fn io(space: &mut Space) -> &mut proard_shared::space::Io {
            match space {
                Space::ResNet(s) => &mut s.io,
                Space::MobileNetV3(s) => &mut s.io,
            }
        }
        io(&mut space).image_size = 30;
        config.space = SpaceRef::Inline(space.clone());
        let error = load_data(&config).unwrap_err().to_string();
        assert_eq!(error, "data: `synthetic` has 32×32 images but the space's io.image_size is 30");
        io(&mut space).image_size = 32;
        io(&mut space).n_classes = 100;
        config.space = SpaceRef::Inline(space);
        let error = load_data(&config).unwrap_err().to_string();
        assert_eq!(error, "data: `synthetic` has 10 classes but the space's io.n_classes is 100");
    }
}
