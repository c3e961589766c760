//! Batches for training and evaluation, made on worker threads ahead of the training thread.
//!
//! Determinism: epoch `e`'s order is a permutation drawn from (seed, e), and batch `b`'s
//! augmentation from (seed, e, b). Worker `w` of `W` makes batches `w, w + W, …` and the epoch
//! hands them out in order, so the batches are the same for any number of workers. Each worker
//! has a bounded channel: at most `prefetch` finished batches (rounded up to a multiple of the
//! workers) wait, plus one in the making per worker.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;

use burn::prelude::{Device, Int, Tensor, TensorData};
use rand::RngExt;

use proard_shared::genome::seeded_rng;

use super::augment::{Crop, write_image};
use super::{DataError, ImageSet, ImageShape, Split, stream_seed};

/// Seed of the BN-calibration subset (the reference's `SUB_SEED`).
pub const CALIBRATION_SEED: u64 = 937_162_211;
/// Images in the calibration subset (the reference's `eval_ofa_net.py`; its progressive training
/// uses 4000).
pub const CALIBRATION_IMAGES: usize = 2000;
/// Batch size of the calibration subset.
pub const CALIBRATION_BATCH: usize = 200;
/// Seed of the test subset that validation and student evaluation use when told to take fewer
/// than all test images.
pub const TEST_SUBSET_SEED: u64 = 4_120_771;

/// Independent draws for each purpose, so that turning augmentation on or off keeps the order.
const SHUFFLE_STREAM: u64 = 1;
const AUGMENT_STREAM: u64 = 2;

/// What a loader yields and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoaderConfig {
    /// Images per batch (at least 1).
    pub batch: usize,
    pub seed: u64,
    /// A new seeded permutation every epoch; otherwise the split's order.
    pub shuffle: bool,
    /// Random crop with zero padding and horizontal flip ([`super::augment`]).
    pub augment: bool,
    /// Leave out the last batch when it is smaller than `batch`.
    pub drop_last: bool,
    /// Threads making batches (at least 1).
    pub workers: usize,
    /// Finished batches that may wait for the training thread (at least 1).
    pub prefetch: usize,
}

impl LoaderConfig {
    /// Training: shuffled, augmented, the last partial batch dropped.
    pub fn train(batch: usize, seed: u64) -> Self {
        LoaderConfig {
            batch,
            seed,
            shuffle: true,
            augment: true,
            drop_last: true,
            workers: default_workers(),
            prefetch: 4,
        }
    }

    /// Evaluation: every image once, in order, as it is.
    pub fn eval(batch: usize) -> Self {
        LoaderConfig { shuffle: false, augment: false, drop_last: false, ..Self::train(batch, 0) }
    }
}

/// One core is left to the training thread.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).saturating_sub(1).max(1)
}

/// Images as f32 in [0, 1], N×C×H×W, with their labels and their indices in the split.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub images: Vec<f32>,
    pub labels: Vec<i32>,
    pub indices: Vec<usize>,
    pub shape: ImageShape,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The images as an N×C×H×W tensor and the labels, on `device`.
    pub fn tensors(&self, device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
        let [c, h, w] = self.shape.as_array();
        let images =
            Tensor::from_data(TensorData::new(self.images.clone(), [self.len(), c, h, w]), device);
        let labels = Tensor::from_data(TensorData::new(self.labels.clone(), [self.len()]), device);
        (images, labels)
    }
}

/// Makes the batch of `indices`; with `augment`, each image's crop is drawn from the stream.
fn make_batch(set: &ImageSet, split: Split, indices: &[usize], augment: Option<u64>) -> Batch {
    let shape = set.shape();
    let mut rng = augment.map(seeded_rng);
    let mut images = vec![0f32; indices.len() * shape.values_per_image()];
    for (&index, out) in indices.iter().zip(images.chunks_exact_mut(shape.values_per_image())) {
        let crop = rng.as_mut().map_or(Crop::IDENTITY, Crop::random);
        write_image(set.image(split, index), shape, crop, out);
    }
    let labels = indices.iter().map(|&i| set.label(split, i) as i32).collect();
    Batch { images, labels, indices: indices.to_vec(), shape }
}

/// A uniformly random permutation of `0..n` (Fisher–Yates, indices drawn as u32).
pub(crate) fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut rng = seeded_rng(seed);
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, rng.random_range(0..=i as u32) as usize);
    }
    order
}

