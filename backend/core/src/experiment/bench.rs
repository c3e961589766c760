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
use crate::objective::{
    Batch, Nets, Objective, ObjectiveConfig, Progress, RsladConfig, TradesConfig,
};

/// The settings of a bench.
#[derive(Clone, Debug, Serialize)]
pub struct BenchConfig {
    pub batch: usize,
    /// Timed steps per measurement (after one warm-up step).
    pub steps: usize,
    /// Test images of the student evaluation.
    pub student_images: usize,
    pub calibration_images: usize,
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
}

fn images_per_second(images: usize, started: Instant) -> f64 {
    images as f64 / started.elapsed().as_secs_f64()
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
) -> (Network, f64) {
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
    let started = Instant::now();
    for _ in 0..steps {
        network = run(network);
    }
    x.device().sync().ok();
    (network, images_per_second(steps * x.dims()[0], started))
}

pub fn bench(space: &Space, config: &BenchConfig, device: &Device) -> BenchReport {
    let trainer = device.clone().autodiff();
    trainer.seed(0);
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
    let started = Instant::now();
    for _ in 0..config.steps {
        evaluate(&student, &subnet, [(xe.clone(), ye.clone())], &pgd20, 0);
    }
    let pgd20_eval = images_per_second(config.steps * config.batch, started);

    let started = Instant::now();
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
    let student_eval_seconds = started.elapsed().as_secs_f64();

    BenchReport {
        space: space.name().to_owned(),
        device: format!("{device:?}"),
        settings: config.clone(),
        trades_step_img_s: trades,
        rslad_step_img_s: rslad,
        pgd20_eval_img_s: pgd20_eval,
        student_eval_seconds,
    }
}
