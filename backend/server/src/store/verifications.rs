//! Verifications: a student of an experiment exported and attacked by a job. The row holds the
//! request, the resolved arch, the exported file once written and the result (the full
//! `proard verify` report, every attack's settings included); the job holds the status.

use proard_shared::Arch;
use proard_shared::api::{NewVerification, Status};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::experiments::parse_status;
use super::{Store, StoreError, now_ms};
use crate::plan::JobKind;

/// A verification as stored, with its job's status.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredVerification {
    pub id: i64,
    pub experiment_id: i64,
    pub request: NewVerification,
    pub arch: Arch,
    /// The exported student, relative to the data directory.
    pub student_path: Option<String>,
    /// The `proard verify` report, JSON.
    pub result: Option<serde_json::Value>,
    pub status: Status,
    pub error: Option<String>,
    pub created_at: i64,
}

const SELECT: &str = "SELECT v.id, v.experiment_id, v.arch, v.settings, v.result, v.student_path, \
    v.created_at, j.status, j.error FROM verifications v JOIN jobs j ON j.verification_id = v.id";

fn corrupt(what: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("verification {what}: {error}"))
}

fn verification(row: &AnyRow) -> Result<StoredVerification, StoreError> {
    let arch: String = row.try_get("arch")?;
    let settings: String = row.try_get("settings")?;
    let result: Option<String> = row.try_get("result")?;
    Ok(StoredVerification {
        id: row.try_get("id")?,
        experiment_id: row.try_get("experiment_id")?,
        request: serde_json::from_str(&settings).map_err(|e| corrupt("settings", e))?,
        arch: serde_json::from_str(&arch).map_err(|e| corrupt("arch", e))?,
        student_path: row.try_get("student_path")?,
        result: result
            .map(|r| serde_json::from_str(&r))
            .transpose()
            .map_err(|e| corrupt("result", e))?,
        status: parse_status(&row.try_get::<String, _>("status")?)?,
        error: row.try_get("error")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// Records a verification of `arch` and queues its job (one transaction). `student` names
    /// it in the job's label (`proard #3`).
    pub async fn create_verification(
        &self,
        experiment: i64,
        request: &NewVerification,
        arch: &Arch,
        student: &str,
    ) -> Result<StoredVerification, StoreError> {
        self.experiment(experiment).await?;
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO verifications (experiment_id, arch, settings, created_at) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(experiment)
        .bind(serde_json::to_string(arch).expect("archs serialise"))
        .bind(serde_json::to_string(request).expect("requests serialise"))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let kind = JobKind::Verify {
            verification: id,
            student: student.to_owned(),
            export_only: request.attacks.is_empty(),
        };
        sqlx::query(
            "INSERT INTO jobs (experiment_id, kind, label, status, max_attempts, created_at, \
             verification_id, side_job) VALUES ($1, $2, $3, 'queued', $4, $5, $6, 1)",
        )
        .bind(experiment)
        .bind(serde_json::to_string(&kind).expect("job kinds serialise"))
        .bind(kind.label())
        .bind(super::queue::MAX_ATTEMPTS)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.verification(id).await
    }

    pub async fn verification(&self, id: i64) -> Result<StoredVerification, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE v.id = $1")))
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("there is no verification {id}")))?;
        verification(&row)
    }

    /// An experiment's verifications, newest first.
    pub async fn verifications(
        &self,
        experiment: i64,
    ) -> Result<Vec<StoredVerification>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE v.experiment_id = $1 ORDER BY v.id DESC"
        )))
        .bind(experiment)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(verification).collect()
    }

    /// Where the exported student was written (relative to the data directory).
    pub async fn set_verification_student(&self, id: i64, path: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE verifications SET student_path = $1 WHERE id = $2")
            .bind(path.to_owned())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The verification's report; announced to the experiment's event stream.
    pub async fn set_verification_result(
        &self,
        experiment: i64,
        id: i64,
        result: &serde_json::Value,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE verifications SET result = $1 WHERE id = $2")
            .bind(result.to_string())
            .bind(id)
            .execute(self.pool())
            .await?;
        self.append_event(Some(experiment), "verification", &serde_json::json!({ "id": id }))
            .await?;
        Ok(())
    }
}
