//! Verification of one standalone student under strong attacks (docs/attacks.md,
//! "Verification"): clean, FGSM, PGD-20, CW∞, APGD-CE, APGD-T and the AutoAttack-style
//! sequence, each with its parameters and seed in the result, plus AutoAttack's warning signs
//! of gradient masking as flags.
//!
//! Every attack on batch `i` runs with the noise stream seeded from (seed, i) (the sequence from
//! (seed, i, stage)), exactly as the pipeline's student evaluation does: verifying an exported
//! student with its record's seed on the run's images reproduces the record's numbers.

use std::time::Instant;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::attack::{
    ApgdConfig, Attack, FgsmConfig, PgdConfig, SequenceConfig, cross_entropy, evaluate,
    run_sequence,
};
use crate::model::{BnMode, Student, View};

/// Plain images [N, C, H, W] in [0, 1] and their labels \[N].
pub type Batch = (Tensor<4>, Tensor<1, Int>);

/// The attacks `proard verify` can run (clean accuracy is always measured).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerifyAttack {
    Fgsm,
    Pgd20,
    Cw,
    ApgdCe,
    ApgdT,
    Autoattack,
}

impl VerifyAttack {
    pub const ALL: [VerifyAttack; 6] = [
        VerifyAttack::Fgsm,
        VerifyAttack::Pgd20,
        VerifyAttack::Cw,
        VerifyAttack::ApgdCe,
        VerifyAttack::ApgdT,
        VerifyAttack::Autoattack,
    ];

    /// The name on the command line and in the JSON result.
    pub fn name(self) -> &'static str {
        match self {
            VerifyAttack::Fgsm => "fgsm",
            VerifyAttack::Pgd20 => "pgd20",
            VerifyAttack::Cw => "cw",
            VerifyAttack::ApgdCe => "apgd-ce",
            VerifyAttack::ApgdT => "apgd-t",
            VerifyAttack::Autoattack => "autoattack",
        }
    }
}

impl std::str::FromStr for VerifyAttack {
    type Err = String;

    fn from_str(text: &str) -> Result<VerifyAttack, String> {
        VerifyAttack::ALL.into_iter().find(|a| a.name() == text).ok_or_else(|| {
            let names: Vec<&str> = VerifyAttack::ALL.iter().map(|a| a.name()).collect();
            format!("`{text}` is not an attack: use {}", names.join(", "))
        })
    }
}

/// Thresholds of the warning flags.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FlagConfig {
    /// A later attack this much (a fraction) below PGD-20 is flagged: PGD-20 was fooled by the
    /// model's gradients.
    pub stronger_than_pgd: f64,
}

impl Default for FlagConfig {
    fn default() -> Self {
        FlagConfig { stronger_than_pgd: 0.03 }
    }
}

/// Every setting of a verification; the defaults are the papers' attacks at ε = 8/255.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VerifyConfig {
    pub attacks: Vec<VerifyAttack>,
    /// Seeds every attack's random starts, batch by batch.
    pub seed: u64,
    pub fgsm: FgsmConfig,
    pub pgd20: PgdConfig,
    pub cw: PgdConfig,
    pub apgd_ce: ApgdConfig,
    pub apgd_t: ApgdConfig,
    pub autoattack: SequenceConfig,
    pub flags: FlagConfig,
}

impl Default for VerifyConfig {
    fn default() -> Self {
        VerifyConfig::at_epsilon(8.0 / 255.0)
    }
}

impl VerifyConfig {
    /// Every attack at its papers' settings with budget ε (PGD's step stays ε/4, as 2/255 is
    /// of 8/255).
    pub fn at_epsilon(epsilon: f64) -> VerifyConfig {
        VerifyConfig {
            attacks: VerifyAttack::ALL.to_vec(),
            seed: 0,
            fgsm: FgsmConfig { epsilon, ..FgsmConfig::default() },
            pgd20: PgdConfig { epsilon, step_size: epsilon / 4.0, ..PgdConfig::default() },
            cw: PgdConfig { epsilon, step_size: epsilon / 4.0, ..PgdConfig::cw() },
            apgd_ce: ApgdConfig { epsilon, ..ApgdConfig::default() },
            apgd_t: ApgdConfig { epsilon, ..ApgdConfig::targeted() },
            autoattack: SequenceConfig::apgd(epsilon),
            flags: FlagConfig::default(),
        }
    }

    /// APGD's iterations in every APGD attack, the sequence's included (100 in AutoAttack).
    pub fn with_apgd_iterations(mut self, iterations: usize) -> VerifyConfig {
        self.apgd_ce.iterations = iterations;
        self.apgd_t.iterations = iterations;
        for stage in &mut self.autoattack.stages {
            if let Attack::Apgd(config) = stage {
                config.iterations = iterations;
            }
        }
        self
    }

