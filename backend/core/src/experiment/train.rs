//! One training stage — the teacher, a progressive phase, or the baseline — with checkpoints
//! that a killed run resumes from exactly.
//!
//! Determinism is what makes resuming exact: the noise stream ([`crate::noise`]) is re-seeded
//! from (seed, stage, step) before every step, subnets are drawn from seeded streams, and the
//! loader's order and augmentation are functions of (seed, epoch). A checkpoint therefore only
//! needs the weights, the optimiser state, the position and the log length; a resumed run
//! replays nothing twice.

use std::sync::Arc;
use std::time::Instant;

use burn::module::{Module, ParamGroup};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig};
use burn::prelude::*;
use proard_shared::genome::seeded_rng;
use proard_shared::phase::PhaseGenes;
use proard_shared::{Space, Subnet};
use serde::{Deserialize, Serialize};

use super::config::{OptimizerConfig, Sampling};
use super::error::RunError;
use super::events::{Events, StageStart};
use super::journal::Journal;
use super::layout::StageLayout;
use super::lock::OutputLock;
use super::validate::{GridResult, Validator};
use crate::data::loader::{Loader, LoaderConfig};
use crate::data::{ImageSet, Split, stream_seed};
use crate::model::{NetConfig, Network, Supernet, View, weights};
use crate::noise;
use crate::objective::{Batch, CiardState, Nets, Objective, ObjectiveConfig, Progress};
use proard_shared::schedule::learning_rate;

/// Random streams of a stage, besides the seed and the stage index.
const STEP_STREAM: u64 = 11;
const SAMPLE_STREAM: u64 = 12;
const LOADER_STREAM: u64 = 13;

/// What a stage trains and how.
#[derive(Clone, Debug)]
pub struct StageSpec {
    /// `teacher`, `phase-1-width`, `baseline`, …: names the directory and every log line.
    pub name: String,
    /// Distinguishes the random streams of stages.
    pub index: u64,
    pub dir: StageLayout,
    /// What each step may sample.
    pub genes: PhaseGenes,
    pub epochs: usize,
    pub warmup_epochs: usize,
    /// Where the warm-up starts.
    pub warmup_lr: f64,
    pub learning_rate: f64,
    pub subnets_per_step: usize,
    pub sampling: Sampling,
    pub objective: ObjectiveConfig,
    pub optimizer: OptimizerConfig,
}

/// A frozen teacher: its supernet (plain, valid weights) and the subnet it runs.
pub struct Teacher {
    pub supernet: Supernet,
    pub subnet: Subnet,
}

/// The teachers a stage learns from.
#[derive(Clone, Copy, Default)]
pub struct Teachers<'a> {
    /// The adversarially trained teacher.
    pub robust: Option<&'a Teacher>,
    /// CIARD's naturally trained teacher.
    pub clean: Option<&'a Teacher>,
}

/// A robust teacher the stage keeps its own copy of (CIARD): trained by ITT with its own
/// optimiser, checkpointed with the student.
struct OwnTeacher {
    network: Network,
    optimizer: ModuleOptimizer,
    subnet: Subnet,
    space: Space,
    config: NetConfig,
}

/// Where a stage stands; written last, atomically, so it always names complete files.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageState {
    pub stage: String,
    /// Files `model-<generation>.bpk` / `optimizer-<generation>.bpk` hold the weights.
    pub generation: u64,
    /// Next epoch to run (0-based) and the next step inside it.
    pub epoch: usize,
    pub step_in_epoch: usize,
    /// Optimiser steps done.
    pub steps: usize,
    pub log_bytes: u64,
    /// Loss sum and steps of the current epoch so far, for its mean.
    pub epoch_loss_sum: f64,
    pub epoch_loss_steps: usize,
    /// Seconds the current epoch has run up to this checkpoint, so that an epoch resumed mid-way
    /// logs its whole time (absent in states written before it was kept).
    #[serde(default)]
    pub epoch_seconds: f64,
    pub finished: bool,
    pub objective_state: CiardState,
}

/// Everything a stage reads but does not own.
pub struct StageContext<'a> {
    pub set: &'a Arc<ImageSet>,
    pub device: &'a Device,
    pub seed: u64,
    pub checkpoint_every_steps: usize,
    pub validator: Option<&'a Validator>,
    /// Validate after every n-th epoch (and the last).
    pub validate_every_epochs: usize,
    pub events: &'a dyn Events,
}

