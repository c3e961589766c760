//! The worker's observer of a run: every event is stored before the run goes on (so everything
//! up to a checkpoint is in the database before the checkpoint is written), and a cancel asked
//! for through the database stops the run at its next step.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use proard_core::experiment::students::StudentRecord;
use proard_core::experiment::train::LogLine;
use proard_core::experiment::{Cloud, Events, StageStart};
use tokio::runtime::Handle;

use crate::store::{Store, StoreError};

/// Writes one experiment's events to the store from the computing thread.
pub struct Recorder {
    pub handle: Handle,
    pub store: Store,
    pub experiment: i64,
    /// Set by the heartbeat when a cancel is requested or the lease was lost.
    pub stop: Arc<AtomicBool>,
    /// The evaluation running now and its students done, for its progress row.
    evaluation: Mutex<Option<(String, u64)>>,
}

impl Recorder {
    pub fn new(handle: Handle, store: Store, experiment: i64, stop: Arc<AtomicBool>) -> Recorder {
        Recorder { handle, store, experiment, stop, evaluation: Mutex::new(None) }
    }

    /// A failed write is logged, not fatal: the job re-reads its files into the store when it
    /// ends, so the rows are complete then.
    fn write(&self, what: &str, write: impl std::future::Future<Output = Result<(), StoreError>>) {
        if let Err(error) = self.handle.block_on(write) {
            tracing::warn!("experiment {}: storing {what}: {error}", self.experiment);
        }
    }

    /// Appends a live event for the studio's streams, after the rows it announces.
    fn announce(&self, kind: &str, payload: serde_json::Value) {
        let append = self.store.append_event(Some(self.experiment), kind, &payload);
        self.write("an event", async move { append.await.map(|_| ()) });
    }

    fn stage_event(&self, stage: &str, status: &str, error: Option<String>) {
        let payload = serde_json::json!({ "stage": stage, "status": status, "error": error });
        self.announce("stage", payload);
    }
}

impl Events for Recorder {
    fn stage_started(&self, start: &StageStart) {
        *self.evaluation.lock().expect("not poisoned") =
            (start.unit == "students").then(|| (start.stage.to_owned(), start.done));
        self.write("a stage start", self.store.stage_started(self.experiment, start));
        let payload = serde_json::json!({
            "stage": start.stage, "status": "running", "unit": start.unit,
            "total": start.total, "done": start.done, "epochs": start.epochs,
        });
        self.announce("stage", payload);
    }

    fn log(&self, line: &LogLine) {
        self.write("a log line", self.store.log_line(self.experiment, line));
        let kind = match line {
            LogLine::Step { .. } => "step",
            LogLine::Epoch { .. } => "epoch",
        };
        self.announce(kind, serde_json::to_value(line).expect("log lines serialise"));
    }

    fn student(&self, cloud: Cloud, record: &StudentRecord) {
        self.write("a student", self.store.put_student(self.experiment, cloud, record));
        let payload = serde_json::json!({ "cloud": cloud, "record": record });
        self.announce("student", payload);
        let mut evaluation = self.evaluation.lock().expect("not poisoned");
        if let Some((stage, done)) = evaluation.as_mut() {
            *done += 1;
            let progress = self.store.stage_progress(self.experiment, stage, *done);
            self.write("a stage's progress", progress);
        }
    }

    fn stage_finished(&self, stage: &str) {
        self.write("a stage end", self.store.stage_ended(self.experiment, stage, None));
        self.stage_event(stage, "done", None);
    }

    fn stage_failed(&self, stage: &str, error: &dyn std::fmt::Display) {
        let message = error.to_string();
        self.write(
            "a stage failure",
            self.store.stage_ended(self.experiment, stage, Some(&message)),
        );
        self.stage_event(stage, "failed", Some(message));
    }

    fn cancelled(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}
