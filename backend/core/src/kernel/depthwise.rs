//! Depthwise 2-D convolution on the CPU: forward, input gradient and filter gradient, as direct
//! loops over one channel's plane at a time (rayon over planes or channels).
//!
//! Why not Burn's generic path: flex runs a grouped convolution as im2col + one small GEMM per
//! group, and its input gradient as a transposed convolution whose col2im scatter was 39 % of an
//! mbv3-mini training step (docs/performance.md). A depthwise filter has only k² taps per channel.
//! Each plane is first copied into a zero-padded buffer whose rows and columns are split by phase
//! modulo the stride (`Padded`): then every tap is one contiguous multiply-add over the whole
//! output plane (a few hundred values, which the compiler vectorises), with no bounds logic.
//! The loops run inside `pulp`'s run-time dispatch, so they use AVX-512 or AVX2 where the CPU has
//! them although the crate is built for baseline x86-64. Products and sums are not fused
//! (`mul_add` outside the dispatch would call libm).
//!
//! Layouts are PyTorch's, contiguous: x `[N, C, H, W]`, filters `[C, 1, K, K]`, output
//! `[N, C, Ho, Wo]`; padding is symmetric.

use rayon::prelude::*;

use super::{Geometry, lane_sum};

/// One channel's plane, zero-padded, with rows and columns split by phase modulo the stride:
/// padded pixel `(r, j)` is at block `(r % s, j % s)`, row `r / s`, column `j / s` of that block
/// (`rows × cols`). Tap `(ky, kx)` of output pixel `(oy, ox)` reads padded pixel
/// `(oy·s + ky, ox·s + kx)`, i.e. `tap_offsets[ky·k + kx] + oy·cols + ox`: for every tap the
/// whole output plane, laid out with row stride `cols` ("wide"), is one contiguous run of the
/// buffer. So each tap is a single multiply-add over `wide_len` values, long enough to vectorise
/// fully; the `cols − Wo` extra columns of each wide row are computed and dropped.
struct Padded {
    g: Geometry,
    rows: usize,
    cols: usize,
    /// Where tap `ky·k + kx` starts in `data`.
    tap_offsets: Vec<usize>,
    data: Vec<f32>,
}

impl Padded {
    fn new(g: &Geometry) -> Padded {
        let s = g.stride;
        let rows = (g.height + 2 * g.padding).div_ceil(s);
        let cols = (g.width + 2 * g.padding).div_ceil(s);
        let mut padded = Padded {
            g: *g,
            rows,
            cols,
            tap_offsets: Vec::new(),
            data: vec![0.0; s * s * rows * cols],
        };
        padded.tap_offsets =
            (0..g.kernel * g.kernel).map(|tap| padded.at(tap / g.kernel, tap % g.kernel)).collect();
        padded
    }

    /// Index of padded pixel `(row, col)`.
    #[inline(always)]
    fn at(&self, row: usize, col: usize) -> usize {
        let s = self.g.stride;
        let block = (row % s) * s + col % s;
        (block * self.rows + row / s) * self.cols + col / s
    }

    /// Values of a wide output plane: `Ho` rows of stride `cols`, the last one `Wo` long.
    fn wide_len(&self) -> usize {
        (self.g.out_height() - 1) * self.cols + self.g.out_width()
    }

    /// Where input column `ix`'s phase starts: the first input column of each column phase, in
    /// phase order, for the row copies of [`Padded::load`] and [`Padded::store`].
    fn phase_starts(&self) -> impl Iterator<Item = usize> + use<> {
        let (s, p, width) = (self.g.stride, self.g.padding, self.g.width);
        (0..s).map(move |phase| (phase + s - p % s) % s).filter(move |&ix| ix < width)
    }

    /// Copies `plane` ([H, W]) in; the padding stays zero.
    fn load(&mut self, plane: &[f32]) {
        let (p, s) = (self.g.padding, self.g.stride);
        for (iy, row) in plane.chunks(self.g.width).enumerate() {
            for first in self.phase_starts() {
                let start = self.at(iy + p, first + p);
                for (d, v) in self.data[start..].iter_mut().zip(row[first..].iter().step_by(s)) {
                    *d = *v;
                }
            }
        }
    }

    /// The inside (without the padding) out into `plane` ([H, W]).
    fn store(&self, plane: &mut [f32]) {
        let (p, s) = (self.g.padding, self.g.stride);
        for (iy, row) in plane.chunks_mut(self.g.width).enumerate() {
            for first in self.phase_starts() {
                let start = self.at(iy + p, first + p);
                for (v, d) in row[first..].iter_mut().step_by(s).zip(&self.data[start..]) {
                    *v = *d;
                }
            }
        }
    }
}

