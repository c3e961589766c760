//! Training augmentation: a random 4-pixel shift with zero padding (torchvision's
//! `RandomCrop(32, padding=4)`) and a horizontal flip with probability ½, and the u8 → f32
//! conversion every image goes through.

use rand::RngExt;

use proard_shared::genome::SeededRng;

use super::ImageShape;

/// Zero padding on each side before the crop.
pub const PAD: i32 = 4;

/// Where the crop window sits relative to the image, and whether it is mirrored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Crop {
    /// Offset of the window in rows, in `-PAD..=PAD` (the crop's top-left corner in the padded
    /// image is `PAD + dy`).
    pub dy: i32,
    /// Offset in columns, in `-PAD..=PAD`.
    pub dx: i32,
    pub flip: bool,
}

impl Crop {
    /// The image as it is.
    pub const IDENTITY: Crop = Crop { dy: 0, dx: 0, flip: false };

    /// Offsets uniform over the 9×9 windows, then a fair coin for the flip.
    pub fn random(rng: &mut SeededRng) -> Crop {
        let dy = rng.random_range(0..=2 * PAD as u32) as i32 - PAD;
        let dx = rng.random_range(0..=2 * PAD as u32) as i32 - PAD;
        Crop { dy, dx, flip: rng.random_bool(0.5) }
    }
}

/// Writes the u8 CHW image `src` into `out` as f32 in [0, 1] (value / 255), cropped as `crop`
/// says: `out[c][y][x] = src[c][y + dy][x' + dx]` with `x' = W − 1 − x` when flipped, and 0
/// outside the image.
pub fn write_image(src: &[u8], shape: ImageShape, crop: Crop, out: &mut [f32]) {
    let (h, w) = (shape.height as i32, shape.width as i32);
    let plane = shape.height * shape.width;
    for (src, out) in src.chunks_exact(plane).zip(out.chunks_exact_mut(plane)) {
        for (y, row) in out.chunks_exact_mut(shape.width).enumerate() {
            let sy = y as i32 + crop.dy;
            if !(0..h).contains(&sy) {
                row.fill(0.0);
                continue;
            }
            let src_row = &src[sy as usize * shape.width..][..shape.width];
            for (x, value) in row.iter_mut().enumerate() {
                let x = if crop.flip { w - 1 - x as i32 } else { x as i32 };
                let sx = x + crop.dx;
                *value = if (0..w).contains(&sx) {
                    f32::from(src_row[sx as usize]) / 255.0
                } else {
                    0.0
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proard_shared::genome::seeded_rng;

    use super::*;

    /// One 2×3 channel: values 1..=6, row-major.
    fn tiny() -> (Vec<u8>, ImageShape) {
        ((1..=6).collect(), ImageShape { channels: 1, height: 2, width: 3 })
    }

    fn apply(crop: Crop) -> Vec<f32> {
        let (src, shape) = tiny();
        let mut out = vec![f32::NAN; 6];
        write_image(&src, shape, crop, &mut out);
        out.iter().map(|v| v * 255.0).map(f32::round).collect()
    }

    #[test]
    fn identity_shift_and_flip() {
        assert_eq!(apply(Crop::IDENTITY), [1., 2., 3., 4., 5., 6.]);
        assert_eq!(apply(Crop { dy: 0, dx: 0, flip: true }), [3., 2., 1., 6., 5., 4.]);
        // The window moves right by one: the image moves left, a zero column enters.
        assert_eq!(apply(Crop { dy: 0, dx: 1, flip: false }), [2., 3., 0., 5., 6., 0.]);
        assert_eq!(apply(Crop { dy: -1, dx: 0, flip: false }), [0., 0., 0., 1., 2., 3.]);
        // Crop first, then mirror the crop (torchvision's order).
        assert_eq!(apply(Crop { dy: 0, dx: 1, flip: true }), [0., 3., 2., 0., 6., 5.]);
    }

    #[test]
    fn random_crops_cover_every_window_and_both_flips() {
        let mut rng = seeded_rng(3);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..5000 {
            let crop = Crop::random(&mut rng);
            assert!((-PAD..=PAD).contains(&crop.dx) && (-PAD..=PAD).contains(&crop.dy));
            seen.insert((crop.dy, crop.dx, crop.flip));
        }
        assert_eq!(seen.len(), 9 * 9 * 2);
    }
}
