//! Channel rounding exactly as the ProARD/OFA reference computes it.
//!
//! Channel tables of the presets must match the reference bit for bit, so the two Python
//! primitives involved are reproduced literally: `make_divisible` and `round` (which rounds
//! half to even on the exact binary value of the float).

/// Every channel count is a multiple of this (the reference's `CHANNEL_DIVISIBLE`).
pub const CHANNEL_DIVISOR: u32 = 8;

/// The reference's `make_divisible(v, 8)`: nearest multiple of 8 (floor of `v + 4`), at least
/// 8, and one step more when rounding down lost over 10 % of `v`.
pub fn make_divisible(v: f64) -> u32 {
    let d = f64::from(CHANNEL_DIVISOR);
    let mut rounded = (((v + d / 2.0) / d).floor() * d).max(d);
    if rounded < 0.9 * v {
        rounded += d;
    }
    rounded as u32
}

/// Python 3's `round(x)` for a float: to the nearest integer, ties to even.
pub fn round_half_even(x: f64) -> f64 {
    let r = x.round();
    if (r - x).abs() == 0.5 && r % 2.0 != 0.0 { r - x.signum() } else { r }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn make_divisible_matches_python() {
        // Values checked against the reference's Python function.
        assert_eq!(make_divisible(41.6), 40);
        assert_eq!(make_divisible(51.2), 48);
        assert_eq!(make_divisible(20.0), 24);
        assert_eq!(make_divisible(166.4), 168);
        assert_eq!(make_divisible(1331.2), 1328);
        assert_eq!(make_divisible(8.9), 16); // 8 would lose more than 10 %
        assert_eq!(make_divisible(8.8), 8);
        assert_eq!(make_divisible(3.0), 8); // never below the divisor
    }

    #[test]
    fn round_is_half_to_even() {
        assert_eq!(round_half_even(0.5), 0.0);
        assert_eq!(round_half_even(1.5), 2.0);
        assert_eq!(round_half_even(2.5), 2.0);
        assert_eq!(round_half_even(2.6), 3.0);
        assert_eq!(round_half_even(58.8), 59.0);
        assert_eq!(round_half_even(-1.5), -2.0);
    }
}