/// `acc[i] += w · values[i]`.
#[inline(always)]
fn axpy(acc: &mut [f32], w: f32, values: &[f32]) {
    for (a, v) in acc.iter_mut().zip(values) {
        *a += w * v;
    }
}

/// A wide plane (row stride `cols`) from / into a compact one (row stride `Wo`).
fn widen(compact: &[f32], wide: &mut [f32], padded: &Padded) {
    let wo = padded.g.out_width();
    wide.fill(0.0);
    for (row, values) in compact.chunks(wo).enumerate() {
        wide[row * padded.cols..][..wo].copy_from_slice(values);
    }
}

fn narrow(wide: &[f32], compact: &mut [f32], padded: &Padded) {
    let wo = padded.g.out_width();
    for (row, values) in compact.chunks_mut(wo).enumerate() {
        values.copy_from_slice(&wide[row * padded.cols..][..wo]);
    }
}

/// Per-thread buffers: the padded plane and one wide plane.
fn scratch(g: &Geometry) -> (Padded, Vec<f32>) {
    let padded = Padded::new(g);
    let wide = vec![0.0; padded.wide_len()];
    (padded, wide)
}

/// y = depthwise(x, filters) + bias.
pub fn forward(x: &[f32], filters: &[f32], bias: Option<&[f32]>, g: &Geometry) -> Vec<f32> {
    let (taps, arch) = (g.kernel * g.kernel, pulp::Arch::new());
    let mut out = vec![0.0; g.batch * g.channels * g.out_plane()];
    out.par_chunks_mut(g.out_plane()).enumerate().for_each_init(
        || scratch(g),
        |(padded, wide), (plane, out)| {
            let c = plane % g.channels;
            padded.load(&x[plane * g.in_plane()..][..g.in_plane()]);
            wide.fill(bias.map_or(0.0, |b| b[c]));
            let w = &filters[c * taps..][..taps];
            let len = wide.len();
            arch.dispatch(
                #[inline(always)]
                || {
                    for (w, &offset) in w.iter().zip(&padded.tap_offsets) {
                        axpy(wide, *w, &padded.data[offset..][..len]);
                    }
                },
            );
            narrow(wide, out, padded);
        },
    );
    out
}

/// ∂L/∂x from ∂L/∂y.
pub fn input_gradient(grad: &[f32], filters: &[f32], g: &Geometry) -> Vec<f32> {
    let (taps, arch) = (g.kernel * g.kernel, pulp::Arch::new());
    let mut gx = vec![0.0; g.batch * g.channels * g.in_plane()];
    gx.par_chunks_mut(g.in_plane()).enumerate().for_each_init(
        || scratch(g),
        |(padded, wide), (plane, gx)| {
            let c = plane % g.channels;
            // The extra columns must be zero here: they scatter into real pixels.
            widen(&grad[plane * g.out_plane()..][..g.out_plane()], wide, padded);
            padded.data.fill(0.0);
            let w = &filters[c * taps..][..taps];
            let Padded { data, tap_offsets, .. } = padded;
            arch.dispatch(
                #[inline(always)]
                || {
                    for (w, &offset) in w.iter().zip(tap_offsets.iter()) {
                        axpy(&mut data[offset..][..wide.len()], *w, wide);
                    }
                },
            );
            padded.store(gx);
        },
    );
    gx
}

/// ∂L/∂filters `[C, 1, K, K]` from ∂L/∂y and x.
pub fn filter_gradient(grad: &[f32], x: &[f32], g: &Geometry) -> Vec<f32> {
    let (taps, arch) = (g.kernel * g.kernel, pulp::Arch::new());
    let mut gw = vec![0.0; g.channels * taps];
    gw.par_chunks_mut(taps).enumerate().for_each_init(
        || scratch(g),
        |(padded, wide), (c, gw)| {
            gw.fill(0.0);
            for n in 0..g.batch {
                let plane = n * g.channels + c;
                padded.load(&x[plane * g.in_plane()..][..g.in_plane()]);
                // Zero extra columns: their products drop out of the sums.
                widen(&grad[plane * g.out_plane()..][..g.out_plane()], wide, padded);
                arch.dispatch(
                    #[inline(always)]
                    || {
                        for (w, &offset) in gw.iter_mut().zip(&padded.tap_offsets) {
                            *w +=
                                lane_sum(wide, &padded.data[offset..][..wide.len()], |a, b| a * b);
                        }
                    },
                );
            }
        },
    );
    gw
}

#[cfg(test)]
mod tests {
    /// Forward = the definition; gradients = the forward's transposes (kernel::tests).
    #[test]
    fn forward_is_the_definition_and_gradients_its_transposes() {
        super::super::tests::check_kernel(
            true,
            super::forward,
            super::input_gradient,
            super::filter_gradient,
        );
    }
}
