//! Data readers, loader, download and `proard data` on fixtures generated here: every format,
//! every bad input, and a small CNN learning the synthetic set.

mod support;

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use support::{failure, proard, stdout};

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;
use image::{ImageBuffer, Luma, Rgb, RgbImage, Rgba};
use md5::{Digest, Md5};
use serde_json::Value;

use proard_core::attack::cross_entropy;
use proard_core::data::augment::{Crop, PAD, write_image};
use proard_core::data::check::{batch_checksum, check};
use proard_core::data::cifar::{self, CIFAR10_CLASSES, CifarKind};
use proard_core::data::fetch::{ArchiveSource, FetchError, Fetched, MARKER, fetch};
use proard_core::data::loader::{CALIBRATION_SEED, Loader, LoaderConfig, calibration_subset};
use proard_core::data::spec::DataSpec;
use proard_core::data::synthetic::{self, SyntheticConfig};
use proard_core::data::{DataError, ImageSet, Split, folder};

// ---------------------------------------------------------------------------------------------
// Fixtures

/// Writes a complete CIFAR data folder of official sizes as sparse zero files (label 0, black
/// images), then the given records: (file, record index, label bytes, pixels).
fn write_cifar(dir: &Path, kind: CifarKind, records: &[(&str, usize, &[u8], &[u8])]) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, len) in kind.expected_files() {
        File::create(dir.join(name)).unwrap().set_len(len).unwrap();
    }
    for &(name, index, labels, pixels) in records {
        write_record(&dir.join(name), kind, index, labels, pixels);
    }
}

fn write_record(path: &Path, kind: CifarKind, index: usize, labels: &[u8], pixels: &[u8]) {
    let mut file = OpenOptions::new().write(true).open(path).unwrap();
    file.seek(SeekFrom::Start((index * kind.record_len()) as u64)).unwrap();
    file.write_all(labels).unwrap();
    file.write_all(pixels).unwrap();
}

/// 3072 distinct-looking bytes: plane `c` holds `(c * 80 + i * 7 + salt) mod 256`.
fn pattern(salt: usize) -> Vec<u8> {
    (0..3).flat_map(|c| (0..1024).map(move |i| ((c * 80 + i * 7 + salt) % 256) as u8)).collect()
}

fn set_len(path: &Path, len: u64) {
    OpenOptions::new().write(true).open(path).unwrap().set_len(len).unwrap();
}

fn load_err(result: Result<ImageSet, DataError>) -> String {
    result.expect_err("bad input must be an error").to_string()
}

/// A small RGB image whose pixel (x, y) is (x·40, y·50, base).
fn rgb_image(width: u32, height: u32, base: u8) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| Rgb([(x * 40) as u8, (y * 50) as u8, base]))
}

/// `root/{train,test}/<class>/<file>` for each entry, as 5×4 PNGs (or JPEGs by extension).
fn write_folder(root: &Path, files: &[(&str, &str, &str, u8)]) {
    for &(split, class, file, base) in files {
        let dir = root.join(split).join(class);
        std::fs::create_dir_all(&dir).unwrap();
        rgb_image(5, 4, base).save(dir.join(file)).unwrap();
    }
}

/// A folder set with two classes and one image per class and split.
fn small_folder(root: &Path) {
    write_folder(
        root,
        &[
            ("train", "cat", "0.png", 1),
            ("train", "dog", "0.png", 2),
            ("test", "cat", "0.png", 3),
            ("test", "dog", "0.png", 4),
        ],
    );
}

fn small_synthetic() -> Arc<ImageSet> {
    Arc::new(synthetic::generate(&SyntheticConfig { seed: 4, train: 1000, test: 200 }))
}

/// The u8 → f32 conversion of the loader without augmentation.
fn as_f32(pixels: &[u8]) -> Vec<f32> {
    pixels.iter().map(|&v| f32::from(v) / 255.0).collect()
}

// ---------------------------------------------------------------------------------------------
// CIFAR binaries

#[test]
fn cifar10_reads_records_in_order_from_the_official_layout() {
    let tmp = tempfile::tempdir().unwrap();
    // The layout `proard data fetch` leaves: dir/cifar-10-batches-bin/.
    let dir = tmp.path().join("cifar-10-batches-bin");
    let (first, last, test) = (pattern(1), pattern(2), pattern(3));
    write_cifar(
        &dir,
        CifarKind::Cifar10,
        &[
            ("data_batch_1.bin", 0, &[3], &first),
            ("data_batch_5.bin", 9999, &[9], &last),
            ("test_batch.bin", 5, &[7], &test),
        ],
    );
    std::fs::write(dir.join("batches.meta.txt"), "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n").unwrap();
    let set = format!("cifar10:{}", tmp.path().display()).parse::<DataSpec>().unwrap().load();
    let set = set.unwrap();
    assert_eq!(set.classes(), ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]);
    assert_eq!(set.shape().as_array(), [3, 32, 32]);
    assert_eq!((set.split(Split::Train).len(), set.split(Split::Test).len()), (50_000, 10_000));
    assert_eq!((set.label(Split::Train, 0), set.image(Split::Train, 0)), (3, &first[..]));
    assert_eq!((set.label(Split::Train, 49_999), set.image(Split::Train, 49_999)), (9, &last[..]));
    assert_eq!((set.label(Split::Test, 5), set.image(Split::Test, 5)), (7, &test[..]));
    assert_eq!((set.label(Split::Train, 1), set.image(Split::Train, 1)), (0, &[0u8; 3072][..]));

    // Without the names file the official names are used.
    std::fs::remove_file(dir.join("batches.meta.txt")).unwrap();
    let set = cifar::load(CifarKind::Cifar10, &dir).unwrap();
    assert_eq!(set.classes(), CIFAR10_CLASSES);
}

