//! The ProARD experiment: config, training stages with exact resume, validation, student
//! evaluation, the end-to-end pipeline and its benchmark.
//!
//! Invariants: every number written comes with the settings that produced it; every file is
//! either appended line by line (logs, student records) or replaced atomically (checkpoints,
//! exports); a killed run resumes from its last checkpoint without losing or repeating a step;
//! each output (a stage directory, a student-record file) has one writing process at a time.

pub mod bench;
pub mod config;
pub mod error;
pub mod events;
pub mod export;
pub mod journal;
pub mod layout;
pub mod lock;
pub mod pipeline;
pub mod report;
pub mod students;
pub mod train;
pub mod validate;

pub use config::ExperimentConfig;
pub use error::RunError;
pub use events::{Events, Silent, StageStart};
pub use layout::{Cloud, RunLayout, StageLayout};
pub use pipeline::{Goal, Outcome, Stage, demo_config, run, stages};
pub use students::Shard;
