//! Training objectives: each loss equals a hand computation on fixed logits (the reference is
//! written out here in f64), its gradient reaches exactly the logits the method does not detach,
//! one SGD step on a fixed batch and fixed adversarial examples lowers it, the inner
//! maximisations stay in the ε-ball and run BatchNorm in the mode each method declares, no
//! gradient of a student's loss reaches a teacher, and configs parse from TOML with the papers'
//! defaults.

mod support;
use support::running_statistics;

use std::sync::Mutex;

use burn::optim::{GradientsParams, SgdConfig};
use burn::prelude::*;
use proard_core::attack::loss::cross_entropy_per_example;
use proard_core::attack::{AscentConfig, ascend, dpgd, frozen};
use proard_core::data::Split;
use proard_core::data::loader::{Loader, LoaderConfig};
use proard_core::data::synthetic::{self, SyntheticConfig};
use proard_core::model::{BnMode, NetConfig, Network, Supernet, View};
use proard_core::noise;
use proard_core::objective::divergence::kl_logits;
use proard_core::objective::*;
use proard_shared::preset::preset;

static RNG: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    RNG.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ---- the hand-computed reference, in f64 ----

type Rows = [[f64; 3]; 2];

const S_CLEAN: Rows = [[1.0, 2.0, 0.5], [0.3, -0.2, 1.1]];
const S_ADV: Rows = [[0.2, 1.0, 0.9], [1.5, 0.1, 0.4]];
const T_CLEAN: Rows = [[0.5, 2.5, -0.5], [0.0, 0.2, 2.0]];
/// The teacher on x': fooled on row 0 (argmax 0 ≠ 1), right on row 1.
const T_ADV: Rows = [[1.2, 1.0, 0.1], [0.1, 0.3, 0.9]];
const LABELS: [usize; 2] = [1, 2];

fn softmax(z: &[f64; 3], tau: f64) -> [f64; 3] {
    let m = z.iter().cloned().fold(f64::MIN, f64::max);
    let e: Vec<f64> = z.iter().map(|v| ((v - m) / tau).exp()).collect();
    let s: f64 = e.iter().sum();
    [e[0] / s, e[1] / s, e[2] / s]
}

fn log_softmax(z: &[f64; 3], tau: f64) -> [f64; 3] {
    softmax(z, tau).map(f64::ln)
}

/// Σ_c q_c (ln(q_c + smoothing) − log_s_c).
fn kl(q: [f64; 3], log_s: [f64; 3], smoothing: f64) -> f64 {
    (0..3).map(|c| q[c] * ((q[c] + smoothing).ln() - log_s[c])).sum()
}

fn kl_t(target: &[f64; 3], student: &[f64; 3], tau: f64) -> f64 {
    kl(softmax(target, tau), log_softmax(student, tau), 0.0)
}

fn ce(z: &[f64; 3], y: usize) -> f64 {
    -log_softmax(z, 1.0)[y]
}

fn mean_ce(rows: &Rows) -> f64 {
    (ce(&rows[0], LABELS[0]) + ce(&rows[1], LABELS[1])) / 2.0
}

fn tensor(rows: &Rows) -> Tensor<2> {
    Tensor::<2>::from_floats(rows.map(|r| r.map(|v| v as f32)), &Device::flex())
}

fn labels() -> Tensor<1, Int> {
    Tensor::<1, Int>::from_ints(LABELS.map(|l| l as i32), &Device::flex())
}

fn assert_close(got: Tensor<1>, expected: f64, what: &str) {
    let got = got.into_scalar::<f64>();
    assert!(
        (got - expected).abs() <= 1e-5 * expected.abs().max(1.0),
        "{what}: got {got}, hand computation {expected}"
    );
}

#[test]
fn sat_and_trades_match_hand_computations() {
    assert_close(SatConfig::default().loss(tensor(&S_ADV), labels()), mean_ce(&S_ADV), "SAT");
    let trades = TradesConfig::default();
    let kl_sum = (0..2).map(|i| kl_t(&S_CLEAN[i], &S_ADV[i], 1.0)).sum::<f64>();
    let expected = mean_ce(&S_CLEAN) + 6.0 * kl_sum / 2.0;
    assert_close(trades.loss(tensor(&S_CLEAN), tensor(&S_ADV), labels()), expected, "TRADES");
}

#[test]
fn mart_matches_a_hand_computation() {
    let mut boost = 0.0;
    let mut robust = 0.0;
    for i in 0..2 {
        let p_adv = softmax(&S_ADV[i], 1.0);
        let p = softmax(&S_CLEAN[i], 1.0);
        let runner_up = (0..3)
            .filter(|c| *c != LABELS[i])
            .max_by(|a, b| p_adv[*a].total_cmp(&p_adv[*b]))
            .unwrap();
        boost += -(1.0001 - p_adv[runner_up] + 1e-12).ln() / 2.0;
        let kl_i = kl(p, p_adv.map(|v| (v + 1e-12).ln()), 1e-12);
        robust += kl_i * (1.0000001 - p[LABELS[i]]) / 2.0;
    }
    let expected = mean_ce(&S_ADV) + boost + 6.0 * robust;
    let got = MartConfig::default().loss(tensor(&S_CLEAN), tensor(&S_ADV), labels());
    assert_close(got, expected, "MART");
}

