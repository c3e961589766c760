//! One writer per output: a stage directory or a student-record file is written by one process at
//! a time. Independent stages (the progressive phases and the baseline, or evaluation shards) may
//! run side by side in one run directory, but a second process on the *same* output would
//! interleave steps and records; it is refused with a message instead.
//!
//! The lock is an advisory `flock` on a file beside the output, held for the life of the value;
//! the kernel drops it when the process ends, so a killed run never leaves a stale lock behind.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

/// Why an output could not be claimed.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "{what} is being written by another proard process (it holds {}); wait for that \
         process to finish, or use another output directory",
        path.display()
    )]
    Busy { what: String, path: PathBuf },
    #[error("cannot lock {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// An exclusive claim on one output, released when dropped.
#[derive(Debug)]
pub struct OutputLock {
    _file: File,
}

impl OutputLock {
    /// Claims the output described by `what` through the lock file `path`, without waiting.
    pub fn acquire(path: &Path, what: &str) -> Result<OutputLock, LockError> {
        let io = |source| LockError::Io { path: path.to_owned(), source };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let file =
            OpenOptions::new().create(true).truncate(false).write(true).open(path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => Ok(OutputLock { _file: file }),
            Err(TryLockError::WouldBlock) => {
                Err(LockError::Busy { what: what.to_owned(), path: path.to_owned() })
            }
            Err(TryLockError::Error(source)) => Err(io(source)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_claim_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stage").join("lock");
        let first = OutputLock::acquire(&path, "stage `teacher`").unwrap();
        let refused = OutputLock::acquire(&path, "stage `teacher`").unwrap_err();
        let message = refused.to_string();
        assert!(matches!(refused, LockError::Busy { .. }), "{message}");
        assert!(
            message.contains("stage `teacher`") && message.contains("another output directory"),
            "{message}"
        );
        drop(first);
        OutputLock::acquire(&path, "stage `teacher`").unwrap();
    }
}
