//! `proard report DIR`: what a run has produced so far, read back from its files alone — each
//! stage's progress, logged time and last validation grid, and the student clouds of ProARD and
//! the baseline side by side (the comparison of the paper's Fig. 2/7), with the teacher evaluated
//! the same way. Works on a running or interrupted run: it only reads.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Serialize;

use super::journal::read_records;
use super::layout::{Cloud, RunLayout, StageLayout};
use super::pipeline::stages;
use super::students::{StudentRecord, StudentSettings};
use super::train::{LogLine, read_state};
use super::validate::GridResult;

/// One training stage as its directory shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StageReport {
    pub name: String,
    pub dir: PathBuf,
    pub finished: bool,
    pub epochs: usize,
    pub steps: usize,
    /// Sum of the logged epoch times (training and validation).
    pub seconds: f64,
    /// Mean loss of the last finished epoch.
    pub last_loss: Option<f64>,
    /// The latest validation grid (`validation.every_epochs` may skip epochs).
    pub last_validation: Vec<GridResult>,
}

/// Mean, median and range of one accuracy over a cloud of students.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Stats {
    pub mean: f64,
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Stats {
    /// `None` for no values.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Stats> {
        let mut values: Vec<f64> = values.into_iter().collect();
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let median =
            if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 };
        Some(Stats {
            mean: values.iter().sum::<f64>() / n as f64,
            median,
            min: values[0],
            max: values[n - 1],
        })
    }
}

/// One student, briefly.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Student {
    pub index: usize,
    pub macs: u64,
    pub clean: f64,
    pub pgd20: f64,
}

impl From<&StudentRecord> for Student {
    fn from(r: &StudentRecord) -> Student {
        Student { index: r.index, macs: r.macs, clean: r.clean, pgd20: r.pgd20 }
    }
}

/// The students of one supernet.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CloudReport {
    pub label: String,
    pub students: usize,
    pub settings: StudentSettings,
    pub clean: Stats,
    pub fgsm: Stats,
    pub pgd20: Stats,
    pub best_clean: Student,
    pub best_pgd20: Student,
    /// Students no other beats on both MACs (fewer) and PGD-20 (higher), by MACs.
    pub front: Vec<Student>,
}

impl CloudReport {
    /// Summarises `records` (at least one; all evaluated with the same settings).
    pub fn of(label: &str, records: &[StudentRecord]) -> anyhow::Result<Option<CloudReport>> {
        let Some(first) = records.first() else { return Ok(None) };
        if let Some(other) = records.iter().find(|r| r.settings != first.settings) {
            bail!(
                "{label}: students {} and {} were evaluated with different settings; evaluate \
                 them into separate run directories to compare them",
                first.index,
                other.index
            );
        }
        let stats = |f: fn(&StudentRecord) -> f64| {
            Stats::of(records.iter().map(f)).expect("records is not empty")
        };
        let best = |f: fn(&StudentRecord) -> f64| {
            records
                .iter()
                .max_by(|a, b| f(a).total_cmp(&f(b)))
                .map(Student::from)
                .expect("non-empty")
        };
        let mut by_macs: Vec<&StudentRecord> = records.iter().collect();
        by_macs.sort_by(|a, b| a.macs.cmp(&b.macs).then(b.pgd20.total_cmp(&a.pgd20)));
        let mut front: Vec<Student> = Vec::new();
        for r in by_macs {
            if front.last().is_none_or(|best: &Student| r.pgd20 > best.pgd20) {
                front.push(r.into());
            }
        }
        Ok(Some(CloudReport {
            label: label.to_owned(),
            students: records.len(),
            settings: first.settings.clone(),
            clean: stats(|r| r.clean),
            fgsm: stats(|r| r.fgsm),
            pgd20: stats(|r| r.pgd20),
            best_clean: best(|r| r.clean),
            best_pgd20: best(|r| r.pgd20),
            front,
        }))
    }
}

/// One accuracy's per-arch difference, ProARD minus baseline.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Difference {
    pub mean: f64,
    /// Standard error of `mean` (sample standard deviation / √archs); `None` for one arch.
    pub standard_error: Option<f64>,
    /// Archs on which ProARD scores higher, and lower (the rest tie).
    pub higher: usize,
    pub lower: usize,
}