#[test]
fn ard_matches_a_hand_computation() {
    let config = ArdConfig { alpha: 0.7, ..ArdConfig::default() };
    // Elem-mean over B·C = 6 elements, τ = 30.
    let kd = (0..2).map(|i| kl_t(&T_CLEAN[i], &S_ADV[i], 30.0)).sum::<f64>() / 6.0;
    let expected = 0.7 * 900.0 * kd + 0.3 * mean_ce(&S_CLEAN);
    let got = config.loss(tensor(&S_CLEAN), tensor(&S_ADV), tensor(&T_CLEAN), labels());
    assert_close(got, expected, "ARD");
}

/// (1/B)·Σ_i (1 − P_T(x'_i)[y_i]^0.1)·KL(S(x_i) ‖ S(x'_i)).
fn introspection(s_clean: &Rows, s_adv: &Rows, t_adv: &Rows) -> f64 {
    (0..2)
        .map(|i| {
            let reliability = softmax(&t_adv[i], 1.0)[LABELS[i]].powf(0.1);
            (1.0 - reliability) * kl_t(&s_clean[i], &s_adv[i], 1.0)
        })
        .sum::<f64>()
        / 2.0
}

fn introspection_reference() -> f64 {
    introspection(&S_CLEAN, &S_ADV, &T_ADV)
}

#[test]
fn iad_adds_introspection_from_its_begin_epoch() {
    let config = IadConfig { alpha: 0.8, temperature: 2.0, ..IadConfig::default() };
    let kd = (0..2).map(|i| kl_t(&T_CLEAN[i], &S_ADV[i], 2.0)).sum::<f64>() / 2.0;
    let before = 0.8 * 4.0 * kd + 0.2 * mean_ce(&S_CLEAN);
    let introspection = introspection_reference();
    let loss = |epoch| {
        config.loss(
            tensor(&S_CLEAN),
            tensor(&S_ADV),
            tensor(&T_CLEAN),
            tensor(&T_ADV),
            labels(),
            epoch,
        )
    };
    // The reference counts epochs from 0 and starts at `epoch >= 60`: the 61st epoch.
    assert_close(loss(60), before, "IAD-I up to the 60th epoch");
    assert_close(loss(61), before + 0.8 * introspection, "IAD-I from the 61st epoch");
}

#[test]
fn rslad_matches_a_hand_computation() {
    let term = |student: &Rows| {
        (0..2)
            .map(|i| kl(softmax(&T_CLEAN[i], 1.0), log_softmax(&student[i], 1.0), 1e-5))
            .sum::<f64>()
            / 6.0
    };
    let expected = 5.0 / 6.0 * term(&S_ADV) + 1.0 / 6.0 * term(&S_CLEAN);
    let got = RsladConfig::default().loss(tensor(&S_CLEAN), tensor(&S_ADV), tensor(&T_CLEAN));
    assert_close(got, expected, "RSLAD");
}

#[test]
fn adaad_and_adaiad_match_hand_computations() {
    let config = AdaAdConfig { alpha: 0.6, ..AdaAdConfig::default() };
    let term = |t: &Rows, s: &Rows| (0..2).map(|i| kl_t(&t[i], &s[i], 1.0)).sum::<f64>() / 6.0;
    let expected = 0.6 * term(&T_ADV, &S_ADV) + 0.4 * term(&T_CLEAN, &S_CLEAN);
    let got = config.loss(tensor(&S_CLEAN), tensor(&S_ADV), tensor(&T_CLEAN), tensor(&T_ADV));
    assert_close(got, expected, "AdaAD");

    let config = AdaIadConfig { alpha: 0.9, ..AdaIadConfig::default() };
    let kd = (0..2).map(|i| kl_t(&T_ADV[i], &S_ADV[i], 30.0)).sum::<f64>() / 2.0;
    let before = 0.9 * 900.0 * kd + 0.1 * mean_ce(&S_CLEAN);
    let introspection = introspection_reference();
    let loss =
        |epoch| config.loss(tensor(&S_CLEAN), tensor(&S_ADV), tensor(&T_ADV), labels(), epoch);
    assert_close(loss(60), before, "AdaIAD up to its begin epoch");
    assert_close(loss(61), before + 0.9 * introspection, "AdaIAD with introspection");
}

#[test]
fn dard_matches_hand_computations_in_every_variant() {
    let branch = |t: &Rows, s: &Rows, double: bool| {
        let kd = (0..2)
            .map(|i| {
                if double {
                    let probabilities = softmax(&t[i], 1.0);
                    kl(softmax(&probabilities, 3.0), log_softmax(&s[i], 3.0), 0.0)
                } else {
                    kl_t(&t[i], &s[i], 3.0)
                }
            })
            .sum::<f64>()
            / 2.0;
        0.7 * 9.0 * kd + 0.3 * mean_ce(s)
    };
    let loss = |config: &DardConfig, epoch| {
        config.loss(
            tensor(&S_CLEAN),
            tensor(&S_ADV),
            tensor(&T_CLEAN),
            tensor(&T_ADV),
            labels(),
            epoch,
            5,
        )
    };
    let half = DardConfig::default();
    let expected = 0.5 * (branch(&T_CLEAN, &S_CLEAN, false) + branch(&T_ADV, &S_ADV, false));
    assert_close(loss(&half, 1), expected, "DARD");
    let double = DardConfig { double_softmax: true, ..DardConfig::default() };
    let expected = 0.5 * (branch(&T_CLEAN, &S_CLEAN, true) + branch(&T_ADV, &S_ADV, true));
    assert_close(loss(&double, 1), expected, "DARD with double softmax");
    let scheduled = DardConfig { mixing: DardMixing::EpochSchedule, ..DardConfig::default() };
    // Epoch 3 of 5: w_adv = 2/10.
    let expected = 0.8 * branch(&T_CLEAN, &S_CLEAN, false) + 0.2 * branch(&T_ADV, &S_ADV, false);
    assert_close(loss(&scheduled, 3), expected, "DARD, epoch schedule");
}

