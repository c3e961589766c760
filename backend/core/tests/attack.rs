//! Attacks against a small trained subnet: outputs stay in the ε-ball and [0, 1], ε = 0 gives
//! clean accuracy, robust accuracy does not rise with ε or steps, PGD-20 is at least as strong
//! as FGSM, APGD-CE at least about as strong as PGD-20, and every configuration is recorded with
//! its result. On an untrained subnet the mathematics is pinned: PGD's and APGD's first iterates
//! equal their definitions, restarts keep the worst case per image, and evaluation attacks run
//! BatchNorm in eval mode without touching its running statistics.

mod support;
use support::running_statistics;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use burn::prelude::*;
use burn::tensor::Distribution;
use proard_core::attack::cross_entropy;
use proard_core::attack::loss::cross_entropy_per_example;
use proard_core::attack::selftest::{SelfTestConfig, train_small_network};
use proard_core::attack::{
    ApgdConfig, ApgdLoss, Attack, DpgdConfig, EvalReport, FgsmConfig, PgdConfig, PgdIterate,
    PgdLoss, PgdStart, PointOutcome, SequenceConfig, apgd, dpgd, evaluate, fgsm, pgd,
    pgd_with_target, run_sequence,
};
use proard_core::data::loader::{Loader, LoaderConfig};
use proard_core::data::synthetic::{self, SyntheticConfig};
use proard_core::data::{ImageSet, Split};
use proard_core::model::{BnMode, NetConfig, Network, Pass, Supernet, View};
use proard_core::noise;
use proard_shared::Subnet;

/// The noise stream is one per process: tests that seed it run one at a time.
static RNG: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    RNG.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

const TRAINING_STEPS: usize = 150;
const TEST_IMAGES: usize = 64;

/// The smallest resnet-mini subnet after a short SGD run on the synthetic set, and the set.
fn trained_subnet() -> (Network, Subnet, Arc<ImageSet>) {
    let config = SelfTestConfig {
        seed: 3,
        steps: TRAINING_STEPS,
        train_images: 2000,
        test_images: TEST_IMAGES,
        ..SelfTestConfig::default()
    };
    let set = Arc::new(synthetic::generate(&SyntheticConfig {
        seed: config.seed,
        train: config.train_images,
        test: config.test_images,
    }));
    let (network, subnet) = train_small_network(&set, &config, &Device::flex());
    (network, subnet, set)
}

/// The whole test split as one batch.
fn batches_again(set: &Arc<ImageSet>) -> (Tensor<4>, Tensor<1, Int>) {
    Loader::new(set.clone(), Split::Test, LoaderConfig::eval(TEST_IMAGES))
        .epoch(0)
        .next()
        .expect("a test batch")
        .tensors(&Device::flex())
}

fn test_batches(set: &Arc<ImageSet>) -> Vec<(Tensor<4>, Tensor<1, Int>)> {
    Loader::new(set.clone(), Split::Test, LoaderConfig::eval(TEST_IMAGES / 2))
        .epoch(0)
        .map(|batch| batch.tensors(&Device::flex()))
        .collect()
}

/// Largest |adversarial − x| and the range of the adversarial pixels.
fn check_in_ball(name: &str, x: &Tensor<4>, adversarial: &Tensor<4>, epsilon: f64) {
    let distance = (adversarial.clone() - x.clone()).abs().max().into_scalar::<f32>() as f64;
    let low = adversarial.clone().min().into_scalar::<f32>();
    let high = adversarial.clone().max().into_scalar::<f32>();
    assert!(distance <= epsilon + 1e-6, "{name}: |x' − x|∞ = {distance} > ε = {epsilon}");
    assert!((0.0..=1.0).contains(&low) && high <= 1.0, "{name}: pixels in [{low}, {high}]");
    assert!(distance > epsilon / 2.0, "{name}: the attack barely moved ({distance})");
}

/// PGD that keeps the first fooling iterate: its accuracy cannot rise with ε or steps for a
/// fixed seed, so the checks below hold by construction.
fn pgd_with(epsilon: f64, steps: usize) -> Attack {
    Attack::Pgd(PgdConfig {
        epsilon,
        steps,
        iterate: PgdIterate::AnyFooling,
        ..PgdConfig::default()
    })
}

fn accuracy(report: &EvalReport, attack: &Attack) -> f64 {
    report.attacks.iter().find(|result| &result.attack == attack).unwrap().accuracy
}