impl Difference {
    fn of(pairs: &[(&StudentRecord, &StudentRecord)], f: fn(&StudentRecord) -> f64) -> Difference {
        let differences: Vec<f64> = pairs.iter().map(|(a, b)| f(a) - f(b)).collect();
        let n = differences.len() as f64;
        let mean = differences.iter().sum::<f64>() / n;
        let standard_error = (differences.len() > 1).then(|| {
            let variance = differences.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1.0);
            (variance / n).sqrt()
        });
        Difference {
            mean,
            standard_error,
            higher: differences.iter().filter(|d| **d > 0.0).count(),
            lower: differences.iter().filter(|d| **d < 0.0).count(),
        }
    }
}

/// ProARD against the baseline arch by arch. Both clouds draw their students from one seeded
/// sample, so the same index is the same arch; differencing per arch removes the spread between
/// archs, which dwarfs the difference between the methods in the clouds' means.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PairedComparison {
    /// Archs evaluated in both clouds with the same settings.
    pub archs: usize,
    pub clean: Difference,
    pub fgsm: Difference,
    pub pgd20: Difference,
}

impl PairedComparison {
    /// `None` when no arch was evaluated in both with the same settings.
    pub fn of(proard: &[StudentRecord], baseline: &[StudentRecord]) -> Option<PairedComparison> {
        let baseline: BTreeMap<usize, &StudentRecord> =
            baseline.iter().map(|r| (r.index, r)).collect();
        let pairs: Vec<(&StudentRecord, &StudentRecord)> = proard
            .iter()
            .filter_map(|a| baseline.get(&a.index).map(|b| (a, *b)))
            .filter(|(a, b)| a.arch == b.arch && a.settings == b.settings)
            .collect();
        (!pairs.is_empty()).then(|| PairedComparison {
            archs: pairs.len(),
            clean: Difference::of(&pairs, |r| r.clean),
            fgsm: Difference::of(&pairs, |r| r.fgsm),
            pgd20: Difference::of(&pairs, |r| r.pgd20),
        })
    }
}

/// Everything `proard report` shows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunReport {
    pub stages: Vec<StageReport>,
    pub clouds: Vec<CloudReport>,
    /// ProARD minus baseline on the archs both evaluated.
    pub paired: Option<PairedComparison>,
    /// The teacher evaluated as a student, on the same images with the same attacks.
    pub teacher: Option<StudentRecord>,
}

/// Reads the run in `out`.
pub fn report(out: &Path) -> anyhow::Result<RunReport> {
    let layout = RunLayout::new(out);
    let config = layout.load_config()?;
    let mut reports = Vec::new();
    for stage in stages(&config, &layout)? {
        if let Some(report) = stage_report(&stage.layout)? {
            reports.push(report);
        }
    }
    let proard = student_records(&layout, Cloud::Proard)?;
    let baseline = student_records(&layout, Cloud::Baseline)?;
    let mut clouds = Vec::new();
    for (label, records) in [("ProARD", &proard), ("baseline", &baseline)] {
        if let Some(cloud) = CloudReport::of(label, records)? {
            clouds.push(cloud);
        }
    }
    let paired = PairedComparison::of(&proard, &baseline);
    let teacher = student_records(&layout, Cloud::Teacher)?.into_iter().next();
    Ok(RunReport { stages: reports, clouds, paired, teacher })
}

fn stage_report(dir: &StageLayout) -> anyhow::Result<Option<StageReport>> {
    let Some(state) = read_state(dir)? else { return Ok(None) };
    let lines: Vec<LogLine> = read_records(&dir.log())?;
    let mut report = StageReport {
        name: state.stage,
        dir: dir.dir().to_owned(),
        finished: state.finished,
        epochs: 0,
        steps: state.steps,
        seconds: 0.0,
        last_loss: None,
        last_validation: Vec::new(),
    };
    for line in lines {
        if let LogLine::Epoch { epoch, mean_loss, seconds, validation, .. } = line {
            report.epochs = epoch;
            report.seconds += seconds;
            report.last_loss = Some(mean_loss);
            if !validation.is_empty() {
                report.last_validation = validation;
            }
        }
    }
    Ok(Some(report))
}

