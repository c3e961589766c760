//! Image data: readers for CIFAR binaries, image folders and a synthetic set, the official
//! archive download, and the training loader (docs/data.md).
//!
//! Every reader produces one [`ImageSet`]: both splits decoded once into memory as u8 CHW
//! pixels (50 000 CIFAR images take 150 MB as u8, 600 MB as f32). The loader turns them into
//! f32 batches in [0, 1] on worker threads. There is no normalisation: attack budgets (ε) are in
//! pixel units.
//!
//! * [`spec`] — `synthetic`, `cifar10:<dir>`, `cifar100:<dir>`, `folder:<dir>`;
//! * [`cifar`] — the official CIFAR-10/100 binary files;
//! * [`folder`] — `root/{train,test}/<class>/*.png|jpg`;
//! * [`synthetic`] — a seeded, learnable 10-class set that needs no download;
//! * [`fetch`] — download, MD5 check and extraction of the official archives;
//! * [`augment`] — random crop with zero padding and horizontal flip;
//! * [`loader`] — seeded, prefetching batch loader and the BN-calibration subset;
//! * [`check`] — `proard data check` and `proard data bench`.

pub mod augment;
pub mod check;
pub mod cifar;
mod error;
pub mod fetch;
pub mod folder;
pub mod loader;
pub mod spec;
pub mod synthetic;

pub use error::DataError;

/// Channels, height and width of every image of a set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageShape {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl ImageShape {
    /// RGB images of `height`×`width`: every reader converts to three channels.
    pub const fn rgb(height: usize, width: usize) -> Self {
        ImageShape { channels: 3, height, width }
    }

    /// Values (bytes or floats) per image.
    pub const fn values_per_image(&self) -> usize {
        self.channels * self.height * self.width
    }

    pub const fn as_array(&self) -> [usize; 3] {
        [self.channels, self.height, self.width]
    }
}

/// The training or the test split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    Train,
    Test,
}

impl Split {
    pub const fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

/// The images of one split: u8 pixels, image after image, each CHW (R plane, G plane, B plane).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Images {
    pixels: Vec<u8>,
    labels: Vec<u32>,
}

impl Images {
    /// `pixels` holds `labels.len()` images of `shape`, back to back.
    ///
    /// # Panics
    /// When the lengths disagree: readers compute both, so that is a bug, not bad input.
    pub fn new(pixels: Vec<u8>, labels: Vec<u32>, shape: ImageShape) -> Self {
        assert_eq!(
            pixels.len(),
            labels.len() * shape.values_per_image(),
            "one image of pixels per label"
        );
        Images { pixels, labels }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn labels(&self) -> &[u32] {
        &self.labels
    }

    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }
}

/// A classification data set held in memory: class names, image shape, both splits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSet {
    classes: Vec<String>,
    shape: ImageShape,
    train: Images,
    test: Images,
}

impl ImageSet {
    /// # Panics
    /// When a split does not hold images of `shape` or a label has no class: readers check
    /// their input before building the set, so either is a bug.
    pub fn new(classes: Vec<String>, shape: ImageShape, train: Images, test: Images) -> Self {
        for images in [&train, &test] {
            assert_eq!(
                images.pixels.len(),
                images.len() * shape.values_per_image(),
                "images of one shape"
            );
            assert!(images.labels.iter().all(|&l| (l as usize) < classes.len()), "known labels");
        }
        ImageSet { classes, shape, train, test }
    }

    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    pub fn shape(&self) -> ImageShape {
        self.shape
    }

    pub fn split(&self, split: Split) -> &Images {
        match split {
            Split::Train => &self.train,
            Split::Test => &self.test,
        }
    }

    /// The u8 CHW pixels of image `index` of `split`.
    pub fn image(&self, split: Split, index: usize) -> &[u8] {
        let len = self.shape.values_per_image();
        &self.split(split).pixels[index * len..(index + 1) * len]
    }

    pub fn label(&self, split: Split, index: usize) -> u32 {
        self.split(split).labels[index]
    }

    /// At most `train` / `test` images of each split (all when `None`): a seeded random choice
    /// kept in the split's order, so that every class stays represented.
    pub fn subset(&self, train: Option<usize>, test: Option<usize>, seed: u64) -> ImageSet {
        let pick = |split: Split, limit: Option<usize>, stream: u64| {
            let images = self.split(split);
            let Some(limit) = limit.filter(|l| *l < images.len()) else { return images.clone() };
            let chosen = loader::seeded_choice(images.len(), limit, stream_seed(&[seed, stream]));
            let mut pixels = Vec::with_capacity(limit * self.shape.values_per_image());
            for &i in &chosen {
                pixels.extend_from_slice(self.image(split, i));
            }
            let labels = chosen.iter().map(|&i| images.labels[i]).collect();
            Images::new(pixels, labels, self.shape)
        };
        ImageSet {
            classes: self.classes.clone(),
            shape: self.shape,
            train: pick(Split::Train, train, 1),
            test: pick(Split::Test, test, 2),
        }
    }
}

/// A seed for one stream of draws, from a user seed and the coordinates of what is drawn (split,
/// image, epoch, batch): SplitMix64's finaliser folded over the parts, so that neighbouring
/// coordinates give unrelated streams and nothing depends on the order work is done in.
pub(crate) fn stream_seed(parts: &[u64]) -> u64 {
    parts.iter().fold(0x9E37_79B9_7F4A_7C15, |state, &part| {
        let mut z = (state ^ part).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_seeds_depend_on_every_part_and_its_position() {
        let seeds = [
            stream_seed(&[0, 0, 0]),
            stream_seed(&[0, 0, 1]),
            stream_seed(&[0, 1, 0]),
            stream_seed(&[1, 0, 0]),
            stream_seed(&[0, 0]),
        ];
        for (i, a) in seeds.iter().enumerate() {
            for b in &seeds[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(stream_seed(&[7, 3]), stream_seed(&[7, 3]));
    }
}
