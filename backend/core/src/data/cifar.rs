//! The official CIFAR-10 and CIFAR-100 "binary version" files.
//!
//! A CIFAR-10 record is one label byte and 3072 pixel bytes (the 32×32 R plane, then G, then B,
//! rows top to bottom): already CHW, so records are copied as they are. `data_batch_1..5.bin`
//! (10 000 records each, in that order) are the training split, `test_batch.bin` the test split.
//! A CIFAR-100 record has a coarse and a fine label byte before the pixels; the fine label is the
//! class. `train.bin` has 50 000 records, `test.bin` 10 000.
//!
//! Sizes are checked against the official record counts before anything is read, so a truncated
//! or foreign file is an error naming it, never a shorter data set.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::{DataError, ImageSet, ImageShape, Images};

/// The CIFAR-10 classes in label order, as in the official `batches.meta.txt`.
pub const CIFAR10_CLASSES: [&str; 10] =
    ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

const PIXELS: usize = 3 * 32 * 32;
/// Records read at once: bounded memory while streaming a 150 MB file.
const RECORDS_PER_READ: usize = 1000;

/// Which of the two CIFAR data sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CifarKind {
    Cifar10,
    Cifar100,
}

impl FromStr for CifarKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "cifar10" => Ok(CifarKind::Cifar10),
            "cifar100" => Ok(CifarKind::Cifar100),
            other => Err(format!("unknown data set `{other}`: use cifar10 or cifar100")),
        }
    }
}

impl CifarKind {
    /// The name people write: `CIFAR-10`, `CIFAR-100`.
    pub const fn name(self) -> &'static str {
        match self {
            CifarKind::Cifar10 => "CIFAR-10",
            CifarKind::Cifar100 => "CIFAR-100",
        }
    }

    /// The folder the official archive extracts to.
    pub const fn folder(self) -> &'static str {
        match self {
            CifarKind::Cifar10 => "cifar-10-batches-bin",
            CifarKind::Cifar100 => "cifar-100-binary",
        }
    }

    pub const fn classes(self) -> usize {
        match self {
            CifarKind::Cifar10 => 10,
            CifarKind::Cifar100 => 100,
        }
    }

    const fn label_bytes(self) -> usize {
        match self {
            CifarKind::Cifar10 => 1,
            CifarKind::Cifar100 => 2,
        }
    }

    /// Bytes per record: labels then pixels.
    pub const fn record_len(self) -> usize {
        self.label_bytes() + PIXELS
    }

    /// The training files in order, then the test file, each with its record count.
    const fn files(self) -> (&'static [(&'static str, usize)], (&'static str, usize)) {
        match self {
            CifarKind::Cifar10 => (
                &[
                    ("data_batch_1.bin", 10_000),
                    ("data_batch_2.bin", 10_000),
                    ("data_batch_3.bin", 10_000),
                    ("data_batch_4.bin", 10_000),
                    ("data_batch_5.bin", 10_000),
                ],
                ("test_batch.bin", 10_000),
            ),
            CifarKind::Cifar100 => (&[("train.bin", 50_000)], ("test.bin", 10_000)),
        }
    }

    /// Every data file with its exact official size in bytes.
    pub fn expected_files(self) -> Vec<(&'static str, u64)> {
        let (train, test) = self.files();
        train
            .iter()
            .chain([&test])
            .map(|&(name, records)| (name, (records * self.record_len()) as u64))
            .collect()
    }

    /// The file of class names, one per line in label order.
    const fn names_file(self) -> &'static str {
        match self {
            CifarKind::Cifar10 => "batches.meta.txt",
            CifarKind::Cifar100 => "fine_label_names.txt",
        }
    }

    fn spec_prefix(self) -> &'static str {
        match self {
            CifarKind::Cifar10 => "cifar10",
            CifarKind::Cifar100 => "cifar100",
        }
    }
}

/// The folder that holds the data files: `dir` itself, or `dir/<official folder>` (where
/// `proard data fetch` puts it).
pub fn data_dir(kind: CifarKind, dir: &Path) -> Result<PathBuf, DataError> {
    let (train, _) = kind.files();
    let first = train[0].0;
    if dir.join(first).exists() {
        return Ok(dir.to_owned());
    }
    let nested = dir.join(kind.folder());
    if nested.join(first).exists() {
        return Ok(nested);
    }
    Err(DataError::Missing {
        path: dir.join(first),
        hint: format!(
            " (and so is {}): get {} with `proard data fetch {} --dir {}`",
            nested.join(first).display(),
            kind.name(),
            kind.spec_prefix(),
            dir.display()
        ),
    })
}

/// Reads CIFAR-10 or CIFAR-100 from `dir` (see [`data_dir`]).
pub fn load(kind: CifarKind, dir: &Path) -> Result<ImageSet, DataError> {
    let dir = data_dir(kind, dir)?;
    let (train_files, test_file) = kind.files();
    // Every size first: a bad last file should not cost reading the others.
    for &(name, records) in train_files.iter().chain([&test_file]) {
        check_size(kind, &dir.join(name), records)?;
    }
    let classes = class_names(kind, &dir)?;
    let mut train = Records::with_capacity(train_files.iter().map(|f| f.1).sum());
    for &(name, records) in train_files {
        train.read(kind, &dir.join(name), records)?;
    }
    let mut test = Records::with_capacity(test_file.1);
    test.read(kind, &dir.join(test_file.0), test_file.1)?;
    let shape = ImageShape::rgb(32, 32);
    Ok(ImageSet::new(classes, shape, train.into_images(shape), test.into_images(shape)))
}

