//! `proard data fetch`: the official CIFAR archives over HTTPS, MD5-verified and extracted.
//!
//! The archive is streamed to a hidden file in the target directory while its MD5 is computed;
//! a mismatch deletes the download and changes nothing else. A verified archive is extracted
//! into a hidden staging folder, its data files are checked against the official sizes, and
//! only then is the folder renamed into place and a marker written. A copy whose data files all
//! have their official sizes is complete and is not fetched again; a copy with missing or
//! wrongly sized files is reported, then replaced. The folder is only ever replaced by a fully
//! checked one, so an interrupted fetch leaves either the old copy or the new.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use super::cifar::CifarKind;

pub const CIFAR10_URL: &str = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
pub const CIFAR10_MD5: &str = "c32a1d4ab5d03f1284b67883e8d87530";
pub const CIFAR100_URL: &str = "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz";
pub const CIFAR100_MD5: &str = "03b5dce01913d631647c71ecec9e9cb8";

/// The file in a fetched folder that records where it came from.
pub const MARKER: &str = ".proard-fetch.json";

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("`{0}` is not an MD5 (32 hex digits)")]
    Md5Text(String),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("cannot download {url}: {message}")]
    Http { url: String, message: String },
    #[error(
        "the archive from {url} has MD5 {actual}, expected {expected}: the download is corrupt \
         or not the expected archive (it was deleted; nothing else changed)"
    )]
    Md5 { url: String, expected: String, actual: String },
    #[error("cannot extract the archive from {url}: {message}")]
    Archive { url: String, message: String },
    #[error("the archive from {url} is not the official {name} archive: {problem}")]
    Layout { url: String, name: &'static str, problem: String },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> FetchError + '_ {
    move |source| FetchError::Io { path: path.to_owned(), source }
}

/// Where to download an archive from and the MD5 it must have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveSource {
    pub url: String,
    pub md5: String,
}

impl ArchiveSource {
    /// The official archive of `kind` and its published MD5.
    pub fn official(kind: CifarKind) -> Self {
        let (url, md5) = match kind {
            CifarKind::Cifar10 => (CIFAR10_URL, CIFAR10_MD5),
            CifarKind::Cifar100 => (CIFAR100_URL, CIFAR100_MD5),
        };
        ArchiveSource { url: url.into(), md5: md5.into() }
    }
}

/// Contents of [`MARKER`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchRecord {
    pub url: String,
    pub md5: String,
    pub archive_bytes: u64,
}

/// What `fetch` did.
#[derive(Clone, Debug, PartialEq)]
pub enum Fetched {
    /// Every data file was there with its official size; nothing was downloaded. The record is
    /// absent when the copy was not made by `proard data fetch`.
    AlreadyComplete { dir: PathBuf, record: Option<FetchRecord> },
    /// Downloaded, verified and extracted; `replaced` says what was wrong with the copy that
    /// was there before, if any.
    Downloaded { dir: PathBuf, record: FetchRecord, seconds: f64, replaced: Option<String> },
}

/// Whether the folder at `dir` holds every data file of `kind` at its official size.
pub fn completeness(kind: CifarKind, dir: &Path) -> Result<Option<String>, FetchError> {
    for (name, expected) in kind.expected_files() {
        let path = dir.join(name);
        match std::fs::metadata(&path) {
            Ok(meta) if meta.len() == expected => {}
            Ok(meta) => {
                return Ok(Some(format!("{name} has {} bytes, expected {expected}", meta.len())));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Some(format!("{name} is missing")));
            }
            Err(e) => return Err(io_error(&path)(e)),
        }
    }
    Ok(None)
}