fn assert_non_increasing(what: &str, accuracies: &[f64]) {
    for pair in accuracies.windows(2) {
        assert!(pair[1] <= pair[0], "{what}: accuracy rose, {accuracies:?}");
    }
}

#[test]
fn attacks_on_a_trained_subnet_are_bounded_monotone_and_recorded() {
    let _guard = lock();
    let started = Instant::now();
    let (network, subnet, set) = trained_subnet();
    eprintln!("training: {:.1} s", started.elapsed().as_secs_f64());
    let batches = test_batches(&set);
    let device = Device::flex();
    noise::seed(4);

    // Every loss and start, with restarts, stays in the ε-ball and in [0, 1].
    let (x, labels) = batches[0].clone();
    let epsilon = 8.0 / 255.0;
    let short = PgdConfig { steps: 3, restarts: 2, ..PgdConfig::default() };
    let variants = [
        ("pgd-ce-uniform", short.clone()),
        (
            "pgd-kl-gaussian",
            PgdConfig {
                loss: PgdLoss::KlToTarget,
                start: PgdStart::Gaussian { std: 0.001 },
                ..short.clone()
            },
        ),
        (
            "pgd-cw-none",
            PgdConfig {
                loss: PgdLoss::CwMargin { confidence: 50.0 },
                start: PgdStart::None,
                ..short.clone()
            },
        ),
    ];
    for (name, config) in &variants {
        let adversarial = pgd(&network, &subnet, x.clone(), labels.clone(), config);
        check_in_ball(name, &x, &adversarial, epsilon);
    }
    let uniform_target = Tensor::<2>::ones([labels.dims()[0], 10], &device) / 10.0;
    let kl = PgdConfig { loss: PgdLoss::KlToTarget, ..short };
    let towards_uniform =
        pgd_with_target(&network, &subnet, x.clone(), labels.clone(), uniform_target, &kl);
    check_in_ball("pgd-kl-given-target", &x, &towards_uniform, epsilon);
    let fgsm_config = FgsmConfig { random_start: true, ..FgsmConfig::default() };
    let one_step = fgsm(&network, &subnet, x.clone(), labels.clone(), &fgsm_config);
    check_in_ball("fgsm-random-start", &x, &one_step, epsilon);
    for loss in [ApgdLoss::CrossEntropy, ApgdLoss::Dlr, ApgdLoss::TargetedDlr { target_classes: 2 }]
    {
        let config = ApgdConfig { iterations: 6, restarts: 2, loss, ..ApgdConfig::default() };
        let adversarial = apgd(&network, &subnet, x.clone(), labels.clone(), &config);
        check_in_ball(&format!("apgd {:?}", config.loss), &x, &adversarial, epsilon);
    }
    eprintln!("ball checks: {:.1} s", started.elapsed().as_secs_f64());

    let fgsm_attack = Attack::Fgsm(FgsmConfig::default());
    let by_epsilon: Vec<Attack> =
        [0.0, 2.0, 4.0, 8.0].iter().map(|e| pgd_with(e / 255.0, 5)).collect();
    let by_steps: Vec<Attack> = [5, 10, 20].iter().map(|&s| pgd_with(epsilon, s)).collect();
    let mut attacks = vec![fgsm_attack.clone()];
    attacks.extend(by_epsilon.iter().cloned());
    attacks.extend(by_steps[1..].iter().cloned());
    // A shortened APGD-CE (25 iterations: checkpoints 4, 8, 11, 13, …) keeps the test fast.
    let apgd_ce = Attack::Apgd(ApgdConfig { iterations: 25, ..ApgdConfig::default() });
    attacks.push(apgd_ce.clone());
    // The synthetic images carry strong pixel noise, so a short-trained net already resists
    // 8/255 on many of them; a large budget shows the attack does fool it.
    let strong = Attack::Pgd(PgdConfig {
        epsilon: 32.0 / 255.0,
        step_size: 8.0 / 255.0,
        ..PgdConfig::default()
    });
    attacks.push(strong.clone());
    // The papers' PGD-20 (final iterate) on the same starts: an example it breaks is broken by
    // some iterate, so it can only report more robustness than the any-iterate count.
    let final_iterate = Attack::Pgd(PgdConfig { epsilon, ..PgdConfig::default() });
    attacks.push(final_iterate.clone());
    let report = evaluate(&network, &subnet, batches, &attacks, 9);
    eprintln!("evaluation: {:.1} s", started.elapsed().as_secs_f64());
    eprintln!("{}", serde_json::to_string(&report).unwrap());

    assert_eq!(report.images, TEST_IMAGES);
    assert!(report.clean_accuracy >= 0.3, "clean accuracy {} (chance 0.1)", report.clean_accuracy);
    assert_eq!(accuracy(&report, &by_epsilon[0]), report.clean_accuracy, "ε = 0 is clean");
    let along_epsilon: Vec<f64> = by_epsilon.iter().map(|a| accuracy(&report, a)).collect();
    assert_non_increasing("ε 0, 2, 4, 8 /255", &along_epsilon);
    assert!(along_epsilon[3] < report.clean_accuracy, "PGD at 8/255 fools some images");
    let along_steps: Vec<f64> = by_steps.iter().map(|a| accuracy(&report, a)).collect();
    assert_non_increasing("steps 5, 10, 20", &along_steps);
    assert!(along_steps[2] <= accuracy(&report, &fgsm_attack), "PGD-20 ≤ FGSM");
    // APGD usually beats PGD-20, but not per example by construction: two images of slack.
    let slack = 2.0 / TEST_IMAGES as f64;
    assert!(accuracy(&report, &apgd_ce) <= along_steps[2] + slack, "APGD-CE ≤ PGD-20 + {slack}");

    assert!(accuracy(&report, &strong) <= 0.25, "PGD-20 at 32/255 fools most images");
    assert!(accuracy(&report, &strong) <= along_steps[2], "a larger budget is no weaker");
    assert!(accuracy(&report, &final_iterate) >= along_steps[2], "final ≥ any iterate");

    // The report carries every parameter and reads back as it was written.
    let json = serde_json::to_value(&report).unwrap();
    let recorded = &json["attacks"][6]["attack"];
    assert_eq!(recorded["attack"], "pgd");
    assert_eq!(recorded["steps"], 20);
    assert_eq!(recorded["restarts"], 1);
    assert_eq!(recorded["loss"]["kind"], "cross-entropy");
    assert_eq!(recorded["start"]["kind"], "uniform");
    assert_eq!(recorded["iterate"], "any-fooling");
    assert_eq!(json["attacks"][9]["attack"]["iterate"], "final");
    assert_eq!(json["seed"], 9);
    let read_back: EvalReport = serde_json::from_value(json).unwrap();
    assert_eq!(read_back, report);

    // The AutoAttack-style sequence attacks only what earlier stages left robust.
    let sequence = SequenceConfig {
        stages: vec![
            apgd_ce.clone(),
            Attack::Apgd(ApgdConfig {
                iterations: 10,
                loss: ApgdLoss::TargetedDlr { target_classes: 2 },
                ..ApgdConfig::default()
            }),
            Attack::Pgd(PgdConfig { steps: 10, ..PgdConfig::cw() }),
        ],
    };
    let outcome = run_sequence(&network, &subnet, test_batches(&set), &sequence, 9);
    eprintln!("sequence: {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(outcome.images, TEST_IMAGES);
    assert_eq!(outcome.clean_accuracy, report.clean_accuracy);
    let misclassified =
        outcome.outcomes.iter().filter(|o| **o == PointOutcome::Misclassified).count();
    assert_eq!(
        misclassified,
        ((1.0 - outcome.clean_accuracy) * TEST_IMAGES as f64).round() as usize
    );
    let mut open = TEST_IMAGES - misclassified;
    let mut previous = outcome.clean_accuracy;
    for (index, stage) in outcome.stages.iter().enumerate() {
        let broken =
            outcome.outcomes.iter().filter(|o| **o == PointOutcome::BrokenBy(index)).count();
        assert_eq!(stage.broken, broken, "stage {index}");
        assert!(
            stage.attacked == open || open == 0,
            "stage {index} attacks the robust points only"
        );
        open -= broken;
        assert!(stage.robust_accuracy <= previous);
        previous = stage.robust_accuracy;
    }
    let robust = outcome.outcomes.iter().filter(|o| **o == PointOutcome::Robust).count();
    assert_eq!(robust, open);
    assert_eq!(outcome.robust_accuracy, robust as f64 / TEST_IMAGES as f64);
    assert!(outcome.robust_accuracy <= accuracy(&report, &apgd_ce) + slack);

    // DPGD (no random start, batch-level Dice) fools the network too at a large budget.
    let (x, labels) = batches_again(&set);
    let dpgd_config =
        DpgdConfig { epsilon: 32.0 / 255.0, step_size: 8.0 / 255.0, ..DpgdConfig::default() };
    let view = View::new(&network, &subnet);
    let adversarial = dpgd(view, &x, &labels, &dpgd_config, BnMode::Eval);
    check_in_ball("dpgd", &x, &adversarial, dpgd_config.epsilon);
    let correct = |input: Tensor<4>| {
        let predicted = view.forward(input, BnMode::Eval).argmax(1).reshape([labels.dims()[0]]);
        predicted.equal(labels.clone()).int().sum().into_scalar::<i64>()
    };
    assert!(correct(adversarial) < correct(x.clone()), "DPGD lowers accuracy");
    eprintln!("total: {:.1} s", started.elapsed().as_secs_f64());
}

#[test]
fn configurations_have_the_reference_defaults_and_fill_missing_fields() {
    let pgd20 = PgdConfig::default();
    assert_eq!((pgd20.epsilon, pgd20.step_size, pgd20.steps), (8.0 / 255.0, 2.0 / 255.0, 20));
    let trades = PgdConfig::trades_evaluation();
    assert_eq!((trades.epsilon, trades.step_size, trades.steps), (0.031, 0.003, 20));
    let cw = PgdConfig::cw();
    assert_eq!((cw.steps, cw.loss), (30, PgdLoss::CwMargin { confidence: 50.0 }));
    let fgsm_as_pgd = FgsmConfig::default().as_pgd();
    assert_eq!(
        (fgsm_as_pgd.steps, fgsm_as_pgd.step_size, fgsm_as_pgd.start),
        (1, 8.0 / 255.0, PgdStart::None)
    );
    let apgd_t = ApgdConfig::targeted();
    assert_eq!((apgd_t.iterations, apgd_t.restarts, apgd_t.rho), (100, 1, 0.75));
    assert_eq!(apgd_t.loss, ApgdLoss::TargetedDlr { target_classes: 9 });
    assert_eq!((pgd20.iterate, pgd20.label()), (PgdIterate::Final, "PGD-20".to_owned()));
    let any = PgdConfig { iterate: PgdIterate::AnyFooling, ..PgdConfig::default() };
    assert_eq!(any.label(), "PGD-20 (any iterate)");
    assert_eq!(fgsm_as_pgd.iterate, PgdIterate::Final);
    let partial: Attack = serde_json::from_str(
        r#"{"attack": "pgd", "steps": 7, "loss": {"kind": "cw-margin", "confidence": 0.0}}"#,
    )
    .unwrap();
    let expected =
        PgdConfig { steps: 7, loss: PgdLoss::CwMargin { confidence: 0.0 }, ..PgdConfig::default() };
    assert_eq!(partial, Attack::Pgd(expected));
}

/// PGD's update written out step by step from the definition (docs/attacks.md):
/// x_{t+1} = Π_{B∞(x, ε) ∩ [0,1]}(x_t + α·sign(∇ CE(f(x_t), y))), from the clean image.
/// Returns every iterate x_0 … x_k. `mode` is the BatchNorm mode of the forwards (the attacks'
/// is `Eval`; `Train` shows that the mode matters).
fn pgd_by_hand(
    network: &Network,
    subnet: &Subnet,
    x: &Tensor<4>,
    labels: &Tensor<1, Int>,
    (epsilon, alpha, steps): (f64, f64, usize),
    mode: BnMode,
) -> Vec<Tensor<4>> {
    let frozen = network.valid();
    let mut iterates = vec![x.clone()];
    for _ in 0..steps {
        let current = iterates.last().unwrap().clone();
        let attached = current.clone().autodiff().require_grad();
        let logits = View::new(&frozen, subnet).forward(attached.clone(), mode);
        let gradient = attached.grad(&cross_entropy(logits, labels.clone()).backward()).unwrap();
        let stepped = current + gradient.sign() * alpha;
        let low = (x.clone() - epsilon).clamp_min(0.0);
        let high = (x.clone() + epsilon).clamp_max(1.0);
        iterates.push(stepped.max_pair(low).min_pair(high));
    }
    iterates
}

#[test]
fn pgd_follows_its_definition_and_returns_the_final_iterate() {
    let _rng = lock();
    let device = Device::flex();
    noise::seed(11);
    let set = Arc::new(synthetic::generate(&SyntheticConfig { seed: 11, train: 16, test: 32 }));
    let space = proard_core::spaces::load_space("resnet-mini").unwrap();
    let supernet = Supernet::new(space.clone(), NetConfig::new(), &device);
    let subnet = supernet.subnet(&space.smallest_arch()).unwrap();
    let (x, labels) = Loader::new(set, Split::Test, LoaderConfig::eval(32))
        .epoch(0)
        .next()
        .unwrap()
        .tensors(&device);
    // ε = 2α: the third step is clipped by the ball.
    let (epsilon, alpha, steps) = (4.0 / 255.0, 2.0 / 255.0, 3);
    let config = PgdConfig {
        epsilon,
        step_size: alpha,
        steps,
        start: PgdStart::None,
        ..PgdConfig::default()
    };
    let iterates =
        pgd_by_hand(&supernet.network, &subnet, &x, &labels, (epsilon, alpha, steps), BnMode::Eval);
    let max_difference =
        |a: &Tensor<4>, b: &Tensor<4>| (a.clone() - b.clone()).abs().max().into_scalar::<f32>();

    let final_iterate = pgd(&supernet.network, &subnet, x.clone(), labels.clone(), &config);
    assert!(max_difference(&final_iterate, &iterates[steps]) < 1e-6, "PGD returns x_k");
    // Every pixel moved by exactly α in the first step, unless [0, 1] stopped it.
    let moved = (iterates[1].clone() - x.clone()).abs();
    let at_bound = iterates[1].clone().equal_elem(0.0).bool_or(iterates[1].clone().equal_elem(1.0));
    let off = moved.sub_scalar(alpha).abs().greater_elem(1e-6).bool_and(at_bound.bool_not());
    assert_eq!(off.int().sum().into_scalar::<i64>(), 0, "a first step of exactly α");

    // The any-iterate variant keeps, per image, the first iterate that fooled the model.
    let any = PgdConfig { iterate: PgdIterate::AnyFooling, ..config };
    let kept = pgd(&supernet.network, &subnet, x.clone(), labels.clone(), &any);
    let frozen = supernet.network.valid();
    let wrong = |image: &Tensor<4>| -> Vec<bool> {
        let predicted = View::new(&frozen, &subnet).forward(image.clone(), BnMode::Eval).argmax(1);
        let predicted: Vec<i64> =
            predicted.into_data().convert::<i64>().try_to_vec::<i64>().unwrap();
        let truth: Vec<i64> =
            labels.clone().into_data().convert::<i64>().try_to_vec::<i64>().unwrap();
        predicted.iter().zip(&truth).map(|(p, t)| p != t).collect()
    };
    let fooled_at: Vec<Vec<bool>> = iterates.iter().map(wrong).collect();
    let mut some_kept_early = false;
    for image in 0..32 {
        let first = fooled_at.iter().position(|fooled| fooled[image]).unwrap_or(steps);
        some_kept_early |= first < steps;
        let index = Tensor::<1, Int>::from_ints([image as i32], &device);
        let expected = iterates[first].clone().select(0, index.clone());
        let got = kept.clone().select(0, index);
        assert!(max_difference(&got, &expected) < 1e-6, "image {image} keeps x_{first}");
    }
    assert!(some_kept_early, "an untrained net is fooled early on some image");
}

// ---- the mathematics, pinned on an untrained subnet ----

/// The smallest resnet-mini subnet, untrained (the noise stream seeded with `seed`), and `images`
/// synthetic test images labelled with the subnet's own clean predictions: every image starts
/// correctly classified, so that a small attack fools some images and leaves others.
fn untrained_subnet(seed: u64, images: usize) -> (Network, Subnet, Tensor<4>, Tensor<1, Int>) {
    let device = Device::flex();
    noise::seed(seed);
    let set = Arc::new(synthetic::generate(&SyntheticConfig { seed, train: 0, test: images }));
    let space = proard_core::spaces::load_space("resnet-mini").unwrap();
    let supernet = Supernet::new(space.clone(), NetConfig::new(), &device);
    let subnet = supernet.subnet(&space.smallest_arch()).unwrap();
    let (x, _) = Loader::new(set, Split::Test, LoaderConfig::eval(images))
        .epoch(0)
        .next()
        .unwrap()
        .tensors(&device);
    let logits = View::new(&supernet.network, &subnet).forward(x.clone(), BnMode::Eval);
    let labels = logits.argmax(1).reshape([images]);
    (supernet.network, subnet, x, labels)
}

fn max_difference(a: &Tensor<4>, b: &Tensor<4>) -> f32 {
    (a.clone() - b.clone()).abs().max().into_scalar::<f32>()
}

/// Image `index` of a batch, as a batch of one.
fn image(batch: &Tensor<4>, index: usize) -> Tensor<4> {
    batch.clone().select(0, Tensor::<1, Int>::from_ints([index as i32], &batch.device()))
}

/// Π_{B∞(x, ε) ∩ [0,1]}(point).
fn project(x: &Tensor<4>, epsilon: f64, point: Tensor<4>) -> Tensor<4> {
    point
        .max_pair((x.clone() - epsilon).clamp_min(0.0))
        .min_pair((x.clone() + epsilon).clamp_max(1.0))
}

/// Per image: whether the subnet misclassifies `input`, and its cross-entropy (eval mode).
fn outcomes(
    network: &Network,
    subnet: &Subnet,
    input: &Tensor<4>,
    labels: &Tensor<1, Int>,
) -> (Vec<bool>, Vec<f64>) {
    let n = labels.dims()[0];
    let logits = View::new(network, subnet).forward(input.clone(), BnMode::Eval);
    let ints = |t: Tensor<1, Int>| t.into_data().convert::<i64>().try_to_vec::<i64>().unwrap();
    let predicted = ints(logits.clone().argmax(1).reshape([n]));
    let truth = ints(labels.clone());
    let losses =
        cross_entropy_per_example(logits, labels.clone()).try_into_vec_as::<f64>().unwrap();
    (predicted.iter().zip(&truth).map(|(p, t)| p != t).collect(), losses)
}

/// APGD-CE's iterates x_0 … x_k from the definition (Croce & Hein 2020, Alg. 1), P the
/// projection onto B∞(x, ε) ∩ [0, 1]: x_0 = P(x + ε·u/‖u‖∞) per image, u ~ U(−1, 1) drawn now
/// from the noise stream as `apgd` draws it; z_{k+1} = P(x_k + η·sign(∇ CE(f(x_k), y))),
/// x_{k+1} = P(x_k + a·(z_{k+1} − x_k) + (1 − a)·(x_k − x_{k−1})) with η = 2ε, a = 1 for the
/// first step and a = `momentum` (0.75 in APGD) after. Only for k ≤ 2: the checkpoint after x_1
/// (window 1) halves η only if the loss did not rise above 0, and cross-entropy is positive.
fn apgd_by_hand(
    network: &Network,
    subnet: &Subnet,
    x: &Tensor<4>,
    labels: &Tensor<1, Int>,
    (epsilon, iterations, momentum): (f64, usize, f64),
) -> Vec<Tensor<4>> {
    assert!(iterations <= 2, "later steps depend on the checkpoints");
    let frozen = network.valid();
    let n = x.dims()[0];
    let u = noise::random(x.dims(), Distribution::Uniform(-1.0, 1.0), &x.device());
    let largest = u.clone().abs().flatten::<2>(1, 3).max_dim(1).reshape([n, 1, 1, 1]);
    let mut iterates = vec![project(x, epsilon, x.clone() + u / largest * epsilon)];
    for k in 0..iterations {
        let (current, previous) = (iterates[k].clone(), iterates[k.saturating_sub(1)].clone());
        let a = if k == 0 { 1.0 } else { momentum };
        let attached = current.clone().autodiff().require_grad();
        let logits = View::new(&frozen, subnet).forward(attached.clone(), BnMode::Eval);
        let loss = cross_entropy_per_example(logits, labels.clone()).sum();
        let gradient = attached.grad(&loss.backward()).unwrap();
        let z = project(x, epsilon, current.clone() + gradient.sign() * (2.0 * epsilon));
        let momentum = (z - current.clone()) * a + (current.clone() - previous) * (1.0 - a);
        iterates.push(project(x, epsilon, current + momentum));
    }
    iterates
}

/// Pins APGD's first two iterations through its public API: the start on the ball's surface,
/// a first step of η = 2ε without momentum, a second with momentum 0.75, and the point returned
/// per image (the latest fooling iterate, else the first of highest loss). A changed step size,
/// momentum, start, BatchNorm mode or selection rule moves some image off its hand-computed point.
#[test]
fn apgd_first_iterates_follow_the_definition() {
    let _rng = lock();
    let images = 16;
    let (network, subnet, x, labels) = untrained_subnet(17, images);
    // Images that keep an earlier iterate than the last (the loss fell, at the tiny ε), and
    // images fooled by two iterates that keep the later one (at the larger ε): both must occur,
    // or "the last iterate" or "the first fooling iterate" would pass as well.
    let (mut kept_earlier, mut kept_latest_fooling) = (0, 0);
    for epsilon in [0.25 / 255.0, 1.0 / 255.0] {
        for iterations in [1, 2] {
            noise::seed(23);
            let iterates =
                apgd_by_hand(&network, &subnet, &x, &labels, (epsilon, iterations, 0.75));
            noise::seed(23);
            let config = ApgdConfig { epsilon, iterations, ..ApgdConfig::default() };
            let got = apgd(&network, &subnet, x.clone(), labels.clone(), &config);
            let (fooled, losses): (Vec<_>, Vec<_>) =
                iterates.iter().map(|it| outcomes(&network, &subnet, it, &labels)).unzip();
            for i in 0..images {
                let fooling: Vec<usize> = (0..=iterations).filter(|&k| fooled[k][i]).collect();
                let k = match fooling.last() {
                    Some(&latest) => latest,
                    None => (1..=iterations)
                        .fold(0, |best, k| if losses[k][i] > losses[best][i] { k } else { best }),
                };
                // Counted only where the alternative rule's point differs from the kept one.
                let apart = |j: usize| {
                    max_difference(&image(&iterates[j], i), &image(&iterates[k], i)) > 1e-4
                };
                kept_earlier += usize::from(apart(iterations));
                kept_latest_fooling += usize::from(fooling.len() > 1 && apart(fooling[0]));
                let off = max_difference(&image(&got, i), &image(&iterates[k], i));
                assert!(off < 1e-6, "ε {epsilon}, N = {iterations}, image {i}: {off} from x_{k}");
            }
            if iterations == 1 {
                // η = 2ε from anywhere in the ball lands on its corner x ± ε, wherever [0, 1]
                // and a zero gradient do not stop it.
                let x1 = iterates[1].clone();
                let inside = x1.clone().greater_elem(0.0).bool_and(x1.clone().lower_elem(1.0));
                let moved = (x1 - x.clone()).abs().sub_scalar(epsilon).abs().greater_elem(1e-6);
                let off_corner = moved.bool_and(inside).int().sum().into_scalar::<i64>();
                assert!(off_corner <= 10, "{off_corner} pixels of x_1 off the ball's corner");
            } else {
                // The momentum matters: with a = 1 the second iterate would be z_2 itself.
                noise::seed(23);
                let without = apgd_by_hand(&network, &subnet, &x, &labels, (epsilon, 2, 1.0));
                assert!(max_difference(&without[2], &iterates[2]) > epsilon as f32 / 2.0);
            }
        }
    }
    eprintln!(
        "kept an earlier iterate: {kept_earlier}, the later of two fooling: {kept_latest_fooling}"
    );
    assert!(kept_earlier > 0 && kept_latest_fooling > 0, "{kept_earlier}, {kept_latest_fooling}");
}

/// Pins the restart rule: PGD with two restarts returns, per image, the second run's result
/// exactly when it fooled the subnet and the first did not, or neither did and its loss is
/// higher — compared with two single runs drawn from the same RNG sequence. APGD with two
/// restarts fools an image exactly when one of its runs did, keeping that run's point. Keeping
/// always the first or the last run, or ignoring fooling or loss, breaks some image.
#[test]
fn restarts_keep_the_worst_case_per_image() {
    let _rng = lock();
    let images = 32;
    let (network, subnet, x, labels) = untrained_subnet(29, images);
    // One step of ε from a uniform start at a large ε: the start decides which images fool the
    // untrained subnet, so the two runs disagree on many.
    let epsilon = 32.0 / 255.0;
    let single = PgdConfig { epsilon, step_size: epsilon, steps: 1, ..PgdConfig::default() };
    noise::seed(31);
    let runs = [0, 1].map(|_| pgd(&network, &subnet, x.clone(), labels.clone(), &single));
    noise::seed(31);
    let restarted = PgdConfig { restarts: 2, ..single };
    let both = pgd(&network, &subnet, x.clone(), labels.clone(), &restarted);
    let [(fooled_1, loss_1), (fooled_2, loss_2)] =
        runs.each_ref().map(|run| outcomes(&network, &subnet, run, &labels));
    // Images fooled by the first run only, the second only, and fooled by neither with the
    // higher loss in the first and in the second run: each case must occur for the check to
    // tell the rule from simpler ones.
    let mut cases = [0; 4];
    for i in 0..images {
        let second = match (fooled_1[i], fooled_2[i]) {
            (false, true) => true,
            (false, false) => loss_2[i] > loss_1[i],
            _ => false,
        };
        match (fooled_1[i], fooled_2[i]) {
            (true, false) => cases[0] += 1,
            (false, true) => cases[1] += 1,
            (false, false) => cases[2 + usize::from(second)] += 1,
            (true, true) => {}
        }
        let expected = image(&runs[usize::from(second)], i);
        let off = max_difference(&image(&both, i), &expected);
        assert!(off < 1e-6, "PGD, image {i}: {off} away from run {}", 1 + usize::from(second));
    }
    eprintln!(
        "PGD restarts: first only, second only, neither (first higher, second higher) {cases:?}"
    );
    assert!(cases.iter().all(|&c| c > 0), "every case occurs: {cases:?}");

    let single = ApgdConfig { epsilon, iterations: 2, ..ApgdConfig::default() };
    noise::seed(41);
    let runs = [0, 1].map(|_| apgd(&network, &subnet, x.clone(), labels.clone(), &single));
    noise::seed(41);
    let restarted = ApgdConfig { restarts: 2, ..single };
    let both = apgd(&network, &subnet, x.clone(), labels.clone(), &restarted);
    let [(fooled_1, _), (fooled_2, _)] =
        runs.each_ref().map(|run| outcomes(&network, &subnet, run, &labels));
    let (fooled_both, _) = outcomes(&network, &subnet, &both, &labels);
    let mut fooled_by = [0; 2];
    for i in 0..images {
        assert_eq!(fooled_both[i], fooled_1[i] || fooled_2[i], "APGD, image {i}");
        let run = match (fooled_1[i], fooled_2[i]) {
            (true, _) => 0,
            (false, true) => 1,
            (false, false) => continue,
        };
        fooled_by[run] += 1;
        let off = max_difference(&image(&both, i), &image(&runs[run], i));
        assert!(off < 1e-6, "APGD, image {i}: {off} away from run {}", run + 1);
    }
    assert!(
        fooled_by.iter().all(|&c| c > 0),
        "APGD: fooled by the first, the second only {fooled_by:?}"
    );
}

/// Pins the BatchNorm mode of evaluation attacks: FGSM and PGD equal their definitions run
/// with eval-mode forwards — which differ from train-mode ones here, so batch statistics would
/// show — and no attack (APGD's losses included) writes a running statistic.
#[test]
fn evaluation_attacks_run_batchnorm_in_eval_mode_and_leave_it_untouched() {
    let _rng = lock();
    let (network, subnet, x, labels) = untrained_subnet(37, 16);
    // Running statistics away from their initial 0 and 1, from train-mode passes over noise.
    let fresh = running_statistics(&network);
    for _ in 0..3 {
        let noise = noise::random(x.dims(), Distribution::Uniform(0.0, 1.0), &x.device());
        network.forward(noise, &subnet, &mut Pass::train());
    }
    let before = running_statistics(&network);
    assert_ne!(before, fresh, "train passes move the running statistics");

    let epsilon = 8.0 / 255.0;
    let by_hand = |(alpha, steps), mode| {
        pgd_by_hand(&network, &subnet, &x, &labels, (epsilon, alpha, steps), mode).pop().unwrap()
    };
    let one_step = fgsm(&network, &subnet, x.clone(), labels.clone(), &FgsmConfig::default());
    assert!(max_difference(&one_step, &by_hand((epsilon, 1), BnMode::Eval)) < 1e-6, "FGSM");
    assert!(max_difference(&one_step, &by_hand((epsilon, 1), BnMode::Train)) > 1e-3);
    let config = PgdConfig { epsilon, steps: 3, start: PgdStart::None, ..PgdConfig::default() };
    let three_steps = pgd(&network, &subnet, x.clone(), labels.clone(), &config);
    let alpha = config.step_size;
    assert!(max_difference(&three_steps, &by_hand((alpha, 3), BnMode::Eval)) < 1e-6, "PGD");
    assert!(max_difference(&three_steps, &by_hand((alpha, 3), BnMode::Train)) > 1e-3);

    noise::seed(43);
    let restarted = PgdConfig { restarts: 2, iterate: PgdIterate::AnyFooling, ..config };
    pgd(&network, &subnet, x.clone(), labels.clone(), &restarted);
    for loss in [ApgdLoss::CrossEntropy, ApgdLoss::Dlr, ApgdLoss::TargetedDlr { target_classes: 2 }]
    {
        let config = ApgdConfig { iterations: 3, loss, ..ApgdConfig::default() };
        apgd(&network, &subnet, x.clone(), labels.clone(), &config);
    }
    assert_eq!(running_statistics(&network), before, "an attack moved a running statistic");
}
