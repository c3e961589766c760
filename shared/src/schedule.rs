//! The learning rate per optimiser step: linear warm-up from 0, then a cosine decay to 0
//! (proard-reference.md §3.2, `calc_learning_rate`, evaluated per step).

/// LR at 0-based `step` of a stage with `warmup` warm-up steps followed by `steps` cosine steps.
pub fn learning_rate(base: f64, step: usize, warmup: usize, steps: usize) -> f64 {
    if step < warmup {
        return base * (step + 1) as f64 / warmup as f64;
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
        assert_eq!(learning_rate(0.1, 0, 4, 10), 0.025);
        assert_eq!(learning_rate(0.1, 3, 4, 10), 0.1);
        assert_eq!(learning_rate(0.1, 4, 4, 10), 0.1);
        assert!((learning_rate(0.1, 9, 4, 10) - 0.05).abs() < 1e-12);
        assert!(learning_rate(0.1, 13, 4, 10) < 0.003);
        assert_eq!(learning_rate(0.1, 0, 0, 10), 0.1);
    }
}