#[test]
fn cifar100_uses_fine_labels_and_its_names_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (train, test) = (pattern(5), pattern(6));
    write_cifar(
        dir,
        CifarKind::Cifar100,
        &[("train.bin", 49_999, &[19, 99], &train), ("test.bin", 0, &[4, 42], &test)],
    );
    let names: Vec<String> = (0..100).map(|i| format!("fine{i}")).collect();
    std::fs::write(dir.join("fine_label_names.txt"), names.join("\n") + "\n").unwrap();
    let set = cifar::load(CifarKind::Cifar100, dir).unwrap();
    assert_eq!(set.classes(), names);
    assert_eq!((set.split(Split::Train).len(), set.split(Split::Test).len()), (50_000, 10_000));
    assert_eq!(
        (set.label(Split::Train, 49_999), set.image(Split::Train, 49_999)),
        (99, &train[..])
    );
    assert_eq!((set.label(Split::Test, 0), set.image(Split::Test, 0)), (42, &test[..]));

    std::fs::remove_file(dir.join("fine_label_names.txt")).unwrap();
    let set = cifar::load(CifarKind::Cifar100, dir).unwrap();
    assert_eq!(set.classes()[0], "class_0");
    assert_eq!(set.classes()[99], "class_99");
}

#[test]
fn bad_cifar_files_are_errors_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let fresh = |name: &str, kind: CifarKind| {
        let dir = tmp.path().join(name);
        write_cifar(&dir, kind, &[]);
        dir
    };
    let c10 = CifarKind::Cifar10;

    let err = load_err(cifar::load(c10, &tmp.path().join("nothing")));
    assert!(err.contains("nothing/data_batch_1.bin is missing"), "{err}");
    assert!(err.contains("proard data fetch cifar10"), "{err}");

    let dir = fresh("no-test", c10);
    std::fs::remove_file(dir.join("test_batch.bin")).unwrap();
    let err = load_err(cifar::load(c10, &dir));
    assert!(err.contains("no-test/test_batch.bin is missing"), "{err}");

    let dir = fresh("truncated", c10);
    set_len(&dir.join("data_batch_3.bin"), 30_730_000 - 1);
    let err = load_err(cifar::load(c10, &dir));
    assert!(
        err.contains(
            "truncated/data_batch_3.bin: 30729999 bytes, expected 30730000 (10000 records"
        ) && err.contains("truncated or not CIFAR-10"),
        "{err}"
    );

    // One record too many is as wrong as one byte too few.
    let dir = fresh("long", c10);
    set_len(&dir.join("test_batch.bin"), 30_730_000 + 3073);
    let err = load_err(cifar::load(c10, &dir));
    assert!(err.contains("long/test_batch.bin: 30733073 bytes"), "{err}");

    let dir = fresh("label", c10);
    write_record(&dir.join("data_batch_2.bin"), c10, 17, &[10], &pattern(0));
    let err = load_err(cifar::load(c10, &dir));
    assert!(
        err.contains("label/data_batch_2.bin: record 17 has a label 10, but there are only 10"),
        "{err}"
    );

    let dir = fresh("names", c10);
    std::fs::write(dir.join("batches.meta.txt"), "only\nnine\n1\n2\n3\n4\n5\n6\n7\n").unwrap();
    let err = load_err(cifar::load(c10, &dir));
    assert!(err.contains("names/batches.meta.txt: expected 10 class names"), "{err}");
    assert!(err.contains("found 9"), "{err}");

    let c100 = CifarKind::Cifar100;
    let dir = fresh("fine", c100);
    write_record(&dir.join("test.bin"), c100, 3, &[0, 100], &pattern(0));
    let err = load_err(cifar::load(c100, &dir));
    assert!(err.contains("fine/test.bin: record 3 has fine label 100"), "{err}");

    // A CIFAR-10 folder is not CIFAR-100.
    let dir = fresh("mixed-up", c10);
    let err = load_err(cifar::load(c100, &dir));
    assert!(err.contains("mixed-up/train.bin is missing"), "{err}");

    let dir = fresh("short100", c100);
    set_len(&dir.join("train.bin"), 3074 * 49_999);
    let err = load_err(cifar::load(c100, &dir));
    assert!(err.contains("short100/train.bin: 153696926 bytes, expected 153700000"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Image folders

#[test]
fn folders_read_png_and_jpeg_with_sorted_classes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write_folder(
        root,
        &[
            ("train", "b_dog", "1.png", 11),
            ("train", "b_dog", "0.jpg", 12),
            ("train", "a_cat", "x.png", 13),
            ("train", "a_cat", "y.PNG", 14),
            ("train", "c_zebra", "0.jpeg", 15),
            ("test", "a_cat", "0.png", 16),
            ("test", "b_dog", "0.png", 17),
            ("test", "c_zebra", "0.png", 18),
        ],
    );
    // Skipped: hidden files, other extensions, files beside the class folders.
    std::fs::write(root.join("train/a_cat/.DS_Store"), b"junk").unwrap();
    std::fs::write(root.join("train/a_cat/notes.txt"), b"junk").unwrap();
    std::fs::write(root.join("test/README"), b"junk").unwrap();

    let set = folder::load(root).unwrap();
    assert_eq!(set.classes(), ["a_cat", "b_dog", "c_zebra"]);
    assert_eq!(set.shape().as_array(), [3, 4, 5]);
    assert_eq!(set.split(Split::Train).labels(), [0, 0, 1, 1, 2]);
    assert_eq!(set.split(Split::Test).labels(), [0, 1, 2]);
    // PNG is lossless: exact CHW planes.
    let chw = |base: u8| -> Vec<u8> {
        let image = rgb_image(5, 4, base);
        (0..3).flat_map(|c| image.pixels().map(move |p| p.0[c]).collect::<Vec<_>>()).collect()
    };
    assert_eq!(set.image(Split::Train, 0), chw(13)); // a_cat/x.png
    assert_eq!(set.image(Split::Train, 1), chw(14)); // a_cat/y.PNG
    assert_eq!(set.image(Split::Train, 3), chw(11)); // b_dog/1.png after b_dog/0.jpg
    assert_eq!(set.image(Split::Test, 2), chw(18));
    // JPEG is lossy: close.
    let jpeg = set.image(Split::Train, 2);
    let diff = jpeg.iter().zip(chw(12)).map(|(a, b)| (*a as i32 - b as i32).abs()).max();
    assert!(diff.unwrap() < 40, "jpeg decoded far from its source: {diff:?}");
}

#[test]
fn grayscale_alpha_and_16_bit_images_are_converted_to_rgb() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    small_folder(root);
    let gray = ImageBuffer::from_fn(5, 4, |x, _| Luma([(x * 60) as u8]));
    gray.save(root.join("train/cat/1.png")).unwrap();
    let rgba = ImageBuffer::from_fn(5, 4, |x, y| Rgba([x as u8, y as u8, 200, 7]));
    rgba.save(root.join("train/dog/1.png")).unwrap();
    let wide = ImageBuffer::from_fn(5, 4, |_, _| Rgb([0xFFFFu16, 0x8080, 0]));
    wide.save(root.join("test/dog/1.png")).unwrap();

    let set = folder::load(root).unwrap();
    let gray_chw: Vec<u8> = (0..3).flat_map(|_| gray.pixels().map(|p| p.0[0])).collect();
    assert_eq!(set.image(Split::Train, 1), gray_chw);
    let rgba_chw: Vec<u8> = (0..3).flat_map(|c| rgba.pixels().map(move |p| p.0[c])).collect();
    assert_eq!(set.image(Split::Train, 3), rgba_chw);
    let wide_chw: Vec<u8> = [255u8, 128, 0].iter().flat_map(|&v| [v; 20]).collect();
    assert_eq!(set.image(Split::Test, 2), wide_chw);
}

