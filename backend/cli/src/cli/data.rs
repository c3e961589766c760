//! `proard data …`: check a data set, fetch the official CIFAR archives, measure the loader.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Subcommand;

use proard_core::data::check::{CHECK_BATCH, CHECK_SEED, bench, check};
use proard_core::data::cifar::CifarKind;
use proard_core::data::fetch::{ArchiveSource, Fetched, fetch};
use proard_core::data::loader::default_workers;
use proard_core::data::spec::DataSpec;

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Read a data set; print its classes, split sizes, image shape and a checksum of the first
    /// training batch (docs/data.md defines it).
    Check {
        /// `synthetic`, `cifar10:<dir>`, `cifar100:<dir>` or `folder:<dir>`.
        spec: DataSpec,
        /// One JSON object: classes, train, test, image_shape, first_batch_checksum.
        #[arg(long)]
        json: bool,
    },
    /// Download the official CIFAR archive, check its MD5 and extract it into --dir; a complete
    /// copy already there is not downloaded again.
    Fetch {
        /// `cifar10` or `cifar100`.
        dataset: CifarKind,
        /// Directory that receives `cifar-10-batches-bin/` or `cifar-100-binary/`.
        #[arg(long)]
        dir: PathBuf,
        /// Download from this address instead of the official one (then --md5 is required).
        #[arg(long, requires = "md5")]
        url: Option<String>,
        /// The MD5 the archive at --url must have.
        #[arg(long, requires = "url")]
        md5: Option<String>,
    },
    /// Augmented training images per second that the loader delivers (after loading the set).
    Bench {
        /// `synthetic`, `cifar10:<dir>`, `cifar100:<dir>` or `folder:<dir>`.
        spec: DataSpec,
        #[arg(long, default_value_t = 128)]
        batch: usize,
        /// Threads making batches [default: cores − 1, at least 1].
        #[arg(long)]
        workers: Option<usize>,
        /// Epochs to time.
        #[arg(long, default_value_t = 1)]
        epochs: u64,
        /// One JSON object (docs/data.md lists the fields).
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: DataCommand) -> anyhow::Result<()> {
    match command {
        DataCommand::Check { spec, json } => {
            let set = spec.load().with_context(|| format!("cannot read data set {spec}"))?;
            let report = check(Arc::new(set));
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                let [c, h, w] = report.image_shape;
                println!("data set     {spec}");
                println!("classes      {}: {}", report.classes.len(), report.classes.join(", "));
                println!("train        {} images", report.train);
                println!("test         {} images", report.test);
                println!("image shape  {c}×{h}×{w}");
                println!(
                    "checksum     {} (first training batch: {CHECK_BATCH} images, seed \
                     {CHECK_SEED}, no augmentation)",
                    report.first_batch_checksum
                );
            }
            Ok(())
        }
        DataCommand::Fetch { dataset, dir, url, md5 } => {
            let source = match (url, md5) {
                (Some(url), Some(md5)) => ArchiveSource { url, md5 },
                _ => ArchiveSource::official(dataset),
            };
            let fetched = fetch(dataset, &dir, &source)
                .with_context(|| format!("cannot fetch {}", dataset.name()))?;
            match fetched {
                Fetched::AlreadyComplete { dir, record } => {
                    let origin = match record {
                        Some(record) => format!("fetched from {}, MD5 {}", record.url, record.md5),
                        None => "not fetched by proard; file sizes checked".into(),
                    };
                    println!(
                        "{} is already complete in {} ({origin}): nothing downloaded",
                        dataset.name(),
                        dir.display()
                    );
                }
                Fetched::Downloaded { dir, record, seconds, replaced } => {
                    if let Some(problem) = replaced {
                        println!("replaced an incomplete copy ({problem})");
                    }
                    println!(
                        "{}: {:.1} MB from {} in {seconds:.1} s, MD5 {} verified, extracted to {}",
                        dataset.name(),
                        record.archive_bytes as f64 / 1e6,
                        record.url,
                        record.md5,
                        dir.display()
                    );
                }
            }
            Ok(())
        }
        DataCommand::Bench { spec, batch, workers, epochs, json } => {
            anyhow::ensure!(batch > 0 && epochs > 0, "--batch and --epochs must be at least 1");
            let workers = workers.unwrap_or_else(default_workers);
            let report = bench(&spec, batch, workers, epochs)
                .with_context(|| format!("cannot read data set {spec}"))?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!(
                    "{spec}: {} training images loaded in {:.2} s",
                    report.train_images, report.load_seconds
                );
                println!(
                    "loader: {:.0} augmented images/s (batch {}, workers {}, prefetch {}; {} \
                     images in {:.2} s)",
                    report.images_per_second,
                    report.batch,
                    report.workers,
                    report.prefetch,
                    report.images,
                    report.seconds
                );
            }
            Ok(())
        }
    }
}