/// A cloud's records from its whole file and shard files, each student once, by index.
pub fn student_records(layout: &RunLayout, cloud: Cloud) -> anyhow::Result<Vec<StudentRecord>> {
    let files = layout
        .student_files(cloud)
        .with_context(|| format!("listing {}", layout.cloud_dir(cloud).display()))?;
    let mut by_index = BTreeMap::new();
    for file in files {
        for record in read_records::<StudentRecord>(&file)? {
            by_index.entry(record.index).or_insert(record);
        }
    }
    Ok(by_index.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attack::{FgsmConfig, PgdConfig};

    fn record(index: usize, macs: u64, clean: f64, pgd20: f64) -> StudentRecord {
        StudentRecord {
            index,
            arch: proard_shared::preset::preset("resnet-mini").unwrap().largest_arch(),
            encoding: Vec::new(),
            macs,
            params: 1,
            clean,
            fgsm: (clean + pgd20) / 2.0,
            pgd20,
            settings: StudentSettings {
                calibration_images: 8,
                test_images: 8,
                seed: 0,
                fgsm: FgsmConfig::default(),
                pgd20: PgdConfig::default(),
            },
        }
    }

    #[test]
    fn stats_take_the_middle_of_an_even_count() {
        let stats = Stats::of([0.4, 0.1, 0.3, 0.2]).unwrap();
        assert_eq!((stats.min, stats.max), (0.1, 0.4));
        assert!((stats.mean - 0.25).abs() < 1e-12 && (stats.median - 0.25).abs() < 1e-12);
        assert_eq!(Stats::of([0.7, 0.2, 0.5]).unwrap().median, 0.5);
        assert_eq!(Stats::of([]), None);
    }

    #[test]
    fn the_front_keeps_students_no_cheaper_one_beats() {
        let records = [
            record(0, 10, 0.30, 0.10),
            record(1, 20, 0.50, 0.25),
            record(2, 20, 0.45, 0.20), // same MACs as 1, less robust
            record(3, 30, 0.60, 0.15), // costlier than 1 and less robust
            record(4, 40, 0.55, 0.30),
        ];
        let cloud = CloudReport::of("ProARD", &records).unwrap().unwrap();
        let front: Vec<usize> = cloud.front.iter().map(|s| s.index).collect();
        assert_eq!(front, [0, 1, 4]);
        assert_eq!((cloud.best_clean.index, cloud.best_pgd20.index), (3, 4));
        assert_eq!(cloud.students, 5);
    }

    #[test]
    fn the_paired_comparison_differences_the_same_archs() {
        let proard =
            [record(0, 10, 0.30, 0.12), record(1, 20, 0.50, 0.20), record(2, 30, 0.6, 0.3)];
        // Index 2 is missing from the baseline and index 3 from ProARD: neither is paired.
        let baseline =
            [record(0, 10, 0.28, 0.10), record(1, 20, 0.50, 0.24), record(3, 5, 0.1, 0.0)];
        let paired = PairedComparison::of(&proard, &baseline).unwrap();
        assert_eq!(paired.archs, 2);
        assert!((paired.pgd20.mean - (-0.01)).abs() < 1e-12, "{paired:?}");
        // Differences +0.02 and −0.04: sample sd 0.0424, over √2 → 0.03.
        assert!((paired.pgd20.standard_error.unwrap() - 0.03).abs() < 1e-12, "{paired:?}");
        assert_eq!((paired.pgd20.higher, paired.pgd20.lower), (1, 1));
        assert_eq!((paired.clean.higher, paired.clean.lower), (1, 0));

        let mut other_settings = baseline.clone();
        for r in &mut other_settings {
            r.settings.seed = 1;
        }
        assert_eq!(PairedComparison::of(&proard, &other_settings), None);
        let one = PairedComparison::of(&proard[..1], &baseline).unwrap();
        assert_eq!((one.archs, one.clean.standard_error), (1, None));
    }

    #[test]
    fn records_of_different_settings_are_not_pooled() {
        let mut other = record(1, 20, 0.5, 0.2);
        other.settings.pgd20.steps = 10;
        let error = CloudReport::of("baseline", &[record(0, 10, 0.3, 0.1), other]).unwrap_err();
        assert!(error.to_string().contains("different settings"), "{error}");
    }
}