#[test]
fn bad_folders_are_errors_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let fresh = |name: &str| {
        let root = tmp.path().join(name);
        small_folder(&root);
        root
    };

    let err = load_err(folder::load(&tmp.path().join("absent")));
    assert!(err.contains("absent is missing"), "{err}");

    let root = fresh("no-test");
    std::fs::remove_dir_all(root.join("test")).unwrap();
    let err = load_err(folder::load(&root));
    assert!(err.contains("no-test/test is missing"), "{err}");

    let root = fresh("no-classes");
    std::fs::remove_dir_all(root.join("train")).unwrap();
    std::fs::create_dir(root.join("train")).unwrap();
    let err = load_err(folder::load(&root));
    assert!(err.contains("no-classes/train: no class folders"), "{err}");

    let root = fresh("empty-class");
    std::fs::create_dir(root.join("test/cat/sub")).unwrap();
    std::fs::remove_file(root.join("test/cat/0.png")).unwrap();
    std::fs::write(root.join("test/cat/readme.txt"), b"no images here").unwrap();
    let err = load_err(folder::load(&root));
    assert!(err.contains("empty-class/test/cat: no .png, .jpg or .jpeg images"), "{err}");

    let root = fresh("mismatch");
    write_folder(&root, &[("test", "emu", "0.png", 0)]);
    let err = load_err(folder::load(&root));
    assert!(err.contains("different classes"), "{err}");
    assert!(err.contains(r#"only in test: ["emu"]"#), "{err}");

    let root = fresh("garbage");
    std::fs::write(root.join("train/dog/1.png"), b"this is not a png").unwrap();
    let err = load_err(folder::load(&root));
    assert!(err.contains("garbage/train/dog/1.png: cannot decode the image"), "{err}");

    let root = fresh("truncated");
    let bytes = std::fs::read(root.join("test/cat/0.png")).unwrap();
    std::fs::write(root.join("test/cat/0.png"), &bytes[..bytes.len() / 2]).unwrap();
    let err = load_err(folder::load(&root));
    assert!(err.contains("truncated/test/cat/0.png: cannot decode the image"), "{err}");

    let root = fresh("size");
    rgb_image(6, 4, 0).save(root.join("test/dog/1.png")).unwrap();
    let err = load_err(folder::load(&root));
    assert!(
        err.contains("size/test/dog/1.png: image is 6×4, but")
            && err.contains("size/train/cat/0.png is 5×4")
            && err.contains("not resized"),
        "{err}"
    );
}

#[test]
fn the_first_bad_file_is_reported_whatever_the_thread_timing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let files: Vec<String> = (0..200).map(|i| format!("{i:03}.png")).collect();
    for split in ["train", "test"] {
        for file in &files {
            write_folder(root, &[(split, "only", file, 0)]);
        }
    }
    for bad in ["150.png", "050.png", "199.png"] {
        std::fs::write(root.join("train/only").join(bad), b"bad").unwrap();
    }
    for _ in 0..5 {
        let err = load_err(folder::load(root));
        assert!(err.contains("only/050.png"), "{err}");
    }
}