    fn single(&self, attack: VerifyAttack) -> Option<Attack> {
        Some(match attack {
            VerifyAttack::Fgsm => Attack::Fgsm(self.fgsm.clone()),
            VerifyAttack::Pgd20 => Attack::Pgd(self.pgd20.clone()),
            VerifyAttack::Cw => Attack::Pgd(self.cw.clone()),
            VerifyAttack::ApgdCe => Attack::Apgd(self.apgd_ce.clone()),
            VerifyAttack::ApgdT => Attack::Apgd(self.apgd_t.clone()),
            VerifyAttack::Autoattack => return None,
        })
    }
}

/// One line of the result table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerifyRow {
    /// `fgsm`, `pgd20`, … as in [`VerifyAttack::name`].
    pub name: String,
    /// How the figure is named in tables: `PGD-20`, `APGD-T`, `AutoAttack-style (APGD-CE → APGD-T)`.
    pub label: String,
    pub accuracy: f64,
    pub seconds: f64,
    /// The attack's full parameters (for the sequence, its stages).
    pub settings: serde_json::Value,
}

/// A warning sign of an evaluation that overstates robustness (AutoAttack's checks).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "flag")]
pub enum Flag {
    /// Some images have an input gradient of exactly zero: gradient attacks cannot move them.
    ZeroGradients { images: usize },
    /// PGD-20 is no stronger than FGSM (more steps should not leave more images robust).
    NotFallingWithSteps { fgsm: f64, pgd20: f64 },
    /// PGD-20 at twice ε leaves as many images robust as at ε.
    NotFallingWithEpsilon { at_epsilon: f64, at_double_epsilon: f64 },
    /// A later attack is much stronger than PGD-20.
    StrongerThanPgd { attack: String, accuracy: f64, pgd20: f64 },
}

impl Flag {
    /// What the flag means for the user.
    pub fn message(&self) -> String {
        match self {
            Flag::ZeroGradients { images } => format!(
                "{images} image(s) have an input gradient of exactly zero: gradient-based attacks \
                 cannot move them (gradient masking?)"
            ),
            Flag::NotFallingWithSteps { fgsm, pgd20 } => format!(
                "PGD-20 ({pgd20:.4}) is not below FGSM ({fgsm:.4}): more steps should find more \
                 adversarial examples"
            ),
            Flag::NotFallingWithEpsilon { at_epsilon, at_double_epsilon } => format!(
                "robust accuracy does not fall when ε doubles ({at_epsilon:.4} → \
                 {at_double_epsilon:.4})"
            ),
            Flag::StrongerThanPgd { attack, accuracy, pgd20 } => format!(
                "{attack} ({accuracy:.4}) is far below PGD-20 ({pgd20:.4}): PGD-20 overstates \
                 robustness here"
            ),
        }
    }
}

/// What `proard verify` reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerifyReport {
    pub images: usize,
    pub seed: u64,
    pub clean: f64,
    pub fgsm: Option<f64>,
    pub pgd20: Option<f64>,
    pub cw: Option<f64>,
    pub apgd_ce: Option<f64>,
    pub apgd_t: Option<f64>,
    pub autoattack: Option<f64>,
    /// The lowest accuracy of any attack run: the student's robustness as verified.
    pub worst: Option<f64>,
    pub rows: Vec<VerifyRow>,
    /// PGD-20 at 2ε, measured for the ε check.
    pub pgd20_double_epsilon: Option<f64>,
    pub zero_gradient_images: usize,
    pub flags: Vec<Flag>,
    /// The flags as sentences.
    pub warnings: Vec<String>,
    pub config: VerifyConfig,
}

