//! Students taken home from a run: one arch of a cloud's supernet, its BatchNorm re-calibrated
//! exactly as the run's student evaluation does, written as a standalone weights file
//! (docs/weights.md) that records how it was made (`proard.export`); and the verification
//! settings that reproduce the run's evaluation of it.

use std::path::Path;
use std::str::FromStr;

use burn::prelude::*;
use proard_shared::Arch;
use serde::{Deserialize, Serialize};

use super::error::RunError;
use super::journal::read_records;
use super::layout::{Cloud, RunLayout};
use super::pipeline::load_data;
use super::students::{StudentRecord, evaluation_seed};
use super::validate::test_batches;
use crate::data::Split;
use crate::data::loader::{CALIBRATION_SEED, calibration_subset};
use crate::model::weights::{self, WeightsError};
use crate::model::{Student, Supernet};
use crate::verify::{Batch, VerifyConfig};

/// Which arch to export: a student record's `index` in the cloud, the space's largest or
/// smallest arch, or an arch as JSON.
#[derive(Clone, Debug, PartialEq)]
pub enum ArchChoice {
    Record(usize),
    Largest,
    Smallest,
    Arch(Arch),
}

impl FromStr for ArchChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<ArchChoice, String> {
        match text.trim() {
            "largest" => return Ok(ArchChoice::Largest),
            "smallest" => return Ok(ArchChoice::Smallest),
            _ => {}
        }
        if let Ok(index) = text.trim().parse() {
            return Ok(ArchChoice::Record(index));
        }
        serde_json::from_str(text).map(ArchChoice::Arch).map_err(|e| {
            format!(
                "`{text}` is neither a record index, `largest`, `smallest` nor an arch as \
                     JSON ({e})"
            )
        })
    }
}

/// How an exported student was made; stored in its file as `proard.export`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExportInfo {
    pub cloud: Cloud,
    /// The student record it was exported from, if any.
    pub record: Option<StudentRecord>,
    /// BatchNorm statistics: the exact mean and biased variance over these training images.
    pub calibration_images: usize,
    pub calibration_batch: usize,
    pub calibration_seed: u64,
    /// The seed the run's evaluation attacks this arch with (its record's, or the evaluation
    /// seed for an arch that has no record).
    pub evaluation_seed: u64,
}

/// Exports `choice` of `cloud`'s supernet in the run at `run` to `out`, calibrated as the run's
/// evaluation calibrates it.
pub fn export_student(
    run: &Path,
    choice: &ArchChoice,
    cloud: Cloud,
    out: &Path,
    device: &Device,
) -> Result<ExportInfo, RunError> {
    let layout = RunLayout::new(run);
    let config = layout.load_config()?;
    let supernet_path = layout.supernet(cloud);
    if !supernet_path.exists() {
        return Err(RunError::Missing(format!(
            "the run in {} has no {} supernet yet ({} is missing)",
            run.display(),
            cloud.name(),
            supernet_path.display()
        )));
    }
    let supernet = weights::load_supernet(&supernet_path, device)?;
    let evaluation = &config.evaluation;
    let (arch, record) = match choice {
        ArchChoice::Arch(arch) => (arch.clone(), None),
        ArchChoice::Largest => (supernet.space.largest_arch(), None),
        ArchChoice::Smallest => (supernet.space.smallest_arch(), None),
        ArchChoice::Record(index) => {
            let record = find_record(&layout, cloud, *index)?;
            (record.arch.clone(), Some(record))
        }
    };
    let subnet = supernet
        .subnet(&arch)
        .map_err(|e| RunError::Missing(format!("the arch is not one of this run's space: {e}")))?;
    let set = load_data(&config)?;
    // A record names the calibration that produced its numbers; an arch without one gets the
    // evaluation's.
    let calibration_images = match &record {
        Some(record) => record.settings.calibration_images,
        None => evaluation.calibration_images.min(set.split(Split::Train).len()),
    };
    let calibration = calibration_subset(
        &set,
        calibration_images,
        evaluation.calibration_batch,
        CALIBRATION_SEED,
    )?;
    supernet.calibrate(&subnet, calibration.iter().map(|b| b.tensors(device).0));
    let student = supernet.export(&arch).expect("the arch was resolved above");
    let info = ExportInfo {
        cloud,
        evaluation_seed: match &record {
            Some(record) => evaluation_seed(evaluation, record.index),
            None => evaluation.seed,
        },
        record,
        calibration_images,
        calibration_batch: evaluation.calibration_batch,
        calibration_seed: CALIBRATION_SEED,
    };
    save(&student, &supernet, &info, out)?;
    Ok(info)
}