// ---------------------------------------------------------------------------------------------
// Synthetic set

#[test]
fn synthetic_set_is_seeded_balanced_and_in_range() {
    let config = SyntheticConfig { seed: 9, train: 300, test: 50 };
    let a = synthetic::generate(&config);
    assert_eq!(a, synthetic::generate(&config));
    assert_ne!(a, synthetic::generate(&SyntheticConfig { seed: 10, ..config }));
    assert_eq!(a.classes(), synthetic::CLASSES);
    assert_eq!(a.shape().as_array(), [3, 32, 32]);
    assert_eq!((a.split(Split::Train).len(), a.split(Split::Test).len()), (300, 50));
    for class in 0..10 {
        assert_eq!(a.split(Split::Train).labels().iter().filter(|&&l| l == class).count(), 30);
    }
    // Images are generated one by one: a larger set starts with the same images.
    let larger = synthetic::generate(&SyntheticConfig { train: 400, ..config });
    assert_eq!(larger.image(Split::Train, 299), a.image(Split::Train, 299));
    // Test images are not training images.
    assert_ne!(a.image(Split::Test, 0), a.image(Split::Train, 0));
    let default = DataSpec::Synthetic.load().unwrap();
    assert_eq!(default, synthetic::generate(&SyntheticConfig::default()));
    assert_eq!((default.split(Split::Train).len(), default.split(Split::Test).len()), (5000, 1000));
}

/// Two convolutions and a linear layer: enough for the synthetic shapes, not for memorising.
#[derive(Module, Debug)]
struct SmallCnn {
    conv1: Conv2d,
    conv2: Conv2d,
    pool: MaxPool2d,
    squeeze: AdaptiveAvgPool2d,
    head: Linear,
}

impl SmallCnn {
    fn new(device: &Device) -> Self {
        let conv = |i, o| {
            Conv2dConfig::new([i, o], [3, 3]).with_padding(PaddingConfig2d::Same).init(device)
        };
        SmallCnn {
            conv1: conv(3, 16),
            conv2: conv(16, 32),
            pool: MaxPool2dConfig::new([2, 2]).init(),
            squeeze: AdaptiveAvgPool2dConfig::new([4, 4]).init(),
            head: LinearConfig::new(32 * 16, 10).init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = self.pool.forward(relu(self.conv1.forward(x)));
        let x = self.squeeze.forward(relu(self.conv2.forward(x)));
        self.head.forward(x.flatten(1, 3))
    }
}

#[test]
fn a_small_cnn_learns_the_synthetic_set() {
    const STEPS: usize = 300;
    let set = Arc::new(synthetic::generate(&SyntheticConfig { seed: 1, train: 4000, test: 500 }));
    let device = Device::flex().autodiff();
    device.seed(1);
    let mut model = SmallCnn::new(&device);
    let momentum = MomentumConfig::new().with_momentum(0.9).with_dampening(0.0);
    let mut optim = SgdConfig::new().with_momentum(Some(momentum)).init();
    let train = Loader::new(set.clone(), Split::Train, LoaderConfig::train(64, 1));
    let mut step = 0;
    'training: for epoch in 0.. {
        for batch in train.epoch(epoch) {
            let (x, y) = batch.tensors(&device);
            let loss = cross_entropy(model.forward(x), y);
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(0.05, model, grads);
            step += 1;
            if step == STEPS {
                break 'training;
            }
        }
    }
    let frozen = model.valid();
    let plain = Device::flex();
    let mut correct = 0;
    for batch in Loader::new(set.clone(), Split::Test, LoaderConfig::eval(250)).epoch(0) {
        let (x, _) = batch.tensors(&plain);
        let predicted = frozen.forward(x).argmax(1).try_into_vec_as::<i64>().unwrap();
        correct += predicted.iter().zip(&batch.labels).filter(|(p, l)| **p == **l as i64).count();
    }
    let accuracy = correct as f64 / set.split(Split::Test).len() as f64;
    assert!(accuracy >= 0.5, "test accuracy {accuracy} after {STEPS} steps (chance is 0.1)");
}

// ---------------------------------------------------------------------------------------------
// Loader