#[test]
fn ciard_matches_a_hand_computation_and_adapts_its_temperatures() {
    // Robust teacher on x': T_ADV; clean teacher on x: T_CLEAN; clean teacher on x': T_ADV
    // (fooled on row 0 only, so the push term covers row 0).
    let l_adv =
        (0..2).map(|i| kl(softmax(&T_ADV[i], 1.0), log_softmax(&S_ADV[i], 1.0), 1e-5)).sum::<f64>()
            / 6.0;
    let l_nat = (0..2)
        .map(|i| kl(softmax(&T_CLEAN[i], 1.0), log_softmax(&S_CLEAN[i], 1.0), 1e-5))
        .sum::<f64>()
        / 6.0;
    let l_push = kl(softmax(&T_ADV[0], 1.0), log_softmax(&S_ADV[0], 5.0), 1e-5) / 3.0;
    let w = 10f64.powf(l_adv.log10().floor().min(l_nat.log10().floor()) - l_push.log10().floor());
    let expected = l_adv + l_nat - w * l_push;

    let config = CiardConfig::default();
    let mut state = CiardState::default();
    let logits = CiardLogits {
        student_clean: tensor(&S_CLEAN),
        student_adversarial: tensor(&S_ADV),
        robust_teacher_adversarial: tensor(&T_ADV),
        clean_teacher_clean: tensor(&T_CLEAN),
        clean_teacher_adversarial: tensor(&T_ADV),
    };
    assert_close(config.loss(&mut state, logits, labels(), 1), expected, "CIARD");

    // −entropy/C of each teacher's softened output; the lower-entropy teacher's τ rises.
    let negative_entropy = |rows: &Rows| {
        rows.iter().flat_map(|r| softmax(r, 1.0).map(|p| p * (p + 1e-5).ln())).sum::<f64>() / 6.0
    };
    let (e_adv, e_nat) = (negative_entropy(&T_ADV), negative_entropy(&T_CLEAN));
    let expected_tau = |e: f64, other: f64| (1.0 - 0.001 * (e / other - 1.0).signum()).max(1.0);
    assert!((state.adversarial_temperature - expected_tau(e_adv, e_nat)).abs() < 1e-12);
    assert!((state.natural_temperature - expected_tau(e_nat, e_adv)).abs() < 1e-12);
    assert!(
        state.natural_temperature > 1.0,
        "the clean teacher is the more confident one here, so τ_n rises"
    );
}

#[test]
fn ciard_teacher_schedule_starts_after_its_epoch() {
    let config = CiardConfig::default();
    assert_eq!(config.teacher_learning_rate_at(50), 0.0);
    let at = |e: f64| {
        let x = e - 50.0;
        1e-4 * (0.5 + 0.5 * (std::f64::consts::PI * x / 250.0).cos())
            * (-0.01 * x * x / 62500.0).exp()
    };
    assert!((config.teacher_learning_rate_at(51) - at(51.0)).abs() < 1e-15);
    assert!((config.teacher_learning_rate_at(200) - at(200.0)).abs() < 1e-15);
}

// ---- where gradients flow, on fixed logits ----

const NO_GRADIENT: Rows = [[0.0; 3]; 2];

/// The gradient of `loss` at the logits `at` with respect to each of them (zeros where none
/// arrives: a detached input).
fn gradients<const N: usize>(
    at: [&Rows; N],
    loss: impl FnOnce([Tensor<2>; N]) -> Tensor<1>,
) -> [Rows; N] {
    let leaves = at.map(|rows| tensor(rows).autodiff().require_grad());
    let grads = loss(leaves.clone()).backward();
    leaves.map(|leaf| match leaf.grad(&grads) {
        None => NO_GRADIENT,
        Some(gradient) => {
            let values = gradient.try_into_vec_as::<f64>().unwrap();
            [[values[0], values[1], values[2]], [values[3], values[4], values[5]]]
        }
    })
}

/// Central differences of a hand-computed loss with respect to the logits `at`.
fn numeric_gradient(at: &Rows, loss: impl Fn(&Rows) -> f64) -> Rows {
    let h = 1e-6;
    let mut gradient = NO_GRADIENT;
    for i in 0..2 {
        for c in 0..3 {
            let (mut up, mut down) = (*at, *at);
            up[i][c] += h;
            down[i][c] -= h;
            gradient[i][c] = (loss(&up) - loss(&down)) / (2.0 * h);
        }
    }
    gradient
}

