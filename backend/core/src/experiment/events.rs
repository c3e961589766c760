//! How a run tells its caller what happens, and how the caller stops it. The science core prints
//! nothing: the CLI draws progress bars from these events, a studio worker writes them to the
//! database. Every method has a do-nothing default, so an observer implements what it needs.
//!
//! Events are delivered on the computing thread, in order, and a method returns before the run
//! goes on: an observer that must not lose an event (the worker) stores it before returning, so
//! everything up to a checkpoint is stored before the checkpoint is written.

use super::layout::Cloud;
use super::students::StudentRecord;
use super::train::LogLine;

/// What a stage does and how far it is.
#[derive(Clone, Debug, PartialEq)]
pub struct StageStart<'a> {
    /// `teacher`, `phase-1-width`, `baseline`; for evaluation `students:proard`,
    /// `students:baseline`, `students:teacher`.
    pub stage: &'a str,
    /// What is counted: `steps` or `students`.
    pub unit: &'static str,
    pub total: u64,
    /// Already done before this start (a resumed stage).
    pub done: u64,
    /// Epochs of a training stage; 0 for an evaluation.
    pub epochs: usize,
}

/// Receives a run's progress; `cancelled` is asked before every step and every student.
pub trait Events {
    fn stage_started(&self, _start: &StageStart) {}
    /// A step or epoch line, exactly as written to the stage's log.
    fn log(&self, _line: &LogLine) {}
    /// A student record, exactly as appended to its record file.
    fn student(&self, _cloud: Cloud, _record: &StudentRecord) {}
    fn stage_finished(&self, _stage: &str) {}
    /// The stage stops with `error` (also returned to the caller).
    fn stage_failed(&self, _stage: &str, _error: &dyn std::fmt::Display) {}
    /// When true, the run writes a checkpoint and stops with [`super::RunError::Cancelled`].
    fn cancelled(&self) -> bool {
        false
    }
}

/// An observer that ignores everything and never cancels.
pub struct Silent;

impl Events for Silent {}