fn collect(loader: &Loader, epoch: u64) -> Vec<proard_core::data::loader::Batch> {
    loader.epoch(epoch).collect()
}

#[test]
fn training_batches_depend_on_the_seed_only_not_on_the_workers() {
    let set = small_synthetic();
    let config = LoaderConfig::train(64, 5);
    let one =
        Loader::new(set.clone(), Split::Train, LoaderConfig { workers: 1, prefetch: 1, ..config });
    let three =
        Loader::new(set.clone(), Split::Train, LoaderConfig { workers: 3, prefetch: 7, ..config });
    let epoch0 = collect(&one, 0);
    assert_eq!(epoch0, collect(&three, 0));
    assert_eq!(collect(&one, 1), collect(&three, 1));
    assert_ne!(epoch0, collect(&one, 1));
    let other_seed = Loader::new(set.clone(), Split::Train, LoaderConfig::train(64, 6));
    assert_ne!(epoch0, collect(&other_seed, 0));

    // 1000 images in batches of 64: 15 full batches, the last 40 images dropped.
    assert_eq!((one.batches(), one.images(), epoch0.len()), (15, 960, 15));
    let mut seen: Vec<usize> = epoch0.iter().flat_map(|b| b.indices.clone()).collect();
    assert_eq!(seen, one.order(0)[..960]);
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 960, "no image twice in an epoch");
    for batch in &epoch0 {
        assert_eq!((batch.len(), batch.images.len()), (64, 64 * 3072));
        assert!(batch.images.iter().all(|v| (0.0..=1.0).contains(v)));
        let labels: Vec<i32> =
            batch.indices.iter().map(|&i| set.label(Split::Train, i) as i32).collect();
        assert_eq!(batch.labels, labels);
    }

    // Augmentation draws from its own stream: the order stays when it is off.
    let plain = Loader::new(set.clone(), Split::Train, LoaderConfig { augment: false, ..config });
    let plain0 = collect(&plain, 0);
    assert_eq!(plain0[3].indices, epoch0[3].indices);
    assert_ne!(plain0[3].images, epoch0[3].images);
    assert_eq!(
        plain0[3].images,
        as_f32(set.image(Split::Train, plain0[3].indices[0]))
            .into_iter()
            .chain(plain0[3].indices[1..].iter().flat_map(|&i| as_f32(set.image(Split::Train, i))))
            .collect::<Vec<_>>()
    );
}

#[test]
fn evaluation_batches_are_every_image_in_order() {
    let set = small_synthetic();
    let loader = Loader::new(set.clone(), Split::Test, LoaderConfig::eval(64));
    let batches = collect(&loader, 0);
    assert_eq!((loader.batches(), loader.images()), (4, 200));
    assert_eq!(batches.iter().map(|b| b.len()).collect::<Vec<_>>(), [64, 64, 64, 8]);
    let indices: Vec<usize> = batches.iter().flat_map(|b| b.indices.clone()).collect();
    assert_eq!(indices, (0..200).collect::<Vec<_>>());
    assert_eq!(batches[3].images, as_f32(&set.split(Split::Test).pixels()[192 * 3072..]));
    assert_eq!(batches, collect(&loader, 7), "no shuffling, no augmentation");
}

#[test]
fn augmentation_is_a_zero_padded_crop_and_a_flip_of_the_image() {
    let set = small_synthetic();
    let loader = Loader::new(set.clone(), Split::Train, LoaderConfig::train(100, 2));
    let batch = loader.epoch(0).next().unwrap();
    let shape = set.shape();
    let mut crops = std::collections::HashSet::new();
    for (image, &index) in batch.images.chunks_exact(shape.values_per_image()).zip(&batch.indices) {
        let source = set.image(Split::Train, index);
        let found = (-PAD..=PAD)
            .flat_map(|dy| {
                (-PAD..=PAD).flat_map(move |dx| [false, true].map(|flip| Crop { dy, dx, flip }))
            })
            .find(|&crop| {
                let mut out = vec![0f32; shape.values_per_image()];
                write_image(source, shape, crop, &mut out);
                out == image
            });
        crops.insert(found.expect("every augmented image is a crop of its source"));
    }
    assert!(crops.len() > 50, "crops vary: {} distinct in 100 images", crops.len());
    assert!(crops.iter().any(|c| c.flip) && crops.iter().any(|c| !c.flip));
}

#[test]
fn dropping_an_epoch_early_stops_its_workers() {
    let set = small_synthetic();
    let loader = Loader::new(
        set,
        Split::Train,
        LoaderConfig { workers: 3, prefetch: 1, ..LoaderConfig::train(10, 0) },
    );
    let mut epoch = loader.epoch(0);
    assert_eq!(epoch.len(), 100);
    assert!(epoch.next().is_some());
    drop(epoch); // would hang if a worker stayed blocked on its full channel
    assert_eq!(loader.epoch(1).take(2).count(), 2);
}