fn save(
    student: &Student,
    supernet: &Supernet,
    info: &ExportInfo,
    out: &Path,
) -> Result<(), RunError> {
    let export = serde_json::to_string(info).expect("export info serialises");
    weights::save_student(
        student,
        &supernet.space,
        &supernet.config,
        &[("proard.export", export)],
        out,
    )?;
    Ok(())
}

fn find_record(layout: &RunLayout, cloud: Cloud, index: usize) -> Result<StudentRecord, RunError> {
    let files = layout.student_files(cloud).map_err(RunError::io(layout.cloud_dir(cloud)))?;
    let mut indices = Vec::new();
    for file in files {
        for record in read_records::<StudentRecord>(&file)? {
            if record.index == index {
                return Ok(record);
            }
            indices.push(record.index);
        }
    }
    indices.sort_unstable();
    let known = match (indices.first(), indices.last()) {
        (Some(first), Some(last)) => format!("it holds indices {first}–{last}"),
        _ => "it holds none yet".to_owned(),
    };
    Err(RunError::Missing(format!(
        "no {} student record has index {index} in {} ({known})",
        cloud.name(),
        layout.root().display()
    )))
}

/// The export info a student file carries, if it was exported from a run.
pub fn export_info(path: &Path) -> Result<Option<ExportInfo>, WeightsError> {
    let metadata = weights::read_metadata(path)?;
    let Some(text) = metadata.get("proard.export") else { return Ok(None) };
    serde_json::from_str(text).map(Some).map_err(|e| WeightsError::Metadata {
        path: path.display().to_string(),
        key: "proard.export",
        reason: e.to_string(),
    })
}

/// The run's evaluation images (the first `images` of them, if given) and a verification with
/// its attack settings and seed: the student's clean, FGSM and PGD-20 figures come out as its
/// record's.
pub fn run_verification(
    run: &Path,
    info: Option<&ExportInfo>,
    images: Option<usize>,
    device: &Device,
) -> Result<(Vec<Batch>, VerifyConfig), RunError> {
    let config = RunLayout::new(run).load_config()?;
    let evaluation = &config.evaluation;
    let set = load_data(&config)?;
    let mut batches = test_batches(&set, evaluation.batch, evaluation.test_images, device);
    if let Some(images) = images {
        batches = first_images(batches, images);
    }
    let verify = VerifyConfig {
        seed: info.map_or(evaluation.seed, |i| i.evaluation_seed),
        fgsm: evaluation.fgsm.clone(),
        pgd20: evaluation.pgd20.clone(),
        ..VerifyConfig::at_epsilon(evaluation.pgd20.epsilon)
    };
    Ok((batches, verify))
}

/// The first `images` of `batches` (in order, so each kept batch keeps its seed).
fn first_images(batches: Vec<Batch>, images: usize) -> Vec<Batch> {
    let mut left = images;
    let mut kept = Vec::new();
    for (x, y) in batches {
        if left == 0 {
            break;
        }
        let n = y.dims()[0].min(left);
        left -= n;
        kept.push((x.narrow(0, 0, n), y.narrow(0, 0, n)));
    }
    kept
}
