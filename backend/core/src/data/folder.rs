//! Image folders: `root/{train,test}/<class>/*.{png,jpg,jpeg}`.
//!
//! Classes are the sub-folders of `train/`, sorted by name; `test/` must have the same ones.
//! Images within a class are read in file-name order. Every image must have the size of the first
//! training image (nothing is resized). Grayscale, alpha and 16-bit images are converted to 8-bit
//! RGB (alpha is dropped) and one warning per data set says how many were. Files and folders whose
//! name starts with `.` are skipped; other files without an image extension are skipped with one
//! warning. Decoding runs on every core.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use image::{DynamicImage, ImageReader};

use super::{DataError, ImageSet, ImageShape, Images, Split};

const EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// Reads both splits of the image folder at `root`.
pub fn load(root: &Path) -> Result<ImageSet, DataError> {
    if !root.is_dir() {
        return Err(DataError::Missing {
            path: root.to_owned(),
            hint: " (an image folder has train/ and test/, each with one folder per class)".into(),
        });
    }
    let mut skipped = Vec::new();
    let train = list_split(root, Split::Train, &mut skipped)?;
    let test = list_split(root, Split::Test, &mut skipped)?;
    let train_names: Vec<&String> = train.iter().map(|c| &c.name).collect();
    let test_names: Vec<&String> = test.iter().map(|c| &c.name).collect();
    if train_names != test_names {
        let only = |a: &[&String], b: &[&String]| -> Vec<String> {
            a.iter().filter(|n| !b.contains(n)).map(|n| n.to_string()).collect()
        };
        return Err(DataError::ClassMismatch {
            root: root.to_owned(),
            only_train: only(&train_names, &test_names),
            only_test: only(&test_names, &train_names),
        });
    }
    if let Some(first) = skipped.first() {
        tracing::warn!(
            "{}: skipped {} files that are not .png, .jpg or .jpeg (the first: {})",
            root.display(),
            skipped.len(),
            first.display()
        );
    }

    let first = &train[0].files[0];
    let first_image = decode(first)?;
    let (width, height) = (first_image.width(), first_image.height());
    let reference = Reference { path: first, width, height };
    let mut conversions = Conversions::default();
    let train_images = decode_split(&train, &reference, &mut conversions)?;
    let test_images = decode_split(&test, &reference, &mut conversions)?;
    if conversions.images > 0 {
        tracing::warn!(
            "{}: converted {} of {} images to 8-bit RGB ({} grayscale, {} with alpha, which was \
             dropped, {} with 16-bit channels)",
            root.display(),
            conversions.images,
            train_images.len() + test_images.len(),
            conversions.grayscale,
            conversions.alpha,
            conversions.wide
        );
    }
    let classes = train.into_iter().map(|c| c.name).collect();
    Ok(ImageSet::new(
        classes,
        ImageShape::rgb(height as usize, width as usize),
        train_images,
        test_images,
    ))
}

/// One class folder of one split: its name and image files in order.
struct ClassFolder {
    name: String,
    files: Vec<PathBuf>,
}

fn list_split(
    root: &Path,
    split: Split,
    skipped: &mut Vec<PathBuf>,
) -> Result<Vec<ClassFolder>, DataError> {
    let dir = root.join(split.name());
    if !dir.is_dir() {
        return Err(DataError::Missing {
            path: dir,
            hint: " (an image folder has train/ and test/, each with one folder per class)".into(),
        });
    }
    let mut classes = Vec::new();
    for path in sorted_entries(&dir)? {
        if path.is_dir() {
            let name = path.file_name().expect("entries have names").to_string_lossy().into();
            let files = list_class(&path, skipped)?;
            classes.push(ClassFolder { name, files });
        } else {
            skipped.push(path);
        }
    }
    if classes.is_empty() {
        return Err(DataError::NoClasses { path: dir });
    }
    Ok(classes)
}

fn list_class(dir: &Path, skipped: &mut Vec<PathBuf>) -> Result<Vec<PathBuf>, DataError> {
    let mut files = Vec::new();
    for path in sorted_entries(dir)? {
        let extension = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase());
        if path.is_file() && extension.is_some_and(|e| EXTENSIONS.contains(&e.as_str())) {
            files.push(path);
        } else {
            skipped.push(path);
        }
    }
    if files.is_empty() {
        return Err(DataError::EmptyClass { path: dir.to_owned() });
    }
    Ok(files)
}

/// The entries of `dir` not starting with `.`, sorted by name.
fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        if !entry.file_name().to_string_lossy().starts_with('.') {
            paths.push(entry.path());
        }
    }
    paths.sort();
    Ok(paths)
}

