//! Accuracy–robustness predictors fitted by jobs on an experiment's evaluated students: the
//! weights file (relative path), the settings, the held-out RMSEs and the fit report with every
//! held-out point.

use proard_shared::api::NewPredictor;
use proard_shared::predictor::FitReport;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, now_ms};
use crate::plan::JobKind;

/// A fitted predictor as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredPredictor {
    pub id: i64,
    pub experiment_id: i64,
    pub cloud: String,
    /// The weights, relative to the data directory.
    pub path: String,
    pub settings: serde_json::Value,
    pub report: FitReport,
    pub created_at: i64,
}

const COLUMNS: &str = "id, experiment_id, cloud, path, settings, report, created_at";

fn predictor(row: &AnyRow) -> Result<StoredPredictor, StoreError> {
    let corrupt =
        |what: &str, e: serde_json::Error| StoreError::Corrupt(format!("predictor {what}: {e}"));
    let settings: String = row.try_get("settings")?;
    let report: Option<String> = row.try_get("report")?;
    let report =
        report.ok_or_else(|| StoreError::Corrupt("a predictor without its report".into()))?;
    Ok(StoredPredictor {
        id: row.try_get("id")?,
        experiment_id: row.try_get("experiment_id")?,
        cloud: row.try_get("cloud")?,
        path: row.try_get("path")?,
        settings: serde_json::from_str(&settings).map_err(|e| corrupt("settings", e))?,
        report: serde_json::from_str(&report).map_err(|e| corrupt("report", e))?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// Queues a predictor fit on `request.cloud`'s students of `experiment` (a side job).
    pub async fn queue_predictor(
        &self,
        experiment: i64,
        request: &NewPredictor,
        (epochs, seed): (usize, u64),
    ) -> Result<i64, StoreError> {
        self.experiment(experiment).await?;
        let kind = JobKind::FitPredictor { cloud: request.cloud.clone(), epochs, seed };
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO jobs (experiment_id, kind, label, status, max_attempts, created_at, \
             side_job) VALUES ($1, $2, $3, 'queued', $4, $5, 1) RETURNING id",
        )
        .bind(experiment)
        .bind(serde_json::to_string(&kind).expect("job kinds serialise"))
        .bind(kind.label())
        .bind(super::queue::MAX_ATTEMPTS)
        .bind(now_ms())
        .fetch_one(self.pool())
        .await?;
        Ok(id)
    }

    /// Records a fitted predictor; announced to the experiment's event stream.
    pub async fn put_predictor(
        &self,
        experiment: i64,
        (cloud, path): (&str, &str),
        settings: &serde_json::Value,
        report: &FitReport,
    ) -> Result<i64, StoreError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO predictors (experiment_id, cloud, path, settings, rmse_acc, rmse_rob, \
             report, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(experiment)
        .bind(cloud.to_owned())
        .bind(path.to_owned())
        .bind(settings.to_string())
        .bind(report.rmse_acc)
        .bind(report.rmse_rob)
        .bind(serde_json::to_string(report).expect("reports serialise"))
        .bind(now_ms())
        .fetch_one(self.pool())
        .await?;
        self.append_event(Some(experiment), "predictor", &serde_json::json!({ "id": id })).await?;
        Ok(id)
    }

    /// An experiment's predictors, newest first.
    pub async fn predictors(&self, experiment: i64) -> Result<Vec<StoredPredictor>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM predictors WHERE experiment_id = $1 ORDER BY id DESC"
        )))
        .bind(experiment)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(predictor).collect()
    }
}
