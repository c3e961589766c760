//! Axis ticks at round numbers (1, 2 or 5 × 10ⁿ apart).

/// About `count` round values covering `[min, max]`.
pub fn nice_ticks(min: f64, max: f64, count: usize) -> Vec<f64> {
    if !(min.is_finite() && max.is_finite()) || max <= min {
        return vec![min];
    }
    let raw = (max - min) / count.max(1) as f64;
    let power = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * power);
    let first = (min / step).ceil() as i64;
    let last = (max / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// About `count` round values covering `[min, max]` on an axis of counts (steps, epochs,
/// generations): whole numbers only, so a chart of two steps does not show step 0.4.
pub fn count_ticks(min: f64, max: f64, count: usize) -> Vec<f64> {
    let ticks = nice_ticks(min, max, count);
    if ticks.windows(2).all(|w| w[1] - w[0] >= 1.0) {
        ticks
    } else {
        (min.ceil() as i64..=max.floor() as i64).map(|i| i as f64).collect()
    }
}

/// A tick label with as many decimals as the spacing needs.
pub fn tick_label(value: f64, ticks: &[f64]) -> String {
    let step = ticks.windows(2).map(|w| w[1] - w[0]).next().unwrap_or(1.0).abs();
    let decimals = if step >= 1.0 { 0 } else { (-step.log10()).ceil() as usize };
    format!("{value:.decimals$}")
}

/// `[min, max]` of `values` widened by `pad` of the span on each side (a unit span when all
/// values agree).
pub fn padded_extent(values: impl Iterator<Item = f64>, pad: f64) -> Option<(f64, f64)> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return None;
    }
    // Values equal but for rounding noise are one value: give it a visible span around it.
    let span = if hi - lo > 1e-9 { hi - lo } else { lo.abs().max(1e-3) };
    Some((lo - pad * span, hi + pad * span))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_inside() {
        assert_eq!(nice_ticks(0.0, 1.0, 5), vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]);
        let t = nice_ticks(3.2, 17.9, 4);
        assert_eq!(t, vec![5.0, 10.0, 15.0]);
        assert_eq!(tick_label(0.2, &[0.0, 0.2]), "0.2");
        assert_eq!(tick_label(15.0, &t), "15");
    }

    #[test]
    fn count_ticks_are_whole_numbers() {
        assert_eq!(count_ticks(0.0, 1.0, 6), vec![0.0, 1.0]);
        assert_eq!(count_ticks(0.0, 3.0, 6), vec![0.0, 1.0, 2.0, 3.0]);
        assert_eq!(count_ticks(2.0, 2.5, 6), vec![2.0]);
        assert_eq!(count_ticks(2.2, 2.8, 6), Vec::<f64>::new());
        assert_eq!(count_ticks(0.0, 1000.0, 4), nice_ticks(0.0, 1000.0, 4));
        assert_eq!(tick_label(1.0, &count_ticks(0.0, 1.0, 6)), "1");
    }

    #[test]
    fn extents_pad_and_handle_one_value() {
        assert_eq!(padded_extent([1.0, 3.0].into_iter(), 0.5), Some((0.0, 4.0)));
        assert_eq!(padded_extent([2.0].into_iter(), 0.5), Some((1.0, 3.0)));
        let (lo, hi) = padded_extent([0.1 + 0.2, 0.3].into_iter(), 0.5).unwrap();
        assert!(hi - lo > 0.1, "rounding noise is not a span: {lo} … {hi}");
        assert_eq!(padded_extent(std::iter::empty(), 0.1), None);
    }
}
