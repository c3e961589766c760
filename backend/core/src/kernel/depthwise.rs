//! Depthwise 2-D convolution on the CPU: forward, input gradient, filter and bias gradients, as
//! direct loops over one channel's plane at a time (rayon over planes or channels).
//!
//! Why not Burn's generic path: flex runs a grouped convolution as im2col + one small GEMM per
//! group, and its input gradient as a transposed convolution whose col2im scatter was 39 % of an
//! mbv3-mini training step (docs/performance.md). A depthwise filter has only k² taps per channel:
//! looping over them directly, rows at a time, keeps the inner loop a contiguous multiply-add that
//! the compiler vectorises (stride 1) and needs no scratch buffers.
//!
//! Layouts are PyTorch's, contiguous: x `[N, C, H, W]`, filters `[C, 1, K, K]`, output
//! `[N, C, Ho, Wo]`; padding is symmetric.

use rayon::prelude::*;

/// The shape of one depthwise convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub batch: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

impl Geometry {
    pub fn out_height(&self) -> usize {
        (self.height + 2 * self.padding - self.kernel) / self.stride + 1
    }

    pub fn out_width(&self) -> usize {
        (self.width + 2 * self.padding - self.kernel) / self.stride + 1
    }

    fn in_plane(&self) -> usize {
        self.height * self.width
    }

    fn out_plane(&self) -> usize {
        self.out_height() * self.out_width()
    }

    /// The input row of output row `oy` under filter row `ky`, if inside the image.
    fn in_row(&self, oy: usize, ky: usize) -> Option<usize> {
        (oy * self.stride + ky).checked_sub(self.padding).filter(|&iy| iy < self.height)
    }

    /// Output columns `lo..hi` whose input column under filter column `kx` is inside the image,
    /// and the input column of `lo`; `None` when there are none.
    fn columns(&self, kx: usize) -> Option<(usize, usize, usize)> {
        let (s, p) = (self.stride, self.padding);
        let lo = p.saturating_sub(kx).div_ceil(s);
        // One past the largest ox with ox·s + kx − p ≤ W − 1.
        let hi = (self.width - 1 + p).checked_sub(kx)? / s + 1;
        let hi = hi.min(self.out_width());
        (lo < hi).then(|| (lo, hi, lo * s + kx - p))
    }
}

/// `acc[ox] += w · row[first + ox·stride]` for the output columns `lo..hi`.
#[inline(always)]
fn axpy_strided(acc: &mut [f32], w: f32, row: &[f32], first: usize, stride: usize) {
    if stride == 1 {
        let len = acc.len();
        for (a, x) in acc.iter_mut().zip(&row[first..first + len]) {
            *a += w * x;
        }
    } else {
        for (a, x) in acc.iter_mut().zip(row[first..].iter().step_by(stride)) {
            *a += w * x;
        }
    }
}

/// `row[first + ox·stride] += w · grad[ox]`: the transpose of [`axpy_strided`].
#[inline(always)]
fn scatter_strided(row: &mut [f32], w: f32, grad: &[f32], first: usize, stride: usize) {
    if stride == 1 {
        for (r, g) in row[first..first + grad.len()].iter_mut().zip(grad) {
            *r += w * g;
        }
    } else {
        for (r, g) in row[first..].iter_mut().step_by(stride).zip(grad) {
            *r += w * g;
        }
    }
}

/// `Σ a[ox] · row[first + ox·stride]`.
#[inline(always)]
fn dot_strided(a: &[f32], row: &[f32], first: usize, stride: usize) -> f32 {
    if stride == 1 {
        a.iter().zip(&row[first..first + a.len()]).map(|(a, x)| a * x).sum()
    } else {
        a.iter().zip(row[first..].iter().step_by(stride)).map(|(a, x)| a * x).sum()
    }
}

/// y = depthwise(x, filters) + bias.
pub fn forward(x: &[f32], filters: &[f32], bias: Option<&[f32]>, g: &Geometry) -> Vec<f32> {
    let (k, wo) = (g.kernel, g.out_width());
    let mut out = vec![0.0; g.batch * g.channels * g.out_plane()];
    out.par_chunks_mut(g.out_plane()).enumerate().for_each(|(plane, out)| {
        let c = plane % g.channels;
        let x = &x[plane * g.in_plane()..][..g.in_plane()];
        let w = &filters[c * k * k..][..k * k];
        out.fill(bias.map_or(0.0, |b| b[c]));
        for (oy, out_row) in out.chunks_mut(wo).enumerate() {
            for ky in 0..k {
                let Some(iy) = g.in_row(oy, ky) else { continue };
                let x_row = &x[iy * g.width..][..g.width];
                for kx in 0..k {
                    let Some((lo, hi, first)) = g.columns(kx) else { continue };
                    axpy_strided(&mut out_row[lo..hi], w[ky * k + kx], x_row, first, g.stride);
                }
            }
        }
    });
    out
}

/// ∂L/∂x from ∂L/∂y.
pub fn input_gradient(grad: &[f32], filters: &[f32], g: &Geometry) -> Vec<f32> {
    let (k, wo) = (g.kernel, g.out_width());
    let mut gx = vec![0.0; g.batch * g.channels * g.in_plane()];
    gx.par_chunks_mut(g.in_plane()).enumerate().for_each(|(plane, gx)| {
        let c = plane % g.channels;
        let grad = &grad[plane * g.out_plane()..][..g.out_plane()];
        let w = &filters[c * k * k..][..k * k];
        for (oy, grad_row) in grad.chunks(wo).enumerate() {
            for ky in 0..k {
                let Some(iy) = g.in_row(oy, ky) else { continue };
                let gx_row = &mut gx[iy * g.width..][..g.width];
                for kx in 0..k {
                    let Some((lo, hi, first)) = g.columns(kx) else { continue };
                    scatter_strided(gx_row, w[ky * k + kx], &grad_row[lo..hi], first, g.stride);
                }
            }
        }
    });
    gx
}