/// Verifies `student` on `batches` (plain images in [0, 1], labels) as `config` says.
pub fn verify(student: &Student, batches: &[Batch], config: &VerifyConfig) -> VerifyReport {
    let network = student.network.valid();
    let subnet = &student.subnet;
    let mut rows = Vec::new();
    let mut clean = None;
    let mut images = 0;
    for attack in &config.attacks {
        let started = Instant::now();
        let (accuracy, settings, clean_now, count) = match config.single(*attack) {
            Some(single) => {
                let report =
                    evaluate(&network, subnet, batches.iter().cloned(), &[single], config.seed);
                let settings = serde_json::to_value(&report.attacks[0].attack);
                (report.attacks[0].accuracy, settings, report.clean_accuracy, report.images)
            }
            None => {
                let report = run_sequence(
                    &network,
                    subnet,
                    batches.iter().cloned(),
                    &config.autoattack,
                    config.seed,
                );
                let settings = serde_json::to_value(&config.autoattack);
                (report.robust_accuracy, settings, report.clean_accuracy, report.images)
            }
        };
        clean = Some(clean_now);
        images = count;
        rows.push(VerifyRow {
            name: attack.name().to_owned(),
            label: label(config, *attack),
            accuracy,
            seconds: started.elapsed().as_secs_f64(),
            settings: settings.expect("attack settings serialise"),
        });
    }
    let clean = match clean {
        Some(clean) => clean,
        None => {
            let report = evaluate(&network, subnet, batches.iter().cloned(), &[], config.seed);
            images = report.images;
            report.clean_accuracy
        }
    };
    let find =
        |attack: VerifyAttack| rows.iter().find(|r| r.name == attack.name()).map(|r| r.accuracy);
    let pgd20 = find(VerifyAttack::Pgd20);
    let pgd20_double_epsilon = pgd20.map(|_| {
        let doubled = PgdConfig {
            epsilon: 2.0 * config.pgd20.epsilon,
            step_size: 2.0 * config.pgd20.step_size,
            ..config.pgd20.clone()
        };
        let attacks = [Attack::Pgd(doubled)];
        evaluate(&network, subnet, batches.iter().cloned(), &attacks, config.seed).attacks[0]
            .accuracy
    });
    let zero_gradient_images = zero_gradient_images(student, batches);
    let mut flags = Vec::new();
    if zero_gradient_images > 0 {
        flags.push(Flag::ZeroGradients { images: zero_gradient_images });
    }
    if let (Some(fgsm), Some(pgd20)) = (find(VerifyAttack::Fgsm), pgd20)
        && pgd20 >= fgsm
        && fgsm < clean
    {
        flags.push(Flag::NotFallingWithSteps { fgsm, pgd20 });
    }
    if let (Some(at_epsilon), Some(at_double_epsilon)) = (pgd20, pgd20_double_epsilon)
        && at_epsilon > 0.0
        && at_double_epsilon >= at_epsilon
    {
        flags.push(Flag::NotFallingWithEpsilon { at_epsilon, at_double_epsilon });
    }
    if let Some(pgd20) = pgd20 {
        for row in rows.iter().filter(|r| !matches!(r.name.as_str(), "fgsm" | "pgd20")) {
            if row.accuracy < pgd20 - config.flags.stronger_than_pgd {
                flags.push(Flag::StrongerThanPgd {
                    attack: row.label.clone(),
                    accuracy: row.accuracy,
                    pgd20,
                });
            }
        }
    }
    VerifyReport {
        images,
        seed: config.seed,
        clean,
        fgsm: find(VerifyAttack::Fgsm),
        pgd20,
        cw: find(VerifyAttack::Cw),
        apgd_ce: find(VerifyAttack::ApgdCe),
        apgd_t: find(VerifyAttack::ApgdT),
        autoattack: find(VerifyAttack::Autoattack),
        worst: rows.iter().map(|r| r.accuracy).min_by(f64::total_cmp),
        rows,
        pgd20_double_epsilon,
        zero_gradient_images,
        warnings: flags.iter().map(Flag::message).collect(),
        flags,
        config: config.clone(),
    }
}

/// How a figure is named in tables.
fn label(config: &VerifyConfig, attack: VerifyAttack) -> String {
    match attack {
        VerifyAttack::Fgsm => "FGSM".into(),
        VerifyAttack::Pgd20 => config.pgd20.label(),
        VerifyAttack::Cw => config.cw.label(),
        VerifyAttack::ApgdCe => "APGD-CE".into(),
        VerifyAttack::ApgdT => "APGD-T".into(),
        VerifyAttack::Autoattack => "AutoAttack-style (worst case per image)".into(),
    }
}

/// Images whose cross-entropy input gradient at the clean image is exactly zero everywhere.
fn zero_gradient_images(student: &Student, batches: &[Batch]) -> usize {
    let frozen = student.network.valid();
    let view = View::new(&frozen, &student.subnet);
    batches
        .iter()
        .map(|(x, labels)| {
            let attached = x.clone().autodiff().require_grad();
            let logits = view.forward(attached.clone(), BnMode::Eval);
            let gradient = attached
                .grad(&cross_entropy(logits, labels.clone()).backward())
                .expect("the input requires a gradient");
            let n = labels.dims()[0];
            let largest = gradient.abs().reshape([n as i32, -1]).max_dim(1).reshape([n]);
            largest.equal_elem(0.0).int().sum().into_scalar::<i64>() as usize
        })
        .sum()
}
