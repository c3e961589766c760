//! BatchNorm with the batch's own statistics (training, calibration) on the CPU, forward and
//! backward: per channel, the statistics (or the gradient's two sums) in read-only passes over
//! its planes, then the output (or ∂x) in one pass that writes each plane once.
//!
//! Why not Burn's generic path: it computes the statistics over a copy with the batch and
//! channel axes swapped, normalises in four broadcast passes, and its backward takes about a
//! dozen more passes over the whole activation, two of them swapped copies again — for every
//! BatchNorm of every training step (docs/performance.md).
//!
//! Layout: x `[N, C, H, W]` contiguous, read as N·C planes of H·W values. The variance is the
//! biased one (what normalises), as Burn's `batch_norm_train` returns it.

use rayon::prelude::*;

use super::lane_sum;

/// x `[batch, channels, plane]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Planes {
    pub batch: usize,
    pub channels: usize,
    pub plane: usize,
}

impl Planes {
    /// Values per channel: the count the statistics are over.
    fn count(&self) -> f64 {
        (self.batch * self.plane) as f64
    }

    /// `Σ term(a, b)` over channel `c`'s planes of `a` and `b`, accumulated in f64 across planes.
    #[inline(always)]
    fn channel_sum(&self, c: usize, a: &[f32], b: &[f32], term: impl Fn(f32, f32) -> f32) -> f64 {
        (0..self.batch)
            .map(|n| {
                let at = (n * self.channels + c) * self.plane;
                lane_sum(&a[at..][..self.plane], &b[at..][..self.plane], &term) as f64
            })
            .sum()
    }
}

fn inverse_std(variance: f32, epsilon: f64) -> f32 {
    (1.0 / (variance as f64 + epsilon).sqrt()) as f32
}

/// (y, mean, variance) with y = γ · (x − mean) / √(variance + ε) + β.
pub fn forward(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    epsilon: f64,
    s: &Planes,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let arch = pulp::Arch::new();
    let (mean, variance): (Vec<f32>, Vec<f32>) = (0..s.channels)
        .into_par_iter()
        .map(|c| {
            arch.dispatch(
                #[inline(always)]
                || {
                    let mean = (s.channel_sum(c, x, x, |v, _| v) / s.count()) as f32;
                    let squares = s.channel_sum(c, x, x, |v, _| (v - mean) * (v - mean));
                    (mean, (squares / s.count()) as f32)
                },
            )
        })
        .unzip();
    let mut y = vec![0.0; x.len()];
    y.par_chunks_mut(s.plane).zip(x.par_chunks(s.plane)).enumerate().for_each(|(i, (y, x))| {
        let c = i % s.channels;
        let scale = gamma[c] * inverse_std(variance[c], epsilon);
        let shift = beta[c] - mean[c] * scale;
        arch.dispatch(
            #[inline(always)]
            || {
                for (y, x) in y.iter_mut().zip(x) {
                    *y = x * scale + shift;
                }
            },
        );
    });
    (y, mean, variance)
}

/// (∂x, ∂γ, ∂β) from ∂L/∂y, with the statistics the forward returned:
/// ∂β = Σ g, ∂γ = Σ g · x̂, ∂x = γ / √(variance + ε) · (g − ∂β / M − x̂ · ∂γ / M),
/// where x̂ is the normalised input and M the count per channel.
pub fn backward(
    x: &[f32],
    gamma: &[f32],
    mean: &[f32],
    variance: &[f32],
    epsilon: f64,
    grad: &[f32],
    s: &Planes,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let arch = pulp::Arch::new();
    let (gamma_grad, beta_grad): (Vec<f32>, Vec<f32>) = (0..s.channels)
        .into_par_iter()
        .map(|c| {
            let m = mean[c];
            arch.dispatch(
                #[inline(always)]
                || {
                    let sum = s.channel_sum(c, grad, grad, |g, _| g);
                    let centred = s.channel_sum(c, grad, x, |g, v| g * (v - m));
                    ((centred * inverse_std(variance[c], epsilon) as f64) as f32, sum as f32)
                },
            )
        })
        .unzip();
    let mut x_grad = vec![0.0; x.len()];
    let count = s.count() as f32;
    x_grad.par_chunks_mut(s.plane).enumerate().for_each(|(i, gx)| {
        let c = i % s.channels;
        let (at, inv_std) = (i * s.plane, inverse_std(variance[c], epsilon));
        let (g, x) = (&grad[at..][..s.plane], &x[at..][..s.plane]);
        let (scale, m) = (gamma[c] * inv_std, mean[c]);
        let offset = beta_grad[c] / count;
        let slope = gamma_grad[c] / count * inv_std;
        arch.dispatch(
            #[inline(always)]
            || {
                for ((gx, g), x) in gx.iter_mut().zip(g).zip(x) {
                    *gx = scale * (g - offset - (x - m) * slope);
                }
            },
        );
    });
    (x_grad, gamma_grad, beta_grad)
}

