//! Robust training objectives (docs/objectives.md): PGD-AT (SAT), TRADES, MART, ARD,
//! IAD-I, RSLAD, AdaAD, AdaIAD, DARD and CIARD, each a serde config with its paper's defaults.
//!
//! An objective plugs into any training loop: it receives [`View`]s — a plain network, or one
//! subnet of a supernet — crafts its adversarial examples ([`Objective::adversarial`]) and
//! computes its loss on them ([`Objective::losses`]). Each method's config also has a `loss`
//! over logits alone, which the tests check against hand computations.
//!
//! Invariants: the inner maximisation runs `valid()` copies (input gradients only) in the
//! BatchNorm mode its config states; the outer loss runs the student in `Train` mode and
//! teachers in `Eval` mode (CIARD's robust teacher: `Train`, as in the reference) and never
//! lets gradient reach a teacher, except CIARD's separate teacher loss.

pub mod adaad;
pub mod ard;
pub mod ciard;
pub mod dard;
pub mod divergence;
pub mod iad;
pub mod mart;
pub mod rslad;
pub mod sat;
pub mod trades;

use std::cell::RefCell;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

pub use adaad::{AdaAdConfig, AdaIadConfig};
pub use ard::ArdConfig;
pub use ciard::{CiardConfig, CiardLogits, CiardState, CiardWeights};
pub use dard::{DardConfig, DardMixing};
pub use divergence::Reduction;
pub use iad::IadConfig;
pub use mart::MartConfig;
pub use rslad::RsladConfig;
pub use sat::SatConfig;
pub use trades::TradesConfig;

use crate::attack::loss::cross_entropy_per_example;
use crate::attack::{AscentConfig, ascend, cross_entropy, dpgd, frozen};
use crate::model::{BnMode, Network, View};
use divergence::kl_logits;
use proard_shared::Subnet;

/// A training objective and its parameters; `method` names it in TOML/JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "kebab-case")]
pub enum ObjectiveConfig {
    Sat(SatConfig),
    Trades(TradesConfig),
    Mart(MartConfig),
    Ard(ArdConfig),
    #[serde(rename = "iad-i")]
    IadI(IadConfig),
    Rslad(RsladConfig),
    #[serde(rename = "adaad")]
    AdaAd(AdaAdConfig),
    #[serde(rename = "adaiad")]
    AdaIad(AdaIadConfig),
    Dard(DardConfig),
    Ciard(CiardConfig),
}

impl Default for ObjectiveConfig {
    /// RSLAD, ProARD's distillation loss.
    fn default() -> Self {
        ObjectiveConfig::Rslad(RsladConfig::default())
    }
}

/// Which network the inner maximisation attacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Attacked {
    Student,
    /// The loss runs through the teacher too (AdaAD, AdaIAD).
    StudentAndTeacher,
    /// DPGD against the student, and separately against the teacher (DARD).
    StudentThenTeacher,
}

/// What an objective needs from the training loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Needs {
    /// An adversarially trained teacher.
    pub teacher: bool,
    /// A naturally trained teacher (CIARD's T_n).
    pub clean_teacher: bool,
    /// The loop must give the robust teacher as a trainable network and step it with
    /// [`Losses::teacher`] (CIARD's ITT).
    pub trains_teacher: bool,
    /// A training stage keeps its own copy of the robust teacher (CIARD runs it in train mode,
    /// so its BatchNorm statistics move, and ITT trains it).
    pub owns_teacher: bool,
    pub attacked: Attacked,
    /// BatchNorm mode of the student during the attack.
    pub attack_bn: BnMode,
}

/// The networks of one step. The student's network carries parameter gradients; teachers are
/// `valid()` copies, except a teacher the objective retrains.
#[derive(Clone, Copy, Debug)]
pub struct Nets<'a> {
    pub student: View<'a>,
    pub teacher: Option<View<'a>>,
    pub clean_teacher: Option<View<'a>>,
}