/// Batches of one split of a set, epoch after epoch.
#[derive(Clone, Debug)]
pub struct Loader {
    set: Arc<ImageSet>,
    split: Split,
    config: LoaderConfig,
}

impl Loader {
    /// # Panics
    /// When `config.batch` is 0. Zero workers or prefetch count as one.
    pub fn new(set: Arc<ImageSet>, split: Split, config: LoaderConfig) -> Self {
        assert!(config.batch > 0, "a batch has at least one image");
        let config = LoaderConfig {
            workers: config.workers.max(1),
            prefetch: config.prefetch.max(1),
            ..config
        };
        Loader { set, split, config }
    }

    pub fn config(&self) -> &LoaderConfig {
        &self.config
    }

    /// Batches per epoch.
    pub fn batches(&self) -> usize {
        let n = self.set.split(self.split).len();
        if self.config.drop_last { n / self.config.batch } else { n.div_ceil(self.config.batch) }
    }

    /// Images per epoch.
    pub fn images(&self) -> usize {
        let n = self.set.split(self.split).len();
        if self.config.drop_last { self.batches() * self.config.batch } else { n }
    }

    /// The split's indices in the order epoch `epoch` visits them.
    pub fn order(&self, epoch: u64) -> Vec<usize> {
        let n = self.set.split(self.split).len();
        if self.config.shuffle {
            permutation(n, stream_seed(&[self.config.seed, SHUFFLE_STREAM, epoch]))
        } else {
            (0..n).collect()
        }
    }

    /// Starts the workers of epoch `epoch`; the batches come in order.
    pub fn epoch(&self, epoch: u64) -> Epoch {
        let batches = self.batches();
        let order: Arc<[usize]> = self.order(epoch).into();
        let workers = self.config.workers.min(batches);
        let capacity = self.config.prefetch.div_ceil(workers.max(1));
        let mut receivers = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for worker in 0..workers {
            let (sender, receiver) = sync_channel(capacity);
            let (set, order, split, config) =
                (Arc::clone(&self.set), Arc::clone(&order), self.split, self.config);
            let handle = std::thread::Builder::new()
                .name(format!("loader-{worker}"))
                .spawn(move || {
                    for b in (worker..batches).step_by(workers) {
                        let end = ((b + 1) * config.batch).min(order.len());
                        let augment = config
                            .augment
                            .then(|| stream_seed(&[config.seed, AUGMENT_STREAM, epoch, b as u64]));
                        let batch = make_batch(&set, split, &order[b * config.batch..end], augment);
                        if sender.send(batch).is_err() {
                            return; // The epoch was dropped before its end.
                        }
                    }
                })
                .expect("the system can start a thread");
            receivers.push(receiver);
            handles.push(Some(handle));
        }
        Epoch { receivers, handles, next: 0, batches }
    }
}

/// The batches of one epoch, in order. Dropping it stops its workers.
pub struct Epoch {
    receivers: Vec<Receiver<Batch>>,
    handles: Vec<Option<JoinHandle<()>>>,
    next: usize,
    batches: usize,
}

