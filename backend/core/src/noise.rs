//! The random numbers of initialisation, dropout and attack starts: drawn on the host from one
//! seeded stream and uploaded to the device.
//!
//! A backend's own RNG differs per backend (Burn's GPU backends draw on the device with another
//! generator), so drawing there would make a run on `--device wgpu` a different experiment from
//! the same run on the CPU. Drawn here, every device sees the same numbers and the two agree up to
//! float rounding. The model is Burn's: one stream per process, re-seeded by whoever needs a
//! reproducible sequence (a training step, an evaluated batch), which is also why a worker
//! process runs one job. The generator and sampler are exactly those of Burn's CPU backend
//! (`StdRng::seed_from_u64`, `TensorData::random`), so CPU runs draw what they always drew.

use std::sync::Mutex;

use burn::prelude::*;
use burn::tensor::Distribution;
use rand::SeedableRng;
use rand::rngs::StdRng;

/// The process's stream; `None` until the first [`seed`] (then it starts from seed 0).
static STREAM: Mutex<Option<StdRng>> = Mutex::new(None);

/// Restarts the stream from `seed`.
pub fn seed(seed: u64) {
    *lock() = Some(StdRng::seed_from_u64(seed));
}

/// The next `shape.product()` draws from `distribution`, as an f32 tensor on `device`.
pub fn random<const D: usize>(
    shape: [usize; D],
    distribution: Distribution,
    device: &Device,
) -> Tensor<D> {
    let mut stream = lock();
    let rng = stream.get_or_insert_with(|| StdRng::seed_from_u64(0));
    Tensor::from_data(TensorData::random::<f32, _, _>(shape, distribution, rng), device)
}

fn lock() -> std::sync::MutexGuard<'static, Option<StdRng>> {
    // A panic while drawing leaves the generator in a valid state: keep using it.
    STREAM.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Burn's CPU backend drew with the same seed: CPU runs are unchanged by drawing here.
    #[test]
    fn draws_what_the_cpu_backend_drew() {
        let device = Device::flex();
        for distribution in [
            Distribution::Uniform(-1.0, 1.0),
            Distribution::Normal(0.0, 0.001),
            Distribution::Bernoulli(0.8),
        ] {
            device.seed(17);
            let burn = Tensor::<3>::random([2, 3, 5], distribution, &device);
            seed(17);
            let ours = random([2, 3, 5], distribution, &device);
            assert_eq!(ours.into_data(), burn.into_data(), "{distribution:?}");
        }
    }

    #[test]
    fn a_seed_restarts_the_stream() {
        let device = Device::flex();
        seed(3);
        let first = random([4, 4], Distribution::Default, &device).into_data();
        let _ = random([4, 4], Distribution::Default, &device);
        seed(3);
        assert_eq!(random([4, 4], Distribution::Default, &device).into_data(), first);
    }
}