#[test]
fn calibration_subset_is_fixed_augmented_training_images() {
    let set = small_synthetic();
    let batches = calibration_subset(&set, 450, 200, CALIBRATION_SEED).unwrap();
    assert_eq!(batches.iter().map(|b| b.len()).collect::<Vec<_>>(), [200, 200, 50]);
    assert_eq!(batches, calibration_subset(&set, 450, 200, CALIBRATION_SEED).unwrap());
    assert_ne!(batches, calibration_subset(&set, 450, 200, 1).unwrap());
    // The first 450 images of a training loader's epoch 0 with the same seed and batch.
    let loader = Loader::new(set.clone(), Split::Train, LoaderConfig::train(200, CALIBRATION_SEED));
    let epoch: Vec<_> = loader.epoch(0).take(3).collect();
    assert_eq!(batches[..2], epoch[..2]);
    assert_eq!(batches[2].indices, epoch[2].indices[..50]);
    assert_eq!(batches[2].images, epoch[2].images[..50 * 3072]);
    let mut indices: Vec<usize> = batches.iter().flat_map(|b| b.indices.clone()).collect();
    indices.sort_unstable();
    indices.dedup();
    assert_eq!(indices.len(), 450);

    let err = calibration_subset(&set, 1001, 200, CALIBRATION_SEED).unwrap_err().to_string();
    assert!(err.contains("asks for 1001 images, but the training split has only 1000"), "{err}");
}

#[test]
fn batches_become_nchw_tensors() {
    let set = small_synthetic();
    let batch = Loader::new(set, Split::Test, LoaderConfig::eval(8)).epoch(0).next().unwrap();
    let (x, y) = batch.tensors(&Device::flex());
    assert_eq!((x.dims(), y.dims()), ([8, 3, 32, 32], [8]));
    assert_eq!(x.try_into_vec_as::<f32>().unwrap(), batch.images);
    assert_eq!(
        y.try_into_vec_as::<i64>().unwrap(),
        batch.labels.iter().map(|&l| l as i64).collect::<Vec<_>>()
    );
}

#[test]
fn the_check_checksum_follows_the_pixels() {
    let tmp = tempfile::tempdir().unwrap();
    small_folder(tmp.path());
    let before = check(Arc::new(folder::load(tmp.path()).unwrap()));
    assert_eq!(before, check(Arc::new(folder::load(tmp.path()).unwrap())));
    assert_eq!((before.train, before.test, before.image_shape), (2, 2, [3, 4, 5]));
    assert_eq!(before.first_batch_checksum.len(), 16);
    rgb_image(5, 4, 99).save(tmp.path().join("train/dog/0.png")).unwrap();
    let after = check(Arc::new(folder::load(tmp.path()).unwrap()));
    assert_ne!(before.first_batch_checksum, after.first_batch_checksum);

    let set = small_synthetic();
    let loader = Loader::new(
        set.clone(),
        Split::Train,
        LoaderConfig { augment: false, ..LoaderConfig::train(128, 0) },
    );
    assert_eq!(check(set).first_batch_checksum, batch_checksum(&loader.epoch(0).next().unwrap()));
}

// ---------------------------------------------------------------------------------------------
// Download

/// A loopback HTTP server answering GET `/<name>` with the file's bytes; counts requests.
struct TestServer {
    base: String,
    requests: Arc<AtomicUsize>,
}

fn serve(files: Vec<(&'static str, Arc<Vec<u8>>)>) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    // The thread ends with the test process; it only ever talks to this test's client.
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut header = String::new();
            while reader.read_line(&mut header).unwrap() > 2 {
                header.clear();
            }
            counter.fetch_add(1, Ordering::SeqCst);
            let path = request_line.split_whitespace().nth(1).unwrap_or("");
            match files.iter().find(|(name, _)| path == format!("/{name}")) {
                Some((_, body)) => {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/gzip\r\nContent-Length: \
                         {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    // The client may hang up early (e.g. after an error); that is its business.
                    let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body));
                }
                None => {
                    let _ = stream.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                }
            }
        }
    });
    TestServer { base, requests }
}

fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A tar.gz laid out like the official CIFAR-10 archive (zero-filled data files of official
/// sizes), leaving out `skip`.
fn cifar10_archive(skip: Option<&str>) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let mut append = |name: &str, len: u64, data: &mut dyn Read| {
        let mut header = tar::Header::new_gnu();
        header.set_size(len);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, format!("cifar-10-batches-bin/{name}"), data).unwrap();
    };
    for (name, len) in CifarKind::Cifar10.expected_files() {
        if Some(name) != skip {
            append(name, len, &mut std::io::repeat(0).take(len));
        }
    }
    let names = CIFAR10_CLASSES.join("\n") + "\n\n";
    append("batches.meta.txt", names.len() as u64, &mut names.as_bytes());
    tar.into_inner().unwrap().finish().unwrap()
}

/// The full archive, built once for all tests (it compresses 184 MB of zeros).
fn full_archive() -> Arc<Vec<u8>> {
    static ARCHIVE: OnceLock<Arc<Vec<u8>>> = OnceLock::new();
    ARCHIVE.get_or_init(|| Arc::new(cifar10_archive(None))).clone()
}

fn source(server: &TestServer, name: &str, bytes: &[u8]) -> ArchiveSource {
    ArchiveSource { url: format!("{}/{name}", server.base), md5: md5_hex(bytes) }
}