/// SGD with (Nesterov) momentum, no dampening, weight decay except on BatchNorm and biases.
fn new_optimizer(config: &OptimizerConfig) -> ModuleOptimizer {
    let momentum = MomentumConfig::new()
        .with_momentum(config.momentum)
        .with_dampening(0.0)
        .with_nesterov(config.nesterov);
    let decayed = SgdConfig::new().with_momentum(Some(momentum.clone())).with_weight_decay(
        (config.weight_decay > 0.0).then(|| WeightDecayConfig::new(config.weight_decay as f32)),
    );
    let plain = SgdConfig::new().with_momentum(Some(momentum)).build();
    decayed.init().with_group(ParamGroup::from_any_predicates(vec!["bn", "bias"]), plain, None)
}

/// Reads a stage's state, if it has one.
pub fn read_state(dir: &StageLayout) -> Result<Option<StageState>, RunError> {
    let path = dir.state();
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| RunError::Checkpoint {
            stage: dir.dir().display().to_string(),
            message: format!("{} is not a valid state file: {e}", path.display()),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(RunError::io(path)(e)),
    }
}

/// Writes weights and optimiser under a new generation, then the state naming them.
fn save_checkpoint(
    dir: &StageLayout,
    (network, optimizer): (&Network, &ModuleOptimizer),
    teacher: Option<&OwnTeacher>,
    state: &StageState,
) -> Result<(), RunError> {
    let failed = |message: String| RunError::Checkpoint { stage: state.stage.clone(), message };
    let mut files =
        vec![(network, optimizer, dir.model(state.generation), dir.optimizer(state.generation))];
    if let Some(teacher) = teacher {
        files.push((
            &teacher.network,
            &teacher.optimizer,
            dir.teacher_model(state.generation),
            dir.teacher_optimizer(state.generation),
        ));
    }
    for (network, optimizer, model, optim) in files {
        network
            .clone()
            .save_file(&model)
            .map_err(|e| failed(format!("saving {}: {e}", model.display())))?;
        optimizer.save(&optim).map_err(|e| failed(format!("saving {}: {e}", optim.display())))?;
    }
    let path = dir.state();
    let temporary = dir.state_temporary();
    let bytes = serde_json::to_vec_pretty(state).expect("a state serialises");
    std::fs::write(&temporary, bytes).map_err(RunError::io(&temporary))?;
    std::fs::File::open(&temporary).and_then(|f| f.sync_all()).map_err(RunError::io(&temporary))?;
    std::fs::rename(&temporary, &path).map_err(RunError::io(&path))?;
    if state.generation > 0 {
        let previous = state.generation - 1;
        for file in [
            dir.model(previous),
            dir.optimizer(previous),
            dir.teacher_model(previous),
            dir.teacher_optimizer(previous),
        ] {
            let _ = std::fs::remove_file(file);
        }
    }
    Ok(())
}

/// A checkpoint file that does not load, as the stage's error.
fn unreadable<E: std::fmt::Display>(
    state: &StageState,
    path: &std::path::Path,
) -> impl FnOnce(E) -> RunError {
    let (stage, path) = (state.stage.clone(), path.display().to_string());
    move |e| RunError::Checkpoint { stage, message: format!("cannot load {path}: {e}") }
}

/// One JSON line of a stage's log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum LogLine {
    Step {
        stage: String,
        epoch: usize,
        step: usize,
        lr: f64,
        loss: f64,
    },
    Epoch {
        stage: String,
        epoch: usize,
        steps: usize,
        mean_loss: f64,
        seconds: f64,
        validation: Vec<GridResult>,
    },
}

/// Trains `supernet` through `spec`, resuming from `spec.dir` if a checkpoint is there, and
/// returns the trained supernet. A finished stage is loaded, not retrained, and reports no
/// events. Cancellation is checked before every step; a cancelled stage writes a checkpoint first.
pub fn train_stage(
    context: &StageContext,
    spec: &StageSpec,
    supernet: Supernet,
    teachers: Teachers,
) -> Result<Supernet, RunError> {
    let result = train(context, spec, supernet, teachers);
    match &result {
        Ok(_) | Err(RunError::Cancelled { .. }) => {}
        Err(error) => context.events.stage_failed(&spec.name, error),
    }
    result
}