#[cfg(test)]
mod tests {
    use super::super::tests::values;
    use super::*;

    /// The definition in f64.
    fn naive(x: &[f32], gamma: &[f32], beta: &[f32], s: &Planes) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let mut y = vec![0.0; x.len()];
        let (mut means, mut variances) = (Vec::new(), Vec::new());
        for c in 0..s.channels {
            let at = |n: usize, i: usize| (n * s.channels + c) * s.plane + i;
            let all = || (0..s.batch).flat_map(move |n| (0..s.plane).map(move |i| (n, i)));
            let mean = all().map(|(n, i)| x[at(n, i)] as f64).sum::<f64>() / s.count();
            let var =
                all().map(|(n, i)| (x[at(n, i)] as f64 - mean).powi(2)).sum::<f64>() / s.count();
            for (n, i) in all() {
                y[at(n, i)] = gamma[c] as f64 * (x[at(n, i)] as f64 - mean) / (var + 1e-5).sqrt()
                    + beta[c] as f64;
            }
            means.push(mean);
            variances.push(var);
        }
        (y, means, variances)
    }

    fn close(a: &[f32], b: &[f64], what: &str) {
        for (i, (a, b)) in a.iter().zip(b).enumerate() {
            assert!((*a as f64 - b).abs() <= 1e-4 * (1.0 + b.abs()), "{what} [{i}]: {a} vs {b}");
        }
    }

    fn shapes() -> [Planes; 3] {
        [
            Planes { batch: 3, channels: 4, plane: 37 },
            Planes { batch: 1, channels: 2, plane: 1 },
            Planes { batch: 5, channels: 3, plane: 16 },
        ]
    }

    #[test]
    fn forward_is_the_definition() {
        for s in shapes() {
            // An offset mean, so that a one-pass variance would lose digits.
            let x: Vec<f32> =
                values(s.batch * s.channels * s.plane, 1).iter().map(|v| v + 3.0).collect();
            let (gamma, beta) = (values(s.channels, 2), values(s.channels, 3));
            let (y, mean, variance) = forward(&x, &gamma, &beta, 1e-5, &s);
            let (y0, mean0, variance0) = naive(&x, &gamma, &beta, &s);
            close(&y, &y0, "y");
            close(&mean, &mean0, "mean");
            close(&variance, &variance0, "variance");
        }
    }

    /// The backward against central differences of ⟨g, y(x, γ, β)⟩ in f64.
    #[test]
    fn backward_is_the_derivative_of_the_forward() {
        for s in shapes() {
            let x = values(s.batch * s.channels * s.plane, 4);
            let (gamma, beta) = (values(s.channels, 5), values(s.channels, 6));
            let g = values(x.len(), 7);
            let loss = |x: &[f32], gamma: &[f32], beta: &[f32]| {
                let (y, _, _) = naive(x, gamma, beta, &s);
                y.iter().zip(&g).map(|(y, g)| y * *g as f64).sum::<f64>()
            };
            let (_, mean, variance) = forward(&x, &gamma, &beta, 1e-5, &s);
            let (gx, ggamma, gbeta) = backward(&x, &gamma, &mean, &variance, 1e-5, &g, &s);
            let h = 1e-2f32;
            let numeric = |which: usize, i: usize| {
                let mut args = [x.clone(), gamma.clone(), beta.clone()];
                args[which][i] += h;
                let up = loss(&args[0], &args[1], &args[2]);
                args[which][i] -= 2.0 * h;
                let down = loss(&args[0], &args[1], &args[2]);
                (up - down) / (2.0 * h as f64)
            };
            for (which, analytic) in [(0, &gx), (1, &ggamma), (2, &gbeta)] {
                for (i, a) in analytic.iter().enumerate() {
                    let n = numeric(which, i);
                    // The loss is quadratic-ish in x over ±h: central differences carry O(h²).
                    assert!(
                        (*a as f64 - n).abs() <= 2e-3 * (1.0 + n.abs()),
                        "{which} [{i}] {s:?}: {a} vs {n}"
                    );
                }
            }
        }
    }
}
