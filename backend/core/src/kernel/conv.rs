//! Dense 2-D convolution on the CPU (one group): forward, input gradient and filter gradient, one
//! image per task (rayon over the batch), each an im2col copy and a single-threaded GEMM (the
//! `gemm` crate, which Burn's CPU backend also uses).
//!
//! Why not Burn's generic path: flex runs the forward as im2col + GEMM in NHWC and re-lays the
//! result out to NCHW on the calling thread; the input gradient as a transposed convolution whose
//! col2im scatter is scalar and runs on one thread below 256K elements (most layers at batch 64);
//! together ≈ a quarter of a resnet-mini training step, with the second core idle a third of the
//! time (docs/performance.md). In NCHW an image's output is already `filters × columns`, so one
//! GEMM per image writes it in place; and the images are independent, so both cores stay busy.
//! A 1×1 convolution with stride 1 needs no im2col: the image is its own column matrix.
//!
//! Layouts are PyTorch's, contiguous: x `[N, C, H, W]`, filters `[O, C, K, K]`, output
//! `[N, O, Ho, Wo]`; padding is symmetric.

use std::ops::Range;

use rayon::prelude::*;

use super::Geometry;

/// A row-major view of a matrix in a slice, possibly transposed (strides swapped).
#[derive(Clone, Copy)]
struct Mat<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Mat<'a> {
    fn new(data: &'a [f32], rows: usize, cols: usize) -> Mat<'a> {
        Mat { data, rows, cols, row_stride: cols, col_stride: 1 }
    }

    fn t(self) -> Mat<'a> {
        Mat {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }

    /// Whether every element lies inside `data`.
    fn fits(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride
                < self.data.len()
    }
}

