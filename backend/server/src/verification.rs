//! What a verification job computes: the student exported from its cloud's supernet into
//! `<run>/exports/verification-<id>.safetensors` (BatchNorm calibrated as the run's evaluation
//! does), then, unless it is an export only, attacked on the run's evaluation images with the
//! run's FGSM and PGD-20 settings and the student's evaluation seed, plus the stronger attacks
//! asked for (docs/attacks.md, "Verification").

use std::path::Path;

use proard_core::experiment::export::{ArchChoice, export_student, run_verification};
use proard_core::experiment::{Cloud, ExperimentConfig, RunError};
use proard_core::model::weights::load_student;
use proard_core::verify::{VerifyAttack, VerifyConfig, VerifyReport, verify};
use proard_shared::api::NewVerification;

/// The exported student's path relative to the data directory, for run directory `dir`.
pub fn student_path(dir: &str, verification: i64) -> String {
    format!("{dir}/exports/verification-{verification}.safetensors")
}

/// Exports and verifies; returns the report (none for an export only).
pub fn export_and_verify(
    config: &ExperimentConfig,
    run: &Path,
    request: &NewVerification,
    arch: &proard_shared::Arch,
    out: &Path,
) -> Result<Option<VerifyReport>, RunError> {
    let invalid = |problem: String| RunError::Missing(problem);
    let cloud: Cloud = request.cloud.parse().map_err(invalid)?;
    let attacks = request
        .attacks
        .iter()
        .map(|a| a.parse::<VerifyAttack>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid)?;
    let device = config.device.device().map_err(|e| RunError::Missing(e.to_string()))?;
    let choice = match request.index {
        Some(index) => ArchChoice::Record(index),
        None => ArchChoice::Arch(arch.clone()),
    };
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|source| RunError::Io { path: parent.to_owned(), source })?;
    }
    let info = export_student(run, &choice, cloud, out, &device)?;
    if attacks.is_empty() {
        return Ok(None);
    }
    let student = load_student(out, &device)?;
    let (batches, settings) = run_verification(run, Some(&info), request.images, &device)?;
    let mut settings = VerifyConfig { attacks, ..settings };
    if let Some(iterations) = request.apgd_iterations {
        settings = settings.with_apgd_iterations(iterations);
    }
    Ok(Some(verify(&student, &batches, &settings)))
}
