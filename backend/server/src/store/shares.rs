//! Share links: read-only access to one experiment and its view, kept as token hashes.

use serde::Serialize;
use sqlx::Row;

use super::{Store, StoreError, now_ms};

/// A share link as its owner lists it (the token itself is not kept).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Share {
    pub id: i64,
    pub view: serde_json::Value,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

fn view(text: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("share view: {e}")))
}

impl Store {
    pub async fn create_share(
        &self,
        experiment: i64,
        token_hash: &str,
        view: &serde_json::Value,
    ) -> Result<i64, StoreError> {
        self.experiment(experiment).await?;
        Ok(sqlx::query_scalar(
            "INSERT INTO share_links (experiment_id, token_hash, view, created_at) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(experiment)
        .bind(token_hash.to_owned())
        .bind(view.to_string())
        .bind(now_ms())
        .fetch_one(self.pool())
        .await?)
    }

    /// The experiment and view a live (not revoked) share token opens.
    pub async fn share(
        &self,
        token_hash: &str,
    ) -> Result<Option<(i64, serde_json::Value)>, StoreError> {
        let row = sqlx::query(
            "SELECT experiment_id, view FROM share_links \
             WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(token_hash.to_owned())
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| {
            Ok((row.try_get("experiment_id")?, view(&row.try_get::<String, _>("view")?)?))
        })
        .transpose()
    }

    pub async fn shares(&self, experiment: i64) -> Result<Vec<Share>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, view, created_at, revoked_at FROM share_links \
             WHERE experiment_id = $1 ORDER BY id",
        )
        .bind(experiment)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Share {
                    id: row.try_get("id")?,
                    view: view(&row.try_get::<String, _>("view")?)?,
                    created_at: row.try_get("created_at")?,
                    revoked_at: row.try_get("revoked_at")?,
                })
            })
            .collect()
    }

    /// Revokes a share link of `experiment`; its token opens nothing from now on.
    pub async fn revoke_share(&self, experiment: i64, id: i64) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE share_links SET revoked_at = $1 \
             WHERE id = $2 AND experiment_id = $3 AND revoked_at IS NULL",
        )
        .bind(now_ms())
        .bind(id)
        .bind(experiment)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!(
                "experiment {experiment} has no live share link {id}"
            )));
        }
        Ok(())
    }
}
