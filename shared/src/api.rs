//! Types the server, the CLI and the browser exchange as JSON.

use serde::{Deserialize, Serialize};

use crate::arch::Arch;
use crate::space::Space;

/// The headline numbers of a space (`proard space show --json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpaceSummary {
    pub name: String,
    /// Exact number of distinct subnets, as a decimal string (it exceeds 2⁶⁴).
    pub subnets: String,
    pub macs_min: u64,
    pub macs_max: u64,
    pub params_min: u64,
    pub params_max: u64,
    pub encoding_dim: usize,
}

impl SpaceSummary {
    /// MACs and parameters grow with every choice, so the smallest and the largest arch bound
    /// the whole space.
    pub fn of(space: &Space) -> SpaceSummary {
        let cost = |arch: &Arch| space.subnet(arch).expect("extreme archs are valid").cost();
        let (min, max) = (cost(&space.smallest_arch()), cost(&space.largest_arch()));
        SpaceSummary {
            name: space.name().to_owned(),
            subnets: space.subnet_count().to_string(),
            macs_min: min.macs,
            macs_max: max.macs,
            params_min: min.params,
            params_max: max.params,
            encoding_dim: space.encoding_dim(),
        }
    }
}

/// One sampled arch with its cost (`proard space sample --json`, one per line).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SampledArch {
    pub arch: Arch,
    pub macs: u64,
    pub params: u64,
}

/// Where an experiment (or one of its jobs) stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Queued,
    Running,
    Done,
    Failed,
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 5] =
        [Status::Queued, Status::Running, Status::Done, Status::Failed, Status::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Done => "done",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }
}

impl std::str::FromStr for Status {
    type Err = String;

    fn from_str(text: &str) -> Result<Status, String> {
        Status::ALL.into_iter().find(|s| s.as_str() == text).ok_or_else(|| {
            format!("`{text}` is not a status: use queued, running, done, failed or cancelled")
        })
    }
}

/// An experiment: its config, run directory and status.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    pub id: i64,
    pub name: String,
    /// TOML, the space inline.
    pub config: String,
    pub space: String,
    pub family: String,
    pub teacher_method: String,
    pub distill_method: String,
    /// The run directory, relative to the server's data directory.
    pub dir: String,
    pub eval_shards: i64,
    pub status: Status,
    pub tags: Vec<String>,
    pub notes: String,
    pub error: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

/// A stage's progress: a training stage (`teacher`, `phase-1-width`, `baseline`, unit `steps`)
/// or an evaluation (`students:proard`, …, unit `students`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    pub name: String,
    pub unit: String,
    pub total: i64,
    pub done: i64,
    pub epochs: i64,
    /// running | done | failed
    pub status: String,
    pub error: Option<String>,
    pub started_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

/// One optimiser step of a stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub step: i64,
    pub epoch: i64,
    pub lr: f64,
    pub loss: f64,
}

/// One grid arch's validation numbers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GridPoint {
    pub arch: Arch,
    pub clean: f64,
    pub pgd20: f64,
}

/// One epoch of a stage, with its validation grid (empty when the epoch was not validated).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Epoch {
    pub epoch: i64,
    pub steps: i64,
    pub mean_loss: f64,
    pub seconds: f64,
    pub validation: Vec<GridPoint>,
}

/// One page of a list and how many items match in all.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub offset: i64,
    pub limit: i64,
}

/// An experiment in the list: the stored row, progress and best students.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExperimentSummary {
    #[serde(flatten)]
    pub experiment: Experiment,
    /// Jobs done over jobs.
    pub progress: f64,
    /// The best ProARD student on clean and on PGD-20 accuracy so far.
    pub best_clean: Option<f64>,
    pub best_pgd20: Option<f64>,
}

/// A stage with its estimated time left (from its pace so far).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageView {
    #[serde(flatten)]
    pub stage: Stage,
    pub eta_seconds: Option<f64>,
}

/// One experiment with its stages and jobs (`GET /api/experiments/{id}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExperimentDetail {
    #[serde(flatten)]
    pub summary: ExperimentSummary,
    pub stages: Vec<StageView>,
    /// The browser's reading of the jobs; the server writes its full job rows instead.
    #[serde(default, skip_serializing)]
    pub jobs: Vec<JobSummary>,
}

/// A job of an experiment as the browser shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobSummary {
    /// `train phase 2 (depth)`, `evaluate shard 1/2`.
    pub label: String,
    pub status: Status,
    pub attempts: i64,
    pub max_attempts: i64,
    pub error: Option<String>,
}

/// The curves of one training stage (`GET /api/experiments/{id}/metrics`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageMetrics {
    pub stage: String,
    /// Every k-th step of the stage (k = 1 for short stages) and its last.
    pub steps: Vec<Step>,
    pub epochs: Vec<Epoch>,
}