/// ∂L/∂filters `[C, 1, K, K]` from ∂L/∂y and x.
pub fn filter_gradient(grad: &[f32], x: &[f32], g: &Geometry) -> Vec<f32> {
    let (k, wo) = (g.kernel, g.out_width());
    let mut gw = vec![0.0; g.channels * k * k];
    gw.par_chunks_mut(k * k).enumerate().for_each(|(c, gw)| {
        for n in 0..g.batch {
            let plane = n * g.channels + c;
            let x = &x[plane * g.in_plane()..][..g.in_plane()];
            let grad = &grad[plane * g.out_plane()..][..g.out_plane()];
            for (oy, grad_row) in grad.chunks(wo).enumerate() {
                for ky in 0..k {
                    let Some(iy) = g.in_row(oy, ky) else { continue };
                    let x_row = &x[iy * g.width..][..g.width];
                    for kx in 0..k {
                        let Some((lo, hi, first)) = g.columns(kx) else { continue };
                        gw[ky * k + kx] += dot_strided(&grad_row[lo..hi], x_row, first, g.stride);
                    }
                }
            }
        }
    });
    gw
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, one tap at a time.
    fn naive(x: &[f32], w: &[f32], b: &[f32], g: &Geometry) -> Vec<f32> {
        let (ho, wo, k) = (g.out_height(), g.out_width(), g.kernel);
        let mut y = vec![0.0; g.batch * g.channels * ho * wo];
        for n in 0..g.batch {
            for c in 0..g.channels {
                for oy in 0..ho {
                    for ox in 0..wo {
                        let mut acc = b[c];
                        for ky in 0..k {
                            for kx in 0..k {
                                let iy = (oy * g.stride + ky) as isize - g.padding as isize;
                                let ix = (ox * g.stride + kx) as isize - g.padding as isize;
                                if iy >= 0
                                    && ix >= 0
                                    && (iy as usize) < g.height
                                    && (ix as usize) < g.width
                                {
                                    let xi = ((n * g.channels + c) * g.height + iy as usize)
                                        * g.width
                                        + ix as usize;
                                    acc += w[(c * k + ky) * k + kx] * x[xi];
                                }
                            }
                        }
                        y[((n * g.channels + c) * ho + oy) * wo + ox] = acc;
                    }
                }
            }
        }
        y
    }

    fn values(len: usize, seed: u32) -> Vec<f32> {
        // A small LCG: deterministic values in [-1, 1).
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..len)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 8) as f32 / (1u32 << 23) as f32 - 1.0
            })
            .collect()
    }

    fn geometries() -> Vec<Geometry> {
        let mut all = Vec::new();
        for (height, width) in [(7, 7), (8, 5), (1, 1), (2, 9)] {
            for kernel in [1, 3, 5, 7] {
                for stride in [1, 2] {
                    all.push(Geometry {
                        batch: 2,
                        channels: 3,
                        height,
                        width,
                        kernel,
                        stride,
                        padding: kernel / 2,
                    });
                }
            }
        }
        all
    }

    fn close(a: &[f32], b: &[f32], what: &str, g: &Geometry) {
        assert_eq!(a.len(), b.len(), "{what} {g:?}");
        for (i, (a, b)) in a.iter().zip(b).enumerate() {
            assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "{what} {g:?} [{i}]: {a} vs {b}");
        }
    }

    #[test]
    fn forward_is_the_definition() {
        for g in geometries() {
            let x = values(g.batch * g.channels * g.height * g.width, 1);
            let w = values(g.channels * g.kernel * g.kernel, 2);
            let b = values(g.channels, 3);
            close(&forward(&x, &w, Some(&b), &g), &naive(&x, &w, &b, &g), "forward", &g);
            let zero = vec![0.0; g.channels];
            close(&forward(&x, &w, None, &g), &naive(&x, &w, &zero, &g), "no bias", &g);
        }
    }

    /// The convolution is linear in x and in the filters: ⟨∂L/∂y, conv(x, w)⟩ equals both
    /// ⟨∂L/∂x, x⟩ and ⟨∂L/∂w, w⟩ exactly when the gradients are the forward's transposes.
    #[test]
    fn gradients_are_the_transposes_of_the_forward() {
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(a, b)| (a * b) as f64).sum::<f64>();
        for g in geometries() {
            let x = values(g.batch * g.channels * g.height * g.width, 4);
            let w = values(g.channels * g.kernel * g.kernel, 5);
            let grad = values(g.batch * g.channels * g.out_height() * g.out_width(), 7);
            let lhs = dot(&grad, &forward(&x, &w, None, &g));
            let rhs_x = dot(&input_gradient(&grad, &w, &g), &x);
            let rhs_w = dot(&filter_gradient(&grad, &x, &g), &w);
            assert!((lhs - rhs_x).abs() < 1e-4 * (1.0 + lhs.abs()), "x: {g:?} {lhs} {rhs_x}");
            assert!((lhs - rhs_w).abs() < 1e-4 * (1.0 + lhs.abs()), "w: {g:?} {lhs} {rhs_w}");
        }
    }
}
