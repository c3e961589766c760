//! `proard data check` (what a data set holds, and a checksum of what the loader makes of it)
//! and `proard data bench` (how fast the loader makes training batches).

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use super::loader::{Batch, Loader, LoaderConfig};
use super::spec::DataSpec;
use super::{DataError, ImageSet, Split};

/// The batch the checksum covers: the first training batch of this size, for this seed, with
/// augmentation off.
pub const CHECK_BATCH: usize = 128;
pub const CHECK_SEED: u64 = 0;

/// What `proard data check --json` prints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DataCheck {
    pub classes: Vec<String>,
    pub train: usize,
    pub test: usize,
    pub image_shape: [usize; 3],
    /// [`batch_checksum`] of the first batch of a shuffled training loader (batch
    /// [`CHECK_BATCH`], seed [`CHECK_SEED`], epoch 0, no augmentation; smaller when the split
    /// is).
    pub first_batch_checksum: String,
}

pub fn check(set: Arc<ImageSet>) -> DataCheck {
    let classes = set.classes().to_vec();
    let (train, test) = (set.split(Split::Train).len(), set.split(Split::Test).len());
    let image_shape = set.shape().as_array();
    let config = LoaderConfig {
        augment: false,
        drop_last: false,
        workers: 1,
        ..LoaderConfig::train(CHECK_BATCH, CHECK_SEED)
    };
    let first = Loader::new(set, Split::Train, config).epoch(0).next();
    DataCheck {
        classes,
        train,
        test,
        image_shape,
        first_batch_checksum: first.as_ref().map_or_else(|| checksum(&[]), batch_checksum),
    }
}

/// FNV-1a 64 of the batch's image values as little-endian f32 bytes followed by its labels as
/// little-endian i32 bytes, as 16 lower-case hex digits. It changes with any pixel, label,
/// decoding, ordering or conversion change.
pub fn batch_checksum(batch: &Batch) -> String {
    let bytes: Vec<u8> = batch
        .images
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .chain(batch.labels.iter().flat_map(|l| l.to_le_bytes()))
        .collect();
    checksum(&bytes)
}

fn checksum(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// What `proard data bench --json` prints.
#[derive(Clone, Debug, Serialize)]
pub struct LoaderBench {
    pub spec: String,
    /// Seconds to read and decode both splits into memory.
    pub load_seconds: f64,
    pub train_images: usize,
    pub batch: usize,
    pub workers: usize,
    pub prefetch: usize,
    pub epochs: u64,
    /// Images delivered (full batches only, as in training).
    pub images: usize,
    pub seconds: f64,
    /// Augmented training images per second that a consumer doing nothing else receives.
    pub images_per_second: f64,
}

/// Loads `spec`, then takes `epochs` epochs of augmented training batches as fast as they come.
pub fn bench(
    spec: &DataSpec,
    batch: usize,
    workers: usize,
    epochs: u64,
) -> Result<LoaderBench, DataError> {
    let start = Instant::now();
    let set = Arc::new(spec.load()?);
    let load_seconds = start.elapsed().as_secs_f64();
    let train_images = set.split(Split::Train).len();
    let loader =
        Loader::new(set, Split::Train, LoaderConfig { workers, ..LoaderConfig::train(batch, 0) });
    let start = Instant::now();
    let mut images = 0;
    for epoch in 0..epochs {
        images += loader.epoch(epoch).map(|b| b.len()).sum::<usize>();
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(LoaderBench {
        spec: spec.to_string(),
        load_seconds,
        train_images,
        batch,
        workers: loader.config().workers,
        prefetch: loader.config().prefetch,
        epochs,
        images,
        seconds,
        images_per_second: images as f64 / seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_reference_values() {
        // The published FNV-1a 64 test vectors.
        assert_eq!(checksum(b""), "cbf29ce484222325");
        assert_eq!(checksum(b"a"), "af63dc4c8601ec8c");
        assert_eq!(checksum(b"foobar"), "85944171f73967e8");
    }
}
