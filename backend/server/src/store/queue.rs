//! The durable job queue: rows of `jobs` with leases. A worker claims the oldest ready job
//! (queued, or running under an expired lease, with every job it depends on done) by taking its
//! lease in one statement — `FOR UPDATE SKIP LOCKED` on PostgreSQL, SQLite's single writer
//! otherwise — renews the lease while the job runs, and records how it ended. A worker killed
//! mid-job stops renewing; once the lease expires any worker claims the job again and the run
//! resumes from its last checkpoint.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::experiments::{Status, parse_status};
use super::{Backend, Store, StoreError, now_ms};
use crate::plan::JobKind;

/// Attempts a job gets (a transient error or a lost worker each use one) before it fails.
pub const MAX_ATTEMPTS: i64 = 3;

/// A job as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Job {
    pub id: i64,
    pub experiment_id: i64,
    pub kind: JobKind,
    pub label: String,
    pub status: Status,
    pub attempts: i64,
    pub max_attempts: i64,
    /// The worker holding the lease, or the last one that held it.
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<i64>,
    pub cancel_requested: bool,
    pub error: Option<String>,
    pub error_kind: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

/// What a heartbeat learned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    /// The lease is still this worker's (false: it expired and another worker took the job).
    pub held: bool,
    pub cancel_requested: bool,
}

/// How a job ended.
#[derive(Clone, Debug, PartialEq)]
pub enum JobOutcome {
    Done,
    Cancelled,
    /// A failure worth another attempt (if attempts are left).
    Transient {
        kind: String,
        error: String,
    },
    /// A failure that running again would repeat (a bad config, a diverging loss).
    Failed {
        kind: String,
        error: String,
    },
}

const COLUMNS: &str = "id, experiment_id, kind, label, status, attempts, max_attempts, \
    lease_owner, lease_expires_at, cancel_requested, error, error_kind, created_at, started_at, \
    finished_at";

