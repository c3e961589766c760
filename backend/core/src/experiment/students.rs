//! Student evaluation (docs/method.md, "Student evaluation"; docs/attacks.md, "The pipeline's
//! student evaluation"): N unique archs sampled from the whole space, each with BatchNorm
//! re-calibrated, then clean, FGSM and PGD-20 accuracy on the test images.
//! One JSON line per arch, appended as each finishes; a re-run skips the archs already recorded,
//! and `--shard i/n` takes every n-th arch so that processes or machines can share the work.
//! The teacher gets the same evaluation once, as the ceiling to read the students against.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::prelude::*;
use proard_shared::genome::seeded_rng;
use proard_shared::phase::PhaseChoices;
use proard_shared::{Arch, Space};
use serde::{Deserialize, Serialize};

use super::config::EvaluationConfig;
use super::error::RunError;
use super::events::{Events, StageStart};
use super::journal::{Journal, read_records};
use super::layout::{Cloud, RunLayout};
use super::lock::OutputLock;
use super::validate::test_batches;
use crate::attack::{Attack, FgsmConfig, PgdConfig, evaluate};
use crate::data::loader::{CALIBRATION_SEED, calibration_subset};
use crate::data::{ImageSet, Split, stream_seed};
use crate::model::Supernet;

/// Part `index` of `count` equal shares (`i/n` on the command line, 0-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let bad = || format!("`{text}` is not a shard: write i/n with 0 ≤ i < n, e.g. 0/4");
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count): (usize, usize) =
            (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// `students.jsonl`, or `students.shard-i-of-n.jsonl`.
    pub fn file_name(&self) -> String {
        if *self == Shard::WHOLE {
            "students.jsonl".into()
        } else {
            format!("students.shard-{}-of-{}.jsonl", self.index, self.count)
        }
    }
}

/// The settings every record carries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StudentSettings {
    pub calibration_images: usize,
    pub test_images: usize,
    pub seed: u64,
    pub fgsm: FgsmConfig,
    /// Records written before PGD had an `iterate` setting kept the first fooling iterate, and
    /// read back saying so.
    #[serde(deserialize_with = "recorded_pgd")]
    pub pgd20: PgdConfig,
}

fn recorded_pgd<'de, D: serde::Deserializer<'de>>(d: D) -> Result<PgdConfig, D::Error> {
    let mut value = serde_json::Value::deserialize(d)?;
    if let Some(fields) = value.as_object_mut() {
        fields.entry("iterate").or_insert_with(|| "any-fooling".into());
    }
    serde_json::from_value(value).map_err(serde::de::Error::custom)
}

/// One evaluated student.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StudentRecord {
    /// Position in the seeded arch sample (shared by all shards).
    pub index: usize,
    pub arch: Arch,
    pub encoding: Vec<f32>,
    pub macs: u64,
    pub params: u64,
    pub clean: f64,
    pub fgsm: f64,
    pub pgd20: f64,
    pub settings: StudentSettings,
}

/// `n` archs with distinct encodings (so distinct subnets: inactive blocks do not count),
/// drawn uniformly from the whole space; fewer if the space has fewer.
pub fn unique_archs(space: &Space, n: usize, seed: u64) -> Vec<Arch> {
    let genes = space.phase_genes(&PhaseChoices::everything()).expect("the whole space");
    let mut rng = seeded_rng(stream_seed(&[seed, 0x57_0D_E7]));
    let mut seen = HashSet::new();
    let mut archs = Vec::new();
    // A generous bound on draws: beyond it the space has (almost surely) fewer than n subnets.
    let mut draws = 0usize;
    while archs.len() < n && draws < 50 * n + 1000 {
        draws += 1;
        let arch = space.decode(&genes.sample(&mut rng));
        let key: Vec<u8> = space
            .encode(&arch)
            .expect("sampled archs are valid")
            .iter()
            .map(|v| *v as u8)
            .collect();
        if seen.insert(key) {
            archs.push(arch);
        }
    }
    archs
}

/// Evaluates this shard's students of `supernet` (the ProARD or the baseline cloud) into their
/// record file, skipping recorded ones. Returns the path and how many records it holds.
pub fn evaluate_students(
    supernet: &Supernet,
    set: &Arc<ImageSet>,
    config: &EvaluationConfig,
    shard: Shard,
    (layout, cloud): (&RunLayout, Cloud),
    device: &Device,
    events: &dyn Events,
) -> Result<(PathBuf, usize), RunError> {
    let archs = unique_archs(&supernet.space, config.students, config.seed);
    let mine: Vec<(usize, Arch)> =
        archs.into_iter().enumerate().filter(|(i, _)| i % shard.count == shard.index).collect();
    let path = layout.students(cloud, shard);
    let stage = evaluation_stage(cloud, shard);
    evaluate_archs(supernet, set, config, mine, (&path, cloud, &stage), device, events)?;
    let count = read_records::<StudentRecord>(&path)?.len();
    Ok((path, count))
}

/// Evaluates the teacher — the largest arch of the teacher's network — exactly as a student
/// (same test images, calibration and attacks), once: the ceiling the students are read against.
pub fn evaluate_teacher(
    teacher: &Supernet,
    set: &Arc<ImageSet>,
    config: &EvaluationConfig,
    layout: &RunLayout,
    device: &Device,
    events: &dyn Events,
) -> Result<(PathBuf, StudentRecord), RunError> {
    let path = layout.students(Cloud::Teacher, Shard::WHOLE);
    let largest = vec![(0, teacher.space.largest_arch())];
    let stage = evaluation_stage(Cloud::Teacher, Shard::WHOLE);
    let output = (path.as_path(), Cloud::Teacher, stage.as_str());
    evaluate_archs(teacher, set, config, largest, output, device, events)?;
    let record = read_records::<StudentRecord>(&path)?
        .into_iter()
        .next()
        .ok_or_else(|| RunError::Missing(format!("{} holds no record", path.display())))?;
    Ok((path, record))
}

