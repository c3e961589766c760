//! `proard bench`: the pipeline's throughput on one space, batch and device — a TRADES step and
//! an RSLAD step on the largest arch (images per second, attack included), PGD-20 evaluation,
//! and the time to evaluate one student (calibration + clean + PGD-20) on a test set.

use std::sync::Arc;
use std::time::Instant;

use burn::optim::GradientsParams;
use burn::prelude::*;
use proard_shared::Space;
use serde::Serialize;

use crate::attack::{Attack, PgdConfig, evaluate};
use crate::data::loader::{CALIBRATION_SEED, Loader, LoaderConfig, calibration_subset};
use crate::data::synthetic::{self, SyntheticConfig};
use crate::data::{ImageSet, Split};
use crate::model::{NetConfig, Network, Supernet, View};
use crate::noise;
use crate::objective::{
    Batch, Nets, Objective, ObjectiveConfig, Progress, RsladConfig, TradesConfig,
};

/// The settings of a bench; every count at least 1 ([`BenchConfig::validate`]).
#[derive(Clone, Debug, Serialize)]
pub struct BenchConfig {
    pub batch: usize,
    /// Timed steps per measurement (after one warm-up step).
    pub steps: usize,
    /// Test images of the student evaluation.
    pub student_images: usize,
    pub calibration_images: usize,
}

/// A bench setting that cannot be measured.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{name} must be at least 1, got 0")]
pub struct BenchConfigError {
    pub name: &'static str,
}

impl BenchConfig {
    pub fn validate(&self) -> Result<(), BenchConfigError> {
        for (name, value) in [
            ("batch", self.batch),
            ("steps", self.steps),
            ("student_images", self.student_images),
            ("calibration_images", self.calibration_images),
        ] {
            if value == 0 {
                return Err(BenchConfigError { name });
            }
        }
        Ok(())
    }
}

#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub space: String,
    pub device: String,
    pub settings: BenchConfig,
    pub trades_step_img_s: f64,
    pub rslad_step_img_s: f64,
    pub pgd20_eval_img_s: f64,
    /// Calibration + clean + PGD-20 on `student_images` test images.
    pub student_eval_seconds: f64,
    /// CPU time of the process over wall time: how many cores were busy on average, over the
    /// whole bench and per timed measurement.
    pub cpu_utilisation: f64,
    pub cpu_utilisation_by_measurement: CpuUtilisation,
}

/// Cores busy on average during each timed measurement.
#[derive(Debug, Serialize)]
pub struct CpuUtilisation {
    pub trades_step: f64,
    pub rslad_step: f64,
    pub pgd20_eval: f64,
    pub student_eval: f64,
}

/// Wall time and the process's CPU time since it started.
struct Timer {
    wall: Instant,
    cpu: cpu_time::ProcessTime,
}

impl Timer {
    fn start() -> Timer {
        Timer { wall: Instant::now(), cpu: cpu_time::ProcessTime::now() }
    }

    fn seconds(&self) -> f64 {
        self.wall.elapsed().as_secs_f64()
    }

    /// Cores busy on average since the start.
    fn utilisation(&self) -> f64 {
        self.cpu.elapsed().as_secs_f64() / self.seconds()
    }
}

/// Times one objective's full step (attack, loss, backward, SGD update) on the largest arch;
/// returns the updated network and images per second.
fn step_throughput(
    mut network: Network,
    teacher: &Supernet,
    objective: ObjectiveConfig,
    x: &Tensor<4>,
    y: &Tensor<1, Int>,
    steps: usize,
) -> (Network, Measured) {
    let subnet = teacher.subnet(&teacher.space.largest_arch()).expect("largest arch");
    let teacher_network = teacher.network.valid();
    let mut optimizer = burn::optim::SgdConfig::new().init();
    let mut objective = Objective::new(objective);
    let mut run = |network: Network| {
        let nets = Nets {
            student: View::new(&network, &subnet),
            teacher: Some(View::new(&teacher_network, &subnet)),
            clean_teacher: None,
        };
        // A new batch every step, as in training: nothing is carried over between steps.
        let batch = Batch::new(x.clone(), y.clone());
        let loss = objective
            .step(&nets, &batch, Progress { epoch: 1, epochs: 1 })
            .expect("teacher given")
            .student;
        let grads = GradientsParams::from_grads(loss.backward(), &network);
        optimizer.step(1e-3, network, grads)
    };
    network = run(network);
    x.device().sync().ok();
    let timer = Timer::start();
    for _ in 0..steps {
        network = run(network);
    }
    x.device().sync().ok();
    (network, Measured::of(steps * x.dims()[0], &timer))
}

