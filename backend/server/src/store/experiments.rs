//! Experiments: a config, its run directory, and a status derived from its jobs.

use proard_core::experiment::config::ConfigError;
use proard_core::experiment::pipeline::self_contained;
use proard_core::experiment::{ExperimentConfig, RunError};
pub use proard_shared::api::{Experiment, Status};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{Store, StoreError, now_ms};
use crate::plan::plan;

/// What creating an experiment needs.
#[derive(Clone, Debug)]
pub struct NewExperiment {
    pub name: String,
    pub config: ExperimentConfig,
    /// Evaluation jobs the students are split into (workers share them).
    pub eval_shards: usize,
    pub tags: Vec<String>,
    pub notes: String,
}

/// Which experiments to list, in which order.
#[derive(Clone, Debug, Default)]
pub struct ExperimentQuery {
    pub status: Option<Status>,
    /// The space's name.
    pub space: Option<String>,
    /// The teacher's or the distillation method.
    pub method: Option<String>,
    pub tag: Option<String>,
    /// Text in the name or the notes.
    pub text: Option<String>,
    pub order: ExperimentOrder,
    pub descending: bool,
    pub offset: i64,
    /// At most this many (all when 0).
    pub limit: i64,
}

/// Column an experiment list sorts by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExperimentOrder {
    #[default]
    Created,
    Name,
    Status,
    Updated,
}

impl std::str::FromStr for ExperimentOrder {
    type Err = String;

    fn from_str(text: &str) -> Result<ExperimentOrder, String> {
        Ok(match text {
            "created" => ExperimentOrder::Created,
            "name" => ExperimentOrder::Name,
            "status" => ExperimentOrder::Status,
            "updated" => ExperimentOrder::Updated,
            _ => {
                return Err(format!(
                    "cannot sort experiments by `{text}`: use created, name, status or updated"
                ));
            }
        })
    }
}

impl ExperimentOrder {
    fn column(self) -> &'static str {
        match self {
            ExperimentOrder::Created => "id",
            ExperimentOrder::Name => "name",
            ExperimentOrder::Status => "status",
            ExperimentOrder::Updated => "updated_at",
        }
    }
}

