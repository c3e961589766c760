//! Append-only JSON-lines files that survive a kill: each record is one line written and flushed
//! whole, and a reader drops a torn last line. Training logs are also cut back to the length a
//! checkpoint recorded, so that steps replayed after a resume are not logged twice.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// An open JSON-lines file.
#[derive(Debug)]
pub struct Journal {
    file: File,
}

impl Journal {
    /// Opens `path` for appending; with `keep_bytes`, first cuts it to that length (a
    /// checkpoint's view of the log). A torn last line is always removed.
    pub fn open(path: &Path, keep_bytes: Option<u64>) -> std::io::Result<Journal> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let file = OpenOptions::new().create(true).read(true).append(true).open(path)?;
        let complete = complete_length(path)?;
        let keep = keep_bytes.map_or(complete, |k| k.min(complete));
        if keep < file.metadata()?.len() {
            file.set_len(keep)?;
        }
        Ok(Journal { file })
    }

    /// Appends one record as one line and flushes it to the file.
    pub fn append(&mut self, record: &impl Serialize) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.flush()
    }

    /// Bytes written so far (what a checkpoint records).
    pub fn bytes_written(&self) -> std::io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }
}

/// Length of the file up to its last newline.
fn complete_length(path: &Path) -> std::io::Result<u64> {
    let bytes = std::fs::read(path)?;
    Ok(bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i as u64 + 1))
}

/// Why a record file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: line {line}: not a valid record: {message}", path.display())]
    Invalid { path: PathBuf, line: usize, message: String },
}

/// The complete records of a JSON-lines file (none if it does not exist); a line that does not
/// parse is an error naming it, except a torn last line, which is ignored.
pub fn read_records<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, ReadError> {
    let Ok(file) = File::open(path) else { return Ok(Vec::new()) };
    let io = |source| ReadError::Io { path: path.to_owned(), source };
    let complete = complete_length(path).map_err(io)?;
    let mut records = Vec::new();
    let mut read = 0u64;
    for (number, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(io)?;
        read += line.len() as u64 + 1;
        if read > complete {
            break;
        }
        let record = serde_json::from_str(&line).map_err(|e| ReadError::Invalid {
            path: path.to_owned(),
            line: number + 1,
            message: e.to_string(),
        })?;
        records.push(record);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_lines_are_dropped_and_logs_cut_to_a_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let mut journal = Journal::open(&path, None).unwrap();
        journal.append(&serde_json::json!({"step": 1})).unwrap();
        let checkpoint = journal.bytes_written().unwrap();
        journal.append(&serde_json::json!({"step": 2})).unwrap();
        drop(journal);
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"st").unwrap();
        let records: Vec<serde_json::Value> = read_records(&path).unwrap();
        assert_eq!(records.len(), 2);
        let journal = Journal::open(&path, Some(checkpoint)).unwrap();
        assert_eq!(journal.bytes_written().unwrap(), checkpoint);
        let records: Vec<serde_json::Value> = read_records(&path).unwrap();
        assert_eq!(records, [serde_json::json!({"step": 1})]);
    }
}