fn largest_difference(a: &Rows, b: &Rows) -> f64 {
    (0..2).flat_map(|i| (0..3).map(move |c| (a[i][c] - b[i][c]).abs())).fold(0.0, f64::max)
}

fn assert_gradient(got: &Rows, expected: &Rows, what: &str) {
    let off = largest_difference(got, expected);
    assert!(off <= 1e-4, "{what}: gradient {got:?}, expected {expected:?}");
}

/// Pins where TRADES, IAD-I, AdaAD and AdaIAD detach in their outer losses. Every student
/// logit's gradient equals the derivative of the f64 reference with nothing held fixed — TRADES'
/// clean branch gets the KL term's gradient, IAD's clean branch the introspection term's — and
/// teacher logits (distillation targets, IAD's reliability) get none. Each pinned term is
/// checked to change the gradient, so detaching it (or not) fails the test.
#[test]
fn outer_losses_send_gradient_to_exactly_the_undetached_logits() {
    // TRADES: CE(S(x), y) + β·KL(S(x) ‖ S(x')), both branches live.
    let trades = TradesConfig::default();
    let reference = |s_clean: &Rows, s_adv: &Rows| {
        mean_ce(s_clean)
            + 6.0 * (0..2).map(|i| kl_t(&s_clean[i], &s_adv[i], 1.0)).sum::<f64>() / 2.0
    };
    let [clean, adversarial] =
        gradients([&S_CLEAN, &S_ADV], |[s_clean, s_adv]| trades.loss(s_clean, s_adv, labels()));
    let expected_clean = numeric_gradient(&S_CLEAN, |s| reference(s, &S_ADV));
    assert_gradient(&clean, &expected_clean, "TRADES, S(x)");
    assert_gradient(
        &adversarial,
        &numeric_gradient(&S_ADV, |s| reference(&S_CLEAN, s)),
        "TRADES, S(x')",
    );
    let ce_only = numeric_gradient(&S_CLEAN, mean_ce);
    assert!(largest_difference(&expected_clean, &ce_only) > 1e-2, "the KL term reaches S(x)");

    // IAD-I after its begin epoch: the target T(x) and the reliability's T(x') are constants,
    // S(x) gets CE's and the introspection term's gradient.
    let config = IadConfig { alpha: 0.8, temperature: 2.0, ..IadConfig::default() };
    let reference = |s_clean: &Rows, s_adv: &Rows, t_clean: &Rows, t_adv: &Rows| {
        let kd = (0..2).map(|i| kl_t(&t_clean[i], &s_adv[i], 2.0)).sum::<f64>() / 2.0;
        0.8 * 4.0 * kd + 0.2 * mean_ce(s_clean) + 0.8 * introspection(s_clean, s_adv, t_adv)
    };
    let [clean, adversarial, teacher_clean, teacher_adversarial] =
        gradients([&S_CLEAN, &S_ADV, &T_CLEAN, &T_ADV], |[s_clean, s_adv, t_clean, t_adv]| {
            config.loss(s_clean, s_adv, t_clean, t_adv, labels(), 61)
        });
    let expected_clean = numeric_gradient(&S_CLEAN, |s| reference(s, &S_ADV, &T_CLEAN, &T_ADV));
    assert_gradient(&clean, &expected_clean, "IAD-I, S(x)");
    let expected = numeric_gradient(&S_ADV, |s| reference(&S_CLEAN, s, &T_CLEAN, &T_ADV));
    assert_gradient(&adversarial, &expected, "IAD-I, S(x')");
    assert_gradient(&teacher_clean, &NO_GRADIENT, "IAD-I, T(x)");
    assert_gradient(&teacher_adversarial, &NO_GRADIENT, "IAD-I, T(x')");
    let ce_only = numeric_gradient(&S_CLEAN, |s| 0.2 * mean_ce(s));
    assert!(largest_difference(&expected_clean, &ce_only) > 1e-2, "introspection reaches S(x)");
    let through_reliability =
        numeric_gradient(&T_ADV, |t| reference(&S_CLEAN, &S_ADV, &T_CLEAN, t));
    assert!(largest_difference(&through_reliability, &NO_GRADIENT) > 1e-3, "a_i depends on T(x')");

    // AdaAD: both targets constant.
    let config = AdaAdConfig { alpha: 0.6, ..AdaAdConfig::default() };
    let reference = |s_clean: &Rows, s_adv: &Rows| {
        let term = |t: &Rows, s: &Rows| (0..2).map(|i| kl_t(&t[i], &s[i], 1.0)).sum::<f64>() / 6.0;
        0.6 * term(&T_ADV, s_adv) + 0.4 * term(&T_CLEAN, s_clean)
    };
    let [clean, adversarial, teacher_clean, teacher_adversarial] =
        gradients([&S_CLEAN, &S_ADV, &T_CLEAN, &T_ADV], |[s_clean, s_adv, t_clean, t_adv]| {
            config.loss(s_clean, s_adv, t_clean, t_adv)
        });
    assert_gradient(&clean, &numeric_gradient(&S_CLEAN, |s| reference(s, &S_ADV)), "AdaAD, S(x)");
    assert_gradient(
        &adversarial,
        &numeric_gradient(&S_ADV, |s| reference(&S_CLEAN, s)),
        "AdaAD, S(x')",
    );
    assert_gradient(&teacher_clean, &NO_GRADIENT, "AdaAD, T(x)");
    assert_gradient(&teacher_adversarial, &NO_GRADIENT, "AdaAD, T(x')");

    // AdaIAD after its begin epoch: T(x') is target and reliability, constant in both.
    let config = AdaIadConfig { alpha: 0.9, ..AdaIadConfig::default() };
    let reference = |s_clean: &Rows, s_adv: &Rows| {
        let kd = (0..2).map(|i| kl_t(&T_ADV[i], &s_adv[i], 30.0)).sum::<f64>() / 2.0;
        0.9 * 900.0 * kd + 0.1 * mean_ce(s_clean) + 0.9 * introspection(s_clean, s_adv, &T_ADV)
    };
    let [clean, adversarial, teacher_adversarial] =
        gradients([&S_CLEAN, &S_ADV, &T_ADV], |[s_clean, s_adv, t_adv]| {
            config.loss(s_clean, s_adv, t_adv, labels(), 61)
        });
    assert_gradient(&clean, &numeric_gradient(&S_CLEAN, |s| reference(s, &S_ADV)), "AdaIAD, S(x)");
    assert_gradient(
        &adversarial,
        &numeric_gradient(&S_ADV, |s| reference(&S_CLEAN, s)),
        "AdaIAD, S(x')",
    );
    assert_gradient(&teacher_adversarial, &NO_GRADIENT, "AdaIAD, T(x')");
}