fn train(
    context: &StageContext,
    spec: &StageSpec,
    supernet: Supernet,
    teachers: Teachers,
) -> Result<Supernet, RunError> {
    std::fs::create_dir_all(spec.dir.dir()).map_err(RunError::io(spec.dir.dir()))?;
    // A finished stage is only read, so runs that share it (the phases and the baseline share
    // the teacher) need no claim on it; any other stage has one writer.
    let finished = read_state(&spec.dir)?.is_some_and(|s| s.finished);
    let what = format!("stage `{}` ({})", spec.name, spec.dir.dir().display());
    let _lock = if finished { None } else { Some(OutputLock::acquire(&spec.dir.lock(), &what)?) };
    let Supernet { space, config, network } = supernet;
    let mut network = network.fork(context.device).train();
    let mut optimizer = new_optimizer(&spec.optimizer);
    let mut state = StageState {
        stage: spec.name.clone(),
        generation: 0,
        epoch: 0,
        step_in_epoch: 0,
        steps: 0,
        log_bytes: 0,
        epoch_loss_sum: 0.0,
        epoch_loss_steps: 0,
        epoch_seconds: 0.0,
        finished: false,
        objective_state: CiardState::default(),
    };
    // CIARD runs its robust teacher in train mode (its BatchNorm statistics move) and, with ITT,
    // trains it: the stage keeps its own copy, so that a resumed stage sees exactly the teacher
    // an uninterrupted one would.
    let mut own_teacher = match (spec.objective.needs().owns_teacher, teachers.robust) {
        (true, Some(teacher)) => Some(OwnTeacher {
            network: teacher.supernet.network.valid().fork(context.device).train(),
            optimizer: new_optimizer(&teacher_optimizer(&spec.objective, &spec.optimizer)),
            subnet: teacher.subnet.clone(),
            space: teacher.supernet.space.clone(),
            config: teacher.supernet.config.clone(),
        }),
        _ => None,
    };
    let mut resumed = false;
    if let Some(saved) = read_state(&spec.dir)? {
        let (model, optim) =
            (spec.dir.model(saved.generation), spec.dir.optimizer(saved.generation));
        network = network.try_load_file(&model).map_err(unreadable(&saved, &model))?;
        optimizer = optimizer.load(&optim).map_err(unreadable(&saved, &optim))?;
        if let Some(mut teacher) = own_teacher.take() {
            let (model, optim) = (
                spec.dir.teacher_model(saved.generation),
                spec.dir.teacher_optimizer(saved.generation),
            );
            teacher.network =
                teacher.network.try_load_file(&model).map_err(unreadable(&saved, &model))?;
            teacher.optimizer =
                teacher.optimizer.load(&optim).map_err(unreadable(&saved, &optim))?;
            own_teacher = Some(teacher);
        }
        state = saved;
        resumed = true;
    }
    if state.finished {
        let supernet = Supernet { space, config, network };
        export(spec, &supernet, own_teacher.as_ref())?;
        return Ok(supernet);
    }
    let log_path = spec.dir.log();
    let mut log = Journal::open(&log_path, resumed.then_some(state.log_bytes))
        .map_err(RunError::io(&log_path))?;

    let loader = Loader::new(
        context.set.clone(),
        Split::Train,
        LoaderConfig::train(
            spec.optimizer.batch,
            stream_seed(&[context.seed, spec.index, LOADER_STREAM]),
        ),
    );
    let batches = loader.batches();
    let passes = match spec.sampling {
        Sampling::PerStep => 1,
        Sampling::PerPass => spec.subnets_per_step,
    };
    let subnets_per_step = match spec.sampling {
        Sampling::PerStep => spec.subnets_per_step,
        Sampling::PerPass => 1,
    };
    let steps_per_epoch = batches * passes;
    let epochs = spec.epochs + spec.warmup_epochs;
    let (warmup_steps, cosine_steps) =
        (spec.warmup_epochs * steps_per_epoch, spec.epochs * steps_per_epoch);
    let mut objective = Objective::new(spec.objective.clone());
    objective.ciard = state.objective_state.clone();
    let events = context.events;
    events.stage_started(&StageStart {
        stage: &spec.name,
        unit: "steps",
        total: (epochs * steps_per_epoch) as u64,
        done: state.steps as u64,
        epochs,
    });
    let clean_view = teachers.clean.map(|t| View::new(&t.supernet.network, &t.subnet));

    for epoch in state.epoch..epochs {
        // Time this epoch ran before a resume: the steps up to the checkpoint are not redone.
        let carried = state.epoch_seconds;
        let started = Instant::now();
        for pass in 0..passes {
            if (pass + 1) * batches <= state.step_in_epoch {
                continue;
            }
            let pass_subnet = (spec.sampling == Sampling::PerPass).then(|| {
                let mut rng = seeded_rng(stream_seed(&[
                    context.seed,
                    spec.index,
                    SAMPLE_STREAM,
                    epoch as u64,
                    pass as u64,
                ]));
                space
                    .subnet(&space.decode(&spec.genes.sample(&mut rng)))
                    .expect("phase genes decode to valid archs")
            });
            for (b, batch) in loader.epoch((epoch * passes + pass) as u64).enumerate() {
                let step_in_epoch = pass * batches + b;
                if step_in_epoch < state.step_in_epoch {
                    continue;
                }
                let step = state.steps;
                if events.cancelled() {
                    state.epoch_seconds = carried + started.elapsed().as_secs_f64();
                    state.generation += 1;
                    state.log_bytes = log.bytes_written().map_err(RunError::io(&log_path))?;
                    state.objective_state = objective.ciard.clone();
                    save_checkpoint(
                        &spec.dir,
                        (&network, &optimizer),
                        own_teacher.as_ref(),
                        &state,
                    )?;
                    return Err(RunError::Cancelled { stage: spec.name.clone() });
                }
                noise::seed(stream_seed(&[context.seed, spec.index, STEP_STREAM, step as u64]));
                let subnets: Vec<Subnet> = match &pass_subnet {
                    Some(subnet) => vec![subnet.clone()],
                    None => {
                        let mut rng = seeded_rng(stream_seed(&[
                            context.seed,
                            spec.index,
                            SAMPLE_STREAM,
                            step as u64,
                        ]));
                        (0..subnets_per_step)
                            .map(|_| {
                                space
                                    .subnet(&space.decode(&spec.genes.sample(&mut rng)))
                                    .expect("phase genes decode to valid archs")
                            })
                            .collect()
                    }
                };
                let (x, y) = batch.tensors(context.device);
                let batch = Batch::new(x, y);
                let progress = Progress { epoch: epoch + 1, epochs };
                let mut total: Option<Tensor<1>> = None;
                let mut teacher_total: Option<Tensor<1>> = None;
                for subnet in &subnets {
                    let teacher = match &own_teacher {
                        Some(own) => Some(View::new(&own.network, &own.subnet)),
                        None => teachers.robust.map(|t| View::new(&t.supernet.network, &t.subnet)),
                    };
                    let nets = Nets {
                        student: View::new(&network, subnet),
                        teacher,
                        clean_teacher: clean_view,
                    };
                    let losses = objective.step(&nets, &batch, progress)?;
                    let add = |sum: Option<Tensor<1>>, loss: Tensor<1>| match sum {
                        None => loss,
                        Some(sum) => sum + loss,
                    };
                    total = Some(add(total, losses.student));
                    if let Some(loss) = losses.teacher {
                        teacher_total = Some(add(teacher_total, loss));
                    }
                }
                let loss = total.expect("at least one subnet per step");
                let value = loss.clone().detach().into_scalar::<f64>();
                if !value.is_finite() {
                    let checkpoint = if state.generation > 0 {
                        format!(
                            "The last good checkpoint (after step {}) is kept in {}; the run resumes from it",
                            state.steps,
                            spec.dir.dir().display()
                        )
                    } else {
                        "No checkpoint of this stage was written yet".to_owned()
                    };
                    return Err(RunError::NonFinite {
                        stage: spec.name.clone(),
                        epoch: epoch + 1,
                        step,
                        value,
                        checkpoint,
                    });
                }
                let lr = learning_rate(
                    spec.learning_rate,
                    spec.warmup_lr,
                    step,
                    warmup_steps,
                    cosine_steps,
                );
                let grads = GradientsParams::from_grads(loss.backward(), &network);
                network = optimizer.step(lr, network, grads);
                // CIARD's ITT: the robust teacher learns from the student's adversarial examples.
                if let (Some(own), Some(teacher_loss)) = (own_teacher.as_mut(), teacher_total) {
                    let teacher_lr = match &spec.objective {
                        ObjectiveConfig::Ciard(c) => c.teacher_learning_rate_at(epoch + 1),
                        _ => 0.0,
                    };
                    let grads = GradientsParams::from_grads(teacher_loss.backward(), &own.network);
                    let stepped = own.optimizer.step(teacher_lr, own.network.clone(), grads);
                    own.network = stepped;
                }
                state.epoch_loss_sum += value;
                state.epoch_loss_steps += 1;
                let line = LogLine::Step {
                    stage: spec.name.clone(),
                    epoch: epoch + 1,
                    step,
                    lr,
                    loss: value,
                };
                log.append(&line).map_err(RunError::io(&log_path))?;
                events.log(&line);
                state.steps += 1;
                state.step_in_epoch = step_in_epoch + 1;
                let periodic = context.checkpoint_every_steps > 0
                    && state.steps.is_multiple_of(context.checkpoint_every_steps)
                    && state.step_in_epoch < steps_per_epoch;
                if periodic {
                    state.epoch_seconds = carried + started.elapsed().as_secs_f64();
                    state.generation += 1;
                    state.log_bytes = log.bytes_written().map_err(RunError::io(&log_path))?;
                    state.objective_state = objective.ciard.clone();
                    save_checkpoint(
                        &spec.dir,
                        (&network, &optimizer),
                        own_teacher.as_ref(),
                        &state,
                    )?;
                }
            }
        }
        let due =
            (epoch + 1).is_multiple_of(context.validate_every_epochs.max(1)) || epoch + 1 == epochs;
        let validation = match context.validator {
            Some(validator) if due => validator.run(
                &space,
                &config,
                &network,
                &spec.genes,
                context.seed,
                spec.index,
                epoch,
            ),
            _ => Vec::new(),
        };
        let line = LogLine::Epoch {
            stage: spec.name.clone(),
            epoch: epoch + 1,
            steps: state.steps,
            mean_loss: state.epoch_loss_sum / state.epoch_loss_steps.max(1) as f64,
            seconds: carried + started.elapsed().as_secs_f64(),
            validation,
        };
        log.append(&line).map_err(RunError::io(&log_path))?;
        events.log(&line);
        state.epoch = epoch + 1;
        state.step_in_epoch = 0;
        state.epoch_loss_sum = 0.0;
        state.epoch_loss_steps = 0;
        state.epoch_seconds = 0.0;
        state.generation += 1;
        state.finished = state.epoch == epochs;
        state.log_bytes = log.bytes_written().map_err(RunError::io(&log_path))?;
        state.objective_state = objective.ciard.clone();
        save_checkpoint(&spec.dir, (&network, &optimizer), own_teacher.as_ref(), &state)?;
    }
    let supernet = Supernet { space, config, network };
    export(spec, &supernet, own_teacher.as_ref())?;
    events.stage_finished(&spec.name);
    Ok(supernet)
}