#[test]
fn fetch_downloads_verifies_extracts_once_and_repairs_partial_copies() {
    let archive = full_archive();
    let server = serve(vec![("c10.tar.gz", archive.clone())]);
    let src = source(&server, "c10.tar.gz", &archive);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let kind = CifarKind::Cifar10;

    let Fetched::Downloaded { dir: target, record, replaced, .. } =
        fetch(kind, &dir, &src).unwrap()
    else {
        panic!("nothing was there: it downloads");
    };
    assert_eq!(target, dir.join("cifar-10-batches-bin"));
    assert_eq!(
        (record.md5.as_str(), record.archive_bytes),
        (src.md5.as_str(), archive.len() as u64)
    );
    assert_eq!(replaced, None);
    assert!(target.join(MARKER).is_file());
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["cifar-10-batches-bin"], "no download or staging folder left behind");
    let set = DataSpec::Cifar10(dir.clone()).load().unwrap();
    assert_eq!(set.split(Split::Train).len(), 50_000);

    // Complete: nothing is downloaded.
    let again = fetch(kind, &dir, &src).unwrap();
    assert!(matches!(again, Fetched::AlreadyComplete { record: Some(_), .. }), "{again:?}");
    assert_eq!(server.requests.load(Ordering::SeqCst), 1);

    // Partial: a truncated file, then a missing one, are detected and replaced.
    set_len(&target.join("data_batch_2.bin"), 1000);
    let Fetched::Downloaded { replaced, .. } = fetch(kind, &dir, &src).unwrap() else {
        panic!("a truncated copy is fetched again");
    };
    assert_eq!(replaced.as_deref(), Some("data_batch_2.bin has 1000 bytes, expected 30730000"));
    std::fs::remove_file(target.join("test_batch.bin")).unwrap();
    let Fetched::Downloaded { replaced, .. } = fetch(kind, &dir, &src).unwrap() else {
        panic!("a copy with a missing file is fetched again");
    };
    assert_eq!(replaced.as_deref(), Some("test_batch.bin is missing"));
    assert_eq!(server.requests.load(Ordering::SeqCst), 3);
    assert!(cifar::load(kind, &dir).is_ok());

    // A complete copy made by hand (no marker) is accepted as it is.
    std::fs::remove_file(target.join(MARKER)).unwrap();
    let again = fetch(kind, &dir, &src).unwrap();
    assert!(matches!(again, Fetched::AlreadyComplete { record: None, .. }), "{again:?}");
    assert_eq!(server.requests.load(Ordering::SeqCst), 3);
}

#[test]
fn a_corrupt_download_changes_nothing() {
    let archive = full_archive();
    let mut corrupt = archive.to_vec();
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0x55;
    let corrupt = Arc::new(corrupt);
    let server = serve(vec![("c10.tar.gz", corrupt.clone())]);
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("mine.txt"), b"the user's").unwrap();
    // Expecting the MD5 of the good archive, receiving the corrupt one.
    let src = source(&server, "c10.tar.gz", &archive);
    let err = fetch(CifarKind::Cifar10, tmp.path(), &src).unwrap_err();
    assert!(matches!(err, FetchError::Md5 { .. }), "{err}");
    let message = err.to_string();
    let expected = format!("{} has MD5 {}, expected {}", src.url, md5_hex(&corrupt), src.md5);
    assert!(message.contains(&expected), "{message}");
    let left: Vec<_> =
        std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["mine.txt"]);

    // A complete copy is left alone when a later download is bad… because none is made.
    let good = serve(vec![("c10.tar.gz", archive.clone())]);
    fetch(CifarKind::Cifar10, tmp.path(), &source(&good, "c10.tar.gz", &archive)).unwrap();
    let err = fetch(CifarKind::Cifar10, tmp.path(), &src);
    assert!(matches!(err, Ok(Fetched::AlreadyComplete { .. })));
    assert_eq!(server.requests.load(Ordering::SeqCst), 1);
}