// ---- configs ----

#[test]
fn configs_parse_from_toml_with_the_papers_defaults() {
    let parse = |text: &str| toml::from_str::<ObjectiveConfig>(text);
    assert_eq!(parse("method = \"rslad\"").unwrap(), ObjectiveConfig::default());
    let ard = parse("method = \"ard\"\ntemperature = 10.0").unwrap();
    assert_eq!(ard, ObjectiveConfig::Ard(ArdConfig { temperature: 10.0, ..ArdConfig::default() }));
    assert_eq!(ard.needs().attack_bn, BnMode::Train);
    let trades = parse("method = \"trades\"\n[attack]\nsteps = 3").unwrap();
    let ObjectiveConfig::Trades(trades) = trades else { panic!("not TRADES") };
    assert_eq!((trades.beta, trades.attack.steps, trades.attack.epsilon), (6.0, 3, 0.031));
    let error = parse("method = \"rslad\"\nadversarial_wieght = 0.5").unwrap_err().to_string();
    assert!(error.contains("adversarial_wieght"), "{error}");
    let error = parse("method = \"nope\"").unwrap_err().to_string();
    assert!(error.contains("nope"), "{error}");
    for name in
        ["sat", "trades", "mart", "ard", "iad-i", "rslad", "adaad", "adaiad", "dard", "ciard"]
    {
        let config = parse(&format!("method = \"{name}\"")).unwrap();
        assert_eq!(config.name(), name);
        let json = serde_json::to_string(&config).unwrap();
        assert_eq!(serde_json::from_str::<ObjectiveConfig>(&json).unwrap(), config);
    }
    let ciard = parse("method = \"ciard\"").unwrap().needs();
    assert!(ciard.teacher && ciard.clean_teacher && ciard.trains_teacher);
    assert!(!parse("method = \"trades\"").unwrap().needs().teacher);
    assert_eq!(parse("method = \"adaad\"").unwrap().needs().attacked, Attacked::StudentAndTeacher);
}

// ---- one optimisation step on a tiny network ----

/// Every method with small attacks, so the test stays fast.
fn all_methods() -> Vec<(ObjectiveConfig, f64)> {
    let attack = proard_core::attack::AscentConfig { steps: 3, ..Default::default() };
    let train_attack = proard_core::attack::AscentConfig {
        steps: 3,
        ..proard_core::attack::AscentConfig::uniform_train()
    };
    let dpgd = proard_core::attack::DpgdConfig { steps: 3, ..Default::default() };
    // (config, learning rate): τ² = 900 scales ARD's and AdaIAD's gradients.
    vec![
        (ObjectiveConfig::Sat(SatConfig { attack: attack.clone() }), 0.02),
        (
            ObjectiveConfig::Trades(TradesConfig { attack: attack.clone(), ..Default::default() }),
            0.02,
        ),
        (ObjectiveConfig::Mart(MartConfig { attack: attack.clone(), ..Default::default() }), 0.02),
        (
            ObjectiveConfig::Ard(ArdConfig {
                attack: train_attack.clone(),
                alpha: 0.5,
                ..Default::default()
            }),
            1e-4,
        ),
        (
            ObjectiveConfig::IadI(IadConfig {
                attack: train_attack,
                begin_epoch: 1,
                ..Default::default()
            }),
            0.02,
        ),
        (
            ObjectiveConfig::Rslad(RsladConfig { attack: attack.clone(), ..Default::default() }),
            0.02,
        ),
        (
            ObjectiveConfig::AdaAd(AdaAdConfig {
                attack: attack.clone(),
                alpha: 0.5,
                ..Default::default()
            }),
            0.02,
        ),
        (
            ObjectiveConfig::AdaIad(AdaIadConfig {
                attack: attack.clone(),
                begin_epoch: 1,
                ..Default::default()
            }),
            1e-4,
        ),
        (ObjectiveConfig::Dard(DardConfig { attack: dpgd, ..Default::default() }), 0.02),
        (ObjectiveConfig::Ciard(CiardConfig { attack, ..Default::default() }), 0.02),
    ]
}

