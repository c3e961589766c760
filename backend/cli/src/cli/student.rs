//! `proard export` and `proard verify`: one student out of a run, and under strong attacks.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use proard_core::attack::PgdIterate;
use proard_core::data::loader::test_subset;
use proard_core::data::spec::DataSpec;
use proard_core::device::DeviceChoice;
use proard_core::experiment::Cloud;
use proard_core::experiment::export::{ArchChoice, export_info, export_student, run_verification};
use proard_core::experiment::pipeline::fits_space;
use proard_core::model::weights::{load_student, read_metadata};
use proard_core::verify::{VerifyAttack, VerifyConfig, VerifyReport, verify};
use proard_shared::Space;

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// A run directory (`--out` of `proard run`).
    #[arg(long)]
    pub run: PathBuf,
    /// A student record's `index` (as in students.jsonl), `largest`, `smallest`, or an arch as
    /// JSON.
    #[arg(long)]
    pub arch: ArchChoice,
    /// Which supernet to cut it from: proard, baseline or teacher.
    #[arg(long, default_value = "proard")]
    pub supernet: Cloud,
    /// The student's weights file (safetensors, layout in docs/weights.md).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t)]
    pub device: DeviceChoice,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A student written by `proard export`.
    pub student: PathBuf,
    /// Evaluate on exactly the run's evaluation images with its FGSM / PGD-20 settings and the
    /// student's evaluation seed (a student exported from a record reproduces its numbers).
    #[arg(long, conflicts_with_all = ["data", "epsilon"])]
    pub run: Option<PathBuf>,
    /// `synthetic`, `cifar10:DIR`, `cifar100:DIR` or `folder:DIR`; its test split is attacked.
    #[arg(long, required_unless_present = "run")]
    pub data: Option<String>,
    /// Test images (a fixed seeded choice across the classes); all when absent.
    #[arg(long)]
    pub images: Option<usize>,
    /// Attack budget (L∞, pixels in [0, 1]); every attack uses it.
    #[arg(long, default_value_t = 8.0 / 255.0)]
    pub epsilon: f64,
    /// Comma-separated: fgsm, pgd20, cw, apgd-ce, apgd-t, autoattack.
    #[arg(long, value_delimiter = ',', default_value = "fgsm,pgd20,cw,apgd-ce,apgd-t,autoattack")]
    pub attacks: Vec<VerifyAttack>,
    /// Iterations of every APGD attack (AutoAttack uses 100).
    #[arg(long, default_value_t = 100)]
    pub apgd_iterations: usize,
    /// Which iterate PGD-20 and CW∞ report: `final` (the papers') or `any-fooling` (an image
    /// counts as broken if any iterate fooled it; named `(any iterate)` in the result).
    #[arg(long, default_value = "final")]
    pub iterate: PgdIterateArg,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    #[arg(long, default_value_t)]
    pub device: DeviceChoice,
    /// One JSON object: clean, fgsm, pgd20, cw, apgd_ce, apgd_t, autoattack (fractions), worst,
    /// rows (each attack's settings and time), flags, config.
    #[arg(long)]
    pub json: bool,
}

/// `--iterate` values.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum PgdIterateArg {
    Final,
    AnyFooling,
}

pub fn export_command(args: ExportArgs) -> anyhow::Result<()> {
    let device = args.device.device()?;
    let info = export_student(&args.run, &args.arch, args.supernet, &args.out, &device)?;
    let what = match &info.record {
        Some(record) => format!(
            "record #{} (clean {:.4}, FGSM {:.4}, {} {:.4})",
            record.index,
            record.clean,
            record.fgsm,
            record.settings.pgd20.label(),
            record.pgd20
        ),
        None => match &args.arch {
            ArchChoice::Largest => "the space's largest arch".to_owned(),
            ArchChoice::Smallest => "the space's smallest arch".to_owned(),
            _ => "the given arch".to_owned(),
        },
    };
    eprintln!(
        "wrote {}: {} student, {what}; BatchNorm calibrated on {} training images; verify it with \
         `proard verify {} --run {}`",
        args.out.display(),
        info.cloud.name(),
        info.calibration_images,
        args.out.display(),
        args.run.display(),
    );
    Ok(())
}

pub fn verify_command(args: VerifyArgs) -> anyhow::Result<()> {
    let device = args.device.device()?;
    let student = load_student(&args.student, &device)?;
    let (batches, config) = match &args.run {
        Some(run) => {
            let info = export_info(&args.student)?;
            run_verification(run, info.as_ref(), args.images, &device)?
        }
        None => {
            let spec_text = args.data.clone().expect("clap requires --data");
            let spec: DataSpec = spec_text.parse()?;
            let set = match spec {
                DataSpec::Synthetic => proard_core::data::synthetic::generate(&Default::default()),
                spec => spec.load()?,
            };
            fits_space(&set, &student_space(&args.student)?, &spec_text)?;
            let batches = test_subset(&set, args.images.unwrap_or(usize::MAX), args.batch)
                .iter()
                .map(|b| b.tensors(&device))
                .collect();
            (batches, VerifyConfig { seed: args.seed, ..VerifyConfig::at_epsilon(args.epsilon) })
        }
    };
    let mut config =
        VerifyConfig { attacks: args.attacks, ..config }.with_apgd_iterations(args.apgd_iterations);
    let iterate = match args.iterate {
        PgdIterateArg::Final => PgdIterate::Final,
        PgdIterateArg::AnyFooling => PgdIterate::AnyFooling,
    };
    (config.pgd20.iterate, config.cw.iterate) = (iterate, iterate);
    let report = verify(&student, &batches, &config);
    if args.json {
        println!("{}", serde_json::to_string(&report).context("serialising the result")?);
    } else {
        print_table(&report);
    }
    Ok(())
}

/// The space a student file records.
fn student_space(path: &std::path::Path) -> anyhow::Result<Space> {
    let metadata = read_metadata(path)?;
    let text = metadata.get("proard.space").context("the student records no space")?;
    serde_json::from_str(text).context("reading the student's space")
}

fn print_table(report: &VerifyReport) {
    println!("{} test images, seed {}", report.images, report.seed);
    println!("{:<42} {:>9} {:>9}", "attack", "accuracy", "seconds");
    println!("{:<42} {:>9.4} {:>9}", "clean", report.clean, "");
    for row in &report.rows {
        println!("{:<42} {:>9.4} {:>9.1}", row.label, row.accuracy, row.seconds);
    }
    if let Some(worst) = report.worst {
        println!("{:<42} {:>9.4}", "worst of the attacks above", worst);
    }
    if report.flags.is_empty() {
        println!("no warning sign of gradient masking");
    }
    for flag in &report.flags {
        println!("warning: {}", flag.message());
    }
}