impl Iterator for Epoch {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        if self.next == self.batches {
            return None;
        }
        let worker = self.next % self.receivers.len();
        match self.receivers[worker].recv() {
            Ok(batch) => {
                self.next += 1;
                Some(batch)
            }
            // A worker only hangs up early when it panicked: pass the panic on.
            Err(_) => {
                let handle = self.handles[worker].take().expect("a worker is joined once");
                match handle.join() {
                    Err(panic) => std::panic::resume_unwind(panic),
                    Ok(()) => unreachable!("a worker sends all its batches before it ends"),
                }
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.batches - self.next;
        (left, Some(left))
    }
}

impl ExactSizeIterator for Epoch {}

impl Drop for Epoch {
    fn drop(&mut self) {
        // Hanging up first wakes the workers blocked on a full channel.
        self.receivers.clear();
        for handle in self.handles.iter_mut().filter_map(Option::take) {
            // A worker's panic was already passed on by `next`, or nobody asked for its batch.
            let _ = handle.join();
        }
    }
}

/// The fixed images BatchNorm statistics are re-calibrated on (docs/method.md, "BatchNorm
/// re-calibration"): the first `n` indices of a seeded permutation of the training split, with
/// training augmentation drawn once, in batches of `batch` (the last one smaller when `batch`
/// does not divide `n`).
/// Equal to the first `n` images of epoch 0 of a training loader with this seed and batch.
pub fn calibration_subset(
    set: &ImageSet,
    n: usize,
    batch: usize,
    seed: u64,
) -> Result<Vec<Batch>, DataError> {
    assert!(batch > 0, "a batch has at least one image");
    let available = set.split(Split::Train).len();
    if n > available {
        return Err(DataError::CalibrationSize { requested: n, available });
    }
    let order = permutation(available, stream_seed(&[seed, SHUFFLE_STREAM, 0]));
    Ok(order[..n]
        .chunks(batch)
        .enumerate()
        .map(|(b, indices)| {
            let augment = stream_seed(&[seed, AUGMENT_STREAM, 0, b as u64]);
            make_batch(set, Split::Train, indices, Some(augment))
        })
        .collect())
}

/// At most `n` test images in batches of `batch`, plain: all of them when `n` covers the split,
/// else a fixed seeded choice kept in split order. Test splits are often stored class by class,
/// so the first `n` images would measure only the first classes.
pub fn test_subset(set: &ImageSet, n: usize, batch: usize) -> Vec<Batch> {
    assert!(batch > 0, "a batch has at least one image");
    let available = set.split(Split::Test).len();
    seeded_choice(available, n, stream_seed(&[TEST_SUBSET_SEED, SHUFFLE_STREAM]))
        .chunks(batch)
        .map(|chunk| make_batch(set, Split::Test, chunk, None))
        .collect()
}

/// `n` of the indices `0..available` (all when `n` covers them), drawn uniformly by `seed` and
/// kept in order.
pub(crate) fn seeded_choice(available: usize, n: usize, seed: u64) -> Vec<usize> {
    if n >= available {
        return (0..available).collect();
    }
    let mut chosen = permutation(available, seed);
    chosen.truncate(n);
    chosen.sort_unstable();
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Images;

    #[test]
    fn permutations_are_permutations_and_depend_on_the_seed() {
        let a = permutation(1000, 1);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
        assert_ne!(a, permutation(1000, 2));
        assert_eq!(a, permutation(1000, 1));
        assert!(permutation(0, 1).is_empty());
    }

    /// A test split stored class by class, as image folders are: 100 images of each of 10 classes.
    fn class_ordered_set() -> ImageSet {
        let shape = ImageShape { channels: 1, height: 2, width: 2 };
        let labels: Vec<u32> = (0..1000).map(|i| i / 100).collect();
        let images = |labels: &[u32]| {
            let pixels = labels.iter().flat_map(|&l| [l as u8; 4]).collect();
            Images::new(pixels, labels.to_vec(), shape)
        };
        let classes = (0..10).map(|c| format!("class-{c}")).collect();
        ImageSet::new(classes, shape, images(&labels[..10]), images(&labels))
    }

    #[test]
    fn a_test_subset_spans_the_classes_in_split_order_and_is_fixed() {
        let set = class_ordered_set();
        let subset = test_subset(&set, 100, 32);
        assert_eq!(subset.iter().map(Batch::len).collect::<Vec<_>>(), [32, 32, 32, 4]);
        let indices: Vec<usize> = subset.iter().flat_map(|b| b.indices.clone()).collect();
        assert!(indices.windows(2).all(|w| w[0] < w[1]), "split order, no repeats");
        let mut per_class = [0usize; 10];
        for &i in &indices {
            per_class[set.label(Split::Test, i) as usize] += 1;
        }
        // The first 100 images would be class 0 only; a uniform choice gives about 10 of each.
        assert!(per_class.iter().all(|&n| (3..=20).contains(&n)), "{per_class:?}");
        let again: Vec<usize> =
            test_subset(&set, 100, 7).iter().flat_map(|b| b.indices.clone()).collect();
        assert_eq!(indices, again, "the choice does not depend on the batch size");
    }

    #[test]
    fn a_test_subset_of_at_least_the_split_is_the_split() {
        let set = class_ordered_set();
        for n in [1000, 5000, usize::MAX] {
            let indices: Vec<usize> =
                test_subset(&set, n, 300).iter().flat_map(|b| b.indices.clone()).collect();
            assert_eq!(indices, (0..1000).collect::<Vec<_>>());
        }
    }
}