#[test]
fn one_sgd_step_lowers_every_objective_and_attacks_stay_in_the_ball() {
    let _guard = lock();
    let device = Device::flex().autodiff();
    let space = preset("resnet-mini").unwrap();
    let arch = space.smallest_arch();
    noise::seed(11);
    let teacher = Supernet::new(space.clone(), NetConfig::new(), &device);
    let clean_teacher = Supernet::new(space.clone(), NetConfig::new(), &device);
    let subnet = teacher.subnet(&arch).unwrap();
    let (teacher_network, clean_network) = (teacher.network.valid(), clean_teacher.network.valid());
    let set =
        std::sync::Arc::new(synthetic::generate(&SyntheticConfig { seed: 5, train: 16, test: 0 }));
    let batch = Loader::new(set, Split::Train, LoaderConfig::eval(16)).epoch(0).next().unwrap();
    let (x, y) = batch.tensors(&device);
    let batch = Batch::new(x.clone(), y);

    for (config, learning_rate) in all_methods() {
        let name = config.name();
        noise::seed(12);
        let student = Supernet::new(space.clone(), NetConfig::new(), &device).network;
        let mut objective = Objective::new(config);
        let retrains = objective.config.needs().trains_teacher;
        let progress = Progress { epoch: 60, epochs: 100 };
        let (adversarial, before, after_objective) = {
            let nets = Nets {
                student: View::new(&student, &subnet),
                teacher: Some(View::new(&teacher_network, &subnet)),
                clean_teacher: Some(View::new(&clean_network, &subnet)),
            };
            noise::seed(13);
            let adversarial = objective.adversarial(&nets, &batch).unwrap();
            for input in std::iter::once(&adversarial.student).chain(adversarial.teacher.as_ref()) {
                let distance = (input.clone() - x.clone().inner()).abs().max().into_scalar::<f64>();
                assert!(distance <= 8.0 / 255.0 + 1e-6, "{name}: |x' − x| = {distance}");
                let (low, high) = (
                    input.clone().min().into_scalar::<f64>(),
                    input.clone().max().into_scalar::<f64>(),
                );
                assert!(low >= 0.0 && high <= 1.0, "{name}: x' outside [0, 1]");
                assert!(distance > 0.0, "{name}: the attack did not move");
            }
            let unchanged = objective.clone();
            let losses = objective.losses(&nets, &batch, &adversarial, progress).unwrap();
            assert_eq!(losses.teacher.is_some(), retrains, "{name}: teacher loss");
            (adversarial, losses.student, unchanged)
        };
        let before_value = before.clone().into_scalar::<f64>();
        assert!(before_value.is_finite(), "{name}: loss {before_value}");
        let grads = GradientsParams::from_grads(before.backward(), &student);
        let student = SgdConfig::new().init().step(learning_rate, student, grads);
        let mut objective = after_objective;
        let nets = Nets {
            student: View::new(&student, &subnet),
            teacher: Some(View::new(&teacher_network, &subnet)),
            clean_teacher: Some(View::new(&clean_network, &subnet)),
        };
        let after = objective.losses(&nets, &batch, &adversarial, progress).unwrap().student;
        let after_value = after.into_scalar::<f64>();
        assert!(
            after_value < before_value,
            "{name}: one SGD step (lr {learning_rate}) moved the loss {before_value} → {after_value}"
        );
    }
}

#[test]
fn a_batch_serves_the_teachers_clean_logits_only_to_that_teacher() {
    let _guard = lock();
    let device = Device::flex().autodiff();
    let space = preset("resnet-mini").unwrap();
    noise::seed(21);
    let network = Supernet::new(space.clone(), NetConfig::new(), &device).network.valid();
    let other_network = Supernet::new(space.clone(), NetConfig::new(), &device).network.valid();
    let supernet = Supernet::new(space.clone(), NetConfig::new(), &device);
    let (small, large) = (
        supernet.subnet(&space.smallest_arch()).unwrap(),
        supernet.subnet(&space.largest_arch()).unwrap(),
    );
    let set =
        std::sync::Arc::new(synthetic::generate(&SyntheticConfig { seed: 7, train: 8, test: 0 }));
    let batch = Loader::new(set, Split::Train, LoaderConfig::eval(8)).epoch(0).next().unwrap();
    let (x, y) = batch.tensors(&device);
    let batch = Batch::new(x.clone(), y);
    let distance = |a: Tensor<2>, b: Tensor<2>| (a - b).abs().max().into_scalar::<f64>();
    // Each teacher view — another network, or another subnet of the same one — gets its own
    // logits, also when the batch last served a different one.
    let views = [
        View::new(&network, &small),
        View::new(&other_network, &small),
        View::new(&network, &large),
        View::new(&network, &small),
    ];
    let direct: Vec<Tensor<2>> =
        views.iter().map(|v| v.forward(x.clone().inner(), BnMode::Eval)).collect();
    for (view, direct) in views.iter().zip(&direct) {
        let served = batch.teacher_clean(*view);
        assert!(distance(served.clone(), direct.clone()) < 1e-5);
        // Served again from the cache: the very same values.
        assert_eq!(distance(served, batch.teacher_clean(*view)), 0.0);
    }
    for (i, j) in [(0, 1), (0, 2), (1, 2)] {
        let apart = distance(direct[i].clone(), direct[j].clone());
        assert!(apart > 1e-3, "teacher views {i} and {j} agree ({apart}): the test shows nothing");
    }
}