/// One training batch, shared by every subnet a step trains on it. It keeps the teacher's
/// eval-mode logits on the clean images — the distillation target of ARD, IAD, RSLAD, AdaAD and
/// DARD, the same for every subnet — so a step computes them once, not once or twice per subnet.
/// The cache is keyed by the teacher view's address (network and subnet), so another teacher is
/// computed afresh; a teacher that is replaced in place needs a new batch.
pub struct Batch {
    /// Images in [0, 1], [N, C, H, W].
    pub x: Tensor<4>,
    /// Class indices, \[N].
    pub labels: Tensor<1, Int>,
    teacher_clean: RefCell<Option<(TeacherKey, Tensor<2>)>>,
}

/// The addresses of a teacher view's network and subnet.
type TeacherKey = (*const Network, *const Subnet);

impl Batch {
    pub fn new(x: Tensor<4>, labels: Tensor<1, Int>) -> Batch {
        Batch { x, labels, teacher_clean: RefCell::new(None) }
    }

    /// `teacher`'s eval-mode logits on the clean images, plain (no gradient reaches the
    /// teacher) [N, K].
    pub fn teacher_clean(&self, teacher: View) -> Tensor<2> {
        let key: TeacherKey = (teacher.network, teacher.subnet);
        if let Some((cached, logits)) = &*self.teacher_clean.borrow()
            && *cached == key
        {
            return logits.clone();
        }
        let logits = teacher.forward(self.x.clone().detach().inner(), BnMode::Eval);
        *self.teacher_clean.borrow_mut() = Some((key, logits.clone()));
        logits
    }
}

/// Where training stands, for methods whose loss changes with the epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Counting from 1, as the papers do.
    pub epoch: usize,
    pub epochs: usize,
}

/// The adversarial inputs of one step (plain tensors in the ε-ball around x).
#[derive(Clone, Debug)]
pub struct Adversarial {
    /// x' against the student.
    pub student: Tensor<4>,
    /// DARD: DPGD against the teacher.
    pub teacher: Option<Tensor<4>>,
}

/// The losses of one step, each a scalar on the autodiff graph.
#[derive(Debug)]
pub struct Losses {
    pub student: Tensor<1>,
    /// CIARD's ITT: CE(T_r(x'), y), when the teacher trains this epoch.
    pub teacher: Option<Tensor<1>>,
}

/// Why a step cannot run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ObjectiveError {
    #[error("objective `{0}` needs a teacher; train one first (proard train teacher)")]
    MissingTeacher(&'static str),
    #[error("objective `{0}` needs a naturally trained clean teacher")]
    MissingCleanTeacher(&'static str),
}

/// An objective with the state it adapts during training (CIARD's temperatures and weights).
#[derive(Clone, Debug)]
pub struct Objective {
    pub config: ObjectiveConfig,
    pub ciard: CiardState,
}

impl ObjectiveConfig {
    /// Every objective with its paper's default hyper-parameters: the teacher's adversarial
    /// training objectives first (those that need no teacher), then the distillation methods.
    pub fn all_defaults() -> Vec<ObjectiveConfig> {
        use ObjectiveConfig::*;
        vec![
            Trades(Default::default()),
            Sat(Default::default()),
            Mart(Default::default()),
            Rslad(Default::default()),
            Ard(Default::default()),
            IadI(Default::default()),
            AdaAd(Default::default()),
            AdaIad(Default::default()),
            Dard(Default::default()),
            Ciard(Default::default()),
        ]
    }

    pub fn name(&self) -> &'static str {
        match self {
            ObjectiveConfig::Sat(_) => "sat",
            ObjectiveConfig::Trades(_) => "trades",
            ObjectiveConfig::Mart(_) => "mart",
            ObjectiveConfig::Ard(_) => "ard",
            ObjectiveConfig::IadI(_) => "iad-i",
            ObjectiveConfig::Rslad(_) => "rslad",
            ObjectiveConfig::AdaAd(_) => "adaad",
            ObjectiveConfig::AdaIad(_) => "adaiad",
            ObjectiveConfig::Dard(_) => "dard",
            ObjectiveConfig::Ciard(_) => "ciard",
        }
    }

    pub fn needs(&self) -> Needs {
        use ObjectiveConfig::*;
        let teacher = !matches!(self, Sat(_) | Trades(_) | Mart(_));
        let attacked = match self {
            AdaAd(_) | AdaIad(_) => Attacked::StudentAndTeacher,
            Dard(_) => Attacked::StudentThenTeacher,
            _ => Attacked::Student,
        };
        let attack_bn = match self {
            Dard(_) => BnMode::Train,
            other => other.ascent().map_or(BnMode::Eval, |a| a.bn),
        };
        Needs {
            teacher,
            clean_teacher: matches!(self, Ciard(_)),
            trains_teacher: matches!(self, Ciard(c) if c.retrain_teacher),
            owns_teacher: matches!(self, Ciard(_)),
            attacked,
            attack_bn,
        }
    }

    /// The PGD-style inner maximisation (every method but DARD, which uses DPGD).
    pub fn ascent(&self) -> Option<&AscentConfig> {
        use ObjectiveConfig::*;
        Some(match self {
            Sat(c) => &c.attack,
            Trades(c) => &c.attack,
            Mart(c) => &c.attack,
            Ard(c) => &c.attack,
            IadI(c) => &c.attack,
            Rslad(c) => &c.attack,
            AdaAd(c) => &c.attack,
            AdaIad(c) => &c.attack,
            Ciard(c) => &c.attack,
            Dard(_) => return None,
        })
    }
}