#[test]
fn fetch_errors_name_what_went_wrong() {
    let small = Arc::new(cifar10_archive(Some("test_batch.bin")));
    let server = serve(vec![("partial.tar.gz", small.clone())]);
    let tmp = tempfile::tempdir().unwrap();
    let kind = CifarKind::Cifar10;

    // A verified archive that lacks a file is not the official one.
    let err = fetch(kind, tmp.path(), &source(&server, "partial.tar.gz", &small)).unwrap_err();
    assert!(
        err.to_string().contains("is not the official CIFAR-10 archive: test_batch.bin is missing"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "staging removed");

    let missing = ArchiveSource { url: format!("{}/nope.tar.gz", server.base), md5: md5_hex(b"") };
    let err = fetch(kind, tmp.path(), &missing).unwrap_err().to_string();
    assert!(
        err.contains("cannot download") && err.contains("/nope.tar.gz") && err.contains("404"),
        "{err}"
    );

    let bad_md5 = ArchiveSource { url: missing.url.clone(), md5: "xyz".into() };
    let err = fetch(kind, tmp.path(), &bad_md5).unwrap_err().to_string();
    assert!(err.contains("`xyz` is not an MD5"), "{err}");

    // Not a gzip at all, with a matching MD5.
    let junk = Arc::new(b"not an archive".to_vec());
    let server = serve(vec![("junk.tar.gz", junk.clone())]);
    let err = fetch(kind, tmp.path(), &source(&server, "junk.tar.gz", &junk)).unwrap_err();
    assert!(
        err.to_string().starts_with("cannot extract the archive from http://127.0.0.1"),
        "{err}"
    );

    // The official sources keep the published checksums.
    assert_eq!(ArchiveSource::official(kind).md5, "c32a1d4ab5d03f1284b67883e8d87530");
    assert_eq!(
        ArchiveSource::official(CifarKind::Cifar100).md5,
        "03b5dce01913d631647c71ecec9e9cb8"
    );
    assert!(ArchiveSource::official(CifarKind::Cifar100).url.starts_with("https://"));
}

// ---------------------------------------------------------------------------------------------
// The `proard data` command line

#[test]
fn cli_check_prints_the_summary_as_json_and_text() {
    let json: Value =
        serde_json::from_str(&stdout(&proard(&["data", "check", "synthetic", "--json"]))).unwrap();
    let expected = check(Arc::new(DataSpec::Synthetic.load().unwrap()));
    assert_eq!(
        json,
        serde_json::json!({
            "classes": synthetic::CLASSES, "train": 5000, "test": 1000, "image_shape": [3, 32, 32],
            "first_batch_checksum": expected.first_batch_checksum,
        })
    );
    let text = stdout(&proard(&["data", "check", "synthetic"]));
    for line in ["classes      10: red-square, green-disc", "train        5000 images", "3×32×32"]
    {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
}

#[test]
fn cli_bad_data_fails_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("imgs");
    small_folder(&root);
    std::fs::write(root.join("test/dog/1.jpg"), b"not a jpeg").unwrap();
    let spec = format!("folder:{}", root.display());
    let err = failure(&["data", "check", &spec]);
    assert!(err.contains("test/dog/1.jpg: cannot decode the image"), "{err}");

    let c10 = tmp.path().join("c10");
    write_cifar(&c10, CifarKind::Cifar10, &[]);
    set_len(&c10.join("data_batch_4.bin"), 77);
    let err = failure(&["data", "check", &format!("cifar10:{}", c10.display()), "--json"]);
    assert!(err.contains("data_batch_4.bin: 77 bytes, expected 30730000"), "{err}");

    let err = failure(&["data", "check", &format!("cifar100:{}", tmp.path().join("x").display())]);
    assert!(err.contains("x/train.bin is missing"), "{err}");
    let err = failure(&["data", "check", "imagenet:/data"]);
    assert!(err.contains("unknown data set `imagenet:/data`"), "{err}");
    let err = failure(&["data", "fetch", "cifar10", "--dir", "x", "--url", "http://127.0.0.1:9/a"]);
    assert!(err.contains("--md5"), "{err}");
    let err = failure(&["data", "fetch", "mnist", "--dir", "x"]);
    assert!(err.contains("use cifar10 or cifar100"), "{err}");
}

#[test]
fn cli_warns_once_about_converted_images() {
    let tmp = tempfile::tempdir().unwrap();
    small_folder(tmp.path());
    for i in 1..=3 {
        ImageBuffer::from_pixel(5, 4, Luma([9u8]))
            .save(tmp.path().join(format!("train/cat/g{i}.png")))
            .unwrap();
    }
    ImageBuffer::from_pixel(5, 4, Rgba([1u8, 2, 3, 4]))
        .save(tmp.path().join("test/dog/a.png"))
        .unwrap();
    let output = proard(&["data", "check", &format!("folder:{}", tmp.path().display()), "--json"]);
    let json: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!((json["train"].as_u64(), json["test"].as_u64()), (Some(5), Some(3)));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].contains("converted 4 of 8 images to 8-bit RGB (3 grayscale, 1 with alpha"),
        "{stderr}"
    );
}

#[test]
fn cli_fetch_downloads_once() {
    let archive = full_archive();
    let server = serve(vec![("c10.tar.gz", archive.clone())]);
    let src = source(&server, "c10.tar.gz", &archive);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    let args = ["data", "fetch", "cifar10", "--dir", dir, "--url", &src.url, "--md5", &src.md5];
    let first = stdout(&proard(&args));
    assert!(first.contains(&format!("MD5 {} verified", src.md5)), "{first}");
    let second = stdout(&proard(&args));
    assert!(
        second.contains("already complete") && second.contains("nothing downloaded"),
        "{second}"
    );
    assert_eq!(server.requests.load(Ordering::SeqCst), 1);
    let check: Value = serde_json::from_str(&stdout(&proard(&[
        "data",
        "check",
        &format!("cifar10:{dir}"),
        "--json",
    ])))
    .unwrap();
    assert_eq!((check["train"].as_u64(), check["test"].as_u64()), (Some(50_000), Some(10_000)));
}

#[test]
fn cli_bench_reports_images_per_second() {
    let output =
        proard(&["data", "bench", "synthetic", "--batch", "64", "--workers", "2", "--json"]);
    let json: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!((json["images"].as_u64(), json["workers"].as_u64()), (Some(4992), Some(2)));
    assert!(json["images_per_second"].as_f64().unwrap() > 0.0);
    assert!(json["load_seconds"].as_f64().unwrap() >= 0.0);
}
