//! The learning rate each stage actually trains with: the teacher warms up from 0, a phase's
//! warm-up is flat at its rate on one device (docs/method.md, "Hyper-parameters", "Teacher").

use std::cell::RefCell;

use proard_core::experiment::train::LogLine;
use proard_core::experiment::{Events, ExperimentConfig, Goal, run};

/// Every step's (stage, learning rate).
#[derive(Default)]
struct Rates(RefCell<Vec<(String, f64)>>);

impl Events for Rates {
    fn log(&self, line: &LogLine) {
        if let LogLine::Step { stage, lr, .. } = line {
            self.0.borrow_mut().push((stage.clone(), *lr));
        }
    }
}

#[test]
fn the_teacher_warms_up_from_zero_and_a_phase_stays_at_its_rate() {
    let text = include_str!("../../cli/tests/support/tiny.toml").replace(
        "epochs = 2\nlearning_rate = 0.01",
        "epochs = 1\nwarmup_epochs = 1\nlearning_rate = 0.01",
    );
    let config = ExperimentConfig::from_toml(&text, "tiny.toml").unwrap();
    assert_eq!(config.phases[0].warmup_epochs, 1);
    let out = tempfile::tempdir().unwrap();
    let rates = Rates::default();
    run(&config, out.path(), Goal::Phase(0), &rates).unwrap();
    let rates = rates.0.into_inner();
    let of = |stage: &str| -> Vec<f64> {
        rates.iter().filter(|(s, _)| s == stage).map(|(_, lr)| *lr).collect()
    };
    // 256 images in batches of 64: 4 steps per epoch; one warm-up epoch each.
    let close = |got: &[f64], want: &[f64]| {
        got.len() == want.len() && got.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-9)
    };
    let teacher = of("teacher");
    assert!(close(&teacher[..4], &[0.0125, 0.025, 0.0375, 0.05]), "{teacher:?}");
    let phase = of("phase-1-width");
    assert!(close(&phase[..4], &[0.01; 4]), "flat at the phase's rate while warming up: {phase:?}");
    assert!(phase[4] <= 0.01 && phase[7] < 0.002, "then the cosine: {phase:?}");
}