/// `dst [a.rows, b.cols] = a × b`, plus what `dst` held when `accumulate`; on this thread.
fn matmul(dst: &mut [f32], a: Mat, b: Mat, accumulate: bool) {
    assert!(a.cols == b.rows && a.fits() && b.fits() && dst.len() == a.rows * b.cols);
    #[allow(unsafe_code)]
    // SAFETY: the three views were checked to lie inside their slices, `dst` is borrowed
    // mutably and so overlaps neither operand, and the strides fit in isize (slice lengths do).
    unsafe {
        gemm::gemm(
            a.rows,
            b.cols,
            a.cols,
            dst.as_mut_ptr(),
            1,
            b.cols as isize,
            accumulate,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// The outputs `o` (of `outputs`) whose input `o·s + tap − p` lies in `0..inputs`.
fn inside(tap: usize, outputs: usize, inputs: usize, g: &Geometry) -> Range<usize> {
    let (s, p) = (g.stride, g.padding);
    let first = p.saturating_sub(tap).div_ceil(s);
    let end = if inputs + p > tap { ((inputs + p - tap - 1) / s + 1).min(outputs) } else { 0 };
    first..end.max(first)
}

/// Calls `segment(column_row, out_start, in_start, len)` for every run of the im2col matrix
/// `[C·K·K, Ho·Wo]` that reads the image: column-matrix row `(c, ky, kx)` at output pixels
/// `out_start..out_start + len` (one output row) takes input pixels `in_start`, `in_start + s`, …
/// of plane `c`. Everything else in the matrix is padding (zero).
#[inline(always)]
fn for_each_segment(g: &Geometry, mut segment: impl FnMut(usize, usize, usize, usize)) {
    let (k, ho, wo) = (g.kernel, g.out_height(), g.out_width());
    for row in 0..g.channels * k * k {
        let (c, ky, kx) = (row / (k * k), row / k % k, row % k);
        let columns = inside(kx, wo, g.width, g);
        if columns.is_empty() {
            continue;
        }
        for oy in inside(ky, ho, g.height, g) {
            let iy = oy * g.stride + ky - g.padding;
            let ix = columns.start * g.stride + kx - g.padding;
            segment(
                row,
                oy * wo + columns.start,
                (c * g.height + iy) * g.width + ix,
                columns.len(),
            );
        }
    }
}

/// Calls `run(column_row, out_start, in_start, len, wrapped)` for every column-matrix row of a
/// convolution with stride 1 and "same" output size (Ho = H, Wo = W): row `(c, ky, kx)` is plane
/// `c` shifted by `(ky − p, kx − p)`, so over the output rows that read the image it is one
/// contiguous run of the plane, `len` values from `in_start` into `out_start..` — except that in
/// each output row the columns `wrapped` then hold values from the neighbouring image row (the
/// shift carried them past the edge), which must read as zero. One long copy per column-matrix
/// row instead of one per output row.
#[inline(always)]
fn for_each_run(g: &Geometry, mut run: impl FnMut(usize, usize, usize, usize, Range<usize>)) {
    let (k, p, width) = (g.kernel, g.padding, g.width);
    for row in 0..g.channels * k * k {
        let (c, ky, kx) = (row / (k * k), row / k % k, row % k);
        let rows = inside(ky, g.height, g.height, g);
        if rows.is_empty() {
            continue;
        }
        let out = rows.start * width;
        let input = (c * g.height + rows.start + ky - p) * width;
        let len = rows.len() * width;
        // A shift of a whole row or more leaves only padding.
        if kx.abs_diff(p) >= width {
            continue;
        }
        // The run starts (ends) inside the plane: the shift's first (last) columns are wrapped.
        if kx < p {
            let shift = p - kx;
            run(row, out + shift, input, len - shift, 0..shift);
        } else {
            let shift = kx - p;
            run(row, out, input + shift, len - shift, width - shift..width);
        }
    }
}

impl Geometry {
    /// Stride 1 with the output the input's size: [`for_each_run`] applies.
    fn same_shift(&self) -> bool {
        self.stride == 1 && self.out_height() == self.height && self.out_width() == self.width
    }
}

/// Zeroes the `wrapped` columns of `cols`'s column-matrix row `row` in the output rows that read
/// the image.
#[inline(always)]
fn zero_wrapped(cols: &mut [f32], row: usize, wrapped: &Range<usize>, g: &Geometry) {
    let ky = row / g.kernel % g.kernel;
    let plane = &mut cols[row * g.out_plane()..][..g.out_plane()];
    for oy in inside(ky, g.height, g.height, g) {
        // Usually one or two values: a loop, not a call to memset.
        for col in wrapped.clone() {
            plane[oy * g.width + col] = 0.0;
        }
    }
}

/// The column matrix `[C·K·K, Ho·Wo]` of one image `[C, H, W]`. Writes only the entries that
/// read the image: the padding entries of `cols` must be zero already, and stay so, since a
/// buffer is only ever written by this function for one geometry.
fn im2col(image: &[f32], cols: &mut [f32], g: &Geometry) {
    let plane = g.out_plane();
    if g.same_shift() {
        for_each_run(
            g,
            #[inline(always)]
            |row, out, input, len, wrapped| {
                cols[row * plane + out..][..len].copy_from_slice(&image[input..][..len]);
                zero_wrapped(cols, row, &wrapped, g);
            },
        );
        return;
    }
    for_each_segment(
        g,
        #[inline(always)]
        |row, out, input, len| {
            let dst = &mut cols[row * plane + out..][..len];
            // Every stride-th value: the first of each chunk (which compiles to shuffles).
            for (d, chunk) in dst.iter_mut().zip(image[input..].chunks(g.stride)) {
                *d = chunk[0];
            }
        },
    );
}

/// The transpose of [`im2col`]: adds a column matrix's entries into the image `[C, H, W]` they
/// were read from, which must be zero before. Overwrites the padding entries of `cols`.
fn col2im(cols: &mut [f32], image: &mut [f32], g: &Geometry) {
    let plane = g.out_plane();
    pulp::Arch::new().dispatch(
        #[inline(always)]
        || {
            if g.same_shift() {
                for_each_run(
                    g,
                    #[inline(always)]
                    |row, out, input, len, wrapped| {
                        zero_wrapped(cols, row, &wrapped, g);
                        let src = &cols[row * plane + out..][..len];
                        for (d, v) in image[input..][..len].iter_mut().zip(src) {
                            *d += *v;
                        }
                    },
                );
                return;
            }
            for_each_segment(
                g,
                #[inline(always)]
                |row, out, input, len| {
                    let src = &cols[row * plane + out..][..len];
                    for (chunk, v) in image[input..].chunks_mut(g.stride).zip(src) {
                        chunk[0] += *v;
                    }
                },
            )
        },
    );
}

impl Geometry {
    /// A 1×1 convolution with stride 1: the image is its own column matrix.
    fn pointwise(&self) -> bool {
        self.kernel == 1 && self.stride == 1 && self.padding == 0
    }

    /// Rows of the column matrix: C·K·K.
    fn patch(&self) -> usize {
        self.channels * self.kernel * self.kernel
    }

    /// The column matrix's length, zero where it is not needed.
    fn cols_len(&self) -> usize {
        if self.pointwise() { 0 } else { self.patch() * self.out_plane() }
    }
}

/// y = conv(x, filters) + bias.
pub fn forward(x: &[f32], filters: &[f32], bias: Option<&[f32]>, g: &Geometry) -> Vec<f32> {
    let (image, out) = (g.channels * g.in_plane(), g.out_channels * g.out_plane());
    let weights = Mat::new(filters, g.out_channels, g.patch());
    let mut y = vec![0.0; g.batch * out];
    y.par_chunks_mut(out).enumerate().for_each_init(
        || vec![0.0; g.cols_len()],
        |cols, (n, y)| {
            let image = &x[n * image..][..image];
            let rhs = if g.pointwise() {
                image
            } else {
                im2col(image, cols, g);
                cols
            };
            if let Some(bias) = bias {
                for (row, b) in y.chunks_mut(g.out_plane()).zip(bias) {
                    row.fill(*b);
                }
            }
            matmul(y, weights, Mat::new(rhs, g.patch(), g.out_plane()), bias.is_some());
        },
    );
    y
}

/// ∂L/∂x from ∂L/∂y.
pub fn input_gradient(grad: &[f32], filters: &[f32], g: &Geometry) -> Vec<f32> {
    let (image, out) = (g.channels * g.in_plane(), g.out_channels * g.out_plane());
    let weights_t = Mat::new(filters, g.out_channels, g.patch()).t();
    let mut gx = vec![0.0; g.batch * image];
    gx.par_chunks_mut(image).enumerate().for_each_init(
        || vec![0.0; g.cols_len()],
        |cols, (n, gx)| {
            let grad = Mat::new(&grad[n * out..][..out], g.out_channels, g.out_plane());
            if g.pointwise() {
                matmul(gx, weights_t, grad, false);
            } else {
                matmul(cols, weights_t, grad, false);
                col2im(cols, gx, g);
            }
        },
    );
    gx
}

/// ∂L/∂filters `[O, C, K, K]` from ∂L/∂y and x: a sum over the images, each thread summing its
/// share of them into its own copy.
pub fn filter_gradient(grad: &[f32], x: &[f32], g: &Geometry) -> Vec<f32> {
    let (image, out) = (g.channels * g.in_plane(), g.out_channels * g.out_plane());
    let share = g.batch.div_ceil(rayon::current_num_threads()).max(1);
    let partial = |images: Range<usize>| {
        let (mut gw, mut cols) = (vec![0.0; g.out_channels * g.patch()], vec![0.0; g.cols_len()]);
        for n in images.clone() {
            let x = &x[n * image..][..image];
            let rhs = if g.pointwise() {
                x
            } else {
                im2col(x, &mut cols, g);
                &cols
            };
            let grad = Mat::new(&grad[n * out..][..out], g.out_channels, g.out_plane());
            let cols_t = Mat::new(rhs, g.patch(), g.out_plane()).t();
            matmul(&mut gw, grad, cols_t, n > images.start);
        }
        gw
    };
    // Summed in a fixed order, so that a result does not depend on how rayon split the work.
    let partials: Vec<Vec<f32>> = (0..g.batch.div_ceil(share))
        .into_par_iter()
        .map(|i| partial(i * share..((i + 1) * share).min(g.batch)))
        .collect();
    let mut sum = vec![0.0; g.out_channels * g.patch()];
    for partial in partials {
        sum.iter_mut().zip(partial).for_each(|(a, b)| *a += b);
    }
    sum
}

#[cfg(test)]
mod tests {
    /// Forward = the definition; gradients = the forward's transposes (kernel::tests).
    #[test]
    fn forward_is_the_definition_and_gradients_its_transposes() {
        super::super::tests::check_kernel(
            false,
            super::forward,
            super::input_gradient,
            super::filter_gradient,
        );
    }
}