fn check_size(kind: CifarKind, path: &Path, records: usize) -> Result<(), DataError> {
    let len = match std::fs::metadata(path) {
        Ok(meta) => meta.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(DataError::Missing {
                path: path.to_owned(),
                hint: format!(" (a complete {} copy has it)", kind.name()),
            });
        }
        Err(e) => return Err(DataError::io(path, e)),
    };
    let expected = (records * kind.record_len()) as u64;
    if len != expected {
        return Err(DataError::CifarSize {
            path: path.to_owned(),
            len,
            expected,
            records,
            record: kind.record_len(),
            format: kind.name(),
        });
    }
    Ok(())
}

/// Names from the official names file; CIFAR-10 falls back to the built-in names (they are the
/// official ones), CIFAR-100 to `class_N` with a warning.
fn class_names(kind: CifarKind, dir: &Path) -> Result<Vec<String>, DataError> {
    let path = dir.join(kind.names_file());
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(match kind {
                CifarKind::Cifar10 => CIFAR10_CLASSES.iter().map(|c| c.to_string()).collect(),
                CifarKind::Cifar100 => {
                    tracing::warn!(
                        "{} is missing: the 100 classes are named class_0 … class_99",
                        path.display()
                    );
                    (0..kind.classes()).map(|i| format!("class_{i}")).collect()
                }
            });
        }
        Err(e) => return Err(DataError::io(&path, e)),
    };
    // The official files end with blank lines.
    let names: Vec<String> =
        text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
    if names.len() != kind.classes() {
        return Err(DataError::ClassNames { path, expected: kind.classes(), found: names.len() });
    }
    Ok(names)
}

/// Pixels and labels of the records read so far.
struct Records {
    pixels: Vec<u8>,
    labels: Vec<u32>,
}

impl Records {
    fn with_capacity(records: usize) -> Self {
        Records {
            pixels: Vec::with_capacity(records * PIXELS),
            labels: Vec::with_capacity(records),
        }
    }

    /// Appends the `records` records of a file whose size was checked.
    fn read(&mut self, kind: CifarKind, path: &Path, records: usize) -> Result<(), DataError> {
        let file = File::open(path).map_err(|e| DataError::io(path, e))?;
        let mut reader = BufReader::new(file);
        let record_len = kind.record_len();
        let mut chunk = vec![0u8; RECORDS_PER_READ * record_len];
        let mut record = 0;
        while record < records {
            let bytes = &mut chunk[..(records - record).min(RECORDS_PER_READ) * record_len];
            reader.read_exact(bytes).map_err(|e| DataError::io(path, e))?;
            for bytes in bytes.chunks_exact(record_len) {
                let (labels, pixels) = bytes.split_at(kind.label_bytes());
                self.labels.push(record_label(kind, path, record, labels)?);
                self.pixels.extend_from_slice(pixels);
                record += 1;
            }
        }
        Ok(())
    }

    fn into_images(self, shape: ImageShape) -> Images {
        Images::new(self.pixels, self.labels, shape)
    }
}

/// The class of a record: CIFAR-10's label, CIFAR-100's fine label (the coarse one is checked
/// too, as a guard against foreign files).
fn record_label(
    kind: CifarKind,
    path: &Path,
    record: usize,
    labels: &[u8],
) -> Result<u32, DataError> {
    let checks: &[(&'static str, u8, usize)] = match kind {
        CifarKind::Cifar10 => &[("a", labels[0], 10)],
        CifarKind::Cifar100 => &[("coarse", labels[0], 20), ("fine", labels[1], 100)],
    };
    for &(what, label, classes) in checks {
        if label as usize >= classes {
            return Err(DataError::CifarLabel {
                path: path.to_owned(),
                record,
                what,
                label,
                classes,
                format: kind.name(),
            });
        }
    }
    Ok(u32::from(*labels.last().expect("one or two label bytes")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_sizes() {
        assert_eq!(CifarKind::Cifar10.record_len(), 3073);
        assert_eq!(CifarKind::Cifar100.record_len(), 3074);
        let sizes = CifarKind::Cifar10.expected_files();
        assert_eq!(sizes.len(), 6);
        assert!(sizes.iter().all(|&(_, len)| len == 30_730_000));
        assert_eq!(
            CifarKind::Cifar100.expected_files(),
            [("train.bin", 153_700_000), ("test.bin", 30_740_000)]
        );
    }

    #[test]
    fn labels_are_checked() {
        let path = Path::new("x.bin");
        assert_eq!(record_label(CifarKind::Cifar10, path, 0, &[9]).unwrap(), 9);
        assert_eq!(record_label(CifarKind::Cifar100, path, 0, &[19, 99]).unwrap(), 99);
        let err = record_label(CifarKind::Cifar100, path, 7, &[20, 3]).unwrap_err().to_string();
        assert!(err.contains("x.bin: record 7 has coarse label 20"), "{err}");
        let err = record_label(CifarKind::Cifar10, path, 0, &[10]).unwrap_err().to_string();
        assert!(err.contains("has a label 10, but there are only 10 classes"), "{err}");
    }
}
