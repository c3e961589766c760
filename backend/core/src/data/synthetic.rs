//! A synthetic 10-class set of 32×32 RGB images that needs no download: demos and tests run on
//! a fresh machine, and a small CNN learns it in a few hundred steps (tests/data.rs shows it).
//!
//! Class `c` is a shape drawn in one of five colours (`c mod 5`), so colour alone narrows a
//! class down to two and the shape decides. Each image places its shape at a random position,
//! size and stripe phase, jitters the colour, and adds strong per-pixel noise over a random
//! background colour. Image `i` of a split is drawn from its own stream seeded by (seed, split,
//! i), with integer arithmetic only: the same seed gives the same bytes on every platform, and
//! images can be generated in any order.

use rand::{Rng, RngExt};

use proard_shared::genome::seeded_rng;

use super::{ImageSet, ImageShape, Images, Split, stream_seed};

/// Class names in label order: colour and shape.
pub const CLASSES: [&str; 10] = [
    "red-square",
    "green-disc",
    "blue-ring",
    "yellow-frame",
    "magenta-plus",
    "red-cross",
    "green-triangle",
    "blue-hstripes",
    "yellow-vstripes",
    "magenta-checker",
];

const PALETTE: [[i32; 3]; 5] =
    [[220, 40, 40], [40, 200, 60], [50, 80, 230], [230, 210, 40], [200, 50, 210]];
const SIDE: usize = 32;
/// Per-pixel noise is uniform in ±NOISE (per channel).
const NOISE: i32 = 48;
/// Shape colours are jittered by up to ±COLOR_JITTER per channel.
const COLOR_JITTER: i32 = 40;
/// Background colours are drawn per channel in 0..=BACKGROUND_MAX, darker than most shapes.
const BACKGROUND_MAX: u32 = 150;

/// Seed and split sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyntheticConfig {
    pub seed: u64,
    pub train: usize,
    pub test: usize,
}

impl Default for SyntheticConfig {
    /// Seed 0, 5000 training and 1000 test images: large enough to learn, fast to generate.
    fn default() -> Self {
        SyntheticConfig { seed: 0, train: 5000, test: 1000 }
    }
}

/// Generates the set. Labels cycle through the classes, so every class has a tenth (±1).
pub fn generate(config: &SyntheticConfig) -> ImageSet {
    let shape = ImageShape::rgb(SIDE, SIDE);
    let split = |split: Split, n: usize| {
        let mut pixels = vec![0u8; n * shape.values_per_image()];
        let labels: Vec<u32> = (0..n).map(|i| (i % CLASSES.len()) as u32).collect();
        for (i, out) in pixels.chunks_exact_mut(shape.values_per_image()).enumerate() {
            render(config.seed, split, i, labels[i] as usize, out);
        }
        Images::new(pixels, labels, shape)
    };
    ImageSet::new(
        CLASSES.iter().map(|c| c.to_string()).collect(),
        shape,
        split(Split::Train, config.train),
        split(Split::Test, config.test),
    )
}

/// Draws image `index` of `split`, of class `class`, as CHW u8 into `out`.
fn render(seed: u64, split: Split, index: usize, class: usize, out: &mut [u8]) {
    let mut rng = seeded_rng(stream_seed(&[seed, split as u64, index as u64]));
    let background: [i32; 3] = std::array::from_fn(|_| rng.random_range(0..=BACKGROUND_MAX) as i32);
    let color: [i32; 3] = std::array::from_fn(|c| {
        PALETTE[class % PALETTE.len()][c] + rng.random_range(0..=2 * COLOR_JITTER as u32) as i32
            - COLOR_JITTER
    });
    let radius = rng.random_range(5..=10u32) as i32;
    let cx = rng.random_range(radius as u32..=(SIDE as i32 - 1 - radius) as u32) as i32;
    let cy = rng.random_range(radius as u32..=(SIDE as i32 - 1 - radius) as u32) as i32;
    let phase = rng.random_range(0..4u32) as i32;
    let plane = SIDE * SIDE;
    for y in 0..SIDE {
        for x in 0..SIDE {
            let inside = shape_contains(class, x as i32 - cx, y as i32 - cy, radius, phase);
            let base = if inside { color } else { background };
            for (c, value) in base.iter().enumerate() {
                let noisy = value + noise(&mut rng);
                out[c * plane + y * SIDE + x] = noisy.clamp(0, 255) as u8;
            }
        }
    }
}

/// Uniform in ±NOISE from one draw's low byte (multiply-shift, no division).
fn noise(rng: &mut impl Rng) -> i32 {
    let byte = (rng.next_u32() & 0xFF) as i32;
    ((byte * (2 * NOISE + 1)) >> 8) - NOISE
}

/// Whether the pixel at offset (dx, dy) from the centre belongs to the shape of `class`.
fn shape_contains(class: usize, dx: i32, dy: i32, r: i32, phase: i32) -> bool {
    let in_box = dx.abs() <= r && dy.abs() <= r;
    let d2 = dx * dx + dy * dy;
    match class {
        0 => in_box,
        1 => d2 <= r * r,
        2 => d2 <= r * r && d2 > (r - 3) * (r - 3),
        3 => in_box && dx.abs().max(dy.abs()) > r - 3,
        4 => (dx.abs() <= 1 && dy.abs() <= r) || (dy.abs() <= 1 && dx.abs() <= r),
        5 => in_box && ((dx - dy).abs() <= 1 || (dx + dy).abs() <= 1),
        6 => in_box && 2 * dx.abs() <= dy + r,
        7 => in_box && ((dy + r + phase) / 2) % 2 == 0,
        8 => in_box && ((dx + r + phase) / 2) % 2 == 0,
        9 => in_box && ((dx + r + phase) / 3 + (dy + r + phase) / 3) % 2 == 0,
        _ => unreachable!("ten classes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_is_distinct_and_nonempty() {
        let masks: Vec<Vec<bool>> = (0..CLASSES.len())
            .map(|class| {
                (-8..=8)
                    .flat_map(|dy| (-8..=8).map(move |dx| shape_contains(class, dx, dy, 8, 0)))
                    .collect()
            })
            .collect();
        for (i, a) in masks.iter().enumerate() {
            let area = a.iter().filter(|&&p| p).count();
            assert!(area > 30, "class {i} covers {area} pixels");
            for b in &masks[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn noise_is_symmetric_and_bounded() {
        let mut rng = seeded_rng(1);
        let draws: Vec<i32> = (0..10_000).map(|_| noise(&mut rng)).collect();
        assert_eq!(draws.iter().min(), Some(&-NOISE));
        assert_eq!(draws.iter().max(), Some(&NOISE));
        let mean = draws.iter().sum::<i32>() as f64 / draws.len() as f64;
        assert!(mean.abs() < 1.0, "{mean}");
    }
}