#[test]
fn a_missing_teacher_is_an_error_naming_the_method() {
    let _guard = lock();
    let device = Device::flex().autodiff();
    let space = preset("resnet-mini").unwrap();
    noise::seed(1);
    let supernet = Supernet::new(space.clone(), NetConfig::new(), &device);
    let subnet = supernet.subnet(&space.smallest_arch()).unwrap();
    let nets =
        Nets { student: View::new(&supernet.network, &subnet), teacher: None, clean_teacher: None };
    let x = Tensor::<4>::zeros([2, 3, 32, 32], &device);
    let y = Tensor::<1, Int>::from_ints([0, 1], &device);
    let objective = Objective::new(ObjectiveConfig::default());
    let error = objective.adversarial(&nets, &Batch::new(x, y)).unwrap_err();
    assert_eq!(error, ObjectiveError::MissingTeacher("rslad"));
    assert!(error.to_string().contains("proard train teacher"));
}

// ---- BatchNorm modes and gradients on a tiny network ----

/// A batch of `images` synthetic training images on `device`.
fn small_batch(images: usize, device: &Device) -> Batch {
    let set = std::sync::Arc::new(synthetic::generate(&SyntheticConfig {
        seed: 5,
        train: images,
        test: 0,
    }));
    let batch = Loader::new(set, Split::Train, LoaderConfig::eval(images)).epoch(0).next().unwrap();
    let (x, y) = batch.tensors(device);
    Batch::new(x, y)
}

/// `config`'s inner maximisation written out from the public attack pieces: the student's
/// BatchNorm in `bn`, the teacher's in eval mode, TRADES' target the student's eval-mode clean
/// output, AdaAD's ascent through the teacher's output (or, with `detach_teacher`, through the
/// student's alone), DARD's teacher attacked separately. Random starts draw from the noise stream.
fn attack_by_hand(
    config: &ObjectiveConfig,
    nets: &Nets,
    batch: &Batch,
    bn: BnMode,
    detach_teacher: bool,
) -> Adversarial {
    let student_network = frozen(nets.student.network);
    let student = View::new(&student_network, nets.student.subnet);
    let teacher_view = nets.teacher.expect("a teacher");
    let teacher_network = frozen(teacher_view.network);
    let teacher = View::new(&teacher_network, teacher_view.subnet);
    let (x, labels) = (batch.x.clone().inner(), batch.labels.clone().inner());
    let on_student = |student: Tensor<4>| Adversarial { student, teacher: None };
    let attack: &AscentConfig = match config {
        ObjectiveConfig::Dard(c) => {
            return Adversarial {
                student: dpgd(student, &x, &labels, &c.attack, bn),
                teacher: Some(dpgd(teacher, &x, &labels, &c.attack, BnMode::Eval)),
            };
        }
        other => other.ascent().unwrap(),
    };
    let towards = |target: Tensor<2>| {
        ascend(&x, attack, |_, input| {
            kl_logits(target.clone(), student.forward(input, bn), 1.0).sum()
        })
    };
    on_student(match config {
        ObjectiveConfig::Trades(_) => towards(student.forward(x.clone(), BnMode::Eval)),
        ObjectiveConfig::Rslad(_) => towards(teacher.forward(x.clone(), BnMode::Eval)),
        ObjectiveConfig::AdaAd(_) | ObjectiveConfig::AdaIad(_) => ascend(&x, attack, |_, input| {
            let target = teacher.forward(input.clone(), BnMode::Eval);
            let target = if detach_teacher { target.detach() } else { target };
            kl_logits(target, student.forward(input, bn), 1.0).sum()
        }),
        _ => ascend(&x, attack, |_, input| {
            cross_entropy_per_example(student.forward(input, bn), labels.clone()).sum()
        }),
    })
}

fn distance(a: &Tensor<4>, b: &Tensor<4>) -> f64 {
    (a.clone() - b.clone()).abs().max().into_scalar::<f64>()
}