impl Objective {
    pub fn new(config: ObjectiveConfig) -> Objective {
        Objective { config, ciard: CiardState::default() }
    }

    fn teacher<'a>(&self, nets: &Nets<'a>) -> Result<View<'a>, ObjectiveError> {
        nets.teacher.ok_or(ObjectiveError::MissingTeacher(self.config.name()))
    }

    fn clean_teacher<'a>(&self, nets: &Nets<'a>) -> Result<View<'a>, ObjectiveError> {
        nets.clean_teacher.ok_or(ObjectiveError::MissingCleanTeacher(self.config.name()))
    }

    /// The method's adversarial examples for the batch's images.
    pub fn adversarial(&self, nets: &Nets, batch: &Batch) -> Result<Adversarial, ObjectiveError> {
        use ObjectiveConfig::*;
        let student_network = frozen(nets.student.network);
        let student = View::new(&student_network, nets.student.subnet);
        let labels = batch.labels.clone().inner();
        let plain = batch.x.clone().detach().inner();
        let ce_ascent = |attack: &AscentConfig| {
            ascend(&plain, attack, |_, input| {
                cross_entropy_per_example(student.forward(input, attack.bn), labels.clone()).sum()
            })
        };
        // Σ KL(q ‖ softmax(S(x'))) towards fixed target logits.
        let kl_ascent = |attack: &AscentConfig, target: Tensor<2>| {
            ascend(&plain, attack, |_, input| {
                kl_logits(target.clone(), student.forward(input, attack.bn), 1.0).sum()
            })
        };
        let on_student = |student: Tensor<4>| Adversarial { student, teacher: None };
        Ok(match &self.config {
            Sat(c) => on_student(ce_ascent(&c.attack)),
            Mart(c) => on_student(ce_ascent(&c.attack)),
            Ard(c) => on_student(ce_ascent(&c.attack)),
            IadI(c) => on_student(ce_ascent(&c.attack)),
            Ciard(c) => on_student(ce_ascent(&c.attack)),
            Trades(c) => {
                on_student(kl_ascent(&c.attack, student.forward(plain.clone(), BnMode::Eval)))
            }
            Rslad(c) => on_student(kl_ascent(&c.attack, batch.teacher_clean(self.teacher(nets)?))),
            AdaAd(AdaAdConfig { attack, .. }) | AdaIad(AdaIadConfig { attack, .. }) => {
                let teacher_network = frozen(self.teacher(nets)?.network);
                let teacher = View::new(&teacher_network, self.teacher(nets)?.subnet);
                on_student(ascend(&plain, attack, |_, input| {
                    // The teacher's output is not detached: the gradient flows through both.
                    kl_logits(
                        teacher.forward(input.clone(), BnMode::Eval),
                        student.forward(input, attack.bn),
                        1.0,
                    )
                    .sum()
                }))
            }
            Dard(c) => Adversarial {
                student: dpgd(student, &plain, &labels, &c.attack, BnMode::Train),
                teacher: Some(dpgd(self.teacher(nets)?, &plain, &labels, &c.attack, BnMode::Eval)),
            },
        })
    }

    /// The step's losses at `adversarial` (from [`Objective::adversarial`] on the same batch).
    /// CIARD's state adapts here.
    pub fn losses(
        &mut self,
        nets: &Nets,
        batch: &Batch,
        adversarial: &Adversarial,
        progress: Progress,
    ) -> Result<Losses, ObjectiveError> {
        use ObjectiveConfig::*;
        let student = |input: &Tensor<4>| nets.student.forward(input.clone(), BnMode::Train);
        let teacher = |input: &Tensor<4>| -> Result<Tensor<2>, ObjectiveError> {
            Ok(self.teacher(nets)?.forward(input.clone(), BnMode::Eval).detach())
        };
        let teacher_clean = || self.teacher(nets).map(|t| batch.teacher_clean(t));
        let x = &batch.x;
        let (y, x_adv, epoch) = (batch.labels.clone(), &adversarial.student, progress.epoch);
        let student_loss = match &self.config {
            Sat(c) => c.loss(student(x_adv), y),
            Trades(c) => c.loss(student(x), student(x_adv), y),
            Mart(c) => c.loss(student(x), student(x_adv), y),
            Ard(c) => c.loss(student(x), student(x_adv), teacher_clean()?, y),
            IadI(c) => {
                c.loss(student(x), student(x_adv), teacher_clean()?, teacher(x_adv)?, y, epoch)
            }
            Rslad(c) => c.loss(student(x), student(x_adv), teacher_clean()?),
            AdaAd(c) => c.loss(student(x), student(x_adv), teacher_clean()?, teacher(x_adv)?),
            AdaIad(c) => c.loss(student(x), student(x_adv), teacher(x_adv)?, y, epoch),
            Dard(c) => {
                let teacher_adversarial =
                    adversarial.teacher.as_ref().expect("DARD's adversarial() attacks the teacher");
                c.loss(
                    student(x),
                    student(x_adv),
                    teacher_clean()?,
                    teacher(teacher_adversarial)?,
                    y,
                    epoch,
                    progress.epochs,
                )
            }
            Ciard(c) => {
                let robust_teacher = self.teacher(nets)?;
                let clean_teacher = self.clean_teacher(nets)?;
                // T_r runs in train mode throughout, as in the reference.
                let robust_adversarial = robust_teacher.forward(x_adv.clone(), BnMode::Train);
                let teacher_loss = (c.teacher_learning_rate_at(epoch) > 0.0)
                    .then(|| cross_entropy(robust_adversarial.clone(), y.clone()));
                let logits = CiardLogits {
                    student_clean: student(x),
                    student_adversarial: student(x_adv),
                    robust_teacher_adversarial: robust_adversarial.detach(),
                    clean_teacher_clean: clean_teacher.forward(x.clone(), BnMode::Eval).detach(),
                    clean_teacher_adversarial: clean_teacher
                        .forward(x_adv.clone(), BnMode::Eval)
                        .detach(),
                };
                let config = c.clone();
                let student_loss = config.loss(&mut self.ciard, logits, y, epoch);
                return Ok(Losses { student: student_loss, teacher: teacher_loss });
            }
        };
        Ok(Losses { student: student_loss, teacher: None })
    }

    /// One step's losses: [`Objective::adversarial`], then [`Objective::losses`].
    pub fn step(
        &mut self,
        nets: &Nets,
        batch: &Batch,
        progress: Progress,
    ) -> Result<Losses, ObjectiveError> {
        let adversarial = self.adversarial(nets, batch)?;
        self.losses(nets, batch, &adversarial, progress)
    }
}