/// `LIKE` pattern for text anywhere, the wildcards in it escaped (with `\`).
fn contains(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

const COLUMNS: &str = "id, name, config, space, family, teacher_method, distill_method, dir, \
    eval_shards, status, tags, notes, error, created_at, updated_at, started_at, finished_at";

fn experiment(row: &AnyRow) -> Result<Experiment, StoreError> {
    let tags: String = row.try_get("tags")?;
    Ok(Experiment {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        config: row.try_get("config")?,
        space: row.try_get("space")?,
        family: row.try_get("family")?,
        teacher_method: row.try_get("teacher_method")?,
        distill_method: row.try_get("distill_method")?,
        dir: row.try_get("dir")?,
        eval_shards: row.try_get("eval_shards")?,
        status: parse_status(&row.try_get::<String, _>("status")?)?,
        tags: serde_json::from_str(&tags)
            .map_err(|e| StoreError::Corrupt(format!("experiment tags `{tags}`: {e}")))?,
        notes: row.try_get("notes")?,
        error: row.try_get("error")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

/// Why an experiment cannot be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for CreateError {
    fn from(e: sqlx::Error) -> CreateError {
        CreateError::Store(e.into())
    }
}

/// A status read from the store.
pub(crate) fn parse_status(text: &str) -> Result<Status, StoreError> {
    text.parse().map_err(StoreError::Corrupt)
}

/// An experiment's stored config, parsed.
pub fn parsed_config(experiment: &Experiment) -> Result<ExperimentConfig, StoreError> {
    ExperimentConfig::from_toml(&experiment.config, &format!("experiment {}", experiment.id))
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl Store {
    /// Checks the config, stores the experiment with its run directory `experiments/<id>` and
    /// queues its jobs, all in one transaction.
    pub async fn create_experiment(&self, new: &NewExperiment) -> Result<Experiment, CreateError> {
        new.config.validate()?;
        let config = self_contained(&new.config).map_err(|e| match e {
            RunError::Config(e) => e,
            other => ConfigError::Invalid { field: "space".into(), problem: other.to_string() },
        })?;
        let space = config.resolve_space()?;
        let jobs = plan(&config, new.eval_shards)?;
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO experiments (name, config, space, family, teacher_method, \
             distill_method, dir, eval_shards, status, tags, notes, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, '', $7, 'queued', $8, $9, $10, $10) RETURNING id",
        )
        .bind(new.name.clone())
        .bind(config.to_toml())
        .bind(space.name().to_owned())
        .bind(format!("{:?}", space.family()).to_lowercase())
        .bind(config.teacher.objective.name())
        .bind(config.supernet.objective.name())
        .bind(new.eval_shards.max(1) as i64)
        .bind(serde_json::to_string(&new.tags).expect("strings serialise"))
        .bind(new.notes.clone())
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("UPDATE experiments SET dir = $1 WHERE id = $2")
            .bind(format!("experiments/{id}"))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let mut ids = Vec::with_capacity(jobs.len());
        for job in &jobs {
            let job_id: i64 = sqlx::query_scalar(
                "INSERT INTO jobs (experiment_id, kind, label, status, max_attempts, created_at) \
                 VALUES ($1, $2, $3, 'queued', $4, $5) RETURNING id",
            )
            .bind(id)
            .bind(serde_json::to_string(&job.kind).expect("job kinds serialise"))
            .bind(job.kind.label())
            .bind(super::queue::MAX_ATTEMPTS)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            for &before in &job.after {
                sqlx::query("INSERT INTO job_deps (job_id, depends_on) VALUES ($1, $2)")
                    .bind(job_id)
                    .bind(ids[before])
                    .execute(&mut *tx)
                    .await?;
            }
            ids.push(job_id);
        }
        tx.commit().await?;
        let experiment = self.experiment(id).await?;
        self.announce_status(&experiment).await?;
        Ok(experiment)
    }

    /// A status event for the experiments list.
    async fn announce_status(&self, experiment: &Experiment) -> Result<(), StoreError> {
        let payload = serde_json::json!({
            "id": experiment.id, "status": experiment.status, "error": experiment.error,
        });
        self.append_event(Some(experiment.id), "status", &payload).await?;
        Ok(())
    }

    pub async fn experiment(&self, id: i64) -> Result<Experiment, StoreError> {
        let row =
            sqlx::query(AssertSqlSafe(format!("SELECT {COLUMNS} FROM experiments WHERE id = $1")))
                .bind(id)
                .fetch_optional(self.pool())
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("there is no experiment {id}")))?;
        experiment(&row)
    }

    /// One page of the experiments `query` selects, and how many it selects in all.
    pub async fn experiments(
        &self,
        query: &ExperimentQuery,
    ) -> Result<(Vec<Experiment>, i64), StoreError> {
        let filter = "($1 = '' OR status = $1) AND ($2 = '' OR space = $2) \
             AND ($3 = '' OR teacher_method = $3 OR distill_method = $3) \
             AND ($4 = '' OR tags LIKE $4 ESCAPE '\\') \
             AND ($5 = '' OR name LIKE $5 ESCAPE '\\' OR notes LIKE $5 ESCAPE '\\')";
        let direction = if query.descending { "DESC" } else { "ASC" };
        // Only a column name and a direction from fixed lists are spliced in.
        let select = format!(
            "SELECT {COLUMNS} FROM experiments WHERE {filter} ORDER BY {} {direction}, id DESC \
             LIMIT $6 OFFSET $7",
            query.order.column()
        );
        let count = format!("SELECT COUNT(*) FROM experiments WHERE {filter}");
        let tag = query
            .tag
            .as_deref()
            .map(|t| contains(&serde_json::to_string(t).expect("strings serialise")));
        let binds = [
            query.status.map_or(String::new(), |s| s.as_str().to_owned()),
            query.space.clone().unwrap_or_default(),
            query.method.clone().unwrap_or_default(),
            tag.unwrap_or_default(),
            query.text.as_deref().map(contains).unwrap_or_default(),
        ];
        let mut rows = sqlx::query(AssertSqlSafe(select));
        let mut total = sqlx::query_scalar::<_, i64>(AssertSqlSafe(count));
        for bind in &binds {
            rows = rows.bind(bind.clone());
            total = total.bind(bind.clone());
        }
        let limit = if query.limit > 0 { query.limit } else { i64::MAX };
        let rows = rows.bind(limit).bind(query.offset.max(0)).fetch_all(self.pool()).await?;
        let total = total.fetch_one(self.pool()).await?;
        Ok((rows.iter().map(experiment).collect::<Result<_, _>>()?, total))
    }

    pub async fn experiment_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM experiments").fetch_one(self.pool()).await?)
    }

    /// Renames, re-tags or annotates an experiment.
    pub async fn update_experiment(
        &self,
        id: i64,
        name: Option<&str>,
        tags: Option<&[String]>,
        notes: Option<&str>,
    ) -> Result<Experiment, StoreError> {
        let current = self.experiment(id).await?;
        sqlx::query(
            "UPDATE experiments SET name = $1, tags = $2, notes = $3, updated_at = $4 WHERE id = $5",
        )
        .bind(name.unwrap_or(&current.name).to_owned())
        .bind(serde_json::to_string(tags.unwrap_or(&current.tags)).expect("strings serialise"))
        .bind(notes.unwrap_or(&current.notes).to_owned())
        .bind(now_ms())
        .bind(id)
        .execute(self.pool())
        .await?;
        self.experiment(id).await
    }

    /// Stops an experiment: queued jobs are cancelled at once, running ones at their next step
    /// (their workers see the request at the next heartbeat) and stay resumable.
    pub async fn cancel_experiment(&self, id: i64) -> Result<Experiment, StoreError> {
        self.experiment(id).await?;
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "UPDATE jobs SET status = 'cancelled', finished_at = $1 \
             WHERE experiment_id = $2 AND status = 'queued'",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE jobs SET cancel_requested = 1 WHERE experiment_id = $1 AND status = 'running'",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.refresh_status(id).await?;
        self.experiment(id).await
    }

    /// Queues the cancelled and failed jobs of an experiment again, with fresh attempts; they
    /// resume from their last checkpoints.
    pub async fn resume_experiment(&self, id: i64) -> Result<Experiment, StoreError> {
        self.experiment(id).await?;
        sqlx::query(
            "UPDATE jobs SET status = 'queued', attempts = 0, cancel_requested = 0, error = NULL, \
             error_kind = NULL, lease_owner = NULL, lease_expires_at = NULL, finished_at = NULL \
             WHERE experiment_id = $1 AND status IN ('cancelled', 'failed')",
        )
        .bind(id)
        .execute(self.pool())
        .await?;
        self.refresh_status(id).await?;
        self.experiment(id).await
    }

    /// Deletes an experiment and its rows (its files are the caller's); refused while a job of
    /// it runs.
    pub async fn delete_experiment(&self, id: i64) -> Result<Experiment, StoreError> {
        let experiment = self.experiment(id).await?;
        let running: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM jobs WHERE experiment_id = $1 AND status = 'running'",
        )
        .bind(id)
        .fetch_one(self.pool())
        .await?;
        if running > 0 {
            return Err(StoreError::Conflict(format!(
                "experiment {id} is running; cancel it first, then delete it"
            )));
        }
        sqlx::query("DELETE FROM experiments WHERE id = $1").bind(id).execute(self.pool()).await?;
        // Its events went with it; the list hears of the deletion from an event of no experiment.
        let payload = serde_json::json!({ "id": id, "status": "deleted" });
        self.append_event(None, "status", &payload).await?;
        Ok(experiment)
    }

    /// Sets the experiment's status from its pipeline jobs (side jobs do not count): failed
    /// if one failed, cancelled if one was cancelled and none runs, done when all are, running
    /// once one has started, else queued.
    pub async fn refresh_status(&self, id: i64) -> Result<Status, StoreError> {
        let before = self.experiment(id).await?;
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n, MIN(started_at) AS started, MAX(finished_at) AS finished \
             FROM jobs WHERE experiment_id = $1 AND side_job = 0 GROUP BY status",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        let count = |status: &str| -> Result<i64, StoreError> {
            for row in &rows {
                if row.try_get::<String, _>("status")? == status {
                    return Ok(row.try_get("n")?);
                }
            }
            Ok(0)
        };
        let (queued, running, done, failed, cancelled) = (
            count("queued")?,
            count("running")?,
            count("done")?,
            count("failed")?,
            count("cancelled")?,
        );
        let status = if failed > 0 && running == 0 {
            Status::Failed
        } else if cancelled > 0 && running == 0 {
            Status::Cancelled
        } else if queued + running + failed + cancelled == 0 && done > 0 {
            Status::Done
        } else if running > 0 || done > 0 {
            Status::Running
        } else {
            Status::Queued
        };
        let mut started: Option<i64> = None;
        let mut finished: Option<i64> = None;
        for row in &rows {
            if let Some(s) = row.try_get::<Option<i64>, _>("started")? {
                started = Some(started.map_or(s, |t: i64| t.min(s)));
            }
            if let Some(f) = row.try_get::<Option<i64>, _>("finished")? {
                finished = Some(finished.map_or(f, |t: i64| t.max(f)));
            }
        }
        let error: Option<String> = if status == Status::Failed {
            sqlx::query_scalar(
                "SELECT label || ': ' || COALESCE(error, 'failed') FROM jobs \
                 WHERE experiment_id = $1 AND status = 'failed' AND side_job = 0 \
                 ORDER BY id LIMIT 1",
            )
            .bind(id)
            .fetch_optional(self.pool())
            .await?
        } else {
            None
        };
        let finished = matches!(status, Status::Done | Status::Failed | Status::Cancelled)
            .then_some(finished)
            .flatten();
        sqlx::query(
            "UPDATE experiments SET status = $1, error = $2, started_at = $3, finished_at = $4, \
             updated_at = $5 WHERE id = $6",
        )
        .bind(status.as_str())
        .bind(error)
        .bind(started)
        .bind(finished)
        .bind(now_ms())
        .bind(id)
        .execute(self.pool())
        .await?;
        let after = self.experiment(id).await?;
        if (after.status, &after.error) != (before.status, &before.error) {
            self.announce_status(&after).await?;
        }
        Ok(status)
    }
}