/// Pins the BatchNorm mode of every training attack: `Needs::attack_bn` is train for ARD, IAD-I
/// and DARD and eval for the others by default, follows a config's `bn`, and x′ equals the inner
/// maximisation written out with the student in that mode — not in the other one. The teacher
/// runs in eval mode, AdaAD's and AdaIAD's ascents go through the teacher's output too (a
/// detached teacher gives another x′), and no attack moves the student's running statistics.
#[test]
fn training_attacks_run_batchnorm_in_the_mode_each_objective_declares() {
    let _guard = lock();
    for config in ObjectiveConfig::all_defaults() {
        let train = matches!(config.name(), "ard" | "iad-i" | "dard");
        let expected = if train { BnMode::Train } else { BnMode::Eval };
        assert_eq!(config.needs().attack_bn, expected, "{}", config.name());
    }
    let device = Device::flex().autodiff();
    let space = preset("resnet-mini").unwrap();
    noise::seed(51);
    let student = Supernet::new(space.clone(), NetConfig::new(), &device);
    let teacher = Supernet::new(space.clone(), NetConfig::new(), &device).network.valid();
    let subnet = student.subnet(&space.smallest_arch()).unwrap();
    let nets = Nets {
        student: View::new(&student.network, &subnet),
        teacher: Some(View::new(&teacher, &subnet)),
        clean_teacher: Some(View::new(&teacher, &subnet)),
    };
    let batch = small_batch(8, &device);
    let sat_in_train_mode = AscentConfig { steps: 3, bn: BnMode::Train, ..Default::default() };
    let mut configs: Vec<ObjectiveConfig> = all_methods().into_iter().map(|(c, _)| c).collect();
    configs.push(ObjectiveConfig::Sat(SatConfig { attack: sat_in_train_mode }));

    for config in configs {
        let name = config.name();
        let bn = config.needs().attack_bn;
        if let Some(ascent) = config.ascent() {
            assert_eq!(bn, ascent.bn, "{name}: the declared mode is the config's");
        }
        let before = running_statistics(&student.network);
        noise::seed(52);
        let got = Objective::new(config.clone()).adversarial(&nets, &batch).unwrap();
        assert_eq!(running_statistics(&student.network), before, "{name}: statistics moved");
        let by_hand = |bn, detach_teacher| {
            noise::seed(52);
            attack_by_hand(&config, &nets, &batch, bn, detach_teacher)
        };
        let expected = by_hand(bn, false);
        let off = distance(&got.student, &expected.student);
        assert!(off < 1e-6, "{name}: x' is {off} away from the {bn:?}-mode ascent");
        if let (Some(got), Some(expected)) = (&got.teacher, &expected.teacher) {
            assert!(distance(got, expected) < 1e-6, "{name}: the teacher's x' (eval mode)");
        }
        let other = if bn == BnMode::Train { BnMode::Eval } else { BnMode::Train };
        let apart = distance(&got.student, &by_hand(other, false).student);
        assert!(apart > 1e-3, "{name}: the {other:?}-mode ascent gives the same x' ({apart})");
        if matches!(config, ObjectiveConfig::AdaAd(_) | ObjectiveConfig::AdaIad(_)) {
            let apart = distance(&got.student, &by_hand(bn, true).student);
            assert!(apart > 1e-3, "{name}: the ascent ignores the teacher's gradient ({apart})");
        }
    }
}

/// Pins that no student loss sends gradient into a teacher, even one that could take it (here
/// every teacher is a trainable network, not a `valid()` copy), while the student gets some;
/// and that CIARD's teacher loss trains the robust teacher alone.
#[test]
fn student_losses_send_no_gradient_into_a_teacher() {
    let _guard = lock();
    let device = Device::flex().autodiff();
    let space = preset("resnet-mini").unwrap();
    noise::seed(61);
    let networks: Vec<Network> =
        (0..3).map(|_| Supernet::new(space.clone(), NetConfig::new(), &device).network).collect();
    let subnet = Supernet::new(space.clone(), NetConfig::new(), &device)
        .subnet(&space.smallest_arch())
        .unwrap();
    let [student, teacher, clean_teacher] = [0, 1, 2].map(|i| View::new(&networks[i], &subnet));
    let nets = Nets { student, teacher: Some(teacher), clean_teacher: Some(clean_teacher) };
    let batch = small_batch(8, &device);
    // Fixed x' (no attack): the gradients here come from the outer losses alone.
    let plain = batch.x.clone().inner();
    let noise = noise::random(plain.dims(), burn::tensor::Distribution::Default, &plain.device());
    let shifted = (plain + (noise - 0.5).sign() * (4.0 / 255.0)).clamp(0.0, 1.0);
    let adversarial = Adversarial { student: shifted.clone(), teacher: Some(shifted) };
    let progress = Progress { epoch: 61, epochs: 100 };
    let parameters_reached = |grads: &mut burn::tensor::Gradients, network: &Network| {
        GradientsParams::from_module(grads, network).len()
    };

    let mut teacher_trained = false;
    for (config, _) in all_methods() {
        let name = config.name();
        let mut objective = Objective::new(config);
        let losses = objective.losses(&nets, &batch, &adversarial, progress).unwrap();
        let mut grads = losses.student.backward();
        assert!(parameters_reached(&mut grads, &networks[0]) > 0, "{name}: the student learns");
        for (which, network) in [("teacher", &networks[1]), ("clean teacher", &networks[2])] {
            let reached = parameters_reached(&mut grads, network);
            assert_eq!(reached, 0, "{name}: the student's loss reaches the {which}");
        }
        if let Some(teacher_loss) = losses.teacher {
            let mut grads = teacher_loss.backward();
            assert!(parameters_reached(&mut grads, &networks[1]) > 0, "{name}: ITT trains T_r");
            assert_eq!(parameters_reached(&mut grads, &networks[0]), 0, "{name}: ITT, student");
            teacher_trained = true;
        }
    }
    assert!(teacher_trained, "CIARD's teacher loss is checked");
}