/// Images per second and cores busy during one measurement.
struct Measured {
    img_s: f64,
    utilisation: f64,
}

impl Measured {
    fn of(images: usize, timer: &Timer) -> Measured {
        Measured { img_s: images as f64 / timer.seconds(), utilisation: timer.utilisation() }
    }
}

pub fn bench(
    space: &Space,
    config: &BenchConfig,
    device: &Device,
) -> Result<BenchReport, BenchConfigError> {
    config.validate()?;
    let whole = Timer::start();
    let trainer = device.clone().autodiff();
    noise::seed(0);
    let set: Arc<ImageSet> = Arc::new(synthetic::generate(&SyntheticConfig {
        seed: 0,
        train: config.batch.max(config.calibration_images),
        test: config.student_images,
    }));
    let batch = Loader::new(set.clone(), Split::Train, LoaderConfig::train(config.batch, 0))
        .epoch(0)
        .next()
        .expect("one batch");
    let (x, y) = batch.tensors(&trainer);
    let student = Supernet::new(space.clone(), NetConfig::new(), &trainer).network;
    let teacher = Supernet::new(space.clone(), NetConfig::new(), &trainer);
    let (student, trades) = step_throughput(
        student,
        &teacher,
        ObjectiveConfig::Trades(TradesConfig::default()),
        &x,
        &y,
        config.steps,
    );
    let (student, rslad) = step_throughput(
        student,
        &teacher,
        ObjectiveConfig::Rslad(RsladConfig::default()),
        &x,
        &y,
        config.steps,
    );

    let subnet = teacher.subnet(&space.largest_arch()).expect("largest arch");
    let (xe, ye) = batch.tensors(device);
    let pgd20 = [Attack::Pgd(PgdConfig::default())];
    evaluate(&student, &subnet, [(xe.clone(), ye.clone())], &pgd20, 0);
    let timer = Timer::start();
    for _ in 0..config.steps {
        evaluate(&student, &subnet, [(xe.clone(), ye.clone())], &pgd20, 0);
    }
    let pgd20_eval = Measured::of(config.steps * config.batch, &timer);

    let timer = Timer::start();
    let frozen =
        Supernet { space: space.clone(), config: teacher.config.clone(), network: student.valid() };
    let calibration = calibration_subset(&set, config.calibration_images, 200, CALIBRATION_SEED)
        .expect("enough images");
    frozen.calibrate(&subnet, calibration.iter().map(|b| b.tensors(device).0));
    let test: Vec<_> = Loader::new(set.clone(), Split::Test, LoaderConfig::eval(config.batch))
        .epoch(0)
        .map(|b| b.tensors(device))
        .collect();
    evaluate(&frozen.network, &subnet, test, &pgd20, 0);
    let student_eval_seconds = timer.seconds();
    let student_utilisation = timer.utilisation();

    Ok(BenchReport {
        space: space.name().to_owned(),
        device: format!("{device:?}"),
        settings: config.clone(),
        trades_step_img_s: trades.img_s,
        rslad_step_img_s: rslad.img_s,
        pgd20_eval_img_s: pgd20_eval.img_s,
        student_eval_seconds,
        cpu_utilisation: whole.utilisation(),
        cpu_utilisation_by_measurement: CpuUtilisation {
            trades_step: trades.utilisation,
            rslad_step: rslad.utilisation,
            pgd20_eval: pgd20_eval.utilisation,
            student_eval: student_utilisation,
        },
    })
}
