//! Per-epoch validation (docs/method.md, "Validation during training"): for each arch of the
//! phase's grid, BatchNorm re-calibrated on a fixed training subset, then clean and PGD-20
//! accuracy on test images. It runs on `valid()` copies, so the supernet being trained keeps its
//! own running statistics.

use std::sync::Arc;

use burn::prelude::*;
use proard_shared::Arch;
use proard_shared::phase::PhaseGenes;
use proard_shared::{Space, genome::Genome};
use serde::{Deserialize, Serialize};

use crate::attack::{Attack, PgdConfig, evaluate};
use crate::data::loader::{CALIBRATION_SEED, calibration_subset, test_subset};
use crate::data::{DataError, ImageSet, Split, stream_seed};
use crate::model::{NetConfig, Network, Supernet};

/// One grid arch's numbers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GridResult {
    pub arch: Arch,
    pub clean: f64,
    pub pgd20: f64,
}

/// `limit` test images (all when `None`; else a fixed seeded choice spanning the classes, see
/// [`test_subset`]) in batches of `batch`, on `device`.
pub fn test_batches(
    set: &ImageSet,
    batch: usize,
    limit: Option<usize>,
    device: &Device,
) -> Vec<(Tensor<4>, Tensor<1, Int>)> {
    test_subset(set, limit.unwrap_or(usize::MAX), batch)
        .iter()
        .map(|batch| batch.tensors(device))
        .collect()
}

/// The fixed images and attack of validation.
pub struct Validator {
    calibration: Vec<Tensor<4>>,
    test: Vec<(Tensor<4>, Tensor<1, Int>)>,
    attack: PgdConfig,
}

impl Validator {
    /// `test_images` of the test split (all when `None`) and `calibration_images` training
    /// images for BatchNorm, both on `device` (plain).
    pub fn new(
        set: &Arc<ImageSet>,
        calibration_images: usize,
        test_images: Option<usize>,
        attack: PgdConfig,
        device: &Device,
    ) -> Result<Validator, DataError> {
        let calibration_images = calibration_images.min(set.split(Split::Train).len());
        let calibration = calibration_subset(set, calibration_images, 200, CALIBRATION_SEED)?
            .iter()
            .map(|batch| batch.tensors(device).0)
            .collect();
        let test = test_batches(set, 200, test_images, device);
        Ok(Validator { calibration, test, attack })
    }

    /// Calibrates and evaluates one arch of `network` (a copy: the original is untouched).
    pub fn measure(
        &self,
        space: &Space,
        config: &NetConfig,
        network: &Network,
        arch: &Arch,
        seed: u64,
    ) -> GridResult {
        let frozen =
            Supernet { space: space.clone(), config: config.clone(), network: network.valid() };
        let subnet = frozen.subnet(arch).expect("grid archs come from the space");
        frozen.calibrate(&subnet, self.calibration.iter().cloned());
        let attack = Attack::Pgd(self.attack.clone());
        let report = evaluate(&frozen.network, &subnet, self.test.clone(), &[attack], seed);
        GridResult {
            arch: arch.clone(),
            clean: report.clean_accuracy,
            pgd20: report.attacks[0].accuracy,
        }
    }

    /// The grid of a phase at one epoch.
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &self,
        space: &Space,
        config: &NetConfig,
        network: &Network,
        genes: &PhaseGenes,
        seed: u64,
        stage: u64,
        epoch: usize,
    ) -> Vec<GridResult> {
        let grid: Vec<Genome> = genes.grid();
        grid.iter()
            .map(|genome| {
                let arch = space.decode(genome);
                self.measure(
                    space,
                    config,
                    network,
                    &arch,
                    stream_seed(&[seed, stage, epoch as u64]),
                )
            })
            .collect()
    }
}