/// Makes `dir/<official folder>` a complete copy of `kind`, downloading from `source` only
/// when it is not one already.
pub fn fetch(kind: CifarKind, dir: &Path, source: &ArchiveSource) -> Result<Fetched, FetchError> {
    let md5 = source.md5.to_ascii_lowercase();
    if md5.len() != 32 || !md5.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(FetchError::Md5Text(source.md5.clone()));
    }
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    let target = dir.join(kind.folder());
    let replaced = if target.exists() {
        match completeness(kind, &target)? {
            None => {
                let record = std::fs::read(target.join(MARKER))
                    .ok()
                    .and_then(|bytes| serde_json::from_slice(&bytes).ok());
                return Ok(Fetched::AlreadyComplete { dir: target, record });
            }
            Some(problem) => {
                tracing::warn!(
                    "{} is incomplete ({problem}): fetching a new copy, which will replace that \
                     folder",
                    target.display()
                );
                Some(problem)
            }
        }
    } else {
        None
    };

    let start = Instant::now();
    let download = dir.join(format!(".{}.tar.gz.download", kind.folder()));
    let archive_bytes = download_verified(&source.url, &md5, &download)?;
    let staging = dir.join(format!(".{}.extracting", kind.folder()));
    let extracted = extract(kind, &source.url, &download, &staging);
    // The archive is not kept: the extracted folder is what readers use.
    let _ = std::fs::remove_file(&download);
    if let Err(e) = extracted {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    if replaced.is_some() {
        std::fs::remove_dir_all(&target).map_err(io_error(&target))?;
    }
    std::fs::rename(staging.join(kind.folder()), &target).map_err(io_error(&target))?;
    let _ = std::fs::remove_dir_all(&staging);
    let record = FetchRecord { url: source.url.clone(), md5, archive_bytes };
    let marker = target.join(MARKER);
    let json = serde_json::to_vec_pretty(&record).expect("the record serialises");
    std::fs::write(&marker, json).map_err(io_error(&marker))?;
    Ok(Fetched::Downloaded {
        dir: target,
        record,
        seconds: start.elapsed().as_secs_f64(),
        replaced,
    })
}

/// Streams `url` to `path` and checks its MD5; the number of bytes. On any failure `path` is
/// removed.
fn download_verified(url: &str, md5: &str, path: &Path) -> Result<u64, FetchError> {
    tracing::info!("downloading {url}");
    let result = download(url, path).and_then(|(bytes, actual)| {
        if actual == md5 {
            Ok(bytes)
        } else {
            Err(FetchError::Md5 { url: url.to_owned(), expected: md5.to_owned(), actual })
        }
    });
    if result.is_err() {
        let _ = std::fs::remove_file(path);
    }
    result
}

/// Streams `url` to `path`; bytes written and their MD5 in hex.
fn download(url: &str, path: &Path) -> Result<(u64, String), FetchError> {
    let http = |e: ureq::Error| FetchError::Http { url: url.to_owned(), message: e.to_string() };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        // The archive is gzip already: ask for its bytes as they are, so its MD5 is comparable.
        .accept_encoding(ureq::config::AutoHeaderValue::None)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .build()
        .into();
    let response = agent.get(url).call().map_err(http)?;
    let mut body = response.into_body().into_reader();
    let mut file = BufWriter::new(File::create(path).map_err(io_error(path))?);
    let mut hasher = Md5::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = match body.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(FetchError::Http { url: url.to_owned(), message: e.to_string() }),
        };
        hasher.update(&buffer[..n]);
        file.write_all(&buffer[..n]).map_err(io_error(path))?;
        bytes += n as u64;
    }
    file.flush().map_err(io_error(path))?;
    let digest = hasher.finalize();
    Ok((bytes, digest.iter().map(|b| format!("{b:02x}")).collect()))
}

/// Unpacks the verified archive into a fresh `staging` folder and checks that it holds the
/// official folder with every data file at its official size.
fn extract(kind: CifarKind, url: &str, archive: &Path, staging: &Path) -> Result<(), FetchError> {
    if staging.exists() {
        // Our own leftover from an interrupted fetch.
        std::fs::remove_dir_all(staging).map_err(io_error(staging))?;
    }
    std::fs::create_dir_all(staging).map_err(io_error(staging))?;
    let file = File::open(archive).map_err(io_error(archive))?;
    // `unpack` refuses entries that would land outside `staging`.
    tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)))
        .unpack(staging)
        .map_err(|e| FetchError::Archive { url: url.to_owned(), message: e.to_string() })?;
    let layout =
        |problem: String| FetchError::Layout { url: url.to_owned(), name: kind.name(), problem };
    let folder = staging.join(kind.folder());
    if !folder.is_dir() {
        return Err(layout(format!("it has no {}/ folder", kind.folder())));
    }
    match completeness(kind, &folder)? {
        None => Ok(()),
        Some(problem) => Err(layout(problem)),
    }
}