/// The stage's result as a self-describing weights file (docs/weights.md), once; and the
/// teacher it kept its own copy of, which the next stage starts from.
fn export(
    spec: &StageSpec,
    supernet: &Supernet,
    teacher: Option<&OwnTeacher>,
) -> Result<(), RunError> {
    let save = |supernet: &Supernet, path: std::path::PathBuf| {
        if path.exists() {
            return Ok(());
        }
        weights::save_supernet(supernet, &path).map_err(|e| RunError::Checkpoint {
            stage: spec.name.clone(),
            message: format!("saving {}: {e}", path.display()),
        })
    };
    if let Some(teacher) = teacher {
        let trained = Supernet {
            space: teacher.space.clone(),
            config: teacher.config.clone(),
            network: teacher.network.valid(),
        };
        save(&trained, spec.dir.teacher())?;
    }
    save(supernet, spec.dir.supernet())
}

/// CIARD's teacher optimiser (SGD with its own momentum and weight decay, no Nesterov); other
/// objectives never step a teacher.
fn teacher_optimizer(objective: &ObjectiveConfig, student: &OptimizerConfig) -> OptimizerConfig {
    match objective {
        ObjectiveConfig::Ciard(c) => OptimizerConfig {
            momentum: c.teacher_momentum,
            nesterov: false,
            weight_decay: c.teacher_weight_decay,
            batch: student.batch,
        },
        _ => student.clone(),
    }
}
