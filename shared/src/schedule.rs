//! The learning rate per optimiser step: a linear warm-up from a start rate, then a cosine decay
//! to 0 (docs/method.md, "Hyper-parameters"; the reference's `calc_learning_rate` and OFA's
//! `warmup_adjust_learning_rate`, evaluated per step). The reference's teacher warms up from 0;
//! its phases from the unscaled base rate to the base rate times the number of GPUs, which on
//! one device is flat.

/// LR at 0-based `step` of a stage with `warmup` warm-up steps, rising from `warmup_from` to
/// `base`, followed by `steps` cosine steps.
pub fn learning_rate(base: f64, warmup_from: f64, step: usize, warmup: usize, steps: usize) -> f64 {
    if step < warmup {
        return warmup_from + (base - warmup_from) * (step + 1) as f64 / warmup as f64;
    }
    let t = (step - warmup) as f64;
    let total = steps.max(1) as f64;
    0.5 * base * (1.0 + (std::f64::consts::PI * t / total).cos())
}

#[cfg(test)]
mod tests {
    use super::learning_rate;

    #[test]
    fn warms_up_linearly_then_decays_by_a_half_cosine() {
        assert_eq!(learning_rate(0.1, 0.0, 0, 4, 10), 0.025);
        assert_eq!(learning_rate(0.1, 0.0, 3, 4, 10), 0.1);
        assert_eq!(learning_rate(0.1, 0.0, 4, 4, 10), 0.1);
        assert!((learning_rate(0.1, 0.0, 9, 4, 10) - 0.05).abs() < 1e-12);
        assert!(learning_rate(0.1, 0.0, 13, 4, 10) < 0.003);
        assert_eq!(learning_rate(0.1, 0.0, 0, 0, 10), 0.1);
    }

    #[test]
    fn a_warm_up_from_the_base_rate_is_flat() {
        for step in 0..4 {
            assert_eq!(learning_rate(0.03, 0.03, step, 4, 10), 0.03);
        }
        assert_eq!(learning_rate(0.1, 0.02, 0, 4, 10), 0.04);
    }
}
