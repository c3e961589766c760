//! Why a data set could not be read. Every message names the file or folder at fault.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("unknown data set `{0}`: use synthetic, cifar10:<dir>, cifar100:<dir> or folder:<dir>")]
    Spec(String),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{} is missing{hint}", path.display())]
    Missing { path: PathBuf, hint: String },
    #[error(
        "{}: {len} bytes, expected {expected} ({records} records of {record} bytes): the file is \
         truncated or not {format}",
        path.display()
    )]
    CifarSize {
        path: PathBuf,
        len: u64,
        expected: u64,
        records: usize,
        record: usize,
        format: &'static str,
    },
    #[error(
        "{}: record {record} has {what} label {label}, but there are only {classes} classes: \
         the file is not {format}",
        path.display()
    )]
    CifarLabel {
        path: PathBuf,
        record: usize,
        what: &'static str,
        label: u8,
        classes: usize,
        format: &'static str,
    },
    #[error("{}: expected {expected} class names (one per line), found {found}", path.display())]
    ClassNames { path: PathBuf, expected: usize, found: usize },
    #[error("{}: no class folders", path.display())]
    NoClasses { path: PathBuf },
    #[error("{}: no .png, .jpg or .jpeg images in this class folder", path.display())]
    EmptyClass { path: PathBuf },
    #[error(
        "{}: the train and test splits have different classes (only in train: {only_train:?}; \
         only in test: {only_test:?})",
        root.display()
    )]
    ClassMismatch { root: PathBuf, only_train: Vec<String>, only_test: Vec<String> },
    #[error("{}: cannot decode the image: {message}", path.display())]
    Decode { path: PathBuf, message: String },
    #[error(
        "{}: image is {width}×{height}, but {} is {expected_width}×{expected_height} (images \
         are not resized: all must have one size)",
        path.display(),
        first.display()
    )]
    ImageSize {
        path: PathBuf,
        width: u32,
        height: u32,
        first: PathBuf,
        expected_width: u32,
        expected_height: u32,
    },
    #[error(
        "the calibration subset asks for {requested} images, but the training split has only \
         {available}"
    )]
    CalibrationSize { requested: usize, available: usize },
}

impl DataError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        DataError::Io { path: path.to_owned(), source }
    }
}