/// An evaluated student as the browser reads it (`GET /api/experiments/{id}/students`); the
/// server's record also carries the encoding and every evaluation setting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Student {
    pub experiment_id: i64,
    /// proard | baseline | teacher
    pub cloud: String,
    pub record: StudentValues,
}

/// What was measured on one student.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StudentValues {
    /// Position in the seeded arch sample (the same arch in the ProARD and baseline clouds).
    pub index: usize,
    pub arch: Arch,
    pub macs: u64,
    pub params: u64,
    pub clean: f64,
    pub fgsm: f64,
    pub pgd20: f64,
}

/// A request to take a student home (`POST /api/experiments/{id}/verifications`): export it
/// from its cloud's supernet, calibrated as the evaluation does, and attack it. No attacks:
/// export only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewVerification {
    /// proard | baseline | teacher
    pub cloud: String,
    /// The student record's index in the cloud; or give `arch`.
    #[serde(default)]
    pub index: Option<usize>,
    #[serde(default)]
    pub arch: Option<Arch>,
    /// fgsm, pgd20, cw, apgd-ce, apgd-t, autoattack.
    #[serde(default)]
    pub attacks: Vec<String>,
    /// The first this many of the run's evaluation images (all when absent).
    #[serde(default)]
    pub images: Option<usize>,
    /// Iterations of every APGD attack (AutoAttack's 100 when absent).
    #[serde(default)]
    pub apgd_iterations: Option<usize>,
}

/// A verification and where it stands (`GET /api/experiments/{id}/verifications`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    pub id: i64,
    pub experiment_id: i64,
    pub request: NewVerification,
    pub arch: Arch,
    /// Its job's status and error.
    pub status: Status,
    pub error: Option<String>,
    /// The exported student's download URL, once written.
    pub download: Option<String>,
    pub result: Option<VerificationResult>,
    pub created_at: i64,
}

/// What a verification measured (the stored result also holds every attack's settings).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerificationResult {
    pub images: usize,
    pub seed: u64,
    pub clean: f64,
    pub fgsm: Option<f64>,
    pub pgd20: Option<f64>,
    pub worst: Option<f64>,
    pub rows: Vec<VerifiedAttack>,
    /// Warning signs of gradient masking, as sentences.
    pub warnings: Vec<String>,
}

/// One attack's line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerifiedAttack {
    pub name: String,
    pub label: String,
    pub accuracy: f64,
    pub seconds: f64,
}

/// A request to fit the accuracy–robustness predictor (`POST /api/experiments/{id}/predictors`)
/// on a cloud's evaluated students.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPredictor {
    /// proard | baseline
    pub cloud: String,
    /// Training epochs (the predictor's default when absent).
    #[serde(default)]
    pub epochs: Option<usize>,
    /// Seeds the held-out split, the batch order and the initial weights.
    #[serde(default)]
    pub seed: Option<u64>,
}

/// A fitted predictor (`GET /api/experiments/{id}/predictors`): its held-out RMSEs and every
/// held-out student measured and predicted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FittedPredictor {
    pub id: i64,
    pub experiment_id: i64,
    pub cloud: String,
    /// Every setting of the predictor and its training.
    pub settings: serde_json::Value,
    pub rmse_acc: f64,
    pub rmse_rob: f64,
    pub n_train: usize,
    pub n_test: usize,
    /// (measured clean, measured PGD-20, predicted clean, predicted PGD-20) per held-out student.
    pub held_out: Vec<[f64; 4]>,
    /// The weights file's download URL.
    pub download: Option<String>,
    pub created_at: i64,
}

/// Who the caller is (`GET /api/access`): the owner (studio token) or a share link's holder,
/// who may read one experiment and opens the view saved with the link.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum AccessInfo {
    Owner,
    Share { experiment: i64, view: serde_json::Value },
}

/// A new share link (`POST /api/experiments/{id}/shares`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShareLink {
    pub id: i64,
    pub token: String,
    pub url: String,
}

/// Every error the API answers: what is wrong and, for a config, the field it is about
/// (`teacher.epochs`, `phases[1].learning_rate`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// The training objectives an experiment can choose, each with its papers' default
/// hyper-parameters (`GET /api/methods`), for the new-experiment form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Methods {
    /// Adversarial training of the teacher: `method` → its default config object.
    pub teacher: Vec<(String, serde_json::Value)>,
    /// Robustness distillation of the supernet.
    pub distillation: Vec<(String, serde_json::Value)>,
}

/// A data set the server can train on (`GET /api/datasets`), for the new-experiment form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataSet {
    /// What a config's `data` says (`synthetic`, `cifar10:/srv/data/cifar10`).
    pub spec: String,
    pub description: String,
    pub train_images: usize,
    pub test_images: usize,
}
