//! Naming a data set on the command line: `synthetic`, `cifar10:<dir>`, `cifar100:<dir>` or
//! `folder:<dir>`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use super::cifar::{self, CifarKind};
use super::synthetic::{self, SyntheticConfig};
use super::{DataError, ImageSet, folder};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataSpec {
    /// The built-in synthetic set with its default configuration.
    Synthetic,
    /// The official binary files in the directory, or in its `cifar-10-batches-bin/`.
    Cifar10(PathBuf),
    /// The official binary files in the directory, or in its `cifar-100-binary/`.
    Cifar100(PathBuf),
    /// `dir/{train,test}/<class>/*.{png,jpg,jpeg}`.
    Folder(PathBuf),
}

impl FromStr for DataSpec {
    type Err = DataError;

    fn from_str(text: &str) -> Result<Self, DataError> {
        if text == "synthetic" {
            return Ok(DataSpec::Synthetic);
        }
        let unknown = || DataError::Spec(text.to_owned());
        let (kind, dir) = text.split_once(':').ok_or_else(unknown)?;
        if dir.is_empty() {
            return Err(unknown());
        }
        let dir = PathBuf::from(dir);
        match kind {
            "cifar10" => Ok(DataSpec::Cifar10(dir)),
            "cifar100" => Ok(DataSpec::Cifar100(dir)),
            "folder" => Ok(DataSpec::Folder(dir)),
            _ => Err(unknown()),
        }
    }
}

impl fmt::Display for DataSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataSpec::Synthetic => write!(f, "synthetic"),
            DataSpec::Cifar10(dir) => write!(f, "cifar10:{}", dir.display()),
            DataSpec::Cifar100(dir) => write!(f, "cifar100:{}", dir.display()),
            DataSpec::Folder(dir) => write!(f, "folder:{}", dir.display()),
        }
    }
}

impl DataSpec {
    /// Reads (or generates) both splits into memory.
    pub fn load(&self) -> Result<ImageSet, DataError> {
        match self {
            DataSpec::Synthetic => Ok(synthetic::generate(&SyntheticConfig::default())),
            DataSpec::Cifar10(dir) => cifar::load(CifarKind::Cifar10, dir),
            DataSpec::Cifar100(dir) => cifar::load(CifarKind::Cifar100, dir),
            DataSpec::Folder(dir) => folder::load(dir),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_every_form() {
        for text in ["synthetic", "cifar10:data/c10", "cifar100:/abs/c100", "folder:x:y"] {
            assert_eq!(text.parse::<DataSpec>().unwrap().to_string(), text);
        }
        assert_eq!("folder:x:y".parse::<DataSpec>().unwrap(), DataSpec::Folder("x:y".into()));
        for bad in ["", "cifar10", "cifar10:", "imagenet:/x", "synthetic:1", "Synthetic"] {
            let err = bad.parse::<DataSpec>().unwrap_err().to_string();
            assert!(err.starts_with(&format!("unknown data set `{bad}`")), "{err}");
        }
    }
}