/// The size every image must have, and the image that set it.
struct Reference<'a> {
    path: &'a Path,
    width: u32,
    height: u32,
}

/// How many images needed converting to 8-bit RGB, and why (one image may count in several).
#[derive(Default)]
struct Conversions {
    images: usize,
    grayscale: usize,
    alpha: usize,
    wide: usize,
}

impl Conversions {
    fn add(&mut self, other: Conversions) {
        self.images += other.images;
        self.grayscale += other.grayscale;
        self.alpha += other.alpha;
        self.wide += other.wide;
    }

    fn count(&mut self, image: &DynamicImage) {
        let color = image.color();
        let grayscale = !color.has_color();
        let alpha = color.has_alpha();
        let wide = color.bytes_per_pixel() > color.channel_count();
        self.images += usize::from(grayscale || alpha || wide);
        self.grayscale += usize::from(grayscale);
        self.alpha += usize::from(alpha);
        self.wide += usize::from(wide);
    }
}

/// Reads and decodes one file.
fn decode(path: &Path) -> Result<DynamicImage, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let decode_error = |message: String| DataError::Decode { path: path.to_owned(), message };
    ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| decode_error(e.to_string()))?
        .decode()
        .map_err(|e| decode_error(e.to_string()))
}

/// Decodes a split on every core. On bad input the error is that of the first bad file in
/// order, whatever the thread timing.
fn decode_split(
    classes: &[ClassFolder],
    reference: &Reference,
    conversions: &mut Conversions,
) -> Result<Images, DataError> {
    let files: Vec<(&Path, u32)> = classes
        .iter()
        .enumerate()
        .flat_map(|(label, class)| class.files.iter().map(move |f| (f.as_path(), label as u32)))
        .collect();
    let shape = ImageShape::rgb(reference.height as usize, reference.width as usize);
    let mut pixels = vec![0u8; files.len() * shape.values_per_image()];
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = files.len().div_ceil(threads);
    // Index of the first file found bad so far: threads stop past it, none stops before it.
    let first_bad = AtomicUsize::new(usize::MAX);
    let results: Vec<Result<Conversions, (usize, DataError)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = files
            .chunks(per_thread)
            .zip(pixels.chunks_mut(per_thread * shape.values_per_image()))
            .enumerate()
            .map(|(chunk, (files, pixels))| {
                let first_bad = &first_bad;
                scope.spawn(move || {
                    let start = chunk * per_thread;
                    let mut conversions = Conversions::default();
                    for (offset, ((path, _), out)) in files
                        .iter()
                        .zip(pixels.chunks_exact_mut(shape.values_per_image()))
                        .enumerate()
                    {
                        if start + offset > first_bad.load(Ordering::Relaxed) {
                            break;
                        }
                        let converted = decode(path)
                            .and_then(|image| to_chw(path, image, reference, out))
                            .map_err(|e| {
                                first_bad.fetch_min(start + offset, Ordering::Relaxed);
                                (start + offset, e)
                            })?;
                        conversions.add(converted);
                    }
                    Ok(conversions)
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("decoding does not panic")).collect()
    });
    let mut first_error: Option<(usize, DataError)> = None;
    for result in results {
        match result {
            Ok(counted) => conversions.add(counted),
            Err((index, error)) => {
                if first_error.as_ref().is_none_or(|(first, _)| index < *first) {
                    first_error = Some((index, error));
                }
            }
        }
    }
    if let Some((_, error)) = first_error {
        return Err(error);
    }
    Ok(Images::new(pixels, files.iter().map(|f| f.1).collect(), shape))
}

/// Writes `image` as 8-bit RGB CHW into `out` after checking its size; what was converted.
fn to_chw(
    path: &Path,
    image: DynamicImage,
    reference: &Reference,
    out: &mut [u8],
) -> Result<Conversions, DataError> {
    if (image.width(), image.height()) != (reference.width, reference.height) {
        return Err(DataError::ImageSize {
            path: path.to_owned(),
            width: image.width(),
            height: image.height(),
            first: reference.path.to_owned(),
            expected_width: reference.width,
            expected_height: reference.height,
        });
    }
    let mut conversions = Conversions::default();
    conversions.count(&image);
    let rgb = image.into_rgb8();
    let plane = out.len() / 3;
    for (i, pixel) in rgb.pixels().enumerate() {
        for c in 0..3 {
            out[c * plane + i] = pixel.0[c];
        }
    }
    Ok(conversions)
}