/// The seed arch `index` of the sample is attacked with: batch `i` draws its random starts from
/// (this, i).
pub fn evaluation_seed(config: &EvaluationConfig, index: usize) -> u64 {
    stream_seed(&[config.seed, index as u64])
}

/// Name of a cloud's evaluation in events: `students:proard`, `students:baseline`,
/// `students:teacher`, with ` i/n` for a shard.
pub fn evaluation_stage(cloud: Cloud, shard: Shard) -> String {
    if shard == Shard::WHOLE {
        format!("students:{}", cloud.name())
    } else {
        format!("students:{} {}/{}", cloud.name(), shard.index, shard.count)
    }
}

/// Calibrates and attacks each `(index, arch)` of `supernet` not yet in `path`, appending one
/// record per arch as it finishes. An evaluation already complete reports no events.
fn evaluate_archs(
    supernet: &Supernet,
    set: &Arc<ImageSet>,
    config: &EvaluationConfig,
    archs: Vec<(usize, Arch)>,
    output: (&Path, Cloud, &str),
    device: &Device,
    events: &dyn Events,
) -> Result<(), RunError> {
    let result = evaluate_into(supernet, set, config, archs, output, device, events);
    match &result {
        Ok(()) | Err(RunError::Cancelled { .. }) => {}
        Err(error) => events.stage_failed(output.2, error),
    }
    result
}

fn evaluate_into(
    supernet: &Supernet,
    set: &Arc<ImageSet>,
    config: &EvaluationConfig,
    archs: Vec<(usize, Arch)>,
    (path, cloud, stage): (&Path, Cloud, &str),
    device: &Device,
    events: &dyn Events,
) -> Result<(), RunError> {
    let _lock = OutputLock::acquire(&path.with_extension("lock"), &path.display().to_string())?;
    let done: HashSet<usize> =
        read_records::<StudentRecord>(path)?.into_iter().map(|r| r.index).collect();
    if archs.iter().all(|(index, _)| done.contains(index)) {
        return Ok(());
    }
    events.stage_started(&StageStart {
        stage,
        unit: "students",
        total: archs.len() as u64,
        done: archs.iter().filter(|(index, _)| done.contains(index)).count() as u64,
        epochs: 0,
    });
    let mut journal = Journal::open(path, None).map_err(RunError::io(path))?;
    let calibration_images = config.calibration_images.min(set.split(Split::Train).len());
    let calibration: Vec<Tensor<4>> =
        calibration_subset(set, calibration_images, config.calibration_batch, CALIBRATION_SEED)?
            .iter()
            .map(|b| b.tensors(device).0)
            .collect();
    let test = test_batches(set, config.batch, config.test_images, device);
    let taken = test.iter().map(|(_, y)| y.dims()[0]).sum();
    let settings = StudentSettings {
        calibration_images,
        test_images: taken,
        seed: config.seed,
        fgsm: config.fgsm.clone(),
        pgd20: config.pgd20.clone(),
    };
    let space = &supernet.space;
    let attacks = [Attack::Fgsm(config.fgsm.clone()), Attack::Pgd(config.pgd20.clone())];
    let network = supernet.network.valid();
    for (index, arch) in archs {
        if done.contains(&index) {
            continue;
        }
        if events.cancelled() {
            return Err(RunError::Cancelled { stage: stage.to_owned() });
        }
        // A fresh copy per arch: calibration writes the running statistics it uses.
        let frozen = Supernet {
            space: space.clone(),
            config: supernet.config.clone(),
            network: network.valid(),
        };
        let subnet = frozen.subnet(&arch).expect("sampled archs are valid");
        frozen.calibrate(&subnet, calibration.iter().cloned());
        let report = evaluate(
            &frozen.network,
            &subnet,
            test.clone(),
            &attacks,
            evaluation_seed(config, index),
        );
        let cost = subnet.cost();
        let record = StudentRecord {
            index,
            encoding: space.encode(&arch).expect("sampled archs are valid"),
            arch,
            macs: cost.macs,
            params: cost.params,
            clean: report.clean_accuracy,
            fgsm: report.attacks[0].accuracy,
            pgd20: report.attacks[1].accuracy,
            settings: settings.clone(),
        };
        journal.append(&record).map_err(RunError::io(path))?;
        events.student(cloud, &record);
    }
    events.stage_finished(stage);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attack::PgdIterate;

    #[test]
    fn records_from_before_the_iterate_setting_say_how_they_were_computed() {
        let settings = |pgd20: &str| -> StudentSettings {
            serde_json::from_str(&format!(
                r#"{{"calibration_images": 64, "test_images": 48, "seed": 1, "fgsm": {{}}, "pgd20": {pgd20}}}"#
            ))
            .unwrap()
        };
        assert_eq!(settings(r#"{"steps": 20}"#).pgd20.iterate, PgdIterate::AnyFooling);
        assert_eq!(settings(r#"{"iterate": "final"}"#).pgd20.iterate, PgdIterate::Final);
        let now = StudentSettings {
            calibration_images: 1,
            test_images: 1,
            seed: 0,
            fgsm: FgsmConfig::default(),
            pgd20: PgdConfig::default(),
        };
        let json = serde_json::to_string(&now).unwrap();
        assert_eq!(serde_json::from_str::<StudentSettings>(&json).unwrap(), now);
    }
}
