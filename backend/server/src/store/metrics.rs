//! What training and evaluation report while they run: stage progress, a row per step, a row
//! per epoch with its validation grid. Keyed, so a resumed stage's replayed steps overwrite.

use proard_core::experiment::StageStart;
use proard_core::experiment::train::LogLine;
pub use proard_shared::api::{Epoch as EpochRow, Stage as StageRow, Step as StepRow};
use sqlx::Row;

use super::{Store, StoreError, now_ms};

impl Store {
    pub async fn stage_started(
        &self,
        experiment: i64,
        start: &StageStart<'_>,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO stages (experiment_id, name, unit, total, done, epochs, status, \
             started_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'running', $7, $7) \
             ON CONFLICT (experiment_id, name) DO UPDATE SET unit = excluded.unit, \
             total = excluded.total, done = excluded.done, epochs = excluded.epochs, \
             status = 'running', error = NULL, updated_at = excluded.updated_at, finished_at = NULL",
        )
        .bind(experiment)
        .bind(start.stage.to_owned())
        .bind(start.unit)
        .bind(start.total as i64)
        .bind(start.done as i64)
        .bind(start.epochs as i64)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A stage ended: `error` is `None` when it finished, else why it failed.
    pub async fn stage_ended(
        &self,
        experiment: i64,
        stage: &str,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        sqlx::query(
            "UPDATE stages SET status = $1, error = $2, updated_at = $3, \
             done = CASE WHEN $1 = 'done' THEN total ELSE done END, finished_at = $3 \
             WHERE experiment_id = $4 AND name = $5",
        )
        .bind(if error.is_some() { "failed" } else { "done" })
        .bind(error.map(str::to_owned))
        .bind(now)
        .bind(experiment)
        .bind(stage.to_owned())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// How much of a stage is done (students of an evaluation; training steps come with their
    /// log lines).
    pub async fn stage_progress(
        &self,
        experiment: i64,
        stage: &str,
        done: u64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE stages SET done = $1, updated_at = $2 WHERE experiment_id = $3 AND name = $4",
        )
        .bind(done as i64)
        .bind(now_ms())
        .bind(experiment)
        .bind(stage.to_owned())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Stores a log line of a stage: a step (and the stage's progress) or an epoch.
    pub async fn log_line(&self, experiment: i64, line: &LogLine) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        match line {
            LogLine::Step { stage, epoch, step, lr, loss } => {
                sqlx::query(
                    "INSERT INTO steps (experiment_id, stage, step, epoch, lr, loss) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (experiment_id, stage, step) \
                     DO UPDATE SET epoch = excluded.epoch, lr = excluded.lr, loss = excluded.loss",
                )
                .bind(experiment)
                .bind(stage.clone())
                .bind(*step as i64)
                .bind(*epoch as i64)
                .bind(*lr)
                .bind(*loss)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE stages SET done = $1, updated_at = $2 \
                     WHERE experiment_id = $3 AND name = $4",
                )
                .bind(*step as i64 + 1)
                .bind(now_ms())
                .bind(experiment)
                .bind(stage.clone())
                .execute(&mut *tx)
                .await?;
            }
            LogLine::Epoch { stage, epoch, steps, mean_loss, seconds, validation } => {
                sqlx::query(
                    "INSERT INTO epochs (experiment_id, stage, epoch, steps, mean_loss, seconds, \
                     validation) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (experiment_id, stage, epoch) DO UPDATE SET \
                     steps = excluded.steps, mean_loss = excluded.mean_loss, \
                     seconds = excluded.seconds, validation = excluded.validation",
                )
                .bind(experiment)
                .bind(stage.clone())
                .bind(*epoch as i64)
                .bind(*steps as i64)
                .bind(*mean_loss)
                .bind(*seconds)
                .bind(serde_json::to_string(validation).expect("grid results serialise"))
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// The stages of an experiment in the order they started.
    pub async fn stages(&self, experiment: i64) -> Result<Vec<StageRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, unit, total, done, epochs, status, error, started_at, updated_at, \
             finished_at FROM stages WHERE experiment_id = $1 ORDER BY started_at, name",
        )
        .bind(experiment)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StageRow {
                    name: row.try_get("name")?,
                    unit: row.try_get("unit")?,
                    total: row.try_get("total")?,
                    done: row.try_get("done")?,
                    epochs: row.try_get("epochs")?,
                    status: row.try_get("status")?,
                    error: row.try_get("error")?,
                    started_at: row.try_get("started_at")?,
                    updated_at: row.try_get("updated_at")?,
                    finished_at: row.try_get("finished_at")?,
                })
            })
            .collect()
    }

    /// Steps of a stage from `from` on, in order, at most `limit` (all when 0).
    pub async fn steps(
        &self,
        experiment: i64,
        stage: &str,
        from: i64,
        limit: i64,
    ) -> Result<Vec<StepRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT step, epoch, lr, loss FROM steps WHERE experiment_id = $1 AND stage = $2 \
             AND step >= $3 ORDER BY step LIMIT $4",
        )
        .bind(experiment)
        .bind(stage.to_owned())
        .bind(from)
        .bind(if limit > 0 { limit } else { i64::MAX })
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StepRow {
                    step: row.try_get("step")?,
                    epoch: row.try_get("epoch")?,
                    lr: row.try_get("lr")?,
                    loss: row.try_get("loss")?,
                })
            })
            .collect()
    }

    pub async fn epochs(&self, experiment: i64, stage: &str) -> Result<Vec<EpochRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT epoch, steps, mean_loss, seconds, validation FROM epochs \
             WHERE experiment_id = $1 AND stage = $2 ORDER BY epoch",
        )
        .bind(experiment)
        .bind(stage.to_owned())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let validation: String = row.try_get("validation")?;
                Ok(EpochRow {
                    epoch: row.try_get("epoch")?,
                    steps: row.try_get("steps")?,
                    mean_loss: row.try_get("mean_loss")?,
                    seconds: row.try_get("seconds")?,
                    validation: serde_json::from_str(&validation)
                        .map_err(|e| StoreError::Corrupt(format!("validation grid: {e}")))?,
                })
            })
            .collect()
    }
}
