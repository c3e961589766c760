//! Why a run stopped, as values a caller can branch on: a worker fails a job for good on a bad
//! config or a diverging loss, retries after an I/O error, and leaves a cancelled job resumable.
//! Messages name the field, file or stage; they do not mention command-line flags (the CLI adds
//! its own hints).

use std::path::PathBuf;

use super::config::ConfigError;
use super::journal::ReadError;
use super::lock::LockError;
use crate::data::DataError;
use crate::model::weights::WeightsError;
use crate::objective::ObjectiveError;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The config cannot be used (`ConfigError::Invalid` names the field).
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(
        "{} holds a run of a different config; resume it with that config or use another \
         directory",
        dir.display()
    )]
    OtherRun { dir: PathBuf },
    /// Another process writes this output.
    #[error(transparent)]
    Busy(#[from] LockError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(
        "stage `{stage}`: the loss became {value} at epoch {epoch}, step {step}; stopped. \
         {checkpoint}: lower the learning rate and run again"
    )]
    NonFinite { stage: String, epoch: usize, step: usize, value: f64, checkpoint: String },
    #[error(
        "stage `{stage}` was cancelled; its progress is checkpointed and a resume goes on from there"
    )]
    Cancelled { stage: String },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Records(#[from] ReadError),
    #[error("stage `{stage}`: {message}")]
    Checkpoint { stage: String, message: String },
    #[error(transparent)]
    Objective(#[from] ObjectiveError),
    /// A weights file that cannot be read or written.
    #[error(transparent)]
    Weights(#[from] WeightsError),
    /// A goal that needs an earlier stage's output which is not there.
    #[error("{0}")]
    Missing(String),
}

impl RunError {
    /// A short stable name of the variant, stored with a failed job.
    pub fn kind(&self) -> &'static str {
        match self {
            RunError::Config(_) => "invalid-config",
            RunError::OtherRun { .. } => "other-run",
            RunError::Busy(_) => "output-busy",
            RunError::Data(_) => "data",
            RunError::NonFinite { .. } => "non-finite-loss",
            RunError::Cancelled { .. } => "cancelled",
            RunError::Io { .. } => "io",
            RunError::Records(_) => "records",
            RunError::Checkpoint { .. } => "checkpoint",
            RunError::Objective(_) => "objective",
            RunError::Weights(_) => "weights",
            RunError::Missing(_) => "missing",
        }
    }

    /// Whether running the same job again can succeed without anyone changing anything: only
    /// I/O trouble and a busy output are worth a retry.
    pub fn is_transient(&self) -> bool {
        matches!(self, RunError::Io { .. } | RunError::Busy(_))
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> RunError {
        let path = path.into();
        move |source| RunError::Io { path, source }
    }
}