fn job(row: &AnyRow) -> Result<Job, StoreError> {
    let kind: String = row.try_get("kind")?;
    Ok(Job {
        id: row.try_get("id")?,
        experiment_id: row.try_get("experiment_id")?,
        kind: serde_json::from_str(&kind)
            .map_err(|e| StoreError::Corrupt(format!("job kind `{kind}`: {e}")))?,
        label: row.try_get("label")?,
        status: parse_status(&row.try_get::<String, _>("status")?)?,
        attempts: row.try_get("attempts")?,
        max_attempts: row.try_get("max_attempts")?,
        lease_owner: row.try_get("lease_owner")?,
        lease_expires_at: row.try_get("lease_expires_at")?,
        cancel_requested: row.try_get::<i64, _>("cancel_requested")? != 0,
        error: row.try_get("error")?,
        error_kind: row.try_get("error_kind")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

impl Store {
    /// Settles jobs whose worker vanished: a cancelled one becomes cancelled, one without
    /// attempts left fails. Returns the experiments touched.
    async fn settle_expired(&self, now: i64) -> Result<Vec<i64>, StoreError> {
        let touched: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT experiment_id FROM jobs WHERE status = 'running' \
             AND lease_expires_at < $1 AND (cancel_requested = 1 OR attempts >= max_attempts)",
        )
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        if touched.is_empty() {
            return Ok(touched);
        }
        sqlx::query(
            "UPDATE jobs SET status = 'cancelled', finished_at = $1 \
             WHERE status = 'running' AND lease_expires_at < $1 AND cancel_requested = 1",
        )
        .bind(now)
        .execute(self.pool())
        .await?;
        sqlx::query(
            "UPDATE jobs SET status = 'failed', finished_at = $1, \
             error_kind = 'worker-lost', error = 'its worker stopped answering ' || \
             CAST(attempts AS TEXT) || ' times (killed, or out of memory?); resume to try again' \
             WHERE status = 'running' AND lease_expires_at < $1 AND attempts >= max_attempts",
        )
        .bind(now)
        .execute(self.pool())
        .await?;
        for &id in &touched {
            self.refresh_status(id).await?;
        }
        Ok(touched)
    }

    /// Takes the lease of the oldest ready job for `owner`, for `lease_ms`.
    pub async fn claim(&self, owner: &str, lease_ms: i64) -> Result<Option<Job>, StoreError> {
        let now = now_ms();
        self.settle_expired(now).await?;
        let lock = match self.backend() {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let row = sqlx::query(AssertSqlSafe(format!(
            "UPDATE jobs SET status = 'running', lease_owner = $1, lease_expires_at = $2, \
             attempts = attempts + 1, started_at = COALESCE(started_at, $3), finished_at = NULL \
             WHERE id = (SELECT j.id FROM jobs j \
               WHERE (j.status = 'queued' OR (j.status = 'running' AND j.lease_expires_at < $3)) \
               AND NOT EXISTS (SELECT 1 FROM job_deps d JOIN jobs p ON p.id = d.depends_on \
                 WHERE d.job_id = j.id AND p.status <> 'done') \
               ORDER BY j.id LIMIT 1 {lock}) \
             RETURNING {COLUMNS}"
        )))
        .bind(owner.to_owned())
        .bind(now + lease_ms)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let claimed = job(&row)?;
        self.refresh_status(claimed.experiment_id).await?;
        Ok(Some(claimed))
    }

    /// Renews `owner`'s lease on a running job and reports whether a cancel was asked for.
    pub async fn heartbeat(
        &self,
        job_id: i64,
        owner: &str,
        lease_ms: i64,
    ) -> Result<Heartbeat, StoreError> {
        let row = sqlx::query(
            "UPDATE jobs SET lease_expires_at = $1 \
             WHERE id = $2 AND lease_owner = $3 AND status = 'running' \
             RETURNING cancel_requested",
        )
        .bind(now_ms() + lease_ms)
        .bind(job_id)
        .bind(owner.to_owned())
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            Some(row) => Heartbeat { held: true, cancel_requested: row.try_get::<i64, _>(0)? != 0 },
            None => Heartbeat { held: false, cancel_requested: false },
        })
    }

    /// Records how `owner`'s job ended (nothing, if the lease was lost meanwhile) and updates
    /// the experiment's status.
    pub async fn finish_job(
        &self,
        job_id: i64,
        owner: &str,
        outcome: &JobOutcome,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let (status, kind, error) = match outcome {
            JobOutcome::Done => ("done", None, None),
            JobOutcome::Cancelled => ("cancelled", None, None),
            JobOutcome::Transient { kind, error } => ("retry", Some(kind), Some(error)),
            JobOutcome::Failed { kind, error } => ("failed", Some(kind), Some(error)),
        };
        let updated = sqlx::query(
            "UPDATE jobs SET \
               status = CASE WHEN $1 <> 'retry' THEN $1 \
                             WHEN attempts < max_attempts THEN 'queued' ELSE 'failed' END, \
               error_kind = $2, error = $3, lease_expires_at = NULL, \
               cancel_requested = 0, \
               finished_at = CASE WHEN $1 = 'retry' AND attempts < max_attempts THEN NULL \
                                  ELSE $4 END \
             WHERE id = $5 AND lease_owner = $6 AND status = 'running' \
             RETURNING experiment_id",
        )
        .bind(status)
        .bind(kind.cloned())
        .bind(error.cloned())
        .bind(now)
        .bind(job_id)
        .bind(owner.to_owned())
        .fetch_optional(self.pool())
        .await?;
        if let Some(row) = updated {
            self.refresh_status(row.try_get(0)?).await?;
        }
        Ok(())
    }

    /// Marks a queued job done without running it (its output exists: an imported run).
    pub async fn mark_job_done(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE jobs SET status = 'done', finished_at = $1 WHERE id = $2 AND status = 'queued'",
        )
        .bind(now_ms())
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn job(&self, id: i64) -> Result<Job, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!("SELECT {COLUMNS} FROM jobs WHERE id = $1")))
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("there is no job {id}")))?;
        job(&row)
    }

    /// The jobs of an experiment in plan order.
    pub async fn jobs(&self, experiment_id: i64) -> Result<Vec<Job>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM jobs WHERE experiment_id = $1 ORDER BY id"
        )))
        .bind(experiment_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(job).collect()
    }
}
